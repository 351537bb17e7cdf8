namespace Zhizao.Analytics.Anomaly;

/// <summary>
/// Runs a detector on a subset of the features (e.g. leaving out channels that drift with ambient conditions);
/// excluded features get zero contribution.
/// </summary>
public sealed class FeatureSubsetDetector : IAnomalyDetector
{
    private readonly int[] _columns;

    private FeatureSubsetDetector(IAnomalyDetector inner, int[] columns, int featureCount)
    {
        Inner = inner;
        _columns = columns;
        FeatureCount = featureCount;
    }

    public IAnomalyDetector Inner { get; }

    public string Name => Inner.Name;

    public int FeatureCount { get; }

    public IReadOnlyList<int> Columns => _columns;

    public static FeatureSubsetDetector Fit(IReadOnlyList<double[]> train, IEnumerable<int> columns,
        Func<IReadOnlyList<double[]>, IAnomalyDetector> fit)
    {
        Matrix.CheckRows(train, minRows: 1);
        var d = train[0].Length;
        var cols = columns.Distinct().Order().ToArray();
        if (cols.Length == 0 || cols[0] < 0 || cols[^1] >= d)
            throw new ArgumentOutOfRangeException(nameof(columns), $"columns must be a non-empty subset of 0..{d - 1}");
        var projected = train.Select(r => cols.Select(c => r[c]).ToArray()).ToArray();
        return new FeatureSubsetDetector(fit(projected), cols, d);
    }

    public double Score(ReadOnlySpan<double> x)
    {
        Span<double> p = stackalloc double[_columns.Length];
        Project(x, p);
        return Inner.Score(p);
    }

    public void Contributions(ReadOnlySpan<double> x, Span<double> destination)
    {
        Span<double> p = stackalloc double[_columns.Length];
        Span<double> c = stackalloc double[_columns.Length];
        Project(x, p);
        Inner.Contributions(p, c);
        destination[..FeatureCount].Clear();
        for (var i = 0; i < _columns.Length; i++) destination[_columns[i]] = c[i];
    }

    private void Project(ReadOnlySpan<double> x, Span<double> p)
    {
        if (x.Length != FeatureCount) Matrix.ThrowWidth(x.Length, FeatureCount);
        for (var i = 0; i < _columns.Length; i++) p[i] = x[_columns[i]];
    }
}
