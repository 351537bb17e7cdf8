namespace Zhizao.Analytics.Metrics;

/// <summary>Binary classification scores; labels are 0/1 (any non-zero counts as positive).</summary>
public static class ClassificationMetrics
{
    /// <summary>F1 of the positive class: 2TP / (2TP + FP + FN); 0 when there are no positives in either.</summary>
    public static double F1(IReadOnlyList<bool> predicted, IReadOnlyList<double> labels)
    {
        RegressionMetrics.CheckPair(predicted, labels);
        int tp = 0, fp = 0, fn = 0;
        for (var i = 0; i < labels.Count; i++)
        {
            var y = labels[i] != 0;
            if (predicted[i] && y) tp++;
            else if (predicted[i]) fp++;
            else if (y) fn++;
        }
        return tp == 0 ? 0 : 2.0 * tp / (2.0 * tp + fp + fn);
    }

    /// <summary>F1 of "score ≥ threshold".</summary>
    public static double F1(IReadOnlyList<double> scores, IReadOnlyList<double> labels, double threshold) =>
        F1(scores.Select(s => s >= threshold).ToArray(), labels);

    /// <summary>
    /// Average precision (area under the precision–recall curve as scikit-learn's average_precision_score defines it):
    /// AP = Σₙ (Rₙ − Rₙ₋₁) Pₙ over the distinct score thresholds, highest first; tied scores form one threshold.
    /// </summary>
    public static double AveragePrecision(IReadOnlyList<double> scores, IReadOnlyList<double> labels)
    {
        RegressionMetrics.CheckPair(scores, labels);
        var order = Enumerable.Range(0, scores.Count).OrderByDescending(i => scores[i]).ToArray();
        var positives = labels.Count(l => l != 0);
        if (positives == 0) return 0;
        double ap = 0, prevRecall = 0;
        int tp = 0, seen = 0;
        for (var k = 0; k < order.Length;)
        {
            var s = scores[order[k]];
            while (k < order.Length && scores[order[k]] == s)
            {
                if (labels[order[k]] != 0) tp++;
                seen++;
                k++;
            }
            var recall = (double)tp / positives;
            ap += (recall - prevRecall) * tp / seen;
            prevRecall = recall;
        }
        return ap;
    }

    /// <summary>
    /// The threshold on scores that maximises F1 (ties: the highest such threshold). Candidates are the distinct
    /// scores; the threshold returned is the midpoint between the chosen score and the next lower one, so it
    /// generalises to unseen scores a little better than the score itself.
    /// </summary>
    public static (double Threshold, double F1) BestF1Threshold(IReadOnlyList<double> scores, IReadOnlyList<double> labels)
    {
        RegressionMetrics.CheckPair(scores, labels);
        var order = Enumerable.Range(0, scores.Count).OrderByDescending(i => scores[i]).ToArray();
        var positives = labels.Count(l => l != 0);
        double bestF1 = -1, bestThreshold = double.PositiveInfinity;
        int tp = 0, predicted = 0;
        for (var k = 0; k < order.Length;)
        {
            var s = scores[order[k]];
            while (k < order.Length && scores[order[k]] == s)
            {
                if (labels[order[k]] != 0) tp++;
                predicted++;
                k++;
            }
            var f1 = tp == 0 ? 0 : 2.0 * tp / (predicted + positives);
            if (f1 > bestF1)
            {
                bestF1 = f1;
                bestThreshold = k < order.Length ? (s + scores[order[k]]) / 2 : s;
            }
        }
        return (bestThreshold, Math.Max(bestF1, 0));
    }
}
