using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Zhizao.Mqtt.Broker;

/// <summary>
/// One client connection: a read loop that decodes packets from a pipe and handles them in order, and a write loop
/// that drains a queue of packets into the socket. Other connections only ever enqueue here, so a client that stops
/// reading blocks nothing but its own write loop; see <see cref="MqttBrokerOptions.MaxOutboundPackets"/> for what is
/// dropped and when the client is disconnected.
/// </summary>
internal sealed class MqttConnection : IDisposable
{
    private readonly MqttBroker _broker;
    private readonly Socket _socket;
    private readonly MqttTlsContext? _tls;
    private Stream _stream;
    private readonly Channel<MqttPacket> _out = Channel.CreateUnbounded<MqttPacket>(new UnboundedChannelOptions { SingleReader = true });
    private readonly MqttPacketReader _reader;
    private readonly MqttPacketWriter _writer = new();
    private readonly CancellationTokenSource _cts = new();
    private readonly ILogger _log;
    private int _queued;
    private int _closing;
    private int _incomingUnacked;
    private string?[] _aliases = [];
    private bool _connected;

    public MqttConnection(MqttBroker broker, Socket socket, long id, MqttTlsContext? tls = null)
    {
        _broker = broker;
        _socket = socket;
        _tls = tls;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _reader = new MqttPacketReader(MqttProtocolVersion.Unknown, broker.Options.Limits);
        _log = broker.Logger;
        Flow = new FlowGate(broker, () => ClientId);
        Id = id;
        RemoteEndPoint = socket.RemoteEndPoint;
        ConnectedAtTicks = Environment.TickCount64;
        LastReceivedTicks = ConnectedAtTicks;
    }

    public long Id { get; }

    public EndPoint? RemoteEndPoint { get; }

    public string ClientId { get; private set; } = "";

    public string? UserName { get; private set; }

    public MqttProtocolVersion Version { get; private set; }

    /// <summary>The user name taken from a valid client certificate (TLS listener with a client CA); null otherwise.</summary>
    public string? CertificateUserName { get; private set; }

    private bool V5 => Version == MqttProtocolVersion.V500;

    public MqttSession? Session { get; set; }

    public long ConnectedAtTicks { get; }

    public long LastReceivedTicks { get; private set; }

    public ushort KeepAliveSeconds { get; private set; }

    public bool IsConnected => _connected;

    /// <summary>QoS 1/2 messages the broker may have in flight to this client.</summary>
    public int SendWindow { get; private set; } = 1;

    public MqttApplicationMessage? Will { get; private set; }

    public uint WillDelaySeconds { get; private set; }

    /// <summary>True after a DISCONNECT that does not ask for the will.</summary>
    public bool NormalDisconnect { get; private set; }

    public bool IsClosing => Volatile.Read(ref _closing) != 0;

    public async Task RunAsync()
    {
        if (_tls is not null && !await HandshakeAsync(_tls))
        {
            Volatile.Write(ref _closing, 1);
            Abort();
            _broker.OnConnectionClosed(this);
            Dispose();
            return;
        }
        var writeLoop = Task.Run(WriteLoopAsync);
        try
        {
            await ReadLoopAsync();
            if (_tls is not null && !_connected && !IsClosing)
                OnTlsDroppedBeforeConnect("closed");
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // the peer went away or we closed it
            if (_tls is not null && !_connected && !IsClosing)
                OnTlsDroppedBeforeConnect(ex.Message);
        }
        catch (Exception ex)
        {
            Log.ConnectionFailed(_log, ex, Id, ClientId);
        }
        finally
        {
            Volatile.Write(ref _closing, 1);
            _out.Writer.TryComplete();
            try
            {
                await writeLoop.WaitAsync(TimeSpan.FromSeconds(5));
            }
            catch (TimeoutException)
            {
                // slow consumer: the socket is closed under it below
            }
            _cts.Cancel();
            Abort();
            try
            {
                await writeLoop.WaitAsync(TimeSpan.FromSeconds(5));
            }
            catch (Exception)
            {
                // already logged or a closed socket
            }
            _broker.OnConnectionClosed(this);
            Dispose();
        }
    }

    public void Dispose()
    {
        _stream.Dispose();
        _cts.Dispose();
    }

