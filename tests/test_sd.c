/* SD-1.5 branch parity: VAE encoder, shared noise + q_sample and UNet (plain and GeoAware FreeU
 * taps) against sd_{micro,tiny}.io.safetensors, from the shipped micro weights in both namings and
 * layouts (LDM single file .safetensors and .ckpt, diffusers folder incl. the .fp16 variant and the
 * legacy VAE attention names) through `geocorr trace`, and
 * from manifest-generated tiny weights (both namings) through the library. Tolerance: the
 * project's 1e-4 of max|ref| per tensor; observed <= 3e-6 everywhere (fp32-vs-fp64 upstream noise
 * is ~1e-6). Bad inputs: missing / wrongly shaped tensors, incomplete diffusers folder, latent not
 * a multiple of 8, context of the wrong width, a file that is not SD. (sd15: test_sd_sd15.c.) */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "io/prng_weights.h"
#include "io/safetensors.h"
#include "models/sd.h"
#include "sd_testutil.h"

#define TOL 1e-4

/* --- micro through the CLI ----------------------------------------------------------------- */

/* The legacy diffusers VAE attention name of a current one (to_q -> query, ...), or NULL. */
static const char *legacy_vae_name(const char *name, char *buf, size_t n) {
    static const char *const cur[] = {"to_q.", "to_k.", "to_v.", "to_out.0."}, *const old[] = {"query.", "key.", "value.", "proj_attn."};
    for (int i = 0; i < 4; i++) {
        const char *at = strstr(name, cur[i]);
        if (!at) continue;
        snprintf(buf, n, "%.*s%s%s", (int)(at - name), name, old[i], at + strlen(cur[i]));
        return buf;
    }
    return NULL;
}

/* mode 0: symlinks to the shipped files; 1: the .fp16 variant (weights rounded to float16);
 * 2: float32 files holding those same float16-rounded values; 3: the VAE with the legacy
 * query/key/value/proj_attn names of older diffusers files. */
static const char *micro_diffusers_dir(int mode) {
    static const char *const tags[] = {"sd_dif", "sd_dif16", "sd_dif16as32", "sd_diflegacy"};
    const char *d = gct_tmpdir(tags[mode]);
    bool fp16 = mode == 1 || mode == 2;
    char p[1200], q[1200];
    const char *parts[] = {"unet", "vae"};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", d, parts[i]);
        mkdir(p, 0755);
        snprintf(p, sizeof p, "%s/%s/config.json", d, parts[i]);
        snprintf(q, sizeof q, "sd_micro.%s.config.json", parts[i]);
        assert_int_equal(symlink(gct_fixture(q), p), 0);
        snprintf(q, sizeof q, "sd_micro.diffusers_%s.safetensors", parts[i]);
        snprintf(p, sizeof p, "%s/%s/diffusion_pytorch_model%s.safetensors", d, parts[i], mode == 1 ? ".fp16" : "");
        if (mode == 3 && i == 1) {
            gc_weights *w = gct_open(gct_fixture(q));
            gc_st_writer *wr = gc_st_writer_new();
            char nm[256];
            for (int64_t k = 0; k < gc_weights_count(w); k++) {
                const gc_tensor_ref *r = gc_weights_at(w, k);
                const char *name = legacy_vae_name(r->name, nm, sizeof nm);
                assert_int_equal(gc_st_writer_add(wr, name ? name : r->name, r->dtype, r->ndim, r->shape, r->data), GC_OK);
            }
            assert_int_equal(gc_st_writer_save(wr, p), GC_OK);
            gc_st_writer_free(wr);
            gc_weights_free(w);
        } else if (!fp16) {
            assert_int_equal(symlink(gct_fixture(q), p), 0);
        } else { /* the weights rounded to float16, as diffusers' fp16 variant holds them */
            gc_weights *w = gct_open(gct_fixture(q));
            gc_st_writer *wr = gc_st_writer_new();
            for (int64_t k = 0; k < gc_weights_count(w); k++) {
                const gc_tensor_ref *r = gc_weights_at(w, k);
                const float *f;
                assert_int_equal(gc_weights_f32(w, r->name, r->ndim, r->shape, &f), GC_OK);
                uint16_t *h = malloc(sizeof(uint16_t) * (size_t)(r->numel ? r->numel : 1));
                float *h32 = malloc(sizeof(float) * (size_t)(r->numel ? r->numel : 1));
                for (int64_t e = 0; e < r->numel; e++) h32[e] = gc_f16_to_f32(h[e] = gc_f32_to_f16(f[e]));
                assert_int_equal(gc_st_writer_add(wr, r->name, mode == 1 ? GC_DT_F16 : GC_DT_F32, r->ndim, r->shape,
                                                  mode == 1 ? (const void *)h : (const void *)h32), GC_OK);
                free(h);
                free(h32);
            }
            assert_int_equal(gc_st_writer_save(wr, p), GC_OK);
            gc_st_writer_free(wr);
            gc_weights_free(w);
        }
    }
    return d;
}

