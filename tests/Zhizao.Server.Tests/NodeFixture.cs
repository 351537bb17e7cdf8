using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Hosting;
using Zhizao.Hosting;

namespace Zhizao.Server.Tests;

/// <summary>A real node (Kestrel on a free loopback port, real storage in a temp directory), in-process.</summary>
public sealed class Node : IAsyncDisposable
{
    private readonly WebApplication _app;

    private Node(WebApplication app, string dir, PlatformOptions options)
    {
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

    public static async Task<Node> StartAsync(Action<PlatformOptions>? configure = null, string? dataDir = null)
    {
        string dir = dataDir ?? System.IO.Directory.CreateTempSubdirectory("zz-node-").FullName;
        var options = new PlatformOptions { DataDirectory = dir, Urls = "http://127.0.0.1:0", Demo = false };
        configure?.Invoke(options);
        var app = ServerHost.Build(options);
        await app.StartAsync();
        return new Node(app, dir, options);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
