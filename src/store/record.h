/* record.h: semdex's JSONL document records, one JSON object per line:
 *   {"id": "...", "text": "...", "metadata": {...}, "vector": [...], "uri": "..."}
 * All fields are optional, but a record needs "text" or "vector".  "id" may
 * be a string or an integer; other keys are ignored.  The parser copies
 * what it keeps out of the JSON tree, so a record is small and a batch of
 * them can be held at once.  Fuzzed by fuzz/fuzz_jsonl_docs.c. */
#ifndef SX_RECORD_H
#define SX_RECORD_H
#include <stddef.h>
#include "semdex.h"

#define SX_RECORD_MAX_LINE ((size_t)64 << 20) /* bytes in one JSONL line */

typedef struct sx_record {
    const char *id;       /* NULL when absent; NUL-terminated, no NUL inside */
    const char *text;     /* NULL when absent */
    size_t text_len;
    const char *metadata; /* the object's JSON text as written; NULL when absent */
    const char *uri;      /* NULL when absent */
    float *vector;        /* dim floats; NULL when absent */
    size_t dim;
    char *buf;            /* owns the strings (internal) */
} sx_record;

/* Parses one line (without its newline).  On failure err names the field
 * and the byte offset in the line, and r holds nothing. */
semdex_status sx_record_parse(const char *line, size_t len, sx_record *r, semdex_error *err);
void sx_record_free(sx_record *r);

#endif
