using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Zhizao.OpcUa.Security;

namespace Zhizao.OpcUa.Transport;

/// <summary>What a secure channel needs: where to connect and how to secure it.</summary>
public sealed record SecureChannelOptions
{
    public required string EndpointUrl { get; init; }
    public MessageSecurityMode SecurityMode { get; init; } = MessageSecurityMode.None;
    public string SecurityPolicyUri { get; init; } = SecurityPolicies.None;

    /// <summary>Our certificate with its private key (required unless the policy is None).</summary>
    public X509Certificate2? ClientCertificate { get; init; }

    /// <summary>The server's certificate from its endpoint description, already validated (required unless None).</summary>
    public X509Certificate2? ServerCertificate { get; init; }

    public OpcUaLimits Limits { get; init; } = OpcUaLimits.Default;
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Requested security token lifetime; the token is renewed at 75% of the revised lifetime.</summary>
    public TimeSpan TokenLifetime { get; init; } = TimeSpan.FromHours(1);
}

/// <summary>
/// One UA-TCP connection with a secure channel on it (Part 6, 6.7 and 7.1): Hello/Acknowledge, OpenSecureChannel,
/// chunking and reassembly within the negotiated limits, sequence-number checks, SecurityPolicy None and
/// Basic256Sha256 (Sign, SignAndEncrypt), and token renewal at 75% of the lifetime. Requests are matched to responses by
/// request id; any framing, sequence or security error faults the whole channel and every pending request.
/// </summary>
public sealed class SecureChannel : IAsyncDisposable
{
    private const uint ProtocolVersion = 0;
    private const uint SequenceWrapLimit = uint.MaxValue - 1024;

    private readonly SecureChannelOptions _options;
    private readonly OpcUaLimits _limits;
    private readonly bool _secure;
    private readonly bool _sign;
    private readonly bool _encrypt;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly ConcurrentDictionary<uint, Pending> _pending = new();
    private readonly CancellationTokenSource _life = new();
    private readonly object _tokenLock = new();
    private readonly List<TokenState> _receiveTokens = [];
    private readonly byte[]? _clientCertificateDer;
    private readonly byte[]? _serverThumbprint;
    private Socket? _socket;
    private NetworkStream? _stream;
    private TransportSettings? _server;
    private TokenState? _sendToken;
    private uint _channelId;
    private uint _sendSequence;
    private uint? _receiveSequence;
    private int _requestId;
    private int _faulted;
    private Task? _readLoop;
    private Task? _renewLoop;
    private Exception? _fault;

    private SecureChannel(SecureChannelOptions options, bool withoutCertificates = false)
    {
        _options = options;
        _limits = options.Limits;
        _secure = options.SecurityPolicyUri != SecurityPolicies.None;
        if (_secure && options.SecurityPolicyUri != SecurityPolicies.Basic256Sha256)
            throw new OpcUaSecurityException($"security policy {options.SecurityPolicyUri} is not supported (None and Basic256Sha256 are)", StatusCodes.BadSecurityPolicyRejected);
        if (_secure != (options.SecurityMode != MessageSecurityMode.None))
            throw new OpcUaSecurityException($"security mode {options.SecurityMode} does not go with policy {options.SecurityPolicyUri}", StatusCodes.BadSecurityModeRejected);
        _sign = options.SecurityMode is MessageSecurityMode.Sign or MessageSecurityMode.SignAndEncrypt;
        _encrypt = options.SecurityMode == MessageSecurityMode.SignAndEncrypt;
        if (_secure && !withoutCertificates)
        {
            if (options.ClientCertificate is null || !options.ClientCertificate.HasPrivateKey)
                throw new OpcUaSecurityException("a secure channel needs our certificate with its private key", StatusCodes.BadCertificateInvalid);
            if (options.ServerCertificate is null)
                throw new OpcUaSecurityException("a secure channel needs the server certificate", StatusCodes.BadCertificateInvalid);
            _clientCertificateDer = options.ClientCertificate.RawData;
            _serverThumbprint = CryptoUtils.Thumbprint(options.ServerCertificate.RawData);
        }
    }

