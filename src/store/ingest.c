/* ingest.c: adding and deleting documents.  One call is one write
 * transaction holding the documents, chunks, vectors and keyword-index
 * rows, so a crash leaves all of a batch or none of it.  The in-memory HNSW
 * graph follows only after the commit (vindex.c). */
#include "store.h"
#include "alloc.h"
#include "err.h"
#include "json.h"
#include "utf8.h"
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_TEXT ((size_t)64 << 20) /* bytes in one chunk */
#define MAX_ID 1024                 /* bytes in a document id */

/* Labels added and removed by a transaction, for the graph after commit. */
typedef struct changes {
    int64_t *added;
    float *vectors; /* [n_added x dim] as stored */
    size_t n_added, cap_added, cap_vectors;
    int64_t *deleted;
    size_t n_deleted, cap_deleted;
    int track; /* a graph is loaded: remember what it must learn */
} changes;

static void changes_free(changes *ch)
{
    sx_free(ch->added);
    sx_free(ch->vectors);
    sx_free(ch->deleted);
}

/* Fills err naming documents[doc](.chunks[chunk]).what. */
static semdex_status field_err(semdex_collection *c, semdex_error *err, semdex_status st, size_t doc, long chunk,
                               const char *what, int64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

static semdex_status field_err(semdex_collection *c, semdex_error *err, semdex_status st, size_t doc, long chunk,
                               const char *what, int64_t offset, const char *fmt, ...)
{
    char field[128], msg[256];
    if (chunk >= 0)
        snprintf(field, sizeof field, "documents[%zu].chunks[%ld].%s", doc, chunk, what);
    else
        snprintf(field, sizeof field, "documents[%zu].%s", doc, what);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sx_err_set(err, st, c->db->path, field, offset, "%s", msg);
}

static int cmp_str_idx(const void *a, const void *b, void *docs)
{
    const semdex_document_input *d = docs;
    return strcmp(d[*(const size_t *)a].id, d[*(const size_t *)b].id);
}

/* Checks everything that can be checked before the transaction; *dim is
 * the batch's vector dimension (0 when it has no vectors). */
static semdex_status validate(semdex_collection *c, const semdex_document_input *docs, size_t n, size_t *dim,
                              semdex_error *err)
{
    *dim = 0;
    for (size_t i = 0; i < n; i++) {
        const semdex_document_input *d = &docs[i];
        size_t idn = d->id ? strlen(d->id) : 0;
        if (!idn || idn > MAX_ID)
            return field_err(c, err, SEMDEX_ERR_INVALID_ARG, i, -1, "id", -1, "a document id has 1 to %d bytes",
                             MAX_ID);
        size_t badb = sx_utf8_validate(d->id, idn);
        if (badb != idn)
            return field_err(c, err, SEMDEX_ERR_UTF8, i, -1, "id", (int64_t)badb, "invalid UTF-8 in id");
        if (d->uri && sx_utf8_validate(d->uri, strlen(d->uri)) != strlen(d->uri))
            return field_err(c, err, SEMDEX_ERR_UTF8, i, -1, "uri", -1, "invalid UTF-8 in uri");
        if (d->metadata) {
            semdex_error je = {0};
            json_doc *j = json_parse(d->metadata, strlen(d->metadata), &je);
            int is_obj = j && json_is_obj(json_doc_root(j));
            json_doc_free(j);
            if (!j)
                return field_err(c, err, je.status, i, -1, "metadata", je.offset, "%s", je.message);
            if (!is_obj)
                return field_err(c, err, SEMDEX_ERR_FORMAT, i, -1, "metadata", 0, "metadata must be a JSON object");
        }
        if (d->n_chunks && !d->chunks)
            return field_err(c, err, SEMDEX_ERR_INVALID_ARG, i, -1, "chunks", -1, "no chunk array");
        for (size_t j = 0; j < d->n_chunks; j++) {
            const semdex_chunk_input *ch = &d->chunks[j];
            if (ch->len > MAX_TEXT)
                return field_err(c, err, SEMDEX_ERR_LIMIT, i, (long)j, "text", -1, "chunk of %zu bytes, limit %zu",
                                 ch->len, MAX_TEXT);
            if (ch->len && !ch->text)
                return field_err(c, err, SEMDEX_ERR_INVALID_ARG, i, (long)j, "text", -1, "no text");
            badb = ch->len ? sx_utf8_validate(ch->text, ch->len) : 0;
            if (badb != ch->len)
                return field_err(c, err, SEMDEX_ERR_UTF8, i, (long)j, "text", (int64_t)badb, "invalid UTF-8");
            if (ch->len && memchr(ch->text, 0, ch->len))
                return field_err(c, err, SEMDEX_ERR_INVALID_ARG, i, (long)j, "text", -1, "NUL byte in text");
            if (ch->heading && sx_utf8_validate(ch->heading, strlen(ch->heading)) != strlen(ch->heading))
                return field_err(c, err, SEMDEX_ERR_UTF8, i, (long)j, "heading", -1, "invalid UTF-8");
            if (ch->start < -1 || ch->end < -1 || (ch->start >= 0 && ch->end >= 0 && ch->end < ch->start))
                return field_err(c, err, SEMDEX_ERR_INVALID_ARG, i, (long)j, "start", -1,
                                 "bad byte range [%lld, %lld)", (long long)ch->start, (long long)ch->end);
            if (!ch->vector)
                continue;
            if (!ch->dim || ch->dim > SX_MAX_DIM)
                return field_err(c, err, SEMDEX_ERR_INVALID_ARG, i, (long)j, "vector", -1,
                                 "vector of dimension %zu (1..%d)", ch->dim, SX_MAX_DIM);
            size_t want = *dim ? *dim : c->dim;
            if (want && ch->dim != want)
                return field_err(c, err, SEMDEX_ERR_INVALID_ARG, i, (long)j, "vector", -1,
                                 "vector of dimension %zu, collection '%s' holds dimension %zu", ch->dim, c->name,
                                 want);
            *dim = ch->dim;
            double norm = 0;
            for (size_t k = 0; k < ch->dim; k++) {
                if (!isfinite(ch->vector[k]))
                    return field_err(c, err, SEMDEX_ERR_INVALID_ARG, i, (long)j, "vector", (int64_t)k,
                                     "value %zu is not a finite number", k);
                norm += (double)ch->vector[k] * ch->vector[k];
            }
            if (c->metric == SEMDEX_METRIC_COSINE && !(norm > 0))
                return field_err(c, err, SEMDEX_ERR_INVALID_ARG, i, (long)j, "vector", -1,
                                 "a zero vector has no direction (cosine collection)");
        }
    }
    /* Ids repeat within a batch only by mistake: refuse rather than guess. */
    if (n > 1) {
        size_t *idx = sx_malloc(n * sizeof *idx);
        if (!idx)
            return sx_err_set(err, SEMDEX_ERR_NOMEM, c->db->path, NULL, -1, "out of memory");
        for (size_t i = 0; i < n; i++)
            idx[i] = i;
        qsort_r(idx, n, sizeof *idx, cmp_str_idx, (void *)docs);
        for (size_t i = 1; i < n; i++) {
            if (!strcmp(docs[idx[i - 1]].id, docs[idx[i]].id)) {
                size_t a = idx[i - 1] < idx[i] ? idx[i - 1] : idx[i], b = idx[i - 1] ^ idx[i] ^ a;
                sx_free(idx);
                return field_err(c, err, SEMDEX_ERR_INVALID_ARG, b, -1, "id", -1,
                                 "id '%s' repeats documents[%zu] of the same batch", docs[b].id, a);
            }
        }
        sx_free(idx);
    }
    return SEMDEX_OK;
}

static const char SQL_FIND_DOC[] = "SELECT id FROM documents WHERE collection_id = ?1 AND ext_id = ?2";
static const char SQL_DOC_CHUNKS[] = "SELECT c.id, v.chunk_id IS NOT NULL FROM chunks c "
                                     "LEFT JOIN vectors v ON v.chunk_id = c.id WHERE c.doc_id = ?1";
static const char SQL_DEL_DOC[] = "DELETE FROM documents WHERE id = ?1";
static const char SQL_INS_DOC[] = "INSERT INTO documents(collection_id, ext_id, uri, content_hash, mtime, metadata, "
                                  "added) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_INS_CHUNK[] = "INSERT INTO chunks(doc_id, ordinal, text, start_byte, end_byte, heading) "
                                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_INS_VEC[] = "INSERT INTO vectors(chunk_id, collection_id, vector) VALUES (?1, ?2, ?3)";

static semdex_status stmt_error(semdex_db *db, semdex_error *err) { return err ? err->status : SEMDEX_ERR_IO; }

/* Finds the document ext_id; *row = 0 when absent. */
static semdex_status find_doc(semdex_collection *c, const char *ext_id, int64_t *row, semdex_error *err)
{
    sqlite3_stmt *s = sx_db_stmt(c->db, SQL_FIND_DOC, err);
    if (!s)
        return stmt_error(c->db, err);
    sqlite3_bind_int64(s, 1, c->id);
    sqlite3_bind_text(s, 2, ext_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    *row = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sx_db_error(c->db, rc, "documents", err);
    return SEMDEX_OK;
}

/* Deletes a document with its chunks (cascade), their vectors and their
 * keyword rows, noting deleted labels in ch. */
static semdex_status delete_doc(semdex_collection *c, int64_t row, changes *ch, semdex_error *err)
{
    semdex_db *db = c->db;
    sqlite3_stmt *s = sx_db_stmt(db, SQL_DOC_CHUNKS, err);
    if (!s)
        return stmt_error(db, err);
    sqlite3_bind_int64(s, 1, row);
    semdex_status st = SEMDEX_OK;
    int rc;
    /* Collect first: the keyword index may use this connection's statements. */
    int64_t *ids = NULL;
    uint8_t *has_vec = NULL;
    size_t n = 0, cap = 0, cap2 = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (SX_GROW(ids, cap, n + 1) || SX_GROW(has_vec, cap2, n + 1)) {
            st = sx_err_set(err, SEMDEX_ERR_NOMEM, db->path, NULL, -1, "out of memory");
            break;
        }
        ids[n] = sqlite3_column_int64(s, 0);
        has_vec[n++] = (uint8_t)sqlite3_column_int(s, 1);
    }
    sqlite3_reset(s);
    if (!st && rc != SQLITE_DONE)
        st = sx_db_error(db, rc, "chunks", err);
    for (size_t i = 0; !st && i < n; i++) {
        st = sx_keyword_delete(c, ids[i], err);
        if (!st && has_vec[i] && ch->track) {
            if (SX_GROW(ch->deleted, ch->cap_deleted, ch->n_deleted + 1))
                st = sx_err_set(err, SEMDEX_ERR_NOMEM, db->path, NULL, -1, "out of memory");
            else
                ch->deleted[ch->n_deleted++] = ids[i];
        }
    }
    sx_free(ids);
    sx_free(has_vec);
    if (st)
        return st;
    if (!(s = sx_db_stmt(db, SQL_DEL_DOC, err)))
        return stmt_error(db, err);
    sqlite3_bind_int64(s, 1, row);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? SEMDEX_OK : sx_db_error(db, rc, "documents", err);
}

static uint64_t chunks_hash(const semdex_document_input *d)
{
    uint64_t h = 0;
    for (size_t j = 0; j < d->n_chunks; j++)
        h = sx_hash64(d->chunks[j].text ? d->chunks[j].text : "", d->chunks[j].len, h);
    return h;
}

static semdex_status insert_vector(semdex_collection *c, int64_t chunk_id, const semdex_chunk_input *in,
                                   float *tmp, changes *ch, semdex_error *err)
{
    semdex_db *db = c->db;
    memcpy(tmp, in->vector, in->dim * sizeof(float));
    if (c->metric == SEMDEX_METRIC_COSINE)
        sx_vec_normalize(tmp, in->dim);
    sqlite3_stmt *s = sx_db_stmt(db, SQL_INS_VEC, err);
    if (!s)
        return stmt_error(db, err);
    sqlite3_bind_int64(s, 1, chunk_id);
    sqlite3_bind_int64(s, 2, c->id);
    sqlite3_bind_blob(s, 3, tmp, (int)(in->dim * sizeof(float)), SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return sx_db_error(db, rc, "vectors", err);
    if (!ch->track)
        return SEMDEX_OK;
    if (SX_GROW(ch->added, ch->cap_added, ch->n_added + 1) ||
        sx_grow((void **)&ch->vectors, &ch->cap_vectors, (ch->n_added + 1) * in->dim, sizeof(float)))
        return sx_err_set(err, SEMDEX_ERR_NOMEM, db->path, NULL, -1, "out of memory");
    ch->added[ch->n_added] = chunk_id;
    memcpy(ch->vectors + ch->n_added * in->dim, tmp, in->dim * sizeof(float));
    ch->n_added++;
    return SEMDEX_OK;
}

static semdex_status insert_doc(semdex_collection *c, const semdex_document_input *d, size_t di, float *tmp,
                                changes *ch, semdex_error *err)
{
    semdex_db *db = c->db;
    sqlite3_stmt *s = sx_db_stmt(db, SQL_INS_DOC, err);
    if (!s)
        return stmt_error(db, err);
    char hash[17];
    snprintf(hash, sizeof hash, "%016" PRIx64, d->content_hash ? d->content_hash : chunks_hash(d));
    sqlite3_bind_int64(s, 1, c->id);
    sqlite3_bind_text(s, 2, d->id, -1, SQLITE_STATIC);
    if (d->uri)
        sqlite3_bind_text(s, 3, d->uri, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, d->mtime);
    sqlite3_bind_text(s, 6, d->metadata ? d->metadata : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 7, (int64_t)time(NULL));
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return sx_db_error(db, rc, "documents", err);
    int64_t doc_row = sqlite3_last_insert_rowid(db->db);
    semdex_status mst = sx_meta_insert(c, doc_row, d->metadata, err);
    if (mst)
        return mst;
    for (size_t j = 0; j < d->n_chunks; j++) {
        const semdex_chunk_input *in = &d->chunks[j];
        if (!(s = sx_db_stmt(db, SQL_INS_CHUNK, err)))
            return stmt_error(db, err);
        sqlite3_bind_int64(s, 1, doc_row);
        sqlite3_bind_int64(s, 2, (int64_t)j);
        sqlite3_bind_text(s, 3, in->len ? in->text : "", (int)in->len, SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, in->start);
        sqlite3_bind_int64(s, 5, in->end);
        if (in->heading)
            sqlite3_bind_text(s, 6, in->heading, -1, SQLITE_STATIC);
        rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE)
            return field_err(c, err, SEMDEX_ERR_IO, di, (long)j, "text", -1, "%s", sqlite3_errmsg(db->db));
        int64_t chunk_id = sqlite3_last_insert_rowid(db->db);
        semdex_status st = in->vector ? insert_vector(c, chunk_id, in, tmp, ch, err) : SEMDEX_OK;
        if (!st && in->len)
            st = sx_keyword_add(c, chunk_id, in->text, in->len, err);
        if (st)
            return st;
    }
    return SEMDEX_OK;
}

/* Starts a write: refreshes the collection and keeps the loaded graph only
 * when it is current (another process may have written since). */
static semdex_status begin_write(semdex_collection *c, changes *ch, semdex_error *err)
{
    if (!c || c->dropped)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, c ? c->db->path : NULL, "collection", -1,
                          "collection was dropped");
    semdex_status st = sx_db_begin(c->db, 1, err);
    if (st)
        return st;
    if ((st = sx_collection_refresh(c, err))) {
        sx_db_rollback(c->db);
        return st;
    }
    if (c->vindex) {
        int stale = 0;
        sx_vindex_ensure(c, &stale, NULL); /* drops a graph that is not current */
        (void)stale;
    }
    ch->track = c->vindex != NULL;
    return SEMDEX_OK;
}

