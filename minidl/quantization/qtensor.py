"""Quantized tensors: an integer array plus the affine map back to real numbers.

A real value x is stored as an integer q of ``b`` bits with a *scale* s > 0 and a *zero point* z:

    q = clamp(round(x / s) + z, q_min, q_max)          (quantize)
    x ~ (q - z) * s                                     (dequantize)

so s is the real size of one integer step and z is the integer that stands for the real 0 (it is exact:
zero padding and ReLU's 0 lose nothing). The rounding error is at most s / 2 inside the range
[(q_min - z) s, (q_max - z) s]; values outside it are clipped. *Per-tensor* quantization uses one (s, z);
*per-channel* one pair per slice along ``axis`` (the output channels of a weight), which keeps the small
channels of a layer from sharing the step size of its largest.

>>> import minidl
>>> from minidl.quantization import quantize_per_tensor, quint8
>>> q = quantize_per_tensor(minidl.tensor([-1.0, 0.0, 0.26, 2.0]), 0.1, 10, quint8)
>>> q.int_repr().tolist(), q.dequantize().tolist()
([0, 10, 13, 30], [-1.0, 0.0, 0.30000001192092896, 2.0])

PyTorch's names (``torch.quantize_per_tensor``, ``torch.quantize_per_channel``, ``Tensor.dequantize``,
``int_repr``, ``q_scale``, ``q_per_channel_scales``, ...). A minidl ``QTensor`` is not a ``Tensor``: it
only flows between quantized modules (``minidl.ao.nn.quantized``), which is where PyTorch uses them too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from minidl.tensor import Tensor


@dataclass(frozen=True)
class QDtype:
    """A quantized dtype: its storage integer type and its range (``torch.qint8``, ``torch.quint8``, ...)."""

    name: str
    storage: Any
    qmin: int
    qmax: int

    def __repr__(self) -> str:
        return f"minidl.{self.name}"


qint8 = QDtype("qint8", np.int8, -128, 127)
quint8 = QDtype("quint8", np.uint8, 0, 255)
qint32 = QDtype("qint32", np.int32, -(2**31), 2**31 - 1)
per_tensor_affine, per_tensor_symmetric = "per_tensor_affine", "per_tensor_symmetric"
per_channel_affine, per_channel_symmetric = "per_channel_affine", "per_channel_symmetric"


def qrange(dtype: QDtype, reduce_range: bool = False) -> tuple[int, int]:
    """(q_min, q_max) of ``dtype``; ``reduce_range`` drops one bit (PyTorch's fbgemm avoids an overflow so)."""
    if not reduce_range:
        return dtype.qmin, dtype.qmax
    return dtype.qmin // 2, dtype.qmax // 2


class QTensor:
    """An integer array with its scale(s) and zero point(s) (what ``torch.quantize_per_tensor`` returns).

    ``int_repr()`` is the stored integers, ``dequantize()`` the real values (q - z) * s as a float32 Tensor.
    Per-channel tensors keep one scale and zero point per index of ``axis``.
    """

    def __init__(self, array: Any, scale: Any, zero_point: Any, dtype: QDtype, backend: Any,
                 axis: int | None = None) -> None:
        self.array, self.dtype, self.backend, self.axis = array, dtype, backend, axis
        if axis is None:
            self.scale, self.zero_point = float(scale), int(zero_point)
        else:
            self.scale = backend.xp.asarray(scale, dtype=np.float32)
            self.zero_point = backend.xp.asarray(zero_point, dtype=np.int64)

    # ---------------------------------------------------------------------- PyTorch's accessors
    @property
    def shape(self) -> Any:
        return Tensor._wrap(self.array, self.backend, False).shape

    def size(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return self.array.ndim

    def numel(self) -> int:
        return int(self.array.size)

    def qscheme(self) -> str:
        return per_tensor_affine if self.axis is None else per_channel_affine

    def int_repr(self) -> Tensor:
        return Tensor._wrap(self.array, self.backend, False)

    def q_scale(self) -> float:
        self._per_tensor("q_scale")
        return self.scale

    def q_zero_point(self) -> int:
        self._per_tensor("q_zero_point")
        return self.zero_point

    def q_per_channel_scales(self) -> Tensor:
        self._per_channel("q_per_channel_scales")
        return Tensor._wrap(self.scale, self.backend, False)

    def q_per_channel_zero_points(self) -> Tensor:
        self._per_channel("q_per_channel_zero_points")
        return Tensor._wrap(self.zero_point, self.backend, False)

    def q_per_channel_axis(self) -> int:
        self._per_channel("q_per_channel_axis")
        return self.axis

    def dequantize(self) -> Tensor:
        """(q - z) * s in float32."""
        s, z = np.float32(self.scale) if self.axis is None else self.scale, self.zero_point
        if self.axis is not None:
            shape = [1] * self.array.ndim
            shape[self.axis] = -1
            s, z = s.reshape(shape), z.reshape(shape)
        return Tensor._wrap((self.array.astype(np.int32) - z).astype(np.float32) * s, self.backend, False)

    # ---------------------------------------------------------------------- shape changes keep (s, z)
    def reshape(self, *shape: Any) -> QTensor:
        self._per_tensor("reshape")
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], tuple | list) else shape
        return QTensor(self.array.reshape(shape), self.scale, self.zero_point, self.dtype, self.backend)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> QTensor:
        shape = tuple(self.array.shape)
        end = end_dim % len(shape)
        return self.reshape(shape[:start_dim] + (-1,) + shape[end + 1:])

    def __repr__(self) -> str:
        if self.axis is None:
            q = f"scale={self.scale:g}, zero_point={self.zero_point}"
        else:
            q = f"per-channel along axis {self.axis}"
        return f"QTensor({self.dequantize().numpy()!r}, dtype={self.dtype!r}, {q})"

    def _per_tensor(self, what: str) -> None:
        if self.axis is not None:
            raise RuntimeError(f"QTensor.{what}: this tensor is quantized per channel (axis {self.axis}); "
                               "expected a per-tensor quantized tensor")

    def _per_channel(self, what: str) -> None:
        if self.axis is None:
            raise RuntimeError(f"QTensor.{what}: this tensor is quantized per tensor; expected a per-channel one")