/* Run the three traces on micro with weights W (+ extra flags) and compare every written key. */
static void micro_traces(const char *W, const char *flags) {
    const char *io = gct_fixture("sd_micro.io.safetensors");
    const char *tmp = gct_tmpdir("sd_micro_cli");
    gc_weights *ref = gct_open(io);
    char in[1200], out[1200];
    snprintf(out, sizeof out, "%s/vae.safetensors", tmp);
    assert_int_equal(gct_geocorr("trace sd-vae --weights %s %s --inputs %s --out %s", W, flags, io, out), 0);
    /* down.{1..L-2}.downsample are written, the fixture keeps down.2 only */
    sdt_compare_file(out, ref, "", 7, TOL);
    static const struct { const char *tag, *zt; int t; bool cond; } runs[] = {
        {"t50", "t50.z_t", 50, false}, {"t261", "t261.z_t", 261, false}, {"t50_condemb", "t50.z_t", 50, true}};
    for (int k = 0; k < 3; k++) {
        snprintf(in, sizeof in, "%s/in_%s.safetensors", tmp, runs[k].tag);
        sdt_make_inputs(ref, in, "z_t", runs[k].zt, "context", "context", runs[k].cond ? "cond_emb" : NULL, "cond_emb",
                        NULL);
        snprintf(out, sizeof out, "%s/unet_%s.safetensors", tmp, runs[k].tag);
        assert_int_equal(gct_geocorr("trace sd-unet --t %d --weights %s %s --inputs %s --out %s", runs[k].t, W, flags,
                                     in, out), 0);
        char pre[64];
        snprintf(pre, sizeof pre, "%s.", runs[k].tag);
        /* every fixture key of the run but z_t: t50/t261 31 unet.* + 5 geoaware.*, condemb 2 */
        sdt_compare_file(out, ref, pre, k < 2 ? 36 : 2, TOL);
        /* noise + q_sample from the stored z0 */
        if (k < 2) {
            snprintf(in, sizeof in, "%s/in_z0.safetensors", tmp);
            sdt_make_inputs(ref, in, "z0", "vae.z0", NULL, NULL, NULL, NULL, NULL);
            snprintf(out, sizeof out, "%s/noise_%s.safetensors", tmp, runs[k].tag);
            assert_int_equal(gct_geocorr("trace sd-noise --t %d --weights %s %s --inputs %s --out %s", runs[k].t, W,
                                         flags, in, out), 0);
            gc_weights *o = gct_open(out);
            const float *p;
            char key[64];
            assert_int_equal(GC_WEIGHT(o, "noise.resized", &p, 1, 4, 8, 16), GC_OK);
            gct_expect_close(ref, "noise.resized", p, 4 * 8 * 16, TOL); /* observed 1e-7 */
            assert_int_equal(GC_WEIGHT(o, "z_t", &p, 1, 4, 8, 16), GC_OK);
            snprintf(key, sizeof key, "%s.z_t", runs[k].tag);
            gct_expect_close(ref, key, p, 4 * 8 * 16, TOL); /* observed 9e-8 */
            gc_weights_free(o);
        }
    }
    gc_weights_free(ref);
}

