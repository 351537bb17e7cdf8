namespace Zhizao.Mqtt.Client;

public sealed class MqttClientOptions
{
    public string Host { get; set; } = "127.0.0.1";
    /// <summary>1883 for plain MQTT; MQTT over TLS (<see cref="Tls"/>) is usually 8883.</summary>
    public int Port { get; set; } = 1883;
    /// <summary>MQTT over TLS; null = plain TCP.</summary>
    public MqttClientTlsOptions? Tls { get; set; }
    public MqttProtocolVersion ProtocolVersion { get; set; } = MqttProtocolVersion.V500;
    /// <summary>Empty asks the server to assign one (v5; 3.1.1 needs <see cref="CleanStart"/>).</summary>
    public string ClientId { get; set; } = "";
    public bool CleanStart { get; set; } = true;
    public ushort KeepAliveSeconds { get; set; } = 30;
    public string? UserName { get; set; }
    /// <summary>Sent in CONNECT only; never logged.</summary>
    public string? Password { get; set; }
    public MqttWill? Will { get; set; }
    /// <summary>v5 Session Expiry Interval sent in CONNECT (3.1.1: a persistent session is CleanStart = false).</summary>
    public uint SessionExpiryInterval { get; set; }
    /// <summary>Receive Maximum announced to the server (v5).</summary>
    public ushort ReceiveMaximum { get; set; } = 1024;

    /// <summary>v5: topic aliases the server may use towards this client (0 = none, the default).</summary>
    public ushort TopicAliasMaximum { get; set; }
    /// <summary>Most of our own QoS 1/2 PUBLISHes unacknowledged at once (further capped by the server's Receive Maximum).</summary>
    public int MaxInflight { get; set; } = 1024;
    /// <summary>Packets waiting to be written; PublishAsync waits when the queue is full.</summary>
    public int SendQueueCapacity { get; set; } = 8192;
    public bool AutoReconnect { get; set; } = true;
    /// <summary>When true, an incoming QoS 1/2 PUBLISH is acknowledged (PUBACK/PUBREC) only when the application calls
    /// <see cref="MqttClient.Acknowledge"/>, e.g. once the message is stored; unacknowledged messages are resent by the
    /// server after a reconnect to a persistent session (at least once). False: acknowledged on receipt.</summary>
    public bool ManualAcknowledgement { get; set; }
    /// <summary>First delay between reconnect attempts; doubles up to <see cref="MaxReconnectDelay"/>.</summary>
    public TimeSpan ReconnectDelay { get; set; } = TimeSpan.FromMilliseconds(200);
    public TimeSpan MaxReconnectDelay { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>Time to wait for the TCP connection and CONNACK.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);
    public MqttLimits Limits { get; set; } = new() { MaximumPacketSize = 16 * 1024 * 1024 };
    /// <summary>v5 properties to add to CONNECT (user properties, request problem information ...).</summary>
    public List<MqttUserProperty>? UserProperties { get; set; }
}

/// <summary>The server refused CONNECT, or the connection was lost; <see cref="ReasonCode"/> says why when known.</summary>
public sealed class MqttClientException : Exception
{
    public MqttClientException(string message, MqttReasonCode reasonCode = MqttReasonCode.UnspecifiedError, Exception? inner = null)
        : base(message, inner) => ReasonCode = reasonCode;

    public MqttReasonCode ReasonCode { get; }

    /// <summary>True when trying again later may help (connection lost, server busy or unavailable).</summary>
    public bool IsTransient => ReasonCode is MqttReasonCode.UnspecifiedError or MqttReasonCode.ServerUnavailable or MqttReasonCode.ServerBusy
        or MqttReasonCode.ServerShuttingDown or MqttReasonCode.SessionTakenOver or MqttReasonCode.KeepAliveTimeout;
}
