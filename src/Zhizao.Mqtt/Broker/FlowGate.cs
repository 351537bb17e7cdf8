namespace Zhizao.Mqtt.Broker;

/// <summary>
/// Publisher flow control for one queue towards a subscriber (a session's QoS 1/2 queue, or a connection's outbound
/// packets for QoS 0): above the high-water mark (<see cref="MqttBrokerOptions.FlowControlQueue"/>) the gate closes and
/// publishers feeding the queue pause their input until it is down to half. A publisher waits at most
/// <see cref="MqttBrokerOptions.FlowControlMaxPause"/>; a queue that does not drain in that time belongs to a slow
/// subscriber, which then holds nobody back (the ordinary slow-consumer policy applies to it) until it has caught up.
/// </summary>
internal sealed class FlowGate(MqttBroker broker, Func<string> clientId)
{
    private readonly Lock _lock = new();
    private TaskCompletionSource? _drained;
    private bool _slow;
    private volatile bool _closed;

    /// <summary>True while publishers feeding this queue should pause.</summary>
    public bool IsClosed => _closed;

    private int High => broker.Options.FlowControlQueue;

    /// <summary>After adding to the queue: closes the gate when <paramref name="queued"/> is above the high-water mark.</summary>
    public void Added(int queued)
    {
        int high = High;
        if (high > 0 && queued > high && !_closed && !Volatile.Read(ref _slow))
            _closed = true;
    }

    /// <summary>After taking from the queue: opens the gate when <paramref name="queued"/> is down to half.</summary>
    public void Taken(int queued)
    {
        if ((_closed || Volatile.Read(ref _slow)) && queued <= High / 2)
            Open(caughtUp: true);
    }

    /// <summary>Opens the gate; <paramref name="caughtUp"/> false keeps a slow subscriber marked slow (e.g. it went offline).</summary>
    public void Open(bool caughtUp)
    {
        TaskCompletionSource? d;
        lock (_lock)
        {
            if (caughtUp)
                _slow = false;
            _closed = false;
            d = _drained;
            _drained = null;
        }
        d?.TrySetResult();
    }

    /// <summary>Waits until the gate opens or the pause limit passes (then the subscriber is marked slow).</summary>
    public async ValueTask WaitAsync(CancellationToken ct)
    {
        Task drained;
        lock (_lock)
        {
            if (!_closed)
                return;
            drained = (_drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }
        broker.Stats.AddFlowControlPause();
        try
        {
            await drained.WaitAsync(broker.Options.FlowControlMaxPause, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            lock (_lock)
            {
                if (!_closed || _slow)
                    return;
                _slow = true;
            }
            Open(caughtUp: false);
            broker.Stats.AddFlowControlTimeout();
            Log.FlowControlSlow(broker.Logger, clientId(), broker.Options.FlowControlMaxPause.TotalMilliseconds);
        }
    }
}
