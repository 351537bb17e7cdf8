using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Zhizao.Mqtt;
using Zhizao.Mqtt.Broker;
using Zhizao.Mqtt.Client;

namespace Zhizao.Connectors.Mqtt;

/// <summary>
/// Where the node's bridge subscribes: an external broker given as <c>mqtt[s]://user:pass@host:port</c> and topic
/// filters (default <c>$share/zhizao/zhizao/#</c>: nodes in the same shared-subscription group split the traffic).
/// </summary>
public sealed class MqttBridgeOptions
{
    public const string DefaultTopic = "$share/zhizao/zhizao/#";

    public required string Host { get; init; }
    public int Port { get; init; }
    public bool Tls { get; init; }
    public string? UserName { get; init; }

    /// <summary>From the URL; never logged (see <see cref="RedactedUrl"/>).</summary>
    public string? Password { get; init; }

    public IReadOnlyList<string> Topics { get; init; } = [DefaultTopic];

    /// <summary>Unique per node (a second connection with the same id would take the first one over) and stable across
    /// restarts, so the external broker keeps the session and resends what was not stored yet.</summary>
    public string ClientId { get; init; } = $"zhizao-bridge-{Environment.MachineName}";

    /// <summary>How long the external broker keeps the bridge's session (v5; 3.1.1: until the next connect) while the
    /// node is away; messages for it are queued there meanwhile.</summary>
    public uint SessionExpirySeconds { get; init; } = 3600;

    public MqttQoS QoS { get; init; } = MqttQoS.AtLeastOnce;
    public MqttProtocolVersion ProtocolVersion { get; init; } = MqttProtocolVersion.V500;

    /// <summary>mqtts: PEM CA file the external broker's certificate must chain to (null = the system's roots).</summary>
    public string? CaFile { get; init; }

    /// <summary>mqtts: client certificate and key (PEM) for brokers that authenticate by certificate.</summary>
    public string? CertificateFile { get; init; }

    public string? KeyFile { get; init; }

    /// <summary>Messages received but not yet handed to ingest; when full, further ones are dropped and counted.</summary>
    public int QueueCapacity { get; init; } = 100_000;

    /// <summary>The URL with the password replaced by ***; the only form that is logged.</summary>
    public string RedactedUrl => $"{(Tls ? "mqtts" : "mqtt")}://{(UserName is null ? "" : Uri.EscapeDataString(UserName) + (Password is null ? "" : ":***") + "@")}{Host}:{Port}";

    /// <summary>Parses <c>mqtt[s]://[user[:password]@]host[:port]</c>; an error names what is wrong and never repeats the password.</summary>
    public static MqttBridgeOptions Parse(string url, IReadOnlyList<string>? topics = null, string? caFile = null, string? certFile = null, string? keyFile = null)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("mqtt" or "mqtts"))
        {
            throw new ArgumentException($"--mqtt-bridge: '{Redact(url)}' is not an mqtt:// or mqtts:// URL (mqtt[s]://user:pass@host:port)");
        }

        if (string.IsNullOrEmpty(uri.Host))
        {
            throw new ArgumentException($"--mqtt-bridge: '{Redact(url)}' has no host");
        }

        if (uri.AbsolutePath is not ("" or "/") || uri.Query.Length > 0)
        {
            throw new ArgumentException($"--mqtt-bridge: '{Redact(url)}' must not have a path or query (topics go in --mqtt-bridge-topic)");
        }

        string? user = null, password = null;
        if (uri.UserInfo.Length > 0)
        {
            int colon = uri.UserInfo.IndexOf(':', StringComparison.Ordinal);
            user = Uri.UnescapeDataString(colon < 0 ? uri.UserInfo : uri.UserInfo[..colon]);
            password = colon < 0 ? null : Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
        }

        bool tls = uri.Scheme == "mqtts";
        var list = topics is { Count: > 0 } ? topics : [DefaultTopic];
        foreach (string t in list)
        {
            if (!TopicFilter.IsValidFilter(t))
            {
                throw new ArgumentException($"--mqtt-bridge-topic: '{t}' is not a valid MQTT topic filter");
            }
        }

        if (!tls && (caFile ?? certFile ?? keyFile) is not null)
        {
            throw new ArgumentException($"--mqtt-bridge: CA or client certificate files need an mqtts:// URL, not '{Redact(url)}'");
        }

        if ((certFile is null) != (keyFile is null))
        {
            throw new ArgumentException("--mqtt-bridge-cert and --mqtt-bridge-key go together");
        }

        return new MqttBridgeOptions
        {
            Host = uri.Host,
            Port = uri.IsDefaultPort || uri.Port < 0 ? (tls ? 8883 : 1883) : uri.Port,
            Tls = tls,
            UserName = user,
            Password = password,
            Topics = [.. list],
            CaFile = caFile,
            CertificateFile = certFile,
            KeyFile = keyFile,
        };
    }

    /// <summary>An mqtt URL with any password replaced by ***, also for strings that do not parse.</summary>
    public static string Redact(string url)
    {
        int scheme = url.IndexOf("://", StringComparison.Ordinal);
        int start = scheme < 0 ? 0 : scheme + 3;
        int at = url.LastIndexOf('@');
        if (at < start)
        {
            return url;
        }

        int colon = url.IndexOf(':', start);
        return colon < 0 || colon > at ? url : string.Concat(url.AsSpan(0, colon), ":***", url.AsSpan(at));
    }
}

