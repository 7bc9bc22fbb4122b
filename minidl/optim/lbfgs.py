"""``LBFGS``: limited-memory BFGS, a quasi-Newton method (Liu & Nocedal, 1989), as PyTorch runs it.

Newton's method steps by ``-H^-1 g``; BFGS builds an approximation of ``H^-1`` from how the gradient
changed along the last steps, and L-BFGS keeps only the last ``history_size`` pairs
``s_k = x_{k+1} - x_k``, ``y_k = g_{k+1} - g_k`` (never a matrix). The direction comes from the
*two-loop recursion*, with ``rho_k = 1 / (y_k . s_k)`` and the initial scale ``gamma = s.y / y.y``::

    q <- -g
    for k = newest .. oldest:   a_k <- rho_k s_k . q;    q <- q - a_k y_k
    r <- gamma q
    for k = oldest .. newest:   b_k <- rho_k y_k . r;    r <- r + (a_k - b_k) s_k
    d <- r                                     (the first iteration: d = -g)

A pair enters the history only if ``y . s > 1e-10`` (the curvature condition that keeps ``H^-1``
positive definite). The step ``x <- x + t d`` uses ``t = lr`` (``min(1, 1/|g|_1) lr`` the very first
time), or, with ``line_search_fn="strong_wolfe"``, a ``t`` found by bracketing and zooming with cubic
interpolation until ``f(x + t d) <= f + c1 t g.d`` and ``|g(x + t d).d| <= c2 |g.d|``.

One ``step(closure)`` runs up to ``max_iter`` such iterations (``max_eval`` closure calls), stopping
early when the gradient is below ``tolerance_grad`` or progress below ``tolerance_change``; it returns
the loss of the *first* evaluation. The closure must zero the gradients, compute the loss, call
``backward()`` and return the loss.

>>> import minidl
>>> x = minidl.tensor([-1.5, 2.0], dtype=minidl.float64, requires_grad=True)
>>> opt = LBFGS([x], line_search_fn="strong_wolfe")
>>> def closure():
...     opt.zero_grad()
...     loss = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2  # Rosenbrock, minimum at (1, 1)
...     loss.backward()
...     return loss
>>> for _ in range(3): first_loss = opt.step(closure)
>>> [round(v, 4) for v in x.tolist()]
[1.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minidl.autograd import enable_grad, no_grad
from minidl.optim.optimizer import Optimizer, ParamsT, _restore
from minidl.tensor import Tensor


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through ``(x1, f1)``, ``(x2, f2)`` with slopes ``g1``, ``g2``, clipped to bounds.

    Bounds default to ``[min(x1, x2), max(x1, x2)]``; without a real minimiser, the middle of the bounds.
    """
    xmin_bound, xmax_bound = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square >= 0:
        d2 = np.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """A step ``t`` along ``d`` meeting the strong Wolfe conditions: returns ``(f_new, g_new, t, evaluations)``.

    Phase 1 grows ``t`` (by cubic extrapolation) until an interval ``[lo, hi]`` is known to hold such a
    point; phase 2 (zoom) shrinks it by cubic interpolation, kept 10% away from the ends when progress
    stalls. ``obj_func(x, t, d)`` returns the loss and the flat gradient at ``x + t d``.
    """
    d_norm = abs(d).max()
    f_new, g_new = obj_func(x, t, d)
    evals = 1
    gtd_new = g_new.dot(d)
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:  # bracketing
        decrease = not (f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev))
        if decrease and abs(gtd_new) <= -c2 * gtd:  # the strong Wolfe conditions hold at t
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if not decrease or gtd_new >= 0:  # a point that satisfies them lies between t_prev and t
            bracket, bracket_f, bracket_g = [t_prev, t], [f_prev, f_new], [g_prev, g_new]
            bracket_gtd = [gtd_prev, gtd_new]
            break
        min_step, max_step = t + 0.01 * (t - t_prev), t * 10  # extrapolate
        t_prev, t = t, _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step))
        f_prev, g_prev, gtd_prev = f_new, g_new, gtd_new
        f_new, g_new = obj_func(x, t, d)
        evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
    if ls_iter == max_ls:  # no bracket found in time
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    insuf_progress = False  # zoom
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
        lo_t, hi_t = min(bracket), max(bracket)
        eps = 0.1 * (hi_t - lo_t)
        if min(hi_t - t, t - lo_t) < eps:  # too close to an end of the bracket
            if insuf_progress or t >= hi_t or t <= lo_t:
                t = hi_t - eps if abs(t - hi_t) < abs(t - lo_t) else lo_t + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new = obj_func(x, t, d)
        evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low]:  # not enough decrease: new high end
            bracket[high], bracket_f[high], bracket_g[high], bracket_gtd[high] = t, f_new, g_new, gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:  # the old low end becomes the high end
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low], bracket_g[low], bracket_gtd[low] = t, f_new, g_new, gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], evals