/* Commits and teaches the graph what changed. */
static semdex_status end_write(semdex_collection *c, changes *ch, int changed, semdex_error *err)
{
    semdex_status st = changed ? sx_collection_bump(c, err) : SEMDEX_OK;
    if (!st)
        st = sx_db_commit(c->db, err);
    else
        sx_db_rollback(c->db);
    if (st) {
        /* the row we read may be ahead of the file now: re-read it later */
        sx_vindex_drop(c);
        return st;
    }
    if (changed)
        sx_vindex_apply(c, ch->added, ch->vectors, ch->n_added, ch->deleted, ch->n_deleted, c->change_seq);
    return SEMDEX_OK;
}

semdex_status semdex_collection_add(semdex_collection *c, const semdex_document_input *docs, size_t n,
                                    const semdex_model_identity *vectors_from, semdex_error *err)
{
    if (!c || c->dropped)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, "collection", -1, "no collection");
    if (n && !docs)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, c->db->path, "documents", -1, "no document array");
    changes ch = {0};
    semdex_status st = begin_write(c, &ch, err);
    if (st)
        return st;
    size_t dim = 0;
    st = validate(c, docs, n, &dim, err);
    if (!st && dim)
        st = sx_collection_accept_vectors(c, vectors_from, dim, err);
    float *tmp = !st && dim ? sx_malloc(dim * sizeof(float)) : NULL;
    if (!st && dim && !tmp)
        st = sx_err_set(err, SEMDEX_ERR_NOMEM, c->db->path, NULL, -1, "out of memory");
    for (size_t i = 0; !st && i < n; i++) {
        int64_t row = 0;
        st = find_doc(c, docs[i].id, &row, err);
        if (!st && row)
            st = delete_doc(c, row, &ch, err);
        if (!st)
            st = insert_doc(c, &docs[i], i, tmp, &ch, err);
    }
    sx_free(tmp);
    if (st) {
        sx_db_rollback(c->db);
        sx_vindex_drop(c); /* the graph may have been told nothing, but be sure */
        changes_free(&ch);
        return st;
    }
    st = end_write(c, &ch, n > 0, err);
    changes_free(&ch);
    return st;
}

semdex_status semdex_collection_delete(semdex_collection *c, const char *const *ids, size_t n, size_t *n_deleted,
                                       semdex_error *err)
{
    if (n_deleted)
        *n_deleted = 0;
    if (!c || c->dropped)
        return sx_err_set(err, SEMDEX_ERR_INVALID_ARG, NULL, "collection", -1, "no collection");
    changes ch = {0};
    semdex_status st = begin_write(c, &ch, err);
    if (st)
        return st;
    size_t found = 0;
    for (size_t i = 0; !st && i < n; i++) {
        int64_t row = 0;
        if (!ids[i])
            continue;
        st = find_doc(c, ids[i], &row, err);
        if (!st && row) {
            st = delete_doc(c, row, &ch, err);
            found++;
        }
    }
    if (st) {
        sx_db_rollback(c->db);
        changes_free(&ch);
        return st;
    }
    st = end_write(c, &ch, found > 0, err);
    changes_free(&ch);
    if (!st && n_deleted)
        *n_deleted = found;
    return st;
}
