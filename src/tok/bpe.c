/* bpe.c: STUB — to be replaced by the BPE model. */
#include "tok_int.h"
#include "err.h"
int tok_bpe_load(const json_value *model, tok_model *m, semdex_error *err)
{ (void)model; (void)m; return sx_err_set(err, SEMDEX_ERR_UNSUPPORTED, NULL, "model.type", -1, "BPE not yet implemented"), -1; }
int tok_bpe_tokenize(const tok_model *m, const tok_nstr *ns, tok_work *w, semdex_error *err)
{ (void)m; (void)ns; (void)w; return sx_err_set(err, SEMDEX_ERR_UNSUPPORTED, NULL, NULL, -1, "BPE not yet implemented"), -1; }
void tok_bpe_free(tok_bpe *b) { (void)b; }
