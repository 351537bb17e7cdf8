using System.Text;
using Zhizao.Core;
using Zhizao.Mqtt.Broker;
using Zhizao.Mqtt.Sparkplug;
using Zhizao.Pipeline;
using Zhizao.Storage.Metadata;

namespace Zhizao.Connectors.Mqtt;

/// <summary>Settings of the node's Sparkplug B host application.</summary>
public sealed class SparkplugOptions
{
    /// <summary>Host application id: the node publishes <c>spBv1.0/STATE/{HostId}</c>.</summary>
    public string HostId { get; set; } = "zhizao";

    /// <summary>Least time between two rebirth requests to one edge node.</summary>
    public TimeSpan RebirthInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Most edge nodes tracked (each becomes assets); births and data of further ones are refused and counted.</summary>
    public int MaxEdgeNodes { get; set; } = 10_000;

    /// <summary>Most devices per edge node; further DBIRTHs are refused and counted.</summary>
    public int MaxDevicesPerNode { get; set; } = 10_000;
}

/// <summary>An edge node or device as the host application sees it (for <c>GET /api/mqtt/sparkplug</c>).</summary>
public sealed record SparkplugEndpointInfo(string Group, string EdgeNode, string? Device, string EquipmentId, bool Online,
    int Metrics, DateTimeOffset? LastBirth, DateTimeOffset? LastDeath);

/// <summary>Counters of the Sparkplug B host application.</summary>
public sealed record SparkplugStats(long Messages, long Points, long PointsRejected, long BadPayloads, long SeqGaps,
    long RebirthRequests, long UnknownAliases, long DroppedBeforeBirth, long StaleDeaths, long OverLimit);

/// <summary>
/// The node's Sparkplug B host application (Sparkplug 3.0, <c>spBv1.0</c>): births register equipment in the asset model,
/// data messages become stored points, deaths mark equipment offline. Called by <see cref="MqttIngestBridge"/> on the
/// broker's sink task, one batch at a time (never concurrently), so the state needs no locks for writers; readers
/// (the API) take a snapshot under <see cref="_gate"/>.
/// </summary>
/// <remarks>
/// <para>Asset model: an NBIRTH creates <c>Enterprise spb → Area spb.{group} → Cell spb.{group}.{node}</c> and an
/// equipment <c>{node}</c>; a DBIRTH an equipment <c>{device}</c> in the node's cell (ids sanitised to letters, digits,
/// '-', '_', '.'); an edge node whose NBIRTH has no metrics but bdSeq and Node Control/* gets no equipment. Each such equipment gets the type <c>spb.{equipment}</c> whose tags are the birth's metrics (metric
/// name with '/' → '.' and other characters → '_'; data type from the metric's: integers and DateTime (Unix ms) →
/// Int64, Float/Double → Float64, Boolean → Bool, String/Text/UUID → String) plus <c>spb.online</c> (Bool). Equipment
/// that already exists with a type of its own (e.g. registered by the demo or an import) is left as it is: the birth's
/// metrics bind to its tags by name and a metric its type lacks is rejected like any unknown tag.</para>
/// <para>Deaths: NDEATH (when its bdSeq matches the NBIRTH's) marks the node and all its devices offline, DDEATH the
/// device; where the type has <c>spb.online</c>, false is stored at the death's time (true at each birth). The last
/// stored values of an offline equipment are stale until the next birth; <c>GET /api/mqtt/sparkplug</c> shows the
/// state.</para>
/// <para>Sequence: every NBIRTH/DBIRTH/NDATA/DDATA/DDEATH carries seq 0-255, one more (mod 256) than the node's
/// previous message. A gap is counted and logged, the message is still used, and a rebirth is requested (NCMD
/// <c>Node Control/Rebirth</c> = true). Data from a node whose NBIRTH was not seen, and a metric alias the birth did
/// not define, also request a rebirth; such data is dropped and counted.</para>
/// </remarks>
public sealed partial class SparkplugIngest(IngestService ingest, MetadataStore meta, SparkplugOptions options, ILogger<SparkplugIngest> log)
{
    public const string OnlineTag = "spb.online";
    public const string RebirthMetric = "Node Control/Rebirth";

