using System.Text.Json;
using Zhizao.Alarms;
using Zhizao.Api;
using Zhizao.Connectors.Modbus;
using Zhizao.Connectors.OpcUa;
using Zhizao.Core;
using Zhizao.Rules;
using Zhizao.Storage.Metadata;

namespace Zhizao.Connectors;

/// <summary>
/// The node's OPC UA and Modbus connectors: configurations are metadata documents (kind "connector", survive restarts),
/// each enabled one runs as a <see cref="ConnectorRuntime"/>. <see cref="AddOrUpdate"/> and <see cref="Delete"/> apply
/// at once. Once a second every connector's health is written as tags of equipment <c>connector-{name}</c> (type
/// <c>zhizao-connector</c>, under the enterprise <c>zhizao-connectors</c>); the rule <c>zhizao-connector-down</c> on its
/// <c>down</c> tag raises an alarm while a connector is faulted, i.e. not connected for longer than its
/// <see cref="ConnectorConfig.AlarmAfterSeconds"/>, and clears it when it is back.
/// </summary>
public sealed partial class ConnectorService : BackgroundService
{
    public const string DocumentKind = "connector";
    public const string HealthTypeId = "zhizao-connector";
    public const string HealthRootId = "zhizao-connectors";
    public const string DownRuleId = "zhizao-connector-down";
    public const string PasswordSet = "set";

    private static readonly JsonSerializerOptions Json = ModelFormats.CreateJson();

    private readonly MetadataStore _meta;
    private readonly AlarmService _alarms;
    private readonly ConnectorSink _sink;
    private readonly ILogger<ConnectorService> _log;
    private readonly string _pki;
    private readonly Hosting.SecretBox _secrets;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, ConnectorRuntime> _running = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ConnectorHealth> _idle = new(StringComparer.Ordinal);
    private bool _started;

    public ConnectorService(MetadataStore meta, AlarmService alarms, ConnectorSink sink, Hosting.PlatformOptions options, ILogger<ConnectorService> log)
    {
        _meta = meta;
        _alarms = alarms;
        _sink = sink;
        _log = log;
        _pki = Path.Combine(Path.GetFullPath(options.DataDirectory), "pki", "opcua");
        _secrets = Hosting.SecretBox.ForDataDirectory(Path.GetFullPath(options.DataDirectory));
    }

    /// <summary>PKI folder of the OPC UA connectors: own/ (the node's certificate), trusted/, rejected/.</summary>
    public string PkiDirectory => _pki;

    public static string HealthEquipmentId(string name) => "connector-" + name;

    /// <summary>The stored configurations, passwords replaced by "set".</summary>
    public IReadOnlyList<ConnectorConfig> List() => [.. Load().Values.Select(Mask)];

    public ConnectorConfig? Get(string name) => Load().TryGetValue(name, out var c) ? Mask(c) : null;

    /// <summary>The stored configuration with its password, for the node's own use (browse with a connector's credentials).</summary>
    internal ConnectorConfig? GetStored(string name) => Load().GetValueOrDefault(name);

    public IReadOnlyList<ConnectorHealthSnapshot> Health()
    {
        lock (_running)
        {
            return [.. _running.Values.Select(r => r.Health.Snapshot()).Concat(_idle.Values.Select(h => h.Snapshot())).OrderBy(h => h.Name, StringComparer.Ordinal)];
        }
    }

    public ConnectorHealthSnapshot? GetHealth(string name)
    {
        lock (_running)
        {
            return _running.TryGetValue(name, out var r) ? r.Health.Snapshot() : _idle.GetValueOrDefault(name)?.Snapshot();
        }
    }

