using Zhizao.Core;
using Zhizao.Storage.Metadata;

namespace Zhizao.Storage.Tests.Metadata;

public sealed class MetadataStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("zz-meta-").FullName;

    private static readonly EquipmentType Pump = new()
    {
        Id = "pump",
        Name = "Centrifugal pump",
        Tags =
        [
            new TagDefinition { Name = "flow", DataType = ValueKind.Float64, Unit = "m3/h", RangeLow = 0, RangeHigh = 200 },
            new TagDefinition { Name = "state", DataType = ValueKind.Int64 },
        ],
    };

    private MetadataStore Open() => MetadataStore.Open(Path.Combine(_dir, "metadata.db"));

    private static void SeedTree(MetadataStore m)
    {
        m.UpsertType(Pump);
        m.UpsertAsset(new Asset { Id = "acme", Name = "Acme", Level = AssetLevel.Enterprise });
        m.UpsertAsset(new Asset { Id = "plant-1", Name = "Plant 1", Level = AssetLevel.Site, ParentId = "acme" });
        m.UpsertAsset(new Asset { Id = "area-1", Name = "Utilities", Level = AssetLevel.Area, ParentId = "plant-1" });
        m.UpsertAsset(new Asset { Id = "p-01", Name = "Pump 1", Level = AssetLevel.Equipment, ParentId = "area-1", TypeId = "pump" });
    }

    [Fact]
    public void Assets_and_types_survive_reopen()
    {
        using (var m = Open())
        {
            SeedTree(m);
        }

        using var again = Open();
        Assert.Equal(4, again.Snapshot.Assets.Count);
        Assert.True(again.Snapshot.TryGetEquipmentTags("p-01", out var tags));
        Assert.Equal(ValueKind.Int64, tags["state"].DataType);
        Assert.Equal(200, tags["flow"].RangeHigh);
        Assert.Equal(["flow", "state"], again.GetType("pump")!.Tags.Select(t => t.Name));
    }

    [Fact]
    public void Child_must_sit_below_its_parents_level()
    {
        using var m = Open();
        SeedTree(m);
        var e = Assert.Throws<InvalidInputException>(() =>
            m.UpsertAsset(new Asset { Id = "site-x", Name = "X", Level = AssetLevel.Site, ParentId = "p-01" }));
        Assert.Contains("cannot sit under 'p-01'", e.Message);
    }

    [Fact]
    public void Unknown_parent_and_unknown_type_are_rejected_with_names()
    {
        using var m = Open();
        SeedTree(m);
        Assert.Contains("parent 'nope'", Assert.Throws<InvalidInputException>(() =>
            m.UpsertAsset(new Asset { Id = "x", Name = "X", Level = AssetLevel.Line, ParentId = "nope" })).Message);
        Assert.Contains("type 'robot'", Assert.Throws<InvalidInputException>(() =>
            m.UpsertAsset(new Asset { Id = "x", Name = "X", Level = AssetLevel.Equipment, ParentId = "area-1", TypeId = "robot" })).Message);
    }

    [Fact]
    public void Invalid_ids_are_rejected()
    {
        using var m = Open();
        Assert.Throws<InvalidInputException>(() => m.UpsertAsset(new Asset { Id = "a/b", Name = "X", Level = AssetLevel.Enterprise }));
        Assert.Throws<InvalidInputException>(() => m.UpsertType(new EquipmentType { Id = "t", Name = "T", Tags = [new TagDefinition { Name = "has space" }] }));
        Assert.Throws<InvalidInputException>(() => m.UpsertType(new EquipmentType { Id = "t", Name = "T", Tags = [new TagDefinition { Name = "a" }, new TagDefinition { Name = "a" }] }));
    }

    [Fact]
    public void Deleting_a_parent_needs_recursive_and_then_removes_the_subtree()
    {
        using var m = Open();
        SeedTree(m);
        Assert.Throws<ConflictException>(() => m.DeleteAsset("plant-1"));
        Assert.Equal(4, m.Snapshot.Assets.Count);
        m.DeleteAsset("plant-1", recursive: true);
        Assert.Equal(["acme"], m.Snapshot.Assets.Select(a => a.Id));
    }

    [Fact]
    public void A_type_in_use_cannot_be_deleted()
    {
        using var m = Open();
        SeedTree(m);
        Assert.Contains("p-01", Assert.Throws<ConflictException>(() => m.DeleteType("pump")).Message);
        m.DeleteAsset("p-01");
        m.DeleteType("pump");
        Assert.Empty(m.Snapshot.Types);
    }

    [Fact]
    public void Import_is_all_or_nothing_and_names_the_bad_entry()
    {
        using var m = Open();
        var doc = new AssetModelDocument
        {
            Types = [Pump],
            Assets =
            [
                new Asset { Id = "p-01", Name = "Pump", Level = AssetLevel.Equipment, ParentId = "area-1", TypeId = "pump" },
                new Asset { Id = "acme", Name = "Acme", Level = AssetLevel.Enterprise },
                new Asset { Id = "area-1", Name = "Area", Level = AssetLevel.Area, ParentId = "ghost" },
            ],
        };
        var e = Assert.Throws<InvalidInputException>(() => m.Import(doc));
        Assert.StartsWith("assets[2]", e.Message);
        Assert.Empty(m.Snapshot.Assets);
        Assert.Empty(m.Snapshot.Types);
    }

    [Fact]
    public void Import_accepts_children_before_parents_and_export_round_trips()
    {
        using var m = Open();
        var doc = new AssetModelDocument
        {
            Types = [Pump],
            Assets =
            [
                new Asset { Id = "p-01", Name = "Pump", Level = AssetLevel.Equipment, ParentId = "area-1", TypeId = "pump" },
                new Asset { Id = "area-1", Name = "Area", Level = AssetLevel.Area, ParentId = "site" },
                new Asset { Id = "site", Name = "Site", Level = AssetLevel.Site, ParentId = "acme" },
                new Asset { Id = "acme", Name = "Acme", Level = AssetLevel.Enterprise },
            ],
        };
        Assert.Equal((1, 4), m.Import(doc));
        var back = m.Export();
        Assert.Equal(4, back.Assets.Count);
        Assert.Equal(Pump.Tags.Count, back.Types.Single().Tags.Count);

        using var other = MetadataStore.Open(Path.Combine(_dir, "other.db"));
        other.Import(back);
        Assert.Equal(m.Snapshot.Assets.OrderBy(a => a.Id).ToList(), other.Snapshot.Assets.OrderBy(a => a.Id).ToList());
    }

    [Fact]
    public void Documents_are_saved_by_kind_replaced_deleted_and_survive_reopen()
    {
        var changed = new List<string>();
        using (var m = Open())
        {
            m.DocumentsChanged += changed.Add;
            m.SaveDocument("rule", "b", "{\"v\":1}");
            m.SaveDocument("rule", "a", "{\"v\":2}");
            m.SaveDocument("rule", "a", "{\"v\":3}");
            m.SaveDocument("other", "a", "{}");
            Assert.True(m.DeleteDocument("rule", "b"));
            Assert.False(m.DeleteDocument("rule", "b"));
        }

        Assert.Equal(["rule", "rule", "rule", "other", "rule"], changed);
        using var again = Open();
        Assert.Equal([("a", "{\"v\":3}")], again.ListDocuments("rule"));
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_dir, true);
        }
        catch (IOException)
        {
        }
    }
}
