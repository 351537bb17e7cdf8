namespace Zhizao.Analytics.Anomaly;

/// <summary>Pointwise confusion counts; the ratios follow SKAB's definitions.</summary>
public readonly record struct ConfusionCounts(long TruePositives, long FalsePositives, long TrueNegatives, long FalseNegatives)
{
    /// <summary>F1 = TP / (TP + (FN + FP) / 2); 0 when there is nothing to find and nothing was flagged.</summary>
    public double F1 => TruePositives + FalsePositives + FalseNegatives == 0
        ? 0
        : TruePositives / (TruePositives + (FalseNegatives + FalsePositives) / 2.0);

    /// <summary>False alarm rate, percent: 100·FP / (FP + TN).</summary>
    public double FarPercent => FalsePositives + TrueNegatives == 0 ? 0 : 100.0 * FalsePositives / (FalsePositives + TrueNegatives);

    /// <summary>Missed alarm rate, percent: 100·FN / (FN + TP).</summary>
    public double MarPercent => FalseNegatives + TruePositives == 0 ? 0 : 100.0 * FalseNegatives / (FalseNegatives + TruePositives);

    public static ConfusionCounts operator +(ConfusionCounts a, ConfusionCounts b) => new(
        a.TruePositives + b.TruePositives, a.FalsePositives + b.FalsePositives,
        a.TrueNegatives + b.TrueNegatives, a.FalseNegatives + b.FalseNegatives);

    public static ConfusionCounts Add(ConfusionCounts a, ConfusionCounts b) => a + b;
}

/// <summary>NAB application profile: rewards for a detection at the window start, a false positive and a miss.</summary>
public sealed record NabProfile(string Name, double TruePositive, double FalsePositive, double FalseNegative)
{
    public static NabProfile Standard { get; } = new("Standard", 1, -0.11, -1);
    public static NabProfile LowFalsePositives { get; } = new("LowFP", 1, -0.22, -1);
    public static NabProfile LowFalseNegatives { get; } = new("LowFN", 1, -0.11, -2);
    public static IReadOnlyList<NabProfile> All { get; } = [Standard, LowFalsePositives, LowFalseNegatives];
}

/// <summary>Raw NAB result of one series under one profile.</summary>
public readonly record struct NabFileScore(double Score, int Windows, int Missed, int FalsePositives)
{
    public static NabFileScore operator +(NabFileScore a, NabFileScore b) =>
        new(a.Score + b.Score, a.Windows + b.Windows, a.Missed + b.Missed, a.FalsePositives + b.FalsePositives);

    public static NabFileScore Add(NabFileScore a, NabFileScore b) => a + b;

    /// <summary>100·(S − S_null)/(S_perfect − S_null) with S_perfect = windows·A_tp and S_null = windows·A_fn.</summary>
    public double Normalised(NabProfile profile)
    {
        var perfect = Windows * profile.TruePositive;
        var nul = Windows * profile.FalseNegative;
        return perfect == nul ? 0 : 100 * (Score - nul) / (perfect - nul);
    }
}

/// <summary>Outlier and changepoint scoring as SKAB's evaluation defines them (see bench/Zhizao.Eval/README.md).</summary>
public static class DetectionMetrics
{
    private const int SigmoidPoints = 1000;

    public static ConfusionCounts Confusion(ReadOnlySpan<bool> predicted, ReadOnlySpan<bool> actual)
    {
        if (predicted.Length != actual.Length)
            throw new ArgumentException($"{predicted.Length} predictions for {actual.Length} labels");
        long tp = 0, fp = 0, tn = 0, fn = 0;
        for (var i = 0; i < predicted.Length; i++)
        {
            if (predicted[i]) { if (actual[i]) tp++; else fp++; }
            else if (actual[i]) fn++;
            else tn++;
        }
        return new ConfusionCounts(tp, fp, tn, fn);
    }

    /// <summary>Indices where the binary prediction changes value; index 0 counts when its prediction is true.</summary>
    public static int[] PredictedChangepoints(ReadOnlySpan<bool> predicted)
    {
        var result = new List<int>();
        for (var i = 0; i < predicted.Length; i++)
            if (i == 0 ? predicted[0] : predicted[i] != predicted[i - 1]) result.Add(i);
        return [.. result];
    }

    /// <summary>The reward curve: A_tp at the window start falling to A_fp at its end (scaled tanh, 1000 points).</summary>
    public static double WindowReward(double position, NabProfile profile)
    {
        var index = (int)Math.Floor(position * SigmoidPoints);
        index = Math.Clamp(index, 0, SigmoidPoints - 1);
        var x = -Math.PI / 2 + index * Math.PI / (SigmoidPoints - 1);
        return profile.FalsePositive
               + (profile.TruePositive - profile.FalsePositive) / 2 * (1 - Math.Tanh(x) / Math.Tanh(Math.PI / 2));
    }

    /// <summary>
    /// NAB score of one series: each true changepoint time t opens the window [t, t + window] (ends included; an
    /// overlapping later window starts where the earlier ends); the first detection in a window earns the reward curve
    /// at its relative position, an empty window A_fn, each detection outside all windows A_fp.
    /// </summary>
    public static NabFileScore Nab(ReadOnlySpan<double> predictedTimes, ReadOnlySpan<double> trueTimes, double window,
        NabProfile profile)
    {
        var truth = trueTimes.ToArray();
        Array.Sort(truth);
        var preds = predictedTimes.ToArray();
        Array.Sort(preds);
        var lefts = new double[truth.Length];
        var rights = new double[truth.Length];
        for (var i = 0; i < truth.Length; i++)
        {
            rights[i] = truth[i] + window;
            lefts[i] = i > 0 && rights[i - 1] > truth[i] ? rights[i - 1] : truth[i];
        }

        var score = 0.0;
        var missed = 0;
        for (var w = 0; w < truth.Length; w++)
        {
            var first = Array.FindIndex(preds, p => p >= lefts[w] && p <= rights[w]);
            if (first < 0)
            {
                score += profile.FalseNegative;
                missed++;
                continue;
            }
            var span = rights[w] - lefts[w];
            var position = span > 0 ? (preds[first] - lefts[w]) / span : 0;
            score += WindowReward(position, profile);
        }

        var falsePositives = 0;
        foreach (var p in preds)
        {
            var inside = false;
            for (var w = 0; w < truth.Length && !inside; w++) inside = p >= lefts[w] && p <= rights[w];
            if (!inside) falsePositives++;
        }
        score += falsePositives * profile.FalsePositive;
        return new NabFileScore(score, truth.Length, missed, falsePositives);
    }
}
