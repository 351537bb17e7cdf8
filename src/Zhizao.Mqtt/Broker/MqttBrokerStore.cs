using System.Buffers;
using System.Text;

namespace Zhizao.Mqtt.Broker;

/// <summary>
/// Append-only log of the broker's durable state: persistent sessions and their subscriptions, the QoS 1/2 messages
/// queued or in flight to them, incoming QoS 2 packet ids awaiting PUBREL, and retained messages. Appends go to a
/// memory buffer; one background loop writes and fsyncs them (group commit) and then runs the callbacks waiting for
/// that durability (the publisher's PUBACK/PUBREC). The log is replayed on start, truncated at the first torn or
/// corrupt record, and rewritten from the live state on start and whenever it grows to 4x the live size (64 MiB minimum).
/// Record: int32 length, byte type, body, uint32 FNV-1a of type+body.
/// </summary>
internal sealed class MqttBrokerStore : IDisposable
{
    private const string FileName = "broker.log";
    private const long MinCompactBytes = 64L * 1024 * 1024;

    private enum Rec : byte
    {
        Session = 1,
        SessionDelete = 2,
        Message = 3,
        Enqueue = 4,
        Dequeue = 5,
        Sent = 6,
        Released = 7,
        Retain = 8,
        RetainDelete = 9,
        Qos2In = 10,
        Qos2InDone = 11,
    }

    internal sealed class QueueEntry
    {
        public long MessageId;
        public MqttQoS QoS;
        public ushort PacketId;
        public bool Released;
    }

    internal sealed class SessionState
    {
        public required string ClientId;
        public uint ExpiryInterval;
        public long DisconnectedAtUnixMs;
        public List<SubscriptionOptions> Subscriptions = [];
        public SortedDictionary<long, QueueEntry> Queue = [];
        public HashSet<ushort> Qos2In = [];
    }

    private readonly string _path;
    private readonly object _lock = new();
    private readonly Dictionary<string, SessionState> _sessions = new(StringComparer.Ordinal);
    private readonly Dictionary<long, (MqttApplicationMessage Message, int Refs)> _messages = [];
    private readonly Dictionary<string, long> _retained = new(StringComparer.Ordinal);
    private readonly MemoryStream _pending = new();
    private readonly BinaryWriter _w;
    private List<Action> _callbacks = [];
    private readonly SemaphoreSlim _signal = new(0);
    private readonly CancellationTokenSource _stop = new();
    private FileStream _file;
    private long _nextMessageId = 1;
    private long _liveBytes;
    private Task? _loop;
    private bool _disposed;

    public MqttBrokerStore(string directory)
    {
        Directory.CreateDirectory(directory);
        _path = Path.Combine(directory, FileName);
        _w = new BinaryWriter(_pending, Encoding.UTF8, leaveOpen: true);
        Replay();
        _file = Compact();
    }

    public long FileBytes => _file.Length;

    /// <summary>Called when writing or fsyncing the log fails (the batch is retried every second).</summary>
    public Action<IOException>? WriteFailed { get; set; }

    public void Start() => _loop = Task.Run(FlushLoopAsync);

    /// <summary>The recovered state, for the broker to rebuild its sessions.</summary>
    public IReadOnlyCollection<SessionState> Sessions => _sessions.Values;

    public IEnumerable<MqttApplicationMessage> RetainedMessages => _retained.Values.Select(id => _messages[id].Message);

    public MqttApplicationMessage GetMessage(long id) => _messages[id].Message;

    public void PutSession(string clientId, uint expiryInterval, long disconnectedAtUnixMs, IEnumerable<SubscriptionOptions> subscriptions)
    {
        lock (_lock)
        {
            if (!_sessions.TryGetValue(clientId, out var s))
                _sessions[clientId] = s = new SessionState { ClientId = clientId };
            s.ExpiryInterval = expiryInterval;
            s.DisconnectedAtUnixMs = disconnectedAtUnixMs;
            s.Subscriptions = subscriptions.ToList();
            Begin(Rec.Session);
            WriteSessionBody(s);
            End();
        }
    }

