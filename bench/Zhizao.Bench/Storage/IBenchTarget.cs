namespace Zhizao.Bench.Storage;

/// <summary>One 1-minute bucket as every engine returns it, for cross-checking results.</summary>
internal readonly record struct Bucket(long StartSec, long Count, double Min, double Max, double Sum, double First, double Last);

/// <summary>Bytes an engine uses for the data set, and what the figure counts.</summary>
internal readonly record struct DiskUsage(long Bytes, string What);

/// <summary>A query timed in addition to the two headline queries (shown in the details only).</summary>
internal sealed record NamedQuery(string Name, Func<CancellationToken, Task> Run);

/// <summary>Another way to write the aggregation query; verified and timed, and used if faster (fair to the peer).</summary>
internal sealed record NamedAggregate(string Form, Func<CancellationToken, Task<IReadOnlyList<Bucket>>> Run);

/// <summary>
/// An engine under test. The runner calls, in order: <see cref="StartAsync"/>, <see cref="IngestAsync"/> (timed),
/// <see cref="LoadDaySeriesAsync"/>, <see cref="MeasureDiskAsync"/>, then the queries many times, then DisposeAsync.
/// </summary>
internal interface IBenchTarget : IAsyncDisposable
{
    string Name { get; }

    /// <summary>How the engine was set up (settings, schema, writers), for the report.</summary>
    string Setup { get; }

    /// <summary>Extra facts found while running (WAL size, compaction wait, ...), for the report.</summary>
    IList<string> Notes { get; }

    /// <summary>Starts the engine; returns null when ready, or why it is skipped (binary not installed, type missing).</summary>
    Task<string?> StartAsync(CancellationToken ct);

    /// <summary>Writes every ingest point; completes once all are durable.</summary>
    Task IngestAsync(CancellationToken ct);

    /// <summary>Writes the one-day series the aggregation query reads (not timed).</summary>
    Task LoadDaySeriesAsync(CancellationToken ct);

    Task<DiskUsage> MeasureDiskAsync(CancellationToken ct);

    /// <summary>The day series in 1-minute buckets: min, max, avg, sum, count, stddev, first, last.</summary>
    Task<IReadOnlyList<Bucket>> AggregateAsync(CancellationToken ct);

    /// <summary>Latest value of ingest series 0..n-1, indexed by series.</summary>
    Task<double[]> LatestAsync(int n, CancellationToken ct);

    IReadOnlyList<NamedQuery> ExtraQueries => [];

    IReadOnlyList<NamedAggregate> AlternativeAggregates => [];

    /// <summary>How <see cref="AggregateAsync"/> writes the query, when there are alternatives.</summary>
    string AggregateForm => "";
}
