using System.Buffers.Text;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Zhizao.Bench.Infrastructure;

namespace Zhizao.Bench.Storage;

/// <summary>
/// InfluxDB 1.6 with the schema its docs recommend: one measurement, the tag name as a tag, one field —
/// <c>sensor,tag=t00042 value=23.4 1704067200</c>. The day series is measurement <c>daily</c>.
/// Line protocol over HTTP with several concurrent writers; a write counts once Influx answered 204 (WAL fsynced).
/// </summary>
internal sealed class InfluxTarget(BenchOptions options, BenchData data, Workspace workspace) : IBenchTarget
{
    private const string Database = "bench";
    private static readonly byte[] Measurement = "sensor,tag=t"u8.ToArray();
    private static readonly byte[] Field = " value="u8.ToArray();

    private InfluxServer? _server;
    private HttpClient? _http;
    private string _version = "InfluxDB";

    public string Name => "InfluxDB";

    public string Setup => $"{_version}, private instance, default storage settings (tsm1, inmem index, WAL fsync per write), " +
        $"schema `sensor,tag=tNNNNN value=<float> <unix s>` (day series: measurement `daily`), {options.Writers} concurrent HTTP writers, " +
        $"{options.InfluxBatchLines:N0} lines per POST /write?precision=s (time-major); lines are formatted inside the timed loop";

    public IList<string> Notes { get; } = [];

    private HttpClient Http => _http ?? throw new InvalidOperationException("not started");

    public async Task<string?> StartAsync(CancellationToken ct)
    {
        string? binary = InfluxServer.FindBinary();
        if (binary is null)
        {
            return "skipped: influxd not installed (no /usr/bin/influxd, $ZHIZAO_INFLUXD or influxd on PATH)";
        }

        _server = await InfluxServer.StartAsync(binary, workspace, ct);
        var handler = new SocketsHttpHandler { MaxConnectionsPerServer = options.Writers + 2, UseProxy = false };
        _http = new HttpClient(handler) { BaseAddress = _server.BaseAddress, Timeout = TimeSpan.FromMinutes(5) };
        using var ping = await Http.GetAsync(new Uri("ping", UriKind.Relative), ct);
        if (ping.Headers.TryGetValues("X-Influxdb-Version", out var v))
        {
            _version = "InfluxDB " + string.Join("", v);
        }

        await QueryAsync($"CREATE DATABASE {Database}", post: true, ct);
        return null;
    }

    public async Task IngestAsync(CancellationToken ct)
    {
        var writers = Enumerable.Range(0, options.Writers).Select(w => Task.Run(async () =>
        {
            int[] mine = data.SeriesOfWriter(w, options.Writers);
            var buffer = new byte[(Math.Max(options.InfluxBatchLines, data.Series) * 96) + 1024];
            foreach (var (from, to) in BenchData.Windows(data.Seconds, mine.Length, options.InfluxBatchLines))
            {
                int len = 0;
                for (int t = from; t < to; t++)
                {
                    long sec = BenchData.StartSec + t;
                    foreach (int s in mine)
                    {
                        len += FormatLine(buffer.AsSpan(len), Measurement, s, data.Values[s][t], sec);
                    }
                }

                await PostWriteAsync(buffer, len, ct);
            }
        }, ct)).ToArray();
        await Task.WhenAll(writers);
    }

    public async Task LoadDaySeriesAsync(CancellationToken ct)
    {
        var buffer = new byte[(Math.Max(options.InfluxBatchLines, data.Series) * 96) + 1024];
        byte[] daily = "daily,tag=t"u8.ToArray();
        for (int t0 = 0; t0 < data.Day.Length; t0 += options.InfluxBatchLines)
        {
            int len = 0;
            for (int t = t0; t < Math.Min(data.Day.Length, t0 + options.InfluxBatchLines); t++)
            {
                len += FormatLine(buffer.AsSpan(len), daily, 0, data.Day[t], BenchData.StartSec + t);
            }

            await PostWriteAsync(buffer, len, ct);
        }
    }

    public async Task<DiskUsage> MeasureDiskAsync(CancellationToken ct)
    {
        var server = _server!;
        long right = Proc.DirectorySize(server.DataDir) + Proc.DirectorySize(server.WalDir);
        Notes.Add($"right after the last write: data+wal {right:N0} bytes ({right / (double)options.TotalPoints:0.00} bytes/point)");
        // Wait for the idle shard to be snapshotted (WAL → TSM) and compacted: until the WAL holds no segment data and
        // the total stops changing for 5 s, or the settle timeout.
        var sw = Stopwatch.StartNew();
        long last = -1;
        var stableSince = Stopwatch.StartNew();
        while (sw.Elapsed < options.InfluxSettleTimeout)
        {
            long now = Proc.DirectorySize(server.DataDir) + Proc.DirectorySize(server.WalDir);
            if (now != last)
            {
                last = now;
                stableSince.Restart();
            }
            else if (Proc.DirectorySize(server.WalDir) < 64 * 1024 && stableSince.Elapsed > TimeSpan.FromSeconds(5))
            {
                break;
            }

            await Task.Delay(500, ct);
        }

        long all = Proc.DirectorySize(server.DataDir);
        long tsm = FilesSize(server.DataDir, "*.tsm");
        long wal = Proc.DirectorySize(server.WalDir);
        bool settled = sw.Elapsed < options.InfluxSettleTimeout;
        Notes.Add($"after {(settled ? "settling" : "the settle timeout")} ({sw.Elapsed.TotalSeconds:0} s): TSM files {tsm:N0} + wal {wal:N0} bytes; " +
            $"whole data dir {all:N0} bytes (apparent size), which adds the per-database series file (_series, preallocated segments) " +
            "and fields index: a fixed cost that the figure leaves out (cache-snapshot-write-cold-duration 2s, compact-full-write-cold-duration 5s)");
        return new DiskUsage(tsm + wal, $"Influx TSM files + WAL after snapshot/compaction {(settled ? "settled" : "did NOT settle")} (series file and index excluded)");
    }

