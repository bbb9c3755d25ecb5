/* postproc.c: post-processors of tokenizer.json (BertProcessing,
 * RobertaProcessing, TemplateProcessing, ByteLevel, Sequence).  Bert and
 * Roberta processing are loaded as the templates they are equivalent to. */
#include "tok_int.h"
#include "alloc.h"
#include "err.h"
#include <stdlib.h>
#include <string.h>

static int nomem(semdex_error *err)
{
    sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory");
    return -1;
}

static int item_special(tok_tmpl_item *it, int32_t id, uint32_t type_id)
{
    memset(it, 0, sizeof *it);
    it->ids = sx_malloc(sizeof *it->ids);
    if (!it->ids)
        return -1;
    it->ids[0] = id;
    it->n_ids = 1;
    it->type_id = type_id;
    return 0;
}

static void item_seq(tok_tmpl_item *it, int seq, uint32_t type_id)
{
    memset(it, 0, sizeof *it);
    it->is_seq = 1;
    it->seq = seq;
    it->type_id = type_id;
}

/* ["[SEP]", 102] */
static int token_pair(const json_value *v, const char *field, int32_t *id, semdex_error *err)
{
    int64_t d;
    if (!json_is_arr(v) || v->n != 2 || !json_is_num(json_arr_at(v, 1)))
        return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, field, v ? (int64_t)v->offset : -1,
                          "expected [token, id]"), -1;
    if (!json_int_in(json_arr_at(v, 1), 0, TOK_MAX_ID, &d))
        return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, field, (int64_t)v->offset, "bad token id"), -1;
    *id = (int32_t)d;
    return 0;
}

static int load_cls_sep(const json_value *v, tok_post *out, int roberta, semdex_error *err)
{
    int32_t cls, sep;
    if (token_pair(json_get(v, "cls"), "post_processor.cls", &cls, err) ||
        token_pair(json_get(v, "sep"), "post_processor.sep", &sep, err))
        return -1;
    out->single = sx_calloc(3, sizeof *out->single);
    out->pair = sx_calloc(6, sizeof *out->pair);
    if (!out->single || !out->pair)
        return nomem(err);
    /* counted before they are filled: a partly filled template is freed too */
    out->n_single = 3;
    out->n_pair = roberta ? 6 : 5;
    if (item_special(&out->single[0], cls, 0))
        return nomem(err);
    item_seq(&out->single[1], 0, 0);
    if (item_special(&out->single[2], sep, 0))
        return nomem(err);
    size_t k = 0;
    uint32_t b_type = roberta ? 0 : 1;
    if (item_special(&out->pair[k++], cls, 0))
        return nomem(err);
    item_seq(&out->pair[k++], 0, 0);
    if (item_special(&out->pair[k++], sep, 0))
        return nomem(err);
    if (roberta && item_special(&out->pair[k++], sep, 0))
        return nomem(err);
    item_seq(&out->pair[k++], 1, b_type);
    if (item_special(&out->pair[k++], sep, b_type))
        return nomem(err);
    return k == out->n_pair ? 0 : -1;
}

static int load_template(const json_value *list, const json_value *specials, const char *field,
                         tok_tmpl_item **items, size_t *n, semdex_error *err)
{
    if (json_is_null(list)) {
        *n = 0;
        return 0;
    }
    if (!json_is_arr(list))
        return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, field, (int64_t)list->offset,
                          "template must be an array"), -1;
    *items = sx_calloc(list->n ? list->n : 1, sizeof **items);
    if (!*items)
        return nomem(err);
    for (uint32_t i = 0; i < list->n; i++) {
        const json_value *e = json_arr_at(list, i);
        const json_value *seq = json_get(e, "Sequence"), *sp = json_get(e, "SpecialToken");
        tok_tmpl_item *it = &(*items)[i];
        (*n)++; /* counted first: a partly filled item is freed too */
        const json_value *tid = json_get(seq ? seq : sp, "type_id");
        int64_t tv = 0;
        if (!json_is_null(tid) && !json_int_in(tid, 0, UINT32_MAX, &tv))
            return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, field, (int64_t)tid->offset,
                              "type_id must be a non-negative integer"), -1;
        uint32_t type_id = (uint32_t)tv;
        const json_value *idv = json_get(seq ? seq : sp, "id");
        if (!json_is_str(idv))
            return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, field, (int64_t)e->offset,
                              "template item needs an \"id\""), -1;
        if (seq) {
            if (strcmp(idv->u.str, "A") && strcmp(idv->u.str, "B"))
                return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, field, (int64_t)idv->offset,
                                  "sequence id must be A or B"), -1;
            item_seq(it, idv->u.str[0] == 'B', type_id);
        } else if (sp) {
            const json_value *def = json_get(specials, idv->u.str);
            const json_value *ids = json_get(def, "ids");
            if (!json_is_arr(ids))
                return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "post_processor.special_tokens",
                                  (int64_t)idv->offset, "special token \"%s\" is not defined", idv->u.str), -1;
            it->ids = sx_calloc(ids->n ? ids->n : 1, sizeof *it->ids);
            if (!it->ids)
                return nomem(err);
            for (uint32_t k = 0; k < ids->n; k++) {
                const json_value *x = json_arr_at(ids, k);
                int64_t xv;
                if (!json_int_in(x, 0, TOK_MAX_ID, &xv))
                    return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "post_processor.special_tokens",
                                      (int64_t)x->offset, "bad special token id"), -1;
                it->ids[k] = (int32_t)xv;
            }
            it->n_ids = ids->n;
            it->type_id = type_id;
        } else {
            return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, field, (int64_t)e->offset,
                              "template item must be Sequence or SpecialToken"), -1;
        }
    }
    return 0;
}