    /// <summary>
    /// Validates, saves and (re)starts a connector; the C# entry point for code that registers connectors (the demo).
    /// A password of "set" keeps the stored one. Throws <see cref="InvalidInputException"/> naming the field.
    /// </summary>
    public async Task<ConnectorConfig> AddOrUpdateAsync(ConnectorConfig config, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        await _gate.WaitAsync(ct);
        try
        {
            if (config.OpcUa is { Password: PasswordSet } o)
            {
                string? stored = Load().GetValueOrDefault(config.Name)?.OpcUa?.Password;
                config = config with { OpcUa = o with { Password = stored } };
            }

            ConnectorValidator.ThrowIfInvalid(config, _meta.Snapshot);
            EnsureHealthModel();
            _meta.UpsertAsset(new Asset { Id = HealthEquipmentId(config.Name), Name = $"Connector {config.Name}", Level = AssetLevel.Equipment, ParentId = HealthRootId, TypeId = HealthTypeId, Description = $"{config.Kind} connector health" });
            // the password is stored sealed (AES-GCM, key in the data directory), never in clear text
            var toStore = config.OpcUa is { Password: { } pw } withPassword ? config with { OpcUa = withPassword with { Password = _secrets.Seal(pw) } } : config;
            _meta.SaveDocument(DocumentKind, config.Name, JsonSerializer.Serialize(toStore, Json));
            LogSaved(_log, config.Name, config.Kind, config.Enabled);
            if (_started)
            {
                await RestartAsync(config);
            }

            return Mask(config);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Synchronous form of <see cref="AddOrUpdateAsync"/>.</summary>
    public ConnectorConfig AddOrUpdate(ConnectorConfig config) => AddOrUpdateAsync(config).GetAwaiter().GetResult();

    public async Task DeleteAsync(string name, CancellationToken ct = default)
    {
        await _gate.WaitAsync(ct);
        try
        {
            if (!_meta.DeleteDocument(DocumentKind, name))
            {
                throw new NotFoundException($"connector '{name}' does not exist");
            }

            await StopRuntimeAsync(name);
            lock (_running)
            {
                _idle.Remove(name);
            }

            if (_meta.GetAsset(HealthEquipmentId(name)) is not null)
            {
                _meta.DeleteAsset(HealthEquipmentId(name));
            }

            LogDeleted(_log, name);
        }
        finally
        {
            _gate.Release();
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await _gate.WaitAsync(stoppingToken);
        try
        {
            foreach (var c in Load().Values)
            {
                try
                {
                    EnsureHealthModel();
                    await RestartAsync(c);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogStartFailed(_log, c.Name, e);
                }
            }

            _started = true;
        }
        finally
        {
            _gate.Release();
        }

        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await WriteHealthAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        List<ConnectorRuntime> all;
        lock (_running)
        {
            all = [.. _running.Values];
            _running.Clear();
        }

        foreach (var r in all)
        {
            await r.DisposeAsync();
        }
    }

    private async Task WriteHealthAsync(CancellationToken ct)
    {
        long now = Time.NowNs();
        List<ConnectorHealth> all;
        lock (_running)
        {
            all = [.. _running.Values.Select(r => r.Health), .. _idle.Values];
        }

        if (all.Count == 0)
        {
            return;
        }

        var samples = new List<ConnectorSample>(all.Count * 6);
        foreach (var h in all)
        {
            var s = h.Tick(now);
            string eq = HealthEquipmentId(s.Name);
            if (_meta.GetAsset(eq) is null)
            {
                continue;
            }

            samples.Add(ConnectorSample.Of(eq, "status", now, s.State.ToString().ToLowerInvariant()));
            samples.Add(ConnectorSample.Of(eq, "connected", now, s.State == ConnectorState.Connected));
            samples.Add(ConnectorSample.Of(eq, "down", now, s.State == ConnectorState.Faulted));
            samples.Add(ConnectorSample.Of(eq, "values_received", now, s.ValuesReceived));
            samples.Add(ConnectorSample.Of(eq, "errors", now, s.ErrorCount));
            if (s.LastValueNs is { } last)
            {
                samples.Add(ConnectorSample.Of(eq, "last_value_age_s", now, Math.Max(0, (now - last) / 1e9)));
            }
        }

        try
        {
            var (_, rejected, first) = await _sink.WriteAsync(samples, ct);
            if (rejected > 0)
            {
                LogHealthRejected(_log, rejected, first ?? "");
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogHealthRejected(_log, samples.Count, e.Message);
        }
    }

    private async Task RestartAsync(ConnectorConfig config)
    {
        await StopRuntimeAsync(config.Name);
        if (!config.Enabled)
        {
            var idle = new ConnectorHealth(config.Name, config.Kind, config.AlarmAfterSeconds);
            idle.SetDisabled();
            lock (_running)
            {
                _idle[config.Name] = idle;
            }

            return;
        }

        ConnectorRuntime runtime = config.Kind == ConnectorKind.OpcUa
            ? new OpcUaConnector(config, _sink, _pki)
            : new ModbusConnector(config, _sink);
        lock (_running)
        {
            _idle.Remove(config.Name);
            _running[config.Name] = runtime;
        }

        runtime.Start();
        LogStarted(_log, config.Name, config.Kind);
    }

    private async Task StopRuntimeAsync(string name)
    {
        ConnectorRuntime? old;
        lock (_running)
        {
            _running.Remove(name, out old);
        }

        if (old is not null)
        {
            await old.DisposeAsync();
        }
    }

    /// <summary>The health equipment type, its root asset and the "connector down" rule, created when missing.</summary>
    private void EnsureHealthModel()
    {
        if (_meta.GetType(HealthTypeId) is null)
        {
            _meta.UpsertType(new EquipmentType
            {
                Id = HealthTypeId,
                Name = "Zhizao connector",
                Description = "Health of an OPC UA or Modbus connector of this node",
                Tags =
                [
                    new TagDefinition { Name = "status", DataType = ValueKind.String, Description = "connecting, connected, reconnecting, faulted or disabled" },
                    new TagDefinition { Name = "connected", DataType = ValueKind.Bool },
                    new TagDefinition { Name = "down", DataType = ValueKind.Bool, Description = "faulted: not connected for longer than the connector's alarmAfterSeconds" },
                    new TagDefinition { Name = "values_received", DataType = ValueKind.Int64 },
                    new TagDefinition { Name = "errors", DataType = ValueKind.Int64 },
                    new TagDefinition { Name = "last_value_age_s", DataType = ValueKind.Float64, Unit = "s" },
                ],
            });
        }

        if (_meta.GetAsset(HealthRootId) is null)
        {
            _meta.UpsertAsset(new Asset { Id = HealthRootId, Name = "Connectors (this node)", Level = AssetLevel.Enterprise, Description = "Health of the node's connectors" });
        }

        if (_alarms.GetRule(DownRuleId) is null)
        {
            _alarms.SaveRule(new RuleDefinition
            {
                Id = DownRuleId,
                Name = "Connector down",
                EquipmentTypeId = HealthTypeId,
                Kind = RuleKind.StateDuration,
                Priority = AlarmPriority.High,
                Message = "{equipment} is disconnected or faulted",
                StateDuration = new StateDurationParameters { Tag = "down", State = "true", DurationSeconds = 0 },
            });
        }
    }

    private Dictionary<string, ConnectorConfig> Load()
    {
        var all = new Dictionary<string, ConnectorConfig>(StringComparer.Ordinal);
        foreach (var (id, json) in _meta.ListDocuments(DocumentKind))
        {
            try
            {
                if (JsonSerializer.Deserialize<ConnectorConfig>(json, Json) is { } c)
                {
                    all[id] = Unseal(id, c);
                }
            }
            catch (JsonException e)
            {
                LogUnreadable(_log, id, e.Message);
            }
        }

        return all;
    }

    private ConnectorConfig Unseal(string id, ConnectorConfig c)
    {
        if (c.OpcUa is not { Password: { } sealedPassword } o)
        {
            return c;
        }

        try
        {
            return c with { OpcUa = o with { Password = _secrets.Open(sealedPassword) } };
        }
        catch (System.Security.Cryptography.CryptographicException e)
        {
            // the connector stays, without a password: its sessions are refused and its health says so
            LogPasswordUnreadable(_log, id, e.Message);
            return c with { OpcUa = o with { Password = null } };
        }
    }

    [LoggerMessage(5310, LogLevel.Error, "Connector {Name}: the stored password cannot be read ({Reason}); enter it again")]
    private static partial void LogPasswordUnreadable(ILogger logger, string name, string reason);

    private static ConnectorConfig Mask(ConnectorConfig c) =>
        c.OpcUa is { Password: not null } o ? c with { OpcUa = o with { Password = PasswordSet } } : c;

    [LoggerMessage(5300, LogLevel.Information, "Connector {Name} ({Kind}) saved, enabled: {Enabled}")]
    private static partial void LogSaved(ILogger logger, string name, ConnectorKind kind, bool enabled);

    [LoggerMessage(5301, LogLevel.Information, "Connector {Name} ({Kind}) started")]
    private static partial void LogStarted(ILogger logger, string name, ConnectorKind kind);

    [LoggerMessage(5302, LogLevel.Information, "Connector {Name} deleted")]
    private static partial void LogDeleted(ILogger logger, string name);

    [LoggerMessage(5303, LogLevel.Error, "Connector {Name} could not start")]
    private static partial void LogStartFailed(ILogger logger, string name, Exception exception);

    [LoggerMessage(5304, LogLevel.Warning, "Stored connector {Name} is unreadable: {Reason}")]
    private static partial void LogUnreadable(ILogger logger, string name, string reason);

    [LoggerMessage(5305, LogLevel.Warning, "Connector health: {Count} points refused, first: {Reason}")]
    private static partial void LogHealthRejected(ILogger logger, int count, string reason);
}
