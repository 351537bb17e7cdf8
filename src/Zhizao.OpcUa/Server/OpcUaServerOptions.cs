using System.Net;

namespace Zhizao.OpcUa.Server;

public sealed record OpcUaServerOptions
{
    /// <summary>Address to listen on; loopback unless a deployment says otherwise.</summary>
    public IPAddress Address { get; init; } = IPAddress.Loopback;

    /// <summary>TCP port; 0 picks a free one (read it back from <see cref="OpcUaServer.Port"/>).</summary>
    public int Port { get; init; } = 4840;

    /// <summary>Path part of the endpoint URL.</summary>
    public string Path { get; init; } = "/zhizao";

    public string ApplicationUri { get; init; } = "urn:zhizao:opcua-server";
    public string ApplicationName { get; init; } = "Zhizao OPC UA server";

    /// <summary>Namespace 1 of the address space.</summary>
    public string NamespaceUri { get; init; } = "urn:zhizao:server";

    public bool AllowAnonymous { get; init; } = true;

    /// <summary>
    /// The server's own certificate and the trust list for client certificates. When set, the server also offers
    /// Basic256Sha256 with Sign and with SignAndEncrypt; a client certificate not in trusted/ is refused (and saved to
    /// rejected/) unless <see cref="Security.CertificateStore.AutoAcceptUntrusted"/> is on.
    /// </summary>
    public Security.CertificateStore? Certificates { get; init; }

    /// <summary>Offer the SecurityPolicy None endpoint (default). Turn off to accept only Basic256Sha256 channels.</summary>
    public bool AllowSecurityNone { get; init; } = true;

    /// <summary>
    /// User names and passwords accepted by ActivateSession. The only endpoint is SecurityPolicy None, so a password
    /// travels in plain text: use this on loopback or a trusted segment only. Passwords are never logged.
    /// </summary>
    public IReadOnlyDictionary<string, string>? Users { get; init; }

    /// <summary>Chunk size we accept (our ReceiveBufferSize), reassembled message size and chunk count per request.</summary>
    public OpcUaLimits Limits { get; init; } = new() { ReceiveBufferSize = 65535, MaxMessageSize = 4 << 20, MaxChunkCount = 256, MaxStringLength = 64 << 10, MaxByteStringLength = 64 << 10, MaxArrayLength = 200_000 };

    public int MaxChannels { get; init; } = 100;
    public int MaxSessions { get; init; } = 100;
    public int MaxSubscriptionsPerSession { get; init; } = 100;
    public int MaxMonitoredItemsPerSubscription { get; init; } = 100_000;

    /// <summary>Publish requests a session may have queued; more are answered BadTooManyPublishRequests.</summary>
    public int MaxPublishRequestsPerSession { get; init; } = 64;

    /// <summary>Notifications in one NotificationMessage; the rest follow with MoreNotifications.</summary>
    public int MaxNotificationsPerPublish { get; init; } = 20_000;

    /// <summary>Sent NotificationMessages a subscription keeps for Republish until acknowledged.</summary>
    public int RetransmissionQueueSize { get; init; } = 64;

    public double MinPublishingIntervalMs { get; init; } = 50;
    public double MinSamplingIntervalMs { get; init; } = 50;

    /// <summary>A connection that sends no Hello within this time is closed.</summary>
    public TimeSpan HelloTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Where channel-level events go (bad input, limits, expired sessions); never passwords or payloads.</summary>
    public Action<string>? Log { get; init; }
}
