using System.Net;
using Microsoft.Extensions.Logging;

namespace Zhizao.Mqtt.Broker;

/// <summary>Broker log messages (event ids 5100-5199). Passwords are never logged.</summary>
internal static partial class Log
{
    [LoggerMessage(5100, LogLevel.Information, "MQTT broker listening on {EndPoint}")]
    public static partial void Listening(ILogger logger, EndPoint endPoint);

    [LoggerMessage(5101, LogLevel.Debug, "MQTT connection {Id}: client '{ClientId}' from {Remote} connected (level {Level}, session present {Present})")]
    public static partial void Connected(ILogger logger, long id, string clientId, EndPoint? remote, byte level, bool present);

    [LoggerMessage(5102, LogLevel.Debug, "MQTT connection {Id} ('{ClientId}'): protocol error {Reason}: {Message}")]
    public static partial void ProtocolError(ILogger logger, long id, string clientId, MqttReasonCode reason, string message);

    [LoggerMessage(5103, LogLevel.Warning, "MQTT connection {Id} ('{ClientId}') failed")]
    public static partial void ConnectionFailed(ILogger logger, Exception ex, long id, string clientId);

    [LoggerMessage(5104, LogLevel.Information, "MQTT client '{ClientId}' (user '{UserName}') from {Remote} refused: {Reason}")]
    public static partial void AuthenticationRefused(ILogger logger, string clientId, string? userName, EndPoint? remote, MqttReasonCode reason);

    [LoggerMessage(5105, LogLevel.Error, "MQTT authenticator failed for client '{ClientId}'")]
    public static partial void AuthenticatorFailed(ILogger logger, Exception ex, string clientId);

    [LoggerMessage(5106, LogLevel.Warning, "MQTT client '{ClientId}' disconnected: {Reason}")]
    public static partial void SlowConsumer(ILogger logger, string clientId, string reason);

    [LoggerMessage(5114, LogLevel.Information, "MQTT client '{ClientId}' drains its queue too slowly (nothing in one interval, or under {Messages} messages per {IntervalMs} ms on average): publishers are no longer held back for it until it catches up")]
    public static partial void FlowControlSlow(ILogger logger, string clientId, int messages, long intervalMs);

    [LoggerMessage(5107, LogLevel.Error, "MQTT message sink failed; {Count} messages lost for the sink")]
    public static partial void SinkFailed(ILogger logger, Exception ex, int count);

    [LoggerMessage(5108, LogLevel.Information, "MQTT broker restored {Sessions} sessions, {Messages} queued messages and {Retained} retained messages from {Path}")]
    public static partial void Restored(ILogger logger, int sessions, int messages, int retained, string path);

    [LoggerMessage(5110, LogLevel.Error, "MQTT broker log in {Directory} cannot be written; acknowledgements wait and the write is retried every second")]
    public static partial void StoreWriteFailed(ILogger logger, Exception ex, string directory);

    [LoggerMessage(5109, LogLevel.Error, "MQTT accept loop failed")]
    public static partial void AcceptFailed(ILogger logger, Exception ex);

    [LoggerMessage(5111, LogLevel.Information, "MQTT broker listening for TLS on {EndPoint} (client certificates: {Mode})")]
    public static partial void ListeningTls(ILogger logger, EndPoint endPoint, MqttClientCertificateMode mode);

    [LoggerMessage(5112, LogLevel.Information, "MQTT TLS handshake with {Remote} failed: {Reason}")]
    public static partial void TlsHandshakeFailed(ILogger logger, EndPoint? remote, string reason);

    [LoggerMessage(5113, LogLevel.Warning, "MQTT client certificate from {Remote} refused: {Reason} (subject '{Subject}', issuer '{Issuer}', thumbprint {Thumbprint})")]
    public static partial void ClientCertificateRefused(ILogger logger, EndPoint? remote, string reason, string? subject, string? issuer, string? thumbprint);
}
