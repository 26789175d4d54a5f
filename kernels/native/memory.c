/* Native reference kernels for the Numba cross-check: the STREAM triad
 * (OpenMP, static schedule like Numba's prange) and the dependent-load
 * pointer chase over int64 slot indices, unrolled as kernels/latency.py is.
 * Timing stays in the caller so both sides are timed the same way. */
#include <omp.h>
#include <stdint.h>

void fb_triad(double *restrict a, const double *restrict b,
              const double *restrict c, double s, int64_t n)
{
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++)
        a[i] = b[i] + s * c[i];
}

int64_t fb_chase(const int64_t *chain, int64_t start, int64_t steps)
{
    int64_t p = start;
    for (int64_t k = 0; k < steps / 8; k++) {
        p = chain[p]; p = chain[p]; p = chain[p]; p = chain[p];
        p = chain[p]; p = chain[p]; p = chain[p]; p = chain[p];
    }
    return p;
}

int fb_max_threads(void)
{
    return omp_get_max_threads();
}
