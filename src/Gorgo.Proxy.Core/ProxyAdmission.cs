using Gorgo.Routing.Fleet;

namespace Gorgo.Proxy.Core;

/// <summary>Where a request stands in the proxy.</summary>
public enum ProxyTicketState
{
    /// <summary>Waiting at the proxy for a slot on its replica.</summary>
    Waiting,

    /// <summary>Sent to its replica and not yet finished.</summary>
    Running,

    /// <summary>Its response ended and its slot is free again.</summary>
    Finished,

    /// <summary>Cancelled while it waited.</summary>
    Abandoned,
}

/// <summary>One request admitted by the proxy, bound to a replica.</summary>
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

    /// <summary>The replica's index in the admission.</summary>
    public int Replica { get; }

    /// <summary>The request's prompt tokens.</summary>
    public long Tokens { get; }

    /// <summary>Where it stands.</summary>
    public ProxyTicketState State { get; internal set; }
}

/// <summary>The proxy's exact count of one replica's load: the requests it runs there and those waiting at the proxy for a slot.</summary>
/// <param name="Running">Requests sent to the replica and not finished.</param>
/// <param name="Waiting">Requests waiting at the proxy for a slot on it.</param>
/// <param name="RunningTokens">Prompt tokens of the running ones.</param>
/// <param name="WaitingTokens">Prompt tokens of the waiting ones.</param>
public readonly record struct ProxyReplicaLoad(int Running, int Waiting, long RunningTokens, long WaitingTokens)
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
            TakenAtMs = nowMs,
        };
    }
}

/// <summary>
/// The centralized proxy's admission: every request is bound to a replica when it is routed and runs there as soon
/// as the replica has fewer than the cap of requests running; until then it waits at the proxy in the replica's
/// first-in, first-out queue. Since every request goes through the proxy, its counts are exact. Thread-safe; the
/// live proxy and the simulator's proxy runs drive the same code.
/// </summary>
/// <typeparam name="T">What the driver attaches to a ticket.</typeparam>
public sealed class ProxyAdmission<T>
{
    private readonly Lock _gate = new();
    private readonly List<ReplicaSlots> _replicas = [];

    /// <summary>Creates the admission with a cap of running requests per replica.</summary>
    public ProxyAdmission(int maxRunningPerReplica)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRunningPerReplica, 1);
        MaxRunningPerReplica = maxRunningPerReplica;
    }

    /// <summary>Requests a replica runs at once at most.</summary>
    public int MaxRunningPerReplica { get; }

    /// <summary>Replicas added.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _replicas.Count;
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

    /// <summary>Admits a request bound to <paramref name="replica"/>; it waits until <see cref="Dispatch"/> starts it.</summary>
    public ProxyTicket<T> Enqueue(int replica, T payload, long tokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        lock (_gate)
        {
            ReplicaSlots slots = _replicas[replica];
            var ticket = new ProxyTicket<T>(payload, replica, tokens);
            slots.Queue.Enqueue(ticket);
            slots.Waiting++;
            slots.WaitingTokens += tokens;
            return ticket;
        }
    }

    /// <summary>Starts the replica's waiting requests, oldest first, while it has free slots; adds them to <paramref name="started"/> and returns how many.</summary>
    public int Dispatch(int replica, List<ProxyTicket<T>> started)
    {
        ArgumentNullException.ThrowIfNull(started);
        lock (_gate)
        {
            ReplicaSlots slots = _replicas[replica];
            int count = 0;
            while (slots.Running < MaxRunningPerReplica && slots.Queue.TryDequeue(out ProxyTicket<T>? ticket))
            {
                if (ticket.State != ProxyTicketState.Waiting)
                {
                    continue; // abandoned while it waited
                }

                ticket.State = ProxyTicketState.Running;
                slots.Waiting--;
                slots.WaitingTokens -= ticket.Tokens;
                slots.Running++;
                slots.RunningTokens += ticket.Tokens;
                started.Add(ticket);
                count++;
            }

            return count;
        }
    }

    /// <summary>A running request ended (its response reached the proxy): frees its slot. False when it was not running.</summary>
    public bool Release(ProxyTicket<T> ticket) => Leave(ticket, ProxyTicketState.Running, ProxyTicketState.Finished);

    /// <summary>A waiting request was cancelled: it leaves the queue. False when it had already started (release it instead).</summary>
    public bool Abandon(ProxyTicket<T> ticket) => Leave(ticket, ProxyTicketState.Waiting, ProxyTicketState.Abandoned);

    /// <summary>The replica's load now.</summary>
    public ProxyReplicaLoad Load(int replica)
    {
        lock (_gate)
        {
            ReplicaSlots slots = _replicas[replica];
            return new ProxyReplicaLoad(slots.Running, slots.Waiting, slots.RunningTokens, slots.WaitingTokens);
        }
    }

    /// <summary>Takes a ticket out of the counts of its state <paramref name="from"/> (the queue's waiters are skipped lazily by <see cref="Dispatch"/>).</summary>
    private bool Leave(ProxyTicket<T> ticket, ProxyTicketState from, ProxyTicketState to)
    {
        ArgumentNullException.ThrowIfNull(ticket);
        lock (_gate)
        {
            if (ticket.State != from)
            {
                return false;
            }

            ReplicaSlots slots = _replicas[ticket.Replica];
            ticket.State = to;
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
    }
}
