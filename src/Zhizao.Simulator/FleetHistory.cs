using Zhizao.Core;

namespace Zhizao.Simulator;

/// <summary>
/// Run-to-failure history of some machines of a freshly seeded plant, for training and checking remaining-useful-life
/// models (the demo writes it into the node as "last week's data"; tests use it with its ground truth). Whenever a
/// chosen machine has no developing fault, one is started (bearing wear or fouling, alternating) with a time to failure
/// drawn between <see cref="MinHours"/> and <see cref="MaxHours"/>; it fails, is repaired (1–5 h down) and the next one
/// starts within the hour. Random breakdowns without precursor happen as in the live plant.
/// </summary>
public sealed class FleetHistory
{
    public required int Seed { get; init; }
    public required IReadOnlyList<string> MachineIds { get; init; }
    public required long FromNs { get; init; }
    public required long ToNs { get; init; }
    public long StepNs { get; init; } = 10 * Time.NanosPerSecond;
    public double MinHours { get; init; } = 12;
    public double MaxHours { get; init; } = 36;

    /// <summary>No fault is started during the first hours (a period to learn normal behaviour from; the plant's own
    /// seeded faults and random breakdowns may still happen — see the returned ground truth).</summary>
    public double HealthyHours { get; init; }

    /// <summary>The first <see cref="FineHours"/> are sampled every <see cref="FineStepNs"/> instead of <see cref="StepNs"/>
    /// (a model of normal behaviour learns from data sampled like the live feed's).</summary>
    public double FineHours { get; init; }

    public long FineStepNs { get; init; } = Time.NanosPerSecond;

    /// <summary>Generates the history, handing <paramref name="sink"/> batches of the chosen machines' samples in time
    /// order (the list is reused after the call). Returns the ground truth of the chosen machines.</summary>
    public IReadOnlyList<GroundTruthEvent> Generate(Action<IReadOnlyList<Sample>> sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        if (ToNs <= FromNs || StepNs <= 0)
        {
            throw new ArgumentException("FleetHistory needs FromNs < ToNs and a positive step");
        }

        var factory = VirtualFactory.CreateDefault(Seed, FromNs);
        var chosen = new HashSet<string>(MachineIds, StringComparer.Ordinal);
        foreach (string id in chosen)
        {
            factory.GetMachine(id);
        }

        var lookup = chosen.GetAlternateLookup<ReadOnlySpan<char>>();
        var rng = new Random(Seed);
        var kinds = new Dictionary<string, int>();
        var selected = new List<Sample>(65_536);
        const long chunk = 3600 * Time.NanosPerSecond;
        for (long from = FromNs; from < ToNs; from += chunk)
        {
            long to = Math.Min(ToNs, from + chunk);
            foreach (string id in chosen)
            {
                bool active = factory.GroundTruth.Any(e => e.MachineId == id && e.EndNs is null && e.Kind != FaultKind.SensorDrift);
                if (!active && from > FromNs && from >= FromNs + (long)(HealthyHours * 3600 * Time.NanosPerSecond))
                {
                    int n = kinds.GetValueOrDefault(id);
                    kinds[id] = n + 1;
                    var kind = n % 2 == 0 ? FaultKind.BearingWear : FaultKind.Fouling;
                    factory.InjectFault(id, kind, TimeSpan.FromHours(MinHours + (rng.NextDouble() * (MaxHours - MinHours))));
                }
            }

            long step = from < FromNs + (long)(FineHours * 3600 * Time.NanosPerSecond) ? FineStepNs : StepNs;
            foreach (var batch in factory.GenerateHistory(from, to, step))
            {
                selected.Clear();
                foreach (Sample s in batch)
                {
                    int slash = s.SeriesKey.IndexOf('/');
                    if (slash > 0 && lookup.Contains(s.SeriesKey.AsSpan(0, slash)))
                    {
                        selected.Add(s);
                    }
                }

                if (selected.Count > 0)
                {
                    sink(selected);
                }
            }
        }

        return [.. factory.GroundTruth.Where(e => chosen.Contains(e.MachineId))];
    }
}
