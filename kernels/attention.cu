// Scaled dot-product attention with an online softmax ("flash" attention): the (Tq, Tk) score matrix
// is never stored. q (BH, Tq, D), k and v (BH, Tk, D), out (BH, Tq, D), all C-contiguous; BH is
// batch * heads, D <= MAX_D. With causal = 1, query i sees keys j <= i (PyTorch's is_causal).
//
//   s_ij = scale * q_i . k_j,   p_ij = exp(s_ij - lse_i),   lse_i = log sum_j exp(s_ij)
//   out_i = sum_j p_ij v_j
// Backward (dO = gradient of out, delta_i = dO_i . out_i):
//   dv_j = sum_i p_ij dO_i
//   ds_ij = p_ij (dO_i . v_j - delta_i)
//   dq_i = scale * sum_j ds_ij k_j,    dk_j = scale * sum_i ds_ij q_i
//
// Forward: grid = (ceil(Tq / blockDim.x), BH), one thread per query row. The block walks the keys in
// tiles of BK rows of k and v that its threads load together into shared memory (each tile is read
// from global memory once per block instead of once per query). Per tile each thread computes its BK
// scores, then folds them into a running max m, a running sum l and an accumulator acc (D values):
//   m' = max(m, max_j s_j);  acc = acc * exp(m - m') + sum_j exp(s_j - m') v_j;  l likewise;  m = m'
// and at the end out = acc / l, lse = m + log(l).
// Backward: attention_backward_dq (one thread per query, tiles of k and v) and
// attention_backward_dkdv (one thread per key, tiles of q and dO, with lse and delta), so that every
// output has one writer: no atomics, deterministic results. delta comes from
// attention_backward_delta (one thread per query row).
// Dynamic shared memory: 2 * BK * D elements of T; BK <= MAX_BK.
#include "common.cuh"

#define MAX_D 128
#define MAX_BK 32

template <typename T>
__device__ void attention_forward(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                                  T* __restrict__ out, T* __restrict__ lse, int Tq, int Tk, int D, int BK, T scale,
                                  int causal) {
    extern __shared__ __align__(16) unsigned char smem[];
    T* k_tile = reinterpret_cast<T*>(smem);
    T* v_tile = k_tile + BK * D;
    const size_t bh = blockIdx.y;
    const int i = blockIdx.x * blockDim.x + threadIdx.x;  // this thread's query row
    const bool active = i < Tq;
    const T* kb = k + bh * Tk * D;
    const T* vb = v + bh * Tk * D;

    T qi[MAX_D], acc[MAX_D], s[MAX_BK];
    for (int d = 0; d < D; ++d) {
        qi[d] = active ? q[(bh * Tq + i) * D + d] * scale : T(0);
        acc[d] = 0;
    }
    T m = mdl::neg_inf<T>(), l = 0;
    // causal: no query of this block looks past its last row
    const int last_query = min(Tq, static_cast<int>((blockIdx.x + 1) * blockDim.x)) - 1;
    const int k_end = causal ? min(Tk, last_query + 1) : Tk;
    for (int start = 0; start < k_end; start += BK) {
        const int n = min(BK, k_end - start);
        __syncthreads();  // the previous tile is no longer read
        for (int e = threadIdx.x; e < n * D; e += blockDim.x) {
            k_tile[e] = kb[static_cast<size_t>(start) * D + e];
            v_tile[e] = vb[static_cast<size_t>(start) * D + e];
        }
        __syncthreads();
        if (!active) continue;
        T tile_max = mdl::neg_inf<T>();
        for (int j = 0; j < n; ++j) {
            T dot = 0;
            for (int d = 0; d < D; ++d) dot += qi[d] * k_tile[j * D + d];
            s[j] = (causal && start + j > i) ? mdl::neg_inf<T>() : dot;
            tile_max = mdl::max(tile_max, s[j]);
        }
        if (tile_max == mdl::neg_inf<T>()) continue;  // every key of this tile is masked for row i
        const T m_new = mdl::max(m, tile_max);
        const T correction = mdl::exp(m - m_new);  // exp(-inf) = 0 on the first tile
        l *= correction;
        for (int d = 0; d < D; ++d) acc[d] *= correction;
        for (int j = 0; j < n; ++j) {
            const T p = mdl::exp(s[j] - m_new);
            l += p;
            for (int d = 0; d < D; ++d) acc[d] += p * v_tile[j * D + d];
        }
        m = m_new;
    }
    if (active) {
        for (int d = 0; d < D; ++d) out[(bh * Tq + i) * D + d] = acc[d] / l;
        lse[bh * Tq + i] = m + mdl::log(l);
    }
}

