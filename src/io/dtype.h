/* Element types of tensors in weight and feature files. */
#ifndef GC_DTYPE_H
#define GC_DTYPE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    GC_DT_F64, GC_DT_F32, GC_DT_F16, GC_DT_BF16,
    GC_DT_I64, GC_DT_I32, GC_DT_I16, GC_DT_I8, GC_DT_U8, GC_DT_BOOL,
    GC_DT_COUNT
} gc_dtype;

/* Size in bytes of one element. */
size_t gc_dtype_size(gc_dtype t);
/* The safetensors spelling ("F32", "BF16", ...). */
const char *gc_dtype_name(gc_dtype t);
/* Parse a safetensors dtype string; returns -1 if unknown. */
int gc_dtype_parse(const char *s);

float gc_f16_to_f32(uint16_t h);
float gc_bf16_to_f32(uint16_t h);
uint16_t gc_f32_to_f16(float f); /* round to nearest even, as torch's .half() */
/* Convert n little-endian elements of type t to float32 (F64/F32/F16/BF16/ints). */
void gc_convert_to_f32(gc_dtype t, const void *src, float *dst, int64_t n);

#endif
