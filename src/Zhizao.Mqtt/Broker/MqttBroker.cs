using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Zhizao.Mqtt.Broker;

/// <summary>
/// MQTT 3.1.1 / 5.0 broker. <see cref="StartAsync"/> binds the listener (loopback:1883 by default) and restores the
/// log when <see cref="MqttBrokerOptions.DataDirectory"/> is set; <see cref="DisposeAsync"/> closes every connection
/// and flushes the log. Depends on nothing of Zhizao.
/// </summary>
public sealed class MqttBroker : IAsyncDisposable
{
    private readonly ConcurrentDictionary<long, MqttConnection> _connections = new();
    private readonly Dictionary<string, MqttSession> _sessions = new(StringComparer.Ordinal);
    private readonly object _sessionsLock = new();
    private readonly SubscriptionTree _tree = new();
    private readonly Dictionary<string, MqttApplicationMessage> _retained = new(StringComparer.Ordinal);
    private readonly object _retainedLock = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Channel<SinkItem>? _sinkQueue;
    private readonly long _startedTicks = Environment.TickCount64;
    private Socket? _listener;
    private Socket? _tlsListener;
    private Task? _acceptLoop;
    private Task? _tlsAcceptLoop;
    private Task? _timerLoop;
    private Task? _sinkLoop;
    private long _nextConnectionId;
    private int _disposed;

    [ThreadStatic]
    private static List<SubscriptionMatch>? t_matches;

    [ThreadStatic]
    private static Dictionary<MqttSession, int>? t_seen;

    public MqttBroker(MqttBrokerOptions? options = null, ILogger<MqttBroker>? logger = null)
    {
        Options = options ?? new MqttBrokerOptions();
        Logger = logger ?? (ILogger)NullLogger.Instance;
        if (Options.MessageSink is not null)
            _sinkQueue = Channel.CreateBounded<SinkItem>(new BoundedChannelOptions(Options.MessageSinkQueueCapacity) { SingleReader = true });
    }

    public MqttBrokerOptions Options { get; }

    internal ILogger Logger { get; }

    internal MqttBrokerStore? Store { get; private set; }

    public MqttBrokerStatistics Stats { get; } = new();

    /// <summary>The bound port of the plain listener (useful with port 0); 0 when it is off.</summary>
    public int Port { get; private set; }

    /// <summary>The bound port of the TLS listener; 0 when TLS is not configured.</summary>
    public int TlsPort { get; private set; }

    public int ConnectionCount => _connections.Count;

    public int SessionCount
    {
        get
        {
            lock (_sessionsLock)
                return _sessions.Count;
        }
    }

    public int SubscriptionCount => _tree.Count;

    public int RetainedCount
    {
        get
        {
            lock (_retainedLock)
                return _retained.Count;
        }
    }

    /// <summary>Clients with a CONNECT accepted and the connection still open.</summary>
    public int ConnectedClientCount => _connections.Values.Count(c => c.IsConnected && !c.IsClosing);

