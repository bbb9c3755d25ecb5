/* schema.c: the store's tables (docs/FORMAT.md, "Database schema"), the
 * magic number and schema version checks, and migrations.  A file of a
 * newer schema version is refused, never touched. */
#include "store.h"
#include "err.h"
#include <stdio.h>

/* Version 1.  Chunk ids are AUTOINCREMENT so that they are never reused:
 * the HNSW image's high-water mark relies on every vector newer than the
 * image having a larger id.  The trigger logs deletions of vectors the
 * saved image holds, so that a reopened image drops them.  doc_meta is the
 * metadata flattened into (key, kind, value) rows (meta.c), so that a
 * filter reads an index instead of parsing every document's JSON. */
static const char schema_v1[] =
    "CREATE TABLE meta(\n"
    "  key TEXT PRIMARY KEY,\n"
    "  value TEXT NOT NULL\n"
    ") STRICT;\n"
    "CREATE TABLE collections(\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  name TEXT NOT NULL UNIQUE,\n"
    "  metric TEXT NOT NULL CHECK (metric IN ('cosine', 'dot', 'l2')),\n"
    "  dim INTEGER NOT NULL DEFAULT 0 CHECK (dim >= 0),\n"
    "  model TEXT,\n"
    "  pooling TEXT,\n"
    "  normalize INTEGER NOT NULL DEFAULT 0,\n"
    "  weights_hash TEXT,\n"
    "  hnsw_m INTEGER NOT NULL,\n"
    "  hnsw_ef_construction INTEGER NOT NULL,\n"
    "  hnsw_ef_search INTEGER NOT NULL,\n"
    "  change_seq INTEGER NOT NULL DEFAULT 0,\n"
    "  created INTEGER NOT NULL\n"
    ") STRICT;\n"
    "CREATE TABLE documents(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,\n"
    "  ext_id TEXT NOT NULL,\n"
    "  uri TEXT,\n"
    "  content_hash TEXT NOT NULL,\n"
    "  mtime INTEGER NOT NULL DEFAULT 0,\n"
    "  metadata TEXT NOT NULL DEFAULT '{}',\n"
    "  added INTEGER NOT NULL,\n"
    "  UNIQUE (collection_id, ext_id)\n"
    ") STRICT;\n"
    "CREATE TABLE chunks(\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,\n"
    "  ordinal INTEGER NOT NULL,\n"
    "  text TEXT NOT NULL,\n"
    "  start_byte INTEGER NOT NULL DEFAULT -1,\n"
    "  end_byte INTEGER NOT NULL DEFAULT -1,\n"
    "  heading TEXT,\n"
    "  UNIQUE (doc_id, ordinal)\n"
    ") STRICT;\n"
    "CREATE TABLE doc_meta(\n"
    "  collection_id INTEGER NOT NULL,\n"
    "  key TEXT NOT NULL,\n"
    "  kind INTEGER NOT NULL CHECK (kind IN (0, 1, 2)),\n"
    "  value ANY NOT NULL,\n"
    "  doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,\n"
    "  PRIMARY KEY (collection_id, key, kind, value, doc_id)\n"
    ") STRICT, WITHOUT ROWID;\n"
    "CREATE INDEX doc_meta_by_doc ON doc_meta(doc_id);\n"
    "CREATE TABLE vectors(\n"
    "  chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,\n"
    "  collection_id INTEGER NOT NULL,\n"
    "  vector BLOB NOT NULL\n"
    ") STRICT;\n"
    "CREATE INDEX vectors_by_collection ON vectors(collection_id, chunk_id);\n"
    "CREATE TABLE hnsw_images(\n"
    "  collection_id INTEGER PRIMARY KEY REFERENCES collections(id) ON DELETE CASCADE,\n"
    "  high_water INTEGER NOT NULL,\n"
    "  n_vectors INTEGER NOT NULL,\n"
    "  n_bytes INTEGER NOT NULL,\n"
    "  n_parts INTEGER NOT NULL,\n"
    "  saved INTEGER NOT NULL\n"
    ") STRICT;\n"
    "CREATE TABLE hnsw_image_parts(\n"
    "  collection_id INTEGER NOT NULL REFERENCES hnsw_images(collection_id) ON DELETE CASCADE,\n"
    "  part INTEGER NOT NULL,\n"
    "  data BLOB NOT NULL,\n"
    "  PRIMARY KEY (collection_id, part)\n"
    ") STRICT;\n"
    "CREATE TABLE hnsw_deleted(\n"
    "  collection_id INTEGER NOT NULL,\n"
    "  chunk_id INTEGER NOT NULL,\n"
    "  PRIMARY KEY (collection_id, chunk_id)\n"
    ") STRICT, WITHOUT ROWID;\n"
    "CREATE TRIGGER vectors_deleted AFTER DELETE ON vectors\n"
    "  WHEN old.chunk_id <= (SELECT high_water FROM hnsw_images WHERE collection_id = old.collection_id)\n"
    "BEGIN\n"
    "  INSERT OR IGNORE INTO hnsw_deleted(collection_id, chunk_id) VALUES (old.collection_id, old.chunk_id);\n"
    "END;\n"
    "INSERT INTO meta(key, value) VALUES ('format', 'semdex store'), ('created_by', 'semdex " SEMDEX_VERSION_STRING
    "');\n";

