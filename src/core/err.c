/* err.c: status names, error formatting and the version string. */
#include "err.h"
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const status_names[] = {
    [SEMDEX_OK] = "success",
    [SEMDEX_ERR_NOMEM] = "out of memory",
    [SEMDEX_ERR_IO] = "input/output error",
    [SEMDEX_ERR_PARSE] = "parse error",
    [SEMDEX_ERR_FORMAT] = "unexpected format",
    [SEMDEX_ERR_UNSUPPORTED] = "unsupported",
    [SEMDEX_ERR_INVALID_ARG] = "invalid argument",
    [SEMDEX_ERR_LIMIT] = "limit exceeded",
    [SEMDEX_ERR_UTF8] = "invalid UTF-8",
};
static_assert(sizeof(status_names) / sizeof(status_names[0]) == SEMDEX_STATUS_COUNT,
              "every status has a name");

const char *semdex_version(void) { return SEMDEX_VERSION_STRING; }

const char *semdex_strerror(semdex_status status)
{
    if ((unsigned)status >= SEMDEX_STATUS_COUNT)
        return "unknown status";
    return status_names[status];
}

static void copy_str(char *dst, size_t size, const char *src)
{
    if (!src) {
        dst[0] = 0;
        return;
    }
    size_t n = strlen(src);
    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

semdex_status sx_err_set(semdex_error *err, semdex_status status, const char *file,
                         const char *field, int64_t offset, const char *fmt, ...)
{
    if (!err)
        return status;
    err->status = status;
    copy_str(err->file, sizeof err->file, file);
    copy_str(err->field, sizeof err->field, field);
    err->offset = offset;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return status;
}

void sx_err_set_file(semdex_error *err, const char *file)
{
    if (err && !err->file[0])
        copy_str(err->file, sizeof err->file, file);
}

char *semdex_error_format(const semdex_error *err, char *buf, size_t size)
{
    if (!size)
        return buf;
    buf[0] = 0;
    if (!err)
        return buf;
    size_t n = 0;
#define APPEND(...)                                                              \
    do {                                                                         \
        if (n < size) {                                                          \
            int w = snprintf(buf + n, size - n, __VA_ARGS__);                    \
            if (w > 0)                                                           \
                n += (size_t)w;                                                  \
        }                                                                        \
    } while (0)
    if (err->file[0])
        APPEND("%s: ", err->file);
    if (err->offset >= 0)
        APPEND("byte %lld: ", (long long)err->offset);
    if (err->field[0])
        APPEND("field '%s': ", err->field);
    APPEND("%s", err->message[0] ? err->message : semdex_strerror(err->status));
#undef APPEND
    return buf;
}
