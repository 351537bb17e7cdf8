using System.Collections.Frozen;
using Microsoft.Data.Sqlite;
using Zhizao.Core;

namespace Zhizao.Storage.Metadata;

/// <summary>A consistent, read-only view of the asset model used on the ingest hot path.</summary>
public sealed class AssetSnapshot
{
    internal AssetSnapshot(IReadOnlyList<Asset> assets, IReadOnlyList<EquipmentType> types)
    {
        Assets = assets;
        Types = types;
        AssetsById = assets.ToFrozenDictionary(a => a.Id, StringComparer.Ordinal);
        TypesById = types.ToFrozenDictionary(t => t.Id, StringComparer.Ordinal);
        TagsByType = types.ToFrozenDictionary(
            t => t.Id,
            t => t.Tags.ToFrozenDictionary(g => g.Name, StringComparer.Ordinal),
            StringComparer.Ordinal);
    }

    public IReadOnlyList<Asset> Assets { get; }
    public IReadOnlyList<EquipmentType> Types { get; }
    public FrozenDictionary<string, Asset> AssetsById { get; }
    public FrozenDictionary<string, EquipmentType> TypesById { get; }
    public FrozenDictionary<string, FrozenDictionary<string, TagDefinition>> TagsByType { get; }

    /// <summary>The tag definition when <paramref name="equipmentId"/> is registered equipment with a type.</summary>
    public bool TryGetEquipmentTags(string equipmentId, out FrozenDictionary<string, TagDefinition> tags)
    {
        if (AssetsById.TryGetValue(equipmentId, out var a) && a.TypeId is not null && TagsByType.TryGetValue(a.TypeId, out tags!))
        {
            return true;
        }

        tags = null!;
        return false;
    }
}

/// <summary>The whole asset model as one document, for import and export (YAML or JSON).</summary>
public sealed class AssetModelDocument
{
    public List<EquipmentType> Types { get; set; } = [];
    public List<Asset> Assets { get; set; } = [];
}

/// <summary>
/// The ISA-95 asset model and equipment types in an embedded SQLite database (WAL mode, synchronous=FULL).
/// Reads on the hot path go to <see cref="Snapshot"/>, rebuilt after every change.
/// </summary>
public sealed class MetadataStore : IDisposable
{
    private readonly SqliteConnection _db;
    private readonly Lock _gate = new();
    private volatile AssetSnapshot _snapshot;

    private MetadataStore(SqliteConnection db)
    {
        _db = db;
        _snapshot = Load();
    }

    /// <summary>Raised after any change, with the new snapshot.</summary>
    public event Action<AssetSnapshot>? Changed;

    public AssetSnapshot Snapshot => _snapshot;

