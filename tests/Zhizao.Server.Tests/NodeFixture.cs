using System.Collections.Concurrent;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Zhizao.Hosting;

namespace Zhizao.Server.Tests;

/// <summary>A real node (Kestrel on a free loopback port, real storage in a temp directory), in-process.</summary>
public sealed class Node : IAsyncDisposable
{
    private readonly WebApplication _app;

    private Node(WebApplication app, string dir, PlatformOptions options, ConcurrentQueue<string> logs)
    {
        Logs = logs;
        _app = app;
        Directory = dir;
        Options = options;
        Url = app.BoundAddress();
        Http = new HttpClient { BaseAddress = new Uri(Url + "/") };
        if (options.ApiToken is { } t)
        {
            Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Token", t);
        }
    }

    public string Url { get; }
    public string Directory { get; }
    public PlatformOptions Options { get; }
    public HttpClient Http { get; }
    public IServiceProvider Services => _app.Services;

    /// <summary>Every log line of the node (category: message), captured from its start.</summary>
    public ConcurrentQueue<string> Logs { get; }

    public static async Task<Node> StartAsync(Action<PlatformOptions>? configure = null, string? dataDir = null)
    {
        string dir = dataDir ?? System.IO.Directory.CreateTempSubdirectory("zz-node-").FullName;
        var options = new PlatformOptions { DataDirectory = dir, Urls = "http://127.0.0.1:0", Demo = false };
        configure?.Invoke(options);
        var app = ServerHost.Build(options);
        var logs = new ConcurrentQueue<string>();
        app.Services.GetRequiredService<ILoggerFactory>().AddProvider(new CaptureProvider(logs));
        await app.StartAsync();
        return new Node(app, dir, options, logs);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>Keeps a node's log lines for assertions.</summary>
internal sealed class CaptureProvider(ConcurrentQueue<string> lines) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Capture(categoryName, lines);

    public void Dispose()
    {
    }

    private sealed class Capture(string category, ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel) && lines.Count < 100_000)
            {
                lines.Enqueue($"{category}: {formatter(state, exception)}");
            }
        }
    }
}
