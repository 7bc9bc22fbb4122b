// Helpers shared by the CUDA C kernels in this folder. Included by them, never compiled alone.
//
// The kernels are compiled at run time by CuPy (NVRTC), which sees no system headers: everything
// here uses only CUDA built-ins (no <cmath>, no INFINITY macro). Every kernel is written once as a
// template over the element type T (float or double) and exported twice with extern "C" names
// ending in _f32 and _f64, which is what `cupy.RawModule.get_function` looks up.
#pragma once

namespace mdl {

// ---- math overloads, so a template body can say mdl::exp(v) for float and double alike ----
__device__ __forceinline__ float exp(float x) { return ::expf(x); }
__device__ __forceinline__ double exp(double x) { return ::exp(x); }
__device__ __forceinline__ float log(float x) { return ::logf(x); }
__device__ __forceinline__ double log(double x) { return ::log(x); }
__device__ __forceinline__ float sqrt(float x) { return ::sqrtf(x); }
__device__ __forceinline__ double sqrt(double x) { return ::sqrt(x); }
__device__ __forceinline__ float rsqrt(float x) { return ::rsqrtf(x); }
__device__ __forceinline__ double rsqrt(double x) { return ::rsqrt(x); }
__device__ __forceinline__ float tanh(float x) { return ::tanhf(x); }
__device__ __forceinline__ double tanh(double x) { return ::tanh(x); }
template <typename T> __device__ __forceinline__ T sigmoid(T x) { return T(1) / (T(1) + mdl::exp(-x)); }
template <typename T> __device__ __forceinline__ T max(T a, T b) { return a > b ? a : b; }

template <typename T> __device__ __forceinline__ T neg_inf();
template <> __device__ __forceinline__ float neg_inf<float>() { return __int_as_float(0xff800000); }
template <> __device__ __forceinline__ double neg_inf<double>() {
    return __longlong_as_double(static_cast<long long>(0xfff0000000000000ULL));
}

// ---- reductions across a thread block ----
struct Sum {
    template <typename T> __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};
struct Max {
    template <typename T> __device__ __forceinline__ T operator()(T a, T b) const { return a > b ? a : b; }
};

// Combine the 32 values of a warp: after log2(32) = 5 butterfly steps every lane holds the result.
template <typename T, typename Op> __device__ __forceinline__ T warp_reduce(T v, Op op) {
    for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

// Combine one value per thread over the whole block; every thread gets the result.
// blockDim.x must be a multiple of 32 (at most 1024). Every thread of the block must call it.
template <typename T, typename Op> __device__ T block_reduce(T v, Op op, T identity) {
    __shared__ T partial[32];  // one slot per warp
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
    v = warp_reduce(v, op);
    __syncthreads();  // the previous call's readers of `partial` are done
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < n_warps ? partial[lane] : identity;
        v = warp_reduce(v, op);
        if (lane == 0) partial[0] = v;
    }
    __syncthreads();
    return partial[0];
}

}  // namespace mdl
