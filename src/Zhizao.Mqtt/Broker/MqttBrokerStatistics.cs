namespace Zhizao.Mqtt.Broker;

/// <summary>Counters since start; also published under $SYS/broker/... every <see cref="MqttBrokerOptions.SysInterval"/>.</summary>
public sealed class MqttBrokerStatistics
{
    private long _connectionsAccepted;
    private long _messagesReceived;
    private long _messagesSent;
    private long _messagesDropped;
    private long _bytesReceived;
    private long _bytesSent;
    private long _packetsReceived;
    private long _packetsSent;
    private long _protocolErrors;
    private long _authFailures;
    private long _tlsFailures;
    private long _denied;
    private long _sinkDropped;
    private long _slowConsumerDisconnects;
    private long _flowControlPauses;
    private long _flowControlTimeouts;

    public long ConnectionsAccepted => Interlocked.Read(ref _connectionsAccepted);
    public long MessagesReceived => Interlocked.Read(ref _messagesReceived);
    public long MessagesSent => Interlocked.Read(ref _messagesSent);
    /// <summary>Deliveries dropped: QoS 0 to a full outbound queue, QoS 1/2 to a full session queue, oversize, expired.</summary>
    public long MessagesDropped => Interlocked.Read(ref _messagesDropped);
    public long BytesReceived => Interlocked.Read(ref _bytesReceived);
    public long BytesSent => Interlocked.Read(ref _bytesSent);
    public long PacketsReceived => Interlocked.Read(ref _packetsReceived);
    public long PacketsSent => Interlocked.Read(ref _packetsSent);
    public long ProtocolErrors => Interlocked.Read(ref _protocolErrors);
    public long AuthenticationFailures => Interlocked.Read(ref _authFailures);
    /// <summary>TLS connections that did not complete the handshake (not TLS, refused or missing client certificate, timeout).</summary>
    public long TlsHandshakeFailures => Interlocked.Read(ref _tlsFailures);
    /// <summary>PUBLISH and SUBSCRIBE refused by the ACL.</summary>
    public long Denied => Interlocked.Read(ref _denied);
    public long SinkDropped => Interlocked.Read(ref _sinkDropped);
    public long SlowConsumerDisconnects => Interlocked.Read(ref _slowConsumerDisconnects);
    /// <summary>Times a publisher's input was paused because a subscriber it feeds had a long queue.</summary>
    public long FlowControlPauses => Interlocked.Read(ref _flowControlPauses);
    /// <summary>Pauses that ended because the subscriber did not drain in time (it was then treated as slow).</summary>
    public long FlowControlTimeouts => Interlocked.Read(ref _flowControlTimeouts);

    internal void AddConnection() => Interlocked.Increment(ref _connectionsAccepted);
    internal void AddMessageReceived() => Interlocked.Increment(ref _messagesReceived);
    internal void AddDropped() => Interlocked.Increment(ref _messagesDropped);
    internal void AddReceived(long bytes, int packets)
    {
        if (bytes != 0)
            Interlocked.Add(ref _bytesReceived, bytes);
        if (packets != 0)
            Interlocked.Add(ref _packetsReceived, packets);
    }
    internal void AddProtocolError() => Interlocked.Increment(ref _protocolErrors);
    internal void AddAuthFailure() => Interlocked.Increment(ref _authFailures);
    internal void AddTlsFailure() => Interlocked.Increment(ref _tlsFailures);
    internal void AddDenied() => Interlocked.Increment(ref _denied);
    internal void AddSinkDropped() => Interlocked.Increment(ref _sinkDropped);
    internal void AddSlowConsumerDisconnect() => Interlocked.Increment(ref _slowConsumerDisconnects);
    internal void AddFlowControlPause() => Interlocked.Increment(ref _flowControlPauses);
    internal void AddFlowControlTimeout() => Interlocked.Increment(ref _flowControlTimeouts);

    internal void AddSent(long bytes, long packets, long publishes)
    {
        if (packets == 0)
            return;
        Interlocked.Add(ref _bytesSent, bytes);
        Interlocked.Add(ref _packetsSent, packets);
        if (publishes != 0)
            Interlocked.Add(ref _messagesSent, publishes);
    }
}
