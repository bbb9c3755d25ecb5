/* test_core.c: unit tests of src/core: JSON reader, UTF-8, Unicode
 * normalization, string map, allocation wrapper, error formatting. */
#include "test.h"
#include "alloc.h"
#include "json.h"
#include "strmap.h"
#include "utf8.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

TEST(json_parses_all_value_kinds)
{
    const char *s = "{\"a\": [1, -2.5e2, 0, true, false, null], \"b\": \"x\\u00e9\\ud83d\\ude00\\n\", \"c\": {}}";
    semdex_error err = {0};
    json_doc *d = json_parse(s, strlen(s), &err);
    CHECK(d);
    const json_value *r = json_doc_root(d), *a = json_get(r, "a"), *b = json_get(r, "b");
    CHECK(json_is_arr(a) && a->n == 6);
    CHECK(json_arr_at(a, 0)->u.num == 1 && json_arr_at(a, 1)->u.num == -250);
    CHECK(json_arr_at(a, 3)->type == JSON_TRUE && json_arr_at(a, 5)->type == JSON_NULL);
    CHECK(json_is_str(b) && b->n == 8 && !memcmp(b->u.str, "x\xc3\xa9\xf0\x9f\x98\x80\n", 8));
    CHECK(json_is_obj(json_get(r, "c")) && json_get(r, "c")->n == 0);
    CHECK(json_get(r, "missing") == NULL);
    CHECK(json_get(r, "b")->offset == 46);
    json_doc_free(d);
}

static void expect_error(const char *s, int64_t offset, semdex_status st)
{
    semdex_error err = {0};
    json_doc *d = json_parse(s, strlen(s), &err);
    CHECKF(!d, "accepted bad JSON %s", s);
    CHECKF(err.status == st, "status %d, expected %d for %s", err.status, st, s);
    CHECKF(err.offset == offset, "offset %lld, expected %lld for %s (%s)", (long long)err.offset, (long long)offset, s,
           err.message);
}

TEST(json_errors_carry_byte_offsets)
{
    expect_error("{\"a\": 1,}", 8, SEMDEX_ERR_PARSE);
    if (test_current_failed()) return;
    expect_error("[1, 2", 5, SEMDEX_ERR_PARSE);
    if (test_current_failed()) return;
    expect_error("{\"a\" 1}", 5, SEMDEX_ERR_PARSE);
    if (test_current_failed()) return;
    expect_error("\"\\ud800\"", 1, SEMDEX_ERR_PARSE);
    if (test_current_failed()) return;
    expect_error("\"ab\xff\"", 3, SEMDEX_ERR_UTF8);
    if (test_current_failed()) return;
    expect_error("01", 1, SEMDEX_ERR_PARSE);
    if (test_current_failed()) return;
    expect_error("[1] x", 4, SEMDEX_ERR_PARSE);
    if (test_current_failed()) return;
    expect_error("", 0, SEMDEX_ERR_PARSE);
}

TEST(json_depth_is_limited)
{
    char buf[2 * (JSON_MAX_DEPTH + 10) + 1];
    size_t n = 0;
    for (int i = 0; i < JSON_MAX_DEPTH + 10; i++)
        buf[n++] = '[';
    for (int i = 0; i < JSON_MAX_DEPTH + 10; i++)
        buf[n++] = ']';
    buf[n] = 0;
    semdex_error err = {0};
    json_doc *d = json_parse(buf, n, &err);
    CHECK(!d && err.status == SEMDEX_ERR_LIMIT);
}

TEST(json_write_string_escapes)
{
    char *b = NULL;
    size_t n = 0, cap = 0;
    CHECK(!json_write_string(&b, &n, &cap, "a\"\\\n\x01\xc3\xa9", 7));
    const char *want = "\"a\\\"\\\\\\n\\u0001\xc3\xa9\"";
    CHECKF(n == strlen(want) && !memcmp(b, want, n), "wrote %.*s", (int)n, b);
    free(b);
}

TEST(utf8_validation_finds_first_bad_byte)
{
    CHECK(sx_utf8_validate("abc", 3) == 3);
    CHECK(sx_utf8_validate("ab\xc3\xa9", 4) == 4);
    CHECK(sx_utf8_validate("ab\xc3", 3) == 2);             /* truncated */
    CHECK(sx_utf8_validate("\xc0\xaf", 2) == 0);           /* overlong */
    CHECK(sx_utf8_validate("x\xed\xa0\x80", 4) == 1);      /* surrogate */
    CHECK(sx_utf8_validate("\xf4\x90\x80\x80", 4) == 0);   /* > U+10FFFF */
    CHECK(sx_utf8_validate("12345678\xff", 9) == 8);
    CHECK(sx_utf8_validate("\xf0\x9f\x98\x80", 4) == 4);
}

