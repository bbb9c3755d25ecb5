/* segment.h: Chinese word segmentation for keyword search.  A dictionary
 * segmenter in the manner of jieba: every dictionary word found in a run of
 * Han characters is an edge of a DAG, and the segmentation is the path of
 * highest unigram probability (word frequency / total), unknown characters
 * standing alone.  The dictionary is compiled in (segment_dict.h, generated
 * from jieba's dict.txt by tools/gen_zh_dict.py).  With the same dictionary
 * the output is jieba's cut(HMM=False) on a run of Han characters.
 * Works on UTF-8 bytes; knows nothing of BM25, analysis or SQLite. */
#ifndef SX_SEGMENT_H
#define SX_SEGMENT_H
#include <stddef.h>
#include <stdint.h>
#include "semdex.h"

typedef struct seg_dict seg_dict;

/* The built-in dictionary, built on first use (thread-safe; about 15 ms and
 * 6 MB) and kept for the life of the process.  NULL on allocation failure,
 * which a later call may retry. */
const seg_dict *seg_dict_builtin(semdex_error *err);

size_t seg_dict_words(const seg_dict *d);
/* Names the built-in dictionary's data ("jieba-0.42.1-f5"): it changes when the data does. */
const char *seg_dict_name(void);
/* Frequency of word w[0..len) (UTF-8), 0 when it is not a word. */
uint64_t seg_dict_freq(const seg_dict *d, const char *w, size_t len);
/* Longest word, in bytes. */
size_t seg_dict_max_word_bytes(const seg_dict *d);

/* Per-caller scratch of seg_cut; zero-initialise, reuse, then release. */
typedef struct seg_scratch {
    double *route;    /* (n + 1) best log-probability from each character to the end */
    uint32_t *next;   /* (n + 1) end character of the best word starting at each character */
    uint32_t *cp_off; /* (n + 1) byte offset of each character, then len */
    size_t cap;
} seg_scratch;
void seg_scratch_free(seg_scratch *sc);

/* Segments s[0..len), valid UTF-8 (normally a run of Han characters; any
 * other character is a word of its own unless the dictionary has it).
 * Writes the end byte offset of each word, in order, into ends, which has
 * room for one entry per character (len entries always suffice), and sets
 * *n_words.  Fails only on allocation (SEMDEX_ERR_NOMEM) or a run longer
 * than 2^31 bytes (SEMDEX_ERR_LIMIT). */
semdex_status seg_cut(const seg_dict *d, const char *s, size_t len, seg_scratch *sc, size_t *ends,
                      size_t *n_words, semdex_error *err);

#endif
