using Npgsql;
using NpgsqlTypes;
using Zhizao.Bench.Infrastructure;

namespace Zhizao.Bench.Storage;

/// <summary>PostgreSQL 15: one table with the (series, time) primary key its queries need; binary COPY via Npgsql.</summary>
internal sealed class PostgresTarget(BenchOptions options, BenchData data, Workspace workspace) : IBenchTarget
{
    private const int DaySeries = -1;

    // Two ways to get first/last per bucket: both are verified and timed, and the runner reports the faster as
    // PostgreSQL's aggregation figure.
    private const string AggregateArrayAggSql = """
        SELECT date_bin('1 minute', time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
               count(*), min(value), max(value), sum(value), avg(value), stddev_samp(value),
               (array_agg(value ORDER BY time))[1], (array_agg(value ORDER BY time DESC))[1]
        FROM points WHERE series = $1 AND time >= $2 AND time < $3
        GROUP BY bucket ORDER BY bucket
        """;

    private const string AggregateNoFirstLastSql = """
        SELECT date_bin('1 minute', time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
               count(*), min(value), max(value), sum(value), avg(value), stddev_samp(value)
        FROM points WHERE series = $1 AND time >= $2 AND time < $3
        GROUP BY bucket ORDER BY bucket
        """;

    private const string AggregateLookupSql = """
        SELECT bucket, n, mn, mx, sm, av, sd,
               (SELECT value FROM points WHERE series = $1 AND time = t0),
               (SELECT value FROM points WHERE series = $1 AND time = t1)
        FROM (SELECT date_bin('1 minute', time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
                     count(*) AS n, min(value) AS mn, max(value) AS mx, sum(value) AS sm, avg(value) AS av,
                     stddev_samp(value) AS sd, min(time) AS t0, max(time) AS t1
              FROM points WHERE series = $1 AND time >= $2 AND time < $3
              GROUP BY bucket) AS b
        ORDER BY bucket
        """;

    private const string LatestSql = """
        SELECT s.series, p.value
        FROM generate_series(0, $1 - 1) AS s(series)
        CROSS JOIN LATERAL (SELECT value FROM points WHERE points.series = s.series ORDER BY time DESC LIMIT 1) AS p
        """;

    private PostgresServer? _server;
    private NpgsqlDataSource? _source;
    private NpgsqlConnection? _query;

    public string Name => "PostgreSQL";

    public string Setup => $"{_server?.Version ?? "PostgreSQL"}, private cluster with default settings (fsync on, synchronous_commit on, " +
        "shared_buffers 128MB); table points(series int, time timestamptz, value double precision, PRIMARY KEY (series, time)); " +
        $"{options.Writers} connections each running binary COPY of {options.BatchPoints:N0} rows per COPY (one commit per COPY), time-major";

    public IList<string> Notes { get; } = [];

    private NpgsqlDataSource Source => _source ?? throw new InvalidOperationException("not started");

    public async Task<string?> StartAsync(CancellationToken ct)
    {
        string? bin = PostgresServer.FindBinDirectory();
        if (bin is null)
        {
            return "skipped: postgres not installed (no pg_ctl under /usr/lib/postgresql/*/bin, $ZHIZAO_PG_BIN or PATH)";
        }

        _server = await PostgresServer.StartAsync(bin, workspace, ct);
        _source = NpgsqlDataSource.Create(_server.ConnectionString);
        await using var cmd = Source.CreateCommand(
            "CREATE TABLE points (series integer NOT NULL, time timestamptz NOT NULL, value double precision NOT NULL, PRIMARY KEY (series, time))");
        await cmd.ExecuteNonQueryAsync(ct);
        return null;
    }

    public async Task IngestAsync(CancellationToken ct)
    {
        var writers = Enumerable.Range(0, options.Writers).Select(w => Task.Run(() =>
        {
            int[] mine = data.SeriesOfWriter(w, options.Writers);
            using var conn = Source.OpenConnection();
            foreach (var (from, to) in BenchData.Windows(data.Seconds, mine.Length, options.BatchPoints))
            {
                ct.ThrowIfCancellationRequested();
                using var copy = conn.BeginBinaryImport("COPY points (series, time, value) FROM STDIN (FORMAT BINARY)");
                for (int t = from; t < to; t++)
                {
                    var time = DateTime.UnixEpoch.AddSeconds(BenchData.StartSec + t);
                    foreach (int s in mine)
                    {
                        copy.StartRow();
                        copy.Write(s, NpgsqlDbType.Integer);
                        copy.Write(time, NpgsqlDbType.TimestampTz);
                        copy.Write(data.Values[s][t], NpgsqlDbType.Double);
                    }
                }

                copy.Complete();
            }
        }, ct)).ToArray();
        await Task.WhenAll(writers);
    }

