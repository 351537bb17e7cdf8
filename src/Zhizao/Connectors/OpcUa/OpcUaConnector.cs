using System.Threading.Channels;
using Zhizao.OpcUa;
using Zhizao.OpcUa.Client;
using Zhizao.OpcUa.Security;

namespace Zhizao.Connectors.OpcUa;

/// <summary>
/// Runs one OPC UA connector: one session, one subscription with a monitored item per mapping. Values (with their
/// source timestamps; server timestamp, then receive time when the server sends none) go through a queue to one writer
/// that stores them in batches. Reconnects, subscription transfer and history back-fill are the client library's job;
/// only a failed first connection is retried here (back-off 1 s doubling to 10 s, each with a fresh client).
/// </summary>
public sealed class OpcUaConnector(ConnectorConfig config, ConnectorSink sink, string pkiDirectory) : ConnectorRuntime(config, sink)
{
    private readonly Channel<ConnectorSample> _values = Channel.CreateBounded<ConnectorSample>(
        new BoundedChannelOptions(100_000) { SingleReader = true, FullMode = BoundedChannelFullMode.DropOldest });

    private long _dropped;

    /// <summary>Client options for a connector configuration (also used by browse).</summary>
    public static OpcUaClientOptions ClientOptions(string endpointUrl, OpcUaSecurity security, string? userName, string? password, bool autoAccept, string pkiDirectory) => new()
    {
        EndpointUrl = endpointUrl,
        SecurityMode = security switch
        {
            OpcUaSecurity.Sign => MessageSecurityMode.Sign,
            OpcUaSecurity.SignAndEncrypt => MessageSecurityMode.SignAndEncrypt,
            _ => MessageSecurityMode.None,
        },
        SecurityPolicyUri = security == OpcUaSecurity.None ? SecurityPolicies.None : SecurityPolicies.Basic256Sha256,
        Identity = string.IsNullOrEmpty(userName) ? UserIdentity.Anonymous : UserIdentity.WithUserName(userName, password ?? ""),
        // the certificate is needed under None too: node-opcua encrypts user name passwords with Basic256Sha256
        Certificates = new CertificateStore(pkiDirectory, "urn:zhizao:connector", "Zhizao connector") { AutoAcceptUntrusted = autoAccept },
        ApplicationUri = "urn:zhizao:connector",
        ApplicationName = "Zhizao connector",
        RequestTimeout = TimeSpan.FromSeconds(10),
    };

