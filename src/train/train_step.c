#include "train/train_step.h"

#include <string.h>

#include "train/postproc_grad.h"

void gc_grid_linspace(float *g, int64_t side) {
    const double step = 2.0 / (double)(side - 1);
    for (int64_t i = 0; i < side; i++) g[i] = (float)(-1.0 + (double)i * step);
    g[side - 1] = 1.0f; /* numpy.linspace sets the end point exactly */
}

gc_status gc_train_step(const gc_postproc *m, const float *g, const gc_loss_cfg *cfg, const gc_step_inputs *in,
                        gc_jitter_fn jitter, void *jctx, float *grad, float *grad_g, gc_pp_cache caches[4],
                        gc_pair_loss *loss) {
    memset(caches, 0, 4 * sizeof *caches);
    memset(loss, 0, sizeof *loss);
    const int64_t side = cfg->side, HW = side * side, P = m->proj;
    const int nslots = gc_loss_cfg_uses_flips(cfg) && in->perm && in->np > 0 ? 4 : 2;
    float *ddesc[4] = {0};
    gc_status s = GC_OK;
    for (int k = 0; s == GC_OK && k < nslots; k++) {
        if (!in->x[k]) {
            s = gc_errorf(GC_ERR_ARG, "training step: feature map of slot %d missing", k);
            break;
        }
        s = gc_postproc_forward_train(m, in->x[k], in->drop[k], side, side, &caches[k]);
        if (s == GC_OK) {
            ddesc[k] = gc_calloc((size_t)(HW * P), sizeof(float));
            if (!ddesc[k]) s = gc_error_context(GC_ERR_NOMEM, "descriptor gradients");
        }
    }
    gc_pp_params gp;
    gc_postproc_bind(m, grad, &gp);
    if (s == GC_OK) {
        gc_pair_inputs pi = {.P = P, .kps_src = in->kps_src, .kps_trg = in->kps_trg, .nk = in->nk,
                             .thr_src = in->thr_src, .thr_trg = in->thr_trg, .perm = in->perm,
                             .np = nslots == 4 ? in->np : 0, .logit_scale = *m->p.logit_scale, .g = g};
        for (int k = 0; k < nslots; k++) pi.desc[k] = caches[k].desc;
        s = gc_pair_loss_compute(cfg, &pi, jitter, jctx, ddesc, gp.logit_scale, grad_g, loss);
    }
    for (int k = 0; s == GC_OK && k < nslots; k++) s = gc_postproc_backward(m, &caches[k], ddesc[k], &gp);
    for (int k = 0; k < 4; k++) gc_free(ddesc[k]);
    if (s != GC_OK) {
        for (int k = 0; k < 4; k++) gc_pp_cache_free(&caches[k]);
        gc_pair_loss_free(loss);
    }
    return s;
}
