using Microsoft.AspNetCore.Http.HttpResults;
using Zhizao.Core;
using Zhizao.Demo;
using Zhizao.Simulator;

namespace Zhizao.Api;

/// <summary>The virtual factory: inject a fault (for demos and tests) and read the ground truth of faults.</summary>
internal static class DemoEndpoints
{
    public static void MapDemoEndpoints(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/api/demo").WithTags("Virtual factory");
        g.MapGet("/ground-truth", (DemoPlant plant) => TypedResults.Ok(Factory(plant).GroundTruth))
            .WithSummary("Every seeded or injected fault: onset, failure and repair times");
        g.MapPost("/faults", Ok<GroundTruthEvent> (DemoPlant plant, FaultRequest req) =>
        {
            var f = Factory(plant);
            if (!Enum.TryParse<FaultKind>(req.Kind, ignoreCase: true, out var kind) || !Enum.IsDefined(kind))
            {
                throw new InvalidInputException($"unknown fault kind '{req.Kind}': use one of {string.Join(", ", Enum.GetNames<FaultKind>())}", "kind");
            }

            double minutes = req.MinutesToFailure ?? 60;
            if (minutes is <= 0 or > 60 * 24 * 30)
            {
                throw new InvalidInputException("minutesToFailure must be between 0 and 43200", "minutesToFailure");
            }

            return TypedResults.Ok(f.InjectFault(req.Machine, kind, TimeSpan.FromMinutes(minutes)));
        }).WithSummary("Start a fault on a machine of the virtual factory (BearingWear, Fouling, SensorDrift, ToolWear, Leak, HeaterDegradation, Breakdown)");
    }

    private static VirtualFactory Factory(DemoPlant plant) =>
        plant.Factory ?? throw new NotFoundException("the virtual factory is not running on this node (started with --no-demo?)");
}

public sealed record FaultRequest(string Machine, string Kind, double? MinutesToFailure);
