"""Deterministic randomness: ``minidl.manual_seed(n)`` and ``minidl.Generator``.

Every random op (``rand``, ``randn``, ``randint``, dropout, init, shuffling) takes an optional
``generator=``; without one it uses the default generator, which ``manual_seed`` resets. Numbers
are drawn with NumPy's ``Generator`` (PCG64) on the host, so every backend sees the same values.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class Generator:
    """A seeded source of random numbers (wraps ``numpy.random.Generator``).

    >>> g = Generator(0)
    >>> a = g.normal((2,))
    >>> _ = g.manual_seed(0)
    >>> bool((a == g.normal((2,))).all())
    True
    """

    def __init__(self, seed: int | None = None) -> None:
        self.manual_seed(seed)

    def manual_seed(self, seed: int | None) -> Generator:
        self.seed = seed
        self.np = np.random.Generator(np.random.PCG64(seed))
        return self

    def get_state(self) -> dict[str, Any]:
        """The generator's state as plain values (JSON-safe), for checkpoints."""
        return self.np.bit_generator.state

    def set_state(self, state: dict[str, Any]) -> None:
        self.np.bit_generator.state = state

    # draws (numpy arrays, float64 unless converted by the caller)
    def uniform(self, shape: tuple[int, ...], low: float = 0.0, high: float = 1.0) -> np.ndarray:
        return self.np.uniform(low, high, size=shape)

    def normal(self, shape: tuple[int, ...], mean: float = 0.0, std: float = 1.0) -> np.ndarray:
        return self.np.normal(mean, std, size=shape)

    def integers(self, low: int, high: int, shape: tuple[int, ...]) -> np.ndarray:
        return self.np.integers(low, high, size=shape)

    def permutation(self, n: int) -> np.ndarray:
        return self.np.permutation(n)


_default_generator = Generator(0)


def default_generator() -> Generator:
    return _default_generator


def manual_seed(seed: int) -> Generator:
    """Reseed the default generator (and return it), like ``torch.manual_seed``."""
    return _default_generator.manual_seed(seed)


def get_generator(generator: Generator | None) -> Generator:
    return _default_generator if generator is None else generator
