using System.Collections.Concurrent;
using System.IO.Compression;
using System.Net;
using System.Text;
using static Zhizao.Simulator.Tests.SimHelpers;

namespace Zhizao.Simulator.Tests;

public class PublisherTests
{
    [Fact]
    public async Task Publishes_line_protocol_to_the_write_endpoint_with_bearer_token()
    {
        var server = new FakeServer(failFirst: 0);
        var f = VirtualFactory.CreateDefault(1, Monday);
        var publisher = new LineProtocolPublisher(f, new HttpClient(server), new LineProtocolPublisherOptions
        {
            BaseUrl = new Uri("http://zhizao.test:5080"),
            Token = "secret-token",
        });

        Assert.True(await publisher.TryPostAsync("m v=1 1\n"));
        Received r = Assert.Single(server.Requests);
        Assert.Equal("http://zhizao.test:5080/api/v2/write?precision=ns", r.Uri.ToString());
        Assert.Equal("Bearer secret-token", r.Authorization);
        Assert.Equal("m v=1 1\n", r.Body);
    }

    [Fact]
    public async Task Run_loop_retries_a_failing_server_with_back_off_and_delivers_buffered_steps()
    {
        var server = new FakeServer(failFirst: 3);
        var f = VirtualFactory.CreateDefault(1, Monday);
        var log = new ConcurrentQueue<string>();
        var publisher = new LineProtocolPublisher(f, new HttpClient(server), new LineProtocolPublisherOptions
        {
            Interval = TimeSpan.FromMilliseconds(10),
            InitialBackoff = TimeSpan.FromMilliseconds(5),
            MaxBackoff = TimeSpan.FromMilliseconds(40),
            Gzip = true,
        }, log.Enqueue);

        using var cts = new CancellationTokenSource();
        Task run = publisher.RunAsync(cts.Token);
        Assert.True(await server.Delivered.Task.WaitAsync(TimeSpan.FromSeconds(30)) >= 1);
        await cts.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(publisher.FailedAttempts >= 3);
        Assert.True(publisher.PublishedSteps >= 2, $"{publisher.PublishedSteps} steps delivered");
        Assert.Contains(log, l => l.Contains("will retry", StringComparison.Ordinal));
        Received first = server.Requests.First(r => r.Status == HttpStatusCode.NoContent);
        Assert.Equal("gzip", first.Encoding);
        string[] lines = first.Body.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length >= 2 * f.Machines.Count, "buffered steps are sent together after the outage");
        Assert.StartsWith("l1-cnc-01 state=", lines[0], StringComparison.Ordinal);
        Assert.All(lines, l => Assert.Equal(0, long.Parse(l[(l.LastIndexOf(' ') + 1)..]) % 10_000_000)); // on the 10 ms grid
    }

    [Fact]
    public async Task A_hung_server_times_out_and_counts_as_a_failure()
    {
        var f = VirtualFactory.CreateDefault(1, Monday);
        var publisher = new LineProtocolPublisher(f, new HttpClient(new FakeServer(failFirst: 0) { Hang = true }), new LineProtocolPublisherOptions
        {
            RequestTimeout = TimeSpan.FromMilliseconds(50),
        });
        Assert.False(await publisher.TryPostAsync("m v=1 1\n"));
        Assert.Equal(1, publisher.FailedAttempts);
    }

    [Fact]
    public async Task An_unreachable_server_is_reported_not_thrown()
    {
        var f = VirtualFactory.CreateDefault(1, Monday);
        var publisher = new LineProtocolPublisher(f, new HttpClient(new FakeServer(failFirst: 0) { Throw = true }));
        Assert.False(await publisher.TryPostAsync("m v=1 1\n"));
        Assert.Equal(1, publisher.FailedAttempts);
    }

    private sealed record Received(Uri Uri, string? Authorization, string? Encoding, string Body, HttpStatusCode Status);

    private sealed class FakeServer(int failFirst) : HttpMessageHandler
    {
        private int _calls;

        public ConcurrentQueue<Received> Requests { get; } = new();
        public TaskCompletionSource<int> Delivered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public bool Throw { get; init; }
        public bool Hang { get; init; }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (Throw)
            {
                throw new HttpRequestException("connection refused");
            }

            if (Hang)
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            byte[] raw = await request.Content!.ReadAsByteArrayAsync(cancellationToken);
            string? encoding = request.Content.Headers.ContentEncoding.FirstOrDefault();
            if (encoding == "gzip")
            {
                using var gz = new GZipStream(new MemoryStream(raw), CompressionMode.Decompress);
                using var plain = new MemoryStream();
                await gz.CopyToAsync(plain, cancellationToken);
                raw = plain.ToArray();
            }

            int n = Interlocked.Increment(ref _calls);
            HttpStatusCode status = n <= failFirst ? HttpStatusCode.ServiceUnavailable : HttpStatusCode.NoContent;
            Requests.Enqueue(new Received(request.RequestUri!, request.Headers.Authorization?.ToString(), encoding, Encoding.UTF8.GetString(raw), status));
            if (status == HttpStatusCode.NoContent)
            {
                Delivered.TrySetResult(n);
            }

            return new HttpResponseMessage(status);
        }
    }
}
