/* safetensors.c: safetensors files as Hugging Face writes them: an 8-byte
 * little-endian header length, a JSON header {name: {dtype, shape,
 * data_offsets}, "__metadata__": {...}}, then the data.  Files are
 * memory-mapped; every header field is checked before any byte of data is
 * used.  A checkpoint is one file or the shards of an index.  Knows nothing
 * of model architectures: which tensors a model needs is weights.c's job. */
#include "model_int.h"
#include "alloc.h"
#include "err.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *name, *torch;
    size_t size;
} dtype_info[] = {
    [MODEL_DTYPE_F32] = {"F32", "float32", 4},     [MODEL_DTYPE_F16] = {"F16", "float16", 2},
    [MODEL_DTYPE_BF16] = {"BF16", "bfloat16", 2},  [MODEL_DTYPE_F64] = {"F64", "float64", 8},
    [MODEL_DTYPE_I64] = {"I64", "int64", 8},       [MODEL_DTYPE_I32] = {"I32", "int32", 4},
    [MODEL_DTYPE_I16] = {"I16", "int16", 2},       [MODEL_DTYPE_I8] = {"I8", "int8", 1},
    [MODEL_DTYPE_U64] = {"U64", "uint64", 8},      [MODEL_DTYPE_U32] = {"U32", "uint32", 4},
    [MODEL_DTYPE_U16] = {"U16", "uint16", 2},      [MODEL_DTYPE_U8] = {"U8", "uint8", 1},
    [MODEL_DTYPE_BOOL] = {"BOOL", "bool", 1},      [MODEL_DTYPE_F8_E4M3] = {"F8_E4M3", "float8_e4m3fn", 1},
    [MODEL_DTYPE_F8_E5M2] = {"F8_E5M2", "float8_e5m2", 1}, [MODEL_DTYPE_F8_E8M0] = {"F8_E8M0", "float8_e8m0fnu", 1},
};
_Static_assert(sizeof dtype_info / sizeof dtype_info[0] == MODEL_DTYPE_COUNT, "every dtype is described");

const char *model_dtype_name(model_dtype t) { return (unsigned)t < MODEL_DTYPE_COUNT ? dtype_info[t].name : "?"; }
const char *model_dtype_torch_name(model_dtype t)
{
    return (unsigned)t < MODEL_DTYPE_COUNT ? dtype_info[t].torch : "mixed";
}
size_t model_dtype_size(model_dtype t) { return (unsigned)t < MODEL_DTYPE_COUNT ? dtype_info[t].size : 0; }

static int dtype_parse(const char *s, model_dtype *out)
{
    for (int i = 0; i < MODEL_DTYPE_COUNT; i++)
        if (!strcmp(s, dtype_info[i].name)) {
            *out = (model_dtype)i;
            return 1;
        }
    return 0;
}

/* A JSON number that is a non-negative integer exactly representable. */
static int json_u64(const json_value *v, uint64_t *out)
{
    if (!json_is_num(v))
        return 0;
    double d = v->u.num;
    if (!(d >= 0) || d > 9007199254740992.0 || d != (double)(uint64_t)d)
        return 0;
    *out = (uint64_t)d;
    return 1;
}

static semdex_status bad(semdex_error *err, const char *name, const char *field, const json_value *v,
                         const char *msg)
{
    return sx_err_set(err, SEMDEX_ERR_FORMAT, name, field, v ? (int64_t)v->offset + 8 : -1, "%s", msg);
}

