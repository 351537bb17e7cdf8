using System.Buffers;
using System.Globalization;
using System.Text;
using Zhizao.Core;
using static Zhizao.Simulator.Tests.SimHelpers;

namespace Zhizao.Simulator.Tests;

public class LineProtocolTests
{
    [Fact]
    public void Samples_of_one_machine_and_time_render_as_one_line()
    {
        Sample[] samples =
        [
            new("l1-cnc-01/spindle_speed", 1_700_000_000_000_000_000, TagValue.FromDouble(1200)),
            new("l1-cnc-01/state", 1_700_000_000_000_000_000, TagValue.FromInt64(2)),
            new("l1-cnc-01/coolant_temp", 1_700_000_000_000_000_000, TagValue.FromDouble(23.4)),
            new("l1-cnc-02/state", 1_700_000_000_000_000_000, TagValue.FromInt64(1)),
            new("l1-cnc-01/state", 1_700_000_001_000_000_000, TagValue.FromInt64(0)),
        ];
        Assert.Equal(
            "l1-cnc-01 spindle_speed=1200,state=2i,coolant_temp=23.4 1700000000000000000\n" +
            "l1-cnc-02 state=1i 1700000000000000000\n" +
            "l1-cnc-01 state=0i 1700000001000000000\n",
            LineProtocol.Render(samples));
    }

    [Fact]
    public void Special_characters_are_escaped()
    {
        Sample[] samples =
        [
            new("my plant,a/odd key=x", 5, TagValue.FromString("say \"hi\" \\ bye")),
            new("my plant,a/on", 5, TagValue.FromBool(true)),
            new("my plant,a/off", 5, TagValue.FromBool(false)),
        ];
        Assert.Equal(
            "my\\ plant\\,a odd\\ key\\=x=\"say \\\"hi\\\" \\\\ bye\",on=true,off=false 5\n",
            LineProtocol.Render(samples));
    }

    [Fact]
    public void Non_finite_floats_are_skipped_and_a_line_without_fields_is_dropped()
    {
        Sample[] samples =
        [
            new("m/a", 1, TagValue.FromDouble(double.NaN)),
            new("m/b", 1, TagValue.FromDouble(2.5)),
            new("n/a", 1, TagValue.FromDouble(double.PositiveInfinity)),
        ];
        Assert.Equal("m b=2.5 1\n", LineProtocol.Render(samples));
    }

    [Fact]
    public void A_key_without_a_field_is_invalid_input()
    {
        Assert.Throws<InvalidInputException>(() => LineProtocol.Render([new Sample("nofield", 1, TagValue.FromInt64(1))]));
    }

    [Fact]
    public void Numbers_round_trip_exactly()
    {
        var rng = new SimRandom(99);
        var values = new List<double> { 0, 0.1, 0.2, 0.30000000000000004, 1e-300, 5e-324, double.MaxValue, -double.MaxValue, 123456789.123, -0.01, 1e21, 1.7976931348623157e308 };
        for (int i = 0; i < 5000; i++)
        {
            values.Add(BitConverter.Int64BitsToDouble((long)rng.NextUInt64()) is double d && double.IsFinite(d) ? d : rng.NextDouble());
            values.Add(Math.Round(rng.Uniform(-1000, 1000) * 100) / 100);
        }

        var samples = values.Select((v, i) => new Sample($"m{i}/v", i, TagValue.FromDouble(v))).ToList();
        samples.Add(new Sample("ints/v", 1, TagValue.FromInt64(long.MinValue)));
        samples.Add(new Sample("ints/w", 1, TagValue.FromInt64(long.MaxValue)));
        string[] lines = LineProtocol.Render(samples).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(samples.Count - 1, lines.Length);
        for (int i = 0; i < values.Count; i++)
        {
            string field = lines[i].Split(' ')[1];
            double parsed = double.Parse(field["v=".Length..], CultureInfo.InvariantCulture);
            Assert.Equal(BitConverter.DoubleToInt64Bits(values[i]), BitConverter.DoubleToInt64Bits(parsed));
        }

        Assert.Equal($"ints v={long.MinValue}i,w={long.MaxValue}i 1", lines[^1]);
    }

    [Fact]
    public void A_plant_step_renders_one_line_per_machine_with_every_tag()
    {
        var f = VirtualFactory.CreateDefault(1, Monday + (9 * Hour));
        var samples = new List<Sample>();
        f.Step(f.StartNs, samples);
        string[] lines = LineProtocol.Render(samples).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(f.Machines.Count, lines.Length);
        for (int i = 0; i < lines.Length; i++)
        {
            string[] parts = lines[i].Split(' ');
            Assert.Equal(3, parts.Length);
            Assert.Equal(f.Machines[i].Id, parts[0]);
            Assert.Equal(f.Machines[i].Tags.Count, parts[1].Split(',').Length);
            Assert.Equal(f.StartNs.ToString(CultureInfo.InvariantCulture), parts[2]);
            Assert.Contains("state=", parts[1]);
        }
    }

    [Fact]
    public void Utf8_renderer_writes_the_same_text_as_the_string_renderer()
    {
        var f = VirtualFactory.CreateDefault(2, Monday + (9 * Hour));
        var samples = new List<Sample>();
        for (int i = 0; i < 30; i++)
        {
            f.Step(f.StartNs + (i * Second), samples);
        }

        samples.Add(new Sample("héllo wörld,x/clé=1", 7, TagValue.FromString("naïve \"q\" \\")));
        samples.Add(new Sample("héllo wörld,x/b", 7, TagValue.FromBool(false)));
        samples.Add(new Sample("n/nan", 8, TagValue.FromDouble(double.NaN)));
        var writer = new ArrayBufferWriter<byte>(16); // tiny, to exercise growth
        int lines = LineProtocol.RenderUtf8(samples, writer);
        Assert.Equal(LineProtocol.Render(samples), Encoding.UTF8.GetString(writer.WrittenSpan));
        Assert.Equal((30 * f.Machines.Count) + 1, lines);
    }

    [Fact]
    public void Floats_are_written_exactly_as_shortest_round_trip_R_format()
    {
        var rng = new SimRandom(7);
        var values = new List<double> { 0, -0.0, 1e-4, 1e-5, 0.1, 99999999999999.9, 123456789012345.6, 1e15, 1e16, -1e22, 5e-324, 0.30000000000000004 };
        for (int i = 0; i < 20_000; i++)
        {
            double scale = Math.Pow(10, (int)(rng.NextDouble() * 5));
            values.Add(Math.Round(rng.Uniform(-1e6, 1e6) * scale) / scale);
            values.Add(rng.Uniform(-1000, 1000));
            values.Add(Math.Round(rng.Uniform(-1, 1) * 1e4) / 1e4 * Math.Pow(10, (int)(rng.NextDouble() * 16)));
        }

        foreach (double v in values)
        {
            string expected = $"m v={v.ToString("R", CultureInfo.InvariantCulture)} 1\n";
            Assert.Equal(expected, LineProtocol.Render([new Sample("m/v", 1, TagValue.FromDouble(v))]));
            var w = new ArrayBufferWriter<byte>();
            LineProtocol.RenderUtf8([new Sample("m/v", 1, TagValue.FromDouble(v))], w);
            Assert.Equal(expected, Encoding.UTF8.GetString(w.WrittenSpan));
        }
    }
}
