namespace Zhizao.OpcUa.Server;

public sealed partial class OpcUaServer
{
    private static readonly TimeSpan s_tick = TimeSpan.FromMilliseconds(10);

    private CreateSubscriptionResponse CreateSubscriptionCore(ServerSession session, CreateSubscriptionRequest r, out StatusCode status)
    {
        status = StatusCodes.Good;
        if (session.Subscriptions.Count >= Options.MaxSubscriptionsPerSession)
        {
            status = ServerStatusCodes.BadTooManySubscriptions;
            return null!;
        }
        double interval = double.IsFinite(r.RequestedPublishingInterval) ? Math.Clamp(r.RequestedPublishingInterval, Options.MinPublishingIntervalMs, 3_600_000) : Options.MinPublishingIntervalMs;
        uint keepAlive = Math.Clamp(r.RequestedMaxKeepAliveCount == 0 ? 10u : r.RequestedMaxKeepAliveCount, 1u, 10_000u);
        uint lifetime = Math.Clamp(r.RequestedLifetimeCount, 3 * keepAlive, 100_000u);
        var sub = new ServerSubscription
        {
            Id = ++_nextSubscriptionId,
            Session = session,
            PublishingIntervalMs = interval,
            MaxKeepAliveCount = keepAlive,
            LifetimeCount = lifetime,
            MaxNotifications = r.MaxNotificationsPerPublish == 0 ? Options.MaxNotificationsPerPublish : (int)Math.Min(r.MaxNotificationsPerPublish, (uint)Options.MaxNotificationsPerPublish),
            PublishingEnabled = r.PublishingEnabled,
            NextPublishTicks = DateTime.UtcNow.Ticks + (long)(interval * TimeSpan.TicksPerMillisecond),
        };
        session.Subscriptions[sub.Id] = sub;
        _subscriptions[sub.Id] = sub;
        return new CreateSubscriptionResponse
        {
            SubscriptionId = sub.Id,
            RevisedPublishingInterval = interval,
            RevisedMaxKeepAliveCount = keepAlive,
            RevisedLifetimeCount = lifetime,
        };
    }

    private ServiceResponse CreateSubscription(ServerSession session, CreateSubscriptionRequest r)
    {
        var response = CreateSubscriptionCore(session, r, out var status);
        return status.IsBad ? Fault(status) : response;
    }

    private ServiceResponse CreateMonitoredItems(ServerSession session, CreateMonitoredItemsRequest r)
    {
        if (!session.Subscriptions.TryGetValue(r.SubscriptionId, out var sub))
            return Fault(StatusCodes.BadSubscriptionIdInvalid);
        if (r.ItemsToCreate.Length == 0)
            return Fault(StatusCodes.BadNothingToDo);
        if (!Enum.IsDefined(r.TimestampsToReturn))
            return Fault(ServerStatusCodes.BadInvalidTimestampsToReturn);
        var results = new MonitoredItemCreateResult[r.ItemsToCreate.Length];
        for (int i = 0; i < results.Length; i++)
            results[i] = CreateItem(sub, r.ItemsToCreate[i], r.TimestampsToReturn);
        return new CreateMonitoredItemsResponse { Results = results };
    }

