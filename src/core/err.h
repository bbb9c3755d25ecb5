/* err.h: helpers that fill a semdex_error.  Every library failure goes
 * through sx_err_set so that messages carry the file, field and offset. */
#ifndef SX_ERR_H
#define SX_ERR_H
#include "semdex.h"

/* Fills err (when non-NULL) and returns status.  file/field may be NULL;
 * offset -1 when unknown. */
semdex_status sx_err_set(semdex_error *err, semdex_status status, const char *file,
                         const char *field, int64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Sets the file of an error already filled (when it has none). */
void sx_err_set_file(semdex_error *err, const char *file);

#endif