TEST(unicode_normalization_forms)
{
    uint32_t in[] = {0x65, 0x301}, out[64];
    CHECK(sx_uni_normalize(in, 2, SX_NFC, out, 64) == 1 && out[0] == 0xE9);
    uint32_t e = 0xE9;
    CHECK(sx_uni_normalize(&e, 1, SX_NFD, out, 64) == 2 && out[0] == 0x65 && out[1] == 0x301);
    uint32_t lig = 0xFB01; /* fi ligature */
    CHECK(sx_uni_normalize(&lig, 1, SX_NFKC, out, 64) == 2 && out[0] == 'f' && out[1] == 'i');
    CHECK(sx_uni_normalize(&lig, 1, SX_NFC, out, 64) == 1 && out[0] == 0xFB01);
    uint32_t order[] = {0x61, 0x301, 0x316}; /* canonical reordering: 0x316 (220) before 0x301 (230) */
    CHECK(sx_uni_normalize(order, 3, SX_NFD, out, 64) == 3 && out[1] == 0x316 && out[2] == 0x301);
    uint32_t hangul[] = {0x1112, 0x1161, 0x11AB};
    CHECK(sx_uni_normalize(hangul, 3, SX_NFC, out, 64) == 1 && out[0] == 0xD55C);
    CHECK(!sx_uni_is_norm_segment_start(0x301) && sx_uni_is_norm_segment_start('a'));
    CHECK(!sx_uni_is_norm_segment_start(0x1161));
}

TEST(unicode_age_table)
{
    CHECK(sx_uni_age('a') == 60);
    CHECK(sx_uni_age(0x61D) == 140);  /* ARABIC END OF TEXT MARK, Unicode 14 */
    CHECK(sx_uni_age(0x378) == 0);    /* unassigned */
    CHECK(sx_uni_category_at(0x61D, 90) == sx_uni_category(0x378));
}

TEST(strmap_insert_find_grow)
{
    sx_strmap m = {0};
    char key[32];
    for (int i = 0; i < 50000; i++) {
        int n = snprintf(key, sizeof key, "k%d", i);
        CHECK(sx_strmap_put(&m, key, (size_t)n, i, NULL) == 0);
    }
    CHECK(sx_strmap_put(&m, "k7", 2, 99, NULL) == 1); /* first value kept */
    for (int i = 0; i < 50000; i += 7) {
        int n = snprintf(key, sizeof key, "k%d", i);
        int32_t v;
        CHECK(sx_strmap_get(&m, key, (size_t)n, &v) && v == i);
    }
    int32_t v;
    CHECK(!sx_strmap_get(&m, "nope", 4, &v));
    CHECK(sx_strmap_get(&m, "k7", 2, &v) && v == 7);
    CHECK(sx_strmap_set(&m, "k7", 2, 5) == 0 && sx_strmap_get(&m, "k7", 2, &v) && v == 5);
    sx_strmap_free(&m);
}

TEST(error_format_names_file_offset_field)
{
    semdex_error e = {0};
    e.status = SEMDEX_ERR_FORMAT;
    strcpy(e.file, "tok.json");
    strcpy(e.field, "model.vocab");
    e.offset = 42;
    strcpy(e.message, "bad");
    char buf[256];
    CHECK(!strcmp(semdex_error_format(&e, buf, sizeof buf), "tok.json: byte 42: field 'model.vocab': bad"));
    CHECK(!strcmp(semdex_strerror(SEMDEX_ERR_NOMEM), "out of memory"));
    CHECK(!strcmp(semdex_strerror((semdex_status)999), "unknown status"));
}

/* Every allocation of a tokenizer load (and of a first encode) failing in
 * turn must give a clean out-of-memory error (and, under the sanitizers, no
 * leak or crash), for every family. */
TEST(tokenizer_load_survives_every_failed_allocation)
{
    static const char *const paths[] = {
        "tests/data/tokenizers/tiny-wordpiece.json", "tests/data/tokenizers/tiny-wordpiece-old.json",
        "tests/data/tokenizers/tiny-unigram.json", "tests/data/tokenizers/tiny-bpe.json"};
    int total = 0;
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
        int n;
        for (n = 0; n < 20000; n++) {
            sx_alloc_fail_after(n);
            semdex_error err = {0};
            semdex_tokenizer *t = NULL;
            semdex_status st = semdex_tokenizer_load(paths[p], &t, &err);
            if (st == SEMDEX_OK) {
                semdex_encoding enc = {0};
                st = semdex_tokenizer_encode(t, "Hello world, fine caf\xc3\xa9", 21, "pair", 4, NULL, &enc, &err);
                semdex_encoding_free(&enc);
                semdex_tokenizer_free(t);
                sx_alloc_fail_after(-1);
                if (st == SEMDEX_OK)
                    break;
                CHECKF(st == SEMDEX_ERR_NOMEM, "%s: encode, allocation %d: status %d (%s)", paths[p], n, st,
                       err.message);
                continue;
            }
            sx_alloc_fail_after(-1);
            CHECKF(st == SEMDEX_ERR_NOMEM, "%s: allocation %d: status %d (%s)", paths[p], n, st, err.message);
            CHECK(t == NULL);
        }
        CHECK(n > 5 && n < 20000);
        total += n;
    }
    test_note("%d allocation failure points", total);
}
