namespace Zhizao.Bench.Storage;

/// <summary>Median and 95th percentile of repeated query timings, in milliseconds.</summary>
internal readonly record struct Latency(double MedianMs, double P95Ms, int Samples)
{
    public static Latency From(List<double> ms)
    {
        ms.Sort();
        return new Latency(Percentile(ms, 0.5), Percentile(ms, 0.95), ms.Count);
    }

    private static double Percentile(List<double> sorted, double q)
    {
        if (sorted.Count == 0)
        {
            return double.NaN;
        }

        double pos = q * (sorted.Count - 1);
        int lo = (int)Math.Floor(pos);
        int hi = Math.Min(sorted.Count - 1, lo + 1);
        return sorted[lo] + ((sorted[hi] - sorted[lo]) * (pos - lo));
    }
}

/// <summary>What one engine did in the run. Null figures mean the step did not run.</summary>
internal sealed class EngineResult(string name)
{
    public string Name { get; } = name;
    public string? Skipped { get; set; }
    public string? Error { get; set; }
    public string Setup { get; set; } = "";
    public double? IngestSeconds { get; set; }
    public double? IngestPointsPerSecond { get; set; }
    public DiskUsage? Disk { get; set; }
    public double? BytesPerPoint { get; set; }
    public Latency? Aggregate { get; set; }
    public Latency? Latest { get; set; }
    public List<(string Name, Latency Latency)> Extras { get; } = [];
    public List<string> VerifyProblems { get; } = [];
    public List<string> Notes { get; } = [];
    public string LoadBefore { get; set; } = "";
    public bool Ran => Skipped is null && Error is null;
    public bool Failed => Error is not null || VerifyProblems.Count > 0;
}
