/* test_tokenizer.c: the inputs tokenizers usually get wrong (empty,
 * whitespace only, only special tokens, invalid UTF-8, a 100,000-character
 * word, control and zero-width characters, special-token strings in text),
 * truncation, pairs, decoding, and broken tokenizer files. */
#include "test.h"
#include "semdex.h"
#include <stdlib.h>
#include <string.h>

static semdex_tokenizer *load(const char *path)
{
    semdex_error err = {0};
    semdex_tokenizer *t = NULL;
    if (semdex_tokenizer_load(path, &t, &err)) {
        char buf[1024];
        test_fail(__FILE__, __LINE__, "load %s: %s", path, semdex_error_format(&err, buf, sizeof buf));
        return NULL;
    }
    return t;
}

static semdex_tokenizer *load_fixture(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizers/%s", test_fixtures_dir(), name);
    return load(path);
}

/* Encodes and checks ids against want (n_want entries). */
static int expect_ids(semdex_tokenizer *t, const char *text, size_t len, const int32_t *want, size_t n_want,
                      semdex_encoding *enc)
{
    semdex_error err = {0};
    if (semdex_tokenizer_encode(t, text, len, NULL, 0, NULL, enc, &err)) {
        test_fail(__FILE__, __LINE__, "encode failed: %s", err.message);
        return 0;
    }
    if (enc->n != n_want) {
        test_fail(__FILE__, __LINE__, "got %zu ids, expected %zu for \"%.40s\"", enc->n, n_want, text);
        return 0;
    }
    for (size_t i = 0; i < n_want; i++)
        if (enc->ids[i] != want[i]) {
            test_fail(__FILE__, __LINE__, "id %zu: got %d, expected %d", i, enc->ids[i], want[i]);
            return 0;
        }
    return 1;
}

TEST(tokenize_empty_and_whitespace_only)
{
    semdex_tokenizer *t = load("tests/data/tokenizers/tiny-wordpiece.json");
    CHECK(t);
    semdex_encoding enc = {0};
    static const int32_t cls_sep[] = {2, 3};
    CHECK(expect_ids(t, "", 0, cls_sep, 2, &enc));
    CHECK(expect_ids(t, " \t\n\r\xe3\x80\x80  ", 10, cls_sep, 2, &enc));
    CHECK(enc.offsets[0][0] == 0 && enc.offsets[0][1] == 0);
    semdex_encoding_free(&enc);
    semdex_tokenizer_free(t);
}

TEST(tokenize_only_special_tokens_and_special_strings_in_text)
{
    semdex_tokenizer *t = load("tests/data/tokenizers/tiny-wordpiece.json");
    CHECK(t);
    semdex_encoding enc = {0};
    static const int32_t want[] = {2, 2, 3, 3};
    CHECK(expect_ids(t, "[CLS][SEP]", 10, want, 4, &enc));
    CHECK(enc.offsets[1][0] == 0 && enc.offsets[1][1] == 5 && enc.offsets[2][0] == 5 && enc.offsets[2][1] == 10);
    CHECK(enc.special_mask[1] && enc.special_mask[2]);
    /* the special token's string inside text, not lowercased by the normalizer */
    static const int32_t want2[] = {2, 5, 3, 6, 3};
    CHECK(expect_ids(t, "Hello[SEP]WORLD", 15, want2, 5, &enc));
    CHECK(enc.offsets[2][0] == 5 && enc.offsets[2][1] == 10 && enc.offsets[3][0] == 10);
    /* a lowercase look-alike is not the special token */
    static const int32_t want3[] = {2, 1, 1, 1, 3};
    CHECK(expect_ids(t, "[sep]", 5, want3, 5, &enc));
    semdex_encoding_free(&enc);
    semdex_tokenizer_free(t);
}

TEST(tokenize_added_token_options)
{
    semdex_tokenizer *t = load("tests/data/tokenizers/tiny-wordpiece.json");
    CHECK(t);
    semdex_encoding enc = {0};
    /* [MASK] has lstrip: the spaces before it belong to it */
    static const int32_t want[] = {2, 16, 4, 3};
    CHECK(expect_ids(t, "a   [MASK]", 10, want, 4, &enc));
    CHECK(enc.offsets[2][0] == 1 && enc.offsets[2][1] == 10);
    /* "hello world" is a normalized, single_word, rstrip added token */
    static const int32_t want2[] = {2, 17, 12, 3};
    CHECK(expect_ids(t, "HELLO WORLD  !", 14, want2, 4, &enc));
    CHECK(enc.offsets[1][0] == 0 && enc.offsets[1][1] == 13);
    /* single_word: inside a longer word it does not match */
    static const int32_t want3[] = {2, 5, 6, 7, 3};
    CHECK(expect_ids(t, "hello worlds", 12, want3, 5, &enc));
    semdex_encoding_free(&enc);
    semdex_tokenizer_free(t);
}

