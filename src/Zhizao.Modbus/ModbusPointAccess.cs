namespace Zhizao.Modbus;

/// <summary>Reads and writes single points with the right function code.</summary>
public static class ModbusPointAccess
{
    public static async Task<ModbusValue> ReadPointAsync(this ModbusTcpClient client, ModbusPoint point, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(point);
        point.Validate();
        var plan = PollingPlan.Create([point]);
        ModbusValue[] values = await PollingPlan.ReadGroupAsync(client, plan.Groups[0], cancellationToken);
        return values[0];
    }

    /// <summary>
    /// Coils: FC 5. One-register holding points: FC 6; wider ones: FC 16. Bit-in-register points are written by
    /// read-modify-write (FC 3 then FC 6), which is not atomic against other writers. Discrete inputs and input
    /// registers are read-only.
    /// </summary>
    public static async Task WritePointAsync(this ModbusTcpClient client, ModbusPoint point, ModbusValue value, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(point);
        point.Validate();
        switch (point.Table)
        {
            case ModbusTable.Coil:
                await client.WriteSingleCoilAsync(point.UnitId, point.Address, value.AsBool(), cancellationToken);
                return;
            case ModbusTable.HoldingRegister when point.Type == ModbusDataType.Bit:
                ushort[] current = await client.ReadRegistersAsync(point.UnitId, ModbusFunction.ReadHoldingRegisters, point.Address, 1, cancellationToken);
                ushort mask = (ushort)(1 << point.Bit);
                ushort next = value.AsBool() ? (ushort)(current[0] | mask) : (ushort)(current[0] & ~mask);
                await client.WriteSingleRegisterAsync(point.UnitId, point.Address, next, cancellationToken);
                return;
            case ModbusTable.HoldingRegister:
                ushort[] registers = ModbusDataCodec.Encode(point, value);
                if (registers.Length == 1)
                    await client.WriteSingleRegisterAsync(point.UnitId, point.Address, registers[0], cancellationToken);
                else
                    await client.WriteMultipleRegistersAsync(point.UnitId, point.Address, registers, cancellationToken);
                return;
            default:
                throw new ArgumentException($"point '{point.Name}' is in {point.Table}, which is read-only", nameof(point));
        }
    }
}