    public void DeleteSession(string clientId)
    {
        lock (_lock)
        {
            if (!_sessions.Remove(clientId, out var s))
                return;
            foreach (var id in s.Queue.Keys)
                Release(id);
            Begin(Rec.SessionDelete);
            _w.Write(clientId);
            End();
        }
    }

    public void Enqueue(string clientId, MqttApplicationMessage message, MqttQoS qos)
    {
        lock (_lock)
        {
            if (!_sessions.TryGetValue(clientId, out var s))
                return;
            long id = EnsureMessage(message);
            if (!s.Queue.TryAdd(id, new QueueEntry { MessageId = id, QoS = qos }))
                return;
            _messages[id] = (message, _messages[id].Refs + 1);
            Begin(Rec.Enqueue);
            _w.Write(clientId);
            _w.Write(id);
            _w.Write((byte)qos);
            End();
        }
    }

    public void Dequeue(string clientId, long messageId)
    {
        lock (_lock)
        {
            if (!_sessions.TryGetValue(clientId, out var s) || !s.Queue.Remove(messageId))
                return;
            Release(messageId);
            Begin(Rec.Dequeue);
            _w.Write(clientId);
            _w.Write(messageId);
            End();
        }
    }

    /// <summary>A QoS 2 message went out with this packet id (so a restart resends it with the same id).</summary>
    public void MarkSent(string clientId, long messageId, ushort packetId)
    {
        lock (_lock)
        {
            if (!_sessions.TryGetValue(clientId, out var s) || !s.Queue.TryGetValue(messageId, out var e))
                return;
            e.PacketId = packetId;
            Begin(Rec.Sent);
            _w.Write(clientId);
            _w.Write(messageId);
            _w.Write(packetId);
            End();
        }
    }

    /// <summary>PUBREC arrived for a QoS 2 message: after a restart, PUBREL (not PUBLISH) is resent.</summary>
    public void MarkReleased(string clientId, long messageId)
    {
        lock (_lock)
        {
            if (!_sessions.TryGetValue(clientId, out var s) || !s.Queue.TryGetValue(messageId, out var e))
                return;
            e.Released = true;
            Begin(Rec.Released);
            _w.Write(clientId);
            _w.Write(messageId);
            End();
        }
    }

    public void Qos2In(string clientId, ushort packetId, bool received)
    {
        lock (_lock)
        {
            if (!_sessions.TryGetValue(clientId, out var s))
                return;
            if (received ? !s.Qos2In.Add(packetId) : !s.Qos2In.Remove(packetId))
                return;
            Begin(received ? Rec.Qos2In : Rec.Qos2InDone);
            _w.Write(clientId);
            _w.Write(packetId);
            End();
        }
    }

    public void PutRetained(MqttApplicationMessage message)
    {
        lock (_lock)
        {
            if (_retained.Remove(message.Topic, out long old))
                Release(old);
            long id = EnsureMessage(message);
            _messages[id] = (message, _messages[id].Refs + 1);
            _retained[message.Topic] = id;
            Begin(Rec.Retain);
            _w.Write(id);
            End();
        }
    }

    public void DeleteRetained(string topic)
    {
        lock (_lock)
        {
            if (!_retained.Remove(topic, out long old))
                return;
            Release(old);
            Begin(Rec.RetainDelete);
            _w.Write(topic);
            End();
        }
    }

    /// <summary>Runs <paramref name="callback"/> on the flush loop once everything appended so far is fsynced.</summary>
    public void WhenDurable(Action callback)
    {
        lock (_lock)
            _callbacks.Add(callback);
        _signal.Release();
    }

    private long EnsureMessage(MqttApplicationMessage message)
    {
        if (message.StoreId != 0 && _messages.ContainsKey(message.StoreId))
            return message.StoreId;
        long id = _nextMessageId++;
        message.StoreId = id;
        _messages[id] = (message, 0);
        Begin(Rec.Message);
        _w.Write(id);
        WriteMessage(_w, message);
        End();
        return id;
    }

