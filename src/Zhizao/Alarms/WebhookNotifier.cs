using System.Net.Http.Json;
using System.Threading.Channels;
using Zhizao.Api;
using Zhizao.Hosting;
using Zhizao.Rules.Alarms;

namespace Zhizao.Alarms;

/// <summary>
/// Posts alarm notifications (raised, cleared, acknowledged, escalated) as JSON to the configured webhook URLs, with
/// retries and exponential back-off. The queue is bounded; when a receiver is down for long, the oldest
/// notifications are dropped and counted (the alarm journal keeps the full record). URLs are never logged whole.
/// </summary>
public sealed partial class WebhookNotifier(PlatformOptions options, ILogger<WebhookNotifier> logger) : BackgroundService
{
    private readonly Channel<AlarmNotification> _queue = Channel.CreateBounded<AlarmNotification>(
        new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });

    private long _delivered, _failed;

    public long Delivered => Interlocked.Read(ref _delivered);
    public long Failed => Interlocked.Read(ref _failed);

    public void Enqueue(AlarmNotification notification)
    {
        if (options.AlarmWebhooks.Count > 0)
        {
            _queue.Writer.TryWrite(notification);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        try
        {
            await foreach (var n in _queue.Reader.ReadAllAsync(stoppingToken))
            {
                var body = new
                {
                    kind = n.Kind.ToString(),
                    escalationLevel = n.EscalationLevel,
                    time = Core.Time.ToIso(n.TimestampNs),
                    alarm = n.Alarm,
                };
                foreach (string url in options.AlarmWebhooks)
                {
                    await DeliverAsync(http, url, body, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task DeliverAsync(HttpClient http, string url, object body, CancellationToken ct)
    {
        var delay = options.WebhookFirstRetryDelay;
        for (int attempt = 1; attempt <= options.WebhookAttempts; attempt++)
        {
            try
            {
                using var resp = await http.PostAsJsonAsync(url, body, ModelFormats.Json, ct);
                if (resp.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref _delivered);
                    return;
                }

                LogAttemptFailed(logger, Host(url), attempt, $"HTTP {(int)resp.StatusCode}");
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                LogAttemptFailed(logger, Host(url), attempt, e.GetType().Name);
            }

            if (attempt < options.WebhookAttempts)
            {
                await Task.Delay(delay, ct);
                delay *= 4;
            }
        }

        Interlocked.Increment(ref _failed);
    }

    private static string Host(string url) => Uri.TryCreate(url, UriKind.Absolute, out var u) ? $"{u.Scheme}://{u.Authority}" : "(invalid url)";

    [LoggerMessage(EventId = 310, Level = LogLevel.Warning, Message = "Alarm webhook {Host}: attempt {Attempt} failed ({Reason})")]
    private static partial void LogAttemptFailed(ILogger logger, string host, int attempt, string reason);
}
