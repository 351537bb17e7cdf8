using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Zhizao.Api;

namespace Zhizao.Cli;

/// <summary>The CLI talks to a running node over its REST API, like any other client.</summary>
internal sealed class ApiClient : IDisposable
{
    private readonly HttpClient _http;

    public ApiClient(string baseUrl, string? token)
    {
        _http = new HttpClient { BaseAddress = new Uri(baseUrl.TrimEnd('/') + "/"), Timeout = TimeSpan.FromMinutes(5) };
        if (!string.IsNullOrEmpty(token))
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Token", token);
        }
    }

    public Uri BaseAddress => _http.BaseAddress!;

    public async Task<T> GetAsync<T>(string path, CancellationToken ct)
    {
        using var resp = await SendAsync(new HttpRequestMessage(HttpMethod.Get, path.TrimStart('/')), ct);
        return (await resp.Content.ReadFromJsonAsync<T>(ModelFormats.Json, ct))!;
    }

    public async Task<string> GetStringAsync(string path, CancellationToken ct)
    {
        using var resp = await SendAsync(new HttpRequestMessage(HttpMethod.Get, path.TrimStart('/')), ct);
        return await resp.Content.ReadAsStringAsync(ct);
    }

    public async Task<string> SendAsync(HttpMethod method, string path, HttpContent? content, CancellationToken ct)
    {
        using var resp = await SendAsync(new HttpRequestMessage(method, path.TrimStart('/')) { Content = content }, ct);
        return await resp.Content.ReadAsStringAsync(ct);
    }

    public async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct, bool throwOnError = true)
    {
        HttpResponseMessage resp;
        try
        {
            resp = await _http.SendAsync(request, ct);
        }
        catch (HttpRequestException e)
        {
            throw new CliException($"cannot reach the Zhizao server at {_http.BaseAddress}: {e.Message}. Is it running (dotnet run --project src/Zhizao)? Use --server to point elsewhere.");
        }
        finally
        {
            request.Dispose();
        }

        if (throwOnError && !resp.IsSuccessStatusCode)
        {
            string body = await resp.Content.ReadAsStringAsync(ct);
            resp.Dispose();
            throw new CliException($"{(int)resp.StatusCode} {resp.ReasonPhrase}: {Describe(body)}");
        }

        return resp;
    }

    private static string Describe(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.TryGetProperty("detail", out var d) && d.ValueKind == JsonValueKind.String)
            {
                return d.GetString()!;
            }

            if (root.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String)
            {
                return m.GetString()!;
            }
        }
        catch (JsonException)
        {
        }

        return body.Length > 500 ? body[..500] : body;
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>A CLI failure with a message for the user (no stack trace).</summary>
internal sealed class CliException(string message) : Exception(message);
