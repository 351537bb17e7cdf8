namespace Zhizao.Hosting;

/// <summary>Settings of one Zhizao node. Bound from the "Zhizao" configuration section and command-line options.</summary>
public sealed class PlatformOptions
{
    public const string DefaultUrl = "http://127.0.0.1:5080";

    /// <summary>
    /// Port of the embedded MQTT broker on 127.0.0.1 (topics zhizao/lp, zhizao/json, zhizao/v/{equipment}/{tag} are
    /// ingested); null or 0 turns it off. `zhizao serve` uses 1883.
    /// </summary>
    public int? MqttPort { get; set; }

    /// <summary>MQTT over TLS (8883 when a certificate is configured), client certificates (Connectors/Mqtt/MqttBridgeHosting.cs).</summary>
    public Connectors.Mqtt.MqttTlsSettings MqttTls { get; } = new();

    /// <summary>Subscribe to an external broker and ingest what arrives (Connectors/Mqtt/MqttBridge.cs).</summary>
    public Connectors.Mqtt.MqttBridgeSettings MqttBridge { get; } = new();

    /// <summary>Where the time-series engine and the metadata database live.</summary>
    public string DataDirectory { get; set; } = "zhizao-data";

    /// <summary>Listen addresses. Loopback by default; anything else requires <see cref="ApiToken"/>.</summary>
    public string Urls { get; set; } = DefaultUrl;

    /// <summary>Run the virtual factory and feed its data through the HTTP ingest path.</summary>
    public bool Demo { get; set; } = true;

    public int DemoSeed { get; set; } = 42;

    /// <summary>
    /// The demo starts a developing bearing fault on compressor l1-comp-01 that fails after this many minutes, so a
    /// newcomer sees the alarm sequence (vibration alert, trip, down) within minutes instead of waiting for the seeded
    /// faults (hours to days apart). 0 turns it off.
    /// </summary>
    public double DemoStartFaultMinutes { get; set; } = 12;

    /// <summary>
    /// Days of simulated run-to-failure history of the demo's pumps and compressors written before the live feed starts
    /// (once per data directory), on which the demo trains their remaining-useful-life models. 0 turns it off.
    /// </summary>
    public double DemoHistoryDays { get; set; } = 7;

    /// <summary>
    /// How the demo's machines reach the node: "mqtt" (line 1 as JSON on zhizao/json, line 2 as Sparkplug B, through
    /// the embedded broker; HTTP line protocol when the broker is off) or "http" (line protocol for all).
    /// </summary>
    public string DemoTransport { get; set; } = "mqtt";

    /// <summary>Simulator steps per second.</summary>
    public double DemoRateHz { get; set; } = 1;

    /// <summary>Shared secret for the API ("Authorization: Token ..." or "Bearer ..."). Required off loopback.</summary>
    public string? ApiToken { get; set; }

    /// <summary>Largest accepted request body for ingest endpoints.</summary>
    public long MaxBodyBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>How far behind the newest point of a series a write may land.</summary>
    public TimeSpan OutOfOrderWindow { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Data older than this is dropped; null keeps everything.</summary>
    public TimeSpan? Retention { get; set; }

    /// <summary>Seal the in-memory head into compressed blocks once it holds this many points (storage tuning).</summary>
    public long HeadFlushPoints { get; set; } = 8_000_000;

    /// <summary>
    /// State-based suppression by design: while an equipment's 'state' tag reads 0 (down) its alarms are suppressed,
    /// except those whose rule reads the state tag itself.
    /// </summary>
    public bool SuppressAlarmsWhileDown { get; set; } = true;

    /// <summary>URLs that receive alarm notifications as JSON POSTs.</summary>
    public IList<string> AlarmWebhooks { get; } = [];

    public int WebhookAttempts { get; set; } = 4;

    public TimeSpan WebhookFirstRetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Accept line-protocol measurements that are not registered equipment (e.g. Telegraf's system metrics).</summary>
    public bool AcceptUnregisteredSeries { get; set; } = true;
}