    private void Release(long id)
    {
        if (!_messages.TryGetValue(id, out var m))
            return;
        if (m.Refs <= 1)
            _messages.Remove(id);
        else
            _messages[id] = (m.Message, m.Refs - 1);
    }

    private long _recordStart;

    private void Begin(Rec type)
    {
        _recordStart = _pending.Position;
        _w.Write(0);
        _w.Write((byte)type);
    }

    private void End()
    {
        long end = _pending.Position;
        int length = (int)(end - _recordStart - 4);
        var buf = _pending.GetBuffer();
        uint hash = Fnv(buf.AsSpan((int)_recordStart + 4, length));
        _w.Write(hash);
        BitConverterWrite(buf, (int)_recordStart, length);
    }

    private static void BitConverterWrite(byte[] buf, int at, int value) =>
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(buf.AsSpan(at, 4), value);

    private static uint Fnv(ReadOnlySpan<byte> data)
    {
        uint h = 2166136261;
        foreach (byte b in data)
            h = (h ^ b) * 16777619;
        return h;
    }

    private static void WriteMessage(BinaryWriter w, MqttApplicationMessage m)
    {
        var pw = new MqttPacketWriter(MqttProtocolVersion.V500);
        var bytes = pw.ToArray(new MqttPublishPacket
        {
            Topic = m.Topic,
            Payload = m.Payload,
            QoS = m.QoS,
            Retain = m.Retain,
            PacketId = m.QoS == MqttQoS.AtMostOnce ? (ushort)0 : (ushort)1,
            Properties = m.Properties,
        });
        w.Write(bytes.Length);
        w.Write(bytes);
        w.Write(m.ExpiresAtUnixMs);
        w.Write(m.ReceivedAtUnixMs);
        w.Write(m.SenderClientId ?? "");
    }

    private static MqttApplicationMessage ReadMessage(BinaryReader r, long id)
    {
        int n = r.ReadInt32();
        var bytes = r.ReadBytes(n);
        var reader = new MqttPacketReader(MqttProtocolVersion.V500, new MqttLimits { MaximumPacketSize = int.MaxValue, MaxTopicLength = 65535, MaxPropertyCount = 100_000, MaxUserProperties = 100_000 });
        if (!reader.TryRead(bytes, out var packet, out _) || packet is not MqttPublishPacket p)
            throw new InvalidDataException($"message {id} in the broker log is not a PUBLISH");
        long expires = r.ReadInt64();
        long received = r.ReadInt64();
        string sender = r.ReadString();
        return new MqttApplicationMessage
        {
            Topic = p.Topic,
            Payload = p.Payload,
            QoS = p.QoS,
            Retain = p.Retain,
            Properties = p.Properties,
            ExpiresAtUnixMs = expires,
            ReceivedAtUnixMs = received,
            SenderClientId = sender.Length == 0 ? null : sender,
            StoreId = id,
        };
    }

    private void WriteSessionBody(SessionState s)
    {
        _w.Write(s.ClientId);
        _w.Write(s.ExpiryInterval);
        _w.Write(s.DisconnectedAtUnixMs);
        _w.Write(s.Subscriptions.Count);
        foreach (var sub in s.Subscriptions)
        {
            _w.Write(sub.Filter);
            _w.Write(sub.OptionsByte);
            _w.Write(sub.SubscriptionId);
        }
    }

    private void Replay()
    {
        if (!File.Exists(_path))
            return;
        byte[] data = File.ReadAllBytes(_path);
        int pos = 0;
        while (pos + 9 <= data.Length)
        {
            int length = BitConverter.ToInt32(data, pos);
            if (length < 1 || pos + 4 + length + 4 > data.Length)
                break;
            var body = data.AsSpan(pos + 4, length);
            if (Fnv(body) != BitConverter.ToUInt32(data, pos + 4 + length))
                break;
            try
            {
                Apply(data, pos + 4, length);
            }
            catch (Exception ex) when (ex is EndOfStreamException or InvalidDataException or KeyNotFoundException or MqttProtocolException)
            {
                break;
            }
            pos += 4 + length + 4;
        }
    }

