namespace Zhizao.OpcUa;

/// <summary>A 32-bit OPC UA status code (Part 4, 7.39): severity in the top two bits, the code in the upper 16 bits.</summary>
public readonly record struct StatusCode(uint Code)
{
    public bool IsGood => (Code & 0xC0000000) == 0;
    public bool IsUncertain => (Code & 0xC0000000) == 0x40000000;
    public bool IsBad => (Code & 0x80000000) != 0;

    /// <summary>InfoType DataValue with the Overflow bit (Part 4, 7.39.1): the server's monitored-item queue overflowed
    /// and values before this one were discarded.</summary>
    public bool IsOverflow => (Code & 0x480) == 0x480;

    /// <summary>The code without the info bits, for comparing with the named constants.</summary>
    public uint Kind => Code & 0xFFFF0000;

    public static implicit operator StatusCode(uint code) => new(code);

    public override string ToString() =>
        StatusCodes.Name(Code) is { } name ? $"{name} (0x{Code:X8})" : $"0x{Code:X8}";
}

public static partial class StatusCodes
{
    /// <summary>The symbolic name of a code (info bits ignored), or null when unknown.</summary>
    public static string? Name(uint code) => s_names.TryGetValue(code & 0xFFFF0000, out var n) ? n : null;
}
