using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Zhizao.OpcUa.Transport;

namespace Zhizao.OpcUa.Tests;

/// <summary>What the fake server does with one response instead of sending it plainly.</summary>
public enum Misbehavior
{
    None,
    OversizedChunkHeader,
    WrongSequenceNumber,
    ErrorMessage,
    UnknownMessageType,
    GarbageBody,
    TooManyChunks,
    WrongChannelId,
    UnknownToken,
    Silence,
}

/// <summary>
/// An in-process UA-TCP server speaking SecurityPolicy None: enough of GetEndpoints, CreateSession, ActivateSession,
/// Read and CloseSession to drive the client, with a hook that makes any response misbehave.
/// </summary>
public sealed class FakeUaServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _cts = new();
    private readonly List<TcpClient> _clients = [];
    private int _connections;
    private int _reads;

    public FakeUaServer()
    {
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _ = AcceptLoopAsync();
    }

    public int Port { get; }
    public string EndpointUrl => $"opc.tcp://127.0.0.1:{Port}";
    public int Connections => Volatile.Read(ref _connections);
    public int Reads => Volatile.Read(ref _reads);

    /// <summary>Decides per Read response (connection number from 1, read number from 1) how to misbehave.</summary>
    public Func<int, int, Misbehavior> OnRead { get; set; } = (_, _) => Misbehavior.None;

    /// <summary>
    /// When above 0, every Publish is answered on the next 100 ms tick with one DataChangeNotification holding a value for
    /// each of the first <see cref="FloodItems"/> monitored items (encoded once; only the sequence number changes).
    /// </summary>
    public int FloodItems { get; set; }

    /// <summary>When set, a session is only known on the connection that created it (ActivateSession elsewhere fails).</summary>
    public bool SessionsDieWithConnection { get; set; }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<NodeId, int> _sessions = new();

    private byte[]? _flood;
    private int _floodSequenceAt;
    private uint _floodSequence;
    private uint[] _handles = [];

    /// <summary>When set, Publish requests on the first connection are never answered (a subscription gone silent).</summary>
    public bool ParkPublishOnFirstConnection { get; set; }

    public uint RevisedKeepAliveCount { get; set; } = 1000;

    /// <summary>The MaxMessageSize the fake announces in its Acknowledge (0: no limit).</summary>
    public uint MaxMessageSize { get; set; }

    /// <summary>Sequence numbers the fake answers Publish requests with, in order (then it stops answering Publish).</summary>
    public Queue<uint> PublishScript { get; } = new();

    /// <summary>Sequence numbers Republish can still return; others get BadMessageNotAvailable.</summary>
    public HashSet<uint> Republishable { get; } = [];

    private uint _clientHandle;

    private NotificationMessage Notification(uint sequence) => new()
    {
        SequenceNumber = sequence,
        PublishTime = DateTime.UtcNow,
        NotificationData = [new ExtensionObject(new DataChangeNotification
        {
            MonitoredItems = [new MonitoredItemNotification { ClientHandle = _clientHandle, Value = new DataValue(new Variant((double)sequence), default, DateTime.UtcNow) }],
        })],
    };

    /// <summary>GetEndpoints answers with this endpoint (None/anonymous unless replaced).</summary>
    public EndpointDescription Endpoint { get; set; } = new()
    {
        EndpointUrl = "opc.tcp://127.0.0.1",
        SecurityMode = MessageSecurityMode.None,
        SecurityPolicyUri = SecurityPolicies.None,
        UserIdentityTokens = [new UserTokenPolicy { PolicyId = "anon", TokenType = UserTokenType.Anonymous }],
        TransportProfileUri = "http://opcfoundation.org/UA-Profile/Transport/uatcp-uasc-uabinary",
        Server = new ApplicationDescription { ApplicationUri = "urn:fake", ApplicationType = ApplicationType.Server },
    };

    private async Task AcceptLoopAsync()
    {
        while (!_cts.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_cts.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            lock (_clients)
                _clients.Add(client);
            int number = Interlocked.Increment(ref _connections);
            _ = Task.Run(() => ServeAsync(client, number));
        }
    }

    private async Task ServeAsync(TcpClient client, int connection)
    {
        uint sequence = 100;
        const uint channelId = 7;
        const uint tokenId = 1;
        var stream = client.GetStream();
        try
        {
            while (!_cts.IsCancellationRequested)
            {
                byte[] head = new byte[8];
                await stream.ReadExactlyAsync(head, _cts.Token);
                uint type = (uint)(head[0] | head[1] << 8 | head[2] << 16);
                int size = BinaryPrimitives.ReadInt32LittleEndian(head.AsSpan(4));
                byte[] chunk = new byte[size];
                head.CopyTo(chunk, 0);
                await stream.ReadExactlyAsync(chunk.AsMemory(8), _cts.Token);
                if (type == MessageTypes.Hello)
                {
                    using var e = new BinaryEncoder();
                    e.WriteRaw(new byte[8]);
                    e.WriteUInt32(0);
                    e.WriteUInt32(65535);
                    e.WriteUInt32(65535);
                    e.WriteUInt32(MaxMessageSize);
                    e.WriteUInt32(0);
                    byte[] ack = e.ToArray();
                    ChunkHeader.Write(ack, MessageTypes.Acknowledge, (byte)'F', ack.Length);
                    await stream.WriteAsync(ack, _cts.Token);
                    continue;
                }
                if (type == MessageTypes.Close)
                    return;
                int at;
                if (type == MessageTypes.Open)
                {
                    var d = new BinaryDecoder(chunk);
                    d.ReadRaw(12);
                    d.ReadString();
                    d.ReadByteString();
                    d.ReadByteString();
                    at = d.Position;
                }
                else
                {
                    at = 16;
                }
                uint requestId = BinaryPrimitives.ReadUInt32LittleEndian(chunk.AsSpan(at + 4));
                var request = SecureChannel.DecodeMessage(chunk.AsMemory(at + 8), OpcUaLimits.Default);
                IEncodeable? response = request switch
                {
                    OpenSecureChannelRequest => new OpenSecureChannelResponse
                    {
                        SecurityToken = new ChannelSecurityToken { ChannelId = channelId, TokenId = tokenId, CreatedAt = DateTime.UtcNow, RevisedLifetime = 600000 },
                        ServerNonce = [],
                    },
                    GetEndpointsRequest => new GetEndpointsResponse { Endpoints = [Endpoint] },
                    CreateSessionRequest => new CreateSessionResponse
                    {
                        SessionId = new NodeId(0, 1000u + (uint)connection),
                        AuthenticationToken = NewSession(connection),
                        RevisedSessionTimeout = 60000,
                        ServerNonce = new byte[32],
                    },
                    ActivateSessionRequest a when SessionsDieWithConnection && _sessions.GetValueOrDefault(a.RequestHeader.AuthenticationToken) != connection =>
                        new ServiceFault { ResponseHeader = new ResponseHeader { ServiceResult = StatusCodes.BadSessionIdInvalid } },
                    ActivateSessionRequest => new ActivateSessionResponse { ServerNonce = new byte[32] },
                    TransferSubscriptionsRequest t => new TransferSubscriptionsResponse { Results = [.. t.SubscriptionIds.Select(_ => new TransferResult { StatusCode = StatusCodes.Good })] },
                    ReadRequest r => new ReadResponse { Results = [.. r.NodesToRead.Select(_ => new DataValue(new Variant(42.0)))] },
                    CloseSessionRequest => new CloseSessionResponse(),
                    CreateSubscriptionRequest => new CreateSubscriptionResponse { SubscriptionId = 1, RevisedPublishingInterval = 100, RevisedMaxKeepAliveCount = RevisedKeepAliveCount, RevisedLifetimeCount = 3000 },
                    CreateMonitoredItemsRequest c => CreateItems(c),
                    PublishRequest => null,
                    RepublishRequest r => Republishable.Contains(r.RetransmitSequenceNumber)
                        ? new RepublishResponse { NotificationMessage = Notification(r.RetransmitSequenceNumber) }
                        : new ServiceFault { ResponseHeader = new ResponseHeader { ServiceResult = StatusCodes.BadMessageNotAvailable } },
                    DeleteSubscriptionsRequest d => new DeleteSubscriptionsResponse { Results = [.. d.SubscriptionIds.Select(_ => StatusCodes.Good)] },
                    _ => new ServiceFault { ResponseHeader = new ResponseHeader { ServiceResult = StatusCodes.BadServiceUnsupported } },
                };
                if (request is PublishRequest && FloodItems > 0)
                {
                    if (_handles.Length < FloodItems)
                    {
                        await Task.Delay(100, _cts.Token);
                        response = new PublishResponse { SubscriptionId = 1, NotificationMessage = new NotificationMessage { SequenceNumber = _floodSequence + 1, PublishTime = DateTime.UtcNow } };
                    }
                    else
                    {
                        byte[] flood = FloodMessage();
                        await Task.Delay(TimeSpan.FromMilliseconds(100 - DateTime.UtcNow.Millisecond % 100), _cts.Token);
                        BinaryPrimitives.WriteUInt32LittleEndian(flood.AsSpan(_floodSequenceAt), ++_floodSequence);
                        for (int start = 0; start < flood.Length; start += 65000)
                        {
                            int n = Math.Min(65000, flood.Length - start);
                            await WriteChunkAsync(stream, MessageTypes.Message, start + n == flood.Length ? (byte)'F' : (byte)'C', channelId, tokenId, ++sequence, requestId, flood.AsMemory(start, n));
                        }
                        continue;
                    }
                }
                else if (request is PublishRequest)
                    response = ParkPublishOnFirstConnection && connection == 1 ? null : await NextPublishAsync();
                if (response is null)
                    continue;
                var misbehave = Misbehavior.None;
                if (request is ReadRequest)
                    misbehave = OnRead(connection, Interlocked.Increment(ref _reads));
                ((ServiceResponse)response).ResponseHeader.RequestHandle = ((ServiceRequest)request).RequestHeader.RequestHandle;
                ((ServiceResponse)response).ResponseHeader.Timestamp = DateTime.UtcNow;
                using var body = new BinaryEncoder();
                body.WriteNodeId(response.BinaryEncodingId);
                response.Encode(body);
                byte[] payload = misbehave == Misbehavior.GarbageBody ? [0x01, 0x00, 0x7A, 0x02, 0xFF, 0xFF, 0xFF, 0x7F] : body.ToArray();
                switch (misbehave)
                {
                    case Misbehavior.Silence:
                        continue;
                    case Misbehavior.OversizedChunkHeader:
                        await stream.WriteAsync(new byte[] { (byte)'M', (byte)'S', (byte)'G', (byte)'F', 0xFF, 0xFF, 0xFF, 0x00 }, _cts.Token);
                        continue;
                    case Misbehavior.UnknownMessageType:
                        await stream.WriteAsync(new byte[] { (byte)'X', (byte)'Y', (byte)'Z', (byte)'F', 8, 0, 0, 0 }, _cts.Token);
                        continue;
                    case Misbehavior.ErrorMessage:
                        {
                            using var e = new BinaryEncoder();
                            e.WriteRaw(new byte[8]);
                            e.WriteStatusCode(StatusCodes.BadTcpInternalError);
                            e.WriteString("fake server gives up");
                            byte[] err = e.ToArray();
                            ChunkHeader.Write(err, MessageTypes.Error, (byte)'F', err.Length);
                            await stream.WriteAsync(err, _cts.Token);
                            continue;
                        }
                    case Misbehavior.WrongSequenceNumber:
                        sequence += 5;
                        break;
                    case Misbehavior.TooManyChunks:
                        // the same small piece 2000 times as 'C' chunks: more than the client's MaxChunkCount
                        for (int i = 0; i < 2000; i++)
                            await WriteChunkAsync(stream, MessageTypes.Message, (byte)'C', channelId, tokenId, ++sequence, requestId, payload.AsMemory(0, 4));
                        await WriteChunkAsync(stream, MessageTypes.Message, (byte)'F', channelId, tokenId, ++sequence, requestId, payload.AsMemory(4));
                        continue;
                }
                uint channel = misbehave == Misbehavior.WrongChannelId ? 99 : channelId;
                uint token = misbehave == Misbehavior.UnknownToken ? 55 : tokenId;
                if (type == MessageTypes.Open)
                {
                    using var e = new BinaryEncoder();
                    e.WriteRaw(new byte[8]);
                    e.WriteUInt32(channelId);
                    e.WriteString(SecurityPolicies.None);
                    e.WriteByteString(null);
                    e.WriteByteString(null);
                    e.WriteUInt32(++sequence);
                    e.WriteUInt32(requestId);
                    e.WriteRaw(payload);
                    byte[] opn = e.ToArray();
                    ChunkHeader.Write(opn, MessageTypes.Open, (byte)'F', opn.Length);
                    await stream.WriteAsync(opn, _cts.Token);
                }
                else
                {
                    await WriteChunkAsync(stream, MessageTypes.Message, (byte)'F', channel, token, ++sequence, requestId, payload);
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or EndOfStreamException)
        {
        }
        finally
        {
            client.Dispose();
        }
    }

    private NodeId NewSession(int connection)
    {
        var token = new NodeId(0, Guid.NewGuid());
        _sessions[token] = connection;
        return token;
    }

    private CreateMonitoredItemsResponse CreateItems(CreateMonitoredItemsRequest request)
    {
        _clientHandle = request.ItemsToCreate[0].ClientHandle;
        _handles = [.. _handles, .. request.ItemsToCreate.Select(i => i.ClientHandle)];
        return new CreateMonitoredItemsResponse
        {
            Results = [.. request.ItemsToCreate.Select((_, i) => new MonitoredItemCreateResult { MonitoredItemId = (uint)i + 1, RevisedSamplingInterval = 100, RevisedQueueSize = 1 })],
        };
    }

    private byte[] FloodMessage()
    {
        if (_flood is not null)
            return _flood;
        var now = DateTime.UtcNow;
        var message = new PublishResponse
        {
            SubscriptionId = 1,
            NotificationMessage = new NotificationMessage
            {
                SequenceNumber = 0xDEADBEEF,
                PublishTime = now,
                NotificationData = [new ExtensionObject(new DataChangeNotification
                {
                    MonitoredItems = [.. _handles.Take(FloodItems).Select((h, i) => new MonitoredItemNotification
                    {
                        ClientHandle = h,
                        Value = new DataValue(new Variant(i / 1000.0), default, now) { ServerTimestamp = now },
                    })],
                })],
            },
        };
        using var e = new BinaryEncoder();
        e.WriteNodeId(message.BinaryEncodingId);
        message.Encode(e);
        _flood = e.ToArray();
        _floodSequenceAt = _flood.AsSpan().IndexOf(BitConverter.GetBytes(0xDEADBEEF));
        return _flood;
    }

    private uint _lastPublished;

    /// <summary>The next scripted message, or after 100 ms a keep-alive (before the item exists or after the script).</summary>
    private async Task<PublishResponse> NextPublishAsync()
    {
        if (_clientHandle != 0 && PublishScript.TryDequeue(out uint sequence))
        {
            _lastPublished = sequence;
            return new PublishResponse { SubscriptionId = 1, AvailableSequenceNumbers = [sequence], NotificationMessage = Notification(sequence) };
        }
        await Task.Delay(100, _cts.Token);
        uint next = PublishScript.TryPeek(out uint upcoming) ? upcoming : _lastPublished + 1;
        return new PublishResponse { SubscriptionId = 1, NotificationMessage = new NotificationMessage { SequenceNumber = next, PublishTime = DateTime.UtcNow } };
    }

    private async Task WriteChunkAsync(NetworkStream stream, uint type, byte chunkType, uint channelId, uint tokenId, uint sequence, uint requestId, ReadOnlyMemory<byte> body)
    {
        byte[] chunk = new byte[24 + body.Length];
        ChunkHeader.Write(chunk, type, chunkType, chunk.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(chunk.AsSpan(8), channelId);
        BinaryPrimitives.WriteUInt32LittleEndian(chunk.AsSpan(12), tokenId);
        BinaryPrimitives.WriteUInt32LittleEndian(chunk.AsSpan(16), sequence);
        BinaryPrimitives.WriteUInt32LittleEndian(chunk.AsSpan(20), requestId);
        body.CopyTo(chunk.AsMemory(24));
        await stream.WriteAsync(chunk, _cts.Token);
    }

    public ValueTask DisposeAsync()
    {
        _cts.Cancel();
        _listener.Stop();
        lock (_clients)
        {
            foreach (var c in _clients)
                c.Dispose();
        }
        return ValueTask.CompletedTask;
    }
}
