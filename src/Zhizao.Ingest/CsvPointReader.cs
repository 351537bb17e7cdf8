using System.Globalization;
using System.Text;
using Zhizao.Core;

namespace Zhizao.Ingest;

public sealed class CsvImportOptions
{
    public static CsvImportOptions Default { get; } = new();

    /// <summary>Wide format only: header names are tag names of this equipment (<c>{Equipment}/{name}</c>).</summary>
    public string? Equipment { get; init; }

    /// <summary>Samples per yielded batch.</summary>
    public int BatchSize { get; init; } = 10_000;

    public char Delimiter { get; init; } = ',';

    /// <summary>Longest field in characters.</summary>
    public int MaxFieldLength { get; init; } = 64 * 1024;

    public int MaxColumns { get; init; } = 10_000;

    /// <summary>Row errors kept per batch (all are counted).</summary>
    public int MaxErrorsPerBatch { get; init; } = 1_000;
}

/// <summary>A slice of an import: the samples of accepted rows, the rejected rows, and how far the file has been read.</summary>
public sealed class CsvBatch
{
    public required IReadOnlyList<Sample> Samples { get; init; }

    /// <summary>Rejected rows; <see cref="IngestError.Position"/> is the 1-based row (the header is row 1).</summary>
    public required IReadOnlyList<IngestError> Errors { get; init; }

    public int RowsAccepted { get; init; }

    public int RowsRejected { get; init; }

    public long BytesRead { get; init; }
}

public enum CsvLayout
{
    /// <summary><c>timestamp,&lt;series or tag&gt;,...</c>: one row per time, one column per series.</summary>
    Wide,

    /// <summary><c>series,timestamp,value</c> (any column order): one row per point.</summary>
    Long,
}

/// <summary>
/// Streaming CSV import for <c>zhizao import</c> (RFC 4180: quoted fields, doubled quotes, CRLF or LF, newlines inside
/// quotes). The layout is detected from the header; see README.md for timestamps and value typing. A header that
/// fits neither layout throws <see cref="InvalidInputException"/>; a bad row is reported with its row and column and
/// skipped whole, and the import goes on.
/// </summary>
public static class CsvPointReader
{
    /// <summary>
    /// Reads <paramref name="stream"/> lazily in batches. <paramref name="progress"/> gets (bytes read, total bytes or
    /// -1 when the stream cannot tell) after every batch; the last call has bytes read equal to the total.
    /// </summary>
    public static IEnumerable<CsvBatch> ReadBatches(Stream stream, CsvImportOptions? options = null, Action<long, long>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        options ??= CsvImportOptions.Default;
        if (options.BatchSize <= 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(options), "BatchSize must be positive");
        }

