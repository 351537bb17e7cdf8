namespace Zhizao.Mqtt.Broker;

/// <summary>
/// Publisher flow control for one queue towards a subscriber (a session's QoS 1/2 queue, or a connection's outbound
/// packets for QoS 0): above the high-water mark (<see cref="MqttBrokerOptions.FlowControlQueue"/>) the gate closes and
/// publishers feeding the queue pause their input until it is down to half. The subscriber must keep draining: when
/// nothing is taken from the queue during one <see cref="MqttBrokerOptions.FlowControlMaxPause"/> (stuck), or, over a
/// period of pressure (the gate closing again and again) of at least ten intervals, on average less than half the
/// high-water mark per interval (slow: by default under 500 messages per 100 ms, judged after 1 s), it holds nobody back
/// — the ordinary slow-consumer policy applies to it — until it has caught up. So a stuck client holds publishers for at
/// most one interval and a slow one never throttles them below that rate for long, while a fast one that many publishers
/// refilled at once is waited for as long as it drains.
/// </summary>
internal sealed class FlowGate(MqttBroker broker, Func<string> clientId)
{
    /// <summary>Intervals of pressure after which the average drain rate is judged.</summary>
    public const int SlowIntervals = 10;

    private readonly Lock _lock = new();
    private TaskCompletionSource? _drained;
    private bool _slow;
    private long _taken; // progress: one writer at a time (the session's lock, or the connection's write loop)
    private volatile bool _closed;
    private long _openedAtMs = long.MinValue / 2;
    private long _pressureSinceMs;
    private long _pressureTaken;

    /// <summary>True while publishers feeding this queue should pause.</summary>
    public bool IsClosed => _closed;

    private int High => broker.Options.FlowControlQueue;

    private long IntervalMs => Math.Max(1, (long)broker.Options.FlowControlMaxPause.TotalMilliseconds);

    /// <summary>After adding to the queue: closes the gate when <paramref name="queued"/> is above the high-water mark.</summary>
    public void Added(int queued)
    {
        int high = High;
        if (high <= 0 || queued <= high || _closed || Volatile.Read(ref _slow))
            return;
        lock (_lock)
        {
            if (_closed || _slow)
                return;
            long now = Environment.TickCount64;
            if (now - _openedAtMs > IntervalMs)
            {
                // open for a whole interval since the last close: a new period of pressure starts
                _pressureSinceMs = now;
                _pressureTaken = Volatile.Read(ref _taken);
            }
            _closed = true;
        }
    }

    /// <summary>After taking from the queue: opens the gate when <paramref name="queued"/> is down to half.</summary>
    public void Taken(int queued)
    {
        Volatile.Write(ref _taken, _taken + 1);
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
            if (_closed)
                _openedAtMs = Environment.TickCount64;
            _closed = false;
            d = _drained;
            _drained = null;
        }
        d?.TrySetResult();
    }

    /// <summary>Waits until the gate opens. The first waiter of a closed episode starts one watchdog that opens the gate
    /// for everyone when the subscriber stops draining (no timer per waiter: a thousand publishers may wait at once).</summary>
    public async ValueTask WaitAsync(CancellationToken ct)
    {
        Task drained;
        TaskCompletionSource? episode = null;
        lock (_lock)
        {
            if (!_closed)
                return;
            if (_drained is null)
                episode = _drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            drained = _drained.Task;
        }
        if (episode is not null)
            _ = WatchAsync(episode);
        broker.Stats.AddFlowControlPause();
        await drained.WaitAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Every interval while the gate is closed: stuck (nothing taken in the interval) or slow (the average over
    /// the period of pressure, once it is <see cref="SlowIntervals"/> long, is under half the high-water mark per
    /// interval) opens the gate for good, until the subscriber has caught up.</summary>
    private async Task WatchAsync(TaskCompletionSource episode)
    {
        int min = Math.Max(1, High / 2);
        long interval = IntervalMs;
        long last = Volatile.Read(ref _taken);
        while (true)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(interval)).ConfigureAwait(false);
            if (episode.Task.IsCompleted)
                return;
            long taken = Volatile.Read(ref _taken);
            if (taken == last)
                break; // stuck
            last = taken;
            long since, atStart;
            lock (_lock)
            {
                since = _pressureSinceMs;
                atStart = _pressureTaken;
            }
            long elapsed = Environment.TickCount64 - since;
            if (elapsed >= SlowIntervals * interval && (taken - atStart) * interval < min * elapsed)
                break; // slow
        }
        lock (_lock)
        {
            if (!ReferenceEquals(_drained, episode))
                return;
            _slow = true;
        }
        Open(caughtUp: false);
        broker.Stats.AddFlowControlTimeout();
        Log.FlowControlSlow(broker.Logger, clientId(), min, interval);
    }
}