    internal static long NowUnixMs() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        // certificates are loaded before anything opens or binds, so a bad file fails the start with its name
        var tls = Options.Tls?.Load();
        if (Options.DataDirectory is { } dir)
        {
            Store = new MqttBrokerStore(dir) { WriteFailed = ex => Log.StoreWriteFailed(Logger, ex, dir) };
            Restore(Store, dir);
            Store.Start();
        }
        try
        {
            if (Options.ListenPlain)
            {
                _listener = Bind(Options.Address, Options.Port);
                Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
                Log.Listening(Logger, _listener.LocalEndPoint!);
            }
            if (tls is not null)
            {
                _tlsListener = Bind(tls.Options.Address ?? Options.Address, tls.Options.Port);
                TlsPort = ((IPEndPoint)_tlsListener.LocalEndPoint!).Port;
                Log.ListeningTls(Logger, _tlsListener.LocalEndPoint!, tls.Options.ClientCertificateMode);
            }
        }
        catch
        {
            _listener?.Dispose();
            _tlsListener?.Dispose();
            throw;
        }
        if (_listener is not null)
            _acceptLoop = Task.Run(() => AcceptLoopAsync(_listener, null), CancellationToken.None);
        if (_tlsListener is not null)
            _tlsAcceptLoop = Task.Run(() => AcceptLoopAsync(_tlsListener, tls), CancellationToken.None);
        _timerLoop = Task.Run(TimerLoopAsync, CancellationToken.None);
        if (_sinkQueue is not null)
            _sinkLoop = Task.Run(SinkLoopAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    private void Restore(MqttBrokerStore store, string dir)
    {
        int messages = 0;
        long now = NowUnixMs();
        foreach (var state in store.Sessions)
        {
            var session = new MqttSession(this, state.ClientId)
            {
                ExpiryInterval = state.ExpiryInterval,
                DisconnectedAtUnixMs = state.DisconnectedAtUnixMs == 0 ? now : state.DisconnectedAtUnixMs,
            };
            foreach (var sub in state.Subscriptions)
            {
                session.Subscriptions[sub.Filter] = sub;
                _tree.Add(session, sub);
            }
            foreach (var e in state.Queue.Values)
            {
                session.Restore(store.GetMessage(e.MessageId), e.QoS, e.PacketId, e.Released);
                messages++;
            }
            foreach (var pid in state.Qos2In)
                session.RestoreIncomingQos2(pid);
            _sessions[state.ClientId] = session;
        }
        foreach (var m in store.RetainedMessages)
            _retained[m.Topic] = m;
        Log.Restored(Logger, _sessions.Count, messages, _retained.Count, dir);
    }

    private static Socket Bind(IPAddress address, int port)
    {
        var listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.Bind(new IPEndPoint(address, port));
            listener.Listen(1024);
            return listener;
        }
        catch
        {
            listener.Dispose();
            throw;
        }
    }

