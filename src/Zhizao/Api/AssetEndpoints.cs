using Microsoft.AspNetCore.Http.HttpResults;
using Zhizao.Core;
using Zhizao.Storage.Metadata;

namespace Zhizao.Api;

/// <summary>CRUD for the ISA-95 asset tree and equipment types, plus import/export of the whole model.</summary>
internal static class AssetEndpoints
{
    public static void MapAssetEndpoints(this IEndpointRouteBuilder app)
    {
        var assets = app.MapGroup("/api/assets").WithTags("Assets");
        assets.MapGet("/", (MetadataStore meta, string? parent, AssetLevel? level) =>
            TypedResults.Ok(meta.Snapshot.Assets.Where(a => (parent is null || a.ParentId == parent) && (level is null || a.Level == level)).ToList()))
            .WithSummary("List assets, optionally the children of one parent or one level");

        assets.MapGet("/{id}", Results<Ok<Asset>, NotFound> (MetadataStore meta, string id) =>
            meta.GetAsset(id) is { } a ? TypedResults.Ok(a) : TypedResults.NotFound());

        assets.MapPost("/", Created<Asset> (MetadataStore meta, Asset asset) =>
        {
            if (meta.GetAsset(asset.Id) is not null)
            {
                throw new ConflictException($"asset '{asset.Id}' already exists; use PUT /api/assets/{asset.Id} to change it");
            }

            return TypedResults.Created($"/api/assets/{asset.Id}", meta.UpsertAsset(asset));
        });

        assets.MapPut("/{id}", Ok<Asset> (MetadataStore meta, string id, Asset asset) =>
        {
            if (asset.Id != id)
            {
                throw new InvalidInputException($"body id '{asset.Id}' differs from the URL's '{id}'", "id");
            }

            return TypedResults.Ok(meta.UpsertAsset(asset));
        });

        assets.MapDelete("/{id}", NoContent (MetadataStore meta, string id, bool? recursive) =>
        {
            meta.DeleteAsset(id, recursive ?? false);
            return TypedResults.NoContent();
        });

        assets.MapGet("/{id}/tags", Results<Ok<List<TagWithValue>>, NotFound> (MetadataStore meta, Storage.ITimeSeriesStore store, string id) =>
        {
            if (!meta.Snapshot.TryGetEquipmentTags(id, out var _) || meta.GetAsset(id) is not { TypeId: { } typeId })
            {
                return TypedResults.NotFound();
            }

            var list = new List<TagWithValue>();
            foreach (var tag in meta.Snapshot.TypesById[typeId].Tags)
            {
                string key = SeriesKey.ForTag(id, tag.Name);
                LatestValue? latest = null;
                if (store.TryGetSeries(key, out var s) && store.TryGetLatest(s.Id, out var p))
                {
                    latest = LatestValue.From(key, p);
                }

                list.Add(new TagWithValue(tag, key, latest));
            }

            return TypedResults.Ok(list);
        }).WithSummary("The tags of one equipment with their latest values");

        var types = app.MapGroup("/api/types").WithTags("Equipment types");
        types.MapGet("/", (MetadataStore meta) => TypedResults.Ok(meta.Snapshot.Types));
        types.MapGet("/{id}", Results<Ok<EquipmentType>, NotFound> (MetadataStore meta, string id) =>
            meta.GetType(id) is { } t ? TypedResults.Ok(t) : TypedResults.NotFound());
        types.MapPost("/", Created<EquipmentType> (MetadataStore meta, EquipmentType type) =>
        {
            if (meta.GetType(type.Id) is not null)
            {
                throw new ConflictException($"equipment type '{type.Id}' already exists; use PUT /api/types/{type.Id} to change it");
            }

            return TypedResults.Created($"/api/types/{type.Id}", meta.UpsertType(type));
        });
        types.MapPut("/{id}", Ok<EquipmentType> (MetadataStore meta, string id, EquipmentType type) =>
        {
            if (type.Id != id)
            {
                throw new InvalidInputException($"body id '{type.Id}' differs from the URL's '{id}'", "id");
            }

            return TypedResults.Ok(meta.UpsertType(type));
        });
        types.MapDelete("/{id}", NoContent (MetadataStore meta, string id) =>
        {
            meta.DeleteType(id);
            return TypedResults.NoContent();
        });

        var model = app.MapGroup("/api/model").WithTags("Asset model");
        model.MapGet("/export", async (MetadataStore meta, HttpContext ctx, string? format) =>
        {
            var doc = meta.Export();
            if (string.Equals(format, "yaml", StringComparison.OrdinalIgnoreCase))
            {
                ctx.Response.ContentType = "application/yaml";
                await ctx.Response.WriteAsync(ModelFormats.ToYaml(doc));
                return;
            }

            await ctx.Response.WriteAsJsonAsync(doc);
        }).WithSummary("The whole asset model as JSON (default) or YAML (?format=yaml)");

        model.MapPost("/import", async Task<Ok<ImportResult>> (MetadataStore meta, HttpRequest req) =>
        {
            using var reader = new StreamReader(req.Body);
            string text = await reader.ReadToEndAsync();
            var doc = ModelFormats.Parse(text, req.ContentType);
            var (t, a) = meta.Import(doc);
            return TypedResults.Ok(new ImportResult(t, a));
        }).WithSummary("Upsert a whole model document (JSON or YAML, any content type; JSON when it starts with '{') in one transaction");
    }
}

public sealed record ImportResult(int Types, int Assets);

public sealed record LatestValue(string Key, long TimestampNs, string Time, object Value)
{
    public static LatestValue From(string key, Core.DataPoint p) => new(key, p.TimestampNs, Core.Time.ToIso(p.TimestampNs), p.Value.ToObject());
}

public sealed record TagWithValue(TagDefinition Tag, string Series, LatestValue? Latest);
