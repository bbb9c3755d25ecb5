/* paragraph.c: paragraph chunks of plain text (paragraph.h). */
#include "paragraph.h"
#include "alloc.h"
#include "err.h"
#include "utf8.h"
#include <string.h>

#define MAX_LEVELS 6

typedef struct splitter {
    const char *t;
    size_t max;
    sx_span *spans;
    size_t n, cap;
    const char *heads[MAX_LEVELS]; /* heading text per level, NULL when none */
    size_t head_len[MAX_LEVELS];
    char *path; /* the current heading path (shared by spans until it changes) */
    int failed;
} splitter;

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

/* Level of a Markdown ATX heading line ("## Title"), 0 when it is not. */
static int heading_level(const char *s, size_t n, size_t *title, size_t *title_len)
{
    size_t i = 0;
    while (i < n && i < 3 && s[i] == ' ')
        i++;
    size_t h = i;
    while (i < n && s[i] == '#')
        i++;
    int level = (int)(i - h);
    if (level < 1 || level > MAX_LEVELS || (i < n && s[i] != ' ' && s[i] != '\t'))
        return 0;
    while (i < n && is_space(s[i]))
        i++;
    size_t e = n;
    while (e > i && (is_space(s[e - 1]) || s[e - 1] == '#'))
        e--;
    *title = i;
    *title_len = e - i;
    return level;
}

static char *build_path(splitter *sp)
{
    size_t n = 0;
    for (int i = 0; i < MAX_LEVELS; i++)
        if (sp->heads[i])
            n += sp->head_len[i] + 3;
    if (!n)
        return NULL;
    char *p = sx_malloc(n + 1);
    if (!p) {
        sp->failed = 1;
        return NULL;
    }
    size_t k = 0;
    for (int i = 0; i < MAX_LEVELS; i++) {
        if (!sp->heads[i])
            continue;
        if (k) {
            memcpy(p + k, " > ", 3);
            k += 3;
        }
        memcpy(p + k, sp->heads[i], sp->head_len[i]);
        k += sp->head_len[i];
    }
    p[k] = 0;
    return p;
}

static void emit(splitter *sp, size_t a, size_t b)
{
    while (a < b && is_space(sp->t[a]))
        a++;
    while (b > a && is_space(sp->t[b - 1]))
        b--;
    while (!sp->failed && a < b) {
        size_t e = b;
        if (e - a > sp->max) {
            e = a + sp->max;
            size_t w = e;
            while (w > a && !is_space(sp->t[w]) && !is_space(sp->t[w - 1]))
                w--;
            if (w > a)
                e = w;
            else
                while (e > a && ((unsigned char)sp->t[e] & 0xC0) == 0x80)
                    e--; /* cut between characters */
            if (e == a)
                e = a + sp->max;
        }
        if (SX_GROW(sp->spans, sp->cap, sp->n + 1)) {
            sp->failed = 1;
            return;
        }
        char *h = NULL;
        if (sp->path && !(h = sx_strndup(sp->path, strlen(sp->path)))) {
            sp->failed = 1;
            return;
        }
        size_t te = e;
        while (te > a && is_space(sp->t[te - 1]))
            te--;
        sp->spans[sp->n++] = (sx_span){a, te, h};
        a = e;
        while (a < b && is_space(sp->t[a]))
            a++;
    }
}

void sx_spans_free(sx_span *spans, size_t n)
{
    for (size_t i = 0; spans && i < n; i++)
        sx_free(spans[i].heading);
    sx_free(spans);
}

semdex_status sx_paragraphs(const char *text, size_t len, size_t max_bytes, sx_span **out, size_t *n,
                            semdex_error *err)
{
    *out = NULL;
    *n = 0;
    size_t bad = sx_utf8_validate(text, len);
    if (bad != len)
        return sx_err_set(err, SEMDEX_ERR_UTF8, NULL, NULL, (int64_t)bad, "invalid UTF-8 (not a UTF-8 text file?)");
    splitter sp = {.t = text, .max = max_bytes ? max_bytes : 2000};
    size_t para = SIZE_MAX; /* start of the open paragraph */
    int after_heading = 0;
    for (size_t i = 0; i < len && !sp.failed;) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t e = nl ? (size_t)(nl - text) : len, next = nl ? e + 1 : len;
        size_t k = i;
        while (k < e && is_space(text[k]))
            k++;
        int blank = k == e;
        size_t title, title_len;
        int level = blank ? 0 : heading_level(text + i, e - i, &title, &title_len);
        if (level) {
            if (para != SIZE_MAX)
                emit(&sp, para, i);
            for (int l = level - 1; l < MAX_LEVELS; l++)
                sp.heads[l] = NULL;
            sp.heads[level - 1] = text + i + title;
            sp.head_len[level - 1] = title_len;
            sx_free(sp.path);
            sp.path = build_path(&sp);
            para = i;
            after_heading = 1;
        } else if (blank) {
            if (para != SIZE_MAX && !after_heading) {
                emit(&sp, para, i);
                para = SIZE_MAX;
            }
        } else {
            if (para == SIZE_MAX)
                para = i;
            after_heading = 0;
        }
        i = next;
    }
    if (para != SIZE_MAX && !sp.failed)
        emit(&sp, para, len);
    sx_free(sp.path);
    if (sp.failed) {
        sx_spans_free(sp.spans, sp.n);
        return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory");
    }
    *out = sp.spans;
    *n = sp.n;
    return SEMDEX_OK;
}