    private readonly Dictionary<(string Group, string Node), NodeState> _nodes = [];
    private readonly Lock _gate = new();
    private readonly List<Sample> _samples = [];
    private long _messages, _points, _rejected, _badPayloads, _seqGaps, _rebirths, _unknownAliases, _droppedBeforeBirth, _staleDeaths, _overLimit;

    public SparkplugOptions Options => options;

    /// <summary>Publishes a command (topic, payload); set by the hosted service once its client is connected.</summary>
    public Func<string, byte[], Task>? CommandPublisher { get; set; }

    public SparkplugStats Stats => new(Interlocked.Read(ref _messages), Interlocked.Read(ref _points), Interlocked.Read(ref _rejected),
        Interlocked.Read(ref _badPayloads), Interlocked.Read(ref _seqGaps), Interlocked.Read(ref _rebirths),
        Interlocked.Read(ref _unknownAliases), Interlocked.Read(ref _droppedBeforeBirth), Interlocked.Read(ref _staleDeaths),
        Interlocked.Read(ref _overLimit));

    public IReadOnlyList<SparkplugEndpointInfo> Endpoints()
    {
        lock (_gate)
        {
            var list = new List<SparkplugEndpointInfo>();
            foreach (var n in _nodes.Values.OrderBy(n => n.Group, StringComparer.Ordinal).ThenBy(n => n.Node, StringComparer.Ordinal))
            {
                list.Add(new(n.Group, n.Node, null, n.Equipment.EquipmentId, n.Online, n.Equipment.ByName.Count, n.LastBirth, n.LastDeath));
                foreach (var d in n.Devices.Values.OrderBy(d => d.Name, StringComparer.Ordinal))
                {
                    list.Add(new(n.Group, n.Node, d.Name, d.EquipmentId, d.Online, d.ByName.Count, d.LastBirth, d.LastDeath));
                }
            }

            return list;
        }
    }

    public static bool IsSparkplugTopic(string topic) => topic.StartsWith("spBv1.0/", StringComparison.Ordinal);

    /// <summary>Handles the Sparkplug messages of one sink batch and stores their points in one write.</summary>
    public async ValueTask OnMessagesAsync(IReadOnlyList<MqttApplicationMessage> batch, CancellationToken ct)
    {
        _samples.Clear();
        foreach (var m in batch)
        {
            if (IsSparkplugTopic(m.Topic))
            {
                Handle(m);
            }
        }

        if (_samples.Count == 0)
        {
            return;
        }

        var outcome = await ingest.WriteSamplesAsync(_samples, ct);
        Interlocked.Add(ref _points, outcome.Accepted - outcome.Stored.Rejected);
        if (outcome.RejectedTotal > 0)
        {
            Interlocked.Add(ref _rejected, outcome.RejectedTotal);
            LogRejected(log, outcome.RejectedTotal, outcome.FirstError ?? outcome.Stored.FirstRejectReason ?? "refused by storage");
        }
    }

