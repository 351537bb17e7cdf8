namespace Zhizao.OpcUa.Client;

public sealed partial class OpcUaClient
{
    private const int MonitoredItemBatch = 1000;

    public async Task<OpcUaSubscription> CreateSubscriptionAsync(SubscriptionOptions? options = null, CancellationToken ct = default)
    {
        var subscription = new OpcUaSubscription(this, options ?? new SubscriptionOptions());
        await CreateOnServerAsync(subscription, ct);
        lock (_stateLock)
            _subscriptions.Add(subscription);
        EnsurePublishers();
        return subscription;
    }

    private async Task CreateOnServerAsync(OpcUaSubscription s, CancellationToken ct, bool waitForConnection = true)
    {
        var o = s.Options;
        var response = await CallAsync<CreateSubscriptionResponse>("CreateSubscription", new CreateSubscriptionRequest
        {
            RequestedPublishingInterval = o.PublishingInterval.TotalMilliseconds,
            RequestedMaxKeepAliveCount = o.KeepAliveCount,
            RequestedLifetimeCount = Math.Max(o.LifetimeCount, o.KeepAliveCount * 3),
            MaxNotificationsPerPublish = o.MaxNotificationsPerPublish,
            PublishingEnabled = true,
            Priority = o.Priority,
        }, ct, waitForConnection: waitForConnection);
        s.ServerId = response.SubscriptionId;
        s.RevisedPublishingInterval = TimeSpan.FromMilliseconds(response.RevisedPublishingInterval);
        s.RevisedKeepAliveCount = response.RevisedMaxKeepAliveCount;
        s.RevisedLifetimeCount = response.RevisedLifetimeCount;
        s.LastSequenceNumber = null;
        s.ClearHandled();
        s.LastMessageUtc = DateTime.UtcNow;
    }

    internal async Task<IReadOnlyList<MonitoredItem>> AddMonitoredItemsAsync(OpcUaSubscription s, IEnumerable<MonitoredItemOptions> options, CancellationToken ct)
    {
        var items = s.NewItems(options, () => (uint)Interlocked.Increment(ref _clientHandle));
        await CreateItemsOnServerAsync(s, items, ct);
        return items;
    }

    private async Task CreateItemsOnServerAsync(OpcUaSubscription s, IReadOnlyList<MonitoredItem> items, CancellationToken ct, bool waitForConnection = true)
    {
        for (int start = 0; start < items.Count; start += MonitoredItemBatch)
        {
            var batch = items.Skip(start).Take(MonitoredItemBatch).ToList();
            var response = await CallAsync<CreateMonitoredItemsResponse>("CreateMonitoredItems", new CreateMonitoredItemsRequest
            {
                SubscriptionId = s.ServerId,
                TimestampsToReturn = TimestampsToReturn.Both,
                ItemsToCreate = [.. batch.Select(i => new MonitoredItemCreateRequest
                {
                    ItemToMonitor = new ReadValueId(i.NodeId, i.Options.AttributeId),
                    MonitoringMode = MonitoringMode.Reporting,
                    ClientHandle = i.ClientHandle,
                    SamplingInterval = i.Options.SamplingInterval.TotalMilliseconds,
                    QueueSize = i.Options.QueueSize,
                    DiscardOldest = i.Options.DiscardOldest,
                    Filter = i.Options.AbsoluteDeadband is { } deadband
                        ? new ExtensionObject(new DataChangeFilter { Trigger = i.Options.Trigger, DeadbandType = DeadbandType.Absolute, DeadbandValue = deadband })
                        : i.Options.Trigger != DataChangeTrigger.StatusValue
                            ? new ExtensionObject(new DataChangeFilter { Trigger = i.Options.Trigger, DeadbandType = DeadbandType.None })
                            : ExtensionObject.Null,
                })],
            }, ct, waitForConnection: waitForConnection);
            if (response.Results.Length != batch.Count)
                throw new OpcUaProtocolException($"CreateMonitoredItems returned {response.Results.Length} results for {batch.Count} items", StatusCodes.BadUnknownResponse);
            for (int i = 0; i < batch.Count; i++)
            {
                var r = response.Results[i];
                batch[i].Status = r.StatusCode;
                batch[i].ServerId = r.MonitoredItemId;
                batch[i].RevisedSamplingInterval = TimeSpan.FromMilliseconds(r.RevisedSamplingInterval);
                batch[i].RevisedQueueSize = r.RevisedQueueSize;
            }
        }
    }