    /// <summary>TLS server handshake; on failure the reason is logged (never key material) and false returned.</summary>
    private async Task<bool> HandshakeAsync(MqttTlsContext tls)
    {
        string? refusal = null, subject = null, issuer = null, thumbprint = null;
        var ssl = new SslStream(_stream, leaveInnerStreamOpen: false);
        _stream = ssl;
        var options = tls.CreateServerOptions((_, cert, chain, errors) =>
        {
            CertificateUserName = tls.CheckClient(cert, chain, errors, out refusal, out bool accepted);
            if (!accepted && cert is not null)
            {
                // read now: the certificate is disposed with the failed handshake
                subject = cert.Subject;
                issuer = cert.Issuer;
                thumbprint = (cert as X509Certificate2)?.Thumbprint ?? cert.GetCertHashString();
            }
            return accepted;
        });
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_cts.Token);
        timeout.CancelAfter(tls.HandshakeTimeout);
        string reason;
        try
        {
            await ssl.AuthenticateAsServerAsync(options, timeout.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            reason = _cts.IsCancellationRequested ? "connection closed" : $"no handshake within {tls.HandshakeTimeout.TotalSeconds:0.#} s";
        }
        catch (Exception ex)
        {
            // AuthenticationException, IOException, ...: whatever the peer sent, the broker logs it and carries on
            reason = ex.InnerException is { } inner && inner.Message != ex.Message ? $"{ex.Message} ({inner.Message})" : ex.Message;
        }
        _broker.Stats.AddTlsFailure();
        if (refusal is not null)
            Log.ClientCertificateRefused(_log, RemoteEndPoint, refusal, subject, issuer, thumbprint);
        else
            Log.TlsHandshakeFailed(_log, RemoteEndPoint, reason);
        return false;
    }

    /// <summary>A TLS client that hangs up right after the handshake, before any MQTT packet, has almost always
    /// refused our certificate (clients check it once their side of the handshake is done).</summary>
    private void OnTlsDroppedBeforeConnect(string how)
    {
        _broker.Stats.AddTlsFailure();
        Log.TlsHandshakeFailed(_log, RemoteEndPoint, $"{how} by the client before CONNECT (did it refuse the server certificate?)");
    }

