using System.Globalization;
using System.Text;
using Zhizao.Bench.Infrastructure;

namespace Zhizao.Bench.Storage;

/// <summary>Renders the run as markdown: figures per engine, Zhizao-vs-peer ratios, the goals, and the details.</summary>
internal static class Report
{
    public static string Render(BenchOptions o, BenchData data, MachineInfo machine, IReadOnlyList<EngineResult> results, TimeSpan elapsed)
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.AppendLine(inv, $"# Storage benchmark — profile `{o.Profile}`, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        sb.AppendLine();
        sb.AppendLine(inv, $"- Machine: {machine.Summary}; load average at end {MachineInfo.LoadAverage()}");
        sb.AppendLine(inv, $"- Data: {o.Series:N0} series x {o.Seconds:N0} s at 1 Hz = {o.IngestPoints:N0} ingest points (quantised float signals), " +
            $"plus 1 series x {o.DaySeconds:N0} s for the aggregation query; {o.TotalPoints:N0} points stored in all. Source: {data.Source}");
        sb.AppendLine(inv, $"- Queries: aggregation of the day series into 1-minute buckets (min, max, avg, sum, count, stddev, first, last); " +
            $"latest value of {o.LatestTags:N0} tags. {o.Warmup} warm-up runs, then median and p95 of {o.Repetitions} runs");
        sb.AppendLine(inv, $"- Run took {elapsed.TotalSeconds:0} s");
        if (o.Profile == "smoke")
        {
            sb.AppendLine("- **Smoke profile: tiny data, few repetitions. It checks that the harness and every engine work and agree; " +
                "its figures and goal verdicts mean nothing.**");
        }
        sb.AppendLine();
        sb.AppendLine(inv, $"| engine | ingest points/s | bytes/point | aggregation median (p95) ms | latest {o.LatestTags:N0} median (p95) ms | results |");
        sb.AppendLine("|---|---:|---:|---:|---:|---|");
        foreach (var r in results)
        {
            if (r.Skipped is not null)
            {
                sb.AppendLine(inv, $"| {r.Name} | – | – | – | – | {r.Skipped} |");
                continue;
            }

            string status = r.Error is not null ? "FAILED: " + r.Error : r.VerifyProblems.Count > 0 ? "WRONG: " + r.VerifyProblems[0] : "verified";
            sb.AppendLine(inv, $"| {r.Name} | {F(r.IngestPointsPerSecond, "N0")} | {F(r.BytesPerPoint, "0.00")} | {L(r.Aggregate)} | {L(r.Latest)} | {Cell(status)} |");
        }

        var zh = results.FirstOrDefault(r => r.Name == "Zhizao");
        sb.AppendLine();
        sb.AppendLine("## Zhizao vs each peer (factor > 1 means Zhizao is better)");
        sb.AppendLine();
        sb.AppendLine(inv, $"| ratio | ingest speed (ours ÷ peer) | storage (peer bytes ÷ ours) | aggregation (peer ms ÷ ours) | latest {o.LatestTags:N0} (peer ms ÷ ours) |");
        sb.AppendLine("|---|---:|---:|---:|---:|");
        foreach (var peer in results.Where(r => r.Name != "Zhizao"))
        {
            sb.AppendLine(inv, $"| Zhizao / {peer.Name} | {Ratio(zh?.IngestPointsPerSecond, peer.IngestPointsPerSecond)} | " +
                $"{Ratio(peer.BytesPerPoint, zh?.BytesPerPoint)} | {Ratio(peer.Aggregate?.MedianMs, zh?.Aggregate?.MedianMs)} | " +
                $"{Ratio(peer.Latest?.MedianMs, zh?.Latest?.MedianMs)} |");
        }

        if (zh is null || !zh.Ran)
        {
            sb.AppendLine();
            sb.AppendLine(inv, $"Zhizao did not run: {zh?.Skipped ?? zh?.Error ?? "not selected"}.");
        }

        var pg = results.FirstOrDefault(r => r.Name == "PostgreSQL");
        var influx = results.FirstOrDefault(r => r.Name == "InfluxDB");
        sb.AppendLine();
        sb.AppendLine("## Goals");
        sb.AppendLine();
        sb.AppendLine("| goal | measured | met |");
        sb.AppendLine("|---|---:|---|");
        Goal(sb, "ingest ≥ 5,000,000 points/s (in-process batch API)", zh?.IngestPointsPerSecond, v => v.ToString("N0", inv), v => v >= 5_000_000);
        Goal(sb, "ingest ≥ 10× PostgreSQL COPY", Div(zh?.IngestPointsPerSecond, pg?.IngestPointsPerSecond), X, v => v >= 10);
        Goal(sb, "ingest ≥ 5× InfluxDB 1.6", Div(zh?.IngestPointsPerSecond, influx?.IngestPointsPerSecond), X, v => v >= 5);
        Goal(sb, "≤ 1.5 bytes/point (float signals)", zh?.BytesPerPoint, v => v.ToString("0.00", inv), v => v <= 1.5);
        Goal(sb, "aggregation median ≤ 2 ms", zh?.Aggregate?.MedianMs, v => v.ToString("0.000", inv) + " ms", v => v <= 2);
        Goal(sb, "aggregation ≥ 10× faster than PostgreSQL", Div(pg?.Aggregate?.MedianMs, zh?.Aggregate?.MedianMs), X, v => v >= 10);

        sb.AppendLine();
        sb.AppendLine("## Details");
        foreach (var r in results)
        {
            sb.AppendLine();
            sb.AppendLine(inv, $"### {r.Name}");
            sb.AppendLine();
            if (r.Setup.Length > 0)
            {
                sb.AppendLine(inv, $"- setup: {r.Setup}");
            }

            if (r.Skipped is not null)
            {
                sb.AppendLine(inv, $"- {r.Skipped}");
                continue;
            }

            if (r.IngestSeconds is { } s)
            {
                sb.AppendLine(inv, $"- ingest: {o.IngestPoints:N0} points in {s:0.000} s (load average before: {r.LoadBefore})");
            }

            if (r.Disk is { } d)
            {
                sb.AppendLine(inv, $"- bytes on disk: {d.Bytes:N0} — {d.What}");
            }

            foreach (var (name, l) in r.Extras)
            {
                sb.AppendLine(inv, $"- {name}: median {l.MedianMs:0.000} ms, p95 {l.P95Ms:0.000} ms");
            }

            foreach (string n in r.Notes)
            {
                sb.AppendLine(inv, $"- {n}");
            }

            if (r.Error is not null)
            {
                sb.AppendLine(inv, $"- FAILED: {r.Error}");
            }

            foreach (string p in r.VerifyProblems)
            {
                sb.AppendLine(inv, $"- WRONG RESULT: {p}");
            }
        }

        return sb.ToString();
    }

