using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace Zhizao.Mqtt.Broker;

/// <summary>An application message as the broker routes it: what a publisher sent, without packet details.</summary>
public sealed class MqttApplicationMessage
{
    public required string Topic { get; init; }
    public ReadOnlyMemory<byte> Payload { get; init; }
    public MqttQoS QoS { get; init; }
    public bool Retain { get; init; }

    /// <summary>Forwarded v5 properties (payload format, content type, response topic, correlation data, user
    /// properties); null when there are none. Never holds a topic alias, subscription identifiers or the expiry.</summary>
    public MqttProperties? Properties { get; init; }

    /// <summary>Unix milliseconds after which the message is no longer delivered; 0 = never expires.</summary>
    public long ExpiresAtUnixMs { get; init; }

    /// <summary>Client identifier of the publisher; null for messages the broker makes itself ($SYS, wills keep the client's).</summary>
    public string? SenderClientId { get; init; }

    /// <summary>Unix milliseconds when the broker accepted the message.</summary>
    public long ReceivedAtUnixMs { get; init; }

    internal long StoreId;

    internal bool IsExpired(long nowUnixMs) => ExpiresAtUnixMs != 0 && nowUnixMs >= ExpiresAtUnixMs;

    internal bool IsExpiredNow => ExpiresAtUnixMs != 0 && MqttBroker.NowUnixMs() >= ExpiresAtUnixMs;
}

/// <summary>
/// The platform's hook: every accepted PUBLISH (not $SYS) is offered, in order of acceptance, in batches. Called on one
/// background task, never on a publisher's path; a slow sink makes the broker drop sink copies (counted in
/// <see cref="MqttBrokerStatistics.SinkDropped"/>), never messages to subscribers.
/// </summary>
public interface IMqttMessageSink
{
    ValueTask OnMessagesAsync(IReadOnlyList<MqttApplicationMessage> batch, CancellationToken cancellationToken);
}

/// <summary>What an authenticator sees. The password is only here; the broker never logs it.</summary>
public sealed class MqttAuthenticationContext
{
    public required string ClientId { get; init; }
    public string? UserName { get; init; }
    public ReadOnlyMemory<byte> Password { get; init; }
    public EndPoint? RemoteEndPoint { get; init; }
    public MqttProtocolVersion ProtocolVersion { get; init; }
}

/// <summary>Checks a connecting client. Return <see cref="MqttReasonCode.Success"/>, <see cref="MqttReasonCode.BadUserNameOrPassword"/>
/// or <see cref="MqttReasonCode.NotAuthorized"/> (3.1.1 clients get return codes 4 and 5).</summary>
public interface IMqttAuthenticator
{
    ValueTask<MqttReasonCode> AuthenticateAsync(MqttAuthenticationContext context, CancellationToken cancellationToken);
}

/// <summary>User name / password pairs held in memory, compared in constant time.</summary>
public sealed class MqttPasswordAuthenticator : IMqttAuthenticator
{
    private readonly Dictionary<string, byte[]> _users = new(StringComparer.Ordinal);

    /// <summary>When true, a client without a user name is accepted.</summary>
    public bool AllowAnonymous { get; init; }

    public MqttPasswordAuthenticator Add(string userName, string password)
    {
        _users[userName] = SHA256.HashData(Encoding.UTF8.GetBytes(password));
        return this;
    }

    public ValueTask<MqttReasonCode> AuthenticateAsync(MqttAuthenticationContext context, CancellationToken cancellationToken)
    {
        if (context.UserName is null)
            return new(AllowAnonymous ? MqttReasonCode.Success : MqttReasonCode.NotAuthorized);
        Span<byte> given = stackalloc byte[32];
        SHA256.HashData(context.Password.Span, given);
        bool ok = _users.TryGetValue(context.UserName, out var expected) && CryptographicOperations.FixedTimeEquals(given, expected);
        return new(ok ? MqttReasonCode.Success : MqttReasonCode.BadUserNameOrPassword);
    }
}

[Flags]
public enum MqttAclAccess
{
    Publish = 1,
    Subscribe = 2,
    All = Publish | Subscribe,
}

/// <summary>One allow rule. <see cref="Pattern"/> is a topic filter in which <c>%u</c> is replaced by the user name
/// and <c>%c</c> by the client identifier (a rule whose substitution is missing or holds '/', '+' or '#' never matches).
/// <see cref="UserName"/> null applies the rule to everyone.</summary>
public sealed record MqttAclRule(MqttAclAccess Access, string Pattern, string? UserName = null);

/// <summary>
/// Allow rules; anything no rule allows is denied. A PUBLISH is allowed when a publish rule's pattern matches its topic;
/// a SUBSCRIBE filter is allowed when a subscribe rule's pattern covers every topic the filter can match
/// (pattern "plant/#" covers "plant/+/temp", pattern "plant/+" does not cover "plant/#").
/// </summary>
public sealed class MqttAcl
{
    public List<MqttAclRule> Rules { get; } = [];

    public MqttAcl Allow(MqttAclAccess access, string pattern, string? userName = null)
    {
        if (!TopicFilter.IsValidFilter(pattern.Replace("%u", "u", StringComparison.Ordinal).Replace("%c", "c", StringComparison.Ordinal)))
            throw new ArgumentException($"ACL pattern '{pattern}' is not a valid topic filter", nameof(pattern));
        Rules.Add(new MqttAclRule(access, pattern, userName));
        return this;
    }

    public bool CanPublish(string? userName, string clientId, string topic) => Check(MqttAclAccess.Publish, userName, clientId, topic);

    public bool CanSubscribe(string? userName, string clientId, string filter) => Check(MqttAclAccess.Subscribe, userName, clientId, filter);

    private bool Check(MqttAclAccess access, string? userName, string clientId, string topicOrFilter)
    {
        foreach (var rule in Rules)
        {
            if ((rule.Access & access) == 0 || (rule.UserName is not null && rule.UserName != userName))
                continue;
            string? pattern = Substitute(rule.Pattern, userName, clientId);
            if (pattern is null)
                continue;
            if (access == MqttAclAccess.Publish ? TopicFilter.Matches(pattern, topicOrFilter) : Covers(pattern, topicOrFilter))
                return true;
        }
        return false;
    }

    private static string? Substitute(string pattern, string? userName, string clientId)
    {
        if (pattern.Contains("%u", StringComparison.Ordinal))
        {
            if (string.IsNullOrEmpty(userName) || userName.AsSpan().IndexOfAny("/+#") >= 0)
                return null;
            pattern = pattern.Replace("%u", userName, StringComparison.Ordinal);
        }
        if (pattern.Contains("%c", StringComparison.Ordinal))
        {
            if (clientId.Length == 0 || clientId.AsSpan().IndexOfAny("/+#") >= 0)
                return null;
            pattern = pattern.Replace("%c", clientId, StringComparison.Ordinal);
        }
        return pattern;
    }

    /// <summary>True when every topic <paramref name="filter"/> matches is also matched by <paramref name="pattern"/>.</summary>
    internal static bool Covers(string pattern, string filter)
    {
        if (filter.StartsWith('$') != pattern.StartsWith('$') && (pattern.StartsWith('#') || pattern.StartsWith('+')))
            return false;
        var p = pattern.Split('/');
        var f = filter.Split('/');
        for (int i = 0; i < p.Length; i++)
        {
            if (p[i] == "#")
                return true;
            if (i >= f.Length)
                return false;
            if (f[i] == "#")
                return false;
            if (p[i] == "+")
                continue;
            if (p[i] != f[i])
                return false;
        }
        return p.Length == f.Length;
    }
}
