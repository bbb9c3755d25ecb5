/* fuzz_model_config.c: the model directory's JSON parsers on arbitrary
 * bytes: config.json, 1_Pooling/config.json, modules.json,
 * sentence_bert_config.json, config_sentence_transformers.json and
 * tokenizer_config.json.  Each must accept or refuse with a status, never
 * crash or leak, and what it accepts must be usable as it is. */
#include "fuzz.h"
#include "model_int.h"
#include "alloc.h"
#include <string.h>

/* A ".." path component: module paths must stay inside the model. */
static int has_dotdot(const char *p)
{
    for (const char *c = p; (c = strstr(c, "..")); c++)
        if ((c == p || c[-1] == '/') && (c[2] == '/' || !c[2]))
            return 1;
    return 0;
}

int fuzz_model_config(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    semdex_error err = {0};
    model_config cfg;
    if (!model_config_parse(s, size, "config.json", &cfg, &err)) {
        FUZZ_CHECK(cfg.hidden && cfg.n_heads && cfg.hidden % cfg.n_heads == 0);
        FUZZ_CHECK(cfg.n_layers && cfg.intermediate && cfg.vocab_size && cfg.type_vocab_size);
        FUZZ_CHECK(cfg.position_offset < cfg.max_positions);
        FUZZ_CHECK(cfg.arch < MODEL_ARCH_COUNT && cfg.act < MODEL_ACT_COUNT && cfg.layer_norm_eps > 0);
    }
    model_pooling p;
    if (!model_st_pooling_parse(s, size, NULL, &p, &err)) {
        FUZZ_CHECK(p.n_modes >= 1 && p.n_modes <= MODEL_POOL_COUNT);
        for (size_t i = 0; i < p.n_modes; i++)
            FUZZ_CHECK(p.modes[i] < MODEL_POOL_COUNT);
    }
    model_st_config st;
    memset(&st, 0, sizeof st);
    char *pooling_path = NULL;
    if (!model_st_modules_parse(s, size, NULL, &st, &pooling_path, &err)) {
        FUZZ_CHECK(pooling_path && st.transformer_path);
        FUZZ_CHECK(pooling_path[0] != '/' && !has_dotdot(pooling_path) && !has_dotdot(st.transformer_path));
    }
    sx_free(pooling_path);
    model_st_sbert_parse(s, size, NULL, &st, &err);
    if (!model_st_prompts_parse(s, size, NULL, &st, &err)) {
        for (size_t i = 0; i < st.n_prompts; i++)
            FUZZ_CHECK(st.prompt_names[i] && st.prompts[i]);
        if (st.default_prompt_name) {
            size_t i = 0;
            while (i < st.n_prompts && strcmp(st.prompt_names[i], st.default_prompt_name))
                i++;
            FUZZ_CHECK(i < st.n_prompts);
        }
    }
    model_st_tokenizer_config_parse(s, size, NULL, &st, &err);
    model_st_config_free(&st);
    return 0;
}
FUZZ_ENTRY(fuzz_model_config)
