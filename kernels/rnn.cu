// The element-wise part of LSTM and GRU cells (PyTorch's gate order and equations). The matrix
// products that build the gate pre-activations stay in cuBLAS; these kernels fuse everything after
// them: one thread per (batch b, hidden unit j), grid-stride over B * H.
//
// LSTM: z (B, 4H) = x W_ih^T + b_ih + h W_hh^T + b_hh, chunks [i, f, g, o]
//   i = sigmoid(z_i), f = sigmoid(z_f), g = tanh(z_g), o = sigmoid(z_o)
//   c = f * c_prev + i * g,   h = o * tanh(c)
//   saved: acts (B, 4H) = [i, f, g, o]
// backward, from gh and gc (the gradient reaching c from the next step):
//   gc_tot = gc + gh * o * (1 - tanh(c)^2)
//   gz = [gc_tot * g * i(1-i), gc_tot * c_prev * f(1-f), gc_tot * i * (1-g^2), gh * tanh(c) * o(1-o)]
//   gc_prev = gc_tot * f
//
// GRU: a (B, 3H) = x W_ih^T + b_ih, chunks [r, z, n];  b (B, 3H) = h W_hh^T + b_hh, same chunks
//   r = sigmoid(a_r + b_r), z = sigmoid(a_z + b_z), n = tanh(a_n + r * b_n)
//   h' = (1 - z) * n + z * h
//   saved: acts (B, 4H) = [r, z, n, b_n]
// backward, from gh' :
//   gn_pre = gh' (1 - z)(1 - n^2),   gz_pre = gh' (h - n) z(1-z),   gr_pre = gn_pre * b_n * r(1-r)
//   ga = [gr_pre, gz_pre, gn_pre],   gb = [gr_pre, gz_pre, gn_pre * r],   gh = gh' * z   (+ gb W_hh in the op)
#include "common.cuh"

#define FOR_EACH_UNIT(total)                                                                      \
    for (long long k = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; k < (total); \
         k += static_cast<long long>(gridDim.x) * blockDim.x)

template <typename T>
__device__ void lstm_cell_forward(const T* __restrict__ z, const T* __restrict__ c_prev, T* __restrict__ h,
                                  T* __restrict__ c, T* __restrict__ acts, long long B, int H) {
    FOR_EACH_UNIT(B * H) {
        const long long b = k / H;
        const int j = static_cast<int>(k - b * H);
        const T* zb = z + b * 4 * H;
        T* ab = acts + b * 4 * H;
        const T i = mdl::sigmoid(zb[j]), f = mdl::sigmoid(zb[H + j]);
        const T g = mdl::tanh(zb[2 * H + j]), o = mdl::sigmoid(zb[3 * H + j]);
        const T c_new = f * c_prev[k] + i * g;
        c[k] = c_new;
        h[k] = o * mdl::tanh(c_new);
        ab[j] = i;
        ab[H + j] = f;
        ab[2 * H + j] = g;
        ab[3 * H + j] = o;
    }
}

template <typename T>
__device__ void lstm_cell_backward(const T* __restrict__ gh, const T* __restrict__ gc, const T* __restrict__ acts,
                                   const T* __restrict__ c_prev, const T* __restrict__ c, T* __restrict__ gz,
                                   T* __restrict__ gc_prev, long long B, int H) {
    FOR_EACH_UNIT(B * H) {
        const long long b = k / H;
        const int j = static_cast<int>(k - b * H);
        const T* ab = acts + b * 4 * H;
        T* gb = gz + b * 4 * H;
        const T i = ab[j], f = ab[H + j], g = ab[2 * H + j], o = ab[3 * H + j];
        const T tc = mdl::tanh(c[k]);
        const T gc_tot = gc[k] + gh[k] * o * (T(1) - tc * tc);
        gb[j] = gc_tot * g * i * (T(1) - i);
        gb[H + j] = gc_tot * c_prev[k] * f * (T(1) - f);
        gb[2 * H + j] = gc_tot * i * (T(1) - g * g);
        gb[3 * H + j] = gh[k] * tc * o * (T(1) - o);
        gc_prev[k] = gc_tot * f;
    }
}

