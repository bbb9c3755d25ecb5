/* unigram.c: STUB — to be replaced by the Unigram model. */
#include "tok_int.h"
#include "err.h"
int tok_unigram_load(const json_value *model, tok_model *m, semdex_error *err)
{ (void)model; (void)m; return sx_err_set(err, SEMDEX_ERR_UNSUPPORTED, NULL, "model.type", -1, "Unigram not yet implemented"), -1; }
int tok_unigram_tokenize(const tok_model *m, const tok_nstr *ns, tok_work *w, semdex_error *err)
{ (void)m; (void)ns; (void)w; return sx_err_set(err, SEMDEX_ERR_UNSUPPORTED, NULL, NULL, -1, "Unigram not yet implemented"), -1; }
void tok_unigram_free(tok_unigram *u) { (void)u; }
