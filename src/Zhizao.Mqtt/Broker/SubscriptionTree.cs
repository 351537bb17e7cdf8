namespace Zhizao.Mqtt.Broker;

/// <summary>What a session asked for with one topic filter.</summary>
internal sealed record SubscriptionOptions(string Filter, MqttQoS QoS, bool NoLocal, bool RetainAsPublished,
    MqttRetainHandling RetainHandling, uint SubscriptionId)
{
    public byte OptionsByte => (byte)((byte)QoS | (NoLocal ? 4 : 0) | (RetainAsPublished ? 8 : 0) | ((byte)RetainHandling << 4));

    public static SubscriptionOptions FromByte(string filter, byte b, uint subscriptionId) =>
        new(filter, (MqttQoS)(b & 3), (b & 4) != 0, (b & 8) != 0, (MqttRetainHandling)((b >> 4) & 3), subscriptionId);
}

/// <summary>One subscriber found for a topic: the session, the granted options, and (shared) its group.</summary>
internal readonly record struct SubscriptionMatch(MqttSession Session, SubscriptionOptions Options);

/// <summary>
/// Topic trie: one node per level, with '+' and '#' children. Plain subscriptions are keyed by client id at the node
/// of their filter; shared ones by group name then client id. One lock: subscribe/unsubscribe are rare next to matching,
/// and matching a topic only walks its own levels.
/// </summary>
internal sealed class SubscriptionTree
{
    private readonly Node _root = new();
    private readonly object _lock = new();
    private int _count;

    public int Count => Volatile.Read(ref _count);

    private sealed class Node
    {
        public Dictionary<string, Node>? Children;
        public Dictionary<string, SubscriptionMatch>? Subscribers;
        public Dictionary<string, SharedGroup>? Groups;

        public bool IsEmpty => Children is not { Count: > 0 } && Subscribers is not { Count: > 0 } && Groups is not { Count: > 0 };
    }

    private sealed class SharedGroup
    {
        public readonly List<SubscriptionMatch> Members = [];
        public int Next;
    }

    /// <summary>Adds or replaces; returns true when the session had no subscription with this filter before.</summary>
    public bool Add(MqttSession session, SubscriptionOptions options)
    {
        string filter = options.Filter;
        string? group = null;
        if (TopicFilter.TryParseShared(filter, out var shareName, out var inner))
        {
            group = shareName;
            filter = inner;
        }
        lock (_lock)
        {
            var node = Walk(filter, create: true)!;
            var match = new SubscriptionMatch(session, options);
            bool added;
            if (group is null)
            {
                node.Subscribers ??= new(StringComparer.Ordinal);
                added = node.Subscribers.TryAdd(session.ClientId, match);
                if (!added)
                    node.Subscribers[session.ClientId] = match;
            }
            else
            {
                node.Groups ??= new(StringComparer.Ordinal);
                if (!node.Groups.TryGetValue(group, out var g))
                    node.Groups[group] = g = new SharedGroup();
                int i = g.Members.FindIndex(m => ReferenceEquals(m.Session, session));
                added = i < 0;
                if (added)
                    g.Members.Add(match);
                else
                    g.Members[i] = match;
            }
            if (added)
                _count++;
            return added;
        }
    }

    public bool Remove(MqttSession session, string fullFilter)
    {
        string filter = fullFilter;
        string? group = null;
        if (TopicFilter.TryParseShared(fullFilter, out var shareName, out var inner))
        {
            group = shareName;
            filter = inner;
        }
        lock (_lock)
        {
            var path = new List<(Node Parent, string Level)>();
            var node = _root;
            foreach (var level in filter.Split('/'))
            {
                if (node.Children is null || !node.Children.TryGetValue(level, out var child))
                    return false;
                path.Add((node, level));
                node = child;
            }
            bool removed;
            if (group is null)
            {
                removed = node.Subscribers is not null && node.Subscribers.TryGetValue(session.ClientId, out var m)
                    && ReferenceEquals(m.Session, session) && node.Subscribers.Remove(session.ClientId);
            }
            else
            {
                removed = false;
                if (node.Groups is not null && node.Groups.TryGetValue(group, out var g))
                {
                    removed = g.Members.RemoveAll(m => ReferenceEquals(m.Session, session)) > 0;
                    if (g.Members.Count == 0)
                        node.Groups.Remove(group);
                }
            }
            if (!removed)
                return false;
            _count--;
            for (int i = path.Count - 1; i >= 0 && node.IsEmpty; i--)
            {
                path[i].Parent.Children!.Remove(path[i].Level);
                node = path[i].Parent;
            }
            return true;
        }
    }

    /// <summary>Collects the subscribers of <paramref name="topic"/>: every plain match, and one member per shared group
    /// (round robin, preferring connected members).</summary>
    public void Match(string topic, List<SubscriptionMatch> result)
    {
        bool dollar = topic.StartsWith('$');
        lock (_lock)
            MatchLevel(_root, topic, 0, dollar, result);
    }

    private static void MatchLevel(Node node, string topic, int start, bool dollar, List<SubscriptionMatch> result)
    {
        var children = node.Children;
        if (children is null)
            return;
        // '#' at this level matches the rest; "a/#" also matching "a" is handled in Descend
        bool wildcardAllowed = !(dollar && start == 0);
        if (wildcardAllowed && children.TryGetValue("#", out var hash))
            Collect(hash, result);
        int slash = topic.AsSpan(start).IndexOf('/');
        int end = slash < 0 ? -1 : start + slash;
        var level = end < 0 ? topic.AsSpan(start) : topic.AsSpan(start, end - start);
        if (children.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(level, out var exact))
            Descend(exact, topic, end, dollar, result);
        if (wildcardAllowed && children.TryGetValue("+", out var plus))
            Descend(plus, topic, end, dollar, result);
    }

    private static void Descend(Node child, string topic, int end, bool dollar, List<SubscriptionMatch> result)
    {
        if (end < 0)
        {
            Collect(child, result);
            if (child.Children is not null && child.Children.TryGetValue("#", out var parentHash))
                Collect(parentHash, result);
        }
        else
        {
            MatchLevel(child, topic, end + 1, dollar, result);
        }
    }

    private static void Collect(Node node, List<SubscriptionMatch> result)
    {
        if (node.Subscribers is not null)
            result.AddRange(node.Subscribers.Values);
        if (node.Groups is null)
            return;
        foreach (var g in node.Groups.Values)
        {
            int n = g.Members.Count;
            SubscriptionMatch? pick = null;
            for (int i = 0; i < n; i++)
            {
                var m = g.Members[(g.Next + i) % n];
                if (m.Session.IsConnected)
                {
                    pick = m;
                    g.Next = (g.Next + i + 1) % n;
                    break;
                }
            }
            if (pick is null)
            {
                pick = g.Members[g.Next % n];
                g.Next = (g.Next + 1) % n;
            }
            result.Add(pick.Value);
        }
    }

    private Node? Walk(string filter, bool create)
    {
        var node = _root;
        foreach (var level in filter.Split('/'))
        {
            node.Children ??= new(StringComparer.Ordinal);
            if (!node.Children.TryGetValue(level, out var child))
            {
                if (!create)
                    return null;
                node.Children[level] = child = new Node();
            }
            node = child;
        }
        return node;
    }
}
