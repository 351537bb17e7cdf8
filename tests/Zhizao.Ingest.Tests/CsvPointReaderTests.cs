using System.Text;
using Zhizao.Core;
using Zhizao.Ingest;

namespace Zhizao.Ingest.Tests;

public class CsvPointReaderTests
{
    private static List<CsvBatch> Read(string csv, CsvImportOptions? options = null, Action<long, long>? progress = null)
        => CsvPointReader.ReadBatches(new MemoryStream(Encoding.UTF8.GetBytes(csv)), options, progress).ToList();

    [Fact]
    public void Wide_format_with_equipment_prefixes_tag_names_and_skips_empty_cells()
    {
        var batches = Read("timestamp,spindle_speed,state\n2026-01-01T00:00:00Z,1200,RUN\n1767225601,,IDLE\n", new CsvImportOptions { Equipment = "l1-cnc-01" });
        var samples = batches.SelectMany(b => b.Samples).ToList();
        Assert.Equal(
        [
            new Sample("l1-cnc-01/spindle_speed", 1767225600000000000, TagValue.FromDouble(1200)),
            new Sample("l1-cnc-01/state", 1767225600000000000, TagValue.FromString("RUN")),
            new Sample("l1-cnc-01/state", 1767225601000000000, TagValue.FromString("IDLE")),
        ], samples);
        Assert.Equal(2, batches.Sum(b => b.RowsAccepted));
    }

    [Fact]
    public void Wide_format_without_equipment_needs_full_series_keys()
    {
        var samples = Read("time,a/x,b/y\n1767225600000,1,true\n").SelectMany(b => b.Samples).ToList();
        Assert.Equal([new Sample("a/x", 1767225600000000000, TagValue.FromDouble(1)), new Sample("b/y", 1767225600000000000, TagValue.FromBool(true))], samples);
        var e = Assert.Throws<InvalidInputException>(() => Read("timestamp,spindle_speed\n1,2\n"));
        Assert.Contains("row 1: column 2: 'spindle_speed' is not a series key", e.Message);
    }

    [Fact]
    public void Long_format_is_detected_in_any_column_order()
    {
        var samples = Read("series,timestamp,value\r\nl1-cnc-01/spindle_speed,1767225600000000,1200.5\r\nl1-cnc-01/state,1767225600000000000,\"RUN, fast\"\r\n")
            .SelectMany(b => b.Samples).ToList();
        Assert.Equal([new Sample("l1-cnc-01/spindle_speed", 1767225600000000000, TagValue.FromDouble(1200.5)), new Sample("l1-cnc-01/state", 1767225600000000000, TagValue.FromString("RUN, fast"))], samples);
        Assert.Single(Read("value,series,timestamp\n1,a/b,1\n").SelectMany(b => b.Samples));
    }

    [Fact]
    public void Quoted_fields_keep_delimiters_doubled_quotes_and_newlines()
    {
        var samples = Read("series,timestamp,value\na/note,1,\"say \"\"hi\"\",\nthen go\"\n\"a/x\",2,3\n").SelectMany(b => b.Samples).ToList();
        Assert.Equal("say \"hi\",\nthen go", samples[0].Value.AsString);
        Assert.Equal(new Sample("a/x", 2_000_000_000, TagValue.FromDouble(3)), samples[1]);
    }

    [Theory]
    [InlineData("1700000000", 1700000000000000000L)]
    [InlineData("1700000000.25", 1700000000250000000L)]
    [InlineData("1700000000123", 1700000000123000000L)]
    [InlineData("1700000000123456", 1700000000123456000L)]
    [InlineData("1700000000123456789", 1700000000123456789L)]
    [InlineData("2023-11-14T22:13:20Z", 1700000000000000000L)]
    [InlineData("2023-11-15T06:13:20+08:00", 1700000000000000000L)]
    [InlineData("2023-11-14T22:13:20.5", 1700000000500000000L)]
    public void Timestamps_are_iso_or_unix_with_unit_from_magnitude(string text, long expected)
    {
        Assert.Null(CsvPointReader.ParseTimestamp(text, out long ns));
        Assert.Equal(expected, ns);
    }

    [Fact]
    public void Bad_rows_are_reported_by_row_and_column_and_the_rest_is_imported()
    {
        string csv = "timestamp,a/x,a/y\n" +
                     "1,1,2\n" +
                     "yesterday,1,2\n" +
                     "3,1\n" +
                     "-5,1,2\n" +
                     "6,\"unterminated,2\n";
        var batches = Read(csv);
        var errors = batches.SelectMany(b => b.Errors).ToList();
        Assert.Equal(2, batches.SelectMany(b => b.Samples).Count());
        Assert.Equal([3, 4, 5, 6], errors.Select(e => e.Position));
        Assert.StartsWith("row 3: column 1: bad timestamp 'yesterday'", errors[0].Reason);
        Assert.Equal("row 4: has 2 columns, the header has 3", errors[1].Reason);
        Assert.StartsWith("row 5: column 1: timestamp out of range", errors[2].Reason);
        Assert.Equal("row 6: column 2: unterminated quoted field", errors[3].Reason);
    }

    [Fact]
    public void Quote_in_unquoted_field_and_junk_after_closing_quote_are_row_errors()
    {
        var errors = Read("series,timestamp,value\na/b,1,ab\"c\na/b,2,\"x\"y\na/b,3,4\n").SelectMany(b => b.Errors).ToList();
        Assert.Equal(["row 2: column 3: quote inside an unquoted field", "row 3: column 3: unexpected 'y' after a closing quote"], errors.Select(e => e.Reason));
    }

    [Fact]
    public void Unknown_header_is_refused()
    {
        Assert.Contains("header must be", Assert.Throws<InvalidInputException>(() => Read("foo,bar\n1,2\n")).Message);
        Assert.Contains("empty", Assert.Throws<InvalidInputException>(() => Read("")).Message);
    }

    [Fact]
    public void Streaming_yields_batches_and_progress_reaches_the_total()
    {
        var sb = new StringBuilder("timestamp,a/x,a/y\n");
        for (int i = 0; i < 25_000; i++)
        {
            sb.Append(1_700_000_000 + i).Append(',').Append(i).Append(",1.5\n");
        }

        byte[] bytes = Encoding.UTF8.GetBytes(sb.ToString());
        var reports = new List<(long Read, long Total)>();
        var batches = CsvPointReader.ReadBatches(new MemoryStream(bytes), new CsvImportOptions { BatchSize = 10_000 }, (r, t) => reports.Add((r, t))).ToList();
        Assert.True(batches.Count >= 5);
        Assert.Equal(50_000, batches.Sum(b => b.Samples.Count));
        Assert.All(reports, r => Assert.Equal(bytes.Length, r.Total));
        Assert.Equal(bytes.Length, reports[^1].Read);
        Assert.True(reports.Select(r => r.Read).SequenceEqual(reports.Select(r => r.Read).Order()));
    }
}