class LBFGS(Optimizer):
    """``LBFGS(params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
    history_size=100, line_search_fn=None)``; ``max_eval`` defaults to ``max_iter * 5 // 4``.

    One parameter group only. All parameters are seen as one flat vector, so the state (PyTorch's
    layout) is global and kept under the first parameter: ``func_evals``, ``n_iter``, ``d``, ``t``,
    ``old_dirs``, ``old_stps``, ``ro``, ``H_diag``, ``prev_flat_grad``, ``prev_loss``, ``al``.
    """

    def __init__(self, params: ParamsT, lr: float = 1, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None) -> None:
        if isinstance(lr, Tensor):
            lr = lr.item()
        if not lr >= 0.0:
            raise ValueError(f"LBFGS: invalid learning rate {lr} (must be >= 0)")
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got {line_search_fn!r}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change, history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params: list[Tensor] = self.param_groups[0]["params"]

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)

    # ------------------------------------------------------------------ the parameters as one flat vector
    def _numel(self) -> int:
        return sum(p.array.size for p in self._params)

    def _gather_flat_grad(self) -> Any:
        xp = self._params[0].backend.xp
        return xp.concatenate([xp.zeros(p.array.size, p.array.dtype) if p.grad is None else p.grad.array.reshape(-1)
                               for p in self._params])

    def _add_grad(self, step_size: Any, update: Any) -> None:
        """``x <- x + step_size update``, in place in every parameter."""
        offset = 0
        for p in self._params:
            n = p.array.size
            p.array += p.array.dtype.type(float(step_size)) * update[offset:offset + n].reshape(p.array.shape)
            offset += n

    def _directional_evaluate(self, closure: Callable[[], Any], x: list[Any], t: Any, d: Any) -> tuple[float, Any]:
        """Loss and flat gradient at ``x + t d``; the parameters are put back to ``x`` afterwards."""
        self._add_grad(t, d)
        with enable_grad():
            loss = float(closure())
        flat_grad = self._gather_flat_grad()
        for p, value in zip(self._params, x):
            p.array[...] = value
        return loss, flat_grad

    # ------------------------------------------------------------------ the step
    def step(self, closure: Callable[[], Any]) -> Any:  # type: ignore[override]
        """Run up to ``max_iter`` L-BFGS iterations; ``closure`` is required. Returns the first loss."""
        if closure is None:
            raise RuntimeError("LBFGS.step needs a closure that recomputes the loss and its gradients")
        with no_grad():
            return self._step(closure)

    def _step(self, closure: Callable[[], Any]) -> Any:
        group = self.param_groups[0]
        lr = group["lr"].item() if isinstance(group["lr"], Tensor) else group["lr"]
        max_iter, max_eval, history_size = group["max_iter"], group["max_eval"], group["history_size"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        line_search_fn = group["line_search_fn"]

        state = self.state.setdefault(self._params[0], {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        if abs(flat_grad).max() <= tolerance_grad:  # already optimal
            return orig_loss

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        H_diag, prev_flat_grad, prev_loss = state.get("H_diag"), state.get("prev_flat_grad"), state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # the direction: steepest descent first, then the two-loop recursion
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = y.dot(s)
                if ys > 1e-10:  # curvature condition: keep the pair
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / y.dot(y)
                num_old = len(old_dirs)
                if "al" not in state:
                    state["al"] = [None] * history_size
                al = state["al"]
                q = -flat_grad
                for i in range(num_old - 1, -1, -1):
                    al[i] = old_stps[i].dot(q) * ro[i]
                    q -= al[i] * old_dirs[i]
                d = r = q * H_diag
                for i in range(num_old):
                    be_i = old_dirs[i].dot(r) * ro[i]
                    r += (al[i] - be_i) * old_stps[i]

            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.copy()
            else:
                prev_flat_grad[...] = flat_grad
            prev_loss = loss

            # the step length
            t = min(1.0, 1.0 / abs(flat_grad).sum()) * lr if state["n_iter"] == 1 else lr
            gtd = flat_grad.dot(d)  # directional derivative
            if gtd > -tolerance_change:
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                x_init = [p.array.copy() for p in self._params]

                def obj_func(x, t, d):
                    return self._directional_evaluate(closure, x, t, d)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(obj_func, x_init, t, d, loss, flat_grad, gtd,
                                                                  max_ls=max_eval - current_evals)
                self._add_grad(t, d)
                opt_cond = abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_grad(t, d)
                if n_iter != max_iter:  # the last iteration's loss would only be thrown away
                    with enable_grad():
                        loss = float(closure())
                    flat_grad = self._gather_flat_grad()
                    opt_cond = abs(flat_grad).max() <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            # stopping conditions
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if abs(d * t).max() <= tolerance_change or abs(loss - prev_loss) < tolerance_change:
                break

        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=H_diag,
                     prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return orig_loss

    # ------------------------------------------------------------------ saving and loading
    def _save_state(self, p: Tensor, state: dict[str, Any]) -> dict[str, Any]:
        return {name: _snapshot_any(v, p) for name, v in state.items()}

    def _load_state(self, p: Tensor, saved: dict[str, Any]) -> dict[str, Any]:
        numel = self._numel()
        return {name: _restore_any(v, p, name, numel) for name, v in saved.items()}


def _snapshot_any(value: Any, p: Tensor) -> Any:
    """Lists item by item; arrays and array scalars as Tensors holding a copy (PyTorch keeps 0-d tensors)."""
    if isinstance(value, list):
        return [_snapshot_any(v, p) for v in value]
    if isinstance(value, (bool, int, float, str)) and not isinstance(value, np.generic) or value is None:
        return value
    array = p.backend.xp.asarray(value).copy()
    return Tensor._wrap(array, p.backend, False)


def _restore_any(value: Any, p: Tensor, name: str, numel: int) -> Any:
    """The inverse of ``_snapshot_any``: flat vectors of ``numel`` items and scalars, in ``p``'s dtype."""
    if isinstance(value, list):
        return [_restore_any(v, p, name, numel) for v in value]
    if isinstance(value, (bool, int, float, str)) and not isinstance(value, np.generic) or value is None:
        return value
    if isinstance(value, Tensor):
        value = value.backend.to_numpy(value.array)
    shape = np.shape(value)
    if shape not in ((), (numel,)):
        raise ValueError(f"load_state_dict: LBFGS state {name!r} has shape {shape}, expected () or ({numel},)")
    if shape == ():
        array = p.backend.asarray(np.asarray(value).astype(p.array.dtype))
        return array[()] if isinstance(array, np.ndarray) else array  # a NumPy scalar, as arithmetic gives
    return _restore(value, Tensor._wrap(p.backend.xp.zeros(numel, p.array.dtype), p.backend, False), name)
