"""``python -m minidl.examples NAME [options]``: run one example (``--help`` after NAME for its options)."""

from __future__ import annotations

import sys

from minidl.examples import EXAMPLES, run


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m minidl.examples NAME [options]\n\nexamples:")
        for name, what in EXAMPLES.items():
            print(f"  {name:12s} {what}")
        return
    run(argv[0], argv[1:])


if __name__ == "__main__":
    main()
