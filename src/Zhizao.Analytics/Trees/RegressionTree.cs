namespace Zhizao.Analytics.Trees;

/// <summary>
/// A binary tree over raw feature values: node k is a leaf when <see cref="Feature"/>[k] &lt; 0 (its output is
/// <see cref="Value"/>[k]); otherwise x[Feature[k]] ≤ Threshold[k] goes to Left[k], else to Right[k]. Node 0 is the root.
/// </summary>
public sealed class RegressionTree
{
    internal RegressionTree(int[] feature, double[] threshold, byte[] binThreshold, int[] left, int[] right, double[] value)
    {
        Feature = feature;
        Threshold = threshold;
        BinThreshold = binThreshold;
        Left = left;
        Right = right;
        Value = value;
    }

    public int[] Feature { get; }

    public double[] Threshold { get; }

    internal byte[] BinThreshold { get; }

    public int[] Left { get; }

    public int[] Right { get; }

    public double[] Value { get; }

    public int NodeCount => Feature.Length;

    public int LeafCount => Feature.Count(f => f < 0);

    public double Predict(ReadOnlySpan<double> x)
    {
        var k = 0;
        while (Feature[k] >= 0) k = x[Feature[k]] <= Threshold[k] ? Left[k] : Right[k];
        return Value[k];
    }

    internal int LeafOfBinned(ReadOnlySpan<byte> bins)
    {
        var k = 0;
        while (Feature[k] >= 0) k = bins[Feature[k]] <= BinThreshold[k] ? Left[k] : Right[k];
        return k;
    }

    internal void ScaleLeaves(double factor)
    {
        for (var k = 0; k < Value.Length; k++)
            if (Feature[k] < 0) Value[k] *= factor;
    }
}
