using System.Diagnostics.CodeAnalysis;

namespace Zhizao.OpcUa;

/// <summary>
/// Base of the OPC UA error taxonomy. <see cref="IsTransient"/> tells a caller whether a fresh connection and a retry
/// may help (transport loss, timeouts, a server that is busy) or whether the request itself is wrong.
/// </summary>
public abstract class OpcUaException : Exception
{
    protected OpcUaException(string message, StatusCode status, Exception? inner = null) : base(message, inner) => Status = status;

    public StatusCode Status { get; }

    public abstract bool IsTransient { get; }
}

/// <summary>Bytes from the peer do not decode: what was wrong and at which offset of the message.</summary>
public sealed class OpcUaDecodingException : OpcUaException
{
    public OpcUaDecodingException(string message, int offset, StatusCode? status = null)
        : base($"{message} (at offset {offset})", status ?? StatusCodes.BadDecodingError) => Offset = offset;

    public int Offset { get; }

    /// <summary>The connection that carried the message is dropped; a new one may work.</summary>
    public override bool IsTransient => true;
}

/// <summary>A value cannot be encoded (too long, too deep, unsupported type).</summary>
public sealed class OpcUaEncodingException : OpcUaException
{
    public OpcUaEncodingException(string message, StatusCode? status = null) : base(message, status ?? StatusCodes.BadEncodingError) { }

    public override bool IsTransient => false;
}

/// <summary>The peer broke UA-TCP or secure conversation (chunk framing, sequence numbers, tokens, an Error message).</summary>
public sealed class OpcUaProtocolException : OpcUaException
{
    public OpcUaProtocolException(string message, StatusCode status, Exception? inner = null) : base(message, status, inner) { }

    public override bool IsTransient => true;
}

/// <summary>The connection is gone or a request timed out; the client reconnects on its own.</summary>
public sealed class OpcUaTransportException : OpcUaException
{
    public OpcUaTransportException(string message, StatusCode status, Exception? inner = null) : base(message, status, inner) { }

    public override bool IsTransient => true;
}

/// <summary>Certificates, signatures or user credentials were refused.</summary>
public sealed class OpcUaSecurityException : OpcUaException
{
    public OpcUaSecurityException(string message, StatusCode status, Exception? inner = null) : base(message, status, inner) { }

    public override bool IsTransient => false;
}

/// <summary>The server answered a service call with a bad status (ServiceFault or a bad ServiceResult).</summary>
public sealed class OpcUaServiceException : OpcUaException
{
    public OpcUaServiceException(string service, StatusCode status, string? detail = null)
        : base($"{service} failed: {status}{(detail is null ? "" : " — " + detail)}", status) => Service = service;

    public string Service { get; }

    public override bool IsTransient => Status.Code is StatusCodes.BadTooManyOperationsCode or StatusCodes.BadServerHaltedCode
        or StatusCodes.BadTimeoutCode or StatusCodes.BadSecureChannelClosedCode or StatusCodes.BadConnectionClosedCode
        or StatusCodes.BadSessionIdInvalidCode or StatusCodes.BadSessionClosedCode or StatusCodes.BadResourceUnavailableCode;
}

internal static class Throw
{
    [DoesNotReturn]
    public static void Decoding(string message, int offset) => throw new OpcUaDecodingException(message, offset);

    [DoesNotReturn]
    public static void DecodingLimit(string message, int offset) => throw new OpcUaDecodingException(message, offset, StatusCodes.BadEncodingLimitsExceeded);

    [DoesNotReturn]
    public static void Encoding(string message) => throw new OpcUaEncodingException(message);

    [DoesNotReturn]
    public static void EncodingLimit(string message) => throw new OpcUaEncodingException(message, StatusCodes.BadEncodingLimitsExceeded);

    [DoesNotReturn]
    public static void Protocol(string message, StatusCode status) => throw new OpcUaProtocolException(message, status);

    [DoesNotReturn]
    public static void Security(string message, StatusCode status) => throw new OpcUaSecurityException(message, status);
}
