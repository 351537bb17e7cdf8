namespace Zhizao.Mqtt.Broker;

/// <summary>A QoS 1/2 message on its way to one session: queued, in flight (has a packet id) or released (PUBREC seen).</summary>
internal sealed class OutboundMessage
{
    public required MqttApplicationMessage Message;
    public MqttQoS QoS;
    public bool Retain;
    public List<uint>? SubscriptionIds;
    public ushort PacketId;
    public bool Released;
}

/// <summary>
/// Session state (spec 4.1): subscriptions, QoS 1/2 messages in flight and queued, incoming QoS 2 packet ids. Survives
/// the connection when its expiry interval is above zero. Every member is guarded by the session's own lock, so
/// publishers delivering to different sessions never contend.
/// </summary>
internal sealed class MqttSession
{
    private readonly MqttBroker _broker;
    private readonly LinkedList<OutboundMessage> _inflightOrder = new();
    private readonly Dictionary<ushort, LinkedListNode<OutboundMessage>> _inflight = [];
    private readonly Queue<OutboundMessage> _queue = new();
    private readonly HashSet<ushort> _incomingQos2 = [];
    private ushort _nextPacketId;

    public MqttSession(MqttBroker broker, string clientId)
    {
        _broker = broker;
        ClientId = clientId;
        Flow = new FlowGate(broker, () => clientId);
    }

    /// <summary>Holds publishers back while the QoS 1/2 queue of this (connected) session is long.</summary>
    public FlowGate Flow { get; }

    public object Lock => _inflightOrder;

    public string ClientId { get; }

    public Dictionary<string, SubscriptionOptions> Subscriptions { get; } = new(StringComparer.Ordinal);

    /// <summary>Seconds the session outlives its connection; uint.MaxValue = never expires.</summary>
    public uint ExpiryInterval { get; set; }

    /// <summary>Unix ms of the last disconnect, while no connection is attached.</summary>
    public long DisconnectedAtUnixMs { get; set; }

    public MqttConnection? Connection { get; private set; }

    public bool IsConnected => Volatile.Read(ref _connected);

    private bool _connected;

    /// <summary>True when the session is in the log (expiry above zero and a store configured).</summary>
    public bool Persistent => ExpiryInterval > 0 && _broker.Store is not null;

    public bool Discarded { get; set; }

    /// <summary>A will waiting for its delay, and when it is due.</summary>
    public MqttApplicationMessage? PendingWill { get; set; }

    public long WillDueUnixMs { get; set; }

    public int QueuedCount
    {
        get
        {
            lock (Lock)
                return _queue.Count + _inflight.Count;
        }
    }

    public bool IsExpired(long nowUnixMs) =>
        !IsConnected && ExpiryInterval != uint.MaxValue && nowUnixMs - DisconnectedAtUnixMs >= ExpiryInterval * 1000L;

    /// <summary>Attaches a connection and resends what is in flight, in order, then fills the window from the queue.</summary>
    public void Attach(MqttConnection connection)
    {
        lock (Lock)
        {
            Connection = connection;
            Volatile.Write(ref _connected, true);
            PendingWill = null;
            long now = MqttBroker.NowUnixMs();
            foreach (var m in _inflightOrder)
            {
                if (m.Released)
                    connection.Enqueue(new MqttPubRelPacket { PacketId = m.PacketId }, droppable: false);
                else
                    connection.Enqueue(connection.BuildPublish(m.Message, m.QoS, m.Retain, m.PacketId, dup: true, m.SubscriptionIds, now), droppable: false);
            }
            FillWindow(now);
        }
    }

    public void Detach(MqttConnection connection)
    {
        lock (Lock)
        {
            if (!ReferenceEquals(Connection, connection))
                return;
            Connection = null;
            Volatile.Write(ref _connected, false);
            DisconnectedAtUnixMs = MqttBroker.NowUnixMs();
            Flow.Open(caughtUp: false); // an offline session's queue does not drain: nobody waits for it
        }
    }

    /// <summary>Restores a message from the log.</summary>
    public void Restore(MqttApplicationMessage message, MqttQoS qos, ushort packetId, bool released)
    {
        var m = new OutboundMessage { Message = message, QoS = qos, Retain = message.Retain, PacketId = packetId, Released = released };
        if (packetId != 0 && !_inflight.ContainsKey(packetId))
            _inflight[packetId] = _inflightOrder.AddLast(m);
        else
        {
            m.PacketId = 0;
            _queue.Enqueue(m);
        }
    }

    public void RestoreIncomingQos2(ushort packetId) => _incomingQos2.Add(packetId);