    public static string Write(BenchOptions o, string report)
    {
        string dir = o.OutputDirectory ?? Path.Combine(RepositoryRoot(), "bench", "results");
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, $"{DateTime.UtcNow:yyyyMMdd-HHmmss}-storage-{o.Profile}.md");
        File.WriteAllText(path, report);
        return path;
    }

    private static string RepositoryRoot()
    {
        for (var d = new DirectoryInfo(Environment.CurrentDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "Zhizao.slnx")))
            {
                return d.FullName;
            }
        }

        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "Zhizao.slnx")))
            {
                return d.FullName;
            }
        }

        return Environment.CurrentDirectory;
    }

    private static void Goal(StringBuilder sb, string goal, double? value, Func<double, string> format, Func<double, bool> met) =>
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"| {goal} | {(value is { } v ? format(v) : "–")} | {(value is { } w ? (met(w) ? "yes" : "**no**") : "not measured")} |");

    private static string X(double v) => v.ToString("0.0", CultureInfo.InvariantCulture) + "×";

    private static double? Div(double? a, double? b) => a is { } x && b is { } y && y > 0 ? x / y : null;

    private static string Ratio(double? a, double? b) => Div(a, b) is { } r ? X(r) : "–";

    private static string F(double? v, string format) => v is { } x ? x.ToString(format, CultureInfo.InvariantCulture) : "–";

    private static string L(Latency? l) => l is { } x
        ? string.Create(CultureInfo.InvariantCulture, $"{x.MedianMs:0.000} ({x.P95Ms:0.000})")
        : "–";

    private static string Cell(string s) => s.Replace('|', '/').Replace('\n', ' ');
}
