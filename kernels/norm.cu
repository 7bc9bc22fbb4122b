// Layer normalisation over the last axis of C-contiguous x (n_rows, d), with optional affine weight w
// and bias b (d,): has_w / has_b say whether they are there (otherwise any pointer, never read).
//
// Forward, per row:
//   mu = mean_j x_j,   var = mean_j (x_j - mu)^2,   rstd = 1 / sqrt(var + eps)
//   xhat_j = (x_j - mu) * rstd,   y_j = xhat_j * w_j + b_j
// Backward, with g_j = gy_j * w_j:
//   gx_j = rstd * (g_j - mean_k g_k - xhat_j * mean_k (g_k * xhat_k))
//   gw_j = sum_rows gy_j * xhat_j,   gb_j = sum_rows gy_j
//
// layer_norm_forward, layer_norm_backward_input: grid = (n_rows,), block = (threads,), a multiple of 32.
// layer_norm_backward_params: one thread per column j (grid-stride), looping down the rows: neighbouring
// threads read neighbouring columns, so the loads are coalesced.
#include "common.cuh"

template <typename T>
__device__ void layer_norm_forward(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ b,
                                   int has_w, int has_b, T* __restrict__ y, T* __restrict__ mean,
                                   T* __restrict__ rstd, int d, T eps) {
    const int i = blockIdx.x;
    const T* row = x + static_cast<size_t>(i) * d;
    T* out = y + static_cast<size_t>(i) * d;

    T s = 0;
    for (int j = threadIdx.x; j < d; j += blockDim.x) s += row[j];
    const T mu = mdl::block_reduce(s, mdl::Sum(), T(0)) / d;
    T ss = 0;  // two passes: the variance of (x - mu) does not lose digits the way E[x^2] - mu^2 does
    for (int j = threadIdx.x; j < d; j += blockDim.x) ss += (row[j] - mu) * (row[j] - mu);
    const T r = mdl::rsqrt(mdl::block_reduce(ss, mdl::Sum(), T(0)) / d + eps);

    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        T v = (row[j] - mu) * r;
        if (has_w) v *= w[j];
        if (has_b) v += b[j];
        out[j] = v;
    }
    if (threadIdx.x == 0) {
        mean[i] = mu;
        rstd[i] = r;
    }
}

template <typename T>
__device__ void layer_norm_backward_input(const T* __restrict__ gy, const T* __restrict__ x, const T* __restrict__ w,
                                          int has_w, const T* __restrict__ mean, const T* __restrict__ rstd, T* __restrict__ gx,
                                          int d) {
    const size_t offset = static_cast<size_t>(blockIdx.x) * d;
    const T mu = mean[blockIdx.x], r = rstd[blockIdx.x];
    T sum_g = 0, sum_gx = 0;
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        const T g = has_w ? gy[offset + j] * w[j] : gy[offset + j];
        sum_g += g;
        sum_gx += g * (x[offset + j] - mu) * r;
    }
    const T mean_g = mdl::block_reduce(sum_g, mdl::Sum(), T(0)) / d;
    const T mean_gx = mdl::block_reduce(sum_gx, mdl::Sum(), T(0)) / d;
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        const T g = has_w ? gy[offset + j] * w[j] : gy[offset + j];
        const T xhat = (x[offset + j] - mu) * r;
        gx[offset + j] = r * (g - mean_g - xhat * mean_gx);
    }
}

template <typename T>
__device__ void layer_norm_backward_params(const T* __restrict__ gy, const T* __restrict__ x,
                                           const T* __restrict__ mean, const T* __restrict__ rstd,
                                           T* __restrict__ gw, T* __restrict__ gb, int n_rows, int d) {
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < d; j += gridDim.x * blockDim.x) {
        T acc_w = 0, acc_b = 0;
        for (int i = 0; i < n_rows; ++i) {
            const size_t k = static_cast<size_t>(i) * d + j;
            acc_w += gy[k] * (x[k] - mean[i]) * rstd[i];
            acc_b += gy[k];
        }
        gw[j] = acc_w;
        gb[j] = acc_b;
    }
}

extern "C" {
__global__ void layer_norm_forward_f32(const float* x, const float* w, const float* b, int has_w, int has_b, float* y,
                                       float* mean, float* rstd, int d, float eps) {
    layer_norm_forward(x, w, b, has_w, has_b, y, mean, rstd, d, eps);
}
__global__ void layer_norm_forward_f64(const double* x, const double* w, const double* b, int has_w, int has_b,
                                       double* y, double* mean, double* rstd, int d, double eps) {
    layer_norm_forward(x, w, b, has_w, has_b, y, mean, rstd, d, eps);
}
__global__ void layer_norm_backward_input_f32(const float* gy, const float* x, const float* w, int has_w,
                                              const float* mean, const float* rstd, float* gx, int d) {
    layer_norm_backward_input(gy, x, w, has_w, mean, rstd, gx, d);
}
__global__ void layer_norm_backward_input_f64(const double* gy, const double* x, const double* w, int has_w,
                                              const double* mean, const double* rstd, double* gx, int d) {
    layer_norm_backward_input(gy, x, w, has_w, mean, rstd, gx, d);
}
__global__ void layer_norm_backward_params_f32(const float* gy, const float* x, const float* mean, const float* rstd,
                                               float* gw, float* gb, int n_rows, int d) {
    layer_norm_backward_params(gy, x, mean, rstd, gw, gb, n_rows, d);
}
__global__ void layer_norm_backward_params_f64(const double* gy, const double* x, const double* mean,
                                               const double* rstd, double* gw, double* gb, int n_rows, int d) {
    layer_norm_backward_params(gy, x, mean, rstd, gw, gb, n_rows, d);
}
}
