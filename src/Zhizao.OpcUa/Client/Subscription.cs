namespace Zhizao.OpcUa.Client;

public sealed record SubscriptionOptions
{
    public TimeSpan PublishingInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Publishing intervals without data before the server sends a keep-alive.</summary>
    public uint KeepAliveCount { get; init; } = 10;

    /// <summary>Publishing intervals without a Publish request before the server drops the subscription (at least 3× keep-alive).</summary>
    public uint LifetimeCount { get; init; } = 60;

    public uint MaxNotificationsPerPublish { get; init; }
    public byte Priority { get; init; }
}

public sealed record MonitoredItemOptions(NodeId NodeId)
{
    public uint AttributeId { get; init; } = Attributes.Value;
    public TimeSpan SamplingInterval { get; init; } = TimeSpan.FromMilliseconds(250);
    public uint QueueSize { get; init; } = 1;
    public bool DiscardOldest { get; init; } = true;

    /// <summary>Report a change only when the value moves by more than this (DataChangeFilter, absolute deadband).</summary>
    public double? AbsoluteDeadband { get; init; }

    /// <summary>What counts as a change (DataChangeFilter trigger). The default, StatusValue, reports only new values
    /// or status; StatusValueTimestamp also reports a repeated value with a new source timestamp (regular samples).</summary>
    public DataChangeTrigger Trigger { get; init; } = DataChangeTrigger.StatusValue;

    /// <summary>After an outage, read the missed values with HistoryRead (raw) where the server keeps history.</summary>
    public bool BackfillFromHistory { get; init; }
}

/// <summary>A monitored item as the client keeps it across reconnects (the server id may change).</summary>
public sealed class MonitoredItem
{
    internal MonitoredItem(OpcUaSubscription subscription, MonitoredItemOptions options, uint clientHandle)
    {
        Subscription = subscription;
        Options = options;
        ClientHandle = clientHandle;
    }

    public OpcUaSubscription Subscription { get; }
    public MonitoredItemOptions Options { get; }
    public NodeId NodeId => Options.NodeId;
    public uint ClientHandle { get; }
    public uint ServerId { get; internal set; }
    public StatusCode Status { get; internal set; }
    public TimeSpan RevisedSamplingInterval { get; internal set; }
    public uint RevisedQueueSize { get; internal set; }
    public DataValue? LastValue { get; internal set; }

    /// <summary>Source timestamp of the newest value delivered (live or back-filled).</summary>
    public DateTime? LastSourceTimestamp { get; internal set; }

    public override string ToString() => $"{NodeId} (handle {ClientHandle}, server id {ServerId})";
}

public sealed class DataChangeEventArgs(MonitoredItem item, DataValue value, bool fromHistory) : EventArgs
{
    public MonitoredItem Item { get; } = item;
    public DataValue Value { get; } = value;

    /// <summary>True when the value was read back with HistoryRead after an outage rather than published.</summary>
    public bool FromHistory { get; } = fromHistory;
}

