#!/usr/bin/env python3
"""Static instruction counts of a kernel's main loop in a PTX file.

    python3 scripts/ptx-loop-stats.py FILE.ptx KERNEL [--per N] [--path] [--top N]
                                      [--through TEXT]

The kernel's body is split into basic blocks (a label starts one, a branch
ends one). The main loop is the strongly connected set of blocks with the
most instructions; the layout LLVM chose does not matter (rotated loops,
latch blocks placed first, cold blocks placed after the back edge).

Prints:
  * the PTX instructions in the loop's blocks (branches taken only on some
    iterations, such as a masking path, included);
  * the instructions of the shortest iteration: the shortest cycle through
    the loop's anchor block (the first block with a tensor-core instruction,
    else one with a barrier, else the largest). For the attention kernels
    that is the iteration of an interior key tile: no masking, the copies
    without bounds checks, no rescale where lazy-rescale skips it;
  * the most frequent opcodes of the loop (wgmma instructions by their first
    two parts: wgmma.mma_async, wgmma.fence, ...), and with --path those of
    the shortest iteration.
With --through TEXT, the shortest iteration is the shortest cycle through
the anchor block and a block with an instruction that starts with TEXT (for
example `cp.async.cg`: an iteration that issues copies, where the shortest
one is a last tile that issues none). With --per N, the counts are also divided by N (for example the keys a warp
handles per iteration). PTX is not SASS: ptxas removes most register moves
and turns packing moves into PRMT, so compare kernels with each other, not
with hardware counters.
"""
import argparse
import collections
import heapq
import re
import sys

LABEL = re.compile(r"^(\$L__\w+):")
BRANCH = re.compile(r"\bbra(?:\.uni)?\s+(\$L__\w+);")


def is_instruction(x):
    return bool(x) and x[0] not in "$/{}." and not x.startswith("//")


def opcode(ins):
    words = ins.split()
    if words[0].startswith("@"):
        words = words[1:]
    # An instruction without operands ends at its semicolon (`ret;`).
    parts = words[0].rstrip(";").split(".")
    return ".".join(parts[:2]) if parts[0] == "wgmma" else parts[0]


def kernel_lines(ptx, kernel):
    m = re.search(r"\.entry\s+" + re.escape(kernel) + r"\s*\(", ptx)
    if not m:
        sys.exit(f"ptx-loop-stats: no kernel {kernel!r} in the PTX")
    # The body ends at the first closing brace in column 0 (inline-asm
    # blocks close theirs indented).
    body = ptx[m.end():].split("\n}\n")[0]
    return [l.strip() for l in body.split("\n")]


def basic_blocks(lines):
    """[(label or None, [instructions], successors)] in text order."""
    blocks = []
    cur = {"label": None, "ins": [], "target": None, "cond": False, "ends": False}

    def close():
        if cur["label"] is not None or cur["ins"]:
            blocks.append(dict(cur))

    for line in lines:
        lm = LABEL.match(line)
        if lm:
            close()
            cur = {"label": lm.group(1), "ins": [], "target": None, "cond": False,
                   "ends": False}
            continue
        if not is_instruction(line):
            continue
        cur["ins"].append(line)
        bm = BRANCH.search(line)
        op = opcode(line)
        if bm or op in ("ret", "exit", "trap"):
            cur["target"] = bm.group(1) if bm else None
            cur["cond"] = line.startswith("@")
            cur["ends"] = not bm
            close()
            cur = {"label": None, "ins": [], "target": None, "cond": False,
                   "ends": False}
    close()
    index = {b["label"]: i for i, b in enumerate(blocks) if b["label"]}
    for i, b in enumerate(blocks):
        succ = []
        if b["target"] in index:
            succ.append(index[b["target"]])
        falls = not b["ends"] and (b["target"] is None or b["cond"])
        if falls and i + 1 < len(blocks):
            succ.append(i + 1)
        b["succ"] = succ
    return blocks


def strongly_connected(blocks):
    """Tarjan's algorithm, iterative: a list of sets of block indices."""
    index, low, on, stack, comps = {}, {}, set(), [], []
    counter = [0]
    for root in range(len(blocks)):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter[0]
                counter[0] += 1
                stack.append(v)
                on.add(v)
            recurse = False
            succ = blocks[v]["succ"]
            while i < len(succ):
                w = succ[i]
                i += 1
                if w not in index:
                    work.append((v, i))
                    work.append((w, 0))
                    recurse = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if recurse:
                continue
            if low[v] == index[v]:
                comp = set()
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.add(w)
                    if w == v:
                        break
                comps.append(comp)
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
    return comps


def main_loop(blocks):
    loops = [c for c in strongly_connected(blocks)
             if len(c) > 1 or any(s == next(iter(c)) for s in blocks[next(iter(c))]["succ"])]
    if not loops:
        return None
    return max(loops, key=lambda c: sum(len(blocks[i]["ins"]) for i in c))


