using Zhizao.Core;
using Zhizao.Simulator.Models;

namespace Zhizao.Simulator;

/// <summary>
/// The equipment types the simulator knows. Every type has <c>state</c> (Int64: 0 down, 1 idle, 2 running — see
/// <see cref="MachineState"/>), <c>power_kw</c> and cumulative <c>energy_kwh</c>; producing types also have cumulative
/// <c>part_count_good</c> and <c>part_count_scrap</c>.
/// </summary>
public static class EquipmentCatalog
{
    private static readonly (EquipmentType Type, SimTag[] Tags)[] Entries =
    [
        (CncMachine.Definition, CncMachine.TagList),
        (InjectionMouldingMachine.Definition, InjectionMouldingMachine.TagList),
        (AirCompressor.Definition, AirCompressor.TagList),
        (Pump.Definition, Pump.TagList),
        (Oven.Definition, Oven.TagList),
        (Conveyor.Definition, Conveyor.TagList),
        (MotorDrive.Definition, MotorDrive.TagList),
        (PowerMeter.Definition, PowerMeter.TagList),
    ];

    /// <summary>All eight types: cnc, injection-moulding, air-compressor, pump, oven, conveyor, motor-drive, power-meter.</summary>
    public static IReadOnlyList<EquipmentType> Types { get; } = [.. Entries.Select(e => e.Type)];

    /// <summary>The simulated tags of a type, with their resolutions, in emission order.</summary>
    public static IReadOnlyList<SimTag> TagsOf(string typeId)
    {
        foreach ((EquipmentType type, SimTag[] tags) in Entries)
        {
            if (type.Id == typeId)
            {
                return tags;
            }
        }

        throw new NotFoundException($"Equipment type '{typeId}' is not simulated.");
    }

    /// <summary>The sensor resolution of a tag, e.g. 0.1 for a temperature reported in tenths of a degree.</summary>
    public static double Resolution(string typeId, string tagName)
    {
        foreach (SimTag tag in TagsOf(typeId))
        {
            if (tag.Name == tagName)
            {
                return tag.Resolution;
            }
        }

        throw new NotFoundException($"Equipment type '{typeId}' has no tag '{tagName}'.");
    }
}
