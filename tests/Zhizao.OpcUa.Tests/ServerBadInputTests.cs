using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Zhizao.OpcUa.Server;
using Zhizao.OpcUa.Transport;

namespace Zhizao.OpcUa.Tests;

/// <summary>A hand-driven UA-TCP client that sends exactly the bytes a test wants (SecurityPolicy None).</summary>
internal sealed class RawUaClient : IDisposable
{
    private readonly Socket _socket = new(SocketType.Stream, ProtocolType.Tcp);
    private uint _sequence;

    public uint ChannelId { get; private set; }
    public uint TokenId { get; private set; }

    public static async Task<RawUaClient> ConnectAsync(int port)
    {
        var c = new RawUaClient();
        await c._socket.ConnectAsync(IPAddress.Loopback, port);
        c._socket.NoDelay = true;
        return c;
    }

    public static byte[] Hello(string url = "opc.tcp://127.0.0.1/", uint receiveBuffer = 65535) =>
        HelloCodec.EncodeHello(new TransportSettings(0, receiveBuffer, 65535, 0, 0), url);

    public static byte[] Open(uint sequence, uint requestId, string policy = SecurityPolicies.None, uint channelId = 0, int requestType = 0)
    {
        using var body = new BinaryEncoder();
        var request = new OpenSecureChannelRequest { RequestType = requestType, SecurityMode = MessageSecurityMode.None, ClientNonce = [], RequestedLifetime = 600_000 };
        body.WriteNodeId(request.BinaryEncodingId);
        request.Encode(body);
        using var e = new BinaryEncoder();
        e.WriteRaw(new byte[8]);
        e.WriteUInt32(channelId);
        e.WriteString(policy);
        e.WriteByteString(null);
        e.WriteByteString(null);
        e.WriteUInt32(sequence);
        e.WriteUInt32(requestId);
        e.WriteRaw(body.WrittenSpan);
        byte[] chunk = e.ToArray();
        ChunkHeader.Write(chunk, MessageTypes.Open, (byte)'F', chunk.Length);
        return chunk;
    }

    public static byte[] Encode(IEncodeable message)
    {
        using var body = new BinaryEncoder();
        body.WriteNodeId(message.BinaryEncodingId);
        message.Encode(body);
        return body.ToArray();
    }