    /// <summary>
    /// A channel in the state after OpenSecureChannel (channel 7, token 1, symmetric keys from the two nonces) without a
    /// socket, so tests can feed <see cref="ProcessChunk"/> directly.
    /// </summary>
    internal static SecureChannel ForChunkTests(MessageSecurityMode mode, byte[] clientNonce, byte[] serverNonce, OpcUaLimits limits)
    {
        var channel = new SecureChannel(new SecureChannelOptions
        {
            EndpointUrl = "opc.tcp://test",
            SecurityMode = mode,
            SecurityPolicyUri = mode == MessageSecurityMode.None ? SecurityPolicies.None : SecurityPolicies.Basic256Sha256,
            Limits = limits,
        }, withoutCertificates: true);
        channel._channelId = 7;
        var token = new TokenState(1, 600_000, DateTime.UtcNow);
        if (mode != MessageSecurityMode.None)
        {
            token.ClientKeys = new SymmetricKeys(serverNonce, clientNonce);
            token.ServerKeys = new SymmetricKeys(clientNonce, serverNonce);
        }
        channel._receiveTokens.Add(token);
        channel._sendToken = token;
        return channel;
    }

    /// <summary>Registers a pending request (tests feeding <see cref="ProcessChunk"/> directly).</summary>
    internal Task<IEncodeable> ExpectResponse(uint requestId)
    {
        var pending = new Pending("Test");
        _pending[requestId] = pending;
        return pending.Completion.Task;
    }

    public uint ChannelId => _channelId;
    public uint CurrentTokenId => _sendToken?.TokenId ?? 0;
    public TransportSettings? ServerSettings => _server;
    public bool IsFaulted => Volatile.Read(ref _faulted) != 0;
    public Exception? Fault => _fault;

    /// <summary>How often the token has been renewed (for tests and diagnostics).</summary>
    public int RenewCount { get; private set; }

    /// <summary>Raised once when the channel breaks (socket closed, protocol or security error, Error message).</summary>
    public event EventHandler<Exception>? Faulted;

    public static async Task<SecureChannel> OpenAsync(SecureChannelOptions options, CancellationToken ct = default)
    {
        var channel = new SecureChannel(options);
        try
        {
            await channel.ConnectAsync(ct);
            return channel;
        }
        catch
        {
            await channel.DisposeAsync();
            throw;
        }
    }