    internal async Task RemoveMonitoredItemsAsync(OpcUaSubscription s, IEnumerable<MonitoredItem> items, CancellationToken ct)
    {
        var list = items.ToList();
        s.RemoveItems(list);
        var ids = list.Where(i => i.Status.IsGood && i.ServerId != 0).Select(i => i.ServerId).ToArray();
        if (ids.Length > 0)
            await CallAsync<DeleteMonitoredItemsResponse>("DeleteMonitoredItems", new DeleteMonitoredItemsRequest { SubscriptionId = s.ServerId, MonitoredItemIds = ids }, ct);
    }

    internal async Task DeleteSubscriptionAsync(OpcUaSubscription s, CancellationToken ct)
    {
        s.Deleted = true;
        lock (_stateLock)
            _subscriptions.Remove(s);
        var response = await CallAsync<DeleteSubscriptionsResponse>("DeleteSubscriptions", new DeleteSubscriptionsRequest { SubscriptionIds = [s.ServerId] }, ct);
        if (response.Results.Length == 1 && response.Results[0].IsBad)
            throw new OpcUaServiceException("DeleteSubscriptions", response.Results[0], $"subscription {s.ServerId}");
    }

    // ---------------------------------------------------------------- publishing

    private void EnsurePublishers()
    {
        lock (_stateLock)
        {
            if (_closed || _subscriptions.Count == 0)
                return;
            _publishers.RemoveAll(t => t.IsCompleted);
            while (_publishers.Count < _options.PublishRequestCount)
                _publishers.Add(Task.Run(PublishLoopAsync, CancellationToken.None));
        }
    }

    private TimeSpan PublishTimeout()
    {
        var longest = TimeSpan.Zero;
        foreach (var s in Subscriptions)
        {
            var t = s.RevisedPublishingInterval * Math.Max(1, s.RevisedKeepAliveCount);
            if (t > longest)
                longest = t;
        }
        return longest * 2 + _options.RequestTimeout;
    }

    private async Task PublishLoopAsync()
    {
        while (!_life.IsCancellationRequested)
        {
            lock (_stateLock)
            {
                if (_subscriptions.Count == 0)
                    return;
            }
            SubscriptionAcknowledgement[] acks;
            lock (_acks)
            {
                acks = [.. _acks];
                _acks.Clear();
            }
            try
            {
                if (_state != ConnectionState.Connected)
                    await WaitConnectedAsync(TimeSpan.FromDays(1), _life.Token);
                var response = await CallAsync<PublishResponse>("Publish", new PublishRequest { SubscriptionAcknowledgements = acks }, _life.Token, PublishTimeout());
                await HandlePublishAsync(response);
            }
            catch (OperationCanceledException) when (_life.IsCancellationRequested)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (OpcUaServiceException e) when (e.Status.Kind == StatusCodes.BadTooManyPublishRequestsCode)
            {
                Requeue(acks);
                return; // the server wants fewer outstanding requests: this worker stops
            }
            catch (OpcUaServiceException e) when (e.Status.Kind == StatusCodes.BadNoSubscriptionCode)
            {
                Requeue(acks);
                await DelayQuietly(TimeSpan.FromMilliseconds(200));
            }
            catch (OpcUaServiceException e) when (e.Status.Kind is StatusCodes.BadSessionIdInvalidCode or StatusCodes.BadSessionClosedCode or StatusCodes.BadSessionNotActivatedCode)
            {
                ForceReconnect($"Publish: {e.Message}");
            }
            catch (OpcUaException e) when (e.IsTransient)
            {
                Requeue(acks);
                // the channel broke (a reconnect is under way) or the request timed out
                if (e.Status.Kind == StatusCodes.BadTimeoutCode && _state == ConnectionState.Connected)
                    ForceReconnect($"Publish: {e.Message}");
                await DelayQuietly(TimeSpan.FromMilliseconds(50));
            }
            catch (OpcUaException)
            {
                Requeue(acks);
                await DelayQuietly(TimeSpan.FromMilliseconds(200));
            }
        }
    }

    private void Requeue(SubscriptionAcknowledgement[] acks)
    {
        if (acks.Length == 0)
            return;
        lock (_acks)
        {
            foreach (var a in acks)
                _acks.Enqueue(a);
        }
    }

