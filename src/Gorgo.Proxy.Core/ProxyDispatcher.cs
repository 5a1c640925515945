using System.ComponentModel;
using System.Text.Json.Serialization;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Options;

namespace Gorgo.Proxy.Core;

/// <summary>When the proxy binds a request to a replica.</summary>
[JsonConverter(typeof(EnumNameJsonConverter<ProxyBinding>))]
[TypeConverter(typeof(EnumNameTypeConverter<ProxyBinding>))]
public enum ProxyBinding
{
    /// <summary>The paper's proxy (<c>late</c>): one global first-in, first-out queue; the request at its head goes, when a replica can take it, to the best eligible replica.</summary>
    Late,

    /// <summary>Bound when it arrives (<c>on-arrival</c>): routed at once among all replicas, then it waits in its replica's own queue for a slot.</summary>
    OnArrival,
}

/// <summary>How the proxy admits requests: the mesh-independent settings <c>gorgo proxy</c> and a scenario's <c>proxy</c> section share.</summary>
public sealed class ProxyDispatchOptions
{
    /// <summary>Requests a replica runs at once at most (the paper's 10).</summary>
    public int MaxRunningPerReplica { get; set; } = 10;

    /// <summary>A replica whose KV-cache use (from its metrics) is at or above this takes no new request (the paper's 0.95).</summary>
    public double MaxKvUtilization { get; set; } = 0.95;

    /// <summary>How often the queue is looked at again when nothing else wakes it (the paper's 20 ms), e.g. after a KV reading changed.</summary>
    public int RedispatchIntervalMs { get; set; } = 20;

    /// <summary><c>late</c> (the paper's proxy, default) or <c>on-arrival</c>.</summary>
    public ProxyBinding Binding { get; set; } = ProxyBinding.Late;

    /// <summary>A copy (options objects are shared by reference otherwise).</summary>
    public ProxyDispatchOptions Clone() => (ProxyDispatchOptions)MemberwiseClone();

    /// <summary>Problems with these options, empty when valid; <paramref name="section"/> names them in messages.</summary>
    public IReadOnlyList<string> Validate(string section = "Dispatch") => new OptionsErrors()
        .Check(MaxRunningPerReplica >= 1, $"{section}.MaxRunningPerReplica must be at least 1 (got {MaxRunningPerReplica}).")
        .Check(double.IsFinite(MaxKvUtilization) && MaxKvUtilization is > 0 and <= 1, $"{section}.MaxKvUtilization must be in (0, 1] (got {MaxKvUtilization}).")
        .Check(RedispatchIntervalMs >= 1, $"{section}.RedispatchIntervalMs must be at least 1 (got {RedispatchIntervalMs}).")
        .Check(Enum.IsDefined(Binding), EnumNames<ProxyBinding>.Expected($"{section}.Binding", Binding.ToString()))
        .Errors;
}

/// <summary>Where a request stands in the proxy.</summary>
public enum ProxyTicketState
{
    /// <summary>Waiting at the proxy (in the global queue, or in its replica's under on-arrival binding).</summary>
    Waiting,

    /// <summary>Sent to its replica and not yet finished.</summary>
    Running,

    /// <summary>Its response ended and its slot is free again.</summary>
    Finished,

    /// <summary>Cancelled while it waited, or refused when its turn came.</summary>
    Abandoned,
}

/// <summary>One request admitted by the proxy.</summary>
/// <typeparam name="T">What the driver attaches (the request, or what wakes it).</typeparam>
public sealed class ProxyTicket<T>
{
    internal ProxyTicket(T payload, int replica, long tokens)
    {
        Payload = payload;
        Replica = replica;
        Tokens = tokens;
    }

    /// <summary>The driver's payload.</summary>
    public T Payload { get; }

    /// <summary>The replica's index once bound, -1 before.</summary>
    public int Replica { get; internal set; }

