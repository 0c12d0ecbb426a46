/* `geocorr mask --sam W --image IMG --box x1,y1,x2,y2 --out MASK.png` (TRACE.md §10): an instance
 * mask of one image with Segment Anything, as an 8-bit gray PNG (255 object, 0 background) of the
 * image's size. Point prompts (--points, --labels) and --multimask (the best of the three masks by
 * predicted IoU) as SamPredictor offers them. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "io/image.h"
#include "cli/match_output.h" /* gc_points_parse, gc_box_parse */

static const char k_usage[] =
    "usage: geocorr mask --sam W --image IMG (--box x1,y1,x2,y2 | --points \"x,y;x,y\" --labels 1,0) --out MASK.png\n"
    "                    [--config config.json] [--multimask] [--threads N]\n"
    "  W: a folder with config.json + sam_vit_{b,l,h}_*.pth (or model.safetensors), or the weights file.\n"
    "  The box and points are in IMG's pixels; labels are 1 (object) or 0 (background); a box and points\n"
    "  may be combined. --multimask predicts SAM's three masks, prints their scores and writes the best.\n"
    "  MASK.png: 8-bit grayscale, IMG's size, 255 inside the object, 0 outside.\n";

/* "1,0,1" -> labels[n] (exactly n values). */
static gc_status parse_labels(const char *text, int32_t *labels, int64_t n) {
    const char *p = text;
    for (int64_t i = 0; i < n; i++) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || (*end != (i < n - 1 ? ',' : '\0')))
            return gc_errorf(GC_ERR_ARG, "mask: --labels '%s': expected %lld comma-separated labels (1 object, 0 "
                             "background), one per point", text, (long long)n);
        if (v < INT32_MIN || v > INT32_MAX)
            return gc_errorf(GC_ERR_ARG, "mask: --labels '%s': label %ld is not 1 (object) or 0 (background)", text, v);
        labels[i] = (int32_t)v; /* anything but 0/1 is refused by gc_sam_predict, naming the point */
        p = end + 1;
    }
    return GC_OK;
}

static gc_status run(gc_args *a) {
    if (a->argc >= 1 && !strcmp(a->argv[0], "--help")) {
        fputs(k_usage, stdout);
        return GC_OK;
    }
    const char *sam_path, *image, *out;
    GC_TRY(gc_arg_req(a, "--sam", &sam_path));
    GC_TRY(gc_arg_req(a, "--image", &image));
    GC_TRY(gc_arg_req(a, "--out", &out));
    const char *config = gc_arg_str(a, "--config", NULL), *box_s = gc_arg_str(a, "--box", NULL);
    const char *pts_s = gc_arg_str(a, "--points", NULL), *lab_s = gc_arg_str(a, "--labels", NULL);
    const bool multimask = gc_arg_flag(a, "--multimask");
    GC_TRY(gc_args_finish(a));
    if (!box_s && !pts_s) return gc_errorf(GC_ERR_ARG, "mask: give a prompt: --box x1,y1,x2,y2 and/or --points with --labels");
    if (!pts_s != !lab_s) return gc_errorf(GC_ERR_ARG, "mask: --points and --labels go together (one label per point)");
    float box[4];
    if (box_s) GC_TRY(gc_box_parse(box_s, "mask: --box", box));
    float *pts = NULL;
    int32_t *labels = NULL;
    int64_t n = 0;
    if (pts_s) GC_TRY(gc_points_parse(pts_s, &pts, &n));
    gc_status s = GC_OK;
    if (n && !(labels = malloc((size_t)n * sizeof(int32_t)))) s = gc_errorf(GC_ERR_NOMEM, "out of memory");
    if (s == GC_OK && n) s = parse_labels(lab_s, labels, n);
    gc_image img = {0};
    gc_sam *m = NULL;
    gc_sam_image *im = NULL;
    gc_sam_masks r = {0};
    if (s == GC_OK) s = gc_image_load(image, &img);
    if (s == GC_OK) s = gc_sam_load(sam_path, config, &m);
    if (s == GC_OK) s = gc_sam_set_image(m, &img, &im);
    gc_sam_prompt p = {box_s ? box : NULL, pts, labels, n, multimask};
    if (s == GC_OK) s = gc_sam_predict(m, im, &p, &r);
    if (s == GC_OK) {
        const size_t hw = (size_t)r.w * (size_t)r.h;
        uint8_t *png = malloc(hw);
        if (!png) s = gc_errorf(GC_ERR_NOMEM, "out of memory");
        for (size_t i = 0; png && i < hw; i++) png[i] = r.masks[(size_t)r.best * hw + i] ? 255 : 0;
        if (s == GC_OK) s = gc_png_save_gray(out, png, r.w, r.h);
        free(png);
    }
    if (s == GC_OK) {
        printf("%s: %dx%d mask, predicted IoU", out, (int)r.w, (int)r.h);
        for (int k = 0; k < r.k; k++) printf(" %s%.4f", k == r.best && r.k > 1 ? "*" : "", r.scores[k]);
        printf(r.k > 1 ? " (* = written)\n" : "\n");
    }
    gc_sam_masks_free(&r);
    gc_sam_image_free(im);
    gc_sam_free(m);
    gc_image_free(&img);
    free(pts);
    free(labels);
    return s;
}

const gc_command gc_cmd_mask = {"mask", "instance mask of an image from a box or points (Segment Anything)", run};
