/* st_modules.c: the sentence-transformers files of a model directory:
 * modules.json (which modules, in which order), 1_Pooling/config.json (both
 * the `"pooling_mode": "mean"` spelling and the published
 * `"pooling_mode_mean_tokens": true` booleans), 2_Normalize,
 * sentence_bert_config.json (max_seq_length, do_lower_case),
 * config_sentence_transformers.json (prompts) and tokenizer_config.json
 * (model_max_length).  What sentence-transformers would assume for a
 * missing file is assumed here too and written into `notes`.  Knows nothing
 * of tensors or of the encoder. */
#include "model_int.h"
#include "alloc.h"
#include "err.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define ST_FILE_LIMIT (16u << 20)

static const char *const pool_names[] = {
    [MODEL_POOL_CLS] = "cls",
    [MODEL_POOL_MAX] = "max",
    [MODEL_POOL_MEAN] = "mean",
    [MODEL_POOL_MEAN_SQRT_LEN] = "mean_sqrt_len",
    [MODEL_POOL_WEIGHTEDMEAN] = "weightedmean",
    [MODEL_POOL_LASTTOKEN] = "lasttoken",
};
_Static_assert(sizeof pool_names / sizeof pool_names[0] == MODEL_POOL_COUNT, "every pooling mode is named");

/* Spellings sentence-transformers accepts in `pooling_mode`, and the legacy
 * boolean keys, both in its concatenation order. */
static const char *const pool_st_names[] = {"cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"};
static const char *const pool_legacy_keys[] = {
    "pooling_mode_cls_token",          "pooling_mode_max_tokens",          "pooling_mode_mean_tokens",
    "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken",
};

const char *model_pool_name(model_pool p) { return (unsigned)p < MODEL_POOL_COUNT ? pool_names[p] : "?"; }

static json_doc *parse(const char *json, size_t len, const char *file, semdex_error *err)
{
    semdex_error jerr = {0};
    json_doc *doc = json_parse(json, len, &jerr);
    if (!doc)
        sx_err_set(err, jerr.status == SEMDEX_ERR_NOMEM ? SEMDEX_ERR_NOMEM : SEMDEX_ERR_PARSE, file, NULL, jerr.offset,
                   "%s", jerr.message);
    return doc;
}

/* Parses a file that must hold one JSON object; on success *doc owns it. */
static semdex_status parse_object(const char *json, size_t len, const char *file, json_doc **doc,
                                  const json_value **root, semdex_error *err)
{
    *doc = parse(json, len, file, err);
    if (!*doc)
        return err ? err->status : SEMDEX_ERR_PARSE;
    *root = json_doc_root(*doc);
    if (!json_is_obj(*root)) {
        semdex_status st = sx_err_set(err, SEMDEX_ERR_FORMAT, file, NULL, (int64_t)(*root)->offset,
                                      "expected a JSON object");
        json_doc_free(*doc);
        *doc = NULL;
        return st;
    }
    return SEMDEX_OK;
}

/* ---------------------------------------------------------------- pooling */

static int pool_mode_parse(const json_value *v, model_pool *out)
{
    if (!json_is_str(v))
        return 0;
    for (int i = 0; i < MODEL_POOL_COUNT; i++)
        if (!strcmp(v->u.str, pool_st_names[i])) {
            *out = (model_pool)i;
            return 1;
        }
    return 0;
}

