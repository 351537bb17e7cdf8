using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Threading.Channels;

namespace Zhizao.Mqtt.Client;

/// <summary>
/// MQTT 3.1.1 / 5.0 client. QoS 0/1/2 in both directions; PublishAsync completes when the message is written (QoS 0),
/// acknowledged (QoS 1) or completed (QoS 2). With <see cref="MqttClientOptions.AutoReconnect"/> a lost connection is
/// re-established with back-off, subscriptions are renewed when the server has no session, and unacknowledged
/// PUBLISHes are resent in order (with DUP when the session survived). Thread-safe.
/// </summary>
public sealed class MqttClient : IAsyncDisposable
{
    private readonly MqttClientOptions _options;
    private readonly object _lock = new();
    private readonly Dictionary<ushort, Pending> _pending = [];
    private readonly LinkedList<Pending> _unacked = new();
    private readonly Dictionary<string, MqttSubscription> _subscriptions = new(StringComparer.Ordinal);
    private readonly HashSet<ushort> _incomingQos2 = [];
    private readonly ConditionalWeakTable<MqttPublishPacket, Channel<MqttPacket>> _awaitingAck = [];
    private readonly Queue<TaskCompletionSource> _windowWaiters = new();
    private readonly CancellationTokenSource _disposeCts = new();
    private Channel<MqttPacket> _out;
    private Socket? _socket;
    private CancellationTokenSource? _connCts;
    private Task? _connectionTask;
    private TaskCompletionSource? _connAckWaiter;
    private MqttConnAckPacket? _connAck;
    private ushort _nextId;
    private int _window = 1;
    private int _inflight;
    private bool _disposed;
    private bool _userDisconnect;

    private sealed class Pending
    {
        public required MqttPacket Packet;
        public TaskCompletionSource<MqttPacket> Done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public bool Released;
        public LinkedListNode<Pending>? Node;
    }

    public MqttClient(MqttClientOptions options)
    {
        _options = options;
        _out = NewQueue();
    }

    /// <summary>Called on the read loop for every PUBLISH received; keep it short (hand work to a queue).</summary>
    public Action<MqttPublishPacket>? MessageReceived { get; set; }

    /// <summary>Called after every successful CONNACK (first connect and reconnects).</summary>
    public Action<MqttConnAckPacket>? Connected { get; set; }

    /// <summary>Called when a connection ends, with the server's DISCONNECT reason when it sent one.</summary>
    public Action<MqttReasonCode?>? Disconnected { get; set; }

    public bool IsConnected { get; private set; }

    public int ReconnectCount { get; private set; }

    /// <summary>The client identifier in use (the assigned one when the server chose it).</summary>
    public string ClientId { get; private set; } = "";

    public MqttReasonCode? LastDisconnectReason { get; private set; }

    private Channel<MqttPacket> NewQueue() =>
        Channel.CreateBounded<MqttPacket>(new BoundedChannelOptions(_options.SendQueueCapacity) { SingleReader = true });

