"""Numba-CUDA kernels (``@cuda.jit``) of the ``numba-cuda`` backend, one op family per module.

They are the Python twins of the CUDA C sources in ``kernels/*.cu``: the same algorithm, the same
thread layout, written in Python that Numba compiles for the GPU. They run on CuPy arrays (through
``__cuda_array_interface__``) on a GPU, and on plain NumPy arrays under Numba's CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``, set before numba is first imported), which is how CI checks them
without a GPU: ``python -m minidl.testing.gpu_selftest`` (the checks live in ``minidl/testing/``).
"""
