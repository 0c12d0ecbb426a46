/* Shared test helpers: fixture paths, tensor comparison with stated tolerances, temp folders and
 * running the geocorr binary. Include after <cmocka.h>'s prerequisites. */
#ifndef GC_TESTUTIL_H
#define GC_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "io/safetensors.h"
#include "io/weights.h"

/* dir/name in one of 16 rotating static buffers (a test may hold 16 such paths at once). */
const char *gct_path(const char *dir, const char *name);
/* Parses a JSON file (fails the test if it cannot be read or parsed); free with cJSON_Delete. */
struct cJSON *gct_load_json(const char *file);

/* Folder of the reference fixtures: $GEOCORR_FIXTURES, else the build's default (../shared/fixtures). */
const char *gct_fixtures(void);
/* Path of a fixture file (static buffer ring; valid for a while). Fails the test if absent. */
const char *gct_fixture(const char *name);
/* A fresh empty temporary folder for this test (under $GEOCORR_TMP or /tmp). */
const char *gct_tmpdir(const char *tag);
/* Open a safetensors fixture; fails the test on error. */
gc_weights *gct_open(const char *path);

/* max|got - want| / max|want| over n elements; `want` may be F32 or F64. Prints the value with
 * `what` so test logs record what was observed. Fails the test if the element counts differ. */
double gct_rel_err(const char *what, const float *got, int64_t n, const gc_tensor_ref *want);
/* Compare got against fixture tensor `key` of `ref` (must exist) and assert rel err <= tol. */
void gct_expect_close(gc_weights *ref, const char *key, const float *got, int64_t n, double tol);
/* Compare float64 checksums `<key>.sum/.sumsq/.sumabs` against the same sums of got:
 * |sum-ref| <= tol * sumabs_ref, |sumsq-ref| <= tol*sumsq_ref, |sumabs-ref| <= tol*sumabs_ref. */
void gct_expect_checksums(gc_weights *ref, const char *key, const float *got, int64_t n, double tol);

/* Run the geocorr binary with a shell-quoted argument string; returns its exit status (or -1 when
 * killed by a signal). stderr goes to `<tmpdir>/stderr.txt` whose contents gct_last_stderr returns. */
int gct_geocorr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *gct_last_stderr(void);

/* Write bytes to a file (test inputs). */
void gct_write_file(const char *path, const void *buf, size_t len);

/* A 960 x 960 mask file (fails unless a 0/255 gray PNG of that size) as 0/1 [960 * 960]; caller frees. */
uint8_t *gct_read_canvas_mask(const char *path);
/* The reference's instance mask of an image from its box, made the way a user would: `geocorr mask --sam
 * SAM` on the image's 960 canvas (written into tmpdir) with box (x1, y1, x2, y2 in the image's pixels)
 * mapped into the canvas as preprocess_mask_sam.py maps it, by a formula written out in the test helper
 * (cbox[4] receives it). Returns the mask as 0/1 [960 * 960]; caller frees. */
uint8_t *gct_sam_canvas_mask(const char *sam, const char *image, const float box[4], const char *tmpdir, float cbox[4]);

#endif
