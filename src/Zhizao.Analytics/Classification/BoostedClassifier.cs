using Zhizao.Analytics.Metrics;
using Zhizao.Analytics.Trees;

namespace Zhizao.Analytics.Classification;

public sealed record BoostedClassifierOptions
{
    public GbmOptions Trees { get; init; } = new()
    {
        Loss = GbmLoss.Logistic, Rounds = 400, LearningRate = 0.05, MaxLeaves = 15, MaxDepth = 6, MinSamplesLeaf = 10,
        L2 = 1, RowSubsample = 0.8, FeatureSubsample = 1.0,
    };

    /// <summary>
    /// Candidate weights of the positive class, as exponents of the imbalance ratio r = negatives/positives: weight
    /// r^e (0 = unweighted, 0.5 = √r, 1 = balanced). Chosen by inner cross-validation (best F1 at the best threshold).
    /// </summary>
    public double[] WeightExponents { get; init; } = [0, 0.5, 1];

    /// <summary>Candidate minimum leaf sizes (overriding <see cref="Trees"/>), chosen by the same inner cross-validation.</summary>
    public int[] MinSamplesLeaf { get; init; } = [5, 20];

    /// <summary>Inner folds used to choose the class weight and the decision threshold; training rows only.</summary>
    public int InnerFolds { get; init; } = 3;

    public int Seed { get; init; } = 1;
}

/// <summary>
/// Binary classifier for imbalanced failure data: logistic gradient-boosted trees with the positive-class weight and the
/// probability threshold both chosen by stratified inner cross-validation on the training rows (out-of-fold
/// probabilities → the threshold that maximises F1), then refitted on all training rows.
/// </summary>
public sealed class BoostedClassifier
{
    private BoostedClassifier(GradientBoostedTrees model, double threshold, double positiveWeight, double innerF1, int minSamplesLeaf)
    {
        _minSamplesLeaf = minSamplesLeaf;
        Model = model;
        Threshold = threshold;
        PositiveWeight = positiveWeight;
        InnerF1 = innerF1;
    }

    public GradientBoostedTrees Model { get; }

    /// <summary>Probabilities ≥ this are predicted positive.</summary>
    public double Threshold { get; }

    public double PositiveWeight { get; }

    public int MinSamplesLeaf => _minSamplesLeaf;

    private readonly int _minSamplesLeaf;

    /// <summary>The inner cross-validated F1 of the chosen weight and threshold.</summary>
    public double InnerF1 { get; }

    public double Probability(ReadOnlySpan<double> x) => Model.Predict(x);

    public bool Predict(ReadOnlySpan<double> x) => Model.Predict(x) >= Threshold;

    public static BoostedClassifier Fit(IReadOnlyList<double[]> x, IReadOnlyList<double> y, BoostedClassifierOptions? options = null)
    {
        options ??= new BoostedClassifierOptions();
        var trees = options.Trees with { Loss = GbmLoss.Logistic, Seed = options.Seed };
        var positives = y.Count(v => v == 1);
        if (positives == 0 || positives == y.Count) throw new ArgumentException("training labels need both classes", nameof(y));
        var ratio = (double)(y.Count - positives) / positives;
        var inner = StratifiedKFold.Assign(y, options.InnerFolds, options.Seed + 17);

        double bestF1 = -1, bestThreshold = 0.5, bestWeight = 1;
        var bestTrees = trees;
        var grid = options.MinSamplesLeaf.DefaultIfEmpty(trees.MinSamplesLeaf)
            .SelectMany(m => options.WeightExponents.Select(e => (MinLeaf: m, Exponent: e)));
        foreach (var (minLeaf, e) in grid)
        {
            var candidate = trees with { MinSamplesLeaf = minLeaf };
            var weight = Math.Pow(ratio, e);
            var oof = new double[y.Count];
            for (var k = 0; k < options.InnerFolds; k++)
            {
                var trainIdx = Enumerable.Range(0, y.Count).Where(i => inner[i] != k).ToArray();
                var model = GradientBoostedTrees.Fit(trainIdx.Select(i => x[i]).ToArray(), trainIdx.Select(i => y[i]).ToArray(), candidate,
                    trainIdx.Select(i => y[i] == 1 ? weight : 1.0).ToArray());
                for (var i = 0; i < y.Count; i++)
                    if (inner[i] == k) oof[i] = model.Predict(x[i]);
            }
            var (threshold, f1) = ClassificationMetrics.BestF1Threshold(oof, y);
            if (f1 > bestF1)
            {
                bestF1 = f1;
                bestThreshold = threshold;
                bestWeight = weight;
                bestTrees = candidate;
            }
        }
        var final = GradientBoostedTrees.Fit(x, y, bestTrees, y.Select(v => v == 1 ? bestWeight : 1.0).ToArray());
        return new BoostedClassifier(final, bestThreshold, bestWeight, bestF1, bestTrees.MinSamplesLeaf);
    }
}
