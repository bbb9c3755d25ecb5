/* cli.h: shared pieces of the semdex command-line program.  Commands use the
 * public API (semdex.h) for the library's work; the program also reads JSON
 * input lines with the library's internal JSON reader. */
#ifndef SEMDEX_CLI_H
#define SEMDEX_CLI_H
#include <stddef.h>
#include <stdio.h>
#include "semdex.h"

int cmd_tokenize(int argc, char **argv);
int cmd_embed(int argc, char **argv); /* cmd_embed.c */
int cmd_info(int argc, char **argv);  /* cmd_embed.c */
int cmd_eval(int argc, char **argv);  /* cmd_eval.c */
int cmd_bench(int argc, char **argv); /* cmd_bench.c */

int cmd_add(int argc, char **argv);    /* cmd_add.c */
int cmd_search(int argc, char **argv); /* cmd_store.c */
int cmd_rm(int argc, char **argv);     /* cmd_store.c */
int cmd_stats(int argc, char **argv);  /* cmd_store.c */
int cmd_doctor(int argc, char **argv); /* cmd_store.c */

/* The options every store command takes (cmd_store.c): -d DB, -c NAME. */
typedef struct cli_store_args {
    const char *db;
    const char *collection; /* "default" unless given */
} cli_store_args;
void cli_store_args_init(cli_store_args *sa);
/* Consumes argv[*i] (and its value) when it is -d/--db or -c/--collection:
 * returns 1, or -1 (reported) when the value is missing; 0 otherwise. */
int cli_store_arg(cli_store_args *sa, const char *cmd, int argc, char **argv, int *i);

/* Prints "semdex CMD: message" for err to stderr. */
void cli_print_error(const char *cmd, const semdex_error *err);

/* A growable output buffer for one JSON line. */
typedef struct cli_buf {
    char *s;
    size_t n, cap;
} cli_buf;
int cli_buf_add(cli_buf *b, const char *s, size_t n);
int cli_buf_printf(cli_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_buf_json_string(cli_buf *b, const char *s, size_t n);

/* Parses a positive integer option value; returns 0 on success. */
int cli_parse_size(const char *s, size_t *out);

#endif
