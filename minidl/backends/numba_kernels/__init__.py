"""``@njit`` kernels of the Numba backend, one op family per module."""
