using System.Net.Sockets;
using Zhizao.Modbus;
using Zhizao.OpcUa;

namespace Zhizao.Connectors;

/// <summary>One running connector: a loop that keeps the connection, reports health and writes values.</summary>
public abstract class ConnectorRuntime : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    protected ConnectorRuntime(ConnectorConfig config, ConnectorSink sink)
    {
        Config = config;
        Sink = sink;
        Health = new ConnectorHealth(config.Name, config.Kind, config.AlarmAfterSeconds);
    }

    public ConnectorConfig Config { get; }
    public ConnectorHealth Health { get; }
    protected ConnectorSink Sink { get; }

    public void Start() => _loop = Task.Run(() => RunAsync(_stop.Token));

    protected abstract Task RunAsync(CancellationToken ct);

    /// <summary>Stores samples and accounts for them in the health (values received, ingest errors).</summary>
    protected async Task StoreAsync(IReadOnlyList<ConnectorSample> samples, CancellationToken ct)
    {
        if (samples.Count == 0)
        {
            return;
        }

        var (stored, rejected, first) = await Sink.WriteAsync(samples, ct);
        if (stored > 0)
        {
            long newest = 0;
            foreach (var s in samples)
            {
                newest = Math.Max(newest, s.TimestampNs);
            }

            Health.Values(stored, newest);
        }

        if (rejected > 0)
        {
            Health.Error("ingest", $"{rejected} values refused, first: {first}");
        }
    }

    /// <summary>The error kinds counted in the health, by exception type.</summary>
    public static string KindOf(Exception e) => e switch
    {
        ModbusException => "exception",
        ModbusProtocolException or OpcUaProtocolException or OpcUaDecodingException or OpcUaEncodingException => "protocol",
        ModbusTransportException { InnerException: TimeoutException } or TimeoutException => "timeout",
        ModbusTransportException or OpcUaTransportException or SocketException or IOException => "transport",
        OpcUaSecurityException => "security",
        OpcUaServiceException => "service",
        _ => "other",
    };

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_loop is not null)
        {
            try
            {
                await _loop.WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (Exception e) when (e is OperationCanceledException or TimeoutException)
            {
            }
        }

        _stop.Dispose();
        GC.SuppressFinalize(this);
    }
}
