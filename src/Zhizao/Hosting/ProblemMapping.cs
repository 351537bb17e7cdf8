using Microsoft.AspNetCore.Diagnostics;
using Zhizao.Core;

namespace Zhizao.Hosting;

/// <summary>Turns Zhizao's exception taxonomy into RFC 9457 problem responses; the process keeps running.</summary>
internal sealed partial class ProblemMapping(ILogger<ProblemMapping> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        (int status, string title) = exception switch
        {
            InvalidInputException => (StatusCodes.Status400BadRequest, "Invalid input"),
            BadHttpRequestException b => (b.StatusCode, "Bad request"),
            NotFoundException => (StatusCodes.Status404NotFound, "Not found"),
            ConflictException => (StatusCodes.Status409Conflict, "Conflict"),
            TransientException => (StatusCodes.Status503ServiceUnavailable, "Temporarily unavailable"),
            System.Text.Json.JsonException => (StatusCodes.Status400BadRequest, "Invalid JSON"),
            _ => (StatusCodes.Status500InternalServerError, "Internal error"),
        };

        if (status >= 500)
        {
            LogUnhandled(logger, context.Request.Path, exception);
        }

        context.Response.StatusCode = status;
        await context.Response.WriteAsJsonAsync(
            new Microsoft.AspNetCore.Mvc.ProblemDetails
            {
                Status = status,
                Title = title,
                Detail = status >= 500 ? "see the server log" : Describe(exception),
                Instance = context.Request.Path,
            },
            options: null,
            contentType: "application/problem+json",
            cancellationToken);
        return true;
    }

    /// <summary>The message, plus the JSON reader's reason (which names the path) when binding a body failed.</summary>
    private static string Describe(Exception exception) =>
        exception is BadHttpRequestException { InnerException: System.Text.Json.JsonException j }
            ? $"{exception.Message} {j.Message}"
            : exception.Message;

    [LoggerMessage(EventId = 1000, Level = LogLevel.Error, Message = "Unhandled error on {Path}")]
    private static partial void LogUnhandled(ILogger logger, string path, Exception exception);
}
