/* file.c: reading the small files of a model directory (JSON configs)
 * whole, with a size limit, and joining paths.  Knows nothing of what the
 * files mean. */
#include "model_int.h"
#include "alloc.h"
#include "err.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

semdex_status model_file_read(const char *path, size_t limit, char **out, size_t *out_len, semdex_error *err)
{
    *out = NULL;
    *out_len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return sx_err_set(err, SEMDEX_ERR_IO, path, NULL, -1, "missing or unreadable: %s", strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return sx_err_set(err, SEMDEX_ERR_IO, path, NULL, -1, "not a regular file");
    }
    if ((uint64_t)sb.st_size > limit) {
        fclose(f);
        return sx_err_set(err, SEMDEX_ERR_LIMIT, path, NULL, -1, "file is larger than the %zu-byte limit", limit);
    }
    size_t size = (size_t)sb.st_size;
    char *buf = sx_malloc(size + 1);
    if (!buf) {
        fclose(f);
        return sx_err_set(err, SEMDEX_ERR_NOMEM, path, NULL, -1, "out of memory");
    }
    size_t got = fread(buf, 1, size, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr || got != size) {
        sx_free(buf);
        return sx_err_set(err, SEMDEX_ERR_IO, path, NULL, (int64_t)got, "read failed");
    }
    buf[size] = 0;
    *out = buf;
    *out_len = size;
    return SEMDEX_OK;
}

int model_file_exists(const char *path)
{
    struct stat sb;
    return !stat(path, &sb) && S_ISREG(sb.st_mode);
}

char *model_path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = sx_malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    size_t n = a;
    if (b) {
        if (n && p[n - 1] != '/')
            p[n++] = '/';
        memcpy(p + n, name, b);
        n += b;
    }
    p[n] = 0;
    return p;
}
