using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Zhizao.Alarms;
using Zhizao.Core;
using Zhizao.Hosting;
using Zhizao.Simulator;
using Zhizao.Storage.Metadata;

namespace Zhizao.Demo;

/// <summary>
/// The virtual factory demo: registers the plant's asset model, then publishes its signals to this node's own
/// line-protocol endpoint over HTTP, exactly as real equipment or Telegraf would.
/// </summary>
internal sealed partial class DemoService(
    MetadataStore meta,
    AlarmService alarms,
    DemoPlant plant,
    DemoHistory history,
    PlatformOptions options,
    IHostApplicationLifetime lifetime,
    IServer server,
    ILogger<DemoService> logger) : BackgroundService
{
    public const string StartFaultMachine = "l1-comp-01";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!await WaitStartedAsync(stoppingToken))
        {
            return;
        }

        var factory = VirtualFactory.CreateDefault(options.DemoSeed, Time.NowNs());
        meta.Import(new AssetModelDocument { Types = [.. factory.Types], Assets = [.. factory.Assets] });
        if (alarms.Rules.Count == 0)
        {
            foreach (var rule in DemoRules.For(factory.Types))
            {
                alarms.SaveRule(rule);
            }
        }

        await history.WriteAsync(factory, stoppingToken); // before the live feed: the store refuses points far behind a series' newest
        plant.Factory = factory;
        if (options.DemoStartFaultMinutes > 0)
        {
            var fault = factory.InjectFault(StartFaultMachine, FaultKind.BearingWear, TimeSpan.FromMinutes(options.DemoStartFaultMinutes));
            LogStartFault(logger, fault.Description, StartFaultMachine, options.DemoStartFaultMinutes);
        }

        string self = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? PlatformOptions.DefaultUrl;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var publisher = new LineProtocolPublisher(factory, http, new LineProtocolPublisherOptions
        {
            BaseUrl = new Uri(self),
            Token = options.ApiToken,
            Interval = TimeSpan.FromSeconds(1 / Math.Clamp(options.DemoRateHz, 0.01, 1000)),
        }, message => LogPublisher(logger, message));
        LogStarted(logger, factory.Machines.Count, factory.Types.Count, self);
        try
        {
            await publisher.RunAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task<bool> WaitStartedAsync(CancellationToken ct)
    {
        var started = new TaskCompletionSource();
        using var reg1 = lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        using var reg2 = ct.Register(() => started.TrySetCanceled(ct));
        try
        {
            await started.Task;
        }
        catch (OperationCanceledException)
        {
            return false;
        }

        return true;
    }

    [LoggerMessage(EventId = 200, Level = LogLevel.Information, Message = "Virtual factory: {Machines} machines of {Types} types publishing to {Url}")]
    private static partial void LogStarted(ILogger logger, int machines, int types, string url);

    [LoggerMessage(EventId = 202, Level = LogLevel.Information, Message = "Virtual factory: started a developing fault ({Fault}) on {Machine}, failing in {Minutes} min, so the console shows alarms soon (--demo-fault-minutes 0 turns this off)")]
    private static partial void LogStartFault(ILogger logger, string fault, string machine, double minutes);

    [LoggerMessage(EventId = 201, Level = LogLevel.Information, Message = "Virtual factory: {Message}")]
    private static partial void LogPublisher(ILogger logger, string message);
}

/// <summary>The running virtual factory, for fault injection and its ground truth.</summary>
public sealed class DemoPlant
{
    public VirtualFactory? Factory { get; set; }
}
