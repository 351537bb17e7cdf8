using Zhizao.Connectors;
using Zhizao.Simulator;
using Zhizao.Simulator.Feeds;

namespace Zhizao.Demo;

/// <summary>
/// The part of the demo plant that speaks industrial fieldbus protocols, as installed machines do: the virtual factory
/// serves its CNC machining centres as an OPC UA server and its feeder meters and ovens as a Modbus TCP server (one unit
/// id per machine), both on free loopback ports, and the node reads them through ordinary connectors — the same
/// configuration a user would save on the Connectors page (<c>demo-opcua</c>, <c>demo-modbus-{machine}</c>).
/// </summary>
internal static class DemoFieldbus
{
    public const string OpcUaConnector = "demo-opcua";
    public const string ModbusConnectorPrefix = "demo-modbus-";

    /// <summary>Machine tools speak OPC UA.</summary>
    public static bool IsOpcUa(string machineId) => machineId.StartsWith("l1-cnc-", StringComparison.Ordinal);

    /// <summary>Meters and furnace controllers speak Modbus.</summary>
    public static bool IsModbus(string machineId) => machineId.Contains("-pm-", StringComparison.Ordinal) || machineId.Contains("-oven-", StringComparison.Ordinal);

    public static ConnectorConfig OpcUaConfig(OpcUaServerFeed feed, double intervalMs) => new()
    {
        Name = OpcUaConnector,
        Kind = ConnectorKind.OpcUa,
        Description = "Virtual factory: CNC machining centres over OPC UA",
        OpcUa = new OpcUaConnectorConfig
        {
            EndpointUrl = feed.EndpointUrl,
            PublishingIntervalMs = intervalMs,
            EverySample = true, // the demo's rules and models expect a sample every step, as over MQTT
            Mappings = [.. feed.Nodes.Select(n => new OpcUaMapping { NodeId = n.NodeId, Equipment = n.MachineId, Tag = n.Tag, SamplingIntervalMs = intervalMs })],
        },
    };

    public static IEnumerable<ConnectorConfig> ModbusConfigs(ModbusServerFeed feed, double intervalMs) =>
        feed.Map.GroupBy(p => p.MachineId).Select(g => new ConnectorConfig
        {
            Name = ModbusConnectorPrefix + g.Key,
            Kind = ConnectorKind.Modbus,
            Description = $"Virtual factory: {g.Key} over Modbus TCP (unit {feed.UnitIds[g.Key]})",
            Modbus = new ModbusConnectorConfig
            {
                Host = feed.Endpoint.Address.ToString(),
                Port = feed.Port,
                UnitId = feed.UnitIds[g.Key],
                PollIntervalMs = intervalMs,
                Mappings = [.. g.Select(p => new ModbusMapping
                {
                    Table = p.Point.Table,
                    Address = p.Point.Address,
                    Type = p.Point.Type,
                    ByteOrder = p.Point.ByteOrder,
                    Scale = p.Point.Scale,
                    Offset = p.Point.Offset,
                    Equipment = p.MachineId,
                    Tag = p.Tag,
                })],
            },
        });
}
