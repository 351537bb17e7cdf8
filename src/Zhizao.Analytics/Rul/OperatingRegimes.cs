namespace Zhizao.Analytics.Rul;

/// <summary>
/// Operating regimes found by clustering the operating settings (altitude, Mach, throttle for C-MAPSS): k-means
/// (k-means++ seeding, seeded) on settings scaled by their standard deviation, for k = 2…MaxRegimes; the k with the best
/// silhouette is kept when that silhouette shows well-separated clusters (≥ <c>minSilhouette</c>), otherwise the data
/// is one regime. Discrete flight conditions (FD002/FD004) give silhouettes near 1; sensor noise around a single
/// condition (FD001/FD003) gives about 0.3–0.5.
/// </summary>
public sealed class OperatingRegimes
{
    private readonly double[][] _centroids; // scaled
    private readonly double[] _scale;

    private OperatingRegimes(double[][] centroids, double[] scale, double silhouette)
    {
        _centroids = centroids;
        _scale = scale;
        Silhouette = silhouette;
    }

    public int Count => _centroids.Length;

    /// <summary>Silhouette of the chosen clustering (NaN when one regime was kept because none separated well).</summary>
    public double Silhouette { get; }

    public static OperatingRegimes Fit(IReadOnlyList<double[]> settings, int maxRegimes = 8, int seed = 1,
        double minSilhouette = 0.8)
    {
        if (settings.Count == 0) throw new ArgumentException("no settings rows", nameof(settings));
        var d = settings[0].Length;
        var scale = new double[d];
        for (var j = 0; j < d; j++)
        {
            var mean = settings.Average(r => r[j]);
            var sd = Math.Sqrt(settings.Average(r => (r[j] - mean) * (r[j] - mean)));
            scale[j] = sd > 1e-12 ? sd : 1;
        }
        var x = settings.Select(r => r.Select((v, j) => v / scale[j]).ToArray()).ToArray();
        var one = new[] { Mean(x) };
        if (d == 0 || x.Length < 4) return new OperatingRegimes(one, scale, double.NaN);

        // silhouette on an evenly spaced subsample keeps this O(n)
        var stride = Math.Max(1, x.Length / 1000);
        var sample = Enumerable.Range(0, x.Length).Where(i => i % stride == 0).Select(i => x[i]).ToArray();
        double best = double.NegativeInfinity;
        double[][]? bestCentroids = null;
        for (var k = 2; k <= Math.Min(maxRegimes, sample.Length - 1); k++)
        {
            var centroids = KMeans(x, k, seed);
            var s = SilhouetteOf(sample, centroids);
            if (s > best + 1e-9)
            {
                best = s;
                bestCentroids = centroids;
            }
        }
        return bestCentroids is not null && best >= minSilhouette
            ? new OperatingRegimes(bestCentroids, scale, best)
            : new OperatingRegimes(one, scale, double.NaN);
    }

    public int Assign(ReadOnlySpan<double> settings)
    {
        if (_centroids.Length == 1) return 0;
        var best = 0;
        var bestD = double.PositiveInfinity;
        for (var c = 0; c < _centroids.Length; c++)
        {
            var s = 0.0;
            for (var j = 0; j < settings.Length; j++)
            {
                var t = settings[j] / _scale[j] - _centroids[c][j];
                s += t * t;
            }
            if (s < bestD)
            {
                bestD = s;
                best = c;
            }
        }
        return best;
    }

    private static double[] Mean(double[][] x)
    {
        var m = new double[x[0].Length];
        foreach (var r in x)
            for (var j = 0; j < m.Length; j++) m[j] += r[j] / x.Length;
        return m;
    }

    private static double Dist2(double[] a, double[] b)
    {
        var s = 0.0;
        for (var j = 0; j < a.Length; j++) s += (a[j] - b[j]) * (a[j] - b[j]);
        return s;
    }

    private static int Nearest(double[] p, double[][] centroids)
    {
        var best = 0;
        var bestD = double.PositiveInfinity;
        for (var c = 0; c < centroids.Length; c++)
        {
            var dd = Dist2(p, centroids[c]);
            if (dd < bestD)
            {
                bestD = dd;
                best = c;
            }
        }
        return best;
    }

    internal static double[][] KMeans(double[][] x, int k, int seed, int iterations = 50)
    {
        var rng = new Random(seed);
        var centroids = new double[k][];
        centroids[0] = (double[])x[rng.Next(x.Length)].Clone();
        var d2 = x.Select(p => Dist2(p, centroids[0])).ToArray();
        for (var c = 1; c < k; c++)
        {
            var total = d2.Sum();
            var pick = rng.NextDouble() * total;
            var i = 0;
            for (; i < x.Length - 1 && (pick -= d2[i]) > 0; i++) { }
            centroids[c] = (double[])x[i].Clone();
            for (var p = 0; p < x.Length; p++) d2[p] = Math.Min(d2[p], Dist2(x[p], centroids[c]));
        }
        var assign = new int[x.Length];
        for (var it = 0; it < iterations; it++)
        {
            var changed = false;
            for (var p = 0; p < x.Length; p++)
            {
                var a = Nearest(x[p], centroids);
                changed |= a != assign[p];
                assign[p] = a;
            }
            var sums = new double[k][];
            var counts = new int[k];
            for (var c = 0; c < k; c++) sums[c] = new double[x[0].Length];
            for (var p = 0; p < x.Length; p++)
            {
                counts[assign[p]]++;
                for (var j = 0; j < x[p].Length; j++) sums[assign[p]][j] += x[p][j];
            }
            for (var c = 0; c < k; c++)
                if (counts[c] > 0) centroids[c] = sums[c].Select(s => s / counts[c]).ToArray();
            if (!changed && it > 0) break;
        }
        return centroids;
    }

    private static double SilhouetteOf(double[][] sample, double[][] centroids)
    {
        var assign = sample.Select(p => Nearest(p, centroids)).ToArray();
        var k = centroids.Length;
        var total = 0.0;
        for (var i = 0; i < sample.Length; i++)
        {
            var sum = new double[k];
            var count = new int[k];
            for (var j = 0; j < sample.Length; j++)
            {
                if (i == j) continue;
                sum[assign[j]] += Math.Sqrt(Dist2(sample[i], sample[j]));
                count[assign[j]]++;
            }
            var own = assign[i];
            if (count[own] == 0) continue; // singleton: silhouette 0
            var a = sum[own] / count[own];
            var b = double.PositiveInfinity;
            for (var c = 0; c < k; c++)
                if (c != own && count[c] > 0) b = Math.Min(b, sum[c] / count[c]);
            if (double.IsPositiveInfinity(b)) continue;
            var m = Math.Max(a, b);
            total += m > 0 ? (b - a) / m : 0;
        }
        return total / sample.Length;
    }
}
