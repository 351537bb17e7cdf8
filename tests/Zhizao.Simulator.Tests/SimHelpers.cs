using Zhizao.Core;

namespace Zhizao.Simulator.Tests;

internal static class SimHelpers
{
    /// <summary>Monday 2026-01-05 00:00 UTC.</summary>
    public static readonly long Monday = Time.FromDateTime(new DateTimeOffset(2026, 1, 5, 0, 0, 0, TimeSpan.Zero));
    public const long Second = Time.NanosPerSecond;
    public const long Minute = 60 * Second;
    public const long Hour = 60 * Minute;
    public const long Day = 24 * Hour;

    /// <summary>Runs the factory and calls <paramref name="onStep"/> with each step's samples.</summary>
    public static void Run(VirtualFactory factory, long from, long to, long step, Action<long, List<Sample>> onStep)
    {
        var samples = new List<Sample>(factory.SamplesPerStep);
        for (long t = from; t < to; t += step)
        {
            samples.Clear();
            factory.Step(t, samples);
            onStep(t, samples);
        }
    }

    /// <summary>Collects the series of the given keys as (time, value) lists.</summary>
    public static Dictionary<string, List<(long T, double V)>> Collect(VirtualFactory factory, long from, long to, long step, Func<string, bool> wanted)
    {
        var series = new Dictionary<string, List<(long, double)>>(StringComparer.Ordinal);
        Run(factory, from, to, step, (t, samples) =>
        {
            foreach (Sample s in samples)
            {
                if (!wanted(s.SeriesKey))
                {
                    continue;
                }

                if (!series.TryGetValue(s.SeriesKey, out List<(long, double)>? list))
                {
                    series[s.SeriesKey] = list = [];
                }

                list.Add((t, s.Value.AsDouble));
            }
        });
        return series;
    }

    public static string Tag(string field) => "/" + field;

    /// <summary>Order-sensitive 64-bit digest of samples (key, time, kind, bits).</summary>
    public static ulong Digest(ulong h, List<Sample> samples)
    {
        foreach (Sample s in samples)
        {
            foreach (char c in s.SeriesKey)
            {
                h = (h ^ c) * 1099511628211UL;
            }

            h = (h ^ (ulong)s.TimestampNs) * 1099511628211UL;
            h = (h ^ (ulong)s.Value.Kind) * 1099511628211UL;
            h = (h ^ (ulong)s.Value.Bits) * 1099511628211UL;
        }

        return h;
    }
}
