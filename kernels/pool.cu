// 2-d max pooling of C-contiguous x (N, C, H, W) into y (N, C, OH, OW), with a kernel (kh, kw),
// a stride (sh, sw) and padding (ph, pw) that never wins the max (it counts as -inf), like PyTorch:
//
//   y[n, c, oh, ow] = max over (a, b) in the window of x[n, c, oh*sh - ph + a, ow*sw - pw + b]
//   argmax[n, c, oh, ow] = the flat index (h * W + w) in the (H, W) plane of the maximum (first one on ties)
//   gx[n, c, h, w] = sum of gy[n, c, oh, ow] over the outputs whose argmax is (h, w)
//
// One thread per output element (grid-stride loop) in both directions. Windows can overlap (stride <
// kernel), so two outputs may send gradient to the same input: the backward adds with atomicAdd
// into a zeroed gx (float64 atomicAdd needs sm_60 or newer).
#include "common.cuh"

struct Pool2d {
    int N, C, H, W, OH, OW, kh, kw, sh, sw, ph, pw;
};

template <typename T>
__device__ void maxpool2d_forward(const T* __restrict__ x, T* __restrict__ y, long long* __restrict__ argmax, Pool2d p) {
    const long long total = static_cast<long long>(p.N) * p.C * p.OH * p.OW;
    for (long long k = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; k < total;
         k += static_cast<long long>(gridDim.x) * blockDim.x) {
        const int ow = static_cast<int>(k % p.OW);
        const int oh = static_cast<int>((k / p.OW) % p.OH);
        const long long plane = k / (static_cast<long long>(p.OW) * p.OH);  // n * C + c
        const T* xp = x + plane * p.H * p.W;
        T best = mdl::neg_inf<T>();
        long long best_at = -1;
        for (int a = 0; a < p.kh; ++a) {
            const int h = oh * p.sh - p.ph + a;
            if (h < 0 || h >= p.H) continue;
            for (int b = 0; b < p.kw; ++b) {
                const int w = ow * p.sw - p.pw + b;
                if (w < 0 || w >= p.W) continue;
                const T v = xp[h * p.W + w];
                if (v > best || best_at < 0) {  // NaN-free inputs: the first maximum wins ties
                    best = v;
                    best_at = h * p.W + w;
                }
            }
        }
        y[k] = best;
        argmax[k] = best_at;
    }
}

template <typename T>
__device__ void maxpool2d_backward(const T* __restrict__ gy, const long long* __restrict__ argmax, T* __restrict__ gx,
                                   Pool2d p) {
    const long long total = static_cast<long long>(p.N) * p.C * p.OH * p.OW;
    for (long long k = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; k < total;
         k += static_cast<long long>(gridDim.x) * blockDim.x) {
        const long long plane = k / (static_cast<long long>(p.OW) * p.OH);
        if (argmax[k] >= 0) atomicAdd(gx + plane * p.H * p.W + argmax[k], gy[k]);
    }
}

// The geometry travels as twelve ints (plain scalars are what every kernel launcher can pass).
#define POOL_ARGS int N, int C, int H, int W, int OH, int OW, int kh, int kw, int sh, int sw, int ph, int pw
#define POOL Pool2d{N, C, H, W, OH, OW, kh, kw, sh, sw, ph, pw}

extern "C" {
__global__ void maxpool2d_forward_f32(const float* x, float* y, long long* argmax, POOL_ARGS) { maxpool2d_forward(x, y, argmax, POOL); }
__global__ void maxpool2d_forward_f64(const double* x, double* y, long long* argmax, POOL_ARGS) { maxpool2d_forward(x, y, argmax, POOL); }
__global__ void maxpool2d_backward_f32(const float* gy, const long long* argmax, float* gx, POOL_ARGS) { maxpool2d_backward(gy, argmax, gx, POOL); }
__global__ void maxpool2d_backward_f64(const double* gy, const long long* argmax, double* gx, POOL_ARGS) { maxpool2d_backward(gy, argmax, gx, POOL); }
}
