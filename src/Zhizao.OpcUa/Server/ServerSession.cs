namespace Zhizao.OpcUa.Server;

/// <summary>A Publish request waiting for a subscription with something to say.</summary>
internal sealed record PendingPublish(ServerChannel Channel, uint RequestId, uint RequestHandle, StatusCode[] AckResults);

/// <summary>Session state; every member is guarded by the server's state lock.</summary>
internal sealed class ServerSession(NodeId sessionId, NodeId authenticationToken, string name, double timeoutMs)
{
    public NodeId SessionId { get; } = sessionId;
    public NodeId AuthenticationToken { get; } = authenticationToken;
    public string Name { get; } = name;
    public double TimeoutMs { get; } = timeoutMs;
    public ServerChannel? Channel { get; set; }
    public bool Activated { get; set; }
    public string? UserName { get; set; }

    /// <summary>The nonce of our last CreateSession/ActivateSession response: the client signs it with our certificate.</summary>
    public byte[] ServerNonce { get; set; } = [];
    public byte[]? ClientCertificate { get; set; }
    public DateTime LastActivity { get; set; } = DateTime.UtcNow;
    public Dictionary<uint, ServerSubscription> Subscriptions { get; } = [];
    public Queue<PendingPublish> PublishQueue { get; } = new();
    public Dictionary<string, (List<ReferenceDescription> Remaining, uint PageSize)> BrowseContinuations { get; } = [];

    /// <summary>The next usable Publish request (on the session's current, open channel), or null.</summary>
    public PendingPublish? TakePublish()
    {
        while (PublishQueue.TryDequeue(out var p))
        {
            if (!p.Channel.IsClosed && p.Channel == Channel)
                return p;
        }
        return null;
    }

    public bool HasPublish()
    {
        while (PublishQueue.TryPeek(out var p))
        {
            if (!p.Channel.IsClosed && p.Channel == Channel)
                return true;
            PublishQueue.Dequeue();
        }
        return false;
    }
}

/// <summary>A monitored item sampling one variable's Value.</summary>
internal sealed class ServerMonitoredItem
{
    public required uint Id { get; init; }
    public required uint ClientHandle { get; init; }
    public required UaVariable Variable { get; init; }
    public required double SamplingIntervalMs { get; init; }
    public required int QueueSize { get; init; }
    public required bool DiscardOldest { get; init; }
    public required MonitoringMode Mode { get; init; }
    public required TimestampsToReturn Timestamps { get; init; }
    public DataChangeTrigger Trigger { get; init; } = DataChangeTrigger.StatusValue;
    public double AbsoluteDeadband { get; init; }
    public Queue<DataValue> Queue { get; } = new();
    public long LastVersion { get; set; } = -1;
    public DataValue? LastReported { get; set; }
    public long NextSampleTicks { get; set; }

    /// <summary>Samples the variable if due and the value changed; queues a notification when it passes the filter.</summary>
    public void Sample(long nowTicks)
    {
        if (Mode == MonitoringMode.Disabled || nowTicks < NextSampleTicks)
            return;
        long interval = (long)(SamplingIntervalMs * TimeSpan.TicksPerMillisecond);
        NextSampleTicks = NextSampleTicks == 0 || nowTicks - NextSampleTicks > interval ? nowTicks + interval : NextSampleTicks + interval;
        long version = Variable.Version;
        bool computed = Variable.HasComputedValue;
        if (version == LastVersion && !computed)
            return;
        LastVersion = version;
        var value = Variable.Value;
        if (LastReported is { } last && !Changed(last, value))
            return;
        LastReported = value;
        if (Mode != MonitoringMode.Reporting)
            return;
        if (Queue.Count >= QueueSize)
        {
            if (DiscardOldest)
            {
                Queue.Dequeue();
                value = value with { Status = new StatusCode(value.Status.Code | 0x480) }; // InfoType DataValue + Overflow
            }
            else
            {
                return;
            }
        }
        Queue.Enqueue(value);
    }

    private bool Changed(DataValue last, DataValue value)
    {
        if (last.Status != value.Status)
            return true;
        if (Trigger == DataChangeTrigger.Status)
            return false;
        if (Trigger == DataChangeTrigger.StatusValueTimestamp && last.SourceTimestamp != value.SourceTimestamp)
            return true;
        if (AbsoluteDeadband > 0 && ServerSubscription.TryNumber(last.Value, out double a) && ServerSubscription.TryNumber(value.Value, out double b))
            return Math.Abs(a - b) > AbsoluteDeadband;
        return !last.Value.Equals(value.Value);
    }
}

/// <summary>A subscription: its items, publishing timer state and retransmission queue; guarded by the server's state lock.</summary>
internal sealed class ServerSubscription
{
    private uint _nextItemId;

    public required uint Id { get; init; }
    public required ServerSession Session { get; set; }
    public required double PublishingIntervalMs { get; init; }
    public required uint MaxKeepAliveCount { get; init; }
    public required uint LifetimeCount { get; init; }
    public required int MaxNotifications { get; init; }
    public bool PublishingEnabled { get; init; } = true;
    public Dictionary<uint, ServerMonitoredItem> Items { get; } = [];
    public LinkedList<NotificationMessage> Retransmission { get; } = new();
    public uint NextSequence { get; set; } = 1;
    public long NextPublishTicks { get; set; }
    public uint KeepAliveCounter { get; set; }
    public uint LifetimeCounter { get; set; }
    public bool Late { get; set; }
    public bool SendKeepAliveNow { get; set; } = true;
    public double MinSamplingMs { get; set; } = double.MaxValue;

    public uint NextItemId() => ++_nextItemId;

    public bool HasQueuedNotifications()
    {
        foreach (var item in Items.Values)
        {
            if (item.Queue.Count > 0)
                return true;
        }
        return false;
    }

    public uint[] AvailableSequenceNumbers() => [.. Retransmission.Select(m => m.SequenceNumber)];

    /// <summary>Removes up to max queued values as notifications; more says whether some were left.</summary>
    public MonitoredItemNotification[] Collect(int max, out bool more)
    {
        var list = new List<MonitoredItemNotification>();
        more = false;
        foreach (var item in Items.Values)
        {
            while (item.Queue.Count > 0)
            {
                if (list.Count >= max)
                {
                    more = true;
                    return [.. list];
                }
                list.Add(new MonitoredItemNotification { ClientHandle = item.ClientHandle, Value = OpcUaServer.WithTimestamps(item.Queue.Dequeue(), item.Timestamps) });
            }
        }
        return [.. list];
    }

    public static bool TryNumber(Variant v, out double d)
    {
        switch (v.Value)
        {
            case double x: d = x; return true;
            case float x: d = x; return true;
            case long x: d = x; return true;
            case int x: d = x; return true;
            case short x: d = x; return true;
            case sbyte x: d = x; return true;
            case ulong x: d = x; return true;
            case uint x: d = x; return true;
            case ushort x: d = x; return true;
            case byte x: d = x; return true;
            default: d = 0; return false;
        }
    }
}
