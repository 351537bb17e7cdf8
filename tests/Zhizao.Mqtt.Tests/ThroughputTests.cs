using System.Buffers;
using System.Diagnostics;
using System.Text;
using Xunit.Abstractions;
using Zhizao.Mqtt;

namespace Zhizao.Mqtt.Tests;

/// <summary>
/// Decode + encode of typical telemetry PUBLISH packets, single-threaded. Run:
/// dotnet test tests/Zhizao.Mqtt.Tests -c Release --filter Throughput --logger "console;verbosity=detailed"
/// </summary>
public class ThroughputTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(MqttProtocolVersion.V311)]
    [InlineData(MqttProtocolVersion.V500)]
    public void Throughput_of_publish_decode_and_encode(MqttProtocolVersion version)
    {
        var publish = new MqttPublishPacket
        {
            Topic = "zhizao/plant1/line1/l1-cnc-01/spindle_speed",
            QoS = MqttQoS.AtLeastOnce,
            PacketId = 1,
            Payload = Encoding.UTF8.GetBytes("{\"ts\":1763781234567000000,\"v\":1203.5,\"q\":\"good\"}"),
            Properties = version == MqttProtocolVersion.V500
                ? new MqttProperties { ContentType = "application/json", UserProperties = [new("unit", "rpm")] }
                : null,
        };
        var writer = new MqttPacketWriter(version);
        var reader = new MqttPacketReader(version);
        var buffer = new ArrayBufferWriter<byte>(1024);
        int size = writer.Write(publish, buffer);
        var bytes = buffer.WrittenMemory.ToArray();
        double decode = Rate(() =>
        {
            var seq = new ReadOnlySequence<byte>(bytes);
            if (!reader.TryRead(ref seq, out _))
                Assert.Fail("need more");
        });
        double encode = Rate(() =>
        {
            buffer.ResetWrittenCount();
            writer.Write(publish, buffer);
        });
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        long n = 0;
        double perSecond = Rate(() =>
        {
            var seq = new ReadOnlySequence<byte>(buffer.WrittenMemory);
            if (!reader.TryRead(ref seq, out var packet))
                Assert.Fail("need more");
            buffer.ResetWrittenCount();
            writer.Write(packet, buffer);
            n++;
        });
        long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        output.WriteLine($"MQTT {version} PUBLISH ({size} bytes): {perSecond:N0} decode+encode/s " +
            $"(decode alone {decode:N0}/s, encode alone {encode:N0}/s), {allocated / n} bytes allocated per decode+encode");
        Assert.True(perSecond > 10_000);
    }

    private static double Rate(Action op)
    {
        for (int i = 0; i < 10_000; i++)
            op();
        long n = 0;
        var sw = Stopwatch.StartNew();
        while (sw.ElapsedMilliseconds < 1500)
        {
            for (int i = 0; i < 1000; i++)
                op();
            n += 1000;
        }
        return n / sw.Elapsed.TotalSeconds;
    }
}
