/* bytelevel.c: the ByteLevel pre-tokenizer of GPT-2 style tokenizers (as
 * `tokenizers`' pre_tokenizers/byte_level.rs): an optional leading space,
 * the optional GPT-2 split regex, then every byte of every piece replaced by
 * a printable character of the byte -> character table, with the alignment
 * the reference gives (a character of n bytes becomes n table characters,
 * all aligned with it).  Also owns that table, which the ByteLevel decoder
 * reads back through tok_cp_to_byte.
 *
 * Knows the piece lists and aligned strings of tok_int.h; knows nothing of
 * models, vocabularies, post-processing or the public API. */
#include "tok_int.h"
#include "alloc.h"
#include "err.h"
#include <string.h>

/* GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the
 * other 68 bytes (controls, space, DEL, C1 controls, NBSP, soft hyphen) to
 * U+0100.. in byte order. */
const uint32_t tok_byte_to_cp[256] = {
    0x100, 0x101, 0x102, 0x103, 0x104, 0x105, 0x106, 0x107,
    0x108, 0x109, 0x10A, 0x10B, 0x10C, 0x10D, 0x10E, 0x10F,
    0x110, 0x111, 0x112, 0x113, 0x114, 0x115, 0x116, 0x117,
    0x118, 0x119, 0x11A, 0x11B, 0x11C, 0x11D, 0x11E, 0x11F,
    0x120, 0x021, 0x022, 0x023, 0x024, 0x025, 0x026, 0x027,
    0x028, 0x029, 0x02A, 0x02B, 0x02C, 0x02D, 0x02E, 0x02F,
    0x030, 0x031, 0x032, 0x033, 0x034, 0x035, 0x036, 0x037,
    0x038, 0x039, 0x03A, 0x03B, 0x03C, 0x03D, 0x03E, 0x03F,
    0x040, 0x041, 0x042, 0x043, 0x044, 0x045, 0x046, 0x047,
    0x048, 0x049, 0x04A, 0x04B, 0x04C, 0x04D, 0x04E, 0x04F,
    0x050, 0x051, 0x052, 0x053, 0x054, 0x055, 0x056, 0x057,
    0x058, 0x059, 0x05A, 0x05B, 0x05C, 0x05D, 0x05E, 0x05F,
    0x060, 0x061, 0x062, 0x063, 0x064, 0x065, 0x066, 0x067,
    0x068, 0x069, 0x06A, 0x06B, 0x06C, 0x06D, 0x06E, 0x06F,
    0x070, 0x071, 0x072, 0x073, 0x074, 0x075, 0x076, 0x077,
    0x078, 0x079, 0x07A, 0x07B, 0x07C, 0x07D, 0x07E, 0x121,
    0x122, 0x123, 0x124, 0x125, 0x126, 0x127, 0x128, 0x129,
    0x12A, 0x12B, 0x12C, 0x12D, 0x12E, 0x12F, 0x130, 0x131,
    0x132, 0x133, 0x134, 0x135, 0x136, 0x137, 0x138, 0x139,
    0x13A, 0x13B, 0x13C, 0x13D, 0x13E, 0x13F, 0x140, 0x141,
    0x142, 0x0A1, 0x0A2, 0x0A3, 0x0A4, 0x0A5, 0x0A6, 0x0A7,
    0x0A8, 0x0A9, 0x0AA, 0x0AB, 0x0AC, 0x143, 0x0AE, 0x0AF,
    0x0B0, 0x0B1, 0x0B2, 0x0B3, 0x0B4, 0x0B5, 0x0B6, 0x0B7,
    0x0B8, 0x0B9, 0x0BA, 0x0BB, 0x0BC, 0x0BD, 0x0BE, 0x0BF,
    0x0C0, 0x0C1, 0x0C2, 0x0C3, 0x0C4, 0x0C5, 0x0C6, 0x0C7,
    0x0C8, 0x0C9, 0x0CA, 0x0CB, 0x0CC, 0x0CD, 0x0CE, 0x0CF,
    0x0D0, 0x0D1, 0x0D2, 0x0D3, 0x0D4, 0x0D5, 0x0D6, 0x0D7,
    0x0D8, 0x0D9, 0x0DA, 0x0DB, 0x0DC, 0x0DD, 0x0DE, 0x0DF,
    0x0E0, 0x0E1, 0x0E2, 0x0E3, 0x0E4, 0x0E5, 0x0E6, 0x0E7,
    0x0E8, 0x0E9, 0x0EA, 0x0EB, 0x0EC, 0x0ED, 0x0EE, 0x0EF,
    0x0F0, 0x0F1, 0x0F2, 0x0F3, 0x0F4, 0x0F5, 0x0F6, 0x0F7,
    0x0F8, 0x0F9, 0x0FA, 0x0FB, 0x0FC, 0x0FD, 0x0FE, 0x0FF,
};

/* The bytes behind U+0100..U+0143, in order. */
static const uint8_t shifted_bytes[68] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10,
    0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x7F,
    0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8B, 0x8C, 0x8D, 0x8E, 0x8F, 0x90,
    0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xAD,
};

int tok_cp_to_byte(uint32_t cp)
{
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF))
        return (int)cp;
    if (cp >= 0x100 && cp < 0x100 + sizeof shifted_bytes)
        return shifted_bytes[cp - 0x100];
    return -1;
}

/* The split regex of byte_level.rs. */
static const char gpt2_regex_json[] =
    "{\"Regex\": \"'s|'t|'re|'ve|'m|'ll|'d| ?\\\\p{L}+| ?\\\\p{N}+| ?[^\\\\s\\\\p{L}\\\\p{N}]+|\\\\s+(?!\\\\S)|\\\\s+\"}";

