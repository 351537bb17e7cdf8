using System.Globalization;
using Zhizao.Connectors.Modbus;
using Zhizao.Connectors.OpcUa;
using Zhizao.Core;
using Zhizao.Modbus;
using Zhizao.OpcUa;
using Zhizao.OpcUa.Client;

namespace Zhizao.Connectors;

/// <summary>Where to browse: a server (or a stored connector's server and credentials) and the node whose children to list.</summary>
public sealed record OpcUaBrowseRequest
{
    /// <summary>Use the endpoint, security and credentials of this stored connector (the fields below override).</summary>
    public string? Connector { get; init; }
    public string? EndpointUrl { get; init; }
    public OpcUaSecurity? Security { get; init; }
    public string? UserName { get; init; }
    public string? Password { get; init; }
    public bool? AutoAcceptServerCertificate { get; init; }

    /// <summary>The node whose children are listed; the Objects folder (i=85) when absent.</summary>
    public string? NodeId { get; init; }
}

/// <summary>A child of a browsed node. Variables carry their data type and current value.</summary>
public sealed record OpcUaBrowseNode(string NodeId, string BrowseName, string DisplayName, string NodeClass, string? DataType, string? Value, string? Status, bool MayHaveChildren);

/// <summary>Read once from a Modbus server: a raw range (<see cref="Table"/>, <see cref="Address"/>, <see cref="Count"/>) and/or typed points.</summary>
public sealed record ModbusReadRequest
{
    public required string Host { get; init; }
    public int Port { get; init; } = 502;
    public int UnitId { get; init; } = 1;
    public double TimeoutMs { get; init; } = 1000;
    public ModbusTable? Table { get; init; }
    public int Address { get; init; }
    public int Count { get; init; }
    public IReadOnlyList<ModbusReadPoint> Points { get; init; } = [];
}

public sealed record ModbusReadPoint
{
    public ModbusTable Table { get; init; } = ModbusTable.HoldingRegister;
    public int Address { get; init; }
    public ModbusDataType Type { get; init; } = ModbusDataType.UInt16;
    public ModbusByteOrder ByteOrder { get; init; } = ModbusByteOrder.ABCD;
    public double Scale { get; init; } = 1;
    public double Offset { get; init; }
    public int Length { get; init; }
    public int Bit { get; init; }
}

/// <summary>Raw registers (or bits as 0/1) of the range, and per point its value or its error.</summary>
public sealed record ModbusReadResult(IReadOnlyList<int>? Raw, IReadOnlyList<ModbusPointResult> Points);

public sealed record ModbusPointResult(int Index, string? Value, string? Error);

/// <summary>One-off operations the console and CLI use to build a mapping: browse an OPC UA server, read Modbus registers.</summary>
public static class ConnectorTools
{
    public const int MaxBrowseChildren = 2000;

    public static async Task<IReadOnlyList<OpcUaBrowseNode>> BrowseAsync(OpcUaBrowseRequest request, ConnectorService service, CancellationToken ct)
    {
        var stored = request.Connector is { } name
            ? service.GetStored(name)?.OpcUa ?? throw new NotFoundException($"OPC UA connector '{name}' does not exist")
            : null;
        var errors = new List<ConnectorError>();
        string? url = request.EndpointUrl ?? stored?.EndpointUrl;
        if (string.IsNullOrWhiteSpace(url) || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme != "opc.tcp")
        {
            errors.Add(new ConnectorError("endpointUrl", $"'{url}' is not an opc.tcp://host:port/path URL"));
        }

        var node = request.NodeId is null ? ObjectIds.ObjectsFolder : ConnectorValidator.TryParseNodeId(request.NodeId, "nodeId", errors);
        if (errors.Count > 0)
        {
            throw new InvalidInputException(string.Join("; ", errors));
        }

        string? password = request.Password is null or ConnectorService.PasswordSet ? stored?.Password : request.Password;
        var options = OpcUaConnector.ClientOptions(url!, request.Security ?? stored?.Security ?? OpcUaSecurity.None, request.UserName ?? stored?.UserName,
            password, request.AutoAcceptServerCertificate ?? stored?.AutoAcceptServerCertificate ?? false, service.PkiDirectory);
        await using var client = new OpcUaClient(options with { RequestTimeout = TimeSpan.FromSeconds(10), ConnectTimeout = TimeSpan.FromSeconds(5) });
        try
        {
            await client.ConnectAsync(ct);
            var refs = await client.BrowseAllAsync(node!, ct: ct);
            var children = refs.Take(MaxBrowseChildren).ToList();
            var variables = children.Select((r, i) => (r, i)).Where(x => x.r.NodeClass == NodeClass.Variable).ToList();
            var reads = new List<ReadValueId>();
            foreach (var (r, _) in variables)
            {
                var id = r.NodeId.ToNodeId();
                reads.Add(new ReadValueId(id, Attributes.Value));
                reads.Add(new ReadValueId(id, Attributes.DataType));
            }

            var values = reads.Count == 0 ? [] : await client.ReadAsync(reads, ct);
            var result = new OpcUaBrowseNode[children.Count];
            for (int i = 0; i < children.Count; i++)
            {
                var r = children[i];
                result[i] = new OpcUaBrowseNode(r.NodeId.ToNodeId().ToString(), r.BrowseName.ToString(), r.DisplayName.Text ?? r.BrowseName.Name ?? "",
                    r.NodeClass.ToString(), null, null, null, r.NodeClass is NodeClass.Object or NodeClass.View or NodeClass.Variable);
            }

            for (int k = 0; k < variables.Count; k++)
            {
                int i = variables[k].i;
                var value = values[2 * k];
                var type = values[2 * k + 1];
                result[i] = result[i] with
                {
                    Value = value.Status.IsBad ? null : Format(value.Value),
                    Status = value.Status.IsGood ? null : value.Status.ToString(),
                    DataType = type.Value.Value is NodeId t ? DataTypeName(t) : null,
                };
            }

            return result;
        }
        catch (OpcUaServiceException e) when (e.Status.Kind == Zhizao.OpcUa.StatusCodes.BadNodeIdUnknown.Kind || e.Status.Kind == Zhizao.OpcUa.StatusCodes.BadNodeIdInvalid.Kind)
        {
            throw new NotFoundException($"node {request.NodeId} is not in the address space of {url}: {e.Message}");
        }
        catch (OpcUaException e)
        {
            throw new TransientException($"OPC UA server {url}: {e.Message}", e);
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException or TimeoutException)
        {
            throw new TransientException($"OPC UA server {url}: {e.Message}", e);
        }
    }

