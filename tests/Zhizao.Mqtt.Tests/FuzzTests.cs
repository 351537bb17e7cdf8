using System.Buffers;
using System.Diagnostics;
using Xunit.Abstractions;
using Zhizao.Mqtt;

namespace Zhizao.Mqtt.Tests;

/// <summary>
/// Mutated and random packets: the reader may only return a packet, ask for more, or throw MqttProtocolException; a
/// packet it accepts must re-encode to a fixed point (decode, encode, decode, encode gives the same bytes). Runs
/// 1,000,000 inputs (capped at 60 s); ZHIZAO_FUZZ_SECONDS=N runs for N seconds instead. A failure prints the input
/// as hex: add it to <see cref="Regressions"/>. ZHIZAO_FUZZ_SEED=N replays a run (the seed is printed).
/// </summary>
public class FuzzTests(ITestOutputHelper output)
{
    private static readonly MqttLimits FuzzLimits = new() { MaximumPacketSize = 64 * 1024, ValidateUtf8Payloads = true };

    public static TheoryData<string, MqttProtocolVersion> Regressions => new()
    {
        // inputs that once broke the reader or the round trip go here, as hex (none found so far; 19M inputs run)
        { "30", MqttProtocolVersion.V500 },
    };

    [Theory]
    [MemberData(nameof(Regressions))]
    public void Fuzz_regressions_stay_fixed(string hex, MqttProtocolVersion version) =>
        Assert.Null(Check(Convert.FromHexString(hex), version, multiSegment: false));

    [Fact]
    public void Fuzz_mutated_and_random_packets_never_crash_the_reader()
    {
        string? env = Environment.GetEnvironmentVariable("ZHIZAO_FUZZ_SECONDS");
        bool timed = int.TryParse(env, out int seconds) && seconds > 0;
        long target = timed ? long.MaxValue : 1_000_000;
        var limit = TimeSpan.FromSeconds(timed ? seconds : 60);
        int seed = int.TryParse(Environment.GetEnvironmentVariable("ZHIZAO_FUZZ_SEED"), out int fixedSeed) ? fixedSeed : Environment.TickCount;
        output.WriteLine($"seed {seed}");
        var rnd = new Random(seed);

        var pool = new List<(byte[] Bytes, MqttProtocolVersion Version)>();
        var gen = new PacketGenerator(seed);
        foreach (var v in new[] { MqttProtocolVersion.V311, MqttProtocolVersion.V500 })
            for (int i = 0; i < 2000; i++)
                pool.Add((PacketGenerator.Encode(gen.Next(v), v), v));

        var sw = Stopwatch.StartNew();
        long count = 0, accepted = 0, needMore = 0, rejected = 0;
        var buffer = new byte[512];
        while (count < target && ((count & 1023) != 0 || sw.Elapsed < limit))
        {
            var (source, version) = pool[rnd.Next(pool.Count)];
            var input = Mutate(rnd, source, pool);
            count++;
            string? failure = Check(input, version, multiSegment: (count & 15) == 0, ref accepted, ref needMore, ref rejected);
            if (failure is not null)
                Assert.Fail($"{failure}\ninput ({version}): {Convert.ToHexString(input)}");
        }
        sw.Stop();
        output.WriteLine($"fuzz: {count:N0} inputs in {sw.Elapsed.TotalSeconds:F1} s ({count / sw.Elapsed.TotalSeconds:N0}/s): " +
            $"{accepted:N0} accepted, {needMore:N0} need more, {rejected:N0} protocol errors");
        Assert.True(timed || count >= 1_000_000, $"only {count:N0} inputs in {limit.TotalSeconds} s");
        Assert.True(accepted > 0 && rejected > 0 && needMore > 0);
    }

