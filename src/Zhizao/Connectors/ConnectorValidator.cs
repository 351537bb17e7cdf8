using System.Globalization;
using Zhizao.Core;
using Zhizao.Modbus;
using Zhizao.Storage.Metadata;

namespace Zhizao.Connectors;

/// <summary>A problem with one field of a connector configuration (the field as a JSON path, e.g. <c>modbus.mappings[2].address</c>).</summary>
public sealed record ConnectorError(string Field, string Reason)
{
    public override string ToString() => $"{Field}: {Reason}";
}

/// <summary>Checks a connector configuration against its own rules and the node's asset model.</summary>
public static class ConnectorValidator
{
    public const int MaxNameLength = 100;
    public const int MaxMappings = 20_000;

    public static IReadOnlyList<ConnectorError> Validate(ConnectorConfig? c, AssetSnapshot assets)
    {
        var errors = new List<ConnectorError>();
        if (c is null)
        {
            errors.Add(new ConnectorError("body", "a connector configuration is required"));
            return errors;
        }

        if (string.IsNullOrEmpty(c.Name) || c.Name.Length > MaxNameLength || !SeriesKey.IsValidId(c.Name))
        {
            errors.Add(new ConnectorError("name", $"'{c.Name}' is invalid: use 1-{MaxNameLength} letters, digits, '-', '_' or '.'"));
        }

        if (!double.IsFinite(c.AlarmAfterSeconds) || c.AlarmAfterSeconds < 0 || c.AlarmAfterSeconds > 86_400)
        {
            errors.Add(new ConnectorError("alarmAfterSeconds", $"{c.AlarmAfterSeconds} is outside 0..86400"));
        }

        switch (c.Kind)
        {
            case ConnectorKind.OpcUa:
                if (c.OpcUa is null)
                {
                    errors.Add(new ConnectorError("opcUa", "is required for an OpcUa connector"));
                }
                else
                {
                    ValidateOpcUa(c.OpcUa, assets, errors);
                }

                if (c.Modbus is not null)
                {
                    errors.Add(new ConnectorError("modbus", "must be absent on an OpcUa connector"));
                }

                break;
            case ConnectorKind.Modbus:
                if (c.Modbus is null)
                {
                    errors.Add(new ConnectorError("modbus", "is required for a Modbus connector"));
                }
                else
                {
                    ValidateModbus(c.Modbus, assets, errors);
                }

                if (c.OpcUa is not null)
                {
                    errors.Add(new ConnectorError("opcUa", "must be absent on a Modbus connector"));
                }

                break;
            default:
                errors.Add(new ConnectorError("kind", $"{(int)c.Kind} is not OpcUa or Modbus"));
                break;
        }

        return errors;
    }

    public static void ThrowIfInvalid(ConnectorConfig? c, AssetSnapshot assets)
    {
        var errors = Validate(c, assets);
        if (errors.Count > 0)
        {
            throw new InvalidInputException(string.Join("; ", errors), errors.Count == 1 ? null : $"{errors.Count} problems");
        }
    }