    /// <summary>Delivers one routed message. Returns false when it was dropped for this session.</summary>
    public bool Deliver(MqttApplicationMessage message, MqttQoS qos, bool retain, List<uint>? subscriptionIds)
    {
        if (qos == MqttQoS.AtMostOnce)
        {
            var c = Connection;
            if (c is null || c.OutboundFull)
                return false;
            return c.Enqueue(c.BuildPublish(message, qos, retain, 0, dup: false, subscriptionIds, 0), droppable: true);
        }
        MqttConnection? overflowed = null;
        lock (Lock)
        {
            if (Discarded)
                return false;
            if (_queue.Count >= _broker.Options.MaxQueuedMessages)
            {
                overflowed = Connection;
            }
            else
            {
                var m = new OutboundMessage { Message = message, QoS = qos, Retain = retain, SubscriptionIds = subscriptionIds };
                if (Persistent)
                    _broker.Store!.Enqueue(ClientId, message, qos);
                var conn = Connection;
                if (conn is not null && _queue.Count == 0 && _inflight.Count < conn.SendWindow)
                    Send(conn, m, MqttBroker.NowUnixMs());
                else
                {
                    _queue.Enqueue(m);
                    if (conn is not null)
                        Flow.Added(_queue.Count);
                }
                return true;
            }
        }
        if (overflowed is not null && !overflowed.IsClosing)
        {
            _broker.Stats.AddSlowConsumerDisconnect();
            Log.SlowConsumer(_broker.Logger, ClientId, "queue of QoS 1/2 messages is full");
            overflowed.Disconnect(MqttReasonCode.QuotaExceeded, "slow consumer: queue of QoS 1/2 messages is full");
        }
        return false;
    }

    private void Send(MqttConnection conn, OutboundMessage m, long now)
    {
        m.PacketId = NextPacketId();
        _inflight[m.PacketId] = _inflightOrder.AddLast(m);
        if (m.QoS == MqttQoS.ExactlyOnce && Persistent)
            _broker.Store!.MarkSent(ClientId, m.Message.StoreId, m.PacketId);
        conn.Enqueue(conn.BuildPublish(m.Message, m.QoS, m.Retain, m.PacketId, dup: false, m.SubscriptionIds, now), droppable: false);
    }

    private void FillWindow(long now)
    {
        var conn = Connection;
        if (conn is null)
            return;
        while (_queue.Count > 0 && _inflight.Count < conn.SendWindow)
        {
            var m = _queue.Dequeue();
            if (m.Message.IsExpired(now))
            {
                Complete(m);
                continue;
            }
            Send(conn, m, now);
        }
        Flow.Taken(_queue.Count);
    }

    private ushort NextPacketId()
    {
        do
        {
            _nextPacketId++;
            if (_nextPacketId == 0)
                _nextPacketId = 1;
        }
        while (_inflight.ContainsKey(_nextPacketId));
        return _nextPacketId;
    }

    private void Complete(OutboundMessage m)
    {
        if (Persistent && m.Message.StoreId != 0)
            _broker.Store!.Dequeue(ClientId, m.Message.StoreId);
    }

    /// <summary>PUBACK (QoS 1) or PUBCOMP (QoS 2). False when the packet id is not in flight.</summary>
    public bool Acknowledge(ushort packetId, bool pubComp)
    {
        lock (Lock)
        {
            if (!_inflight.TryGetValue(packetId, out var node) || (pubComp ? !node.Value.Released : node.Value.QoS != MqttQoS.AtLeastOnce))
                return false;
            _inflight.Remove(packetId);
            _inflightOrder.Remove(node);
            Complete(node.Value);
            FillWindow(MqttBroker.NowUnixMs());
            return true;
        }
    }

    /// <summary>Ends an in-flight message that could not be sent (larger than the client's Maximum Packet Size).</summary>
    public void Drop(ushort packetId)
    {
        lock (Lock)
        {
            if (!_inflight.Remove(packetId, out var node))
                return;
            _inflightOrder.Remove(node);
            Complete(node.Value);
            FillWindow(MqttBroker.NowUnixMs());
        }
    }

    /// <summary>PUBREC: false when unknown. A failure reason code ends the message (no PUBREL).</summary>
    public bool Received(ushort packetId, bool failed)
    {
        lock (Lock)
        {
            if (!_inflight.TryGetValue(packetId, out var node) || node.Value.QoS != MqttQoS.ExactlyOnce)
                return false;
            if (failed)
            {
                _inflight.Remove(packetId);
                _inflightOrder.Remove(node);
                Complete(node.Value);
                FillWindow(MqttBroker.NowUnixMs());
                return true;
            }
            if (!node.Value.Released)
            {
                node.Value.Released = true;
                if (Persistent)
                    _broker.Store!.MarkReleased(ClientId, node.Value.Message.StoreId);
            }
            return true;
        }
    }

    /// <summary>Incoming QoS 2 PUBLISH: true when the packet id is new (route the message), false for a resend.</summary>
    public bool BeginIncomingQos2(ushort packetId)
    {
        lock (Lock)
        {
            if (!_incomingQos2.Add(packetId))
                return false;
            if (Persistent)
                _broker.Store!.Qos2In(ClientId, packetId, received: true);
            return true;
        }
    }

    public bool EndIncomingQos2(ushort packetId)
    {
        lock (Lock)
        {
            if (!_incomingQos2.Remove(packetId))
                return false;
            if (Persistent)
                _broker.Store!.Qos2In(ClientId, packetId, received: false);
            return true;
        }
    }

    public int IncomingQos2Count
    {
        get
        {
            lock (Lock)
                return _incomingQos2.Count;
        }
    }

    /// <summary>Drops everything (clean start or expiry).</summary>
    public void Discard()
    {
        lock (Lock)
        {
            Discarded = true;
            Flow.Open(caughtUp: true);
            _queue.Clear();
            _inflight.Clear();
            _inflightOrder.Clear();
            _incomingQos2.Clear();
        }
    }
}
