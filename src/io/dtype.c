#include <string.h>

#include "io/dtype.h"

static const struct { const char *name; size_t size; } k_dtypes[GC_DT_COUNT] = {
    [GC_DT_F64] = {"F64", 8}, [GC_DT_F32] = {"F32", 4}, [GC_DT_F16] = {"F16", 2},
    [GC_DT_BF16] = {"BF16", 2}, [GC_DT_I64] = {"I64", 8}, [GC_DT_I32] = {"I32", 4},
    [GC_DT_I16] = {"I16", 2}, [GC_DT_I8] = {"I8", 1}, [GC_DT_U8] = {"U8", 1},
    [GC_DT_BOOL] = {"BOOL", 1},
};

size_t gc_dtype_size(gc_dtype t) { return (unsigned)t < GC_DT_COUNT ? k_dtypes[t].size : 0; }
const char *gc_dtype_name(gc_dtype t) { return (unsigned)t < GC_DT_COUNT ? k_dtypes[t].name : "?"; }

int gc_dtype_parse(const char *s) {
    for (int i = 0; i < GC_DT_COUNT; i++)
        if (strcmp(s, k_dtypes[i].name) == 0) return i;
    return -1;
}

float gc_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) { man <<= 1; exp--; }
            man &= 0x3ff;
            bits = sign | (exp << 23) | (man << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float gc_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t gc_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffff;
    if (absx >= 0x7f800000) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000 ? 0x200 | ((absx >> 13) & 0x3ff) : 0));
    if (absx >= 0x477ff000) return (uint16_t)(sign | 0x7c00); /* rounds to >= 65520: inf */
    if (absx < 0x38800000) { /* subnormal or zero in half */
        /* value = absx as float; half subnormal unit 2^-24 */
        float af;
        memcpy(&af, &absx, 4);
        float scaled = af * 16777216.0f; /* exact: multiply by 2^24 */
        /* round half to even */
        uint32_t q = (uint32_t)scaled;
        float rem = scaled - (float)q;
        if (rem > 0.5f || (rem == 0.5f && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t man = absx & 0x7fffff, exp = (absx >> 23) - 127 + 15;
    uint32_t h = (exp << 10) | (man >> 13);
    uint32_t rest = man & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

void gc_convert_to_f32(gc_dtype t, const void *src, float *dst, int64_t n) {
    const unsigned char *p = src;
    for (int64_t i = 0; i < n; i++) {
        switch (t) {
        case GC_DT_F64: { double v; memcpy(&v, p + 8 * i, 8); dst[i] = (float)v; break; }
        case GC_DT_F32: memcpy(dst + i, p + 4 * i, 4); break;
        case GC_DT_F16: { uint16_t v; memcpy(&v, p + 2 * i, 2); dst[i] = gc_f16_to_f32(v); break; }
        case GC_DT_BF16: { uint16_t v; memcpy(&v, p + 2 * i, 2); dst[i] = gc_bf16_to_f32(v); break; }
        case GC_DT_I64: { int64_t v; memcpy(&v, p + 8 * i, 8); dst[i] = (float)v; break; }
        case GC_DT_I32: { int32_t v; memcpy(&v, p + 4 * i, 4); dst[i] = (float)v; break; }
        case GC_DT_I16: { int16_t v; memcpy(&v, p + 2 * i, 2); dst[i] = (float)v; break; }
        case GC_DT_I8: dst[i] = (float)(int8_t)p[i]; break;
        case GC_DT_U8: case GC_DT_BOOL: dst[i] = (float)p[i]; break;
        default: dst[i] = 0; break;
        }
    }
}