    /// <summary>Parses a node id, turning the parser's complaint into a field error.</summary>
    public static global::Zhizao.OpcUa.NodeId? TryParseNodeId(string? text, string field, List<ConnectorError> errors)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            errors.Add(new ConnectorError(field, "is required (e.g. ns=2;s=Line1.Speed or i=2258)"));
            return null;
        }

        try
        {
            return global::Zhizao.OpcUa.NodeId.Parse(text);
        }
        catch (FormatException e)
        {
            errors.Add(new ConnectorError(field, e.Message));
            return null;
        }
    }

    private static void ValidateOpcUa(OpcUaConnectorConfig o, AssetSnapshot assets, List<ConnectorError> errors)
    {
        ValidateEndpoint(o.EndpointUrl, "opcUa.endpointUrl", errors);
        if (!Enum.IsDefined(o.Security))
        {
            errors.Add(new ConnectorError("opcUa.security", "must be None, Sign or SignAndEncrypt"));
        }

        if (o.Password is not null && string.IsNullOrEmpty(o.UserName))
        {
            errors.Add(new ConnectorError("opcUa.userName", "is required when a password is given"));
        }

        CheckInterval(o.PublishingIntervalMs, "opcUa.publishingIntervalMs", 10, 3_600_000, errors);
        if (o.Mappings is null || o.Mappings.Count > MaxMappings)
        {
            errors.Add(new ConnectorError("opcUa.mappings", $"must be a list of at most {MaxMappings} mappings"));
            return;
        }

        var targets = new Dictionary<string, int>(StringComparer.Ordinal);
        var nodes = new Dictionary<global::Zhizao.OpcUa.NodeId, int>();
        for (int i = 0; i < o.Mappings.Count; i++)
        {
            var m = o.Mappings[i];
            string at = $"opcUa.mappings[{i}]";
            if (m is null)
            {
                errors.Add(new ConnectorError(at, "is null"));
                continue;
            }

            if (TryParseNodeId(m.NodeId, at + ".nodeId", errors) is { } id && !nodes.TryAdd(id, i))
            {
                errors.Add(new ConnectorError(at + ".nodeId", $"{m.NodeId} is already mapped by opcUa.mappings[{nodes[id]}]"));
            }

            CheckInterval(m.SamplingIntervalMs, at + ".samplingIntervalMs", 0, 3_600_000, errors);
            if (m.Deadband is { } d && (!double.IsFinite(d) || d < 0))
            {
                errors.Add(new ConnectorError(at + ".deadband", $"{d} must be a finite number >= 0"));
            }

            CheckTarget(m.Equipment, m.Tag, at, assets, targets, i, "opcUa", errors, null);
        }
    }

    private static void ValidateModbus(ModbusConnectorConfig m, AssetSnapshot assets, List<ConnectorError> errors)
    {
        if (string.IsNullOrWhiteSpace(m.Host) || m.Host.Length > 253 || m.Host.Any(char.IsWhiteSpace))
        {
            errors.Add(new ConnectorError("modbus.host", $"'{m.Host}' is not a host name or IP address"));
        }

        if (m.Port is < 1 or > 65535)
        {
            errors.Add(new ConnectorError("modbus.port", $"{m.Port} is outside 1..65535"));
        }

        if (m.UnitId is < 0 or > 255)
        {
            errors.Add(new ConnectorError("modbus.unitId", $"{m.UnitId} is outside 0..255"));
        }

        CheckInterval(m.PollIntervalMs, "modbus.pollIntervalMs", 10, 3_600_000, errors);
        CheckInterval(m.TimeoutMs, "modbus.timeoutMs", 10, 60_000, errors);
        if (m.Retries is < 0 or > 10)
        {
            errors.Add(new ConnectorError("modbus.retries", $"{m.Retries} is outside 0..10"));
        }

        if (m.Mappings is null || m.Mappings.Count > MaxMappings)
        {
            errors.Add(new ConnectorError("modbus.mappings", $"must be a list of at most {MaxMappings} mappings"));
            return;
        }

        var targets = new Dictionary<string, int>(StringComparer.Ordinal);
        var points = new List<(int Index, ModbusPoint Point)>();
        for (int i = 0; i < m.Mappings.Count; i++)
        {
            var r = m.Mappings[i];
            string at = $"modbus.mappings[{i}]";
            if (r is null)
            {
                errors.Add(new ConnectorError(at, "is null"));
                continue;
            }

            if (ToPoint(r, i, (byte)Math.Clamp(m.UnitId, 0, 255), at, errors) is { } p)
            {
                foreach (var (j, q) in points)
                {
                    if (Overlaps(p, q))
                    {
                        errors.Add(new ConnectorError(at + ".address", $"{r.Table} {r.Address}..{r.Address + p.Quantity - 1} overlaps modbus.mappings[{j}] ({q.Table} {q.Address}..{q.Address + q.Quantity - 1})"));
                        break;
                    }
                }

                points.Add((i, p));
            }

            CheckTarget(r.Equipment, r.Tag, at, assets, targets, i, "modbus", errors, r.Type == ModbusDataType.String ? ValueKind.String : null);
        }
    }

    /// <summary>The library point of a mapping (its name is the mapping's index), or null with the reasons added.</summary>
    internal static ModbusPoint? ToPoint(ModbusMapping r, int index, byte unitId, string at, List<ConnectorError> errors)
    {
        if (!Enum.IsDefined(r.Table))
        {
            errors.Add(new ConnectorError(at + ".table", "must be Coil, DiscreteInput, HoldingRegister or InputRegister"));
            return null;
        }

        if (r.Address is < 0 or > 65535)
        {
            errors.Add(new ConnectorError(at + ".address", $"{r.Address} is outside 0..65535"));
            return null;
        }

        var p = new ModbusPoint(index.ToString(CultureInfo.InvariantCulture), r.Table, (ushort)r.Address, r.Type)
        {
            UnitId = unitId,
            ByteOrder = r.ByteOrder,
            Scale = r.Scale,
            Offset = r.Offset,
            Length = r.Length,
            Bit = r.Bit,
        };
        try
        {
            p.Validate();
            return p;
        }
        catch (ArgumentException e)
        {
            // the library names the point by its name ("point '3'"): say which mapping instead
            errors.Add(new ConnectorError(at, e.Message.Replace($"point '{p.Name}': ", "", StringComparison.Ordinal)));
            return null;
        }
    }

    private static bool Overlaps(ModbusPoint a, ModbusPoint b)
    {
        if (a.Table != b.Table || a.UnitId != b.UnitId)
        {
            return false;
        }

        if (a.Type == ModbusDataType.Bit && b.Type == ModbusDataType.Bit)
        {
            return a.Address == b.Address && a.Bit == b.Bit; // several bits of one register are fine
        }

        return a.Address < b.Address + b.Quantity && b.Address < a.Address + a.Quantity;
    }

    private static void CheckTarget(string equipment, string tag, string at, AssetSnapshot assets, Dictionary<string, int> targets, int index,
        string block, List<ConnectorError> errors, ValueKind? mustBe)
    {
        if (string.IsNullOrEmpty(equipment) || !assets.AssetsById.TryGetValue(equipment, out var asset))
        {
            errors.Add(new ConnectorError(at + ".equipment", $"'{equipment}' is not equipment of the asset model"));
            return;
        }

        if (asset.Level != AssetLevel.Equipment || asset.TypeId is null || !assets.TryGetEquipmentTags(equipment, out var tags))
        {
            errors.Add(new ConnectorError(at + ".equipment", $"'{equipment}' is a {asset.Level} without an equipment type; map to equipment that has one"));
            return;
        }

        if (string.IsNullOrEmpty(tag) || !tags.TryGetValue(tag, out var def))
        {
            errors.Add(new ConnectorError(at + ".tag", $"'{tag}' is not a tag of equipment '{equipment}' (type '{asset.TypeId}' has {string.Join(", ", tags.Keys.Order(StringComparer.Ordinal).Take(8))})"));
            return;
        }

        if (mustBe is ValueKind.String && def.DataType != ValueKind.String)
        {
            errors.Add(new ConnectorError(at + ".tag", $"'{equipment}/{tag}' is {def.DataType}; a String register point needs a String tag"));
        }

        string key = SeriesKey.ForTag(equipment, tag);
        if (!targets.TryAdd(key, index))
        {
            errors.Add(new ConnectorError(at + ".tag", $"{key} is already the target of {block}.mappings[{targets[key]}]"));
        }
    }

    private static void ValidateEndpoint(string? url, string field, List<ConnectorError> errors)
    {
        if (string.IsNullOrWhiteSpace(url) || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme != "opc.tcp" || string.IsNullOrEmpty(uri.Host))
        {
            errors.Add(new ConnectorError(field, $"'{url}' is not an opc.tcp://host:port/path URL"));
        }
    }

    private static void CheckInterval(double value, string field, double min, double max, List<ConnectorError> errors)
    {
        if (!double.IsFinite(value) || value < min || value > max)
        {
            errors.Add(new ConnectorError(field, $"{value.ToString(CultureInfo.InvariantCulture)} ms is outside {min.ToString(CultureInfo.InvariantCulture)}..{max.ToString(CultureInfo.InvariantCulture)}"));
        }
    }
}
