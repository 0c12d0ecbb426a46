/* `geocorr trace pipeline`: the whole feature pipeline on one image with every stored intermediate
 * of e2e_tiny.io (TRACE.md §7): U, per crop CLIP / captioner / VAE / noise / UNet taps, stitched
 * s5 s4 s3, DINOv2, fused map and zero-shot descriptor. */
#include <string.h>

#include "cli/cli.h"
#include "match/descriptor.h"
#include "pipeline/features.h"

/* Canvas `name` U8 [S, S, 3] of the inputs. */
static gc_status canvas_input(gc_weights *in, const char *label, const char *name, int64_t S, const uint8_t **out) {
    const gc_tensor_ref *r = gc_weights_find(in, name);
    if (!r || r->dtype != GC_DT_U8 || r->ndim != 3 || r->shape[0] != S || r->shape[1] != S || r->shape[2] != 3)
        return gc_errorf(GC_ERR_SHAPE, "%s: needs '%s' U8 [%lld, %lld, 3]", label, name, (long long)S, (long long)S);
    *out = r->data;
    return GC_OK;
}

/* fused [1, C, G, G] (channel-first) and desc [G*G, C]: the zero-shot descriptor of the stitched maps and DINO. */
static gc_status fuse(const gc_feature_maps *m, gc_st_writer *wr) {
    gc_map_view maps[4] = {{m->s3, m->c3, m->g3, m->g3}, {m->s4, m->c4, m->g4, m->g4},
                           {m->s5, m->c5, m->g5, m->g5}, {m->dino, m->cd, m->gd, m->gd}};
    int64_t G = m->gd, C = m->c3 + m->c4 + m->c5 + m->cd;
    float *chw = gc_alloc_array((size_t)(G * G * C), sizeof(float));
    gc_descriptors d = {0};
    gc_status s = chw ? gc_fuse_maps(chw, maps, 4, G, false) : GC_ERR_NOMEM;
    if (s == GC_OK) s = GC_ST_ADD_F32(wr, "fused", chw, 1, C, G, G);
    if (s == GC_OK) s = gc_desc_from_views(maps, NULL, "trace pipeline", &d, NULL);
    if (s == GC_OK) s = GC_ST_ADD_F32(wr, "desc", d.rows, d.n, d.c);
    gc_desc_clear(&d);
    gc_free(chw);
    return s;
}

static gc_status run(gc_args *a) {
    gc_features_config cfg;
    GC_TRY(gc_cli_features_config(a, &cfg));
    const char *in_path = gc_arg_str(a, "--inputs", NULL), *img_path = gc_arg_str(a, "--image", NULL), *out_path;
    bool flip = gc_arg_flag(a, "--flip");
    GC_TRY(gc_arg_req(a, "--out", &out_path));
    GC_TRY(gc_args_finish(a));
    if (!in_path == !img_path) return gc_errorf(GC_ERR_ARG, "trace pipeline: give exactly one of --inputs IN and --image IMG");
    gc_weights *in = NULL;
    gc_image img = {0}, c960 = {0}, c840 = {0};
    const uint8_t *p960 = NULL, *p840 = NULL;
    gc_status s;
    if (in_path) {
        /* The given canvases are the run's canvases (for a flipped run: the flipped ones). */
        s = gc_weights_open(in_path, &in);
        if (s == GC_OK) s = canvas_input(in, in_path, "canvas960", GC_CANVAS_SD, &p960);
        if (s == GC_OK) s = canvas_input(in, in_path, "canvas840", GC_CANVAS_DINO, &p840);
    } else {
        s = gc_image_load(img_path, &img);
        if (s == GC_OK) s = gc_image_to_canvas(&img, GC_CANVAS_SD, flip, &c960, NULL);
        if (s == GC_OK) s = gc_image_to_canvas(&img, GC_CANVAS_DINO, flip, &c840, NULL);
        p960 = c960.rgb, p840 = c840.rgb;
    }
    gc_features *f = NULL;
    gc_feature_maps m = {0};
    gc_st_writer *wr = gc_st_writer_new();
    if (s == GC_OK) s = wr ? gc_features_load(&cfg, &f) : GC_ERR_NOMEM;
    if (s == GC_OK && f->dino_only) s = gc_errorf(GC_ERR_ARG, "trace pipeline needs the SD branch (not --dino-only)");
    gc_tap tap = {.wr = wr};
    if (s == GC_OK) s = gc_tap_raw(&tap, "canvas960", GC_DT_U8, p960, 3, (const int64_t[]){GC_CANVAS_SD, GC_CANVAS_SD, 3});
    if (s == GC_OK) s = gc_tap_raw(&tap, "canvas840", GC_DT_U8, p840, 3, (const int64_t[]){GC_CANVAS_DINO, GC_CANVAS_DINO, 3});
    if (s == GC_OK) s = gc_features_run(f, p960, p840, &m, &tap);
    if (s == GC_OK) s = fuse(&m, wr);
    if (s == GC_OK) s = gc_st_writer_save(wr, out_path);
    gc_st_writer_free(wr);
    gc_feature_maps_free(&m);
    gc_features_free(f);
    gc_image_free(&img);
    gc_image_free(&c960);
    gc_image_free(&c840);
    gc_weights_free(in);
    return s;
}

const gc_command gc_trace_pipeline = {"pipeline", "the whole feature pipeline with every intermediate (e2e)", run};
