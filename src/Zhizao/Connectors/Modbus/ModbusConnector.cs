using Zhizao.Core;
using Zhizao.Modbus;

namespace Zhizao.Connectors.Modbus;

/// <summary>
/// Runs one Modbus TCP connector: a <see cref="PollingPlan"/> of its mappings read every poll interval (adjacent
/// registers merged into one request), values stored at the poll time. A poll in which every group failed with a
/// transport error (after the client's retries) means "not connected"; an exception response or a malformed answer
/// marks only its group's points and is counted, the connection stays up.
/// </summary>
public sealed class ModbusConnector(ConnectorConfig config, ConnectorSink sink) : ConnectorRuntime(config, sink)
{
    /// <summary>The library points of a configuration (point name = mapping index); the configuration is valid.</summary>
    public static IReadOnlyList<ModbusPoint> Points(ModbusConnectorConfig m)
    {
        var errors = new List<ConnectorError>();
        var points = new List<ModbusPoint>(m.Mappings.Count);
        for (int i = 0; i < m.Mappings.Count; i++)
        {
            points.Add(ConnectorValidator.ToPoint(m.Mappings[i], i, (byte)m.UnitId, $"modbus.mappings[{i}]", errors)
                ?? throw new InvalidInputException(string.Join("; ", errors)));
        }

        return points;
    }

    public static ModbusTcpClientOptions ClientOptions(ModbusConnectorConfig m) => new()
    {
        Host = m.Host,
        Port = m.Port,
        DefaultUnitId = (byte)m.UnitId,
        RequestTimeout = TimeSpan.FromMilliseconds(m.TimeoutMs),
        ConnectTimeout = TimeSpan.FromMilliseconds(Math.Max(m.TimeoutMs, 1000)),
        Retries = m.Retries,
    };

    protected override async Task RunAsync(CancellationToken ct)
    {
        var m = Config.Modbus!;
        var points = Points(m);
        var plan = PollingPlan.Create(points);
        await using var client = new ModbusTcpClient(ClientOptions(m));
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(m.PollIntervalMs));
        var samples = new List<ConnectorSample>(points.Count);
        try
        {
            do
            {
                await PollAsync(client, plan, samples, ct);
            }
            while (await timer.WaitForNextTickAsync(ct));
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task PollAsync(ModbusTcpClient client, PollingPlan plan, List<ConnectorSample> samples, CancellationToken ct)
    {
        var m = Config.Modbus!;
        PointReading[] readings;
        try
        {
            readings = await plan.ReadAsync(client, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Health.Error(KindOf(e), e.Message);
            Health.SetConnected(false);
            return;
        }

        long now = Time.NowNs();
        samples.Clear();
        int transportFailures = 0;
        var failedGroups = new HashSet<Exception>(ReferenceEqualityComparer.Instance);
        foreach (var r in readings)
        {
            if (r.Error is { } error)
            {
                if (failedGroups.Add(error))
                {
                    // one error per failed group, not per point
                    Health.Error(KindOf(error), error.Message);
                    if (error is ModbusTransportException)
                    {
                        transportFailures++;
                    }
                }

                continue;
            }

            var map = m.Mappings[int.Parse(r.Point.Name, System.Globalization.CultureInfo.InvariantCulture)];
            samples.Add(r.Value.Kind switch
            {
                ModbusValueKind.Bool => ConnectorSample.Of(map.Equipment, map.Tag, now, r.Value.AsBool()),
                ModbusValueKind.Long => ConnectorSample.Of(map.Equipment, map.Tag, now, r.Value.AsLong()),
                ModbusValueKind.String => ConnectorSample.Of(map.Equipment, map.Tag, now, r.Value.AsString()),
                _ => ConnectorSample.Of(map.Equipment, map.Tag, now, r.Value.AsDouble()),
            });
        }

        // connected unless every group failed on the transport (exception responses come over a working connection)
        Health.SetConnected(plan.Groups.Count == 0 || transportFailures < plan.Groups.Count);
        await StoreAsync(samples, ct);
    }
}
