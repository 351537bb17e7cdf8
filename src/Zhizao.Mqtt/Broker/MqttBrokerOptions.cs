using System.Net;

namespace Zhizao.Mqtt.Broker;

/// <summary>Configuration of <see cref="MqttBroker"/>. The defaults listen on loopback:1883 and keep everything in memory.</summary>
public sealed class MqttBrokerOptions
{
    /// <summary>Address to listen on. Loopback by default; binding anything else is the host's decision.</summary>
    public IPAddress Address { get; set; } = IPAddress.Loopback;

    /// <summary>TCP port; 0 picks a free port (read it back from <see cref="MqttBroker.Port"/>).</summary>
    public int Port { get; set; } = 1883;

    /// <summary>False turns the plain (non-TLS) listener off, e.g. when only <see cref="Tls"/> should be reachable.</summary>
    public bool ListenPlain { get; set; } = true;

    /// <summary>The TLS listener (8883 by default), beside the plain one; null = no TLS.</summary>
    public MqttBrokerTlsOptions? Tls { get; set; }

    /// <summary>Decoder limits for every connection (packet size, topic length, property counts).</summary>
    public MqttLimits Limits { get; set; } = MqttLimits.Default;

    /// <summary>Directory of the session/message log. Null keeps sessions and in-flight messages in memory only.</summary>
    public string? DataDirectory { get; set; }

    /// <summary>Checks user name and password. Null accepts every client (anonymous).</summary>
    public IMqttAuthenticator? Authenticator { get; set; }

    /// <summary>Per-topic access rules. Null allows every client to publish and subscribe to every topic (but $SYS is
    /// never writable by clients).</summary>
    public MqttAcl? Acl { get; set; }

    /// <summary>Receives a copy of every accepted PUBLISH, in batches, off the publishers' path.</summary>
    public IMqttMessageSink? MessageSink { get; set; }

    /// <summary>Capacity of the queue in front of <see cref="MessageSink"/>; when full, messages for the sink are dropped
    /// and counted (the publisher is never blocked).</summary>
    public int MessageSinkQueueCapacity { get; set; } = 100_000;

    /// <summary>Receive Maximum the broker announces: QoS 1/2 PUBLISHes a client may have unacknowledged towards us.</summary>
    public ushort ReceiveMaximum { get; set; } = 1024;

    /// <summary>Most QoS 1/2 messages in flight from the broker to one client (further capped by the client's own
    /// Receive Maximum).</summary>
    public int MaxInflightMessages { get; set; } = 100;

    /// <summary>Most QoS 1/2 messages queued for one session beyond the in-flight window. An online client that lets
    /// the queue overflow is disconnected (v5 reason Quota exceeded); for an offline session further messages are dropped.</summary>
    public int MaxQueuedMessages { get; set; } = 10_000;

    /// <summary>
    /// Publisher flow control: while a connected subscriber has more than this many QoS 1/2 messages queued beyond its
    /// in-flight window, the broker stops reading from the publishers that feed it until the queue is down to half,
    /// so fast publishers run at the rate the subscriber drains instead of filling memory (and the CPU) with a backlog.
    /// A subscriber that takes fewer than half this many messages from its queue during <see cref="FlowControlMaxPause"/>
    /// (by default 500 in 100 ms) is treated as slow and no longer holds anyone back (its queue then fills up to
    /// <see cref="MaxQueuedMessages"/>, the slow-consumer policy) until it has caught up. The same applies to QoS 0
    /// packets waiting for a subscriber's socket. A client is never held back by its own queue. 0 turns it off.
    /// </summary>
    public int FlowControlQueue { get; set; } = 1_000;

    /// <summary>The interval in which a subscriber holding publishers back must take half of <see cref="FlowControlQueue"/>
    /// from its queue, or be treated as slow.</summary>
    public TimeSpan FlowControlMaxPause { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Most packets waiting to be written to one socket. A QoS 0 PUBLISH that finds the queue full is dropped
    /// for that client; acknowledgements are always queued, but a client whose queue reaches twice this limit is disconnected.</summary>
    public int MaxOutboundPackets { get; set; } = 2_000;

    /// <summary>Topic Alias Maximum announced to v5 clients (client to server aliases); 0 disables aliases.</summary>
    public ushort TopicAliasMaximum { get; set; } = 64;

    /// <summary>Use topic aliases towards v5 clients that announce a Topic Alias Maximum (the first that many topics
    /// sent to a client get one; later PUBLISHes to them carry the two-byte alias instead of the topic). Off by default:
    /// libmosquitto 2.0.11 (Debian's mosquitto_sub) announces a maximum when asked but drops the connection with a
    /// protocol error on the first PUBLISH that carries only an alias.</summary>
    public bool ServerTopicAliases { get; set; }

    /// <summary>Time a new connection has to send CONNECT.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Interval of the $SYS/broker/... statistics topics; zero disables them.</summary>
    public TimeSpan SysInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Most simultaneous connections; further ones get CONNACK Server unavailable (3.1.1) / Server busy (v5).</summary>
    public int MaxConnections { get; set; } = 100_000;
}
