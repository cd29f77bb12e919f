// OpenBLAS's CBLAS interface plus its own queries (thread count, build configuration).
#include <cblas.h>

// One Adam step over n weights. It lives here because Swift cannot emit a vector square root
// (its sqrt keeps errno semantics and falls back to sqrtf per lane), and this loop, with
// restrict pointers and an errno-free sqrt, is what the optimizer vectorizes.
static inline void cairn_adam_step(float *restrict w, const float *restrict g, float *restrict m, float *restrict v,
                                   long n, float beta1, float beta2, float step, float epsilon) {
    const float c1 = 1.0f - beta1, c2 = 1.0f - beta2;
    for (long i = 0; i < n; i++) {
        const float gi = g[i];
        const float mi = beta1 * m[i] + c1 * gi;
        const float vi = beta2 * v[i] + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] -= step * mi / (__builtin_elementwise_sqrt(vi) + epsilon);
    }
}
