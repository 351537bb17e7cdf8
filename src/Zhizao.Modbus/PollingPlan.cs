namespace Zhizao.Modbus;

public sealed class PollingPlanOptions
{
    /// <summary>Unrequested registers (or bits) allowed between two points for them to share one request.</summary>
    public int MaxGap { get; init; } = 8;
    public int MaxRegistersPerRequest { get; init; } = ModbusLimits.MaxReadRegisters;
    public int MaxBitsPerRequest { get; init; } = ModbusLimits.MaxReadBits;
}

/// <summary>One read request covering several points of one unit and table.</summary>
public sealed class PollGroup
{
    internal PollGroup(byte unitId, ModbusTable table, ushort address, int count, ModbusPoint[] points)
    {
        UnitId = unitId;
        Table = table;
        Address = address;
        Count = count;
        Points = points;
    }

    public byte UnitId { get; }
    public ModbusTable Table { get; }
    public ushort Address { get; }
    public int Count { get; }
    public IReadOnlyList<ModbusPoint> Points { get; }

    public ModbusFunction Function => Table switch
    {
        ModbusTable.Coil => ModbusFunction.ReadCoils,
        ModbusTable.DiscreteInput => ModbusFunction.ReadDiscreteInputs,
        ModbusTable.HoldingRegister => ModbusFunction.ReadHoldingRegisters,
        _ => ModbusFunction.ReadInputRegisters,
    };

    /// <summary>Decodes the group's registers (starting at <see cref="Address"/>) into one value per point, in <see cref="Points"/> order.</summary>
    public void Decode(ReadOnlySpan<ushort> registers, Span<ModbusValue> values)
    {
        for (int i = 0; i < Points.Count; i++)
        {
            ModbusPoint p = Points[i];
            values[i] = ModbusDataCodec.Decode(p, registers.Slice(p.Address - Address, p.Quantity));
        }
    }

    public void Decode(ReadOnlySpan<bool> bits, Span<ModbusValue> values)
    {
        for (int i = 0; i < Points.Count; i++)
            values[i] = ModbusValue.FromBool(bits[Points[i].Address - Address]);
    }
}

/// <summary>A point's outcome in one poll: a value, or the error of the request that covered it.</summary>
public readonly record struct PointReading(ModbusPoint Point, ModbusValue Value, Exception? Error)
{
    public bool IsGood => Error is null;
}

/// <summary>
/// Merges point definitions into as few read requests as the limits allow: per unit and table, sorted by address,
/// a point joins the current group when the gap to it is at most <see cref="PollingPlanOptions.MaxGap"/> and the
/// group stays within the per-request quantity limit.
/// </summary>
public sealed class PollingPlan
{
    private readonly PollGroup[] _groups;

    private PollingPlan(PollGroup[] groups, int pointCount)
    {
        _groups = groups;
        PointCount = pointCount;
    }

    public IReadOnlyList<PollGroup> Groups => _groups;
    public int PointCount { get; }

    public static PollingPlan Create(IEnumerable<ModbusPoint> points, PollingPlanOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(points);
        options ??= new PollingPlanOptions();
        if (options.MaxGap < 0)
            throw new ArgumentOutOfRangeException(nameof(options), "MaxGap must not be negative");
        if (options.MaxRegistersPerRequest is < 1 or > ModbusLimits.MaxReadRegisters)
            throw new ArgumentOutOfRangeException(nameof(options), $"MaxRegistersPerRequest must be 1..{ModbusLimits.MaxReadRegisters}");
        if (options.MaxBitsPerRequest is < 1 or > ModbusLimits.MaxReadBits)
            throw new ArgumentOutOfRangeException(nameof(options), $"MaxBitsPerRequest must be 1..{ModbusLimits.MaxReadBits}");

        var all = points.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (ModbusPoint p in all)
        {
            p.Validate();
            if (!names.Add(p.Name))
                throw new ArgumentException($"point name '{p.Name}' is defined twice", nameof(points));
        }

        var groups = new List<PollGroup>();
        foreach (var bucket in all.GroupBy(p => (p.UnitId, p.Table)).OrderBy(g => g.Key.UnitId).ThenBy(g => g.Key.Table))
        {
            int max = bucket.Key.Table is ModbusTable.Coil or ModbusTable.DiscreteInput ? options.MaxBitsPerRequest : options.MaxRegistersPerRequest;
            var sorted = bucket.OrderBy(p => p.Address).ThenBy(p => p.Quantity).ToList();
            var current = new List<ModbusPoint>();
            int start = 0, end = 0;
            foreach (ModbusPoint p in sorted)
            {
                if (p.Quantity > max)
                    throw new ArgumentException($"point '{p.Name}' spans {p.Quantity}, more than {max} per request");
                int pEnd = p.Address + p.Quantity;
                if (current.Count > 0 && p.Address - end <= options.MaxGap && Math.Max(end, pEnd) - start <= max)
                {
                    current.Add(p);
                    end = Math.Max(end, pEnd);
                    continue;
                }
                if (current.Count > 0)
                    groups.Add(new PollGroup(bucket.Key.UnitId, bucket.Key.Table, (ushort)start, end - start, [.. current]));
                current.Clear();
                current.Add(p);
                start = p.Address;
                end = pEnd;
            }
            if (current.Count > 0)
                groups.Add(new PollGroup(bucket.Key.UnitId, bucket.Key.Table, (ushort)start, end - start, [.. current]));
        }
        return new PollingPlan([.. groups], all.Count);
    }

    /// <summary>
    /// Reads every group (concurrently up to the client's MaxOutstandingRequests) and decodes each point. A failed
    /// group marks its points with the error; the other groups still deliver values.
    /// </summary>
    public async Task<PointReading[]> ReadAsync(ModbusTcpClient client, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        var results = new PointReading[PointCount];
        var tasks = new Task[_groups.Length];
        int offset = 0;
        for (int g = 0; g < _groups.Length; g++)
        {
            tasks[g] = ReadGroupAsync(client, _groups[g], results, offset, cancellationToken);
            offset += _groups[g].Points.Count;
        }
        await Task.WhenAll(tasks);
        return results;
    }

    /// <summary>Reads one group; returns its values in <see cref="PollGroup.Points"/> order (throws on failure).</summary>
    public static async Task<ModbusValue[]> ReadGroupAsync(ModbusTcpClient client, PollGroup group, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(group);
        var values = new ModbusValue[group.Points.Count];
        if (group.Table is ModbusTable.Coil or ModbusTable.DiscreteInput)
        {
            bool[] bits = await client.ReadBitsAsync(group.UnitId, group.Function, group.Address, group.Count, cancellationToken);
            group.Decode(bits, values);
        }
        else
        {
            ushort[] registers = await client.ReadRegistersAsync(group.UnitId, group.Function, group.Address, group.Count, cancellationToken);
            group.Decode(registers, values);
        }
        return values;
    }

    private static async Task ReadGroupAsync(ModbusTcpClient client, PollGroup group, PointReading[] results, int offset, CancellationToken cancellationToken)
    {
        try
        {
            ModbusValue[] values = await ReadGroupAsync(client, group, cancellationToken);
            for (int i = 0; i < values.Length; i++)
                results[offset + i] = new PointReading(group.Points[i], values[i], null);
        }
        catch (Exception ex) when (ex is ModbusException or ModbusTransportException or ModbusProtocolException)
        {
            for (int i = 0; i < group.Points.Count; i++)
                results[offset + i] = new PointReading(group.Points[i], default, ex);
        }
    }
}