    private MonitoredItemCreateResult CreateItem(ServerSubscription sub, MonitoredItemCreateRequest request, TimestampsToReturn timestamps)
    {
        static MonitoredItemCreateResult Bad(StatusCode s) => new() { StatusCode = s };
        if (sub.Items.Count >= Options.MaxMonitoredItemsPerSubscription)
            return Bad(StatusCodes.BadTooManyMonitoredItems);
        var node = AddressSpace.Find(request.ItemToMonitor.NodeId);
        if (node is null)
            return Bad(StatusCodes.BadNodeIdUnknown);
        if (request.ItemToMonitor.AttributeId != Attributes.Value || node is not UaVariable variable)
            return Bad(StatusCodes.BadAttributeIdInvalid);
        if (!string.IsNullOrEmpty(request.ItemToMonitor.IndexRange))
            return Bad(ServerStatusCodes.BadIndexRangeInvalid);
        if (!Enum.IsDefined(request.MonitoringMode))
            return Bad(ServerStatusCodes.BadMonitoringModeInvalid);
        var trigger = DataChangeTrigger.StatusValue;
        double deadband = 0;
        switch (request.Filter.Body)
        {
            case null:
                break;
            case DataChangeFilter f:
                if (!Enum.IsDefined(f.Trigger))
                    return Bad(ServerStatusCodes.BadMonitoredItemFilterUnsupported);
                trigger = f.Trigger;
                if (f.DeadbandType == DeadbandType.Absolute)
                {
                    if (!double.IsFinite(f.DeadbandValue) || f.DeadbandValue < 0)
                        return Bad(StatusCodes.BadDeadbandFilterInvalid);
                    if (variable.DataType is BuiltInType.Boolean or BuiltInType.String or BuiltInType.DateTime or BuiltInType.ByteString
                        or BuiltInType.Guid or BuiltInType.NodeId or BuiltInType.LocalizedText or BuiltInType.QualifiedName)
                        return Bad(ServerStatusCodes.BadFilterNotAllowed);
                    deadband = f.DeadbandValue;
                }
                else if (f.DeadbandType != DeadbandType.None)
                {
                    return Bad(ServerStatusCodes.BadMonitoredItemFilterUnsupported); // percent needs an EURange
                }
                break;
            default:
                return Bad(ServerStatusCodes.BadMonitoredItemFilterUnsupported);
        }
        double sampling = request.SamplingInterval < 0 || !double.IsFinite(request.SamplingInterval) ? sub.PublishingIntervalMs : request.SamplingInterval;
        sampling = Math.Clamp(sampling, Options.MinSamplingIntervalMs, 3_600_000);
        int queue = (int)Math.Clamp(request.QueueSize, 1u, 1000u);
        var item = new ServerMonitoredItem
        {
            Id = sub.NextItemId(),
            ClientHandle = request.ClientHandle,
            Variable = variable,
            SamplingIntervalMs = sampling,
            QueueSize = queue,
            DiscardOldest = request.DiscardOldest,
            Mode = request.MonitoringMode,
            Timestamps = timestamps,
            Trigger = trigger,
            AbsoluteDeadband = deadband,
        };
        sub.Items[item.Id] = item;
        return new MonitoredItemCreateResult { MonitoredItemId = item.Id, RevisedSamplingInterval = sampling, RevisedQueueSize = (uint)queue };
    }

    private ServiceResponse DeleteMonitoredItems(ServerSession session, DeleteMonitoredItemsRequest r)
    {
        if (!session.Subscriptions.TryGetValue(r.SubscriptionId, out var sub))
            return Fault(StatusCodes.BadSubscriptionIdInvalid);
        if (r.MonitoredItemIds.Length == 0)
            return Fault(StatusCodes.BadNothingToDo);
        return new DeleteMonitoredItemsResponse
        {
            Results = [.. r.MonitoredItemIds.Select(id => sub.Items.Remove(id) ? StatusCodes.Good : ServerStatusCodes.BadMonitoredItemIdInvalid)],
        };
    }

    private ServiceResponse DeleteSubscriptions(ServerSession session, DeleteSubscriptionsRequest r)
    {
        if (r.SubscriptionIds.Length == 0)
            return Fault(StatusCodes.BadNothingToDo);
        var results = new StatusCode[r.SubscriptionIds.Length];
        for (int i = 0; i < results.Length; i++)
        {
            uint id = r.SubscriptionIds[i];
            results[i] = session.Subscriptions.Remove(id) && _subscriptions.Remove(id) ? StatusCodes.Good : StatusCodes.BadSubscriptionIdInvalid;
        }
        return new DeleteSubscriptionsResponse { Results = results };
    }

