/* FreeU's skip-connection Fourier filter (GeoAware-SC / ODISE `Fourier_filter`, threshold 1): per
 * channel, FFT over (H, W), fftshift, scale the 2x2 centre bins [H/2-1, H/2] x [W/2-1, W/2] (the
 * frequencies {0, -1} on each axis) by s, inverse FFT, real part.
 * Computed in closed form, O(HW) per channel: only 4 bins change, so
 *   y = x + (s - 1)/(HW) * Re sum_{(u,v) in U x V} X(u,v) e^{2 pi i (u m / H + v n / W)}.
 * When H == 1 (or W == 1) the centre slice [-1:1] of length-1 axis holds one bin, so U = {0} (V = {0}),
 * as the FFT definition gives (the 4-term sum would count that bin twice). */
#ifndef GC_FOURIER_H
#define GC_FOURIER_H

#include <stdint.h>

#include "base/base.h"

/* In place on x[C, H, W]; sums in double. Fails only on allocation (GC_ERR_NOMEM). */
gc_status gc_fourier_lowfreq_scale(float *x, int64_t C, int64_t H, int64_t W, float s);

#endif