def anchor_block(blocks, loop):
    order = sorted(loop)
    for test in (lambda op: op in ("mma", "wgmma.mma_async"), lambda op: op == "bar"):
        for i in order:
            if any(test(opcode(x)) for x in blocks[i]["ins"]):
                return i
    return max(order, key=lambda i: len(blocks[i]["ins"]))


def paths_from(blocks, loop, weight, src, stop=None):
    """Node-weighted shortest paths within the loop from block `src` (its
    weight included; blocks popped in (distance, index) order), not
    continuing past `stop`: (distance, predecessor) maps."""
    dist, prev, heap = {src: weight[src]}, {}, [(weight[src], src)]
    while heap:
        d, v = heapq.heappop(heap)
        if d > dist[v] or (v == stop and v != src):
            continue
        for w in blocks[v]["succ"]:
            if w in loop and w != src and d + weight[w] < dist.get(w, float("inf")):
                dist[w], prev[w] = d + weight[w], v
                heapq.heappush(heap, (dist[w], w))
    return dist, prev


def walk(prev, src, dst):
    """The blocks of the path from src to dst in `prev`."""
    nodes = [dst]
    while nodes[-1] != src:
        nodes.append(prev[nodes[-1]])
    return nodes[::-1]


def shortest_cycle(blocks, loop, via=None):
    """(instructions, [instructions]) of the shortest cycle through the
    anchor block within the loop, and through one of the blocks `via` if
    given; (None, []) if there is none."""
    a = anchor_block(blocks, loop)
    weight = {i: len(blocks[i]["ins"]) for i in loop}
    d1, p1 = paths_from(blocks, loop, weight, a)
    best = None
    for t in ([a] if via is None else sorted(via)):
        if t not in d1:
            continue
        # From t back to a (from a itself: d1).
        d2, p2 = (d1, p1) if t == a else paths_from(blocks, loop, weight, t, a)
        # The cycle's last block: a predecessor of a (a itself only when
        # the cycle is a's self-loop).
        for v in sorted(v for v in d2 if a in blocks[v]["succ"] and (v != a or t == a)):
            total = d1[t] + d2[v] - weight[t]
            if best is None or total < best[0]:
                best = (total, walk(p1, a, t) + walk(p2, t, v)[1:])
    if best is None:
        return None, []
    return best[0], [x for i in best[1] for x in blocks[i]["ins"]]


def shortest_iteration(blocks, loop):
    """The shortest cycle through the anchor block (shortest_cycle)."""
    return shortest_cycle(blocks, loop)


def shortest_through(blocks, loop, text):
    """The shortest cycle through the anchor block and some block of the
    loop with an instruction starting with `text`."""
    return shortest_cycle(blocks, loop, via=[
        i for i in loop if any(x.strip().startswith(text) for x in blocks[i]["ins"])])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ptx")
    ap.add_argument("kernel")
    ap.add_argument("--per", type=int, default=0,
                    help="also print the counts divided by this")
    ap.add_argument("--path", action="store_true",
                    help="also print the most frequent opcodes of the shortest iteration")
    ap.add_argument("--top", type=int, default=12,
                    help="how many of the most frequent opcodes to print")
    ap.add_argument("--through", default="",
                    help="the shortest iteration through a block with an instruction "
                         "starting with this text (e.g. cp.async.cg)")
    args = ap.parse_args()
    blocks = basic_blocks(kernel_lines(open(args.ptx).read(), args.kernel))
    loop = main_loop(blocks)
    if loop is None:
        sys.exit(f"ptx-loop-stats: no loop in {args.kernel}")
    ins = [x for i in sorted(loop) for x in blocks[i]["ins"]]

    def per(n):
        return f", {n / args.per:.1f} per unit of {args.per}" if args.per else ""
    print(f"{args.kernel}: {len(ins)} instructions in the main loop{per(len(ins))}")
    short, path = shortest_iteration(blocks, loop)
    if args.through:
        short, path = shortest_through(blocks, loop, args.through)
        if short is None:
            sys.exit(f"ptx-loop-stats: no block of the loop has {args.through}")
        print(f"  shortest iteration through {args.through}: {short} instructions"
              f"{per(short)}")
    else:
        print(f"  shortest iteration: {short} instructions{per(short)}")
    ops = collections.Counter(opcode(x) for x in ins)
    print("  " + ", ".join(f"{k} {v}" for k, v in ops.most_common(args.top)))
    if args.path:
        top = collections.Counter(opcode(x) for x in path).most_common(args.top)
        print("  on the shortest iteration: " + ", ".join(f"{k} {v}" for k, v in top))


if __name__ == "__main__":
    main()