/// <summary>
/// The node's bridge to an external broker: our <see cref="MqttClient"/> (automatic reconnect and resubscribe)
/// subscribes to <see cref="MqttBridgeOptions.Topics"/> and hands what arrives, in batches, to the same sink as the
/// embedded broker (<see cref="MqttIngestBridge"/>). Log event ids 5230-5239; the password is never logged.
/// Delivery is at least once: a QoS 1/2 message is acknowledged to the external broker only after the sink returned
/// (for ingest: stored), in arrival order, on a persistent session; what was not acknowledged when the connection or the
/// node went away is resent by the external broker.
/// </summary>
public sealed partial class MqttBridgeService(MqttBridgeOptions options, IMqttMessageSink sink, ILogger<MqttBridgeService> log) : BackgroundService
{
    private readonly Channel<(MqttApplicationMessage Message, MqttPublishPacket Packet)> _queue = Channel.CreateBounded<(MqttApplicationMessage, MqttPublishPacket)>(
        new BoundedChannelOptions(options.QueueCapacity) { SingleReader = true, FullMode = BoundedChannelFullMode.DropWrite });
    private MqttClient? _client;
    private long _received;
    private long _dropped;
    private long _delivered;

    public long Received => Interlocked.Read(ref _received);
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Messages the sink has returned from (stored, for the ingest sink).</summary>
    public long Delivered => Interlocked.Read(ref _delivered);

    public bool IsConnected => _client?.IsConnected == true;

    /// <summary>True once the first SUBACK arrived (the client renews subscriptions by itself after reconnects).</summary>
    public bool IsSubscribed { get; private set; }

    public MqttBridgeOptions Options => options;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var client = new MqttClient(new MqttClientOptions
        {
            Host = options.Host,
            Port = options.Port,
            ClientId = options.ClientId,
            ProtocolVersion = options.ProtocolVersion,
            UserName = options.UserName,
            Password = options.Password,
            CleanStart = false,
            SessionExpiryInterval = options.SessionExpirySeconds,
            ManualAcknowledgement = true,
            AutoReconnect = true,
            Tls = options.Tls ? new MqttClientTlsOptions { CaFile = options.CaFile, ClientCertificateFile = options.CertificateFile, ClientKeyFile = options.KeyFile } : null,
        });
        client.MessageReceived = OnMessage;
        client.Disconnected = reason => LogLost(log, options.RedactedUrl, reason?.ToString() ?? "connection closed");
        client.Connected = ack =>
        {
            if (client.ReconnectCount > 0 || ack.SessionPresent)
            {
                LogReconnected(log, options.RedactedUrl);
            }
        };
        _client = client;
        var pump = Task.Run(() => PumpAsync(stoppingToken), CancellationToken.None);
        try
        {
            await ConnectAndSubscribeAsync(client, stoppingToken);
            await Task.Delay(Timeout.Infinite, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // node stopping
        }
        finally
        {
            await client.DisposeAsync();
            _queue.Writer.TryComplete();
            await pump;
        }
    }

