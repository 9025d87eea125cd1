"""Runs the generated GPU kernels on the CPU (scripts/gpu_emulator.py) and
compares their outputs with the float64 reference (kvshift_ref).

Each case writes a small MLIR function, lowers it with
`kvshift-opt --kvshift-fuse-attention-gpu[=options] --mlir-print-op-generic`,
launches the kernels of the result with the launch configuration of the
launcher declaration (the same formulas as scripts/gpu_check.py and
--kvshift-gpu-launchers), and checks:
  * every output element is written (outputs start as NaN);
  * the error against float64 is at most twice that of an unfused
    computation in the same precision (K^, V^ and P rounded to the element
    type, as the paper's way does), plus 4 ulps of the element type;
  * the emulator found no out-of-bounds access, divergent barrier or
    shared-memory race (it raises on each).
Then mutants must fail: the same kernel with one `gpu.barrier` removed, and
with swapped mixing weights, so that the check is shown to be able to fail.

    emulate_kernels.py KVSHIFT_OPT SUITE

SUITE: tc | wgmma | overlap | odd | simt | rope | decode | grad | gradrope | launchers | stats
| random ("stats": the _with_lse forms, a forward that hands its row
log-sum-exp to the backward).
"""
import math
import os
import re
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.join(ROOT, "test", "Integration"))
import gpu_emulator as ge  # noqa: E402
import kvshift_ref as ref  # noqa: E402

OPT = sys.argv[1]
SUITE = sys.argv[2]
EPS = {"f32": 2.0 ** -24, "f16": 2.0 ** -11, "bf16": 2.0 ** -8}


def to_type(x, t):
    x = np.asarray(x, dtype=np.float32)
    if t == "bf16":
        return ge.round_bf16(x)
    if t == "f16":
        return x.astype(np.float16)
    return x


def storage(x, t):
    """Host array as the kernel's buffer (bf16 held as rounded float32)."""
    return np.ascontiguousarray(to_type(x, t)).ravel()


def lower(mlir, options="", before=(), after=()):
    flag = "--kvshift-fuse-attention-gpu" + (f"={options}" if options else "")
    r = subprocess.run([OPT, "-", *before, flag, *after, "--mlir-print-op-generic"],
                       input=mlir, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"kvshift-opt failed:\n{r.stderr}")
    return r.stdout


def launcher_attrs(text):
    m = re.search(r'sym_name = "kvshift_launch_[^"]*".*?\}> \(\{\n\s*\}\) \{([^\n]*)\} :',
                  text, re.S)
    if not m:
        raise SystemExit("no launcher declaration in the output")
    attrs = {}
    for key, val in re.findall(r"kvshift\.(gpu_\w+) = (\[[^\]]*\]|[^,}]+)", m.group(1)):
        val = val.strip()
        if val.startswith("@"):
            attrs[key] = val.split("::@")[-1]
        elif val.startswith("["):
            attrs[key] = [x.split("::@")[-1] for x in val.strip("[]").split(",")]
        else:
            attrs[key] = int(val.split(":")[0])
    return attrs


def block_size(module, kernel):
    m = re.search(r"known_block_size = array<i32: (\d+)", module.kernels[kernel].props)
    return int(m.group(1))


# --- references -----------------------------------------------------------------

def rope32(x, positions, theta):
    return ref.rope(x, positions, theta).astype(np.float32)


def lowp_attention(q, k, v, kw, vw, causal, theta, t, mix=True, scale=None):
    """The paper's way in precision t: K^ and V^ materialised in t, S and the
    softmax in f32, P rounded to t, P V^ accumulated in f32, out in t."""
    q, k, v = (np.asarray(x, np.float32) for x in (q, k, v))
    if mix:
        kh = to_type(ref.kv_shift(k, kw).astype(np.float32), t)
        vh = to_type(ref.kv_shift(v, vw).astype(np.float32), t)
    else:
        kh, vh = k, v
    sq, sk = q.shape[2], k.shape[2]
    if theta is not None:
        if mix:
            kh = to_type(rope32(kh, np.arange(sk), theta), t)
        q = to_type(rope32(q, np.arange(sq) + sk - sq, theta), t)
    g = q.shape[1] // k.shape[1]
    kh, vh = np.repeat(kh, g, axis=1), np.repeat(vh, g, axis=1)
    scale = 1.0 / math.sqrt(q.shape[3]) if scale is None else scale
    s = np.einsum("bhid,bhjd->bhij", q, kh).astype(np.float32) * np.float32(scale)
    if causal:
        s = np.where(ref.causal_mask(sq, sk)[None, None], s, -np.inf)
    with np.errstate(invalid="ignore"):
        m = s.max(-1, keepdims=True)
        p = np.exp(s - m)
        p = p / p.sum(-1, keepdims=True)
    p = np.nan_to_num(p)
    o = np.einsum("bhij,bhjd->bhid", to_type(p, t), vh).astype(np.float32)
    return to_type(o, t).astype(np.float64)


def lowp_grads(q, k, v, kw, vw, do, causal, theta, t):
    """The gradients as the paper's way computes them in precision t (a
    FlashAttention-style backward of it): K^ and V^ materialised in t (with
    RoPE: rotated, and q rotated, in t), S, the softmax and dP in f32, O, P
    and dS rounded to t before the products that take them, products
    accumulated in f32; the mix's transpose and the weight sums in float64."""
    q, k, v, do = (np.asarray(x, np.float32) for x in (q, k, v, do))
    sq, sk, d = q.shape[2], k.shape[2], q.shape[3]
    kh = to_type(ref.kv_shift(k, kw).astype(np.float32), t)
    vh = to_type(ref.kv_shift(v, vw).astype(np.float32), t)
    qpos, kpos = np.arange(sq) + sk - sq, np.arange(sk)
    qr, khr = q, kh
    if theta is not None:
        khr = to_type(rope32(kh, kpos, theta), t)
        qr = to_type(rope32(q, qpos, theta), t)
    g = q.shape[1] // k.shape[1]
    b, hkv = k.shape[0], k.shape[1]
    qg = qr.reshape(b, hkv, g, sq, d)
    dog = do.reshape(b, hkv, g, sq, d)
    scale = np.float32(1.0 / math.sqrt(d))
    s = np.einsum("bkgid,bkjd->bkgij", qg, khr).astype(np.float32) * scale
    if causal:
        s = np.where(ref.causal_mask(sq, sk), s, -np.inf)
    with np.errstate(invalid="ignore"):
        m = s.max(-1, keepdims=True)
        p = np.exp(s - m)
        p = np.nan_to_num(p / p.sum(-1, keepdims=True)).astype(np.float32)
    pt = to_type(p, t)
    o = to_type(np.einsum("bkgij,bkjd->bkgid", pt, vh).astype(np.float32), t)
    delta = (dog * o).sum(-1, keepdims=True)
    dp = np.einsum("bkgid,bkjd->bkgij", dog, vh).astype(np.float32)
    ds = to_type(p * (dp - delta), t)
    dvh = np.einsum("bkgij,bkgid->bkjd", pt, dog).astype(np.float64)
    dq = scale * np.einsum("bkgij,bkjd->bkgid", ds, khr).astype(np.float64)
    dkh = scale * np.einsum("bkgij,bkgid->bkjd", ds, qg).astype(np.float64)
    dq = dq.reshape(q.shape)
    if theta is not None:
        dq = ref.rope(dq, qpos, theta, inverse=True)
        dkh = ref.rope(dkh, kpos, theta, inverse=True)
    dk, dkw = ref.mix_transpose(dkh, k.astype(np.float64), np.asarray(kw, np.float64))
    dv, dvw = ref.mix_transpose(dvh, v.astype(np.float64), np.asarray(vw, np.float64))
    return [dq, dk, dv, dkw, dvw]


def cache_reference(q, kc, vc, length, causal, theta, scale=None):
    """kv_cache_attention in float64: the cache rows are already mixed (and
    rotated); q is rotated at length - Sq + i."""
    sq = q.shape[2]
    q = np.asarray(q, np.float64)
    if theta is not None:
        q = ref.rope(q, np.arange(sq) + length - sq, theta)
    ones = np.tile(np.array([[1.0, 0.0]]), (kc.shape[1], 1))
    return ref.kv_shift_attention(q, kc[:, :, :length], vc[:, :, :length], ones, ones,
                                  scale=scale, causal=causal)


def rel_err(out, r):
    return float(np.abs(out - r).max() / max(np.abs(r).max(), 1e-30))


# --- cases ----------------------------------------------------------------------

RESULTS = []


def report(name, out, r, lowp, t):
    written = not np.isnan(out).any()
    err = rel_err(np.nan_to_num(out), r)
    bound = 2 * rel_err(lowp, r) + 4 * EPS[t]
    ok = written and err <= bound
    RESULTS.append(ok)
    print(f"{'ok  ' if ok else 'FAIL'} {name}: max rel err {err:.2e} (bound {bound:.2e})"
          + ("" if written else f", {int(np.isnan(out).sum())} elements not written"))
    return ok


def attention_input(t, b, hq, hkv, sq, sk, d, causal, theta, dynamic=False):
    """`dynamic`: the sequence lengths are dynamic (causal Sq > Sk is then
    accepted: the first Sq - Sk rows see no key)."""
    ty = lambda h, s: f"tensor<{b}x{h}x{'?' if dynamic else s}x{d}x{t}>"  # noqa: E731
    attrs = (" causal" if causal else "") + (f" rope_theta = {theta}" if theta else "")
    return f"""
func.func @attn(%q: {ty(hq, sq)}, %k: {ty(hkv, sk)}, %v: {ty(hkv, sk)}, %kw: tensor<{hkv}x2xf32>, %vw: tensor<{hkv}x2xf32>) -> {ty(hq, sq)} {{
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw){attrs}
      : ({ty(hq, sq)}, {ty(hkv, sk)}, {ty(hkv, sk)}, tensor<{hkv}x2xf32>, tensor<{hkv}x2xf32>) -> {ty(hq, sq)}
  return %o : {ty(hq, sq)}
}}"""


