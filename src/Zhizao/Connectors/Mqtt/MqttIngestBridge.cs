using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Zhizao.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Zhizao.Ingest;
using Zhizao.Mqtt.Broker;
using Zhizao.Pipeline;

namespace Zhizao.Connectors.Mqtt;

/// <summary>Settings of the embedded MQTT broker of a node (from <c>PlatformOptions.MqttPort</c>; loopback only).</summary>
public sealed class MqttNodeOptions
{
    public bool Enabled { get; set; }

    /// <summary>Loopback:1883 by default.</summary>
    public int Port { get; set; } = 1883;

    /// <summary>Topic prefix of the ingest convention.</summary>
    public string TopicPrefix { get; set; } = "zhizao/";
}

/// <summary>
/// Turns messages accepted by the embedded broker into ingest writes. Convention (prefix "zhizao/"):
/// <list type="bullet">
/// <item><c>zhizao/lp</c>: the payload is an InfluxDB line-protocol body (ns timestamps; lines without one get the
/// time of the write);</item>
/// <item><c>zhizao/json</c>: the payload is a JSON batch as for <c>POST /api/ingest/json</c>;</item>
/// <item><c>zhizao/v/{equipment}/{tag}</c>: the payload is one value (a number, <c>true</c>/<c>false</c>, or text),
/// stored at the broker's receive time. The values of one sink batch become one write.</item>
/// </list>
/// Besides: <c>spBv1.0/...</c> goes to the Sparkplug B host application (<see cref="SparkplugIngest"/>), and a topic
/// matched by configured JSON mappings (<see cref="MqttMappingStore"/>) is decoded by each of them.
/// Other topics are ignored. Rejected points are logged (event ids 5200-5299). Durability: the broker sends a QoS 1/2
/// publisher its PUBACK/PUBREC only after this sink's write returned, i.e. after the WAL fsync — acknowledged points
/// survive kill -9 as over HTTP. Points refused by validation are acknowledged too (MQTT has no per-point error) and logged.
/// </summary>
public sealed partial class MqttIngestBridge(IngestService ingest, MqttNodeOptions options, ILogger<MqttIngestBridge> log,
    MqttMappingStore? mappings = null, SparkplugIngest? sparkplug = null) : IMqttMessageSink
{
    private readonly List<Sample> _mapped = [];
    private readonly List<(string Selector, string Reason)> _mapErrors = [];
    private long _mappingErrors, _mappedMessages;

    public SparkplugIngest? Sparkplug => sparkplug;

    /// <summary>Messages decoded by a JSON mapping, and problems found (invalid JSON, selector misses, wrong types).</summary>
    public (long Messages, long Errors) MappingStats => (Interlocked.Read(ref _mappedMessages), Interlocked.Read(ref _mappingErrors));

    public async ValueTask OnMessagesAsync(IReadOnlyList<MqttApplicationMessage> batch, CancellationToken cancellationToken)
    {
        string prefix = options.TopicPrefix;
        var values = new ArrayBufferWriter<byte>();
        bool sparkplugSeen = false;
        var active = mappings?.Mappings ?? [];
        _mapped.Clear();
        foreach (var m in batch)
        {
            if (!m.Topic.StartsWith(prefix, StringComparison.Ordinal))
            {
                if (SparkplugIngest.IsSparkplugTopic(m.Topic))
                    sparkplugSeen = true;
                else if (active.Count > 0)
                    ApplyMappings(active, m);
                continue;
            }
            var rest = m.Topic.AsSpan(prefix.Length);
            if (rest is "lp")
                Report(m.Topic, await ingest.WriteLineProtocolAsync(m.Payload, TimestampPrecision.Nanoseconds, cancellationToken));
            else if (rest is "json")
                Report(m.Topic, await ingest.WriteJsonAsync(m.Payload, cancellationToken));
            else if (rest.StartsWith("v/"))
                AppendValue(values, m, rest[2..]);
        }
        if (values.WrittenCount > 0)
            Report(prefix + "v/...", await ingest.WriteLineProtocolAsync(values.WrittenMemory, TimestampPrecision.Nanoseconds, cancellationToken));
        if (_mapped.Count > 0)
        {
            var outcome = await ingest.WriteSamplesAsync(_mapped, cancellationToken);
            if (outcome.RejectedTotal > 0)
                LogRejected(log, "(mapped topics)", outcome.RejectedTotal, outcome.FirstError ?? outcome.Stored.FirstRejectReason ?? "refused by storage");
        }
        if (sparkplugSeen && sparkplug is not null)
            await sparkplug.OnMessagesAsync(batch, cancellationToken);
    }

    private void ApplyMappings(IReadOnlyList<CompiledMqttMapping> active, MqttApplicationMessage m)
    {
        JsonDocument? doc = null;
        try
        {
            foreach (var map in active)
            {
                if (!map.TryMatch(m.Topic, out var vars))
                    continue;
                if (doc is null)
                {
                    try
                    {
                        doc = JsonDocument.Parse(m.Payload, new JsonDocumentOptions { MaxDepth = 64 });
                    }
                    catch (JsonException e)
                    {
                        Interlocked.Increment(ref _mappingErrors);
                        LogBadJson(log, m.Topic, map.Source.Id!, e.Message);
                        return;
                    }
                }
                Interlocked.Increment(ref _mappedMessages);
                _mapErrors.Clear();
                map.Extract(doc.RootElement, vars, m.ReceivedAtUnixMs * 1_000_000, _mapped, _mapErrors);
                foreach (var (selector, reason) in _mapErrors)
                {
                    Interlocked.Increment(ref _mappingErrors);
                    LogMappingError(log, m.Topic, map.Source.Id!, selector, reason);
                }
            }
        }
        finally
        {
            doc?.Dispose();
        }
    }

    private void AppendValue(ArrayBufferWriter<byte> lp, MqttApplicationMessage m, ReadOnlySpan<char> path)
    {
        int slash = path.IndexOf('/');
        if (slash <= 0 || slash == path.Length - 1 || path[(slash + 1)..].Contains('/'))
        {
            LogBadTopic(log, m.Topic);
            return;
        }
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(m.Payload.Span).Trim();
        }
        catch (DecoderFallbackException)
        {
            LogBadPayload(log, m.Topic);
            return;
        }
        var sb = new StringBuilder();
        Escape(sb, path[..slash]);
        sb.Append(' ');
        Escape(sb, path[(slash + 1)..]);
        sb.Append('=');
        if (text is "true" or "false")
            sb.Append(text);
        else if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d))
            sb.Append(d.ToString("R", CultureInfo.InvariantCulture));
        else
            sb.Append('"').Append(text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal)).Append('"');
        sb.Append(' ').Append((m.ReceivedAtUnixMs * 1_000_000).ToString(CultureInfo.InvariantCulture)).Append('\n');
        Encoding.UTF8.GetBytes(sb.ToString(), lp);
    }

    /// <summary>Line-protocol escaping of a measurement or field key: comma, space and equals sign.</summary>
    private static void Escape(StringBuilder sb, ReadOnlySpan<char> s)
    {
        foreach (char c in s)
        {
            if (c is ',' or ' ' or '=' or '\\')
                sb.Append('\\');
            sb.Append(c);
        }
    }

    private void Report(string topic, IngestOutcome outcome)
    {
        if (outcome.RejectedTotal > 0)
            LogRejected(log, topic, outcome.RejectedTotal, outcome.Parse.FirstError ?? "refused by storage");
    }

    [LoggerMessage(5200, LogLevel.Warning, "MQTT ingest on '{Topic}': {Count} points rejected, first: {Reason}")]
    private static partial void LogRejected(ILogger logger, string topic, int count, string reason);

    [LoggerMessage(5201, LogLevel.Warning, "MQTT ingest: topic '{Topic}' is not {{prefix}}v/{{equipment}}/{{tag}}")]
    private static partial void LogBadTopic(ILogger logger, string topic);

    [LoggerMessage(5202, LogLevel.Warning, "MQTT ingest: payload on '{Topic}' is not UTF-8")]
    private static partial void LogBadPayload(ILogger logger, string topic);

    [LoggerMessage(5203, LogLevel.Warning, "MQTT mapping '{Mapping}': payload on '{Topic}' is not valid JSON: {Error}")]
    private static partial void LogBadJson(ILogger logger, string topic, string mapping, string error);

    [LoggerMessage(5204, LogLevel.Warning, "MQTT mapping '{Mapping}' on '{Topic}', selector {Selector}: {Reason}")]
    private static partial void LogMappingError(ILogger logger, string topic, string mapping, string selector, string reason);
}