template <typename T>
__device__ void attention_backward_delta(const T* __restrict__ out, const T* __restrict__ gout, T* __restrict__ delta,
                                         long long rows, int D) {
    for (long long r = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; r < rows;
         r += static_cast<long long>(gridDim.x) * blockDim.x) {
        T acc = 0;
        for (int d = 0; d < D; ++d) acc += out[r * D + d] * gout[r * D + d];
        delta[r] = acc;
    }
}

template <typename T>
__device__ void attention_backward_dq(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                                      const T* __restrict__ gout, const T* __restrict__ lse,
                                      const T* __restrict__ delta, T* __restrict__ gq, int Tq, int Tk, int D, int BK,
                                      T scale, int causal) {
    extern __shared__ __align__(16) unsigned char smem[];
    T* k_tile = reinterpret_cast<T*>(smem);
    T* v_tile = k_tile + BK * D;
    const size_t bh = blockIdx.y;
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    const bool active = i < Tq;
    const size_t row = bh * Tq + i;
    T qi[MAX_D], gi[MAX_D], acc[MAX_D];
    for (int d = 0; d < D; ++d) {
        qi[d] = active ? q[row * D + d] * scale : T(0);
        gi[d] = active ? gout[row * D + d] : T(0);
        acc[d] = 0;
    }
    const T lse_i = active ? lse[row] : T(0), delta_i = active ? delta[row] : T(0);
    const int last_query = min(Tq, static_cast<int>((blockIdx.x + 1) * blockDim.x)) - 1;
    const int k_end = causal ? min(Tk, last_query + 1) : Tk;
    for (int start = 0; start < k_end; start += BK) {
        const int n = min(BK, k_end - start);
        __syncthreads();
        for (int e = threadIdx.x; e < n * D; e += blockDim.x) {
            k_tile[e] = k[(bh * Tk + start) * D + e];
            v_tile[e] = v[(bh * Tk + start) * D + e];
        }
        __syncthreads();
        if (!active) continue;
        for (int j = 0; j < n; ++j) {
            if (causal && start + j > i) break;
            T dot = 0, gv = 0;
            for (int d = 0; d < D; ++d) {
                dot += qi[d] * k_tile[j * D + d];
                gv += gi[d] * v_tile[j * D + d];
            }
            const T ds = mdl::exp(dot - lse_i) * (gv - delta_i);
            for (int d = 0; d < D; ++d) acc[d] += ds * k_tile[j * D + d];
        }
    }
    if (active)
        for (int d = 0; d < D; ++d) gq[row * D + d] = acc[d] * scale;
}