    /// <summary>The request's prompt tokens.</summary>
    public long Tokens { get; }

    /// <summary>Where it stands.</summary>
    public ProxyTicketState State { get; internal set; }
}

/// <summary>The proxy's exact count of one replica's load: the requests it runs there and those waiting at the proxy for it, and its KV-cache use as last scraped.</summary>
/// <param name="Running">Requests sent to the replica and not finished.</param>
/// <param name="Waiting">Requests bound to it and waiting at the proxy for a slot (on-arrival binding, or a retry on it).</param>
/// <param name="RunningTokens">Prompt tokens of the running ones.</param>
/// <param name="WaitingTokens">Prompt tokens of the waiting ones.</param>
/// <param name="KvUtilization">KV-cache use from the replica's metrics (0 until read).</param>
public readonly record struct ProxyReplicaLoad(int Running, int Waiting, long RunningTokens, long WaitingTokens, double KvUtilization = 0)
{
    /// <summary>The router's view of the replica: its fixed facts from <paramref name="facts"/> with this load, taken at <paramref name="nowMs"/>.</summary>
    public ReplicaView ToView(ReplicaView facts, int maxRunning, long nowMs)
    {
        ArgumentNullException.ThrowIfNull(facts);
        return facts with
        {
            RunningRequests = Running,
            QueuedRequests = Waiting,
            RunningTokens = RunningTokens,
            QueuedTokens = WaitingTokens,
            RunningPrefillTokens = null,
            MaxRunningRequests = maxRunning,
            KvCacheUtilization = KvUtilization,
            TakenAtMs = nowMs,
        };
    }
}

/// <summary>Told a replica's load (its index and the load) whenever it changes, under the dispatcher's lock, so views built from it reach the router in the order the load changed.</summary>
public delegate void ProxyLoadChanged(int replica, ProxyReplicaLoad load);

/// <summary>
/// Chooses a replica for the request at the head of the queue among those <see cref="ProxyDispatcher{T}.IsEligible"/>;
/// <see cref="ProxyDispatcher{T}.Wait"/> when it cannot be placed now, <see cref="ProxyDispatcher{T}.Refused"/> when it
/// never can (it leaves the queue; the caller answers it).
/// </summary>
/// <typeparam name="T">The ticket payload.</typeparam>
public delegate int ProxyChooser<T>(ProxyTicket<T> ticket);

/// <summary>
/// The centralized proxy's admission. Late binding (the paper's proxy, the default): requests wait in one global
/// first-in, first-out queue; whenever a replica may take more (fewer than the cap running and KV-cache use below the
/// gate) the request at the head is routed among the eligible replicas and starts there; the queue is looked at again
/// on every arrival, every release and every <see cref="ProxyDispatchOptions.RedispatchIntervalMs"/>. On-arrival
/// binding: a request is routed when it arrives and waits in its replica's own queue. Every request goes through the
/// proxy, so its counts are exact; every change of a replica's load is reported, in order and before the next choice,
/// to the <see cref="ProxyLoadChanged"/> the driver gives, which keeps its router's views equal to these counts.
/// Thread-safe; <c>gorgo proxy</c> and the simulator's proxy runs drive this one class.
/// </summary>
/// <typeparam name="T">What the driver attaches to a ticket.</typeparam>
public sealed class ProxyDispatcher<T>
{
    private readonly Lock _gate = new();
    private readonly List<ReplicaSlots> _replicas = [];
    private readonly LinkedList<ProxyTicket<T>> _queue = new();

    /// <summary>What a chooser returns when the request at the head cannot be placed now.</summary>
    public const int Wait = -1;

    /// <summary>What a chooser returns when the request at the head can never be placed (e.g. its prompt is too long for every replica).</summary>
    public const int Refused = -2;

    private readonly ProxyLoadChanged _loadChanged;

