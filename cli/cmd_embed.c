/* cmd_embed.c: `semdex embed` (JSON lines or plain lines in, one JSON line
 * with the embedding out per input line, in input order, embedded in
 * batches) and `semdex info` (what a model directory holds). */
#include "cli.h"
#include "json.h"
#include <stdlib.h>
#include <string.h>

static void embed_usage(FILE *f)
{
    fprintf(f,
            "usage: semdex embed -m DIR [--prompt-name NAME] [--no-normalize] [--threads N]\n"
            "                    [--batch N] [--plain]\n"
            "\n"
            "Reads JSON lines {\"text\": \"...\"} from standard input (or plain text lines with\n"
            "--plain) and writes one JSON line per input line, in input order:\n"
            "  {\"embedding\": [...], \"n_tokens\": N, \"truncated\": K}\n"
            "n_tokens counts the tokens the model saw, special tokens included; truncated\n"
            "counts the tokens dropped at the model's max length (0 when none).  Floats are\n"
            "printed with 9 significant digits (they read back to the same float32).\n"
            "A bad line writes {\"error\": \"...\", \"line\": N} and the run goes on; the exit\n"
            "status is then 1.\n"
            "\n"
            "options:\n"
            "  -m, --model DIR       sentence-transformers model directory (config.json,\n"
            "                        model.safetensors, tokenizer.json, modules.json, ...)\n"
            "  --prompt-name NAME    prepend the model's prompt NAME (from\n"
            "                        config_sentence_transformers.json); default: the model's\n"
            "                        default prompt, if it names one\n"
            "  --no-normalize        do not L2-normalize, even if the model has a Normalize module\n"
            "  --threads N           worker threads (default: all CPUs)\n"
            "  --batch N             inputs per batch (default 32)\n"
            "  --plain               each input line is the text itself (newline removed)\n"
            "  -h, --help            show this help\n");
}

static void info_usage(FILE *f)
{
    fprintf(f,
            "usage: semdex info -m DIR\n"
            "\n"
            "Loads the model directory and prints its architecture, embedding dimension,\n"
            "layers, heads, hidden and intermediate sizes, vocabulary size, pooling,\n"
            "normalization, max length (tokens, special tokens included), prompts, the\n"
            "dtype of the stored weights, a hash of the weights, and notes on what was\n"
            "assumed (for example a missing modules.json).\n"
            "\n"
            "options:\n"
            "  -m, --model DIR       model directory\n"
            "  -h, --help            show this help\n");
}

/* One input line waiting for its batch: a text, or an error already known. */
typedef struct pending {
    size_t line;
    char *text; /* NULL when err is set */
    size_t len;
    char *err;
} pending;

typedef struct embed_run {
    semdex_model *model;
    semdex_embed_options opts;
    pending *items;
    size_t n, cap;
    size_t n_texts; /* items holding a text */
    semdex_embeddings emb;
    cli_buf out;
    int failed;
} embed_run;

static void write_error(embed_run *r, size_t line, const char *msg)
{
    fprintf(stderr, "semdex embed: line %zu: %s\n", line, msg);
    r->out.n = 0;
    cli_buf_add(&r->out, "{\"error\": ", 10);
    cli_buf_json_string(&r->out, msg, strlen(msg));
    cli_buf_printf(&r->out, ", \"line\": %zu}\n", line);
    fwrite(r->out.s, 1, r->out.n, stdout);
    r->failed = 1;
}

static void write_embedding(embed_run *r, const semdex_embeddings *e, size_t i)
{
    cli_buf *b = &r->out;
    b->n = 0;
    cli_buf_add(b, "{\"embedding\": [", 15);
    const float *v = e->vectors + i * e->dim;
    for (size_t d = 0; d < e->dim; d++)
        cli_buf_printf(b, d ? ", %.9g" : "%.9g", (double)v[d]);
    cli_buf_printf(b, "], \"n_tokens\": %zu, \"truncated\": %zu}\n", e->n_tokens[i], e->n_truncated[i]);
    fwrite(b->s, 1, b->n, stdout);
}

