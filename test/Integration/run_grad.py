#!/usr/bin/python3
"""Integration driver for kvshift.kv_shift_attention_grad: run it through
kvshift-run on random inputs and compare each of its five results with the
float64 analytic gradient of kvshift_ref.kv_shift_attention_grad.

  run_grad.py --B 2 --Hq 8 --Hkv 2 --Sq 37 --Sk 37 --D 24 --dtype f32 --causal

What it does:
  1. writes an MLIR file with one `func.func @main(q, k, v, kw, vw, dout)`
     returning (dq, dk, dv, dkw, dvw) from a single
     kvshift.kv_shift_attention_grad (custom form, or MLIR's generic form with
     --generic; every dim `?` with --dynamic);
  2. writes random inputs as .npy: float32 for f32 and bf16 (kvshift-run
     rounds a float32 .npy to nearest-even bf16 for a bf16 argument; one value
     in five is made an exact bf16 tie), float16 for f16; the weights kw, vw
     are always float32;
  3. runs `kvshift-run FILE --entry=main --input=... (6) --output=... (5)
     --pipeline=P` for each pipeline P of --pipeline (';'-separated; default
     $KVSHIFT_TEST_PIPELINES or "kvshift-to-llvm-cpu;kvshift-to-llvm-cpu-fused");
     the tool is $KVSHIFT_TOOLS_DIR/kvshift-run if that variable is set, else
     `kvshift-run` on PATH;
  4. compares each result with the float64 gradient computed on the inputs the
     tool actually saw (after f16 / bf16 rounding, with the f32 value of the
     scale literal), by the normwise error max|out - ref| / max|ref|;
  5. prints, per pipeline, `PASS <case> [pipeline] dq=.. dk=.. dv=.. dkw=.. dvw=..`
     (the five errors) or `FAIL <case> [pipeline] ...`; exits 1 on any failure.

Result types: dq, dk, dv have the element type of q, k, v: float16 .npy for
f16, float32 .npy for f32 and bf16 (holding bf16 values for bf16); dkw and dvw
are always float32 [Hkv, 2].

Default tolerances (normwise, every gradient): f32 1e-5, f16 5e-3, bf16 3e-2.
A float32 NumPy model of the backward pass (f32 arithmetic, `out` and the
results rounded to the element type) gives about 1e-6 in f32, 7e-4 in f16
and 6e-3 in bf16 on the suite's shapes.

Vanishing gradients: where a gradient is zero in exact arithmetic (with
Sk = 1 the softmax is constantly 1, so dq, dk and dkw are exactly 0) the
float64 reference holds rounding noise (~1e-16) and any f32 computation
rounding noise (~1e-8), so max|out - ref| / max|ref| means nothing. When
max|ref| <= 1e-6 * max|mag|, where mag is the same backward pass run on
absolute values (the size of the terms whose sum cancels), the error is
measured as max|out - ref| / max|mag| instead; the PASS line marks such
gradients with `(vanishing)`.

Ill-conditioned gradients: between the two, when the terms cancel to
max|ref| < 1e-3 * max|mag| (e.g. dkw of a short sequence with a fast RoPE
rotation: terms of size 7e3 summing to 0.2), f32 rounding of the terms
alone is of order eps * max|mag|, which can exceed 1e-5 * max|ref|. There
the error is measured against 1e-3 * max|mag|: max|out - ref| /
(1e-3 * max|mag|), i.e. an absolute error of 1e-8 * max|mag| (a sixth of an
f32 ulp of the largest term) at the f32 tolerance. The PASS line marks such
gradients with `ill-conditioned` in its vanishing list.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvshift_ref as ref  # noqa: E402
from run_attention import (  # noqa: E402
    find_tool, fmt_scale, make_weights, tensor_type, tool_input, weight_type)

DEFAULT_TOL = {"f32": 1e-5, "f16": 5e-3, "bf16": 3e-2}
DEFAULT_PIPELINES = os.environ.get(
    "KVSHIFT_TEST_PIPELINES", "kvshift-to-llvm-cpu;kvshift-to-llvm-cpu-fused")
NPY_DTYPE = {"f32": np.float32, "f16": np.float16, "bf16": np.float32}
GRADS = ("dq", "dk", "dv", "dkw", "dvw")
# The forward's output with --with-forward: run_attention.py's tolerances.
FWD_TOL = {"f32": 1e-5, "f16": 2e-3, "bf16": 1e-2}
VANISHING = 1e-6
ILL_CONDITIONED = 1e-3


def grad_mlir(a, scale):
    qt = tensor_type((a.B, a.Hq, a.Sq, a.D), a.dtype, a.dynamic)
    kt = tensor_type((a.B, a.Hkv, a.Sk, a.D), a.dtype, a.dynamic)
    wt = weight_type(a.Hkv, a.dynamic)
    ins = "(%s, %s, %s, %s, %s, %s)" % (qt, kt, kt, wt, wt, qt)
    outs = "(%s, %s, %s, %s, %s)" % (qt, kt, kt, wt, wt)
    results = "%dq, %dk, %dv, %dkw, %dvw"
    if a.generic:
        attrs = []
        if a.causal:
            attrs.append("causal")
        if scale is not None:
            attrs.append("scale = %s : f32" % fmt_scale(scale))
        if a.rope_theta is not None:
            attrs.append("rope_theta = %s : f32" % fmt_scale(a.rope_theta))
        attr_text = (" {%s}" % ", ".join(attrs)) if attrs else ""
        op = ('%s = "kvshift.kv_shift_attention_grad"(%%q, %%k, %%v, %%kw, %%vw, %%do)%s'
              "\n      : %s\n      -> %s" % (results, attr_text, ins, outs))
    else:
        mods = ""
        if a.causal:
            mods += " causal"
        if scale is not None:
            mods += " scale = %s" % fmt_scale(scale)
        if a.rope_theta is not None:
            mods += " rope_theta = %s" % fmt_scale(a.rope_theta)
        op = ("%s = kvshift.kv_shift_attention_grad %%q, %%k, %%v mix(%%kw, %%vw) dout(%%do)%s"
              "\n      : %s\n      -> %s" % (results, mods, ins, outs))
    if a.with_forward:
        # A training step: the forward on the same operands and attributes
        # first (the fused pipeline then gives the gradient the forward's
        # softmax statistics); `out` is returned after the gradients.
        fwd_mods = op.split("dout(%do)")[1].split("\n")[0] if not a.generic else ""
        fwd = ("%%o = kvshift.kv_shift_attention %%q, %%k, %%v mix(%%kw, %%vw)%s"
               " : (%s, %s, %s, %s, %s) -> %s\n  " % (fwd_mods, qt, kt, kt, wt, wt, qt))
        return (
            "// Generated by run_grad.py\n"
            "func.func @main(%%q: %s, %%k: %s, %%v: %s, %%kw: %s, %%vw: %s, %%do: %s)\n"
            "    -> (%s, %s) {\n"
            "  %s%s\n"
            "  return %s, %%o : %s, %s, %s, %s, %s, %s\n"
            "}\n" % (qt, kt, kt, wt, wt, qt, outs[1:-1], qt, fwd, op, results,
                      qt, kt, kt, wt, wt, qt))
    return (
        "// Generated by run_grad.py\n"
        "func.func @main(%%q: %s, %%k: %s, %%v: %s, %%kw: %s, %%vw: %s, %%do: %s)\n"
        "    -> %s {\n"
        "  %s\n"
        "  return %s : %s, %s, %s, %s, %s\n"
        "}\n" % (qt, kt, kt, wt, wt, qt, outs, op, results, qt, kt, kt, wt, wt))


def _abs_rope(x):
    """A bound of |rot(x, p)| for every p: (|x1| + |x2|) in both halves."""
    half = x.shape[-1] // 2
    m = np.abs(x[..., :half]) + np.abs(x[..., half:])
    return np.concatenate([m, m], axis=-1)


def grad_magnitude(q, k, v, kw, vw, dout, scale=None, causal=False, rope_theta=None):
    """The backward pass of kv_shift_attention_grad on absolute values: every
    product of the chain rule with |.| and every difference made a sum (the
    softmax P itself from the signed forward). It bounds each gradient's terms
    and is the yardstick for gradients that cancel to zero. With RoPE each
    rotation (and its transpose) is bounded by _abs_rope."""
    q, k, v, kw, vw, dout = (np.asarray(t, np.float64) for t in (q, k, v, kw, vw, dout))
    B, Hq, Sq, D = q.shape
    Hkv, Sk = k.shape[1], k.shape[2]
    g = Hq // Hkv
    if scale is None:
        scale = 1.0 / np.sqrt(D)
    kh = ref.kv_shift(k, kw)
    akh = ref.kv_shift(np.abs(k), np.abs(kw))
    avh = ref.kv_shift(np.abs(v), np.abs(vw))
    rot = (lambda x: x) if rope_theta is None else _abs_rope
    if rope_theta is not None:
        kh = ref.rope(kh, np.arange(Sk), rope_theta)
        q = ref.rope(q, np.arange(Sq) + (Sk - Sq), rope_theta)
        akh = _abs_rope(akh)
    qg = q.reshape(B, Hkv, g, Sq, D)
    adog = np.abs(dout).reshape(B, Hkv, g, Sq, D)
    s = scale * np.einsum("bkgid,bkjd->bkgij", qg, kh)
    if causal:
        s = np.where(ref.causal_mask(Sq, Sk), s, -np.inf)
    p = ref._softmax_rows(s)
    dvh = np.einsum("bkgij,bkgid->bkjd", p, adog)
    dp = np.einsum("bkgid,bkjd->bkgij", adog, avh)
    ds = p * (dp + np.sum(p * dp, axis=-1, keepdims=True))
    dq = rot(abs(scale) * np.einsum("bkgij,bkjd->bkgid", ds, akh).reshape(B, Hq, Sq, D))
    dkh = rot(abs(scale) * np.einsum("bkgij,bkgid->bkjd", ds, np.abs(qg)))

    dk, dkw = ref.mix_transpose(dkh, np.abs(k), np.abs(kw))
    dv, dvw = ref.mix_transpose(dvh, np.abs(v), np.abs(vw))
    return dq, dk, dv, dkw, dvw


def grad_error(out, expected, mag):
    """(error, kind): the normwise error (kind False); for a gradient that
    cancels to zero the error against the magnitude of its terms (kind True);
    for one that cancels to less than 1e-3 of its terms, against 1e-3 of
    their magnitude (kind "ill-conditioned"). See the module docstring."""
    out = np.asarray(out, dtype=np.float64)
    if out.shape != expected.shape or not np.all(np.isfinite(out)):
        return float("inf"), False
    emax = np.max(np.abs(expected)) if expected.size else 0.0
    mmax = np.max(np.abs(mag)) if mag.size else 0.0
    if emax <= VANISHING * mmax:
        num = np.max(np.abs(out - expected)) if out.size else 0.0
        return float(num / mmax) if mmax > 0 else float(num), True
    if emax < ILL_CONDITIONED * mmax:
        num = np.max(np.abs(out - expected)) if out.size else 0.0
        return float(num / (ILL_CONDITIONED * mmax)), "ill-conditioned"
    return ref.max_rel_err(out, expected), False


def case_name(a, scale):
    parts = ["grad", a.dtype, "B%d" % a.B, "Hq%d" % a.Hq, "Hkv%d" % a.Hkv,
             "Sq%d" % a.Sq, "Sk%d" % a.Sk, "D%d" % a.D]
    if a.causal:
        parts.append("causal")
    if scale is not None:
        parts.append("scale=%g" % scale)
    if a.rope_theta is not None:
        parts.append("rope=%g" % a.rope_theta)
    if a.with_forward:
        parts.append("with-forward")
    parts.append("w=%s" % a.weights)
    if a.dynamic:
        parts.append("dynamic")
    if a.generic:
        parts.append("generic")
    parts.append("seed=%d" % a.seed)
    return "[" + " ".join(parts) + "]"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--B", type=int, default=2)
    p.add_argument("--Hq", type=int, default=4)
    p.add_argument("--Hkv", type=int, default=None, help="default: Hq (MHA)")
    p.add_argument("--Sq", type=int, default=16)
    p.add_argument("--Sk", type=int, default=None, help="default: Sq")
    p.add_argument("--D", type=int, default=8)
    p.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32")
    p.add_argument("--causal", action="store_true")
    p.add_argument("--scale", type=float, default=None,
                   help="scale attribute; absent means the op's default 1/sqrt(D)")
    p.add_argument("--rope-theta", type=float, default=None,
                   help="rope_theta attribute (RoPE after the mix); D must be even")
    p.add_argument("--with-forward", action="store_true",
                   help="a training step: kv_shift_attention before the gradient on the same "
                        "operands, its output compared too (custom form only)")
    p.add_argument("--dynamic", action="store_true",
                   help="use ? for every dim of q/k/v/dout (and ?x2 for the weights)")
    p.add_argument("--weights", choices=["normal", "negative", "paper", "identity", "sum"],
                   default="normal",
                   help="normal: N(0.5, 0.5); negative: e.g. [-0.7, 1.3]; paper: a1 ~ U(0,1), "
                        "a2 = 1 - a1; identity: [1, 0]; sum: [1, 1]")
    p.add_argument("--generic", action="store_true", help="write the op in generic form")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tol", type=float, default=None,
                   help="tolerance for every gradient (default: f32 1e-5, f16 5e-3, bf16 3e-2)")
    p.add_argument("--pipeline", default=None,
                   help="';'-separated kvshift-run pipelines to check, each in turn "
                        "(default: $KVSHIFT_TEST_PIPELINES or " + DEFAULT_PIPELINES + ")")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="seconds before kvshift-run counts as hung")
    p.add_argument("--keep", action="store_true",
                   help="keep the temp dir (printed on stderr) for debugging")
    a = p.parse_args(argv)
    if a.Hkv is None:
        a.Hkv = a.Hq
    if a.Sk is None:
        a.Sk = a.Sq
    if min(a.B, a.Hq, a.Hkv, a.Sq, a.Sk, a.D) < 1:
        p.error("all sizes must be >= 1")
    if a.Hq % a.Hkv:
        p.error("Hq must be a multiple of Hkv")
    if a.causal and a.Sq > a.Sk:
        p.error("causal requires Sq <= Sk")
    if a.rope_theta is not None and a.D % 2:
        p.error("--rope-theta needs an even D")
    if a.with_forward and a.generic:
        p.error("--with-forward writes the custom form only")
    return a


def main(argv):
    a = parse_args(argv)
    scale = a.scale
    tol = DEFAULT_TOL[a.dtype] if a.tol is None else a.tol
    name = case_name(a, scale)

    tool = find_tool("kvshift-run")
    if not tool:
        print("FAIL %s kvshift-run not found (set KVSHIFT_TOOLS_DIR or PATH)" % name)
        return 1

    rng = np.random.default_rng(a.seed)
    q = rng.standard_normal((a.B, a.Hq, a.Sq, a.D))
    k = rng.standard_normal((a.B, a.Hkv, a.Sk, a.D))
    v = rng.standard_normal((a.B, a.Hkv, a.Sk, a.D))
    kw = make_weights(rng, a.Hkv, a.weights)
    vw = make_weights(rng, a.Hkv, a.weights)
    dout = rng.standard_normal((a.B, a.Hq, a.Sq, a.D))
    (qf, q64), (kf, k64), (vf, v64), (df, d64) = (
        tool_input(t, a.dtype) for t in (q, k, v, dout))
    inputs = [("q", qf), ("k", kf), ("v", vf), ("kw", kw), ("vw", vw), ("dout", df)]
    # The tool sees the f32 literal of the scale: use exactly that value.
    rscale = None if scale is None else float(np.float32(scale))
    args64 = (q64, k64, v64, kw.astype(np.float64), vw.astype(np.float64), d64)
    rtheta = None if a.rope_theta is None else float(np.float32(a.rope_theta))
    expected = ref.kv_shift_attention_grad(*args64, scale=rscale, causal=a.causal,
                                           rope_theta=rtheta)
    mags = grad_magnitude(*args64, scale=rscale, causal=a.causal, rope_theta=rtheta)
    a.expected_out = None
    if a.with_forward:
        a.expected_out = ref.kv_shift_attention(*args64[:5], scale=rscale, causal=a.causal,
                                                rope_theta=rtheta)
    mlir = grad_mlir(a, scale)
    t_npy = np.float16 if a.dtype == "f16" else np.float32
    out_dtypes = (t_npy, t_npy, t_npy, np.float32, np.float32)

    pipelines = [x for x in (a.pipeline or DEFAULT_PIPELINES).split(";") if x]
    status = 0
    for pipeline in pipelines:
        status |= run_one(a, tool, name, pipeline, mlir, inputs, expected, mags,
                          out_dtypes, tol)
    return status


def run_one(a, tool, name, pipeline, mlir, inputs, expected, mags, out_dtypes, tol):
    name = "%s [%s]" % (name, pipeline)
    tmp = tempfile.mkdtemp(prefix="kvshift-grad-")
    try:
        src = os.path.join(tmp, "case.mlir")
        with open(src, "w") as f:
            f.write(mlir)
        cmd = [tool, src, "--entry=main"]
        for nm, arr in inputs:
            path = os.path.join(tmp, nm + ".npy")
            dt = np.float32 if nm in ("kw", "vw") else NPY_DTYPE[a.dtype]
            ref.write_npy(path, arr, dt)
            cmd.append("--input=" + path)
        out_paths = [os.path.join(tmp, g + ".npy") for g in GRADS]
        cmd += ["--output=" + p for p in out_paths]
        if a.with_forward:
            cmd.append("--output=" + os.path.join(tmp, "out.npy"))
        cmd.append("--pipeline=" + pipeline)
        try:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  universal_newlines=True, timeout=a.timeout)
        except subprocess.TimeoutExpired:
            print("FAIL %s kvshift-run timed out after %gs: %s" % (name, a.timeout, " ".join(cmd)))
            return 1
        if proc.returncode != 0:
            err = proc.stderr.strip().splitlines()
            print("FAIL %s kvshift-run exited with %d: %s" % (
                name, proc.returncode, err[-1] if err else "(no stderr)"))
            sys.stderr.write("command: %s\n--- MLIR ---\n%s--- stderr ---\n%s\n" % (
                " ".join(cmd), mlir, proc.stderr[-4000:]))
            return 1

        errs, vanishing, problems = [], [], []
        for g, path, want, mag, dt in zip(GRADS, out_paths, expected, mags, out_dtypes):
            if not os.path.exists(path):
                problems.append("%s: kvshift-run exited 0 but wrote no %s" % (g, path))
                errs.append(float("inf"))
                continue
            out = ref.read_npy(path)
            if out.dtype != dt:
                problems.append("%s: dtype %s, expected %s" % (g, out.dtype, np.dtype(dt)))
                errs.append(float("inf"))
                continue
            if out.shape != want.shape:
                problems.append("%s: shape %s, expected %s" % (g, out.shape, want.shape))
                errs.append(float("inf"))
                continue
            if not np.all(np.isfinite(out)):
                bad = int(np.count_nonzero(~np.isfinite(out)))
                problems.append("%s: %d NaN/Inf values of %d" % (g, bad, out.size))
                errs.append(float("inf"))
                continue
            if a.dtype == "bf16" and g in ("dq", "dk", "dv"):
                o32 = np.ascontiguousarray(out, dtype=np.float32)
                if np.any(o32.view(np.uint32) & 0xFFFF):
                    problems.append("%s: bf16 result holds values that are not bf16" % g)
            err, van = grad_error(out, want, mag)
            errs.append(err)
            if van:
                vanishing.append(g if van is True else "%s ill-conditioned" % g)
            if not err <= tol:
                diff = np.abs(out.astype(np.float64) - want)
                idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape))
                problems.append("%s: error %.3e > tol=%.1e (worst at %s: got %r, expected %r)"
                                % (g, err, tol, idx, float(out[idx]), float(want[idx])))
        line = " ".join("%s=%.3e" % (g, e) for g, e in zip(GRADS, errs))
        if a.with_forward:
            path = os.path.join(tmp, "out.npy")
            out = ref.read_npy(path) if os.path.exists(path) else None
            e = float("inf") if out is None else ref.max_rel_err(out, a.expected_out)
            line += " out=%.3e" % e
            if not e <= FWD_TOL[a.dtype]:
                problems.append("out: error %.3e > tol=%.1e" % (e, FWD_TOL[a.dtype]))
        if vanishing:
            line += " (vanishing: %s)" % ", ".join(vanishing)
        if problems:
            print("FAIL %s %s; %s" % (name, line, "; ".join(problems)))
            return 1
        print("PASS %s %s" % (name, line))
        return 0
    finally:
        if a.keep:
            sys.stderr.write("kept %s\n" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