    private async Task DelayQuietly(TimeSpan delay)
    {
        try
        {
            await Task.Delay(delay, _life.Token);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private OpcUaSubscription? FindSubscription(uint serverId)
    {
        lock (_stateLock)
            return _subscriptions.FirstOrDefault(s => s.ServerId == serverId);
    }

    private async Task HandlePublishAsync(PublishResponse response)
    {
        var s = FindSubscription(response.SubscriptionId);
        if (s is null)
            return;
        var message = response.NotificationMessage;
        bool keepAlive = message.NotificationData.Length == 0;
        // a keep-alive carries the next sequence number the server will use
        uint received = keepAlive ? message.SequenceNumber - 1 : message.SequenceNumber;
        // responses of the outstanding Publish requests can be handed to us slightly out of order: give the
        // missing one a moment to arrive through another request before asking for it with Republish
        for (int wait = 0; wait < 10 && s.LastSequenceNumber is uint before && received > before + 1 && received - before < 10_000; wait++)
            await Task.Delay(10, _life.Token);
        await s.ProcessLock.WaitAsync(_life.Token);
        try
        {
            s.LastMessageUtc = DateTime.UtcNow;
            if (s.LastSequenceNumber is uint last && received > last + 1 && received - last < 10_000)
            {
                for (uint missing = last + 1; missing < received; missing++)
                    await RepublishAsync(s, missing);
            }
            if (keepAlive)
            {
                Interlocked.Increment(ref s._keepAlives);
                return;
            }
            if (s.WasHandled(message.SequenceNumber))
            {
                Acknowledge(s, message.SequenceNumber); // already handled through Republish
                return;
            }
            Process(s, message);
        }
        finally
        {
            s.ProcessLock.Release();
        }
    }

    private async Task RepublishAsync(OpcUaSubscription s, uint sequenceNumber)
    {
        try
        {
            var r = await CallAsync<RepublishResponse>("Republish", new RepublishRequest { SubscriptionId = s.ServerId, RetransmitSequenceNumber = sequenceNumber }, _life.Token);
            Interlocked.Increment(ref s._republished);
            Process(s, r.NotificationMessage);
        }
        catch (OpcUaServiceException e) when (e.Status.Kind == StatusCodes.BadMessageNotAvailableCode)
        {
            Interlocked.Increment(ref s._lost);
            s.MarkHandled(sequenceNumber);
            s.LastSequenceNumber = sequenceNumber;
        }
    }

    private void Process(OpcUaSubscription s, NotificationMessage message)
    {
        foreach (var data in message.NotificationData)
        {
            switch (data.Body)
            {
                case DataChangeNotification change:
                    foreach (var n in change.MonitoredItems)
                    {
                        var item = s.Find(n.ClientHandle);
                        if (item is null)
                            continue;
                        if (item.Options.BackfillFromHistory && n.Value.SourceTimestamp is { } t && item.LastSourceTimestamp is { } lastTs && t <= lastTs)
                            continue; // already delivered (back-fill or republish)
                        Interlocked.Increment(ref s._notifications);
                        if (item.Options.BackfillFromHistory && n.Value.Status.IsOverflow && !s.HoldLive && item.LastSourceTimestamp is not null)
                        {
                            // the server's queue for this item overflowed (a busy client or network): what it discarded
                            // is read from history, and live values wait until then so they still arrive in order
                            Interlocked.Increment(ref s._overflows);
                            s.HoldLive = true;
                            _ = BackfillAfterReconnectAsync();
                        }
                        if (s.HoldLive && item.Options.BackfillFromHistory)
                        {
                            s.Held.Add((item, n.Value));
                            continue;
                        }
                        s.Raise(item, n.Value, fromHistory: false);
                    }
                    break;
                case StatusChangeNotification status:
                    s.RaiseStatus(status.Status);
                    break;
            }
        }
        s.MarkHandled(message.SequenceNumber);
        if (s.LastSequenceNumber is not uint last || message.SequenceNumber > last || last - message.SequenceNumber > 10_000)
            s.LastSequenceNumber = message.SequenceNumber;
        Acknowledge(s, message.SequenceNumber);
    }

    private void Acknowledge(OpcUaSubscription s, uint sequenceNumber)
    {
        lock (_acks)
            _acks.Enqueue(new SubscriptionAcknowledgement { SubscriptionId = s.ServerId, SequenceNumber = sequenceNumber });
    }

    // ---------------------------------------------------------------- recovery

    private async Task RestoreSubscriptionsAsync(bool sessionSurvived, CancellationToken ct)
    {
        // pending acknowledgements stay queued: still valid for a surviving or transferred subscription, and answered
        // with a harmless per-item error for one the server no longer knows
        var subscriptions = Subscriptions.Where(s => !s.Deleted).ToList();
        if (subscriptions.Count == 0 || sessionSurvived)
            return;
        var transferred = new HashSet<OpcUaSubscription>();
        try
        {
            var response = await CallAsync<TransferSubscriptionsResponse>("TransferSubscriptions", new TransferSubscriptionsRequest
            {
                SubscriptionIds = [.. subscriptions.Select(s => s.ServerId)],
                SendInitialValues = true,
            }, ct, waitForConnection: false);
            for (int i = 0; i < subscriptions.Count && i < response.Results.Length; i++)
            {
                if (response.Results[i].StatusCode.IsGood)
                {
                    transferred.Add(subscriptions[i]);
                    subscriptions[i].TransferCount++;
                }
            }
        }
        catch (OpcUaServiceException)
        {
            // the server does not know them (it restarted) or does not transfer: recreate below
        }
        foreach (var s in subscriptions.Where(s => !transferred.Contains(s)))
        {
            await CreateOnServerAsync(s, ct, waitForConnection: false);
            await CreateItemsOnServerAsync(s, s.Items, ct, waitForConnection: false);
            s.RecreateCount++;
        }
    }

    private async Task BackfillAfterReconnectAsync()
    {
        try
        {
            await BackfillAsync(_life.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or OpcUaException or IOException)
        {
            // closing, or the connection dropped again: the next reconnect back-fills from the last delivered value
        }
    }

    private async Task BackfillAsync(CancellationToken ct)
    {
        try
        {
            await BackfillGapsAsync(ct);
        }
        finally
        {
            // then the live values that arrived meanwhile, in order, skipping what history already delivered
            foreach (var s in Subscriptions.Where(s => s.HoldLive))
            {
                await s.ProcessLock.WaitAsync(CancellationToken.None);
                try
                {
                    // responses can be handled out of order: raise per source time, so the duplicate check by time holds
                    foreach (var (item, value) in s.Held.OrderBy(h => h.Value.SourceTimestamp ?? DateTime.MinValue))
                    {
                        if (value.SourceTimestamp is { } t && item.LastSourceTimestamp is { } last && t <= last)
                            continue;
                        s.Raise(item, value, fromHistory: false);
                    }
                    s.Held.Clear();
                    s.HoldLive = false;
                }
                finally
                {
                    s.ProcessLock.Release();
                }
            }
        }
    }

    private async Task BackfillGapsAsync(CancellationToken ct)
    {
        var now = DateTime.UtcNow;
        foreach (var s in Subscriptions)
        {
            var items = s.Items.Where(i => i.Options.BackfillFromHistory && i.LastSourceTimestamp is not null).ToList();
            for (int start = 0; start < items.Count; start += 100)
            {
                var batch = items.Skip(start).Take(100).ToList();
                var from = batch.Min(i => i.LastSourceTimestamp!.Value).AddTicks(1);
                (StatusCode Status, List<DataValue> Values)[]? results = null;
                Exception? last = null;
                // during a reconnect the client is not yet "connected": call without waiting for it; a server that is
                // still settling the reactivated session may refuse once, so try a few times before giving up
                for (int attempt = 0; attempt < 3 && results is null; attempt++)
                {
                    try
                    {
                        results = await HistoryReadRawAsync(batch.Select(i => i.NodeId).ToList(), from, now.AddSeconds(1), 0, waitForConnection: false, ct);
                    }
                    catch (Exception e) when (e is OpcUaServiceException or TimeoutException or IOException)
                    {
                        last = e;
                        if (attempt < 2)
                            await Task.Delay(200, ct);
                    }
                }
                if (results is null)
                {
                    // no history on this server, or it would not answer: counted and kept, the caller decides
                    Interlocked.Increment(ref _backfillFailures);
                    LastBackfillError = $"HistoryRead of {batch.Count} items from {from:O} failed 3 times: {last?.Message}";
                    continue;
                }
                await s.ProcessLock.WaitAsync(ct);
                try
                {
                    for (int i = 0; i < batch.Count; i++)
                    {
                        var item = batch[i];
                        foreach (var v in results[i].Values.OrderBy(v => v.SourceTimestamp))
                        {
                            if (v.SourceTimestamp is not { } t || t <= item.LastSourceTimestamp)
                                continue;
                            Interlocked.Increment(ref _backfilled);
                            s.Raise(item, v, fromHistory: true);
                        }
                    }
                }
                finally
                {
                    s.ProcessLock.Release();
                }
            }
        }
    }
}