    private void Handle(MqttApplicationMessage m)
    {
        Interlocked.Increment(ref _messages);
        if (!SparkplugTopic.TryParse(m.Topic, out var topic, out string? error))
        {
            Interlocked.Increment(ref _badPayloads);
            LogBadTopic(log, error!);
            return;
        }

        if (topic.Type is SparkplugMessageType.STATE or SparkplugMessageType.NCMD or SparkplugMessageType.DCMD)
        {
            return; // host applications' and commands: not data
        }

        SparkplugPayload payload;
        try
        {
            payload = SparkplugCodec.Decode(m.Payload.Span);
        }
        catch (SparkplugFormatException e)
        {
            Interlocked.Increment(ref _badPayloads);
            LogBadPayload(log, m.Topic, e.Message);
            return;
        }

        long defaultNs = payload.Timestamp is ulong pts && pts < long.MaxValue / 1_000_000 ? (long)pts * 1_000_000 : m.ReceivedAtUnixMs * 1_000_000;
        var key = (topic.GroupId, topic.EdgeNodeId);
        _nodes.TryGetValue(key, out var node);

        if (topic.Type == SparkplugMessageType.NDEATH)
        {
            NodeDeath(topic, node, payload, defaultNs);
            return;
        }

        if (node is null && _nodes.Count >= options.MaxEdgeNodes)
        {
            if (Interlocked.Increment(ref _overLimit) % 1000 == 1)
            {
                LogOverLimit(log, m.Topic, $"more than {options.MaxEdgeNodes} edge nodes (limit MaxEdgeNodes)");
            }

            return;
        }

        if (topic.Type == SparkplugMessageType.NBIRTH)
        {
            NodeBirth(topic, key, node, payload, defaultNs);
            return;
        }

        if (node is null || !node.Online)
        {
            Interlocked.Increment(ref _droppedBeforeBirth);
            RequestRebirth(topic.GroupId, topic.EdgeNodeId, node, $"{topic.Type} before NBIRTH");
            return;
        }

        CheckSeq(topic, node, payload);
        switch (topic.Type)
        {
            case SparkplugMessageType.NDATA:
                AddData(topic, node, node.Equipment, payload, defaultNs);
                break;
            case SparkplugMessageType.DBIRTH:
                DeviceBirth(topic, node, payload, defaultNs);
                break;
            case SparkplugMessageType.DDATA:
                if (!node.Devices.TryGetValue(topic.DeviceId!, out var device) || !device.Online)
                {
                    Interlocked.Increment(ref _droppedBeforeBirth);
                    RequestRebirth(topic.GroupId, topic.EdgeNodeId, node, $"DDATA of device '{topic.DeviceId}' before its DBIRTH");
                    return;
                }

                AddData(topic, node, device, payload, defaultNs);
                break;
            case SparkplugMessageType.DDEATH:
                if (node.Devices.TryGetValue(topic.DeviceId!, out var dead))
                {
                    MarkOffline(dead, defaultNs);
                }

                LogDeath(log, topic.ToString());
                break;
        }
    }

    private void NodeBirth(SparkplugTopic topic, (string, string) key, NodeState? old, SparkplugPayload payload, long ns)
    {
        var node = new NodeState(topic.GroupId, topic.EdgeNodeId, new EquipmentState(topic.EdgeNodeId, Sanitize(topic.EdgeNodeId, 128)))
        {
            LastRebirthRequestMs = old?.LastRebirthRequestMs ?? 0,
            LastDeath = old?.LastDeath,
        };
        foreach (var metric in payload.Metrics)
        {
            if (metric.Name == "bdSeq" && metric.ValueCase is SparkplugValueCase.Long or SparkplugValueCase.Int)
            {
                node.BdSeq = metric.IntegerBits;
            }
        }

        foreach (var d in old?.Devices.Values ?? Enumerable.Empty<EquipmentState>())
        {
            MarkOffline(d, ns); // a new session: devices are back with their DBIRTH
        }

        node.ExpectedSeq = payload.Seq is ulong s ? (int)((s + 1) & 255) : -1;
        if (!Register(node, node.Equipment, payload, ns))
        {
            return;
        }

        lock (_gate)
        {
            _nodes[key] = node;
        }

        LogBirth(log, topic.ToString(), node.Equipment.EquipmentId, node.Equipment.ByName.Count);
    }