def _check_float(x: Tensor, op: str) -> None:
    if not isinstance(x, Tensor) or x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating point Tensor, got "
                        f"{type(x).__name__}{' of dtype ' + str(x.dtype) if isinstance(x, Tensor) else ''}")


def _round_clamp(xp: Any, x: Any, inv_scale: Any, zero_point: Any, qmin: int, qmax: int, storage: Any) -> Any:
    """clamp(round(x / s) + z): x times 1/s in float32 and round half to even, as PyTorch's CPU kernels."""
    q = xp.rint(x.astype(np.float32) * inv_scale) + zero_point
    return xp.clip(q, qmin, qmax).astype(storage)


def quantize_per_tensor(x: Tensor, scale: float, zero_point: int, dtype: QDtype) -> QTensor:
    """q = clamp(round(x / scale) + zero_point, q_min, q_max) in ``dtype`` (qint8, quint8 or qint32)."""
    _check_float(x, "quantize_per_tensor")
    if not scale > 0:
        raise ValueError(f"quantize_per_tensor: scale must be positive, got {scale}")
    inv = np.float32(1.0) / np.float32(scale)
    q = _round_clamp(x.backend.xp, x.array, inv, int(zero_point), dtype.qmin, dtype.qmax, dtype.storage)
    return QTensor(q, scale, zero_point, dtype, x.backend)


def quantize_per_channel(x: Tensor, scales: Any, zero_points: Any, axis: int, dtype: QDtype) -> QTensor:
    """One (scale, zero point) per index of ``axis``: q[..., c, ...] = clamp(round(x / s_c) + z_c)."""
    _check_float(x, "quantize_per_channel")
    xp = x.backend.xp
    s = xp.asarray(scales.array if isinstance(scales, Tensor) else scales, dtype=np.float32)
    z = xp.asarray(zero_points.array if isinstance(zero_points, Tensor) else zero_points, dtype=np.int64)
    axis = axis % x.ndim
    if s.shape != (x.shape[axis],) or z.shape != s.shape:
        raise ValueError(f"quantize_per_channel: x has {x.shape[axis]} channels along axis {axis} (shape "
                         f"{tuple(x.shape)}), got {s.shape[0] if s.ndim else 0} scales and "
                         f"{z.shape[0] if z.ndim else 0} zero points")
    shape = [1] * x.ndim
    shape[axis] = -1
    inv = (np.float32(1.0) / s).reshape(shape)
    q = _round_clamp(xp, x.array, inv, z.reshape(shape), dtype.qmin, dtype.qmax, dtype.storage)
    return QTensor(q, s, z, dtype, x.backend, axis=axis)


def dequantize(q: QTensor) -> Tensor:
    """(q - z) * s as a float32 Tensor (``torch.dequantize``)."""
    if not isinstance(q, QTensor):
        raise TypeError(f"dequantize: expected a QTensor, got {type(q).__name__}")
    return q.dequantize()
