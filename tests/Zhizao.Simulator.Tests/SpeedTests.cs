using System.Diagnostics;
using Zhizao.Core;
using Xunit.Abstractions;
using static Zhizao.Simulator.Tests.SimHelpers;

namespace Zhizao.Simulator.Tests;

public class SpeedTests(ITestOutputHelper output)
{
    [Fact]
    public void Generating_a_plant_day_at_1_hz_takes_seconds()
    {
        var f = VirtualFactory.CreateDefault(1, Monday);
        var sw = Stopwatch.StartNew();
        long samples = 0;
        foreach (IReadOnlyList<Sample> batch in f.GenerateHistory(Monday, Monday + Day, Second))
        {
            samples += batch.Count;
        }

        sw.Stop();
        Assert.Equal(86_400L * f.SamplesPerStep, samples);
        string line = $"Simulator: 1 day at 1 Hz, {f.Machines.Count} machines, {samples:N0} samples in {sw.Elapsed.TotalSeconds:0.00} s = {samples / sw.Elapsed.TotalSeconds / 1e6:0.0} M samples/s";
        output.WriteLine(line);
        Console.WriteLine(line);

        var text = new System.Text.StringBuilder();
        var step = new List<Sample>();
        f.Step(f.CurrentNs + Second, step);
        sw.Restart();
        for (int i = 0; i < 1000; i++)
        {
            text.Clear();
            LineProtocol.Render(step, text);
        }

        sw.Stop();
        output.WriteLine($"Line protocol (string): {step.Count * 1000 / sw.Elapsed.TotalSeconds / 1e6:0.0} M fields/s, {text.Length} chars per plant step");
        var bytes = new System.Buffers.ArrayBufferWriter<byte>(8192);
        sw.Restart();
        for (int i = 0; i < 1000; i++)
        {
            bytes.ResetWrittenCount();
            LineProtocol.RenderUtf8(step, bytes);
        }

        sw.Stop();
        output.WriteLine($"Line protocol (UTF-8): {step.Count * 1000 / sw.Elapsed.TotalSeconds / 1e6:0.0} M fields/s");
    }
}
