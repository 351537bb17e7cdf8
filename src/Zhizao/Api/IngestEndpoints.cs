using System.Buffers;
using System.IO.Compression;
using Microsoft.AspNetCore.Http.Features;
using Zhizao.Core;
using Zhizao.Hosting;
using Zhizao.Ingest;
using Zhizao.Pipeline;

namespace Zhizao.Api;

/// <summary>
/// HTTP ingest: InfluxDB v2 line protocol (Telegraf's influxdb_v2 output) and the JSON batch format.
/// A request is answered only after its points are durable.
/// </summary>
internal static class IngestEndpoints
{
    public static void MapIngestEndpoints(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/api").WithTags("Ingest");

        g.MapPost("/v2/write", async (HttpContext ctx, IngestService ingest, PlatformOptions options, string? precision, string? org, string? bucket) =>
        {
            if (!TimestampPrecisionExtensions.TryParse(precision, out var p))
            {
                return Problem(400, "invalid", $"precision '{precision}' is not one of ns, us, ms, s");
            }

            return await WithBodyAsync(ctx, options, body => ingest.WriteLineProtocolAsync(body, p, ctx.RequestAborted), "line");
        })
        .WithSummary("Write InfluxDB line protocol (v2 API; any content type). 204 when all lines are stored; 400 'partial write' lists rejected lines, the others are stored.");

        g.MapPost("/ingest/json", (HttpContext ctx, IngestService ingest, PlatformOptions options) =>
            WithBodyAsync(ctx, options, body => ingest.WriteJsonAsync(body, ctx.RequestAborted), "item"))
        .WithSummary("Write a JSON batch (any content type): {\"points\":[{\"series\":\"eq/tag\",\"t\":..., \"v\":...} or {\"equipment\":\"eq\",\"t\":...,\"values\":{...}}]}. 204 when all items are stored; 400 lists rejected items by index.");

        // InfluxDB 1.x clients post to /write
        app.MapPost("/write", (HttpContext ctx) =>
        {
            ctx.Response.StatusCode = 307;
            ctx.Response.Headers.Location = "/api/v2/write" + ctx.Request.QueryString;
            return Task.CompletedTask;
        }).ExcludeFromDescription();
    }

    /// <summary>Reads the body into a pooled buffer, hands it to <paramref name="write"/>, answers 204 or a partial-write 400.</summary>
    private static async Task<IResult> WithBodyAsync(HttpContext ctx, PlatformOptions options, Func<ReadOnlyMemory<byte>, Task<IngestOutcome>> write, string unit)
    {
        var (buffer, length, error) = await ReadBodyAsync(ctx, options.MaxBodyBytes);
        try
        {
            return error ?? Answer(await write(buffer.AsMemory(0, length)), unit);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    internal static IResult Answer(IngestOutcome outcome, string unit)
    {
        var parse = outcome.Parse;
        var stored = outcome.Stored;
        if (parse.Rejected == 0 && stored.Rejected == 0)
        {
            return TypedResults.NoContent();
        }

        string first = parse.FirstError ?? stored.FirstRejectReason ?? "rejected";
        var body = new WriteRejection(
            "invalid",
            $"partial write: {parse.Rejected} {unit}(s) rejected, {stored.Rejected} point(s) refused by storage; first: {first}",
            parse.Accepted,
            parse.Rejected,
            stored.Accepted,
            stored.Rejected,
            parse.Errors.Select(e => new WriteError(e.Position, e.Reason)).ToList());
        return TypedResults.Json(body, statusCode: 400);
    }

    /// <summary>Reads the whole body into a pooled buffer, gunzipping if asked, within the size limit.</summary>
    internal static async Task<(byte[] Buffer, int Length, IResult? Error)> ReadBodyAsync(HttpContext ctx, long limit)
    {
        long max = Math.Min(limit, Array.MaxLength);
        if (ctx.Request.ContentLength > max)
        {
            // the body stays unread: tell the client not to reuse this connection (Kestrel closes it), or its next
            // request on it fails with "response ended prematurely" (found by CI)
            ctx.Response.Headers.Connection = "close";
            return (Array.Empty<byte>(), 0, Problem(413, "request too large", $"body is {ctx.Request.ContentLength} bytes; the limit is {max} (Zhizao:MaxBodyBytes)"));
        }

        if (ctx.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } f)
        {
            f.MaxRequestBodySize = max;
        }

        Stream input = ctx.Request.Body;
        bool gzip = ctx.Request.Headers.ContentEncoding.ToString().Contains("gzip", StringComparison.OrdinalIgnoreCase);
        if (gzip)
        {
            // the compressed body is read whole first (bounded by the same limit), then inflated from memory: a body that
            // inflates past the limit is refused with 413 only after the request was consumed, so the client always
            // receives the answer (answering while it was still sending lost the response now and then, found by CI)
            var compressed = new MemoryStream();
            try
            {
                await ctx.Request.Body.CopyToAsync(compressed, ctx.RequestAborted);
            }
            catch (BadHttpRequestException e) when (e.StatusCode == 413)
            {
                ctx.Response.Headers.Connection = "close"; // the rest of the body stays unread
                return (Array.Empty<byte>(), 0, Problem(413, "request too large", $"body is larger than the limit of {max} bytes (Zhizao:MaxBodyBytes)"));
            }

            compressed.Position = 0;
            input = new GZipStream(compressed, CompressionMode.Decompress);
        }

        byte[] buffer = ArrayPool<byte>.Shared.Rent((int)Math.Clamp(ctx.Request.ContentLength ?? 64 * 1024, 4096, 16 * 1024 * 1024));
        int length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (buffer.Length >= max)
                    {
                        return (buffer, 0, Problem(413, "request too large", $"body is larger than the limit of {max} bytes{(gzip ? " after decompression" : string.Empty)} (Zhizao:MaxBodyBytes)"));
                    }

                    byte[] bigger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)buffer.Length * 2, max));
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }

                int n = await input.ReadAsync(buffer.AsMemory(length), ctx.RequestAborted);
                if (n == 0)
                {
                    break;
                }

                length += n;
            }
        }
        catch (BadHttpRequestException e) when (e.StatusCode == 413)
        {
            ctx.Response.Headers.Connection = "close"; // the rest of the body stays unread
            return (buffer, 0, Problem(413, "request too large", $"body is larger than the limit of {max} bytes (Zhizao:MaxBodyBytes)"));
        }
        catch (InvalidDataException e)
        {
            return (buffer, 0, Problem(400, "invalid", $"body is not valid gzip: {e.Message}"));
        }
        finally
        {
            if (gzip)
            {
                await input.DisposeAsync();
            }
        }

        return (buffer, length, null);
    }

    internal static IResult Problem(int status, string code, string message) =>
        TypedResults.Json(new WriteRejection(code, message, 0, 0, 0, 0, []), statusCode: status);
}

/// <summary>InfluxDB-style error body ({"code","message"}) with Zhizao's per-line details.</summary>
public sealed record WriteRejection(string Code, string Message, int LinesAccepted, int LinesRejected, int PointsStored, int PointsRefused, List<WriteError> Errors);

public sealed record WriteError(int Line, string Reason);