/// <summary>
/// A subscription the client keeps alive across reconnects: on a new session it is transferred, or recreated with
/// all its monitored items. Sequence numbers are checked on every NotificationMessage; gaps are filled with Republish.
/// </summary>
#pragma warning disable CA1001 // ProcessLock is a SemaphoreSlim whose wait handle is never created: nothing to dispose
public sealed class OpcUaSubscription
#pragma warning restore CA1001
{
    // copy-on-write: the publish path looks items up without a lock
    private volatile Dictionary<uint, MonitoredItem> _items = [];
    private readonly object _lock = new();
    private readonly OpcUaClient _client;
    internal readonly SemaphoreSlim ProcessLock = new(1, 1);

    /// <summary>After a reconnect, live values of back-filled items wait here (under ProcessLock) until the gap has
    /// been read from history, so every value is delivered once and in order.</summary>
    internal volatile bool HoldLive;

    // sequence numbers already processed (live or through Republish), the last 1,024: a message that arrives after a
    // later one was processed is processed too unless it is in here (the first two responses can arrive out of order)
    private readonly HashSet<uint> _handled = [];
    private readonly Queue<uint> _handledOrder = new();

    internal bool WasHandled(uint sequenceNumber)
    {
        lock (_handled)
            return _handled.Contains(sequenceNumber);
    }

    internal void MarkHandled(uint sequenceNumber)
    {
        lock (_handled)
        {
            if (!_handled.Add(sequenceNumber))
                return;
            _handledOrder.Enqueue(sequenceNumber);
            if (_handledOrder.Count > 1024)
                _handled.Remove(_handledOrder.Dequeue());
        }
    }

    /// <summary>A subscription created anew on the server numbers its messages from 1 again.</summary>
    internal void ClearHandled()
    {
        lock (_handled)
        {
            _handled.Clear();
            _handledOrder.Clear();
        }
    }
    internal readonly List<(MonitoredItem Item, DataValue Value)> Held = [];

    internal OpcUaSubscription(OpcUaClient client, SubscriptionOptions options)
    {
        _client = client;
        Options = options;
    }

    public SubscriptionOptions Options { get; }
    public uint ServerId { get; internal set; }
    public TimeSpan RevisedPublishingInterval { get; internal set; }
    public uint RevisedKeepAliveCount { get; internal set; }
    public uint RevisedLifetimeCount { get; internal set; }

    /// <summary>The last NotificationMessage sequence number handled; null before the first or after a recreate.</summary>
    public uint? LastSequenceNumber { get; internal set; }

    internal DateTime LastMessageUtc { get; set; } = DateTime.UtcNow;
    internal bool Deleted { get; set; }

    public long NotificationCount => Interlocked.Read(ref _notifications);
    public long KeepAliveCount => Interlocked.Read(ref _keepAlives);
    public long RepublishedCount => Interlocked.Read(ref _republished);

    /// <summary>NotificationMessages that were missing and could not be republished.</summary>
    public long LostMessageCount => Interlocked.Read(ref _lost);

    /// <summary>Values that came with the Overflow bit (the server's item queue overflowed); with
    /// <see cref="MonitoredItemOptions.BackfillFromHistory"/> each starts a HistoryRead of what was discarded.</summary>
    public long OverflowCount => Interlocked.Read(ref _overflows);

    /// <summary>Times the subscription had to be created again on the server (after a server restart).</summary>
    public int RecreateCount { get; internal set; }

    public int TransferCount { get; internal set; }

    internal long _notifications;
    internal long _keepAlives;
    internal long _republished;
    internal long _lost;
    internal long _overflows;
    internal long _handlerErrors;

    public event EventHandler<DataChangeEventArgs>? DataChanged;

    public event EventHandler<StatusCode>? StatusChanged;

    public IReadOnlyList<MonitoredItem> Items => [.. _items.Values];

    internal MonitoredItem? Find(uint clientHandle) => _items.GetValueOrDefault(clientHandle);

    internal List<MonitoredItem> NewItems(IEnumerable<MonitoredItemOptions> options, Func<uint> nextHandle)
    {
        lock (_lock)
        {
            var copy = new Dictionary<uint, MonitoredItem>(_items);
            var created = new List<MonitoredItem>();
            foreach (var o in options)
            {
                var item = new MonitoredItem(this, o, nextHandle());
                copy[item.ClientHandle] = item;
                created.Add(item);
            }
            _items = copy;
            return created;
        }
    }

    internal void RemoveItems(IEnumerable<MonitoredItem> items)
    {
        lock (_lock)
        {
            var copy = new Dictionary<uint, MonitoredItem>(_items);
            foreach (var i in items)
                copy.Remove(i.ClientHandle);
            _items = copy;
        }
    }

    /// <summary>Creates monitored items (in batches); items the server refuses keep their bad <see cref="MonitoredItem.Status"/>.</summary>
    public Task<IReadOnlyList<MonitoredItem>> AddMonitoredItemsAsync(IEnumerable<MonitoredItemOptions> items, CancellationToken ct = default) =>
        _client.AddMonitoredItemsAsync(this, items, ct);

    public async Task<MonitoredItem> AddMonitoredItemAsync(MonitoredItemOptions item, CancellationToken ct = default) =>
        (await _client.AddMonitoredItemsAsync(this, [item], ct))[0];

    public Task RemoveMonitoredItemsAsync(IEnumerable<MonitoredItem> items, CancellationToken ct = default) =>
        _client.RemoveMonitoredItemsAsync(this, items, ct);

    public Task DeleteAsync(CancellationToken ct = default) => _client.DeleteSubscriptionAsync(this, ct);

    internal void Raise(MonitoredItem item, DataValue value, bool fromHistory)
    {
        item.LastValue = value;
        if (value.SourceTimestamp is { } t && (item.LastSourceTimestamp is null || t > item.LastSourceTimestamp))
            item.LastSourceTimestamp = t;
        try
        {
            DataChanged?.Invoke(this, new DataChangeEventArgs(item, value, fromHistory));
        }
        catch (Exception)
        {
            // a failing handler must not stop the publish loop
            Interlocked.Increment(ref _handlerErrors);
        }
    }

    internal void RaiseStatus(StatusCode status)
    {
        try
        {
            StatusChanged?.Invoke(this, status);
        }
        catch (Exception)
        {
            Interlocked.Increment(ref _handlerErrors);
        }
    }
}