def rope_prepass(module, attrs, qs, ks, kw, sq, sk, d, hkv):
    """The RoPE pre-pass as the launchers run it: q rotated (rows at
    Sk - Sq + i), k mixed then rotated (rows at j), into new buffers."""
    rk = attrs["gpu_rope_kernel"]
    threads = block_size(module, rk)
    items = attrs["gpu_rope_items_per_row"]
    out = []
    for x, seq, off, mix in ((qs, sq, sk - sq, 0), (ks, sk, 0, 1)):
        rows = x.size // d
        y = np.full_like(x, np.nan)
        module.launch(rk, (-(-rows * items // threads), 1, 1), threads,
                      [x, kw.ravel().astype(np.float32), y, rows, seq, off, hkv, mix])
        out.append(y)
    return out


def run_attention(text, t, q, k, v, kw, vw):
    module = ge.Module(text)
    attrs = launcher_attrs(text)
    b, hq, sq, d = q.shape
    hkv, sk = k.shape[1], k.shape[2]
    qs, ks = storage(q, t), storage(k, t)
    if "gpu_rope_kernel" in attrs:
        qs, ks = rope_prepass(module, attrs, qs, ks, kw, sq, sk, d, hkv)
    out = np.full(b * hq * sq * d, np.nan, dtype=qs.dtype)
    kernel = attrs["gpu_kernel"]
    grid = (-(-sq // attrs["gpu_block_m"]), hq, b)
    module.launch(kernel, grid, attrs["gpu_threads"],
                  [qs, ks, storage(v, t), kw.ravel().astype(np.float32),
                   vw.ravel().astype(np.float32), out, b, hq, sq, hkv, sk])
    return out.reshape(b, hq, sq, d).astype(np.float64)


def attention_case(t, b, hq, hkv, sq, sk, d, causal, theta=None, options="", seed=0,
                   big=False, growing=False, dynamic=False):
    """big: logits of standard deviation 9; growing: keys scaled from 0.1 to
    4 along the sequence, so that the rows' maxima keep growing (by far
    more than 2^8 in probability: lazy-rescale must rescale, and skip)."""
    rng = np.random.default_rng(seed)
    q = to_type(rng.standard_normal((b, hq, sq, d)) * (3.0 if big else 1.0), t)
    kscale = np.linspace(0.1, 4.0, sk)[None, None, :, None] if growing else 1.0
    k = to_type(rng.standard_normal((b, hkv, sk, d)) * (3.0 if big else 1.0) * kscale, t)
    v = to_type(rng.standard_normal((b, hkv, sk, d)), t)
    kw = rng.uniform(-1.0, 1.5, (hkv, 2)).astype(np.float32)
    vw = rng.uniform(-1.0, 1.5, (hkv, 2)).astype(np.float32)
    kw[0, 1] = -0.75  # a negative weight in every case
    text = lower(attention_input(t, b, hq, hkv, sq, sk, d, causal, theta, dynamic),
                 options)
    ge.VOTES.update({True: 0, False: 0})
    out = run_attention(text, t, q, k, v, kw, vw)
    r, lowp = no_key_rows(
        lambda qq: (ref.kv_shift_attention(qq, k, v, kw, vw, causal=causal, rope_theta=theta),
                    lowp_attention(qq, k, v, kw, vw, causal, theta, t)), q, k, causal, (0, 1))
    name = (f"{t} {b}x{hq}/{hkv} Sq={sq} Sk={sk} D={d}{' causal' if causal else ''}"
            f"{' rope' if theta else ''}{' ' + options if options else ''}"
            f"{' large logits' if big else ''}{' growing logits' if growing else ''}"
            f"{' dynamic' if dynamic else ''}")
    report(name, out, r, lowp, t)
    if "lazy-rescale=true" in options:
        skipped, total = ge.VOTES[False], sum(ge.VOTES.values())
        # Growing logits must take both branches: rescale and skip.
        both = 0 < skipped < total
        if growing:
            RESULTS.append(both)
        print(f"{'FAIL' if growing and not both else '    '} lazy-rescale: {skipped} of "
              f"{total} warp-tiles skipped O's rescaling")
    return text, (t, q, k, v, kw, vw, r, lowp)


def without_each(text, data, marker, what):
    """Runs the kernel once without each line that contains `marker`; each
    such mutant must raise an EmulatorError. Returns (caught, mutants)."""
    t, q, k, v, kw, vw, r, lowp = data
    lines = text.split("\n")
    where = [i for i, l in enumerate(lines) if marker in l]
    caught = 0
    for n, i in enumerate(where):
        try:
            run_attention("\n".join(lines[:i] + lines[i + 1:]), t, q, k, v, kw, vw)
        except ge.EmulatorError as e:
            caught += 1
            if caught == 1:
                print(f"mutant without {what} {n}: {str(e)[:110]}")
    print(f"mutants without one {what}: {caught} of {len(where)} caught")
    return caught, len(where)


def mutants(text, data):
    """The check must fail for a kernel without one of its barriers and for
    swapped weights."""
    t, q, k, v, kw, vw, r, lowp = data
    caught, total = without_each(text, data, '"gpu.barrier"', "barrier")
    RESULTS.append(caught == total)
    out = run_attention(text, t, q, k, v, vw, kw)
    err = rel_err(np.nan_to_num(out), r)
    bound = 2 * rel_err(lowp, r) + 4 * EPS[t]
    print(f"mutant with swapped weights: err {err:.2e} {'caught' if err > bound else 'NOT caught'}")
    RESULTS.append(err > bound)


def overlap_mutants(text, data):
    """wgmma-overlap kernels: barriers moved to where they no longer order a
    wgmma.wait_group before another warp's overwrite must be caught: the
    loop-top barrier moved after the next value window's copy (which
    overwrites the half the previous O += P'V read), and the barrier after
    the scores' wait moved before it (the next key tile's copy then follows
    the wait without a barrier)."""
    lines = text.split("\n")
    barrier = [i for i, l in enumerate(lines) if '"gpu.barrier"' in l]
    issue = next(i for i, l in enumerate(lines)
                 if "wgmma.mma_async" in l and "commit_group.sync.aligned;\\0A\\09}" in l)
    wait1 = next(i for i, l in enumerate(lines) if "wgmma.wait_group.sync.aligned 1;" in l)
    # The value copy's commit: the first after the issues.
    commit = next(i for i, l in enumerate(lines)
                  if i > issue and "nvgpu.device_async_create_group" in l)

    def moved(src, dst):
        out = list(lines)
        line = out.pop(src)
        out.insert(dst if dst < src else dst - 1, line)
        return "\n".join(out)
    # Races: the emulator (warps in lockstep) computes the right numbers,
    # so only its race checks can catch them.
    check_mutants(text, data, {
        "loop-top barrier after the value copy":
        moved(max(i for i in barrier if i < issue), commit + 1),
        "barrier after the scores' wait moved before it":
        moved(min(i for i in barrier if i > wait1), wait1)}, must_raise=True)


def check_mutants(text, data, muts, must_raise=False):
    """Each mutant (name -> kernel text, which must differ from `text`)
    must fail: raise an EmulatorError, or (unless `must_raise`) give an
    error above the case's bound."""
    t, q, k, v, kw, vw, r, lowp = data
    bound = 2 * rel_err(lowp, r) + 4 * EPS[t]
    for name, mutant in muts.items():
        if mutant == text:
            print(f"mutant {name}: not applied")
            RESULTS.append(False)
            continue
        try:
            err = rel_err(np.nan_to_num(run_attention(mutant, t, q, k, v, kw, vw)), r)
            hit = err > bound and not must_raise
            print(f"mutant {name}: err {err:.2e} {'caught' if hit else 'NOT caught'}")
        except ge.EmulatorError as e:
            hit = True
            print(f"mutant {name}: caught ({str(e)[:80]})")
        RESULTS.append(hit)


def wgmma_mutants(text, data, d, fences=2, extra=None):
    """wgmma kernels: the check must also fail without a proxy fence (the
    kernel has `fences`), with the key tile's descriptor strides swapped
    (LBO <-> SBO), with the scores' B read as MN-major, for chains that do
    not wait for their MMAs, and for the `extra` mutants (name -> text)."""
    caught, total = without_each(text, data, "fence.proxy.async", "proxy fence")
    RESULTS.append(total == fences and caught == total)
    group = d // 8 * 128

    def fields(lbo, sbo):
        return f"{((lbo >> 4) << 16) | ((sbo >> 4) << 32)} : i64"
    muts = {"key descriptor strides swapped":
            text.replace(fields(128, group), fields(group, 128), 1),
            "scores' B read as MN-major":
            text.replace(", 1, 1, 0;", ", 1, 1, 1;"),
            "chains without their wait":
            text.replace("wgmma.wait_group.sync.aligned 0;", "")}
    muts.update(extra or {})
    check_mutants(text, data, muts)


def decode_input(t, hq, hkv, sq, d, causal, theta, scale=None):
    qt = f"tensor<?x{hq}x{sq}x{d}x{t}>"
    ct = f"tensor<?x{hkv}x?x{d}x{t}>"
    attrs = ((" causal" if causal else "") + (f" scale = {scale}" if scale else "")
             + (f" rope_theta = {theta}" if theta else ""))
    return f"""
func.func @step(%q: {qt}, %kc: {ct}, %vc: {ct}, %len: index) -> {qt} {{
  %o = kvshift.kv_cache_attention %q, %kc, %vc length %len{attrs}
      : ({qt}, {ct}, {ct}, index) -> {qt}
  return %o : {qt}
}}"""


def decode_case(t, b, hq, hkv, sq, smax, length, d, causal, theta=None, options="", seed=0,
                scale=None, qmul=1.0):
    """qmul scales q (large logits); scale is the op's attribute."""
    rng = np.random.default_rng(seed)
    q = to_type(qmul * rng.standard_normal((b, hq, sq, d)), t)
    kc = to_type(rng.standard_normal((b, hkv, smax, d)), t)
    vc = to_type(rng.standard_normal((b, hkv, smax, d)), t)
    text = lower(decode_input(t, hq, hkv, sq, d, causal, theta, scale), options)
    out, r, lowp = run_decode(text, t, q, kc, vc, length, causal, theta, scale)
    name = (f"decode {t} {b}x{hq}/{hkv} Sq={sq} length {length} of {smax} D={d}"
            f"{' causal' if causal else ''}{' rope' if theta else ''}"
            f"{f' scale {scale}' if scale else ''}{f' q x{qmul:g}' if qmul != 1 else ''}"
            f"{' ' + options if options else ''}")
    report(name, out, r, lowp, t)
    return text, (t, q, kc, vc, length, causal, theta, r, lowp)


def decode_mutants(text, data):
    """Each decode-kernel barrier removed must be caught."""
    t, q, kc, vc, length, causal, theta, r, lowp = data
    lines = text.split("\n")
    barriers = [i for i, l in enumerate(lines) if '"gpu.barrier"' in l]
    caught = 0
    for i in barriers:
        try:
            out, _, _ = run_decode("\n".join(lines[:i] + lines[i + 1:]), t, q, kc, vc,
                                   length, causal, theta)
            caught += rel_err(np.nan_to_num(out), r) > 2 * rel_err(lowp, r) + 4 * EPS[t]
        except ge.EmulatorError:
            caught += 1
    print(f"decode mutants without one barrier: {caught} of {len(barriers)} caught")
    RESULTS.append(caught == len(barriers) and len(barriers) > 0)


def run_decode(text, t, q, kc, vc, length, causal, theta, scale=None):
    b, hq, sq, d = q.shape
    hkv, smax = kc.shape[1], kc.shape[2]
    module = ge.Module(text)
    attrs = launcher_attrs(text)
    dk, mk = attrs["gpu_decode_kernel"], attrs["gpu_merge_kernel"]
    split, rows = attrs["gpu_decode_split"], attrs["gpu_decode_rows"]
    states = b * hq * sq * max(1, -(-smax // split))
    wm = np.full(states, np.nan, np.float32)
    wl = np.full(states, np.nan, np.float32)
    wo = np.full(states * d, np.nan, np.float32)
    out = np.full(b * hq * sq * d, np.nan, dtype=storage(q, t).dtype)
    splits = -(-length // split)
    row_blocks = -(-(hq // hkv) * sq // rows)
    module.launch(dk, (hkv * row_blocks, splits, b), block_size(module, dk),
                  [storage(q, t), storage(kc, t), storage(vc, t), wm, wl, wo,
                   b, hq, sq, hkv, smax, length])
    module.launch(mk, (b * hq * sq, 1, 1), block_size(module, mk),
                  [wm, wl, wo, out, length, smax])
    out = out.reshape(b, hq, sq, d).astype(np.float64)
    r = cache_reference(q, kc, vc, length, causal, theta, scale)
    ones = np.tile(np.array([[1.0, 0.0]], np.float32), (hkv, 1))
    qr = q if theta is None else to_type(rope32(q, np.arange(sq) + length - sq, theta), t)
    lowp = lowp_attention(qr, kc[:, :, :length], vc[:, :, :length], ones, ones, causal,
                          None, t, mix=False, scale=scale)
    return out, r, lowp


def grad_input(t, b, hq, hkv, sq, sk, d, causal, theta=None):
    ty = lambda h, s: f"tensor<{b}x{h}x{s}x{d}x{t}>"  # noqa: E731
    w = f"tensor<{hkv}x2xf32>"
    ins = f"{ty(hq, sq)}, {ty(hkv, sk)}, {ty(hkv, sk)}, {w}, {w}, {ty(hq, sq)}"
    outs = f"{ty(hq, sq)}, {ty(hkv, sk)}, {ty(hkv, sk)}, {w}, {w}"
    return f"""
func.func @grad(%q: {ty(hq, sq)}, %k: {ty(hkv, sk)}, %v: {ty(hkv, sk)}, %kw: {w}, %vw: {w}, %do: {ty(hq, sq)}) -> ({outs}) {{
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do){' causal' if causal else ''}{f' rope_theta = {theta}' if theta else ''}
      : ({ins}) -> ({outs})
  return %dq, %dk, %dv, %dkw, %dvw : {outs}
}}"""


def run_grad(text, t, q, k, v, kw, vw, do):
    """The four backward kernels in the launcher's order and configuration."""
    module = ge.Module(text)
    attrs = launcher_attrs(text)
    kq, kkv, kmix, kw_ = attrs["gpu_grad_kernels"]
    q_rows, kv_rows, threads = (attrs["gpu_grad_q_rows"], attrs["gpu_grad_kv_rows"],
                                attrs["gpu_threads"])
    b, hq, sq, d = q.shape
    hkv, sk = k.shape[1], k.shape[2]
    qs, ks, vs, dos = (storage(x, t) for x in (q, k, v, do))
    qa, ka = qs, ks  # what grad_q and grad_kv read
    if "gpu_rope_kernel" in attrs:
        qa, ka = rope_prepass(module, attrs, qs, ks, kw, sq, sk, d, hkv)
    f32 = lambda n: np.full(n, np.nan, np.float32)  # noqa: E731
    lse, delta = f32(b * hq * sq), f32(b * hq * sq)
    dkh, dvh, part = f32(b * hkv * sk * d), f32(b * hkv * sk * d), f32(b * hkv * sk * 4)
    dq, dk, dv = (np.full(x.size, np.nan, qs.dtype) for x in (q, k, v))
    dkw, dvw = f32(hkv * 2), f32(hkv * 2)
    kwf, vwf = kw.ravel().astype(np.float32), vw.ravel().astype(np.float32)
    sizes = [b, hq, sq, hkv, sk]
    krows = b * hkv * sk
    module.launch(kq, (-(-sq // q_rows), hq, b), threads,
                  [qa, ka, vs, kwf, vwf, dos, lse, delta, dq] + sizes)
    module.launch(kkv, (-(-sk // kv_rows), hkv, b), threads,
                  [qa, ka, vs, kwf, vwf, dos, lse, delta, dkh, dvh] + sizes)
    module.launch(kmix, (-(-krows // (block_size(module, kmix) // 32)), 1, 1),
                  block_size(module, kmix),
                  [ks, vs, kwf, vwf, dkh, dvh, dk, dv, part, b, hkv, sk])
    module.launch(kw_, (hkv, 1, 1), block_size(module, kw_),
                  [part, dkw, dvw, b, hkv, sk])
    return [x.reshape(s).astype(np.float64) for x, s in
            ((dq, q.shape), (dk, k.shape), (dv, v.shape), (dkw, kw.shape), (dvw, vw.shape))]


def grad_data(t, b, hq, hkv, sq, sk, d, seed, big):
    """q, k, v, kw, vw, dO of a backward case (weights in [-1, 1.5), one
    negative); `big`: q and k times 3, logits of standard deviation 9."""
    rng = np.random.default_rng(seed)
    scale = 3.0 if big else 1.0
    q = to_type(rng.standard_normal((b, hq, sq, d)) * scale, t)
    k = to_type(rng.standard_normal((b, hkv, sk, d)) * scale, t)
    v = to_type(rng.standard_normal((b, hkv, sk, d)), t)
    do = to_type(rng.standard_normal((b, hq, sq, d)), t)
    kw = rng.uniform(-1.0, 1.5, (hkv, 2)).astype(np.float32)
    vw = rng.uniform(-1.0, 1.5, (hkv, 2)).astype(np.float32)
    kw[0, 1] = -0.75
    return q, k, v, kw, vw, do


def grad_case(t, b, hq, hkv, sq, sk, d, causal, seed=0, theta=None, options="",
              big=False):
    q, k, v, kw, vw, do = grad_data(t, b, hq, hkv, sq, sk, d, seed, big)
    text = lower(grad_input(t, b, hq, hkv, sq, sk, d, causal, theta), options)
    got = run_grad(text, t, q, k, v, kw, vw, do)
    want = ref.kv_shift_attention_grad(q, k, v, kw, vw, do, causal=causal,
                                       rope_theta=theta)
    name = (f"grad {t} {b}x{hq}/{hkv} Sq={sq} Sk={sk} D={d}{' causal' if causal else ''}"
            f"{' rope' if theta else ''}{' big' if big else ''}{' ' + options if options else ''}")
    # Large logits: the error grows with them for every low-precision
    # computation; the bound is at least twice the paper's way's in t.
    lowp = lowp_grads(q, k, v, kw, vw, do, causal, theta, t) if big and t != "f32" else None
    bound = check_grads(name, t, got, want, (q, k, v, kw, vw, do), causal, theta, lowp=lowp)
    return text, (t, q, k, v, kw, vw, do, want, bound)


def check_grads(name, t, got, want, inputs, causal, theta, inherent=None, lowp=None):
    """Reports dq, dk, dv, dkw, dvw against float64; returns the bound.
    `inherent`: float64 gradients of a computation that the kernels follow
    (the forward's rounded output in delta); twice their error is added to
    each bound. `lowp`: the paper's way in t (lowp_grads); each bound is at
    least twice its error plus 4 ulps (the forward's bound)."""
    q, k, v, kw, vw, do = inputs
    hkv, d = k.shape[1], k.shape[3]
    # f32: the issue's 1e-5 for every gradient; bf16/f16: 4 ulps of the type
    # (the tensor-core kernels round K^, V^, P and dS to it, as the paper's
    # way does).
    bound = 1e-5 + (4 * EPS[t] if t != "f32" else 0)
    # The weight gradients sum dk^_t . k_t (and k_{t-1}; likewise v) over
    # batch, sequence and D with cancellation: in low precision their bound
    # is also 4 ulps times the root sum of squares of those terms (the scale
    # of the error of a sum of independently rounded terms; the GPU check's
    # floor too).
    ones = np.tile(np.array([[1.0, 0.0]]), (hkv, 1))
    kh, vh = ref.kv_shift(k, kw), ref.kv_shift(v, vw)
    _, dkh, dvh, _, _ = ref.kv_shift_attention_grad(q, kh, vh, ones, ones, do,
                                                    causal=causal, rope_theta=theta)
    rss = []
    for gh, x in ((dkh, np.asarray(k, np.float64)), (dvh, np.asarray(v, np.float64))):
        prev = np.zeros_like(x)
        prev[:, :, 1:] = x[:, :, :-1]
        rss.append(max(np.sqrt(((gh * x) ** 2).sum()), np.sqrt(((gh * prev) ** 2).sum())))
    errs = []
    ok = True
    for what, g, w in zip(("dq", "dk", "dv", "dkw", "dvw"), got, want):
        if np.isnan(g).any():
            ok = False
            errs.append(f"{what} has {int(np.isnan(g).sum())} unwritten")
            continue
        # Gradients that are zero up to rounding (dq, dk, dkw at S = 1): the
        # absolute error, against the bound times the scale of a gradient
        # that is not zero (dv's; times sqrt(D) for the weights' sums over D).
        b_ = bound if what in ("dq", "dk", "dv") or t != "f32" else 1e-5
        if np.abs(w).max() >= 1e-6:
            e = rel_err(g, w)
            if what in ("dkw", "dvw") and t != "f32":
                b_ = max(b_, 4 * EPS[t] * rss[what == "dvw"] / np.abs(w).max())
        else:
            e = float(np.abs(g - w).max())
            b_ *= np.abs(want[2]).max() * (math.sqrt(d) if what in ("dkw", "dvw") else 1)
        if inherent is not None and np.abs(w).max() >= 1e-6:
            b_ += 2 * rel_err(inherent[len(errs)], w)
        if lowp is not None and np.abs(w).max() >= 1e-6:
            b_ = max(b_, 2 * rel_err(lowp[len(errs)], w) + 4 * EPS[t])
        ok &= e <= b_
        errs.append(f"{what} {e:.1e}" + (f" (bound {b_:.1e})" if b_ > 1.01 * bound else ""))
        if lowp is not None and np.abs(w).max() >= 1e-6:
            errs[-1] += f" [{e / max(rel_err(lowp[len(errs) - 1], w), 1e-30):.2f}x the paper's way]"
    RESULTS.append(ok)
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {', '.join(errs)} (bound {bound:.1e})")
    return bound


def grad_mutants(text, data):
    t, q, k, v, kw, vw, do, want, bound = data
    lines = text.split("\n")
    barriers = [i for i, l in enumerate(lines) if '"gpu.barrier"' in l]
    caught = 0
    for i in barriers:
        try:
            got = run_grad("\n".join(lines[:i] + lines[i + 1:]), t, q, k, v, kw, vw, do)
            caught += max(rel_err(np.nan_to_num(g), w) for g, w in zip(got, want)) > bound
        except ge.EmulatorError:
            caught += 1
    print(f"grad mutants without one barrier: {caught} of {len(barriers)} caught")
    got = run_grad(text, t, q, k, v, vw, kw, do)
    swapped = max(rel_err(np.nan_to_num(g), w) for g, w in zip(got, want))
    print(f"grad mutant with swapped weights: err {swapped:.1e} "
          f"{'caught' if swapped > bound else 'NOT caught'}")
    RESULTS.append(caught == len(barriers) and len(barriers) > 0 and swapped > bound)


def grad_wgmma_mutants(text, data, d):
    """grad_kv with wgmma: the check must also fail without its proxy fence,
    with the K-major descriptors' strides swapped (A: the key and value
    tiles; B: the q and dO tiles for S^T, dP^T), with the MN-major ones'
    swapped (q and dO for dK^, dV^), for a wait that leaves dP^T in flight
    and one that leaves dK^ in flight."""
    t, q, k, v, kw, vw, do, want, bound = data
    lines = text.split("\n")
    fences = [i for i, l in enumerate(lines) if "fence.proxy.async" in l]
    group = d // 8 * 128

    def fields(lbo, sbo):
        return f"{((lbo >> 4) << 16) | ((sbo >> 4) << 32)} : i64"
    kmaj, mnmaj = fields(128, group), fields(group, 128)
    swap = "\x00"
    wait0 = '"wgmma.wait_group.sync.aligned 0;"'
    waits = [i for i, l in enumerate(lines) if wait0 in l]
    muts = {f"without proxy fence {n}": "\n".join(lines[:i] + lines[i + 1:])
            for n, i in enumerate(fences)}
    muts.update({
        "K-major descriptors' strides swapped":
        text.replace(kmaj, swap).replace(mnmaj, kmaj).replace(swap, mnmaj)
        if group != 128 else text,
        "key tile's descriptor strides swapped": text.replace(kmaj, mnmaj, 1),
        "dV^ and dK^'s B read as K-major": text.replace(", 1, 1, 1;", ", 1, 1, 0;"),
        "dP^T left in flight": "\n".join(
            lines[:waits[0]] + [lines[waits[0]].replace(wait0, wait0.replace(" 0;", " 1;"))] +
            lines[waits[0] + 1:]),
        "dK^ left in flight": "\n".join(
            lines[:waits[1]] + [lines[waits[1]].replace(wait0, wait0.replace(" 0;", " 1;"))] +
            lines[waits[1] + 1:])})
    ok = len(fences) == 1 and len(waits) == 2

    def error(mutant):
        if mutant == text:
            return None
        got = run_grad(mutant, t, q, k, v, kw, vw, do)
        return max(rel_err(np.nan_to_num(g), w) for g, w in zip(got, want))
    for name, mutant in muts.items():
        ok &= grad_mutant_caught(name, lambda: error(mutant), bound)
    RESULTS.append(ok)


def grad_prefetch_mutants(text, data, kernel, waits=2):
    """grad_kv (or grad_q) with grad-prefetch: the check must also fail when
    the wait at a tile's start leaves that tile's copies in flight (the
    first cp.async wait of the kernel; `waits`: how many it has, e.g. on
    wgmma a last one that retires the key and value copies of a block
    without query tiles)."""
    t, q, k, v, kw, vw, do, want, bound = data
    end = text.index(f'sym_name = "{kernel}"')
    start = text.rindex('"gpu.func"()', 0, end)
    body = text[start:end]
    wait0 = "numGroups = 0 : i32"
    mutant = body.replace(wait0, "numGroups = 1 : i32", 1)

    def error():
        got = run_grad(text[:start] + mutant + text[end:], t, q, k, v, kw, vw, do)
        return max(rel_err(np.nan_to_num(g), w) for g, w in zip(got, want))
    ok = body.count(wait0) == waits
    if not ok:
        print(f"FAIL {kernel}: {body.count(wait0)} cp.async waits, expected {waits}")
    ok &= grad_mutant_caught(f"{kernel}: this tile's copies left in flight", error, bound)
    RESULTS.append(ok)


def lowered_kernel(case, name):
    """The module that `case(mutate)` lowers (stats_case's protocol; nothing
    runs): ([its text], its lines, and the lines [start, end) of kernel
    `name`'s body; the lowered text is in generic form, so the function's
    attributes follow its region)."""
    texts = []
    case(lambda text: texts.append(text) or text)  # unchanged: nothing runs
    lines = texts[0].split("\n")
    end = next(i for i, l in enumerate(lines)
               if "gpu.kernel" in l and f'sym_name = "{name}"' in l)
    start = max(i for i in range(end) if '"gpu.func"()' in lines[i])
    return texts, lines, start, end


def kernel_mutants(case, name, bound):
    """Mutants of kernel `name` of the module that `case(mutate)` lowers and
    runs (stats_case's protocol): each of its barriers removed, and its
    first cp.async wait leaving the copies in flight; each must raise or
    give wrong results."""
    _, lines, start, end = lowered_kernel(case, name)
    muts = {}
    for n, i in enumerate(i for i in range(start, end) if '"gpu.barrier"' in lines[i]):
        muts[f"{name} without barrier {n}"] = "\n".join(lines[:i] + lines[i + 1:])
    wait = next(i for i in range(start, end) if "numGroups = 0 : i32" in lines[i])
    muts[f"{name}: a tile's copies left in flight"] = "\n".join(
        lines[:wait] + [lines[wait].replace("numGroups = 0 : i32", "numGroups = 1 : i32")] +
        lines[wait + 1:])
    ok = len(muts) >= 3
    for what, mutant in muts.items():
        ok &= grad_mutant_caught(what, lambda: case(lambda text: mutant), bound)
    RESULTS.append(ok)


def grad_mutant_caught(name, error, bound):
    """Reports a backward mutant: `error()` runs it and returns its largest
    gradient error (None: the mutation changed nothing). Caught: it raises
    an EmulatorError or its error exceeds `bound`."""
    try:
        err = error()
        if err is None:
            print(f"grad mutant {name}: not applied")
            return False
        hit = err > bound
        print(f"grad mutant {name}: err {err:.1e} {'caught' if hit else 'NOT caught'}")
    except ge.EmulatorError as e:
        hit = True
        print(f"grad mutant {name}: caught ({str(e)[:80]})")
    return hit


def grad_q_wgmma_mutants(case, name, d, bn=64):
    """grad_q with wgmma (training step): `case(mutate)` runs stats_case with
    `mutate`; each mutation of grad_q `name` must raise or give wrong
    gradients: each barrier and the proxy fence removed, the key window's
    descriptor without its offset (dq then reads the value tile), a wait
    that leaves dP in flight, the last key row's term dropped, and the
    carried dS column replaced by dP's."""
    texts, lines, start, end = lowered_kernel(case, name)
    muts = {}
    for what, marker in (("barrier", '"gpu.barrier"'), ("proxy fence", "fence.proxy.async")):
        where = [i for i in range(start, end) if marker in lines[i]]
        for n, i in enumerate(where):
            muts[f"grad_q without {what} {n}"] = "\n".join(lines[:i] + lines[i + 1:])
    half = f"<{{value = {bn * d // 8} : i64}}>"
    wait = '"wgmma.wait_group.sync.aligned 0;"'
    body = lines[start:end + 1]
    muts["grad_q's key window read at the value tile"] = "\n".join(
        lines[:start] + [l.replace(half, "<{value = 0 : i64}>") for l in body] +
        lines[end + 1:])
    muts["grad_q's dP left in flight"] = "\n".join(
        lines[:start] + [l.replace(wait, wait.replace(" 0;", " 1;")) for l in body] +
        lines[end + 1:])
    # After the loop, the last key row's weight a1 dS_jEnd (a shuffle of the
    # loop's carried dS column, results D/2 + 4 and + 5, then a multiply by
    # a1) made zero; and the loop's carried dS column replaced by dP's.
    last = list(lines)
    hits = 0
    for i in range(start, end):
        m = re.search(r'"gpu.shuffle"\(%\w+#(\d+),', last[i])
        if m and int(m.group(1)) in (d // 2 + 4, d // 2 + 5):
            mm = re.match(r'(\s*%\w+) = "arith.mulf"\((%\w+), (%\w+#0)\)(.*)$', last[i + 1])
            if mm:
                last[i + 1] = f'{mm.group(1)} = "arith.subf"({mm.group(3)}, {mm.group(3)}){mm.group(4)}'
                hits += 1
    muts["grad_q without the last key row's term"] = "\n".join(last) if hits == 2 else texts[0]
    carried = list(lines)
    loop_yield = max(i for i in range(start, end)
                     if '"scf.yield"(' in carried[i] and carried[i].count("f32") >= 20)
    m = re.match(r'(\s*"scf.yield"\()([^)]*)(\).*)$', carried[loop_yield])
    ops = m.group(2).split(", ")
    ops[-2:] = ops[-4:-2]
    carried[loop_yield] = m.group(1) + ", ".join(ops) + m.group(3)
    muts["grad_q carrying dP's last column as dS's"] = "\n".join(carried)
    ok = len(muts) >= 7
    for what, mutant in muts.items():
        ok &= grad_mutant_caught(what, lambda: case(lambda text: mutant), 0.05)
    RESULTS.append(ok)


def lse_reference(q, k, kw, causal, theta):
    """The rows' natural-log log-sum-exp of the scaled mixed logits in
    float64 (-inf for a row that sees no key)."""
    q, kh = np.asarray(q, np.float64), ref.kv_shift(k, kw)
    sq, sk = q.shape[2], k.shape[2]
    if theta is not None:
        kh = ref.rope(kh, np.arange(sk), theta)
        q = ref.rope(q, np.arange(sq) + sk - sq, theta)
    kh = np.repeat(kh, q.shape[1] // k.shape[1], axis=1)
    s = np.einsum("bhid,bhjd->bhij", q, kh) / math.sqrt(q.shape[3])
    if causal:
        s = np.where(ref.causal_mask(sq, sk)[None, None], s, -np.inf)
    m = s.max(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        lse = m[..., 0] + np.log(np.exp(s - np.where(np.isinf(m), 0, m)).sum(-1))
    return np.where(np.isinf(m[..., 0]), -np.inf, lse), np.abs(np.nan_to_num(s, neginf=0)).max()


def no_key_rows(fn, q, k, causal, pad_axis_outputs):
    """With causal and Sq > Sk (dynamic shapes; kvshift-run refuses it, the
    kernels define it), rows i < Sq - Sk see no key: their outputs are zero
    and they contribute nothing; the other rows are the causal problem with
    Sq' = Sk (bottom-right alignment). `fn(q_tail)` returns the outputs of
    the tail rows; those named in `pad_axis_outputs` get zero head rows."""
    sq, sk = q.shape[2], k.shape[2]
    if not causal or sq <= sk:
        return fn(q)
    res = list(fn(q[:, :, sq - sk:]))
    for i in pad_axis_outputs:
        x = res[i]
        res[i] = np.concatenate([np.zeros(x.shape[:2] + (sq - sk,) + x.shape[3:], x.dtype), x],
                                axis=2)
    return res


def stats_input(t, b, hq, hkv, sq, sk, d, causal, theta, dynamic=False):
    """A forward and its gradient on the same operands: the share-attention-
    stats pass makes them kv_shift_attention_with_lse and
    kv_shift_attention_grad_with_lse. `dynamic`: the sequence lengths are
    `?` (causal with Sq > Sk is then accepted: the first rows see no key)."""
    if dynamic:
        sq = sk = "?"
    ty = lambda h, s: f"tensor<{b}x{h}x{s}x{d}x{t}>"  # noqa: E731
    w = f"tensor<{hkv}x2xf32>"
    attrs = (" causal" if causal else "") + (f" rope_theta = {theta}" if theta else "")
    ins = f"{ty(hq, sq)}, {ty(hkv, sk)}, {ty(hkv, sk)}, {w}, {w}"
    outs = f"{ty(hq, sq)}, {ty(hq, sq)}, {ty(hkv, sk)}, {ty(hkv, sk)}, {w}, {w}"
    return f"""
func.func @train(%q: {ty(hq, sq)}, %k: {ty(hkv, sk)}, %v: {ty(hkv, sk)}, %kw: {w}, %vw: {w}, %do: {ty(hq, sq)}) -> ({outs}) {{
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw){attrs} : ({ins}) -> {ty(hq, sq)}
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do){attrs}
      : ({ins}, {ty(hq, sq)}) -> ({outs.split(", ", 1)[1]})
  return %o, %dq, %dk, %dv, %dkw, %dvw : {outs}
}}"""


def stats_case(t, b, hq, hkv, sq, sk, d, causal, theta=None, options="", seed=0,
               big=False, lse_shift=0.0, dynamic=False, mutate=None):
    """The forward with lse and the backward given the statistics, through
    their launchers (the stats kernel, grad_q without its forward pass).
    `lse_shift` perturbs the lse handed to the backward, and `mutate` (text
    -> text) the lowered module (mutants: the gradients must then be wrong;
    both return the largest gradient error, `mutate` None when it changes
    nothing). Returns whether everything was in bound."""
    q, k, v, kw, vw, do = grad_data(t, b, hq, hkv, sq, sk, d, seed, big)
    text = lower(stats_input(t, b, hq, hkv, sq, sk, d, causal, theta, dynamic), options,
                 before=["--kvshift-share-attention-stats"], after=["--kvshift-gpu-launchers"])
    if mutate is not None:
        mutant = mutate(text)
        if mutant == text:
            return None
        text = mutant
    module = ge.Module(text)
    names = sorted(n for n in module.functions if n.startswith("kvshift_launch_"))
    fwd = [n for n in names if n.endswith("_lse")]
    grad = [n for n in names if n.endswith("_lse_grad")]
    if len(fwd) != 1 or len(grad) != 1:
        raise SystemExit(f"expected one forward and one gradient launcher with lse, got {names}")
    st = lambda x: np.ascontiguousarray(to_type(x, t))  # noqa: E731
    out = np.full(q.shape, np.nan, st(q).dtype)
    lse = np.full((b, hq, sq), np.nan, np.float32)
    module.call(fwd[0], [st(q), st(k), st(v), kw, vw, out, lse])
    name = (f"{t} {b}x{hq}/{hkv} Sq={sq} Sk={sk} D={d}{' causal' if causal else ''}"
            f"{' rope' if theta else ''}{' big' if big else ''}{' dynamic' if dynamic else ''}"
            f"{' ' + options if options else ''}")
    ok = True
    if lse_shift == 0.0 and mutate is None:
        want, lowp = no_key_rows(
            lambda qq: (ref.kv_shift_attention(qq, k, v, kw, vw, causal=causal,
                                               rope_theta=theta),
                        lowp_attention(qq, k, v, kw, vw, causal, theta, t)), q, k, causal, (0, 1))
        ok &= report(f"forward with lse {name} out", out.astype(np.float64), want, lowp, t)
        # lse: the scores are f32 sums of products of t values (RoPE: of
        # rotated rows rounded to t), so the error is that of f32 and
        # ex2/lg2.approx, plus with RoPE 4 ulps of t times the largest |score|.
        lse_want, smax = lse_reference(q, k, kw, causal, theta)
        if causal and sq > sk:
            tail, smax = lse_reference(q[:, :, sq - sk:], k, kw, causal, theta)
            lse_want = np.concatenate([np.full((b, hq, sq - sk), -np.inf), tail], axis=2)
        same_inf = np.array_equal(np.isneginf(lse), np.isneginf(lse_want))
        finite = ~np.isneginf(lse_want)
        e = float(np.abs(lse[finite] - lse_want[finite]).max()) if finite.any() else 0.0
        bound = 1e-5 * max(1.0, float(np.abs(lse_want[finite]).max(initial=0))) + \
            (4 * EPS[t] * smax if theta is not None else 0.0)
        good = same_inf and not np.isnan(lse).any() and e <= bound
        RESULTS.append(good)
        ok &= good
        print(f"{'ok  ' if good else 'FAIL'} forward with lse {name} lse: max abs err "
              f"{e:.2e} (bound {bound:.2e}), {int((~finite).sum())} rows -inf"
              + ("" if same_inf else " (the -inf rows differ)"))
    grads = [np.full(x.shape, np.nan, st(x).dtype) for x in (q, k, v)] + \
        [np.full(kw.shape, np.nan, np.float32), np.full(vw.shape, np.nan, np.float32)]
    module.call(grad[0], [st(q), st(k), st(v), kw, vw, st(do), out,
                          (lse + np.float32(lse_shift)).astype(np.float32)] + grads)
    want = no_key_rows(
        lambda qq: ref.kv_shift_attention_grad(qq, k, v, kw, vw, do[:, :, sq - qq.shape[2]:],
                                               causal=causal, rope_theta=theta),
        q, k, causal, (0,))
    if lse_shift != 0.0 or mutate is not None:
        err = max(rel_err(np.nan_to_num(g.astype(np.float64)), w) for g, w in zip(grads, want))
        return err
    n = len(RESULTS)
    # delta = rowsum(dO * O) with the output the forward kernel wrote (in t,
    # as FlashAttention's backward and PyTorch's take it): twice what using
    # it instead of the exact output costs is added to the bounds.
    first = sq - sk if causal and sq > sk else 0
    given = out.astype(np.float64)[:, :, first:]
    rounded = no_key_rows(
        lambda qq: ref.kv_shift_attention_grad(qq, k, v, kw, vw, do[:, :, first:],
                                               causal=causal, rope_theta=theta,
                                               round_out=lambda o: given),
        q, k, causal, (0,))
    # (The weight gradients' error scale comes from the rows that see keys.)
    lowp = lowp_grads(q, k, v, kw, vw, do, causal, theta, t) if big and t != "f32" else None
    check_grads(f"grad with lse {name}", t, [g.astype(np.float64) for g in grads], want,
                (q[:, :, first:], k, v, kw, vw, do[:, :, first:]), causal, theta,
                inherent=rounded if t != "f32" else None, lowp=lowp)
    return ok and RESULTS[n]


def stats_cases():
    stats_case("bf16", 1, 4, 2, 70, 70, 128, True, seed=71)
    stats_case("f16", 2, 2, 2, 45, 45, 64, False, seed=72)
    stats_case("bf16", 1, 4, 1, 20, 90, 64, True, seed=73)            # Sq < Sk, GQA 4
    stats_case("bf16", 1, 2, 1, 50, 20, 64, True, seed=74, dynamic=True)  # rows see no key
    stats_case("f16", 1, 2, 2, 1, 1, 64, True, seed=75)               # S = 1
    stats_case("bf16", 1, 2, 2, 30, 30, 37, True, seed=76)            # D = 37
    stats_case("bf16", 1, 2, 1, 70, 70, 64, True, seed=78, theta=10000.0)
    stats_case("bf16", 1, 4, 2, 100, 100, 128, True, seed=77, big=True)  # large logits
    stats_case("bf16", 1, 2, 1, 150, 150, 64, True, seed=79, options="warps=8")
    stats_case("f32", 1, 4, 2, 37, 37, 40, True, seed=80)             # SIMT
    stats_case("f32", 1, 2, 1, 40, 15, 16, True, seed=81, dynamic=True)   # SIMT, likewise
    stats_case("f32", 1, 2, 1, 33, 33, 64, False, seed=82, theta=10000.0)
    # The backward must use the lse it is given: shifted by 0.5, the
    # gradients are wrong (P scaled by e^-0.5 everywhere).
    for t, d in (("bf16", 64), ("f32", 40)):
        err = stats_case(t, 1, 2, 1, 40, 40, d, True, seed=83, lse_shift=0.5)
        caught = err > 0.05
        RESULTS.append(caught)
        print(f"{'ok  ' if caught else 'FAIL'} mutant {t}: lse + 0.5 handed to the backward: "
              f"err {err:.1e} {'caught' if caught else 'NOT caught'}")


def launcher_case(what, t, mlir, host_args, outputs, wants, bounds, options=""):
    """The host launcher itself (--kvshift-gpu-launchers: device buffers,
    copies, the pre-pass, the launches and their grids, copies back), run
    by the emulator on host arrays."""
    fuse = "--kvshift-fuse-attention-gpu" + (f"={options}" if options else "")
    r = subprocess.run([OPT, "-", fuse, "--kvshift-gpu-launchers",
                        "--mlir-print-op-generic"], input=mlir, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"kvshift-opt failed:\n{r.stderr}")
    module = ge.Module(r.stdout)
    names = [n for n in module.functions if n.startswith("kvshift_launch_")]
    module.call(names[0], host_args)
    errs, ok = [], True
    for name, got, want, bound in zip(outputs, [host_args[i] for i in range(len(host_args))
                                                 if i >= len(host_args) - len(outputs)],
                                      wants, bounds):
        g = np.asarray(got, np.float64)
        written = not np.isnan(g).any()
        e = rel_err(np.nan_to_num(g), want) if np.abs(want).max() >= 1e-6 else \
            float(np.abs(g - want).max())
        ok &= written and e <= bound
        errs.append(f"{name} {e:.1e}" + ("" if written else " (unwritten elements)"))
    RESULTS.append(ok)
    print(f"{'ok  ' if ok else 'FAIL'} launcher {what} ({names[0]}): {', '.join(errs)}")


def launcher_cases():
    rng = np.random.default_rng(7)
    for t, d, theta in (("bf16", 64, None), ("f16", 64, 10000.0), ("f32", 37, None)):
        b, hq, hkv, sq, sk = 2, 4, 2, 29, 45
        q = to_type(rng.standard_normal((b, hq, sq, d)), t)
        k = to_type(rng.standard_normal((b, hkv, sk, d)), t)
        v = to_type(rng.standard_normal((b, hkv, sk, d)), t)
        kw = rng.uniform(-1, 1.5, (hkv, 2)).astype(np.float32)
        vw = rng.uniform(-1, 1.5, (hkv, 2)).astype(np.float32)
        st = lambda x: np.ascontiguousarray(to_type(x, t))  # noqa: E731
        out = np.full(q.shape, np.nan, st(q).dtype)
        want = ref.kv_shift_attention(q, k, v, kw, vw, causal=True, rope_theta=theta)
        lowp = lowp_attention(q, k, v, kw, vw, True, theta, t)
        launcher_case(f"forward {t} D={d}{' rope' if theta else ''}", t,
                      attention_input(t, b, hq, hkv, sq, sk, d, True, theta),
                      [st(q), st(k), st(v), kw, vw, out], ["out"], [want],
                      [2 * rel_err(lowp, want) + 4 * EPS[t]])
        do = to_type(rng.standard_normal(q.shape), t)
        grads = [np.full(x.shape, np.nan, st(x).dtype) for x in (q, k, v)] + \
            [np.full(kw.shape, np.nan, np.float32), np.full(vw.shape, np.nan, np.float32)]
        wants = ref.kv_shift_attention_grad(q, k, v, kw, vw, do, causal=True, rope_theta=theta)
        gb = 1e-5 if t == "f32" else 4 * EPS[t] * 4
        launcher_case(f"grad {t} D={d}{' rope' if theta else ''}", t,
                      grad_input(t, b, hq, hkv, sq, sk, d, True, theta),
                      [st(q), st(k), st(v), kw, vw, st(do)] + grads,
                      ["dq", "dk", "dv", "dkw", "dvw"], wants, [gb] * 5)
    # Decode: q over a cache of 300 rows, 257 of them valid.
    t, d, b, hq, hkv, smax, length = "bf16", 128, 1, 8, 2, 300, 257
    q = to_type(rng.standard_normal((b, hq, 1, d)), t)
    kc = to_type(rng.standard_normal((b, hkv, smax, d)), t)
    vc = to_type(rng.standard_normal((b, hkv, smax, d)), t)
    qt, ct = f"tensor<{b}x{hq}x1x{d}x{t}>", f"tensor<{b}x{hkv}x{smax}x{d}x{t}>"
    mlir = f"""
func.func @step(%q: {qt}, %kc: {ct}, %vc: {ct}, %len: index) -> {qt} {{
  %o = kvshift.kv_cache_attention %q, %kc, %vc length %len causal
      : ({qt}, {ct}, {ct}, index) -> {qt}
  return %o : {qt}
}}"""
    out = np.full(q.shape, np.nan, np.float32)
    want = cache_reference(q, kc, vc, length, True, None)
    ones = np.tile(np.array([[1.0, 0.0]], np.float32), (hkv, 1))
    lowp = lowp_attention(q, kc[:, :, :length], vc[:, :, :length], ones, ones, True, None,
                          t, mix=False)
    launcher_case("decode bf16 D=128", t, mlir, [q, kc, vc, length, out], ["out"], [want],
                  [2 * rel_err(lowp, want) + 4 * EPS[t]])


def append_reference(k, v, kl, vl, kw, vw, kc, vc, pos, theta):
    """kv_cache_append in float64 (docs/KVCache.md): the caches with rows
    pos .. pos+T-1 replaced by the mixed (keys: and rotated) rows, and the
    raw last rows."""
    k, v, kl, vl = (np.asarray(x, np.float64) for x in (k, v, kl, vl))
    kc, vc = np.array(kc, np.float64), np.array(vc, np.float64)
    T = k.shape[2]
    outs = []
    for x, last, w, cache, rot in ((k, kl, kw, kc, True), (v, vl, vw, vc, False)):
        prev = np.concatenate([last if pos > 0 else np.zeros_like(last), x[:, :, :-1]], 2)
        w = np.asarray(w, np.float64)
        mixed = w[None, :, 0, None, None] * x + w[None, :, 1, None, None] * prev
        if rot and theta:
            mixed = ref.rope(mixed, np.arange(T) + pos, theta)
        cache[:, :, pos:pos + T] = mixed
        outs.append(cache)
    return outs + [k[:, :, T - 1:], v[:, :, T - 1:]]


def append_cases():
    """kv_cache_append's kernel and launcher (append-kernel=true): a decode
    step (T = 1), a chunk (T > 1) after earlier rows, the first chunk (pos
    0: k_last not read), a chunk that ends at the last row; RoPE and not,
    bf16, f16, f32 with an odd D."""
    rng = np.random.default_rng(17)
    for t, b, hkv, T, smax, d, pos, theta in (
            ("bf16", 2, 2, 1, 20, 64, 9, 10000.0), ("f16", 1, 3, 5, 16, 64, 7, 500.0),
            ("f32", 2, 2, 4, 10, 37, 0, None), ("bf16", 1, 2, 6, 12, 48, 6, None)):
        st = lambda x: np.ascontiguousarray(to_type(x, t))  # noqa: E731
        k, v = (st(rng.standard_normal((b, hkv, T, d))) for _ in range(2))
        kl, vl = (st(rng.standard_normal((b, hkv, 1, d))) for _ in range(2))
        kc, vc = (st(rng.standard_normal((b, hkv, smax, d))) for _ in range(2))
        kw = rng.uniform(-1, 1.5, (hkv, 2)).astype(np.float32)
        vw = rng.uniform(-1, 1.5, (hkv, 2)).astype(np.float32)
        row, cache = f"tensor<{b}x{hkv}x{T}x{d}x{t}>", f"tensor<{b}x{hkv}x{smax}x{d}x{t}>"
        last, w = f"tensor<{b}x{hkv}x1x{d}x{t}>", f"tensor<{hkv}x2xf32>"
        attr = f" rope_theta = {theta}" if theta else ""
        mlir = f"""
func.func @append(%k: {row}, %v: {row}, %kl: {last}, %vl: {last}, %kw: {w}, %vw: {w}, %kc: {cache}, %vc: {cache}, %pos: index) -> ({cache}, {cache}, {last}, {last}) {{
  %a, %b, %c, %d = kvshift.kv_cache_append %k, %v last(%kl, %vl) mix(%kw, %vw) into(%kc, %vc) at %pos{attr}
      : ({row}, {row}, {last}, {last}, {w}, {w}, {cache}, {cache}, index) -> ({cache}, {cache}, {last}, {last})
  return %a, %b, %c, %d : {cache}, {cache}, {last}, {last}
}}"""
        wants = append_reference(k, v, kl, vl, kw, vw, kc, vc, pos, theta)
        outs = [np.full(x.shape, np.nan, x.dtype) for x in (kc, vc, kl, vl)]
        # f32 products and sum, rounded to T once; RoPE's angles within a
        # few f32 ulps.
        bound = 4 * EPS[t] + (1e-6 if theta else 0.0)
        launcher_case(f"append {t} B={b} Hkv={hkv} T={T} at {pos} of {smax} D={d}"
                      f"{' rope' if theta else ''}", t, mlir,
                      [k, v, kl, vl, kw, vw, kc, vc, pos] + outs,
                      ["k_cache", "v_cache", "k_last", "v_last"], wants, [bound] * 4,
                      options="append-kernel=true")


def main():
    if SUITE == "tc":
        text, data = attention_case("bf16", 1, 4, 2, 100, 100, 64, True, seed=1)
        attention_case("f16", 1, 2, 2, 77, 77, 128, False, seed=2)
        attention_case("bf16", 1, 4, 1, 33, 130, 128, True, seed=3)     # Sq < Sk, GQA 4
        attention_case("f16", 2, 2, 2, 1, 1, 64, True, seed=4)          # S = 1
        attention_case("bf16", 1, 1, 1, 1, 129, 64, True, seed=5)       # one query, 129 keys
        attention_case("bf16", 1, 2, 1, 150, 150, 64, True, options="warps=8", seed=6)
        attention_case("f16", 1, 2, 2, 70, 70, 64, False, options="block-k=32", seed=7)
        attention_case("bf16", 1, 2, 2, 90, 90, 64, True, seed=8, big=True)
        mutants(text, data)
        # shifted-values: value windows [j0 - 1, j0 + BN - 1), the last key's
        # row added after the loop (Sk a multiple of the key tile: that row is
        # a real key), GQA, Sq < Sk, S = 1, 8 warps, 32-key tiles, large
        # logits, odd D, RoPE.
        sv = "shifted-values=true"
        text, data = attention_case("bf16", 1, 2, 2, 128, 128, 64, False, seed=41,
                                    options=sv)
        attention_case("f16", 1, 4, 2, 64, 64, 128, True, seed=42, options=sv)
        attention_case("bf16", 1, 4, 2, 50, 192, 64, True, seed=43, options=sv)
        attention_case("bf16", 1, 4, 1, 33, 130, 128, True, seed=3, options=sv)
        attention_case("f16", 2, 2, 2, 1, 1, 64, True, seed=4, options=sv)
        attention_case("bf16", 1, 2, 1, 150, 150, 64, True, options="warps=8 " + sv, seed=6)
        attention_case("f16", 1, 2, 2, 70, 70, 64, False, options="block-k=32 " + sv, seed=7)
        attention_case("bf16", 1, 2, 2, 50, 100, 96, True, seed=85,
                       options="block-k=16 " + sv)
        attention_case("bf16", 1, 2, 2, 90, 90, 64, True, seed=8, big=True, options=sv)
        attention_case("bf16", 1, 4, 2, 77, 99, 37, True, seed=11, options=sv)
        attention_case("bf16", 1, 4, 2, 80, 80, 64, True, theta=10000.0, seed=31, options=sv)
        mutants(text, data)
        # lazy-rescale (alone and with shifted-values): logits that grow along
        # the keys (maxima rise by more than 8 in log2 units between tiles:
        # warps rescale, and skip when they do not), large logits, GQA,
        # Sq < Sk, 8 warps, RoPE.
        lazy = "lazy-rescale=true"
        both = lazy + " " + sv
        text, data = attention_case("bf16", 1, 4, 2, 200, 200, 64, True, seed=51,
                                    options=lazy, growing=True)
        attention_case("bf16", 1, 4, 2, 200, 200, 64, True, seed=51, options=lazy)
        attention_case("f16", 1, 2, 2, 100, 300, 128, False, seed=52, options=lazy,
                       growing=True)
        attention_case("bf16", 1, 2, 2, 90, 90, 64, True, seed=8, big=True, options=lazy)
        attention_case("bf16", 1, 4, 1, 33, 130, 128, True, seed=3, options=lazy)
        attention_case("bf16", 1, 2, 1, 150, 150, 64, True, options="warps=8 " + lazy, seed=6)
        attention_case("bf16", 1, 4, 2, 80, 80, 64, True, theta=10000.0, seed=31,
                       options=lazy)
        attention_case("bf16", 1, 4, 2, 200, 200, 64, True, seed=53, options=both,
                       growing=True)
        attention_case("f16", 1, 2, 2, 128, 128, 64, False, seed=54, options=both,
                       growing=True)
        mutants(text, data)
    elif SUITE == "wgmma":
        # wgmma=true (sm_90a warpgroup MMAs from core-matrix tiles; implies
        # shifted-values): Sk a multiple of the key tile and not, GQA, Sq < Sk,
        # S = 1, D = 16, 48, 64, 80, 128, 256, 32-key tiles, large logits, RoPE,
        # lazy-rescale with growing logits, two warpgroups per block.
        wg = "wgmma=true chip=sm_90a"
        text, data = attention_case("bf16", 1, 4, 2, 128, 128, 64, True, seed=61,
                                    options=wg)
        attention_case("f16", 1, 2, 2, 77, 77, 128, False, seed=62, options=wg)
        attention_case("bf16", 1, 4, 1, 33, 130, 128, True, seed=63, options=wg)
        attention_case("f16", 2, 2, 2, 1, 1, 64, True, seed=64, options=wg)
        attention_case("bf16", 1, 2, 2, 70, 70, 48, False, seed=65, options=wg)
        attention_case("bf16", 1, 2, 1, 70, 90, 80, True, seed=81, options=wg)
        attention_case("bf16", 1, 2, 2, 40, 70, 256, True, seed=83,
                       options="block-k=32 " + wg)
        attention_case("bf16", 1, 2, 1, 40, 64, 16, True, seed=66, options=wg)
        attention_case("f16", 1, 2, 2, 70, 96, 64, True, seed=67,
                       options="block-k=32 " + wg)
        attention_case("bf16", 1, 2, 2, 90, 90, 64, True, seed=68, big=True, options=wg)
        attention_case("bf16", 1, 4, 2, 80, 80, 64, True, theta=10000.0, seed=69,
                       options=wg)
        attention_case("bf16", 1, 4, 2, 200, 200, 64, True, seed=70,
                       options="lazy-rescale=true " + wg, growing=True)
        # Two warpgroups per block (128 query rows) sharing the tiles.
        attention_case("bf16", 1, 4, 2, 150, 170, 128, True, seed=71,
                       options="warps=8 " + wg)
        # Tiles above 48 KiB (dynamic shared memory): 128-key tiles at
        # D = 128 (64 KiB; also with two warpgroups, FlashAttention-3's
        # 128 x 128 block), D = 256 with 64-key tiles (64 KiB).
        attention_case("bf16", 1, 2, 1, 150, 300, 128, True, seed=72,
                       options="block-k=128 lazy-rescale=true " + wg)
        attention_case("bf16", 1, 4, 2, 200, 260, 128, True, seed=73,
                       options="warps=8 block-k=128 " + wg)
        attention_case("bf16", 1, 2, 2, 40, 130, 256, True, seed=74, options=wg)
        mutants(text, data)
        wgmma_mutants(text, data, 64)
    elif SUITE == "overlap":
        # wgmma-overlap=true: the software-pipelined wgmma loop (S of the
        # next tile and O += P'V issued asynchronously, the softmax while
        # O's MMAs are in flight, value windows in two halves). Blocks with
        # no key tile (causal Sq > Sk), one tile (no loop iteration), two,
        # many with a partial last tile; GQA, S = 1, D = 16, 48, 80, 128,
        # 256 (32-key tiles), large logits, RoPE, lazy-rescale with growing
        # logits, two warpgroups per block (warps = 8).
        wg = "wgmma=true wgmma-overlap=true chip=sm_90a"
        text, data = attention_case("bf16", 1, 4, 2, 200, 200, 64, True, seed=91,
                                    options=wg)
        attention_case("f16", 1, 2, 2, 77, 77, 128, False, seed=92, options=wg)
        attention_case("bf16", 1, 4, 1, 33, 130, 128, True, seed=93, options=wg)
        attention_case("bf16", 1, 2, 1, 150, 40, 64, True, seed=94, options=wg,
                       dynamic=True)
        attention_case("f16", 2, 2, 2, 1, 1, 64, True, seed=95, options=wg)
        attention_case("bf16", 1, 2, 2, 64, 64, 48, False, seed=96, options=wg)
        attention_case("bf16", 1, 2, 1, 70, 90, 80, True, seed=97, options=wg)
        attention_case("bf16", 1, 2, 2, 40, 70, 256, True, seed=98,
                       options="block-k=32 " + wg)
        attention_case("bf16", 1, 2, 1, 40, 64, 16, True, seed=99, options=wg)
        attention_case("bf16", 1, 2, 2, 90, 90, 64, True, seed=100, big=True,
                       options=wg)
        attention_case("bf16", 1, 4, 2, 80, 80, 64, True, theta=10000.0, seed=101,
                       options=wg)
        attention_case("bf16", 1, 4, 2, 200, 200, 64, True, seed=102,
                       options="lazy-rescale=true " + wg, growing=True)
        text8, data8 = attention_case("bf16", 1, 4, 2, 300, 300, 128, True, seed=103,
                                      options="warps=8 lazy-rescale=true " + wg,
                                      growing=True)
        attention_case("f16", 1, 2, 1, 130, 140, 64, False, seed=104,
                       options="warps=8 " + wg)
        # 128-key tiles at D = 128: 96 KiB of dynamic shared memory.
        attention_case("bf16", 1, 2, 1, 150, 300, 128, True, seed=105,
                       options="block-k=128 lazy-rescale=true " + wg)
        mutants(text, data)
        # A wait that leaves S in flight (the scores are read before they
        # are done, the key tile overwritten under the MMAs), and one that
        # leaves O in flight.
        wait1 = "wgmma.wait_group.sync.aligned 1;"
        wait0 = '"wgmma.wait_group.sync.aligned 0;"'
        wgmma_mutants(text, data, 64, fences=3, extra={
            "scores read in flight": text.replace(wait1, "wgmma.wait_group.sync.aligned 2;"),
            "O read in flight": text.replace(wait0, '"wgmma.wait_group.sync.aligned 1;"')})
        overlap_mutants(text, data)
        # Two warpgroups per block: each barrier removed, each moved.
        mutants(text8, data8)
        overlap_mutants(text8, data8)
        # With two key tiles (one loop iteration) O's wait that leaves it in
        # flight overwrites nothing: the NaN results of the unretired group
        # must show in the output.
        text2, data2 = attention_case("bf16", 1, 2, 1, 128, 128, 64, False, seed=105,
                                      options=wg)
        t2, q2, k2, v2, kw2, vw2, r2, lowp2 = data2
        out = run_attention(text2.replace(wait0, '"wgmma.wait_group.sync.aligned 1;"'),
                            t2, q2, k2, v2, kw2, vw2)
        bad = int(np.isnan(out).sum())
        print(f"mutant O read in flight, two tiles: {bad} NaN outputs "
              f"{'caught' if bad else 'NOT caught'}")
        RESULTS.append(bad > 0)
    elif SUITE == "odd":
        # D not a multiple of 8: the synchronous copy path; D not a power of 2.
        attention_case("bf16", 1, 4, 2, 77, 99, 37, True, seed=11)
        attention_case("f16", 1, 2, 1, 40, 40, 40, False, seed=12)
        attention_case("bf16", 1, 2, 2, 65, 65, 72, True, seed=13)
    elif SUITE == "simt":
        text, data = attention_case("f32", 1, 4, 2, 45, 45, 64, True, seed=21)
        attention_case("f32", 1, 2, 2, 30, 47, 37, False, seed=22)
        attention_case("f32", 1, 2, 1, 1, 1, 16, True, seed=23)
        mutants(text, data)
    elif SUITE == "rope":
        text, data = attention_case("bf16", 1, 4, 2, 80, 80, 64, True, theta=10000.0, seed=31)
        attention_case("f16", 1, 2, 2, 20, 67, 128, True, theta=500.0, seed=32)
        attention_case("f32", 1, 2, 1, 33, 33, 32, False, theta=10000.0, seed=33)
        mutants(text, data)
    elif SUITE == "decode":
        text, data = decode_case("bf16", 2, 8, 2, 1, 300, 257, 128, True, seed=41)
        decode_case("f16", 1, 4, 4, 1, 130, 1, 64, True, seed=42)
        decode_case("bf16", 1, 8, 2, 3, 200, 150, 128, True, theta=10000.0, seed=43)
        decode_case("bf16", 1, 8, 2, 1, 700, 600, 128, False, options="decode-split=256",
                    seed=44)
        decode_case("bf16", 1, 16, 2, 1, 100, 90, 64, True, options="decode-rows=8", seed=45)
        decode_case("f16", 1, 8, 2, 1, 100, 99, 128, True, options="decode-prefetch=false",
                    seed=46)
        decode_case("f32", 1, 4, 2, 1, 50, 37, 64, True, seed=47)
        decode_mutants(text, data)
        # The tensor-core kernel (decode-mma): GQA, splits, RoPE, rows in
        # the upper half of the fragments (decode-rows=16), D = 80, 48, 16
        # and 96 (8- and 4-byte loads), 2 warps, a split of 20 rows (a
        # partial chunk in every split), prefetch off, a cache of one row.
        mma = "decode-mma=true"
        text, data = decode_case("bf16", 2, 8, 2, 1, 300, 257, 128, True, options=mma,
                                 seed=61)
        decode_case("f16", 1, 4, 4, 1, 130, 1, 64, True, options=mma, seed=62)
        decode_case("bf16", 1, 8, 2, 3, 200, 150, 128, True, theta=10000.0, options=mma,
                    seed=63)
        decode_case("bf16", 1, 8, 2, 1, 700, 600, 128, False,
                    options=mma + " decode-split=256", seed=64)
        decode_case("bf16", 1, 16, 2, 1, 100, 90, 64, True, options=mma + " decode-rows=8",
                    seed=65)
        decode_case("bf16", 1, 16, 1, 1, 100, 77, 80, True, options=mma + " decode-rows=16",
                    seed=66)
        decode_case("f16", 1, 8, 2, 3, 100, 99, 48, True, theta=500.0,
                    options=mma + " decode-prefetch=false", seed=67)
        decode_case("bf16", 1, 6, 2, 5, 64, 40, 16, True,
                    options=mma + " decode-rows=16 warps=2", seed=68)
        decode_case("bf16", 1, 4, 2, 2, 40, 33, 96, False, options=mma + " decode-split=20",
                    seed=69)
        # A negative scale, and large logits (q times 10: a standard
        # deviation of 10 at D = 64), on both kernels.
        for opts in ("", mma):
            decode_case("bf16", 1, 8, 2, 1, 200, 170, 64, True, options=opts, seed=70,
                        scale=-0.125)
            decode_case("f16", 1, 8, 2, 2, 200, 170, 64, True, options=opts, seed=71,
                        qmul=10.0)
        decode_mutants(text, data)
    elif SUITE == "grad":
        text, data = grad_case("f32", 1, 4, 2, 37, 37, 40, True, seed=51)
        grad_case("f32", 2, 2, 2, 20, 20, 64, False, seed=52)
        grad_case("f32", 1, 4, 1, 9, 30, 37, True, seed=53)      # Sq < Sk, GQA 4, odd D
        grad_case("f32", 1, 2, 2, 1, 1, 16, True, seed=54)       # S = 1
        grad_case("f16", 1, 2, 1, 25, 25, 64, False, seed=56)
        grad_case("bf16", 2, 2, 2, 70, 70, 128, False, seed=57)   # 2 key tiles
        grad_case("f16", 1, 2, 2, 20, 90, 64, True, seed=58)      # Sq < Sk, 2 key tiles
        grad_case("bf16", 1, 2, 1, 1, 1, 64, True, seed=59)       # S = 1
        grad_case("f16", 1, 2, 2, 40, 40, 40, True, seed=60)      # D = 40: padded to 48
        grad_case("bf16", 1, 2, 1, 50, 20, 64, False, seed=65)    # Sq > Sk
        grad_case("f16", 1, 2, 2, 30, 30, 37, True, seed=66)      # D = 37: synchronous staging
        grad_case("bf16", 1, 2, 1, 150, 150, 64, True, seed=67, options="warps=8")
        grad_case("f16", 1, 2, 2, 70, 70, 64, False, seed=68, options="block-k=32")
        # 8 warps at D = 128: grad_kv's tiles (52224 bytes) in dynamic
        # shared memory.
        grad_case("bf16", 1, 2, 1, 150, 150, 128, True, seed=69, options="warps=8")
        grad_mutants(text, data)
        grad_mutants(*grad_case("bf16", 1, 4, 2, 70, 70, 128, True, seed=55))
    elif SUITE == "gradrope":
        text, data = grad_case("bf16", 1, 4, 2, 70, 70, 64, True, seed=61, theta=10000.0)
        grad_case("f16", 1, 2, 2, 20, 90, 128, True, seed=62, theta=500.0)   # Sq < Sk
        grad_case("f32", 1, 2, 1, 33, 33, 64, False, seed=63, theta=10000.0)  # SIMT
        grad_case("bf16", 1, 2, 1, 1, 1, 32, True, seed=64, theta=10000.0)   # S = 1
        grad_mutants(text, data)
    elif SUITE == "gradwgmma":
        # grad_kv with wgmma=true (sm_90a): its four products as warpgroup
        # MMAs, S^T and dP^T with A (the key and value tiles) from shared
        # memory. GQA, causal and not, several key blocks, Sq < Sk, Sq > Sk,
        # S = 1, D = 16, 48, 64, 80, 128 (D = 40 keeps mma.sync), large
        # logits, RoPE, 8 warps (at D = 128 in dynamic shared memory), and
        # the training step's kernels (the
        # forward's statistics handed over, the forward also with wgmma).
        wg = "chip=sm_90a wgmma=true"
        text, data = grad_case("bf16", 1, 4, 2, 70, 70, 128, True, seed=55, options=wg)
        grad_case("f16", 2, 2, 2, 130, 130, 64, False, seed=111, options=wg)
        grad_case("bf16", 1, 4, 1, 33, 130, 128, True, seed=112, options=wg)   # Sq < Sk
        grad_case("bf16", 1, 2, 1, 50, 20, 64, False, seed=113, options=wg)   # Sq > Sk
        grad_case("bf16", 1, 2, 1, 1, 1, 64, True, seed=114, options=wg)      # S = 1
        grad_case("bf16", 1, 2, 1, 40, 40, 16, True, seed=115, options=wg)
        grad_case("f16", 1, 2, 2, 50, 50, 48, True, seed=116, options=wg)
        grad_case("bf16", 1, 2, 2, 64, 64, 80, False, seed=117, options=wg)
        grad_case("f16", 1, 2, 2, 40, 40, 40, True, seed=118, options=wg)     # mma.sync
        grad_case("bf16", 1, 4, 2, 60, 120, 64, True, seed=119, options=wg)   # whole blocks
        grad_case("bf16", 1, 4, 2, 100, 100, 128, True, seed=120, big=True, options=wg)
        grad_case("bf16", 1, 4, 2, 70, 70, 64, True, seed=121, theta=10000.0, options=wg)
        # Two warpgroups per block (warps = 8: 120 own key rows), each reading
        # its own 64 rows of the key and value tiles.
        grad_case("bf16", 1, 2, 1, 140, 140, 64, False, seed=129, options=wg + " warps=8")
        grad_case("f16", 1, 2, 1, 130, 130, 32, True, seed=130, options=wg + " warps=8")
        # D = 128 with 8 warps: the four tiles take 80 KiB, in dynamic shared
        # memory (grad_kv on warpgroup MMAs all the same); also the training
        # step.
        text8, _ = grad_case("bf16", 1, 2, 1, 150, 150, 128, True, seed=132,
                             options=wg + " warps=8")
        good = ("kvshift.dynamic_shared_memory = 81920" in text8
                and "wgmma.mma_async" in text8)
        RESULTS.append(good)
        print(f"{'ok  ' if good else 'FAIL'} grad_kv with 8 warps at D = 128: warpgroup "
              f"MMAs on 81920 bytes of dynamic shared memory")
        stats_case("bf16", 1, 2, 1, 150, 150, 128, True, seed=133, options=wg + " warps=8")
        stats_case("bf16", 1, 4, 2, 70, 70, 128, True, seed=122, options=wg)
        stats_case("bf16", 1, 2, 1, 50, 20, 64, True, seed=123, dynamic=True,
                   options=wg + " wgmma-overlap=true")
        # grad_q on warpgroup MMAs too (the training step's, given the
        # statistics): key window, last key row (Sk a multiple of the key
        # tile, not causal), GQA, D = 48 and 80, RoPE.
        stats_case("f16", 1, 2, 2, 130, 128, 64, False, seed=124, options=wg)
        stats_case("bf16", 1, 4, 1, 33, 130, 48, True, seed=125, options=wg)
        stats_case("bf16", 1, 2, 1, 64, 64, 80, True, seed=126, options=wg)
        stats_case("bf16", 1, 4, 2, 70, 70, 64, True, seed=127, theta=10000.0, options=wg)
        stats_case("bf16", 1, 2, 1, 150, 150, 64, True, seed=131, options=wg + " warps=8")
        grad_mutants(text, data)
        grad_wgmma_mutants(text, data, 128)
        # grad-prefetch: the q and dO tiles double-buffered, each query
        # tile's copies issued during the previous tile's products. GQA with
        # an odd number of tiles (the next head's first tile takes the slot
        # of the last one), causal (the first tile past 0), S = 1, Sq > Sk,
        # 8 warps at D = 128 (96 KiB of dynamic shared memory), the training
        # step.
        pf = wg + " grad-prefetch=true"
        textp, datap = grad_case("bf16", 1, 4, 2, 70, 70, 128, False, seed=134, options=pf)
        grad_case("bf16", 1, 4, 2, 100, 160, 64, True, seed=135, options=pf)
        grad_case("f16", 1, 2, 1, 1, 1, 64, True, seed=136, options=pf)
        grad_case("bf16", 1, 2, 1, 50, 20, 64, False, seed=137, options=pf)
        grad_case("bf16", 1, 2, 1, 150, 150, 128, True, seed=138, options=pf + " warps=8")
        stats_case("bf16", 1, 4, 2, 70, 70, 128, True, seed=139, options=pf)
        grad_mutants(textp, datap)
        grad_prefetch_mutants(textp, datap, "kv_shift_attention_d128_bf16_grad_kv")
        # grad_q (the training step's) with grad-prefetch: its three tiles in
        # two slots. The last key row's term (not causal, Sk a multiple of the
        # tile), blocks without key tiles (causal, dynamic Sq > Sk), 8 warps,
        # and grad_q's mutants on two key tiles.
        stats_case("f16", 1, 2, 2, 130, 128, 64, False, seed=140, options=pf)
        stats_case("bf16", 1, 2, 1, 150, 20, 64, True, seed=141, dynamic=True, options=pf)
        stats_case("bf16", 1, 2, 1, 150, 150, 128, True, seed=142, options=pf + " warps=8")
        grad_q_wgmma_mutants(
            lambda mutate: stats_case("bf16", 1, 2, 1, 70, 128, 64, False, seed=143,
                                      options=pf, mutate=mutate),
            "kv_shift_attention_d64_bf16_lse_grad_q", 64)
        grad_q_wgmma_mutants(
            lambda mutate: stats_case("bf16", 1, 2, 1, 70, 64, 64, False, seed=128,
                                      options=wg, mutate=mutate),
            "kv_shift_attention_d64_bf16_lse_grad_q", 64)
    elif SUITE == "kvprefetch":
        # kv-prefetch=true (the forward on mma.sync): key tile t and its
        # value window in slot t % 2, tile t + 1's copies issued after tile
        # t's one barrier. GQA, an odd tile count, Sq < Sk, S = 1, one query
        # over 129 keys, blocks without key tiles (causal, dynamic Sq > Sk),
        # D = 37 (synchronous staging into the slots), 40 and 72, 8 warps at
        # D = 128 (dynamic shared memory), 32-key tiles, large logits,
        # shifted values, lazy rescaling, RoPE; the training step's forward
        # (with lse); mutants: each barrier, swapped weights, and a wait
        # that leaves the tile's copies in flight.
        pf = "kv-prefetch=true"
        text, data = attention_case("bf16", 1, 4, 2, 150, 150, 128, True, seed=170,
                                    options=pf)
        attention_case("f16", 1, 2, 2, 70, 200, 64, False, seed=171, options=pf)
        attention_case("bf16", 1, 4, 1, 33, 130, 128, True, seed=172, options=pf)
        attention_case("f16", 2, 2, 2, 1, 1, 64, True, seed=173, options=pf)
        attention_case("bf16", 1, 1, 1, 1, 129, 64, True, seed=174, options=pf)
        attention_case("bf16", 1, 2, 1, 90, 40, 64, True, seed=175, dynamic=True,
                       options=pf)
        attention_case("f16", 1, 2, 2, 77, 99, 37, True, seed=176, options=pf)
        attention_case("bf16", 1, 2, 2, 70, 70, 40, False, seed=177, options=pf)
        attention_case("bf16", 1, 2, 1, 100, 100, 72, True, seed=178, options=pf)
        text8, _ = attention_case("bf16", 1, 2, 1, 150, 150, 128, True, seed=179,
                                  options=pf + " warps=8")
        attention_case("f16", 1, 2, 2, 70, 70, 64, False, seed=180,
                       options=pf + " block-k=32")
        attention_case("bf16", 1, 2, 2, 90, 90, 64, True, seed=181, big=True, options=pf)
        attention_case("bf16", 1, 4, 2, 128, 128, 64, False, seed=182,
                       options=pf + " shifted-values=true")
        attention_case("bf16", 1, 2, 1, 200, 200, 64, True, seed=183, growing=True,
                       options=pf + " lazy-rescale=true")
        attention_case("bf16", 1, 4, 2, 80, 80, 64, True, theta=10000.0, seed=184,
                       options=pf)
        # Two slots of 65 rows of 136 bf16 in each buffer.
        good = "kvshift.dynamic_shared_memory = 70720" in text8
        print(f"{'ok  ' if good else 'FAIL'} 8 warps at D = 128 with kv-prefetch: "
              f"70720 bytes of dynamic shared memory")
        RESULTS.append(good)
        stats_case("bf16", 1, 4, 2, 70, 70, 128, True, seed=185, options=pf)
        stats_case("bf16", 1, 2, 1, 50, 20, 64, True, seed=186, dynamic=True, options=pf)
        mutants(text, data)
        lines = text.split("\n")
        wait = next(i for i, l in enumerate(lines) if "numGroups = 0 : i32" in l)
        mutant = "\n".join(lines[:wait] + [lines[wait].replace("numGroups = 0", "numGroups = 1")]
                           + lines[wait + 1:])
        t_, q_, k_, v_, kw_, vw_, r_, lowp_ = data
        try:
            out = run_attention(mutant, t_, q_, k_, v_, kw_, vw_)
            err = rel_err(np.nan_to_num(out), r_)
            hit = err > 2 * rel_err(lowp_, r_) + 4 * EPS[t_]
            print(f"mutant with the tile's copies left in flight: err {err:.2e} "
                  f"{'caught' if hit else 'NOT caught'}")
        except ge.EmulatorError as e:
            hit = True
            print(f"mutant with the tile's copies left in flight: caught ({str(e)[:80]})")
        RESULTS.append(hit)
    elif SUITE == "gradprefetch":
        # grad-prefetch=true on mma.sync (sm_80 PTX; also the recomputing
        # grad_q under wgmma=true): grad_kv's q and dO tiles and grad_q's
        # value tile and key window double-buffered, each tile's copies
        # issued during the previous tile's products. GQA with an odd number
        # of query tiles (the next head's first tile takes the slot of the
        # last one), causal with Sq < Sk, S = 1, Sq > Sk, D = 40 (padded to
        # 48) and D = 37 (synchronous staging into the slots), 8 warps at
        # D = 128 (dynamic shared memory), 32-key tiles, RoPE; the training
        # step (blocks without key tiles, the last key row's term).
        pf = "grad-prefetch=true"
        text, data = grad_case("bf16", 1, 4, 2, 70, 70, 128, False, seed=150, options=pf)
        grad_case("bf16", 1, 4, 2, 100, 160, 64, True, seed=151, options=pf)
        grad_case("f16", 1, 2, 1, 1, 1, 64, True, seed=152, options=pf)
        grad_case("bf16", 1, 2, 1, 50, 20, 64, False, seed=153, options=pf)
        grad_case("f16", 1, 2, 2, 40, 40, 40, True, seed=154, options=pf)
        grad_case("f16", 1, 2, 2, 70, 70, 37, True, seed=155, options=pf)
        text8, _ = grad_case("bf16", 1, 2, 1, 150, 150, 128, True, seed=156,
                             options=pf + " warps=8")
        grad_case("f16", 1, 2, 2, 70, 70, 64, False, seed=157, options=pf + " block-k=32")
        grad_case("bf16", 1, 4, 2, 70, 70, 64, True, seed=158, theta=10000.0, options=pf)
        # The recomputing grad_q keeps mma.sync under wgmma=true, and takes
        # the option there too.
        grad_case("bf16", 1, 2, 1, 70, 70, 64, True, seed=159,
                  options="chip=sm_90a wgmma=true " + pf)
        marks = re.findall(r"kvshift.dynamic_shared_memory = (\d+)", text8)
        # grad_kv: a 128-row key tile and two slots of q and dO (32 rows
        # each), 136-element rows; grad_q: two slots of 65 rows in each of
        # its two buffers.
        good = sorted(marks) == ["69632", "70720"]
        print(f"{'ok  ' if good else 'FAIL'} 8 warps at D = 128 with grad-prefetch: "
              f"dynamic shared memory {marks} (expected 69632 for grad_kv, "
              f"70720 for grad_q)")
        RESULTS.append(good)
        stats_case("bf16", 1, 4, 2, 70, 70, 128, True, seed=160, options=pf)
        stats_case("f16", 1, 2, 2, 130, 128, 64, False, seed=161, options=pf)
        stats_case("bf16", 1, 2, 1, 150, 20, 64, True, seed=162, dynamic=True, options=pf)
        stats_case("bf16", 1, 2, 1, 150, 150, 64, True, seed=163, options=pf + " warps=8")
        grad_mutants(text, data)
        grad_prefetch_mutants(text, data, "kv_shift_attention_d128_bf16_grad_kv", waits=1)
        kernel_mutants(
            lambda mutate: stats_case("bf16", 1, 2, 1, 70, 200, 64, False, seed=164,
                                      options=pf, mutate=mutate),
            "kv_shift_attention_d64_bf16_lse_grad_q", 0.05)
    elif SUITE == "big":
        # Large logits (standard deviation 9): every gradient within twice
        # the error of the paper's way in the same precision (plus 4 ulps);
        # the ratio of the errors is printed. bf16 GQA causal D = 128 over
        # eight seeds, f16 not causal, bf16 with RoPE.
        for seed in range(90, 98):
            grad_case("bf16", 1, 4, 2, 100, 100, 128, True, seed=seed, big=True)
        grad_case("f16", 1, 2, 1, 80, 80, 64, False, seed=91, big=True)
        grad_case("bf16", 1, 2, 2, 70, 70, 64, True, seed=92, theta=10000.0, big=True)
    elif SUITE == "launchers":
        launcher_cases()
        append_cases()
    elif SUITE == "stats":
        stats_cases()
    elif SUITE == "random":
        # Random configurations of the forward and the backward: shapes
        # (odd, one row, Sq < Sk), GQA groups, D, dtypes, causal, RoPE.
        rng = np.random.default_rng(2026)
        for n in range(10):
            t = ["bf16", "f16", "f32"][rng.integers(3)]
            d = int(rng.choice([16, 32, 40, 64, 72, 128] if t != "f32" else [16, 37, 64, 128]))
            hkv, group = int(rng.integers(1, 3)), int(rng.choice([1, 2, 4]))
            sk = int(rng.integers(1, 140))
            sq = int(rng.integers(1, sk + 1)) if rng.random() < 0.5 else sk
            causal = bool(rng.random() < 0.6)
            rope_ok = d % 16 == 0 and (t != "f32" or d % 64 == 0)
            theta = 10000.0 if rope_ok and rng.random() < 0.4 else None
            attention_case(t, 1, hkv * group, hkv, sq, sk, d, causal, theta=theta,
                           seed=100 + n)
            grad_case(t, 1, hkv * group, hkv, sq, sk, d, causal, seed=200 + n, theta=theta)
        # Random forward variants: the options of the tensor-core kernel
        # (shifted values, lazy rescaling, 32-key tiles, 8 warps; wgmma,
        # synchronous or pipelined, for sm_90a) on random shapes.
        rng = np.random.default_rng(2027)
        for n in range(8):
            t = ["bf16", "f16"][rng.integers(2)]
            d = int(rng.choice([16, 32, 48, 64, 80, 128]))
            hkv, group = int(rng.integers(1, 3)), int(rng.choice([1, 2, 4]))
            sk = int(rng.integers(1, 200))
            sq = int(rng.integers(1, sk + 1)) if rng.random() < 0.5 else sk
            causal = bool(rng.random() < 0.6)
            theta = 10000.0 if rng.random() < 0.3 else None
            opts = [o for o, p in (("lazy-rescale=true", 0.5), ("block-k=32", 0.3),
                                   ("warps=8", 0.3)) if rng.random() < p]
            if rng.random() < 0.6:
                opts += ["chip=sm_90a", "wgmma=true"]
                if rng.random() < 0.5:
                    opts.append("wgmma-overlap=true")
            elif rng.random() < 0.5:
                opts.append("shifted-values=true")
            attention_case(t, 1, hkv * group, hkv, sq, sk, d, causal, theta=theta,
                           seed=300 + n, options=" ".join(opts))
    else:
        raise SystemExit(f"unknown suite {SUITE}")
    n, good = len(RESULTS), sum(RESULTS)
    print(f"{good} of {n} checks passed")
    if good == n:
        print("emulation OK")
    return 0 if good == n else 1


if __name__ == "__main__":
    sys.exit(main())