    internal static byte[] Mutate(Random rnd, byte[] source, List<(byte[] Bytes, MqttProtocolVersion Version)> pool)
    {
        switch (rnd.Next(8))
        {
            case 0: // bit flips
            {
                var b = (byte[])source.Clone();
                int flips = rnd.Next(1, 4);
                for (int i = 0; i < flips; i++)
                    b[rnd.Next(b.Length)] ^= (byte)(1 << rnd.Next(8));
                return b;
            }
            case 1: // truncation
                return source[..rnd.Next(source.Length)];
            case 2: // remaining length corrupted
            {
                var b = (byte[])source.Clone();
                if (b.Length > 1)
                    b[1 + rnd.Next(Math.Min(4, b.Length - 1))] = (byte)rnd.Next(256);
                return b;
            }
            case 3: // a string or property length corrupted: overwrite a byte pair anywhere in the body
            {
                var b = (byte[])source.Clone();
                if (b.Length > 3)
                {
                    int at = rnd.Next(2, b.Length - 1);
                    b[at] = (byte)rnd.Next(3);
                    b[at + 1] = (byte)rnd.Next(256);
                }
                return b;
            }
            case 4: // insert or delete a byte, keeping the header
            {
                var list = source.ToList();
                int at = rnd.Next(Math.Min(2, list.Count), list.Count + 1);
                if (rnd.Next(2) == 0 || at == list.Count)
                    list.Insert(at, (byte)rnd.Next(256));
                else
                    list.RemoveAt(at);
                return [.. list];
            }
            case 5: // random body behind a plausible fixed header
            {
                var b = new byte[rnd.Next(2, 48)];
                rnd.NextBytes(b);
                b[0] = (byte)((rnd.Next(16) << 4) | (rnd.Next(4) == 0 ? rnd.Next(16) : b[0] >> 4 is 6 or 8 or 10 ? 2 : 0));
                b[1] = (byte)(b.Length - 2);
                return b;
            }
            case 6: // fully random
            {
                var b = new byte[rnd.Next(0, 40)];
                rnd.NextBytes(b);
                return b;
            }
            default: // splice two packets
            {
                var other = pool[rnd.Next(pool.Count)].Bytes;
                int a = rnd.Next(source.Length + 1), o = rnd.Next(other.Length + 1);
                return [.. source.AsSpan(0, a), .. other.AsSpan(o)];
            }
        }
    }

    private static string? Check(byte[] input, MqttProtocolVersion version, bool multiSegment)
    {
        long a = 0, n = 0, r = 0;
        return Check(input, version, multiSegment, ref a, ref n, ref r);
    }

    private static string? Check(byte[] input, MqttProtocolVersion version, bool multiSegment, ref long accepted, ref long needMore, ref long rejected)
    {
        var reader = new MqttPacketReader(version, FuzzLimits);
        MqttPacket? packet;
        try
        {
            bool ok;
            if (multiSegment)
            {
                var seq = Segment.Split(input, input.Length / 3, input.Length / 2);
                long before = seq.Length;
                ok = reader.TryRead(ref seq, out packet);
                if (!ok && seq.Length != before)
                    return "need-more consumed bytes";
            }
            else
            {
                ok = reader.TryRead(input, out packet, out _);
            }
            if (!ok)
            {
                needMore++;
                return null;
            }
        }
        catch (MqttProtocolException ex)
        {
            rejected++;
            // the code must be one a server can send: in DISCONNECT, or in CONNACK when refusing a CONNECT
            bool sendable = MqttReasonCodes.IsValidFor(MqttPacketType.Disconnect, ex.ReasonCode)
                || (input.Length > 0 && input[0] >> 4 == 1 && MqttReasonCodes.IsValidFor(MqttPacketType.ConnAck, ex.ReasonCode));
            return sendable ? null : $"reason code {ex.ReasonCode} cannot be sent for this error: {ex.Message}";
        }
        catch (Exception ex)
        {
            return $"reader threw {ex.GetType().Name}: {ex.Message}";
        }
        accepted++;
        var decoded = packet!;
        var decodedVersion = reader.ProtocolVersion;
        try
        {
            var writer = new MqttPacketWriter(decodedVersion);
            var canonical = writer.ToArray(decoded);
            var again = new MqttPacketReader(decodedVersion, FuzzLimits);
            if (!again.TryRead(canonical, out var packet2, out int consumed) || consumed != canonical.Length)
                return "re-encoded packet did not decode whole";
            if (!canonical.AsSpan().SequenceEqual(writer.ToArray(packet2)))
                return "decode → encode → decode → encode changed the bytes";
        }
        catch (Exception ex)
        {
            return $"round trip of an accepted {decoded.Type} threw {ex.GetType().Name}: {ex.Message}";
        }
        return null;
    }
}
