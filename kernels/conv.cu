// im2col and its adjoint col2im for 2-d convolution, NCHW, with stride, zero padding and dilation.
//
//   cols[n, c, i, j, p, q] = xpad[n, c, p*sh + i*dh, q*sw + j*dw]      cols: (N, C, kh, kw, OH, OW)
//   i.e. x[n, c, h, w] with h = p*sh + i*dh - ph, w = q*sw + j*dw - pw, and 0 outside x.
//   OH = (H + 2 ph - dh (kh - 1) - 1) / sh + 1, and likewise OW.
// A convolution is then one matrix product: weight (O, C*kh*kw) @ cols (C*kh*kw, OH*OW) per image.
//
// im2col: one thread per element of cols (grid-stride); consecutive threads write consecutive q, so
// the writes are coalesced (and the reads too when sw = 1).
// col2im: one thread per element of x, *gathering* the window entries that read it:
//   gx[n, c, h, w] = sum over (i, j) with p = (h + ph - i*dh) / sh and q = (w + pw - j*dw) / sw whole
//                    numbers in range, of cols[n, c, i, j, p, q]
// Each output element has one writer: no atomics, and the sum order is fixed (deterministic).
#include "common.cuh"

struct Geometry {
    int N, C, H, W, kh, kw, OH, OW, sh, sw, ph, pw, dh, dw;
};

template <typename T> __device__ void im2col(const T* __restrict__ x, T* __restrict__ cols, Geometry g) {
    const long long total = static_cast<long long>(g.N) * g.C * g.kh * g.kw * g.OH * g.OW;
    for (long long k = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; k < total;
         k += static_cast<long long>(gridDim.x) * blockDim.x) {
        long long r = k;
        const int q = static_cast<int>(r % g.OW); r /= g.OW;
        const int p = static_cast<int>(r % g.OH); r /= g.OH;
        const int j = static_cast<int>(r % g.kw); r /= g.kw;
        const int i = static_cast<int>(r % g.kh); r /= g.kh;  // r is now n * C + c
        const int h = p * g.sh + i * g.dh - g.ph;
        const int w = q * g.sw + j * g.dw - g.pw;
        cols[k] = (h >= 0 && h < g.H && w >= 0 && w < g.W) ? x[(r * g.H + h) * g.W + w] : T(0);
    }
}

template <typename T> __device__ void col2im(const T* __restrict__ cols, T* __restrict__ x, Geometry g) {
    const long long total = static_cast<long long>(g.N) * g.C * g.H * g.W;
    for (long long k = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; k < total;
         k += static_cast<long long>(gridDim.x) * blockDim.x) {
        const int w = static_cast<int>(k % g.W);
        const int h = static_cast<int>((k / g.W) % g.H);
        const long long plane = k / (static_cast<long long>(g.W) * g.H);  // n * C + c
        T acc = 0;
        for (int i = 0; i < g.kh; ++i) {
            const int ph = h + g.ph - i * g.dh;  // = p * sh for the output row p that reads (h, w) through i
            if (ph < 0 || ph % g.sh) continue;
            const int p = ph / g.sh;
            if (p >= g.OH) continue;
            for (int j = 0; j < g.kw; ++j) {
                const int pw = w + g.pw - j * g.dw;
                if (pw < 0 || pw % g.sw) continue;
                const int q = pw / g.sw;
                if (q >= g.OW) continue;
                acc += cols[(((plane * g.kh + i) * g.kw + j) * g.OH + p) * g.OW + q];
            }
        }
        x[k] = acc;
    }
}

// The geometry travels as fourteen ints (plain scalars are what every kernel launcher can pass).
#define GEOMETRY_ARGS int N, int C, int H, int W, int kh, int kw, int OH, int OW, int sh, int sw, int ph, int pw, int dh, int dw
#define GEOMETRY Geometry{N, C, H, W, kh, kw, OH, OW, sh, sw, ph, pw, dh, dw}

extern "C" {
__global__ void im2col_f32(const float* x, float* cols, GEOMETRY_ARGS) { im2col(x, cols, GEOMETRY); }
__global__ void im2col_f64(const double* x, double* cols, GEOMETRY_ARGS) { im2col(x, cols, GEOMETRY); }
__global__ void col2im_f32(const float* cols, float* x, GEOMETRY_ARGS) { col2im(cols, x, GEOMETRY); }
__global__ void col2im_f64(const double* cols, double* x, GEOMETRY_ARGS) { col2im(cols, x, GEOMETRY); }
}
