namespace Zhizao.Analytics.Trees;

public enum GbmLoss
{
    /// <summary>½(y − F)²; the prediction estimates the conditional mean.</summary>
    SquaredError,

    /// <summary>Pinball loss at <see cref="GbmOptions.Alpha"/>; leaves are refitted to the α-quantile of residuals.</summary>
    Quantile,

    /// <summary>Binary log loss for labels 0/1; <see cref="GradientBoostedTrees.Predict"/> returns a probability.</summary>
    Logistic,
}

public sealed record GbmOptions
{
    public GbmLoss Loss { get; init; } = GbmLoss.SquaredError;

    /// <summary>Quantile level for <see cref="GbmLoss.Quantile"/>.</summary>
    public double Alpha { get; init; } = 0.5;

    public int Rounds { get; init; } = 300;

    public double LearningRate { get; init; } = 0.05;

    public int MaxLeaves { get; init; } = 31;

    public int MaxDepth { get; init; } = 8;

    public int MinSamplesLeaf { get; init; } = 20;

    public double MinHessianLeaf { get; init; } = 1e-3;

    /// <summary>L2 penalty λ on leaf values.</summary>
    public double L2 { get; init; } = 1.0;

    /// <summary>Smallest gain that makes a split.</summary>
    public double MinGain { get; init; }

    /// <summary>Share of rows drawn (without replacement) for each tree.</summary>
    public double RowSubsample { get; init; } = 1.0;

    /// <summary>Share of features each tree may split on.</summary>
    public double FeatureSubsample { get; init; } = 1.0;

    public int MaxBins { get; init; } = 255;

    public int Seed { get; init; } = 1;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(Rounds, 0, nameof(Rounds));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxLeaves, 2, nameof(MaxLeaves));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxDepth, 1, nameof(MaxDepth));
        ArgumentOutOfRangeException.ThrowIfLessThan(MinSamplesLeaf, 1, nameof(MinSamplesLeaf));
        ArgumentOutOfRangeException.ThrowIfNegative(L2, nameof(L2));
        if (!(LearningRate > 0)) throw new ArgumentOutOfRangeException(nameof(LearningRate), "must be > 0");
        if (!(RowSubsample > 0 && RowSubsample <= 1)) throw new ArgumentOutOfRangeException(nameof(RowSubsample), "must be in (0, 1]");
        if (!(FeatureSubsample > 0 && FeatureSubsample <= 1)) throw new ArgumentOutOfRangeException(nameof(FeatureSubsample), "must be in (0, 1]");
        if (Loss == GbmLoss.Quantile && !(Alpha > 0 && Alpha < 1)) throw new ArgumentOutOfRangeException(nameof(Alpha), "must be in (0, 1)");
    }
}

/// <summary>
/// Gradient-boosted regression trees, histogram-based like LightGBM: features binned once (≤ 255 bins), trees grown
/// leaf-wise to <see cref="GbmOptions.MaxLeaves"/>, Newton leaf values with L2, shrinkage, seeded row and feature
/// subsampling. Single-threaded and deterministic for a given seed.
/// </summary>
public sealed class GradientBoostedTrees
{
    private readonly RegressionTree[] _trees;

    private GradientBoostedTrees(GbmLoss loss, int featureCount, double baseScore, RegressionTree[] trees, double[] gains)
    {
        Loss = loss;
        FeatureCount = featureCount;
        BaseScore = baseScore;
        _trees = trees;
        GainImportance = gains;
    }

    public GbmLoss Loss { get; }

    public int FeatureCount { get; }

    /// <summary>The constant the trees start from (mean, α-quantile or log-odds of the training targets).</summary>
    public double BaseScore { get; }

    public IReadOnlyList<RegressionTree> Trees => _trees;

    /// <summary>Total split gain per feature over all trees.</summary>
    public double[] GainImportance { get; }

    /// <summary>Raw additive score F(x) from the base score and the first <paramref name="trees"/> trees (all by default).</summary>
    public double PredictRaw(ReadOnlySpan<double> x, int trees = int.MaxValue)
    {
        if (x.Length != FeatureCount) throw new ArgumentException($"expected {FeatureCount} features, got {x.Length}", nameof(x));
        var s = BaseScore;
        var n = Math.Min(trees, _trees.Length);
        for (var t = 0; t < n; t++) s += _trees[t].Predict(x);
        return s;
    }

