namespace Zhizao.Analytics.Classification;

/// <summary>Stratified k-fold assignment: each class is shuffled (seeded) and dealt round-robin to the folds.</summary>
public static class StratifiedKFold
{
    /// <summary>The fold (0…k−1) of every row; each fold gets ⌊n_c/k⌋ or ⌈n_c/k⌉ rows of every class c.</summary>
    public static int[] Assign(IReadOnlyList<double> labels, int folds, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(folds, 2);
        var fold = new int[labels.Count];
        var rng = new Random(seed);
        var next = 0;
        foreach (var cls in labels.Distinct().Order())
        {
            var rows = Enumerable.Range(0, labels.Count).Where(i => labels[i] == cls).ToArray();
            rng.Shuffle(rows);
            // continue the deal where the previous class stopped so fold sizes stay balanced overall
            foreach (var r in rows) fold[r] = next++ % folds;
        }
        return fold;
    }
}
