using Zhizao.Modbus;

namespace Zhizao.Modbus.Tests;

public class PollingPlanTests
{
    private static ModbusPoint Hr(string name, ushort address, ModbusDataType type = ModbusDataType.UInt16) =>
        new(name, ModbusTable.HoldingRegister, address, type);

    [Fact]
    public void Adjacent_and_nearby_registers_merge_into_one_request()
    {
        var plan = PollingPlan.Create([Hr("a", 0), Hr("b", 1, ModbusDataType.Float32), Hr("c", 5), Hr("d", 20)], new PollingPlanOptions { MaxGap = 2 });
        Assert.Equal(2, plan.Groups.Count);
        Assert.Equal((0, 6), (plan.Groups[0].Address, plan.Groups[0].Count));
        Assert.Equal((20, 1), (plan.Groups[1].Address, plan.Groups[1].Count));
    }

    [Fact]
    public void Groups_never_exceed_125_registers()
    {
        var points = Enumerable.Range(0, 300).Select(i => Hr("p" + i, (ushort)i)).ToList();
        var plan = PollingPlan.Create(points);
        Assert.Equal([125, 125, 50], plan.Groups.Select(g => g.Count));
        Assert.All(plan.Groups, g => Assert.Equal(ModbusFunction.ReadHoldingRegisters, g.Function));
    }

    [Fact]
    public void A_multi_register_point_is_not_split_across_requests()
    {
        var points = Enumerable.Range(0, 40).Select(i => Hr("p" + i, (ushort)(i * 4), ModbusDataType.Float64)).ToList();
        var plan = PollingPlan.Create(points);
        Assert.All(plan.Groups, g => Assert.True(g.Count <= 125 && g.Count % 4 == 0));
        Assert.Equal(40, plan.Groups.Sum(g => g.Points.Count));
    }

    [Fact]
    public void Units_and_tables_are_never_merged()
    {
        var plan = PollingPlan.Create([
            Hr("a", 0), Hr("b", 1) with { UnitId = 2 },
            new ModbusPoint("c", ModbusTable.InputRegister, 1, ModbusDataType.Int16),
            new ModbusPoint("d", ModbusTable.Coil, 0, ModbusDataType.Bool),
            new ModbusPoint("e", ModbusTable.Coil, 1999, ModbusDataType.Bool),
            new ModbusPoint("f", ModbusTable.Coil, 2000, ModbusDataType.Bool),
        ], new PollingPlanOptions { MaxGap = 5000 });
        Assert.Equal(5, plan.Groups.Count);
        Assert.Contains(plan.Groups, g => g.Table == ModbusTable.Coil && g.Count == 2000);
    }

    [Fact]
    public void Duplicate_names_and_bad_options_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => PollingPlan.Create([Hr("a", 0), Hr("a", 1)]));
        Assert.Throws<ArgumentOutOfRangeException>(() => PollingPlan.Create([Hr("a", 0)], new PollingPlanOptions { MaxRegistersPerRequest = 126 }));
    }

    [Fact]
    public void Group_decodes_back_into_point_values()
    {
        var plan = PollingPlan.Create([Hr("a", 10, ModbusDataType.Int16), Hr("b", 11, ModbusDataType.Float32) with { ByteOrder = ModbusByteOrder.CDAB }, Hr("c", 14)]);
        PollGroup g = Assert.Single(plan.Groups);
        var values = new ModbusValue[3];
        g.Decode([0xFFFF, 0x5000, 0x449A, 0, 7], values);
        Assert.Equal(-1, values[0].AsLong());
        Assert.Equal(1234.5, values[1].AsDouble());
        Assert.Equal(7, values[2].AsLong());
    }
}
