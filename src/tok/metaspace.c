/* metaspace.c: STUB — to be replaced by the Metaspace pre-tokenizer. */
#include "tok_int.h"
#include "err.h"
int tok_metaspace_load(const json_value *v, tok_pretok *out, semdex_error *err);
int tok_metaspace_apply(const tok_pretok *p, tok_work *w, semdex_error *err);
int tok_metaspace_load(const json_value *v, tok_pretok *out, semdex_error *err)
{ (void)v; (void)out; return sx_err_set(err, SEMDEX_ERR_UNSUPPORTED, NULL, NULL, -1, "Metaspace not yet implemented"), -1; }
int tok_metaspace_apply(const tok_pretok *p, tok_work *w, semdex_error *err) { (void)p; (void)w; (void)err; return -1; }