int tok_bytelevel_load(const json_value *v, tok_pretok *out, semdex_error *err);
int tok_bytelevel_apply(const tok_pretok *p, tok_work *w, semdex_error *err);

int tok_bytelevel_load(const json_value *v, tok_pretok *out, semdex_error *err)
{
    static const char *const flags[3] = {"add_prefix_space", "trim_offsets", "use_regex"};
    for (int i = 0; i < 3; i++) {
        const json_value *f = json_get(v, flags[i]);
        if (!json_is_null(f) && !json_is_bool(f))
            return sx_err_set(err, SEMDEX_ERR_FORMAT, NULL, flags[i], (int64_t)f->offset,
                              "ByteLevel.%s must be true or false", flags[i]), -1;
    }
    out->add_prefix_space = json_bool(json_get(v, "add_prefix_space"), 1);
    out->trim_offsets = json_bool(json_get(v, "trim_offsets"), 1);
    out->use_regex = json_bool(json_get(v, "use_regex"), 1);
    if (!out->use_regex)
        return 0;
    json_doc *d = json_parse(gpt2_regex_json, sizeof gpt2_regex_json - 1, err);
    if (!d)
        return -1;
    out->pattern = tok_pattern_from_json(json_doc_root(d), err);
    json_doc_free(d);
    return out->pattern ? 0 : -1;
}

typedef struct find_ctx {
    tok_matches *out;
    size_t last;
    int failed;
} find_ctx;

static int push_match(tok_matches *m, size_t a, size_t b, int is_match)
{
    if (SX_GROW(m->v, m->cap, m->n + 1))
        return -1;
    m->v[m->n].start = a;
    m->v[m->n].end = b;
    m->v[m->n].is_match = is_match;
    m->n++;
    return 0;
}

static int on_match(size_t a, size_t b, void *vctx)
{
    find_ctx *c = vctx;
    if ((c->last < a && push_match(c->out, c->last, a, 0)) || push_match(c->out, a, b, 1)) {
        c->failed = 1;
        return 1;
    }
    c->last = b;
    return 0;
}

static int find_gpt2(const tok_nstr *ns, tok_matches *out, const void *vctx, semdex_error *err)
{
    const tok_pretok *p = vctx;
    find_ctx c = {out, 0, 0};
    if (tok_pattern_find(p->pattern, ns->s, ns->len, on_match, &c, err))
        return -1;
    if (!c.failed && c.last < ns->len && push_match(out, c.last, ns->len, 0))
        c.failed = 1;
    if (c.failed)
        return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory in ByteLevel"), -1;
    return 0;
}

/* Bytes of the UTF-8 form of tok_byte_to_cp[b]: 1 for printable ASCII. */
static int mapped_len(unsigned char b) { return b >= 0x21 && b <= 0x7E ? 1 : 2; }

/* Replaces every byte of ns by its table character, with the alignment of
 * the reference's transform: for a character of n bytes, n edits, the first
 * with change 0 (it takes the character's alignment, that of its first
 * byte) and the others with change 1 (inserted after it: aligned with the
 * byte before, its last).  Written directly rather than through
 * tok_nstr_transform, which gives the same string and alignment, because
 * every piece goes through here; in place, from the end, so that a piece's
 * buffers stop growing once they have held its largest text. */
static int map_bytes(tok_nstr *ns)
{
    size_t n = ns->len, out = 0;
    for (size_t i = 0; i < n; i++)
        out += (size_t)mapped_len((unsigned char)ns->s[i]);
    if (SX_GROW(ns->s, ns->cap, out + 1) || SX_GROW(ns->align, ns->align_cap, out ? out : 1))
        return -1;
    unsigned char *s = (unsigned char *)ns->s;
    tok_span *al = ns->align;
    s[out] = 0;
    /* byte j's output starts at or after j, so walking back from the end
     * reads every byte before anything overwrites it */
    size_t w = out;
    unsigned char after = 0; /* the original byte after j (0: none) */
    tok_span last = {0, 0};  /* alignment of the last byte of j's character */
    for (size_t j = n; j-- > 0;) {
        unsigned char b = s[j];
        tok_span a = al[j];
        if ((after & 0xC0) != 0x80)
            last = a; /* j ends its character */
        tok_span sp = (b & 0xC0) == 0x80 ? last : a;
        uint32_t cp = tok_byte_to_cp[b];
        if (cp < 0x80) {
            s[--w] = (unsigned char)cp;
            al[w] = sp;
        } else {
            s[--w] = (unsigned char)(0x80 | (cp & 0x3F));
            s[--w] = (unsigned char)(0xC0 | (cp >> 6));
            al[w] = al[w + 1] = sp;
        }
        after = b;
    }
    ns->len = out;
    return 0;
}

int tok_bytelevel_apply(const tok_pretok *p, tok_work *w, semdex_error *err)
{
    if (p->add_prefix_space) {
        for (size_t i = 0; i < w->pieces.n; i++) {
            tok_piece *q = &w->pieces.v[i];
            if (q->added_id >= 0 || !q->ns.len || q->ns.s[0] == ' ')
                continue;
            if (tok_nstr_prepend(&q->ns, " ", 1, &w->edits, &w->scratch))
                return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory in ByteLevel"), -1;
        }
    }
    if (p->use_regex && p->pattern && tok_pieces_split(w, find_gpt2, p, TOK_SPLIT_ISOLATED, err))
        return -1;
    for (size_t i = 0; i < w->pieces.n; i++) {
        tok_piece *q = &w->pieces.v[i];
        if (q->added_id >= 0 || !q->ns.len)
            continue;
        if (map_bytes(&q->ns))
            return sx_err_set(err, SEMDEX_ERR_NOMEM, NULL, NULL, -1, "out of memory in ByteLevel"), -1;
    }
    return 0;
}
