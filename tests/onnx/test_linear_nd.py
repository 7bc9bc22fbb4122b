"""F.linear on inputs of 1 and 3 dimensions exports (the op folds the leading axes inside itself, so the
converter emits MatMul + Add rather than Gemm, which takes 2-d inputs only)."""

import numpy as np
import pytest

import minidl
import minidl.nn as nn
import minidl.nn.functional as F

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


class FunctionalLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(minidl.randn(5, 4))
        self.b = nn.Parameter(minidl.randn(5))

    def forward(self, x):
        return F.linear(x, self.w, self.b)


@pytest.mark.parametrize("shape", [(2, 3, 4), (4,), (6, 4)])
def test_functional_linear_exports_at_any_rank(tmp_path, shape):
    import minidl.onnx

    minidl.manual_seed(0)
    model, x = FunctionalLinear(), minidl.randn(*shape)
    path = tmp_path / "linear.onnx"
    minidl.onnx.export(model, (x,), str(path))
    session = ort.InferenceSession(str(path))
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    np.testing.assert_allclose(got, x.numpy() @ model.w.detach().numpy().T + model.b.detach().numpy(), rtol=1e-5,
                               atol=1e-6)
