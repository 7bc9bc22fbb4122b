// Row-wise softmax and log-softmax of a C-contiguous (n_rows, n_cols) array: one thread block per row.
//
//   m = max_j x_j,   s = sum_j exp(x_j - m)
//   softmax(x)_j     = exp(x_j - m) / s
//   log_softmax(x)_j = x_j - m - log(s)
//
// Launch: grid = (n_rows,), block = (threads,) with threads a multiple of 32 (at most 1024).
// Thread t of a block reads elements t, t + threads, t + 2*threads, ... of its row, so at every
// step neighbouring threads read neighbouring addresses (coalesced loads). Each thread folds its
// elements into a partial max (then a partial sum); `block_reduce` combines the partials.
#include "common.cuh"

template <typename T> __device__ void softmax_row(const T* __restrict__ x, T* __restrict__ y, int n_cols, bool log_out) {
    const T* row = x + static_cast<size_t>(blockIdx.x) * n_cols;
    T* out = y + static_cast<size_t>(blockIdx.x) * n_cols;

    T m = mdl::neg_inf<T>();
    for (int j = threadIdx.x; j < n_cols; j += blockDim.x) m = mdl::max(m, row[j]);
    m = mdl::block_reduce(m, mdl::Max(), mdl::neg_inf<T>());

    T s = 0;
    for (int j = threadIdx.x; j < n_cols; j += blockDim.x) s += mdl::exp(row[j] - m);
    s = mdl::block_reduce(s, mdl::Sum(), T(0));

    if (log_out) {
        const T shift = m + mdl::log(s);
        for (int j = threadIdx.x; j < n_cols; j += blockDim.x) out[j] = row[j] - shift;
    } else {
        const T inv = T(1) / s;
        for (int j = threadIdx.x; j < n_cols; j += blockDim.x) out[j] = mdl::exp(row[j] - m) * inv;
    }
}

extern "C" __global__ void softmax_f32(const float* x, float* y, int n_cols) { softmax_row(x, y, n_cols, false); }
extern "C" __global__ void softmax_f64(const double* x, double* y, int n_cols) { softmax_row(x, y, n_cols, false); }
extern "C" __global__ void log_softmax_f32(const float* x, float* y, int n_cols) { softmax_row(x, y, n_cols, true); }
extern "C" __global__ void log_softmax_f64(const double* x, double* y, int n_cols) { softmax_row(x, y, n_cols, true); }