static char *error_text(const semdex_error *e)
{
    char buf[1024];
    semdex_error_format(e, buf, sizeof buf);
    return strdup(buf);
}

/* Embeds the pending texts in one call; when that fails, each alone, so
 * that one bad text costs only its own line. */
static void flush(embed_run *r)
{
    const char **texts = malloc((r->n_texts ? r->n_texts : 1) * sizeof *texts);
    size_t *lens = malloc((r->n_texts ? r->n_texts : 1) * sizeof *lens);
    size_t k = 0;
    if (!texts || !lens) {
        fprintf(stderr, "semdex embed: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < r->n; i++)
        if (r->items[i].text) {
            texts[k] = r->items[i].text;
            lens[k++] = r->items[i].len;
        }
    semdex_error err = {0};
    int whole = k && !semdex_model_embed(r->model, texts, lens, k, &r->opts, &r->emb, &err);
    k = 0;
    for (size_t i = 0; i < r->n; i++) {
        pending *p = &r->items[i];
        if (p->err) {
            write_error(r, p->line, p->err);
        } else if (whole) {
            write_embedding(r, &r->emb, k++);
        } else {
            semdex_error e1 = {0};
            if (semdex_model_embed(r->model, texts + k, lens + k, 1, &r->opts, &r->emb, &e1)) {
                char *msg = error_text(&e1);
                write_error(r, p->line, msg ? msg : "cannot embed");
                free(msg);
            } else {
                write_embedding(r, &r->emb, 0);
            }
            k++;
        }
        free(p->text);
        free(p->err);
    }
    free(texts);
    free(lens);
    r->n = r->n_texts = 0;
}

static void add(embed_run *r, size_t line, const char *text, size_t len, const char *err)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 64;
        r->items = realloc(r->items, r->cap * sizeof *r->items);
        if (!r->items) {
            fprintf(stderr, "semdex embed: out of memory\n");
            exit(1);
        }
    }
    pending *p = &r->items[r->n++];
    memset(p, 0, sizeof *p);
    p->line = line;
    if (err) {
        p->err = strdup(err);
    } else {
        p->text = malloc(len + 1);
        if (p->text) {
            memcpy(p->text, text, len);
            p->text[len] = 0;
        }
        p->len = len;
        r->n_texts++;
    }
    if ((err && !p->err) || (!err && !p->text)) {
        fprintf(stderr, "semdex embed: out of memory\n");
        exit(1);
    }
}

static int parse_count(const char *cmd, const char *opt, const char *val, size_t *out)
{
    if (cli_parse_size(val, out) || !*out || *out > 1000000) {
        fprintf(stderr, "semdex %s: %s needs a positive integer, got '%s'\n", cmd, opt, val);
        return -1;
    }
    return 0;
}

