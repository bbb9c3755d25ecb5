/* bytelevel.c: STUB — to be replaced by the ByteLevel pre-tokenizer. */
#include "tok_int.h"
#include "err.h"
int tok_bytelevel_load(const json_value *v, tok_pretok *out, semdex_error *err);
int tok_bytelevel_apply(const tok_pretok *p, tok_work *w, semdex_error *err);
const uint32_t tok_byte_to_cp[256];
int tok_cp_to_byte(uint32_t cp) { (void)cp; return -1; }
int tok_bytelevel_load(const json_value *v, tok_pretok *out, semdex_error *err)
{ (void)v; (void)out; return sx_err_set(err, SEMDEX_ERR_UNSUPPORTED, NULL, NULL, -1, "ByteLevel not yet implemented"), -1; }
int tok_bytelevel_apply(const tok_pretok *p, tok_work *w, semdex_error *err) { (void)p; (void)w; (void)err; return -1; }
