using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Zhizao.Alarms;
using Zhizao.Api;
using Zhizao.Connectors;
using Zhizao.Connectors.Mqtt;
using Zhizao.Demo;
using Zhizao.Health;
using Zhizao.Ingest;
using Zhizao.Pipeline;
using Zhizao.Storage;
using Zhizao.Storage.Metadata;
using Zhizao.Web;

namespace Zhizao.Hosting;

/// <summary>The composition root: the only place that wires rooms together.</summary>
public static class ServerHost
{
    public static WebApplication Build(PlatformOptions options, string[]? args = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        TokenAuth.EnsureSafeBinding(options);
        MqttNodeSecurity.Validate(options);

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args ?? [],
            WebRootPath = ConsoleFiles.WebRoot, // the console's files sit next to the assembly, wherever it is started from
        });
        builder.WebHost.UseUrls(options.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxBodyBytes;
            k.AddServerHeader = false;
        });
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);

        string dataDir = Path.GetFullPath(options.DataDirectory);
        Directory.CreateDirectory(dataDir);

        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(_ => MetadataStore.Open(Path.Combine(dataDir, "metadata.db")));
        builder.Services.AddSingleton<ITimeSeriesStore>(sp => StoreFactory.Open(Path.Combine(dataDir, "tsdb"), options, sp.GetRequiredService<ILoggerFactory>().CreateLogger("Zhizao.Storage")));
        builder.Services.AddSingleton(_ => new SqliteAlarmJournal(Path.Combine(dataDir, "alarms.db")));
        builder.Services.AddSingleton<WebhookNotifier>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<WebhookNotifier>());
        builder.Services.AddSingleton<AlarmService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<AlarmService>());
        builder.Services.AddSingleton<IngestService>();
        builder.Services.AddSingleton<DemoPlant>();
        builder.Services.AddSingleton<DemoHistory>();
        builder.Services.AddSingleton<LiveHub>();
        if (options.MqttPort is > 0 and <= 65535 && !options.MqttTls.Enabled) // with TLS: AddMqttTlsAndBridge
        {
            builder.Services.AddSingleton(new MqttNodeOptions { Enabled = true, Port = options.MqttPort.Value });
            builder.Services.AddSingleton(new SparkplugOptions());
            builder.Services.AddSingleton<SparkplugIngest>();
            builder.Services.AddSingleton<MqttIngestBridge>();
            builder.Services.AddSingleton(sp => new MqttBrokerHostedService(
                sp.GetRequiredService<MqttNodeOptions>(), sp.GetRequiredService<MqttIngestBridge>(), dataDir, sp.GetRequiredService<ILogger<Mqtt.Broker.MqttBroker>>()));
            builder.Services.AddHostedService(sp => sp.GetRequiredService<MqttBrokerHostedService>());
        }

        builder.Services.AddSingleton<ConnectorSink>();
        builder.Services.AddSingleton<ConnectorService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ConnectorService>());
        builder.Services.AddMqttTlsAndBridge(options, dataDir);

        builder.Services.AddSingleton<MqttMappingStore>();
        builder.Services.AddSingleton<HealthService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<HealthService>());
        builder.Services.AddSingleton<RulService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<RulService>());
        if (options.Demo)
        {
            builder.Services.AddHostedService<DemoService>();
        }

        builder.Services.ConfigureHttpJsonOptions(j =>
        {
            j.SerializerOptions.Converters.Add(new JsonStringEnumConverter());
            j.SerializerOptions.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        });
        builder.Services.AddProblemDetails();
        // body-binding failures (wrong enum name, malformed JSON) reach ProblemMapping, which names the field
        builder.Services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        builder.Services.AddExceptionHandler<ProblemMapping>();
        builder.Services.AddOpenApi("v1", o => o.AddDocumentTransformer((doc, _, _) =>
        {
            doc.Servers?.Clear(); // the committed document must not depend on the port a test bound
            doc.Info.Title = "Zhizao API";
            doc.Info.Version = "v1";
            return Task.CompletedTask;
        }));

        var app = builder.Build();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseTokenAuth(options.ApiToken);
        app.UseConsoleFiles();

        app.MapGet("/healthz", (ITimeSeriesStore store) =>
        {
            var s = store.GetStats();
            return TypedResults.Ok(new Health("ok", s.SeriesCount, s.PointsInHead + s.PointsInBlocks));
        }).WithTags("Health").WithSummary("Liveness and a few counters");
        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapAssetEndpoints();
        app.MapQueryEndpoints();
        app.MapIngestEndpoints();
        app.MapAlarmEndpoints();
        app.MapDemoEndpoints();
        app.MapConsoleEndpoints();
        app.MapLiveEndpoints();
        app.MapHealthEndpoints();
        app.MapConnectorEndpoints();
        app.MapMqttIngestEndpoints();

        // open storage eagerly so recovery problems show at start, not at the first request
        app.Services.GetRequiredService<ITimeSeriesStore>();
        app.Services.GetRequiredService<MetadataStore>();
        return app;
    }

    /// <summary>The first address Kestrel bound (useful with port 0).</summary>
    public static string BoundAddress(this WebApplication app)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
        return addresses?.FirstOrDefault() ?? PlatformOptions.DefaultUrl;
    }
}

public sealed record Health(string Status, int Series, long Points);
