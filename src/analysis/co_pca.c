#include "analysis/co_pca.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* LAPACK's symmetric eigen-solver (MRRR, a chosen range of eigenpairs), from the system's liblapack
 * (netlib or OpenBLAS, whichever Debian's alternatives select). No LAPACKE header is needed: the
 * Fortran entry point is declared here with gfortran's hidden lengths of the three character arguments. */
extern void dsyevr_(const char *jobz, const char *range, const char *uplo, const int *n, double *a, const int *lda,
                    const double *vl, const double *vu, const int *il, const int *iu, const double *abstol, int *m,
                    double *w, double *z, const int *ldz, int *isuppz, double *work, const int *lwork, int *iwork,
                    const int *liwork, int *info, size_t l_jobz, size_t l_range, size_t l_uplo);

/* The q largest eigenpairs of the symmetric m x m matrix S (upper triangle in row-major order; S is
 * destroyed): vals[q] in decreasing order, vecs[q][m] (vector j contiguous). */
static gc_status top_eigen(double *S, int m, int q, double *vals, double *vecs) {
    int il = m - q + 1, iu = m, found = 0, info = 0, lwork = -1, liwork = -1, iwq = 0;
    double vl = 0, vu = 0, abstol = 0, wq = 0;
    double *w = gc_alloc_array((size_t)m, sizeof(double)), *z = gc_alloc_array((size_t)m * (size_t)q, sizeof(double));
    int *isuppz = gc_alloc_array(2 * (size_t)q, sizeof(int));
    double *work = NULL;
    int *iwork = NULL;
    gc_status st = w && z && isuppz ? GC_OK : GC_ERR_NOMEM;
    /* row-major upper = column-major lower: LAPACK sees uplo 'L' */
    if (st == GC_OK) {
        dsyevr_("V", "I", "L", &m, S, &m, &vl, &vu, &il, &iu, &abstol, &found, w, z, &m, isuppz, &wq, &lwork, &iwq,
                &liwork, &info, 1, 1, 1);
        lwork = (int)wq, liwork = iwq;
        work = gc_alloc_array((size_t)lwork + 1, sizeof(double));
        iwork = gc_alloc_array((size_t)liwork + 1, sizeof(int));
        if (info || !work || !iwork) st = info ? gc_errorf(GC_ERR_INTERNAL, "co-PCA: LAPACK dsyevr workspace query failed (info %d)", info) : GC_ERR_NOMEM;
    }
    if (st == GC_OK) {
        dsyevr_("V", "I", "L", &m, S, &m, &vl, &vu, &il, &iu, &abstol, &found, w, z, &m, isuppz, work, &lwork, iwork,
                &liwork, &info, 1, 1, 1);
        if (info || found != q)
            st = gc_errorf(GC_ERR_INTERNAL, "co-PCA: LAPACK dsyevr failed on a %dx%d matrix (info %d, %d of %d eigenpairs)",
                           m, m, info, found, q);
    }
    /* LAPACK returns them in increasing order */
    for (int j = 0; j < q && st == GC_OK; j++) {
        vals[j] = w[q - 1 - j];
        memcpy(vecs + (size_t)j * m, z + (size_t)(q - 1 - j) * m, (size_t)m * sizeof(double));
    }
    gc_free(w);
    gc_free(z);
    gc_free(isuppz);
    gc_free(work);
    gc_free(iwork);
    return st;
}

/* -1 when the largest-magnitude entry of v (lowest index on ties) is negative, else 1. */
static double orientation(const double *v, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (fabs(v[i]) > fabs(v[best])) best = i;
    return v[best] < 0 ? -1.0 : 1.0;
}

gc_status gc_co_pca(const float *a, const float *b, int64_t C, int64_t n, int64_t q, float *ya, float *yb, double *sv,
                    int64_t *rank) {
    const int64_t N = 2 * n, m = GC_MIN(C, N);
    if (C < 1 || n < 1 || q < 1 || q > m || m > 46340) /* m*m must fit LAPACK's int */
        return gc_errorf(GC_ERR_ARG, "co-PCA: %lld components of %lld tokens x %lld channels", (long long)q,
                         (long long)N, (long long)C);
    const bool gram = C > N; /* eigen-decompose the smaller of Xc Xc^T (N x N) and Xc^T Xc (C x C) */
    double *xc = gc_alloc_array((size_t)(N * C), sizeof(double));
    double *mu = gc_calloc((size_t)C, sizeof(double));
    double *S = gc_alloc_array((size_t)(m * m), sizeof(double));
    double *lam = gc_alloc_array((size_t)q, sizeof(double));
    double *vec = gc_alloc_array((size_t)(q * m), sizeof(double));
    double *aux = gc_alloc_array((size_t)(q * (gram ? C : N)), sizeof(double)); /* gram: Xc^T u; else Y = Xc V */
    gc_status st = xc && mu && S && lam && vec && aux ? GC_OK : GC_ERR_NOMEM;
    if (st != GC_OK) goto done;
    /* X: one row per pixel, the first image's rows first; centred on the joint column mean */
    for (int64_t c = 0; c < C; c++) {
        double s = 0;
        for (int64_t p = 0; p < n; p++) s += (double)a[c * n + p] + (double)b[c * n + p];
        mu[c] = s / (double)N;
        for (int64_t p = 0; p < n; p++) {
            xc[p * C + c] = (double)a[c * n + p] - mu[c];
            xc[(n + p) * C + c] = (double)b[c * n + p] - mu[c];
        }
    }
    if (gram)
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)N, (int)C, 1.0, xc, (int)C, 0.0, S, (int)N);
    else
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)C, (int)N, 1.0, xc, (int)C, 0.0, S, (int)C);
    if ((st = top_eigen(S, (int)m, (int)q, lam, vec)) != GC_OK) goto done;
    int64_t r = 0; /* components above the null threshold */
    while (r < q && lam[r] > 0 && sqrt(lam[r]) > GC_CO_PCA_NULL * sqrt(lam[0])) r++;
    *rank = r;
    if (gram) {
        /* vec = left singular vectors u_j; the direction v_j ~ Xc^T u_j decides the orientation; Y = u_j sigma_j */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)q, (int)C, (int)N, 1.0, vec, (int)N, xc, (int)C, 0.0,
                    aux, (int)C);
        for (int64_t j = 0; j < r; j++) {
            double sg = sqrt(lam[j]), o = orientation(aux + j * C, C) * sg;
            for (int64_t p = 0; p < n; p++) {
                ya[j * n + p] = (float)(vec[j * N + p] * o);
                yb[j * n + p] = (float)(vec[j * N + n + p] * o);
            }
        }
    } else {
        for (int64_t j = 0; j < r; j++)
            if (orientation(vec + j * C, C) < 0)
                for (int64_t c = 0; c < C; c++) vec[j * C + c] = -vec[j * C + c];
        /* Y[N, q] = Xc V (the first r columns used) */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, (int)q, (int)C, 1.0, xc, (int)C, vec, (int)C, 0.0,
                    aux, (int)q);
        for (int64_t j = 0; j < r; j++)
            for (int64_t p = 0; p < n; p++) {
                ya[j * n + p] = (float)aux[p * q + j];
                yb[j * n + p] = (float)aux[(n + p) * q + j];
            }
    }
    if (sv)
        for (int64_t j = 0; j < q; j++) sv[j] = sqrt(GC_MAX(lam[j], 0.0));
done:
    gc_free(xc);
    gc_free(mu);
    gc_free(S);
    gc_free(lam);
    gc_free(vec);
    gc_free(aux);
    return st;
}