    private void Apply(byte[] data, int offset, int length)
    {
        using var ms = new MemoryStream(data, offset, length, writable: false);
        using var r = new BinaryReader(ms, Encoding.UTF8);
        var type = (Rec)r.ReadByte();
        switch (type)
        {
            case Rec.Session:
            {
                var s = new SessionState { ClientId = r.ReadString(), ExpiryInterval = r.ReadUInt32(), DisconnectedAtUnixMs = r.ReadInt64() };
                int n = r.ReadInt32();
                for (int i = 0; i < n; i++)
                    s.Subscriptions.Add(SubscriptionOptions.FromByte(r.ReadString(), r.ReadByte(), r.ReadUInt32()));
                if (_sessions.TryGetValue(s.ClientId, out var old))
                {
                    s.Queue = old.Queue;
                    s.Qos2In = old.Qos2In;
                }
                _sessions[s.ClientId] = s;
                break;
            }
            case Rec.SessionDelete:
                if (_sessions.Remove(r.ReadString(), out var gone))
                    foreach (var id in gone.Queue.Keys)
                        Release(id);
                break;
            case Rec.Message:
            {
                long id = r.ReadInt64();
                _messages[id] = (ReadMessage(r, id), 0);
                _nextMessageId = Math.Max(_nextMessageId, id + 1);
                break;
            }
            case Rec.Enqueue:
            {
                var s = _sessions[r.ReadString()];
                long id = r.ReadInt64();
                var qos = (MqttQoS)r.ReadByte();
                if (s.Queue.TryAdd(id, new QueueEntry { MessageId = id, QoS = qos }))
                    _messages[id] = (_messages[id].Message, _messages[id].Refs + 1);
                break;
            }
            case Rec.Dequeue:
            {
                var s = _sessions[r.ReadString()];
                long id = r.ReadInt64();
                if (s.Queue.Remove(id))
                    Release(id);
                break;
            }
            case Rec.Sent:
            {
                var s = _sessions[r.ReadString()];
                long id = r.ReadInt64();
                ushort pid = r.ReadUInt16();
                if (s.Queue.TryGetValue(id, out var e))
                    e.PacketId = pid;
                break;
            }
            case Rec.Released:
            {
                var s = _sessions[r.ReadString()];
                if (s.Queue.TryGetValue(r.ReadInt64(), out var e))
                    e.Released = true;
                break;
            }
            case Rec.Retain:
            {
                long id = r.ReadInt64();
                var m = _messages[id];
                if (_retained.Remove(m.Message.Topic, out long old))
                    Release(old);
                _retained[m.Message.Topic] = id;
                _messages[id] = (m.Message, _messages[id].Refs + 1);
                break;
            }
            case Rec.RetainDelete:
                if (_retained.Remove(r.ReadString(), out long was))
                    Release(was);
                break;
            case Rec.Qos2In:
                _sessions[r.ReadString()].Qos2In.Add(r.ReadUInt16());
                break;
            case Rec.Qos2InDone:
                _sessions[r.ReadString()].Qos2In.Remove(r.ReadUInt16());
                break;
            default:
                throw new InvalidDataException($"unknown record type {(byte)type} in the broker log");
        }
        if (ms.Position != length)
            throw new InvalidDataException("record has trailing bytes");
    }

