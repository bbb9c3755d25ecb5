/* config.c: config.json of a Hugging Face encoder: which architecture, its
 * sizes, activation and layer-norm epsilon, checked for sanity before any
 * tensor is looked at.  Knows nothing of safetensors or of the
 * sentence-transformers files. */
#include "model_int.h"
#include "alloc.h"
#include "err.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    model_arch arch;
} known_archs[] = {
    {"BertModel", MODEL_ARCH_BERT},
    {"BertForMaskedLM", MODEL_ARCH_BERT},
    {"BertForPreTraining", MODEL_ARCH_BERT},
    {"XLMRobertaModel", MODEL_ARCH_ROBERTA},
    {"XLMRobertaForMaskedLM", MODEL_ARCH_ROBERTA},
    {"RobertaModel", MODEL_ARCH_ROBERTA},
    {"RobertaForMaskedLM", MODEL_ARCH_ROBERTA},
};

static const struct {
    const char *name;
    model_act act;
} known_acts[] = {
    {"gelu", MODEL_ACT_GELU_ERF},
    {"gelu_python", MODEL_ACT_GELU_ERF},
    {"gelu_new", MODEL_ACT_GELU_TANH},
    {"gelu_pytorch_tanh", MODEL_ACT_GELU_TANH},
    {"relu", MODEL_ACT_RELU},
};

/* A required (or defaulted) size field in [lo, hi]. */
static semdex_status size_field(const json_value *root, const char *key, size_t def, size_t lo, size_t hi,
                                const char *file, size_t *out, semdex_error *err)
{
    const json_value *v = json_get(root, key);
    if (json_is_null(v)) {
        if (!def)
            return sx_err_set(err, SEMDEX_ERR_FORMAT, file, key, -1, "missing %s", key);
        *out = def;
        return SEMDEX_OK;
    }
    double d = json_is_num(v) ? v->u.num : -1;
    if (!json_is_num(v) || d != floor(d) || d < (double)lo || d > (double)hi) {
        return sx_err_set(err, SEMDEX_ERR_FORMAT, file, key, (int64_t)v->offset,
                          "%s must be an integer in [%zu, %zu]", key, lo, hi);
    }
    *out = (size_t)d;
    return SEMDEX_OK;
}

static semdex_status arch_parse(const json_value *root, const char *file, model_config *cfg, semdex_error *err)
{
    const json_value *archs = json_get(root, "architectures"), *mt = json_get(root, "model_type");
    const char *name = NULL;
    const json_value *at = NULL;
    if (json_is_arr(archs) && archs->n) {
        at = json_arr_at(archs, 0);
        if (!json_is_str(at))
            return sx_err_set(err, SEMDEX_ERR_FORMAT, file, "architectures", (int64_t)at->offset,
                              "architectures must hold strings");
        name = at->u.str;
    } else if (!json_is_null(archs) && !json_is_arr(archs)) {
        return sx_err_set(err, SEMDEX_ERR_FORMAT, file, "architectures", (int64_t)archs->offset,
                          "architectures must be an array of strings");
    }
    if (name) {
        for (size_t i = 0; i < sizeof known_archs / sizeof known_archs[0]; i++)
            if (!strcmp(name, known_archs[i].name)) {
                cfg->arch = known_archs[i].arch;
                snprintf(cfg->architecture, sizeof cfg->architecture, "%s", name);
                return SEMDEX_OK;
            }
        return sx_err_set(err, SEMDEX_ERR_UNSUPPORTED, file, "architectures", (int64_t)at->offset,
                          "unsupported architecture \"%.64s\" (supported: BertModel, XLMRobertaModel, "
                          "RobertaModel and their *ForMaskedLM checkpoints)",
                          name);
    }
    /* no architectures: model_type decides, as AutoModel does */
    if (json_is_str(mt)) {
        if (!strcmp(mt->u.str, "bert")) {
            cfg->arch = MODEL_ARCH_BERT;
            snprintf(cfg->architecture, sizeof cfg->architecture, "BertModel");
            return SEMDEX_OK;
        }
        if (!strcmp(mt->u.str, "xlm-roberta") || !strcmp(mt->u.str, "roberta")) {
            cfg->arch = MODEL_ARCH_ROBERTA;
            snprintf(cfg->architecture, sizeof cfg->architecture, "%s",
                     mt->u.str[0] == 'x' ? "XLMRobertaModel" : "RobertaModel");
            return SEMDEX_OK;
        }
        return sx_err_set(err, SEMDEX_ERR_UNSUPPORTED, file, "model_type", (int64_t)mt->offset,
                          "unsupported model_type \"%.64s\" (supported: bert, xlm-roberta, roberta)", mt->u.str);
    }
    return sx_err_set(err, SEMDEX_ERR_FORMAT, file, "architectures", -1,
                      "neither architectures nor model_type says what the model is");
}

