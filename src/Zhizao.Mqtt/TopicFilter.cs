namespace Zhizao.Mqtt;

/// <summary>Topic name and topic filter rules (spec 4.7, 4.8.2) and matching.</summary>
public static class TopicFilter
{
    private const string SharePrefix = "$share/";

    /// <summary>
    /// True when <paramref name="topic"/> matches <paramref name="filter"/>: '+' matches one level, a trailing '#' matches
    /// the parent and every level below, and a topic starting with '$' is not matched by a filter starting with a wildcard.
    /// Both arguments are assumed valid; a shared subscription's inner filter must be passed, not "$share/...".
    /// </summary>
    public static bool Matches(ReadOnlySpan<char> filter, ReadOnlySpan<char> topic)
    {
        if (topic.Length > 0 && topic[0] == '$' && filter.Length > 0 && (filter[0] == '+' || filter[0] == '#'))
            return false;
        while (true)
        {
            int fs = filter.IndexOf('/');
            var fLevel = fs < 0 ? filter : filter[..fs];
            if (fLevel is "#")
                return true;
            int ts = topic.IndexOf('/');
            var tLevel = ts < 0 ? topic : topic[..ts];
            if (!(fLevel is "+") && !fLevel.SequenceEqual(tLevel))
                return false;
            if (fs < 0)
                return ts < 0;
            filter = filter[(fs + 1)..];
            if (ts < 0)
                return filter is "#"; // "a/#" matches "a"
            topic = topic[(ts + 1)..];
        }
    }

    public static bool Matches(string filter, string topic) => Matches(filter.AsSpan(), topic.AsSpan());

    /// <summary>A topic name: non-empty, no '+' or '#', no U+0000.</summary>
    public static bool IsValidTopicName(ReadOnlySpan<char> topic) =>
        topic.Length > 0 && topic.IndexOfAny('+', '#', '\0') < 0;

    /// <summary>A topic filter: non-empty, '+' alone in its level, '#' alone in the last level, no U+0000.</summary>
    public static bool IsValidFilter(ReadOnlySpan<char> filter)
    {
        if (filter.Length == 0 || filter.Contains('\0'))
            return false;
        for (int i = 0; i < filter.Length; i++)
        {
            char c = filter[i];
            if (c == '+')
            {
                if ((i > 0 && filter[i - 1] != '/') || (i + 1 < filter.Length && filter[i + 1] != '/'))
                    return false;
            }
            else if (c == '#')
            {
                if ((i > 0 && filter[i - 1] != '/') || i != filter.Length - 1)
                    return false;
            }
        }
        return true;
    }

    /// <summary>True when the filter starts with "$share/" (a v5 shared subscription).</summary>
    public static bool IsShared(ReadOnlySpan<char> filter) => filter.StartsWith(SharePrefix, StringComparison.Ordinal);

    /// <summary>
    /// Splits "$share/{ShareName}/{filter}". False when the filter is not shared or the share name is empty or holds
    /// '/', '+' or '#', or the inner filter is missing or invalid.
    /// </summary>
    public static bool TryParseShared(string filter, out string shareName, out string innerFilter)
    {
        shareName = innerFilter = "";
        if (!IsShared(filter))
            return false;
        var rest = filter.AsSpan(SharePrefix.Length);
        int slash = rest.IndexOf('/');
        if (slash <= 0)
            return false;
        var name = rest[..slash];
        if (name.IndexOfAny('+', '#') >= 0)
            return false;
        var inner = rest[(slash + 1)..];
        if (!IsValidFilter(inner))
            return false;
        shareName = name.ToString();
        innerFilter = inner.ToString();
        return true;
    }
}
