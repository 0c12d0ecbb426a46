/* match_pair: the paper's recipe in memory, through geocorr.h alone. Loads the models, computes the
 * features of SRC, of SRC mirrored and of TGT, builds descriptors (zero-shot, or supervised with
 * --postproc) and prints the matches of the given source points (pixels) in TGT as JSON.
 *   match_pair (--models DIR | --dinov2 P --sd P --sd-config F --clip-vision P --text-encoder P --captioner P)
 *              [--dino-only] [--postproc PP] [--category NAME] SRC TGT "x1,y1;x2,y2;..." */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <geocorr.h>

#define MAXP 256
#define TRY(x) do { gc_status s_ = (x); if (s_ != GC_OK) { fprintf(stderr, "match_pair: %s\n", gc_last_error()); return 1; } } while (0)

int main(int argc, char **argv) {
    gc_features_config cfg = {0};
    const char *opt[][2] = {{"--models", NULL}, {"--dinov2", NULL}, {"--sd", NULL}, {"--sd-config", NULL}, {"--clip-vision", NULL},
                            {"--text-encoder", NULL}, {"--captioner", NULL}, {"--postproc", NULL}, {"--category", NULL}};
    const char *pos[3];
    int np = 0;
    for (int i = 1; i < argc; i++) {
        size_t k = 0;
        while (k < sizeof opt / sizeof opt[0] && strcmp(argv[i], opt[k][0])) k++;
        if (!strcmp(argv[i], "--dino-only")) cfg.dino_only = 1;
        else if (k < sizeof opt / sizeof opt[0] && i + 1 < argc) opt[k][1] = argv[++i];
        else if (np < 3) pos[np++] = argv[i];
        else return fprintf(stderr, "match_pair: unexpected '%s'\n", argv[i]), 2;
    }
    if (np != 3) return fprintf(stderr, "usage: match_pair (--models DIR | model flags) [--dino-only] [--postproc PP] [--category C] SRC TGT \"x,y;...\"\n"), 2;
    cfg.models_dir = opt[0][1], cfg.dinov2 = opt[1][1], cfg.sd = opt[2][1], cfg.sd_config = opt[3][1];
    cfg.clip_vision = opt[4][1], cfg.text_encoder = opt[5][1], cfg.captioner = opt[6][1];
    float pts[2 * MAXP], out[2 * MAXP], score[MAXP];
    int from_flip[MAXP], K = 0, n;
    for (const char *p = pos[2]; K < MAXP && sscanf(p, "%f,%f%n", &pts[2 * K], &pts[2 * K + 1], &n) == 2; K++)
        p += n + (p[n] == ';');
    gc_image src, tgt;
    TRY(gc_image_load(pos[0], &src));
    TRY(gc_image_load(pos[1], &tgt));
    gc_features *f;
    gc_postproc *pp = NULL;
    TRY(gc_features_load(&cfg, &f));
    if (opt[7][1]) TRY(gc_postproc_load(opt[7][1], 0, &pp));
    gc_descriptors *d[3]; /* source, mirrored source, target */
    const gc_image *img[3] = {&src, &src, &tgt};
    for (int i = 0; i < 3; i++) {
        gc_feature_maps maps;
        TRY(gc_features_compute(f, img[i], i == 1, &maps));
        gc_status s = gc_descriptors_from_maps(&maps, pp, &d[i]);
        gc_feature_maps_free(&maps);
        TRY(s);
    }
    gc_align_params p = {.category = opt[8][1]};
    gc_match_params_default(&p.match);
    if (pp) p.match.window = 7; /* the supervised recipe's window */
    gc_align_info info;
    TRY(gc_match_pixels(d[0], d[1], d[2], src.w, src.h, tgt.w, tgt.h, pts, NULL, K, &p, NULL, NULL, out, score, from_flip, &info));
    printf("{\"recipe\": \"%s\", \"flip_chosen\": %s, \"points\": [", gc_descriptors_recipe(d[0]), info.flip_chosen ? "true" : "false");
    for (int k = 0; k < K; k++)
        printf("%s\n  {\"src\": [%.9g, %.9g], \"match\": [%.9g, %.9g], \"score\": %.9g, \"pose\": \"%s\"}", k ? "," : "", pts[2 * k],
               pts[2 * k + 1], out[2 * k], out[2 * k + 1], score[k], from_flip[k] ? "flipped" : "original");
    printf("\n]}\n");
    for (int i = 0; i < 3; i++) gc_descriptors_free(d[i]);
    gc_postproc_free(pp);
    gc_features_free(f);
    gc_image_free(&src);
    gc_image_free(&tgt);
    return 0;
}
