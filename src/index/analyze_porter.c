/* analyze_porter.c: Porter's stemming algorithm (M.F. Porter, "An algorithm
 * for suffix stripping", Program 14(3), 1980), with the departures of his
 * reference C implementation that Lucene's PorterStemFilter and Snowball's
 * "porter" also make ("bli" -> "ble", "logi" -> "log", words of one or two
 * letters left alone).  Works on ASCII lowercase letters in place; knows
 * nothing of the rest of the analyzer. */
#include "analyze.h"
#include <string.h>

/* b[0..k] is the word being stemmed; j marks the end of the stem while a
 * suffix is being tried. */
typedef struct stemmer {
    char *b;
    int k, j;
} stemmer;

static int cons(const stemmer *z, int i)
{
    switch (z->b[i]) {
    case 'a': case 'e': case 'i': case 'o': case 'u':
        return 0;
    case 'y':
        return i == 0 ? 1 : !cons(z, i - 1);
    default:
        return 1;
    }
}

/* The number of consonant-vowel sequences in b[0..j]: [C](VC)^m[V]. */
static int measure(const stemmer *z)
{
    int n = 0, i = 0, j = z->j;
    for (;; i++) {
        if (i > j)
            return n;
        if (!cons(z, i))
            break;
    }
    i++;
    for (;;) {
        for (;; i++) {
            if (i > j)
                return n;
            if (cons(z, i))
                break;
        }
        i++;
        n++;
        for (;; i++) {
            if (i > j)
                return n;
            if (!cons(z, i))
                break;
        }
        i++;
    }
}

static int vowel_in_stem(const stemmer *z)
{
    for (int i = 0; i <= z->j; i++)
        if (!cons(z, i))
            return 1;
    return 0;
}

static int double_cons(const stemmer *z, int j)
{
    return j >= 1 && z->b[j] == z->b[j - 1] && cons(z, j);
}

/* consonant-vowel-consonant ending at i, the last not w, x or y ("hop", not "snow"). */
static int cvc(const stemmer *z, int i)
{
    if (i < 2 || !cons(z, i) || cons(z, i - 1) || !cons(z, i - 2))
        return 0;
    char ch = z->b[i];
    return ch != 'w' && ch != 'x' && ch != 'y';
}

static int ends(stemmer *z, const char *s)
{
    int len = (int)strlen(s);
    if (s[len - 1] != z->b[z->k] || len > z->k + 1)
        return 0;
    if (memcmp(z->b + z->k - len + 1, s, (size_t)len))
        return 0;
    z->j = z->k - len;
    return 1;
}

static void set_to(stemmer *z, const char *s)
{
    int len = (int)strlen(s);
    memcpy(z->b + z->j + 1, s, (size_t)len);
    z->k = z->j + len;
}

static void replace_if_m(stemmer *z, const char *s)
{
    if (measure(z) > 0)
        set_to(z, s);
}

/* Plurals and -ed, -ing. */
static void step1ab(stemmer *z)
{
    char *b = z->b;
    if (b[z->k] == 's') {
        if (ends(z, "sses"))
            z->k -= 2;
        else if (ends(z, "ies"))
            set_to(z, "i");
        else if (b[z->k - 1] != 's')
            z->k--;
    }
    if (ends(z, "eed")) {
        if (measure(z) > 0)
            z->k--;
    } else if ((ends(z, "ed") || ends(z, "ing")) && vowel_in_stem(z)) {
        z->k = z->j;
        if (ends(z, "at"))
            set_to(z, "ate");
        else if (ends(z, "bl"))
            set_to(z, "ble");
        else if (ends(z, "iz"))
            set_to(z, "ize");
        else if (double_cons(z, z->k)) {
            z->k--;
            char ch = b[z->k];
            if (ch == 'l' || ch == 's' || ch == 'z')
                z->k++;
        } else {
            z->j = z->k;
            if (measure(z) == 1 && cvc(z, z->k))
                set_to(z, "e");
        }
    }
}

/* Terminal y to i when there is another vowel in the stem. */
static void step1c(stemmer *z)
{
    if (ends(z, "y") && vowel_in_stem(z))
        z->b[z->k] = 'i';
}

/* Double suffixes to single ones. */
static void step2(stemmer *z)
{
    static const char *const rules[][2] = {
        {"ational", "ate"}, {"tional", "tion"}, {"enci", "ence"}, {"anci", "ance"}, {"izer", "ize"},
        {"bli", "ble"},     {"alli", "al"},     {"entli", "ent"}, {"eli", "e"},     {"ousli", "ous"},
        {"ization", "ize"}, {"ation", "ate"},   {"ator", "ate"},  {"alism", "al"},  {"iveness", "ive"},
        {"fulness", "ful"}, {"ousness", "ous"}, {"aliti", "al"},  {"iviti", "ive"}, {"biliti", "ble"},
        {"logi", "log"},
    };
    if (z->k < 1)
        return;
    char c = z->b[z->k - 1];
    /* Within one penultimate letter the first suffix that matches decides, as
     * in the reference's switch: the table keeps its order. */
    for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) {
        const char *suf = rules[r][0];
        if (suf[strlen(suf) - 2] != c)
            continue;
        if (ends(z, suf)) {
            replace_if_m(z, rules[r][1]);
            return;
        }
    }
}

/* -ic-, -full, -ness etc. */
static void step3(stemmer *z)
{
    static const char *const rules[][2] = {
        {"icate", "ic"}, {"ative", ""}, {"alize", "al"}, {"iciti", "ic"}, {"ical", "ic"}, {"ful", ""}, {"ness", ""},
    };
    char c = z->b[z->k];
    for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) {
        const char *suf = rules[r][0];
        if (suf[strlen(suf) - 1] != c)
            continue;
        if (ends(z, suf)) {
            replace_if_m(z, rules[r][1]);
            return;
        }
    }
}

/* -ant, -ence etc. in context <c>vcvc<v>. */
static void step4(stemmer *z)
{
    static const char *const sufs[] = {"al",  "ance", "ence", "er",  "ic",  "able", "ible", "ant", "ement",
                                       "ment", "ent", "ion",  "ou",  "ism", "ate",  "iti",  "ous", "ive",
                                       "ize"};
    if (z->k < 1)
        return;
    char c = z->b[z->k - 1];
    int found = 0;
    for (size_t r = 0; r < sizeof sufs / sizeof sufs[0]; r++) {
        const char *suf = sufs[r];
        if (suf[strlen(suf) - 2] != c)
            continue;
        if (!ends(z, suf))
            continue;
        if (!strcmp(suf, "ion") && !(z->j >= 0 && (z->b[z->j] == 's' || z->b[z->j] == 't')))
            continue;
        found = 1;
        break;
    }
    if (found && measure(z) > 1)
        z->k = z->j;
}

/* Final -e and -ll. */
static void step5(stemmer *z)
{
    z->j = z->k;
    if (z->b[z->k] == 'e') {
        int a = measure(z);
        if (a > 1 || (a == 1 && !cvc(z, z->k - 1)))
            z->k--;
    }
    /* measured over the word as it was, as the reference does */
    if (z->b[z->k] == 'l' && double_cons(z, z->k) && measure(z) > 1)
        z->k--;
}

size_t analyze_porter_stem(char *word, size_t len)
{
    if (len <= 2 || len > 1024)
        return len;
    stemmer z = {word, (int)len - 1, 0};
    step1ab(&z);
    if (z.k > 0) {
        step1c(&z);
        step2(&z);
        step3(&z);
        step4(&z);
        step5(&z);
    }
    return (size_t)z.k + 1;
}
