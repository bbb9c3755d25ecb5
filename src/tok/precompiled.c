/* precompiled.c: STUB — to be replaced by the SentencePiece charsmap normalizer. */
#include "tok_int.h"
#include "err.h"
tok_precompiled *tok_precompiled_load(const char *b64, size_t n, semdex_error *err)
{ (void)b64; (void)n; sx_err_set(err, SEMDEX_ERR_UNSUPPORTED, NULL, NULL, -1, "Precompiled not yet implemented"); return NULL; }
void tok_precompiled_free(tok_precompiled *p) { (void)p; }
int tok_precompiled_apply(const tok_precompiled *p, tok_nstr *ns, tok_work *w, semdex_error *err)
{ (void)p; (void)ns; (void)w; (void)err; return 0; }