/// <summary>Runs the embedded broker with the bridge as its sink, for the node's lifetime.</summary>
public sealed partial class MqttBrokerHostedService(MqttNodeOptions options, MqttIngestBridge bridge, string dataDirectory,
    ILogger<MqttBroker> brokerLog) : IHostedService, IAsyncDisposable
{
    private MqttBroker? _broker;
    private Zhizao.Mqtt.Client.MqttClient? _hostClient;
    private string? _stateTopic;
    private long _stateSince;

    public MqttBroker? Broker => _broker;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!options.Enabled)
            return;
        var broker = new MqttBroker(new MqttBrokerOptions
        {
            Port = options.Port,
            DataDirectory = Path.Combine(dataDirectory, "mqtt"),
            MessageSink = bridge,
        }, brokerLog);
        try
        {
            await broker.StartAsync(cancellationToken);
            _broker = broker;
            if (bridge.Sparkplug is { } sparkplug)
                await StartSparkplugHostAsync(broker, sparkplug, cancellationToken);
        }
        catch (System.Net.Sockets.SocketException e)
        {
            // e.g. a mosquitto already on 1883: the node keeps running without its broker and says how to fix it
            await broker.DisposeAsync();
            LogPortBusy(brokerLog, options.Port, e.Message);
        }
    }

    /// <summary>
    /// The Sparkplug host application's own connection to the embedded broker: publishes <c>spBv1.0/STATE/{host}</c>
    /// <c>{"online":true,"timestamp":…}</c> (retained, QoS 1) with the offline message as its will (Sparkplug 3.0), and
    /// the rebirth commands (NCMD, QoS 0).
    /// </summary>
    private async Task StartSparkplugHostAsync(MqttBroker broker, SparkplugIngest sparkplug, CancellationToken ct)
    {
        long since = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        string stateTopic = $"{Zhizao.Mqtt.Sparkplug.SparkplugTopic.Namespace}/STATE/{sparkplug.Options.HostId}";
        var client = new Zhizao.Mqtt.Client.MqttClient(new Zhizao.Mqtt.Client.MqttClientOptions
        {
            Port = broker.Port,
            ClientId = "zhizao-sparkplug-host-" + sparkplug.Options.HostId,
            Will = new Zhizao.Mqtt.MqttWill { Topic = stateTopic, Payload = StatePayload(false, since), QoS = Zhizao.Mqtt.MqttQoS.AtLeastOnce, Retain = true },
        });
        client.Connected = ack => { _ = client.PublishAsync(stateTopic, StatePayload(true, since), Zhizao.Mqtt.MqttQoS.AtLeastOnce, retain: true); };
        try
        {
            await client.ConnectAsync(ct);
            _hostClient = client;
            _stateTopic = stateTopic;
            _stateSince = since;
            sparkplug.CommandPublisher = (topic, payload) => client.PublishAsync(topic, payload, Zhizao.Mqtt.MqttQoS.AtMostOnce);
        }
        catch (Exception e) when (e is Zhizao.Mqtt.Client.MqttClientException or System.Net.Sockets.SocketException or TimeoutException)
        {
            await client.DisposeAsync();
            LogHostNotStarted(brokerLog, e.Message);
        }
    }

    private static byte[] StatePayload(bool online, long timestampMs) =>
        Encoding.UTF8.GetBytes($"{{\"online\":{(online ? "true" : "false")},\"timestamp\":{timestampMs}}}");

    [LoggerMessage(5211, LogLevel.Error, "Sparkplug host application not connected to the embedded broker: {Reason}; no STATE and no rebirth requests")]
    private static partial void LogHostNotStarted(ILogger logger, string reason);

    [LoggerMessage(5210, LogLevel.Error, "MQTT broker not started: port {Port} on 127.0.0.1 is not available ({Reason}); MQTT ingest is off. Choose another with --mqtt-port, or --mqtt-port 0 to turn it off")]
    private static partial void LogPortBusy(ILogger logger, int port, string reason);

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_hostClient is { } client)
        {
            _hostClient = null;
            if (bridge.Sparkplug is { } sp)
                sp.CommandPublisher = null;
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await client.PublishAsync(_stateTopic!, StatePayload(false, _stateSince), Zhizao.Mqtt.MqttQoS.AtLeastOnce, retain: true, cancellationToken: timeout.Token);
                await client.DisconnectAsync(cancellationToken: timeout.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or Zhizao.Mqtt.Client.MqttClientException or IOException or System.Net.Sockets.SocketException)
            {
                // shutting down: the will says offline anyway
            }
            await client.DisposeAsync();
        }
        if (_broker is not null)
            await _broker.DisposeAsync();
        _broker = null;
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None);
}
