#!/usr/bin/env python3
"""Static instruction counts of a kernel's main loop in a PTX file.

    python3 scripts/ptx-loop-stats.py FILE.ptx KERNEL [--per N] [--top N]

The main loop is the largest span between a label and a backward branch to
it (nested branches, such as a masking path taken only on some iterations,
are counted too). Prints the number of PTX instructions in it, the number
on the shortest path from its header to its backward branch (the path of
an iteration that takes no masking, bounds-checking or rescaling branch:
an interior key tile of the attention kernels), and the most
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


def is_instruction(x):
    return bool(x) and x[0] not in "$/{}." and not x.startswith("//")


def loop_lines(ptx, kernel):
    """The lines of the kernel's main loop, from its header label to the
    backward branch."""
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
    best, best_n = None, 0
    for i, line in enumerate(lines):
        bm = re.search(r"\bbra(?:\.uni)?\s+(\$L__\w+);", line)
        if bm and labels.get(bm.group(1), len(lines)) < i:
            span = lines[labels[bm.group(1)]:i + 1]
            n = sum(1 for x in span if is_instruction(x))
            if n > best_n:
                best, best_n = span, n
    if best is None:
        sys.exit(f"ptx-loop-stats: no loop in {kernel}")
    return best


def shortest_path(span):
    """Instructions on the shortest path from the loop header to its
    backward branch, through the forward branches inside the loop: the path
    of a tile that needs no masking, copies without bounds checks and skips
    what lazy rescaling skips."""
    header = re.match(r"^(\$L__\w+):", span[0]).group(1)
    # Basic blocks: a label starts one, a branch ends one.
    blocks, cur = [], {"label": None, "n": 0, "branch": None, "cond": False}
    for line in span:
        lm = re.match(r"^(\$L__\w+):", line)
        if lm:
            if cur["label"] is not None or cur["n"]:
                blocks.append(cur)
            cur = {"label": lm.group(1), "n": 0, "branch": None, "cond": False}
            continue
        if not is_instruction(line):
            continue
        cur["n"] += 1
        bm = re.search(r"\bbra(?:\.uni)?\s+(\$L__\w+);", line)
        if bm:
            cur["branch"], cur["cond"] = bm.group(1), line.startswith("@")
            blocks.append(cur)
            cur = {"label": None, "n": 0, "branch": None, "cond": False}
    if cur["label"] is not None or cur["n"]:
        blocks.append(cur)
    index = {b["label"]: i for i, b in enumerate(blocks) if b["label"]}
    inf = float("inf")
    # Blocks only branch forward (but for the backward branch to the header,
    # the end of the path): distances in order.
    dist = [inf] * len(blocks)
    dist[0] = 0
    best = inf
    for i, blk in enumerate(blocks):
        if dist[i] == inf:
            continue
        d = dist[i] + blk["n"]
        succ = []
        if blk["branch"] == header:
            best = min(best, d)
        elif blk["branch"] in index:  # (a branch out of the loop ends no path)
            succ.append(index[blk["branch"]])
        if blk["branch"] is None or blk["cond"]:
            if i + 1 < len(blocks):
                succ.append(i + 1)
        for j in succ:
            if j > i:
                dist[j] = min(dist[j], d)
    return best


def loop_instructions(ptx, kernel):
    return [x for x in loop_lines(ptx, kernel) if is_instruction(x)]


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
    span = loop_lines(open(args.ptx).read(), args.kernel)
    ins = [x for x in span if is_instruction(x)]
    ops = collections.Counter(opcode(x) for x in ins)
    per = f", {len(ins) / args.per:.1f} per unit of {args.per}" if args.per else ""
    print(f"{args.kernel}: {len(ins)} instructions in the main loop{per}")
    short = shortest_path(span)
    per = f", {short / args.per:.1f} per unit of {args.per}" if args.per else ""
    print(f"  shortest path through it: {short} instructions{per}")
    print("  " + ", ".join(f"{k} {v}" for k, v in ops.most_common(args.top)))


if __name__ == "__main__":
    main()