int cmd_embed(int argc, char **argv)
{
    const char *dir = NULL;
    semdex_model_options mo = semdex_model_options_default();
    embed_run r = {0};
    r.opts = semdex_embed_options_default();
    int plain = 0;
    size_t batch = 32, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            embed_usage(stdout);
            return 0;
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && i + 1 < argc) {
            dir = argv[++i];
        } else if (!strcmp(a, "--prompt-name") && i + 1 < argc) {
            r.opts.prompt_name = argv[++i];
        } else if (!strcmp(a, "--no-normalize")) {
            r.opts.normalize = 0;
        } else if (!strcmp(a, "--threads") && i + 1 < argc) {
            if (parse_count("embed", a, argv[++i], &threads))
                return 2;
        } else if (!strcmp(a, "--batch") && i + 1 < argc) {
            if (parse_count("embed", a, argv[++i], &batch))
                return 2;
        } else if (!strcmp(a, "--plain")) {
            plain = 1;
        } else {
            fprintf(stderr, "semdex embed: unknown or incomplete option '%s'\n\n", a);
            embed_usage(stderr);
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "semdex embed: -m DIR is required\n\n");
        embed_usage(stderr);
        return 2;
    }
    mo.n_threads = (int)threads;
    r.opts.batch_size = batch;
    semdex_error err = {0};
    if (semdex_model_load(dir, &mo, &r.model, &err)) {
        cli_print_error("embed", &err);
        return 1;
    }
    const semdex_model_info *info = semdex_model_get_info(r.model);
    if (info->notes[0])
        fprintf(stderr, "semdex embed: note: %s\n", info->notes);
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        size_t n = (size_t)got;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (plain) {
            add(&r, lineno, line, n, NULL);
        } else {
            semdex_error e = {0};
            json_doc *doc = json_parse(line, n, &e);
            if (!doc) {
                char msg[512];
                snprintf(msg, sizeof msg, "bad JSON at byte %lld: %s", (long long)e.offset, e.message);
                add(&r, lineno, NULL, 0, msg);
            } else {
                const json_value *text = json_get(json_doc_root(doc), "text");
                if (!json_is_str(text))
                    add(&r, lineno, NULL, 0, "expected an object with a string \"text\"");
                else
                    add(&r, lineno, text->u.str, text->n, NULL);
                json_doc_free(doc);
            }
        }
        if (r.n_texts >= batch)
            flush(&r);
    }
    flush(&r);
    free(line);
    free(r.items);
    free(r.out.s);
    semdex_embeddings_free(&r.emb);
    semdex_model_free(r.model);
    if (fflush(stdout)) {
        fprintf(stderr, "semdex embed: write error\n");
        return 1;
    }
    return r.failed ? 1 : 0;
}

static void print_quoted(const char *s)
{
    cli_buf b = {0};
    cli_buf_json_string(&b, s, strlen(s));
    fputs(b.s ? b.s : "\"\"", stdout);
    free(b.s);
}

int cmd_info(int argc, char **argv)
{
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            info_usage(stdout);
            return 0;
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && i + 1 < argc) {
            dir = argv[++i];
        } else {
            fprintf(stderr, "semdex info: unknown or incomplete option '%s'\n\n", a);
            info_usage(stderr);
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "semdex info: -m DIR is required\n\n");
        info_usage(stderr);
        return 2;
    }
    semdex_model_options mo = semdex_model_options_default();
    mo.n_threads = 1;
    semdex_error err = {0};
    semdex_model *m = NULL;
    if (semdex_model_load(dir, &mo, &m, &err)) {
        cli_print_error("info", &err);
        return 1;
    }
    const semdex_model_info *i = semdex_model_get_info(m);
    printf("path:          %s\n", i->path);
    printf("architecture:  %s\n", i->architecture);
    printf("dimension:     %zu\n", i->dim);
    printf("layers:        %zu\n", i->n_layers);
    printf("heads:         %zu\n", i->n_heads);
    printf("hidden:        %zu\n", i->hidden);
    printf("intermediate:  %zu\n", i->intermediate);
    printf("vocabulary:    %zu\n", i->vocab_size);
    printf("pooling:       %s\n", i->pooling);
    printf("normalize:     %s\n", i->normalize ? "yes (L2)" : "no");
    printf("max length:    %zu tokens\n", i->max_length);
    printf("weight dtype:  %s\n", i->weight_dtype);
    printf("weights hash:  %016llx\n", (unsigned long long)i->weights_hash);
    if (!i->n_prompts)
        printf("prompts:       none\n");
    for (size_t k = 0; k < i->n_prompts; k++) {
        printf(k ? "               %s: " : "prompts:       %s: ", i->prompt_names[k]);
        print_quoted(i->prompts[k]);
        int def = i->default_prompt_name && !strcmp(i->default_prompt_name, i->prompt_names[k]);
        printf("%s\n", def ? " (default)" : "");
    }
    printf("notes:         %s\n", i->notes[0] ? i->notes : "none");
    semdex_model_free(m);
    if (fflush(stdout)) {
        fprintf(stderr, "semdex info: write error\n");
        return 1;
    }
    return 0;
}
