/* main.c: the semdex program: dispatches to one command per file. */
#include "cli.h"
#include "alloc.h"
#include "json.h"
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "semdex %s: local retrieval engine for RAG\n"
            "\n"
            "usage: semdex COMMAND [OPTIONS]\n"
            "\n"
            "commands:\n"
            "  tokenize   tokenize JSON lines with a model's tokenizer (see semdex tokenize --help)\n"
            "  embed      embed JSON lines with a sentence-embedding model (see semdex embed --help)\n"
            "  info       describe a model directory\n"
            "  add        add documents (JSONL, text files) to a store (see semdex add --help)\n"
            "  search     search a store: hybrid, vector or keyword (see semdex search --help)\n"
            "  rm         remove documents from a store by id\n"
            "  stats      describe a store and its collections\n"
            "  doctor     check a store's consistency (exit 0 when consistent)\n"
            "  eval       measure retrieval on a BEIR-style set or XQuAD (see semdex eval --help)\n"
            "  bench      benchmarks: semdex bench ann (HNSW recall and QPS on .fvecs files)\n"
            "  version    print the version\n"
            "  help       print this help\n",
            semdex_version());
}

void cli_print_error(const char *cmd, const semdex_error *err)
{
    char buf[1024];
    fprintf(stderr, "semdex %s: %s\n", cmd, semdex_error_format(err, buf, sizeof buf));
}

int cli_buf_add(cli_buf *b, const char *s, size_t n)
{
    if (SX_GROW(b->s, b->cap, b->n + n + 1))
        return -1;
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
    return 0;
}

int cli_buf_printf(cli_buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof tmp)
        return cli_buf_add(b, tmp, (size_t)n);
    if (SX_GROW(b->s, b->cap, b->n + (size_t)n + 1))
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
    return 0;
}

int cli_buf_json_string(cli_buf *b, const char *s, size_t n)
{
    int r = json_write_string(&b->s, &b->n, &b->cap, s, n);
    if (!r && SX_GROW(b->s, b->cap, b->n + 1))
        return -1;
    if (!r)
        b->s[b->n] = 0;
    return r;
}

int cli_parse_size(const char *s, size_t *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || s[0] == '-')
        return -1;
    *out = (size_t)v;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "tokenize"))
        return cmd_tokenize(argc - 1, argv + 1);
    if (!strcmp(cmd, "embed"))
        return cmd_embed(argc - 1, argv + 1);
    if (!strcmp(cmd, "info"))
        return cmd_info(argc - 1, argv + 1);
    if (!strcmp(cmd, "add"))
        return cmd_add(argc - 1, argv + 1);
    if (!strcmp(cmd, "search"))
        return cmd_search(argc - 1, argv + 1);
    if (!strcmp(cmd, "rm"))
        return cmd_rm(argc - 1, argv + 1);
    if (!strcmp(cmd, "stats"))
        return cmd_stats(argc - 1, argv + 1);
    if (!strcmp(cmd, "doctor"))
        return cmd_doctor(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval"))
        return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench"))
        return cmd_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("semdex %s\n", semdex_version());
        return 0;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "semdex: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