    /// <summary>Prediction in the target's units: F(x), or the probability σ(F(x)) for the logistic loss.</summary>
    public double Predict(ReadOnlySpan<double> x, int trees = int.MaxValue)
    {
        var raw = PredictRaw(x, trees);
        return Loss == GbmLoss.Logistic ? Sigmoid(raw) : raw;
    }

    /// <summary>Predictions after 1, 2, …, all trees: dest[t] is the prediction with t + 1 trees.</summary>
    public void PredictStaged(ReadOnlySpan<double> x, Span<double> dest)
    {
        if (x.Length != FeatureCount) throw new ArgumentException($"expected {FeatureCount} features, got {x.Length}", nameof(x));
        var s = BaseScore;
        var n = Math.Min(dest.Length, _trees.Length);
        for (var t = 0; t < n; t++)
        {
            s += _trees[t].Predict(x);
            dest[t] = Loss == GbmLoss.Logistic ? Sigmoid(s) : s;
        }
    }

    public double[] PredictAll(IReadOnlyList<double[]> rows)
    {
        var result = new double[rows.Count];
        for (var i = 0; i < rows.Count; i++) result[i] = Predict(rows[i]);
        return result;
    }

    internal static double Sigmoid(double z) => z >= 0 ? 1 / (1 + Math.Exp(-z)) : Math.Exp(z) / (1 + Math.Exp(z));

    public static GradientBoostedTrees Fit(IReadOnlyList<double[]> x, IReadOnlyList<double> y, GbmOptions? options = null,
        IReadOnlyList<double>? weights = null)
    {
        options ??= new GbmOptions();
        options.Validate();
        CheckInputs(x, y, weights, options.Loss);
        var n = x.Count;
        var f = x[0].Length;
        var w = new double[n];
        for (var i = 0; i < n; i++) w[i] = weights?[i] ?? 1.0;
        var target = y.ToArray();

        var featureBins = FeatureBins.Fit(x, options.MaxBins);
        var bins = featureBins.BinAll(x);
        var grower = new TreeGrower(bins, f, featureBins, options);
        var rng = new Random(options.Seed);

        var baseScore = InitialScore(target, w, options);
        var score = new double[n];
        Array.Fill(score, baseScore);
        var grad = new double[n];
        var hess = new double[n];
        var trees = new List<RegressionTree>(options.Rounds);
        var gains = new double[f];
        var all = Enumerable.Range(0, n).ToArray();
        var featuresAll = Enumerable.Range(0, f).ToArray();
        var bagSize = Math.Max(1, (int)Math.Round(n * options.RowSubsample));
        var featureCount = Math.Max(1, (int)Math.Round(f * options.FeatureSubsample));
        var idx = new int[n];
        var residuals = new List<(double R, double W)>();

        for (var round = 0; round < options.Rounds; round++)
        {
            Gradients(options, target, w, score, grad, hess);
            int count;
            if (bagSize < n)
            {
                SampleWithoutReplacement(rng, all, bagSize);
                Array.Copy(all, idx, bagSize);
                Array.Sort(idx, 0, bagSize);
                count = bagSize;
            }
            else
            {
                for (var i = 0; i < n; i++) idx[i] = i;
                count = n;
            }
            int[] features;
            if (featureCount < f)
            {
                SampleWithoutReplacement(rng, featuresAll, featureCount);
                features = featuresAll[..featureCount];
                Array.Sort(features);
            }
            else features = featuresAll;

            var (tree, leafRows, treeGains) = grower.Grow(idx, count, grad, hess, features);
            if (options.Loss == GbmLoss.Quantile)
            {
                // Newton steps on the pinball loss are crude; refit each leaf to the α-quantile of its residuals.
                foreach (var (node, (start, len)) in leafRows)
                {
                    residuals.Clear();
                    for (var k = start; k < start + len; k++) residuals.Add((target[idx[k]] - score[idx[k]], w[idx[k]]));
                    tree.Value[node] = WeightedQuantile(residuals, options.Alpha);
                }
            }
            tree.ScaleLeaves(options.LearningRate);
            for (var j = 0; j < f; j++) gains[j] += treeGains[j];
            for (var i = 0; i < n; i++) score[i] += tree.Value[tree.LeafOfBinned(bins.AsSpan(i * f, f))];
            trees.Add(tree);
        }
        return new GradientBoostedTrees(options.Loss, f, baseScore, [.. trees], gains);
    }

