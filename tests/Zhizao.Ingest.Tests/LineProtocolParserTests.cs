using System.Diagnostics;
using System.Text;
using Zhizao.Core;
using Zhizao.Ingest;

namespace Zhizao.Ingest.Tests;

public class LineProtocolParserTests
{
    private static ParsedPoint Single(string body, TimestampPrecision precision = TimestampPrecision.Nanoseconds)
    {
        var sink = CollectingSink.Parse(body, precision);
        Assert.Empty(sink.Rejected);
        return Assert.Single(sink.Points);
    }

    private static string Rejection(string body, int expectedLine = 1, LineProtocolOptions? options = null)
    {
        var sink = CollectingSink.Parse(body, options: options);
        Assert.Empty(sink.Points);
        var (line, reason) = Assert.Single(sink.Rejected);
        Assert.Equal(expectedLine, line);
        Assert.StartsWith($"line {expectedLine}: ", reason);
        return reason;
    }

    [Fact]
    public void Reference_example_with_tags_fields_and_timestamp_gives_one_point_per_field()
    {
        var sink = CollectingSink.Parse("myMeasurement,tag1=value1,tag2=value2 fieldKey=\"fieldValue\",temp=21.5 1556813561098000000");
        Assert.Empty(sink.Rejected);
        Assert.Equal(2, sink.Points.Count);
        Assert.Equal(new ParsedPoint("myMeasurement,tag1=value1,tag2=value2/fieldKey", TagValue.FromString("fieldValue"), 1556813561098000000, 1), sink.Points[0]);
        Assert.Equal(new ParsedPoint("myMeasurement,tag1=value1,tag2=value2/temp", TagValue.FromDouble(21.5), 1556813561098000000, 1), sink.Points[1]);
    }

    [Fact]
    public void Equipment_convention_maps_measurement_and_field_to_the_tag_series()
    {
        Assert.Equal("l1-cnc-01/spindle_speed", Single("l1-cnc-01 spindle_speed=1200 1700000000000000000").Key);
    }

    [Theory]
    [InlineData("m f=1.5", 1.5)]
    [InlineData("m f=-1.5", -1.5)]
    [InlineData("m f=1e3", 1000.0)]
    [InlineData("m f=-1.5E-3", -0.0015)]
    [InlineData("m f=1", 1.0)]
    [InlineData("m f=0.1", 0.1)]
    [InlineData("m f=.5", 0.5)]
    [InlineData("m f=123456789012345678901234567890", 1.2345678901234568E+29)]
    [InlineData("m f=3.141592653589793238", 3.141592653589793)]
    public void Float_fields_parse_decimal_and_exponent_forms(string body, double expected)
    {
        ParsedPoint p = Single(body);
        Assert.Equal(ValueKind.Float64, p.Value.Kind);
        Assert.Equal(expected, p.Value.AsDouble);
    }

    [Theory]
    [InlineData("m f=42i", 42L)]
    [InlineData("m f=-42i", -42L)]
    [InlineData("m f=9223372036854775807i", long.MaxValue)]
    [InlineData("m f=-9223372036854775808i", long.MinValue)]
    [InlineData("m f=42u", 42L)]
    [InlineData("m f=9223372036854775807u", long.MaxValue)]
    public void Integer_and_unsigned_fields_become_int64(string body, long expected)
    {
        ParsedPoint p = Single(body);
        Assert.Equal(TagValue.FromInt64(expected), p.Value);
    }

    [Theory]
    [InlineData("t", true)]
    [InlineData("T", true)]
    [InlineData("true", true)]
    [InlineData("True", true)]
    [InlineData("TRUE", true)]
    [InlineData("f", false)]
    [InlineData("F", false)]
    [InlineData("false", false)]
    [InlineData("False", false)]
    [InlineData("FALSE", false)]
    public void Boolean_spellings_are_accepted(string literal, bool expected)
    {
        Assert.Equal(TagValue.FromBool(expected), Single($"m f={literal}").Value);
    }

    [Theory]
    [InlineData("tRUE")]
    [InlineData("tr")]
    [InlineData("fals")]
    public void Other_boolean_spellings_are_rejected(string literal)
    {
        Assert.Contains("invalid boolean", Rejection($"m f={literal}"));
    }

