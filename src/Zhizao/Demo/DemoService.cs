using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Zhizao.Alarms;
using Zhizao.Connectors;
using Zhizao.Connectors.Mqtt;
using Zhizao.Core;
using Zhizao.Hosting;
using Zhizao.Simulator;
using Zhizao.Simulator.Feeds;
using Zhizao.Storage.Metadata;

namespace Zhizao.Demo;

/// <summary>How a group of the demo's machines reaches the node.</summary>
public enum DemoFeedKind
{
    /// <summary>InfluxDB line protocol over HTTP to <c>/api/v2/write</c>.</summary>
    HttpLineProtocol,

    /// <summary>The JSON convention on <c>zhizao/json</c> through the embedded broker.</summary>
    MqttJson,

    /// <summary>A Sparkplug B edge node (each machine a device) through the embedded broker.</summary>
    SparkplugB,

    /// <summary>An OPC UA server of the simulator, read by the node's OPC UA connector.</summary>
    OpcUaServer,

    /// <summary>A Modbus TCP server of the simulator (a unit id per machine), polled by the node's Modbus connectors.</summary>
    ModbusServer,
}

/// <summary>One feed of the demo and the machines it carries.</summary>
public sealed record DemoFeedPlan(DemoFeedKind Kind, IReadOnlySet<string> MachineIds);

