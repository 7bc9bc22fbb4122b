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
