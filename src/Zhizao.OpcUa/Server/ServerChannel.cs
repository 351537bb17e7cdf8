using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Zhizao.OpcUa.Security;
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
    private TokenKeys? _keys;
    private TokenKeys? _previousKeys;
    private X509Certificate2? _clientCertificate;
    private bool _sign;
    private bool _encrypt;
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
    public MessageSecurityMode SecurityMode { get; private set; } = MessageSecurityMode.None;

    /// <summary>The client's certificate on a Basic256Sha256 channel.</summary>
    public X509Certificate2? ClientCertificate => _clientCertificate;

    /// <summary>Keys of one token: the client's (to verify and decrypt what it sends) and ours (to sign and encrypt).</summary>
    private sealed class TokenKeys(SymmetricKeys client, SymmetricKeys server) : IDisposable
    {
        public SymmetricKeys Client { get; } = client;
        public SymmetricKeys Server { get; } = server;

        public void Dispose()
        {
            Client.Dispose();
            Server.Dispose();
        }
    }

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
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            await FailAsync(StatusCodes.BadInternalError, "internal error: " + e.Message);
            _server.Log($"OPC UA server: channel {ChannelId}: {e}");
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
        _keys?.Dispose();
        _previousKeys?.Dispose();
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
        byte[]? senderCertificate = d.ReadByteString();
        byte[]? receiverThumbprint = d.ReadByteString();
        int headerEnd = d.Position;
        var store = _server.Options.Certificates;
        bool secure = policy == SecurityPolicies.Basic256Sha256 && store is not null;
        if (policy != SecurityPolicies.None && !secure) // None stays open for discovery even when its endpoint is off
            throw new ChannelFault(StatusCodes.BadSecurityPolicyRejectedCode, $"security policy '{policy}' is not offered; this server speaks {string.Join(", ", _server.OfferedPolicies)}");
        if (IsOpen && secure != (SecurityMode != MessageSecurityMode.None))
            throw new ChannelFault(StatusCodes.BadSecurityPolicyRejectedCode, $"renew with policy '{policy}' on a channel opened with another");
        ReadOnlyMemory<byte> plain;
        int bodyOffset;
        if (!secure)
        {
            plain = chunk.AsMemory(headerEnd, header.Size - headerEnd);
            bodyOffset = headerEnd;
        }
        else
        {
            var own = store!.ApplicationCertificate;
            if (receiverThumbprint is null || !receiverThumbprint.AsSpan().SequenceEqual(CryptoUtils.Thumbprint(own.RawData)))
                throw new ChannelFault(StatusCodes.BadCertificateInvalid, "OpenSecureChannel is encrypted for a certificate other than this server's");
            X509Certificate2 client;
            try
            {
                client = store.ValidateServerCertificate(senderCertificate); // the same trust rules apply to client certificates
            }
            catch (OpcUaSecurityException e)
            {
                throw new ChannelFault(e.Status, "client certificate refused: " + e.Message);
            }
            if (_clientCertificate is not null && !_clientCertificate.RawData.AsSpan().SequenceEqual(client.RawData))
                throw new ChannelFault(StatusCodes.BadCertificateInvalid, "renew signed with a certificate other than the one that opened the channel");
            byte[] decrypted;
            try
            {
                decrypted = CryptoUtils.RsaDecrypt(own, chunk.AsSpan(headerEnd, header.Size - headerEnd));
            }
            catch (OpcUaSecurityException e)
            {
                throw new ChannelFault(e.Status, "OpenSecureChannel does not decrypt: " + e.Message);
            }
            int signatureSize = CryptoUtils.KeySizeBytes(client);
            if (decrypted.Length < 8 + 1 + signatureSize)
                throw new ChannelFault(StatusCodes.BadSecurityChecksFailed, "decrypted OpenSecureChannel is too short");
            int signedEnd = decrypted.Length - signatureSize;
            byte[] signedData = [.. chunk.AsSpan(0, headerEnd), .. decrypted.AsSpan(0, signedEnd)];
            if (!CryptoUtils.RsaVerify(client, signedData, decrypted.AsSpan(signedEnd)))
                throw new ChannelFault(StatusCodes.BadSecurityChecksFailed, "OpenSecureChannel signature does not verify with the client certificate");
            bool extra = CryptoUtils.KeySizeBytes(own) > 256;
            int padding = decrypted[signedEnd - 1];
            if (extra)
                padding = padding << 8 | decrypted[signedEnd - 2];
            int bodyEnd = signedEnd - 1 - (extra ? 1 : 0) - padding;
            if (bodyEnd < 8)
                throw new ChannelFault(StatusCodes.BadSecurityChecksFailed, $"OpenSecureChannel padding of {padding} bytes runs past the sequence header");
            plain = decrypted.AsMemory(0, bodyEnd);
            bodyOffset = headerEnd;
            _clientCertificate ??= client;
        }
        if (plain.Length < 8)
            throw new ChannelFault(StatusCodes.BadTcpMessageTypeInvalid, "OPN chunk is too short for its sequence header");
        uint sequence = BinaryPrimitives.ReadUInt32LittleEndian(plain.Span);
        uint requestId = BinaryPrimitives.ReadUInt32LittleEndian(plain.Span[4..]);
        CheckSequence(sequence);
        if (SecureChannel.DecodeMessage(plain[8..], _limits, bodyOffset + 8) is not OpenSecureChannelRequest request)
            throw new ChannelFault(StatusCodes.BadTcpMessageTypeInvalid, "OPN chunk does not carry an OpenSecureChannelRequest");
        var mode = request.SecurityMode;
        if (secure ? mode is not (MessageSecurityMode.Sign or MessageSecurityMode.SignAndEncrypt) : mode != MessageSecurityMode.None)
            throw new ChannelFault(StatusCodes.BadSecurityModeRejectedCode, $"security mode {mode} does not go with policy '{policy}'");
        if (request.RequestType == 1)
        {
            if (!IsOpen || channelId != ChannelId)
                throw new ChannelFault(StatusCodes.BadTcpSecureChannelUnknown, $"renew for channel {channelId}, this connection's is {(IsOpen ? ChannelId : 0)}");
            if (mode != SecurityMode)
                throw new ChannelFault(StatusCodes.BadSecurityModeRejectedCode, $"renew asks for {mode}, the channel was opened with {SecurityMode}");
        }
        else if (request.RequestType != 0 || IsOpen)
        {
            throw new ChannelFault(StatusCodes.BadTcpMessageTypeInvalid, IsOpen ? "OpenSecureChannel Issue on an open channel" : $"OpenSecureChannel request type {request.RequestType} is not Issue (0) or Renew (1)");
        }
        byte[] serverNonce = [];
        TokenKeys? keys = null;
        if (secure)
        {
            byte[] clientNonce = request.ClientNonce ?? [];
            if (clientNonce.Length != CryptoUtils.NonceLength)
                throw new ChannelFault(StatusCodes.BadNonceInvalid, $"client nonce is {clientNonce.Length} bytes, expected {CryptoUtils.NonceLength}");
            serverNonce = CryptoUtils.Nonce();
            keys = new TokenKeys(new SymmetricKeys(serverNonce, clientNonce), new SymmetricKeys(clientNonce, serverNonce));
        }
        uint newToken = _tokenId + 1;
        uint lifetime = Math.Clamp(request.RequestedLifetime == 0 ? 3_600_000u : request.RequestedLifetime, 60_000u, 3_600_000u);
        var response = new OpenSecureChannelResponse
        {
            SecurityToken = new ChannelSecurityToken { ChannelId = ChannelId, TokenId = newToken, CreatedAt = DateTime.UtcNow, RevisedLifetime = lifetime },
            ServerNonce = serverNonce,
        };
        response.ResponseHeader.RequestHandle = request.RequestHeader.RequestHandle;
        response.ResponseHeader.Timestamp = DateTime.UtcNow;
        using var body = new BinaryEncoder(_limits, 256);
        body.WriteNodeId(response.BinaryEncodingId);
        response.Encode(body);
        await _sendLock.WaitAsync(ct);
        try
        {
            byte[] opn = secure
                ? AsymmetricChunk(store!.ApplicationCertificate, _clientCertificate!, requestId, body.WrittenSpan)
                : PlainOpenChunk(requestId, body.WrittenSpan);
            await _stream.WriteAsync(opn, ct);
            // switch only after the client has the new token in hand; its chunks may use either until it switches too
            _previousTokenId = _tokenId;
            _tokenId = newToken;
            _previousKeys?.Dispose();
            _previousKeys = _keys;
            _keys = keys;
            SecurityMode = mode;
            _sign = mode != MessageSecurityMode.None;
            _encrypt = mode == MessageSecurityMode.SignAndEncrypt;
            IsOpen = true;
        }
        finally
        {
            _sendLock.Release();
        }
    }

    private byte[] PlainOpenChunk(uint requestId, ReadOnlySpan<byte> body)
    {
        using var e = new BinaryEncoder(_limits, 256);
        e.WriteRaw(stackalloc byte[8]);
        e.WriteUInt32(ChannelId);
        e.WriteString(SecurityPolicies.None);
        e.WriteByteString(null);
        e.WriteByteString(null);
        e.WriteUInt32(NextSendSequence());
        e.WriteUInt32(requestId);
        e.WriteRaw(body);
        byte[] opn = e.ToArray();
        ChunkHeader.Write(opn, MessageTypes.Open, (byte)'F', opn.Length);
        return opn;
    }

    /// <summary>An OPN chunk signed with our key and encrypted for the client's (Part 6, 6.7.2), as the client writes its own.</summary>
    private byte[] AsymmetricChunk(X509Certificate2 own, X509Certificate2 client, uint requestId, ReadOnlySpan<byte> body)
    {
        using var header = new BinaryEncoder(_limits, 4096);
        header.WriteRaw(stackalloc byte[8]);
        header.WriteUInt32(ChannelId);
        header.WriteString(SecurityPolicies.Basic256Sha256);
        header.WriteByteString(own.RawData);
        header.WriteByteString(CryptoUtils.Thumbprint(client.RawData));
        int headerLength = header.Position;
        int signatureSize = CryptoUtils.KeySizeBytes(own);
        int cipherBlock = CryptoUtils.KeySizeBytes(client);
        int plainBlock = cipherBlock - CryptoUtils.OaepSha1Overhead;
        bool extraPadding = cipherBlock > 256;
        int unpadded = 8 + body.Length + 1 + (extraPadding ? 1 : 0) + signatureSize;
        int padding = (plainBlock - unpadded % plainBlock) % plainBlock;
        int plainLength = unpadded + padding;
        int size = headerLength + (plainLength / plainBlock * cipherBlock);
        byte[] signed = new byte[headerLength + plainLength];
        header.WrittenSpan.CopyTo(signed);
        ChunkHeader.Write(signed, MessageTypes.Open, (byte)'F', size);
        int at = headerLength;
        BinaryPrimitives.WriteUInt32LittleEndian(signed.AsSpan(at), NextSendSequence());
        BinaryPrimitives.WriteUInt32LittleEndian(signed.AsSpan(at + 4), requestId);
        at += 8;
        body.CopyTo(signed.AsSpan(at));
        at += body.Length;
        signed.AsSpan(at, padding + 1).Fill((byte)padding);
        at += padding + 1;
        if (extraPadding)
            signed[at++] = (byte)(padding >> 8);
        byte[] signature = CryptoUtils.RsaSign(own, signed.AsSpan(0, at));
        signature.CopyTo(signed, at);
        byte[] encrypted = CryptoUtils.RsaEncrypt(client, signed.AsSpan(headerLength));
        byte[] chunk = new byte[size];
        signed.AsSpan(0, headerLength).CopyTo(chunk);
        encrypted.CopyTo(chunk, headerLength);
        return chunk;
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
        int end = header.Size;
        if (_sign)
            end = Unprotect(what, tokenId == _tokenId ? _keys! : _previousKeys!, span);
        uint sequence = BinaryPrimitives.ReadUInt32LittleEndian(span[16..]);
        uint requestId = BinaryPrimitives.ReadUInt32LittleEndian(span[20..]);
        CheckSequence(sequence);
        if (header.MessageType == MessageTypes.Close)
            return false;
        var body = span[24..end];
        if (header.ChunkType == (byte)'A')
        {
            DropPartial();
            return true;
        }
        if (_partial is null && header.ChunkType == (byte)'F')
        {
            await DispatchAsync(requestId, chunk.AsMemory(24, end - 24));
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

    /// <summary>Decrypts (SignAndEncrypt) and verifies a symmetric chunk in place; returns where its body ends.</summary>
    private int Unprotect(string what, TokenKeys keys, Span<byte> span)
    {
        int size = span.Length;
        if (_encrypt)
        {
            if ((size - 16) % CryptoUtils.SymmetricBlockSize != 0)
                throw new ChannelFault(StatusCodes.BadSecurityChecksFailed, $"{what} encrypted part of {size - 16} bytes is not a multiple of the AES block");
            keys.Client.Decrypt(span[16..]);
        }
        int end = size - CryptoUtils.SymmetricSignatureSize;
        if (end < 24 || !keys.Client.Verify(span[..end], span[end..size]))
            throw new ChannelFault(StatusCodes.BadSecurityChecksFailed, $"{what} chunk signature does not verify");
        if (_encrypt)
        {
            int padding = span[end - 1];
            if (end - 1 - padding < 24)
                throw new ChannelFault(StatusCodes.BadSecurityChecksFailed, $"{what} padding of {padding} bytes runs past the headers");
            for (int i = end - 1 - padding; i < end - 1; i++)
            {
                if (span[i] != padding)
                    throw new ChannelFault(StatusCodes.BadSecurityChecksFailed, $"{what} padding byte at offset {i} is {span[i]}, expected {padding}");
            }
            end -= padding + 1;
        }
        return end;
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
            int maxBody = MaxBody((int)Math.Min(client.ReceiveBufferSize, 65535u));
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

    private int MaxBody(int sendBuffer)
    {
        int space = sendBuffer - 16;
        if (_encrypt)
            return (space / CryptoUtils.SymmetricBlockSize * CryptoUtils.SymmetricBlockSize) - 8 - CryptoUtils.SymmetricSignatureSize - 1;
        return space - 8 - (_sign ? CryptoUtils.SymmetricSignatureSize : 0);
    }

    private async Task WriteChunkAsync(byte chunkType, uint requestId, ReadOnlyMemory<byte> body)
    {
        int plain = 8 + body.Length;
        int padding = _encrypt ? (CryptoUtils.SymmetricBlockSize - ((plain + 1 + CryptoUtils.SymmetricSignatureSize) % CryptoUtils.SymmetricBlockSize)) % CryptoUtils.SymmetricBlockSize : 0;
        int size = 16 + plain + (_encrypt ? padding + 1 : 0) + (_sign ? CryptoUtils.SymmetricSignatureSize : 0);
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
            int at = 24 + body.Length;
            if (_encrypt)
            {
                span.Slice(at, padding + 1).Fill((byte)padding);
                at += padding + 1;
            }
            if (_sign)
                _keys!.Server.Sign(span[..at], span.Slice(at, CryptoUtils.SymmetricSignatureSize));
            if (_encrypt)
                _keys!.Server.Encrypt(span[16..]);
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