static void test_micro_ldm_single_file(void **state) {
    char flags[1200];
    snprintf(flags, sizeof flags, "--sd-config %s", gct_fixture("sd_micro.ldm_config.json"));
    micro_traces(gct_fixture("sd_micro.ldm_single_file.safetensors"), flags);
}

/* The same weights as a PyTorch LDM checkpoint (state_dict.model.diffusion_model.*, read through the
 * checkpoint reader; the outer `state_dict.` prefix is found by itself). */
static void test_micro_ldm_ckpt(void **state) {
    char flags[1200];
    snprintf(flags, sizeof flags, "--sd-config %s", gct_fixture("sd_micro.ldm_config.json"));
    micro_traces(gct_fixture("ckpt/sd_micro_ldm.ckpt"), flags);
}

static void test_micro_diffusers_folder(void **state) { micro_traces(micro_diffusers_dir(0), ""); }

static void test_micro_diffusers_legacy_vae_names(void **state) {
    const char *d = micro_diffusers_dir(3), *io = gct_fixture("sd_micro.io.safetensors"), *tmp = gct_tmpdir("sd_legacy");
    char out[1200];
    snprintf(out, sizeof out, "%s/vae.safetensors", tmp);
    assert_int_equal(gct_geocorr("trace sd-vae --weights %s --inputs %s --out %s", d, io, out), 0);
    gc_weights *ref = gct_open(io);
    sdt_compare_file(out, ref, "", 7, TOL);
    gc_weights_free(ref);
}

/* The .fp16 variant loads (converted once to float32) and computes exactly what float32 files
 * holding the same float16-rounded values give: every output tensor bit-identical. */
static void test_micro_diffusers_fp16(void **state) {
    const char *d16 = micro_diffusers_dir(1), *d32 = micro_diffusers_dir(2), *tmp = gct_tmpdir("sd_fp16");
    gc_weights *ref = gct_open(gct_fixture("sd_micro.io.safetensors"));
    char in[1200], o16[1200], o32[1200];
    snprintf(in, sizeof in, "%s/in.safetensors", tmp);
    sdt_make_inputs(ref, in, "z_t", "t50.z_t", "context", "context", NULL, NULL, NULL);
    snprintf(o16, sizeof o16, "%s/o16.safetensors", tmp);
    snprintf(o32, sizeof o32, "%s/o32.safetensors", tmp);
    assert_int_equal(gct_geocorr("trace sd-unet --t 50 --weights %s --inputs %s --out %s", d16, in, o16), 0);
    assert_int_equal(gct_geocorr("trace sd-unet --t 50 --weights %s --inputs %s --out %s", d32, in, o32), 0);
    gc_weights *a = gct_open(o16), *b = gct_open(o32);
    assert_int_equal(gc_weights_count(a), gc_weights_count(b));
    for (int64_t k = 0; k < gc_weights_count(a); k++) {
        const gc_tensor_ref *ra = gc_weights_at(a, k), *rb = gc_weights_find(b, ra->name);
        assert_non_null(rb);
        assert_int_equal(ra->nbytes, rb->nbytes);
        assert_memory_equal(ra->data, rb->data, ra->nbytes);
    }
    printf("  fp16 variant: %lld tensors bit-identical to the f32 run\n", (long long)gc_weights_count(a));
    gc_weights_free(a);
    gc_weights_free(b);
    gc_weights_free(ref);
}

/* --- tiny (manifest weights) through the library --------------------------------------------- */

