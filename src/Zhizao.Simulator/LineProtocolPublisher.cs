using System.Buffers;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Zhizao.Core;

namespace Zhizao.Simulator;

/// <summary>Settings of <see cref="LineProtocolPublisher"/>.</summary>
public sealed class LineProtocolPublisherOptions
{
    /// <summary>Base address of the platform (or any InfluxDB v2-compatible endpoint).</summary>
    public Uri BaseUrl { get; set; } = new("http://127.0.0.1:5080");

    /// <summary>Sent as <c>Authorization: Bearer {Token}</c> when set.</summary>
    public string? Token { get; set; }

    /// <summary>Simulation step and publish period (default 1 s).</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Compress request bodies with gzip (<c>Content-Encoding: gzip</c>).</summary>
    public bool Gzip { get; set; }

    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromMilliseconds(500);
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Steps kept while the server is unreachable (store and forward); the oldest are dropped beyond this.</summary>
    public int MaxPendingSteps { get; set; } = 3600;

    /// <summary>Most buffered steps sent in one request when catching up.</summary>
    public int MaxStepsPerRequest { get; set; } = 60;

    /// <summary>A request taking longer than this counts as failed and is retried.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// Feeds a <see cref="VirtualFactory"/> to the platform over HTTP like real equipment: every interval it steps the
/// factory to the wall clock, renders the samples as line protocol and POSTs them to
/// <c>{BaseUrl}/api/v2/write?precision=ns</c>. A down server never stops it: steps are buffered and retried with
/// exponential back-off; a request the server rejects as malformed (400, 422) is logged and dropped. Timestamps
/// are aligned to the interval grid. Do not step the same factory elsewhere while this runs.
/// <para>As an <see cref="IPlantFeed"/> (constructed without a factory, driven by a <see cref="PlantDriver"/>) it
/// does the same for the steps it is handed: <see cref="OnStep"/> renders and queues, a background task sends with the
/// same retry, back-off and buffer rules.</para>
/// </summary>
public sealed class LineProtocolPublisher : IPlantFeed
{
    private readonly VirtualFactory? _factory;
    private readonly Queue<byte[]> _feedPending = new();
    private readonly Lock _feedLock = new();
    private readonly SemaphoreSlim _feedSignal = new(0);
    private readonly ArrayBufferWriter<byte> _feedBuffer = new(64 * 1024);
    private CancellationTokenSource? _feedStop;
    private Task? _feedTask;
    private readonly HttpClient _http;
    private readonly LineProtocolPublisherOptions _options;
    private readonly Action<string> _log;
    private readonly TimeProvider _time;
    private long _published, _failed, _dropped, _rejected;

    public LineProtocolPublisher(
        VirtualFactory factory,
        HttpClient http,
        LineProtocolPublisherOptions? options = null,
        Action<string>? log = null,
        TimeProvider? timeProvider = null)
    {
        _factory = factory ?? throw new ArgumentNullException(nameof(factory));
        _http = http ?? throw new ArgumentNullException(nameof(http));
        _options = options ?? new LineProtocolPublisherOptions();
        _log = log ?? (_ => { });
        _time = timeProvider ?? TimeProvider.System;
        if (_options.Interval <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "Interval must be positive.");
        }

        WriteUri = new Uri(_options.BaseUrl, "/api/v2/write?precision=ns");
    }

    /// <summary>A feed for a <see cref="PlantDriver"/>: no factory of its own.</summary>
    public LineProtocolPublisher(HttpClient http, LineProtocolPublisherOptions? options = null, Action<string>? log = null, TimeProvider? timeProvider = null)
    {
        _http = http ?? throw new ArgumentNullException(nameof(http));
        _options = options ?? new LineProtocolPublisherOptions();
        _log = log ?? (_ => { });
        _time = timeProvider ?? TimeProvider.System;
        WriteUri = new Uri(_options.BaseUrl, "/api/v2/write?precision=ns");
    }

    public Uri WriteUri { get; }

    public string Name => "http-lp";

