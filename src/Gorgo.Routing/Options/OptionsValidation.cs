namespace Gorgo.Routing.Options;

/// <summary>Raised when an options object fails validation; the message lists every problem found.</summary>
public sealed class RoutingOptionsException : ArgumentException
{
    /// <summary>Creates the exception from the option section name and its problems.</summary>
    public RoutingOptionsException(string section, IReadOnlyList<string> errors)
        : base($"Invalid {section}: {string.Join(" ", errors)}")
    {
        Section = section;
        Errors = errors;
    }

    /// <summary>Which options failed, e.g. "router options".</summary>
    public string Section { get; }

    /// <summary>Each problem found, one sentence each.</summary>
    public IReadOnlyList<string> Errors { get; }
}

/// <summary>Collects validation problems for an options object.</summary>
public sealed class OptionsErrors
{
    private readonly List<string> _errors = [];

    /// <summary>The problems collected so far.</summary>
    public IReadOnlyList<string> Errors => _errors;

    /// <summary>Adds a problem unless <paramref name="ok"/>.</summary>
    public OptionsErrors Check(bool ok, string error)
    {
        if (!ok)
        {
            _errors.Add(error);
        }

        return this;
    }

    /// <summary>Adds a problem unless <paramref name="value"/> is finite and at least <paramref name="min"/>.</summary>
    public OptionsErrors Finite(double value, string name, double min = 0) =>
        Check(double.IsFinite(value) && value >= min, $"{name} must be a finite number >= {min} (got {value}).");

    /// <summary>Adds the problems of a nested options object.</summary>
    public OptionsErrors Include(IEnumerable<string> errors)
    {
        _errors.AddRange(errors);
        return this;
    }

    /// <summary>Throws <see cref="RoutingOptionsException"/> when any problem was collected.</summary>
    public void ThrowIfAny(string section)
    {
        if (_errors.Count > 0)
        {
            throw new RoutingOptionsException(section, _errors.ToArray());
        }
    }
}
