namespace Zhizao.Analytics.Trees;

/// <summary>
/// Per-feature bin edges learned from training values (LightGBM-style histogram binning): up to <c>maxBins</c> bins,
/// one per distinct value when there are few, otherwise at equal-count quantiles. A value v falls in the first bin b
/// with v ≤ Edges[b] (the last bin has no upper edge). Edges are midpoints between neighbouring distinct values.
/// </summary>
public sealed class FeatureBins
{
    private readonly double[][] _edges;

    private FeatureBins(double[][] edges) => _edges = edges;

    public int FeatureCount => _edges.Length;

    /// <summary>Number of bins of feature j (1 for a constant feature, which can never split).</summary>
    public int BinCount(int j) => _edges[j].Length + 1;

    /// <summary>Upper edge of bin b of feature j: the split threshold "x ≤ edge goes left".</summary>
    public double Edge(int j, int b) => _edges[j][b];

    public static FeatureBins Fit(IReadOnlyList<double[]> rows, int maxBins = 255, int maxSampleRows = 200_000)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBins, 2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxBins, 256);
        var n = rows.Count;
        var f = rows[0].Length;
        var stride = Math.Max(1, (n + maxSampleRows - 1) / maxSampleRows);
        var sample = new double[(n + stride - 1) / stride];
        var edges = new double[f][];
        for (var j = 0; j < f; j++)
        {
            var m = 0;
            for (var i = 0; i < n; i += stride) sample[m++] = rows[i][j];
            Array.Sort(sample, 0, m);
            edges[j] = EdgesOf(sample.AsSpan(0, m), maxBins);
        }
        return new FeatureBins(edges);
    }

    private static double[] EdgesOf(ReadOnlySpan<double> sorted, int maxBins)
    {
        // distinct values and their counts
        var values = new List<double>();
        var counts = new List<int>();
        for (var i = 0; i < sorted.Length; i++)
        {
            if (values.Count > 0 && sorted[i] == values[^1]) counts[^1]++;
            else
            {
                values.Add(sorted[i]);
                counts.Add(1);
            }
        }
        var edges = new List<double>();
        if (values.Count <= maxBins)
        {
            for (var i = 0; i + 1 < values.Count; i++) edges.Add(Mid(values[i], values[i + 1]));
            return [.. edges];
        }
        var perBin = (double)sorted.Length / maxBins;
        var cumulative = 0L;
        var next = perBin;
        for (var i = 0; i + 1 < values.Count && edges.Count < maxBins - 1; i++)
        {
            cumulative += counts[i];
            if (cumulative >= next)
            {
                edges.Add(Mid(values[i], values[i + 1]));
                next = (Math.Floor(cumulative / perBin) + 1) * perBin;
            }
        }
        return [.. edges];
    }

    private static double Mid(double a, double b)
    {
        var m = a + (b - a) / 2;
        return m < b ? m : a; // keeps a ≤ edge < b even for neighbouring doubles
    }

    /// <summary>The bin of value v for feature j (binary search over the edges).</summary>
    public int Bin(int j, double v)
    {
        var e = _edges[j];
        int lo = 0, hi = e.Length; // first index with v <= e[idx], or e.Length
        while (lo < hi)
        {
            var mid = (lo + hi) >> 1;
            if (v <= e[mid]) hi = mid;
            else lo = mid + 1;
        }
        return lo;
    }

    /// <summary>Row-major bin matrix (n × FeatureCount bytes).</summary>
    public byte[] BinAll(IReadOnlyList<double[]> rows)
    {
        var f = FeatureCount;
        var result = new byte[rows.Count * f];
        for (var i = 0; i < rows.Count; i++)
        {
            var r = rows[i];
            for (var j = 0; j < f; j++) result[i * f + j] = (byte)Bin(j, r[j]);
        }
        return result;
    }
}
