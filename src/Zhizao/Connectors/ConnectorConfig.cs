using System.Text.Json.Serialization;
using Zhizao.Modbus;

namespace Zhizao.Connectors;

[JsonConverter(typeof(JsonStringEnumConverter<ConnectorKind>))]
public enum ConnectorKind
{
    OpcUa = 1,
    Modbus = 2,
}

/// <summary>OPC UA message security: None, or Basic256Sha256 with Sign or SignAndEncrypt.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<OpcUaSecurity>))]
public enum OpcUaSecurity
{
    None = 0,
    Sign = 1,
    SignAndEncrypt = 2,
}

/// <summary>
/// One connector of a node: where the equipment is and which of its values become which equipment tags. Exactly one
/// of <see cref="OpcUa"/> and <see cref="Modbus"/> is set, matching <see cref="Kind"/>. Stored as a metadata document
/// (kind "connector") and validated by <see cref="ConnectorValidator"/> before it is saved or run.
/// </summary>
public sealed record ConnectorConfig
{
    /// <summary>Slug (letters, digits, '-', '_', '.'; at most 100), unique on the node; its health is equipment <c>connector-{name}</c>.</summary>
    public required string Name { get; init; }
    public required ConnectorKind Kind { get; init; }
    public bool Enabled { get; init; } = true;

    /// <summary>Not connected (or faulted) this long → state Faulted and the alarm "connector down" is raised.</summary>
    public double AlarmAfterSeconds { get; init; } = 30;

    public string? Description { get; init; }
    public OpcUaConnectorConfig? OpcUa { get; init; }
    public ModbusConnectorConfig? Modbus { get; init; }
}

public sealed record OpcUaConnectorConfig
{
    /// <summary>opc.tcp://host:port/path</summary>
    public required string EndpointUrl { get; init; }
    public OpcUaSecurity Security { get; init; } = OpcUaSecurity.None;

    /// <summary>Anonymous when null.</summary>
    public string? UserName { get; init; }

    /// <summary>Never returned by the API (it answers "set"); "set" in a PUT keeps the stored password.</summary>
    public string? Password { get; init; }

    /// <summary>Accept a server certificate that is not in the trust list (pki/opcua/trusted) — for first set-up only.</summary>
    public bool AutoAcceptServerCertificate { get; init; }

    public double PublishingIntervalMs { get; init; } = 500;

    /// <summary>Read values missed during an outage back from the server's history (where it keeps one).</summary>
    public bool Backfill { get; init; } = true;

    /// <summary>Store every sample the server takes, also when the value repeats (OPC UA trigger
    /// StatusValueTimestamp), instead of changes only: rules on state durations, KPIs and health models then see regular
    /// series. Off by default (report by exception, the OPC UA norm).</summary>
    public bool EverySample { get; init; }

    public IReadOnlyList<OpcUaMapping> Mappings { get; init; } = [];

    /// <summary>Without the password (a record's generated ToString would print it).</summary>
    public override string ToString() =>
        $"OpcUaConnectorConfig {{ EndpointUrl = {EndpointUrl}, Security = {Security}, UserName = {UserName}, Password = {(Password is null ? "none" : "set")}, Mappings = {Mappings.Count} }}";
}

/// <summary>An OPC UA variable → an equipment tag.</summary>
public sealed record OpcUaMapping
{
    /// <summary>Text form: <c>ns=2;s=Line1.Speed</c>, <c>i=2258</c>, <c>ns=1;g=...</c>, <c>ns=1;b=...</c>.</summary>
    public required string NodeId { get; init; }
    public required string Equipment { get; init; }
    public required string Tag { get; init; }
    public double SamplingIntervalMs { get; init; } = 250;

    /// <summary>Absolute deadband (server-side DataChangeFilter); null sends every change.</summary>
    public double? Deadband { get; init; }
}

public sealed record ModbusConnectorConfig
{
    public required string Host { get; init; }
    public int Port { get; init; } = 502;
    public int UnitId { get; init; } = 1;
    public double PollIntervalMs { get; init; } = 1000;
    public double TimeoutMs { get; init; } = 1000;
    public int Retries { get; init; } = 2;
    public IReadOnlyList<ModbusMapping> Mappings { get; init; } = [];
}

/// <summary>A register point → an equipment tag. Stored value = raw × <see cref="Scale"/> + <see cref="Offset"/>.</summary>
public sealed record ModbusMapping
{
    [JsonConverter(typeof(JsonStringEnumConverter<ModbusTable>))]
    public ModbusTable Table { get; init; } = ModbusTable.HoldingRegister;

    /// <summary>Zero-based protocol address (register 40001 is address 0 of the holding registers).</summary>
    public int Address { get; init; }

    [JsonConverter(typeof(JsonStringEnumConverter<ModbusDataType>))]
    public ModbusDataType Type { get; init; } = ModbusDataType.UInt16;

    [JsonConverter(typeof(JsonStringEnumConverter<ModbusByteOrder>))]
    public ModbusByteOrder ByteOrder { get; init; } = ModbusByteOrder.ABCD;

    public double Scale { get; init; } = 1;
    public double Offset { get; init; }

    /// <summary>Bytes of a String point.</summary>
    public int Length { get; init; }

    /// <summary>Bit (0 = least significant) of a Bit point.</summary>
    public int Bit { get; init; }

    public required string Equipment { get; init; }
    public required string Tag { get; init; }
}
