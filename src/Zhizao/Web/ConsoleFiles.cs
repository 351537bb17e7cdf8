using Microsoft.Extensions.FileProviders;

namespace Zhizao.Web;

/// <summary>
/// Serves the web console (wwwroot: plain HTML, CSS and ES modules; charts by uPlot, which the build installs from npm
/// into wwwroot/lib). Every response is revalidated (ETag) so an upgraded node never runs a stale script, and the
/// pages may only load scripts from the node itself.
/// </summary>
internal static class ConsoleFiles
{
    public static string WebRoot => Path.Combine(AppContext.BaseDirectory, "wwwroot");

    private const string Csp = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

    public static IApplicationBuilder UseConsoleFiles(this WebApplication app)
    {
        if (app.Environment.WebRootFileProvider is NullFileProvider || !File.Exists(Path.Combine(WebRoot, "index.html")))
        {
            app.MapGet("/", () => TypedResults.Text("The web console's files are missing next to the zhizao assembly (wwwroot); the API is under /api.", statusCode: 404))
                .ExcludeFromDescription();
            return app;
        }

        app.UseDefaultFiles();
        return app.UseStaticFiles(new StaticFileOptions
        {
            OnPrepareResponse = ctx =>
            {
                var h = ctx.Context.Response.Headers;
                h.CacheControl = "no-cache";
                h.XContentTypeOptions = "nosniff";
                h.ContentSecurityPolicy = Csp;
                h["Referrer-Policy"] = "no-referrer";
            },
        });
    }
}