    /// <summary>Starts the feed's send task (for use with a <see cref="PlantDriver"/>).</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _feedStop = new CancellationTokenSource();
        _feedTask = Task.Run(() => FeedLoopAsync(_feedStop.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>Renders the step and queues it; the send task delivers it.</summary>
    public void OnStep(long timestampNs, IReadOnlyList<Sample> samples)
    {
        lock (_feedLock)
        {
            _feedBuffer.ResetWrittenCount();
            LineProtocol.RenderUtf8(samples, _feedBuffer);
            _feedPending.Enqueue(_feedBuffer.WrittenSpan.ToArray());
            while (_feedPending.Count > Math.Max(1, _options.MaxPendingSteps))
            {
                _feedPending.Dequeue();
                if (Interlocked.Increment(ref _dropped) % 600 == 1)
                {
                    _log($"Simulator buffer full: dropped {DroppedSteps} steps so far");
                }
            }
        }

        _feedSignal.Release();
    }

    private async Task FeedLoopAsync(CancellationToken ct)
    {
        TimeSpan backoff = _options.InitialBackoff;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await _feedSignal.WaitAsync(ct);
                while (true)
                {
                    byte[] body;
                    int take;
                    lock (_feedLock)
                    {
                        if (_feedPending.Count == 0)
                        {
                            break;
                        }

                        take = Math.Min(_feedPending.Count, Math.Max(1, _options.MaxStepsPerRequest));
                        body = take == 1 ? _feedPending.Peek() : Concat(_feedPending, take);
                    }

                    Outcome outcome = await SendAsync(body, ct);
                    if (outcome == Outcome.Failed)
                    {
                        await Task.Delay(backoff, _time, ct);
                        backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _options.MaxBackoff.Ticks));
                        continue;
                    }

                    lock (_feedLock)
                    {
                        for (int i = 0; i < take && _feedPending.Count > 0; i++)
                        {
                            _feedPending.Dequeue();
                        }
                    }

                    Interlocked.Add(ref outcome == Outcome.Delivered ? ref _published : ref _rejected, take);
                    backoff = _options.InitialBackoff;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _feedStop, null) is { } stop)
        {
            await stop.CancelAsync();
            if (_feedTask is { } t)
            {
                await t.WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { }, TaskScheduler.Default);
            }

