using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using Zhizao.OpcUa.Transport;

namespace Zhizao.OpcUa.Server;

/// <summary>A broken rule on a channel: the server answers with an Error message carrying the status and closes.</summary>
internal sealed class ChannelFault(StatusCode status, string message) : Exception(message)
{
    public StatusCode Status { get; } = status;
}

/// <summary>
/// The server end of one UA-TCP connection with SecurityPolicy None: Hello/Acknowledge, OpenSecureChannel (Issue and
/// Renew), CloseSecureChannel, MSG chunks reassembled within our limits, sequence numbers, channel and token ids checked.
/// Any violation sends an Error message naming the problem and closes this connection only.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "Close() releases the stream; the semaphore and token source may still be awaited by late senders")]
internal sealed class ServerChannel
{
    private const uint SequenceWrapLimit = uint.MaxValue - 1024;
    private readonly OpcUaServer _server;
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly OpcUaLimits _limits;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly CancellationTokenSource _life = new();
    private TransportSettings? _client;
    private uint _tokenId;
    private uint _previousTokenId;
    private uint? _receiveSequence;
    private uint _sendSequence;
    private byte[]? _partial;
    private int _partialSize;
    private int _partialChunks;
    private uint _partialRequestId;
    private int _closed;

    public ServerChannel(OpcUaServer server, Socket socket, uint channelId)
    {
        _server = server;
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _limits = server.Options.Limits;
        ChannelId = channelId;
        Peer = socket.RemoteEndPoint?.ToString() ?? "?";
    }

    public uint ChannelId { get; }
    public string Peer { get; }
    public bool IsClosed => Volatile.Read(ref _closed) != 0;
    public bool IsOpen { get; private set; }

