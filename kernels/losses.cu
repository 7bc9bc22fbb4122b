// Fused softmax + cross-entropy over the rows of C-contiguous logits x (n_rows, n_cols) with integer
// targets t (n_rows,), int64. Rows whose target equals ignore_index contribute nothing.
//
//   lse_i  = log sum_j exp(x_ij)                      (computed as m + log sum exp(x - m), m = max_j x_ij)
//   loss_i = lse_i - x_{i, t_i}                       = -log softmax(x_i)_{t_i}
//   d loss_i / d x_ij = softmax(x_i)_j - [j == t_i]   = exp(x_ij - lse_i) - [j == t_i]
//
// The forward never forms the softmax matrix: it returns the per-row losses and the per-row lse that
// the backward needs to rebuild softmax(x_i)_j = exp(x_ij - lse_i) on the fly.
//
// xent_forward:  grid = (n_rows,), block = (threads,), threads a multiple of 32. One block per row.
// xent_backward: grid-stride loop, one thread per element of gx (n_rows * n_cols).
#include "common.cuh"

template <typename T>
__device__ void xent_forward(const T* __restrict__ x, const long long* __restrict__ target, T* __restrict__ loss,
                             T* __restrict__ lse, int n_cols, long long ignore_index) {
    const int i = blockIdx.x;
    const T* row = x + static_cast<size_t>(i) * n_cols;

    T m = mdl::neg_inf<T>();
    for (int j = threadIdx.x; j < n_cols; j += blockDim.x) m = mdl::max(m, row[j]);
    m = mdl::block_reduce(m, mdl::Max(), mdl::neg_inf<T>());
    T s = 0;
    for (int j = threadIdx.x; j < n_cols; j += blockDim.x) s += mdl::exp(row[j] - m);
    s = mdl::block_reduce(s, mdl::Sum(), T(0));

    if (threadIdx.x == 0) {
        const T row_lse = m + mdl::log(s);
        const long long t = target[i];
        lse[i] = row_lse;
        loss[i] = t == ignore_index ? T(0) : row_lse - row[t];
    }
}

template <typename T>
__device__ void xent_backward(const T* __restrict__ x, const long long* __restrict__ target,
                              const T* __restrict__ lse, const T* __restrict__ gloss, T* __restrict__ gx,
                              long long n_rows, int n_cols, long long ignore_index) {
    const long long total = n_rows * n_cols;
    for (long long k = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; k < total;
         k += static_cast<long long>(gridDim.x) * blockDim.x) {
        const long long i = k / n_cols;
        const int j = static_cast<int>(k - i * n_cols);
        const long long t = target[i];
        if (t == ignore_index) {
            gx[k] = T(0);
        } else {
            const T p = mdl::exp(x[k] - lse[i]);
            gx[k] = (p - (j == t ? T(1) : T(0))) * gloss[i];
        }
    }
}

extern "C" {
__global__ void xent_forward_f32(const float* x, const long long* t, float* loss, float* lse, int n_cols,
                                 long long ignore) { xent_forward(x, t, loss, lse, n_cols, ignore); }
__global__ void xent_forward_f64(const double* x, const long long* t, double* loss, double* lse, int n_cols,
                                 long long ignore) { xent_forward(x, t, loss, lse, n_cols, ignore); }
__global__ void xent_backward_f32(const float* x, const long long* t, const float* lse, const float* gloss, float* gx,
                                  long long n_rows, int n_cols, long long ignore) {
    xent_backward(x, t, lse, gloss, gx, n_rows, n_cols, ignore);
}
__global__ void xent_backward_f64(const double* x, const long long* t, const double* lse, const double* gloss,
                                  double* gx, long long n_rows, int n_cols, long long ignore) {
    xent_backward(x, t, lse, gloss, gx, n_rows, n_cols, ignore);
}
}
