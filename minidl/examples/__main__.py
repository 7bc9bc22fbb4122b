"""``python -m minidl.examples NAME [options]``: run one example (``--help`` after NAME for its options).

Before the example starts, the thread pools of NumPy's BLAS and of Numba get one thread per idle core
(``minidl.threads.configure_threads``; ``MINIDL_NUM_THREADS=N`` sets the count): threads beyond the idle
cores fight the machine's other jobs and each other, the commonest 10x slowdown on a shared machine.
``python -m`` has imported ``minidl`` (and NumPy, whose OpenBLAS pool is then resized through its API)
before this file runs; Numba is loaded later, by the example's backend, and reads the environment.
"""

from __future__ import annotations

import sys

from minidl.examples import EXAMPLES, run
from minidl.threads import configure_threads


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m minidl.examples NAME [options]\n\nexamples:")
        for name, what in EXAMPLES.items():
            print(f"  {name:12s} {what}")
        return
    configure_threads()
    run(argv[0], argv[1:])


if __name__ == "__main__":
    main()
