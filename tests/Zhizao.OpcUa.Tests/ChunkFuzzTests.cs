using System.Buffers.Binary;
using Zhizao.OpcUa.Security;
using Zhizao.OpcUa.Transport;

namespace Zhizao.OpcUa.Tests;

/// <summary>
/// Mutated MSG chunks through the channel's chunk reader (channel/token checks, decryption, signature, padding,
/// sequence numbers, reassembly, decoding) under None and SignAndEncrypt: every failure is an OpcUaException.
/// </summary>
public sealed class ChunkFuzzTests
{
    private static readonly byte[] ClientNonce = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
    private static readonly byte[] ServerNonce = Enumerable.Range(100, 32).Select(i => (byte)i).ToArray();

    /// <summary>A response chunk as the server would send it: its keys are derived the other way round.</summary>
    private static byte[] ServerChunk(MessageSecurityMode mode, uint sequence, uint requestId, ReadOnlySpan<byte> body, byte chunkType = (byte)'F',
        Random? mutatePlaintext = null)
    {
        bool sign = mode != MessageSecurityMode.None, encrypt = mode == MessageSecurityMode.SignAndEncrypt;
        int plain = 8 + body.Length;
        int padding = encrypt ? (16 - (plain + 1 + 32) % 16) % 16 : 0;
        int size = 16 + plain + (encrypt ? padding + 1 : 0) + (sign ? 32 : 0);
        byte[] chunk = new byte[size];
        ChunkHeader.Write(chunk, MessageTypes.Message, chunkType, size);
        BinaryPrimitives.WriteUInt32LittleEndian(chunk.AsSpan(8), 7);
        BinaryPrimitives.WriteUInt32LittleEndian(chunk.AsSpan(12), 1);
        BinaryPrimitives.WriteUInt32LittleEndian(chunk.AsSpan(16), sequence);
        BinaryPrimitives.WriteUInt32LittleEndian(chunk.AsSpan(20), requestId);
        body.CopyTo(chunk.AsSpan(24));
        int at = 24 + body.Length;
        if (encrypt)
        {
            chunk.AsSpan(at, padding + 1).Fill((byte)padding);
            at += padding + 1;
        }
        if (mutatePlaintext is not null)
        {
            // flip bytes of sequence header, body and padding before the signature is computed: past the MAC check
            for (int k = 1 + mutatePlaintext.Next(3); k > 0; k--)
                chunk[16 + mutatePlaintext.Next(at - 16)] = (byte)mutatePlaintext.Next(256);
        }
        using var serverKeys = new SymmetricKeys(ClientNonce, ServerNonce);
        if (sign)
            serverKeys.Sign(chunk.AsSpan(0, at), chunk.AsSpan(at, 32));
        if (encrypt)
            serverKeys.Encrypt(chunk.AsSpan(16));
        return chunk;
    }

    private static SecureChannel Channel(MessageSecurityMode mode, OpcUaLimits? limits = null) =>
        SecureChannel.ForChunkTests(mode, ClientNonce, ServerNonce, limits ?? OpcUaLimits.Default);

    private static void Feed(SecureChannel channel, byte[] chunk) =>
        channel.ProcessChunk(ChunkHeader.Parse(chunk, 65535), chunk);

    [Theory]
    [InlineData(MessageSecurityMode.None)]
    [InlineData(MessageSecurityMode.Sign)]
    [InlineData(MessageSecurityMode.SignAndEncrypt)]
    public async Task A_valid_response_in_two_chunks_is_reassembled(MessageSecurityMode mode)
    {
        byte[] body = FuzzTests.Corpus()[0];
        var channel = Channel(mode);
        var response = channel.ExpectResponse(5);
        Feed(channel, ServerChunk(mode, 10, 5, body.AsSpan(0, 100), (byte)'C'));
        Feed(channel, ServerChunk(mode, 11, 5, body.AsSpan(100)));
        Assert.IsType<ReadResponse>(await response);
    }

    [Fact]
    public void A_tampered_signed_chunk_is_refused_naming_the_signature()
    {
        var channel = Channel(MessageSecurityMode.Sign);
        byte[] chunk = ServerChunk(MessageSecurityMode.Sign, 1, 5, FuzzTests.Corpus()[0]);
        chunk[40] ^= 1;
        var e = Assert.Throws<OpcUaProtocolException>(() => Feed(channel, chunk));
        Assert.Contains("signature does not verify", e.Message);
        Assert.Equal(StatusCodes.BadSecurityChecksFailedCode, e.Status.Kind);
    }

    [Fact]
    public void Chunks_out_of_sequence_are_refused()
    {
        var channel = Channel(MessageSecurityMode.None);
        Feed(channel, ServerChunk(MessageSecurityMode.None, 1, 99, [0]));
        var e = Assert.Throws<OpcUaProtocolException>(() => Feed(channel, ServerChunk(MessageSecurityMode.None, 1, 99, [0])));
        Assert.Contains("sequence number 1 follows 1", e.Message);
    }

    [Theory]
    [InlineData(MessageSecurityMode.None)]
    [InlineData(MessageSecurityMode.SignAndEncrypt)]
    public void Mutated_chunks_fail_only_with_OpcUa_errors(MessageSecurityMode mode)
    {
        int iterations = (int.TryParse(Environment.GetEnvironmentVariable("ZHIZAO_FUZZ_ITERATIONS"), out int n) ? n : 100_000) / 4;
        int seed = Environment.TickCount;
        var random = new Random(seed);
        var bodies = FuzzTests.Corpus();
        var limits = new OpcUaLimits { MaxChunkCount = 4, MaxMessageSize = 200_000, MaxArrayLength = 10_000, MaxNestingDepth = 16 };
        int accepted = 0;
        for (int i = 0; i < iterations; i++)
        {
            var channel = Channel(mode, limits);
            _ = channel.ExpectResponse(5);
            byte chunkType = random.Next(4) == 0 ? (byte)'C' : (byte)'F';
            var body = bodies[random.Next(bodies.Count)];
            // under security mutate the signed plaintext half of the time, so the mutation reaches the parser past the MAC
            byte[] input = mode != MessageSecurityMode.None && random.Next(2) == 0
                ? ServerChunk(mode, 1, 5, body, chunkType, random)
                : FuzzTests.Mutate(ServerChunk(mode, 1, 5, body, chunkType), random);
            try
            {
                if (input.Length < 8)
                    continue;
                var header = ChunkHeader.Parse(input, 65535);
                if (header.Size > input.Length)
                    continue; // the reader would wait for more bytes
                channel.ProcessChunk(header, input);
                accepted++;
            }
            catch (OpcUaException)
            {
            }
            catch (Exception e)
            {
                Assert.Fail($"{e.GetType().Name} at iteration {i} (seed {seed}): {e.Message}\ninput: {Convert.ToHexString(input)}\n{e.StackTrace}");
            }
        }
        Assert.True(accepted < iterations);
    }
}