semdex_status model_st_pooling_parse(const char *json, size_t len, const char *file, model_pooling *p,
                                     semdex_error *err)
{
    memset(p, 0, sizeof *p);
    p->include_prompt = 1;
    if (!file)
        file = "1_Pooling/config.json";
    json_doc *doc;
    const json_value *root;
    semdex_status st = parse_object(json, len, file, &doc, &root, err);
    if (st)
        return st;
    const json_value *mode = json_get(root, "pooling_mode");
    if (!json_is_null(mode)) {
        /* a mode name, or a list of them concatenated in list order */
        size_t n = json_is_arr(mode) ? mode->n : 1;
        if ((!json_is_arr(mode) && !json_is_str(mode)) || n == 0 || n > MODEL_POOL_COUNT) {
            st = sx_err_set(err, SEMDEX_ERR_FORMAT, file, "pooling_mode", (int64_t)mode->offset,
                            "pooling_mode must be a mode name or a list of 1 to 6 of them");
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            const json_value *m = json_is_arr(mode) ? json_arr_at(mode, (uint32_t)i) : mode;
            if (!pool_mode_parse(m, &p->modes[i])) {
                st = sx_err_set(err, SEMDEX_ERR_UNSUPPORTED, file, "pooling_mode", (int64_t)m->offset,
                                "unknown pooling mode%s%.32s%s (known: cls, max, mean, mean_sqrt_len_tokens, "
                                "weightedmean, lasttoken)",
                                json_is_str(m) ? " \"" : "", json_is_str(m) ? m->u.str : "", json_is_str(m) ? "\"" : "");
                goto done;
            }
        }
        p->n_modes = n;
    } else {
        /* legacy booleans; none set means mean, as sentence-transformers converts them */
        for (int i = 0; i < MODEL_POOL_COUNT; i++) {
            const json_value *b = json_get(root, pool_legacy_keys[i]);
            if (!json_is_null(b) && !json_is_bool(b)) {
                st = sx_err_set(err, SEMDEX_ERR_FORMAT, file, pool_legacy_keys[i], (int64_t)b->offset,
                                "%s must be true or false", pool_legacy_keys[i]);
                goto done;
            }
            if (json_bool(b, 0))
                p->modes[p->n_modes++] = (model_pool)i;
        }
        if (!p->n_modes)
            p->modes[p->n_modes++] = MODEL_POOL_MEAN;
    }
    const json_value *ip = json_get(root, "include_prompt");
    if (!json_is_null(ip)) {
        if (!json_is_bool(ip)) {
            st = sx_err_set(err, SEMDEX_ERR_FORMAT, file, "include_prompt", (int64_t)ip->offset,
                            "include_prompt must be true or false");
            goto done;
        }
        p->include_prompt = json_bool(ip, 1);
    }
    const char *dim_keys[] = {"embedding_dimension", "word_embedding_dimension"};
    for (int i = 0; i < 2 && !p->dimension; i++) {
        const json_value *d = json_get(root, dim_keys[i]);
        if (json_is_null(d))
            continue;
        if (!json_is_num(d) || d->u.num != floor(d->u.num) || d->u.num < 1 || d->u.num > (1 << 20)) {
            st = sx_err_set(err, SEMDEX_ERR_FORMAT, file, dim_keys[i], (int64_t)d->offset,
                            "%s must be a positive integer", dim_keys[i]);
            goto done;
        }
        p->dimension = (size_t)d->u.num;
    }
done:
    json_doc_free(doc);
    return st;
}

/* ---------------------------------------------------------------- modules */

/* The class name at the end of a module type ("...pooling.Pooling"). */
static const char *type_class(const char *type)
{
    const char *dot = strrchr(type, '.');
    return dot ? dot + 1 : type;
}

static int module_path_ok(const char *s, size_t n)
{
    if (strlen(s) != n || s[0] == '/' || n > 200)
        return 0;
    for (const char *p = s; *p; p++)
        if (p[0] == '.' && p[1] == '.' && (p == s || p[-1] == '/') && (p[2] == '/' || !p[2]))
            return 0;
    return 1;
}

