"""The minidl command line: ``python -m minidl COMMAND ...`` (installed as the ``minidl`` script too).

Each command lives in its own module, which defines ``add_parser(subparsers)``: it adds its sub-parser
and sets ``func`` (called with the parsed arguments, returning the exit status). To add a command,
write such a module and append its name to ``COMMANDS``.

    python -m minidl data list
    python -m minidl data fetch mnist
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

COMMANDS = ["minidl.data.cli"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minidl", description="minidl: a deep learning library to read and to use")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        importlib.import_module(module).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # the reader went away (`minidl data list | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # as the Python docs advise
        return 1


if __name__ == "__main__":
    sys.exit(main())
