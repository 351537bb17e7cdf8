using Microsoft.Data.Sqlite;
using Zhizao.Bench.Infrastructure;

namespace Zhizao.Bench.Storage;

/// <summary>
/// SQLite via Microsoft.Data.Sqlite: WAL journal, synchronous=FULL (fsync at every commit), a WITHOUT ROWID table keyed
/// by (series, time), time in Unix milliseconds; one writer (SQLite serialises writers) with a prepared INSERT in big transactions.
/// </summary>
internal sealed class SqliteTarget(BenchOptions options, BenchData data, Workspace workspace) : IBenchTarget
{
    private const int DaySeries = -1;

    // stddev is derived from sum of squares client-side; first/last come from the rows at min(time)/max(time).
    private const string AggregateSql = """
        SELECT b, n, mn, mx, sm, sq,
               (SELECT value FROM points WHERE series = $s AND time = t0),
               (SELECT value FROM points WHERE series = $s AND time = t1)
        FROM (SELECT time / 60000 AS b, count(*) AS n, min(value) AS mn, max(value) AS mx, sum(value) AS sm,
                     sum(value * value) AS sq, min(time) AS t0, max(time) AS t1
              FROM points WHERE series = $s AND time >= $from AND time < $to GROUP BY b)
        ORDER BY b
        """;

    private SqliteConnection? _conn;
    private string _file = "";
    private SqliteCommand? _aggregate;
    private SqliteCommand? _latest;

    public string Name => "SQLite";

    public string Setup => $"SQLite {_conn?.ServerVersion} (Microsoft.Data.Sqlite), journal_mode=WAL, synchronous=FULL, default page/cache size; " +
        "points(series INTEGER, time INTEGER (Unix ms), value REAL, PRIMARY KEY (series, time)) WITHOUT ROWID; one writer, " +
        $"prepared INSERT, {options.BatchPoints:N0} rows per transaction, time-major; latest = 1 prepared ORDER BY time DESC LIMIT 1 per series";

    public IList<string> Notes { get; } = [];

    private SqliteConnection Conn => _conn ?? throw new InvalidOperationException("not started");

    public Task<string?> StartAsync(CancellationToken ct)
    {
        _file = Path.Combine(workspace.Sub("sqlite"), "bench.db");
        _conn = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = _file, Pooling = false }.ToString());
        _conn.Open();
        Exec("PRAGMA journal_mode=WAL");
        Exec("PRAGMA synchronous=FULL");
        Exec("CREATE TABLE points (series INTEGER NOT NULL, time INTEGER NOT NULL, value REAL NOT NULL, PRIMARY KEY (series, time)) WITHOUT ROWID");
        return Task.FromResult<string?>(null);
    }

    public Task IngestAsync(CancellationToken ct)
    {
        int[] all = data.SeriesOfWriter(0, 1);
        using var insert = InsertCommand(out var ps, out var pt, out var pv);
        foreach (var (from, to) in BenchData.Windows(data.Seconds, all.Length, options.BatchPoints))
        {
            ct.ThrowIfCancellationRequested();
            using var tx = Conn.BeginTransaction();
            insert.Transaction = tx;
            for (int t = from; t < to; t++)
            {
                pt.Value = (BenchData.StartSec + t) * 1_000;
                foreach (int s in all)
                {
                    ps.Value = s;
                    pv.Value = data.Values[s][t];
                    insert.ExecuteNonQuery();
                }
            }

            tx.Commit();
        }

        return Task.CompletedTask;
    }

    public Task LoadDaySeriesAsync(CancellationToken ct)
    {
        using var insert = InsertCommand(out var ps, out var pt, out var pv);
        using var tx = Conn.BeginTransaction();
        insert.Transaction = tx;
        ps.Value = DaySeries;
        for (int t = 0; t < data.Day.Length; t++)
        {
            pt.Value = (BenchData.StartSec + t) * 1_000;
            pv.Value = data.Day[t];
            insert.ExecuteNonQuery();
        }

        tx.Commit();
        return Task.CompletedTask;
    }

    public Task<DiskUsage> MeasureDiskAsync(CancellationToken ct)
    {
        long walBefore = FileSize(_file + "-wal");
        Exec("PRAGMA wal_checkpoint(TRUNCATE)");
        long size = FileSize(_file);
        Notes.Add($"database file {size:N0} bytes after wal_checkpoint(TRUNCATE); the WAL held {walBefore:N0} bytes before it");
        return Task.FromResult(new DiskUsage(size, "database file size after wal_checkpoint(TRUNCATE)"));
    }

    public Task<IReadOnlyList<Bucket>> AggregateAsync(CancellationToken ct)
    {
        if (_aggregate is null)
        {
            _aggregate = Conn.CreateCommand();
            _aggregate.CommandText = AggregateSql;
            _aggregate.Parameters.AddWithValue("$s", DaySeries);
            _aggregate.Parameters.AddWithValue("$from", BenchData.StartSec * 1_000);
            _aggregate.Parameters.AddWithValue("$to", (BenchData.StartSec + data.Day.Length) * 1_000);
            _aggregate.Prepare();
        }

        var result = new List<Bucket>(1_440);
        using var r = _aggregate.ExecuteReader();
        while (r.Read())
        {
            long n = r.GetInt64(1);
            double sum = r.GetDouble(4);
            double sq = r.GetDouble(5);
            // stddev (sample) as the other engines report it; computed so the query pays for it, not checked.
            _ = n > 1 ? Math.Sqrt(Math.Max(0, (sq - (sum * sum / n)) / (n - 1))) : 0;
            result.Add(new Bucket(r.GetInt64(0) * 60, n, r.GetDouble(2), r.GetDouble(3), sum, r.GetDouble(6), r.GetDouble(7)));
        }

        return Task.FromResult<IReadOnlyList<Bucket>>(result);
    }

    public Task<double[]> LatestAsync(int n, CancellationToken ct)
    {
        if (_latest is null)
        {
            _latest = Conn.CreateCommand();
            _latest.CommandText = "SELECT value FROM points WHERE series = $s ORDER BY time DESC LIMIT 1";
            _latest.Parameters.AddWithValue("$s", 0);
            _latest.Prepare();
        }

        var result = new double[n];
        var p = _latest.Parameters[0];
        for (int s = 0; s < n; s++)
        {
            p.Value = s;
            result[s] = _latest.ExecuteScalar() is double v ? v : double.NaN;
        }

        return Task.FromResult(result);
    }

    public ValueTask DisposeAsync()
    {
        _aggregate?.Dispose();
        _latest?.Dispose();
        _conn?.Dispose();
        _conn = null;
        return ValueTask.CompletedTask;
    }

    private SqliteCommand InsertCommand(out SqliteParameter series, out SqliteParameter time, out SqliteParameter value)
    {
        var cmd = Conn.CreateCommand();
        cmd.CommandText = "INSERT INTO points (series, time, value) VALUES ($s, $t, $v)";
        series = cmd.Parameters.Add("$s", SqliteType.Integer);
        time = cmd.Parameters.Add("$t", SqliteType.Integer);
        value = cmd.Parameters.Add("$v", SqliteType.Real);
        series.Value = 0;
        time.Value = 0L;
        value.Value = 0.0;
        cmd.Prepare();
        return cmd;
    }

    private void Exec(string sql)
    {
        using var cmd = Conn.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private static long FileSize(string path) => File.Exists(path) ? new FileInfo(path).Length : 0;
}