TEST(tokenize_invalid_utf8_is_refused_with_offset)
{
    semdex_tokenizer *t = load("tests/data/tokenizers/tiny-wordpiece.json");
    CHECK(t);
    semdex_encoding enc = {0};
    semdex_error err = {0};
    CHECK(semdex_tokenizer_encode(t, "hello\xff world", 12, NULL, 0, NULL, &enc, &err) == SEMDEX_ERR_UTF8);
    CHECK(err.offset == 5 && !strcmp(err.field, "text"));
    CHECK(semdex_tokenizer_encode(t, "ok", 2, "a\xed\xa0\x80", 4, NULL, &enc, &err) == SEMDEX_ERR_UTF8);
    CHECK(err.offset == 1 && !strcmp(err.field, "text_pair"));
    semdex_encoding_free(&enc);
    semdex_tokenizer_free(t);
}

TEST(tokenize_100000_character_word_every_family)
{
    size_t n = 100000;
    char *s = malloc(n + 1);
    CHECK(s);
    for (size_t i = 0; i < n; i++)
        s[i] = (char)('a' + i % 26);
    s[n] = 0;
    const char *names[] = {"all-MiniLM-L6-v2", "xlmr-unigram", "t5-small", "qwen-bpe"};
    for (size_t k = 0; k < 4; k++) {
        semdex_tokenizer *t = load_fixture(names[k]);
        if (!t)
            break;
        semdex_encoding enc = {0};
        semdex_error err = {0};
        semdex_status st = semdex_tokenizer_encode(t, s, n, NULL, 0, NULL, &enc, &err);
        if (st)
            test_fail(__FILE__, __LINE__, "%s: %s", names[k], err.message);
        else if (k == 0 && !(enc.n == 3 && enc.ids[1] == 100 && enc.offsets[1][0] == 0 && enc.offsets[1][1] == n))
            test_fail(__FILE__, __LINE__, "WordPiece: a word over max_input_chars_per_word must be one [UNK] over it");
        else if (k > 0) {
            /* the tokens cover the word in order without gaps */
            size_t pos = 0;
            for (size_t i = 0; i < enc.n; i++) {
                if (enc.special_mask[i])
                    continue;
                if (enc.offsets[i][0] > pos || enc.offsets[i][1] < enc.offsets[i][0]) {
                    test_fail(__FILE__, __LINE__, "%s: gap at token %zu", names[k], i);
                    break;
                }
                pos = enc.offsets[i][1];
            }
            if (pos != n)
                test_fail(__FILE__, __LINE__, "%s: tokens end at %zu of %zu", names[k], pos, n);
        }
        semdex_encoding_free(&enc);
        semdex_tokenizer_free(t);
    }
    free(s);
}

TEST(tokenize_control_and_zero_width_characters)
{
    semdex_tokenizer *t = load_fixture("all-MiniLM-L6-v2");
    CHECK(t);
    semdex_encoding enc = {0};
    /* NUL, U+0001, zero-width space (Cf) and U+FFFD are removed by BERT's clean_text */
    const char text[] = "a\x00\x01" "b\xe2\x80\x8b" "c\xef\xbf\xbd" "d";
    semdex_error err = {0};
    CHECK(!semdex_tokenizer_encode(t, text, sizeof text - 1, NULL, 0, NULL, &enc, &err));
    /* the removed characters join a, b, c, d into one word: "abc" "##d" */
    CHECK(enc.n == 4);
    CHECK(!strcmp(semdex_tokenizer_id_to_token(t, enc.ids[1]), "abc"));
    CHECK(!strcmp(semdex_tokenizer_id_to_token(t, enc.ids[2]), "##d"));
    CHECK(enc.offsets[1][0] == 0 && enc.offsets[1][1] == 8 && enc.offsets[2][0] == 11 && enc.offsets[2][1] == 12);
    semdex_encoding_free(&enc);
    semdex_tokenizer_free(t);
}