            stop.Dispose();
        }
    }

    /// <summary>Steps delivered (acknowledged with 2xx).</summary>
    public long PublishedSteps => Interlocked.Read(ref _published);

    /// <summary>Requests that failed and were kept for retry.</summary>
    public long FailedAttempts => Interlocked.Read(ref _failed);

    /// <summary>Steps dropped because the buffer overflowed while the server was unreachable.</summary>
    public long DroppedSteps => Interlocked.Read(ref _dropped);

    /// <summary>Steps the server rejected as malformed.</summary>
    public long RejectedSteps => Interlocked.Read(ref _rejected);

    /// <summary>One POST attempt of already-rendered line protocol. True on 2xx; never throws for network errors.</summary>
    public async Task<bool> TryPostAsync(string lineProtocol, CancellationToken cancellationToken = default) =>
        await SendAsync(Encoding.UTF8.GetBytes(lineProtocol), cancellationToken) == Outcome.Delivered;

    /// <summary>Real-time loop: step, render, send (with retry and back-off) every <see cref="LineProtocolPublisherOptions.Interval"/> until cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        if (_factory is null)
        {
            throw new InvalidOperationException("this publisher was built as a plant feed (no factory): use a PlantDriver");
        }

        var samples = new List<Sample>(_factory.SamplesPerStep);
        var pending = new Queue<byte[]>();
        var buffer = new ArrayBufferWriter<byte>(64 * 1024);
        TimeSpan backoff = _options.InitialBackoff;
        DateTimeOffset nextAttempt = DateTimeOffset.MinValue;
        using var timer = new PeriodicTimer(_options.Interval, _time);
        _log($"Simulator publishing {_factory.Machines.Count} machines to {WriteUri} every {_options.Interval.TotalSeconds:0.###} s");
        try
        {
            do
            {
                // timestamps on the interval grid, as a polling gateway produces: regular series compress best
                long intervalNs = Math.Max(1, (long)_options.Interval.TotalNanoseconds);
                long now = Time.FromDateTime(_time.GetUtcNow());
                now -= now % intervalNs;
                if (now > _factory.CurrentNs)
                {
                    samples.Clear();
                    _factory.Step(now, samples);
                    buffer.ResetWrittenCount();
                    LineProtocol.RenderUtf8(samples, buffer);
                    pending.Enqueue(buffer.WrittenSpan.ToArray());
                    while (pending.Count > Math.Max(1, _options.MaxPendingSteps))
                    {
                        pending.Dequeue();
                        if (Interlocked.Increment(ref _dropped) % 600 == 1)
                        {
                            _log($"Simulator buffer full: dropped {DroppedSteps} steps so far");
                        }
                    }
                }

                if (pending.Count == 0 || _time.GetUtcNow() < nextAttempt)
                {
                    continue;
                }

                int take = Math.Min(pending.Count, Math.Max(1, _options.MaxStepsPerRequest));
                byte[] body = take == 1 ? pending.Peek() : Concat(pending, take);
                Outcome outcome = await SendAsync(body, cancellationToken);
                if (outcome == Outcome.Failed)
                {
                    nextAttempt = _time.GetUtcNow() + backoff;
                    backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _options.MaxBackoff.Ticks));
                    continue;
                }

                for (int i = 0; i < take; i++)
                {
                    pending.Dequeue();
                }

                Interlocked.Add(ref outcome == Outcome.Delivered ? ref _published : ref _rejected, take);
                backoff = _options.InitialBackoff;
                nextAttempt = DateTimeOffset.MinValue;
            }
            while (await timer.WaitForNextTickAsync(cancellationToken));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // normal shutdown
        }

        _log($"Simulator publisher stopped: {PublishedSteps} steps delivered, {pending.Count} undelivered");
    }

    private static byte[] Concat(Queue<byte[]> pending, int count)
    {
        int length = 0;
        foreach (byte[] part in pending.Take(count))
        {
            length += part.Length;
        }

        byte[] body = new byte[length];
        int at = 0;
        foreach (byte[] part in pending.Take(count))
        {
            part.CopyTo(body, at);
            at += part.Length;
        }

        return body;
    }

    private async Task<Outcome> SendAsync(byte[] body, CancellationToken cancellationToken)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, WriteUri) { Content = CreateContent(body) };
            if (!string.IsNullOrEmpty(_options.Token))
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _options.Token);
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.RequestTimeout);
            using HttpResponseMessage response = await _http.SendAsync(request, timeout.Token);
            if (response.IsSuccessStatusCode)
            {
                return Outcome.Delivered;
            }

            if (response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.UnprocessableEntity)
            {
                string detail = await response.Content.ReadAsStringAsync(cancellationToken);
                _log($"Simulator write rejected ({(int)response.StatusCode}), dropping it: {Truncate(detail)}");
                return Outcome.Rejected;
            }

            Interlocked.Increment(ref _failed);
            _log($"Simulator write failed ({(int)response.StatusCode} {response.ReasonPhrase}); will retry");
            return Outcome.Failed;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            // a down, slow or misbehaving server must never stop the simulator: log, count, retry later
            Interlocked.Increment(ref _failed);
            _log($"Simulator write to {WriteUri} failed: {ex.Message}; will retry");
            return Outcome.Failed;
        }
    }

    private HttpContent CreateContent(byte[] bytes)
    {
        HttpContent content;
        if (_options.Gzip)
        {
            using var buffer = new MemoryStream();
            using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
            {
                gzip.Write(bytes);
            }

            content = new ByteArrayContent(buffer.ToArray());
            content.Headers.ContentEncoding.Add("gzip");
        }
        else
        {
            content = new ByteArrayContent(bytes);
        }

        content.Headers.ContentType = new MediaTypeHeaderValue("text/plain") { CharSet = "utf-8" };
        return content;
    }

    private static string Truncate(string s) => s.Length <= 200 ? s : string.Concat(s.AsSpan(0, 200), "…");

    private enum Outcome
    {
        Delivered,
        Rejected,
        Failed,
    }
}