    [Fact]
    public void String_fields_unescape_quotes_and_backslashes_and_keep_other_characters()
    {
        ParsedPoint p = Single("m s=\"a \\\"quoted\\\" \\\\ path, with = signs \\n\" 1");
        Assert.Equal("a \"quoted\" \\ path, with = signs \\n", p.Value.AsString);
    }

    [Fact]
    public void Escaped_commas_spaces_and_equals_stay_in_the_series_key_as_written()
    {
        ParsedPoint p = Single("my\\ meas\\,ure,ta\\ g=va\\,l\\=ue fi\\=eld\\ key=1i");
        Assert.Equal("my\\ meas\\,ure,ta\\ g=va\\,l\\=ue/fi\\=eld\\ key", p.Key);
    }

    [Theory]
    [InlineData("measurement\\ with\\ spaces,tag\\ key\\ with\\ spaces=tag\\,value\\,with\"commas\" field_key\\\\\\\\=\"string field value, only \\\" need be escaped\"",
        "measurement\\ with\\ spaces,tag\\ key\\ with\\ spaces=tag\\,value\\,with\"commas\"/field_key\\\\\\\\", "string field value, only \" need be escaped")]
    [InlineData("myMeasurement fieldKey=\"\\\"string\\\" within a string\"", "myMeasurement/fieldKey", "\"string\" within a string")]
    [InlineData("measurement\\,with\\,commas,tag\\=key=tag\\=value fieldKey=\"\"", "measurement\\,with\\,commas,tag\\=key=tag\\=value/fieldKey", "")]
    [InlineData("m,path=C:\\Windows f=\"C:\\Windows\\\\\"", "m,path=C:\\Windows/f", "C:\\Windows\\")]
    public void Influx_reference_escaping_examples_parse(string body, string expectedKey, string expectedText)
    {
        ParsedPoint p = Single(body);
        Assert.Equal(expectedKey, p.Key);
        Assert.Equal(expectedText, p.Value.AsString);
    }

    [Fact]
    public void Canonicalised_tags_keep_their_escapes()
    {
        Assert.Equal("m\\,x,a=1,b=x\\ y/f", Single("m\\,x,b=x\\ y,a=1 f=1").Key);
    }

    [Fact]
    public void Tag_count_limit_is_named()
    {
        Assert.Contains("MaxTagsPerLine", Rejection("m,a=1,b=2,c=3 f=1", options: new LineProtocolOptions { MaxTagsPerLine = 2 }));
    }

    [Theory]
    [InlineData(TimestampPrecision.Nanoseconds, "1700000000123456789", 1700000000123456789L)]
    [InlineData(TimestampPrecision.Microseconds, "1700000000123456", 1700000000123456000L)]
    [InlineData(TimestampPrecision.Milliseconds, "1700000000123", 1700000000123000000L)]
    [InlineData(TimestampPrecision.Seconds, "1700000000", 1700000000000000000L)]
    public void Timestamps_are_scaled_by_precision(TimestampPrecision precision, string ts, long expectedNs)
    {
        Assert.Equal(expectedNs, Single($"m f=1 {ts}", precision).TimestampNs);
    }

    [Fact]
    public void Missing_timestamp_takes_the_callers_now()
    {
        Assert.Equal(42, Single("m f=1").TimestampNs);
        Assert.Equal(42, Single("m f=1   ").TimestampNs);
    }

    [Fact]
    public void Comments_blank_lines_and_crlf_are_tolerated_and_line_numbers_count_them()
    {
        var sink = CollectingSink.Parse("# comment\r\n\r\n   \r\nm f=1 5\r\nm f=2 6\r\n# end\n\nm,a=b g=3i\r\n");
        Assert.Empty(sink.Rejected);
        Assert.Equal([4, 5, 8], sink.Points.Select(p => p.Line));
        Assert.Equal(["m/f", "m/f", "m,a=b/g"], sink.Points.Select(p => p.Key));
    }

    [Fact]
    public void Unsorted_tags_are_canonicalised_to_the_same_series_as_sorted_ones()
    {
        var sink = CollectingSink.Parse("cpu,z=1,host=a,b=2 v=1\ncpu,b=2,host=a,z=1 v=2\ncpu,host=a,z=1,b=2 v=3");
        Assert.Empty(sink.Rejected);
        Assert.All(sink.Points, p => Assert.Equal("cpu,b=2,host=a,z=1/v", p.Key));
    }

