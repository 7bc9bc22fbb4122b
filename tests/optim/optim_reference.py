"""Independent NumPy (float64) implementations of the published update rules, as PyTorch documents them.

Written from the algorithm boxes of the PyTorch documentation, in their textbook form (bias-corrected
m_hat and v_hat for Adam, ...), with no code shared with minidl. ``make(name, **hyper)`` returns a
``step(params, grads)`` closure that updates a list of float64 arrays in place.
"""

from __future__ import annotations

import numpy as np


def sgd(lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
    bufs = {}

    def step(params, grads):
        for i, (p, g) in enumerate(zip(params, grads)):
            g = -g if maximize else g.copy()
            if weight_decay:
                g = g + weight_decay * p
            if momentum:
                if i not in bufs:
                    bufs[i] = g.copy()
                else:
                    bufs[i] = momentum * bufs[i] + (1 - dampening) * g
                g = g + momentum * bufs[i] if nesterov else bufs[i]
            p[...] = p - lr * g

    return step


def adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False, decoupled=False):
    b1, b2 = betas
    m, v, vmax, t = {}, {}, {}, [0]

    def step(params, grads):
        t[0] += 1
        for i, (p, g) in enumerate(zip(params, grads)):
            g = -g if maximize else g.copy()
            if decoupled:
                p[...] = p * (1 - lr * weight_decay)
            elif weight_decay:
                g = g + weight_decay * p
            m[i] = b1 * m.get(i, 0.0) + (1 - b1) * g
            v[i] = b2 * v.get(i, 0.0) + (1 - b2) * g * g
            m_hat = m[i] / (1 - b1 ** t[0])
            if amsgrad:
                vmax[i] = np.maximum(vmax.get(i, 0.0), v[i])
                v_hat = vmax[i] / (1 - b2 ** t[0])
            else:
                v_hat = v[i] / (1 - b2 ** t[0])
            p[...] = p - lr * m_hat / (np.sqrt(v_hat) + eps)

    return step


def adamw(weight_decay=1e-2, **kw):
    return adam(weight_decay=weight_decay, decoupled=True, **kw)


def rmsprop(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, maximize=False):
    s, gbar, buf = {}, {}, {}

    def step(params, grads):
        for i, (p, g) in enumerate(zip(params, grads)):
            g = -g if maximize else g.copy()
            if weight_decay:
                g = g + weight_decay * p
            s[i] = alpha * s.get(i, 0.0) + (1 - alpha) * g**2
            denom_sq = s[i]
            if centered:
                gbar[i] = alpha * gbar.get(i, 0.0) + (1 - alpha) * g
                denom_sq = s[i] - gbar[i] ** 2
            denom = np.sqrt(denom_sq) + eps
            if momentum > 0:
                buf[i] = momentum * buf.get(i, 0.0) + g / denom
                p[...] = p - lr * buf[i]
            else:
                p[...] = p - lr * g / denom

    return step


def adagrad(lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10, maximize=False):
    state, t = {}, [0]

    def step(params, grads):
        t[0] += 1
        for i, (p, g) in enumerate(zip(params, grads)):
            g = -g if maximize else g.copy()
            if weight_decay:
                g = g + weight_decay * p
            clr = lr / (1 + (t[0] - 1) * lr_decay)
            state[i] = state.get(i, np.full_like(p, initial_accumulator_value)) + g * g
            p[...] = p - clr * g / (np.sqrt(state[i]) + eps)

    return step


def adadelta(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
    square_avg, acc_delta = {}, {}

    def step(params, grads):
        for i, (p, g) in enumerate(zip(params, grads)):
            g = -g if maximize else g.copy()
            if weight_decay:
                g = g + weight_decay * p
            square_avg[i] = rho * square_avg.get(i, 0.0) + (1 - rho) * g * g
            rms_update, rms_grad = np.sqrt(acc_delta.get(i, 0.0) + eps), np.sqrt(square_avg[i] + eps)
            delta = rms_update / rms_grad * g
            acc_delta[i] = rho * acc_delta.get(i, 0.0) + (1 - rho) * delta * delta
            p[...] = p - lr * delta

    return step


RULES = {"SGD": sgd, "Adam": adam, "AdamW": adamw, "RMSprop": rmsprop, "Adagrad": adagrad, "Adadelta": adadelta}

# (optimizer name, hyper-parameters): every variant the acceptance criteria name, and a few more.
VARIANTS = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.05, weight_decay=0.1)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05, amsgrad=True)),
    ("AdamW", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, weight_decay=0.1, amsgrad=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.005, alpha=0.9, centered=True, momentum=0.5, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1)),
    ("Adadelta", dict(lr=2.0, rho=0.95, weight_decay=0.05, maximize=True)),
]


def variant_id(v) -> str:
    name, kw = v
    return name + "-" + "-".join(f"{k}={val}" for k, val in kw.items())
