"""A CPU emulator of kvshift's GPU kernels at the gpu-dialect level.

It runs the `gpu.func` kernels that `kvshift-opt --kvshift-fuse-attention-gpu`
writes (printed with `--mlir-print-op-generic`) on NumPy arrays, so that the
generated kernels themselves -- not a model of their design -- can be
executed and compared with the float64 reference on a machine without a GPU.

Execution model: every thread of every block of the grid is one lane of a
NumPy vector, and all lanes execute each operation together (SIMT in
lockstep). Divergent `scf.if` runs both regions under masks; `scf.for` with
bounds that differ between lanes runs until the last lane is done, with the
finished lanes masked off. Stores and copies only touch active lanes.

Semantics taken from the PTX ISA (independently of the emitter):
  * `nvvm.mma.sync` m16n8k16 (row.col, f16/bf16 in, f32 accumulate): the
    fragment layouts of A, B, C/D; products and sums in float64, rounded to f32;
  * `nvgpu.ldmatrix` (x1/x2/x4, with and without .trans): lane 8 m + r gives
    row r of matrix m; lane l receives M[l / 4][2 (l % 4) + e] (transposed:
    M[2 (l % 4) + e][l / 4]);
  * `gpu.shuffle` (idx, xor, down, up; width 32) within each warp;
  * `nvgpu.device_async_copy` (cp.async with zero fill): the source is read
    when the copy is issued and shared memory is written only when a
    `device_async_wait` lets its group complete, so a read before the wait
    sees the old contents, as it may on the hardware;
  * `ex2.approx`, `sin.approx`, `cos.approx`: exact float32 functions;
  * `wgmma.mma_async` m64nNk16 (sm_90a; f16/bf16 in, f32 accumulate, A from
    registers or from shared memory (K-major, imm-trans-a = 0, element
    (m, k) at B's K-major byte with n = m), B from shared memory by matrix
    descriptor without swizzle),
    written as the inline-PTX chains of the `wgmma` kernels (fence, MMAs,
    commit, and wait 0 when synchronous): A's registers as mma.sync's per
    warp of the warpgroup, D's as mma.sync's C blocks; B's element (k, n) at byte
    start + (n / 8) SBO + (k / 8) LBO + (n % 8) 16 + (k % 8) 2 (K-major) or
    start + (n / 8) SBO + (k / 8) LBO + (k % 8) 16 + (n % 8) 2 (MN-major,
    imm-trans-b = 1). Shared buffers get addresses for
    `memref.extract_aligned_pointer_as_index` (1 KiB apart per buffer).
    A chain without the wait (asynchronous) is a group in flight: its
    results are NaN until `wgmma.wait_group N` (an inline asm whose operands
    are tied to its results) retires it, which happens when at most N
    younger groups of the warpgroup remain; that asm then returns the
    group's accumulators for the operands that are the chain's results.

Checks that raise `EmulatorError` (each one a bug on real hardware too):
  * a load or store of an active lane outside its buffer (global or shared);
  * `gpu.barrier` where some but not all threads of a block are active, and
    `gpu.shuffle`/`ldmatrix`/`mma.sync` where some but not all lanes of a
    warp are active;
  * shared-memory races between warps: a read of an element another warp
    wrote since the last barrier, or a write to an element another warp read
    or wrote since the last barrier (cp.async writes count from their wait);
  * wgmma: part of a warpgroup active, a descriptor that differs between
    its lanes or points outside the shared buffers, an A or B element in
    shared memory another warp (or this one) wrote since the last barrier,
    and one written
    (stored or landed by cp.async) without a `fence.proxy.async` by its
    writer afterwards;
  * wgmma in flight: a write to shared memory that an unretired group reads
    (a store, a cp.async issued or landing), another warp's write to it
    after the wait that retires the group without a barrier between them
    (a retired group's reads count as its warps' reads in the barrier
    interval of its retirement), and groups never waited for when the
    kernel ends.

Not modelled: the order of execution between warps beyond the races above,
bank conflicts, timing, and intra-warp races (lanes of a warp run in
lockstep). Values of bf16 type are held as float32 numbers rounded to bf16
(round to nearest even), f16 as float16.

Host functions (the launchers that --kvshift-gpu-launchers writes) run as
a single lane: gpu.alloc gives a NumPy array, gpu.memcpy copies, gpu.wait and
gpu.dealloc do nothing, and gpu.launch_func runs its kernel as above.

Usage:
    emu = Module(generic_mlir_text)
    emu.launch("kernel_name", grid=(gx, gy, gz), block=128,
               args=[numpy_array_or_int, ...])   # arrays are updated in place
    emu.call("kvshift_launch_...", [host_array_or_int, ...])
"""
import re

import numpy as np


class EmulatorError(RuntimeError):
    pass


# --- types --------------------------------------------------------------------

