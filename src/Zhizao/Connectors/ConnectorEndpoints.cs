using Microsoft.AspNetCore.Http.HttpResults;
using Zhizao.Core;

namespace Zhizao.Connectors;

/// <summary>A connector as the API lists it: its configuration (password as "set") and its health.</summary>
public sealed record ConnectorView(ConnectorConfig Config, ConnectorHealthSnapshot? Health);

/// <summary>/api/connectors: configure OPC UA and Modbus connectors, see their health, browse and read devices.</summary>
internal static class ConnectorEndpoints
{
    public static void MapConnectorEndpoints(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/api/connectors").WithTags("Connectors");
        g.MapGet("/", (ConnectorService s) => TypedResults.Ok(s.List().Select(c => new ConnectorView(c, s.GetHealth(c.Name))).ToList()))
            .WithSummary("All connectors with their health; passwords are shown as \"set\"");

        g.MapGet("/health", (ConnectorService s) => TypedResults.Ok(s.Health()))
            .WithSummary("Health of every connector: state, last value time, values received, errors by kind, last error");

        g.MapGet("/{name}", Results<Ok<ConnectorView>, NotFound> (ConnectorService s, string name) =>
            s.Get(name) is { } c ? TypedResults.Ok(new ConnectorView(c, s.GetHealth(name))) : TypedResults.NotFound())
            .WithSummary("One connector with its health");

        g.MapGet("/{name}/health", Results<Ok<ConnectorHealthSnapshot>, NotFound> (ConnectorService s, string name) =>
            s.GetHealth(name) is { } h ? TypedResults.Ok(h) : TypedResults.NotFound())
            .WithSummary("Health of one connector");

        g.MapPut("/{name}", async Task<Ok<ConnectorConfig>> (ConnectorService s, string name, ConnectorConfig config, CancellationToken ct) =>
        {
            if (config.Name != name)
            {
                throw new InvalidInputException($"body name '{config.Name}' differs from the URL's '{name}'", "name");
            }

            return TypedResults.Ok(await s.AddOrUpdateAsync(config, ct));
        }).WithSummary("Create or replace a connector; it (re)starts at once. A password of \"set\" keeps the stored one");

        g.MapDelete("/{name}", async Task<NoContent> (ConnectorService s, string name, CancellationToken ct) =>
        {
            await s.DeleteAsync(name, ct);
            return TypedResults.NoContent();
        }).WithSummary("Stop and delete a connector (and its health equipment)");

        g.MapPost("/opcua/browse", async Task<Results<Ok<IReadOnlyList<OpcUaBrowseNode>>, ProblemHttpResult>> (ConnectorService s, OpcUaBrowseRequest request, HttpContext http, CancellationToken ct) =>
        {
            try
            {
                return TypedResults.Ok(await ConnectorTools.BrowseAsync(request, s, ct));
            }
            catch (TransientException e)
            {
                return DeviceProblem(http, e);
            }
        })
            .WithSummary("Children of an OPC UA node (Objects folder by default) with browse name, node class, data type and value");

        g.MapPost("/modbus/read", async Task<Results<Ok<ModbusReadResult>, ProblemHttpResult>> (ModbusReadRequest request, HttpContext http, CancellationToken ct) =>
        {
            try
            {
                return TypedResults.Ok(await ConnectorTools.ReadModbusAsync(request, ct));
            }
            catch (TransientException e)
            {
                return DeviceProblem(http, e);
            }
        })
            .WithSummary("Read a register range and/or typed points once, to check a register map");
    }

    /// <summary>The device did not answer (or broke the protocol): 502 with its reason, which names the device, never a secret.</summary>
    private static ProblemHttpResult DeviceProblem(HttpContext http, TransientException e) =>
        TypedResults.Problem(e.Message, http.Request.Path, StatusCodes.Status502BadGateway, "Device unreachable");
}