/* migrations[v] takes a store from version v to v + 1. */
static const char *const migrations[SX_SCHEMA_VERSION] = {schema_v1};

static semdex_status pragma_int(semdex_db *db, const char *sql, int64_t *out, semdex_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db->db, sql, -1, &s, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        *out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_OK ? SEMDEX_OK : sx_db_error(db, rc, "schema", err);
}

static semdex_status migrate(semdex_db *db, int64_t from, semdex_error *err)
{
    semdex_status st = sx_db_begin(db, 1, err);
    if (st)
        return st;
    /* Re-read under the write lock: another process may have migrated. */
    int64_t v = 0;
    st = pragma_int(db, "PRAGMA user_version", &v, err);
    for (; !st && v < SX_SCHEMA_VERSION; v++)
        st = sx_db_exec(db, migrations[v], err);
    if (!st && v == SX_SCHEMA_VERSION && from < SX_SCHEMA_VERSION) {
        char sql[128];
        snprintf(sql, sizeof sql, "PRAGMA application_id = %d; PRAGMA user_version = %d", SX_APPLICATION_ID,
                 SX_SCHEMA_VERSION);
        st = sx_db_exec(db, sql, err);
    }
    if (st) {
        sx_db_rollback(db);
        return st;
    }
    return sx_db_commit(db, err);
}

semdex_status sx_schema_open(semdex_db *db, semdex_error *err)
{
    int64_t app = 0, version = 0, n_tables = 0;
    semdex_status st = pragma_int(db, "PRAGMA application_id", &app, err);
    if (!st)
        st = pragma_int(db, "PRAGMA user_version", &version, err);
    if (!st)
        st = pragma_int(db, "SELECT count(*) FROM sqlite_schema", &n_tables, err);
    if (st)
        return st;
    if (app != SX_APPLICATION_ID && (app != 0 || n_tables != 0))
        return sx_err_set(err, SEMDEX_ERR_FORMAT, db->path, "application_id", -1,
                          "not a semdex store (a SQLite database of another application, id 0x%08llx)",
                          (unsigned long long)app);
    if (version > SX_SCHEMA_VERSION)
        return sx_err_set(err, SEMDEX_ERR_UNSUPPORTED, db->path, "user_version", -1,
                          "schema version %lld is newer than this semdex reads (%d): upgrade semdex",
                          (long long)version, SX_SCHEMA_VERSION);
    if (version < 0 || (app == SX_APPLICATION_ID && version == 0))
        return sx_err_set(err, SEMDEX_ERR_FORMAT, db->path, "user_version", -1, "bad schema version %lld",
                          (long long)version);
    if (version == SX_SCHEMA_VERSION)
        return SEMDEX_OK;
    if (db->read_only)
        return sx_err_set(err, SEMDEX_ERR_UNSUPPORTED, db->path, "user_version", -1,
                          version ? "schema version %lld needs migrating: open it writable once"
                                  : "empty database (version %lld): open it writable to create a store",
                          (long long)version);
    /* WAL is a property of the file; set it before the first table. */
    st = sx_db_exec(db, "PRAGMA journal_mode = WAL", err);
    if (!st)
        st = migrate(db, version, err);
    return st;
}