    public async Task LoadDaySeriesAsync(CancellationToken ct)
    {
        await using var conn = await Source.OpenConnectionAsync(ct);
        await using var copy = await conn.BeginBinaryImportAsync("COPY points (series, time, value) FROM STDIN (FORMAT BINARY)", ct);
        for (int t = 0; t < data.Day.Length; t++)
        {
            await copy.StartRowAsync(ct);
            await copy.WriteAsync(DaySeries, NpgsqlDbType.Integer, ct);
            await copy.WriteAsync(DateTime.UnixEpoch.AddSeconds(BenchData.StartSec + t), NpgsqlDbType.TimestampTz, ct);
            await copy.WriteAsync(data.Day[t], NpgsqlDbType.Double, ct);
        }

        await copy.CompleteAsync(ct);
    }

    public async Task<DiskUsage> MeasureDiskAsync(CancellationToken ct)
    {
        await using (var vacuum = Source.CreateCommand("VACUUM (ANALYZE) points"))
        {
            await vacuum.ExecuteNonQueryAsync(ct);
        }

        await using (var checkpoint = Source.CreateCommand("CHECKPOINT"))
        {
            await checkpoint.ExecuteNonQueryAsync(ct);
        }

        await using var cmd = Source.CreateCommand(
            "SELECT pg_total_relation_size('points'), pg_relation_size('points'), pg_indexes_size('points')");
        await using var r = await cmd.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        long total = r.GetInt64(0);
        Notes.Add($"pg_total_relation_size {total:N0} bytes = heap {r.GetInt64(1):N0} + PK index {r.GetInt64(2):N0} (+ FSM/VM); WAL not counted");
        return new DiskUsage(total, "pg_total_relation_size('points') after VACUUM ANALYZE + CHECKPOINT (heap + PK index)");
    }

    public Task<IReadOnlyList<Bucket>> AggregateAsync(CancellationToken ct) => ReadBucketsAsync(AggregateLookupSql, ct);

    public IReadOnlyList<NamedAggregate> AlternativeAggregates =>
        [new("first/last via array_agg(value ORDER BY time)", ct => ReadBucketsAsync(AggregateArrayAggSql, ct))];

    public string AggregateForm => "first/last by PK lookups at each bucket's min/max(time)";

    private async Task<IReadOnlyList<Bucket>> ReadBucketsAsync(string sql, CancellationToken ct)
    {
        var cmd = await PreparedAsync(sql, ct);
        var result = new List<Bucket>(1_440);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            long start = (long)(r.GetFieldValue<DateTime>(0) - DateTime.UnixEpoch).TotalSeconds;
            result.Add(new Bucket(start, r.GetInt64(1), r.GetDouble(2), r.GetDouble(3), r.GetDouble(4), r.GetDouble(7), r.GetDouble(8)));
        }

        return result;
    }

    public async Task<double[]> LatestAsync(int n, CancellationToken ct)
    {
        var cmd = await PreparedAsync(LatestSql, ct);
        cmd.Parameters[0].Value = n;
        var result = new double[n];
        Array.Fill(result, double.NaN);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            result[r.GetInt32(0)] = r.GetDouble(1);
        }

        return result;
    }

    public IReadOnlyList<NamedQuery> ExtraQueries =>
    [
        new("aggregation without first/last", async ct =>
        {
            var cmd = await PreparedAsync(AggregateNoFirstLastSql, ct);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
            }
        }),
    ];

    public async ValueTask DisposeAsync()
    {
        foreach (var c in _prepared.Values)
        {
            await c.DisposeAsync();
        }

        _prepared.Clear();
        if (_query is not null)
        {
            await _query.DisposeAsync();
        }

        if (_source is not null)
        {
            await _source.DisposeAsync();
        }

        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    private readonly Dictionary<string, NpgsqlCommand> _prepared = [];

    /// <summary>One connection for all queries, each statement prepared once (as an application would).</summary>
    private async Task<NpgsqlCommand> PreparedAsync(string sql, CancellationToken ct)
    {
        if (_prepared.TryGetValue(sql, out var cmd))
        {
            return cmd;
        }

        _query ??= await Source.OpenConnectionAsync(ct);
        cmd = new NpgsqlCommand(sql, _query);
        if (sql == LatestSql)
        {
            cmd.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Integer, Value = 0 });
        }
        else
        {
            cmd.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Integer, Value = DaySeries });
            cmd.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.TimestampTz, Value = DateTime.UnixEpoch.AddSeconds(BenchData.StartSec) });
            cmd.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.TimestampTz, Value = DateTime.UnixEpoch.AddSeconds(BenchData.StartSec + data.Day.Length) });
        }

        await cmd.PrepareAsync(ct);
        _prepared[sql] = cmd;
        return cmd;
    }
}