    public static async Task<ModbusReadResult> ReadModbusAsync(ModbusReadRequest request, CancellationToken ct)
    {
        var errors = new List<ConnectorError>();
        if (string.IsNullOrWhiteSpace(request.Host))
        {
            errors.Add(new ConnectorError("host", "is required"));
        }

        if (request.Port is < 1 or > 65535)
        {
            errors.Add(new ConnectorError("port", $"{request.Port} is outside 1..65535"));
        }

        if (request.UnitId is < 0 or > 255)
        {
            errors.Add(new ConnectorError("unitId", $"{request.UnitId} is outside 0..255"));
        }

        if (!double.IsFinite(request.TimeoutMs) || request.TimeoutMs is < 10 or > 60_000)
        {
            errors.Add(new ConnectorError("timeoutMs", $"{request.TimeoutMs} is outside 10..60000"));
        }

        bool bits = request.Table is ModbusTable.Coil or ModbusTable.DiscreteInput;
        int max = bits ? ModbusLimits.MaxReadBits : ModbusLimits.MaxReadRegisters;
        if (request.Table is not null && (request.Count < 1 || request.Count > max || request.Address < 0 || request.Address + request.Count > 65536))
        {
            errors.Add(new ConnectorError("count", $"read {request.Count} from address {request.Address}: count must be 1..{max} and the range inside 0..65535"));
        }

        if (request.Table is null && request.Points.Count == 0)
        {
            errors.Add(new ConnectorError("table", "give a range (table, address, count) or points"));
        }

        var points = new List<ModbusPoint>();
        for (int i = 0; i < request.Points.Count; i++)
        {
            var p = request.Points[i];
            var mapping = new ModbusMapping { Table = p.Table, Address = p.Address, Type = p.Type, ByteOrder = p.ByteOrder, Scale = p.Scale, Offset = p.Offset, Length = p.Length, Bit = p.Bit, Equipment = "", Tag = "" };
            if (ConnectorValidator.ToPoint(mapping, i, (byte)Math.Clamp(request.UnitId, 0, 255), $"points[{i}]", errors) is { } point)
            {
                points.Add(point);
            }
        }

        if (errors.Count > 0)
        {
            throw new InvalidInputException(string.Join("; ", errors));
        }

        await using var client = new ModbusTcpClient(ModbusConnector.ClientOptions(new ModbusConnectorConfig { Host = request.Host, Port = request.Port, UnitId = request.UnitId, TimeoutMs = request.TimeoutMs, Retries = 1 }));
        try
        {
            IReadOnlyList<int>? raw = null;
            if (request.Table is { } table)
            {
                var fn = table switch
                {
                    ModbusTable.Coil => ModbusFunction.ReadCoils,
                    ModbusTable.DiscreteInput => ModbusFunction.ReadDiscreteInputs,
                    ModbusTable.InputRegister => ModbusFunction.ReadInputRegisters,
                    _ => ModbusFunction.ReadHoldingRegisters,
                };
                raw = bits
                    ? [.. (await client.ReadBitsAsync((byte)request.UnitId, fn, (ushort)request.Address, request.Count, ct)).Select(b => b ? 1 : 0)]
                    : [.. (await client.ReadRegistersAsync((byte)request.UnitId, fn, (ushort)request.Address, request.Count, ct)).Select(r => (int)r)];
            }

            var results = new List<ModbusPointResult>();
            if (points.Count > 0)
            {
                foreach (var r in (await PollingPlan.Create(points).ReadAsync(client, ct)).OrderBy(r => int.Parse(r.Point.Name, CultureInfo.InvariantCulture)))
                {
                    results.Add(new ModbusPointResult(int.Parse(r.Point.Name, CultureInfo.InvariantCulture), r.IsGood ? r.Value.AsString() : null, r.Error?.Message));
                }
            }

            return new ModbusReadResult(raw, results);
        }
        catch (ModbusException e)
        {
            throw new InvalidInputException(e.Message, "table/address");
        }
        catch (Exception e) when (e is ModbusTransportException or ModbusProtocolException)
        {
            throw new TransientException(e.Message, e);
        }
    }

    private static string? Format(Variant v) => v.Value switch
    {
        null => null,
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        DateTime t => t.ToString("O", CultureInfo.InvariantCulture),
        _ => v.ToString(),
    };

    /// <summary>The name of a built-in data type (i=1..25), else the node id.</summary>
    private static string DataTypeName(NodeId id) =>
        id.NamespaceIndex == 0 && id.IdType == IdType.Numeric && id.NumericId is >= 1 and <= 25 && Enum.IsDefined((BuiltInType)id.NumericId)
            ? ((BuiltInType)id.NumericId).ToString()
            : id.ToString();
}
