/* Joint PCA of two images' feature maps (GeoAware-SC's co_pca, utils_correspondence.py): the tokens of
 * both images are stacked, centred on their joint mean and projected on the top-q principal
 * directions. Exact (symmetric eigen-solver in float64 on the smaller of the Gram and covariance
 * matrices), where the reference calls the randomised torch.pca_lowrank; the distances built on the
 * projections depend only on the subspace, not on the basis (docs/analysis.md). */
#ifndef GC_CO_PCA_H
#define GC_CO_PCA_H

#include "base/base.h"

/* Components whose singular value is at most this fraction of the largest are numerically null: the
 * float64 Gram / covariance matrix resolves sigma only to ~1e-8 of the largest, and in the reference (float32)
 * such a component is rounding noise that moves no distance. */
#define GC_CO_PCA_NULL 1e-6

/* a, b: maps [C, n] (channel-first, n pixels each, row-major pixels). q must be in 1..min(2n, C).
 * sv (may be NULL): [q] singular values of the centred [2n, C] token matrix, decreasing. ya, yb: [q, n]
 * projections on the first *rank <= q components (channel j = component j), those above the null
 * threshold: an exact PCA gives exact zeros in a null direction (a rank below q, e.g. q = 2n), which
 * the IMD would take for masked-out entries, where the reference has rounding noise. Each direction is
 * oriented so that its largest-magnitude entry (lowest index on ties) is positive, which makes the
 * output deterministic. */
gc_status gc_co_pca(const float *a, const float *b, int64_t C, int64_t n, int64_t q, float *ya, float *yb, double *sv,
                    int64_t *rank);

#endif