    private static void Gradients(GbmOptions o, double[] y, double[] w, double[] score, double[] grad, double[] hess)
    {
        for (var i = 0; i < y.Length; i++)
        {
            switch (o.Loss)
            {
                case GbmLoss.SquaredError:
                    grad[i] = w[i] * (score[i] - y[i]);
                    hess[i] = w[i];
                    break;
                case GbmLoss.Quantile:
                    grad[i] = w[i] * (y[i] > score[i] ? -o.Alpha : 1 - o.Alpha);
                    hess[i] = w[i];
                    break;
                default:
                    var p = Sigmoid(score[i]);
                    grad[i] = w[i] * (p - y[i]);
                    hess[i] = w[i] * Math.Max(p * (1 - p), 1e-16);
                    break;
            }
        }
    }

    private static double InitialScore(double[] y, double[] w, GbmOptions o)
    {
        switch (o.Loss)
        {
            case GbmLoss.Quantile:
                return WeightedQuantile(y.Select((v, i) => (v, w[i])).ToList(), o.Alpha);
            case GbmLoss.Logistic:
                double sw = 0, sy = 0;
                for (var i = 0; i < y.Length; i++)
                {
                    sw += w[i];
                    sy += w[i] * y[i];
                }
                var p = Math.Clamp(sy / sw, 1e-6, 1 - 1e-6);
                return Math.Log(p / (1 - p));
            default:
                double a = 0, b = 0;
                for (var i = 0; i < y.Length; i++)
                {
                    a += w[i] * y[i];
                    b += w[i];
                }
                return a / b;
        }
    }

    /// <summary>Smallest value whose cumulative weight reaches α of the total (the lower weighted quantile).</summary>
    internal static double WeightedQuantile(List<(double V, double W)> values, double alpha)
    {
        if (values.Count == 0) return 0;
        values.Sort((p, q) => p.V.CompareTo(q.V));
        var total = 0.0;
        foreach (var v in values) total += v.W;
        var target = alpha * total;
        var acc = 0.0;
        foreach (var v in values)
        {
            acc += v.W;
            if (acc >= target) return v.V;
        }
        return values[^1].V;
    }

    private static void SampleWithoutReplacement(Random rng, int[] items, int k)
    {
        for (var i = 0; i < k; i++)
        {
            var j = rng.Next(i, items.Length);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    private static void CheckInputs(IReadOnlyList<double[]> x, IReadOnlyList<double> y, IReadOnlyList<double>? w, GbmLoss loss)
    {
        if (x.Count == 0) throw new ArgumentException("no training rows", nameof(x));
        if (y.Count != x.Count) throw new ArgumentException($"{x.Count} rows but {y.Count} targets", nameof(y));
        if (w is not null && w.Count != x.Count) throw new ArgumentException($"{x.Count} rows but {w.Count} weights", nameof(w));
        var f = x[0].Length;
        if (f == 0) throw new ArgumentException("rows have no features", nameof(x));
        for (var i = 0; i < x.Count; i++)
        {
            if (x[i].Length != f) throw new ArgumentException($"row {i} has {x[i].Length} features, row 0 has {f}", nameof(x));
            foreach (var v in x[i])
                if (!double.IsFinite(v)) throw new ArgumentException($"row {i} has a non-finite value", nameof(x));
            if (!double.IsFinite(y[i])) throw new ArgumentException($"target {i} is not finite", nameof(y));
            if (loss == GbmLoss.Logistic && y[i] is not (0 or 1)) throw new ArgumentException($"target {i} is {y[i]}; the logistic loss needs 0 or 1", nameof(y));
            if (w is not null && !(w[i] >= 0 && double.IsFinite(w[i]))) throw new ArgumentException($"weight {i} is negative or not finite", nameof(w));
        }
    }
}