TEST(tokenize_truncation_keeps_special_tokens)
{
    semdex_tokenizer *t = load("tests/data/tokenizers/tiny-wordpiece.json");
    CHECK(t);
    semdex_encoding enc = {0};
    semdex_error err = {0};
    semdex_encode_options o = semdex_encode_options_default();
    o.max_length = 4;
    CHECK(!semdex_tokenizer_encode(t, "a a a a", 7, NULL, 0, &o, &enc, &err));
    CHECK(enc.n == 4 && enc.ids[0] == 2 && enc.ids[3] == 3 && enc.n_truncated == 2);
    /* pairs: longest first */
    o.max_length = 7;
    CHECK(!semdex_tokenizer_encode(t, "a a a a a", 9, "hello", 5, &o, &enc, &err));
    CHECK(enc.n == 7 && enc.n_truncated == 2);
    CHECK(enc.ids[0] == 2 && enc.ids[4] == 3 && enc.ids[5] == 5 && enc.ids[6] == 3);
    CHECK(enc.type_ids[4] == 0 && enc.type_ids[5] == 1 && enc.type_ids[6] == 1);
    o.max_length = 2; /* fewer than the three special tokens of a pair */
    CHECK(semdex_tokenizer_encode(t, "a", 1, "b", 1, &o, &enc, &err) == SEMDEX_ERR_INVALID_ARG);
    semdex_encoding_free(&enc);
    semdex_tokenizer_free(t);
}

TEST(decode_round_trips)
{
    semdex_tokenizer *t = load("tests/data/tokenizers/tiny-wordpiece.json");
    CHECK(t);
    semdex_encoding enc = {0};
    semdex_error err = {0};
    CHECK(!semdex_tokenizer_encode(t, "Unaffable worlds, hello!", 24, NULL, 0, NULL, &enc, &err));
    char *out = NULL;
    CHECK(!semdex_tokenizer_decode(t, enc.ids, enc.n, 1, &out, &err));
    CHECKF(!strcmp(out, "unaffable worlds, hello!"), "decoded \"%s\"", out);
    free(out);
    CHECK(!semdex_tokenizer_decode(t, enc.ids, enc.n, 0, &out, &err));
    CHECKF(!strncmp(out, "[CLS] unaffable", 15), "decoded \"%s\"", out);
    free(out);
    semdex_encoding_free(&enc);
    semdex_tokenizer_free(t);
}

TEST(vocab_txt_directory_without_tokenizer_json)
{
    /* a BERT model directory with only vocab.txt and tokenizer_config.json
     * must tokenize like its tokenizer.json */
    char dir[] = "/tmp/semdex-vocab-XXXXXX";
    CHECK(mkdtemp(dir));
    char src[1024], dst[1024];
    snprintf(src, sizeof src, "%s/generator/inputs/real/minilm/vocab.txt", test_fixtures_dir());
    size_t len;
    char *vocab = test_read_file(src, &len);
    CHECKF(vocab, "cannot read %s", src);
    snprintf(dst, sizeof dst, "%s/vocab.txt", dir);
    FILE *f = fopen(dst, "wb");
    fwrite(vocab, 1, len, f);
    fclose(f);
    free(vocab);
    snprintf(dst, sizeof dst, "%s/tokenizer_config.json", dir);
    f = fopen(dst, "wb");
    fputs("{\"do_lower_case\": true, \"unk_token\": \"[UNK]\"}", f);
    fclose(f);
    semdex_tokenizer *a = load(dir);
    semdex_tokenizer *b = load_fixture("all-MiniLM-L6-v2");
    CHECK(a && b);
    const char *texts[] = {"Hello, World! Tokenizers are FUN.", "Embedding技术是将文本转化为向量", "naïve café [SEP] x"};
    semdex_encoding ea = {0}, eb = {0};
    semdex_error err = {0};
    for (int i = 0; i < 3; i++) {
        CHECK(!semdex_tokenizer_encode(a, texts[i], strlen(texts[i]), NULL, 0, NULL, &ea, &err));
        CHECK(!semdex_tokenizer_encode(b, texts[i], strlen(texts[i]), NULL, 0, NULL, &eb, &err));
        CHECKF(ea.n == eb.n && !memcmp(ea.ids, eb.ids, ea.n * sizeof *ea.ids) &&
                   !memcmp(ea.offsets, eb.offsets, ea.n * sizeof *ea.offsets),
               "vocab.txt and tokenizer.json differ on \"%s\"", texts[i]);
    }
    semdex_encoding_free(&ea);
    semdex_encoding_free(&eb);
    semdex_tokenizer_free(a);
    semdex_tokenizer_free(b);
    remove(dst);
    snprintf(dst, sizeof dst, "%s/vocab.txt", dir);
    remove(dst);
    remove(dir);
}

static void expect_load_error(const char *json, const char *field, int64_t offset_min, semdex_status st)
{
    semdex_error err = {0};
    semdex_tokenizer *t = NULL;
    semdex_status got = semdex_tokenizer_load_json(json, strlen(json), "bad.json", &t, &err);
    CHECKF(got != SEMDEX_OK && !t, "accepted: %s", json);
    CHECKF(got == st, "status %d, expected %d (%s)", got, st, err.message);
    CHECKF(!strcmp(err.file, "bad.json"), "error names file \"%s\"", err.file);
    if (field)
        CHECKF(!strcmp(err.field, field), "error names field \"%s\", expected \"%s\" (%s)", err.field, field,
               err.message);
    CHECKF(err.offset >= offset_min, "offset %lld", (long long)err.offset);
}

