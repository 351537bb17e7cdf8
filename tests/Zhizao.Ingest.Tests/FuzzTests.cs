using System.Diagnostics;
using System.Text;
using Zhizao.Core;
using Zhizao.Ingest;

namespace Zhizao.Ingest.Tests;

/// <summary>Mutation fuzzing, bounded in time: hostile bytes only ever produce handled rejections.</summary>
public class FuzzTests
{
    private static IEnumerable<byte[]> Mutations(string[] seeds, byte[] alphabet, int seed, int max, TimeSpan budget)
    {
        var random = new Random(seed);
        var stopwatch = Stopwatch.StartNew();
        for (int n = 0; n < max && stopwatch.Elapsed < budget; n++)
        {
            byte[] input = Encoding.UTF8.GetBytes(seeds[random.Next(seeds.Length)]);
            int mutations = random.Next(1, 5);
            for (int m = 0; m < mutations && input.Length > 0; m++)
            {
                int at = random.Next(input.Length);
                switch (random.Next(4))
                {
                    case 0:
                        input[at] = (byte)random.Next(256);
                        break;
                    case 1:
                        input = [.. input[..at], .. input[(at + 1)..]];
                        break;
                    default:
                        input[at] = alphabet[random.Next(alphabet.Length)];
                        break;
                }
            }

            yield return input;
        }
    }

    [Fact]
    public void Line_protocol_ingest_through_the_cache_never_throws_on_mutated_bodies()
    {
        var store = new FakeStore();
        var cache = new SeriesKeyCache(store.Resolve);
        var parser = new LineProtocolParser();
        var points = new List<(int, long, TagValue)>();
        string[] seeds =
        [
            "cpu,host=a,region=eu usage=1.5,idle=98i,ok=t,msg=\"hi\" 1700000000000000000\ncpu,host=a,region=eu usage=\"x\" 1",
            "l1-cnc-01 spindle_speed=1200,state=2i\nl1-cnc-01 spindle_speed=1201u 1700000000",
        ];
        int count = 0;
        foreach (byte[] body in Mutations(seeds, "abc=, \"\\\n#-.019eiutf"u8.ToArray(), 7, 50_000, TimeSpan.FromSeconds(3)))
        {
            var writer = new ListWriter(points);
            IngestResult result = parser.Ingest(body, TimestampPrecision.Seconds, 0, cache, ref writer);
            Assert.All(result.Errors, e => Assert.StartsWith($"line {e.Position}: ", e.Reason));
            points.Clear();
            count++;
        }

        Assert.True(count > 100);
    }

    [Fact]
    public void Json_batches_never_throw_anything_but_invalid_input_on_mutated_bodies()
    {
        var store = new FakeStore();
        var cache = new SeriesKeyCache(store.ResolveKindAware);
        var parser = new JsonBatchParser();
        var points = new List<(int, long, TagValue)>();
        string[] seeds =
        [
            """{"points":[{"series":"l1-cnc-01/spindle_speed","t":"2026-01-01T00:00:00Z","v":1200.5},{"equipment":"l1-cnc-01","t":1767225600000000000,"values":{"spindle_speed":1200,"state":"RUN","ok":true}}]}""",
            """{"points":[{"series":"a/b","v":"x"},{"series":"a/b","v":false},[],{"equipment":"e","values":{}}]}""",
        ];
        int count = 0;
        foreach (byte[] body in Mutations(seeds, "{}[]\",:/0123456789.eE-tfnT"u8.ToArray(), 11, 50_000, TimeSpan.FromSeconds(3)))
        {
            var writer = new ListWriter(points);
            try
            {
                IngestResult result = parser.Ingest(body, 0, cache, ref writer);
                Assert.All(result.Errors, e => Assert.StartsWith($"item {e.Position} ($.points[{e.Position}]", e.Reason));
            }
            catch (InvalidInputException)
            {
                Assert.Empty(points);
            }

            points.Clear();
            count++;
        }

        Assert.True(count > 100);
    }

    [Fact]
    public void Csv_import_never_throws_anything_but_invalid_input_on_mutated_files()
    {
        string[] seeds =
        [
            "timestamp,a/x,a/y\n2026-01-01T00:00:00Z,1,\"q,\"\"x\"\n1767225601,,true\n",
            "series,timestamp,value\r\na/b,1700000000000,1.5\r\n\"a/c\",1700000000,\"multi\nline\"\r\n",
        ];
        int count = 0;
        foreach (byte[] file in Mutations(seeds, ",\"\n\r/0123456789:-TZ."u8.ToArray(), 13, 20_000, TimeSpan.FromSeconds(3)))
        {
            try
            {
                foreach (CsvBatch batch in CsvPointReader.ReadBatches(new MemoryStream(file)))
                {
                    Assert.All(batch.Errors, e => Assert.StartsWith($"row {e.Position}: ", e.Reason));
                }
            }
            catch (InvalidInputException)
            {
            }

            count++;
        }

        Assert.True(count > 100);
    }

    [Fact]
    public void Invalid_utf8_in_a_series_key_is_rejected_per_line()
    {
        var cache = new SeriesKeyCache(new FakeStore().Resolve);
        var points = new List<(int, long, TagValue)>();
        var writer = new ListWriter(points);
        byte[] body = [(byte)'m', 0xFF, .. " f=1\nm f=2"u8.ToArray()];
        IngestResult result = new LineProtocolParser().Ingest(body, TimestampPrecision.Nanoseconds, 0, cache, ref writer);
        Assert.Single(points);
        Assert.Equal("line 1: field 'f': series key is not valid UTF-8", result.FirstError);
    }
}