    private ServiceResponse TransferSubscriptions(ServerSession session, TransferSubscriptionsRequest r)
    {
        if (r.SubscriptionIds.Length == 0)
            return Fault(StatusCodes.BadNothingToDo);
        var results = new TransferResult[r.SubscriptionIds.Length];
        for (int i = 0; i < results.Length; i++)
        {
            if (!_subscriptions.TryGetValue(r.SubscriptionIds[i], out var sub))
            {
                results[i] = new TransferResult { StatusCode = StatusCodes.BadSubscriptionIdInvalid };
                continue;
            }
            if (sub.Session.UserName != session.UserName)
            {
                results[i] = new TransferResult { StatusCode = StatusCodes.BadUserAccessDenied };
                continue;
            }
            sub.Session.Subscriptions.Remove(sub.Id);
            sub.Session = session;
            session.Subscriptions[sub.Id] = sub;
            sub.SendKeepAliveNow = true;
            if (r.SendInitialValues)
            {
                foreach (var item in sub.Items.Values)
                {
                    item.LastVersion = -1;
                    item.LastReported = null;
                    item.NextSampleTicks = 0;
                }
            }
            results[i] = new TransferResult { StatusCode = StatusCodes.Good, AvailableSequenceNumbers = sub.AvailableSequenceNumbers() };
        }
        return new TransferSubscriptionsResponse { Results = results };
    }

    private PublishResponse? Publish(ServerSession session, ServerChannel channel, uint requestId, PublishRequest r)
    {
        var acks = new StatusCode[r.SubscriptionAcknowledgements.Length];
        for (int i = 0; i < acks.Length; i++)
        {
            var ack = r.SubscriptionAcknowledgements[i];
            if (!session.Subscriptions.TryGetValue(ack.SubscriptionId, out var sub))
            {
                acks[i] = StatusCodes.BadSubscriptionIdInvalid;
                continue;
            }
            var node = sub.Retransmission.First;
            while (node is not null && node.Value.SequenceNumber != ack.SequenceNumber)
                node = node.Next;
            if (node is null)
            {
                acks[i] = StatusCodes.BadSequenceNumberUnknown;
                continue;
            }
            sub.Retransmission.Remove(node);
        }
        if (session.Subscriptions.Count == 0)
            return new PublishResponse { ResponseHeader = new ResponseHeader { ServiceResult = StatusCodes.BadNoSubscription }, Results = acks };
        if (session.PublishQueue.Count >= Options.MaxPublishRequestsPerSession)
            return new PublishResponse { ResponseHeader = new ResponseHeader { ServiceResult = StatusCodes.BadTooManyPublishRequests }, Results = acks };
        session.PublishQueue.Enqueue(new PendingPublish(channel, requestId, r.RequestHeader.RequestHandle, acks));
        return null;
    }

    private ServiceResponse Republish(ServerSession session, RepublishRequest r)
    {
        if (!session.Subscriptions.TryGetValue(r.SubscriptionId, out var sub))
            return Fault(StatusCodes.BadSubscriptionIdInvalid);
        var message = sub.Retransmission.FirstOrDefault(m => m.SequenceNumber == r.RetransmitSequenceNumber);
        return message is null ? Fault(StatusCodes.BadMessageNotAvailable) : new RepublishResponse { NotificationMessage = message };
    }

    // ---------------------------------------------------------------- the publishing engine

