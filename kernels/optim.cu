// The optimizer kernels (the KERNELS group "optimizers"): SGD, then Adam / AdamW.
//
// Fused SGD update (PyTorch's rule), in place: one thread per element (grid-stride).
//
//   g <- (maximize ? -grad : grad) + weight_decay * p
//   with momentum (has_buf = 1):  b <- first ? g : momentum * b + (1 - dampening) * g
//                                 g <- nesterov ? g + momentum * b : b
//   p <- p - lr * g
//
// `first` is 1 on the step that creates the buffer (it starts at g, without dampening).
#include "common.cuh"

template <typename T>
__device__ void sgd_update(T* __restrict__ p, const T* __restrict__ grad, T* __restrict__ buf, long long n, T lr,
                           T momentum, T dampening, T weight_decay, int has_buf, int first, int nesterov,
                           int maximize) {
    for (long long k = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; k < n;
         k += static_cast<long long>(gridDim.x) * blockDim.x) {
        T g = maximize ? -grad[k] : grad[k];
        g += weight_decay * p[k];
        if (has_buf) {
            const T b = first ? g : momentum * buf[k] + (T(1) - dampening) * g;
            buf[k] = b;
            g = nesterov ? g + momentum * b : b;
        }
        p[k] -= lr * g;
    }
}

extern "C" {
__global__ void sgd_update_f32(float* p, const float* grad, float* buf, long long n, float lr, float momentum,
                               float dampening, float weight_decay, int has_buf, int first, int nesterov, int maximize) {
    sgd_update(p, grad, buf, n, lr, momentum, dampening, weight_decay, has_buf, first, nesterov, maximize);
}
__global__ void sgd_update_f64(double* p, const double* grad, double* buf, long long n, double lr, double momentum,
                               double dampening, double weight_decay, int has_buf, int first, int nesterov,
                               int maximize) {
    sgd_update(p, grad, buf, n, lr, momentum, dampening, weight_decay, has_buf, first, nesterov, maximize);
}
}

// Fused Adam / AdamW update of one parameter array, in place: one thread per element (grid-stride).
// PyTorch's formulation, with t the step number (from 1) and the bias corrections precomputed on the
// host (bc1 = 1 - beta1^t, bc2 = 1 - beta2^t):
//
//   maximize:              g <- -g
//   Adam  (L2 penalty):    g <- g + weight_decay * p
//   AdamW (decoupled):     p <- p - lr * weight_decay * p
//   m <- beta1 * m + (1 - beta1) * g
//   v <- beta2 * v + (1 - beta2) * g^2
//   AMSGrad:               vmax <- max(vmax, v), and vmax replaces v below
//   p <- p - lr * (m / bc1) / (sqrt(v / bc2) + eps)
//
// One kernel instead of the ~10 array operations (and temporaries) of the reference.

template <typename T>
__device__ void adam_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m, T* __restrict__ v,
                            T* __restrict__ vmax, long long n, T lr, T beta1, T beta2, T eps, T weight_decay, T bc1,
                            T bc2, int decoupled, int amsgrad, int maximize) {
    for (long long k = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; k < n;
         k += static_cast<long long>(gridDim.x) * blockDim.x) {
        T grad = maximize ? -g[k] : g[k], param = p[k];
        if (decoupled) {
            param -= lr * weight_decay * param;
        } else {
            grad += weight_decay * param;
        }
        const T m_k = beta1 * m[k] + (T(1) - beta1) * grad;
        const T v_k = beta2 * v[k] + (T(1) - beta2) * grad * grad;
        m[k] = m_k;
        v[k] = v_k;
        T denom_v = v_k;
        if (amsgrad) denom_v = vmax[k] = mdl::max(vmax[k], v_k);
        p[k] = param - lr * (m_k / bc1) / (mdl::sqrt(denom_v / bc2) + eps);
    }
}

// vmax is only read when amsgrad is 1 (pass any array of the right type otherwise).
extern "C" {
__global__ void adam_update_f32(float* p, const float* g, float* m, float* v, float* vmax, long long n, float lr,
                                float beta1, float beta2, float eps, float weight_decay, float bc1, float bc2,
                                int decoupled, int amsgrad, int maximize) {
    adam_update(p, g, m, v, vmax, n, lr, beta1, beta2, eps, weight_decay, bc1, bc2, decoupled, amsgrad, maximize);
}
__global__ void adam_update_f64(double* p, const double* g, double* m, double* v, double* vmax, long long n, double lr,
                                double beta1, double beta2, double eps, double weight_decay, double bc1, double bc2,
                                int decoupled, int amsgrad, int maximize) {
    adam_update(p, g, m, v, vmax, n, lr, beta1, beta2, eps, weight_decay, bc1, bc2, decoupled, amsgrad, maximize);
}
}
