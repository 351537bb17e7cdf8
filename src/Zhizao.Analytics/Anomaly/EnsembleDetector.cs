namespace Zhizao.Analytics.Anomaly;

/// <summary>Mean of the members' normalised scores; contributions are the score-weighted mean of theirs.</summary>
public sealed class EnsembleDetector : IAnomalyDetector
{
    private readonly IAnomalyDetector[] _members;

    public EnsembleDetector(string name, params IAnomalyDetector[] members)
    {
        if (members.Length == 0) throw new ArgumentException("an ensemble needs members", nameof(members));
        if (members.Any(m => m.FeatureCount != members[0].FeatureCount))
            throw new ArgumentException("members were fitted on different feature counts", nameof(members));
        Name = name;
        _members = members;
    }

    public string Name { get; }

    public int FeatureCount => _members[0].FeatureCount;

    public IReadOnlyList<IAnomalyDetector> Members => _members;

    public double Score(ReadOnlySpan<double> x)
    {
        var s = 0.0;
        foreach (var m in _members) s += m.Score(x);
        return s / _members.Length;
    }

    public void Contributions(ReadOnlySpan<double> x, Span<double> destination)
    {
        var d = FeatureCount;
        Span<double> c = stackalloc double[d];
        destination[..d].Clear();
        foreach (var m in _members)
        {
            var w = m.Score(x);
            m.Contributions(x, c);
            for (var j = 0; j < d; j++) destination[j] += w * c[j];
        }
        Matrix.Normalise(destination[..d]);
    }
}