template <typename T>
__device__ void attention_backward_dkdv(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                                        const T* __restrict__ gout, const T* __restrict__ lse,
                                        const T* __restrict__ delta, T* __restrict__ gk, T* __restrict__ gv, int Tq,
                                        int Tk, int D, int BQ, T scale, int causal) {
    extern __shared__ __align__(16) unsigned char smem[];
    T* q_tile = reinterpret_cast<T*>(smem);
    T* g_tile = q_tile + BQ * D;
    const size_t bh = blockIdx.y;
    const int j = blockIdx.x * blockDim.x + threadIdx.x;  // this thread's key row
    const bool active = j < Tk;
    const size_t row = bh * Tk + j;
    T kj[MAX_D], vj[MAX_D], dk[MAX_D], dv[MAX_D];
    for (int d = 0; d < D; ++d) {
        kj[d] = active ? k[row * D + d] : T(0);
        vj[d] = active ? v[row * D + d] : T(0);
        dk[d] = 0;
        dv[d] = 0;
    }
    // causal: queries before this block's first key see none of its keys
    const int q_start = causal ? static_cast<int>(blockIdx.x * blockDim.x) : 0;
    for (int start = q_start; start < Tq; start += BQ) {
        const int n = min(BQ, Tq - start);
        __syncthreads();
        for (int e = threadIdx.x; e < n * D; e += blockDim.x) {
            q_tile[e] = q[(bh * Tq + start) * D + e] * scale;
            g_tile[e] = gout[(bh * Tq + start) * D + e];
        }
        __syncthreads();
        if (!active) continue;
        for (int r = 0; r < n; ++r) {
            const int i = start + r;
            if (causal && j > i) continue;
            T dot = 0, gvd = 0;
            for (int d = 0; d < D; ++d) {
                dot += q_tile[r * D + d] * kj[d];
                gvd += g_tile[r * D + d] * vj[d];
            }
            const T p = mdl::exp(dot - lse[bh * Tq + i]);
            const T ds = p * (gvd - delta[bh * Tq + i]);
            for (int d = 0; d < D; ++d) {
                dv[d] += p * g_tile[r * D + d];
                dk[d] += ds * q_tile[r * D + d];  // q_tile already holds scale * q
            }
        }
    }
    if (active)
        for (int d = 0; d < D; ++d) {
            gk[row * D + d] = dk[d];
            gv[row * D + d] = dv[d];
        }
}

extern "C" {
__global__ void attention_forward_f32(const float* q, const float* k, const float* v, float* out, float* lse, int Tq,
                                      int Tk, int D, int BK, float scale, int causal) {
    attention_forward(q, k, v, out, lse, Tq, Tk, D, BK, scale, causal);
}
__global__ void attention_forward_f64(const double* q, const double* k, const double* v, double* out, double* lse,
                                      int Tq, int Tk, int D, int BK, double scale, int causal) {
    attention_forward(q, k, v, out, lse, Tq, Tk, D, BK, scale, causal);
}
__global__ void attention_backward_delta_f32(const float* out, const float* gout, float* delta, long long rows, int D) {
    attention_backward_delta(out, gout, delta, rows, D);
}
__global__ void attention_backward_delta_f64(const double* out, const double* gout, double* delta, long long rows,
                                             int D) { attention_backward_delta(out, gout, delta, rows, D); }
__global__ void attention_backward_dq_f32(const float* q, const float* k, const float* v, const float* gout,
                                          const float* lse, const float* delta, float* gq, int Tq, int Tk, int D,
                                          int BK, float scale, int causal) {
    attention_backward_dq(q, k, v, gout, lse, delta, gq, Tq, Tk, D, BK, scale, causal);
}
__global__ void attention_backward_dq_f64(const double* q, const double* k, const double* v, const double* gout,
                                          const double* lse, const double* delta, double* gq, int Tq, int Tk, int D,
                                          int BK, double scale, int causal) {
    attention_backward_dq(q, k, v, gout, lse, delta, gq, Tq, Tk, D, BK, scale, causal);
}
__global__ void attention_backward_dkdv_f32(const float* q, const float* k, const float* v, const float* gout,
                                            const float* lse, const float* delta, float* gk, float* gv, int Tq, int Tk,
                                            int D, int BQ, float scale, int causal) {
    attention_backward_dkdv(q, k, v, gout, lse, delta, gk, gv, Tq, Tk, D, BQ, scale, causal);
}
__global__ void attention_backward_dkdv_f64(const double* q, const double* k, const double* v, const double* gout,
                                            const double* lse, const double* delta, double* gk, double* gv, int Tq,
                                            int Tk, int D, int BQ, double scale, int causal) {
    attention_backward_dkdv(q, k, v, gout, lse, delta, gk, gv, Tq, Tk, D, BQ, scale, causal);
}
}
