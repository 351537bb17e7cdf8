using Zhizao.Core;

namespace Zhizao.Simulator;

/// <summary>
/// A simulated tag: its definition plus the sensor resolution values are quantised to. Resolutions are powers of ten
/// (<see cref="Decimals"/> digits after the point), and a quantised value is the double nearest to the decimal, as a
/// real sensor reporting fixed-point numbers would give.
/// </summary>
public sealed class SimTag
{
    internal SimTag(string name, ValueKind kind, string? unit, double low, double high, int decimals, string description)
    {
        Definition = new TagDefinition
        {
            Name = name,
            DataType = kind,
            Unit = unit,
            RangeLow = low,
            RangeHigh = high,
            Description = description,
        };
        Decimals = kind == ValueKind.Int64 ? 0 : decimals;
        Scale = Math.Pow(10, Decimals);
    }

    public TagDefinition Definition { get; }
    public string Name => Definition.Name;
    public ValueKind Kind => Definition.DataType;
    public double Low => Definition.RangeLow!.Value;
    public double High => Definition.RangeHigh!.Value;

    /// <summary>Digits after the decimal point the sensor reports.</summary>
    public int Decimals { get; }

    /// <summary>10^Decimals: a value v is quantised as Math.Round(v * Scale) / Scale.</summary>
    public double Scale { get; }

    /// <summary>The sensor resolution, e.g. 0.1 for a temperature in tenths of a degree.</summary>
    public double Resolution => 1.0 / Scale;

    /// <summary>Clamps to the range and rounds to the resolution; the result is the double nearest the decimal.</summary>
    public double Quantise(double value)
    {
        double v = Math.Clamp(value, Low, High);
        return (Math.Round(v * Scale) / Scale) + 0.0; // + 0.0 turns -0 into +0
    }

    internal static SimTag F(string name, string? unit, double low, double high, int decimals, string description) =>
        new(name, ValueKind.Float64, unit, low, high, decimals, description);

    internal static SimTag I(string name, string? unit, double low, double high, string description) =>
        new(name, ValueKind.Int64, unit, low, high, 0, description);

    internal static SimTag[] Common(bool producer, double maxPowerKw)
    {
        SimTag state = I("state", null, 0, 2, "Machine state: 0 = down, 1 = idle, 2 = running");
        SimTag power = F("power_kw", "kW", 0, maxPowerKw, 2, "Active electrical power");
        SimTag energy = F("energy_kwh", "kWh", 0, 1e9, 2, "Active energy, cumulative meter reading");
        return producer
            ?
            [
                state, power, energy,
                I("part_count_good", "parts", 0, long.MaxValue, "Good parts produced (cumulative)"),
                I("part_count_scrap", "parts", 0, long.MaxValue, "Scrapped parts (cumulative)"),
            ]
            : [state, power, energy];
    }

    internal static EquipmentType Build(string id, string name, string description, SimTag[] tags) => new()
    {
        Id = id,
        Name = name,
        Description = description,
        Tags = [.. tags.Select(t => t.Definition)],
    };
}
