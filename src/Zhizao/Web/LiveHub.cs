using System.Collections.Concurrent;
using System.Threading.Channels;
using Zhizao.Alarms;
using Zhizao.Rules.Alarms;

namespace Zhizao.Web;

/// <summary>
/// Fans alarm changes out to the browsers connected to <c>/api/live</c>. Each subscriber has its own small bounded
/// queue of alarm ids; publishing never waits. A browser that falls behind (queue full) loses the queued ids and is
/// told to re-read the alarm list instead ("resync"): a slow browser can never slow ingest or rule evaluation.
/// Tag values are not queued at all: each live connection samples the latest values itself.
/// </summary>
public sealed class LiveHub
{
    public const int QueueCapacity = 512;

    private readonly ConcurrentDictionary<LiveSubscription, byte> _subscribers = new();
    private long _published, _overflows;

    public LiveHub(SqliteAlarmJournal journal)
    {
        ArgumentNullException.ThrowIfNull(journal);
        journal.Appended += Publish;
    }

    public int Subscribers => _subscribers.Count;

    public long Published => Interlocked.Read(ref _published);

    /// <summary>Subscribers that fell behind and were asked to resync.</summary>
    public long Overflows => Interlocked.Read(ref _overflows);

    public LiveSubscription Subscribe()
    {
        var s = new LiveSubscription(this);
        _subscribers[s] = 0;
        return s;
    }

    internal void Remove(LiveSubscription s) => _subscribers.TryRemove(s, out _);

    internal void CountOverflow() => Interlocked.Increment(ref _overflows);

    private void Publish(AlarmJournalEntry entry)
    {
        Interlocked.Increment(ref _published);
        foreach (var s in _subscribers.Keys)
        {
            s.Offer(entry.AlarmId);
        }
    }
}

/// <summary>One browser connection's queue of changed alarm ids.</summary>
public sealed class LiveSubscription : IDisposable
{
    private readonly LiveHub _hub;
    private readonly Channel<string> _alarms = Channel.CreateBounded<string>(new BoundedChannelOptions(LiveHub.QueueCapacity)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.Wait, // TryWrite fails instead of dropping silently: we want to know
    });

    private int _overflowed;

    internal LiveSubscription(LiveHub hub) => _hub = hub;

    public ChannelReader<string> Alarms => _alarms.Reader;

    /// <summary>True once if ids were lost since the last call: the browser must re-read the whole list.</summary>
    public bool TakeOverflow()
    {
        if (Interlocked.Exchange(ref _overflowed, 0) == 0)
        {
            return false;
        }

        while (_alarms.Reader.TryRead(out _))
        {
        }

        return true;
    }

    internal void Offer(string alarmId)
    {
        if (!_alarms.Writer.TryWrite(alarmId) && Interlocked.Exchange(ref _overflowed, 1) == 0)
        {
            _hub.CountOverflow();
        }
    }

    public void Dispose() => _hub.Remove(this);
}