    [Fact]
    public void Multiple_fields_per_line_share_prefix_and_timestamp()
    {
        var sink = CollectingSink.Parse("weather,location=us-midwest temperature=82,humidity=71i,raining=f,note=\"ok\" 1465839830100400200");
        Assert.Equal(4, sink.Points.Count);
        Assert.All(sink.Points, p => Assert.Equal(1465839830100400200, p.TimestampNs));
        Assert.Equal([ValueKind.Float64, ValueKind.Int64, ValueKind.Bool, ValueKind.String], sink.Points.Select(p => p.Value.Kind));
    }

    [Theory]
    [InlineData("cpu", "missing field set")]
    [InlineData("cpu,host=a", "missing field set")]
    [InlineData("cpu,host=a ", "missing field set")]
    [InlineData(",host=a f=1", "missing measurement")]
    [InlineData("cpu,=a f=1", "empty tag key")]
    [InlineData("cpu,host f=1", "tag key 'host' has no '='")]
    [InlineData("cpu,host= f=1", "tag 'host': missing tag value")]
    [InlineData("cpu,host=a=b f=1", "unescaped '='")]
    [InlineData("cpu,host=a,host=b f=1", "duplicate tag key 'host'")]
    [InlineData("cpu,z=1,host=a,z=2 f=1", "duplicate tag key 'z'")]
    [InlineData("cpu f", "field key 'f' has no '='")]
    [InlineData("cpu f=", "field 'f': missing value")]
    [InlineData("cpu =1", "empty field key")]
    [InlineData("cpu f=1,f=2", "duplicate field key 'f'")]
    [InlineData("cpu f=1,", "empty field key")]
    [InlineData("cpu temp=12.3.4", "field 'temp': invalid number '12.3.4' at column 10")]
    [InlineData("cpu f=abc", "field 'f': invalid number 'abc'")]
    [InlineData("cpu f=NaN", "NaN")]
    [InlineData("cpu f=Infinity", "invalid number")]
    [InlineData("cpu f=1e400", "NaN and infinite")]
    [InlineData("cpu f=12ai", "invalid integer")]
    [InlineData("cpu f=9223372036854775808i", "integer out of the Int64 range")]
    [InlineData("cpu f=-9223372036854775809i", "integer out of the Int64 range")]
    [InlineData("cpu f=9223372036854775808u", "above the Int64 maximum")]
    [InlineData("cpu f=-1u", "invalid unsigned integer")]
    [InlineData("cpu f=\"abc", "field 'f': unterminated string starting at column 7")]
    [InlineData("cpu f=\"abc\\\"", "unterminated string")]
    [InlineData("cpu f=\"abc\"x", "after the closing quote")]
    [InlineData("cpu f=1 abc", "invalid timestamp 'abc'")]
    [InlineData("cpu f=1 12 13", "unexpected data after the timestamp")]
    [InlineData("cpu f=1 -1", "timestamp out of range")]
    [InlineData("cpu f=1 99999999999999999999", "invalid timestamp")]
    public void Malformed_lines_are_rejected_with_a_reason_naming_what_and_where(string body, string expected)
    {
        Assert.Contains(expected, Rejection(body));
    }

    [Fact]
    public void Seconds_precision_overflow_is_rejected_as_out_of_range()
    {
        var sink = CollectingSink.Parse("m f=1 9300000000", TimestampPrecision.Seconds);
        Assert.Contains("line 1: timestamp out of range", Assert.Single(sink.Rejected).Reason);
    }

    [Fact]
    public void Error_reason_has_the_documented_shape()
    {
        var sink = CollectingSink.Parse("m a=1\nm b=2\nm c=3\nm d=4\nm e=5\nm f=6\nm,x=y temp=12.3.4 1\n");
        Assert.Equal(6, sink.Points.Count);
        Assert.Equal((7, "line 7: field 'temp': invalid number '12.3.4' at column 12"), Assert.Single(sink.Rejected));
    }