    /// <summary>Keeps trying until the external broker answers (it may start after the node); later losses are the client's
    /// to repair (reconnect with back-off, subscriptions renewed).</summary>
    private async Task ConnectAndSubscribeAsync(MqttClient client, CancellationToken ct)
    {
        var delay = TimeSpan.FromMilliseconds(500);
        while (true)
        {
            try
            {
                await client.ConnectAsync(ct);
                break;
            }
            catch (MqttClientException e)
            {
                LogConnectFailed(log, options.RedactedUrl, e.Message, delay.TotalSeconds);
                await Task.Delay(delay, ct);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
            }
        }

        var subs = options.Topics.Select(t => new MqttSubscription { TopicFilter = t, MaximumQoS = options.QoS }).ToList();
        var codes = await client.SubscribeAsync(subs, cancellationToken: ct);
        for (int i = 0; i < codes.Count && i < subs.Count; i++)
        {
            if ((int)codes[i] >= 0x80)
            {
                LogSubscribeRefused(log, options.RedactedUrl, subs[i].TopicFilter, codes[i].ToString());
            }
        }

        IsSubscribed = true;
        LogConnected(log, options.RedactedUrl, string.Join(", ", options.Topics));
    }

    private void OnMessage(MqttPublishPacket p)
    {
        Interlocked.Increment(ref _received);
        var m = new MqttApplicationMessage
        {
            Topic = p.Topic,
            Payload = p.Payload,
            QoS = p.QoS,
            Retain = p.Retain,
            ReceivedAtUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
        };
        // not acknowledged when dropped: the external broker resends it after the next reconnect
        if (!_queue.Writer.TryWrite((m, p)) && Interlocked.Increment(ref _dropped) % 10_000 == 1)
        {
            LogDropped(log, options.RedactedUrl, Dropped, options.QueueCapacity);
        }
    }

    private async Task PumpAsync(CancellationToken ct)
    {
        var reader = _queue.Reader;
        var batch = new List<MqttApplicationMessage>(1024);
        var packets = new List<MqttPublishPacket>(1024);
        while (await reader.WaitToReadAsync(CancellationToken.None))
        {
            while (batch.Count < 1024 && reader.TryRead(out var item))
            {
                batch.Add(item.Message);
                packets.Add(item.Packet);
            }

            try
            {
                await sink.OnMessagesAsync(batch, ct);
                Interlocked.Add(ref _delivered, batch.Count);
                foreach (var p in packets)
                {
                    _client?.Acknowledge(p); // stored: now the external broker may forget it
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // not acknowledged: a new connection makes the external broker resend the batch
                LogSinkFailed(log, e, batch.Count);
                _client?.DropConnection();
            }

            batch = new List<MqttApplicationMessage>(1024); // the sink may keep the list
            packets.Clear();
        }
    }

    [LoggerMessage(5230, LogLevel.Information, "MQTT bridge connected to {Url}, subscribed to {Topics}")]
    private static partial void LogConnected(ILogger logger, string url, string topics);

    [LoggerMessage(5231, LogLevel.Warning, "MQTT bridge cannot connect to {Url}: {Reason}; retrying in {Seconds} s")]
    private static partial void LogConnectFailed(ILogger logger, string url, string reason, double seconds);

    [LoggerMessage(5232, LogLevel.Warning, "MQTT bridge lost {Url}: {Reason}; reconnecting")]
    private static partial void LogLost(ILogger logger, string url, string reason);

    [LoggerMessage(5233, LogLevel.Information, "MQTT bridge reconnected to {Url}")]
    private static partial void LogReconnected(ILogger logger, string url);

    [LoggerMessage(5234, LogLevel.Error, "MQTT bridge: {Url} refused the subscription '{Filter}': {Reason}")]
    private static partial void LogSubscribeRefused(ILogger logger, string url, string filter, string reason);

    [LoggerMessage(5235, LogLevel.Warning, "MQTT bridge from {Url}: ingest is behind, {Dropped} messages dropped so far (queue of {Capacity} full)")]
    private static partial void LogDropped(ILogger logger, string url, long dropped, int capacity);

    [LoggerMessage(5236, LogLevel.Error, "MQTT bridge: ingest failed for a batch of {Count} messages; reconnecting so the broker resends them")]
    private static partial void LogSinkFailed(ILogger logger, Exception e, int count);
}
