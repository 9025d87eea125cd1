#!/usr/bin/python3
"""Integration driver for the KV-cache ops: a whole sequence decoded chunk by
chunk through kvshift-run, compared with the float64 reference of
kv_shift_attention over the whole prefix (kvshift_ref.py).

  run_cache.py --B 1 --Hq 4 --Hkv 2 --D 16 --smax 24 --chunks 5,1,1,3 --causal

For each chunk of T tokens at position pos, one function

  @step(k_new, v_new, k_last, v_last, kw, vw, k_cache, v_cache, pos: i64, q)
      -> (out, k_cache', v_cache', k_last', v_last')

appends the chunk's raw rows to the caches (kv_cache_append) and attends
its T queries over the first pos + T rows (kv_cache_attention). The caches
and last rows travel from step to step as .npy files. Checked:
  * every chunk's output against kv_shift_attention(q_chunk, K[:pos+T],
    V[:pos+T]) in float64 (queries at positions pos .. pos + T - 1);
  * after the last chunk, the cache rows [0, L) against the mixed (and
    rotated) K^, V^ of the reference, the rows [L, Smax) unchanged (the
    caches start as random garbage, which attention must never read);
  * the last rows are the raw k, v of token L - 1.
Tolerances: f32 1e-5, f16 2e-3, bf16 1e-2 (normwise, kvshift_ref.max_rel_err).
--overflow instead appends one chunk too many and expects kvshift-run to
fail with the cache-capacity error (exit status 1, no output file).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import shutil

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvshift_ref as ref  # noqa: E402
from run_attention import find_tool, tool_input, make_weights  # noqa: E402

TOL = {"f32": 1e-5, "f16": 2e-3, "bf16": 1e-2}
NPY = {"f32": np.float32, "f16": np.float16, "bf16": np.float32}
PIPELINES = os.environ.get(
    "KVSHIFT_TEST_PIPELINES", "kvshift-to-llvm-cpu;kvshift-to-llvm-cpu-fused")


def step_mlir(a, T):
    t = lambda *s: "tensor<%sx%s>" % ("x".join(str(x) for x in s), a.dtype)
    kn = t(a.B, a.Hkv, T, a.D)
    kl = t(a.B, a.Hkv, 1, a.D)
    kc = t(a.B, a.Hkv, a.smax, a.D)
    q = t(a.B, a.Hq, T, a.D)
    w = "tensor<%dx2xf32>" % a.Hkv
    rope = "" if a.rope_theta is None else " rope_theta = %r" % a.rope_theta
    attrs = (" causal" if a.causal else "") + rope
    return """func.func @step(%k: {kn}, %v: {kn}, %kl: {kl}, %vl: {kl}, %kw: {w}, %vw: {w},
                 %kc: {kc}, %vc: {kc}, %pos64: i64, %q: {q})
    -> ({q}, {kc}, {kc}, {kl}, {kl}) {{
  %pos = arith.index_cast %pos64 : i64 to index
  %kc1, %vc1, %kl1, %vl1 = kvshift.kv_cache_append %k, %v last(%kl, %vl) mix(%kw, %vw)
      into(%kc, %vc) at %pos{rope}
      : ({kn}, {kn}, {kl}, {kl}, {w}, {w}, {kc}, {kc}, index) -> ({kc}, {kc}, {kl}, {kl})
  %c{T} = arith.constant {T} : index
  %len = arith.addi %pos, %c{T} : index
  %o = kvshift.kv_cache_attention %q, %kc1, %vc1 length %len{attrs}
      : ({q}, {kc}, {kc}, index) -> {q}
  return %o, %kc1, %vc1, %kl1, %vl1 : {q}, {kc}, {kc}, {kl}, {kl}
}}
""".format(kn=kn, kl=kl, kc=kc, q=q, w=w, T=T, rope=rope, attrs=attrs)


def main(argv):
    p = argparse.ArgumentParser()
    for n, d in (("B", 1), ("Hq", 4), ("Hkv", 2), ("D", 16), ("smax", 16)):
        p.add_argument("--" + n, type=int, default=d)
    p.add_argument("--chunks", default="3,1,1")
    p.add_argument("--dtype", default="f32", choices=sorted(TOL))
    p.add_argument("--causal", action="store_true")
    p.add_argument("--rope-theta", type=float, default=None)
    p.add_argument("--weights", default="random")
    p.add_argument("--overflow", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    chunks = [int(c) for c in a.chunks.split(",")]
    L = sum(chunks)
    if a.overflow:
        chunks.append(a.smax - L + 1)
    n = sum(chunks)
    name = "cache B=%d Hq=%d Hkv=%d D=%d Smax=%d chunks=%s %s%s%s" % (
        a.B, a.Hq, a.Hkv, a.D, a.smax, a.chunks, a.dtype,
        " causal" if a.causal else "",
        "" if a.rope_theta is None else " rope=%g" % a.rope_theta)
    tool = find_tool("kvshift-run")
    rng = np.random.default_rng(a.seed)
    npy = NPY[a.dtype]
    kf, k64 = tool_input(rng.standard_normal((a.B, a.Hkv, n, a.D)), a.dtype)
    vf, v64 = tool_input(rng.standard_normal((a.B, a.Hkv, n, a.D)), a.dtype)
    qf, q64 = tool_input(rng.standard_normal((a.B, a.Hq, n, a.D)), a.dtype)
    kw = make_weights(rng, a.Hkv, a.weights)
    vw = make_weights(rng, a.Hkv, a.weights)
    garbage = tool_input(rng.standard_normal((a.B, a.Hkv, a.smax, a.D)), a.dtype)
    theta = None if a.rope_theta is None else float(np.float32(a.rope_theta))
    status = 0
    for pipeline in [x for x in PIPELINES.split(";") if x]:
        tmp = tempfile.mkdtemp(prefix="kvshift-cache-")
        try:
            status |= run_pipeline(a, tool, pipeline, tmp, name, chunks, npy,
                                   kf, vf, qf, k64, v64, q64, kw, vw, garbage,
                                   theta)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return status


def run_pipeline(a, tool, pipeline, tmp, name, chunks, npy, kf, vf, qf, k64,
                 v64, q64, kw, vw, garbage, theta):
    name = "%s [%s]" % (name, pipeline)
    path = lambda n: os.path.join(tmp, n + ".npy")
    garbage, garbage64 = garbage
    state = {"kc": garbage, "vc": garbage.copy(),
             "kl": np.zeros((a.B, a.Hkv, 1, a.D), npy),
             "vl": np.zeros((a.B, a.Hkv, 1, a.D), npy)}
    # Garbage in the last rows too: they must not be read at pos 0.
    state["kl"][...] = 7.0
    state["vl"][...] = -3.0
    for n in ("kc", "vc", "kl", "vl"):
        ref.write_npy(path(n), state[n], npy)
    ref.write_npy(path("kw"), kw, np.float32)
    ref.write_npy(path("vw"), vw, np.float32)
    pos = 0
    worst = 0.0
    tol = TOL[a.dtype]
    for ci, T in enumerate(chunks):
        src = os.path.join(tmp, "step%d.mlir" % T)
        with open(src, "w") as f:
            f.write(step_mlir(a, T))
        sl = slice(pos, pos + T)
        ref.write_npy(path("k"), kf[:, :, sl], npy)
        ref.write_npy(path("v"), vf[:, :, sl], npy)
        ref.write_npy(path("q"), qf[:, :, sl], npy)
        np.save(path("pos"), np.array(pos, dtype=np.int64))
        outs = ["out", "kc2", "vc2", "kl2", "vl2"]
        cmd = [tool, src, "--entry=step", "--pipeline=" + pipeline] + [
            "--input=" + path(n) for n in
            ("k", "v", "kl", "vl", "kw", "vw", "kc", "vc", "pos", "q")] + [
            "--output=" + path(n) for n in outs]
        for n in outs:
            if os.path.exists(path(n)):
                os.remove(path(n))
        proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True)
        last = a.overflow and ci == len(chunks) - 1
        if last:
            want = "kvshift.kv_cache_append: cannot write rows [%d, %d) into a " \
                   "cache of %d rows" % (pos, pos + T, a.smax)
            if proc.returncode == 1 and want in proc.stderr and \
                    not os.path.exists(path("out")):
                print("PASS %s overflow refused: %s" % (name, want))
                return 0
            print("FAIL %s overflow: exit %d, stderr %r" % (
                name, proc.returncode, proc.stderr[-500:]))
            return 1
        if proc.returncode != 0:
            print("FAIL %s chunk %d: kvshift-run exited %d: %s" % (
                name, ci, proc.returncode, proc.stderr.strip()[-500:]))
            return 1
        end = pos + T
        expected = ref.kv_shift_attention(
            q64[:, :, sl], k64[:, :, :end], v64[:, :, :end],
            kw.astype(np.float64), vw.astype(np.float64), causal=a.causal,
            rope_theta=theta)
        err = ref.max_rel_err(ref.read_npy(path("out")), expected)
        worst = max(worst, err)
        if not err <= tol:
            print("FAIL %s chunk %d (pos %d, T %d): max_rel_err=%.3g > %g" % (
                name, ci, pos, T, err, tol))
            return 1
        for src_n, dst_n in (("kc2", "kc"), ("vc2", "vc"), ("kl2", "kl"),
                             ("vl2", "vl")):
            os.replace(path(src_n), path(dst_n))
        pos = end
    # The caches: mixed (rotated) rows [0, L), untouched garbage after.
    L = pos
    k64, v64 = k64[:, :, :L], v64[:, :, :L]
    kh = ref.kv_shift(k64, kw.astype(np.float64))
    if theta is not None:
        kh = ref.rope(kh, np.arange(L), theta)
    vh = ref.kv_shift(v64, vw.astype(np.float64))
    kc, vc = ref.read_npy(path("kc")), ref.read_npy(path("vc"))
    for nm, got, want in (("k_cache", kc, kh), ("v_cache", vc, vh)):
        e = ref.max_rel_err(got[:, :, :L], want)
        if not e <= tol:
            print("FAIL %s %s rows [0, %d): max_rel_err=%.3g" % (name, nm, L, e))
            return 1
        if not np.array_equal(got[:, :, L:], garbage64[:, :, L:]):
            print("FAIL %s %s rows [%d, %d) were written" % (name, nm, L, a.smax))
            return 1
    for nm, got, want in (("k_last", path("kl"), kf), ("v_last", path("vl"), vf)):
        want = k64 if nm == "k_last" else v64
        if not np.array_equal(ref.read_npy(got), want[:, :, L - 1:L]):
            print("FAIL %s %s is not the raw row of token %d" % (name, nm, L - 1))
            return 1
    print("PASS %s max_rel_err=%.3g" % (name, worst))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
