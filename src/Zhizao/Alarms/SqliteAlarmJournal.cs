using Microsoft.Data.Sqlite;
using Zhizao.Rules;
using Zhizao.Rules.Alarms;

namespace Zhizao.Alarms;

/// <summary>
/// The append-only alarm journal in its own SQLite file (WAL mode, synchronous=NORMAL: an entry survives a process
/// crash; after a power loss the last few may be gone — the journal is an audit trail, not the data path).
/// Nothing updates or deletes rows.
/// </summary>
public sealed class SqliteAlarmJournal : IAlarmJournal, IDisposable
{
    private readonly SqliteConnection _db;
    private readonly SqliteCommand _insert;
    private readonly Lock _gate = new();

    public SqliteAlarmJournal(string path)
    {
        _db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        _db.Open();
        using (var cmd = _db.CreateCommand())
        {
            cmd.CommandText = """
                PRAGMA journal_mode=WAL;
                PRAGMA synchronous=NORMAL;
                CREATE TABLE IF NOT EXISTS journal(
                    seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, alarm_id TEXT NOT NULL, rule_id TEXT NOT NULL,
                    equipment_id TEXT NOT NULL, priority INTEGER NOT NULL, event INTEGER NOT NULL, prev INTEGER NOT NULL,
                    next INTEGER NOT NULL, user TEXT, comment TEXT, value REAL, shelving INTEGER NOT NULL, shelved_until INTEGER);
                CREATE INDEX IF NOT EXISTS journal_ts ON journal(ts);
                """;
            cmd.ExecuteNonQuery();
        }

        _insert = _db.CreateCommand();
        _insert.CommandText = "INSERT INTO journal VALUES($seq,$ts,$a,$r,$e,$p,$ev,$prev,$next,$u,$c,$v,$sh,$su)";
        foreach (string n in new[] { "$seq", "$ts", "$a", "$r", "$e", "$p", "$ev", "$prev", "$next", "$u", "$c", "$v", "$sh", "$su" })
        {
            _insert.Parameters.Add(new SqliteParameter(n, null));
        }
    }

    public long LastSequence
    {
        get
        {
            lock (_gate)
            {
                using var cmd = _db.CreateCommand();
                cmd.CommandText = "SELECT COALESCE(MAX(seq), 0) FROM journal";
                return (long)cmd.ExecuteScalar()!;
            }
        }
    }

    public void Append(AlarmJournalEntry entry)
    {
        lock (_gate)
        {
            var p = _insert.Parameters;
            p[0].Value = entry.Sequence;
            p[1].Value = entry.TimestampNs;
            p[2].Value = entry.AlarmId;
            p[3].Value = entry.RuleId;
            p[4].Value = entry.EquipmentId;
            p[5].Value = (int)entry.Priority;
            p[6].Value = (int)entry.Event;
            p[7].Value = (int)entry.Previous;
            p[8].Value = (int)entry.Next;
            p[9].Value = (object?)entry.User ?? DBNull.Value;
            p[10].Value = (object?)entry.Comment ?? DBNull.Value;
            p[11].Value = entry.Value is double v && double.IsFinite(v) ? v : DBNull.Value;
            p[12].Value = (int)entry.Shelving;
            p[13].Value = (object?)entry.ShelvedUntilNs ?? DBNull.Value;
            _insert.ExecuteNonQuery();
        }

        Appended?.Invoke(entry);
    }

    /// <summary>Raised after each entry is written (on the writer's thread, possibly under the alarm manager's lock:
    /// handlers must only hand the entry on, never block or call back into the alarm manager).</summary>
    public event Action<AlarmJournalEntry>? Appended;

    public IReadOnlyList<AlarmJournalEntry> Read(long fromNs, long toNs)
    {
        lock (_gate)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT * FROM journal WHERE ts >= $f AND ts < $t ORDER BY seq";
            cmd.Parameters.AddWithValue("$f", fromNs);
            cmd.Parameters.AddWithValue("$t", toNs);
            using var r = cmd.ExecuteReader();
            var list = new List<AlarmJournalEntry>();
            while (r.Read())
            {
                list.Add(new AlarmJournalEntry(
                    r.GetInt64(0), r.GetInt64(1), r.GetString(2), r.GetString(3), r.GetString(4),
                    (AlarmPriority)r.GetInt32(5), (AlarmEvent)r.GetInt32(6), (AlarmStates)r.GetInt32(7), (AlarmStates)r.GetInt32(8),
                    r.IsDBNull(9) ? null : r.GetString(9), r.IsDBNull(10) ? null : r.GetString(10),
                    r.IsDBNull(11) ? null : r.GetDouble(11), (ShelvingState)r.GetInt32(12), r.IsDBNull(13) ? null : r.GetInt64(13)));
            }

            return list;
        }
    }

    public void Dispose()
    {
        _insert.Dispose();
        _db.Dispose();
    }
}
