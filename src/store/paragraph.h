/* paragraph.h: plain text split into paragraph chunks, with the Markdown
 * heading path ("Guide > Install") each falls under.  A stand-in for the
 * token-aware chunker of src/ingest/ (later); knows nothing of the store. */
#ifndef SX_PARAGRAPH_H
#define SX_PARAGRAPH_H
#include <stddef.h>
#include "semdex.h"

typedef struct sx_span {
    size_t start, end; /* byte range of the chunk in the text */
    char *heading;     /* heading path; NULL when none */
} sx_span;

/* Splits text (UTF-8, checked: errors give the byte offset) at blank
 * lines; a Markdown heading line starts a paragraph and stays with the
 * text under it; a paragraph longer than max_bytes is cut at whitespace
 * (or at a character boundary).  *out is freed with sx_spans_free. */
semdex_status sx_paragraphs(const char *text, size_t len, size_t max_bytes, sx_span **out, size_t *n,
                            semdex_error *err);
void sx_spans_free(sx_span *spans, size_t n);

#endif
