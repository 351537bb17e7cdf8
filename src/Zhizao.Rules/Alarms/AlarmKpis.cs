namespace Zhizao.Rules.Alarms;

/// <summary>Thresholds of the alarm-health KPIs; defaults are the ISA-18.2 / EEMUA 191 figures.</summary>
public sealed record AlarmKpiOptions
{
    public TimeSpan Window { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>A window with more than this many annunciated activations is a flood.</summary>
    public int FloodThreshold { get; init; } = 10;

    /// <summary>An alarm activating at least this often within <see cref="ChatterWindow"/> is chattering.</summary>
    public int ChatterCount { get; init; } = 3;

    public TimeSpan ChatterWindow { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>An alarm active longer than this is stale.</summary>
    public TimeSpan StaleAfter { get; init; } = TimeSpan.FromHours(24);
}

/// <summary>The published targets the figures should be read against (ISA-18.2 Table 5 / EEMUA 191).</summary>
public sealed record AlarmKpiTargets
{
    /// <summary>Average annunciated alarms per 10 minutes per console: about 1 is "very likely acceptable".</summary>
    public double AcceptablePerWindow { get; init; } = 1;

    /// <summary>About 2 per 10 minutes is "maximum manageable".</summary>
    public double ManageablePerWindow { get; init; } = 2;

    /// <summary>Share of time in flood should stay below about 1 %.</summary>
    public double MaxPercentTimeInFlood { get; init; } = 1;

    /// <summary>Target priority distribution of annunciated alarms, percent (ISA-18.2: ~80 % low, ~15 % medium, ~5 % high; urgent rare).</summary>
    public IReadOnlyDictionary<AlarmPriority, double> PriorityPercent { get; init; } = new Dictionary<AlarmPriority, double>
    {
        [AlarmPriority.Urgent] = 1,
        [AlarmPriority.High] = 5,
        [AlarmPriority.Medium] = 15,
        [AlarmPriority.Low] = 79,
    };
}

public sealed record WindowCount(long StartNs, int Activations);

public sealed record FloodPeriod(string Console, long StartNs, long EndNs, int Activations);

public sealed record ConsoleAlarmRate(
    string Console,
    int Activations,
    double AveragePerWindow,
    int MaxPerWindow,
    double PercentTimeInFlood,
    IReadOnlyList<WindowCount> Windows,
    IReadOnlyList<FloodPeriod> Floods);

public sealed record ChatteringAlarm(string AlarmId, string EquipmentId, int Activations, int MaxInChatterWindow);

public sealed record StaleAlarm(string AlarmId, string EquipmentId, AlarmPriority Priority, long ActiveSinceNs, TimeSpan ActiveFor);

public sealed record PriorityShare(AlarmPriority Priority, int Activations, double Percent, double TargetPercent);

public sealed record FrequentAlarm(string AlarmId, int Activations, double PercentOfAll);

public sealed record AlarmKpiReport(
    long FromNs,
    long ToNs,
    int Activations,
    IReadOnlyList<ConsoleAlarmRate> Consoles,
    IReadOnlyList<FloodPeriod> Floods,
    IReadOnlyList<ChatteringAlarm> Chattering,
    IReadOnlyList<StaleAlarm> Stale,
    IReadOnlyList<PriorityShare> Priorities,
    IReadOnlyList<FrequentAlarm> MostFrequent,
    AlarmKpiOptions Options,
    AlarmKpiTargets Targets);

/// <summary>
/// Alarm-health KPIs computed from the journal (pure; no clock). Rates, floods and the priority distribution count
/// annunciated activations (not shelved, suppressed or out of service) in <c>[fromNs, toNs)</c>; chattering counts
/// every activation; stale alarms are found by replaying all entries passed (pass at least
/// <see cref="AlarmKpiOptions.StaleAfter"/> of history before <c>fromNs</c>, or the whole journal).
/// Windows are fixed, aligned at <c>fromNs</c>; consecutive flood windows form one flood period.
/// </summary>
public static class AlarmKpis
{
    public static AlarmKpiReport Compute(
        IEnumerable<AlarmJournalEntry> entries,
        long fromNs,
        long toNs,
        Func<string, string> consoleOfEquipment,
        AlarmKpiOptions? options = null,
        AlarmKpiTargets? targets = null)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(consoleOfEquipment);
        if (toNs <= fromNs)
        {
            throw new Zhizao.Core.InvalidInputException("the period must end after it starts", "toNs");
        }

        options ??= new AlarmKpiOptions();
        targets ??= new AlarmKpiTargets();
        long windowNs = options.Window.Ticks * 100;
        if (windowNs <= 0)
        {
            throw new Zhizao.Core.InvalidInputException("window must be positive", "window");
        }

        var sorted = entries.OrderBy(e => e.Sequence).ToList();
        var annunciated = sorted.Where(e => e.IsAnnunciatedActivation && e.TimestampNs >= fromNs && e.TimestampNs < toNs).ToList();

        int windowCount = (int)Math.Min(1_000_000, ((toNs - fromNs) + windowNs - 1) / windowNs);
        var consoles = new List<ConsoleAlarmRate>();
        var allFloods = new List<FloodPeriod>();
        foreach (IGrouping<string, AlarmJournalEntry> group in annunciated.GroupBy(e => consoleOfEquipment(e.EquipmentId), StringComparer.Ordinal)
                     .OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var counts = new int[windowCount];
            foreach (AlarmJournalEntry entry in group)
            {
                int index = (int)Math.Min(windowCount - 1, (entry.TimestampNs - fromNs) / windowNs);
                counts[index]++;
            }

            var floods = new List<FloodPeriod>();
            int floodWindows = 0;
            for (int i = 0; i < windowCount; i++)
            {
                if (counts[i] <= options.FloodThreshold)
                {
                    continue;
                }

                floodWindows++;
                long start = fromNs + (i * windowNs);
                long end = Math.Min(toNs, start + windowNs);
                if (floods.Count > 0 && floods[^1].EndNs == start)
                {
                    FloodPeriod last = floods[^1];
                    floods[^1] = last with { EndNs = end, Activations = last.Activations + counts[i] };
                }
                else
                {
                    floods.Add(new FloodPeriod(group.Key, start, end, counts[i]));
                }
            }

            allFloods.AddRange(floods);
            var windows = new List<WindowCount>(windowCount);
            for (int i = 0; i < windowCount; i++)
            {
                windows.Add(new WindowCount(fromNs + (i * windowNs), counts[i]));
            }

            int total = counts.Sum();
            consoles.Add(new ConsoleAlarmRate(group.Key, total, (double)total / windowCount, counts.Max(), 100.0 * floodWindows / windowCount, windows, floods));
        }

        return new AlarmKpiReport(
            fromNs,
            toNs,
            annunciated.Count,
            consoles,
            allFloods,
            Chattering(sorted, fromNs, toNs, options),
            Stale(sorted, toNs, options),
            Priorities(annunciated, targets),
            annunciated.GroupBy(e => e.AlarmId, StringComparer.Ordinal)
                .Select(g => new FrequentAlarm(g.Key, g.Count(), 100.0 * g.Count() / annunciated.Count))
                .OrderByDescending(f => f.Activations).ThenBy(f => f.AlarmId, StringComparer.Ordinal).Take(10).ToList(),
            options,
            targets);
    }

    private static List<ChatteringAlarm> Chattering(List<AlarmJournalEntry> sorted, long fromNs, long toNs, AlarmKpiOptions options)
    {
        long chatterNs = options.ChatterWindow.Ticks * 100;
        var result = new List<ChatteringAlarm>();
        foreach (IGrouping<string, AlarmJournalEntry> group in sorted
                     .Where(e => e.Event == AlarmEvent.Activated && e.TimestampNs >= fromNs && e.TimestampNs < toNs)
                     .GroupBy(e => e.AlarmId, StringComparer.Ordinal))
        {
            long[] times = group.Select(e => e.TimestampNs).Order().ToArray();
            int best = 0;
            int first = 0;
            for (int last = 0; last < times.Length; last++)
            {
                while (times[last] - times[first] >= chatterNs)
                {
                    first++;
                }

                best = Math.Max(best, last - first + 1);
            }

            if (best >= options.ChatterCount)
            {
                result.Add(new ChatteringAlarm(group.Key, group.First().EquipmentId, times.Length, best));
            }
        }

        return [.. result.OrderByDescending(c => c.MaxInChatterWindow).ThenBy(c => c.AlarmId, StringComparer.Ordinal)];
    }

    private static List<StaleAlarm> Stale(List<AlarmJournalEntry> sorted, long toNs, AlarmKpiOptions options)
    {
        var activeSince = new Dictionary<string, AlarmJournalEntry>(StringComparer.Ordinal);
        foreach (AlarmJournalEntry entry in sorted)
        {
            if (entry.TimestampNs >= toNs)
            {
                break;
            }

            if (entry.Event == AlarmEvent.Activated)
            {
                activeSince[entry.AlarmId] = entry;
            }
            else if (entry.Event == AlarmEvent.Cleared)
            {
                activeSince.Remove(entry.AlarmId);
            }
        }

        long staleNs = options.StaleAfter.Ticks * 100;
        return [.. activeSince.Values
            .Where(e => toNs - e.TimestampNs > staleNs)
            .OrderBy(e => e.TimestampNs)
            .Select(e => new StaleAlarm(e.AlarmId, e.EquipmentId, e.Priority, e.TimestampNs, TimeSpan.FromTicks((toNs - e.TimestampNs) / 100)))];
    }

    private static List<PriorityShare> Priorities(List<AlarmJournalEntry> annunciated, AlarmKpiTargets targets)
    {
        var result = new List<PriorityShare>();
        foreach (AlarmPriority priority in Enum.GetValues<AlarmPriority>())
        {
            int count = annunciated.Count(e => e.Priority == priority);
            double percent = annunciated.Count == 0 ? 0 : 100.0 * count / annunciated.Count;
            result.Add(new PriorityShare(priority, count, percent, targets.PriorityPercent.TryGetValue(priority, out double t) ? t : 0));
        }

        return result;
    }
}