/// <summary>
/// The virtual factory demo: registers the plant's asset model, then publishes its signals to this node over the wire,
/// exactly as real equipment, gateways or Telegraf would: by default the CNC machining centres through the simulator's
/// OPC UA server and the feeder meters and ovens through its Modbus TCP server (read by the node's connectors, see
/// <see cref="DemoFieldbus"/>), the rest of line 1 (<c>l1-*</c>) as MQTT JSON and of line 2 (<c>l2-*</c>) as Sparkplug
/// B through the embedded broker, anything else (and everything when the broker is off or <c>--demo-transport
/// http</c>) as line protocol over HTTP. One <see cref="PlantDriver"/> steps the factory.
/// </summary>
internal sealed partial class DemoService(
    MetadataStore meta,
    AlarmService alarms,
    DemoPlant plant,
    DemoHistory history,
    PlatformOptions options,
    IHostApplicationLifetime lifetime,
    IServer server,
    ILogger<DemoService> logger,
    IServiceProvider services) : BackgroundService
{
    public const string StartFaultMachine = "l1-comp-01";

    /// <summary>
    /// Which machines go over which transport. <paramref name="mqttPort"/> is the running embedded broker's port, or
    /// null when there is none (then everything goes over HTTP). This is the place to send machines to further
    /// feeds (OPC UA, Modbus): add a kind and claim machines before the HTTP remainder.
    /// </summary>
    public static IReadOnlyList<DemoFeedPlan> PlanFeeds(IEnumerable<string> machineIds, string transport, int? mqttPort)
    {
        var all = machineIds.ToList();
        if (mqttPort is null || !string.Equals(transport, "mqtt", StringComparison.OrdinalIgnoreCase))
        {
            return [new DemoFeedPlan(DemoFeedKind.HttpLineProtocol, all.ToHashSet(StringComparer.Ordinal))];
        }

        var plans = new List<DemoFeedPlan>();
        void Claim(DemoFeedKind kind, Func<string, bool> which)
        {
            var set = all.Where(which).ToHashSet(StringComparer.Ordinal);
            if (set.Count > 0)
            {
                plans.Add(new DemoFeedPlan(kind, set));
                all.RemoveAll(set.Contains);
            }
        }

        Claim(DemoFeedKind.OpcUaServer, DemoFieldbus.IsOpcUa);
        Claim(DemoFeedKind.ModbusServer, DemoFieldbus.IsModbus);
        Claim(DemoFeedKind.MqttJson, id => id.StartsWith("l1-", StringComparison.Ordinal));
        Claim(DemoFeedKind.SparkplugB, id => id.StartsWith("l2-", StringComparison.Ordinal));
        Claim(DemoFeedKind.HttpLineProtocol, _ => true);
        return plans;
    }

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
        int? mqttPort = services.GetService<MqttBrokerHostedService>()?.Broker?.Port;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var interval = TimeSpan.FromSeconds(1 / Math.Clamp(options.DemoRateHz, 0.01, 1000));
        Action<string> log = message => LogPublisher(logger, message);
        var feeds = new List<PlantFeedAssignment>();
        foreach (var plan in PlanFeeds(factory.Machines.Select(m => m.Id), options.DemoTransport, mqttPort))
        {
            IPlantFeed feed = plan.Kind switch
            {
                DemoFeedKind.MqttJson => new MqttJsonFeed(new MqttFeedOptions { Port = mqttPort!.Value, ClientId = "zhizao-demo-json" }, log),
                DemoFeedKind.SparkplugB => new MqttSparkplugFeed(new MqttFeedOptions { Port = mqttPort!.Value, ClientId = "zhizao-demo-sparkplug" }, log: log),
                DemoFeedKind.OpcUaServer => new OpcUaServerFeed(factory, plan.MachineIds, log: log),
                DemoFeedKind.ModbusServer => new ModbusServerFeed(factory, plan.MachineIds, log: log),
                _ => new LineProtocolPublisher(http, new LineProtocolPublisherOptions { BaseUrl = new Uri(self), Token = options.ApiToken, Interval = interval }, log),
            };
            feeds.Add(new PlantFeedAssignment(feed, plan.MachineIds));
            LogFeed(logger, feed.Name, plan.MachineIds.Count);
        }

        LogStarted(logger, factory.Machines.Count, factory.Types.Count, self);
        try
        {
            var driver = new PlantDriver(factory, interval, feeds, log);
            var run = driver.RunAsync(stoppingToken);
            await ConnectFieldbusAsync(feeds.Select(f => f.Feed), interval, stoppingToken);
            await run;
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Once the simulator's servers listen, points the node's connectors at them (as a user would on the
    /// Connectors page); a connector saved earlier under the same name is replaced, since the ports are new.</summary>
    private async Task ConnectFieldbusAsync(IEnumerable<IPlantFeed> feeds, TimeSpan interval, CancellationToken ct)
    {
        var connectors = services.GetService<ConnectorService>();
        var servers = feeds.Where(f => f is OpcUaServerFeed or ModbusServerFeed).ToList();
        if (connectors is null || servers.Count == 0)
        {
            return;
        }

        for (int i = 0; i < 100 && servers.Any(f => f is OpcUaServerFeed { Port: 0 } or ModbusServerFeed { Port: 0 }); i++)
        {
            await Task.Delay(100, ct); // the driver starts the feeds (binds the ports) before its first step
        }

        double ms = interval.TotalMilliseconds;
        var configs = servers.SelectMany(f => f switch
        {
            OpcUaServerFeed o => [DemoFieldbus.OpcUaConfig(o, ms)],
            ModbusServerFeed m => DemoFieldbus.ModbusConfigs(m, ms),
            _ => [],
        });
        foreach (var config in configs)
        {
            try
            {
                await connectors.AddOrUpdateAsync(config, ct);
                LogConnector(logger, config.Name, config.Kind.ToString());
            }
            catch (Exception e) when (e is ZhizaoException or ArgumentException)
            {
                LogConnectorFailed(logger, config.Name, e.Message);
            }
        }
    }

    [LoggerMessage(EventId = 204, Level = LogLevel.Information, Message = "Virtual factory: connector {Name} ({Kind}) reads the simulator's server")]
    private static partial void LogConnector(ILogger logger, string name, string kind);

    [LoggerMessage(EventId = 205, Level = LogLevel.Warning, Message = "Virtual factory: connector {Name} could not be set up: {Reason}")]
    private static partial void LogConnectorFailed(ILogger logger, string name, string reason);

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

    [LoggerMessage(EventId = 203, Level = LogLevel.Information, Message = "Virtual factory: feed {Feed} carries {Machines} machines")]
    private static partial void LogFeed(ILogger logger, string feed, int machines);
}

/// <summary>The running virtual factory, for fault injection and its ground truth.</summary>
public sealed class DemoPlant
{
    public VirtualFactory? Factory { get; set; }
}