    public async Task RunAsync(CancellationToken stopping)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stopping, _life.Token);
        var ct = linked.Token;
        try
        {
            using (var hello = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                hello.CancelAfter(_server.Options.HelloTimeout);
                byte[] first;
                ChunkHeader header;
                try
                {
                    (header, first) = await ReadChunkAsync(hello.Token);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    throw new ChannelFault(StatusCodes.BadTimeout, $"no Hello within {_server.Options.HelloTimeout.TotalSeconds:0} s");
                }
                try
                {
                    if (header.MessageType != MessageTypes.Hello)
                        throw new ChannelFault(StatusCodes.BadTcpMessageTypeInvalid, $"first message is {MessageTypes.Name(header.MessageType)}, expected HEL");
                    await ProcessHelloAsync(first.AsMemory(0, header.Size), ct);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(first);
                }
            }
            while (!ct.IsCancellationRequested)
            {
                var (header, chunk) = await ReadChunkAsync(ct);
                try
                {
                    if (!await ProcessChunkAsync(header, chunk, ct))
                        return;
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(chunk);
                }
            }
        }
        catch (ChannelFault e)
        {
            await FailAsync(e.Status, e.Message);
        }
        catch (OpcUaException e) when (e is OpcUaProtocolException or OpcUaDecodingException)
        {
            await FailAsync(e.Status, e.Message);
        }
        catch (Exception e) when (e is IOException or SocketException or EndOfStreamException or OperationCanceledException or ObjectDisposedException)
        {
        }
        finally
        {
            Close();
        }
    }

    private async Task FailAsync(StatusCode status, string message)
    {
        _server.Log($"OPC UA server: closing channel {ChannelId} from {Peer}: {status}: {message}");
        _server.CountBadInput();
        try
        {
            using var e = new BinaryEncoder();
            e.WriteRaw(stackalloc byte[8]);
            e.WriteStatusCode(status);
            e.WriteString(message.Length > 1024 ? message[..1024] : message);
            byte[] err = e.ToArray();
            ChunkHeader.Write(err, MessageTypes.Error, (byte)'F', err.Length);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _sendLock.WaitAsync(timeout.Token);
            try
            {
                await _stream.WriteAsync(err, timeout.Token);
            }
            finally
            {
                _sendLock.Release();
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    public void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
            return;
        _life.Cancel();
        _stream.Dispose();
        if (_partial is not null)
            ArrayPool<byte>.Shared.Return(_partial);
        _partial = null;
        _server.OnChannelClosed(this);
    }

    private async Task<(ChunkHeader, byte[])> ReadChunkAsync(CancellationToken ct)
    {
        byte[] head = new byte[8];
        await _stream.ReadExactlyAsync(head, ct);
        var header = ChunkHeader.Parse(head, _limits.ReceiveBufferSize);
        byte[] chunk = ArrayPool<byte>.Shared.Rent(header.Size);
        head.CopyTo(chunk, 0);
        try
        {
            await _stream.ReadExactlyAsync(chunk.AsMemory(8, header.Size - 8), ct);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(chunk);
            throw;
        }
        return (header, chunk);
    }

    private async Task ProcessHelloAsync(ReadOnlyMemory<byte> chunk, CancellationToken ct)
    {
        var d = new BinaryDecoder(chunk[8..], new OpcUaLimits { MaxStringLength = 4096 }, 8);
        var hello = new TransportSettings(d.ReadUInt32(), d.ReadUInt32(), d.ReadUInt32(), d.ReadUInt32(), d.ReadUInt32());
        string? url = d.ReadString();
        if (hello.ReceiveBufferSize < 8192 || hello.SendBufferSize < 8192)
            throw new ChannelFault(StatusCodes.BadTcpInternalError, $"Hello buffer sizes {hello.ReceiveBufferSize}/{hello.SendBufferSize} are below the 8192 minimum");
        _client = hello;
        _server.Log($"OPC UA server: Hello from {Peer} for {url}");
        using var e = new BinaryEncoder();
        e.WriteRaw(stackalloc byte[8]);
        e.WriteUInt32(0);
        e.WriteUInt32((uint)_limits.ReceiveBufferSize);
        e.WriteUInt32(Math.Min(hello.ReceiveBufferSize, 65535u));
        e.WriteUInt32((uint)_limits.MaxMessageSize);
        e.WriteUInt32((uint)_limits.MaxChunkCount);
        byte[] ack = e.ToArray();
        ChunkHeader.Write(ack, MessageTypes.Acknowledge, (byte)'F', ack.Length);
        await _stream.WriteAsync(ack, ct);
    }

    /// <summary>Handles one chunk; false when the client closed the channel.</summary>
    private async Task<bool> ProcessChunkAsync(ChunkHeader header, byte[] chunk, CancellationToken ct)
    {
        switch (header.MessageType)
        {
            case MessageTypes.Open:
                await ProcessOpenAsync(header, chunk, ct);
                return true;
            case MessageTypes.Message:
            case MessageTypes.Close:
                return await ProcessSymmetricAsync(header, chunk);
            default:
                throw new ChannelFault(StatusCodes.BadTcpMessageTypeInvalid, $"unexpected {MessageTypes.Name(header.MessageType)} after Hello");
        }
    }

    private async Task ProcessOpenAsync(ChunkHeader header, byte[] chunk, CancellationToken ct)
    {
        if (header.ChunkType != (byte)'F')
            throw new ChannelFault(StatusCodes.BadTcpMessageTypeInvalid, "OpenSecureChannel in more than one chunk is not supported");
        var d = new BinaryDecoder(chunk.AsMemory(0, header.Size), new OpcUaLimits { MaxByteStringLength = 32768, MaxStringLength = 1024 });
        d.ReadRaw(8);
        uint channelId = d.ReadUInt32();
        string? policy = d.ReadString();
        d.ReadByteString();
        d.ReadByteString();
        if (policy != SecurityPolicies.None)
            throw new ChannelFault(StatusCodes.BadSecurityPolicyRejectedCode, $"security policy '{policy}' is not offered; this server speaks {SecurityPolicies.None}");
        if (d.Remaining < 8)
            throw new ChannelFault(StatusCodes.BadTcpMessageTypeInvalid, "OPN chunk is too short for its sequence header");
        uint sequence = d.ReadUInt32();
        uint requestId = d.ReadUInt32();
        CheckSequence(sequence);
        int at = d.Position;
        if (SecureChannel.DecodeMessage(chunk.AsMemory(at, header.Size - at), _limits, at) is not OpenSecureChannelRequest request)
            throw new ChannelFault(StatusCodes.BadTcpMessageTypeInvalid, "OPN chunk does not carry an OpenSecureChannelRequest");
        if (request.SecurityMode != MessageSecurityMode.None)
            throw new ChannelFault(StatusCodes.BadSecurityModeRejectedCode, $"security mode {request.SecurityMode} is not offered; this server speaks None");
        if (request.RequestType == 1)
        {
            if (!IsOpen || channelId != ChannelId)
                throw new ChannelFault(StatusCodes.BadTcpSecureChannelUnknown, $"renew for channel {channelId}, this connection's is {(IsOpen ? ChannelId : 0)}");
        }
        else if (request.RequestType != 0 || IsOpen)
        {
            throw new ChannelFault(StatusCodes.BadTcpMessageTypeInvalid, IsOpen ? "OpenSecureChannel Issue on an open channel" : $"OpenSecureChannel request type {request.RequestType} is not Issue (0) or Renew (1)");
        }
        uint newToken = _tokenId + 1;
        uint lifetime = Math.Clamp(request.RequestedLifetime == 0 ? 3_600_000u : request.RequestedLifetime, 60_000u, 3_600_000u);
        var response = new OpenSecureChannelResponse
        {
            SecurityToken = new ChannelSecurityToken { ChannelId = ChannelId, TokenId = newToken, CreatedAt = DateTime.UtcNow, RevisedLifetime = lifetime },
            ServerNonce = [],
        };
        response.ResponseHeader.RequestHandle = request.RequestHeader.RequestHandle;
        response.ResponseHeader.Timestamp = DateTime.UtcNow;
        using var body = new BinaryEncoder(_limits, 256);
        body.WriteNodeId(response.BinaryEncodingId);
        response.Encode(body);
        using var e = new BinaryEncoder(_limits, 256);
        e.WriteRaw(stackalloc byte[8]);
        e.WriteUInt32(ChannelId);
        e.WriteString(SecurityPolicies.None);
        e.WriteByteString(null);
        e.WriteByteString(null);
        await _sendLock.WaitAsync(ct);
        try
        {
            e.WriteUInt32(NextSendSequence());
            e.WriteUInt32(requestId);
            e.WriteRaw(body.WrittenSpan);
            byte[] opn = e.ToArray();
            ChunkHeader.Write(opn, MessageTypes.Open, (byte)'F', opn.Length);
            await _stream.WriteAsync(opn, ct);
            // switch only after the client has the new token in hand; its chunks may use either until it switches too
            _previousTokenId = _tokenId;
            _tokenId = newToken;
            IsOpen = true;
        }
        finally
        {
            _sendLock.Release();
        }
    }

    private async Task<bool> ProcessSymmetricAsync(ChunkHeader header, byte[] chunk)
    {
        string what = MessageTypes.Name(header.MessageType);
        if (!IsOpen)
            throw new ChannelFault(StatusCodes.BadTcpSecureChannelUnknown, $"{what} before OpenSecureChannel");
        if (header.Size < 24)
            throw new ChannelFault(StatusCodes.BadTcpMessageTypeInvalid, $"{what} chunk of {header.Size} bytes is too short for its headers");
        var span = chunk.AsSpan(0, header.Size);
        uint channelId = BinaryPrimitives.ReadUInt32LittleEndian(span[8..]);
        if (channelId != ChannelId)
            throw new ChannelFault(StatusCodes.BadTcpSecureChannelUnknown, $"{what} chunk is for channel {channelId}, this connection's is {ChannelId} (offset 8)");
        uint tokenId = BinaryPrimitives.ReadUInt32LittleEndian(span[12..]);
        if (tokenId != _tokenId && (tokenId != _previousTokenId || tokenId == 0))
            throw new ChannelFault(StatusCodes.BadSecureChannelTokenUnknown, $"{what} chunk uses token {tokenId}, the channel's is {_tokenId} (offset 12)");
        uint sequence = BinaryPrimitives.ReadUInt32LittleEndian(span[16..]);
        uint requestId = BinaryPrimitives.ReadUInt32LittleEndian(span[20..]);
        CheckSequence(sequence);
        if (header.MessageType == MessageTypes.Close)
            return false;
        var body = span[24..];
        if (header.ChunkType == (byte)'A')
        {
            DropPartial();
            return true;
        }
        if (_partial is null && header.ChunkType == (byte)'F')
        {
            await DispatchAsync(requestId, chunk.AsMemory(24, header.Size - 24));
            return true;
        }
        if (_partial is not null && requestId != _partialRequestId)
            throw new ChannelFault(StatusCodes.BadTcpMessageTypeInvalid, $"chunk of request {requestId} interleaved with the chunks of request {_partialRequestId}");
        _partialRequestId = requestId;
        _partialChunks++;
        if (_partialChunks > _limits.MaxChunkCount || _partialSize + body.Length > _limits.MaxMessageSize)
            throw new ChannelFault(StatusCodes.BadTcpMessageTooLarge,
                $"request {requestId} exceeds our limits ({_partialChunks} chunks, {_partialSize + body.Length} bytes; MaxChunkCount {_limits.MaxChunkCount}, MaxMessageSize {_limits.MaxMessageSize})");
        if (_partial is null || _partial.Length - _partialSize < body.Length)
        {
            byte[] next = ArrayPool<byte>.Shared.Rent(Math.Max((_partial?.Length ?? 0) * 2, _partialSize + body.Length));
            if (_partial is not null)
            {
                _partial.AsSpan(0, _partialSize).CopyTo(next);
                ArrayPool<byte>.Shared.Return(_partial);
            }
            _partial = next;
        }
        body.CopyTo(_partial.AsSpan(_partialSize));
        _partialSize += body.Length;
        if (header.ChunkType == (byte)'F')
        {
            try
            {
                await DispatchAsync(requestId, _partial.AsMemory(0, _partialSize));
            }
            finally
            {
                DropPartial();
            }
        }
        return true;
    }

    private void DropPartial()
    {
        if (_partial is not null)
            ArrayPool<byte>.Shared.Return(_partial);
        _partial = null;
        _partialSize = 0;
        _partialChunks = 0;
    }

    private async Task DispatchAsync(uint requestId, ReadOnlyMemory<byte> body)
    {
        var d = new BinaryDecoder(body, _limits, 24);
        NodeId typeId = d.ReadNodeId();
        IEncodeable? message = EncodeableTypes.Create(typeId);
        if (message is null)
        {
            // a well-framed request for a service we do not offer: ServiceFault, the channel stays up
            var header = new RequestHeader();
            header.Decode(d);
            _server.Log($"OPC UA server: channel {ChannelId}: service with encoding id {typeId} is not supported");
            await SendResponseAsync(requestId, header.RequestHandle, OpcUaServer.Fault(StatusCodes.BadServiceUnsupported));
            return;
        }
        message = SecureChannel.DecodeMessage(body, _limits, 24);
        if (message is not ServiceRequest request)
            throw new ChannelFault(StatusCodes.BadDecodingError, $"{message.GetType().Name} is not a request");
        if (request is OpenSecureChannelRequest or CloseSecureChannelRequest)
            throw new ChannelFault(StatusCodes.BadTcpMessageTypeInvalid, $"{message.GetType().Name} in a MSG chunk");
        var response = _server.Handle(this, requestId, request);
        if (response is not null)
            await SendResponseAsync(requestId, request.RequestHeader.RequestHandle, response);
    }

    /// <summary>Encodes and sends a response in chunks of the client's receive buffer; never throws (a failed send closes the channel).</summary>
    public async Task SendResponseAsync(uint requestId, uint requestHandle, ServiceResponse response)
    {
        if (IsClosed)
            return;
        response.ResponseHeader.RequestHandle = requestHandle;
        response.ResponseHeader.Timestamp = DateTime.UtcNow;
        var client = _client!;
        var body = new BinaryEncoder(_limits, 1024);
        try
        {
            body.WriteNodeId(response.BinaryEncodingId);
            response.Encode(body);
            int maxBody = (int)Math.Min(client.ReceiveBufferSize, 65535u) - 24;
            int chunks = Math.Max(1, (body.Position + maxBody - 1) / maxBody);
            if ((client.MaxMessageSize != 0 && body.Position > client.MaxMessageSize) || (client.MaxChunkCount != 0 && chunks > client.MaxChunkCount))
            {
                _server.Log($"OPC UA server: channel {ChannelId}: {response.GetType().Name} of {body.Position} bytes exceeds the client's MaxMessageSize {client.MaxMessageSize} / MaxChunkCount {client.MaxChunkCount}");
                body.Dispose();
                body = new BinaryEncoder(_limits, 256);
                var fault = OpcUaServer.Fault(StatusCodes.BadResponseTooLarge);
                fault.ResponseHeader.RequestHandle = requestHandle;
                body.WriteNodeId(fault.BinaryEncodingId);
                fault.Encode(body);
                chunks = 1;
            }
            await _sendLock.WaitAsync(_life.Token);
            try
            {
                for (int i = 0; i < chunks; i++)
                {
                    int start = i * maxBody;
                    int n = Math.Min(maxBody, body.Position - start);
                    await WriteChunkAsync(i == chunks - 1 ? (byte)'F' : (byte)'C', requestId, body.WrittenMemory.Slice(start, n));
                }
            }
            finally
            {
                _sendLock.Release();
            }
        }
        catch (OpcUaEncodingException e)
        {
            _server.Log($"OPC UA server: channel {ChannelId}: cannot encode {response.GetType().Name}: {e.Message}");
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            Close();
        }
        finally
        {
            body.Dispose();
        }
    }

    private async Task WriteChunkAsync(byte chunkType, uint requestId, ReadOnlyMemory<byte> body)
    {
        int size = 24 + body.Length;
        byte[] chunk = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            var span = chunk.AsSpan(0, size);
            ChunkHeader.Write(span, MessageTypes.Message, chunkType, size);
            BinaryPrimitives.WriteUInt32LittleEndian(span[8..], ChannelId);
            BinaryPrimitives.WriteUInt32LittleEndian(span[12..], _tokenId);
            BinaryPrimitives.WriteUInt32LittleEndian(span[16..], NextSendSequence());
            BinaryPrimitives.WriteUInt32LittleEndian(span[20..], requestId);
            body.Span.CopyTo(span[24..]);
            await _stream.WriteAsync(chunk.AsMemory(0, size), _life.Token);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    private uint NextSendSequence()
    {
        _sendSequence = _sendSequence >= SequenceWrapLimit ? 1 : _sendSequence + 1;
        return _sendSequence;
    }

    private void CheckSequence(uint sequence)
    {
        if (_receiveSequence is uint last)
        {
            bool ok = sequence == last + 1 || (last >= SequenceWrapLimit && sequence < 1024);
            if (!ok)
                throw new ChannelFault(StatusCodes.BadSequenceNumberInvalid, $"sequence number {sequence} follows {last}: chunks were lost, repeated or reordered");
        }
        _receiveSequence = sequence;
    }
}
