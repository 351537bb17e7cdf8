using System.Globalization;
using System.Text;
using Zhizao.Core;
using Zhizao.Ingest;
using Zhizao.Pipeline;
using Zhizao.Storage.Metadata;

namespace Zhizao.Connectors;

/// <summary>One value read by a connector: a number (double or long), a bool or a text, at its source time.</summary>
public readonly record struct ConnectorSample(string Equipment, string Tag, long TimestampNs, double Number, long Integer, bool IsInteger, bool? Flag, string? Text)
{
    public static ConnectorSample Of(string equipment, string tag, long t, double v) => new(equipment, tag, t, v, 0, false, null, null);
    public static ConnectorSample Of(string equipment, string tag, long t, long v) => new(equipment, tag, t, 0, v, true, null, null);
    public static ConnectorSample Of(string equipment, string tag, long t, bool v) => new(equipment, tag, t, 0, 0, false, v, null);
    public static ConnectorSample Of(string equipment, string tag, long t, string v) => new(equipment, tag, t, 0, 0, false, null, v);
}

/// <summary>
/// Writes connector values through the node's one write path (<see cref="IngestService"/>, line protocol), converting
/// each value to the data type of its target tag: numbers into Float64; numbers rounded to the nearest integer into
/// Int64; non-zero as true into Bool; the text form into String. A text that is not a number for a numeric tag is
/// refused (counted as a "value" error).
/// </summary>
public sealed class ConnectorSink(IngestService ingest, MetadataStore meta)
{
    public async Task<(int Stored, int Rejected, string? FirstError)> WriteAsync(IReadOnlyList<ConnectorSample> samples, CancellationToken ct)
    {
        var snapshot = meta.Snapshot;
        var lp = new StringBuilder(samples.Count * 48);
        int refused = 0;
        string? first = null;
        foreach (var s in samples)
        {
            var kind = snapshot.TryGetEquipmentTags(s.Equipment, out var tags) && tags.TryGetValue(s.Tag, out var def) ? def.DataType : ValueKind.Float64;
            int start = lp.Length;
            Escape(lp, s.Equipment);
            lp.Append(' ');
            Escape(lp, s.Tag);
            lp.Append('=');
            if (!AppendValue(lp, s, kind))
            {
                lp.Length = start;
                refused++;
                first ??= $"{s.Equipment}/{s.Tag}: value '{Describe(s)}' does not fit a {kind} tag";
                continue;
            }

            lp.Append(' ').Append(s.TimestampNs.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        if (lp.Length == 0)
        {
            return (0, refused, first);
        }

        var outcome = await ingest.WriteLineProtocolAsync(Encoding.UTF8.GetBytes(lp.ToString()), TimestampPrecision.Nanoseconds, ct);
        int rejected = outcome.RejectedTotal;
        return (samples.Count - refused - rejected, refused + rejected, first ?? (rejected > 0 ? outcome.Parse.FirstError ?? "refused by storage" : null));
    }

    private static string Describe(ConnectorSample s) => s.Text ?? (s.Flag is { } f ? (f ? "true" : "false") : s.IsInteger ? s.Integer.ToString(CultureInfo.InvariantCulture) : s.Number.ToString("R", CultureInfo.InvariantCulture));

    private static bool AppendValue(StringBuilder lp, ConnectorSample s, ValueKind kind)
    {
        double number;
        if (s.Text is { } text)
        {
            if (kind == ValueKind.String)
            {
                lp.Append('"').Append(text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal)).Append('"');
                return true;
            }

            if (kind == ValueKind.Bool && bool.TryParse(text, out bool b))
            {
                lp.Append(b ? "true" : "false");
                return true;
            }

            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out number))
            {
                return false;
            }
        }
        else if (s.Flag is { } flag)
        {
            number = flag ? 1 : 0;
        }
        else if (s.IsInteger)
        {
            number = s.Integer;
        }
        else
        {
            number = s.Number;
        }

        if (!double.IsFinite(number))
        {
            return false;
        }

        switch (kind)
        {
            case ValueKind.Int64:
                if (s.IsInteger)
                {
                    lp.Append(s.Integer.ToString(CultureInfo.InvariantCulture)).Append('i');
                    return true;
                }

                if (Math.Abs(number) >= 9.2e18)
                {
                    return false;
                }

                lp.Append(((long)Math.Round(number, MidpointRounding.AwayFromZero)).ToString(CultureInfo.InvariantCulture)).Append('i');
                return true;
            case ValueKind.Bool:
                lp.Append(number != 0 ? "true" : "false");
                return true;
            case ValueKind.String:
                lp.Append('"').Append(Describe(s)).Append('"');
                return true;
            default:
                lp.Append(number.ToString("R", CultureInfo.InvariantCulture));
                return true;
        }
    }

    private static void Escape(StringBuilder sb, string s)
    {
        foreach (char c in s)
        {
            if (c is ',' or ' ' or '=' or '\\')
            {
                sb.Append('\\');
            }

            sb.Append(c);
        }
    }
}