/* Checks one header entry; fills t. */
static semdex_status entry_parse(const json_value *key, const json_value *v, uint64_t data_size, const char *name,
                                 model_tensor *t, semdex_error *err)
{
    const char *tn = key->u.str;
    t->name = tn;
    t->header_offset = (int64_t)key->offset + 8;
    if (strlen(tn) != key->n || !key->n)
        return bad(err, name, tn, key, "tensor name is empty or holds a NUL byte");
    if (!json_is_obj(v))
        return bad(err, name, tn, v, "tensor entry is not an object");
    const json_value *dt = json_get(v, "dtype"), *shape = json_get(v, "shape"), *offs = json_get(v, "data_offsets");
    if (!json_is_str(dt))
        return bad(err, name, tn, dt ? dt : v, "dtype is missing or not a string");
    if (!dtype_parse(dt->u.str, &t->dtype)) {
        return sx_err_set(err, SEMDEX_ERR_FORMAT, name, tn, (int64_t)dt->offset + 8,
                          "unknown dtype \"%.32s\" (field dtype)", dt->u.str);
    }
    if (!json_is_arr(shape))
        return bad(err, name, tn, shape ? shape : v, "shape is missing or not an array");
    if (shape->n > MODEL_MAX_DIMS)
        return bad(err, name, tn, shape, "shape has more than 8 dimensions");
    uint64_t n_elem = 1;
    int overflow = 0;
    t->n_dims = shape->n;
    for (uint32_t i = 0; i < shape->n; i++) {
        if (!json_u64(json_arr_at(shape, i), &t->shape[i]))
            return bad(err, name, tn, json_arr_at(shape, i), "shape entries must be non-negative integers");
        if (t->shape[i] && n_elem > UINT64_MAX / t->shape[i])
            overflow = 1;
        n_elem *= t->shape[i];
    }
    uint64_t esize = model_dtype_size(t->dtype);
    if (overflow || n_elem > UINT64_MAX / esize)
        return bad(err, name, tn, shape, "shape is too large");
    uint64_t bytes = n_elem * esize;
    if (!json_is_arr(offs) || offs->n != 2 || !json_u64(json_arr_at(offs, 0), &t->begin) ||
        !json_u64(json_arr_at(offs, 1), &t->end))
        return bad(err, name, tn, offs ? offs : v, "data_offsets must be two non-negative integers");
    if (t->begin > t->end)
        return bad(err, name, tn, offs, "data_offsets: begin is after end");
    if (t->end > data_size) {
        return sx_err_set(err, SEMDEX_ERR_FORMAT, name, tn, (int64_t)offs->offset + 8,
                          "data_offsets [%llu, %llu] run past the end of the data (%llu bytes): file truncated?",
                          (unsigned long long)t->begin, (unsigned long long)t->end,
                          (unsigned long long)data_size);
    }
    if (t->end - t->begin != bytes) {
        return sx_err_set(err, SEMDEX_ERR_FORMAT, name, tn, (int64_t)offs->offset + 8,
                          "data_offsets hold %llu bytes but shape x dtype %s needs %llu",
                          (unsigned long long)(t->end - t->begin), dtype_info[t->dtype].name,
                          (unsigned long long)bytes);
    }
    return SEMDEX_OK;
}

