namespace Zhizao.Bench.Storage;

/// <summary>The answers computed directly from the generated data, to check that every engine returns the same thing.</summary>
internal sealed class Expected
{
    private readonly List<Bucket> _buckets = [];
    private double[] _latest = [];

    public static Expected From(BenchData data, int latestTags)
    {
        var e = new Expected();
        for (int t0 = 0; t0 < data.Day.Length; t0 += 60)
        {
            var span = data.Day.AsSpan(t0, Math.Min(60, data.Day.Length - t0));
            double min = double.MaxValue, max = double.MinValue, sum = 0;
            foreach (double v in span)
            {
                min = Math.Min(min, v);
                max = Math.Max(max, v);
                sum += v;
            }

            e._buckets.Add(new Bucket(BenchData.StartSec + t0, span.Length, min, max, sum, span[0], span[^1]));
        }

        e._latest = Enumerable.Range(0, latestTags).Select(s => data.Values[s][^1]).ToArray();
        return e;
    }

    public IEnumerable<string> CheckAggregate(IReadOnlyList<Bucket> actual)
    {
        if (actual.Count != _buckets.Count)
        {
            yield return $"aggregation returned {actual.Count} buckets, expected {_buckets.Count}";
            yield break;
        }

        for (int i = 0; i < actual.Count; i++)
        {
            var a = actual[i];
            var x = _buckets[i];
            if (a.StartSec != x.StartSec || a.Count != x.Count || a.Min != x.Min || a.Max != x.Max || a.First != x.First
                || a.Last != x.Last || Math.Abs(a.Sum - x.Sum) > 1e-9 * Math.Max(1, Math.Abs(x.Sum)))
            {
                yield return $"bucket {i}: got {a}, expected {x}";
                yield break;
            }
        }
    }

    public IEnumerable<string> CheckLatest(double[] actual)
    {
        for (int s = 0; s < _latest.Length; s++)
        {
            if (actual[s] != _latest[s])
            {
                yield return $"latest of series {s}: got {actual[s]}, expected {_latest[s]}";
                yield break;
            }
        }
    }
}
