namespace Zhizao.OpcUa;

/// <summary>Bounds on what the decoder accepts and the channel reassembles; every check names the limit it hit.</summary>
public sealed record OpcUaLimits
{
    public static readonly OpcUaLimits Default = new();

    /// <summary>Bytes of one String (UTF-8) or XmlElement.</summary>
    public int MaxStringLength { get; init; } = 1 << 20;

    /// <summary>Bytes of one ByteString.</summary>
    public int MaxByteStringLength { get; init; } = 16 << 20;

    /// <summary>Elements of one array (also the product of matrix dimensions).</summary>
    public int MaxArrayLength { get; init; } = 1 << 20;

    /// <summary>Bytes of one reassembled message (sum of chunk bodies).</summary>
    public int MaxMessageSize { get; init; } = 16 << 20;

    /// <summary>Chunks of one message.</summary>
    public int MaxChunkCount { get; init; } = 1024;

    /// <summary>Size of one chunk we accept (our ReceiveBufferSize in Hello).</summary>
    public int ReceiveBufferSize { get; init; } = 65535;

    /// <summary>Nesting of Variants, DataValues, DiagnosticInfos and ExtensionObjects inside each other.</summary>
    public int MaxNestingDepth { get; init; } = 64;
}
