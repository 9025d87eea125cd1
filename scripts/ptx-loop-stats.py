#!/usr/bin/env python3
"""Static instruction counts of a kernel's main loop in a PTX file.

    python3 scripts/ptx-loop-stats.py FILE.ptx KERNEL [--per N] [--top N]

The main loop is the largest span between a label and a backward branch to
it (nested branches, such as a masking path taken only on some iterations,
are counted too). Prints the number of PTX instructions in it and the most
frequent opcodes (wgmma instructions by their first two parts:
wgmma.mma_async, wgmma.fence, ...); with --per N, also the count divided
by N (for example the keys a warp handles per iteration). PTX is not SASS: ptxas removes most
register moves and turns packing moves into PRMT, so compare kernels with
each other, not with hardware counters.
"""
import argparse
import collections
import re
import sys


def loop_instructions(ptx, kernel):
    m = re.search(r"\.entry\s+" + re.escape(kernel) + r"\s*\(", ptx)
    if not m:
        sys.exit(f"ptx-loop-stats: no kernel {kernel!r} in the PTX")
    body = ptx[m.end():].split("\n}\n")[0]
    lines = [l.strip() for l in body.split("\n")]
    labels = {}
    for i, line in enumerate(lines):
        lm = re.match(r"^(\$L__\w+):", line)
        if lm:
            labels[lm.group(1)] = i
    best = []
    for i, line in enumerate(lines):
        bm = re.search(r"\bbra(?:\.uni)?\s+(\$L__\w+);", line)
        if bm and labels.get(bm.group(1), len(lines)) < i:
            span = [x for x in lines[labels[bm.group(1)]:i + 1]
                    if x and x[0] not in "$/{}." and not x.startswith("//")]
            if len(span) > len(best):
                best = span
    if not best:
        sys.exit(f"ptx-loop-stats: no loop in {kernel}")
    return best


def opcode(ins):
    words = ins.split()
    if words[0].startswith("@"):
        words = words[1:]
    parts = words[0].split(".")
    return ".".join(parts[:2]) if parts[0] == "wgmma" else parts[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ptx")
    ap.add_argument("kernel")
    ap.add_argument("--per", type=int, default=0,
                    help="also print the count divided by this")
    ap.add_argument("--top", type=int, default=12,
                    help="how many of the most frequent opcodes to print")
    args = ap.parse_args()
    ins = loop_instructions(open(args.ptx).read(), args.kernel)
    ops = collections.Counter(opcode(x) for x in ins)
    per = f", {len(ins) / args.per:.1f} per unit of {args.per}" if args.per else ""
    print(f"{args.kernel}: {len(ins)} instructions in the main loop{per}")
    print("  " + ", ".join(f"{k} {v}" for k, v in ops.most_common(args.top)))


if __name__ == "__main__":
    main()
