using System.Threading.Channels;
using Zhizao.Core;
using Zhizao.Mqtt;
using Zhizao.Mqtt.Client;

namespace Zhizao.Simulator.Feeds;

/// <summary>Settings shared by the MQTT plant feeds.</summary>
public sealed class MqttFeedOptions
{
    public string Host { get; set; } = "127.0.0.1";
    public int Port { get; set; } = 1883;
    public string ClientId { get; set; } = "";
    public string? UserName { get; set; }
    public string? Password { get; set; }

    /// <summary>Steps kept while the broker is unreachable (store and forward); the oldest are dropped beyond this.</summary>
    public int MaxPendingSteps { get; set; } = 3600;

    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromMilliseconds(200);
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Most QoS 1 messages in flight (published, PUBACK not yet received).</summary>
    public int MaxInflight { get; set; } = 256;
}

/// <summary>
/// What the MQTT feeds share: a <see cref="MqttClient"/> (QoS 1, automatic reconnect), a bounded queue of steps filled
/// by <see cref="OnStep"/> and drained by one send task, and store and forward: while the broker is unreachable steps
/// wait in the queue (the oldest dropped beyond <see cref="MqttFeedOptions.MaxPendingSteps"/>, counted) and are sent
/// in order once it is back.
/// </summary>
public abstract class MqttFeedBase : IPlantFeed
{
    private readonly Channel<(long Ns, Sample[] Samples)> _queue;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _connected = new(0);
    private Task? _run;
    private long _sentSteps, _dropped, _failed, _messages;
    private int _disposed;

    protected MqttFeedBase(MqttFeedOptions options, Action<string>? log)
    {
        Options = options ?? throw new ArgumentNullException(nameof(options));
        Log = log ?? (_ => { });
        _queue = Channel.CreateBounded<(long, Sample[])>(new BoundedChannelOptions(Math.Max(1, options.MaxPendingSteps))
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        }, _ =>
        {
            if (Interlocked.Increment(ref _dropped) % 600 == 1)
            {
                Log($"{Name}: buffer full, dropped {DroppedSteps} steps so far");
            }
        });
        ClientOptions = new MqttClientOptions
        {
            Host = options.Host,
            Port = options.Port,
            ClientId = options.ClientId,
            UserName = options.UserName,
            Password = options.Password,
            ReconnectDelay = options.InitialBackoff,
            MaxReconnectDelay = options.MaxBackoff,
            MaxInflight = options.MaxInflight,
        };
    }

    public abstract string Name { get; }

    protected MqttFeedOptions Options { get; }

    protected Action<string> Log { get; }

    /// <summary>Options of the client; a subclass may set the will before <see cref="StartAsync"/>.</summary>
    protected MqttClientOptions ClientOptions { get; }

    protected MqttClient? Client { get; private set; }

    /// <summary>Steps whose messages were all acknowledged (PUBACK).</summary>
    public long SentSteps => Interlocked.Read(ref _sentSteps);

    /// <summary>Messages acknowledged.</summary>
    public long Messages => Interlocked.Read(ref _messages);

    public long DroppedSteps => Interlocked.Read(ref _dropped);

    public long FailedAttempts => Interlocked.Read(ref _failed);

    public bool IsConnected => Client?.IsConnected == true;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _run = Task.Run(() => RunAsync(_stop.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    public void OnStep(long timestampNs, IReadOnlyList<Sample> samples)
    {
        _queue.Writer.TryWrite((timestampNs, [.. samples]));
    }

    /// <summary>Called on the send task after every (re)connect, before queued steps are sent (births, subscriptions).</summary>
    protected virtual Task OnConnectedAsync(MqttClient client, CancellationToken ct) => Task.CompletedTask;

    /// <summary>Publishes one step (QoS 1) and returns the PUBACK tasks, which the base awaits in bounded batches.</summary>
    protected abstract void PublishStep(MqttClient client, long timestampNs, Sample[] samples, List<Task<MqttReasonCode>> acks);

    /// <summary>Called on the client's read loop when the connection is lost.</summary>
    protected virtual void OnDisconnected()
    {
    }

    private async Task RunAsync(CancellationToken ct)
    {
        var client = new MqttClient(ClientOptions);
        Client = client;
        bool reconnected = false;
        client.Connected = _ =>
        {
            reconnected = true;
            _connected.Release();
        };
        client.Disconnected = _ => OnDisconnected();
        var acks = new List<Task<MqttReasonCode>>();
        try
        {
            await ConnectFirstAsync(client, ct);
            while (!ct.IsCancellationRequested)
            {
                if (!client.IsConnected)
                {
                    await _connected.WaitAsync(ct); // store and forward: steps stay queued until the client is back
                    continue;
                }

                if (reconnected)
                {
                    reconnected = false;
                    while (_connected.CurrentCount > 0)
                    {
                        await _connected.WaitAsync(ct);
                    }

                    try
                    {
                        await OnConnectedAsync(client, ct);
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        // the connection dropped again while greeting: try again after the next connect
                        Interlocked.Increment(ref _failed);
                        Log($"{Name}: setup after connect failed ({e.Message}); will retry");
                        reconnected = true;
                        await Task.Delay(Options.InitialBackoff, ct);
                        continue;
                    }
                }

                if (!_queue.Reader.TryPeek(out var step))
                {
                    await _queue.Reader.WaitToReadAsync(ct);
                    continue;
                }

                acks.Clear();
                PublishStep(client, step.Ns, step.Samples, acks);
                try
                {
                    await Task.WhenAll(acks).WaitAsync(ct);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Interlocked.Increment(ref _failed);
                    Log($"{Name}: publish failed ({e.Message}); will resend");
                    await Task.Delay(Options.InitialBackoff, ct);
                    continue; // the step stays at the head of the queue
                }

                if (acks.Any(a => (int)a.Result >= 0x80))
                {
                    Interlocked.Increment(ref _failed);
                    Log($"{Name}: the broker refused a message ({acks.First(a => (int)a.Result >= 0x80).Result}); will resend");
                    await Task.Delay(Options.InitialBackoff, ct);
                    continue;
                }

                _queue.Reader.TryRead(out _);
                Interlocked.Add(ref _messages, acks.Count);
                Interlocked.Increment(ref _sentSteps);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            Log($"{Name}: stopped: {e.Message}");
        }
    }

    private async Task ConnectFirstAsync(MqttClient client, CancellationToken ct)
    {
        TimeSpan delay = Options.InitialBackoff;
        while (true)
        {
            try
            {
                await client.ConnectAsync(ct);
                Log($"{Name}: connected to {Options.Host}:{Options.Port}");
                return;
            }
            catch (MqttClientException e)
            {
                Interlocked.Increment(ref _failed);
                if (_failed == 1 || _failed % 30 == 0)
                {
                    Log($"{Name}: cannot reach the broker ({e.Message}); steps are kept and sent once it is back");
                }

                await Task.Delay(delay, ct);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, Options.MaxBackoff.Ticks));
            }
        }
    }

    public virtual async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stop.CancelAsync();
        if (_run is not null)
        {
            await _run.WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { }, TaskScheduler.Default);
        }

        if (Client is { } c)
        {
            await BeforeDisconnectAsync(c);
            await c.DisposeAsync();
        }

        _stop.Dispose();
        _connected.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Last words before an orderly disconnect (e.g. Sparkplug NDEATH).</summary>
    protected virtual Task BeforeDisconnectAsync(MqttClient client) => Task.CompletedTask;
}