    public static MetadataStore Open(string path)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
        }

        var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        db.Open();
        Exec(db, """
            PRAGMA journal_mode=WAL;
            PRAGMA synchronous=FULL;
            PRAGMA foreign_keys=ON;
            CREATE TABLE IF NOT EXISTS equipment_types(
                id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT);
            CREATE TABLE IF NOT EXISTS tag_definitions(
                type_id TEXT NOT NULL REFERENCES equipment_types(id) ON DELETE CASCADE,
                name TEXT NOT NULL, data_type INTEGER NOT NULL, unit TEXT, range_low REAL, range_high REAL,
                description TEXT, ordinal INTEGER NOT NULL, PRIMARY KEY(type_id, name));
            CREATE TABLE IF NOT EXISTS documents(
                kind TEXT NOT NULL, id TEXT NOT NULL, json TEXT NOT NULL, PRIMARY KEY(kind, id));
            CREATE TABLE IF NOT EXISTS assets(
                id TEXT PRIMARY KEY, name TEXT NOT NULL, level INTEGER NOT NULL,
                parent_id TEXT REFERENCES assets(id), type_id TEXT REFERENCES equipment_types(id), description TEXT);
            """);
        return new MetadataStore(db);
    }

    // ---- equipment types ----

    public EquipmentType? GetType(string id) => _snapshot.TypesById.GetValueOrDefault(id);

    public EquipmentType UpsertType(EquipmentType type)
    {
        ValidateType(type);
        lock (_gate)
        {
            using var tx = _db.BeginTransaction();
            UpsertTypeCore(type, tx);
            tx.Commit();
            Refresh();
        }

        return type;
    }

    public void DeleteType(string id)
    {
        lock (_gate)
        {
            if (!_snapshot.TypesById.ContainsKey(id))
            {
                throw new NotFoundException($"equipment type '{id}' does not exist");
            }

            var users = _snapshot.Assets.Where(a => a.TypeId == id).Select(a => a.Id).Take(5).ToList();
            if (users.Count > 0)
            {
                throw new ConflictException($"equipment type '{id}' is used by {string.Join(", ", users)}; change or delete those assets first");
            }

            using var tx = _db.BeginTransaction();
            Exec(_db, "DELETE FROM equipment_types WHERE id=$id", tx, ("$id", id));
            tx.Commit();
            Refresh();
        }
    }

    // ---- assets ----

    public Asset? GetAsset(string id) => _snapshot.AssetsById.GetValueOrDefault(id);

    public IReadOnlyList<Asset> Children(string? parentId) =>
        _snapshot.Assets.Where(a => a.ParentId == parentId).ToList();

    /// <summary>Creates or replaces an asset after checking id, level order, parent and type.</summary>
    public Asset UpsertAsset(Asset asset)
    {
        lock (_gate)
        {
            ValidateAsset(asset, _snapshot.AssetsById, _snapshot.TypesById);
            using var tx = _db.BeginTransaction();
            UpsertAssetCore(asset, tx);
            tx.Commit();
            Refresh();
        }

        return asset;
    }

    public void DeleteAsset(string id, bool recursive = false)
    {
        lock (_gate)
        {
            if (!_snapshot.AssetsById.ContainsKey(id))
            {
                throw new NotFoundException($"asset '{id}' does not exist");
            }

            var doomed = new List<string>();
            CollectSubtree(id, doomed);
            if (doomed.Count > 1 && !recursive)
            {
                throw new ConflictException($"asset '{id}' has {doomed.Count - 1} descendants; delete them first or ask for a recursive delete");
            }

            using var tx = _db.BeginTransaction();
            for (int i = doomed.Count - 1; i >= 0; i--)
            {
                Exec(_db, "DELETE FROM assets WHERE id=$id", tx, ("$id", doomed[i]));
            }

            tx.Commit();
            Refresh();
        }
    }

    // ---- documents: JSON configuration owned by other rooms (rules, connectors), stored opaquely ----

    /// <summary>Raised with the document kind after a document of that kind was saved or deleted.</summary>
    public event Action<string>? DocumentsChanged;

    public IReadOnlyList<(string Id, string Json)> ListDocuments(string kind)
    {
        lock (_gate)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT id, json FROM documents WHERE kind=$k ORDER BY id";
            cmd.Parameters.AddWithValue("$k", kind);
            using var r = cmd.ExecuteReader();
            var list = new List<(string, string)>();
            while (r.Read())
            {
                list.Add((r.GetString(0), r.GetString(1)));
            }

            return list;
        }
    }

    public void SaveDocument(string kind, string id, string json)
    {
        lock (_gate)
        {
            Exec(_db, "INSERT INTO documents(kind,id,json) VALUES($k,$id,$j) ON CONFLICT(kind,id) DO UPDATE SET json=$j", null, ("$k", kind), ("$id", id), ("$j", json));
        }

        DocumentsChanged?.Invoke(kind);
    }

    /// <summary>False when there was no such document.</summary>
    public bool DeleteDocument(string kind, string id)
    {
        int n;
        lock (_gate)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "DELETE FROM documents WHERE kind=$k AND id=$id";
            cmd.Parameters.AddWithValue("$k", kind);
            cmd.Parameters.AddWithValue("$id", id);
            n = cmd.ExecuteNonQuery();
        }

        if (n > 0)
        {
            DocumentsChanged?.Invoke(kind);
        }

        return n > 0;
    }

    // ---- import / export ----

    public AssetModelDocument Export() => new()
    {
        Types = [.. _snapshot.Types],
        Assets = [.. _snapshot.Assets],
    };

    /// <summary>
    /// Upserts a whole document in one transaction: all of it lands or none of it. Assets may come in any order;
    /// parents are resolved within the document and the existing model. Returns (types, assets) written.
    /// </summary>
    public (int Types, int Assets) Import(AssetModelDocument doc)
    {
        ArgumentNullException.ThrowIfNull(doc);
        lock (_gate)
        {
            var types = new Dictionary<string, EquipmentType>(_snapshot.TypesById, StringComparer.Ordinal);
            for (int i = 0; i < doc.Types.Count; i++)
            {
                var t = doc.Types[i] ?? throw new InvalidInputException("null entry", $"types[{i}]");
                Wrap($"types[{i}]", () => ValidateType(t));
                types[t.Id] = t;
            }

            var assets = new Dictionary<string, Asset>(_snapshot.AssetsById, StringComparer.Ordinal);
            foreach (var a in doc.Assets)
            {
                if (a is not null && a.Id is not null)
                {
                    assets[a.Id] = a;
                }
            }

            var ordered = new List<Asset>();
            for (int i = 0; i < doc.Assets.Count; i++)
            {
                var a = doc.Assets[i] ?? throw new InvalidInputException("null entry", $"assets[{i}]");
                Wrap($"assets[{i}]", () => ValidateAsset(a, assets, types));
                ordered.Add(a);
            }

            // parents before children, whatever order the file used
            ordered.Sort((x, y) => x.Level.CompareTo(y.Level));

            using var tx = _db.BeginTransaction();
            foreach (var t in doc.Types)
            {
                UpsertTypeCore(t, tx);
            }

            foreach (var a in ordered)
            {
                UpsertAssetCore(a, tx);
            }

            tx.Commit();
            Refresh();
            return (doc.Types.Count, doc.Assets.Count);
        }
    }

    public void Dispose() => _db.Dispose();

    // ---- internals ----

    private static void Wrap(string where, Action action)
    {
        try
        {
            action();
        }
        catch (InvalidInputException e)
        {
            throw new InvalidInputException(e.Message, where);
        }
    }

    private static void ValidateType(EquipmentType type)
    {
        if (type is null || !SeriesKey.IsValidId(type.Id))
        {
            throw new InvalidInputException($"equipment type id '{type?.Id}' is invalid: use 1-128 letters, digits, '-', '_' or '.'");
        }

        if (string.IsNullOrWhiteSpace(type.Name))
        {
            throw new InvalidInputException($"equipment type '{type.Id}' needs a name");
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var tag in type.Tags ?? [])
        {
            if (tag is null || !SeriesKey.IsValidId(tag.Name))
            {
                throw new InvalidInputException($"tag name '{tag?.Name}' of type '{type.Id}' is invalid: use 1-128 letters, digits, '-', '_' or '.'");
            }

            if (!seen.Add(tag.Name))
            {
                throw new InvalidInputException($"tag '{tag.Name}' is defined twice in type '{type.Id}'");
            }

            if (!Enum.IsDefined(tag.DataType))
            {
                throw new InvalidInputException($"tag '{tag.Name}' of type '{type.Id}' has unknown data type {(int)tag.DataType}");
            }

            if (tag.RangeLow is double lo && tag.RangeHigh is double hi && !(lo <= hi))
            {
                throw new InvalidInputException($"tag '{tag.Name}' of type '{type.Id}': range low {lo} is above range high {hi}");
            }
        }
    }

    private static void ValidateAsset(Asset asset, IReadOnlyDictionary<string, Asset> assets, IReadOnlyDictionary<string, EquipmentType> types)
    {
        if (asset is null || !SeriesKey.IsValidId(asset.Id))
        {
            throw new InvalidInputException($"asset id '{asset?.Id}' is invalid: use 1-128 letters, digits, '-', '_' or '.'");
        }

        if (string.IsNullOrWhiteSpace(asset.Name))
        {
            throw new InvalidInputException($"asset '{asset.Id}' needs a name");
        }

        if (!Enum.IsDefined(asset.Level))
        {
            throw new InvalidInputException($"asset '{asset.Id}' has unknown level {(int)asset.Level}");
        }

        if (asset.ParentId is null)
        {
            if (asset.Level != AssetLevel.Enterprise)
            {
                throw new InvalidInputException($"asset '{asset.Id}' is a {asset.Level} and needs a parent; only an Enterprise may be a root");
            }
        }
        else
        {
            if (asset.ParentId == asset.Id)
            {
                throw new InvalidInputException($"asset '{asset.Id}' cannot be its own parent");
            }

            if (!assets.TryGetValue(asset.ParentId, out var parent))
            {
                throw new InvalidInputException($"parent '{asset.ParentId}' of asset '{asset.Id}' does not exist");
            }

            if (parent.Level >= asset.Level)
            {
                throw new InvalidInputException($"asset '{asset.Id}' ({asset.Level}) cannot sit under '{parent.Id}' ({parent.Level}): levels go Enterprise > Site > Area > Line > Cell > Equipment");
            }
        }

        if (asset.Level == AssetLevel.Equipment)
        {
            if (asset.TypeId is not null && !types.ContainsKey(asset.TypeId))
            {
                throw new InvalidInputException($"equipment type '{asset.TypeId}' of asset '{asset.Id}' does not exist");
            }
        }
        else if (asset.TypeId is not null)
        {
            throw new InvalidInputException($"asset '{asset.Id}' is a {asset.Level}; only Equipment has an equipment type");
        }
    }

    private void UpsertTypeCore(EquipmentType type, SqliteTransaction tx)
    {
        Exec(_db, "INSERT INTO equipment_types(id,name,description) VALUES($id,$n,$d) ON CONFLICT(id) DO UPDATE SET name=$n, description=$d",
            tx, ("$id", type.Id), ("$n", type.Name), ("$d", type.Description));
        Exec(_db, "DELETE FROM tag_definitions WHERE type_id=$id", tx, ("$id", type.Id));
        int ordinal = 0;
        foreach (var tag in type.Tags ?? [])
        {
            Exec(_db, "INSERT INTO tag_definitions(type_id,name,data_type,unit,range_low,range_high,description,ordinal) VALUES($t,$n,$k,$u,$lo,$hi,$d,$o)",
                tx, ("$t", type.Id), ("$n", tag.Name), ("$k", (int)tag.DataType), ("$u", tag.Unit), ("$lo", tag.RangeLow),
                ("$hi", tag.RangeHigh), ("$d", tag.Description), ("$o", ordinal++));
        }
    }

    private void UpsertAssetCore(Asset a, SqliteTransaction tx) =>
        Exec(_db, """
            INSERT INTO assets(id,name,level,parent_id,type_id,description) VALUES($id,$n,$l,$p,$t,$d)
            ON CONFLICT(id) DO UPDATE SET name=$n, level=$l, parent_id=$p, type_id=$t, description=$d
            """, tx, ("$id", a.Id), ("$n", a.Name), ("$l", (int)a.Level), ("$p", a.ParentId), ("$t", a.TypeId), ("$d", a.Description));

    private void CollectSubtree(string id, List<string> into)
    {
        into.Add(id);
        foreach (var c in _snapshot.Assets)
        {
            if (c.ParentId == id)
            {
                CollectSubtree(c.Id, into);
            }
        }
    }

    private void Refresh()
    {
        _snapshot = Load();
        Changed?.Invoke(_snapshot);
    }

    private AssetSnapshot Load()
    {
        var tags = new Dictionary<string, List<TagDefinition>>(StringComparer.Ordinal);
        using (var cmd = _db.CreateCommand())
        {
            cmd.CommandText = "SELECT type_id,name,data_type,unit,range_low,range_high,description FROM tag_definitions ORDER BY type_id, ordinal";
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                string typeId = r.GetString(0);
                if (!tags.TryGetValue(typeId, out var list))
                {
                    tags[typeId] = list = [];
                }

                list.Add(new TagDefinition
                {
                    Name = r.GetString(1),
                    DataType = (ValueKind)r.GetInt32(2),
                    Unit = r.IsDBNull(3) ? null : r.GetString(3),
                    RangeLow = r.IsDBNull(4) ? null : r.GetDouble(4),
                    RangeHigh = r.IsDBNull(5) ? null : r.GetDouble(5),
                    Description = r.IsDBNull(6) ? null : r.GetString(6),
                });
            }
        }

        var types = new List<EquipmentType>();
        using (var cmd = _db.CreateCommand())
        {
            cmd.CommandText = "SELECT id,name,description FROM equipment_types ORDER BY id";
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                string id = r.GetString(0);
                types.Add(new EquipmentType
                {
                    Id = id,
                    Name = r.GetString(1),
                    Description = r.IsDBNull(2) ? null : r.GetString(2),
                    Tags = tags.TryGetValue(id, out var l) ? l : [],
                });
            }
        }

        var assets = new List<Asset>();
        using (var cmd = _db.CreateCommand())
        {
            cmd.CommandText = "SELECT id,name,level,parent_id,type_id,description FROM assets ORDER BY level, id";
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                assets.Add(new Asset
                {
                    Id = r.GetString(0),
                    Name = r.GetString(1),
                    Level = (AssetLevel)r.GetInt32(2),
                    ParentId = r.IsDBNull(3) ? null : r.GetString(3),
                    TypeId = r.IsDBNull(4) ? null : r.GetString(4),
                    Description = r.IsDBNull(5) ? null : r.GetString(5),
                });
            }
        }

        return new AssetSnapshot(assets, types);
    }

    private static void Exec(SqliteConnection db, string sql, SqliteTransaction? tx = null, params (string Name, object? Value)[] args)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        foreach (var (name, value) in args)
        {
            cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        cmd.ExecuteNonQuery();
    }
}