    [Fact]
    public void Partial_write_keeps_good_lines_and_reports_each_bad_line_by_number()
    {
        string body = string.Join('\n',
            "m,a=1 v=1 1",
            "m,a=1 v=oops 2",
            "m,a=1 v=3 3",
            "m,a=1 v=4,w=\"broken 4",
            "m,a=1 v=5 5",
            "garbage");
        var sink = CollectingSink.Parse(body);
        Assert.Equal([1L, 3L, 5L], sink.Points.Select(p => p.TimestampNs));
        Assert.Equal([2, 4, 6], sink.Rejected.Select(r => r.Line));
    }

    [Fact]
    public void A_bad_field_rejects_the_whole_line_not_only_that_field()
    {
        var sink = CollectingSink.Parse("m good=1,bad=x,also=2");
        Assert.Empty(sink.Points);
        Assert.Single(sink.Rejected);
    }

    [Fact]
    public void Line_over_the_length_limit_is_rejected_and_the_next_line_still_parses()
    {
        string huge = "m f=\"" + new string('x', 70_000) + "\"";
        var sink = CollectingSink.Parse(huge + "\nm f=1");
        Assert.Single(sink.Points);
        var (line, reason) = Assert.Single(sink.Rejected);
        Assert.Equal(1, line);
        Assert.Contains("longer than the limit of 65536 (MaxLineLength)", reason);
    }

    [Fact]
    public void Field_and_key_length_limits_are_named()
    {
        var options = new LineProtocolOptions { MaxFieldsPerLine = 2, MaxKeyLength = 20 };
        Assert.Contains("MaxFieldsPerLine", Rejection("m a=1,b=2,c=3", options: options));
        Assert.Contains("MaxKeyLength", Rejection("measurement,tag=value field=1", options: options));
    }

    [Fact]
    public void Tabs_and_extra_spaces_between_sections_are_tolerated()
    {
        Assert.Equal(7, Single("  m,a=b   f=1i    7  ").TimestampNs);
    }

    [Fact]
    public void Random_and_mutated_inputs_never_throw_and_every_line_is_accounted_for()
    {
        var random = new Random(12345);
        var parser = new LineProtocolParser(new LineProtocolOptions { MaxLineLength = 512 });
        string[] seeds =
        [
            "cpu,host=a,region=eu usage=1.5,idle=98i,ok=t,msg=\"hi \\\"x\\\"\" 1700000000000000000",
            "my\\ m,t\\=k=v\\,x f\\ k=-1.5E-3,u=42u 1",
            "m f=\"a\\\\b\"\r\n# c\n\nm,b=1,a=2 x=1",
        ];
        byte[] alphabet = "abc=, \"\\\n\r#-.0123456789eEiutfTF"u8.ToArray();
        var stopwatch = Stopwatch.StartNew();
        int iterations = 0;
        while (iterations < 200_000 && stopwatch.Elapsed < TimeSpan.FromSeconds(5))
        {
            byte[] input;
            if (iterations % 4 == 0)
            {
                input = new byte[random.Next(0, 64)];
                random.NextBytes(input);
            }
            else
            {
                input = Encoding.UTF8.GetBytes(seeds[random.Next(seeds.Length)]);
                int mutations = random.Next(1, 6);
                for (int m = 0; m < mutations && input.Length > 0; m++)
                {
                    int at = random.Next(input.Length);
                    input[at] = random.Next(3) == 0 ? (byte)random.Next(256) : alphabet[random.Next(alphabet.Length)];
                }

                if (random.Next(5) == 0)
                {
                    input = input[..random.Next(input.Length + 1)];
                }
            }

            var sink = new CountingSink();
            parser.Parse(input, (TimestampPrecision)random.Next(4), 1, ref sink);
            int lines = input.Length == 0 ? 0 : input.Count(b => b == (byte)'\n') + (input[^1] == (byte)'\n' ? 0 : 1);
            Assert.True(sink.Accepted + sink.Rejected <= lines);
            iterations++;
        }

        Assert.True(iterations > 1000);
    }

    internal struct CountingSink : ILineProtocolSink
    {
        public int Accepted;
        public int Rejected;
        public long Fields;

        public void OnLine(in LineProtocolLine line)
        {
            Accepted++;
            Fields += line.FieldCount;
        }

        public void OnLineRejected(int lineNumber, string reason)
        {
            Assert.StartsWith($"line {lineNumber}: ", reason);
            Rejected++;
        }
    }
}