semdex_status model_config_parse(const char *json, size_t len, const char *file, model_config *cfg,
                                 semdex_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    if (!file)
        file = "config.json";
    semdex_error jerr = {0};
    json_doc *doc = json_parse(json, len, &jerr);
    if (!doc) {
        return sx_err_set(err, jerr.status == SEMDEX_ERR_NOMEM ? SEMDEX_ERR_NOMEM : SEMDEX_ERR_PARSE, file, NULL,
                          jerr.offset, "%s", jerr.message);
    }
    const json_value *root = json_doc_root(doc);
    semdex_status st = SEMDEX_OK;
    if (!json_is_obj(root)) {
        st = sx_err_set(err, SEMDEX_ERR_FORMAT, file, NULL, (int64_t)root->offset, "config is not a JSON object");
        goto done;
    }
    if ((st = arch_parse(root, file, cfg, err)))
        goto done;
    const json_value *mt = json_get(root, "model_type");
    if (json_is_str(mt)) {
        int bert = !strcmp(mt->u.str, "bert");
        int rob = !strcmp(mt->u.str, "xlm-roberta") || !strcmp(mt->u.str, "roberta");
        if ((cfg->arch == MODEL_ARCH_BERT && !bert) || (cfg->arch == MODEL_ARCH_ROBERTA && !rob)) {
            st = sx_err_set(err, SEMDEX_ERR_UNSUPPORTED, file, "model_type", (int64_t)mt->offset,
                            "model_type \"%.64s\" does not match architecture %s", mt->u.str, cfg->architecture);
            goto done;
        }
    }
    if ((st = size_field(root, "hidden_size", 0, 1, 1 << 16, file, &cfg->hidden, err)) ||
        (st = size_field(root, "num_hidden_layers", 0, 1, 1024, file, &cfg->n_layers, err)) ||
        (st = size_field(root, "num_attention_heads", 0, 1, 1024, file, &cfg->n_heads, err)) ||
        (st = size_field(root, "intermediate_size", 0, 1, 1 << 20, file, &cfg->intermediate, err)) ||
        (st = size_field(root, "vocab_size", 0, 1, 1 << 24, file, &cfg->vocab_size, err)) ||
        (st = size_field(root, "max_position_embeddings", 512, 1, 1 << 20, file, &cfg->max_positions, err)) ||
        (st = size_field(root, "type_vocab_size", 2, 1, 1 << 16, file, &cfg->type_vocab_size, err)))
        goto done;
    if (cfg->hidden % cfg->n_heads) {
        st = sx_err_set(err, SEMDEX_ERR_FORMAT, file, "num_attention_heads", -1,
                        "hidden_size %zu is not a multiple of num_attention_heads %zu", cfg->hidden, cfg->n_heads);
        goto done;
    }
    const json_value *act = json_get(root, "hidden_act");
    cfg->act = MODEL_ACT_GELU_ERF;
    if (!json_is_null(act)) {
        size_t i = 0, n = sizeof known_acts / sizeof known_acts[0];
        while (i < n && !(json_is_str(act) && !strcmp(act->u.str, known_acts[i].name)))
            i++;
        if (i == n) {
            st = sx_err_set(err, SEMDEX_ERR_UNSUPPORTED, file, "hidden_act", (int64_t)act->offset,
                            "unsupported hidden_act%s%.32s%s (supported: gelu, gelu_new, gelu_pytorch_tanh, relu)",
                            json_is_str(act) ? " \"" : "", json_is_str(act) ? act->u.str : "",
                            json_is_str(act) ? "\"" : "");
            goto done;
        }
        cfg->act = known_acts[i].act;
    }
    const json_value *eps = json_get(root, "layer_norm_eps");
    cfg->layer_norm_eps = 1e-12f;
    if (!json_is_null(eps)) {
        if (!json_is_num(eps) || !(eps->u.num > 0) || eps->u.num > 1) {
            st = sx_err_set(err, SEMDEX_ERR_FORMAT, file, "layer_norm_eps", (int64_t)eps->offset,
                            "layer_norm_eps must be a number in (0, 1]");
            goto done;
        }
        cfg->layer_norm_eps = (float)eps->u.num;
    }
    const json_value *pet = json_get(root, "position_embedding_type");
    if (!json_is_null(pet) && !(json_is_str(pet) && !strcmp(pet->u.str, "absolute"))) {
        st = sx_err_set(err, SEMDEX_ERR_UNSUPPORTED, file, "position_embedding_type", (int64_t)pet->offset,
                        "only absolute position embeddings are supported");
        goto done;
    }
    const json_value *pad = json_get(root, "pad_token_id");
    cfg->pad_token_id = cfg->arch == MODEL_ARCH_ROBERTA ? 1 : 0; /* the config classes' defaults */
    if (!json_is_null(pad)) {
        if (!json_is_num(pad) || pad->u.num != floor(pad->u.num) || pad->u.num < 0 ||
            pad->u.num >= (double)cfg->vocab_size) {
            st = sx_err_set(err, SEMDEX_ERR_FORMAT, file, "pad_token_id", (int64_t)pad->offset,
                            "pad_token_id must be an id of the vocabulary");
            goto done;
        }
        cfg->pad_token_id = (int64_t)pad->u.num;
    }
    if (cfg->arch == MODEL_ARCH_ROBERTA) {
        cfg->position_offset = (size_t)cfg->pad_token_id + 1;
        if (cfg->position_offset >= cfg->max_positions) {
            st = sx_err_set(err, SEMDEX_ERR_FORMAT, file, "max_position_embeddings", -1,
                            "max_position_embeddings %zu leaves no position after pad_token_id %lld",
                            cfg->max_positions, (long long)cfg->pad_token_id);
            goto done;
        }
    }
done:
    json_doc_free(doc);
    return st;
}

semdex_status model_config_load(const char *path, model_config *cfg, semdex_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    char *buf;
    size_t n;
    semdex_status st = model_file_read(path, 64u << 20, &buf, &n, err);
    if (st)
        return st;
    st = model_config_parse(buf, n, path, cfg, err);
    sx_free(buf);
    return st;
}