static int cmp_begin(const void *a, const void *b)
{
    const model_tensor *x = *(const model_tensor *const *)a, *y = *(const model_tensor *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* No two tensors share a byte (empty tensors share nothing). */
static semdex_status check_overlap(model_st_file *f, const char *name, semdex_error *err)
{
    if (f->n_tensors < 2)
        return SEMDEX_OK;
    const model_tensor **order = sx_malloc(f->n_tensors * sizeof *order);
    if (!order)
        return sx_err_set(err, SEMDEX_ERR_NOMEM, name, NULL, -1, "out of memory");
    for (size_t i = 0; i < f->n_tensors; i++)
        order[i] = &f->tensors[i];
    qsort(order, f->n_tensors, sizeof *order, cmp_begin);
    semdex_status st = SEMDEX_OK;
    uint64_t end = 0;
    const model_tensor *last = NULL;
    for (size_t i = 0; i < f->n_tensors; i++) {
        const model_tensor *t = order[i];
        if (t->begin == t->end)
            continue;
        if (last && t->begin < end) {
            st = sx_err_set(err, SEMDEX_ERR_FORMAT, name, t->name, t->header_offset,
                            "data_offsets [%llu, %llu] overlap those of %s",
                            (unsigned long long)t->begin, (unsigned long long)t->end, last->name);
            break;
        }
        end = t->end;
        last = t;
    }
    sx_free(order);
    return st;
}

static semdex_status metadata_check(const json_value *v, const char *name, semdex_error *err)
{
    if (json_is_null(v))
        return SEMDEX_OK;
    if (!json_is_obj(v))
        return bad(err, name, "__metadata__", v, "__metadata__ is not an object");
    for (uint32_t i = 0; i < v->n; i++)
        if (!json_is_str(json_obj_val(v, i)))
            return bad(err, name, "__metadata__", json_obj_val(v, i), "__metadata__ values must be strings");
    return SEMDEX_OK;
}

semdex_status model_safetensors_parse(const uint8_t *buf, size_t size, const char *name, model_st_file *out,
                                      semdex_error *err)
{
    memset(out, 0, sizeof *out);
    if (!name)
        name = "safetensors";
    if (!buf || size < 8) {
        return sx_err_set(err, SEMDEX_ERR_FORMAT, name, "header length", 0,
                          "file is %zu bytes, shorter than the 8-byte header length: truncated?", size);
    }
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | buf[i];
    if (hl > MODEL_ST_MAX_HEADER) {
        return sx_err_set(err, SEMDEX_ERR_LIMIT, name, "header length", 0,
                          "header length %llu exceeds the 100 MB limit: not a safetensors file?",
                          (unsigned long long)hl);
    }
    if (hl > size - 8) {
        return sx_err_set(err, SEMDEX_ERR_FORMAT, name, "header length", 0,
                          "header length %llu runs past the end of the file (%zu bytes): truncated?",
                          (unsigned long long)hl, size);
    }
    if (hl < 2 || buf[8] != '{')
        return sx_err_set(err, SEMDEX_ERR_FORMAT, name, "header", 8, "the header is not a JSON object");
    semdex_error jerr = {0};
    json_doc *doc = json_parse((const char *)buf + 8, (size_t)hl, &jerr);
    if (!doc) {
        if (jerr.status == SEMDEX_ERR_NOMEM)
            return sx_err_set(err, SEMDEX_ERR_NOMEM, name, "header", -1, "out of memory");
        return sx_err_set(err, SEMDEX_ERR_PARSE, name, "header", jerr.offset >= 0 ? jerr.offset + 8 : -1,
                          "header JSON: %s", jerr.message);
    }
    const json_value *root = json_doc_root(doc);
    semdex_status st = SEMDEX_OK;
    if (!json_is_obj(root)) {
        st = bad(err, name, "header", root, "the header is not a JSON object");
        goto fail;
    }
    out->header = doc;
    out->data_start = 8 + hl;
    uint64_t data_size = size - out->data_start;
    out->tensors = sx_calloc(root->n ? root->n : 1, sizeof *out->tensors);
    if (!out->tensors) {
        st = sx_err_set(err, SEMDEX_ERR_NOMEM, name, NULL, -1, "out of memory");
        goto fail;
    }
    sx_strmap seen = {0};
    for (uint32_t i = 0; i < root->n && !st; i++) {
        const json_value *k = json_obj_key(root, i), *v = json_obj_val(root, i);
        if (!strcmp(k->u.str, "__metadata__") && k->n == 12) {
            st = metadata_check(v, name, err);
            continue;
        }
        model_tensor *t = &out->tensors[out->n_tensors];
        st = entry_parse(k, v, data_size, name, t, err);
        if (st)
            break;
        int r = sx_strmap_put(&seen, k->u.str, k->n, 0, NULL);
        if (r < 0)
            st = sx_err_set(err, SEMDEX_ERR_NOMEM, name, NULL, -1, "out of memory");
        else if (r > 0)
            st = bad(err, name, k->u.str, k, "tensor name appears twice in the header");
        t->data = buf + out->data_start + t->begin;
        out->n_tensors++;
    }
    sx_strmap_free(&seen);
    if (!st)
        st = check_overlap(out, name, err);
    if (!st)
        return SEMDEX_OK;
fail:
    sx_free(out->tensors);
    json_doc_free(doc);
    memset(out, 0, sizeof *out);
    return st;
}

semdex_status model_safetensors_map(const char *path, model_st_file *out, semdex_error *err)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sx_err_set(err, SEMDEX_ERR_IO, path, NULL, -1, "cannot open: %s", strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
        close(fd);
        return sx_err_set(err, SEMDEX_ERR_IO, path, NULL, -1, "not a regular file");
    }
    size_t size = (size_t)sb.st_size;
    if (size < 8) {
        close(fd);
        return sx_err_set(err, SEMDEX_ERR_FORMAT, path, "header length", 0,
                          "file is %zu bytes, shorter than the 8-byte header length: truncated?", size);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return sx_err_set(err, SEMDEX_ERR_IO, path, NULL, -1, "cannot map: %s", strerror(errno));
    semdex_status st = model_safetensors_parse(map, size, path, out, err);
    if (st) {
        munmap(map, size);
        return st;
    }
    out->map = map;
    out->map_size = size;
    out->path = sx_strndup(path, strlen(path));
    if (!out->path) {
        model_st_file_release(out);
        return sx_err_set(err, SEMDEX_ERR_NOMEM, path, NULL, -1, "out of memory");
    }
    return SEMDEX_OK;
}

void model_st_file_release(model_st_file *f)
{
    if (!f)
        return;
    if (f->map)
        munmap((void *)f->map, f->map_size);
    json_doc_free(f->header);
    sx_free(f->tensors);
    sx_free(f->path);
    memset(f, 0, sizeof *f);
}

/* ------------------------------------------------------------ checkpoints */

static semdex_status index_add(model_checkpoint *ck, const model_tensor *t, const char *file, semdex_error *err)
{
    int r = sx_strmap_put(&ck->names, t->name, strlen(t->name), (int32_t)ck->n_all, NULL);
    if (r < 0)
        return sx_err_set(err, SEMDEX_ERR_NOMEM, file, NULL, -1, "out of memory");
    if (r == 0)
        ck->all[ck->n_all++] = t;
    return SEMDEX_OK;
}

static semdex_status open_single(model_checkpoint *ck, const char *path, semdex_error *err)
{
    ck->files = sx_calloc(1, sizeof *ck->files);
    if (!ck->files)
        return sx_err_set(err, SEMDEX_ERR_NOMEM, path, NULL, -1, "out of memory");
    semdex_status st = model_safetensors_map(path, &ck->files[0], err);
    if (st)
        return st;
    ck->n_files = 1;
    model_st_file *f = &ck->files[0];
    ck->all = sx_calloc(f->n_tensors ? f->n_tensors : 1, sizeof *ck->all);
    if (!ck->all)
        return sx_err_set(err, SEMDEX_ERR_NOMEM, path, NULL, -1, "out of memory");
    for (size_t i = 0; i < f->n_tensors && !st; i++)
        st = index_add(ck, &f->tensors[i], path, err);
    return st;
}

/* A shard name from the index: a plain file name in the same directory. */
static int shard_name_ok(const char *s, size_t n)
{
    return n && strlen(s) == n && !strchr(s, '/') && !strchr(s, '\\') && strcmp(s, ".") && strcmp(s, "..");
}

static semdex_status open_sharded(model_checkpoint *ck, const char *dir, const char *index_path, semdex_error *err)
{
    json_doc *doc = json_parse_file(index_path, err);
    if (!doc)
        return err ? err->status : SEMDEX_ERR_PARSE;
    semdex_status st = SEMDEX_OK;
    const json_value *wm = json_get(json_doc_root(doc), "weight_map");
    char *path = NULL;
    if (!json_is_obj(wm) || !wm->n) {
        st = sx_err_set(err, SEMDEX_ERR_FORMAT, index_path, "weight_map", wm ? (int64_t)wm->offset : -1,
                        "weight_map is missing, empty or not an object");
        goto done;
    }
    /* distinct shard names, in order of first appearance */
    ck->files = sx_calloc(wm->n, sizeof *ck->files);
    uint32_t *shard_of = sx_calloc(wm->n, sizeof *shard_of);
    const json_value **shard_names = sx_calloc(wm->n, sizeof *shard_names);
    ck->all = sx_calloc(wm->n, sizeof *ck->all);
    size_t plen = strlen(dir) + 512;
    path = sx_malloc(plen);
    if (!ck->files || !shard_of || !shard_names || !ck->all || !path) {
        sx_free(shard_of);
        sx_free(shard_names);
        st = sx_err_set(err, SEMDEX_ERR_NOMEM, index_path, NULL, -1, "out of memory");
        goto done;
    }
    size_t n_shards = 0;
    for (uint32_t i = 0; i < wm->n && !st; i++) {
        const json_value *fv = json_obj_val(wm, i);
        if (!json_is_str(fv) || !shard_name_ok(fv->u.str, fv->n) || fv->n > 400) {
            st = sx_err_set(err, SEMDEX_ERR_FORMAT, index_path, json_obj_key(wm, i)->u.str, (int64_t)fv->offset,
                            "weight_map entry must name a file in the model directory");
            break;
        }
        size_t s = 0;
        while (s < n_shards && strcmp(shard_names[s]->u.str, fv->u.str))
            s++;
        if (s == n_shards) {
            shard_names[n_shards++] = fv;
            snprintf(path, plen, "%s/%s", dir, fv->u.str);
            st = model_safetensors_map(path, &ck->files[s], err);
            if (!st)
                ck->n_files = n_shards;
        }
        shard_of[i] = (uint32_t)s;
    }
    for (uint32_t i = 0; i < wm->n && !st; i++) {
        const json_value *k = json_obj_key(wm, i);
        model_st_file *f = &ck->files[shard_of[i]];
        const model_tensor *t = NULL;
        for (size_t j = 0; j < f->n_tensors && !t; j++)
            if (!strcmp(f->tensors[j].name, k->u.str))
                t = &f->tensors[j];
        if (!t) {
            st = sx_err_set(err, SEMDEX_ERR_FORMAT, index_path, k->u.str, (int64_t)k->offset,
                            "weight_map puts tensor %.80s in %.80s, which does not hold it", k->u.str, f->path);
            break;
        }
        st = index_add(ck, t, index_path, err);
    }
    for (size_t s = 0; s < ck->n_files; s++)
        for (size_t j = 0; j < ck->files[s].n_tensors; j++)
            ck->files[s].tensors[j].file = (uint32_t)s;
    sx_free(shard_of);
    sx_free(shard_names);
done:
    sx_free(path);
    json_doc_free(doc);
    return st;
}

semdex_status model_checkpoint_open(const char *dir, model_checkpoint *ck, semdex_error *err)
{
    memset(ck, 0, sizeof *ck);
    size_t plen = strlen(dir) + 64;
    char *path = sx_malloc(plen);
    if (!path)
        return sx_err_set(err, SEMDEX_ERR_NOMEM, dir, NULL, -1, "out of memory");
    semdex_status st;
    snprintf(path, plen, "%s/model.safetensors", dir);
    if (model_file_exists(path)) {
        st = open_single(ck, path, err);
    } else {
        snprintf(path, plen, "%s/model.safetensors.index.json", dir);
        if (model_file_exists(path)) {
            st = open_sharded(ck, dir, path, err);
        } else {
            snprintf(path, plen, "%s/pytorch_model.bin", dir);
            int has_bin = model_file_exists(path);
            snprintf(path, plen, "%s/model.safetensors", dir);
            st = sx_err_set(err, SEMDEX_ERR_IO, path, NULL, -1,
                            "missing: no model.safetensors or model.safetensors.index.json in the model "
                            "directory%s",
                            has_bin ? " (pytorch_model.bin is not read: convert it to safetensors)" : "");
        }
    }
    sx_free(path);
    if (st)
        model_checkpoint_close(ck);
    return st;
}

const model_tensor *model_checkpoint_find(const model_checkpoint *ck, const char *name)
{
    int32_t i;
    if (!sx_strmap_get(&ck->names, name, strlen(name), &i))
        return NULL;
    return ck->all[i];
}

const char *model_checkpoint_path(const model_checkpoint *ck, const model_tensor *t)
{
    return t->file < ck->n_files ? ck->files[t->file].path : "model.safetensors";
}

void model_checkpoint_close(model_checkpoint *ck)
{
    if (!ck)
        return;
    for (size_t i = 0; i < ck->n_files; i++)
        model_st_file_release(&ck->files[i]);
    sx_free(ck->files);
    sx_free(ck->all);
    sx_strmap_free(&ck->names);
    memset(ck, 0, sizeof *ck);
}
