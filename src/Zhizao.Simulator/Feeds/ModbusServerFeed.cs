using System.Net;
using Zhizao.Core;
using Zhizao.Modbus;
using Zhizao.Modbus.Server;

namespace Zhizao.Simulator;

/// <summary>Settings of <see cref="ModbusServerFeed"/>.</summary>
public sealed class ModbusServerFeedOptions
{
    public IPAddress Address { get; set; } = IPAddress.Loopback;

    /// <summary>0 picks a free port (read <see cref="ModbusServerFeed.Port"/> after start).</summary>
    public int Port { get; set; }

    /// <summary>Unit id of the first machine; the next machines count up from it (at most 247).</summary>
    public byte FirstUnitId { get; set; } = 1;
}

/// <summary>One register point of the map: machine, tag, and the Modbus point (named {machine}/{tag}; unit id, input-register table, address, type).</summary>
public sealed record ModbusFeedPoint(string MachineId, string Tag, ModbusPoint Point)
{
    public string SeriesKey => $"{MachineId}/{Tag}";
}

/// <summary>
/// The assigned machines as a Modbus TCP server of our own (<see cref="ModbusTcpServer"/>). Register map: one unit id
/// per machine (<see cref="ModbusServerFeedOptions.FirstUnitId"/> + its position among the assigned machines, in the
/// order given); tag number k of the machine (its tag order) sits at register address 2k in BOTH the input registers
/// (FC 4) and the holding registers (FC 3), big-endian (ABCD): Float64 tags as Float32 (2 registers), <c>state</c>
/// as UInt16 (register 2k; 2k+1 stays 0), other Int64 tags (cumulative counters) as UInt32 saturating at 0 and
/// 4,294,967,295. <see cref="Map"/> and <see cref="Points"/> give the map as <see cref="ModbusPoint"/>s.
/// </summary>
public sealed class ModbusServerFeed : IPlantFeed
{
    private readonly Dictionary<string, (ModbusUnit Unit, ModbusPoint Input, ModbusPoint Holding)> _bySeries = new(StringComparer.Ordinal);
    private readonly List<ModbusFeedPoint> _map = [];
    private readonly Dictionary<string, byte> _units = new(StringComparer.Ordinal);
    private readonly Action<string> _log;
    private long _unknown;
    private long _failed;
    private int _started;

    public ModbusServerFeed(VirtualFactory factory, IEnumerable<string> machineIds, ModbusServerFeedOptions? options = null, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(factory);
        ArgumentNullException.ThrowIfNull(machineIds);
        var o = options ?? new ModbusServerFeedOptions();
        _log = log ?? (_ => { });
        Server = new ModbusTcpServer(new ModbusTcpServerOptions { Address = o.Address, Port = o.Port, Log = _log });
        int unitId = o.FirstUnitId;
        foreach (string id in machineIds.Distinct(StringComparer.Ordinal))
        {
            Machine machine = factory.GetMachine(id);
            if (unitId is < 1 or > 247)
                throw new ArgumentOutOfRangeException(nameof(machineIds), $"machine '{id}' would get unit id {unitId}, outside 1..247: assign fewer machines or lower FirstUnitId");
            var unit = Server.AddUnit(new ModbusUnit((byte)unitId, coils: 0, discreteInputs: 0, holdingRegisters: 2 * machine.Tags.Count, inputRegisters: 2 * machine.Tags.Count));
            _units[machine.Id] = (byte)unitId;
            for (int k = 0; k < machine.Tags.Count; k++)
            {
                SimTag tag = machine.Tags[k];
                var type = tag.Kind == ValueKind.Int64 ? tag.Name == "state" ? ModbusDataType.UInt16 : ModbusDataType.UInt32 : ModbusDataType.Float32;
                var input = new ModbusPoint(tag.Name, ModbusTable.InputRegister, (ushort)(2 * k), type) { UnitId = (byte)unitId };
                var holding = new ModbusPoint(tag.Name, ModbusTable.HoldingRegister, (ushort)(2 * k), type) { UnitId = (byte)unitId };
                _bySeries[$"{machine.Id}/{tag.Name}"] = (unit, input, holding);
                _map.Add(new ModbusFeedPoint(machine.Id, tag.Name, new ModbusPoint($"{machine.Id}/{tag.Name}", ModbusTable.InputRegister, input.Address, type) { UnitId = (byte)unitId }));
            }
            unitId++;
        }
    }

    public string Name => "modbus";

    public ModbusTcpServer Server { get; }

    /// <summary>The bound port once started.</summary>
    public int Port => Server.Port;

    public IPEndPoint Endpoint => Server.Endpoint;

    /// <summary>Every point (input-register table, named {machine}/{tag} so one polling plan can hold them all), machine by machine in tag order.</summary>
    public IReadOnlyList<ModbusFeedPoint> Map => _map;

    /// <summary>Unit id of each assigned machine.</summary>
    public IReadOnlyDictionary<string, byte> UnitIds => _units;

    /// <summary>Samples whose series this feed does not serve.</summary>
    public long UnknownSamples => Interlocked.Read(ref _unknown);

    /// <summary>Values that could not be stored (logged).</summary>
    public long FailedValues => Interlocked.Read(ref _failed);

    /// <summary>The points of one machine in <paramref name="table"/> (input or holding registers), named by tag, with its unit id.</summary>
    public IReadOnlyList<ModbusPoint> Points(string machineId, ModbusTable table = ModbusTable.InputRegister)
    {
        if (!_units.ContainsKey(machineId))
            throw new KeyNotFoundException($"machine '{machineId}' is not served by this Modbus feed");
        if (table is not (ModbusTable.InputRegister or ModbusTable.HoldingRegister))
            throw new ArgumentException($"the map has registers only, not {table}", nameof(table));
        return [.. _map.Where(p => p.MachineId == machineId).Select(p => table == ModbusTable.InputRegister ? _bySeries[p.SeriesKey].Input : _bySeries[p.SeriesKey].Holding)];
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _started, 1) == 0)
        {
            Server.Start();
            _log($"Modbus feed: {_units.Count} machines (unit ids {string.Join(", ", _units.Values)}) at {Endpoint}");
        }
        return Task.CompletedTask;
    }

    public void OnStep(long timestampNs, IReadOnlyList<Sample> samples)
    {
        foreach (Sample s in samples)
        {
            if (!_bySeries.TryGetValue(s.SeriesKey, out var entry))
            {
                Interlocked.Increment(ref _unknown);
                continue;
            }
            ModbusValue value = entry.Input.Type switch
            {
                ModbusDataType.Float32 => ModbusValue.FromDouble(s.Value.AsDouble),
                ModbusDataType.UInt16 => ModbusValue.FromLong(Math.Clamp(s.Value.AsInt64, 0, ushort.MaxValue)),
                _ => ModbusValue.FromLong(Math.Clamp(s.Value.AsInt64, 0, uint.MaxValue)),
            };
            try
            {
                entry.Unit.Write(entry.Input, value);
                entry.Unit.Write(entry.Holding, value);
            }
            catch (ArgumentException e)
            {
                if (Interlocked.Increment(ref _failed) <= 10)
                    _log($"Modbus feed: {s.SeriesKey} = {s.Value} not stored: {e.Message}");
            }
        }
    }

    public ValueTask DisposeAsync() => Server.DisposeAsync();
}