    private void DeviceBirth(SparkplugTopic topic, NodeState node, SparkplugPayload payload, long ns)
    {
        if (!node.Devices.ContainsKey(topic.DeviceId!) && node.Devices.Count >= options.MaxDevicesPerNode)
        {
            Interlocked.Increment(ref _overLimit);
            LogOverLimit(log, topic.ToString(), $"more than {options.MaxDevicesPerNode} devices on the edge node (limit MaxDevicesPerNode)");
            return;
        }

        var device = new EquipmentState(topic.DeviceId!, Sanitize(topic.DeviceId!, 128));
        if (!Register(node, device, payload, ns))
        {
            return;
        }

        // aliases of the device's previous birth no longer apply
        foreach (var alias in node.Aliases.Where(a => a.Value.Owner.Name == device.Name && a.Value.Owner != node.Equipment).Select(a => a.Key).ToList())
        {
            node.Aliases.Remove(alias);
        }

        foreach (var (alias, binding) in device.PendingAliases)
        {
            node.Aliases[alias] = binding;
        }

        device.PendingAliases.Clear();
        lock (_gate)
        {
            node.Devices[device.Name] = device;
        }

        LogBirth(log, topic.ToString(), device.EquipmentId, device.ByName.Count);
    }

    /// <summary>Binds the birth's metrics, registers the equipment, stores the birth's values and online = true.</summary>
    private bool Register(NodeState node, EquipmentState eq, SparkplugPayload payload, long ns)
    {
        var tags = new List<TagDefinition>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var metric in payload.Metrics)
        {
            if (metric.Name is null || metric.DataType is not SparkplugDataType dt || IsControl(metric.Name))
            {
                continue;
            }

            if (!TryKind(dt, out ValueKind kind))
            {
                LogUnsupportedType(log, eq.Name, metric.Name, dt.ToString());
                continue;
            }

            string tag = Sanitize(metric.Name.Replace('/', '.'), 128);
            var binding = new MetricBinding(eq, SeriesKey.ForTag(eq.EquipmentId, tag), dt);
            eq.ByName[metric.Name] = binding;
            if (metric.Alias is ulong alias)
            {
                if (eq == node.Equipment)
                {
                    node.Aliases[alias] = binding;
                }
                else
                {
                    eq.PendingAliases.Add((alias, binding));
                }
            }

            if (seen.Add(tag))
            {
                tags.Add(new TagDefinition { Name = tag, DataType = kind, Description = $"Sparkplug metric '{metric.Name}' ({dt})" });
            }
        }

        try
        {
            // an edge node that reports nothing of its own (only bdSeq and Node Control) is not equipment
            if (tags.Count > 0 || eq != node.Equipment)
            {
                EnsureAssets(node, eq, tags);
            }
        }
        catch (Exception e) when (e is InvalidInputException or ConflictException or NotFoundException)
        {
            Interlocked.Increment(ref _badPayloads);
            LogAssetModel(log, eq.Name, e.Message);
            return false;
        }

        eq.Online = true;
        eq.LastBirth = Time.ToDateTime(ns);
        eq.HasOnlineTag = meta.Snapshot.TryGetEquipmentTags(eq.EquipmentId, out var defined) && defined.ContainsKey(OnlineTag);
        if (eq.HasOnlineTag)
        {
            _samples.Add(new Sample(SeriesKey.ForTag(eq.EquipmentId, OnlineTag), ns, TagValue.FromBool(true)));
        }

        foreach (var metric in payload.Metrics)
        {
            if (metric.Name is not null && eq.ByName.TryGetValue(metric.Name, out var b))
            {
                AddValue(b, metric, ns, eq.Name);
            }
        }

