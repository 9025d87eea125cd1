#!/usr/bin/env python3
"""Writes the PTX embedded in a module lowered by `kvshift-opt --kvshift-to-nvvm`
(format=isa) to a file or stdout.

    extract-ptx.py LOWERED.mlir [-o OUT.ptx] [--target N]

The module holds `gpu.binary @name [#gpu.object<..., assembly = "...">, ...]`;
MLIR prints the string with `\\XX` hexadecimal escapes, undone here. With
several objects (several targets), --target picks one (default 0). Exits 1
with a message when no PTX is found.
"""
import argparse
import re
import sys


def unescape(s):
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            nxt = s[i + 1]
            if nxt in "\\\"":
                out += nxt.encode()
                i += 2
                continue
            if nxt == "n":
                out += b"\n"
                i += 2
                continue
            if nxt == "t":
                out += b"\t"
                i += 2
                continue
            out.append(int(s[i + 1:i + 3], 16))
            i += 3
            continue
        out += c.encode()
        i += 1
    return out.decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("-o", "--output", default="-")
    ap.add_argument("--target", type=int, default=0)
    args = ap.parse_args()
    text = open(args.input).read() if args.input != "-" else sys.stdin.read()
    objects = re.findall(r'assembly = "((?:[^"\\]|\\.)*)"', text)
    if not objects:
        sys.exit(f"extract-ptx.py: no PTX (gpu.object assembly) in {args.input}; "
                 "lower with --kvshift-to-nvvm=\"format=isa\"")
    if args.target >= len(objects):
        sys.exit(f"extract-ptx.py: --target {args.target} but only "
                 f"{len(objects)} object(s)")
    ptx = unescape(objects[args.target])
    if args.output == "-":
        sys.stdout.write(ptx)
    else:
        with open(args.output, "w") as f:
            f.write(ptx)


if __name__ == "__main__":
    main()