static void tiny_run(const char *naming, bool full) {
    gc_weights *w, *ref = gct_open(gct_fixture("sd_tiny.io.safetensors"));
    assert_int_equal(gc_prng_weights_from_manifest(gct_fixture("sd_tiny.weights_manifest.json"), naming, &w), GC_OK);
    gc_sd *sd;
    assert_int_equal(sd_load_weights(w, gct_fixture("sd_tiny.ldm_config.json"), &sd), GC_OK);
    sdt_check_vae(sd, ref, 7, TOL);
    sdt_check_unet(sd, ref, "t50", "t50.z_t", 50, false, 36, TOL);
    if (full) {
        sdt_check_unet(sd, ref, "t261", "t261.z_t", 261, false, 24, TOL);
        sdt_check_unet(sd, ref, "t50_condemb", "t50.z_t", 50, true, 5, TOL);
        sdt_check_unet_batch(sd, ref, "t50", "t50.z_t", "t261.z_t", 50, false, 5, TOL);
        sdt_check_unet_batch(sd, ref, "t50_condemb", "t50.z_t", "t261.z_t", 50, true, 5, TOL);
    }
    gc_sd_free(sd);
    gc_weights_free(ref);
}

static void test_tiny_ldm(void **state) { tiny_run("ldm", true); }
static void test_tiny_diffusers_naming(void **state) { tiny_run("diffusers", false); }

/* --- bad input ------------------------------------------------------------------------------ */

/* Copy of `src` with tensor `drop` left out, or (reshape) replaced by a [2, 3] tensor. */
static void write_altered(const char *src, const char *dst, const char *name, bool reshape) {
    gc_weights *w = gct_open(src);
    gc_st_writer *wr = gc_st_writer_new();
    for (int64_t k = 0; k < gc_weights_count(w); k++) {
        const gc_tensor_ref *r = gc_weights_at(w, k);
        if (strcmp(r->name, name) == 0) {
            static const float six[6] = {0};
            if (reshape) assert_int_equal(GC_ST_ADD_F32(wr, r->name, six, 2, 3), GC_OK);
            continue;
        }
        assert_int_equal(gc_st_writer_add(wr, r->name, r->dtype, r->ndim, r->shape, r->data), GC_OK);
    }
    assert_int_equal(gc_st_writer_save(wr, dst), GC_OK);
    gc_st_writer_free(wr);
    gc_weights_free(w);
}