def split_top(text, sep=","):
    """Splits at `sep` outside (), <>, [], {}."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "(<[{":
            depth += 1
        elif ch in ")>]}":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return parts


class Type:
    """kind: 'int' (index, iN), 'float' (f16, bf16, f32, f64), 'vector',
    'memref', 'struct', 'token'."""

    def __init__(self, text):
        self.text = text = text.strip()
        self.shape = ()
        if text.startswith("vector<"):
            self.kind = "vector"
            inner = text[len("vector<"):-1]
            *dims, elt = inner.split("x")
            self.shape = tuple(int(x) for x in dims)
            self.elt = elt
        elif text.startswith("memref<"):
            self.kind = "memref"
            inner = split_top(text[len("memref<"):-1])
            *dims, elt = inner[0].split("x")
            self.shape = tuple(-1 if x == "?" else int(x) for x in dims)
            self.elt = elt
            self.workgroup = "workgroup" in text
        elif text.startswith("!llvm.struct"):
            self.kind = "struct"
            self.elt = "f32"
        elif text.startswith("!nvgpu"):
            self.kind = "token"
            self.elt = None
        elif text in ("f16", "bf16", "f32", "f64"):
            self.kind = "float"
            self.elt = text
        elif text == "index" or re.fullmatch(r"i\d+", text):
            self.kind = "int"
            self.elt = text
        else:
            self.kind = "other"  # host-side types (tensors, functions, ...)
            self.elt = None

    def __repr__(self):
        return self.text


def parse_types(text):
    """'(a, b) -> c' or '(a, b) -> (c, d)' -> ([a, b], [c, d])."""
    ins, outs = text.split("->", 1)
    ins, outs = ins.strip(), outs.strip()
    assert ins.startswith("(") and ins.endswith(")"), ins
    in_types = [Type(t) for t in split_top(ins[1:-1])]
    if outs.startswith("(") and outs.endswith(")"):
        out_types = [Type(t) for t in split_top(outs[1:-1])]
    else:
        out_types = [Type(outs)]
    return in_types, out_types


NP = {"f16": np.float16, "bf16": np.float32, "f32": np.float32, "f64": np.float64,
      "index": np.int64, "i64": np.int64, "i32": np.int64, "i8": np.int64,
      "i16": np.int64, "i1": np.bool_}


def round_bf16(x):
    x = np.ascontiguousarray(x, dtype=np.float32)
    bits = x.view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000).astype(np.uint32)
    out = rounded.view(np.float32)
    return np.where(np.isnan(x), x, out)


def to_elt(x, elt):
    """Rounds/casts an array to the representation of element type `elt`."""
    if elt == "bf16":
        return round_bf16(x)
    if elt in ("f16", "f32", "f64"):
        return np.asarray(x).astype(NP[elt])
    if elt == "i1":
        return np.asarray(x).astype(np.bool_)
    if elt == "i32":
        return np.asarray(x).astype(np.int64).astype(np.int32).astype(np.int64)
    return np.asarray(x).astype(np.int64)


def bits16(x, elt):
    """16-bit patterns (uint32) of f16/bf16 values."""
    if elt == "bf16":
        return (np.ascontiguousarray(x, dtype=np.float32).view(np.uint32) >> 16)
    return np.ascontiguousarray(x, dtype=np.float16).view(np.uint16).astype(np.uint32)


def from_bits16(b, elt):
    b = np.asarray(b, dtype=np.uint32)
    if elt == "bf16":
        return (b << 16).astype(np.uint32).view(np.float32)
    return b.astype(np.uint16).view(np.float16)


# --- parsing the generic form -------------------------------------------------

OP_RE = re.compile(
    r'^(?:(%[\w.$-]+)(?::(\d+))? = )?"([\w.]+)"\(([^)]*)\)(.*)$')
BB_RE = re.compile(r"^\^bb\d+(?:\((.*)\))?:$")


class Op:
    __slots__ = ("name", "results", "operands", "props", "attrs", "regions",
                 "in_types", "out_types", "fn", "line", "sym")


class Block:
    def __init__(self, args):
        self.args = args  # [(name, Type)]
        self.ops = []


def extract_braced(text, start, open_s, close_s):
    """The text between `open_s` at `start` and its matching `close_s`."""
    depth, i = 0, start
    while i < len(text):
        if text.startswith(open_s, i):
            depth += 1
            i += len(open_s)
            continue
        if text.startswith(close_s, i):
            depth -= 1
            if depth == 0:
                return text[start + len(open_s):i], i + len(close_s)
            i += len(close_s)
            continue
        i += 1
    raise EmulatorError(f"unbalanced {open_s} in: {text[:200]}")


def parse_block_args(text):
    args = []
    if text:
        for part in split_top(text):
            name, ty = part.split(":", 1)
            args.append((name.strip(), Type(ty)))
    return args


class Parser:
    def __init__(self, text):
        self.lines = [l.strip() for l in text.splitlines()]
        self.lines = [l for l in self.lines
                      if l and not l.startswith(("//", "#", "module attributes"))]
        self.pos = 0

    def parse_op(self, line):
        m = OP_RE.match(line)
        if not m:
            raise EmulatorError(f"cannot parse: {line[:200]}")
        res, nres, name, operands, rest = m.groups()
        op = Op()
        op.name, op.line = name, line
        op.operands = [o.strip() for o in operands.split(",") if o.strip()]
        op.props = op.attrs = ""
        rest = rest.strip()
        if rest.startswith("<{"):
            op.props, end = extract_braced(rest, 0, "<{", "}>")
            rest = rest[end:].strip()
        op.regions = []
        if rest.startswith("({"):
            op.regions = self.parse_regions()
            rest = self.closing
        if rest.startswith("{"):
            op.attrs, end = extract_braced(rest, 0, "{", "}")
            rest = rest[end:].strip()
        assert rest.startswith(":"), (name, rest[:100])
        op.in_types, op.out_types = parse_types(rest[1:])
        n = int(nres) if nres else (1 if res else 0)
        if n == 1:
            op.results = [res]
        else:
            op.results = [f"{res}#{i}" for i in range(n)]
        if len(op.out_types) != n:
            raise EmulatorError(f"result count mismatch: {line[:200]}")
        return op

    def parse_regions(self):
        """After a line ending in '({': regions until '})...'; sets
        self.closing to the text after '})'."""
        regions = [[]]
        while True:
            line = self.lines[self.pos]
            self.pos += 1
            if line.startswith("})"):
                self.closing = line[2:].strip()
                return regions
            if line.startswith("}, {"):
                regions.append([])
                continue
            m = BB_RE.match(line)
            if m:
                regions[-1].append(Block(parse_block_args(m.group(1))))
                continue
            if not regions[-1]:
                regions[-1].append(Block([]))
            regions[-1][-1].ops.append(self.parse_op(line))

    def parse(self):
        ops = []
        while self.pos < len(self.lines):
            line = self.lines[self.pos]
            self.pos += 1
            ops.append(self.parse_op(line))
        return ops


def walk(ops):
    for op in ops:
        yield op
        for region in op.regions:
            for block in region:
                yield from walk(block.ops)


def prop(op, key):
    m = re.search(key + r"\s*=\s*([^,}>]+(?:<[^>]*>)?)", op.props + " " + op.attrs)
    if not m:
        raise EmulatorError(f"{op.name}: no {key} in {op.props}")
    return m.group(1).strip()


def int_list(op, key):
    m = re.search(key + r"\s*=\s*array<i\d+(?::\s*([-\d, ]*))?>", op.props + op.attrs)
    if not m:
        raise EmulatorError(f"{op.name}: no {key}")
    return [int(x) for x in (m.group(1) or "").split(",") if x.strip()]


def parse_float_literal(text, elt):
    text = text.strip()
    if text.startswith("0x"):
        bits = int(text, 16)
        if elt == "f32":
            return np.array([bits], dtype=np.uint32).view(np.float32)[0]
        if elt == "f64":
            return np.array([bits], dtype=np.uint64).view(np.float64)[0]
        if elt == "f16":
            return np.array([bits], dtype=np.uint16).view(np.float16)[0]
        if elt == "bf16":
            return np.array([bits << 16], dtype=np.uint32).view(np.float32)[0]
    return float(text)


# The shared memory a kernel may declare statically; above it the tiles are
# dynamic shared memory (kvshift-gpu-dynamic-shared-memory).
STATIC_SHARED_BYTES = 48 * 1024


# --- memory -------------------------------------------------------------------

class Mem:
    """A buffer: global (data 1-D, shared by all lanes) or workgroup (data
    [blocks, size], one per block). Row-major indices."""

    def __init__(self, name, data, shape, elt, workgroup):
        self.name, self.data, self.shape, self.elt = name, data, shape, elt
        self.workgroup = workgroup
        self.strides = []
        s = 1
        for d in reversed(shape):
            self.strides.insert(0, s)
            s *= max(d, 1)
        self.size = data.shape[-1]
        if workgroup:
            blocks = data.shape[0]
            self.wr_warp = np.full((blocks, self.size), -1, dtype=np.int64)
            self.wr_epoch = np.full((blocks, self.size), -1, dtype=np.int64)
            self.rd_warps = np.zeros((blocks, self.size), dtype=np.int64)
            self.rd_epoch = np.full((blocks, self.size), -1, dtype=np.int64)
            # Written through the generic proxy and not yet fenced for the
            # async proxy (wgmma's reads).
            self.proxy_dirty = np.zeros((blocks, self.size), dtype=bool)
            # How many wgmma groups in flight read each element.
            self.wg_reading = np.zeros((blocks, self.size), dtype=np.int64)
        self.base_addr = 0

    def flat(self, indices):
        f = 0
        for i, s in zip(indices, self.strides):
            f = f + i * s
        return f


# --- the machine --------------------------------------------------------------

def bcast_mask(mask, value):
    m = mask
    while m.ndim < value.ndim:
        m = m[..., None]
    return m


class Launch:
    def __init__(self, module, func, grid, block, args):
        self.module, self.func = module, func
        self.threads = block
        gx, gy, gz = grid
        self.nblocks = gx * gy * gz
        self.L = self.nblocks * block
        lane = np.arange(self.L, dtype=np.int64)
        self.block_of = lane // block
        self.tid = lane % block
        self.warp = self.tid // 32          # warp within its block
        self.gwarp = lane // 32             # warp in the grid
        self.bid = (self.block_of % gx, (self.block_of // gx) % gy,
                    self.block_of // (gx * gy))
        self.epoch = np.zeros(self.nblocks, dtype=np.int64)
        self.pending = []       # closed groups of async copies
        self.open_group = []    # copies issued since the last create_group
        self.wg_queues = {}     # warpgroup -> its wgmma groups in flight
        self.wg_entries = {}    # id of its results -> issued (asynchronous) group
        block0 = func.regions[0][0]
        params = [a for a in block0.args]
        nparams = sum(1 for _, ty in params
                      if not (ty.kind == "memref" and ty.workgroup))
        if len(args) != nparams:
            raise EmulatorError(
                f"{func.sym}: {nparams} arguments expected, {len(args)} given")
        self.env = {}
        for (name, ty), a in zip(params[:nparams], args):
            if ty.kind == "memref":
                arr = np.asarray(a)
                if arr.ndim != 1:
                    raise EmulatorError(f"{name}: flat arrays expected")
                self.env[name] = Mem(name, arr, (arr.shape[0],), ty.elt, False)
            else:
                self.env[name] = np.array([a], dtype=np.int64)
        self.shared = []
        addr = 0
        for name, ty in params[nparams:]:
            size = int(np.prod(ty.shape))
            data = np.full((self.nblocks, size), np.nan, dtype=NP[ty.elt])
            mem = Mem(name, data, ty.shape, ty.elt, True)
            mem.base_addr = addr
            addr += -(-size * ELT_BYTES[ty.elt] // 1024) * 1024
            self.shared.append(mem)
            self.env[name] = mem

    # -- helpers --
    def full(self, mask):
        return np.ones(self.L, dtype=bool) if mask is None else mask

    def check_warp_uniform(self, mask, what):
        if mask is None:
            return
        per_warp = mask.reshape(-1, 32)
        bad = per_warp.any(1) & ~per_warp.all(1)
        if bad.any():
            w = int(np.argmax(bad))
            raise EmulatorError(f"{what} with part of warp {w} active (divergent)")

    def lanes_index(self, v):
        v = np.asarray(v)
        if v.shape[0] == 1 and self.L != 1:
            v = np.broadcast_to(v, (self.L,) + v.shape[1:])
        return v

    def access(self, mem, flat, mask, n, write, what):
        """Global/shared element offsets [L, n] of an access; checks bounds
        (active lanes) and shared-memory races. Returns (offsets, active)."""
        active = self.full(mask)
        offs = self.lanes_index(flat)[:, None] + np.arange(n)[None, :]
        bad = active[:, None] & ((offs < 0) | (offs >= mem.size))
        if bad.any():
            lane = int(np.argwhere(bad)[0][0])
            raise EmulatorError(
                f"{what}: out of bounds {'store to' if write else 'load from'} "
                f"{'shared ' if mem.workgroup else ''}buffer {mem.name} "
                f"(size {mem.size}) at element {int(offs[lane].min())}..{int(offs[lane].max())}, "
                f"block {int(self.block_of[lane])} thread {int(self.tid[lane])}")
        offs = np.where(active[:, None], offs, 0)
        if mem.workgroup:
            self.race_check(mem, offs, active, write, what)
        return offs, active

    def race_check(self, mem, offs, active, write, what, writer=None,
                   record=True):
        lanes = np.nonzero(active)[0]
        if lanes.size == 0:
            return
        blk = self.block_of[lanes][:, None]
        o = offs[lanes]
        blk_b = np.broadcast_to(blk, o.shape)
        warp = (self.warp[lanes] if writer is None else writer[lanes])[:, None]
        warp_b = np.broadcast_to(warp, o.shape)
        ep = self.epoch[blk_b]
        ww, we = mem.wr_warp[blk_b, o], mem.wr_epoch[blk_b, o]
        other_w = (we == ep) & (ww != warp_b) & (ww >= 0)
        if write:
            rw, re_ = mem.rd_warps[blk_b, o], mem.rd_epoch[blk_b, o]
            other_r = (re_ == ep) & ((rw & ~(1 << warp_b)) != 0)
            bad = other_w | other_r
            kind = "write after another warp's " + ("write" if other_w.any() else "read")
        else:
            bad = other_w
            kind = "read of another warp's write"
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise EmulatorError(
                f"{what}: shared-memory race on {mem.name}: {kind} without a barrier "
                f"between them (block {int(blk_b[i, j])}, warp {int(warp_b[i, j])}, "
                f"element {int(o[i, j])})")
        if not record:
            return
        if write:
            mem.wr_warp[blk_b, o] = warp_b
            mem.wr_epoch[blk_b, o] = ep
        else:
            fresh = mem.rd_epoch[blk_b, o] != ep
            cur = np.where(fresh, 0, mem.rd_warps[blk_b, o])
            # Several lanes may read one element: OR the bits with ufunc.at.
            flat_idx = (blk_b * mem.size + o).ravel()
            rd = mem.rd_warps.reshape(-1)
            rd[flat_idx] = cur.ravel()
            np.bitwise_or.at(rd, flat_idx, (1 << warp_b).ravel())
            mem.rd_epoch[blk_b, o] = ep

    def load(self, mem, flat, mask, n, what):
        offs, active = self.access(mem, flat, mask, n, False, what)
        if mem.workgroup:
            vals = mem.data[self.block_of[:, None], offs]
        else:
            vals = mem.data[offs]
        return vals  # [L, n]

    def store(self, mem, flat, mask, vals, what):
        vals = np.asarray(vals)
        n = vals.shape[-1] if vals.ndim == 2 else 1
        vals = np.broadcast_to(vals.reshape(vals.shape[0], n), (self.L, n))
        offs, active = self.access(mem, flat, mask, n, True, what)
        lanes = np.nonzero(active)[0]
        v = to_elt(vals[lanes], mem.elt).astype(mem.data.dtype)
        if mem.workgroup:
            wg_in_flight_check(self, mem, offs, active, what)
            mem.data[self.block_of[lanes][:, None], offs[lanes]] = v
            mem.proxy_dirty[self.block_of[lanes][:, None], offs[lanes]] = True
        else:
            mem.data[offs[lanes]] = v

    # -- execution --
    def run(self):
        # Copies never waited for are dropped: nothing could read them.
        self.exec_ops(self.func.regions[0][0].ops, None)
        left = [g for g, q in self.wg_queues.items() if q]
        if left:
            raise EmulatorError(
                f"wgmma: warpgroup {left[0]} ends the kernel with "
                f"{len(self.wg_queues[left[0]])} group(s) never waited for")

    def exec_ops(self, ops, mask):
        env = self.env
        for op in ops:
            if op.name in ("scf.yield", "gpu.return", "func.return"):
                return [env[o] for o in op.operands]
            fn = HANDLERS.get(op.name)
            if fn is None:
                raise EmulatorError(f"unsupported operation {op.name}")
            outs = fn(self, op, [env[o] for o in op.operands], mask)
            if op.results:
                if not isinstance(outs, (list, tuple)):
                    outs = [outs]
                for r, v in zip(op.results, outs):
                    env[r] = v
        return []


HANDLERS = {}


def handler(*names):
    def deco(fn):
        for n in names:
            HANDLERS[n] = fn
        return fn
    return deco


def arr(x):
    return np.asarray(x)


def where(mask, a, b):
    a, b = arr(a), arr(b)
    m = mask
    nd = max(a.ndim, b.ndim)
    while m.ndim < nd:
        m = m[..., None]
    return np.where(m, a, b)


@handler("arith.constant")
def _constant(L, op, args, mask):
    ty = op.out_types[0]
    text = prop(op, "value")
    if ty.kind == "vector":
        m = re.search(r"dense<(.*?)>", op.props)
        body = m.group(1).strip()
        if body.startswith("["):
            vals = [parse_float_literal(x, ty.elt) if ty.elt.startswith(("f", "b"))
                    else int(x) for x in body.strip("[]").split(",")]
            v = np.array(vals).reshape(ty.shape)
        else:
            x = parse_float_literal(body, ty.elt) if ty.elt.startswith(("f", "b")) \
                else int(body)
            v = np.full(ty.shape, x)
        return to_elt(v, ty.elt)[None]
    val = text.split(":")[0].strip()
    if ty.kind == "float":
        return to_elt(np.array([parse_float_literal(val, ty.elt)]), ty.elt)
    if val in ("true", "false"):
        return np.array([val == "true"])
    return to_elt(np.array([int(val)]), ty.elt)


def binop(fn, flt=None):
    def h(L, op, args, mask):
        r = fn(arr(args[0]), arr(args[1]))
        return to_elt(r, op.out_types[0].elt)
    return h


def fbin(fn):
    def h(L, op, args, mask):
        elt = op.out_types[0].elt
        a, b = arr(args[0]), arr(args[1])
        if elt == "bf16":
            a, b = a.astype(np.float32), b.astype(np.float32)
        with np.errstate(all="ignore"):
            return to_elt(fn(a, b), elt)
    return h


HANDLERS["arith.addi"] = binop(np.add)
HANDLERS["arith.subi"] = binop(np.subtract)
HANDLERS["arith.muli"] = binop(np.multiply)
HANDLERS["arith.andi"] = binop(np.bitwise_and)
HANDLERS["arith.ori"] = binop(np.bitwise_or)
HANDLERS["arith.xori"] = binop(np.bitwise_xor)
HANDLERS["arith.minsi"] = binop(np.minimum)
HANDLERS["arith.maxsi"] = binop(np.maximum)
def unsigned(fn):
    """fn on the operands' bits as unsigned 64-bit integers."""
    return lambda a, b: fn(_unsigned(a), _unsigned(b)).view(np.int64)