    private static long FilesSize(string dir, string pattern) =>
        Directory.Exists(dir) ? new DirectoryInfo(dir).EnumerateFiles(pattern, SearchOption.AllDirectories).Sum(f => f.Length) : 0;

    public async Task<IReadOnlyList<Bucket>> AggregateAsync(CancellationToken ct)
    {
        using var doc = await QueryAsync(AggregateQuery(), post: false, ct);
        var result = new List<Bucket>(1_440);
        foreach (var row in Rows(doc))
        {
            var v = row.EnumerateArray().ToArray();
            // time, min, max, mean, sum, count, stddev, first, last
            result.Add(new Bucket(v[0].GetInt64(), v[5].GetInt64(), v[1].GetDouble(), v[2].GetDouble(), v[4].GetDouble(), v[7].GetDouble(), v[8].GetDouble()));
        }

        return result;
    }

    public async Task<double[]> LatestAsync(int n, CancellationToken ct)
    {
        using var doc = await QueryAsync("SELECT last(\"value\") FROM \"sensor\" GROUP BY \"tag\"", post: false, ct);
        var result = new double[n];
        Array.Fill(result, double.NaN);
        foreach (var series in Series(doc))
        {
            int s = int.Parse(series.GetProperty("tags").GetProperty("tag").GetString()!.AsSpan(1));
            if (s < n)
            {
                result[s] = series.GetProperty("values")[0][1].GetDouble();
            }
        }

        return result;
    }

    public async ValueTask DisposeAsync()
    {
        _http?.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    private string AggregateQuery()
    {
        string from = DateTimeOffset.FromUnixTimeSeconds(BenchData.StartSec).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'");
        string to = DateTimeOffset.FromUnixTimeSeconds(BenchData.StartSec + data.Day.Length).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'");
        return "SELECT min(\"value\"), max(\"value\"), mean(\"value\"), sum(\"value\"), count(\"value\"), stddev(\"value\"), " +
            $"first(\"value\"), last(\"value\") FROM \"daily\" WHERE time >= '{from}' AND time < '{to}' GROUP BY time(1m) fill(none)";
    }

    private static int FormatLine(Span<byte> dest, ReadOnlySpan<byte> prefix, int series, double value, long sec)
    {
        prefix.CopyTo(dest);
        int n = prefix.Length;
        Utf8Formatter.TryFormat(series, dest[n..], out int w, new System.Buffers.StandardFormat('D', 5));
        n += w;
        Field.CopyTo(dest[n..]);
        n += Field.Length;
        value.TryFormat(dest[n..], out w, default, System.Globalization.CultureInfo.InvariantCulture);
        n += w;
        dest[n++] = (byte)' ';
        Utf8Formatter.TryFormat(sec, dest[n..], out w);
        n += w;
        dest[n++] = (byte)'\n';
        return n;
    }

    private async Task PostWriteAsync(byte[] buffer, int length, CancellationToken ct)
    {
        using var content = new ByteArrayContent(buffer, 0, length);
        using var r = await Http.PostAsync(new Uri($"write?db={Database}&precision=s", UriKind.Relative), content, ct);
        if (r.StatusCode != HttpStatusCode.NoContent)
        {
            throw new InvalidOperationException($"influx /write answered {(int)r.StatusCode}: {await r.Content.ReadAsStringAsync(ct)}");
        }
    }

    private async Task<JsonDocument> QueryAsync(string q, bool post, CancellationToken ct)
    {
        var uri = new Uri($"query?db={Database}&epoch=s&q={Uri.EscapeDataString(q)}", UriKind.Relative);
        using var r = post ? await Http.PostAsync(uri, null, ct) : await Http.GetAsync(uri, ct);
        string body = await r.Content.ReadAsStringAsync(ct);
        if (!r.IsSuccessStatusCode || body.Contains("\"error\"", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"influx query '{q}' answered {(int)r.StatusCode}: {Proc.Tail(body, 500)}");
        }

        return JsonDocument.Parse(body);
    }

    private static List<JsonElement> Series(JsonDocument doc) =>
        doc.RootElement.GetProperty("results")[0].TryGetProperty("series", out var s) ? [.. s.EnumerateArray()] : [];

    private static IEnumerable<JsonElement> Rows(JsonDocument doc) => Series(doc).SelectMany(s => s.GetProperty("values").EnumerateArray());
}