        return ReadBatchesCore(stream, options, progress);
    }

    /// <summary>Detects the layout of a header row, or null when it fits neither.</summary>
    public static CsvLayout? DetectLayout(IReadOnlyList<string> header)
    {
        ArgumentNullException.ThrowIfNull(header);
        if (header.Count == 3 && FindColumn(header, "series") >= 0 && FindTimeColumn(header) >= 0 && FindColumn(header, "value") >= 0)
        {
            return CsvLayout.Long;
        }

        return header.Count >= 2 && IsTimeName(header[0]) ? CsvLayout.Wide : null;
    }

    private static IEnumerable<CsvBatch> ReadBatchesCore(Stream stream, CsvImportOptions options, Action<long, long>? progress)
    {
        long total = stream.CanSeek ? stream.Length - stream.Position : -1;
        using var counting = new CountingStream(stream);
        using var text = new StreamReader(counting, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, bufferSize: 64 * 1024, leaveOpen: true);
        var csv = new CsvRecordReader(text, options.Delimiter, options.MaxFieldLength, options.MaxColumns);
        var fields = new List<string>();

        int row = 0;
        string? headerError;
        while (true)
        {
            if (!csv.ReadRecord(fields, out headerError))
            {
                throw new InvalidInputException("the file is empty; expected a header row", "row 1");
            }

            row = csv.RecordNumber;
            if (!(fields.Count == 1 && fields[0].Length == 0))
            {
                break;
            }
        }

        if (headerError is not null)
        {
            throw new InvalidInputException(headerError, $"row {row}");
        }

        CsvLayout layout = DetectLayout(fields)
            ?? throw new InvalidInputException("header must be 'timestamp,<series or tag>,...' (wide) or 'series,timestamp,value' (long)", $"row {row}");

        string[] keys = [];
        int seriesColumn = 0, timeColumn = 0, valueColumn = 0;
        if (layout == CsvLayout.Wide)
        {
            keys = new string[fields.Count];
            for (int c = 1; c < fields.Count; c++)
            {
                keys[c] = WideKey(fields[c].Trim(), options.Equipment, row, c + 1);
                for (int d = 1; d < c; d++)
                {
                    if (keys[d] == keys[c])
                    {
                        throw new InvalidInputException($"column {c + 1}: duplicate series '{keys[c]}' (also column {d + 1})", $"row {row}");
                    }
                }
            }
        }
        else
        {
            seriesColumn = FindColumn(fields, "series");
            timeColumn = FindTimeColumn(fields);
            valueColumn = FindColumn(fields, "value");
        }

        int columns = fields.Count;
        var samples = new List<Sample>();
        var errors = new List<IngestError>();
        int accepted = 0, rejected = 0;
        var rowSamples = new List<Sample>();
        var seriesNames = new Dictionary<string, string>(StringComparer.Ordinal);

        while (csv.ReadRecord(fields, out string? recordError))
        {
            row = csv.RecordNumber;
            if (fields.Count == 1 && fields[0].Length == 0 && recordError is null)
            {
                continue; // blank line
            }

            string? error = recordError ?? (fields.Count != columns
                ? $"has {fields.Count} columns, the header has {columns}"
                : layout == CsvLayout.Wide
                    ? WideRow(fields, keys, rowSamples)
                    : LongRow(fields, seriesColumn, timeColumn, valueColumn, seriesNames, rowSamples));
            if (error is null)
            {
                samples.AddRange(rowSamples);
                accepted++;
            }
            else
            {
                rejected++;
                if (errors.Count < options.MaxErrorsPerBatch)
                {
                    errors.Add(new IngestError(row, $"row {row}: {error}"));
                }
            }

            rowSamples.Clear();
            if (samples.Count >= options.BatchSize)
            {
                progress?.Invoke(counting.BytesRead, total);
                yield return new CsvBatch { Samples = samples, Errors = errors, RowsAccepted = accepted, RowsRejected = rejected, BytesRead = counting.BytesRead };
                samples = [];
                errors = [];
                accepted = rejected = 0;
            }
        }

        progress?.Invoke(counting.BytesRead, total);
        yield return new CsvBatch { Samples = samples, Errors = errors, RowsAccepted = accepted, RowsRejected = rejected, BytesRead = counting.BytesRead };
    }

    private static string WideKey(string name, string? equipment, int row, int column)
    {
        if (name.Length == 0)
        {
            throw new InvalidInputException($"column {column}: empty column name", $"row {row}");
        }

        if (equipment is not null)
        {
            if (name.Contains('/'))
            {
                throw new InvalidInputException($"column {column}: '{name}' contains '/'; with --equipment columns are tag names", $"row {row}");
            }

            string key = SeriesKey.ForTag(equipment, name);
            return key.Length <= SeriesKey.MaxLength ? key : throw new InvalidInputException($"column {column}: series key longer than {SeriesKey.MaxLength}", $"row {row}");
        }

        if (!SeriesKey.TrySplit(name, out _, out _) || name.Length > SeriesKey.MaxLength)
        {
            throw new InvalidInputException($"column {column}: '{name}' is not a series key like 'l1-cnc-01/spindle_speed'; name the equipment (--equipment) to use tag names", $"row {row}");
        }

        return name;
    }

    private static string? WideRow(List<string> fields, string[] keys, List<Sample> output)
    {
        string? error = ParseTimestamp(fields[0], out long t);
        if (error is not null)
        {
            return $"column 1: {error}";
        }

        for (int c = 1; c < fields.Count; c++)
        {
            if (fields[c].Length == 0)
            {
                continue; // sparse: no value for this series at this time
            }

            output.Add(new Sample(keys[c], t, ParseValue(fields[c])));
        }

        return null;
    }

    private static string? LongRow(List<string> fields, int seriesColumn, int timeColumn, int valueColumn,
        Dictionary<string, string> seriesNames, List<Sample> output)
    {
        string series = fields[seriesColumn].Trim();
        if (!SeriesKey.TrySplit(series, out _, out _) || series.Length > SeriesKey.MaxLength)
        {
            return $"column {seriesColumn + 1}: '{Truncate(series)}' is not a series key like 'l1-cnc-01/spindle_speed'";
        }

        string? error = ParseTimestamp(fields[timeColumn], out long t);
        if (error is not null)
        {
            return $"column {timeColumn + 1}: {error}";
        }

        if (fields[valueColumn].Length == 0)
        {
            return $"column {valueColumn + 1}: missing value";
        }

        if (!seriesNames.TryGetValue(series, out string? interned))
        {
            interned = series;
            if (seriesNames.Count < 100_000)
            {
                seriesNames[series] = series;
            }
        }

        output.Add(new Sample(interned, t, ParseValue(fields[valueColumn])));
        return null;
    }

    /// <summary>Numbers become Float64 (JSON-like), true/false (any case) Bool, anything else String.</summary>
    internal static TagValue ParseValue(string text)
    {
        ReadOnlySpan<char> s = text.AsSpan().Trim();
        if (s.Length > 0 && (char.IsAsciiDigit(s[0]) || s[0] is '-' or '+' or '.')
            && double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d))
        {
            return TagValue.FromDouble(d);
        }

        if (s.Equals("true", StringComparison.OrdinalIgnoreCase))
        {
            return TagValue.FromBool(true);
        }

        if (s.Equals("false", StringComparison.OrdinalIgnoreCase))
        {
            return TagValue.FromBool(false);
        }

        return TagValue.FromString(text);
    }

    /// <summary>
    /// ISO 8601 (an offset or Z; without one, UTC), or a Unix time whose unit follows from its magnitude: below 1e11
    /// seconds, below 1e14 milliseconds, below 1e17 microseconds, else nanoseconds. Fractions are allowed
    /// ("1700000000.25" is a quarter second past).
    /// </summary>
    internal static string? ParseTimestamp(string text, out long ns)
    {
        ns = 0;
        ReadOnlySpan<char> s = text.AsSpan().Trim();
        if (s.IsEmpty)
        {
            return "missing timestamp";
        }

        if (char.IsAsciiDigit(s[0]) && s.IndexOfAny('-', ':', 'T') < 0)
        {
            if (long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out long whole))
            {
                return Timestamps.TryScale(whole, Timestamps.AutoUnit(whole), out ns) ? null : $"{Timestamps.RangeMessage}: '{Truncate(text)}'";
            }

            if (decimal.TryParse(s, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out decimal number))
            {
                decimal scaled = number * Timestamps.AutoUnit((long)Math.Min(Math.Truncate(number), long.MaxValue));
                if (scaled > long.MaxValue)
                {
                    return $"{Timestamps.RangeMessage}: '{Truncate(text)}'";
                }

                ns = (long)scaled;
                return null;
            }

            return $"bad timestamp '{Truncate(text)}'";
        }

        if (s[0] == '-' && long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _))
        {
            return $"{Timestamps.RangeMessage}: '{Truncate(text)}'";
        }

        if (!DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out DateTimeOffset t))
        {
            return $"bad timestamp '{Truncate(text)}': expected ISO 8601 (2026-01-01T00:00:00Z) or Unix s/ms/us/ns";
        }

        return Timestamps.TryFromDateTimeOffset(t, out ns) ? null : $"{Timestamps.RangeMessage}: '{Truncate(text)}'";
    }

    private static int FindColumn(IReadOnlyList<string> header, string name)
    {
        for (int i = 0; i < header.Count; i++)
        {
            if (header[i].Trim().Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }

        return -1;
    }

    private static int FindTimeColumn(IReadOnlyList<string> header)
    {
        for (int i = 0; i < header.Count; i++)
        {
            if (IsTimeName(header[i]))
            {
                return i;
            }
        }

        return -1;
    }

    private static bool IsTimeName(string name)
    {
        ReadOnlySpan<char> s = name.AsSpan().Trim();
        return s.Equals("timestamp", StringComparison.OrdinalIgnoreCase) || s.Equals("time", StringComparison.OrdinalIgnoreCase);
    }

    private static string Truncate(string s) => s.Length <= 64 ? s : string.Concat(s.AsSpan(0, 64), "…");

    private sealed class CountingStream(Stream inner) : Stream
    {
        public long BytesRead { get; private set; }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => BytesRead; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            int n = inner.Read(buffer, offset, count);
            BytesRead += n;
            return n;
        }

        public override int Read(Span<byte> buffer)
        {
            int n = inner.Read(buffer);
            BytesRead += n;
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

/// <summary>A small RFC 4180 record reader over a <see cref="TextReader"/>; lenient about bare CR/LF line ends.</summary>
internal sealed class CsvRecordReader(TextReader reader, char delimiter, int maxFieldLength, int maxColumns)
{
    private readonly char[] _buffer = new char[16 * 1024];
    private readonly StringBuilder _field = new();
    private int _length;
    private int _pos;
    private bool _eof;

    /// <summary>1-based number of the record last read.</summary>
    public int RecordNumber { get; private set; }

    /// <summary>Reads one record into <paramref name="fields"/>; false at end of input. A malformed record still consumes its text and sets <paramref name="error"/>.</summary>
    public bool ReadRecord(List<string> fields, out string? error)
    {
        fields.Clear();
        error = null;
        if (Peek() < 0)
        {
            return false;
        }

        RecordNumber++;
        while (true)
        {
            _field.Clear();
            int column = fields.Count + 1;
            int c = Peek();
            bool endOfRecord;
            if (c == '"')
            {
                Next();
                endOfRecord = ReadQuoted(column, ref error);
            }
            else
            {
                endOfRecord = ReadUnquoted(column, ref error);
            }

            if (fields.Count < maxColumns)
            {
                fields.Add(_field.ToString());
            }
            else
            {
                error ??= $"more than {maxColumns} columns (MaxColumns)";
            }

            if (endOfRecord)
            {
                return true;
            }
        }
    }

    private bool ReadUnquoted(int column, ref string? error)
    {
        while (true)
        {
            int c = Next();
            if (c < 0)
            {
                return true;
            }

            if (c == delimiter)
            {
                return false;
            }

            if (c is '\n' or '\r')
            {
                SkipLineFeedAfter(c);
                return true;
            }

            if (c == '"')
            {
                error ??= $"column {column}: quote inside an unquoted field";
            }

            Append((char)c, column, ref error);
        }
    }

    private bool ReadQuoted(int column, ref string? error)
    {
        while (true)
        {
            int c = Next();
            if (c < 0)
            {
                error ??= $"column {column}: unterminated quoted field";
                return true;
            }

            if (c == '"')
            {
                if (Peek() == '"')
                {
                    Next();
                    Append('"', column, ref error);
                    continue;
                }

                // Closing quote: a delimiter or the end of the record must follow.
                int after = Next();
                if (after < 0)
                {
                    return true;
                }

                if (after == delimiter)
                {
                    return false;
                }

                if (after is '\n' or '\r')
                {
                    SkipLineFeedAfter(after);
                    return true;
                }

                error ??= $"column {column}: unexpected '{(char)after}' after a closing quote";
                Append((char)after, column, ref error);
                return ReadUnquoted(column, ref error);
            }

            Append((char)c, column, ref error);
        }
    }

    private void Append(char c, int column, ref string? error)
    {
        if (_field.Length < maxFieldLength)
        {
            _field.Append(c);
        }
        else
        {
            error ??= $"column {column}: field longer than {maxFieldLength} characters (MaxFieldLength)";
        }
    }

    private void SkipLineFeedAfter(int c)
    {
        if (c == '\r' && Peek() == '\n')
        {
            Next();
        }
    }

    private int Peek()
    {
        if (_pos == _length && !Fill())
        {
            return -1;
        }

        return _buffer[_pos];
    }

    private int Next()
    {
        if (_pos == _length && !Fill())
        {
            return -1;
        }

        return _buffer[_pos++];
    }

    private bool Fill()
    {
        if (_eof)
        {
            return false;
        }

        _length = reader.Read(_buffer, 0, _buffer.Length);
        _pos = 0;
        _eof = _length == 0;
        return !_eof;
    }
}
