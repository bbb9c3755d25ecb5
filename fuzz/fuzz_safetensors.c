/* fuzz_safetensors.c: the safetensors header parser on arbitrary bytes (a
 * whole file image): it must accept or refuse with an offset inside the
 * input, never crash, and every tensor it accepts must lie inside the data
 * section with exactly shape x dtype bytes, no two overlapping. */
#include "fuzz.h"
#include "model_int.h"
#include <stdlib.h>

int fuzz_safetensors(const uint8_t *data, size_t size)
{
    model_st_file f;
    semdex_error err = {0};
    if (model_safetensors_parse(data, size, "fuzz.safetensors", &f, &err)) {
        FUZZ_CHECK(err.offset >= -1 && err.offset <= (int64_t)size);
        FUZZ_CHECK(f.tensors == NULL && f.n_tensors == 0);
        return 0;
    }
    FUZZ_CHECK(f.data_start >= 8 && f.data_start <= size);
    uint64_t data_size = size - f.data_start;
    for (size_t i = 0; i < f.n_tensors; i++) {
        const model_tensor *t = &f.tensors[i];
        FUZZ_CHECK(t->begin <= t->end && t->end <= data_size);
        FUZZ_CHECK(t->data == data + f.data_start + t->begin);
        uint64_t n = model_dtype_size(t->dtype);
        for (uint32_t d = 0; d < t->n_dims; d++)
            n *= t->shape[d];
        FUZZ_CHECK(n == t->end - t->begin);
        FUZZ_CHECK(t->name && t->name[0]);
        /* touch the first and last byte: they must be readable */
        if (t->end > t->begin) {
            volatile uint8_t a = t->data[0], b = t->data[t->end - t->begin - 1];
            (void)a;
            (void)b;
        }
        for (size_t j = 0; j < i && f.n_tensors < 64; j++) {
            const model_tensor *u = &f.tensors[j];
            int empty = t->begin == t->end || u->begin == u->end;
            FUZZ_CHECK(empty || t->end <= u->begin || u->end <= t->begin);
        }
    }
    model_st_file_release(&f);
    return 0;
}
FUZZ_ENTRY(fuzz_safetensors)
