/* added.c: matching added tokens in text, as `tokenizers`' AddedVocabulary:
 * leftmost-longest, non-overlapping, with single_word, lstrip and rstrip.
 * A byte trie over the tokens' contents; a first-byte table skips positions
 * where nothing can start. */
#include "tok_int.h"
#include "added.h"
#include "alloc.h"
#include "utf8.h"
#include <string.h>

typedef struct trie_node {
    int32_t token;      /* index into the token list, or -1 */
    uint32_t first_edge;
    uint16_t n_edges;
} trie_node;

typedef struct trie_edge {
    unsigned char byte;
    uint32_t child;
} trie_edge;

struct tok_added_set {
    const tok_added *tokens; /* borrowed from the tokenizer */
    int32_t *members;        /* indices into tokens */
    size_t n_members;
    /* trie built from sorted contents: nodes, edges sorted by byte */
    trie_node *nodes;
    size_t n_nodes;
    trie_edge *edges;
    size_t n_edges;
    unsigned char first_byte[256];
};

/* Build with a simple pointer trie, then flatten. */
typedef struct build_node {
    int32_t token;
    struct build_node *child[256];
} build_node;

static void build_free(build_node *b)
{
    if (!b)
        return;
    for (int i = 0; i < 256; i++)
        build_free(b->child[i]);
    sx_free(b);
}

static int flatten(tok_added_set *s, const build_node *b, uint32_t at)
{
    uint16_t ne = 0;
    for (int i = 0; i < 256; i++)
        ne += b->child[i] != NULL;
    s->nodes[at].token = b->token;
    s->nodes[at].n_edges = ne;
    s->nodes[at].first_edge = (uint32_t)s->n_edges;
    size_t e = s->n_edges;
    s->n_edges += ne;
    for (int i = 0; i < 256; i++) {
        if (!b->child[i])
            continue;
        uint32_t c = (uint32_t)s->n_nodes++;
        s->edges[e].byte = (unsigned char)i;
        s->edges[e].child = c;
        e++;
    }
    e = s->nodes[at].first_edge;
    for (int i = 0; i < 256; i++) {
        if (!b->child[i])
            continue;
        if (flatten(s, b->child[i], s->edges[e].child))
            return -1;
        e++;
    }
    return 0;
}

tok_added_set *tok_added_set_build(const tok_added *tokens, size_t n, const char *const *contents,
                                   const size_t *lens, const int32_t *members, size_t n_members)
{
    tok_added_set *s = sx_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->tokens = tokens;
    (void)n;
    build_node *root = sx_calloc(1, sizeof *root);
    if (!root)
        goto fail;
    root->token = -1;
    size_t total_nodes = 1;
    for (size_t k = 0; k < n_members; k++) {
        const unsigned char *c = (const unsigned char *)contents[k];
        size_t l = lens[k];
        if (!l)
            continue; /* an empty token can never match */
        build_node *b = root;
        for (size_t i = 0; i < l; i++) {
            if (!b->child[c[i]]) {
                b->child[c[i]] = sx_calloc(1, sizeof *b);
                if (!b->child[c[i]]) {
                    build_free(root);
                    goto fail;
                }
                b->child[c[i]]->token = -1;
                total_nodes++;
            }
            b = b->child[c[i]];
        }
        if (b->token < 0)
            b->token = members[k]; /* the first token with this content wins */
        s->first_byte[c[0]] = 1;
    }
    s->nodes = sx_calloc(total_nodes, sizeof *s->nodes);
    s->edges = sx_calloc(total_nodes, sizeof *s->edges);
    if (!s->nodes || !s->edges) {
        build_free(root);
        goto fail;
    }
    s->n_nodes = 1;
    flatten(s, root, 0);
    build_free(root);
    s->n_members = n_members;
    return s;
fail:
    tok_added_set_free(s);
    return NULL;
}

void tok_added_set_free(tok_added_set *s)
{
    if (!s)
        return;
    sx_free(s->members);
    sx_free(s->nodes);
    sx_free(s->edges);
    sx_free(s);
}

/* Longest token starting at s[i]; returns its index or -1 and sets *end. */
static int32_t longest_at(const tok_added_set *set, const char *s, size_t n, size_t i, size_t *end)
{
    uint32_t node = 0;
    int32_t best = -1;
    for (size_t j = i; j < n; j++) {
        const trie_node *nd = &set->nodes[node];
        unsigned char c = (unsigned char)s[j];
        uint32_t lo = nd->first_edge, hi = lo + nd->n_edges, next = UINT32_MAX;
        while (lo < hi) {
            uint32_t mid = (lo + hi) / 2;
            if (set->edges[mid].byte < c)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < nd->first_edge + nd->n_edges && set->edges[lo].byte == c)
            next = set->edges[lo].child;
        if (next == UINT32_MAX)
            break;
        node = next;
        if (set->nodes[node].token >= 0) {
            best = set->nodes[node].token;
            *end = j + 1;
        }
    }
    return best;
}

static int is_word_char(uint32_t c)
{
    /* \w as the reference's regex crate: alphanumeric, marks, connector punctuation */
    if (c < 0x80)
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    int cat = sx_uni_category(c);
    return sx_uni_is_alphanumeric(c) || cat == 5 || cat == 6 || cat == 7 || cat == 12;
}

static uint32_t last_char(const char *s, size_t end)
{
    size_t b = end - 1;
    while (b > 0 && ((unsigned char)s[b] & 0xC0) == 0x80)
        b--;
    int l;
    return sx_utf8_decode(s + b, &l);
}

int tok_added_set_find(const tok_added_set *set, const char *s, size_t n, tok_added_match *out,
                       size_t cap, size_t *n_out)
{
    size_t k = 0, start_offset = 0, i = 0;
    if (!set || !set->n_nodes) {
        *n_out = 0;
        return 0;
    }
    while (i < n) {
        if (!set->first_byte[(unsigned char)s[i]]) {
            i++;
            continue;
        }
        size_t stop;
        int32_t t = longest_at(set, s, n, i, &stop);
        if (t < 0) {
            i++;
            continue;
        }
        size_t start = i;
        const tok_added *tok = &set->tokens[t];
        size_t resume = stop; /* the matcher resumes at the end of the raw match */
        if (tok->single_word) {
            int start_space = start == 0 || !is_word_char(last_char(s, start));
            int l;
            int stop_space = stop == n || !is_word_char(sx_utf8_decode(s + stop, &l));
            if (!start_space || !stop_space) {
                i = resume;
                continue;
            }
        }
        if (tok->lstrip) {
            size_t ns = start;
            while (ns > 0) {
                size_t b = ns - 1;
                while (b > 0 && ((unsigned char)s[b] & 0xC0) == 0x80)
                    b--;
                int l;
                if (!sx_uni_is_whitespace(sx_utf8_decode(s + b, &l)))
                    break;
                ns = b;
            }
            start = ns > start_offset ? ns : start_offset;
        }
        if (tok->rstrip) {
            while (stop < n) {
                int l;
                if (!sx_uni_is_whitespace(sx_utf8_decode(s + stop, &l)))
                    break;
                stop += (size_t)l;
            }
        }
        if (k >= cap)
            return -1;
        out[k].start = start;
        out[k].end = stop;
        out[k].token = t;
        k++;
        start_offset = stop;
        i = resume > stop ? resume : stop;
    }
    *n_out = k;
    return 0;
}
