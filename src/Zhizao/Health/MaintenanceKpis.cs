using Zhizao.Core;
using Zhizao.Storage;

namespace Zhizao.Health;

/// <summary>
/// Maintenance KPIs after ISO 22400-2 from an equipment's state history (the 'state' tag: 0 down, 1 idle, 2 running).
/// A state holds until the next sample; gaps over a minute count as no data. Failures are transitions into down.
/// <list type="bullet">
/// <item>MTBF = running time / failures (mean operating time between failures)</item>
/// <item>MTTR = down time / down episodes (mean time to repair)</item>
/// <item>Availability = running time / (running + down time) (APT / PBT, idle time counted as not planned)</item>
/// <item>Technical availability = (observed time − down time) / observed time</item>
/// </list>
/// </summary>
public static class MaintenanceKpis
{
    public const long MaxGapNs = 60 * Time.NanosPerSecond;

    public static EquipmentKpis Compute(ITimeSeriesStore store, string equipmentId, long fromNs, long toNs)
    {
        long running = 0, idle = 0, down = 0;
        int failures = 0, episodes = 0;
        if (store.TryGetSeries(SeriesKey.ForTag(equipmentId, "state"), out var s))
        {
            int? previous = null;
            long prevT = 0;
            // a day at a time keeps memory flat over long periods
            for (long dayFrom = fromNs; dayFrom < toNs; dayFrom += 86_400 * Time.NanosPerSecond)
            {
                long dayTo = Math.Min(toNs, dayFrom + (86_400 * Time.NanosPerSecond));
                foreach (var p in store.ReadRange(s.Id, dayFrom, dayTo))
                {
                    int state = (int)p.Value.AsDouble;
                    if (previous is int ps)
                    {
                        Add(ps, Math.Min(p.TimestampNs - prevT, MaxGapNs));
                    }

                    if (state == 0 && previous != 0)
                    {
                        episodes++;
                        if (previous is not null)
                        {
                            failures++;
                        }
                    }

                    previous = state;
                    prevT = p.TimestampNs;
                }
            }

            if (previous is int last)
            {
                Add(last, Math.Min(toNs - prevT, MaxGapNs));
            }
        }

        double runningH = running / 3.6e12, downH = down / 3.6e12, observedH = (running + idle + down) / 3.6e12;
        return new EquipmentKpis(
            equipmentId, fromNs, toNs, Math.Round(runningH, 3), Math.Round(idle / 3.6e12, 3), Math.Round(downH, 3), failures,
            failures > 0 ? Math.Round(runningH / failures, 3) : null,
            episodes > 0 ? Math.Round(downH / episodes, 3) : null,
            runningH + downH > 0 ? Math.Round(100 * runningH / (runningH + downH), 2) : null,
            observedH > 0 ? Math.Round(100 * (observedH - downH) / observedH, 2) : null);

        void Add(int state, long ns)
        {
            switch (state)
            {
                case 0: down += ns; break;
                case 2: running += ns; break;
                default: idle += ns; break;
            }
        }
    }
}

public sealed record EquipmentKpis(
    string EquipmentId, long FromNs, long ToNs, double RunningHours, double IdleHours, double DownHours, int Failures,
    double? MtbfHours, double? MttrHours, double? AvailabilityPercent, double? TechnicalAvailabilityPercent);
