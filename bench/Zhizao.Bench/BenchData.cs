namespace Zhizao.Bench;

/// <summary>
/// Deterministic sensor-like data shared by every engine in a run: <see cref="Series"/> float series at 1 Hz for
/// <see cref="Seconds"/> seconds, plus one <see cref="Day"/> series (the aggregation query's input).
/// Each value is a slow sine (period 10 min – 2 h) + a mean-reverting random walk + Gaussian noise of about 1.5 quanta,
/// rounded to the sensor's resolution (0.1 for even series, 0.01 for odd ones), like a real transmitter reading.
/// </summary>
internal sealed class BenchData
{
    /// <summary>2024-01-01T00:00:00Z: in the past on any machine, and inside one InfluxDB 7-day shard group.</summary>
    public const long StartSec = 1_704_067_200;

    private const ulong Seed = 0x5A48_495A_414F_0001; // "ZHIZAO" + 1

    private BenchData(double[][] values, double[] day)
    {
        Values = values;
        Day = day;
    }

    public int Series => Values.Length;
    public int Seconds => Values.Length == 0 ? 0 : Values[0].Length;

    /// <summary>Values[series][second].</summary>
    public double[][] Values { get; }

    public double[] Day { get; }

    public long IngestPoints => (long)Series * Seconds;

    public static BenchData Generate(int series, int seconds, int daySeconds)
    {
        var values = new double[series][];
        Parallel.For(0, series, s => values[s] = Signal(s, seconds));
        return new BenchData(values, Signal(series, daySeconds));
    }

    /// <summary>The series a writer owns: every <paramref name="writers"/>-th one.</summary>
    public int[] SeriesOfWriter(int writer, int writers)
    {
        var mine = new List<int>();
        for (int s = writer; s < Series; s += writers)
        {
            mine.Add(s);
        }

        return [.. mine];
    }

    /// <summary>
    /// Time-major windows of a writer's share: each window covers whole seconds for all its series, about
    /// <paramref name="batchPoints"/> points. This is the order live data arrives in (all tags each second).
    /// </summary>
    public static IEnumerable<(int From, int To)> Windows(int seconds, int seriesInWriter, int batchPoints)
    {
        int step = Math.Max(1, batchPoints / Math.Max(1, seriesInWriter));
        for (int t0 = 0; t0 < seconds; t0 += step)
        {
            yield return (t0, Math.Min(seconds, t0 + step));
        }
    }

    private static double[] Signal(int series, int n)
    {
        var rng = new SplitMix64(Seed ^ ((ulong)series * 0x9E37_79B9_7F4A_7C15));
        double quantum = series % 2 == 0 ? 0.1 : 0.01;
        double scale = 1 / quantum;
        double baseline = (series % 2 == 0 ? 20 : 1) + (rng.NextDouble() * (series % 2 == 0 ? 60 : 9));
        double amplitude = quantum * (20 + (rng.NextDouble() * 200));
        double period = 600 + (rng.NextDouble() * 6_600);
        double phase = rng.NextDouble() * 2 * Math.PI;
        double walk = 0;
        var v = new double[n];
        for (int t = 0; t < n; t++)
        {
            walk = (walk * 0.999) + (0.5 * quantum * rng.NextGaussian());
            double x = baseline + (amplitude * Math.Sin((2 * Math.PI * t / period) + phase)) + walk + (1.5 * quantum * rng.NextGaussian());
            v[t] = Math.Round(x * scale) / scale;
        }

        return v;
    }

    /// <summary>Small deterministic generator (SplitMix64) so the data never depends on the runtime's Random.</summary>
    private struct SplitMix64(ulong state)
    {
        private ulong _state = state;

        public ulong Next()
        {
            ulong z = _state += 0x9E37_79B9_7F4A_7C15;
            z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9;
            z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EB;
            return z ^ (z >> 31);
        }

        public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));

        public double NextGaussian()
        {
            double u1 = 1.0 - NextDouble();
            double u2 = NextDouble();
            return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
        }
    }
}
