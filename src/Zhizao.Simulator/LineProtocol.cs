using System.Globalization;
using System.Text;
using Zhizao.Core;

namespace Zhizao.Simulator;

/// <summary>
/// Renders samples as InfluxDB line protocol, the same text real equipment and gateways POST to
/// <c>/api/v2/write?precision=ns</c>. Consecutive samples of one measurement (the series key before its last '/')
/// at one timestamp become one line: <c>l1-cnc-01 state=2i,spindle_speed=8000,... 1700000000000000000</c>.
/// Floats are written in shortest round-trip form, integers with an <c>i</c> suffix, booleans as
/// <c>true</c>/<c>false</c>, strings quoted with <c>"</c> and <c>\</c> escaped. Non-finite floats have no line
/// protocol form and are skipped.
/// </summary>
public static class LineProtocol
{
    /// <summary>Renders <paramref name="samples"/> to a new string, one '\n'-terminated line per measurement and time.</summary>
    public static string Render(IReadOnlyList<Sample> samples)
    {
        var sb = new StringBuilder(samples.Count * 24);
        Render(samples, sb);
        return sb.ToString();
    }

    /// <summary>Appends the lines for <paramref name="samples"/> to <paramref name="destination"/>; returns the number of lines.</summary>
    public static int Render(IReadOnlyList<Sample> samples, StringBuilder destination)
    {
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentNullException.ThrowIfNull(destination);
        int lines = 0;
        int i = 0;
        while (i < samples.Count)
        {
            Sample first = samples[i];
            ReadOnlySpan<char> measurement = MeasurementOf(first.SeriesKey, i);
            bool open = false;
            int j = i;
            for (; j < samples.Count; j++)
            {
                Sample s = samples[j];
                if (s.TimestampNs != first.TimestampNs || !MeasurementOf(s.SeriesKey, j).SequenceEqual(measurement))
                {
                    break;
                }

                if (s.Value.Kind == ValueKind.Float64 && !double.IsFinite(s.Value.AsDouble))
                {
                    continue;
                }

                if (!open)
                {
                    AppendEscaped(destination, measurement, escapeEquals: false);
                    destination.Append(' ');
                    open = true;
                }
                else
                {
                    destination.Append(',');
                }

                AppendEscaped(destination, s.SeriesKey.AsSpan(measurement.Length + 1), escapeEquals: true);
                destination.Append('=');
                AppendValue(destination, s.Value);
            }

            if (open)
            {
                destination.Append(' ').Append(first.TimestampNs).Append('\n');
                lines++;
            }

            i = j;
        }

        return lines;
    }

    /// <summary>Appends one field value in line-protocol form.</summary>
    public static void AppendValue(StringBuilder destination, TagValue value)
    {
        ArgumentNullException.ThrowIfNull(destination);
        switch (value.Kind)
        {
            case ValueKind.Float64:
                Span<char> buffer = stackalloc char[32];
                if (!value.AsDouble.TryFormat(buffer, out int written, "R", CultureInfo.InvariantCulture))
                {
                    ThrowNotFormattable(value.AsDouble);
                }

                destination.Append(buffer[..written]);
                break;
            case ValueKind.Int64:
                destination.Append(value.AsInt64).Append('i');
                break;
            case ValueKind.Bool:
                destination.Append(value.AsBool ? "true" : "false");
                break;
            default:
                destination.Append('"');
                foreach (char c in value.AsString ?? string.Empty)
                {
                    if (c is '"' or '\\')
                    {
                        destination.Append('\\');
                    }

                    destination.Append(c);
                }

                destination.Append('"');
                break;
        }
    }

    private static ReadOnlySpan<char> MeasurementOf(string seriesKey, int index)
    {
        int slash = seriesKey.LastIndexOf('/');
        if (slash <= 0 || slash == seriesKey.Length - 1)
        {
            throw new InvalidInputException($"series key '{seriesKey}' is not '{{measurement}}/{{field}}'", $"sample {index}");
        }

        return seriesKey.AsSpan(0, slash);
    }

    /// <summary>Escapes commas and spaces (and '=' in field keys); line breaks cannot be escaped and are rejected.</summary>
    private static void AppendEscaped(StringBuilder destination, ReadOnlySpan<char> text, bool escapeEquals)
    {
        foreach (char c in text)
        {
            if (c is '\n' or '\r')
            {
                throw new InvalidInputException("line breaks cannot appear in a measurement or field key", "line protocol");
            }

            if (c is ',' or ' ' || (escapeEquals && c == '='))
            {
                destination.Append('\\');
            }

            destination.Append(c);
        }
    }

    private static void ThrowNotFormattable(double value) =>
        throw new InvalidOperationException($"Could not format {value} for line protocol.");
}
