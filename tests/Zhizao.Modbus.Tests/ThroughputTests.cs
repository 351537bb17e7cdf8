using System.Diagnostics;
using Xunit.Abstractions;
using Zhizao.Modbus;

namespace Zhizao.Modbus.Tests;

[CollectionDefinition(nameof(ThroughputTests), DisableParallelization = true)]
public sealed class ThroughputCollection;

/// <summary>
/// Register-group polls per second against pymodbus on loopback, with client and server CPU. Prints (asserts only a floor).
/// Run: dotnet test tests/Zhizao.Modbus.Tests -c Release --filter Throughput --logger "console;verbosity=detailed"
/// ZHIZAO_MODBUS_BENCH_SECONDS sets the measuring time per mode (default 2).
/// </summary>
[Collection(nameof(ThroughputTests))]
public sealed class ThroughputTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Throughput_of_register_group_polls_against_pymodbus()
    {
        double seconds = double.TryParse(Environment.GetEnvironmentVariable("ZHIZAO_MODBUS_BENCH_SECONDS"), out double s) ? s : 2;
        await using var server = await PymodbusServer.StartAsync();

        // one group: 10 points over 40 holding registers (float32, int32, float64 and int16, mixed orders) = one FC 3 request
        var points = new List<ModbusPoint>();
        for (int i = 0; i < 10; i++)
        {
            ModbusDataType type = (i % 4) switch { 0 => ModbusDataType.Float32, 1 => ModbusDataType.Int32, 2 => ModbusDataType.Float64, _ => ModbusDataType.Int16 };
            points.Add(new ModbusPoint($"p{i}", ModbusTable.HoldingRegister, (ushort)(i * 4), type) { ByteOrder = (ModbusByteOrder)(i % 4), Scale = type == ModbusDataType.Int16 ? 0.1 : 1 });
        }
        var plan = PollingPlan.Create(points);
        PollGroup group = Assert.Single(plan.Groups);
        Assert.Equal(38, group.Count);

        foreach (int concurrency in new[] { 1, 4 })
        {
            await using var client = PymodbusInteropTests.NewClient(server.Port, concurrency);
            for (int i = 0; i < 200; i++)
                await PollingPlan.ReadGroupAsync(client, group);

            Process self = Process.GetCurrentProcess();
            Process peer = server.Process;
            self.Refresh();
            peer.Refresh();
            TimeSpan clientCpu0 = self.TotalProcessorTime, serverCpu0 = peer.TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            long polls = 0;
            var deadline = TimeSpan.FromSeconds(seconds);
            async Task Loop()
            {
                while (sw.Elapsed < deadline)
                {
                    await PollingPlan.ReadGroupAsync(client, group);
                    Interlocked.Increment(ref polls);
                }
            }
            await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(Loop)));
            double elapsed = sw.Elapsed.TotalSeconds;
            self.Refresh();
            peer.Refresh();
            double clientCpu = (self.TotalProcessorTime - clientCpu0).TotalSeconds / elapsed * 100;
            double serverCpu = (peer.TotalProcessorTime - serverCpu0).TotalSeconds / elapsed * 100;
            string line = $"Modbus register-group polls (38 registers, 10 points) vs pymodbus {server.Version}, {concurrency} in flight: " +
                $"{polls / elapsed:F0} polls/s; client CPU {clientCpu:F0}% of a core (whole test process), server CPU {serverCpu:F0}% of a core";
            output.WriteLine(line);
            Console.WriteLine(line);
            Assert.True(polls / elapsed > 100, line);
        }
    }
}
