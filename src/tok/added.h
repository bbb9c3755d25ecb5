/* added.h: matcher over a set of added tokens (added.c). */
#ifndef TOK_ADDED_H
#define TOK_ADDED_H
#include "tok_int.h"

typedef struct tok_added_match {
    size_t start, end; /* byte range, lstrip/rstrip applied */
    int32_t token;     /* index into the tokenizer's added token list */
} tok_added_match;

/* Builds a matcher over tokens[members[k]] with contents[k] (lens[k] bytes);
 * `tokens` is borrowed and must outlive the set. */
tok_added_set *tok_added_set_build(const tok_added *tokens, size_t n, const char *const *contents,
                                   const size_t *lens, const int32_t *members, size_t n_members);
void tok_added_set_free(tok_added_set *s);
/* Finds matches in s[0..n); returns -1 when more than cap. */
int tok_added_set_find(const tok_added_set *set, const char *s, size_t n, tok_added_match *out,
                       size_t cap, size_t *n_out);
#endif
