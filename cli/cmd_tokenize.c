/* cmd_tokenize.c: `semdex tokenize`: JSON lines in, one JSON line of ids,
 * tokens, offsets and type ids out per input line. */
#include "cli.h"
#include "json.h"
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: semdex tokenize -m PATH [--max-length N] [--no-special-tokens]\n"
            "\n"
            "Reads JSON lines {\"text\": \"...\", \"text_pair\": \"...\"} (text_pair optional) from\n"
            "standard input and writes one JSON line per input line:\n"
            "  {\"ids\": [...], \"tokens\": [...], \"offsets\": [[start, end], ...], \"type_ids\": [...]}\n"
            "Offsets are UTF-8 byte offsets into text (or text_pair for its tokens), [0, 0]\n"
            "for special tokens.  A bad line writes {\"error\": \"...\", \"line\": N} and the\n"
            "run goes on; the exit status is then 1.\n"
            "\n"
            "options:\n"
            "  -m, --model PATH      model directory (tokenizer.json, or vocab.txt and\n"
            "                        tokenizer_config.json) or a tokenizer.json file\n"
            "  --max-length N        truncate to N tokens, special tokens included\n"
            "                        (longest first for pairs), as truncation=True does\n"
            "  --no-special-tokens   do not add the post-processor's special tokens\n"
            "  -h, --help            show this help\n");
}

static int line_error(cli_buf *out, size_t line, const char *msg)
{
    fprintf(stderr, "semdex tokenize: line %zu: %s\n", line, msg);
    out->n = 0;
    cli_buf_add(out, "{\"error\": ", 10);
    cli_buf_json_string(out, msg, strlen(msg));
    cli_buf_printf(out, ", \"line\": %zu}\n", line);
    fwrite(out->s, 1, out->n, stdout);
    return 1;
}

static int write_encoding(cli_buf *out, const semdex_tokenizer *tok, const semdex_encoding *enc)
{
    out->n = 0;
    cli_buf_add(out, "{\"ids\": [", 9);
    for (size_t i = 0; i < enc->n; i++)
        cli_buf_printf(out, i ? ", %d" : "%d", enc->ids[i]);
    cli_buf_add(out, "], \"tokens\": [", 14);
    for (size_t i = 0; i < enc->n; i++) {
        const char *t = semdex_tokenizer_id_to_token(tok, enc->ids[i]);
        if (i)
            cli_buf_add(out, ", ", 2);
        if (t)
            cli_buf_json_string(out, t, strlen(t));
        else
            cli_buf_add(out, "null", 4);
    }
    cli_buf_add(out, "], \"offsets\": [", 15);
    for (size_t i = 0; i < enc->n; i++)
        cli_buf_printf(out, i ? ", [%u, %u]" : "[%u, %u]", enc->offsets[i][0], enc->offsets[i][1]);
    cli_buf_add(out, "], \"type_ids\": [", 16);
    for (size_t i = 0; i < enc->n; i++)
        cli_buf_printf(out, i ? ", %u" : "%u", enc->type_ids[i]);
    cli_buf_add(out, "]", 1);
    if (enc->n_truncated)
        cli_buf_printf(out, ", \"truncated\": %zu", enc->n_truncated);
    return cli_buf_add(out, "}\n", 2);
}

int cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL;
    semdex_encode_options opts = semdex_encode_options_default();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && i + 1 < argc) {
            model = argv[++i];
        } else if (!strcmp(a, "--max-length") && i + 1 < argc) {
            if (cli_parse_size(argv[++i], &opts.max_length) || !opts.max_length) {
                fprintf(stderr, "semdex tokenize: --max-length needs a positive integer, got '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--no-special-tokens")) {
            opts.add_special_tokens = 0;
        } else {
            fprintf(stderr, "semdex tokenize: unknown or incomplete option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!model) {
        fprintf(stderr, "semdex tokenize: -m PATH is required\n\n");
        usage(stderr);
        return 2;
    }
    semdex_error err = {0};
    semdex_tokenizer *tok = NULL;
    if (semdex_tokenizer_load(model, &tok, &err)) {
        cli_print_error("tokenize", &err);
        return 1;
    }
    semdex_encoding enc = {0};
    cli_buf out = {0};
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t got;
    int failed = 0;
    while ((got = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        size_t n = (size_t)got;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        semdex_error e = {0};
        json_doc *doc = json_parse(line, n, &e);
        if (!doc) {
            char msg[512];
            snprintf(msg, sizeof msg, "bad JSON at byte %lld: %s", (long long)e.offset, e.message);
            failed |= line_error(&out, lineno, msg);
            continue;
        }
        const json_value *root = json_doc_root(doc);
        const json_value *text = json_get(root, "text"), *pair = json_get(root, "text_pair");
        if (!json_is_str(text)) {
            failed |= line_error(&out, lineno, "expected an object with a string \"text\"");
        } else if (!json_is_null(pair) && !json_is_str(pair)) {
            failed |= line_error(&out, lineno, "\"text_pair\" must be a string or null");
        } else {
            const char *p = json_is_str(pair) ? pair->u.str : NULL;
            size_t pl = json_is_str(pair) ? pair->n : 0;
            if (semdex_tokenizer_encode(tok, text->u.str, text->n, p, pl, &opts, &enc, &e)) {
                char msg[512];
                failed |= line_error(&out, lineno, semdex_error_format(&e, msg, sizeof msg));
            } else {
                write_encoding(&out, tok, &enc);
                fwrite(out.s, 1, out.n, stdout);
            }
        }
        json_doc_free(doc);
    }
    free(line);
    free(out.s);
    semdex_encoding_free(&enc);
    semdex_tokenizer_free(tok);
    if (fflush(stdout)) {
        fprintf(stderr, "semdex tokenize: write error\n");
        return 1;
    }
    return failed ? 1 : 0;
}
