using System.Net;
using Zhizao.Core;
using Zhizao.OpcUa;
using Zhizao.OpcUa.Server;

namespace Zhizao.Simulator;

/// <summary>Settings of <see cref="OpcUaServerFeed"/>.</summary>
public sealed class OpcUaServerFeedOptions
{
    public IPAddress Address { get; set; } = IPAddress.Loopback;

    /// <summary>0 picks a free port (read <see cref="OpcUaServerFeed.Port"/> after start).</summary>
    public int Port { get; set; }

    /// <summary>Past values kept per variable for HistoryRead (the node's back-fill after an outage).</summary>
    public int HistoryCapacity { get; set; } = 3600;

    /// <summary>Namespace 1 of the server.</summary>
    public string NamespaceUri { get; set; } = "urn:zhizao:simulator";
}

/// <summary>One variable the feed serves: machine, tag, node id (namespace 1) and OPC UA data type.</summary>
public sealed record OpcUaFeedNode(string MachineId, string Tag, string NodeId, string NamespaceUri, BuiltInType DataType)
{
    public string SeriesKey => $"{MachineId}/{Tag}";
}

/// <summary>
/// The assigned machines as an OPC UA server of our own (<see cref="OpcUaServer"/>, SecurityPolicy None, anonymous):
/// Objects → Plant → {machine} → {tag}, node ids <c>ns=1;s=Plant/{machine}/{tag}</c>; Float64 tags are Double,
/// Int64 tags Int64 (Bool → Boolean, String → String). Each step sets every variable with the step's timestamp as
/// source timestamp and keeps <see cref="OpcUaServerFeedOptions.HistoryCapacity"/> values for HistoryRead.
/// </summary>
public sealed class OpcUaServerFeed : IPlantFeed
{
    private readonly OpcUaServerFeedOptions _options;
    private readonly Dictionary<string, UaVariable> _variables = new(StringComparer.Ordinal);
    private readonly List<OpcUaFeedNode> _nodes = [];
    private readonly Action<string> _log;
    private long _unknown;
    private int _started;

    public OpcUaServerFeed(VirtualFactory factory, IEnumerable<string> machineIds, OpcUaServerFeedOptions? options = null, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(factory);
        ArgumentNullException.ThrowIfNull(machineIds);
        _options = options ?? new OpcUaServerFeedOptions();
        _log = log ?? (_ => { });
        Server = new OpcUaServer(new OpcUaServerOptions
        {
            Address = _options.Address,
            Port = _options.Port,
            NamespaceUri = _options.NamespaceUri,
            ApplicationUri = "urn:zhizao:simulator:opcua",
            ApplicationName = "Zhizao virtual factory (OPC UA)",
            Log = _log,
        });
        var space = Server.AddressSpace;
        var plant = space.AddFolder(space.Objects, "Plant");
        foreach (string id in machineIds.Distinct(StringComparer.Ordinal))
        {
            Machine machine = factory.GetMachine(id);
            var node = space.AddObject(plant, machine.Id);
            foreach (SimTag tag in machine.Tags)
            {
                var type = tag.Kind switch
                {
                    ValueKind.Int64 => BuiltInType.Int64,
                    ValueKind.Bool => BuiltInType.Boolean,
                    ValueKind.String => BuiltInType.String,
                    _ => BuiltInType.Double,
                };
                var variable = space.AddVariable(node, tag.Name, type, _options.HistoryCapacity);
                _variables[$"{machine.Id}/{tag.Name}"] = variable;
                _nodes.Add(new OpcUaFeedNode(machine.Id, tag.Name, variable.NodeId.ToString(), _options.NamespaceUri, type));
            }
        }
    }

    public string Name => "opcua";

    /// <summary>The server itself (address space, counters).</summary>
    public OpcUaServer Server { get; }

    /// <summary>The bound port once started.</summary>
    public int Port => Server.Port;

    /// <summary>opc.tcp://127.0.0.1:{Port}/zhizao once started.</summary>
    public string EndpointUrl => Server.EndpointUrl;

    /// <summary>Every variable served, machine by machine in tag order: what a node's OPC UA connector maps.</summary>
    public IReadOnlyList<OpcUaFeedNode> Nodes => _nodes;

    /// <summary>Samples whose series this feed does not serve (a machine not assigned here).</summary>
    public long UnknownSamples => Interlocked.Read(ref _unknown);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _started, 1) == 0)
        {
            Server.Start();
            _log($"OPC UA feed: {_nodes.Count} variables of {_nodes.Select(n => n.MachineId).Distinct().Count()} machines at {EndpointUrl}");
        }
        return Task.CompletedTask;
    }

    public void OnStep(long timestampNs, IReadOnlyList<Sample> samples)
    {
        DateTime at = Time.ToDateTime(timestampNs).UtcDateTime;
        foreach (Sample s in samples)
        {
            if (!_variables.TryGetValue(s.SeriesKey, out var variable))
            {
                Interlocked.Increment(ref _unknown);
                continue;
            }
            TagValue v = s.Value;
            Variant value = variable.DataType switch
            {
                BuiltInType.Int64 => new Variant(v.AsInt64),
                BuiltInType.Boolean => new Variant(v.AsBool),
                BuiltInType.String => new Variant(v.AsString),
                _ => new Variant(v.AsDouble),
            };
            variable.Set(value, at);
        }
    }

    public ValueTask DisposeAsync() => Server.DisposeAsync();
}
