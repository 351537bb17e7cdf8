using System.Buffers;
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

    /// <summary>
    /// Writes the lines for <paramref name="samples"/> as UTF-8 straight into <paramref name="destination"/> (the
    /// allocation-free path for publishers and benchmarks); same text as <see cref="Render(IReadOnlyList{Sample})"/>.
    /// Returns the number of lines.
    /// </summary>
    public static int RenderUtf8(IReadOnlyList<Sample> samples, IBufferWriter<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentNullException.ThrowIfNull(destination);
        var w = new Utf8Writer(destination);
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

                TagValue v = s.Value;
                if (v.Kind == ValueKind.Float64 && !double.IsFinite(v.AsDouble))
                {
                    continue;
                }

                if (!open)
                {
                    w.WriteEscaped(measurement, escapeEquals: false);
                    w.WriteByte((byte)' ');
                    open = true;
                }
                else
                {
                    w.WriteByte((byte)',');
                }

                w.WriteEscaped(s.SeriesKey.AsSpan(measurement.Length + 1), escapeEquals: true);
                w.WriteByte((byte)'=');
                switch (v.Kind)
                {
                    case ValueKind.Float64:
                        w.WriteDouble(v.AsDouble);
                        break;
                    case ValueKind.Int64:
                        w.WriteInt64(v.AsInt64);
                        w.WriteByte((byte)'i');
                        break;
                    case ValueKind.Bool:
                        w.WriteAscii(v.AsBool ? "true" : "false");
                        break;
                    default:
                        var sb = new StringBuilder();
                        AppendValue(sb, v);
                        w.WriteText(sb.ToString());
                        break;
                }
            }

            if (open)
            {
                w.WriteByte((byte)' ');
                w.WriteInt64(first.TimestampNs);
                w.WriteByte((byte)'\n');
                lines++;
            }

            i = j;
        }

        w.Flush();
        return lines;
    }

    /// <summary>Appends one field value in line-protocol form.</summary>
    public static void AppendValue(StringBuilder destination, TagValue value)
    {
        ArgumentNullException.ThrowIfNull(destination);
        switch (value.Kind)
        {
            case ValueKind.Float64:
                Span<byte> ascii = stackalloc byte[32];
                int n = FormatDouble(value.AsDouble, ascii);
                Span<char> chars = stackalloc char[32];
                for (int k = 0; k < n; k++)
                {
                    chars[k] = (char)ascii[k];
                }

                destination.Append(chars[..n]);
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

    /// <summary>
    /// Shortest round-trip text of a finite double (as "R" formats it), at least 32 bytes of room. Sensor values
    /// quantised to at most 4 decimals take a fast exact path; anything else goes to the runtime's formatter.
    /// </summary>
    internal static int FormatDouble(double value, Span<byte> destination)
    {
        double magnitude = Math.Abs(value);
        if (magnitude < 1e14 && (value != 0 || !double.IsNegative(value)))
        {
            for (int d = 0; d < Pow10.Length; d++)
            {
                double scale = Pow10[d];
                double m = Math.Round(magnitude * scale);
                if (m < 1e15 && m / scale == magnitude) // below 1e15 a d-decimal that round-trips is unique
                {
                    return WriteFixed(value < 0, (ulong)m, d, destination);
                }
            }
        }

        if (!value.TryFormat(destination, out int written, "R", CultureInfo.InvariantCulture))
        {
            ThrowNotFormattable(value);
        }

        return written;
    }

    private static readonly double[] Pow10 = [1, 10, 100, 1000, 10000];

    private static int WriteFixed(bool negative, ulong scaled, int decimals, Span<byte> destination)
    {
        Span<byte> digits = stackalloc byte[24];
        int count = 0;
        do
        {
            digits[count++] = (byte)('0' + (int)(scaled % 10));
            scaled /= 10;
        }
        while (scaled != 0 || count <= decimals);

        int at = 0;
        if (negative)
        {
            destination[at++] = (byte)'-';
        }

        for (int k = count - 1; k >= 0; k--)
        {
            destination[at++] = digits[k];
            if (k == decimals && decimals > 0)
            {
                destination[at++] = (byte)'.';
            }
        }

        return at;
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

    /// <summary>Writes into spans borrowed from an <see cref="IBufferWriter{T}"/>, advancing in chunks.</summary>
    private ref struct Utf8Writer(IBufferWriter<byte> output)
    {
        private Span<byte> _span;
        private int _used;

        public void WriteByte(byte b)
        {
            if (_used >= _span.Length)
            {
                Grow(1);
            }

            _span[_used++] = b;
        }

        public void WriteAscii(string text)
        {
            foreach (char c in text)
            {
                WriteByte((byte)c);
            }
        }

        public void WriteEscaped(ReadOnlySpan<char> text, bool escapeEquals)
        {
            foreach (char c in text)
            {
                if (c >= 0x80)
                {
                    var sb = new StringBuilder();
                    AppendEscaped(sb, text, escapeEquals);
                    WriteText(sb.ToString());
                    return;
                }
            }

            foreach (char c in text)
            {
                if (c is '\n' or '\r')
                {
                    throw new InvalidInputException("line breaks cannot appear in a measurement or field key", "line protocol");
                }

                if (c is ',' or ' ' || (escapeEquals && c == '='))
                {
                    WriteByte((byte)'\\');
                }

                WriteByte((byte)c);
            }
        }

        public void WriteText(string text)
        {
            int max = Encoding.UTF8.GetMaxByteCount(text.Length);
            if (_span.Length - _used < max)
            {
                Grow(max);
            }

            _used += Encoding.UTF8.GetBytes(text, _span[_used..]);
        }

        public void WriteDouble(double value)
        {
            if (_span.Length - _used < 32)
            {
                Grow(32);
            }

            _used += FormatDouble(value, _span[_used..]);
        }

        public void WriteInt64(long value)
        {
            if (_span.Length - _used < 20)
            {
                Grow(20);
            }

            value.TryFormat(_span[_used..], out int written, default, CultureInfo.InvariantCulture);
            _used += written;
        }

        public void Flush()
        {
            if (_used > 0)
            {
                output.Advance(_used);
            }

            _used = 0;
            _span = default;
        }

        private void Grow(int atLeast)
        {
            Flush();
            _span = output.GetSpan(Math.Max(atLeast, 4096));
        }
    }
}