    /// <summary>Connects once (no retry); throws <see cref="MqttClientException"/> when refused. With AutoReconnect the
    /// client keeps reconnecting after later losses.</summary>
    public async Task<MqttConnAckPacket> ConnectAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var ack = await ConnectOnceAsync(cancellationToken);
        _connectionTask = Task.Run(SuperviseAsync, CancellationToken.None);
        return ack;
    }

    private async Task<MqttConnAckPacket> ConnectOnceAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposeCts.Token);
        timeout.CancelAfter(_options.ConnectTimeout);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(_options.Host, _options.Port, timeout.Token);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            socket.Dispose();
            throw new MqttClientException($"cannot connect to {_options.Host}:{_options.Port}: {ex.Message}", MqttReasonCode.ServerUnavailable, ex);
        }
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        if (_options.Tls is { } tls)
            stream = await AuthenticateAsync(stream, tls, timeout.Token);
        var connCts = CancellationTokenSource.CreateLinkedTokenSource(_disposeCts.Token);
        _out = NewQueue();
        _connAckWaiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _connAck = null;
        _socket = socket;
        _connCts = connCts;
        var writer = new MqttPacketWriter(_options.ProtocolVersion);
        var reader = new MqttPacketReader(_options.ProtocolVersion, _options.Limits);
        bool v5 = _options.ProtocolVersion == MqttProtocolVersion.V500;
        var connect = new MqttConnectPacket
        {
            ProtocolVersion = _options.ProtocolVersion,
            ClientId = ClientId.Length > 0 && !_options.CleanStart ? ClientId : _options.ClientId,
            CleanStart = _options.CleanStart,
            KeepAliveSeconds = _options.KeepAliveSeconds,
            UserName = _options.UserName,
            Password = _options.Password is null ? null : System.Text.Encoding.UTF8.GetBytes(_options.Password),
            Will = _options.Will,
        };
        if (v5)
        {
            connect.Properties = new MqttProperties
            {
                ReceiveMaximum = _options.ReceiveMaximum,
                SessionExpiryInterval = _options.SessionExpiryInterval == 0 ? null : _options.SessionExpiryInterval,
                MaximumPacketSize = (uint)_options.Limits.MaximumPacketSize,
                UserProperties = _options.UserProperties,
                TopicAliasMaximum = _options.TopicAliasMaximum == 0 ? null : _options.TopicAliasMaximum,
            };
        }
        _inAliases = v5 && _options.TopicAliasMaximum > 0 ? new string?[_options.TopicAliasMaximum + 1] : [];
        _out.Writer.TryWrite(connect);
        var readTask = Task.Run(() => ReadLoopAsync(stream, reader, connCts.Token), CancellationToken.None);
        var writeTask = Task.Run(() => WriteLoopAsync(stream, writer, _out.Reader, connCts.Token), CancellationToken.None);
        _running = Task.WhenAll(readTask, writeTask);
        try
        {
            await _connAckWaiter.Task.WaitAsync(timeout.Token);
        }
        catch (Exception ex)
        {
            await CloseConnectionAsync();
            if (ex is MqttClientException)
                throw;
            throw new MqttClientException($"no CONNACK from {_options.Host}:{_options.Port}: {ex.Message}", MqttReasonCode.ServerUnavailable, ex);
        }
        var ack = _connAck!;
        if (ack.ReasonCode != MqttReasonCode.Success)
        {
            await CloseConnectionAsync();
            throw new MqttClientException($"server refused CONNECT: {ack.ReasonCode}", ack.ReasonCode);
        }
        ClientId = ack.Properties?.AssignedClientIdentifier ?? connect.ClientId;
        int serverMax = ack.Properties?.ReceiveMaximum ?? 65535;
        List<Pending> resend;
        List<MqttSubscription> resubscribe;
        lock (_lock)
        {
            _window = Math.Max(1, Math.Min(serverMax, _options.MaxInflight));
            resend = [.. _unacked];
            resubscribe = ack.SessionPresent ? [] : [.. _subscriptions.Values];
            if (!ack.SessionPresent)
                _incomingQos2.Clear();
            IsConnected = true;
            PumpWindow();
        }
        foreach (var p in resend)
        {
            if (p.Released)
                _out.Writer.TryWrite(new MqttPubRelPacket { PacketId = PacketIdOf(p.Packet) });
            else
            {
                if (p.Packet is MqttPublishPacket pub)
                    pub.Dup = ack.SessionPresent;
                _out.Writer.TryWrite(p.Packet);
            }
        }
        if (resubscribe.Count > 0)
            _ = SubscribeCoreAsync(resubscribe, null, remember: false, CancellationToken.None).ContinueWith(_ => { }, TaskScheduler.Default);
        Connected?.Invoke(ack);
        return ack;
    }

    private Task? _running;

    private async Task<Stream> AuthenticateAsync(Stream inner, MqttClientTlsOptions tls, CancellationToken ct)
    {
        SslClientAuthenticationOptions options;
        try
        {
            options = tls.Build(_options.Host);
        }
        catch
        {
            await inner.DisposeAsync();
            throw;
        }
        var ssl = new SslStream(inner, leaveInnerStreamOpen: false);
        try
        {
            await ssl.AuthenticateAsClientAsync(options, ct);
            return ssl;
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or OperationCanceledException or System.ComponentModel.Win32Exception)
        {
            await ssl.DisposeAsync();
            string why = ex is OperationCanceledException ? "timed out" : ex.InnerException is { } i && i.Message != ex.Message ? $"{ex.Message} ({i.Message})" : ex.Message;
            // a refused certificate will be refused again: not transient
            var code = ex is AuthenticationException ? MqttReasonCode.NotAuthorized : MqttReasonCode.ServerUnavailable;
            throw new MqttClientException($"TLS handshake with {options.TargetHost} ({_options.Host}:{_options.Port}) failed: {why}", code, ex);
        }
    }

    private async Task SuperviseAsync()
    {
        var delay = _options.ReconnectDelay;
        while (!_disposeCts.IsCancellationRequested)
        {
            if (_running is { } running)
                await running.ContinueWith(_ => { }, TaskScheduler.Default);
            await CloseConnectionAsync();
            lock (_lock)
                IsConnected = false;
            Disconnected?.Invoke(LastDisconnectReason);
            if (!_options.AutoReconnect || _userDisconnect || _disposeCts.IsCancellationRequested)
                break;
            while (!_disposeCts.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(delay, _disposeCts.Token);
                    await ConnectOnceAsync(_disposeCts.Token);
                    ReconnectCount++;
                    delay = _options.ReconnectDelay;
                    break;
                }
                catch (MqttClientException)
                {
                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.MaxReconnectDelay.Ticks));
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
        FailAll(new MqttClientException("client disconnected"));
    }

    private async Task CloseConnectionAsync()
    {
        var cts = _connCts;
        if (cts is not null)
        {
            try
            {
                await cts.CancelAsync();
            }
            catch (ObjectDisposedException)
            {
                // closed already
            }
        }
        _socket?.Dispose();
    }

    private async Task ReadLoopAsync(Stream stream, MqttPacketReader reader, CancellationToken ct)
    {
        var pipe = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
        try
        {
            while (true)
            {
                var result = await pipe.ReadAsync(ct);
                var buffer = result.Buffer;
                while (reader.TryRead(ref buffer, out var packet))
                    Handle(packet);
                pipe.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                    break;
            }
        }
        catch (MqttProtocolException ex)
        {
            _connAckWaiter?.TrySetException(new MqttClientException($"bad packet from the server: {ex.Message}", ex.ReasonCode, ex));
            if (_options.ProtocolVersion == MqttProtocolVersion.V500)
                _out.Writer.TryWrite(new MqttDisconnectPacket { ReasonCode = ex.ReasonCode });
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // connection lost
        }
        finally
        {
            _connAckWaiter?.TrySetException(new MqttClientException($"{_options.Host}:{_options.Port} closed the connection before CONNACK", MqttReasonCode.UnspecifiedError));
            await pipe.CompleteAsync();
            _out.Writer.TryComplete();
        }
    }

    private async Task WriteLoopAsync(Stream stream, MqttPacketWriter writer, ChannelReader<MqttPacket> queue, CancellationToken ct)
    {
        var pipe = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
        using var ping = _options.KeepAliveSeconds > 0 ? new PeriodicTimer(TimeSpan.FromSeconds(_options.KeepAliveSeconds / 2.0)) : null;
        var pingTask = ping is null ? Task.CompletedTask : PingLoopAsync(ping, ct);
        try
        {
            while (await queue.WaitToReadAsync(ct))
            {
                while (queue.TryRead(out var packet))
                {
                    writer.Write(packet, pipe);
                    if (pipe.UnflushedBytes > 64 * 1024)
                        await pipe.FlushAsync(ct);
                }
                await pipe.FlushAsync(ct);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException or MqttProtocolException)
        {
            // connection lost (or a packet over the server's maximum size)
        }
        finally
        {
            _socket?.Shutdown(SocketShutdown.Both);
            await pipe.CompleteAsync();
            try
            {
                _connCts?.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // closed already
            }
            await pingTask.ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    private async Task PingLoopAsync(PeriodicTimer timer, CancellationToken ct)
    {
        while (await timer.WaitForNextTickAsync(ct))
            _out.Writer.TryWrite(new MqttPingReqPacket());
    }

    private void Handle(MqttPacket packet)
    {
        switch (packet)
        {
            case MqttConnAckPacket ack:
                _connAck = ack;
                _connAckWaiter?.TrySetResult();
                break;
            case MqttPublishPacket p:
                HandlePublish(p);
                break;
            case MqttPubAckPacket or MqttPubCompPacket or MqttSubAckPacket or MqttUnsubAckPacket:
                Complete(PacketIdOf(packet), packet);
                break;
            case MqttPubRecPacket rec:
                lock (_lock)
                {
                    if (!_pending.TryGetValue(rec.PacketId, out var pend))
                    {
                        _out.Writer.TryWrite(new MqttPubRelPacket { PacketId = rec.PacketId, ReasonCode = V5 ? MqttReasonCode.PacketIdentifierNotFound : 0 });
                        break;
                    }
                    if ((byte)rec.ReasonCode >= 0x80)
                    {
                        CompleteLocked(rec.PacketId, rec);
                        break;
                    }
                    pend.Released = true;
                }
                _out.Writer.TryWrite(new MqttPubRelPacket { PacketId = rec.PacketId });
                break;
            case MqttPubRelPacket rel:
                lock (_lock)
                    _incomingQos2.Remove(rel.PacketId);
                _out.Writer.TryWrite(new MqttPubCompPacket { PacketId = rel.PacketId });
                break;
            case MqttDisconnectPacket d:
                LastDisconnectReason = d.ReasonCode;
                _socket?.Shutdown(SocketShutdown.Both);
                break;
            case MqttPingRespPacket:
                break;
            default:
                throw new MqttProtocolException(MqttReasonCode.ProtocolError, $"a server may not send {packet.Type}");
        }
    }

    private bool V5 => _options.ProtocolVersion == MqttProtocolVersion.V500;

    private string?[] _inAliases = [];

    /// <summary>Server → client topic aliases (v5): a PUBLISH with a topic and an alias sets it, one with the alias and
    /// an empty topic uses it; the map lives as long as the connection.</summary>
    private void ResolveAlias(MqttPublishPacket p)
    {
        if (p.Properties?.TopicAlias is not ushort alias)
        {
            if (p.Topic.Length == 0)
                throw new MqttProtocolException(MqttReasonCode.ProtocolError, "PUBLISH with an empty topic and no topic alias");
            return;
        }
        if (alias == 0 || alias >= _inAliases.Length)
            throw new MqttProtocolException(MqttReasonCode.TopicAliasInvalid,
                $"topic alias {alias} is outside 1..{Math.Max(0, _inAliases.Length - 1)}, the Topic Alias Maximum this client announced");
        if (p.Topic.Length > 0)
            _inAliases[alias] = p.Topic;
        else
            p.Topic = _inAliases[alias] ?? throw new MqttProtocolException(MqttReasonCode.ProtocolError, $"topic alias {alias} was never set");
    }

    private void HandlePublish(MqttPublishPacket p)
    {
        ResolveAlias(p);
        bool deliver = true;
        if (p.QoS == MqttQoS.ExactlyOnce)
        {
            // manual: the id counts as received once the application acknowledged it (PUBREC), so a resend of a
            // message it never acknowledged is delivered again
            lock (_lock)
                deliver = _options.ManualAcknowledgement ? !_incomingQos2.Contains(p.PacketId) : _incomingQos2.Add(p.PacketId);
        }
        if (deliver)
        {
            if (_options.ManualAcknowledgement && p.QoS != MqttQoS.AtMostOnce)
            {
                _awaitingAck.AddOrUpdate(p, _out); // acknowledged on this connection only, when the application says so
                MessageReceived?.Invoke(p);
                return;
            }
            MessageReceived?.Invoke(p);
        }
        if (p.QoS == MqttQoS.AtLeastOnce)
            _out.Writer.TryWrite(new MqttPubAckPacket { PacketId = p.PacketId });
        else if (p.QoS == MqttQoS.ExactlyOnce)
            _out.Writer.TryWrite(new MqttPubRecPacket { PacketId = p.PacketId });
    }

    /// <summary>With <see cref="MqttClientOptions.ManualAcknowledgement"/>: sends the PUBACK (QoS 1) or PUBREC (QoS 2)
    /// of a received PUBLISH. Call in the order the messages arrived. A message that arrived on an earlier connection
    /// is not acknowledged (the server resends it on the new one); QoS 0 and repeated calls are ignored.</summary>
    public void Acknowledge(MqttPublishPacket packet)
    {
        ArgumentNullException.ThrowIfNull(packet);
        if (!_awaitingAck.TryGetValue(packet, out var queue))
            return;
        _awaitingAck.Remove(packet);
        if (!ReferenceEquals(queue, _out))
            return;
        if (packet.QoS == MqttQoS.ExactlyOnce)
        {
            lock (_lock)
                _incomingQos2.Add(packet.PacketId);
        }
        queue.Writer.TryWrite(packet.QoS == MqttQoS.AtLeastOnce ? new MqttPubAckPacket { PacketId = packet.PacketId } : new MqttPubRecPacket { PacketId = packet.PacketId });
    }

    private static ushort PacketIdOf(MqttPacket p) => p switch
    {
        MqttPublishPacket x => x.PacketId,
        MqttPublishAckPacket x => x.PacketId,
        MqttSubscribePacket x => x.PacketId,
        MqttSubAckPacket x => x.PacketId,
        MqttUnsubscribePacket x => x.PacketId,
        MqttUnsubAckPacket x => x.PacketId,
        _ => 0,
    };

    private void Complete(ushort id, MqttPacket response)
    {
        lock (_lock)
            CompleteLocked(id, response);
    }

    private void CompleteLocked(ushort id, MqttPacket response)
    {
        if (!_pending.Remove(id, out var p))
            return;
        if (p.Node is not null)
        {
            _unacked.Remove(p.Node);
            _inflight--;
            PumpWindow();
        }
        p.Done.TrySetResult(response);
    }

    private void PumpWindow()
    {
        while (_windowWaiters.Count > 0 && _inflight < _window)
        {
            _inflight++;
            _windowWaiters.Dequeue().TrySetResult();
        }
    }

    private ushort NextId()
    {
        do
        {
            _nextId++;
            if (_nextId == 0)
                _nextId = 1;
        }
        while (_pending.ContainsKey(_nextId));
        return _nextId;
    }

    /// <summary>Publishes; returns the reason code of PUBACK/PUBREC (Success for QoS 0 and for 3.1.1).</summary>
    public async Task<MqttReasonCode> PublishAsync(string topic, ReadOnlyMemory<byte> payload, MqttQoS qos = MqttQoS.AtMostOnce,
        bool retain = false, MqttProperties? properties = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var packet = new MqttPublishPacket { Topic = topic, Payload = payload, QoS = qos, Retain = retain, Properties = V5 ? properties : null };
        if (qos == MqttQoS.AtMostOnce)
        {
            await SendAsync(packet, cancellationToken);
            return MqttReasonCode.Success;
        }
        TaskCompletionSource? wait = null;
        lock (_lock)
        {
            if (_inflight < _window)
                _inflight++;
            else
                _windowWaiters.Enqueue(wait = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        }
        if (wait is not null)
            await wait.Task.WaitAsync(cancellationToken);
        Pending pending;
        lock (_lock)
        {
            packet.PacketId = NextId();
            pending = new Pending { Packet = packet };
            pending.Node = _unacked.AddLast(pending);
            _pending[packet.PacketId] = pending;
        }
        if (IsConnected)
            await _out.Writer.WriteAsync(packet, cancellationToken).AsTask().ContinueWith(_ => { }, TaskScheduler.Default);
        var response = await pending.Done.Task.WaitAsync(cancellationToken);
        return response is MqttPublishAckPacket a ? a.ReasonCode : MqttReasonCode.Success;
    }

    /// <summary>Subscribes and remembers the subscriptions for reconnects; returns the reason codes of SUBACK.</summary>
    public Task<IReadOnlyList<MqttReasonCode>> SubscribeAsync(string filter, MqttQoS qos = MqttQoS.AtLeastOnce, CancellationToken cancellationToken = default) =>
        SubscribeAsync([new MqttSubscription { TopicFilter = filter, MaximumQoS = qos }], null, cancellationToken);

    public Task<IReadOnlyList<MqttReasonCode>> SubscribeAsync(IReadOnlyList<MqttSubscription> subscriptions, uint? subscriptionId = null,
        CancellationToken cancellationToken = default) =>
        SubscribeCoreAsync(subscriptions, subscriptionId, remember: true, cancellationToken);

    /// <summary>Queues a packet on the current connection; a connection that just ended is a transient error.</summary>
    private async ValueTask SendAsync(MqttPacket packet, CancellationToken ct)
    {
        try
        {
            await _out.Writer.WriteAsync(packet, ct);
        }
        catch (ChannelClosedException ex)
        {
            throw new MqttClientException($"not connected: {packet.Type} was not sent", MqttReasonCode.UnspecifiedError, ex);
        }
    }

    private async Task<IReadOnlyList<MqttReasonCode>> SubscribeCoreAsync(IReadOnlyList<MqttSubscription> subscriptions, uint? subscriptionId,
        bool remember, CancellationToken ct)
    {
        var packet = new MqttSubscribePacket { Subscriptions = [.. subscriptions] };
        if (V5 && subscriptionId is uint sid)
            packet.Properties = new MqttProperties { SubscriptionIdentifiers = [sid] };
        Pending pending;
        lock (_lock)
        {
            if (remember)
                foreach (var s in subscriptions)
                    _subscriptions[s.TopicFilter] = s;
            packet.PacketId = NextId();
            pending = new Pending { Packet = packet };
            _pending[packet.PacketId] = pending;
        }
        await SendAsync(packet, ct);
        var ack = (MqttSubAckPacket)await pending.Done.Task.WaitAsync(ct);
        return ack.ReasonCodes;
    }

    public async Task<IReadOnlyList<MqttReasonCode>> UnsubscribeAsync(IReadOnlyList<string> filters, CancellationToken cancellationToken = default)
    {
        var packet = new MqttUnsubscribePacket { TopicFilters = [.. filters] };
        Pending pending;
        lock (_lock)
        {
            foreach (var f in filters)
                _subscriptions.Remove(f);
            packet.PacketId = NextId();
            pending = new Pending { Packet = packet };
            _pending[packet.PacketId] = pending;
        }
        await SendAsync(packet, cancellationToken);
        var ack = (MqttUnsubAckPacket)await pending.Done.Task.WaitAsync(cancellationToken);
        return ack.ReasonCodes;
    }

    /// <summary>Sends DISCONNECT (v5: with <paramref name="reason"/>; 0x04 asks the server to publish the will) and
    /// stops reconnecting.</summary>
    public async Task DisconnectAsync(MqttReasonCode reason = MqttReasonCode.Success, CancellationToken cancellationToken = default)
    {
        _userDisconnect = true;
        if (IsConnected)
        {
            _out.Writer.TryWrite(new MqttDisconnectPacket { ReasonCode = V5 ? reason : 0 });
            _out.Writer.TryComplete();
        }
        if (_running is { } r)
            await r.WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
        await CloseConnectionAsync();
        if (_connectionTask is { } t)
            await t.WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
    }

    /// <summary>Drops the TCP connection without DISCONNECT, as a network failure would (the will is published; with
    /// AutoReconnect a new connection follows, and the server resends what was not acknowledged).</summary>
    public void DropConnection() => _socket?.Dispose();

    private void FailAll(Exception ex)
    {
        List<Pending> all;
        lock (_lock)
        {
            all = [.. _pending.Values];
            _pending.Clear();
            _unacked.Clear();
            while (_windowWaiters.Count > 0)
                _windowWaiters.Dequeue().TrySetException(ex);
        }
        foreach (var p in all)
            p.Done.TrySetException(ex);
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
            return;
        if (IsConnected && !_userDisconnect)
            await DisconnectAsync();
        _disposed = true;
        _userDisconnect = true;
        await _disposeCts.CancelAsync();
        await CloseConnectionAsync();
        if (_connectionTask is { } t)
            await t.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { }, TaskScheduler.Default);
        FailAll(new ObjectDisposedException(nameof(MqttClient)));
        _disposeCts.Dispose();
    }
}