    public static byte[] Chunk(uint type, byte chunkType, uint channelId, uint tokenId, uint sequence, uint requestId, ReadOnlySpan<byte> body)
    {
        byte[] chunk = new byte[24 + body.Length];
        ChunkHeader.Write(chunk, type, chunkType, chunk.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(chunk.AsSpan(8), channelId);
        BinaryPrimitives.WriteUInt32LittleEndian(chunk.AsSpan(12), tokenId);
        BinaryPrimitives.WriteUInt32LittleEndian(chunk.AsSpan(16), sequence);
        BinaryPrimitives.WriteUInt32LittleEndian(chunk.AsSpan(20), requestId);
        body.CopyTo(chunk.AsSpan(24));
        return chunk;
    }

    /// <summary>Hello + OpenSecureChannel; afterwards <see cref="Msg"/> builds chunks with the next sequence numbers.</summary>
    public async Task OpenAsync()
    {
        await SendAsync(Hello());
        var (type, _) = await ReceiveAsync();
        Assert.Equal(MessageTypes.Acknowledge, type);
        await SendAsync(Open(++_sequence, 1));
        var (opn, chunk) = await ReceiveAsync();
        Assert.Equal(MessageTypes.Open, opn);
        ChannelId = BinaryPrimitives.ReadUInt32LittleEndian(chunk.AsSpan(8));
        var d = new BinaryDecoder(chunk);
        d.ReadRaw(12);
        d.ReadString();
        d.ReadByteString();
        d.ReadByteString();
        d.ReadRaw(8);
        var response = (OpenSecureChannelResponse)SecureChannel.DecodeMessage(chunk.AsMemory(d.Position), OpcUaLimits.Default);
        TokenId = response.SecurityToken.TokenId;
    }

    /// <summary>OpenSecureChannel Renew on the open channel; returns the new token id (not yet used for sending).</summary>
    public async Task<uint> RenewAsync()
    {
        await SendAsync(Open(++_sequence, 9, channelId: ChannelId, requestType: 1));
        var (opn, chunk) = await ReceiveAsync();
        Assert.True(opn == MessageTypes.Open, $"expected OPN, got {MessageTypes.Name(opn)}");
        var d = new BinaryDecoder(chunk);
        d.ReadRaw(12);
        d.ReadString();
        d.ReadByteString();
        d.ReadByteString();
        d.ReadRaw(8);
        var response = (OpenSecureChannelResponse)SecureChannel.DecodeMessage(chunk.AsMemory(d.Position), OpcUaLimits.Default);
        Assert.Equal(ChannelId, response.SecurityToken.ChannelId);
        return response.SecurityToken.TokenId;
    }

    public void UseToken(uint tokenId) => TokenId = tokenId;

    public byte[] Msg(IEncodeable request, uint requestId = 2, byte chunkType = (byte)'F') =>
        Chunk(MessageTypes.Message, chunkType, ChannelId, TokenId, ++_sequence, requestId, Encode(request));

    public byte[] Msg(ReadOnlySpan<byte> body, uint requestId = 2, byte chunkType = (byte)'F', uint? sequence = null) =>
        Chunk(MessageTypes.Message, chunkType, ChannelId, TokenId, sequence ?? ++_sequence, requestId, body);

    public Task SendAsync(byte[] bytes) => _socket.SendAsync(bytes, SocketFlags.None);

    /// <summary>Returned by <see cref="ReceiveAsync"/> when nothing arrived within the time.</summary>
    public const uint Silent = uint.MaxValue;

    /// <summary>The next chunk (type, whole chunk), (0, []) when the server closed the connection, (<see cref="Silent"/>, []) on timeout.</summary>
    public async Task<(uint Type, byte[] Chunk)> ReceiveAsync(double seconds = 30)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        try
        {
            byte[] head = new byte[8];
            if (!await ReadExactlyAsync(head, timeout.Token))
                return (0, []);
            int size = BinaryPrimitives.ReadInt32LittleEndian(head.AsSpan(4));
            byte[] chunk = new byte[size];
            head.CopyTo(chunk, 0);
            if (!await ReadExactlyAsync(chunk.AsMemory(8), timeout.Token))
                return (0, []);
            return ((uint)(head[0] | head[1] << 8 | head[2] << 16), chunk);
        }
        catch (OperationCanceledException)
        {
            return (Silent, []);
        }
    }

    /// <summary>Expects an Error message with the status, then the connection closed; returns the reason text.</summary>
    public async Task<string> ExpectErrorAsync(StatusCode status)
    {
        var (type, chunk) = await ReceiveAsync();
        if (type == MessageTypes.Acknowledge) // the answer to a Hello the attack sent first
            (type, chunk) = await ReceiveAsync();
        Assert.True(type == MessageTypes.Error, $"expected ERR, got {(type == 0 ? "a closed connection" : MessageTypes.Name(type))}");
        var error = HelloCodec.DecodeError(chunk.AsMemory(8));
        Assert.True(status == error.Status, $"expected {status}, got {error.Message}");
        Assert.Equal(0u, (await ReceiveAsync()).Type); // then closed
        return error.Message;
    }

    private async Task<bool> ReadExactlyAsync(Memory<byte> buffer, CancellationToken ct)
    {
        for (int got = 0; got < buffer.Length;)
        {
            int n;
            try
            {
                n = await _socket.ReceiveAsync(buffer[got..], SocketFlags.None, ct);
            }
            catch (SocketException)
            {
                return false;
            }
            if (n == 0)
                return false;
            got += n;
        }
        return true;
    }

    public void Dispose() => _socket.Dispose();
}

/// <summary>Hostile bytes close only the channel that sent them, with an Error message saying what was wrong.</summary>
public sealed class ServerBadInputTests
{
    private static async Task<(OpcUaServer Server, List<string> Log, Client.OpcUaClient Good)> StartAsync(OpcUaServerOptions? options = null)
    {
        var log = new List<string>();
        OpcUaServer server;
        if (options is null)
        {
            server = ServerTests.NewServer(log: log);
        }
        else
        {
            server = new OpcUaServer(options with { Port = 0, Log = m => { lock (log) log.Add(m); } });
            server.Start();
        }
        var good = ServerTests.NewClient(server.EndpointUrl);
        await good.ConnectAsync();
        return (server, log, good);
    }