semdex_status model_st_modules_parse(const char *json, size_t len, const char *file, model_st_config *st_cfg,
                                     char **pooling_path, semdex_error *err)
{
    *pooling_path = NULL;
    if (!file)
        file = "modules.json";
    json_doc *doc = parse(json, len, file, err);
    if (!doc)
        return err ? err->status : SEMDEX_ERR_PARSE;
    const json_value *root = json_doc_root(doc);
    semdex_status st = SEMDEX_OK;
    int seen_transformer = 0, seen_pooling = 0;
    if (!json_is_arr(root)) {
        st = sx_err_set(err, SEMDEX_ERR_FORMAT, file, NULL, (int64_t)root->offset, "expected a JSON array of modules");
        goto done;
    }
    for (uint32_t i = 0; i < root->n && !st; i++) {
        const json_value *m = json_arr_at(root, i);
        const json_value *type = json_get(m, "type"), *path = json_get(m, "path");
        char field[32];
        snprintf(field, sizeof field, "[%u].type", i);
        if (!json_is_str(type)) {
            st = sx_err_set(err, SEMDEX_ERR_FORMAT, file, field, (int64_t)m->offset, "module without a type");
            break;
        }
        const char *pstr = json_is_str(path) ? path->u.str : "";
        if (!json_is_null(path) && (!json_is_str(path) || !module_path_ok(path->u.str, path->n))) {
            snprintf(field, sizeof field, "[%u].path", i);
            st = sx_err_set(err, SEMDEX_ERR_FORMAT, file, field, (int64_t)path->offset,
                            "module path must be a relative directory inside the model");
            break;
        }
        const char *cls = type_class(type->u.str);
        if (!strcmp(cls, "Transformer") && !seen_transformer && i == 0) {
            seen_transformer = 1;
            sx_free(st_cfg->transformer_path);
            st_cfg->transformer_path = sx_strndup(pstr, strlen(pstr));
            if (!st_cfg->transformer_path)
                st = sx_err_set(err, SEMDEX_ERR_NOMEM, file, NULL, -1, "out of memory");
        } else if (!strcmp(cls, "Pooling") && seen_transformer && !seen_pooling) {
            seen_pooling = 1;
            *pooling_path = sx_strndup(pstr, strlen(pstr));
            if (!*pooling_path)
                st = sx_err_set(err, SEMDEX_ERR_NOMEM, file, NULL, -1, "out of memory");
        } else if (!strcmp(cls, "Normalize") && seen_pooling && !st_cfg->normalize) {
            st_cfg->normalize = 1;
        } else {
            st = sx_err_set(err, SEMDEX_ERR_UNSUPPORTED, file, field, (int64_t)type->offset,
                            "unsupported module %.100s at position %u (supported: Transformer, then Pooling, "
                            "then optionally Normalize)",
                            type->u.str, i);
        }
    }
    if (!st && !seen_pooling)
        st = sx_err_set(err, SEMDEX_ERR_UNSUPPORTED, file, NULL, -1,
                        "no Pooling module after the Transformer: nothing makes a sentence embedding");
done:
    if (st) {
        sx_free(*pooling_path);
        *pooling_path = NULL;
    }
    json_doc_free(doc);
    return st;
}

/* ---------------------------------------------------- sentence_bert_config */

semdex_status model_st_sbert_parse(const char *json, size_t len, const char *file, model_st_config *st_cfg,
                                   semdex_error *err)
{
    if (!file)
        file = "sentence_bert_config.json";
    json_doc *doc;
    const json_value *root;
    semdex_status st = parse_object(json, len, file, &doc, &root, err);
    if (st)
        return st;
    const json_value *msl = json_get(root, "max_seq_length"), *lc = json_get(root, "do_lower_case");
    if (!json_is_null(msl)) {
        if (!json_is_num(msl) || msl->u.num != floor(msl->u.num) || msl->u.num < 1 || msl->u.num > (1 << 24)) {
            st = sx_err_set(err, SEMDEX_ERR_FORMAT, file, "max_seq_length", (int64_t)msl->offset,
                            "max_seq_length must be a positive integer");
            goto done;
        }
        st_cfg->max_seq_length = (size_t)msl->u.num;
    }
    if (!json_is_null(lc)) {
        if (!json_is_bool(lc)) {
            st = sx_err_set(err, SEMDEX_ERR_FORMAT, file, "do_lower_case", (int64_t)lc->offset,
                            "do_lower_case must be true or false");
            goto done;
        }
        st_cfg->do_lower_case = json_bool(lc, 0);
    }
done:
    json_doc_free(doc);
    return st;
}

/* ------------------------------------------------------------------ prompts */

