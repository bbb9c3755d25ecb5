/* fuzz_jsonl_docs.c: semdex's JSONL document records (src/store/record.h)
 * on arbitrary bytes, line by line: a record is refused with an offset in
 * its line or kept with well-formed fields; when every line parses, the
 * records go into an in-memory store as one batch, which stores all or
 * nothing, and a store that took them passes the doctor. */
#include "fuzz.h"
#include "semdex.h"
#include "utf8.h"
#include "../src/store/record.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RECORDS 32

static void check_record(const sx_record *r)
{
    FUZZ_CHECK(r->text || r->vector);
    FUZZ_CHECK(!r->id || (r->id[0] && sx_utf8_validate(r->id, strlen(r->id)) == strlen(r->id)));
    FUZZ_CHECK(!r->text || (sx_utf8_validate(r->text, r->text_len) == r->text_len && strlen(r->text) == r->text_len));
    FUZZ_CHECK(!r->metadata || r->metadata[0] == '{');
    FUZZ_CHECK(!r->vector || (r->dim >= 1 && r->dim <= 65536));
    for (size_t i = 0; r->vector && i < r->dim; i++)
        FUZZ_CHECK(isfinite(r->vector[i]));
}

/* Adds the records as one batch to a fresh in-memory store. */
static void store_them(sx_record *recs, size_t n)
{
    semdex_db *db = NULL;
    semdex_error err = {0};
    if (semdex_db_open(":memory:", NULL, &db, &err))
        return;
    semdex_collection *c = NULL;
    semdex_collection_options o = semdex_collection_options_default();
    o.metric = SEMDEX_METRIC_DOT; /* accepts zero vectors */
    semdex_document_input docs[MAX_RECORDS];
    semdex_chunk_input chunks[MAX_RECORDS];
    char ids[MAX_RECORDS][16];
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "line-%zu", i);
        chunks[i] = (semdex_chunk_input){recs[i].text ? recs[i].text : "", recs[i].text_len, -1, -1, NULL,
                                         recs[i].vector, recs[i].dim};
        docs[i] = (semdex_document_input){recs[i].id ? recs[i].id : ids[i], recs[i].uri, recs[i].metadata, 0, 0,
                                          &chunks[i], 1};
    }
    if (!semdex_collection_get(db, "fuzz", &o, &c, &err)) {
        semdex_status st = semdex_collection_add(c, docs, n, NULL, &err);
        semdex_collection_info info;
        FUZZ_CHECK(!semdex_collection_get_info(c, &info, &err));
        FUZZ_CHECK(st ? info.n_documents == 0 : info.n_documents <= n && info.n_documents > 0);
        size_t problems = 0;
        FUZZ_CHECK(!semdex_db_doctor(db, 0, NULL, NULL, &problems, &err) && problems == 0);
        if (!st && recs[0].text_len) {
            semdex_search_options so = semdex_search_options_default();
            so.mode = SEMDEX_SEARCH_KEYWORD;
            so.query = recs[0].text;
            so.query_len = recs[0].text_len;
            semdex_results res = {0};
            semdex_collection_search(c, &so, &res, &err);
            semdex_results_free(&res);
        }
    }
    semdex_db_close(db);
}

int fuzz_jsonl_docs(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    sx_record recs[MAX_RECORDS];
    size_t n = 0;
    int all_ok = 1;
    for (size_t i = 0; i < size;) {
        const char *nl = memchr(s + i, '\n', size - i);
        size_t e = nl ? (size_t)(nl - s) : size;
        semdex_error err = {0};
        sx_record r;
        if (sx_record_parse(s + i, e - i, &r, &err)) {
            FUZZ_CHECK(err.offset >= 0 && (size_t)err.offset <= e - i);
            FUZZ_CHECK(err.message[0]);
            FUZZ_CHECK(!r.buf && !r.vector);
            all_ok = 0;
        } else {
            check_record(&r);
            if (n < MAX_RECORDS)
                recs[n++] = r;
            else
                sx_record_free(&r);
        }
        i = e + 1;
    }
    if (all_ok && n)
        store_them(recs, n);
    for (size_t i = 0; i < n; i++)
        sx_record_free(&recs[i]);
    return 0;
}
FUZZ_ENTRY(fuzz_jsonl_docs)
