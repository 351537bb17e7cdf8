using System.Runtime.InteropServices;
using Zhizao.Bench;
using Zhizao.Bench.Storage;

// Verbs: `storage` (default) — this engine vs SQLite, PostgreSQL and InfluxDB; `http` — end-to-end line-protocol ingest;
// `mqtt` — broker vs mosquitto; `mqtt-ingest` — MQTT (JSON, Sparkplug B) → stored points beside HTTP; `console` — web console load.
if (args.Length > 0 && args[0] == "http")
{
    return await Zhizao.Bench.Http.HttpIngestBench.RunAsync(args[1..], CancellationToken.None);
}

if (args.Length > 0 && args[0] == "console")
{
    return await Zhizao.Bench.WebConsole.ConsoleLoadBench.RunAsync(args[1..]);
}

if (args.Length > 0 && args[0] == "mqtt-ingest")
{
    return await Zhizao.Bench.Mqtt.MqttIngestBench.RunAsync(args[1..]);
}

if (args.Length > 0 && args[0] == "mqtt")
{
    return await Zhizao.Bench.Mqtt.MqttBench.RunAsync(args[1..]);
}

if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine(Zhizao.Bench.WebConsole.ConsoleLoadBench.Usage);
    Console.WriteLine(BenchOptions.Usage);
    Console.WriteLine(Zhizao.Bench.Http.HttpIngestBench.Usage);
    Console.WriteLine(Zhizao.Bench.Mqtt.MqttBench.Usage);
    Console.WriteLine(Zhizao.Bench.Mqtt.MqttIngestBench.Usage);
    return 0;
}

BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 2;
}

using var cts = new CancellationTokenSource();

// Ctrl+C and SIGTERM cancel the run instead of killing the process, so the finally blocks stop PostgreSQL and
// InfluxDB and remove the temporary data.
void Cancel(PosixSignalContext context)
{
    context.Cancel = true;
    Console.Error.WriteLine($"{context.Signal}: cancelling, stopping servers…");
    cts.Cancel();
}

using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Cancel);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Cancel);

try
{
    return await new StorageBenchmark(options).RunAsync(cts.Token);
}
catch (OperationCanceledException) when (cts.IsCancellationRequested)
{
    Console.Error.WriteLine("cancelled");
    return 130;
}
