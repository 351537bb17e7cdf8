using System.Buffers;
using System.Globalization;
using System.Text;
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
/// Other topics are ignored. Rejected points are logged (event ids 5200-5299). Durability: the broker sends a QoS 1/2
/// publisher its PUBACK/PUBREC only after this sink's write returned, i.e. after the WAL fsync — acknowledged points
/// survive kill -9 as over HTTP. Points refused by validation are acknowledged too (MQTT has no per-point error) and logged.
/// </summary>
public sealed partial class MqttIngestBridge(IngestService ingest, MqttNodeOptions options, ILogger<MqttIngestBridge> log) : IMqttMessageSink
{
    public async ValueTask OnMessagesAsync(IReadOnlyList<MqttApplicationMessage> batch, CancellationToken cancellationToken)
    {
        string prefix = options.TopicPrefix;
        var values = new ArrayBufferWriter<byte>();
        foreach (var m in batch)
        {
            if (!m.Topic.StartsWith(prefix, StringComparison.Ordinal))
                continue;
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
}

/// <summary>Runs the embedded broker with the bridge as its sink, for the node's lifetime.</summary>
public sealed partial class MqttBrokerHostedService(MqttNodeOptions options, MqttIngestBridge bridge, string dataDirectory,
    ILogger<MqttBroker> brokerLog) : IHostedService, IAsyncDisposable
{
    private MqttBroker? _broker;

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
        }
        catch (System.Net.Sockets.SocketException e)
        {
            // e.g. a mosquitto already on 1883: the node keeps running without its broker and says how to fix it
            await broker.DisposeAsync();
            LogPortBusy(brokerLog, options.Port, e.Message);
        }
    }

    [LoggerMessage(5210, LogLevel.Error, "MQTT broker not started: port {Port} on 127.0.0.1 is not available ({Reason}); MQTT ingest is off. Choose another with --mqtt-port, or --mqtt-port 0 to turn it off")]
    private static partial void LogPortBusy(ILogger logger, int port, string reason);

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_broker is not null)
            await _broker.DisposeAsync();
        _broker = null;
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None);
}
