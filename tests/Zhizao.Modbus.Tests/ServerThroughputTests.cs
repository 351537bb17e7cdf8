using System.Diagnostics;
using Xunit.Abstractions;
using Zhizao.Modbus.Server;

namespace Zhizao.Modbus.Tests;

/// <summary>
/// Register-group polls per second against OUR server and against pymodbus in the same run, printed with the ratio
/// (asserts only a floor). Our server runs in the test process, so its CPU is in the test process figure.
/// Run: dotnet test tests/Zhizao.Modbus.Tests -c Release --filter ServerThroughput --logger "console;verbosity=detailed"
/// </summary>
[Collection(nameof(ThroughputTests))]
public sealed class ServerThroughputTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Our_server_against_pymodbus_in_the_same_run()
    {
        double seconds = double.TryParse(Environment.GetEnvironmentVariable("ZHIZAO_MODBUS_BENCH_SECONDS"), out double s) ? s : 2;
        var points = Enumerable.Range(0, 10).Select(i =>
        {
            ModbusDataType type = (i % 4) switch { 0 => ModbusDataType.Float32, 1 => ModbusDataType.Int32, 2 => ModbusDataType.Float64, _ => ModbusDataType.Int16 };
            return new ModbusPoint($"p{i}", ModbusTable.HoldingRegister, (ushort)(i * 4), type) { ByteOrder = (ModbusByteOrder)(i % 4) };
        }).ToList();
        PollGroup group = Assert.Single(PollingPlan.Create(points).Groups);

        await using var ours = new ModbusTcpServer(new ModbusTcpServerOptions { Port = 0 });
        ours.AddUnit(new ModbusUnit(1, holdingRegisters: 1000));
        ours.Start();
        await using var pymodbus = await PymodbusServer.StartAsync();

        foreach (int concurrency in new[] { 1, 4 })
        {
            var (oursRate, oursCpu, _) = await MeasureAsync(ours.Port, null, group, concurrency, seconds);
            var (peerRate, clientCpu, peerCpu) = await MeasureAsync(pymodbus.Port, pymodbus.Process, group, concurrency, seconds);
            string line = $"Modbus polls (38 registers, 10 points), {concurrency} in flight: our server {oursRate:F0} polls/s " +
                $"(test process = client + our server {oursCpu:F0}% of a core); pymodbus {pymodbus.Version} {peerRate:F0} polls/s " +
                $"(client {clientCpu:F0}%, pymodbus {peerCpu:F0}%); ratio ours/pymodbus {oursRate / peerRate:F2}";
            output.WriteLine(line);
            Console.WriteLine(line);
            Assert.True(oursRate > 100, line);
            Assert.Equal(0, ours.BadFrames);
        }
    }

    private static async Task<(double Rate, double ClientCpu, double PeerCpu)> MeasureAsync(int port, Process? peer, PollGroup group, int concurrency, double seconds)
    {
        await using var client = PymodbusInteropTests.NewClient(port, concurrency);
        for (int i = 0; i < 200; i++)
            await PollingPlan.ReadGroupAsync(client, group);
        Process self = Process.GetCurrentProcess();
        self.Refresh();
        peer?.Refresh();
        TimeSpan self0 = self.TotalProcessorTime, peer0 = peer?.TotalProcessorTime ?? TimeSpan.Zero;
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
        peer?.Refresh();
        return (polls / elapsed, (self.TotalProcessorTime - self0).TotalSeconds / elapsed * 100,
            peer is null ? 0 : (peer.TotalProcessorTime - peer0).TotalSeconds / elapsed * 100);
    }
}
