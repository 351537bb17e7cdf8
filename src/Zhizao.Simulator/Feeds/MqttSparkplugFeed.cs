using Zhizao.Core;
using Zhizao.Mqtt;
using Zhizao.Mqtt.Client;
using Zhizao.Mqtt.Sparkplug;

namespace Zhizao.Simulator.Feeds;

/// <summary>
/// Publishes the assigned machines as one Sparkplug B edge node (<c>spBv1.0/{group}/…/{edgeNode}</c>), each machine a
/// device named by its id, each tag a metric named by the tag. After every (re)connect and on a rebirth request
/// (NCMD <c>Node Control/Rebirth</c>): NBIRTH (bdSeq, Node Control/Rebirth, seq 0), then each device's DBIRTH with
/// names, aliases, datatypes and current values when it first reports; then one DDATA per device and step carrying
/// aliases only. seq counts 0-255 over all messages of the node; the NDEATH is the connection's will (bdSeq in it) and
/// is also sent on an orderly stop. QoS 1 for births and data (the node acknowledges after storing).
/// </summary>
public sealed class MqttSparkplugFeed : MqttFeedBase
{
    private readonly string _group;
    private readonly string _edgeNode;
    private readonly Dictionary<string, DeviceState> _devices = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ulong> _aliases = new(StringComparer.Ordinal);
    private ulong _bdSeq;
    private int _seq;
    private volatile bool _rebirth;
    private long _rebirths;

    public MqttSparkplugFeed(MqttFeedOptions options, string group = "zhizao-demo", string edgeNode = "virtual-factory", Action<string>? log = null)
        : base(options, log)
    {
        if (!SparkplugTopic.TryParse($"{SparkplugTopic.Namespace}/{group}/NBIRTH/{edgeNode}", out _, out string? error) || group.Contains('+') || group.Contains('#') || edgeNode.Contains('+') || edgeNode.Contains('#'))
        {
            throw new ArgumentException($"group '{group}' or edge node '{edgeNode}' is not usable in a Sparkplug topic: {error}");
        }

        _group = group;
        _edgeNode = edgeNode;
        SetWill();
    }

    public override string Name => "sparkplug-b";

    /// <summary>Rebirth requests received.</summary>
    public long RebirthRequests => Interlocked.Read(ref _rebirths);

    public ulong BdSeq => _bdSeq;

    private string Topic(string type, string? device = null) =>
        device is null ? $"{SparkplugTopic.Namespace}/{_group}/{type}/{_edgeNode}" : $"{SparkplugTopic.Namespace}/{_group}/{type}/{_edgeNode}/{device}";