    protected override async Task RunAsync(CancellationToken ct)
    {
        var o = Config.OpcUa!;
        var writer = WriteLoopAsync(ct);
        var delay = TimeSpan.FromSeconds(1);
        while (!ct.IsCancellationRequested)
        {
            var client = new OpcUaClient(ClientOptions(o.EndpointUrl, o.Security, o.UserName, o.Password, o.AutoAcceptServerCertificate, pkiDirectory));
            client.StateChanged += OnStateChanged;
            try
            {
                await client.ConnectAsync(ct);
                var subscription = await client.CreateSubscriptionAsync(new SubscriptionOptions { PublishingInterval = TimeSpan.FromMilliseconds(o.PublishingIntervalMs) }, ct);
                // by node id (unique per connector, validated): known before the first value can arrive
                var targets = o.Mappings.ToDictionary(m => NodeId.Parse(m.NodeId));
                subscription.DataChanged += (_, e) => OnValue(targets, e);
                var items = await subscription.AddMonitoredItemsAsync(o.Mappings.Select(m => new MonitoredItemOptions(NodeId.Parse(m.NodeId))
                {
                    SamplingInterval = TimeSpan.FromMilliseconds(m.SamplingIntervalMs),
                    QueueSize = 10,
                    AbsoluteDeadband = m.Deadband,
                    Trigger = o.EverySample ? DataChangeTrigger.StatusValueTimestamp : DataChangeTrigger.StatusValue,
                    BackfillFromHistory = o.Backfill,
                }), ct);
                for (int i = 0; i < items.Count; i++)
                {
                    if (items[i].Status.IsBad)
                    {
                        Health.Error("item", $"{o.Mappings[i].NodeId} → {o.Mappings[i].Equipment}/{o.Mappings[i].Tag}: {items[i].Status}");
                    }
                }

                Health.SetConnected(client.State == ConnectionState.Connected);
                delay = TimeSpan.FromSeconds(1);
                await Task.Delay(Timeout.Infinite, ct); // from here the client keeps the connection
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                Health.Error(KindOf(e), e.Message);
                Health.SetConnected(false);
            }
            finally
            {
                client.StateChanged -= OnStateChanged;
                await client.DisposeAsync();
            }

            try
            {
                await Task.Delay(delay, ct);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
        }

        _values.Writer.TryComplete();
        await writer;
    }

    private long _backfillFailures;

    private void OnStateChanged(object? sender, ConnectionStateChangedEventArgs e)
    {
        if (e.Error is { } error)
        {
            Health.Error(KindOf(error), error.Message);
        }

        if (e.State == ConnectionState.Connected)
        {
            if (sender is OpcUaClient client && client.BackfillFailureCount > _backfillFailures)
            {
                _backfillFailures = client.BackfillFailureCount;
                Health.Error("backfill", client.LastBackfillError ?? "the gap could not be read from history");
            }

            Health.SetConnected(true);
        }
        else if (e.State is ConnectionState.Reconnecting or ConnectionState.Disconnected)
        {
            Health.SetConnected(false);
        }
    }

    private void OnValue(Dictionary<NodeId, OpcUaMapping> targets, DataChangeEventArgs e)
    {
        if (!targets.TryGetValue(e.Item.NodeId, out var m))
        {
            return;
        }

        var v = e.Value;
        if (v.Status.IsBad)
        {
            Health.Error("value", $"{m.NodeId}: status {v.Status}");
            return;
        }

        long t = ToNs(v.SourceTimestamp ?? v.ServerTimestamp ?? DateTime.UtcNow);
        ConnectorSample? s = v.Value.Value switch
        {
            null => null,
            bool b => ConnectorSample.Of(m.Equipment, m.Tag, t, b),
            sbyte or byte or short or ushort or int or uint or long => ConnectorSample.Of(m.Equipment, m.Tag, t, Convert.ToInt64(v.Value.Value, System.Globalization.CultureInfo.InvariantCulture)),
            ulong u => u <= long.MaxValue ? ConnectorSample.Of(m.Equipment, m.Tag, t, (long)u) : ConnectorSample.Of(m.Equipment, m.Tag, t, (double)u),
            float f => ConnectorSample.Of(m.Equipment, m.Tag, t, (double)f),
            double d => ConnectorSample.Of(m.Equipment, m.Tag, t, d),
            string text => ConnectorSample.Of(m.Equipment, m.Tag, t, text),
            LocalizedText lt => ConnectorSample.Of(m.Equipment, m.Tag, t, lt.Text ?? ""),
            DateTime dt => ConnectorSample.Of(m.Equipment, m.Tag, t, dt.ToString("O", System.Globalization.CultureInfo.InvariantCulture)),
            _ => null,
        };
        if (s is null)
        {
            Health.Error("value", $"{m.NodeId}: a {v.Value.Type}{(v.Value.IsArray ? " array" : "")} value cannot be stored in a tag (map scalar numbers, booleans or text)");
            return;
        }

        if (!_values.Writer.TryWrite(s.Value))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    private async Task WriteLoopAsync(CancellationToken ct)
    {
        var batch = new List<ConnectorSample>(1024);
        try
        {
            while (await _values.Reader.WaitToReadAsync(ct))
            {
                while (batch.Count < 16_384 && _values.Reader.TryRead(out var s))
                {
                    batch.Add(s);
                }

                try
                {
                    await StoreAsync(batch, ct);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Health.Error("ingest", e.Message);
                }

                batch.Clear();
                if (Interlocked.Exchange(ref _dropped, 0) is > 0 and var dropped)
                {
                    Health.Error("overflow", $"{dropped} values dropped: the node stored them slower than the server sent them");
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private static long ToNs(DateTime t) => (t.ToUniversalTime() - DateTime.UnixEpoch).Ticks * 100;
}
