#include <math.h>
#include <stdlib.h>

#include "io/safetensors.h"
#include "models/sd_schedule.h"
#include "tensor/resample.h"

gc_status sd_schedule_init(sd_schedule *s, double linear_start, double linear_end, int64_t T) {
    s->T = 0;
    s->betas = s->alphas_cumprod = NULL;
    if (T < 2 || T > 100000 || !(linear_start > 0) || !(linear_end > 0))
        return gc_errorf(GC_ERR_ARG, "noise schedule: need timesteps >= 2 and positive linear_start/end "
                         "(got %lld, %g, %g)", (long long)T, linear_start, linear_end);
    s->betas = gc_alloc_array((size_t)(2 * T), sizeof(double));
    if (!s->betas) return GC_ERR_NOMEM;
    s->alphas_cumprod = s->betas + T;
    s->T = T;
    /* torch.linspace (CPU, float64) as its AVX2 kernel evaluates it, so betas match LDM's table to
     * the bit: values come in vectors of 4 whose base is start + step*c (first half, by the vector's
     * first index c) or end - step*(T-1-c), plus j*step for lane j, each a fused multiply-add (the
     * compiler contracts them); a tail of T % 8 elements takes the scalar path. */
    double a = sqrt(linear_start), b = sqrt(linear_end), step = (b - a) / (double)(T - 1);
    int64_t halfway = T / 2, vec_end = T - T % 8;
    double acp = 1.0;
    for (int64_t i = 0; i < T; i++) {
        int64_t c = i < vec_end ? i - i % 4 : i;
        double base = c < halfway ? fma(step, (double)c, a) : fma(-step, (double)(T - 1 - c), b);
        double v = fma((double)(i - c), step, base);
        s->betas[i] = v * v;
        acp *= 1.0 - s->betas[i];
        s->alphas_cumprod[i] = acp;
    }
    return GC_OK;
}

void sd_schedule_free(sd_schedule *s) {
    gc_free(s->betas);
    s->betas = s->alphas_cumprod = NULL;
    s->T = 0;
}

gc_status sd_q_sample(const sd_schedule *s, int64_t t, const float *z0, const float *noise, int64_t n, float *z_t) {
    if (t < 0 || t >= s->T)
        return gc_errorf(GC_ERR_ARG, "timestep %lld out of range [0, %lld)", (long long)t, (long long)s->T);
    float ca = (float)sqrt(s->alphas_cumprod[t]), cb = (float)sqrt(1.0 - s->alphas_cumprod[t]);
    for (int64_t i = 0; i < n; i++) z_t[i] = ca * z0[i] + cb * noise[i];
    return GC_OK;
}

gc_status sd_noise_load(float **out) {
    *out = NULL;
    /* GEOCORR_SD_NOISE names the file itself (tests, relocated data) */
    const char *env = getenv("GEOCORR_SD_NOISE");
    char *path = NULL;
    if (env && *env) {
        if (!(path = gc_strdup(env))) return GC_ERR_NOMEM;
    } else {
        if (!(path = gc_data_path("sd_noise_seed42.safetensors"))) return GC_ERR_MISSING;
    }
    gc_weights *w;
    gc_status st = gc_weights_open(path, &w);
    free(path);
    GC_TRY(st);
    const float *p;
    st = GC_WEIGHT(w, "odise.shared_noise_seed42", &p, 1, SD_NOISE_C, SD_NOISE_HW, SD_NOISE_HW);
    if (st == GC_OK) {
        size_t n = (size_t)SD_NOISE_C * SD_NOISE_HW * SD_NOISE_HW;
        *out = gc_alloc_array(n, sizeof(float));
        if (*out) {
            for (size_t i = 0; i < n; i++) (*out)[i] = p[i];
        } else {
            st = GC_ERR_NOMEM;
        }
    }
    gc_weights_free(w);
    return st;
}

gc_status sd_noise_resized(int64_t h, int64_t w, float *out) {
    if (h < 1 || w < 1) return gc_errorf(GC_ERR_ARG, "noise size %lldx%lld", (long long)h, (long long)w);
    float *noise;
    GC_TRY(sd_noise_load(&noise));
    gc_status st = gc_resize_bicubic(out, noise, SD_NOISE_C, SD_NOISE_HW, SD_NOISE_HW, h, w,
                                     (double)SD_NOISE_HW / (double)h, (double)SD_NOISE_HW / (double)w);
    gc_free(noise);
    return st;
}
