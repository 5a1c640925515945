using System.Globalization;
using System.Text.Json;

namespace Gorgo.Scenarios.Workload;

/// <summary>Reads the traces in <c>benchmarks/data/traces</c>: Mooncake JSONL (<c>timestamp</c>, <c>input_length</c>, <c>output_length</c>, <c>hash_ids</c>) and Azure CSV (<c>TIMESTAMP,ContextTokens,GeneratedTokens</c>).</summary>
public static class TraceReader
{
    /// <summary>Mooncake trace block size in tokens.</summary>
    public const int MooncakeBlockTokens = 512;

    /// <summary>Streams a trace's requests in file order; stops after <paramref name="firstN"/> when positive.</summary>
    /// <exception cref="ArgumentException">The file cannot be read or a line is malformed (the message names the line).</exception>
    public static IEnumerable<TraceRequest> Read(string kind, string path, int firstN = 0)
    {
        if (!File.Exists(path))
        {
            throw new ArgumentException($"Trace file '{path}' does not exist.");
        }

        IEnumerable<TraceRequest> requests = kind switch
        {
            "mooncake" => ReadMooncake(path),
            "azure" => ReadAzure(path),
            _ => throw new ArgumentException($"Unknown trace kind '{kind}'."),
        };
        return firstN > 0 ? requests.Take(firstN) : requests;
    }

    private static IEnumerable<TraceRequest> ReadMooncake(string path)
    {
        int lineNumber = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            TraceRequest request;
            try
            {
                using JsonDocument json = JsonDocument.Parse(line);
                JsonElement root = json.RootElement;
                ulong[] ids = root.GetProperty("hash_ids").EnumerateArray().Select(e => e.GetUInt64()).ToArray();
                int input = root.GetProperty("input_length").GetInt32();
                request = new TraceRequest(root.GetProperty("timestamp").GetDouble(), input, root.GetProperty("output_length").GetInt32(), ids);
                if (input <= 0 || ids.Length != (input + MooncakeBlockTokens - 1) / MooncakeBlockTokens)
                {
                    throw new FormatException($"input_length {input} does not match {ids.Length} hash_ids of {MooncakeBlockTokens} tokens.");
                }
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                throw new ArgumentException($"{path}:{lineNumber}: not a Mooncake trace line: {ex.Message}", ex);
            }

            yield return request;
        }
    }

    private static IEnumerable<TraceRequest> ReadAzure(string path)
    {
        DateTime? start = null;
        int lineNumber = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNumber++;
            if (lineNumber == 1 || string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            string[] cells = line.Split(',');
            if (cells.Length < 3
                || !DateTime.TryParse(cells[0], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out DateTime at)
                || !int.TryParse(cells[1], CultureInfo.InvariantCulture, out int input)
                || !int.TryParse(cells[2], CultureInfo.InvariantCulture, out int output))
            {
                throw new ArgumentException($"{path}:{lineNumber}: not an Azure trace line (TIMESTAMP,ContextTokens,GeneratedTokens): '{line}'.");
            }

            start ??= at;
            yield return new TraceRequest((at - start.Value).TotalMilliseconds, Math.Max(1, input), Math.Max(1, output), null);
        }
    }
}
