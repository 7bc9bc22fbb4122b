"""The arithmetic of int8 layers, on arrays: quantize weights and activations, int8 products, requantize.

A layer y = x W^T + b with x ~ s_x (q_x - z_x) and W[n] ~ s_w[n] q_w[n] (symmetric weights: z_w = 0) is

    y[m, n] = s_x s_w[n] * sum_k (q_x[m, k] - z_x) q_w[n, k]  +  b[n]
            = s_x s_w[n] * acc[m, n] + b[n]                      acc: int32, the ``int8_matmul`` kernel

and the next layer wants y as uint8 again: q_y = clamp(round(y / s_y) + z_y, 0, 255) (``requantize``; with a
fused ReLU the lower bound is z_y, the integer of the real 0). Only the int32 accumulation runs over K; the
float work is one multiply-add per output. A *dynamic* layer returns y in float and chooses (s_x, z_x)
from each batch's min and max at run time; a *static* one uses the (s_x, z_x) and (s_y, z_y) its observers
measured on calibration batches.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minidl.quantization.observer import calculate_qparams
from minidl.quantization.qtensor import QTensor, quint8
from minidl.tensor import Tensor


def quantize_weight(weight: Tensor, observer: Any) -> tuple[Any, Any]:
    """(int8 array, float32 scales per output channel) of a float weight, the scales from ``observer``
    (a per-channel symmetric int8 observer: q = clamp(round(w / s[n]), -128, 127))."""
    observer(weight.detach())
    scale, zero_point = observer.calculate_qparams()
    if np.any(zero_point.numpy() != 0) or observer.dtype.name != "qint8":
        raise ValueError(f"quantize_weight: minidl's int8 kernels need symmetric qint8 weights (zero point 0), got "
                         f"{observer.dtype.name} {observer.qscheme} from {type(observer).__name__}")
    w = weight.backend.to_numpy(weight.detach().array).astype(np.float32)
    s = np.broadcast_to(scale.numpy(), (w.shape[0],)).astype(np.float32)
    inv = (np.float32(1) / s).reshape((-1,) + (1,) * (w.ndim - 1))
    q = np.clip(np.rint(w * inv), -128, 127).astype(np.int8)
    return weight.backend.asarray(q), weight.backend.asarray(s)


def dynamic_qparams(x: Any) -> tuple[float, int]:
    """(scale, zero point) of one batch for quint8: its range, widened to contain 0, over 0..255."""
    lo, hi = np.float32(x.min()), np.float32(x.max()) if x.size else (np.float32(0), np.float32(0))
    scale, zp = calculate_qparams(np.asarray(lo), np.asarray(hi), 0, 255, False, quint8)
    return float(scale), int(zp)


def quantize_activation(xp: Any, x: Any, scale: float, zero_point: int) -> Any:
    """uint8 q = clamp(round(x / s) + z, 0, 255)."""
    q = xp.rint(x.astype(np.float32) * (np.float32(1) / np.float32(scale))) + zero_point
    return xp.clip(q, 0, 255).astype(np.uint8)


def linear_dynamic(backend: Any, x: Any, int_weight: Any, weight_scale: Any, bias: Any) -> Any:
    """float x (M, K) -> float32 y (M, N) through int8: x quantized per batch, int32 products, dequantized."""
    scale, zp = dynamic_qparams(backend.to_numpy(x))
    acc = backend.int8_matmul(quantize_activation(backend.xp, x, scale, zp), zp, int_weight)
    y = acc.astype(np.float32) * (np.float32(scale) * weight_scale)
    return y + bias if bias is not None else y


def linear_static(x: QTensor, int_weight: Any, weight_scale: Any, bias: Any, scale: float, zero_point: int,
                  relu: bool) -> Any:
    """uint8 x (M, K) -> uint8 y (M, N): int32 products, then requantized to (scale, zero_point)."""
    be = x.backend
    acc = be.int8_matmul(x.array, x.zero_point, int_weight)
    multiplier = (np.float32(x.scale) * weight_scale).astype(np.float32)
    return be.requantize(acc, multiplier, bias, scale, zero_point, zero_point if relu else 0, 255)
