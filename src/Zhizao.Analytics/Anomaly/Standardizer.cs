namespace Zhizao.Analytics.Anomaly;

/// <summary>Per-feature z-score with the training mean and sample standard deviation (a constant feature gets scale 1).</summary>
public sealed class Standardizer
{
    public double[] Mean { get; }
    public double[] Scale { get; }

    private Standardizer(double[] mean, double[] scale)
    {
        Mean = mean;
        Scale = scale;
    }

    public int FeatureCount => Mean.Length;

    public static Standardizer Fit(IReadOnlyList<double[]> rows)
    {
        Matrix.CheckRows(rows, minRows: 2);
        var d = rows[0].Length;
        var n = rows.Count;
        var mean = new double[d];
        foreach (var r in rows)
            for (var j = 0; j < d; j++) mean[j] += r[j];
        for (var j = 0; j < d; j++) mean[j] /= n;
        var scale = new double[d];
        foreach (var r in rows)
            for (var j = 0; j < d; j++) scale[j] += (r[j] - mean[j]) * (r[j] - mean[j]);
        for (var j = 0; j < d; j++)
        {
            var s = Math.Sqrt(scale[j] / (n - 1));
            scale[j] = s > 1e-12 * Math.Max(1, Math.Abs(mean[j])) ? s : 1;
        }
        return new Standardizer(mean, scale);
    }

    public void Transform(ReadOnlySpan<double> x, Span<double> z)
    {
        if (x.Length != Mean.Length) Matrix.ThrowWidth(x.Length, Mean.Length);
        for (var j = 0; j < Mean.Length; j++) z[j] = (x[j] - Mean[j]) / Scale[j];
    }

    public double[] Transform(ReadOnlySpan<double> x)
    {
        var z = new double[Mean.Length];
        Transform(x, z);
        return z;
    }

    public double[][] TransformAll(IReadOnlyList<double[]> rows) => rows.Select(r => Transform(r)).ToArray();
}