    private static async Task StillServesAsync(OpcUaServer server, Client.OpcUaClient good)
    {
        Assert.True((await good.ReadValueAsync(ObjectIds.ServerStatusCurrentTime)).Status.IsGood);
        await using var fresh = ServerTests.NewClient(server.EndpointUrl);
        await fresh.ConnectAsync();
        Assert.True((await fresh.ReadValueAsync(ObjectIds.ServerStatusState)).Status.IsGood);
        Assert.Equal(0, good.ReconnectCount);
    }

    private static async Task RunAsync(Func<RawUaClient, Task<byte[][]>> attack, StatusCode expected, string reasonContains)
    {
        var (server, log, good) = await StartAsync();
        await using (server)
        await using (good)
        {
            using var raw = await RawUaClient.ConnectAsync(server.Port);
            foreach (byte[] bytes in await attack(raw))
                await raw.SendAsync(bytes);
            string reason = await raw.ExpectErrorAsync(expected);
            Assert.Contains(reasonContains, reason);
            await ServerTests.WaitForAsync(() => server.BadInputCount == 1);
            lock (log)
                Assert.Contains(log, l => l.Contains(reasonContains, StringComparison.Ordinal));
            await StillServesAsync(server, good);
        }
    }

    [Fact]
    public Task Message_before_Hello_is_refused() =>
        RunAsync(_ => Task.FromResult(new[] { RawUaClient.Chunk(MessageTypes.Message, (byte)'F', 1, 1, 1, 1, [1, 2, 3]) }),
            StatusCodes.BadTcpMessageTypeInvalid, "expected HEL");

    [Fact]
    public Task Oversized_chunk_header_is_refused() =>
        RunAsync(_ => Task.FromResult(new[] { RawUaClient.Hello()[..8] is var h ? SetSize(h, 0x00FFFFFF) : [] }),
            StatusCodes.BadTcpMessageTooLarge, "outside 8..65535");

    [Fact]
    public Task Unknown_message_type_is_refused() =>
        RunAsync(_ => Task.FromResult(new[] { new byte[] { (byte)'X', (byte)'Y', (byte)'Z', (byte)'F', 8, 0, 0, 0 } }),
            StatusCodes.BadTcpMessageTypeInvalid, "unknown UA-TCP message type");

    [Fact]
    public Task Hello_with_tiny_buffers_is_refused() =>
        RunAsync(_ => Task.FromResult(new[] { RawUaClient.Hello(receiveBuffer: 1024) }), StatusCodes.BadTcpInternalError, "below the 8192 minimum");

    [Fact]
    public Task Message_before_OpenSecureChannel_is_refused() =>
        RunAsync(_ => Task.FromResult(new[] { RawUaClient.Hello(), RawUaClient.Chunk(MessageTypes.Message, (byte)'F', 1, 1, 1, 1, [1]) }),
            StatusCodes.BadTcpSecureChannelUnknown, "before OpenSecureChannel");

    [Fact]
    public Task Security_policy_other_than_None_is_refused() =>
        RunAsync(_ => Task.FromResult(new[] { RawUaClient.Hello(), RawUaClient.Open(1, 1, SecurityPolicies.Basic256Sha256) }),
            StatusCodes.BadSecurityPolicyRejectedCode, "is not offered");

    [Fact]
    public Task Wrong_sequence_number_is_refused() =>
        RunAsync(async raw =>
        {
            await raw.OpenAsync();
            return [raw.Msg(new ReadRequest { NodesToRead = [new ReadValueId { NodeId = ObjectIds.ServerStatusState }] }) is var m ? Resequence(m, 99) : []];
        }, StatusCodes.BadSequenceNumberInvalid, "sequence number 99 follows 1");