    private async Task ReadLoopAsync()
    {
        var pipe = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: 4096, minimumReadSize: 1024, leaveOpen: true));
        try
        {
            while (true)
            {
                var result = await pipe.ReadAsync(_cts.Token);
                var buffer = result.Buffer;
                int packets = 0;
                if (!IsClosing)
                {
                    try
                    {
                        while (!IsClosing && _reader.TryRead(ref buffer, out var packet))
                        {
                            LastReceivedTicks = Environment.TickCount64;
                            packets++;
                            if (!_connected)
                                await HandleConnectAsync(packet);
                            else
                                Handle(packet);
                            if (_holdBackFor is { } full)
                            {
                                // flow control: a subscriber this client feeds has a long queue; read on once it drained
                                _holdBackFor = null;
                                _heldBack = true;
                                try
                                {
                                    await full.WaitAsync(_cts.Token);
                                }
                                finally
                                {
                                    _heldBack = false;
                                    LastReceivedTicks = Environment.TickCount64; // its input waited in the socket, not idle
                                }
                            }
                            if ((packets & 255) == 0)
                                await Task.Yield(); // a flooding publisher lets write loops and other readers run
                        }
                    }
                    catch (MqttProtocolException ex)
                    {
                        OnProtocolError(ex, result.Buffer);
                    }
                }
                if (IsClosing)
                {
                    // lingering close: what the peer still sends is read and dropped until it closes (or the 2 s
                    // abort), so our last packet is not lost to a TCP reset caused by unread input
                    buffer = buffer.Slice(buffer.End);
                }
                _broker.Stats.AddReceived(result.Buffer.Length - buffer.Length, packets);
                pipe.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                    return;
            }
        }
        finally
        {
            await pipe.CompleteAsync();
        }
    }

    private void OnProtocolError(MqttProtocolException ex, ReadOnlySequence<byte> raw)
    {
        _broker.Stats.AddProtocolError();
        Log.ProtocolError(_log, Id, ClientId, ex.ReasonCode, ex.Message);
        if (_connected)
        {
            Disconnect(ex.ReasonCode, ex.Message);
            return;
        }
        // before CONNECT completed: CONNACK with the reason code when the level is known, then close.
        var level = PeekConnectLevel(raw);
        if (level == MqttProtocolVersion.V500)
        {
            var code = MqttReasonCodes.IsValidFor(MqttPacketType.ConnAck, ex.ReasonCode) ? ex.ReasonCode : MqttReasonCode.MalformedPacket;
            Version = MqttProtocolVersion.V500;
            RefuseConnect(code, ex.Message);
        }
        else if (ex.ReasonCode is MqttReasonCode.UnsupportedProtocolVersion or MqttReasonCode.ClientIdentifierNotValid)
        {
            Version = MqttProtocolVersion.V311;
            RefuseConnect(ex.ReasonCode, null);
        }
        else
        {
            Close();
        }
    }

    /// <summary>The protocol level of a CONNECT at the start of <paramref name="raw"/>, when its bytes are there.</summary>
    internal static MqttProtocolVersion PeekConnectLevel(ReadOnlySequence<byte> raw)
    {
        Span<byte> h = stackalloc byte[16];
        int n = (int)Math.Min(h.Length, raw.Length);
        raw.Slice(0, n).CopyTo(h);
        h = h[..n];
        if (n < 2 || h[0] != 0x10)
            return MqttProtocolVersion.Unknown;
        int i = 1;
        while (i < n && i < 5 && (h[i] & 0x80) != 0)
            i++;
        i++;
        // protocol name: 00 04 'M' 'Q' 'T' 'T', then the level
        if (i + 6 >= n || h[i] != 0 || h[i + 1] != 4 || h[i + 2] != (byte)'M' || h[i + 3] != (byte)'Q' || h[i + 4] != (byte)'T' || h[i + 5] != (byte)'T')
            return MqttProtocolVersion.Unknown;
        return h[i + 6] switch
        {
            4 => MqttProtocolVersion.V311,
            5 => MqttProtocolVersion.V500,
            _ => MqttProtocolVersion.Unknown,
        };
    }

    private async ValueTask HandleConnectAsync(MqttPacket packet)
    {
        if (packet is not MqttConnectPacket connect)
            throw new MqttProtocolException(MqttReasonCode.ProtocolError, $"first packet is {packet.Type}, not CONNECT");
        Version = connect.ProtocolVersion;
        _writer.ProtocolVersion = Version;
        var props = connect.Properties;
        if (props?.AuthenticationMethod is not null)
        {
            RefuseConnect(MqttReasonCode.BadAuthenticationMethod, "enhanced authentication is not supported");
            return;
        }
        if (_broker.ConnectionCount > _broker.Options.MaxConnections)
        {
            RefuseConnect(V5 ? MqttReasonCode.ServerBusy : MqttReasonCode.ServerUnavailable, "too many connections");
            return;
        }
        string clientId = connect.ClientId;
        string? assigned = null;
        if (clientId.Length == 0)
            clientId = assigned = "zhizao-" + Guid.NewGuid().ToString("N");
        if (CertificateUserName is null && _broker.Options.Authenticator is { } auth)
        {
            MqttReasonCode verdict;
            try
            {
                verdict = await auth.AuthenticateAsync(new MqttAuthenticationContext
                {
                    ClientId = clientId,
                    UserName = connect.UserName,
                    Password = connect.Password,
                    RemoteEndPoint = RemoteEndPoint,
                    ProtocolVersion = Version,
                }, _cts.Token);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Log.AuthenticatorFailed(_log, ex, clientId);
                verdict = MqttReasonCode.ServerUnavailable;
            }
            if (verdict != MqttReasonCode.Success)
            {
                _broker.Stats.AddAuthFailure();
                Log.AuthenticationRefused(_log, clientId, connect.UserName, RemoteEndPoint, verdict);
                RefuseConnect(verdict, null);
                return;
            }
        }
        ClientId = clientId;
        UserName = CertificateUserName ?? connect.UserName;
        KeepAliveSeconds = connect.KeepAliveSeconds;
        if (props?.MaximumPacketSize is uint mps)
            _writer.MaximumPacketSize = mps;
        int clientReceiveMax = props?.ReceiveMaximum ?? 65535;
        SendWindow = Math.Max(1, Math.Min(clientReceiveMax, _broker.Options.MaxInflightMessages));
        if (V5 && _broker.Options.TopicAliasMaximum > 0)
            _aliases = new string?[_broker.Options.TopicAliasMaximum + 1];
        if (V5 && props?.TopicAliasMaximum is > 0 and var clientAliases && _broker.Options.ServerTopicAliases)
            _outAliasMax = clientAliases;
        if (connect.Will is { } will)
        {
            Will = ToMessage(will.Topic, will.Payload, will.QoS, will.Retain, will.Properties);
            WillDelaySeconds = will.Properties?.WillDelayInterval ?? 0;
        }
        uint expiry = V5 ? props?.SessionExpiryInterval ?? 0 : connect.CleanStart ? 0 : uint.MaxValue;
        _connected = true;
        var connack = new MqttConnAckPacket { ReasonCode = MqttReasonCode.Success };
        if (V5)
        {
            connack.Properties = new MqttProperties
            {
                ReceiveMaximum = _broker.Options.ReceiveMaximum,
                TopicAliasMaximum = _broker.Options.TopicAliasMaximum,
                MaximumPacketSize = (uint)_broker.Options.Limits.MaximumPacketSize,
                AssignedClientIdentifier = assigned,
            };
        }
        _broker.AttachSession(this, connect.CleanStart, expiry, connack);
        Log.Connected(_log, Id, clientId, RemoteEndPoint, (byte)Version, connack.SessionPresent);
    }

    /// <summary>Sends CONNACK with a failure (the 3.1.1 return code when the level is 4) and closes.</summary>
    private void RefuseConnect(MqttReasonCode code, string? reason)
    {
        var connack = new MqttConnAckPacket { ReasonCode = code };
        if (Version != MqttProtocolVersion.V500)
        {
            _writer.ProtocolVersion = MqttProtocolVersion.V311;
            connack.ReasonCode = MqttReasonCodes.ToV311ConnectReturnCode(code) >= 0 ? code : MqttReasonCode.ServerUnavailable;
        }
        else
        {
            _writer.ProtocolVersion = MqttProtocolVersion.V500;
            if (reason is not null)
                connack.Properties = new MqttProperties { ReasonString = reason };
        }
        Enqueue(connack, droppable: false);
        Close();
    }

    private FlowGate? _holdBackFor;
    private volatile bool _heldBack;

    /// <summary>True while flow control pauses this client's input (the keep-alive check then does not count).</summary>
    public bool IsHeldBack => _heldBack;

    /// <summary>Called after this client's PUBLISH was delivered to <paramref name="session"/> at <paramref name="qos"/>:
    /// when the queue it went to (QoS 0: the socket's outbound packets; QoS 1/2: the session's queue) is long, this
    /// client's input pauses after the current packet — never for its own session, whose acknowledgements this loop reads.</summary>
    internal void HoldBackIfFull(MqttSession session, MqttQoS qos)
    {
        if (ReferenceEquals(session, Session))
            return;
        var gate = qos == MqttQoS.AtMostOnce ? session.Connection?.Flow : session.Flow;
        if (gate is { IsClosed: true })
            _holdBackFor = gate;
    }

    /// <summary>Holds publishers back while many packets wait to be written to this socket (QoS 0 fan-in).</summary>
    public FlowGate Flow { get; }

    private void Handle(MqttPacket packet)
    {
        switch (packet)
        {
            case MqttPublishPacket p:
                HandlePublish(p);
                break;
            case MqttPubAckPacket a:
                Session!.Acknowledge(a.PacketId, pubComp: false);
                break;
            case MqttPubRecPacket r:
                if (Session!.Received(r.PacketId, failed: (byte)r.ReasonCode >= 0x80))
                {
                    if ((byte)r.ReasonCode < 0x80)
                        Enqueue(new MqttPubRelPacket { PacketId = r.PacketId }, droppable: false);
                }
                else if ((byte)r.ReasonCode < 0x80)
                {
                    Enqueue(new MqttPubRelPacket { PacketId = r.PacketId, ReasonCode = V5 ? MqttReasonCode.PacketIdentifierNotFound : 0 }, droppable: false);
                }
                break;
            case MqttPubRelPacket rel:
                bool known = Session!.EndIncomingQos2(rel.PacketId);
                if (known)
                    Interlocked.Decrement(ref _incomingUnacked);
                SendAfterDurable(new MqttPubCompPacket { PacketId = rel.PacketId, ReasonCode = known || !V5 ? 0 : MqttReasonCode.PacketIdentifierNotFound });
                break;
            case MqttPubCompPacket c:
                Session!.Acknowledge(c.PacketId, pubComp: true);
                break;
            case MqttSubscribePacket s:
                HandleSubscribe(s);
                break;
            case MqttUnsubscribePacket u:
                var codes = _broker.Unsubscribe(Session!, u.TopicFilters);
                Enqueue(new MqttUnsubAckPacket { PacketId = u.PacketId, ReasonCodes = V5 ? codes : [] }, droppable: false);
                break;
            case MqttPingReqPacket:
                Enqueue(new MqttPingRespPacket(), droppable: false);
                break;
            case MqttDisconnectPacket d:
                HandleDisconnect(d);
                break;
            case MqttConnectPacket:
                throw new MqttProtocolException(MqttReasonCode.ProtocolError, "second CONNECT on one connection (MQTT-3.1.0-2)");
            case MqttAuthPacket:
                throw new MqttProtocolException(MqttReasonCode.ProtocolError, "AUTH without an authentication method in CONNECT");
            default:
                throw new MqttProtocolException(MqttReasonCode.ProtocolError, $"a client may not send {packet.Type}");
        }
    }

    private void HandleDisconnect(MqttDisconnectPacket d)
    {
        if (V5 && d.Properties?.SessionExpiryInterval is uint newExpiry)
        {
            if (Session!.ExpiryInterval == 0 && newExpiry != 0)
            {
                Disconnect(MqttReasonCode.ProtocolError, "session expiry set in DISCONNECT after 0 in CONNECT (MQTT-3.14.2-2)");
                return;
            }
            Session.ExpiryInterval = newExpiry;
        }
        NormalDisconnect = !(V5 && d.ReasonCode == MqttReasonCode.DisconnectWithWillMessage);
        Close();
    }

    private void HandlePublish(MqttPublishPacket p)
    {
        var props = p.Properties;
        string topic = p.Topic;
        if (props is not null)
        {
            if (props.SubscriptionIdentifiers is { Count: > 0 })
                throw new MqttProtocolException(MqttReasonCode.ProtocolError, "a client PUBLISH carries a Subscription Identifier");
            if (props.TopicAlias is ushort alias)
            {
                if (alias >= _aliases.Length)
                    throw new MqttProtocolException(MqttReasonCode.TopicAliasInvalid,
                        $"topic alias {alias} is above the Topic Alias Maximum {Math.Max(0, _aliases.Length - 1)}");
                if (topic.Length > 0)
                    _aliases[alias] = topic;
                else
                    topic = _aliases[alias] ?? throw new MqttProtocolException(MqttReasonCode.ProtocolError, $"topic alias {alias} is not set");
            }
        }
        if (p.QoS != MqttQoS.AtMostOnce)
        {
            if (Volatile.Read(ref _incomingUnacked) >= _broker.Options.ReceiveMaximum)
                throw new MqttProtocolException(MqttReasonCode.ReceiveMaximumExceeded,
                    $"more than Receive Maximum = {_broker.Options.ReceiveMaximum} QoS 1/2 PUBLISHes unacknowledged");
        }
        if (p.QoS == MqttQoS.ExactlyOnce && !Session!.BeginIncomingQos2(p.PacketId))
        {
            // resend of a message already routed: answer PUBREC again, do not route twice
            Enqueue(new MqttPubRecPacket { PacketId = p.PacketId }, droppable: false);
            return;
        }
        if (p.QoS != MqttQoS.AtMostOnce)
            Interlocked.Increment(ref _incomingUnacked);

        var reason = MqttReasonCode.Success;
        bool allowed = !topic.StartsWith("$SYS", StringComparison.Ordinal)
            && (_broker.Options.Acl is not { } acl || acl.CanPublish(UserName, ClientId, topic));
        // a QoS 1/2 message the sink takes (the node's ingest) is acknowledged only once the sink has it stored
        TaskCompletionSource<bool>? stored = null;
        if (!allowed)
        {
            _broker.Stats.AddDenied();
            reason = MqttReasonCode.NotAuthorized;
        }
        else
        {
            var message = ToMessage(topic, p.Payload, p.QoS, p.Retain, props);
            if (p.QoS != MqttQoS.AtMostOnce && _broker.HasSink && !topic.StartsWith('$'))
                stored = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            var done = stored;
            int matched = _broker.Publish(message, this, done is null ? null : ok => done.TrySetResult(ok), out bool refused);
            if (refused && stored is not null)
            {
                stored = null;
                if (p.QoS == MqttQoS.ExactlyOnce)
                    Session!.EndIncomingQos2(p.PacketId); // not taken: a resend must be routed again
                if (!V5)
                    throw new MqttProtocolException(MqttReasonCode.QuotaExceeded, "the ingest queue is full: message not acknowledged, resend it");
                reason = MqttReasonCode.QuotaExceeded;
            }
            else if (matched == 0)
                reason = MqttReasonCode.NoMatchingSubscribers;
        }
        if (!V5)
            reason = MqttReasonCode.Success;
        // acknowledgements keep the order of the PUBLISHes (MQTT-4.6.0): behind one that waits for the sink, all wait
        if (stored is not null || !_ackOrder.IsCompleted)
        {
            _ackOrder = AcknowledgeWhenStoredAsync(_ackOrder, stored?.Task ?? Task.FromResult(true), p.QoS, p.PacketId, reason);
            return;
        }
        Acknowledge(p.QoS, p.PacketId, reason);
    }

    private Task _ackOrder = Task.CompletedTask;

    private void Acknowledge(MqttQoS qos, ushort packetId, MqttReasonCode reason)
    {
        switch (qos)
        {
            case MqttQoS.AtLeastOnce:
                SendAfterDurable(new MqttPubAckPacket { PacketId = packetId, ReasonCode = reason }, releaseQuota: true);
                break;
            case MqttQoS.ExactlyOnce:
                if ((byte)reason >= 0x80)
                {
                    Session!.EndIncomingQos2(packetId);
                    Interlocked.Decrement(ref _incomingUnacked);
                }
                SendAfterDurable(new MqttPubRecPacket { PacketId = packetId, ReasonCode = reason });
                break;
        }
    }

    /// <summary>Acknowledges after the sink stored the message; if the sink failed, a v5 client gets an error reason
    /// and a 3.1.1 client (which has none) loses the connection unacknowledged, so it resends.</summary>
    private async Task AcknowledgeWhenStoredAsync(Task previous, Task<bool> stored, MqttQoS qos, ushort packetId, MqttReasonCode reason)
    {
        await previous.ConfigureAwait(false);
        bool ok = await stored.ConfigureAwait(false);
        if (ok)
        {
            Acknowledge(qos, packetId, reason);
        }
        else if (V5)
        {
            Acknowledge(qos, packetId, MqttReasonCode.ImplementationSpecificError);
        }
        else
        {
            if (qos == MqttQoS.ExactlyOnce)
                Session?.EndIncomingQos2(packetId);
            Abort();
        }
    }

    /// <summary>With a store, acknowledgements wait until what this packet caused is fsynced; the store runs the
    /// callbacks in append order, so acknowledgements keep the order of the packets.</summary>
    private void SendAfterDurable(MqttPacket ack, bool releaseQuota = false)
    {
        if (_broker.Store is { } store)
        {
            store.WhenDurable(() =>
            {
                if (releaseQuota)
                    Interlocked.Decrement(ref _incomingUnacked);
                Enqueue(ack, droppable: false);
            });
            return;
        }
        if (releaseQuota)
            Interlocked.Decrement(ref _incomingUnacked);
        Enqueue(ack, droppable: false);
    }

    private void HandleSubscribe(MqttSubscribePacket s)
    {
        uint subId = s.Properties?.SubscriptionIdentifiers is { Count: > 0 } ids ? ids[0] : 0;
        var codes = new List<MqttReasonCode>(s.Subscriptions.Count);
        var retainedToSend = new List<SubscriptionOptions>();
        foreach (var sub in s.Subscriptions)
        {
            if (_broker.Options.Acl is { } acl && !acl.CanSubscribe(UserName, ClientId, sub.TopicFilter))
            {
                _broker.Stats.AddDenied();
                codes.Add(V5 ? MqttReasonCode.NotAuthorized : MqttReasonCode.UnspecifiedError);
                continue;
            }
            var options = new SubscriptionOptions(sub.TopicFilter, sub.MaximumQoS, sub.NoLocal, sub.RetainAsPublished, sub.RetainHandling, subId);
            bool isNew = _broker.Subscribe(Session!, options);
            codes.Add((MqttReasonCode)(byte)sub.MaximumQoS);
            if (!TopicFilter.IsShared(sub.TopicFilter)
                && (sub.RetainHandling == MqttRetainHandling.SendAtSubscribe || (sub.RetainHandling == MqttRetainHandling.SendAtSubscribeIfNew && isNew)))
                retainedToSend.Add(options);
        }
        _broker.PersistSession(Session!);
        Enqueue(new MqttSubAckPacket { PacketId = s.PacketId, ReasonCodes = codes }, droppable: false);
        foreach (var options in retainedToSend)
            _broker.SendRetained(Session!, options);
    }

    private MqttApplicationMessage ToMessage(string topic, ReadOnlyMemory<byte> payload, MqttQoS qos, bool retain, MqttProperties? props)
    {
        long now = MqttBroker.NowUnixMs();
        MqttProperties? forwarded = null;
        if (props is not null && (props.PayloadFormatIndicator is not null || props.ContentType is not null || props.ResponseTopic is not null
            || props.CorrelationData is not null || props.UserProperties is { Count: > 0 }))
        {
            forwarded = new MqttProperties
            {
                PayloadFormatIndicator = props.PayloadFormatIndicator,
                ContentType = props.ContentType,
                ResponseTopic = props.ResponseTopic,
                CorrelationData = props.CorrelationData,
                UserProperties = props.UserProperties,
            };
        }
        return new MqttApplicationMessage
        {
            Topic = topic,
            Payload = payload,
            QoS = qos,
            Retain = retain,
            Properties = forwarded,
            ExpiresAtUnixMs = props?.MessageExpiryInterval is uint e ? now + e * 1000L : 0,
            SenderClientId = ClientId,
            ReceivedAtUnixMs = now,
        };
    }

    /// <param name="nowUnixMs">0 = read the clock only when the message expires.</param>
    public MqttPublishPacket BuildPublish(MqttApplicationMessage m, MqttQoS qos, bool retain, ushort packetId, bool dup,
        List<uint>? subscriptionIds, long nowUnixMs)
    {
        MqttProperties? props = null;
        if (V5 && (m.Properties is not null || m.ExpiresAtUnixMs != 0 || subscriptionIds is not null))
        {
            var src = m.Properties;
            props = new MqttProperties
            {
                PayloadFormatIndicator = src?.PayloadFormatIndicator,
                ContentType = src?.ContentType,
                ResponseTopic = src?.ResponseTopic,
                CorrelationData = src?.CorrelationData,
                UserProperties = src?.UserProperties,
                SubscriptionIdentifiers = subscriptionIds,
                MessageExpiryInterval = m.ExpiresAtUnixMs == 0 ? null
                    : (uint)Math.Max(1, (m.ExpiresAtUnixMs - (nowUnixMs == 0 ? MqttBroker.NowUnixMs() : nowUnixMs) + 999) / 1000),
            };
        }
        return new MqttPublishPacket
        {
            Topic = m.Topic,
            Payload = m.Payload,
            QoS = qos,
            Retain = retain,
            Dup = dup && qos != MqttQoS.AtMostOnce,
            PacketId = packetId,
            Properties = props,
        };
    }

    /// <summary>True when a droppable packet would be dropped now (checked before building one).</summary>
    public bool OutboundFull => Volatile.Read(ref _queued) >= _broker.Options.MaxOutboundPackets;

    /// <summary>Queues a packet for the write loop. A droppable packet (QoS 0 PUBLISH) is dropped when the queue holds
    /// <see cref="MqttBrokerOptions.MaxOutboundPackets"/>; any packet past twice that disconnects the client.</summary>
    public bool Enqueue(MqttPacket packet, bool droppable)
    {
        if (IsClosing && packet is not (MqttDisconnectPacket or MqttConnAckPacket))
            return false;
        int limit = _broker.Options.MaxOutboundPackets;
        int n = Interlocked.Increment(ref _queued);
        if (droppable && n > limit)
        {
            Interlocked.Decrement(ref _queued);
            _broker.Stats.AddDropped();
            return false;
        }
        if (n > 2 * limit + SendWindow + 16)
        {
            Interlocked.Decrement(ref _queued);
            if (!IsClosing)
            {
                _broker.Stats.AddSlowConsumerDisconnect();
                Log.SlowConsumer(_log, ClientId, "outbound queue is full");
                Disconnect(MqttReasonCode.QuotaExceeded, "slow consumer: outbound queue is full");
            }
            return false;
        }
        if (!_out.Writer.TryWrite(packet))
        {
            Interlocked.Decrement(ref _queued);
            return false;
        }
        if (droppable)
            Flow.Added(n);
        return true;
    }

    /// <summary>Sends DISCONNECT with <paramref name="reason"/> (v5 only) and closes.</summary>
    public void Disconnect(MqttReasonCode reason, string? reasonString)
    {
        if (_connected && V5 && !IsClosing)
        {
            var d = new MqttDisconnectPacket { ReasonCode = MqttReasonCodes.IsValidFor(MqttPacketType.Disconnect, reason) ? reason : MqttReasonCode.UnspecifiedError };
            if (reasonString is not null)
                d.Properties = new MqttProperties { ReasonString = reasonString };
            _out.Writer.TryWrite(d);
        }
        Close();
    }

    /// <summary>Stops accepting packets; the write loop sends what is queued and shuts the socket. A write loop stuck on
    /// a client that does not read is cut off after 2 s.</summary>
    public void Close()
    {
        if (Interlocked.Exchange(ref _closing, 1) != 0)
            return;
        Flow.Open(caughtUp: true); // nobody waits for a socket that is going away
        _out.Writer.TryComplete();
        _ = Task.Delay(2000).ContinueWith(_ => Abort(), TaskScheduler.Default);
    }

    public void Abort()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // already closed
        }
        _stream.Dispose();
    }

    /// <summary>Writes queued packets until the queue completes or a final packet (DISCONNECT, refusing CONNACK) is written.</summary>
    private async Task WritePacketsAsync(PipeWriter pipe)
    {
        var reader = _out.Reader;
        long bytes = 0, packets = 0, publishes = 0;
        while (await reader.WaitToReadAsync(_cts.Token))
        {
            while (reader.TryRead(out var packet))
            {
                int left = Interlocked.Decrement(ref _queued);
                Flow.Taken(left);
                string? aliased = packet is MqttPublishPacket pub && _outAliasMax > 0 ? UseOutgoingAlias(pub) : null;
                try
                {
                    bytes += _writer.Write(packet, pipe);
                    packets++;
                    if (packet is MqttPublishPacket)
                        publishes++;
                }
                catch (MqttProtocolException) when (packet is MqttPublishPacket big)
                {
                    // larger than the client's Maximum Packet Size: dropped as if delivered (MQTT-3.1.2-25)
                    if (aliased is not null)
                        _outAliases!.Remove(aliased); // the client never learned this alias
                    _broker.Stats.AddDropped();
                    if (big.QoS != MqttQoS.AtMostOnce && Session is { } s)
                        s.Drop(big.PacketId);
                }
                if (packet is MqttDisconnectPacket or MqttConnAckPacket { ReasonCode: not MqttReasonCode.Success })
                {
                    // the last packet of this connection: whatever raced in behind it is not sent
                    _broker.Stats.AddSent(bytes, packets, publishes);
                    await pipe.FlushAsync(_cts.Token);
                    return;
                }
                if (pipe.UnflushedBytes > 64 * 1024)
                    await pipe.FlushAsync(_cts.Token);
            }
            _broker.Stats.AddSent(bytes, packets, publishes);
            bytes = packets = publishes = 0;
            await pipe.FlushAsync(_cts.Token);
        }
    }

    private ushort _outAliasMax;
    private Dictionary<string, ushort>? _outAliases;

    /// <summary>
    /// Server → client topic aliases (v5, when the client announced a Topic Alias Maximum): in the order packets are
    /// written, the first <c>Topic Alias Maximum</c> topics sent to this client get aliases 1, 2, …; a later PUBLISH to
    /// one of them carries the alias and an empty topic. No replacement once all aliases are used. Returns the topic
    /// when this packet sets a new alias (undone if the packet cannot be sent).
    /// </summary>
    private string? UseOutgoingAlias(MqttPublishPacket p)
    {
        var map = _outAliases ??= new Dictionary<string, ushort>(StringComparer.Ordinal);
        if (map.TryGetValue(p.Topic, out ushort alias))
        {
            (p.Properties ??= new MqttProperties()).TopicAlias = alias;
            p.Topic = "";
            return null;
        }
        if (map.Count >= _outAliasMax || p.Topic.Length < 3)
            return null;
        alias = (ushort)(map.Count + 1);
        map[p.Topic] = alias;
        (p.Properties ??= new MqttProperties()).TopicAlias = alias;
        return p.Topic;
    }

    private async Task WriteLoopAsync()
    {
        var pipe = PipeWriter.Create(_stream, new StreamPipeWriterOptions(minimumBufferSize: 4096, leaveOpen: true));
        try
        {
            await WritePacketsAsync(pipe);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // the connection is gone
            Abort();
            return;
        }
        try
        {
            if (_stream is SslStream ssl)
                await ssl.ShutdownAsync(); // TLS close_notify before the FIN
            // everything is written: FIN after the last packet; the read loop drains until the peer closes
            _socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException)
        {
            // already closed
        }
    }
}
