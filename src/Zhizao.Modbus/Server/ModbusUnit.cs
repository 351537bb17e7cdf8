namespace Zhizao.Modbus.Server;

/// <summary>
/// The four tables of one unit id: coils, discrete inputs, holding and input registers, each zero-based with its own
/// size. Thread-safe: a multi-register read never sees half of a write made through this class (one lock per unit).
/// </summary>
public sealed class ModbusUnit
{
    private readonly Lock _lock = new();
    private readonly bool[] _coils;
    private readonly bool[] _discreteInputs;
    private readonly ushort[] _holding;
    private readonly ushort[] _input;

    public ModbusUnit(byte unitId, int coils = 10_000, int discreteInputs = 10_000, int holdingRegisters = 10_000, int inputRegisters = 10_000)
    {
        CheckSize(coils, nameof(coils));
        CheckSize(discreteInputs, nameof(discreteInputs));
        CheckSize(holdingRegisters, nameof(holdingRegisters));
        CheckSize(inputRegisters, nameof(inputRegisters));
        UnitId = unitId;
        _coils = new bool[coils];
        _discreteInputs = new bool[discreteInputs];
        _holding = new ushort[holdingRegisters];
        _input = new ushort[inputRegisters];
    }

    public byte UnitId { get; }

    /// <summary>Entries in a table (addresses 0..Size-1).</summary>
    public int Size(ModbusTable table) => table switch
    {
        ModbusTable.Coil => _coils.Length,
        ModbusTable.DiscreteInput => _discreteInputs.Length,
        ModbusTable.HoldingRegister => _holding.Length,
        _ => _input.Length,
    };

    /// <summary>Raised (outside the lock) after a client wrote coils or holding registers: table, first address, count.</summary>
    public event Action<ModbusTable, ushort, int>? Written;

    public void SetRegisters(ModbusTable table, ushort address, ReadOnlySpan<ushort> values)
    {
        ushort[] target = Registers(table);
        CheckRange(table, address, values.Length, target.Length);
        lock (_lock)
            values.CopyTo(target.AsSpan(address));
    }

    public ushort[] GetRegisters(ModbusTable table, ushort address, int count)
    {
        ushort[] source = Registers(table);
        CheckRange(table, address, count, source.Length);
        lock (_lock)
            return source.AsSpan(address, count).ToArray();
    }

    public void SetBits(ModbusTable table, ushort address, ReadOnlySpan<bool> values)
    {
        bool[] target = Bits(table);
        CheckRange(table, address, values.Length, target.Length);
        lock (_lock)
            values.CopyTo(target.AsSpan(address));
    }

    public bool[] GetBits(ModbusTable table, ushort address, int count)
    {
        bool[] source = Bits(table);
        CheckRange(table, address, count, source.Length);
        lock (_lock)
            return source.AsSpan(address, count).ToArray();
    }

    /// <summary>Stores a point's value in its table with the point's type, byte order and scaling (<see cref="ModbusDataCodec"/>).</summary>
    public void Write(ModbusPoint point, ModbusValue value)
    {
        point.Validate();
        if (point.IsBitTable)
        {
            SetBits(point.Table, point.Address, [value.AsBool()]);
            return;
        }
        if (point.Type == ModbusDataType.Bit)
            throw new ArgumentException($"point '{point.Name}': a Bit point is written by read-modify-write of its register, not here");
        SetRegisters(point.Table, point.Address, ModbusDataCodec.Encode(point, value));
    }

    /// <summary>Reads a point back from the tables.</summary>
    public ModbusValue Read(ModbusPoint point)
    {
        point.Validate();
        if (point.IsBitTable)
            return ModbusValue.FromBool(GetBits(point.Table, point.Address, 1)[0]);
        return ModbusDataCodec.Decode(point, GetRegisters(point.Table, point.Address, point.Quantity));
    }

    /// <summary>Executes one request PDU; writes the response PDU (or an exception response) and returns its length.</summary>
    internal int Execute(ReadOnlySpan<byte> pdu, Span<byte> response)
    {
        (ModbusTable Table, ushort Address, int Count) written = default;
        int length;
        lock (_lock)
            length = ModbusServerCodec.Execute(pdu, response, _coils, _discreteInputs, _holding, _input, out written);
        if (written.Count > 0)
            Written?.Invoke(written.Table, written.Address, written.Count);
        return length;
    }

    private ushort[] Registers(ModbusTable table) => table switch
    {
        ModbusTable.HoldingRegister => _holding,
        ModbusTable.InputRegister => _input,
        _ => throw new ArgumentException($"{table} is a bit table, not registers", nameof(table)),
    };

    private bool[] Bits(ModbusTable table) => table switch
    {
        ModbusTable.Coil => _coils,
        ModbusTable.DiscreteInput => _discreteInputs,
        _ => throw new ArgumentException($"{table} is a register table, not bits", nameof(table)),
    };

    private static void CheckRange(ModbusTable table, ushort address, int count, int size)
    {
        if (count < 0 || address + count > size)
            throw new ArgumentOutOfRangeException(nameof(address), $"{table} {address}..{address + count - 1} runs past the unit's {size} entries");
    }

    private static void CheckSize(int size, string name)
    {
        if (size < 0 || size > ModbusLimits.AddressSpace)
            throw new ArgumentOutOfRangeException(name, $"table size {size} outside 0..{ModbusLimits.AddressSpace}");
    }
}
