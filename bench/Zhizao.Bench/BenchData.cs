using Zhizao.Core;
using Zhizao.Simulator;

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

    /// <summary>Where the simulator data starts: 08:00 UTC, inside the demo plant's shifts (06:00–22:00).</summary>
    public const long SimulatorStartSec = StartSec + (8 * 3_600);

    private BenchData(double[][] values, double[] day, string source)
    {
        Values = values;
        Day = day;
        Source = source;
    }

    /// <summary>What produced the ingest set, for the report.</summary>
    public string Source { get; }

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
        return new BenchData(values, Signal(series, daySeconds),
            "harness generator: sine + mean-reverting random walk + noise of 1.5 quanta, rounded to 0.1 / 0.01");
    }

    /// <summary>
    /// The ingest set from the virtual factory (<see cref="VirtualFactory.CreateDefault"/>, seed 1): every Float64 tag
    /// of its machines, sampled at 1 Hz from <see cref="SimulatorStartSec"/> for <paramref name="seconds"/> s (integer
    /// tags such as machine state and counters are left out: the goal is about float signals). The values are stored
    /// at the same regular timestamps from <see cref="StartSec"/> as the generator's. The day series stays generated.
    /// </summary>
    public static BenchData FromSimulator(int seconds, int daySeconds)
    {
        long from = SimulatorStartSec * Time.NanosPerSecond;
        long to = (SimulatorStartSec + seconds) * Time.NanosPerSecond;
        var factory = VirtualFactory.CreateDefault(seed: 1, startNs: from - Time.NanosPerSecond);
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var columns = new List<double[]>();
        int skipped = 0;
        foreach (var batch in factory.GenerateHistory(from, to, Time.NanosPerSecond))
        {
            foreach (var sample in batch)
            {
                int t = (int)((sample.TimestampNs - from) / Time.NanosPerSecond);
                if (!index.TryGetValue(sample.SeriesKey, out int s))
                {
                    if (sample.Value.Kind != ValueKind.Float64)
                    {
                        skipped += t == 0 ? 1 : 0;
                        continue;
                    }

                    s = index[sample.SeriesKey] = columns.Count;
                    columns.Add(new double[seconds]);
                }

                columns[s][t] = sample.Value.AsDouble;
            }
        }

        return new BenchData([.. columns], SimulatorDay(daySeconds),
            $"virtual factory (Zhizao.Simulator, VirtualFactory.CreateDefault seed 1, 24 machines): its {columns.Count} Float64 tags " +
            $"from 08:00 UTC (in shift), {skipped} integer tags left out; day series = {SimulatorDayMachine} {SimulatorDayTag} from 00:00 UTC");
    }

    private const string SimulatorDayMachine = "l1-cnc-01";
    private const string SimulatorDayTag = "spindle_load";

    /// <summary>One machine's spindle load for a day from 00:00 (both shifts and the night), from a second factory.</summary>
    private static double[] SimulatorDay(int seconds)
    {
        long from = StartSec * Time.NanosPerSecond;
        var factory = VirtualFactory.CreateDefault(seed: 1, startNs: from - Time.NanosPerSecond);
        var day = new double[seconds];
        int n = 0;
        foreach (var batch in factory.GenerateHistory(from, from + (seconds * Time.NanosPerSecond), Time.NanosPerSecond, SimulatorDayMachine))
        {
            foreach (var sample in batch)
            {
                if (sample.SeriesKey.EndsWith(SimulatorDayTag, StringComparison.Ordinal))
                {
                    day[(int)((sample.TimestampNs - from) / Time.NanosPerSecond)] = sample.Value.AsDouble;
                    n++;
                }
            }
        }

        return n == seconds ? day : throw new InvalidOperationException($"simulator gave {n} {SimulatorDayTag} samples for {seconds} s");
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
