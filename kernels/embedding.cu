// Gradient of an embedding lookup: gw (num_embeddings, D) = zeros, then for every looked-up position k
// (indices flattened, n of them) and every feature d:
//
//   gw[indices[k], d] += grad[k, d]          (rows named several times accumulate; padding_idx stays 0)
//
// One thread per element of grad (grid-stride over n * D). Two threads may add to the same row of gw
// (a repeated token), so the add is atomic (float64 atomicAdd needs sm_60 or newer). Pass
// padding_idx = -1 for none; negative indices count from the end, as in NumPy.
#include "common.cuh"

template <typename T>
__device__ void embedding_backward(const long long* __restrict__ indices, const T* __restrict__ grad, T* __restrict__ gw,
                                   long long n, int D, long long num_embeddings, long long padding_idx) {
    for (long long k = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; k < n * D;
         k += static_cast<long long>(gridDim.x) * blockDim.x) {
        long long row = indices[k / D];
        if (row < 0) row += num_embeddings;
        if (row == padding_idx) continue;
        atomicAdd(gw + row * D + k % D, grad[k]);
    }
}

extern "C" {
__global__ void embedding_backward_f32(const long long* indices, const float* grad, float* gw, long long n, int D,
                                       long long num_embeddings, long long padding_idx) {
    embedding_backward(indices, grad, gw, n, D, num_embeddings, padding_idx);
}
__global__ void embedding_backward_f64(const long long* indices, const double* grad, double* gw, long long n, int D,
                                       long long num_embeddings, long long padding_idx) {
    embedding_backward(indices, grad, gw, n, D, num_embeddings, padding_idx);
}
}