TEST(broken_tokenizer_json_names_file_field_and_offset)
{
    expect_load_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}", NULL, 40, SEMDEX_ERR_PARSE);
    if (test_current_failed()) return;
    expect_load_error("{\"normalizer\": null}", "model", -1, SEMDEX_ERR_FORMAT);
    if (test_current_failed()) return;
    expect_load_error("{\"model\": {\"type\": \"Wordpiece2\"}}", "model.type", 10, SEMDEX_ERR_UNSUPPORTED);
    if (test_current_failed()) return;
    expect_load_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": \"zero\"}}}", "model.vocab", 40,
                      SEMDEX_ERR_FORMAT);
    if (test_current_failed()) return;
    expect_load_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"x\": 0}}}", "model.unk_token", -1,
                      SEMDEX_ERR_FORMAT);
    if (test_current_failed()) return;
    expect_load_error("{\"normalizer\": {\"type\": \"Magic\"}, \"model\": {}}", "normalizer.type", 23,
                      SEMDEX_ERR_UNSUPPORTED);
    if (test_current_failed()) return;
    expect_load_error("{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}}, \"model\": {}}",
                      "pattern.Regex", 40, SEMDEX_ERR_FORMAT);
    if (test_current_failed()) return;
    /* ids far out of range (fuzz findings: a cast of 1e29 was undefined; a
     * huge id must not size a table of gigabytes) */
    expect_load_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0}, \"max_input_chars_per_word\": 1e29}}",
                      "model.max_input_chars_per_word", 40, SEMDEX_ERR_FORMAT);
    if (test_current_failed()) return;
    expect_load_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 2000000000}}}", "model.vocab", 40,
                      SEMDEX_ERR_FORMAT);
    if (test_current_failed()) return;
    expect_load_error("{\"post_processor\": {\"type\": \"BertProcessing\", \"sep\": [\"s\", 2.44e114], \"cls\": [\"c\", 1]},"
                      " \"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0}}}",
                      "post_processor.sep", 20, SEMDEX_ERR_FORMAT);
}

TEST(truncated_tokenizer_json_every_length)
{
    /* every prefix of a real tokenizer.json fails cleanly, never crashes */
    size_t len;
    char *s = test_read_file("tests/data/tokenizers/tiny-wordpiece.json", &len);
    CHECK(s);
    for (size_t n = 0; n < len - 2; n++) {
        semdex_error err = {0};
        semdex_tokenizer *t = NULL;
        semdex_status st = semdex_tokenizer_load_json(s, n, "cut.json", &t, &err);
        if (st == SEMDEX_OK) {
            semdex_tokenizer_free(t);
            free(s);
            CHECKF(0, "a %zu-byte prefix loaded", n);
        }
        if (err.offset < 0 || (size_t)err.offset > n) {
            free(s);
            CHECKF(0, "prefix %zu: offset %lld outside the input", n, (long long)err.offset);
        }
    }
    free(s);
}

TEST(missing_files_are_named)
{
    semdex_error err = {0};
    semdex_tokenizer *t = NULL;
    CHECK(semdex_tokenizer_load("/nonexistent/semdex-model", &t, &err) == SEMDEX_ERR_IO);
    CHECK(strstr(err.file, "/nonexistent/semdex-model") != NULL);
    CHECK(semdex_tokenizer_load("tests", &t, &err) == SEMDEX_ERR_IO); /* a directory without tokenizer files */
    CHECK(strstr(err.message, "tokenizer.json") != NULL);
}

TEST(concurrent_encoding_with_one_tokenizer)
{
    /* covered structurally: each semdex_encoding owns its scratch; here two
     * encodings interleave on one tokenizer and must not disturb each other */
    semdex_tokenizer *t = load_fixture("all-MiniLM-L6-v2");
    CHECK(t);
    semdex_encoding a = {0}, b = {0};
    semdex_error err = {0};
    CHECK(!semdex_tokenizer_encode(t, "first text here", 15, NULL, 0, NULL, &a, &err));
    CHECK(!semdex_tokenizer_encode(t, "second", 6, NULL, 0, NULL, &b, &err));
    CHECK(a.n == 5 && b.n == 3 && a.ids[1] == 2034);
    semdex_encoding_free(&a);
    semdex_encoding_free(&b);
    semdex_tokenizer_free(t);
}
