using Zhizao.Core;
using static Zhizao.Simulator.Tests.SimHelpers;

namespace Zhizao.Simulator.Tests;

public class FactoryTests
{
    [Fact]
    public void Default_plant_has_at_least_20_machines_of_8_types_on_2_lines()
    {
        var f = VirtualFactory.CreateDefault(1, Monday);
        Assert.True(f.Machines.Count >= 20);
        Assert.Equal(8, f.Types.Count);
        Assert.Equal(8, f.Machines.Select(m => m.TypeId).Distinct().Count());
        Assert.Equal(["line-1", "line-2"], f.Assets.Where(a => a.Level == AssetLevel.Line).Select(a => a.Id).ToArray());
        Assert.Equal(["line-1", "line-2"], f.Machines.Select(m => m.LineId).Distinct().Order().ToArray());
        Assert.True(f.SamplesPerStep >= 200, $"{f.SamplesPerStep} samples per step");
    }

    [Fact]
    public void Asset_tree_runs_enterprise_to_equipment_with_valid_unique_ids()
    {
        var f = VirtualFactory.CreateDefault(1, Monday);
        var byId = f.Assets.ToDictionary(a => a.Id);
        Assert.Equal(f.Assets.Count, byId.Count);
        Assert.Single(f.Assets, a => a.Level == AssetLevel.Enterprise && a.ParentId is null);
        foreach (Asset a in f.Assets)
        {
            Assert.True(SeriesKey.IsValidId(a.Id), a.Id);
            if (a.Level != AssetLevel.Enterprise)
            {
                Asset parent = byId[a.ParentId!];
                Assert.Equal(a.Level - 1, parent.Level);
            }
        }

        foreach (Machine m in f.Machines)
        {
            Asset a = byId[m.Id];
            Assert.Equal(AssetLevel.Equipment, a.Level);
            Assert.Equal(m.TypeId, a.TypeId);
            Assert.Contains(f.Types, t => t.Id == a.TypeId);
        }
    }

    [Fact]
    public void Every_type_has_state_power_energy_and_producers_have_part_counters()
    {
        string[] producers = ["cnc", "injection-moulding", "oven"];
        foreach (EquipmentType type in EquipmentCatalog.Types)
        {
            var tags = type.Tags.ToDictionary(t => t.Name);
            Assert.Equal(ValueKind.Int64, tags["state"].DataType);
            Assert.Equal(ValueKind.Float64, tags["power_kw"].DataType);
            Assert.Equal(ValueKind.Float64, tags["energy_kwh"].DataType);
            if (producers.Contains(type.Id))
            {
                Assert.Equal(ValueKind.Int64, tags["part_count_good"].DataType);
                Assert.Equal(ValueKind.Int64, tags["part_count_scrap"].DataType);
            }

            foreach (TagDefinition t in type.Tags)
            {
                Assert.Matches("^[a-z][a-z0-9_]*$", t.Name);
                Assert.NotNull(t.RangeLow);
                Assert.NotNull(t.RangeHigh);
                Assert.False(string.IsNullOrWhiteSpace(t.Description));
            }
        }
    }

    [Fact]
    public void Same_seed_and_step_times_give_identical_samples()
    {
        Assert.Equal(DigestOf(42, Hour, Second), DigestOf(42, Hour, Second));
        Assert.Equal(DigestOf(42, 3 * Day, Minute), DigestOf(42, 3 * Day, Minute));
    }

    [Fact]
    public void Different_seeds_give_different_samples()
    {
        Assert.NotEqual(DigestOf(1, Hour, Second), DigestOf(2, Hour, Second));
    }

    [Fact]
    public void A_machine_history_generated_alone_equals_its_samples_in_the_whole_plant()
    {
        var whole = VirtualFactory.CreateDefault(9, Monday);
        var alone = VirtualFactory.CreateDefault(9, Monday);
        var expected = new List<Sample>();
        foreach (IReadOnlyList<Sample> batch in whole.GenerateHistory(Monday, Monday + (6 * Hour), 5 * Second))
        {
            expected.AddRange(batch.Where(s => s.SeriesKey.StartsWith("l1-cnc-03/", StringComparison.Ordinal)));
        }

        var actual = new List<Sample>();
        foreach (IReadOnlyList<Sample> batch in alone.GenerateHistory(Monday, Monday + (6 * Hour), 5 * Second, "l1-cnc-03", batchSamples: 1000))
        {
            actual.AddRange(batch);
        }

        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Generate_history_yields_every_step_in_time_order()
    {
        var f = VirtualFactory.CreateDefault(3, Monday);
        long count = 0, last = long.MinValue;
        foreach (IReadOnlyList<Sample> batch in f.GenerateHistory(Monday, Monday + Hour, Second, batchSamples: 10_000))
        {
            Assert.True(batch.Count <= 10_000);
            foreach (Sample s in batch)
            {
                Assert.True(s.TimestampNs >= last);
                last = s.TimestampNs;
            }

            count += batch.Count;
        }

        Assert.Equal(3600L * f.SamplesPerStep, count);
        Assert.Equal(Monday + Hour - Second, f.CurrentNs);
    }

    [Fact]
    public void Stepping_back_in_time_is_refused()
    {
        var f = VirtualFactory.CreateDefault(3, Monday);
        f.Step(Monday + Minute, []);
        Assert.Throws<ArgumentOutOfRangeException>(() => f.Step(Monday, []));
    }

    [Fact]
    public void Unknown_machine_is_not_found()
    {
        var f = VirtualFactory.CreateDefault(3, Monday);
        Assert.Throws<NotFoundException>(() => f.InjectFault("no-such-machine", FaultKind.BearingWear));
    }

    private static ulong DigestOf(int seed, long span, long step)
    {
        var f = VirtualFactory.CreateDefault(seed, Monday);
        ulong h = 14695981039346656037UL;
        Run(f, Monday, Monday + span, step, (_, samples) => h = Digest(h, samples));
        return h;
    }
}