    /// <summary>Creates the dispatcher; <paramref name="loadChanged"/> hears every change of a replica's load.</summary>
    public ProxyDispatcher(ProxyDispatchOptions options, ProxyLoadChanged? loadChanged = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        new OptionsErrors().Include(options.Validate()).ThrowIfAny("proxy dispatch options");
        Options = options;
        _loadChanged = loadChanged ?? ((_, _) => { });
    }

    /// <summary>The settings in force.</summary>
    public ProxyDispatchOptions Options { get; }

    /// <summary>Requests a replica runs at once at most.</summary>
    public int MaxRunningPerReplica => Options.MaxRunningPerReplica;

    /// <summary>Requests in the global queue (late binding).</summary>
    public int Queued
    {
        get
        {
            lock (_gate)
            {
                return _queue.Count;
            }
        }
    }

    /// <summary>Adds a replica; returns its index.</summary>
    public int AddReplica()
    {
        lock (_gate)
        {
            _replicas.Add(new ReplicaSlots());
            return _replicas.Count - 1;
        }
    }

    /// <summary>The replica's KV-cache use as its metrics last said (gates late binding).</summary>
    public void SetKvUtilization(int replica, double utilization)
    {
        lock (_gate)
        {
            _replicas[replica].KvUtilization = utilization;
            Changed(replica);
        }
    }

    /// <summary>Reports the replica's load again (e.g. after its health changed, so its view is rebuilt).</summary>
    public void Republish(int replica)
    {
        lock (_gate)
        {
            Changed(replica);
        }
    }

    /// <summary>Whether the replica may take a request now: fewer than the cap running and KV-cache use below the gate.</summary>
    public bool IsEligible(int replica)
    {
        lock (_gate)
        {
            return EligibleLocked(_replicas[replica]);
        }
    }

    /// <summary>
    /// Admits a request: into the global queue (late binding), or bound to <paramref name="replica"/>'s own queue
    /// (on-arrival binding, where the caller routed it; or a retry on a particular replica under either binding).
    /// </summary>
    public ProxyTicket<T> Submit(T payload, long tokens, int replica = -1)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        if (Options.Binding == ProxyBinding.OnArrival && replica < 0)
        {
            throw new ArgumentException("On-arrival binding needs the routed replica.", nameof(replica));
        }

