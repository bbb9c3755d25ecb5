/* work.c: per-call scratch of the tokenizer pipeline (pieces, tokens, edit
 * lists), reused across calls so that steady-state encoding allocates
 * nothing. */
#include "tok_int.h"
#include "alloc.h"
#include <string.h>

tok_piece *tok_pieces_push(tok_piece_list *l)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 16;
        tok_piece *v = sx_realloc(l->v, ncap * sizeof *v);
        if (!v)
            return NULL;
        memset(v + l->cap, 0, (ncap - l->cap) * sizeof *v);
        l->v = v;
        l->cap = ncap;
    }
    tok_piece *p = &l->v[l->n++];
    p->added_id = -1;
    p->ns.len = 0;
    return p;
}

void tok_pieces_free(tok_piece_list *l)
{
    for (size_t i = 0; i < l->cap; i++)
        tok_nstr_free(&l->v[i].ns);
    sx_free(l->v);
    memset(l, 0, sizeof *l);
}

int tok_tokens_push(tok_tokens *t, int32_t id, uint32_t start, uint32_t end)
{
    if (SX_GROW(t->v, t->cap, t->n + 1))
        return -1;
    t->v[t->n].id = id;
    t->v[t->n].start = start;
    t->v[t->n].end = end;
    t->n++;
    return 0;
}

void tok_work_swap(tok_work *w)
{
    tok_piece_list t = w->pieces;
    w->pieces = w->next;
    w->next = t;
    w->next.n = 0;
}

void tok_work_free(tok_work *w)
{
    if (!w)
        return;
    tok_pieces_free(&w->pieces);
    tok_pieces_free(&w->next);
    sx_free(w->toks.v);
    sx_free(w->edits.v);
    tok_nstr_free(&w->scratch);
    sx_free(w->cps);
    sx_free(w->cps2);
    sx_free(w->matches);
    sx_free(w->split.v);
    if (w->model_scratch && w->model_scratch_free)
        w->model_scratch_free(w->model_scratch);
    memset(w, 0, sizeof *w);
}
