/* db.c: opening and closing a store, the SQLite connection's settings,
 * transactions, cached statements and SQLite error mapping.  Knows the
 * schema only through schema.c. */
#include "store.h"
#include "alloc.h"
#include "err.h"
#include <string.h>
#include <sys/stat.h>

semdex_db_options semdex_db_options_default(void)
{
    semdex_db_options o = {0};
    o.create = 1;
    o.busy_timeout_ms = 5000;
    return o;
}

static semdex_status map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_NOMEM:
        return SEMDEX_ERR_NOMEM;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
    case SQLITE_FORMAT:
    case SQLITE_SCHEMA:
    case SQLITE_MISMATCH:
        return SEMDEX_ERR_FORMAT;
    case SQLITE_CONSTRAINT:
    case SQLITE_RANGE:
        return SEMDEX_ERR_INVALID_ARG;
    case SQLITE_TOOBIG:
    case SQLITE_FULL:
        return SEMDEX_ERR_LIMIT;
    default:
        return SEMDEX_ERR_IO;
    }
}

semdex_status sx_db_error(semdex_db *db, int rc, const char *what, semdex_error *err)
{
    const char *msg = db && db->db ? sqlite3_errmsg(db->db) : sqlite3_errstr(rc);
    if ((rc & 0xff) == SQLITE_NOTADB)
        return sx_err_set(err, SEMDEX_ERR_FORMAT, db ? db->path : NULL, NULL, -1,
                          "not a SQLite database (or damaged beyond reading)");
    if ((rc & 0xff) == SQLITE_CORRUPT)
        return sx_err_set(err, SEMDEX_ERR_FORMAT, db ? db->path : NULL, NULL, -1,
                          "the database file is damaged (%s)", msg);
    return sx_err_set(err, map_rc(rc), db ? db->path : NULL, NULL, -1, "%s: %s", what ? what : "sqlite", msg);
}

sqlite3_stmt *sx_db_stmt(semdex_db *db, const char *sql, semdex_error *err)
{
    for (size_t i = 0; i < db->n_stmts; i++) {
        if (db->stmts[i].sql == sql) {
            sqlite3_stmt *s = db->stmts[i].stmt;
            sqlite3_reset(s);
            sqlite3_clear_bindings(s);
            return s;
        }
    }
    if (SX_GROW(db->stmts, db->cap_stmts, db->n_stmts + 1)) {
        sx_err_set(err, SEMDEX_ERR_NOMEM, db->path, NULL, -1, "out of memory");
        return NULL;
    }
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v3(db->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
    if (rc != SQLITE_OK) {
        sx_db_error(db, rc, "prepare", err);
        sqlite3_finalize(s);
        return NULL;
    }
    db->stmts[db->n_stmts].sql = sql;
    db->stmts[db->n_stmts].stmt = s;
    db->n_stmts++;
    return s;
}

semdex_status sx_db_exec(semdex_db *db, const char *sql, semdex_error *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db->db, sql, NULL, NULL, &msg);
    sqlite3_free(msg);
    if (rc != SQLITE_OK)
        return sx_db_error(db, rc, "exec", err);
    return SEMDEX_OK;
}

semdex_status sx_db_begin(semdex_db *db, int write, semdex_error *err)
{
    if (write && db->read_only)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, db->path, NULL, -1, "the store is open read-only");
    semdex_status st = sx_db_exec(db, write ? "BEGIN IMMEDIATE" : "BEGIN", err);
    if (!st)
        db->in_txn = 1;
    return st;
}

semdex_status sx_db_commit(semdex_db *db, semdex_error *err)
{
    semdex_status st = sx_db_exec(db, "COMMIT", err);
    if (st) {
        sx_db_rollback(db);
        return st;
    }
    db->in_txn = 0;
    return SEMDEX_OK;
}

void sx_db_rollback(semdex_db *db)
{
    if (!db->in_txn)
        return;
    /* Statements left mid-step would keep the read lock. */
    for (size_t i = 0; i < db->n_stmts; i++)
        sqlite3_reset(db->stmts[i].stmt);
    if (!sqlite3_get_autocommit(db->db))
        sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
    db->in_txn = 0;
}