        lock (_gate)
        {
            var ticket = new ProxyTicket<T>(payload, replica, tokens);
            if (replica < 0)
            {
                _queue.AddLast(ticket);
            }
            else
            {
                ReplicaSlots slots = _replicas[replica];
                slots.Queue.Enqueue(ticket);
                slots.Waiting++;
                slots.WaitingTokens += tokens;
                Changed(replica);
            }

            return ticket;
        }
    }

    /// <summary>
    /// Starts what can start now, telling <paramref name="started"/> of each (under the lock, in order, after its load
    /// change was reported); returns how many. Bound requests first: each replica starts its own waiters while it has
    /// free slots. Then late binding: while the head of the global queue finds an eligible replica through
    /// <paramref name="choose"/> (which routes among the eligible ones), it starts there; the queue keeps its order, so a
    /// head that cannot be placed holds the rest. A choice of a replica that is not eligible counts as
    /// <see cref="Wait"/>: the router's view lagged, and the next dispatch looks again.
    /// </summary>
    public int Dispatch(ProxyChooser<T> choose, Action<ProxyTicket<T>> started)
    {
        ArgumentNullException.ThrowIfNull(choose);
        ArgumentNullException.ThrowIfNull(started);
        lock (_gate)
        {
            int count = 0;
            for (int r = 0; r < _replicas.Count; r++)
            {
                count += StartBound(r, started); // bound requests first: they were routed already
            }

            while (_queue.First is { } head)
            {
                if (head.Value.State != ProxyTicketState.Waiting)
                {
                    _queue.RemoveFirst(); // abandoned while it waited
                    continue;
                }

                if (!_replicas.Exists(EligibleLocked))
                {
                    break;
                }

                int replica = choose(head.Value);
                if (replica == Refused)
                {
                    _queue.RemoveFirst();
                    head.Value.State = ProxyTicketState.Abandoned;
                    continue;
                }

                if (replica < 0 || !EligibleLocked(_replicas[replica]))
                {
                    break; // cannot be placed now: the queue keeps its order
                }

                _queue.RemoveFirst();
                Start(head.Value, replica, started);
                count++;
            }

            return count;
        }
    }

    /// <summary>A running request ended (its response reached the proxy): frees its slot. False when it was not running.</summary>
    public bool Release(ProxyTicket<T> ticket) => Leave(ticket, ProxyTicketState.Running, ProxyTicketState.Finished);

    /// <summary>A waiting request was cancelled, or refused for good when its turn came: it leaves the queue. False when it had already started (release it instead).</summary>
    public bool Abandon(ProxyTicket<T> ticket) => Leave(ticket, ProxyTicketState.Waiting, ProxyTicketState.Abandoned);

    /// <summary>The replica's load now.</summary>
    public ProxyReplicaLoad Load(int replica)
    {
        lock (_gate)
        {
            ReplicaSlots slots = _replicas[replica];
            return LoadOf(slots);
        }
    }

    private static ProxyReplicaLoad LoadOf(ReplicaSlots slots) => new(slots.Running, slots.Waiting, slots.RunningTokens, slots.WaitingTokens, slots.KvUtilization);

    private void Changed(int replica) => _loadChanged(replica, LoadOf(_replicas[replica]));

    private bool EligibleLocked(ReplicaSlots slots) => slots.Running < Options.MaxRunningPerReplica && slots.KvUtilization < Options.MaxKvUtilization;

    private int StartBound(int replica, Action<ProxyTicket<T>> started)
    {
        ReplicaSlots slots = _replicas[replica];
        int count = 0;
        while (slots.Running < Options.MaxRunningPerReplica && slots.Queue.TryDequeue(out ProxyTicket<T>? ticket))
        {
            if (ticket.State != ProxyTicketState.Waiting)
            {
                continue; // abandoned while it waited
            }

            slots.Waiting--;
            slots.WaitingTokens -= ticket.Tokens;
            Start(ticket, replica, started);
            count++;
        }

        return count;
    }

    private void Start(ProxyTicket<T> ticket, int replica, Action<ProxyTicket<T>> started)
    {
        ReplicaSlots slots = _replicas[replica];
        ticket.Replica = replica;
        ticket.State = ProxyTicketState.Running;
        slots.Running++;
        slots.RunningTokens += ticket.Tokens;
        Changed(replica);
        started(ticket);
    }

    /// <summary>Takes a ticket out of the counts of its state <paramref name="from"/> (queued tickets are skipped lazily by <see cref="Dispatch"/>).</summary>
    private bool Leave(ProxyTicket<T> ticket, ProxyTicketState from, ProxyTicketState to)
    {
        ArgumentNullException.ThrowIfNull(ticket);
        lock (_gate)
        {
            if (ticket.State != from)
            {
                return false;
            }

            ticket.State = to;
            if (ticket.Replica < 0)
            {
                return true; // in the global queue: no replica counted it yet
            }

            ReplicaSlots slots = _replicas[ticket.Replica];
            if (from == ProxyTicketState.Running)
            {
                slots.Running--;
                slots.RunningTokens -= ticket.Tokens;
            }
            else
            {
                slots.Waiting--;
                slots.WaitingTokens -= ticket.Tokens;
            }

            Changed(ticket.Replica);
            return true;
        }
    }

    private sealed class ReplicaSlots
    {
        public Queue<ProxyTicket<T>> Queue { get; } = new();

        public int Running { get; set; }

        public int Waiting { get; set; }

        public long RunningTokens { get; set; }

        public long WaitingTokens { get; set; }

        public double KvUtilization { get; set; }
    }
}
