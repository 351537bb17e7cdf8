using Zhizao.Core;

namespace Zhizao.Simulator;

/// <summary>
/// One way the virtual factory's values leave the simulator, as a real plant's would: line protocol over HTTP, MQTT
/// (JSON convention or Sparkplug B), or a server the platform's connectors read (OPC UA, Modbus TCP). A
/// <see cref="PlantDriver"/> steps the factory and hands each feed the samples of the machines assigned to it.
/// </summary>
public interface IPlantFeed : IAsyncDisposable
{
    /// <summary>Short name for logs and the console, e.g. "http-lp", "mqtt-json", "sparkplug-b", "opcua", "modbus".</summary>
    string Name { get; }

    /// <summary>Starts the feed's own work (connecting, serving, sending). Returns once started; runs until disposed.</summary>
    Task StartAsync(CancellationToken cancellationToken);

    /// <summary>
    /// One simulation step: the samples of the machines assigned to this feed, all stamped <paramref name="timestampNs"/>,
    /// machine by machine, keys <c>{machine}/{tag}</c>. Called on the driver's loop: must neither block nor throw
    /// (buffer and send on the feed's own task; count and log failures). <paramref name="samples"/> is reused after
    /// the call returns.
    /// </summary>
    void OnStep(long timestampNs, IReadOnlyList<Sample> samples);
}

/// <summary>Which machines a feed carries.</summary>
public sealed record PlantFeedAssignment(IPlantFeed Feed, IReadOnlySet<string> MachineIds);

/// <summary>
/// Steps a <see cref="VirtualFactory"/> on the wall clock (timestamps on the interval grid, as a polling gateway
/// produces) and splits every step's samples by machine among the feeds. A machine assigned to no feed is simulated
/// but not published; a machine assigned to two feeds goes to both.
/// </summary>
public sealed class PlantDriver
{
    private readonly VirtualFactory _factory;
    private readonly TimeSpan _interval;
    private readonly IReadOnlyList<PlantFeedAssignment> _feeds;
    private readonly Action<string> _log;
    private readonly TimeProvider _time;
    private long _steps;

    public PlantDriver(VirtualFactory factory, TimeSpan interval, IReadOnlyList<PlantFeedAssignment> feeds,
        Action<string>? log = null, TimeProvider? timeProvider = null)
    {
        _factory = factory ?? throw new ArgumentNullException(nameof(factory));
        _feeds = feeds ?? throw new ArgumentNullException(nameof(feeds));
        if (interval <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(interval), "Interval must be positive.");
        }

        foreach (var a in feeds)
        {
            foreach (string id in a.MachineIds)
            {
                factory.GetMachine(id); // unknown machine → NotFoundException now, not silence later
            }
        }

        _interval = interval;
        _log = log ?? (_ => { });
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>Steps taken so far.</summary>
    public long Steps => Interlocked.Read(ref _steps);

    /// <summary>Starts every feed, then steps until cancelled; disposes the feeds when it ends.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var all = new List<Sample>(_factory.SamplesPerStep);
        var perFeed = _feeds.Select(_ => new List<Sample>()).ToArray();
        long intervalNs = Math.Max(1, (long)_interval.TotalNanoseconds);
        try
        {
            foreach (var a in _feeds)
            {
                await a.Feed.StartAsync(cancellationToken);
                _log($"Plant feed {a.Feed.Name}: {a.MachineIds.Count} machines");
            }

            using var timer = new PeriodicTimer(_interval, _time);
            do
            {
                long now = Time.FromDateTime(_time.GetUtcNow());
                now -= now % intervalNs;
                if (now <= _factory.CurrentNs)
                {
                    continue;
                }

                all.Clear();
                _factory.Step(now, all);
                foreach (var list in perFeed)
                {
                    list.Clear();
                }

                foreach (Sample s in all)
                {
                    int slash = s.SeriesKey.IndexOf('/');
                    string machine = slash > 0 ? s.SeriesKey[..slash] : s.SeriesKey;
                    for (int i = 0; i < _feeds.Count; i++)
                    {
                        if (_feeds[i].MachineIds.Contains(machine))
                        {
                            perFeed[i].Add(s);
                        }
                    }
                }

                for (int i = 0; i < _feeds.Count; i++)
                {
                    if (perFeed[i].Count > 0)
                    {
                        try
                        {
                            _feeds[i].Feed.OnStep(now, perFeed[i]);
                        }
                        catch (Exception ex)
                        {
                            _log($"Plant feed {_feeds[i].Feed.Name} failed a step: {ex.Message}");
                        }
                    }
                }

                Interlocked.Increment(ref _steps);
            }
            while (await timer.WaitForNextTickAsync(cancellationToken));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            foreach (var a in _feeds)
            {
                await a.Feed.DisposeAsync();
            }
        }
    }
}
