#!/usr/bin/env python3
"""Writes the PTX embedded in a module lowered by `kvshift-opt --kvshift-to-nvvm`
(format=isa) to a file or stdout.

    extract-ptx.py LOWERED.mlir [-o OUT.ptx] [--target N]

The module holds `gpu.binary @name [#gpu.object<..., assembly = "...">, ...]`;
python/kvshift/ptx.py undoes MLIR's escapes (loaded by path: no other part of
the package, nor PyTorch, is needed). With several objects (several targets),
--target picks one (default 0). Exits 1 with a message when no PTX is found.
"""
import argparse
import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "kvshift_ptx", os.path.join(_HERE, "..", "python", "kvshift", "ptx.py"))
ptx_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ptx_module)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("-o", "--output", default="-")
    ap.add_argument("--target", type=int, default=0)
    args = ap.parse_args()
    text = open(args.input).read() if args.input != "-" else sys.stdin.read()
    try:
        ptx = ptx_module.extract_ptx(text, args.target)
    except ValueError as e:
        sys.exit(f"extract-ptx.py: {args.input}: {e}")
    if args.output == "-":
        sys.stdout.write(ptx)
    else:
        with open(args.output, "w") as f:
            f.write(ptx)


if __name__ == "__main__":
    main()