static void prompts_free(model_st_config *st)
{
    for (size_t i = 0; i < st->n_prompts; i++) {
        sx_free(st->prompt_names[i]);
        sx_free(st->prompts[i]);
    }
    sx_free(st->prompt_names);
    sx_free(st->prompts);
    sx_free(st->default_prompt_name);
    st->prompt_names = st->prompts = NULL;
    st->default_prompt_name = NULL;
    st->n_prompts = 0;
}

semdex_status model_st_prompts_parse(const char *json, size_t len, const char *file, model_st_config *st_cfg,
                                     semdex_error *err)
{
    if (!file)
        file = "config_sentence_transformers.json";
    prompts_free(st_cfg);
    json_doc *doc;
    const json_value *root;
    semdex_status st = parse_object(json, len, file, &doc, &root, err);
    if (st)
        return st;
    const json_value *pr = json_get(root, "prompts"), *def = json_get(root, "default_prompt_name");
    if (!json_is_null(pr)) {
        if (!json_is_obj(pr)) {
            st = sx_err_set(err, SEMDEX_ERR_FORMAT, file, "prompts", (int64_t)pr->offset,
                            "prompts must be an object of name: text");
            goto done;
        }
        st_cfg->prompt_names = sx_calloc(pr->n + 1, sizeof(char *));
        st_cfg->prompts = sx_calloc(pr->n + 1, sizeof(char *));
        if (!st_cfg->prompt_names || !st_cfg->prompts) {
            st = sx_err_set(err, SEMDEX_ERR_NOMEM, file, NULL, -1, "out of memory");
            goto done;
        }
        for (uint32_t i = 0; i < pr->n; i++) {
            const json_value *k = json_obj_key(pr, i), *v = json_obj_val(pr, i);
            if (!json_is_str(v)) {
                st = sx_err_set(err, SEMDEX_ERR_FORMAT, file, "prompts", (int64_t)v->offset,
                                "prompt \"%.64s\" is not a string", k->u.str);
                goto done;
            }
            /* names are C strings (the API takes one); texts may hold anything but NUL */
            if (strlen(k->u.str) != k->n || strlen(v->u.str) != v->n) {
                st = sx_err_set(err, SEMDEX_ERR_FORMAT, file, "prompts", (int64_t)k->offset,
                                "prompt names and texts must not hold NUL characters");
                goto done;
            }
            st_cfg->prompt_names[i] = sx_strndup(k->u.str, k->n);
            st_cfg->prompts[i] = sx_strndup(v->u.str, v->n);
            st_cfg->n_prompts = i + 1;
            if (!st_cfg->prompt_names[i] || !st_cfg->prompts[i]) {
                st = sx_err_set(err, SEMDEX_ERR_NOMEM, file, NULL, -1, "out of memory");
                goto done;
            }
        }
    }
    if (!json_is_null(def)) {
        size_t i = 0;
        while (json_is_str(def) && i < st_cfg->n_prompts && strcmp(st_cfg->prompt_names[i], def->u.str))
            i++;
        if (!json_is_str(def) || i == st_cfg->n_prompts) {
            st = sx_err_set(err, SEMDEX_ERR_FORMAT, file, "default_prompt_name", (int64_t)def->offset,
                            "default_prompt_name must name one of the prompts");
            goto done;
        }
        st_cfg->default_prompt_name = sx_strndup(def->u.str, def->n);
        if (!st_cfg->default_prompt_name)
            st = sx_err_set(err, SEMDEX_ERR_NOMEM, file, NULL, -1, "out of memory");
    }
done:
    if (st)
        prompts_free(st_cfg);
    json_doc_free(doc);
    return st;
}

/* --------------------------------------------------------- tokenizer_config */

semdex_status model_st_tokenizer_config_parse(const char *json, size_t len, const char *file,
                                              model_st_config *st_cfg, semdex_error *err)
{
    if (!file)
        file = "tokenizer_config.json";
    json_doc *doc;
    const json_value *root;
    semdex_status st = parse_object(json, len, file, &doc, &root, err);
    if (st)
        return st;
    /* transformers writes int(1e30) for "no limit" */
    int64_t mml;
    if (json_int_in(json_get(root, "model_max_length"), 1, 1 << 24, &mml))
        st_cfg->model_max_length = (size_t)mml;
    json_doc_free(doc);
    return st;
}

