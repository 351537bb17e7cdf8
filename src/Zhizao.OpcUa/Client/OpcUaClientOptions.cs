using Zhizao.OpcUa.Security;

namespace Zhizao.OpcUa.Client;

/// <summary>Who the client is to the server's session.</summary>
public abstract record UserIdentity
{
    public static readonly UserIdentity Anonymous = new AnonymousIdentity();

    public static UserIdentity WithUserName(string userName, string password) => new UserNameIdentity(userName, password);
}

public sealed record AnonymousIdentity : UserIdentity;

/// <summary>User name and password; the password is never logged or shown by <see cref="ToString"/>.</summary>
public sealed record UserNameIdentity(string UserName, string Password) : UserIdentity
{
    public override string ToString() => $"UserName {UserName}";
}

public sealed record OpcUaClientOptions
{
    /// <summary>opc.tcp://host:port/path of the server.</summary>
    public required string EndpointUrl { get; init; }

    public MessageSecurityMode SecurityMode { get; init; } = MessageSecurityMode.None;
    public string SecurityPolicyUri { get; init; } = SecurityPolicies.None;
    public UserIdentity Identity { get; init; } = UserIdentity.Anonymous;

    /// <summary>Our certificate and the trust list; required for Basic256Sha256 and for encrypted passwords.</summary>
    public CertificateStore? Certificates { get; init; }

    public string ApplicationUri { get; init; } = "urn:zhizao:opcua-client";
    public string ApplicationName { get; init; } = "Zhizao OPC UA client";
    public string SessionName { get; init; } = "Zhizao";
    public TimeSpan SessionTimeout { get; init; } = TimeSpan.FromMinutes(1);
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(15);
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan TokenLifetime { get; init; } = TimeSpan.FromHours(1);

    /// <summary>A Read of the server state this often while no other traffic proves the connection alive.</summary>
    public TimeSpan KeepAliveInterval { get; init; } = TimeSpan.FromSeconds(5);

    public TimeSpan ReconnectDelay { get; init; } = TimeSpan.FromMilliseconds(100);
    public TimeSpan MaxReconnectDelay { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Publish requests kept outstanding while subscriptions exist.</summary>
    public int PublishRequestCount { get; init; } = 3;

    public OpcUaLimits Limits { get; init; } = OpcUaLimits.Default;
}

public enum ConnectionState
{
    Disconnected,
    Connecting,
    Connected,
    Reconnecting,
    Closed,
}

public sealed class ConnectionStateChangedEventArgs(ConnectionState state, Exception? error) : EventArgs
{
    public ConnectionState State { get; } = state;

    /// <summary>Why the connection was lost or a reconnect attempt failed.</summary>
    public Exception? Error { get; } = error;
}