semdex_status sx_db_int(semdex_db *db, const char *sql, int n_bind, int64_t a, int64_t b, int64_t def,
                        int64_t *out, semdex_error *err)
{
    sqlite3_stmt *s = sx_db_stmt(db, sql, err);
    if (!s)
        return err ? err->status : SEMDEX_ERR_IO;
    if (n_bind > 0)
        sqlite3_bind_int64(s, 1, a);
    if (n_bind > 1)
        sqlite3_bind_int64(s, 2, b);
    int rc = sqlite3_step(s);
    *out = def;
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_type(s, 0) != SQLITE_NULL)
            *out = sqlite3_column_int64(s, 0);
        rc = sqlite3_step(s);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return sx_db_error(db, rc, "query", err);
    return SEMDEX_OK;
}

static void db_free(semdex_db *db)
{
    for (size_t i = 0; i < db->n_colls; i++)
        sx_collection_free(db->colls[i]);
    sx_free(db->colls);
    for (size_t i = 0; i < db->n_stmts; i++)
        sqlite3_finalize(db->stmts[i].stmt);
    sx_free(db->stmts);
    if (db->db)
        sqlite3_close_v2(db->db);
    sx_free(db->path);
    sx_free(db);
}

/* Connection settings.  WAL: readers never block the writer and a crash
 * leaves the last committed state.  synchronous=FULL: a batch reported as
 * committed survives power loss too (NORMAL only survives process
 * crashes); one fsync per batch is small next to embedding it. */
static semdex_status configure(semdex_db *db, const semdex_db_options *o, semdex_error *err)
{
    sqlite3_extended_result_codes(db->db, 1);
    sqlite3_busy_timeout(db->db, o->busy_timeout_ms > 0 ? o->busy_timeout_ms : 0);
    semdex_status st = sx_db_exec(db, "PRAGMA foreign_keys = ON", err);
    if (!st && !db->read_only)
        st = sx_db_exec(db, "PRAGMA synchronous = FULL", err);
    return st;
}

semdex_status semdex_db_open(const char *path, const semdex_db_options *opts, semdex_db **out, semdex_error *err)
{
    *out = NULL;
    semdex_db_options o = opts ? *opts : semdex_db_options_default();
    if (!path || !*path)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, "path", -1, "no database path given");
    int is_memory = !strcmp(path, ":memory:");
    struct stat sb;
    if (!is_memory && stat(path, &sb) != 0 && (!o.create || o.read_only))
        return sx_err_set(err, SEMDEX_ERR_IO, path, NULL, -1, "no such database file");
    if (!is_memory && stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return sx_err_set(err, SEMDEX_ERR_IO, path, NULL, -1, "not a regular file");
    semdex_db *db = sx_calloc(1, sizeof *db);
    if (!db || !(db->path = sx_strndup(path, strlen(path)))) {
        sx_free(db);
        return sx_err_set(err, SEMDEX_ERR_NOMEM, path, NULL, -1, "out of memory");
    }
    db->read_only = o.read_only;
    int flags = (o.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | (o.create ? SQLITE_OPEN_CREATE : 0)) |
                SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, &db->db, flags, NULL);
    semdex_status st;
    if (rc != SQLITE_OK) {
        st = sx_db_error(db, rc, "open", err);
        db_free(db);
        return st;
    }
    st = configure(db, &o, err);
    if (!st)
        st = sx_schema_open(db, err);
    if (st) {
        db_free(db);
        return st;
    }
    *out = db;
    return SEMDEX_OK;
}

semdex_status semdex_db_checkpoint(semdex_db *db, semdex_error *err)
{
    if (!db)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, NULL, -1, "no database");
    if (db->read_only)
        return SEMDEX_OK;
    semdex_collection **cs = NULL;
    size_t n = 0;
    semdex_status st = sx_collection_all(db, &cs, &n, err);
    for (size_t i = 0; !st && i < n; i++)
        st = sx_vindex_save(cs[i], SX_SAVE_IF_BEHIND, err);
    sx_free(cs);
    if (st)
        return st;
    int rc = sqlite3_wal_checkpoint_v2(db->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        return sx_db_error(db, rc, "checkpoint", err);
    return SEMDEX_OK;
}

void semdex_db_close(semdex_db *db)
{
    if (!db)
        return;
    sx_db_rollback(db);
    if (!db->read_only) {
        /* Best effort: an image left behind is repaired on the next open. */
        for (size_t i = 0; i < db->n_colls; i++)
            if (!db->colls[i]->dropped)
                sx_vindex_save(db->colls[i], SX_SAVE_IF_LOADED, NULL);
    }
    db_free(db);
}
