"""Every optimizer on every available backend against the NumPy reference backend (GPU kernels included)."""

import numpy as np
import pytest
from optim_reference import VARIANTS, variant_id

import minidl
from minidl import optim


def trajectory(name, kw, backend, dtype, steps=20):
    rng = np.random.default_rng(0)
    shapes = [(33, 7), (7,), (3, 1, 5)]  # odd sizes: no kernel may assume a multiple of a block size
    params = [minidl.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True, backend=backend)
              for s in shapes]
    grads = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(steps)]
    opt = getattr(optim, name)(params, **kw)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = minidl.tensor(g, backend=backend)
        opt.step()
    state = [{k: v if isinstance(v, int) else p.backend.to_numpy(v) for k, v in opt.state[p].items()}
             for p in params]
    return [p.backend.to_numpy(p.array) for p in params], state


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_backend_matches_numpy_reference(backend, variant, dtype):
    name, kw = variant
    want, want_state = trajectory(name, kw, "numpy", dtype)
    got, got_state = trajectory(name, kw, backend, dtype)
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    for a, b in zip(got, want):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
    for sa, sb in zip(got_state, want_state):
        assert sa.keys() == sb.keys()
        for k in sa:
            np.testing.assert_allclose(sa[k], sb[k], rtol=rtol, atol=rtol, err_msg=k)