/* --------------------------------------------------------------- directory */

typedef semdex_status (*file_parser)(const char *json, size_t len, const char *file, model_st_config *st,
                                     semdex_error *err);

/* Parses dir/sub/name with fn when it exists; *found tells whether it did. */
static semdex_status optional_file(const char *dir, const char *sub, const char *name, file_parser fn,
                                   model_st_config *st_cfg, int *found, semdex_error *err)
{
    char *d = model_path_join(dir, sub ? sub : "");
    char *path = d ? model_path_join(d, name) : NULL;
    sx_free(d);
    if (!path)
        return sx_err_set(err, SEMDEX_ERR_NOMEM, dir, NULL, -1, "out of memory");
    semdex_status st = SEMDEX_OK;
    int exists = model_file_exists(path);
    if (found)
        *found = exists;
    if (exists) {
        char *buf;
        size_t n;
        st = model_file_read(path, ST_FILE_LIMIT, &buf, &n, err);
        if (!st) {
            st = fn(buf, n, path, st_cfg, err);
            sx_free(buf);
        }
    }
    sx_free(path);
    return st;
}

static void note(model_st_config *st, const char *s)
{
    size_t n = strlen(st->notes);
    snprintf(st->notes + n, sizeof st->notes - n, "%s%s", n ? "; " : "", s);
}

semdex_status model_st_config_load(const char *dir, model_st_config *st_cfg, semdex_error *err)
{
    memset(st_cfg, 0, sizeof *st_cfg);
    char *path = model_path_join(dir, "modules.json");
    if (!path)
        return sx_err_set(err, SEMDEX_ERR_NOMEM, dir, NULL, -1, "out of memory");
    semdex_status st = SEMDEX_OK;
    char *pooling_dir = NULL, *buf = NULL;
    size_t n;
    if (model_file_exists(path)) {
        st_cfg->has_modules = 1;
        st = model_file_read(path, ST_FILE_LIMIT, &buf, &n, err);
        if (!st)
            st = model_st_modules_parse(buf, n, path, st_cfg, &pooling_dir, err);
        sx_free(buf);
        sx_free(path);
        path = NULL;
        if (!st) {
            char *pd = model_path_join(dir, pooling_dir);
            path = pd ? model_path_join(pd, "config.json") : NULL;
            sx_free(pd);
            if (!path)
                st = sx_err_set(err, SEMDEX_ERR_NOMEM, dir, NULL, -1, "out of memory");
        }
        if (!st)
            st = model_file_read(path, ST_FILE_LIMIT, &buf, &n, err);
        if (!st) {
            st = model_st_pooling_parse(buf, n, path, &st_cfg->pooling, err);
            sx_free(buf);
        }
    } else {
        st_cfg->transformer_path = sx_strndup("", 0);
        if (!st_cfg->transformer_path)
            st = sx_err_set(err, SEMDEX_ERR_NOMEM, dir, NULL, -1, "out of memory");
        st_cfg->pooling.modes[0] = MODEL_POOL_MEAN;
        st_cfg->pooling.n_modes = 1;
        st_cfg->pooling.include_prompt = 1;
        note(st_cfg, "no modules.json: mean pooling without normalization assumed (what sentence-transformers "
                     "does with a plain Hugging Face model)");
    }
    sx_free(path);
    sx_free(pooling_dir);
    int found = 0;
    if (!st)
        st = optional_file(dir, st_cfg->transformer_path, "sentence_bert_config.json", model_st_sbert_parse, st_cfg,
                           NULL, err);
    if (!st)
        st = optional_file(dir, NULL, "config_sentence_transformers.json", model_st_prompts_parse, st_cfg, &found,
                           err);
    if (!st)
        st = optional_file(dir, st_cfg->transformer_path, "tokenizer_config.json", model_st_tokenizer_config_parse,
                           st_cfg, NULL, err);
    if (st)
        model_st_config_free(st_cfg);
    return st;
}

void model_st_config_free(model_st_config *st)
{
    if (!st)
        return;
    prompts_free(st);
    sx_free(st->transformer_path);
    st->transformer_path = NULL;
}