    private async Task AcceptLoopAsync(Socket listener, MqttTlsContext? tls)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex)
            {
                Log.AcceptFailed(Logger, ex);
                continue;
            }
            socket.NoDelay = true;
            Stats.AddConnection();
            var conn = new MqttConnection(this, socket, Interlocked.Increment(ref _nextConnectionId), tls);
            _connections[conn.Id] = conn;
            _ = Task.Run(conn.RunAsync);
        }
    }

    /// <summary>Binds the connection to its session (CONNECT accepted): takes over a connected session, discards one on
    /// clean start, sends CONNACK, then resends what is in flight.</summary>
    internal void AttachSession(MqttConnection conn, bool cleanStart, uint expiry, MqttConnAckPacket connack)
    {
        MqttSession session;
        MqttConnection? previous = null;
        bool present = false;
        lock (_sessionsLock)
        {
            if (_sessions.TryGetValue(conn.ClientId, out var existing))
            {
                previous = existing.Connection;
                if (cleanStart || existing.IsExpired(NowUnixMs()))
                {
                    DiscardSession(existing);
                    session = new MqttSession(this, conn.ClientId);
                    _sessions[conn.ClientId] = session;
                }
                else
                {
                    session = existing;
                    present = true;
                }
            }
            else
            {
                session = new MqttSession(this, conn.ClientId);
                _sessions[conn.ClientId] = session;
            }
            bool wasPersistent = session.Persistent;
            session.ExpiryInterval = expiry;
            if (wasPersistent && !session.Persistent)
                Store!.DeleteSession(session.ClientId);
            conn.Session = session;
            connack.SessionPresent = present;
            conn.Enqueue(connack, droppable: false);
            session.Attach(conn);
        }
        previous?.Disconnect(MqttReasonCode.SessionTakenOver, "another connection took over the session");
        PersistSession(session);
    }

    /// <summary>Removes a session's subscriptions and state. Caller holds the sessions lock.</summary>
    private void DiscardSession(MqttSession session)
    {
        foreach (var filter in session.Subscriptions.Keys)
            _tree.Remove(session, filter);
        session.Discard();
        _sessions.Remove(session.ClientId);
        if (session.ExpiryInterval > 0)
            Store?.DeleteSession(session.ClientId);
        if (session.PendingWill is { } will)
        {
            session.PendingWill = null;
            Publish(will, null);
        }
    }

    internal void PersistSession(MqttSession session)
    {
        if (!session.Persistent)
            return;
        List<SubscriptionOptions> subs;
        lock (session.Lock)
            subs = session.Subscriptions.Values.ToList();
        Store!.PutSession(session.ClientId, session.ExpiryInterval, session.IsConnected ? 0 : session.DisconnectedAtUnixMs, subs);
    }

    internal void OnConnectionClosed(MqttConnection conn)
    {
        _connections.TryRemove(conn.Id, out _);
        var session = conn.Session;
        if (session is null)
            return;
        bool mine;
        lock (_sessionsLock)
        {
            mine = ReferenceEquals(session.Connection, conn);
            session.Detach(conn);
        }
        if (conn.Will is { } will && !conn.NormalDisconnect)
        {
            uint delay = Math.Min(conn.WillDelaySeconds, session.ExpiryInterval);
            if (delay == 0 || !mine)
            {
                if (delay == 0)
                    Publish(will, null);
            }
            else
            {
                session.PendingWill = will;
                session.WillDueUnixMs = NowUnixMs() + delay * 1000L;
            }
        }
        if (!mine)
            return;
        if (session.ExpiryInterval == 0)
        {
            lock (_sessionsLock)
            {
                if (_sessions.TryGetValue(session.ClientId, out var s) && ReferenceEquals(s, session) && !session.IsConnected)
                    DiscardSession(session);
            }
        }
        else
        {
            PersistSession(session);
        }
    }

    internal bool Subscribe(MqttSession session, SubscriptionOptions options)
    {
        lock (session.Lock)
            session.Subscriptions[options.Filter] = options;
        return _tree.Add(session, options);
    }

    internal List<MqttReasonCode> Unsubscribe(MqttSession session, List<string> filters)
    {
        var codes = new List<MqttReasonCode>(filters.Count);
        foreach (var f in filters)
        {
            bool had;
            lock (session.Lock)
                had = session.Subscriptions.Remove(f);
            _tree.Remove(session, f);
            codes.Add(had ? MqttReasonCode.Success : MqttReasonCode.NoSubscriptionExisted);
        }
        PersistSession(session);
        return codes;
    }

    internal void SendRetained(MqttSession session, SubscriptionOptions options)
    {
        List<MqttApplicationMessage> matches;
        long now = NowUnixMs();
        lock (_retainedLock)
            matches = _retained.Values.Where(m => TopicFilter.Matches(options.Filter, m.Topic) && !m.IsExpired(now)).ToList();
        foreach (var m in matches)
        {
            var qos = (MqttQoS)Math.Min((byte)m.QoS, (byte)options.QoS);
            session.Deliver(m, qos, retain: true, options.SubscriptionId == 0 ? null : [options.SubscriptionId]);
        }
    }

    /// <summary>Routes an accepted message: retained store, every matching session (one per shared group), the sink.
    /// Returns the number of subscribers it matched.</summary>
    internal int Publish(MqttApplicationMessage message, MqttConnection? from) => Publish(message, from, null, out _);

    /// <summary>True when accepted messages (not $-topics) also go to <see cref="MqttBrokerOptions.MessageSink"/>.</summary>
    internal bool HasSink => _sinkQueue is not null;

    /// <summary>As <see cref="Publish(MqttApplicationMessage, MqttConnection?)"/>; <paramref name="sinkDone"/> is called
    /// with true once the sink has taken the message (e.g. stored it), false if it failed. <paramref name="sinkRefused"/>
    /// says the sink's queue was full: the sink never sees the message and <paramref name="sinkDone"/> is not called.</summary>
    internal int Publish(MqttApplicationMessage message, MqttConnection? from, Action<bool>? sinkDone, out bool sinkRefused)
    {
        sinkRefused = false;
        if (message.Retain)
            SetRetained(message);
        if (!message.Topic.StartsWith('$'))
        {
            Stats.AddMessageReceived();
            if (_sinkQueue is not null && !_sinkQueue.Writer.TryWrite(new SinkItem(message, sinkDone)))
            {
                Stats.AddSinkDropped();
                sinkRefused = true;
            }
        }
        var matches = t_matches ??= [];
        matches.Clear();
        _tree.Match(message.Topic, matches);
        if (matches.Count == 0)
            return 0;
        string? sender = from?.ClientId ?? message.SenderClientId;
        if (matches.Count == 1)
        {
            DeliverOne(message, matches[0], sender, from);
            return 1;
        }
        // a session matched by several filters gets the message once, at the highest QoS, with every identifier
        var seen = t_seen ??= [];
        seen.Clear();
        var merged = new List<(SubscriptionMatch Match, MqttQoS QoS, List<uint>? Ids, bool Rap)>(matches.Count);
        foreach (var m in matches)
        {
            if (m.Options.NoLocal && sender is not null && m.Session.ClientId == sender)
                continue;
            if (seen.TryGetValue(m.Session, out int i))
            {
                var e = merged[i];
                var qos = (MqttQoS)Math.Max((byte)e.QoS, (byte)m.Options.QoS);
                var ids = e.Ids;
                if (m.Options.SubscriptionId != 0)
                    (ids ??= []).Add(m.Options.SubscriptionId);
                merged[i] = (e.Match, qos, ids, e.Rap || m.Options.RetainAsPublished);
            }
            else
            {
                seen[m.Session] = merged.Count;
                merged.Add((m, m.Options.QoS, m.Options.SubscriptionId != 0 ? [m.Options.SubscriptionId] : null, m.Options.RetainAsPublished));
            }
        }
        seen.Clear();
        foreach (var (match, qos, ids, rap) in merged)
        {
            if (message.IsExpiredNow)
                break;
            var q = (MqttQoS)Math.Min((byte)message.QoS, (byte)qos);
            if (!match.Session.Deliver(message, q, rap && message.Retain, ids))
                Stats.AddDropped();
            else if (from is not null)
                from.HoldBackIfFull(match.Session, q);
        }
        return merged.Count;
    }

    private void DeliverOne(MqttApplicationMessage message, SubscriptionMatch m, string? sender, MqttConnection? from)
    {
        if (m.Options.NoLocal && sender is not null && m.Session.ClientId == sender)
            return;
        if (message.IsExpiredNow)
            return;
        var q = (MqttQoS)Math.Min((byte)message.QoS, (byte)m.Options.QoS);
        List<uint>? ids = m.Options.SubscriptionId != 0 ? [m.Options.SubscriptionId] : null;
        if (!m.Session.Deliver(message, q, m.Options.RetainAsPublished && message.Retain, ids))
            Stats.AddDropped();
        else if (from is not null)
            from.HoldBackIfFull(m.Session, q);
    }

    private void SetRetained(MqttApplicationMessage message)
    {
        bool delete = message.Payload.IsEmpty;
        lock (_retainedLock)
        {
            if (delete)
                _retained.Remove(message.Topic);
            else
                _retained[message.Topic] = message;
        }
        if (Store is null || message.Topic.StartsWith('$'))
            return;
        if (delete)
            Store.DeleteRetained(message.Topic);
        else
            Store.PutRetained(message);
    }

    private async Task TimerLoopAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(500));
        long nextSys = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                long ticks = Environment.TickCount64;
                foreach (var c in _connections.Values)
                {
                    if (c.IsClosing)
                        continue;
                    if (!c.IsConnected)
                    {
                        if (ticks - c.ConnectedAtTicks > Options.ConnectTimeout.TotalMilliseconds)
                            c.Close();
                        continue;
                    }
                    if (c.KeepAliveSeconds > 0 && !c.IsHeldBack && ticks - c.LastReceivedTicks > c.KeepAliveSeconds * 1500L)
                        c.Disconnect(MqttReasonCode.KeepAliveTimeout, "no packet within 1.5 x keep alive");
                }
                ExpireSessions();
                if (Options.SysInterval > TimeSpan.Zero && ticks >= nextSys)
                {
                    nextSys = ticks + (long)Options.SysInterval.TotalMilliseconds;
                    PublishSys();
                }
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    private void ExpireSessions()
    {
        long now = NowUnixMs();
        List<MqttApplicationMessage>? wills = null;
        lock (_sessionsLock)
        {
            List<MqttSession>? expired = null;
            foreach (var s in _sessions.Values)
            {
                if (s.IsConnected)
                    continue;
                if (s.PendingWill is { } will && now >= s.WillDueUnixMs)
                {
                    s.PendingWill = null;
                    (wills ??= []).Add(will);
                }
                if (s.IsExpired(now))
                    (expired ??= []).Add(s);
            }
            if (expired is not null)
                foreach (var s in expired)
                    DiscardSession(s);
        }
        if (wills is not null)
            foreach (var w in wills)
                Publish(w, null);
    }

    private void PublishSys()
    {
        void Sys(string topic, long value) => Publish(new MqttApplicationMessage
        {
            Topic = "$SYS/broker/" + topic,
            Payload = Encoding.ASCII.GetBytes(value.ToString()),
            Retain = true,
            ReceivedAtUnixMs = NowUnixMs(),
        }, null);
        Publish(new MqttApplicationMessage { Topic = "$SYS/broker/version", Payload = "zhizao-mqtt 1.0"u8.ToArray(), Retain = true }, null);
        Sys("uptime", (Environment.TickCount64 - _startedTicks) / 1000);
        Sys("clients/connected", ConnectedClientCount);
        Sys("clients/total", SessionCount);
        Sys("subscriptions/count", SubscriptionCount);
        Sys("retained messages/count", RetainedCount);
        Sys("messages/received", Stats.MessagesReceived);
        Sys("messages/sent", Stats.MessagesSent);
        Sys("messages/dropped", Stats.MessagesDropped);
        Sys("bytes/received", Stats.BytesReceived);
        Sys("bytes/sent", Stats.BytesSent);
        Sys("connections/accepted", Stats.ConnectionsAccepted);
        Sys("errors/protocol", Stats.ProtocolErrors);
    }

    private async Task SinkLoopAsync()
    {
        var reader = _sinkQueue!.Reader;
        var sink = Options.MessageSink!;
        var batch = new List<MqttApplicationMessage>(1024);
        var done = new List<Action<bool>>(1024);
        try
        {
            while (await reader.WaitToReadAsync(_stop.Token))
            {
                while (batch.Count < 1024 && reader.TryRead(out var item))
                {
                    batch.Add(item.Message);
                    if (item.Done is not null)
                        done.Add(item.Done);
                }
                bool ok = true;
                try
                {
                    await sink.OnMessagesAsync(batch, _stop.Token);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    ok = false;
                    Log.SinkFailed(Logger, ex, batch.Count);
                }
                foreach (var d in done)
                    d(ok);
                done.Clear();
                batch = new List<MqttApplicationMessage>(1024);
            }
        }
        catch (OperationCanceledException)
        {
            // stopping: publishers waiting for the sink get no acknowledgement and resend after reconnecting
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _stop.Cancel();
        _listener?.Dispose();
        _tlsListener?.Dispose();
        foreach (var c in _connections.Values)
            c.Disconnect(MqttReasonCode.ServerShuttingDown, null);
        var deadline = Environment.TickCount64 + 5000;
        while (!_connections.IsEmpty && Environment.TickCount64 < deadline)
            await Task.Delay(20);
        foreach (var c in _connections.Values)
            c.Abort();
        foreach (var t in new[] { _acceptLoop, _tlsAcceptLoop, _timerLoop, _sinkLoop })
        {
            if (t is not null)
                await t.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { }, TaskScheduler.Default);
        }
        if (Store is not null)
        {
            // sessions still attached are recorded as disconnected now, so their expiry runs from the shutdown
            List<MqttSession> sessions;
            lock (_sessionsLock)
                sessions = _sessions.Values.ToList();
            foreach (var s in sessions)
                PersistSession(s);
            await Store.StopAsync();
            Store.Dispose();
        }
        _stop.Dispose();
    }
}

internal readonly record struct SinkItem(MqttApplicationMessage Message, Action<bool>? Done);