template <typename T>
__device__ void gru_cell_forward(const T* __restrict__ a, const T* __restrict__ bh, const T* __restrict__ h_prev,
                                 T* __restrict__ h, T* __restrict__ acts, long long B, int H) {
    FOR_EACH_UNIT(B * H) {
        const long long b = k / H;
        const int j = static_cast<int>(k - b * H);
        const T* ab = a + b * 3 * H;
        const T* bb = bh + b * 3 * H;
        T* sb = acts + b * 4 * H;
        const T r = mdl::sigmoid(ab[j] + bb[j]);
        const T z = mdl::sigmoid(ab[H + j] + bb[H + j]);
        const T n = mdl::tanh(ab[2 * H + j] + r * bb[2 * H + j]);
        h[k] = (T(1) - z) * n + z * h_prev[k];
        sb[j] = r;
        sb[H + j] = z;
        sb[2 * H + j] = n;
        sb[3 * H + j] = bb[2 * H + j];
    }
}

template <typename T>
__device__ void gru_cell_backward(const T* __restrict__ gh_new, const T* __restrict__ acts,
                                  const T* __restrict__ h_prev, T* __restrict__ ga, T* __restrict__ gb,
                                  T* __restrict__ gh_prev, long long B, int H) {
    FOR_EACH_UNIT(B * H) {
        const long long b = k / H;
        const int j = static_cast<int>(k - b * H);
        const T* sb = acts + b * 4 * H;
        const T r = sb[j], z = sb[H + j], n = sb[2 * H + j], b_n = sb[3 * H + j];
        const T g = gh_new[k];
        const T gn_pre = g * (T(1) - z) * (T(1) - n * n);
        const T gz_pre = g * (h_prev[k] - n) * z * (T(1) - z);
        const T gr_pre = gn_pre * b_n * r * (T(1) - r);
        T* gab = ga + b * 3 * H;
        T* gbb = gb + b * 3 * H;
        gab[j] = gr_pre;
        gab[H + j] = gz_pre;
        gab[2 * H + j] = gn_pre;
        gbb[j] = gr_pre;
        gbb[H + j] = gz_pre;
        gbb[2 * H + j] = gn_pre * r;
        gh_prev[k] = g * z;
    }
}

extern "C" {
__global__ void lstm_cell_forward_f32(const float* z, const float* c_prev, float* h, float* c, float* acts, long long B,
                                      int H) { lstm_cell_forward(z, c_prev, h, c, acts, B, H); }
__global__ void lstm_cell_forward_f64(const double* z, const double* c_prev, double* h, double* c, double* acts,
                                      long long B, int H) { lstm_cell_forward(z, c_prev, h, c, acts, B, H); }
__global__ void lstm_cell_backward_f32(const float* gh, const float* gc, const float* acts, const float* c_prev,
                                       const float* c, float* gz, float* gc_prev, long long B, int H) {
    lstm_cell_backward(gh, gc, acts, c_prev, c, gz, gc_prev, B, H);
}
__global__ void lstm_cell_backward_f64(const double* gh, const double* gc, const double* acts, const double* c_prev,
                                       const double* c, double* gz, double* gc_prev, long long B, int H) {
    lstm_cell_backward(gh, gc, acts, c_prev, c, gz, gc_prev, B, H);
}
__global__ void gru_cell_forward_f32(const float* a, const float* bh, const float* h_prev, float* h, float* acts,
                                     long long B, int H) { gru_cell_forward(a, bh, h_prev, h, acts, B, H); }
__global__ void gru_cell_forward_f64(const double* a, const double* bh, const double* h_prev, double* h, double* acts,
                                     long long B, int H) { gru_cell_forward(a, bh, h_prev, h, acts, B, H); }
__global__ void gru_cell_backward_f32(const float* gh_new, const float* acts, const float* h_prev, float* ga,
                                      float* gb, float* gh_prev, long long B, int H) {
    gru_cell_backward(gh_new, acts, h_prev, ga, gb, gh_prev, B, H);
}
__global__ void gru_cell_backward_f64(const double* gh_new, const double* acts, const double* h_prev, double* ga,
                                      double* gb, double* gh_prev, long long B, int H) {
    gru_cell_backward(gh_new, acts, h_prev, ga, gb, gh_prev, B, H);
}
}
