using System.Buffers.Binary;
using System.Text;

namespace Zhizao.OpcUa.Transport;

/// <summary>UA-TCP message types (Part 6, 7.1.2.2) as the three ASCII bytes of the header.</summary>
internal static class MessageTypes
{
    public const uint Hello = 'H' | 'E' << 8 | 'L' << 16;
    public const uint Acknowledge = 'A' | 'C' << 8 | 'K' << 16;
    public const uint Error = 'E' | 'R' << 8 | 'R' << 16;
    public const uint ReverseHello = 'R' | 'H' << 8 | 'E' << 16;
    public const uint Message = 'M' | 'S' << 8 | 'G' << 16;
    public const uint Open = 'O' | 'P' << 8 | 'N' << 16;
    public const uint Close = 'C' | 'L' << 8 | 'O' << 16;

    public static string Name(uint type) =>
        Encoding.ASCII.GetString([(byte)type, (byte)(type >> 8), (byte)(type >> 16)]).Replace("\0", "\\0", StringComparison.Ordinal);
}

/// <summary>A chunk header: message type, chunk type ('F' final, 'C' continue, 'A' abort) and total chunk size.</summary>
internal readonly record struct ChunkHeader(uint MessageType, byte ChunkType, int Size)
{
    public const int Length = 8;
    public const int MinSize = 8;

    /// <summary>Parses and checks a header; <paramref name="maxSize"/> is our receive buffer size.</summary>
    public static ChunkHeader Parse(ReadOnlySpan<byte> header, int maxSize)
    {
        uint type = (uint)(header[0] | header[1] << 8 | header[2] << 16);
        byte chunk = header[3];
        uint size = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
        if (type is not (MessageTypes.Message or MessageTypes.Open or MessageTypes.Close or MessageTypes.Acknowledge
            or MessageTypes.Error or MessageTypes.Hello or MessageTypes.ReverseHello))
            Throw.Protocol($"unknown UA-TCP message type '{MessageTypes.Name(type)}' (bytes {Convert.ToHexString(header[..3])}) at offset 0", StatusCodes.BadTcpMessageTypeInvalid);
        if (chunk is not ((byte)'F' or (byte)'C' or (byte)'A'))
            Throw.Protocol($"{MessageTypes.Name(type)} chunk type 0x{chunk:X2} is not F, C or A (offset 3)", StatusCodes.BadTcpMessageTypeInvalid);
        if (size < MinSize || size > (uint)maxSize)
            Throw.Protocol($"{MessageTypes.Name(type)} chunk size {size} is outside 8..{maxSize} (our receive buffer; offset 4)", StatusCodes.BadTcpMessageTooLarge);
        return new ChunkHeader(type, chunk, (int)size);
    }

    public static void Write(Span<byte> destination, uint type, byte chunkType, int size)
    {
        destination[0] = (byte)type;
        destination[1] = (byte)(type >> 8);
        destination[2] = (byte)(type >> 16);
        destination[3] = chunkType;
        BinaryPrimitives.WriteInt32LittleEndian(destination[4..], size);
    }
}

/// <summary>What Hello and Acknowledge negotiate (Part 6, 7.1.2.3 and 7.1.2.4).</summary>
public sealed record TransportSettings(uint ProtocolVersion, uint ReceiveBufferSize, uint SendBufferSize, uint MaxMessageSize, uint MaxChunkCount);

internal static class HelloCodec
{
    public static byte[] EncodeHello(TransportSettings s, string endpointUrl)
    {
        using var e = new BinaryEncoder();
        e.WriteRaw(stackalloc byte[8]);
        e.WriteUInt32(s.ProtocolVersion);
        e.WriteUInt32(s.ReceiveBufferSize);
        e.WriteUInt32(s.SendBufferSize);
        e.WriteUInt32(s.MaxMessageSize);
        e.WriteUInt32(s.MaxChunkCount);
        e.WriteString(endpointUrl);
        byte[] bytes = e.ToArray();
        ChunkHeader.Write(bytes, MessageTypes.Hello, (byte)'F', bytes.Length);
        return bytes;
    }

    public static TransportSettings DecodeAcknowledge(ReadOnlyMemory<byte> body)
    {
        var d = new BinaryDecoder(body, baseOffset: ChunkHeader.Length);
        var ack = new TransportSettings(d.ReadUInt32(), d.ReadUInt32(), d.ReadUInt32(), d.ReadUInt32(), d.ReadUInt32());
        if (ack.ReceiveBufferSize < 8192 || ack.SendBufferSize < 8192)
            Throw.Protocol($"Acknowledge buffer sizes {ack.ReceiveBufferSize}/{ack.SendBufferSize} are below the 8192 minimum", StatusCodes.BadTcpInternalError);
        return ack;
    }

    /// <summary>An Error message: status code and reason.</summary>
    public static OpcUaProtocolException DecodeError(ReadOnlyMemory<byte> body)
    {
        try
        {
            var d = new BinaryDecoder(body, new OpcUaLimits { MaxStringLength = 4096 }, ChunkHeader.Length);
            var status = d.ReadStatusCode();
            string? reason = d.ReadString();
            return new OpcUaProtocolException($"server sent Error {status}{(string.IsNullOrEmpty(reason) ? "" : ": " + reason)}", status);
        }
        catch (OpcUaDecodingException e)
        {
            return new OpcUaProtocolException("server sent an Error message that does not decode: " + e.Message, StatusCodes.BadTcpInternalError, e);
        }
    }
}