    /// <summary>Writes the live state to a new file and swaps it in. Caller holds the lock (or is the constructor).</summary>
    private FileStream Compact()
    {
        _pending.SetLength(0);
        foreach (var (id, m) in _messages)
        {
            Begin(Rec.Message);
            _w.Write(id);
            WriteMessage(_w, m.Message);
            End();
        }
        foreach (var s in _sessions.Values)
        {
            Begin(Rec.Session);
            WriteSessionBody(s);
            End();
            foreach (var e in s.Queue.Values)
            {
                Begin(Rec.Enqueue);
                _w.Write(s.ClientId);
                _w.Write(e.MessageId);
                _w.Write((byte)e.QoS);
                End();
                if (e.PacketId != 0)
                {
                    Begin(Rec.Sent);
                    _w.Write(s.ClientId);
                    _w.Write(e.MessageId);
                    _w.Write(e.PacketId);
                    End();
                }
                if (e.Released)
                {
                    Begin(Rec.Released);
                    _w.Write(s.ClientId);
                    _w.Write(e.MessageId);
                    End();
                }
            }
            foreach (var pid in s.Qos2In)
            {
                Begin(Rec.Qos2In);
                _w.Write(s.ClientId);
                _w.Write(pid);
                End();
            }
        }
        foreach (var id in _retained.Values)
        {
            Begin(Rec.Retain);
            _w.Write(id);
            End();
        }
        string tmp = _path + ".tmp";
        using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            f.Write(_pending.GetBuffer(), 0, (int)_pending.Length);
            f.Flush(flushToDisk: true);
        }
        _liveBytes = _pending.Length;
        _pending.SetLength(0);
        File.Move(tmp, _path, overwrite: true);
        var file = new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.Read, 1, FileOptions.None);
        return file;
    }

    private async Task FlushLoopAsync()
    {
        byte[] chunk = [];
        while (true)
        {
            try
            {
                await _signal.WaitAsync(_stop.Token);
            }
            catch (OperationCanceledException)
            {
                // final flush below
            }
            while (_signal.CurrentCount > 0 && _signal.Wait(0))
            {
                // drain: one flush serves every signal so far
            }
            List<Action> callbacks;
            int length;
            lock (_lock)
            {
                length = (int)_pending.Length;
                if (chunk.Length < length)
                    chunk = new byte[Math.Max(length, chunk.Length * 2)];
                _pending.GetBuffer().AsSpan(0, length).CopyTo(chunk);
                _pending.SetLength(0);
                callbacks = _callbacks;
                _callbacks = [];
            }
            while (length > 0)
            {
                long before = _file.Length;
                try
                {
                    _file.Write(chunk, 0, length);
                    _file.Flush(flushToDisk: true);
                    break;
                }
                catch (IOException ex)
                {
                    // disk full or failing: acknowledgements wait (publishers stall) rather than lie; retry each second
                    WriteFailed?.Invoke(ex);
                    try
                    {
                        _file.SetLength(before);
                    }
                    catch (IOException)
                    {
                        // retried with the next attempt
                    }
                    if (_stop.IsCancellationRequested)
                        return;
                    try
                    {
                        await Task.Delay(1000, _stop.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                }
            }
            if (_file.Length > Math.Max(MinCompactBytes, 4 * _liveBytes))
            {
                lock (_lock)
                {
                    _file.Dispose();
                    try
                    {
                        _file = Compact();
                    }
                    catch (IOException ex)
                    {
                        // keep appending to the old log; the records Compact took from the pending buffer are in
                        // the live state, so write the whole state again next time
                        WriteFailed?.Invoke(ex);
                        _file = new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.Read, 1, FileOptions.None);
                        _liveBytes = 0;
                    }
                }
            }
            foreach (var cb in callbacks)
                cb();
            if (_stop.IsCancellationRequested && _signal.CurrentCount == 0)
                return;
        }
    }

    /// <summary>Flushes what is pending and waits for the loop to end.</summary>
    public async Task StopAsync()
    {
        _stop.Cancel();
        _signal.Release();
        if (_loop is not null)
            await _loop;
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        _file.Dispose();
        _w.Dispose();
        _pending.Dispose();
        _signal.Dispose();
        _stop.Dispose();
    }
}