HANDLERS["arith.shli"] = binop(lambda a, b: np.left_shift(a.astype(np.int64), b.astype(np.int64)))
HANDLERS["arith.shrui"] = binop(unsigned(lambda a, b: np.right_shift(a, b)))
HANDLERS["arith.minui"] = binop(unsigned(np.minimum))
HANDLERS["arith.maxui"] = binop(unsigned(np.maximum))
HANDLERS["arith.addf"] = fbin(np.add)
HANDLERS["arith.subf"] = fbin(np.subtract)
HANDLERS["arith.mulf"] = fbin(np.multiply)
HANDLERS["arith.divf"] = fbin(np.divide)
HANDLERS["arith.maximumf"] = fbin(np.maximum)
HANDLERS["arith.minimumf"] = fbin(np.minimum)
HANDLERS["arith.maxnumf"] = fbin(np.fmax)
HANDLERS["arith.minnumf"] = fbin(np.fmin)


def _unsigned(x):
    return arr(x).astype(np.int64).view(np.uint64)


@handler("arith.divui", "arith.remui", "arith.divsi", "arith.remsi",
         "arith.ceildivui", "arith.ceildivsi")
def _div(L, op, args, mask):
    a, b = arr(args[0]).astype(np.int64), arr(args[1]).astype(np.int64)
    b_safe = np.where(b == 0, 1, b)
    if op.name in ("arith.divui", "arith.remui", "arith.ceildivui"):
        ua, ub = _unsigned(a), _unsigned(b_safe)
        if op.name == "arith.divui":
            r = (ua // ub).view(np.int64)
        elif op.name == "arith.remui":
            r = (ua % ub).view(np.int64)
        else:
            r = ((ua + ub - np.uint64(1)) // ub).view(np.int64)
    else:
        q = np.abs(a) // np.abs(b_safe) * np.sign(a) * np.sign(b_safe)
        if op.name == "arith.divsi":
            r = q
        elif op.name == "arith.remsi":
            r = a - q * b_safe
        else:
            r = -(-a // b_safe)
    return to_elt(r, op.out_types[0].elt)


CMPI = {0: np.equal, 1: np.not_equal, 2: np.less, 3: np.less_equal, 4: np.greater,
        5: np.greater_equal}


@handler("arith.cmpi")
def _cmpi(L, op, args, mask):
    p = int(prop(op, "predicate").split(":")[0])
    a, b = arr(args[0]).astype(np.int64), arr(args[1]).astype(np.int64)
    if p >= 6:
        a, b = _unsigned(a), _unsigned(b)
        p -= 4
    return CMPI[p](a, b)


@handler("arith.cmpf")
def _cmpf(L, op, args, mask):
    p = int(prop(op, "predicate").split(":")[0])
    a, b = arr(args[0]).astype(np.float64), arr(args[1]).astype(np.float64)
    unordered = np.isnan(a) | np.isnan(b)
    with np.errstate(invalid="ignore"):
        base = {1: a == b, 2: a > b, 3: a >= b, 4: a < b, 5: a <= b, 6: a != b,
                7: np.ones_like(unordered), 8: a == b, 9: a > b, 10: a >= b,
                11: a < b, 12: a <= b, 13: a != b, 14: np.zeros_like(unordered)}
    if p == 0:
        return np.zeros_like(unordered)
    if p == 15:
        return np.ones_like(unordered)
    if p <= 7:
        return base[p] & ~unordered
    return base[p] | unordered


@handler("arith.select")
def _select(L, op, args, mask):
    c = arr(args[0]).astype(bool)
    return where(c, args[1], args[2])


@handler("arith.index_cast", "arith.index_castui", "arith.extsi", "arith.extui",
         "arith.trunci")
def _icast(L, op, args, mask):
    return to_elt(arr(args[0]).astype(np.int64), op.out_types[0].elt)


@handler("arith.extf", "arith.truncf")
def _fcast(L, op, args, mask):
    a = arr(args[0])
    if op.name == "arith.truncf" and op.out_types[0].elt == "bf16":
        return round_bf16(a.astype(np.float32))
    return to_elt(a, op.out_types[0].elt)


@handler("arith.sitofp", "arith.uitofp")
def _itof(L, op, args, mask):
    return to_elt(arr(args[0]).astype(np.float64), op.out_types[0].elt)


@handler("arith.fptosi", "arith.fptoui")
def _ftoi(L, op, args, mask):
    return to_elt(np.trunc(arr(args[0]).astype(np.float64)).astype(np.int64),
                  op.out_types[0].elt)


@handler("arith.negf")
def _negf(L, op, args, mask):
    return -arr(args[0])


@handler("llvm.intr.fma", "vector.fma", "math.fma")
def _fma(L, op, args, mask):
    a, b, c = (arr(x).astype(np.float64) for x in args)
    with np.errstate(all="ignore"):
        return to_elt(a * b + c, op.out_types[0].elt)


@handler("llvm.intr.rint")
def _rint(L, op, args, mask):
    return np.rint(arr(args[0]))


INTRINSICS = {
    "llvm.nvvm.ex2.approx.ftz.f": np.exp2,
    "llvm.nvvm.sin.approx.ftz.f": np.sin,
    "llvm.nvvm.cos.approx.ftz.f": np.cos,
    "llvm.nvvm.lg2.approx.ftz.f": np.log2,
    "llvm.nvvm.rcp.approx.ftz.f": lambda x: 1.0 / x,
}


@handler("llvm.call_intrinsic")
def _intrinsic(L, op, args, mask):
    name = re.search(r'intrin = "([^"]+)"', op.props).group(1)
    fn = INTRINSICS.get(name)
    if fn is None:
        raise EmulatorError(f"unsupported intrinsic {name}")
    with np.errstate(all="ignore"):
        return to_elt(fn(arr(args[0]).astype(np.float32)), op.out_types[0].elt)


@handler("llvm.inline_asm")
def _asm(L, op, args, mask):
    text = re.search(r'asm_string = "([^"]*)"', op.props).group(1)
    text = text.replace("\\0A", "\n").replace("\\09", "\t")
    if text.strip() == "mov.b32 $0, $1;":
        return arr(args[0])
    if text.strip() == "fence.proxy.async.shared::cta;":
        return _proxy_fence(L, mask)
    if "wgmma.mma_async" in text:
        return _wgmma_chain(L, op, text, args, mask)
    m = re.fullmatch(r"\s*wgmma\.wait_group\.sync\.aligned (\d+);\s*", text)
    if m:
        return _wgmma_wait(L, op, int(m.group(1)), args, mask)
    raise EmulatorError(f"unsupported inline asm {text!r}")


ELT_BYTES = {"f16": 2, "bf16": 2, "f32": 4, "f64": 8, "i32": 4, "i64": 8}


def _proxy_fence(L, mask):
    """fence.proxy.async: each active thread's earlier shared-memory writes
    become visible to the async proxy (elements whose last writer is a warp
    with active lanes here)."""
    active = L.full(mask).reshape(L.nblocks, -1, 32).any(2)    # [blocks, warps]
    for mem in L.shared:
        ww = mem.wr_warp
        fenced = np.take_along_axis(active, np.maximum(ww, 0), 1) & (ww >= 0)
        mem.proxy_dirty &= ~fenced
    return None


def _warpgroup_mask(L, mask, what):
    if L.threads % 128:
        raise EmulatorError(f"{what}: {L.threads} threads per block is not whole warpgroups")
    act = L.full(mask).reshape(-1, 128)
    if (act.any(1) & ~act.all(1)).any():
        g = int(np.argmax(act.any(1) & ~act.all(1)))
        raise EmulatorError(f"{what} with part of warpgroup {g} active")
    return act.all(1)                                               # [G]


def wg_in_flight_check(L, mem, offs, active, what):
    """A write to shared elements `offs` [L, n] of the active lanes: none
    may be read by a wgmma group still in flight."""
    lanes = np.nonzero(active)[0]
    if lanes.size == 0:
        return
    blk = np.broadcast_to(L.block_of[lanes][:, None], offs[lanes].shape)
    busy = mem.wg_reading[blk, offs[lanes]] > 0
    if busy.any():
        i, j = np.argwhere(busy)[0]
        raise EmulatorError(
            f"{what}: writes element {int(offs[lanes][i, j])} of {mem.name} "
            f"(block {int(blk[i, j])}) while a wgmma group that reads it is in "
            f"flight (no wgmma.wait_group for it before the write)")


def _wgmma_retire(L, g, keep):
    """Retires the groups of warpgroup g but its `keep` youngest. The group
    may have read its B elements until now: they count as read by the
    warpgroup's four warps in the current barrier interval, so that another
    warp's write to them without a barrier after this wait is a race."""
    q = L.wg_queues.get(g, [])
    warps = L.threads // 32
    first = (g * 4) % warps
    bits = sum(1 << w for w in range(first, first + 4))
    while len(q) > keep:
        entry = q.pop(0)
        for mem, blk, e in entry["holds"].pop(g, []):
            np.subtract.at(mem.wg_reading, (blk, e), 1)
            ep = L.epoch[blk]
            fresh = mem.rd_epoch[blk, e] != ep
            mem.rd_warps[blk, e] = np.where(fresh, 0, mem.rd_warps[blk, e]) | bits
            mem.rd_epoch[blk, e] = ep
        entry["retired"].add(g)


def _wgmma_wait(L, op, keep, args, mask):
    """wgmma.wait_group `keep` with operands tied to its results: retires
    each active warpgroup's groups but the `keep` youngest and returns, for
    each operand that is a result of a chain (an extractvalue of its NaN
    placeholder), the accumulator of the retired groups' lanes."""
    groups = _warpgroup_mask(L, mask, "wgmma.wait_group")
    for g in np.nonzero(groups)[0]:
        _wgmma_retire(L, int(g), keep)
    out = np.full((L.L, len(args)), np.nan)
    for i, a in enumerate(args):
        a = L.lanes_index(arr(a))
        out[:, i] = a
        base = a.base if isinstance(a, np.ndarray) else None
        entry = L.wg_entries.get(id(base)) if base is not None else None
        if entry is None:
            continue
        col = (a.ctypes.data - base.ctypes.data) // base.itemsize
        done = np.zeros(L.L // 128, dtype=bool)
        done[sorted(entry["retired"])] = True
        lanes = np.repeat(done, 128)
        out[lanes, i] = entry["acc"][lanes, col]
    return out


def _wgmma_b(L, desc, k_major, n, esize, groups, what, holds=None, operand="B"):
    """B (16 x n) of each active warpgroup from its descriptor: [G, 16, n].
    With `holds` (a dict), the elements each group reads are added to
    holds[group] as (mem, blocks, elements) and counted as read in flight."""
    d = L.lanes_index(arr(desc).astype(np.int64)).reshape(-1, 128)[groups]
    if (d != d[:, :1]).any():
        raise EmulatorError(f"{what}: the descriptor differs between lanes of a warpgroup")
    d = d[:, 0].astype(np.uint64)
    start = (d & 0x3FFF) << 4
    lbo = ((d >> 16) & 0x3FFF) << 4
    sbo = ((d >> 32) & 0x3FFF) << 4
    if ((d >> 49) & 7).any() or (d >> 62).any():
        raise EmulatorError(f"{what}: only descriptors without swizzle or base offset are modelled")
    kk = np.arange(16)[:, None]
    nn = np.arange(n)[None, :]
    if k_major:
        inner = (nn % 8) * 16 + (kk % 8) * esize
    else:
        inner = (kk % 8) * 16 + (nn % 8) * esize
    byte = (start[:, None, None] + (nn // 8) * sbo[:, None, None] +
            (kk // 8) * lbo[:, None, None] + inner).astype(np.int64)  # [G, 16, n]
    blocks = (np.nonzero(groups)[0] * 128) // L.threads
    out = np.full(byte.shape, np.nan)
    found = np.zeros(byte.shape, dtype=bool)
    group_warps = (np.nonzero(groups)[0] * 4) % (L.threads // 32)
    for mem in L.shared:
        lo = mem.base_addr
        hi = lo + mem.size * ELT_BYTES[mem.elt]
        inside = (byte >= lo) & (byte < hi)
        if not inside.any():
            continue
        if ((byte[inside] - lo) % ELT_BYTES[mem.elt]).any():
            raise EmulatorError(f"{what}: misaligned {operand} element")
        e = np.where(inside, (byte - lo) // ELT_BYTES[mem.elt], 0)
        blk = np.broadcast_to(blocks[:, None, None], e.shape)
        sel = inside
        ep = L.epoch[blk]
        written = (mem.wr_epoch[blk, e] == ep) & (mem.wr_warp[blk, e] >= 0) & sel
        if written.any():
            g, i, j = np.argwhere(written)[0]
            raise EmulatorError(
                f"{what}: shared-memory race on {mem.name}: {operand} element {int(e[g, i, j])} "
                f"written by warp {int(mem.wr_warp[blk[g, i, j], e[g, i, j]])} without a "
                f"barrier before the MMA (block {int(blk[g, i, j])})")
        dirty = mem.proxy_dirty[blk, e] & sel
        if dirty.any():
            g, i, j = np.argwhere(dirty)[0]
            raise EmulatorError(
                f"{what}: {operand} element {int(e[g, i, j])} of {mem.name} was written "
                f"without fence.proxy.async before the MMA (block {int(blk[g, i, j])})")
        out = np.where(sel, mem.data[blk, e].astype(np.float64), out)
        found |= sel
        if holds is not None:
            for gi, g in enumerate(np.nonzero(groups)[0]):
                hb, he = blk[gi][sel[gi]], e[gi][sel[gi]]
                np.add.at(mem.wg_reading, (hb, he), 1)
                holds.setdefault(int(g), []).append((mem, hb, he))
        # The warpgroup's four warps read these elements.
        bits = sum(1 << w for w in range(4))
        gb = np.broadcast_to((bits << group_warps)[:, None, None], e.shape)
        fresh = mem.rd_epoch[blk[sel], e[sel]] != ep[sel]
        cur = np.where(fresh, 0, mem.rd_warps[blk[sel], e[sel]])
        mem.rd_warps[blk[sel], e[sel]] = cur | gb[sel]
        mem.rd_epoch[blk[sel], e[sel]] = ep[sel]
    if not found.all():
        raise EmulatorError(f"{what}: {operand} reaches outside the shared buffers")
    return out


def _wgmma_chain(L, op, text, args, mask):
    """One chain of wgmma.mma_async m64nNk16 (see the module docstring):
    synchronous (ends with wait_group 0) or issued (ends with its
    commit_group; wgmma.wait_group retires it). Operands $0 .. nOut-1 are
    the accumulators, then the inputs in order (args)."""
    groups = _warpgroup_mask(L, mask, "wgmma")
    # Chains fenced first, with one commit, then waited for or not.
    body = [l.strip().rstrip(";").strip() for l in text.split("\n")]
    body = [l for l in body if l and l not in ("{", "}") and not l.startswith(".reg")]
    wg = [l for l in body if l.startswith("wgmma.")]
    commit = "wgmma.commit_group.sync.aligned"
    sync = len(wg) > 2 and wg[-2:] == [commit, "wgmma.wait_group.sync.aligned 0"]
    issued = len(wg) > 1 and wg[-1] == commit
    if not wg or wg[0] != "wgmma.fence.sync.aligned" or not (sync or issued) or \
            wg.count(commit) != 1 or any(l.startswith("wgmma.wait_group") for l in wg[:-1]):
        raise EmulatorError("wgmma chain: only chains that start with wgmma.fence and "
                            "end with their commit_group, or with it and "
                            "wgmma.wait_group 0, are modelled")
    holds = None if sync else {}
    regs = {}
    accs = None
    n_acc = None
    G = int(groups.sum())
    lane = np.arange(32)
    g4, t4 = lane // 4, lane % 4
    for line in text.split("\n"):
        line = line.strip().rstrip(";").strip()
        if not line or line in ("{", "}") or line.startswith(".reg"):
            continue
        if line.startswith("setp."):
            m = re.match(r"setp\.(ne|eq)\.b32 (%\w+), \$(\d+), 0$", line)
            if not m:
                raise EmulatorError(f"wgmma chain: unsupported {line!r}")
            regs[m.group(2)] = ("pred", m.group(1), int(m.group(3)))
            continue
        if line.startswith("add.s64"):
            m = re.match(r"add\.s64 (%\w+), \$(\d+), (\d+)$", line)
            if not m:
                raise EmulatorError(f"wgmma chain: unsupported {line!r}")
            regs[m.group(1)] = ("add", int(m.group(2)), int(m.group(3)))
            continue
        if line in ("wgmma.fence.sync.aligned", "wgmma.commit_group.sync.aligned",
                    "wgmma.wait_group.sync.aligned 0"):
            if line.startswith("wgmma.wait_group"):
                # Every group of these warpgroups is done.
                for g in np.nonzero(groups)[0]:
                    _wgmma_retire(L, int(g), 0)
            continue
        m = re.match(r"wgmma\.mma_async\.sync\.aligned\.m64n(\d+)k16\.f32\.(bf16|f16)\.(bf16|f16) "
                     r"\{([^}]*)\}, \{([^}]*)\}, (\S+), (\S+), 1, 1, ([01])$", line)
        ss = None
        if not m:
            # A from shared memory too: a descriptor, then imm-trans-a.
            ss = re.match(r"wgmma\.mma_async\.sync\.aligned\.m64n(\d+)k16\.f32\.(bf16|f16)\.(bf16|f16) "
                          r"\{([^}]*)\}, (\S+), (\S+), (\S+), 1, 1, ([01]), ([01])$", line)
            if not ss:
                raise EmulatorError(f"wgmma chain: unsupported {line!r}")
            if ss.group(8) != "0":
                raise EmulatorError("wgmma chain: only K-major A (imm-trans-a 0) is modelled")
            m = ss
        n, elt = int(m.group(1)), m.group(2)
        outs = [int(x.strip()[1:]) for x in m.group(4).split(",")]
        if outs != list(range(n // 2)):
            raise EmulatorError("wgmma chain: accumulators must be $0 .. N/2-1")
        n_acc = n // 2
        if accs is None:
            # Inputs tied to an output (a constraint that is a number) are
            # the accumulators' values before the chain.
            cons = re.search(r'constraints = "([^"]*)"', op.props).group(1).split(",")
            ins = [c for c in cons if not c.startswith("=")]
            accs = np.full((L.L, n_acc), np.nan)
            for i, c in enumerate(ins):
                if c.isdigit():
                    accs[:, int(c)] = L.lanes_index(arr(args[i]))
        def inp(k):
            return L.lanes_index(arr(args[k - n_acc]))
        def descriptor(tok):
            if tok.startswith("$"):
                return inp(int(tok[1:]))
            _, base, off = regs[tok]
            return inp(base) + off
        dtok, ptok = m.group(6), m.group(7)
        desc = descriptor(dtok)
        _, cmp, zk = regs[ptok]
        zero = L.lanes_index(arr(args[zk - n_acc])).reshape(-1, 128)[groups][:, 0]
        scale_d = (zero != 0) if cmp == "ne" else (zero == 0)
        trans = m.group(9 if ss else 8) == "1"
        if ss:
            # A (64 x 16, K-major) through its descriptor: read as a K-major
            # B of 64 columns, element (k, m) at the same byte as A[m, k].
            A = _wgmma_b(L, descriptor(m.group(5)), True, 64, 2, groups,
                         "wgmma.mma_async", holds, operand="A").transpose(0, 2, 1)
        else:
            # A: [G, 64, 16] from each warp's four registers (mma.sync's layout).
            a_idx = [int(x.strip()[1:]) for x in m.group(5).split(",")]
            A = np.zeros((G, 4, 16, 16))
            for r, ai in enumerate(a_idx):
                u = inp(ai).astype(np.int64).astype(np.uint32).reshape(-1, 128)[groups]
                u = u.reshape(G, 4, 32)
                lo_, hi_ = from_bits16(u & 0xFFFF, elt), from_bits16(u >> 16, elt)
                row = g4 + 8 * (r % 2)
                col = 2 * t4 + 8 * (r // 2)
                A[:, :, row, col] = lo_
                A[:, :, row, col + 1] = hi_
            A = A.reshape(G, 64, 16)
        B = _wgmma_b(L, desc, not trans, n, 2, groups, "wgmma.mma_async", holds)
        C = np.zeros((G, 4, 16, n))
        cur = accs.reshape(-1, 128, n_acc)[groups].reshape(G, 4, 32, n_acc)
        for v in range(n_acc):
            e, r, nb = v % 2, (v // 2) % 2, v // 4
            C[:, :, g4 + 8 * r, 8 * nb + 2 * t4 + e] = cur[:, :, :, v]
        C = C.reshape(G, 64, n)
        keep = scale_d[:, None, None]
        D = (A @ B + np.where(keep, C, 0.0)).astype(np.float32).astype(np.float64)
        D = D.reshape(G, 4, 16, n)
        new = np.empty((G, 4, 32, n_acc))
        for v in range(n_acc):
            e, r, nb = v % 2, (v // 2) % 2, v // 4
            new[:, :, :, v] = D[:, :, g4 + 8 * r, 8 * nb + 2 * t4 + e]
        full = accs.reshape(-1, 128, n_acc)
        full[groups] = new.reshape(G, 128, n_acc)
        accs = full.reshape(L.L, n_acc)
    if sync:
        return accs.astype(np.float32)
    # In flight: the results are placeholders until a wait retires the group.
    entry = {"out": np.full((L.L, n_acc), np.nan, dtype=np.float32),
             "acc": accs.astype(np.float32), "holds": holds, "retired": set()}
    L.wg_entries[id(entry["out"])] = entry
    for g in np.nonzero(groups)[0]:
        L.wg_queues.setdefault(int(g), []).append(entry)
    return entry["out"]


@handler("llvm.extractvalue")
def _extractvalue(L, op, args, mask):
    return arr(args[0])[:, int_list(op, "position")[0]]


# --- vectors ------------------------------------------------------------------

@handler("vector.extract")
def _vextract(L, op, args, mask):
    pos = int_list(op, "static_position")
    if len(args) > 1:
        raise EmulatorError("vector.extract with dynamic position")
    v = arr(args[0])
    for p in pos:
        v = v[:, p]
    return v


@handler("vector.insert")
def _vinsert(L, op, args, mask):
    pos = int_list(op, "static_position")
    x, v = arr(args[0]), arr(args[1])
    n = max(x.shape[0], v.shape[0])
    out = np.array(np.broadcast_to(v, (n,) + v.shape[1:]))
    out[(slice(None),) + tuple(pos)] = x if x.ndim == 1 else x
    return out


@handler("vector.broadcast")
def _vbroadcast(L, op, args, mask):
    x = arr(args[0])
    shape = op.out_types[0].shape
    while x.ndim < 1 + len(shape):
        x = x[..., None]
    return np.broadcast_to(x, (x.shape[0],) + shape).copy()


@handler("vector.from_elements")
def _vfrom(L, op, args, mask):
    xs = [arr(a) for a in args]
    n = max(x.shape[0] for x in xs)
    v = np.stack([np.broadcast_to(x, (n,)) for x in xs], axis=1)
    return v.reshape((n,) + op.out_types[0].shape)


@handler("vector.shuffle")
def _vshuffle(L, op, args, mask):
    a, b = arr(args[0]), arr(args[1])
    n = max(a.shape[0], b.shape[0])
    both = np.concatenate([np.broadcast_to(a, (n,) + a.shape[1:]),
                           np.broadcast_to(b, (n,) + b.shape[1:])], axis=1)
    return both[:, int_list(op, "mask")]


@handler("vector.reduction")
def _vreduce(L, op, args, mask):
    kind = re.search(r"#vector.kind<(\w+)>", op.props).group(1)
    v = arr(args[0]).astype(np.float64)
    fn = {"add": np.sum, "maximumf": np.max, "minimumf": np.min, "mul": np.prod}[kind]
    r = fn(v, axis=tuple(range(1, v.ndim)))
    if len(args) > 1:
        r = r + arr(args[1])
    return to_elt(r, op.out_types[0].elt)


@handler("vector.bitcast")
def _vbitcast(L, op, args, mask):
    src, dst = op.in_types[0], op.out_types[0]
    v = arr(args[0])
    if src.elt in ("bf16", "f16") and dst.elt == "i32":
        b = bits16(v, src.elt).reshape(v.shape[0], -1, 2)
        return (b[..., 0] | (b[..., 1] << 16)).astype(np.int64)
    if src.elt == "i32" and dst.elt in ("bf16", "f16"):
        u = arr(v).astype(np.int64).astype(np.uint32)
        lo, hi = u & 0xFFFF, u >> 16
        b = np.stack([lo, hi], axis=-1).reshape(v.shape[0], -1)
        return from_bits16(b, dst.elt).reshape((v.shape[0],) + dst.shape)
    if src.elt == dst.elt:
        return v
    raise EmulatorError(f"unsupported bitcast {src} -> {dst}")


@handler("vector.load")
def _vload(L, op, args, mask):
    mem, idx = args[0], args[1:]
    ty = op.out_types[0]
    n = int(np.prod(ty.shape))
    vals = L.load(mem, mem.flat(idx), mask, n, "vector.load")
    return vals.reshape((vals.shape[0],) + ty.shape)


@handler("vector.store")
def _vstore(L, op, args, mask):
    val, mem, idx = arr(args[0]), args[1], args[2:]
    L.store(mem, mem.flat(idx), mask, val.reshape(val.shape[0], -1), "vector.store")


@handler("memref.load")
def _mload(L, op, args, mask):
    mem, idx = args[0], args[1:]
    return L.load(mem, mem.flat(idx), mask, 1, "memref.load")[:, 0]


@handler("memref.store")
def _mstore(L, op, args, mask):
    val, mem, idx = arr(args[0]), args[1], args[2:]
    L.store(mem, mem.flat(idx), mask, val.reshape(-1, 1), "memref.store")


@handler("memref.extract_aligned_pointer_as_index")
def _mptr(L, op, args, mask):
    mem = args[0]
    if not mem.workgroup:
        raise EmulatorError("extract_aligned_pointer_as_index of a global buffer")
    return np.array([mem.base_addr], dtype=np.int64)


@handler("memref.dim")
def _mdim(L, op, args, mask):
    mem, i = args[0], int(arr(args[1]).reshape(-1)[0])
    return np.array([mem.shape[i] if mem.shape[i] >= 0 else mem.size])


# --- gpu ----------------------------------------------------------------------

DIMS = {"x": 0, "y": 1, "z": 2}


@handler("gpu.thread_id")
def _tid(L, op, args, mask):
    d = DIMS[re.search(r"#gpu<dim (\w)>", op.props).group(1)]
    return L.tid if d == 0 else np.zeros(1, dtype=np.int64)


@handler("gpu.block_id")
def _bid(L, op, args, mask):
    d = DIMS[re.search(r"#gpu<dim (\w)>", op.props).group(1)]
    return L.bid[d]


@handler("gpu.block_dim")
def _bdim(L, op, args, mask):
    d = DIMS[re.search(r"#gpu<dim (\w)>", op.props).group(1)]
    return np.array([L.threads if d == 0 else 1])


@handler("gpu.barrier")
def _barrier(L, op, args, mask):
    active = L.full(mask).reshape(L.nblocks, L.threads)
    some, all_ = active.any(1), active.all(1)
    if (some & ~all_).any():
        b = int(np.argmax(some & ~all_))
        raise EmulatorError(f"gpu.barrier reached by only part of block {b}")
    L.epoch[some] += 1


@handler("gpu.shuffle")
def _shuffle(L, op, args, mask):
    L.check_warp_uniform(mask, "gpu.shuffle")
    mode = re.search(r"shuffle_mode (\w+)", op.props).group(1)
    val = L.lanes_index(arr(args[0]))
    off = L.lanes_index(arr(args[1]).astype(np.int64))
    width = arr(args[2]).reshape(-1)
    if not (width == 32).all():
        raise EmulatorError("gpu.shuffle with width != 32")
    lane = np.arange(L.L) % 32
    src = {"idx": off, "xor": lane ^ off, "down": lane + off, "up": lane - off}[mode]
    valid = (src >= 0) & (src < 32)
    base = np.arange(L.L) - lane
    src_lane = np.where(valid, base + np.clip(src, 0, 31), np.arange(L.L))
    return val[src_lane], valid


# Warp votes taken by nvvm.vote.sync since the last reset, by result
# (emulate_kernels.py reports how often lazy-rescale's vote skips).
VOTES = {True: 0, False: 0}


@handler("nvvm.vote.sync")
def _vote(L, op, args, mask):
    L.check_warp_uniform(mask, "nvvm.vote.sync")
    kind = re.search(r"vote_sync_kind[< ]*(\w+)>", op.props + op.attrs).group(1)
    if not (arr(args[0]).astype(np.int64) & 0xFFFFFFFF == 0xFFFFFFFF).all():
        raise EmulatorError("nvvm.vote.sync with a member mask other than all lanes")
    pred = L.lanes_index(arr(args[1])).astype(bool).reshape(-1, 32)
    if kind == "any":
        res = pred.any(1)
    elif kind == "all":
        res = pred.all(1)
    else:
        raise EmulatorError(f"nvvm.vote.sync {kind}")
    active = np.ones(res.shape[0], bool) if mask is None else \
        np.asarray(mask).reshape(-1, 32).any(1)
    VOTES[True] += int((res & active).sum())
    VOTES[False] += int((~res & active).sum())
    return np.repeat(res, 32)


@handler("nvgpu.ldmatrix")
def _ldmatrix(L, op, args, mask):
    L.check_warp_uniform(mask, "nvgpu.ldmatrix")
    mem, idx = args[0], args[1:]
    tiles = int(prop(op, "numTiles").split(":")[0])
    trans = prop(op, "transpose") == "true"
    # The first 8 * tiles lanes of each warp give the row addresses.
    gives = (np.arange(L.L) % 32) < 8 * tiles
    rows = L.load(mem, mem.flat(idx), L.full(mask) & gives, 8,
                  "nvgpu.ldmatrix")                                # [L, 8]
    rows = rows.reshape(-1, 32, 8)                                   # [W, lane, 8]
    lane = np.arange(32)
    out = np.empty((rows.shape[0], 32, tiles, 2), dtype=rows.dtype)
    for m in range(tiles):
        mat = rows[:, 8 * m:8 * m + 8, :]                            # [W, 8, 8]
        if trans:
            mat = mat.transpose(0, 2, 1)
        for e in range(2):
            out[:, :, m, e] = mat[:, lane // 4, 2 * (lane % 4) + e]
    return out.reshape(L.L, tiles, 2)


@handler("nvvm.mma.sync")
def _mma(L, op, args, mask):
    L.check_warp_uniform(mask, "nvvm.mma.sync")
    shape = re.search(r"#nvvm.shape<m = (\d+), n = (\d+), k = (\d+)>", op.props).groups()
    seg = int_list(op, "operandSegmentSizes")
    if tuple(map(int, shape)) != (16, 8, 16) or seg != [4, 2, 4]:
        raise EmulatorError(f"unsupported mma.sync shape {shape} {seg}")
    if "layoutA = #nvvm.mma_layout<row>" not in op.props or \
            "layoutB = #nvvm.mma_layout<col>" not in op.props:
        raise EmulatorError("mma.sync: only row.col")
    elt = re.search(r"multiplicandAPtxType = #nvvm.mma_type<(\w+)>", op.props).group(1)

    def pair(x, ty):
        x = L.lanes_index(arr(x))
        if ty.kind == "int":  # two 16-bit values packed in an i32 (low first)
            u = x.astype(np.int64).astype(np.uint32)
            x = np.stack([from_bits16(u & 0xFFFF, elt), from_bits16(u >> 16, elt)], -1)
        return x.astype(np.float64).reshape(-1, 32, 2)
    a = [pair(x, ty) for x, ty in zip(args[0:4], op.in_types[0:4])]
    bb = [pair(x, ty) for x, ty in zip(args[4:6], op.in_types[4:6])]
    c = [L.lanes_index(arr(x)).astype(np.float64).reshape(-1, 32) for x in args[6:10]]
    W = a[0].shape[0]
    lane = np.arange(32)
    g, t = lane // 4, lane % 4
    A = np.zeros((W, 16, 16))
    B = np.zeros((W, 16, 8))
    C = np.zeros((W, 16, 8))
    for e in range(2):
        A[:, g, 2 * t + e] = a[0][:, :, e]
        A[:, g + 8, 2 * t + e] = a[1][:, :, e]
        A[:, g, 2 * t + 8 + e] = a[2][:, :, e]
        A[:, g + 8, 2 * t + 8 + e] = a[3][:, :, e]
        B[:, 2 * t + e, g] = bb[0][:, :, e]
        B[:, 2 * t + 8 + e, g] = bb[1][:, :, e]
        C[:, g, 2 * t + e] = c[e]
        C[:, g + 8, 2 * t + e] = c[2 + e]
    D = (A @ B + C).astype(np.float32)
    out = np.empty((W, 32, 4), dtype=np.float32)
    for e in range(2):
        out[:, :, e] = D[:, g, 2 * t + e]
        out[:, :, 2 + e] = D[:, g + 8, 2 * t + e]
    return out.reshape(L.L, 4)


@handler("nvgpu.device_async_copy")
def _async_copy(L, op, args, mask):
    seg = int_list(op, "operandSegmentSizes")
    i = 0
    groups = []
    for n in seg:
        groups.append(args[i:i + n])
        i += n
    dst, dst_idx, src, src_idx = groups[0][0], groups[1], groups[2][0], groups[3]
    src_elems = groups[4][0] if len(groups) > 4 and groups[4] else None
    n = int(prop(op, "dstElements").split(":")[0])
    active = L.full(mask)
    if src_elems is not None:
        valid = L.lanes_index(arr(src_elems).astype(np.int64))
    else:
        valid = np.full(L.L, n)
    # Read the valid source elements now (bounds checked per lane).
    vals = np.zeros((L.L, n), dtype=np.float64)
    flat = L.lanes_index(src.flat(src_idx))
    for e in range(n):
        m = active & (valid > e)
        if m.any():
            vals[:, e] = np.where(m, L.load(src, flat + e, m, 1, "cp.async source")[:, 0], 0)
    dflat = dst.flat(dst_idx)
    # The copy may land as soon as it is issued: no other warp may still
    # read or write its destination in this barrier interval.
    doffs = L.lanes_index(dflat)[:, None] + np.arange(n)[None, :]
    inb = (doffs >= 0) & (doffs < dst.size)
    if (active[:, None] & ~inb).any():
        raise EmulatorError(f"cp.async: out of bounds store to shared {dst.name}")
    L.race_check(dst, np.where(active[:, None], doffs, 0), active, True,
                 "cp.async (issue)", record=False)
    if dst.workgroup:
        wg_in_flight_check(L, dst, np.where(active[:, None], doffs, 0), active,
                           "cp.async (issue)")
    L.open_group.append((dst, L.lanes_index(dflat).copy(), active.copy(), vals,
                         L.warp.copy()))
    return np.zeros(1)


@handler("nvgpu.device_async_create_group")
def _async_group(L, op, args, mask):
    L.pending.append(L.open_group)
    L.open_group = []
    return np.zeros(1)


@handler("nvgpu.device_async_wait")
def _async_wait(L, op, args, mask):
    keep = int(prop(op, "numGroups").split(":")[0]) if "numGroups" in op.props else 0
    while len(L.pending) > keep:
        for dst, dflat, active, vals, warp in L.pending.pop(0):
            n = vals.shape[1]
            offs = dflat[:, None] + np.arange(n)[None, :]
            bad = active[:, None] & ((offs < 0) | (offs >= dst.size))
            if bad.any():
                raise EmulatorError(f"cp.async: out of bounds store to shared {dst.name}")
            offs = np.where(active[:, None], offs, 0)
            L.race_check(dst, offs, active, True, "cp.async", writer=warp)
            wg_in_flight_check(L, dst, offs, active, "cp.async (landing)")
            lanes = np.nonzero(active)[0]
            dst.data[L.block_of[lanes][:, None], offs[lanes]] = \
                to_elt(vals[lanes], dst.elt).astype(dst.data.dtype)
            dst.proxy_dirty[L.block_of[lanes][:, None], offs[lanes]] = True


# --- structured control flow ----------------------------------------------------

@handler("scf.if")
def _if(L, op, args, mask):
    cond = L.lanes_index(arr(args[0]).astype(bool))
    active = L.full(mask)
    then_m, else_m = active & cond, active & ~cond
    results = None
    t_out = e_out = None
    if then_m.any():
        t_out = L.exec_ops(op.regions[0][0].ops, then_m)
    if len(op.regions) > 1 and op.regions[1] and else_m.any():
        e_out = L.exec_ops(op.regions[1][0].ops, else_m)
    if not op.results:
        return []
    if t_out is None and e_out is None:
        return [np.zeros((1,) + t.shape, dtype=NP.get(t.elt, np.float32))
                for t in op.out_types]
    if t_out is None:
        return e_out
    if e_out is None:
        return t_out
    results = [where(cond, t, e) for t, e in zip(t_out, e_out)]
    return results


@handler("scf.for")
def _for(L, op, args, mask):
    lb, ub, step = (L.lanes_index(arr(x).astype(np.int64)) for x in args[:3])
    inits = list(args[3:])
    block = op.regions[0][0]
    names = [a[0] for a in block.args]
    active = L.full(mask)
    iv = lb.copy()
    carried = [arr(x) for x in inits]
    while True:
        run = active & (iv < ub)
        if not run.any():
            break
        L.env[names[0]] = iv
        for n, v in zip(names[1:], carried):
            L.env[n] = v
        outs = L.exec_ops(block.ops, run)
        carried = [where(run, o, c) for o, c in zip(outs, carried)]
        iv = np.where(run, iv + step, iv)
    return carried


# --- host code: the launchers ----------------------------------------------------

class HostCall(Launch):
    """A host function (a launcher written by --kvshift-gpu-launchers) run
    as a single lane: device buffers are NumPy arrays, copies copy, and
    gpu.launch_func runs the kernel in the emulator."""

    def __init__(self, module, func, args):
        self.module, self.func = module, func
        self.threads, self.nblocks, self.L = 1, 1, 1
        self.block_of = self.tid = self.warp = self.gwarp = np.zeros(1, dtype=np.int64)
        self.bid = (np.zeros(1, dtype=np.int64),) * 3
        self.epoch = np.zeros(1, dtype=np.int64)
        self.pending, self.open_group = [], []
        params = func.regions[0][0].args
        if len(args) != len(params):
            raise EmulatorError(f"{func.sym}: {len(params)} arguments expected, "
                                f"{len(args)} given")
        self.env = {}
        for (name, ty), a in zip(params, args):
            if ty.kind == "memref":
                arr_ = np.asarray(a)
                flat = arr_.reshape(-1)
                if flat.base is not arr_ and not np.shares_memory(flat, arr_):
                    raise EmulatorError(f"{name}: a contiguous array expected")
                self.env[name] = Mem(name, flat, arr_.shape, ty.elt, False)
            else:
                self.env[name] = np.array([a], dtype=np.int64)

    def run(self):
        self.exec_ops(self.func.regions[0][0].ops, None)


def _scalar(x):
    return int(np.asarray(x).reshape(-1)[0])


def _segments(op, args):
    seg = int_list(op, "operandSegmentSizes")
    out, i = [], 0
    for n in seg:
        out.append(args[i:i + n])
        i += n
    return out


@handler("memref.collapse_shape", "memref.cast", "memref.reinterpret_cast")
def _mview(L, op, args, mask):
    mem = args[0]
    ty = op.out_types[0]
    shape = tuple(mem.size if d < 0 else d for d in ty.shape) if ty.shape else ()
    if op.name != "memref.cast" and int(np.prod(shape)) != mem.size:
        raise EmulatorError(f"{op.name}: {mem.size} elements as {ty}")
    if op.name == "memref.cast":
        shape = mem.shape if len(ty.shape) == len(mem.shape) else shape
    return Mem(mem.name, mem.data, shape, mem.elt, mem.workgroup)


@handler("gpu.wait")
def _gwait(L, op, args, mask):
    return [np.zeros(1)] * len(op.results)


@handler("gpu.alloc")
def _galloc(L, op, args, mask):
    deps, sizes, _ = _segments(op, args)
    ty = op.out_types[0]
    it = iter(sizes)
    shape = tuple(_scalar(next(it)) if d < 0 else d for d in ty.shape)
    data = np.full(int(np.prod(shape)), np.nan, dtype=NP[ty.elt])
    return [Mem(op.results[0], data, shape, ty.elt, False), np.zeros(1)]


@handler("gpu.memcpy")
def _gmemcpy(L, op, args, mask):
    dst, src = args[-2], args[-1]
    if dst.size != src.size:
        raise EmulatorError(f"gpu.memcpy: {src.size} elements into {dst.size}")
    dst.data[:] = to_elt(src.data, dst.elt).astype(dst.data.dtype)
    return [np.zeros(1)] * len(op.results)


@handler("gpu.dealloc")
def _gdealloc(L, op, args, mask):
    return [np.zeros(1)] * len(op.results)


@handler("gpu.launch_func")
def _glaunch(L, op, args, mask):
    seg = _segments(op, args)
    grid = tuple(_scalar(x[0]) for x in seg[1:4])
    block = tuple(_scalar(x[0]) for x in seg[4:7])
    if block[1:] != (1, 1):
        raise EmulatorError("gpu.launch_func: only 1-D blocks")
    kernel = re.search(r"kernel = @[\w]+::@([\w]+)", op.props).group(1)
    kargs = [a.data if isinstance(a, Mem) else _scalar(a) for a in seg[11]]
    L.module.launch(kernel, grid, block[0], kargs)
    return [np.zeros(1)] * len(op.results)


@handler("func.return")
def _freturn(L, op, args, mask):
    return []


# --- modules --------------------------------------------------------------------

class Module:
    def __init__(self, text):
        ops = Parser(text).parse()
        self.kernels, self.functions = {}, {}
        for op in walk(ops):
            if op.name in ("gpu.func", "func.func"):
                m = re.search(r'sym_name = "([^"]+)"', op.props + op.attrs)
                op.sym = m.group(1)
                if op.name == "gpu.func":
                    self.kernels[op.sym] = op
                elif op.regions and op.regions[0]:
                    self.functions[op.sym] = op

    def call(self, name, args):
        """Runs host function `name` (e.g. a launcher) on NumPy arrays
        (memref arguments, updated in place) and ints (index arguments)."""
        func = self.functions.get(name)
        if func is None:
            raise EmulatorError(f"no function {name}; have {sorted(self.functions)}")
        HostCall(self, func, args).run()

    def dynamic_shared_memory(self, name):
        """The bytes of dynamic shared memory kernel `name` needs
        (kvshift.dynamic_shared_memory; 0 when its tiles are static)."""
        func = self.kernels[name]
        m = re.search(r"kvshift\.dynamic_shared_memory = (\d+)", func.props + func.attrs)
        return int(m.group(1)) if m else 0

    def launch(self, name, grid, block, args, max_lanes=1 << 16, smem=None):
        """Runs kernel `name` on a grid of blocks of `block` threads; the
        blocks are independent, so they run in chunks of at most
        `max_lanes` threads. `smem`: the launch's dynamic shared memory in
        bytes, checked against what the kernel needs (None: not checked)."""
        func = self.kernels.get(name)
        if func is None:
            raise EmulatorError(f"no kernel {name}; have {sorted(self.kernels)}")
        need = self.dynamic_shared_memory(name)
        if smem is not None and smem != need:
            raise EmulatorError(
                f"{name}: launched with {smem} bytes of dynamic shared memory, "
                f"the kernel needs {need}")
        tiles = sum(-(-int(np.prod(ty.shape)) * ELT_BYTES[ty.elt] // 16) * 16
                    for _, ty in func.regions[0][0].args
                    if ty.kind == "memref" and ty.workgroup)
        if tiles > max(need, STATIC_SHARED_BYTES):
            raise EmulatorError(
                f"{name}: its tiles take {tiles} bytes of shared memory, more than "
                f"the {STATIC_SHARED_BYTES} static bytes and the {need} bytes of "
                f"kvshift.dynamic_shared_memory")
        gx, gy, gz = grid
        total = gx * gy * gz
        if total == 0:
            return
        per = max(1, max_lanes // block)
        # Chunks along the flattened grid: emulate as a 1-D grid of the chunk
        # and remap block ids.
        for start in range(0, total, per):
            count = min(per, total - start)
            launch = Launch(self, func, (count, 1, 1), block, args)
            lin = start + np.arange(count, dtype=np.int64)
            lin_lane = lin[launch.block_of]
            launch.bid = (lin_lane % gx, (lin_lane // gx) % gy, lin_lane // (gx * gy))
            launch.run()


class TorchDriver:
    """kvshift.cuda's driver interface (python/kvshift/cuda.py: load,
    launch, accepts_cpu) on this emulator, for CPU torch tensors: a kernel
    is looked up in the gpu-dialect form of the MLIR its PTX came from
    (`kvshift-opt --kvshift-share-attention-stats
    --kvshift-fuse-attention-gpu{options}`, as kvshift-to-nvvm does),
    bfloat16 tensors go through float32 copies."""

    accepts_cpu = True

    def __init__(self, opt):
        self.opt = opt
        self.modules = {}
        self.launches = []

    def load(self, ptx, name, source=None, options=""):
        import subprocess
        key = (source, options)
        if key not in self.modules:
            fuse = "--kvshift-fuse-attention-gpu" + (f"={options}" if options else "")
            r = subprocess.run([self.opt, "-", "--kvshift-share-attention-stats", fuse,
                                "--mlir-print-op-generic"],
                               input=source, capture_output=True, text=True)
            if r.returncode:
                raise EmulatorError(r.stderr)
            self.modules[key] = Module(r.stdout)
        module = self.modules[key]
        if name not in module.kernels:
            raise EmulatorError(f"no kernel {name}")
        return (module, name)

    def launch(self, fn, name, grid, threads, args, smem=0):
        import torch
        module, kname = fn
        self.launches.append(kname)
        arrays, back = [], []
        for a in args:
            if isinstance(a, torch.Tensor):
                flat = a.view(-1)
                bf16 = a.dtype == torch.bfloat16
                x = flat.float().numpy().copy() if bf16 else flat.numpy()
                arrays.append(x)
                if bf16:
                    back.append((flat, x))
            else:
                arrays.append(int(a))
        module.launch(kname, grid, threads, arrays, smem=smem)
        for flat, x in back:
            flat.copy_(torch.from_numpy(x).to(torch.bfloat16))