    private async Task ConnectAsync(CancellationToken ct)
    {
        var (host, port) = ParseEndpoint(_options.EndpointUrl);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_options.ConnectTimeout);
        _socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await _socket.ConnectAsync(host, port, timeout.Token);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            throw new OpcUaTransportException($"cannot connect to {_options.EndpointUrl}: {e.Message}", StatusCodes.BadServerNotConnected, e);
        }
        _stream = new NetworkStream(_socket, ownsSocket: false);
        var hello = new TransportSettings(ProtocolVersion, (uint)_limits.ReceiveBufferSize, (uint)_limits.ReceiveBufferSize,
            (uint)_limits.MaxMessageSize, (uint)_limits.MaxChunkCount);
        await _stream.WriteAsync(HelloCodec.EncodeHello(hello, _options.EndpointUrl), timeout.Token);
        byte[] ack;
        ChunkHeader header;
        try
        {
            (header, ack) = await ReadChunkAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new OpcUaTransportException($"{_options.EndpointUrl} sent no Acknowledge within {_options.ConnectTimeout.TotalSeconds:0.#} s", StatusCodes.BadTimeout);
        }
        try
        {
            if (header.MessageType == MessageTypes.Error)
                throw HelloCodec.DecodeError(ack.AsMemory(8, header.Size - 8));
            if (header.MessageType != MessageTypes.Acknowledge)
                Throw.Protocol($"expected Acknowledge, got {MessageTypes.Name(header.MessageType)}", StatusCodes.BadTcpMessageTypeInvalid);
            _server = HelloCodec.DecodeAcknowledge(ack.AsMemory(8, header.Size - 8));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(ack);
        }
        if (_server.ProtocolVersion < ProtocolVersion)
            Throw.Protocol($"server protocol version {_server.ProtocolVersion} is not supported", StatusCodes.BadProtocolVersionUnsupported);
        _readLoop = Task.Run(ReadLoopAsync, CancellationToken.None);
        await OpenOrRenewAsync(renew: false, timeout.Token);
        _renewLoop = Task.Run(RenewLoopAsync, CancellationToken.None);
    }

    internal static (string Host, int Port) ParseEndpoint(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme != "opc.tcp" || string.IsNullOrEmpty(uri.Host))
            throw new OpcUaTransportException($"endpoint URL '{url}' is not opc.tcp://host[:port][/path]", StatusCodes.BadTcpEndpointUrlInvalid);
        return (uri.Host, uri.Port > 0 ? uri.Port : 4840);
    }

    private async Task<(ChunkHeader, byte[])> ReadChunkAsync(CancellationToken ct)
    {
        byte[] head = new byte[8];
        await _stream!.ReadExactlyAsync(head, ct);
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

    // ---------------------------------------------------------------- requests

    /// <summary>Sends a request and waits for its response (or ServiceFault, returned as is).</summary>
    public async Task<IEncodeable> SendRequestAsync(ServiceRequest request, TimeSpan timeout, CancellationToken ct = default)
    {
        uint requestId = (uint)Interlocked.Increment(ref _requestId);
        var pending = new Pending(request.GetType().Name.Replace("Request", "", StringComparison.Ordinal));
        _pending[requestId] = pending;
        try
        {
            if (IsFaulted)
                throw ChannelClosed();
            await SendMessageAsync(MessageTypes.Message, requestId, request, ct);
            using var timer = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timer.CancelAfter(timeout);
            try
            {
                return await pending.Completion.Task.WaitAsync(timer.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new OpcUaTransportException($"{pending.Service} got no response within {timeout.TotalSeconds:0.#} s", StatusCodes.BadTimeout);
            }
        }
        finally
        {
            _pending.TryRemove(requestId, out _);
        }
    }

    private OpcUaTransportException ChannelClosed() =>
        new($"secure channel to {_options.EndpointUrl} is closed{(_fault is null ? "" : ": " + _fault.Message)}", StatusCodes.BadSecureChannelClosed, _fault);

    private async Task OpenOrRenewAsync(bool renew, CancellationToken ct)
    {
        byte[]? clientNonce = _secure ? CryptoUtils.Nonce() : [];
        var request = new OpenSecureChannelRequest
        {
            RequestHeader = new RequestHeader { Timestamp = DateTime.UtcNow, RequestHandle = 1, TimeoutHint = 10000 },
            ClientProtocolVersion = ProtocolVersion,
            RequestType = renew ? 1 : 0,
            SecurityMode = _options.SecurityMode,
            ClientNonce = clientNonce,
            RequestedLifetime = (uint)Math.Clamp(_options.TokenLifetime.TotalMilliseconds, 1000, uint.MaxValue),
        };
        uint requestId = (uint)Interlocked.Increment(ref _requestId);
        var pending = new Pending("OpenSecureChannel");
        _pending[requestId] = pending;
        try
        {
            await SendMessageAsync(MessageTypes.Open, requestId, request, ct);
            using var timer = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timer.CancelAfter(_options.ConnectTimeout);
            IEncodeable reply;
            try
            {
                reply = await pending.Completion.Task.WaitAsync(timer.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new OpcUaTransportException($"OpenSecureChannel got no response within {_options.ConnectTimeout.TotalSeconds:0.#} s", StatusCodes.BadTimeout);
            }
            if (reply is ServiceFault fault)
                throw new OpcUaServiceException("OpenSecureChannel", fault.ResponseHeader.ServiceResult);
            if (reply is not OpenSecureChannelResponse response)
                throw new OpcUaProtocolException($"OpenSecureChannel answered with {reply.GetType().Name}", StatusCodes.BadUnknownResponse);
            if (response.ResponseHeader.ServiceResult.IsBad)
                throw new OpcUaServiceException("OpenSecureChannel", response.ResponseHeader.ServiceResult);
            var token = response.SecurityToken;
            if (renew && token.ChannelId != _channelId)
                Throw.Protocol($"renewed token is for channel {token.ChannelId}, not {_channelId}", StatusCodes.BadSecureChannelIdInvalid);
            if (token.RevisedLifetime == 0)
                Throw.Protocol("server revised the token lifetime to 0", StatusCodes.BadSecureChannelClosed);
            var state = new TokenState(token.TokenId, token.RevisedLifetime, DateTime.UtcNow);
            if (_secure)
            {
                byte[] serverNonce = response.ServerNonce ?? [];
                if (serverNonce.Length != CryptoUtils.NonceLength)
                    throw new OpcUaSecurityException($"server nonce is {serverNonce.Length} bytes, expected {CryptoUtils.NonceLength}", StatusCodes.BadNonceInvalid);
                state.ClientKeys = new SymmetricKeys(serverNonce, clientNonce!);
                state.ServerKeys = new SymmetricKeys(clientNonce!, serverNonce);
            }
            _channelId = token.ChannelId;
            lock (_tokenLock)
            {
                _receiveTokens.Add(state);
                _sendToken = state;
            }
            if (renew)
                RenewCount++;
        }
        finally
        {
            _pending.TryRemove(requestId, out _);
        }
    }

    private async Task RenewLoopAsync()
    {
        try
        {
            while (!_life.IsCancellationRequested)
            {
                var token = _sendToken!;
                var due = token.Created.AddMilliseconds(token.Lifetime * 0.75) - DateTime.UtcNow;
                if (due > TimeSpan.Zero)
                    await Task.Delay(due, _life.Token);
                await OpenOrRenewAsync(renew: true, _life.Token);
            }
        }
        catch (OperationCanceledException) when (_life.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            SetFaulted(new OpcUaProtocolException("security token renewal failed: " + e.Message, StatusCodes.BadSecureChannelClosed, e));
        }
    }

    /// <summary>Sends CloseSecureChannel and closes the socket. Pending requests fail.</summary>
    public async Task CloseAsync()
    {
        if (!IsFaulted && _sendToken is not null)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await SendMessageAsync(MessageTypes.Close, (uint)Interlocked.Increment(ref _requestId),
                    new CloseSecureChannelRequest { RequestHeader = new RequestHeader { Timestamp = DateTime.UtcNow } }, cts.Token);
            }
            catch (Exception e) when (e is OpcUaException or IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // closing anyway
            }
        }
        SetFaulted(new OpcUaTransportException("secure channel closed by the client", StatusCodes.BadSecureChannelClosed), raise: false);
    }

    public async ValueTask DisposeAsync()
    {
        await CloseAsync();
        if (_readLoop is not null)
            await _readLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (_renewLoop is not null)
            await _renewLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        lock (_tokenLock)
        {
            foreach (var t in _receiveTokens)
                t.Dispose();
            _receiveTokens.Clear();
        }
        _life.Dispose();
        _sendLock.Dispose();
    }

    private void SetFaulted(Exception error, bool raise = true)
    {
        if (Interlocked.Exchange(ref _faulted, 1) != 0)
            return;
        _fault = error;
        try
        {
            _life.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
        try
        {
            _socket?.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        _socket?.Dispose();
        var closed = ChannelClosed();
        foreach (var p in _pending.Values)
            p.Completion.TrySetException(closed);
        if (raise)
            Faulted?.Invoke(this, error);
    }

    // ---------------------------------------------------------------- sending

    private async Task SendMessageAsync(uint messageType, uint requestId, IEncodeable message, CancellationToken ct)
    {
        using var body = new BinaryEncoder(_limits, 1024);
        body.WriteNodeId(message.BinaryEncodingId);
        message.Encode(body);
        int length = body.Position;
        var server = _server!;
        if (server.MaxMessageSize != 0 && length > server.MaxMessageSize)
            throw new OpcUaEncodingException($"request of {length} bytes exceeds the server's MaxMessageSize {server.MaxMessageSize}", StatusCodes.BadRequestTooLarge);
        await _sendLock.WaitAsync(ct);
        try
        {
            if (IsFaulted)
                throw ChannelClosed();
            if (messageType == MessageTypes.Open)
            {
                await WriteAsymmetricChunkAsync(requestId, body.WrittenMemory, ct);
                return;
            }
            int maxBody = MaxSymmetricBody((int)server.ReceiveBufferSize);
            int chunks = Math.Max(1, (length + maxBody - 1) / maxBody);
            if (server.MaxChunkCount != 0 && chunks > server.MaxChunkCount)
                throw new OpcUaEncodingException($"request needs {chunks} chunks but the server takes at most {server.MaxChunkCount}", StatusCodes.BadRequestTooLarge);
            for (int i = 0; i < chunks; i++)
            {
                int start = i * maxBody;
                int n = Math.Min(maxBody, length - start);
                await WriteSymmetricChunkAsync(messageType, i == chunks - 1 ? (byte)'F' : (byte)'C', requestId, body.WrittenMemory.Slice(start, n), ct);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            var error = new OpcUaTransportException($"sending to {_options.EndpointUrl} failed: {e.Message}", StatusCodes.BadConnectionClosed, e);
            SetFaulted(error);
            throw error;
        }
        finally
        {
            _sendLock.Release();
        }
    }

    private int MaxSymmetricBody(int sendBuffer)
    {
        int space = sendBuffer - 16;
        if (_encrypt)
            return space / CryptoUtils.SymmetricBlockSize * CryptoUtils.SymmetricBlockSize - 8 - CryptoUtils.SymmetricSignatureSize - 1;
        return space - 8 - (_sign ? CryptoUtils.SymmetricSignatureSize : 0);
    }

    private uint NextSendSequence()
    {
        _sendSequence = _sendSequence >= SequenceWrapLimit ? 1 : _sendSequence + 1;
        return _sendSequence;
    }

    private async Task WriteSymmetricChunkAsync(uint messageType, byte chunkType, uint requestId, ReadOnlyMemory<byte> body, CancellationToken ct)
    {
        var token = _sendToken!;
        int plain = 8 + body.Length;
        int padding = 0;
        if (_encrypt)
            padding = (CryptoUtils.SymmetricBlockSize - (plain + 1 + CryptoUtils.SymmetricSignatureSize) % CryptoUtils.SymmetricBlockSize) % CryptoUtils.SymmetricBlockSize;
        int size = 16 + plain + (_encrypt ? padding + 1 : 0) + (_sign ? CryptoUtils.SymmetricSignatureSize : 0);
        byte[] chunk = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            var span = chunk.AsSpan(0, size);
            ChunkHeader.Write(span, messageType, chunkType, size);
            BinaryPrimitives.WriteUInt32LittleEndian(span[8..], _channelId);
            BinaryPrimitives.WriteUInt32LittleEndian(span[12..], token.TokenId);
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
                token.ClientKeys!.Sign(span[..at], span.Slice(at, CryptoUtils.SymmetricSignatureSize));
            if (_encrypt)
                token.ClientKeys!.Encrypt(span[16..]);
            await _stream!.WriteAsync(chunk.AsMemory(0, size), ct);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    private async Task WriteAsymmetricChunkAsync(uint requestId, ReadOnlyMemory<byte> body, CancellationToken ct)
    {
        using var header = new BinaryEncoder(_limits, 4096);
        header.WriteRaw(stackalloc byte[8]);
        header.WriteUInt32(_channelId);
        header.WriteString(_options.SecurityPolicyUri);
        header.WriteByteString(_clientCertificateDer);
        header.WriteByteString(_serverThumbprint);
        int headerLength = header.Position;
        byte[] chunk;
        if (!_secure)
        {
            chunk = new byte[headerLength + 8 + body.Length];
            header.WrittenSpan.CopyTo(chunk);
            ChunkHeader.Write(chunk, MessageTypes.Open, (byte)'F', chunk.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(chunk.AsSpan(headerLength), NextSendSequence());
            BinaryPrimitives.WriteUInt32LittleEndian(chunk.AsSpan(headerLength + 4), requestId);
            body.Span.CopyTo(chunk.AsSpan(headerLength + 8));
        }
        else
        {
            int signatureSize = CryptoUtils.KeySizeBytes(_options.ClientCertificate!);
            int cipherBlock = CryptoUtils.KeySizeBytes(_options.ServerCertificate!);
            int plainBlock = cipherBlock - CryptoUtils.OaepSha1Overhead;
            bool extraPadding = cipherBlock > 256;
            int unpadded = 8 + body.Length + 1 + (extraPadding ? 1 : 0) + signatureSize;
            int padding = (plainBlock - unpadded % plainBlock) % plainBlock;
            int plainLength = unpadded + padding;
            int encryptedLength = plainLength / plainBlock * cipherBlock;
            int size = headerLength + encryptedLength;
            if (size > _server!.ReceiveBufferSize)
                throw new OpcUaEncodingException($"OpenSecureChannel request of {size} bytes does not fit one chunk of {_server.ReceiveBufferSize}", StatusCodes.BadRequestTooLarge);
            byte[] signed = new byte[headerLength + plainLength];
            header.WrittenSpan.CopyTo(signed);
            ChunkHeader.Write(signed, MessageTypes.Open, (byte)'F', size);
            int at = headerLength;
            BinaryPrimitives.WriteUInt32LittleEndian(signed.AsSpan(at), NextSendSequence());
            BinaryPrimitives.WriteUInt32LittleEndian(signed.AsSpan(at + 4), requestId);
            at += 8;
            body.Span.CopyTo(signed.AsSpan(at));
            at += body.Length;
            signed.AsSpan(at, padding + 1).Fill((byte)padding);
            at += padding + 1;
            if (extraPadding)
                signed[at++] = (byte)(padding >> 8);
            byte[] signature = CryptoUtils.RsaSign(_options.ClientCertificate!, signed.AsSpan(0, at));
            signature.CopyTo(signed, at);
            byte[] encrypted = CryptoUtils.RsaEncrypt(_options.ServerCertificate!, signed.AsSpan(headerLength));
            chunk = new byte[size];
            signed.AsSpan(0, headerLength).CopyTo(chunk);
            encrypted.CopyTo(chunk, headerLength);
        }
        await _stream!.WriteAsync(chunk, ct);
    }

    // ---------------------------------------------------------------- receiving

    private async Task ReadLoopAsync()
    {
        try
        {
            while (!_life.IsCancellationRequested)
            {
                var (header, chunk) = await ReadChunkAsync(_life.Token);
                try
                {
                    ProcessChunk(header, chunk);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(chunk);
                }
            }
        }
        catch (OperationCanceledException) when (_life.IsCancellationRequested)
        {
        }
        catch (EndOfStreamException e)
        {
            SetFaulted(new OpcUaTransportException($"{_options.EndpointUrl} closed the connection", StatusCodes.BadConnectionClosed, e));
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            SetFaulted(new OpcUaTransportException($"connection to {_options.EndpointUrl} lost: {e.Message}", StatusCodes.BadConnectionClosed, e));
        }
        catch (OpcUaException e)
        {
            SetFaulted(e);
        }
    }

    /// <summary>Handles one received chunk; throws (faulting the channel) on framing, sequence or security errors.</summary>
    internal void ProcessChunk(ChunkHeader header, byte[] chunk)
    {
        int size = header.Size;
        switch (header.MessageType)
        {
            case MessageTypes.Error:
                throw HelloCodec.DecodeError(chunk.AsMemory(8, size - 8));
            case MessageTypes.Open:
                ProcessOpen(header, chunk);
                return;
            case MessageTypes.Message:
            case MessageTypes.Close:
                ProcessSymmetric(header, chunk);
                return;
            default:
                Throw.Protocol($"unexpected {MessageTypes.Name(header.MessageType)} on an open channel", StatusCodes.BadTcpMessageTypeInvalid);
                return;
        }
    }

    private void ProcessSymmetric(ChunkHeader header, byte[] chunk)
    {
        int size = header.Size;
        string what = MessageTypes.Name(header.MessageType);
        if (size < 24 + (_sign ? CryptoUtils.SymmetricSignatureSize : 0))
            Throw.Protocol($"{what} chunk of {size} bytes is too short for its headers", StatusCodes.BadTcpMessageTypeInvalid);
        uint channelId = BinaryPrimitives.ReadUInt32LittleEndian(chunk.AsSpan(8));
        if (channelId != _channelId)
            Throw.Protocol($"{what} chunk is for channel {channelId}, ours is {_channelId} (offset 8)", StatusCodes.BadTcpSecureChannelUnknown);
        uint tokenId = BinaryPrimitives.ReadUInt32LittleEndian(chunk.AsSpan(12));
        TokenState token = ReceiveToken(tokenId);
        var span = chunk.AsSpan(0, size);
        int end = size;
        if (_encrypt)
        {
            if ((size - 16) % CryptoUtils.SymmetricBlockSize != 0)
                Throw.Protocol($"{what} encrypted part of {size - 16} bytes is not a multiple of the AES block", StatusCodes.BadSecurityChecksFailed);
            token.ServerKeys!.Decrypt(span[16..]);
        }
        if (_sign)
        {
            end -= CryptoUtils.SymmetricSignatureSize;
            if (!token.ServerKeys!.Verify(span[..end], span[end..size]))
                Throw.Protocol($"{what} chunk signature does not verify (token {tokenId})", StatusCodes.BadSecurityChecksFailed);
        }
        if (_encrypt)
        {
            int padding = span[end - 1];
            if (end - 1 - padding < 24)
                Throw.Protocol($"{what} padding of {padding} bytes runs past the headers", StatusCodes.BadSecurityChecksFailed);
            for (int i = end - 1 - padding; i < end - 1; i++)
            {
                if (span[i] != padding)
                    Throw.Protocol($"{what} padding byte at offset {i} is {span[i]}, expected {padding}", StatusCodes.BadSecurityChecksFailed);
            }
            end -= padding + 1;
        }
        uint sequence = BinaryPrimitives.ReadUInt32LittleEndian(span[16..]);
        uint requestId = BinaryPrimitives.ReadUInt32LittleEndian(span[20..]);
        CheckSequence(sequence);
        if (header.MessageType == MessageTypes.Close)
            throw new OpcUaTransportException("server closed the secure channel", StatusCodes.BadSecureChannelClosed);
        Deliver(header.ChunkType, requestId, chunk.AsMemory(24, end - 24), 24);
    }

    private TokenState ReceiveToken(uint tokenId)
    {
        lock (_tokenLock)
        {
            for (int i = _receiveTokens.Count - 1; i >= 0; i--)
            {
                var t = _receiveTokens[i];
                if (t.TokenId != tokenId)
                    continue;
                // the server uses a newer token: older ones are done
                for (int j = 0; j < i; j++)
                    _receiveTokens[j].Dispose();
                _receiveTokens.RemoveRange(0, i);
                if (DateTime.UtcNow > t.Created.AddMilliseconds(t.Lifetime * 1.25))
                    Throw.Protocol($"security token {tokenId} has expired", StatusCodes.BadSecureChannelTokenUnknown);
                return t;
            }
        }
        Throw.Protocol($"security token {tokenId} is unknown (offset 12)", StatusCodes.BadSecureChannelTokenUnknown);
        return null;
    }

    private void ProcessOpen(ChunkHeader header, byte[] chunk)
    {
        int size = header.Size;
        var d = new BinaryDecoder(chunk.AsMemory(0, size), new OpcUaLimits { MaxByteStringLength = 32768, MaxStringLength = 1024 });
        d.ReadRaw(8);
        uint channelId = d.ReadUInt32();
        if (_channelId != 0 && channelId != _channelId)
            Throw.Protocol($"OPN chunk is for channel {channelId}, ours is {_channelId} (offset 8)", StatusCodes.BadTcpSecureChannelUnknown);
        string? policy = d.ReadString();
        byte[]? senderCertificate = d.ReadByteString();
        byte[]? receiverThumbprint = d.ReadByteString();
        int headerEnd = d.Position;
        if (policy != _options.SecurityPolicyUri)
            Throw.Protocol($"OPN response uses policy '{policy}', we asked for '{_options.SecurityPolicyUri}'", StatusCodes.BadSecurityPolicyRejected);
        ReadOnlyMemory<byte> plain;
        byte[]? decrypted = null;
        int bodyStart, bodyEnd;
        if (!_secure)
        {
            plain = chunk.AsMemory(headerEnd, size - headerEnd);
            bodyStart = 8;
            bodyEnd = plain.Length;
            if (plain.Length < 8)
                Throw.Protocol("OPN chunk is too short for its sequence header", StatusCodes.BadTcpMessageTypeInvalid);
        }
        else
        {
            if (senderCertificate is null || !senderCertificate.AsSpan().SequenceEqual(_options.ServerCertificate!.RawData))
                throw new OpcUaSecurityException("OPN response is signed with a certificate other than the server's endpoint certificate", StatusCodes.BadCertificateInvalid);
            if (receiverThumbprint is null || !receiverThumbprint.AsSpan().SequenceEqual(CryptoUtils.Thumbprint(_clientCertificateDer!)))
                throw new OpcUaSecurityException("OPN response is encrypted for a certificate other than ours", StatusCodes.BadCertificateInvalid);
            decrypted = CryptoUtils.RsaDecrypt(_options.ClientCertificate!, chunk.AsSpan(headerEnd, size - headerEnd));
            int signatureSize = CryptoUtils.KeySizeBytes(_options.ServerCertificate!);
            if (decrypted.Length < 8 + 1 + signatureSize)
                Throw.Protocol("decrypted OPN chunk is too short", StatusCodes.BadSecurityChecksFailed);
            int signedEnd = decrypted.Length - signatureSize;
            byte[] signedData = new byte[headerEnd + signedEnd];
            chunk.AsSpan(0, headerEnd).CopyTo(signedData);
            decrypted.AsSpan(0, signedEnd).CopyTo(signedData.AsSpan(headerEnd));
            if (!CryptoUtils.RsaVerify(_options.ServerCertificate!, signedData, decrypted.AsSpan(signedEnd)))
                Throw.Protocol("OPN response signature does not verify with the server certificate", StatusCodes.BadSecurityChecksFailed);
            bool extra = CryptoUtils.KeySizeBytes(_options.ClientCertificate!) > 256;
            int padding = decrypted[signedEnd - 1];
            if (extra)
                padding = padding << 8 | decrypted[signedEnd - 2];
            bodyEnd = signedEnd - 1 - (extra ? 1 : 0) - padding;
            if (bodyEnd < 8)
                Throw.Protocol($"OPN padding of {padding} bytes runs past the sequence header", StatusCodes.BadSecurityChecksFailed);
            plain = decrypted;
            bodyStart = 8;
        }
        uint sequence = BinaryPrimitives.ReadUInt32LittleEndian(plain.Span);
        uint requestId = BinaryPrimitives.ReadUInt32LittleEndian(plain.Span[4..]);
        CheckSequence(sequence);
        Deliver(header.ChunkType, requestId, plain[bodyStart..bodyEnd], headerEnd + 8);
    }

    private void CheckSequence(uint sequence)
    {
        if (_receiveSequence is uint last)
        {
            bool ok = sequence == last + 1 || last >= SequenceWrapLimit && sequence < 1024;
            if (!ok)
                Throw.Protocol($"sequence number {sequence} follows {last}: chunks were lost, repeated or reordered", StatusCodes.BadSequenceNumberInvalid);
        }
        _receiveSequence = sequence;
    }

    private void Deliver(byte chunkType, uint requestId, ReadOnlyMemory<byte> body, int bodyOffset)
    {
        if (!_pending.TryGetValue(requestId, out var pending))
            return; // a response to a request that timed out or was abandoned
        if (chunkType == (byte)'A')
        {
            var d = new BinaryDecoder(body, new OpcUaLimits { MaxStringLength = 4096 }, bodyOffset);
            StatusCode status;
            string? reason;
            try
            {
                status = d.ReadStatusCode();
                reason = d.ReadString();
            }
            catch (OpcUaDecodingException)
            {
                status = StatusCodes.BadUnknownResponse;
                reason = null;
            }
            pending.Completion.TrySetException(new OpcUaServiceException(pending.Service, status, "the server aborted the response" + (reason is null ? "" : ": " + reason)));
            return;
        }
        if (pending.Buffer is null && chunkType == (byte)'F')
        {
            // decoded here, before the pooled chunk buffer goes back: the decoder copies what it keeps
            Complete(pending, body, bodyOffset);
            return;
        }
        pending.ChunkCount++;
        if (pending.ChunkCount > _limits.MaxChunkCount || pending.Size + body.Length > _limits.MaxMessageSize)
        {
            pending.Completion.TrySetException(new OpcUaProtocolException(
                $"{pending.Service} response exceeds our limits ({pending.ChunkCount} chunks, {pending.Size + body.Length} bytes; MaxChunkCount {_limits.MaxChunkCount}, MaxMessageSize {_limits.MaxMessageSize})",
                StatusCodes.BadResponseTooLarge));
            pending.ReturnBuffer();
            _pending.TryRemove(requestId, out _);
            return;
        }
        pending.Append(body.Span);
        if (chunkType == (byte)'F')
        {
            try
            {
                Complete(pending, pending.Buffer.AsMemory(0, pending.Size), bodyOffset);
            }
            finally
            {
                pending.ReturnBuffer();
            }
        }
    }

    /// <summary>Decodes a reassembled message body: the type's encoding NodeId, then the message.</summary>
    internal static IEncodeable DecodeMessage(ReadOnlyMemory<byte> body, OpcUaLimits limits, int bodyOffset = 0)
    {
        var d = new BinaryDecoder(body, limits, bodyOffset);
        NodeId typeId = d.ReadNodeId();
        IEncodeable message = EncodeableTypes.Create(typeId)
            ?? throw new OpcUaDecodingException($"message type {typeId} is unknown", bodyOffset);
        message.Decode(d);
        if (d.Remaining != 0)
            throw new OpcUaDecodingException($"{message.GetType().Name} left {d.Remaining} bytes unread", d.Offset);
        return message;
    }

    private void Complete(Pending pending, ReadOnlyMemory<byte> body, int bodyOffset)
    {
        try
        {
            pending.Completion.TrySetResult(DecodeMessage(body, _limits, bodyOffset));
        }
        catch (OpcUaDecodingException e)
        {
            pending.Completion.TrySetException(e);
        }
    }

    private sealed class Pending(string service)
    {
        public string Service { get; } = service;
        public TaskCompletionSource<IEncodeable> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public byte[]? Buffer { get; private set; }
        public int Size { get; private set; }
        public int ChunkCount { get; set; }

        /// <summary>Appends a chunk body to the pooled reassembly buffer.</summary>
        public void Append(ReadOnlySpan<byte> body)
        {
            if (Buffer is null || Buffer.Length - Size < body.Length)
            {
                byte[] next = ArrayPool<byte>.Shared.Rent(Math.Max((Buffer?.Length ?? 0) * 2, Size + body.Length));
                if (Buffer is not null)
                {
                    Buffer.AsSpan(0, Size).CopyTo(next);
                    ArrayPool<byte>.Shared.Return(Buffer);
                }
                Buffer = next;
            }
            body.CopyTo(Buffer.AsSpan(Size));
            Size += body.Length;
        }

        public void ReturnBuffer()
        {
            if (Buffer is not null)
                ArrayPool<byte>.Shared.Return(Buffer);
            Buffer = null;
            Size = 0;
        }
    }

    private sealed class TokenState(uint tokenId, uint lifetime, DateTime created) : IDisposable
    {
        public uint TokenId { get; } = tokenId;
        public uint Lifetime { get; } = lifetime;
        public DateTime Created { get; } = created;
        public SymmetricKeys? ClientKeys { get; set; }
        public SymmetricKeys? ServerKeys { get; set; }

        public void Dispose()
        {
            ClientKeys?.Dispose();
            ServerKeys?.Dispose();
        }
    }
}