static void expect_fail(const char *out, const char *needle1, const char *needle2, const char *fmt, ...) {
    char args[3000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    int rc = gct_geocorr("%s", args);
    const char *err = gct_last_stderr();
    printf("  rc %d: %s", rc, err);
    assert_true(rc > 0 && rc < 128);
    assert_non_null(strstr(err, needle1));
    if (needle2) assert_non_null(strstr(err, needle2));
    assert_int_equal(access(out, F_OK), -1); /* no output file */
}

/* UNet inputs of zeros: z_t [1, 4, h, w], context [1, 3, d]. */
static void write_unet_zeros(const char *path, int64_t h, int64_t w, int64_t d) {
    float *z = calloc((size_t)(4 * h * w), sizeof(float)), *ctx = calloc((size_t)(3 * d), sizeof(float));
    gc_st_writer *wr = gc_st_writer_new();
    assert_int_equal(GC_ST_ADD_F32(wr, "z_t", z, 1, 4, h, w), GC_OK);
    assert_int_equal(GC_ST_ADD_F32(wr, "context", ctx, 1, 3, d), GC_OK);
    assert_int_equal(gc_st_writer_save(wr, path), GC_OK);
    gc_st_writer_free(wr);
    free(z);
    free(ctx);
}

static void test_bad_input(void **state) {
    const char *tmp = gct_tmpdir("sd_bad"), *io = gct_fixture("sd_micro.io.safetensors");
    const char *single = gct_fixture("sd_micro.ldm_single_file.safetensors"), *cfg = gct_fixture("sd_micro.ldm_config.json");
    gc_weights *ref = gct_open(io);
    char w[1200], in[1200], out[1200], p[1200];
    snprintf(out, sizeof out, "%s/out.safetensors", tmp);
    snprintf(in, sizeof in, "%s/in.safetensors", tmp);
    sdt_make_inputs(ref, in, "z_t", "t50.z_t", "context", "context", NULL, NULL, NULL);

    snprintf(w, sizeof w, "%s/missing.safetensors", tmp);
    write_altered(single, w, "model.diffusion_model.output_blocks.4.1.proj_in.weight", false);
    expect_fail(out, "output_blocks.4.1.proj_in.weight", "missing", "trace sd-unet --t 50 --weights %s --sd-config %s "
                "--inputs %s --out %s", w, cfg, in, out);
    snprintf(w, sizeof w, "%s/shape.safetensors", tmp);
    write_altered(single, w, "first_stage_model.encoder.mid.attn_1.q.weight", true);
    expect_fail(out, "encoder.mid.attn_1.q.weight", "[2, 3]", "trace sd-vae --weights %s --inputs %s --out %s", w, io, out);
    /* a diffusers folder whose vae/ lacks its weights */
    const char *d = micro_diffusers_dir(0);
    snprintf(p, sizeof p, "%s/vae/diffusion_pytorch_model.safetensors", d);
    assert_int_equal(unlink(p), 0);
    expect_fail(out, "vae", "diffusion_pytorch_model", "trace sd-vae --weights %s --inputs %s --out %s", d, io, out);
    /* not an SD checkpoint */
    expect_fail(out, "not a Stable Diffusion checkpoint", NULL, "trace sd-vae --weights %s --inputs %s --out %s",
                gct_fixture("sd_schedule.safetensors"), io, out);
    /* latent 12x16: not a multiple of 8 */
    write_unet_zeros(in, 12, 16, 16);
    expect_fail(out, "12x16", "multiples of 8", "trace sd-unet --t 50 --weights %s --sd-config %s --inputs %s "
                "--out %s", single, cfg, in, out);
    /* context 17 wide instead of 16 */
    write_unet_zeros(in, 8, 16, 17);
    expect_fail(out, "context is 17 wide", "16", "trace sd-unet --t 50 --weights %s --sd-config %s --inputs %s "
                "--out %s", single, cfg, in, out);
    expect_fail(out, "--t", NULL, "trace sd-unet --weights %s --inputs %s --out %s", single, in, out);
    /* image not a multiple of 8 */
    {
        float img[3 * 20 * 16] = {0};
        gc_st_writer *wr = gc_st_writer_new();
        assert_int_equal(GC_ST_ADD_F32(wr, "image", img, 1, 3, 20, 16), GC_OK);
        assert_int_equal(gc_st_writer_save(wr, in), GC_OK);
        gc_st_writer_free(wr);
        expect_fail(out, "20x16", "multiple", "trace sd-vae --weights %s --inputs %s --out %s", single, in, out);
    }
    /* the noise file is required: a wrong override fails clearly */
    setenv("GEOCORR_SD_NOISE", "/nonexistent/noise.safetensors", 1);
    snprintf(in, sizeof in, "%s/z0.safetensors", tmp);
    sdt_make_inputs(ref, in, "z0", "vae.z0", NULL, NULL, NULL, NULL, NULL);
    expect_fail(out, "/nonexistent/noise.safetensors", NULL, "trace sd-noise --t 50 --weights %s --inputs %s --out %s",
                single, in, out);
    unsetenv("GEOCORR_SD_NOISE");
    gc_weights_free(ref);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_micro_ldm_single_file), cmocka_unit_test(test_micro_ldm_ckpt),
        cmocka_unit_test(test_micro_diffusers_folder),
        cmocka_unit_test(test_micro_diffusers_legacy_vae_names),
        cmocka_unit_test(test_micro_diffusers_fp16),  cmocka_unit_test(test_tiny_ldm),
        cmocka_unit_test(test_tiny_diffusers_naming), cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
