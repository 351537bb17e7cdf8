using System.Diagnostics;
using Zhizao.Bench.Infrastructure;
using Zhizao.Core;
using Zhizao.Storage;

namespace Zhizao.Bench.Storage;

/// <summary>Our embedded engine, in-process, through <see cref="ITimeSeriesStore"/>.</summary>
internal sealed class ZhizaoTarget(BenchOptions options, BenchData data, Workspace workspace) : IBenchTarget
{
    private readonly Stopwatch _sinceIngestStart = new();
    private TimeSeriesEngine? _store;
    private int[] _ids = [];
    private int _dayId;
    private string _dir = "";

    public string Name => "Zhizao";

    public string Setup => $"in-process TimeSeriesEngine.Open(dir, new StorageOptions()) (defaults: fsync every group commit), {options.Writers} concurrent WriteAsync callers, " +
        $"batches of {options.BatchPoints:N0} points (time-major); durable when WriteAsync completes";

    public IList<string> Notes { get; } = [];

    private TimeSeriesEngine Store => _store ?? throw new InvalidOperationException("not started");

    public Task<string?> StartAsync(CancellationToken ct)
    {
        _dir = workspace.Sub("zhizao");
        _store = TimeSeriesEngine.Open(_dir, new StorageOptions());
        _ids = new int[data.Series];
        for (int s = 0; s < data.Series; s++)
        {
            _ids[s] = _store.GetOrCreateSeries(SeriesKey(s), ValueKind.Float64).Id;
        }

        _dayId = _store.GetOrCreateSeries("bench/day", ValueKind.Float64).Id;
        return Task.FromResult<string?>(null);
    }

    public async Task IngestAsync(CancellationToken ct)
    {
        _sinceIngestStart.Restart();
        long rejected = 0;
        string? reason = null;
        var writers = Enumerable.Range(0, options.Writers).Select(w => Task.Run(async () =>
        {
            int[] mine = data.SeriesOfWriter(w, options.Writers);
            var batch = new PointBatch(options.BatchPoints + mine.Length);
            var values = data.Values;
            foreach (var (from, to) in BenchData.Windows(data.Seconds, mine.Length, options.BatchPoints))
            {
                batch.Clear();
                for (int t = from; t < to; t++)
                {
                    long ns = (BenchData.StartSec + t) * Time.NanosPerSecond;
                    foreach (int s in mine)
                    {
                        batch.Add(_ids[s], ns, values[s][t]);
                    }
                }

                var r = await Store.WriteAsync(batch, ct);
                if (r.Rejected > 0)
                {
                    Interlocked.Add(ref rejected, r.Rejected);
                    reason ??= r.FirstRejectReason;
                }
            }
        }, ct)).ToArray();
        await Task.WhenAll(writers);
        _sinceIngestStart.Stop();
        if (rejected > 0)
        {
            Notes.Add($"{rejected:N0} points rejected during ingest: {reason}");
        }
    }

    public async Task LoadDaySeriesAsync(CancellationToken ct)
    {
        var batch = new PointBatch(options.BatchPoints);
        for (int t0 = 0; t0 < data.Day.Length; t0 += options.BatchPoints)
        {
            batch.Clear();
            for (int t = t0; t < Math.Min(data.Day.Length, t0 + options.BatchPoints); t++)
            {
                batch.Add(_dayId, (BenchData.StartSec + t) * Time.NanosPerSecond, data.Day[t]);
            }

            var r = await Store.WriteAsync(batch, ct);
            if (r.Rejected > 0)
            {
                Notes.Add($"{r.Rejected:N0} day-series points rejected: {r.FirstRejectReason}");
            }
        }
    }

    public Task<DiskUsage> MeasureDiskAsync(CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        Store.Flush();
        sw.Stop();
        var stats = Store.GetStats();
        if (Store.LastMaintenanceError is { } bg)
        {
            Notes.Add($"background maintenance error: {bg.Message}");
        }

        Notes.Add($"Flush (seal head into blocks) took {sw.Elapsed.TotalMilliseconds:N0} ms after ingest and the day series (not in the ingest time); " +
            $"ingest + that Flush: {options.IngestPoints / (_sinceIngestStart.Elapsed + sw.Elapsed).TotalSeconds:N0} points/s (slightly pessimistic: the Flush also seals the day series)");
        Notes.Add($"stats after Flush: {stats.BlockCount:N0} blocks, {stats.BlockBytes:N0} block bytes, {stats.WalBytes:N0} WAL bytes, " +
            $"{stats.PointsInBlocks:N0} points in blocks, {stats.PointsInHead:N0} in head; whole directory {Proc.DirectorySize(_dir):N0} bytes");
        return Task.FromResult(new DiskUsage(stats.BlockBytes, "GetStats().BlockBytes after Flush (WAL reported separately in notes)"));
    }

    public Task<IReadOnlyList<Bucket>> AggregateAsync(CancellationToken ct)
    {
        long from = BenchData.StartSec * Time.NanosPerSecond;
        long to = (BenchData.StartSec + data.Day.Length) * Time.NanosPerSecond;
        var buckets = Store.Aggregate(_dayId, from, to, 60 * Time.NanosPerSecond);
        var result = new Bucket[buckets.Count];
        for (int i = 0; i < result.Length; i++)
        {
            var b = buckets[i];
            result[i] = new Bucket(b.StartNs / Time.NanosPerSecond, b.Count, b.Min, b.Max, b.Sum, b.First, b.Last);
        }

        return Task.FromResult<IReadOnlyList<Bucket>>(result);
    }

    public Task<double[]> LatestAsync(int n, CancellationToken ct)
    {
        var result = new double[n];
        for (int s = 0; s < n; s++)
        {
            result[s] = Store.TryGetLatest(_ids[s], out var p) ? p.Value.AsDouble : double.NaN;
        }

        return Task.FromResult(result);
    }

    public ValueTask DisposeAsync()
    {
        _store?.Dispose();
        _store = null;
        return ValueTask.CompletedTask;
    }

    public static string SeriesKey(int s) => $"bench/t{s:D5}";
}