        return true;
    }

    private void EnsureAssets(NodeState node, EquipmentState eq, List<TagDefinition> tags)
    {
        var snapshot = meta.Snapshot;
        string typeId = Sanitize("spb." + eq.EquipmentId, 128);
        if (snapshot.AssetsById.TryGetValue(eq.EquipmentId, out var existing) && existing.TypeId != typeId)
        {
            return; // equipment registered by someone else: bind to its type as it is
        }

        tags.Add(new TagDefinition { Name = OnlineTag, DataType = ValueKind.Bool, Description = "Sparkplug: true from birth until death" });
        if (existing is not null && snapshot.TypesById.TryGetValue(typeId, out var oldType) && SameTags(oldType.Tags, tags))
        {
            return;
        }

        string area = Sanitize("spb." + node.Group, 128), cell = Sanitize("spb." + node.Group + "." + node.Node, 128);
        var doc = new AssetModelDocument
        {
            Types = [new EquipmentType { Id = typeId, Name = $"Sparkplug {eq.Name}", Description = "from a Sparkplug B birth certificate", Tags = tags }],
        };
        if (!snapshot.AssetsById.ContainsKey("spb"))
        {
            doc.Assets.Add(new Asset { Id = "spb", Name = "Sparkplug B", Level = AssetLevel.Enterprise });
        }

        if (!snapshot.AssetsById.ContainsKey(area))
        {
            doc.Assets.Add(new Asset { Id = area, Name = node.Group, Level = AssetLevel.Area, ParentId = "spb" });
        }

        if (!snapshot.AssetsById.ContainsKey(cell))
        {
            doc.Assets.Add(new Asset { Id = cell, Name = node.Node, Level = AssetLevel.Cell, ParentId = area });
        }

        doc.Assets.Add(new Asset { Id = eq.EquipmentId, Name = eq.Name, Level = AssetLevel.Equipment, ParentId = existing?.ParentId ?? cell, TypeId = typeId });
        meta.Import(doc);
    }

    private static bool SameTags(IReadOnlyList<TagDefinition> a, List<TagDefinition> b) =>
        a.Count == b.Count && a.Zip(b).All(p => p.First.Name == p.Second.Name && p.First.DataType == p.Second.DataType);

    private void AddData(SparkplugTopic topic, NodeState node, EquipmentState eq, SparkplugPayload payload, long ns)
    {
        bool unknown = false;
        foreach (var metric in payload.Metrics)
        {
            MetricBinding? b = null;
            if (metric.Alias is ulong alias)
            {
                node.Aliases.TryGetValue(alias, out b);
            }
            else if (metric.Name is not null)
            {
                eq.ByName.TryGetValue(metric.Name, out b);
            }

            if (b is null || b.Owner != eq)
            {
                if (metric.Name is not null && IsControl(metric.Name))
                {
                    continue;
                }

                Interlocked.Increment(ref _unknownAliases);
                LogUnknownMetric(log, topic.ToString(), metric.Name ?? $"alias {metric.Alias}");
                unknown = true;
                continue;
            }

            AddValue(b, metric, ns, eq.Name);
        }

        if (unknown)
        {
            RequestRebirth(topic.GroupId, topic.EdgeNodeId, node, "unknown metric or alias");
        }
    }

    private void AddValue(MetricBinding b, SparkplugMetric metric, long defaultNs, string equipment)
    {
        if (metric.IsNull)
        {
            return;
        }

        long ns = defaultNs;
        if (metric.Timestamp is ulong ms)
        {
            if (ms >= long.MaxValue / 1_000_000)
            {
                Reject(equipment, metric, $"timestamp {ms} ms is out of range");
                return;
            }

            ns = (long)ms * 1_000_000;
        }

        if (!TryValue(b.Type, metric, out TagValue value, out string? error))
        {
            Reject(equipment, metric, error!);
            return;
        }

        _samples.Add(new Sample(b.SeriesKey, ns, value));
    }

    private void Reject(string equipment, SparkplugMetric metric, string reason)
    {
        Interlocked.Increment(ref _rejected);
        LogBadMetric(log, equipment, metric.Name ?? $"alias {metric.Alias}", reason);
    }

    /// <summary>The stored value of a metric of declared type <paramref name="type"/>, or why it cannot be stored.</summary>
    public static bool TryValue(SparkplugDataType type, SparkplugMetric m, out TagValue value, out string? error)
    {
        value = default;
        error = null;
        bool isInt = m.ValueCase is SparkplugValueCase.Int or SparkplugValueCase.Long;
        ulong bits = m.IntegerBits;
        switch (type)
        {
            case SparkplugDataType.Int8 when isInt: value = TagValue.FromInt64(unchecked((sbyte)bits)); return true;
            case SparkplugDataType.Int16 when isInt: value = TagValue.FromInt64(unchecked((short)bits)); return true;
            case SparkplugDataType.Int32 when isInt: value = TagValue.FromInt64(unchecked((int)bits)); return true;
            case SparkplugDataType.UInt8 when isInt: value = TagValue.FromInt64((byte)bits); return true;
            case SparkplugDataType.UInt16 when isInt: value = TagValue.FromInt64((ushort)bits); return true;
            case SparkplugDataType.UInt32 when isInt: value = TagValue.FromInt64((uint)bits); return true;
            case SparkplugDataType.Int64 or SparkplugDataType.DateTime when isInt: value = TagValue.FromInt64(unchecked((long)bits)); return true;
            case SparkplugDataType.UInt64 when isInt:
                if (bits > long.MaxValue)
                {
                    error = $"UInt64 value {bits} is above the Int64 range of storage";
                    return false;
                }

                value = TagValue.FromInt64((long)bits);
                return true;
            case SparkplugDataType.Float or SparkplugDataType.Double when m.ValueCase is SparkplugValueCase.Float or SparkplugValueCase.Double:
                double d = m.ValueCase == SparkplugValueCase.Float ? m.FloatValue : m.DoubleValue;
                if (!double.IsFinite(d))
                {
                    error = $"{type} value {d} is not finite";
                    return false;
                }

                value = TagValue.FromDouble(d);
                return true;
            case SparkplugDataType.Boolean when m.ValueCase == SparkplugValueCase.Boolean: value = TagValue.FromBool(bits != 0); return true;
            case SparkplugDataType.String or SparkplugDataType.Text or SparkplugDataType.UUID when m.ValueCase == SparkplugValueCase.String:
                value = TagValue.FromString(m.StringValue!);
                return true;
            default:
                error = $"declared {type} but the value is {(m.ValueCase == SparkplugValueCase.None ? "missing" : m.ValueCase.ToString())}";
                return false;
        }
    }

    private static bool TryKind(SparkplugDataType dt, out ValueKind kind)
    {
        kind = dt switch
        {
            SparkplugDataType.Int8 or SparkplugDataType.Int16 or SparkplugDataType.Int32 or SparkplugDataType.Int64 or SparkplugDataType.UInt8
                or SparkplugDataType.UInt16 or SparkplugDataType.UInt32 or SparkplugDataType.UInt64 or SparkplugDataType.DateTime => ValueKind.Int64,
            SparkplugDataType.Float or SparkplugDataType.Double => ValueKind.Float64,
            SparkplugDataType.Boolean => ValueKind.Bool,
            SparkplugDataType.String or SparkplugDataType.Text or SparkplugDataType.UUID => ValueKind.String,
            _ => 0,
        };
        return kind != 0;
    }

    private static bool IsControl(string name) =>
        name == "bdSeq" || name.StartsWith("Node Control/", StringComparison.Ordinal) || name.StartsWith("Device Control/", StringComparison.Ordinal);

    private void CheckSeq(SparkplugTopic topic, NodeState node, SparkplugPayload payload)
    {
        if (payload.Seq is not ulong seq || seq > 255)
        {
            Interlocked.Increment(ref _seqGaps);
            LogSeqGap(log, topic.ToString(), node.ExpectedSeq, payload.Seq is ulong s ? (long)Math.Min(s, long.MaxValue) : -1);
            RequestRebirth(topic.GroupId, topic.EdgeNodeId, node, "missing or invalid seq");
            return;
        }

        if (node.ExpectedSeq >= 0 && (int)seq != node.ExpectedSeq)
        {
            Interlocked.Increment(ref _seqGaps);
            LogSeqGap(log, topic.ToString(), node.ExpectedSeq, (long)seq);
            RequestRebirth(topic.GroupId, topic.EdgeNodeId, node, $"seq {seq} where {node.ExpectedSeq} was expected");
        }

        node.ExpectedSeq = (int)((seq + 1) & 255);
    }

    private void NodeDeath(SparkplugTopic topic, NodeState? node, SparkplugPayload payload, long ns)
    {
        if (node is null)
        {
            return;
        }

        var bd = payload.Metrics.FirstOrDefault(x => x.Name == "bdSeq");
        if (bd is not null && node.BdSeq is ulong birthBd && bd.IntegerBits != birthBd)
        {
            Interlocked.Increment(ref _staleDeaths);
            LogStaleDeath(log, topic.ToString(), bd.IntegerBits, birthBd);
            return;
        }

        MarkOffline(node.Equipment, ns);
        foreach (var d in node.Devices.Values)
        {
            MarkOffline(d, ns);
        }

        lock (_gate)
        {
            node.LastDeath = Time.ToDateTime(ns);
        }

        LogDeath(log, topic.ToString());
    }

    private void MarkOffline(EquipmentState eq, long ns)
    {
        if (!eq.Online)
        {
            return;
        }

        eq.Online = false;
        eq.LastDeath = Time.ToDateTime(ns);
        if (eq.HasOnlineTag)
        {
            _samples.Add(new Sample(SeriesKey.ForTag(eq.EquipmentId, OnlineTag), ns, TagValue.FromBool(false)));
        }
    }

    private void RequestRebirth(string group, string edgeNode, NodeState? node, string reason)
    {
        long now = Environment.TickCount64;
        if (node is not null)
        {
            if (node.LastRebirthRequestMs != 0 && now - node.LastRebirthRequestMs < options.RebirthInterval.TotalMilliseconds)
            {
                return;
            }

            node.LastRebirthRequestMs = now;
        }
        else
        {
            var key = (group, edgeNode);
            lock (_gate)
            {
                _nodes[key] = node = new NodeState(group, edgeNode, new EquipmentState(edgeNode, Sanitize(edgeNode, 128))) { LastRebirthRequestMs = now };
            }
        }

        var publish = CommandPublisher;
        if (publish is null)
        {
            return;
        }

        Interlocked.Increment(ref _rebirths);
        string topic = $"{SparkplugTopic.Namespace}/{group}/NCMD/{edgeNode}";
        var payload = new SparkplugPayload { Timestamp = (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() };
        payload.Metrics.Add(SparkplugMetric.Of(RebirthMetric, null, SparkplugDataType.Boolean, true));
        LogRebirth(log, topic, reason);
        _ = SendAsync(publish, topic, SparkplugCodec.Encode(payload));
    }

    private async Task SendAsync(Func<string, byte[], Task> publish, string topic, byte[] payload)
    {
        try
        {
            await publish(topic, payload);
        }
        catch (Exception e)
        {
            LogCommandFailed(log, topic, e.Message);
        }
    }

    /// <summary>Letters, digits, '-', '_' and '.' kept; anything else becomes '_'.</summary>
    public static string Sanitize(string s, int max)
    {
        var sb = new StringBuilder(Math.Min(s.Length, max));
        foreach (char c in s.AsSpan(0, Math.Min(s.Length, max)))
        {
            sb.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_');
        }

        return sb.Length == 0 ? "_" : sb.ToString();
    }

    private sealed class NodeState(string group, string node, EquipmentState equipment)
    {
        public string Group { get; } = group;
        public string Node { get; } = node;
        public EquipmentState Equipment { get; } = equipment;
        public ulong? BdSeq { get; set; }
        public int ExpectedSeq { get; set; } = -1;
        public bool Online => Equipment.Online;
        public long LastRebirthRequestMs { get; set; }
        public DateTimeOffset? LastBirth => Equipment.LastBirth;
        public DateTimeOffset? LastDeath { get; set; }
        public Dictionary<ulong, MetricBinding> Aliases { get; } = [];
        public Dictionary<string, EquipmentState> Devices { get; } = new(StringComparer.Ordinal);
    }

    private sealed class EquipmentState(string name, string equipmentId)
    {
        public string Name { get; } = name;
        public string EquipmentId { get; } = equipmentId;
        public bool Online { get; set; }
        public bool HasOnlineTag { get; set; }
        public DateTimeOffset? LastBirth { get; set; }
        public DateTimeOffset? LastDeath { get; set; }
        public Dictionary<string, MetricBinding> ByName { get; } = new(StringComparer.Ordinal);
        public List<(ulong Alias, MetricBinding Binding)> PendingAliases { get; } = [];
    }

    private sealed record MetricBinding(EquipmentState Owner, string SeriesKey, SparkplugDataType Type);

    [LoggerMessage(5230, LogLevel.Information, "Sparkplug birth {Topic}: equipment '{Equipment}' with {Metrics} metrics")]
    private static partial void LogBirth(ILogger logger, string topic, string equipment, int metrics);

    [LoggerMessage(5231, LogLevel.Information, "Sparkplug death {Topic}: equipment offline, its values stale until the next birth")]
    private static partial void LogDeath(ILogger logger, string topic);

    [LoggerMessage(5232, LogLevel.Warning, "Sparkplug: {Error}")]
    private static partial void LogBadTopic(ILogger logger, string error);

    [LoggerMessage(5233, LogLevel.Warning, "Sparkplug payload on '{Topic}' is not a valid Sparkplug B protobuf: {Error}")]
    private static partial void LogBadPayload(ILogger logger, string topic, string error);

    [LoggerMessage(5234, LogLevel.Warning, "Sparkplug {Topic}: seq gap (expected {Expected}, got {Got}); requesting a rebirth")]
    private static partial void LogSeqGap(ILogger logger, string topic, int expected, long got);

    [LoggerMessage(5235, LogLevel.Information, "Sparkplug rebirth request {Topic}: {Reason}")]
    private static partial void LogRebirth(ILogger logger, string topic, string reason);

    [LoggerMessage(5236, LogLevel.Warning, "Sparkplug {Topic}: metric '{Metric}' was not in the birth certificate")]
    private static partial void LogUnknownMetric(ILogger logger, string topic, string metric);

    [LoggerMessage(5237, LogLevel.Warning, "Sparkplug '{Equipment}' metric '{Metric}' rejected: {Reason}")]
    private static partial void LogBadMetric(ILogger logger, string equipment, string metric, string reason);

    [LoggerMessage(5238, LogLevel.Warning, "Sparkplug '{Equipment}' metric '{Metric}': data type {Type} is not stored (scalars only)")]
    private static partial void LogUnsupportedType(ILogger logger, string equipment, string metric, string type);

    [LoggerMessage(5239, LogLevel.Warning, "Sparkplug birth of '{Equipment}' not registered in the asset model: {Error}")]
    private static partial void LogAssetModel(ILogger logger, string equipment, string error);

    [LoggerMessage(5240, LogLevel.Warning, "Sparkplug ingest: {Count} points rejected, first: {Reason}")]
    private static partial void LogRejected(ILogger logger, int count, string reason);

    [LoggerMessage(5241, LogLevel.Information, "Sparkplug {Topic}: NDEATH bdSeq {Death} does not match the NBIRTH's {Birth}; ignored as stale")]
    private static partial void LogStaleDeath(ILogger logger, string topic, ulong death, ulong birth);

    [LoggerMessage(5243, LogLevel.Warning, "Sparkplug {Topic} refused: {Limit}")]
    private static partial void LogOverLimit(ILogger logger, string topic, string limit);

    [LoggerMessage(5242, LogLevel.Warning, "Sparkplug command to '{Topic}' not sent: {Reason}")]
    private static partial void LogCommandFailed(ILogger logger, string topic, string reason);
}