    [Fact]
    public Task Wrong_channel_id_is_refused() =>
        RunAsync(async raw =>
        {
            await raw.OpenAsync();
            return [RawUaClient.Chunk(MessageTypes.Message, (byte)'F', raw.ChannelId + 1000, raw.TokenId, 2, 2, RawUaClient.Encode(new CloseSessionRequest()))];
        }, StatusCodes.BadTcpSecureChannelUnknown, "is for channel");

    [Fact]
    public Task Unknown_token_is_refused() =>
        RunAsync(async raw =>
        {
            await raw.OpenAsync();
            return [RawUaClient.Chunk(MessageTypes.Message, (byte)'F', raw.ChannelId, raw.TokenId + 7, 2, 2, RawUaClient.Encode(new CloseSessionRequest()))];
        }, StatusCodes.BadSecureChannelTokenUnknown, "uses token");

    [Fact]
    public Task Message_of_too_many_chunks_is_refused() =>
        RunAsync(async raw =>
        {
            await raw.OpenAsync();
            return [.. Enumerable.Range(0, 300).Select(_ => raw.Msg(new byte[16], chunkType: (byte)'C'))];
        }, StatusCodes.BadTcpMessageTooLarge, "MaxChunkCount 256");

    [Fact]
    public Task Undecodable_body_is_refused() =>
        RunAsync(async raw =>
        {
            await raw.OpenAsync();
            return [raw.Msg(new byte[] { 0x01, 0x00, 0x77, 0x02, 0xFF, 0xFF, 0xFF, 0x7F })]; // ReadRequest whose header runs off the end
        }, StatusCodes.BadDecodingError, "offset");

    [Fact]
    public async Task Unsupported_service_gets_a_ServiceFault_and_the_channel_stays_open()
    {
        var (server, _, good) = await StartAsync();
        await using (server)
        await using (good)
        {
            using var raw = await RawUaClient.ConnectAsync(server.Port);
            await raw.OpenAsync();
            using var body = new BinaryEncoder();
            body.WriteNodeId(new NodeId(0, 712u)); // CallRequest
            new RequestHeader { RequestHandle = 77 }.Encode(body);
            body.WriteInt32(0);
            await raw.SendAsync(raw.Msg(body.WrittenSpan, requestId: 5));
            var (type, chunk) = await raw.ReceiveAsync();
            Assert.Equal(MessageTypes.Message, type);
            var fault = Assert.IsType<ServiceFault>(SecureChannel.DecodeMessage(chunk.AsMemory(24), OpcUaLimits.Default));
            Assert.Equal(StatusCodes.BadServiceUnsupported, fault.ResponseHeader.ServiceResult);
            Assert.Equal(77u, fault.ResponseHeader.RequestHandle);
            await raw.SendAsync(raw.Msg(new ReadRequest { NodesToRead = [new ReadValueId { NodeId = ObjectIds.ServerStatusState }] }, requestId: 6));
            (type, chunk) = await raw.ReceiveAsync();
            var noSession = Assert.IsType<ServiceFault>(SecureChannel.DecodeMessage(chunk.AsMemory(24), OpcUaLimits.Default));
            Assert.Equal(StatusCodes.BadSessionIdInvalid, noSession.ResponseHeader.ServiceResult); // still answering, no session on it
            Assert.Equal(0, server.BadInputCount);
        }
    }

    [Fact]
    public async Task Connection_without_Hello_is_closed_after_the_timeout()
    {
        var (server, log, good) = await StartAsync(new OpcUaServerOptions { HelloTimeout = TimeSpan.FromMilliseconds(300) });
        await using (server)
        await using (good)
        {
            using var raw = await RawUaClient.ConnectAsync(server.Port);
            await raw.ExpectErrorAsync(StatusCodes.BadTimeout);
            lock (log)
                Assert.Contains(log, l => l.Contains("no Hello within", StringComparison.Ordinal));
            Assert.True((await good.ReadValueAsync(ObjectIds.ServerStatusCurrentTime)).Status.IsGood);
        }
    }

    private static byte[] SetSize(byte[] header, int size)
    {
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(4), size);
        return header;
    }

    private static byte[] Resequence(byte[] chunk, uint sequence)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(chunk.AsSpan(16), sequence);
        return chunk;
    }
}
