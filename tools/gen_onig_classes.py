#!/usr/bin/env python3
"""gen_onig_classes.py: derives the class table of src/tok/regex.c.

Hugging Face `tokenizers` runs tokenizer.json regexes with Oniguruma (the `onig`
crate), whose Unicode tables are newer than those of the system PCRE2 that
semdex uses (tokenizers 0.23.2: Unicode 16; PCRE2 10.42: Unicode 14), and whose
\\s, \\d, \\w, \\h, \\v differ from PCRE2's.  This script asks the reference
itself, through the npm binding installed by the tokenizer benchmark
(bench/tok/node_modules/tokenizers; run `npm ci` in bench/tok first), which
code points each class matches (outside and inside a character class), asks
the local PCRE2 the same of the class semdex starts from, and prints the rows
of regex.c's onig_classes table: the code points Oniguruma adds, or, where
PCRE2's class has some that Oniguruma's lacks, the whole class spelled out.

Run from the repository root (about a minute), and paste the output into the
table:  python3 tools/gen_onig_classes.py > /tmp/onig_classes.c
Needs node, a C compiler and libpcre2-8.
"""
import json
import os
import subprocess
import sys
import tempfile

CATEGORIES = ("L Lu Ll Lt Lm Lo M Mn Mc Me N Nd Nl No P Pc Pd Ps Pe Pi Pf Po "
              "S Sm Sc Sk So Z Zs Zl Zp").split()
# (table key, regex for Oniguruma, PCRE2 class content semdex starts from).
# Keys: the escape after its backslash as written outside a class ("p{L}",
# "d"); with a leading "[" the same escape inside a class, listed only where
# Oniguruma's set differs from the one outside.  POSIX classes ("[:alpha:]")
# are left as PCRE2 reads them.  Where PCRE2's class has code points Oniguruma's
# lacks, the class is spelled out in full instead (empty base).
ESCAPES = [("p{%s}" % c, r"\p{%s}" % c, r"\p{%s}" % c) for c in CATEGORIES] + [
    ("d", r"\d", r"\p{Nd}"),
    ("w", r"\w", r"\p{L}\p{M}\p{Nd}\p{Pc}\p{Nl}"),
    ("s", r"\s", r"\s"),
    ("h", r"\h", ""),
    ("v", r"\v", ""),
]
ESCAPES += [("[" + k, "[%s]" % o, b) for k, o, b in ESCAPES]

NODE = r"""
const { Tokenizer } = require(process.argv[1]);
const pats = JSON.parse(process.argv[2]);
(async () => {
  const res = {};
  for (const pat of pats) {
    const j = { version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null,
      pre_tokenizer: { type: 'Split', pattern: { Regex: pat }, behavior: 'Removed', invert: false },
      post_processor: null, decoder: null,
      model: { type: 'WordLevel', vocab: { '<unk>': 0 }, unk_token: '<unk>' } };
    const tk = Tokenizer.fromString(JSON.stringify(j));
    const out = [];
    for (let base = 0; base < 0x110000; base += 8192) {
      const cps = [];
      for (let c = base; c < base + 8192 && c < 0x110000; c++) if (c < 0xD800 || c > 0xDFFF) cps.push(c);
      const s = String.fromCodePoint(...cps);
      const e = await tk.encode(s, null, { addSpecialTokens: false });
      const kept = new Uint8Array(cps.length);
      for (const [a, b] of e.getOffsets()) for (let i = a; i < b; i++) kept[i] = 1;
      for (let i = 0; i < cps.length; i++) if (!kept[i]) out.push(cps[i]);
    }
    res[pat] = out;
  }
  process.stdout.write(JSON.stringify(res));
})();
"""

PROBE = r"""
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
static int enc(unsigned c, unsigned char *o)
{
    if (c < 0x80) { o[0] = (unsigned char)c; return 1; }
    if (c < 0x800) { o[0] = 0xC0 | (c >> 6); o[1] = 0x80 | (c & 63); return 2; }
    if (c < 0x10000) { o[0] = 0xE0 | (c >> 12); o[1] = 0x80 | ((c >> 6) & 63); o[2] = 0x80 | (c & 63); return 3; }
    o[0] = 0xF0 | (c >> 18); o[1] = 0x80 | ((c >> 12) & 63); o[2] = 0x80 | ((c >> 6) & 63); o[3] = 0x80 | (c & 63);
    return 4;
}
int main(int argc, char **argv)
{
    for (int a = 1; a < argc; a++) {
        int e;
        PCRE2_SIZE eo;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)argv[a], PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &e, &eo, NULL);
        if (!re) return 1;
        pcre2_match_data *md = pcre2_match_data_create(1, NULL);
        for (unsigned c = 0; c < 0x110000; c++) {
            if (c >= 0xD800 && c < 0xE000) continue;
            unsigned char b[4];
            int l = enc(c, b);
            if (pcre2_match(re, b, (PCRE2_SIZE)l, 0, PCRE2_ANCHORED | PCRE2_ENDANCHORED, md, NULL) >= 0)
                printf("%u ", c);
        }
        printf("\n");
        pcre2_match_data_free(md);
        pcre2_code_free(re);
    }
    return 0;
}
"""


def ranges(cps):
    out = []
    for c in sorted(cps):
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return out


def main():
    mod = os.path.abspath("bench/tok/node_modules/tokenizers")
    if not os.path.isdir(mod):
        sys.exit("no bench/tok/node_modules/tokenizers: run `npm ci` in bench/tok")
    pats = [e[1] for e in ESCAPES]

    onig = json.loads(subprocess.run(["node", "-e", NODE, mod, json.dumps(pats)], check=True,
                                     capture_output=True).stdout)
    with tempfile.TemporaryDirectory() as d:
        src, exe = os.path.join(d, "probe.c"), os.path.join(d, "probe")
        with open(src, "w") as f:
            f.write(PROBE)
        subprocess.run([os.environ.get("CC", "cc"), "-O2", src, "-o", exe, "-lpcre2-8"], check=True)
        classes = ["[%s]" % e[2] if e[2] else "(*FAIL)" for e in ESCAPES]
        lines = subprocess.run([exe] + classes, check=True, capture_output=True, text=True).stdout.split("\n")
    sets = {}
    for (key, pat, _), line in zip(ESCAPES, lines):
        sets[key] = (set(onig[pat]), set(int(x) for x in line.split()))
    for key, pat, base in ESCAPES:
        o, p = sets[key]
        if key.startswith("[") and sets.get(key[1:], (None,))[0] == o:
            continue  # same set inside a class as outside
        if p - o:
            base, p = "", set()
        extra = "".join("\\\\x{%X}" % a if a == b else "\\\\x{%X}-\\\\x{%X}" % (a, b) for a, b in ranges(o - p))
        if extra or base != ("\\p{%s}" % key[2:-1] if key.startswith("p{") else None):
            # the code points as C string literals of up to 96 characters a line
            parts, line = [], ""
            for item in extra.split("\\\\x")[1:]:
                item = "\\\\x" + item
                if len(line) + len(item) > 96:
                    parts.append(line)
                    line = ""
                line += item
            parts.append(line)
            print('    {"%s", "%s",' % (key, base.replace("\\", "\\\\")))
            print("\n".join('     "%s"' % q for q in parts) + "},")


if __name__ == "__main__":
    main()
