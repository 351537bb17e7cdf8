using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace Zhizao.Hosting;

/// <summary>
/// Shared-token authentication for /api. With no token configured the node must listen on loopback only
/// (checked at start); with a token every /api request must carry "Authorization: Token X" or "Bearer X".
/// The token is compared in constant time and never logged.
/// </summary>
internal static class TokenAuth
{
    public static void EnsureSafeBinding(PlatformOptions options)
    {
        if (!string.IsNullOrEmpty(options.ApiToken))
        {
            return;
        }

        foreach (string url in options.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!IsLoopback(url))
            {
                throw new InvalidOperationException(
                    $"refusing to listen on '{url}' without credentials: set an API token (--api-token or Zhizao__ApiToken) or bind to 127.0.0.1");
            }
        }
    }

    public static bool IsLoopback(string url)
    {
        if (!Uri.TryCreate(url.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal), UriKind.Absolute, out var uri))
        {
            return false;
        }

        return uri.IsLoopback || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
    }

    public static IApplicationBuilder UseTokenAuth(this IApplicationBuilder app, string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return app;
        }

        byte[] expected = Encoding.UTF8.GetBytes(token);
        return app.Use(async (ctx, next) =>
        {
            if (ctx.Request.Path.StartsWithSegments("/api", StringComparison.Ordinal) && !Matches(ctx.Request.Headers.Authorization.ToString(), expected))
            {
                ctx.Response.StatusCode = StatusCodes.Status401Unauthorized;
                ctx.Response.Headers.WWWAuthenticate = "Token";
                await ctx.Response.WriteAsJsonAsync(new { code = "unauthorized", message = "missing or wrong API token: send 'Authorization: Token <token>'" });
                return;
            }

            await next(ctx);
        });
    }

    private static bool Matches(string header, byte[] expected)
    {
        ReadOnlySpan<char> h = header.AsSpan().Trim();
        int space = h.IndexOf(' ');
        if (space <= 0)
        {
            return false;
        }

        var scheme = h[..space];
        if (!scheme.Equals("Token", StringComparison.OrdinalIgnoreCase) && !scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        byte[] given = Encoding.UTF8.GetBytes(h[(space + 1)..].Trim().ToString());
        return CryptographicOperations.FixedTimeEquals(given, expected);
    }
}