    private async Task PublishLoopAsync()
    {
        using var timer = new PeriodicTimer(s_tick);
        var outgoing = new List<(PendingPublish, PublishResponse)>();
        long lastSweep = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                long now = DateTime.UtcNow.Ticks;
                lock (_state)
                {
                    foreach (var sub in _subscriptions.Values)
                        Cycle(sub, now, outgoing);
                    foreach (uint id in _expired)
                        _subscriptions.Remove(id);
                    _expired.Clear();
                    if (now - lastSweep > TimeSpan.TicksPerSecond)
                    {
                        lastSweep = now;
                        Sweep(now);
                    }
                }
                foreach (var (pending, response) in outgoing)
                {
                    Interlocked.Increment(ref _publishResponses);
                    _ = pending.Channel.SendResponseAsync(pending.RequestId, pending.RequestHandle, response);
                }
                outgoing.Clear();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Samples due items; on the publishing interval sends notifications or a keep-alive when a Publish request waits.</summary>
    private void Cycle(ServerSubscription sub, long now, List<(PendingPublish, PublishResponse)> outgoing)
    {
        foreach (var item in sub.Items.Values)
            item.Sample(now);
        var session = sub.Session;
        bool due = now >= sub.NextPublishTicks;
        if (!due && !(sub.Late && session.HasPublish()) && !(sub.SendKeepAliveNow && session.HasPublish()))
            return;
        if (due)
        {
            long interval = (long)(sub.PublishingIntervalMs * TimeSpan.TicksPerMillisecond);
            sub.NextPublishTicks = now - sub.NextPublishTicks > interval ? now + interval : sub.NextPublishTicks + interval;
        }
        bool hasData = sub.PublishingEnabled && sub.HasQueuedNotifications();
        if (hasData)
        {
            if (session.TakePublish() is not { } pending)
            {
                sub.Late = true;
                CountLifetime(sub, due);
                return;
            }
            var items = sub.Collect(sub.MaxNotifications, out bool more);
            Interlocked.Add(ref _notifications, items.Length);
            var message = new NotificationMessage
            {
                SequenceNumber = sub.NextSequence,
                PublishTime = DateTime.UtcNow,
                NotificationData = [new ExtensionObject(new DataChangeNotification { MonitoredItems = items })],
            };
            sub.NextSequence = sub.NextSequence == uint.MaxValue ? 1 : sub.NextSequence + 1;
            sub.Retransmission.AddLast(message);
            while (sub.Retransmission.Count > Options.RetransmissionQueueSize)
                sub.Retransmission.RemoveFirst();
            outgoing.Add((pending, new PublishResponse
            {
                SubscriptionId = sub.Id,
                AvailableSequenceNumbers = sub.AvailableSequenceNumbers(),
                MoreNotifications = more,
                NotificationMessage = message,
                Results = pending.AckResults,
            }));
            sub.Late = more;
            sub.KeepAliveCounter = 0;
            sub.LifetimeCounter = 0;
            sub.SendKeepAliveNow = false;
            return;
        }
        sub.Late = false;
        if (due)
            sub.KeepAliveCounter++;
        if (sub.KeepAliveCounter < sub.MaxKeepAliveCount && !sub.SendKeepAliveNow)
            return;
        if (session.TakePublish() is not { } keepAlive)
        {
            CountLifetime(sub, due);
            return;
        }
        outgoing.Add((keepAlive, new PublishResponse
        {
            SubscriptionId = sub.Id,
            AvailableSequenceNumbers = sub.AvailableSequenceNumbers(),
            NotificationMessage = new NotificationMessage { SequenceNumber = sub.NextSequence, PublishTime = DateTime.UtcNow },
            Results = keepAlive.AckResults,
        }));
        sub.KeepAliveCounter = 0;
        sub.LifetimeCounter = 0;
        sub.SendKeepAliveNow = false;
    }

    private void CountLifetime(ServerSubscription sub, bool due)
    {
        if (!due)
            return;
        sub.LifetimeCounter++;
        if (sub.LifetimeCounter >= sub.LifetimeCount)
        {
            Log($"OPC UA server: subscription {sub.Id} expired: no Publish request for {sub.LifetimeCount} publishing intervals");
            sub.Session.Subscriptions.Remove(sub.Id);
            _expired.Add(sub.Id);
        }
    }

    private readonly List<uint> _expired = [];

    /// <summary>Drops expired subscriptions and sessions without a channel for longer than their timeout.</summary>
    private void Sweep(long now)
    {
        List<ServerSession>? dead = null;
        foreach (var s in _sessions.Values)
        {
            bool detached = s.Channel is null || s.Channel.IsClosed;
            if ((detached || !s.Activated) && (now - s.LastActivity.Ticks) / TimeSpan.TicksPerMillisecond > s.TimeoutMs)
                (dead ??= []).Add(s);
        }
        foreach (var s in dead ?? [])
        {
            Log($"OPC UA server: session '{s.Name}' timed out after {s.TimeoutMs / 1000:0} s without a channel");
            RemoveSession(s);
        }
    }
}