    private void SetWill()
    {
        var death = new SparkplugPayload { Timestamp = (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() };
        death.Metrics.Add(SparkplugMetric.Of("bdSeq", null, SparkplugDataType.Int64, (long)_bdSeq));
        ClientOptions.Will = new MqttWill { Topic = Topic("NDEATH"), Payload = SparkplugCodec.Encode(death), QoS = MqttQoS.AtLeastOnce };
    }

    /// <summary>The next connection is a new session: the next bdSeq goes into its will and NBIRTH.</summary>
    protected override void OnDisconnected()
    {
        _bdSeq = (_bdSeq + 1) & 255;
        SetWill();
    }

    protected override async Task OnConnectedAsync(MqttClient client, CancellationToken ct)
    {
        client.MessageReceived = OnCommand;
        await client.SubscribeAsync(Topic("NCMD"), MqttQoS.AtMostOnce, ct);
        await PublishNodeBirthAsync(client);
    }

    private Task<MqttReasonCode> PublishNodeBirthAsync(MqttClient client)
    {
        _rebirth = false;
        _seq = 0;
        foreach (var d in _devices.Values)
        {
            d.Born = false;
        }

        var birth = new SparkplugPayload { Timestamp = (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), Seq = NextSeq() };
        birth.Metrics.Add(SparkplugMetric.Of("bdSeq", null, SparkplugDataType.Int64, (long)_bdSeq));
        birth.Metrics.Add(SparkplugMetric.Of("Node Control/Rebirth", null, SparkplugDataType.Boolean, false));
        return client.PublishAsync(Topic("NBIRTH"), SparkplugCodec.Encode(birth), MqttQoS.AtLeastOnce);
    }

    private void OnCommand(Mqtt.MqttPublishPacket packet)
    {
        try
        {
            var cmd = SparkplugCodec.Decode(packet.Payload.Span);
            if (cmd.Metrics.Any(m => m.Name == "Node Control/Rebirth" && m.ValueCase == SparkplugValueCase.Boolean && m.IntegerBits != 0))
            {
                Interlocked.Increment(ref _rebirths);
                _rebirth = true;
                Log($"{Name}: rebirth requested by the host application");
            }
        }
        catch (SparkplugFormatException e)
        {
            Log($"{Name}: ignored a malformed command on {packet.Topic}: {e.Message}");
        }
    }

    private ulong NextSeq()
    {
        ulong s = (ulong)_seq;
        _seq = (_seq + 1) & 255;
        return s;
    }

    protected override void PublishStep(MqttClient client, long timestampNs, Sample[] samples, List<Task<MqttReasonCode>> acks)
    {
        if (_rebirth)
        {
            acks.Add(PublishNodeBirthAsync(client));
        }

        ulong ms = (ulong)(timestampNs / 1_000_000);
        int i = 0;
        while (i < samples.Length)
        {
            int slash = samples[i].SeriesKey.LastIndexOf('/');
            string machine = slash > 0 ? samples[i].SeriesKey[..slash] : samples[i].SeriesKey;
            int end = i;
            while (end < samples.Length && samples[end].SeriesKey.Length > machine.Length && samples[end].SeriesKey.StartsWith(machine, StringComparison.Ordinal)
                && samples[end].SeriesKey[machine.Length] == '/')
            {
                end++;
            }

            if (end == i)
            {
                i++;
                continue;
            }

            if (!_devices.TryGetValue(machine, out var device))
            {
                _devices[machine] = device = new DeviceState();
            }

            bool birth = !device.Born;
            var payload = new SparkplugPayload { Timestamp = ms, Seq = NextSeq() };
            for (int k = i; k < end; k++)
            {
                var s = samples[k];
                string metric = s.SeriesKey[(machine.Length + 1)..];
                if (!_aliases.TryGetValue(s.SeriesKey, out ulong alias))
                {
                    _aliases[s.SeriesKey] = alias = (ulong)_aliases.Count + 1;
                    birth = true; // a metric the last birth did not announce: announce it
                }

                var (type, value) = s.Value.Kind switch
                {
                    ValueKind.Float64 => (SparkplugDataType.Double, (object)s.Value.AsDouble),
                    ValueKind.Int64 => (SparkplugDataType.Int64, s.Value.AsInt64),
                    ValueKind.Bool => (SparkplugDataType.Boolean, s.Value.AsBool),
                    _ => (SparkplugDataType.String, (object)(s.Value.AsString ?? "")),
                };
                payload.Metrics.Add(SparkplugMetric.Of(null, alias, type, value, (ulong)(s.TimestampNs / 1_000_000)));
                device.Names[alias] = metric;
            }

            if (birth)
            {
                // DBIRTH: every metric with its name, alias, datatype and value; later DDATA carry aliases only
                foreach (var m in payload.Metrics)
                {
                    m.Name = device.Names[m.Alias!.Value];
                }

                device.Born = true;
                acks.Add(client.PublishAsync(Topic("DBIRTH", machine), SparkplugCodec.Encode(payload), MqttQoS.AtLeastOnce));
            }
            else
            {
                foreach (var m in payload.Metrics)
                {
                    m.DataType = null; // the birth declared it
                }

                acks.Add(client.PublishAsync(Topic("DDATA", machine), SparkplugCodec.Encode(payload), MqttQoS.AtLeastOnce));
            }

            i = end;
        }
    }

    protected override async Task BeforeDisconnectAsync(MqttClient client)
    {
        if (!client.IsConnected)
        {
            return;
        }

        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await client.PublishAsync(ClientOptions.Will!.Topic, ClientOptions.Will.Payload, MqttQoS.AtLeastOnce, cancellationToken: timeout.Token);
        }
        catch (Exception e) when (e is MqttClientException or OperationCanceledException)
        {
            Log($"{Name}: NDEATH not sent: {e.Message}");
        }
    }

    private sealed class DeviceState
    {
        public bool Born { get; set; }
        public Dictionary<ulong, string> Names { get; } = [];
    }
}
