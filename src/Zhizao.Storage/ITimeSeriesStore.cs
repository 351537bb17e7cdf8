using Zhizao.Core;

namespace Zhizao.Storage;

/// <summary>A series known to the store. <see cref="Id"/> is dense and stable across restarts.</summary>
public readonly record struct SeriesInfo(int Id, string Key, ValueKind Kind);

/// <summary>Aggregates computed per bucket by <see cref="ITimeSeriesStore.Aggregate"/>.</summary>
[Flags]
public enum Aggregates
{
    None = 0,
    Min = 1,
    Max = 2,
    Avg = 4,
    Sum = 8,
    Count = 16,
    First = 32,
    Last = 64,
    StdDev = 128,
    All = Min | Max | Avg | Sum | Count | First | Last | StdDev,
}

/// <summary>One bucket of an aggregation. Buckets with no points are not returned.</summary>
public readonly record struct AggregateBucket(
    long StartNs, long Count, double Min, double Max, double Sum, double Avg, double First, double Last, double StdDev);

/// <summary>What a write did: points stored, and points refused (outside the out-of-order window, retention).</summary>
public readonly record struct WriteResult(int Accepted, int Rejected, string? FirstRejectReason);

/// <summary>Counters for health pages and benchmarks.</summary>
public readonly record struct StoreStats(
    int SeriesCount, long PointsInHead, long PointsInBlocks, long BlockBytes, long WalBytes, int BlockCount);

/// <summary>
/// Columnar batch of points for <see cref="ITimeSeriesStore.WriteAsync"/>. Reusable: call <see cref="Clear"/>.
/// Numeric values are kept as 8-byte payloads (double bits for Float64, the integer itself for Int64, 0/1 for Bool).
/// </summary>
public sealed class PointBatch
{
    private int[] _series;
    private long[] _timestamps;
    private long[] _values;
    private string?[]? _texts;

    public PointBatch(int capacity = 1024)
    {
        capacity = Math.Max(capacity, 16);
        _series = new int[capacity];
        _timestamps = new long[capacity];
        _values = new long[capacity];
    }

    public int Count { get; private set; }
    public ReadOnlySpan<int> SeriesIds => _series.AsSpan(0, Count);
    public ReadOnlySpan<long> Timestamps => _timestamps.AsSpan(0, Count);
    /// <summary>8-byte payloads; see the class summary.</summary>
    public ReadOnlySpan<long> Values => _values.AsSpan(0, Count);
    /// <summary>Text of String points by index, or null when the batch holds no strings.</summary>
    public string? TextAt(int index) => _texts?[index];
    public bool HasText => _texts is not null;

    public void Add(int seriesId, long timestampNs, double value) => AddBits(seriesId, timestampNs, BitConverter.DoubleToInt64Bits(value));
    public void Add(int seriesId, long timestampNs, long value) => AddBits(seriesId, timestampNs, value);
    public void Add(int seriesId, long timestampNs, bool value) => AddBits(seriesId, timestampNs, value ? 1 : 0);

    public void Add(int seriesId, long timestampNs, string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        int i = Count;
        AddBits(seriesId, timestampNs, 0);
        _texts ??= new string?[_series.Length];
        _texts[i] = value;
    }

    public void Add(int seriesId, long timestampNs, TagValue value)
    {
        if (value.Kind == ValueKind.String)
        {
            Add(seriesId, timestampNs, value.AsString!);
        }
        else
        {
            AddBits(seriesId, timestampNs, value.Bits);
        }
    }

    public void Clear()
    {
        if (_texts is not null)
        {
            Array.Clear(_texts, 0, Count);
        }

        Count = 0;
    }

    private void AddBits(int seriesId, long timestampNs, long bits)
    {
        if (Count == _series.Length)
        {
            Grow();
        }

        _series[Count] = seriesId;
        _timestamps[Count] = timestampNs;
        _values[Count] = bits;
        Count++;
    }

    private void Grow()
    {
        int n = _series.Length * 2;
        Array.Resize(ref _series, n);
        Array.Resize(ref _timestamps, n);
        Array.Resize(ref _values, n);
        if (_texts is not null)
        {
            Array.Resize(ref _texts, n);
        }
    }
}

/// <summary>
/// The embedded time-series store. Thread-safe. A write's task completes only once its points are durable
/// (written to the WAL and fsynced per the store's documented policy); readers see a point once it is acknowledged.
/// </summary>
public interface ITimeSeriesStore : IDisposable
{
    /// <summary>Finds or creates a series. Throws <see cref="ConflictException"/> if it exists with another kind.</summary>
    SeriesInfo GetOrCreateSeries(string key, ValueKind kind);

    bool TryGetSeries(string key, out SeriesInfo info);

    SeriesInfo GetSeries(int id);

    /// <summary>All series whose key starts with <paramref name="prefix"/> (all when null), ordered by key.</summary>
    IReadOnlyList<SeriesInfo> ListSeries(string? prefix = null);

    /// <summary>Stores the batch; completes when durable. Points older than the out-of-order window are rejected, not thrown.</summary>
    ValueTask<WriteResult> WriteAsync(PointBatch batch, CancellationToken cancellationToken = default);

    /// <summary>Raw points with <paramref name="fromNs"/> ≤ t &lt; <paramref name="toNs"/>, ascending, at most <paramref name="limit"/>.</summary>
    IReadOnlyList<DataPoint> ReadRange(int seriesId, long fromNs, long toNs, int limit = int.MaxValue);

    /// <summary>Numeric aggregation into buckets aligned to multiples of <paramref name="bucketNs"/> since the epoch.</summary>
    IReadOnlyList<AggregateBucket> Aggregate(int seriesId, long fromNs, long toNs, long bucketNs);

    bool TryGetLatest(int seriesId, out DataPoint point);

    /// <summary>Drops data older than <paramref name="cutoffNs"/> (whole blocks). Returns blocks removed.</summary>
    int ApplyRetention(long cutoffNs);

    /// <summary>Seals the in-memory head into compressed blocks now (normally done in the background).</summary>
    void Flush();

    StoreStats GetStats();
}
