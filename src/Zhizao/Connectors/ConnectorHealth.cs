using System.Text.Json.Serialization;
using Zhizao.Core;

namespace Zhizao.Connectors;

/// <summary>
/// Connecting: first connection in progress. Connected: values flow. Reconnecting: the connection was lost (or the
/// first attempt failed) less than <see cref="ConnectorConfig.AlarmAfterSeconds"/> ago. Faulted: not connected for
/// longer than that — the "connector down" alarm is active. Disabled: configured but not run.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<ConnectorState>))]
public enum ConnectorState
{
    Disabled = 0,
    Connecting = 1,
    Connected = 2,
    Reconnecting = 3,
    Faulted = 4,
}

/// <summary>What a connector's health looks like at one moment (times in Unix nanoseconds).</summary>
public sealed record ConnectorHealthSnapshot(
    string Name,
    ConnectorKind Kind,
    ConnectorState State,
    long StateSinceNs,
    long? LastValueNs,
    long ValuesReceived,
    long ErrorCount,
    IReadOnlyDictionary<string, long> Errors,
    string? LastError,
    long? LastErrorNs,
    long? DownSinceNs);

/// <summary>Thread-safe health of one running connector; the runtime reports into it, the service reads snapshots.</summary>
public sealed class ConnectorHealth(string name, ConnectorKind kind, double alarmAfterSeconds)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, long> _errors = new(StringComparer.Ordinal);
    private ConnectorState _state = ConnectorState.Connecting;
    private bool _connected;
    private long _stateSince = Time.NowNs();
    private long _downSince = Time.NowNs();
    private long? _lastValue;
    private long _values;
    private long _errorCount;
    private string? _lastError;
    private long? _lastErrorAt;

    public string Name { get; } = name;

    /// <summary>The transport is up (set by the runtime); the state follows from it and the time it has been down.</summary>
    public void SetConnected(bool connected)
    {
        lock (_gate)
        {
            long now = Time.NowNs();
            if (connected && !_connected)
            {
                _connected = true;
                Move(ConnectorState.Connected, now);
            }
            else if (!connected && _connected)
            {
                _connected = false;
                _downSince = now;
                Move(ConnectorState.Reconnecting, now);
            }
            else if (!connected && _state == ConnectorState.Connecting)
            {
                Move(ConnectorState.Reconnecting, now); // the first attempt failed; down since the connector started
            }
        }
    }

    public void SetDisabled()
    {
        lock (_gate)
        {
            _connected = false;
            Move(ConnectorState.Disabled, Time.NowNs());
        }
    }

    /// <summary>Moves a connector that has been down too long to Faulted; called by the service's ticker.</summary>
    public ConnectorHealthSnapshot Tick(long nowNs)
    {
        lock (_gate)
        {
            if (!_connected && _state is ConnectorState.Connecting or ConnectorState.Reconnecting
                && nowNs - _downSince >= (long)(alarmAfterSeconds * 1e9))
            {
                Move(ConnectorState.Faulted, nowNs);
            }

            return SnapshotCore();
        }
    }

    public void Values(int count, long newestNs)
    {
        lock (_gate)
        {
            _values += count;
            if (_lastValue is not { } t || newestNs > t)
            {
                _lastValue = newestNs;
            }
        }
    }

    /// <summary>Counts an error of a kind (transport, timeout, security, service, protocol, exception, item, value, ingest, config).</summary>
    public void Error(string kind, string message)
    {
        lock (_gate)
        {
            _errors[kind] = _errors.GetValueOrDefault(kind) + 1;
            _errorCount++;
            _lastError = message.Length > 500 ? message[..500] : message;
            _lastErrorAt = Time.NowNs();
        }
    }

    public ConnectorHealthSnapshot Snapshot()
    {
        lock (_gate)
        {
            return SnapshotCore();
        }
    }

    private void Move(ConnectorState state, long now)
    {
        if (_state != state)
        {
            _state = state;
            _stateSince = now;
        }
    }

    private ConnectorHealthSnapshot SnapshotCore() => new(Name, kind, _state, _stateSince, _lastValue, _values, _errorCount,
        new Dictionary<string, long>(_errors, StringComparer.Ordinal), _lastError, _lastErrorAt,
        _connected || _state == ConnectorState.Disabled ? null : _downSince);
}
