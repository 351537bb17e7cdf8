using System.Globalization;
using Zhizao.Core;

namespace Zhizao.Api;

/// <summary>
/// Parses time arguments of the query API: Unix nanoseconds, ISO 8601, "now", or "now-15m" style offsets,
/// and durations like "500ms", "10s", "1m", "2h", "1d".
/// </summary>
public static class TimeParam
{
    public static long Parse(string? text, long defaultNs, string name, long nowNs)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return defaultNs;
        }

        text = text.Trim();
        if (text.StartsWith("now", StringComparison.OrdinalIgnoreCase))
        {
            string rest = text[3..].Trim();
            if (rest.Length == 0)
            {
                return nowNs;
            }

            if (rest[0] is '-' or '+')
            {
                long d = ParseDuration(rest[1..].Trim(), name);
                return rest[0] == '-' ? nowNs - d : nowNs + d;
            }
        }

        if (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long ns))
        {
            return ns;
        }

        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var dt))
        {
            return Time.FromDateTime(dt);
        }

        throw new InvalidInputException($"'{text}' is not a time: use Unix nanoseconds, ISO 8601 (2026-01-01T00:00:00Z) or now-1h", name);
    }

    public static long ParseDuration(string text, string name)
    {
        ReadOnlySpan<char> s = text.AsSpan().Trim();
        int i = 0;
        while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.'))
        {
            i++;
        }

        if (i == 0 || !double.TryParse(s[..i], NumberStyles.Float, CultureInfo.InvariantCulture, out double n) || n <= 0)
        {
            throw new InvalidInputException($"'{text}' is not a positive duration like 500ms, 10s, 1m, 2h, 1d", name);
        }

        double unit = s[i..] switch
        {
            "ns" => 1,
            "us" or "µs" => 1e3,
            "ms" => 1e6,
            "s" or "" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86400e9,
            "w" => 7 * 86400e9,
            _ => throw new InvalidInputException($"'{text}' has an unknown unit: use ns, us, ms, s, m, h, d or w", name),
        };
        double v = n * unit;
        if (v >= long.MaxValue)
        {
            throw new InvalidInputException($"'{text}' is too long a duration", name);
        }

        return Math.Max(1, (long)v);
    }
}