int tok_post_load(const json_value *v, const tok_vocab *vocab, const tok_added *added, size_t n_added,
                  tok_post *out, semdex_error *err)
{
    (void)vocab;
    (void)added;
    (void)n_added;
    memset(out, 0, sizeof *out);
    if (json_is_null(v)) {
        out->type = TOK_POST_NONE;
        return 0;
    }
    const json_value *type = json_get(v, "type");
    if (!json_is_str(type))
        return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "post_processor.type", (int64_t)v->offset,
                          "post_processor has no \"type\""), -1;
    const char *t = type->u.str;
    if (!strcmp(t, "BertProcessing")) {
        out->type = TOK_POST_BERT;
        return load_cls_sep(v, out, 0, err);
    }
    if (!strcmp(t, "RobertaProcessing")) {
        out->type = TOK_POST_ROBERTA;
        out->trim_offsets = json_bool(json_get(v, "trim_offsets"), 1);
        out->add_prefix_space = json_bool(json_get(v, "add_prefix_space"), 1);
        return load_cls_sep(v, out, 1, err);
    }
    if (!strcmp(t, "TemplateProcessing")) {
        out->type = TOK_POST_TEMPLATE;
        const json_value *sp = json_get(v, "special_tokens");
        if (load_template(json_get(v, "single"), sp, "post_processor.single", &out->single, &out->n_single, err) ||
            load_template(json_get(v, "pair"), sp, "post_processor.pair", &out->pair, &out->n_pair, err))
            return -1;
        return 0;
    }
    if (!strcmp(t, "ByteLevel")) {
        out->type = TOK_POST_BYTE_LEVEL;
        out->trim_offsets = json_bool(json_get(v, "trim_offsets"), 1);
        out->add_prefix_space = json_bool(json_get(v, "add_prefix_space"), 1);
        return 0;
    }
    if (!strcmp(t, "Sequence")) {
        out->type = TOK_POST_SEQUENCE;
        const json_value *list = json_get(v, "processors");
        if (!json_is_arr(list))
            return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, "post_processor.processors", (int64_t)v->offset,
                              "Sequence needs a \"processors\" array"), -1;
        out->children = sx_calloc(list->n ? list->n : 1, sizeof *out->children);
        if (!out->children)
            return nomem(err);
        for (uint32_t i = 0; i < list->n; i++) {
            out->n_children++; /* counted first: a partial child is freed too */
            if (tok_post_load(json_arr_at(list, i), vocab, added, n_added, &out->children[i], err))
                return -1;
        }
        return 0;
    }
    return sx_err_set(err, SEMDEX_ERR_UNSUPPORTED, NULL, "post_processor.type", (int64_t)type->offset,
                      "unsupported post-processor type \"%s\"", t), -1;
}

void tok_post_free(tok_post *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_single; i++)
        sx_free(p->single[i].ids);
    for (size_t i = 0; i < p->n_pair; i++)
        sx_free(p->pair[i].ids);
    sx_free(p->single);
    sx_free(p->pair);
    for (size_t i = 0; i < p->n_children; i++)
        tok_post_free(&p->children[i]);
    sx_free(p->children);
    memset(p, 0, sizeof *p);
}

size_t tok_post_added_count(const tok_post *p, int pair)
{
    size_t n = 0;
    if (p->type == TOK_POST_SEQUENCE) {
        for (size_t i = 0; i < p->n_children; i++)
            n += tok_post_added_count(&p->children[i], pair);
        return n;
    }
    const tok_tmpl_item *it = pair ? p->pair : p->single;
    size_t cnt = pair ? p->n_pair : p->n_single;
    for (size_t i = 0; i < cnt; i++)
        if (!it[i].is_seq)
            n += it[i].n_ids;
    return n;
}
