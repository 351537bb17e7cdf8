using Zhizao.Core;
using Zhizao.Storage.Engine;

namespace Zhizao.Storage.Tests;

public class CodecTests
{
    private static long[] RoundTripInts(long[] values, bool delta)
    {
        using var sink = new ByteSink();
        IntCodec.Encode(values, delta, sink);
        var back = new long[values.Length];
        int used = IntCodec.Decode(sink.Written, delta, back);
        Assert.Equal(sink.Length, used);
        return back;
    }

    private static long[] RoundTripFloats(long[] bits, out byte tag, out int bytes)
    {
        using var sink = new ByteSink();
        FloatCodec.Encode(bits, sink);
        tag = sink.Written[0];
        bytes = sink.Length;
        var back = new long[bits.Length];
        int used = FloatCodec.Decode(sink.Written, back);
        Assert.Equal(sink.Length, used);
        return back;
    }

    [Fact]
    public void Integer_stream_round_trips_extremes_and_huge_gaps()
    {
        long[] values = [0, long.MinValue, long.MaxValue, -1, 1, long.MaxValue, long.MinValue, 0, 42, 42, 42, long.MinValue + 1];
        Assert.Equal(values, RoundTripInts(values, delta: true));
        Assert.Equal(values, RoundTripInts(values, delta: false));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(127)]
    [InlineData(128)]
    [InlineData(129)]
    [InlineData(5000)]
    public void Integer_stream_round_trips_random_values_of_any_length(int n)
    {
        var rng = new Random(n);
        var values = new long[n];
        for (int i = 0; i < n; i++)
        {
            values[i] = (i % 3) switch
            {
                0 => rng.NextInt64(long.MinValue, long.MaxValue),
                1 => rng.Next(-100, 100),
                _ => i * 1_000_000_000L,
            };
        }

        Assert.Equal(values, RoundTripInts(values, delta: true));
        Assert.Equal(values, RoundTripInts(values, delta: false));
    }

    [Fact]
    public void Regular_timestamps_cost_almost_nothing()
    {
        var ts = new long[8192];
        for (int i = 0; i < ts.Length; i++)
        {
            ts[i] = 1_700_000_000_000_000_000L + (i * 1_000_000_000L);
        }

        using var sink = new ByteSink();
        IntCodec.Encode(ts, delta: true, sink);
        Assert.True(sink.Length < ts.Length / 16, $"{sink.Length} bytes for {ts.Length} timestamps");
        Assert.Equal(ts, RoundTripInts(ts, delta: true));
    }

    [Fact]
    public void Float_edge_values_round_trip_bit_for_bit()
    {
        double[] v =
        [
            double.NaN, double.PositiveInfinity, double.NegativeInfinity, -0.0, 0.0, double.Epsilon, -double.Epsilon,
            double.MaxValue, double.MinValue, 1e-300, 23.41, 23.41, BitConverter.Int64BitsToDouble(unchecked((long)0xFFF8_0000_0000_0001UL)),
        ];
        long[] bits = Array.ConvertAll(v, BitConverter.DoubleToInt64Bits);
        long[] back = RoundTripFloats(bits, out byte tag, out _);
        Assert.Equal(bits, back);
        Assert.Equal(FloatCodec.TagXor, tag);
    }

    [Fact]
    public void Random_doubles_round_trip_through_xor()
    {
        var rng = new Random(7);
        var bits = new long[3000];
        for (int i = 0; i < bits.Length; i++)
        {
            bits[i] = i % 2 == 0 ? BitConverter.DoubleToInt64Bits((rng.NextDouble() - 0.5) * 1e6) : rng.NextInt64();
        }

        Assert.Equal(bits, RoundTripFloats(bits, out _, out _));
    }

    [Fact]
    public void Quantised_values_use_the_decimal_encoding_and_round_trip_exactly()
    {
        var rng = new Random(3);
        var bits = new long[4096];
        double t = 23.4;
        for (int i = 0; i < bits.Length; i++)
        {
            t += (rng.Next(3) - 1) * 0.1;
            bits[i] = BitConverter.DoubleToInt64Bits(Math.Round(t, 1));
        }

        long[] back = RoundTripFloats(bits, out byte tag, out int bytes);
        Assert.Equal(bits, back);
        Assert.Equal(FloatCodec.TagDecimal, tag);
        Assert.True(bytes < bits.Length / 2, $"{bytes} bytes for {bits.Length} values");
    }

    [Fact]
    public void Negative_zero_among_decimals_falls_back_to_xor()
    {
        long[] bits = Array.ConvertAll(new[] { 1.5, -0.0, 2.25 }, BitConverter.DoubleToInt64Bits);
        Assert.Equal(bits, RoundTripFloats(bits, out byte tag, out _));
        Assert.Equal(FloatCodec.TagXor, tag);
    }

    [Fact]
    public void Chunks_of_every_kind_round_trip()
    {
        long[] ts = [5, 5, 7, 1_000_000_000_000, long.MaxValue];
        foreach (ValueKind kind in new[] { ValueKind.Float64, ValueKind.Int64, ValueKind.Bool, ValueKind.String })
        {
            long[] vals = kind switch
            {
                ValueKind.Float64 => Array.ConvertAll(new[] { 1.25, double.NaN, -3.5, 0.1, 1e10 }, BitConverter.DoubleToInt64Bits),
                ValueKind.Int64 => [long.MinValue, 0, 5, long.MaxValue, -7],
                ValueKind.Bool => [1, 0, 0, 1, 1],
                _ => [0, 0, 0, 0, 0],
            };
            string?[] texts = kind == ValueKind.String ? ["a", "béta", "a", "", "a"] : [];
            using var sink = new ByteSink();
            ChunkCodec.Encode(kind, ts, vals, texts, sink);
            var ts2 = new long[ts.Length];
            var vals2 = new long[ts.Length];
            var texts2 = new string?[ts.Length];
            ChunkCodec.Decode(kind, sink.Written, ts2, vals2, texts2);
            Assert.Equal(ts, ts2);
            Assert.Equal(vals, vals2);
            if (kind == ValueKind.String)
            {
                Assert.Equal(texts, texts2);
            }
        }
    }

    [Fact]
    public void Random_garbage_never_crashes_the_decoders()
    {
        var rng = new Random(11);
        for (int round = 0; round < 3000; round++)
        {
            var data = new byte[rng.Next(0, 64)];
            rng.NextBytes(data);
            var kind = (ValueKind)rng.Next(1, 5);
            int n = rng.Next(1, 300);
            try
            {
                ChunkCodec.Decode(kind, data, new long[n], new long[n], new string?[n]);
            }
            catch (InvalidDataException)
            {
            }
        }
    }
}
