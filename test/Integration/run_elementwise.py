#!/usr/bin/python3
"""Integration driver: elementwise and row-reduction linalg.generic ops of
the kinds the importer emits, through kvshift-run, against float64 NumPy
(kvshift-vectorize-elementwise).

    run_elementwise.py CASE [--seed N]

For each case: checks with `kvshift-opt --kvshift-vectorize-elementwise`
that every linalg.generic was vectorised (no linalg.generic left, vector
ops present), then runs `kvshift-run --entry=main` through the fused
pipeline and through the same pipeline with vectorize-elementwise=false and
compares both with the float64 reference: max|o - r| / max|r| <= tol (1e-5
for f32 results, 1e-2 for bf16 results). Sizes are odd on purpose (masked
last chunks). Tools from $KVSHIFT_TOOLS_DIR, else PATH.
"""

import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import kvshift_ref as ref  # noqa: E402
from run_attention import find_tool  # noqa: E402

PIPELINES = ["kvshift-to-llvm-cpu-fused",
             "kvshift-to-llvm-cpu-fused{vectorize-elementwise=false}"]

ID2 = "affine_map<(d0, d1) -> (d0, d1)>"
ROW2 = "affine_map<(d0, d1) -> (d0)>"
ROWB2 = "affine_map<(d0, d1) -> (d0, 0)>"
COL2 = "affine_map<(d0, d1) -> (d1)>"


def generic(name, maps, iters, ins, outs, rtype, body):
    """One linalg.generic; ins/outs are (ssa, type) lists; body lines."""
    return ("  %s = linalg.generic {indexing_maps = [%s], iterator_types = [%s]} "
            "ins(%s : %s) outs(%s : %s) {\n%s\n  } -> %s\n"
            % (name, ", ".join(maps), ", ".join('"%s"' % i for i in iters),
               ", ".join(v for v, _ in ins), ", ".join(t for _, t in ins),
               ", ".join(v for v, _ in outs), ", ".join(t for _, t in outs),
               "\n".join("    " + l for l in body), rtype))


def case_silu(S, D):
    t = "tensor<1x%dx%dxf32>" % (S, D)
    id3 = "affine_map<(d0, d1, d2) -> (d0, d1, d2)>"
    text = ("func.func @main(%%x: %s) -> %s {\n  %%e = tensor.empty() : %s\n" % (t, t, t)
            + generic("%y", [id3, id3], ["parallel"] * 3, [("%x", t)], [("%e", t)], t, [
                "^bb0(%in: f32, %out: f32):",
                "  %one = arith.constant 1.0 : f32",
                "  %n = arith.negf %in : f32",
                "  %ex = math.exp %n : f32",
                "  %d = arith.addf %one, %ex : f32",
                "  %r = arith.divf %one, %d : f32",
                "  %s = arith.mulf %in, %r : f32",
                "  linalg.yield %s : f32"])
            + "  return %%y : %s\n}\n" % t)
    def inputs(rng):
        return [rng.standard_normal((1, S, D)).astype(np.float32) * 4]
    def expect(x):
        return x / (1 + np.exp(-x))
    return text, inputs, expect, "f32"


def case_rmsnorm(S, D):
    """sum(x^2) per row (a reduction), then x * rsqrt(mean + eps) * w with
    the row statistic [S, 1] and the weight [D] broadcast."""
    tx, ts, tw = "tensor<%dx%dxf32>" % (S, D), "tensor<%dxf32>" % S, "tensor<%dxf32>" % D
    tsb = "tensor<%dx1xf32>" % S
    text = ("func.func @main(%%x: %s, %%w: %s) -> %s {\n" % (tx, tw, tx)
            + "  %zero = arith.constant 0.0 : f32\n"
            + "  %%e0 = tensor.empty() : %s\n" % ts
            + "  %%f = linalg.fill ins(%%zero : f32) outs(%%e0 : %s) -> %s\n" % (ts, ts)
            + generic("%ss", [ID2, ROW2], ["parallel", "reduction"], [("%x", tx)],
                      [("%f", ts)], ts, [
                          "^bb0(%a: f32, %out: f32):",
                          "  %sq = arith.mulf %a, %a : f32",
                          "  %s = arith.addf %sq, %out : f32",
                          "  linalg.yield %s : f32"])
            + "  %%sb = tensor.expand_shape %%ss [[0, 1]] output_shape [%d, 1] : %s into %s\n"
            % (S, ts, tsb)
            + "  %%e1 = tensor.empty() : %s\n" % tx
            + generic("%y", [ID2, ROWB2, COL2, ID2], ["parallel", "parallel"],
                      [("%x", tx), ("%sb", tsb), ("%w", tw)], [("%e1", tx)], tx, [
                          "^bb0(%a: f32, %s: f32, %ww: f32, %out: f32):",
                          "  %%n = arith.constant %e : f32" % float(D),
                          "  %eps = arith.constant 1.0e-05 : f32",
                          "  %m = arith.divf %s, %n : f32",
                          "  %m2 = arith.addf %m, %eps : f32",
                          "  %r = math.rsqrt %m2 : f32",
                          "  %t = arith.mulf %a, %r : f32",
                          "  %u = arith.mulf %t, %ww : f32",
                          "  linalg.yield %u : f32"])
            + "  return %%y : %s\n}\n" % tx)
    def inputs(rng):
        return [rng.standard_normal((S, D)).astype(np.float32),
                rng.standard_normal((D,)).astype(np.float32)]
    def expect(x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-5) * w
    return text, inputs, expect, "f32"


def case_softmax(S, D):
    """Row max (maximumf reduction from -inf), exp(x - max), row sum, divide:
    the importer's softmax."""
    tx, ts, tsb = "tensor<%dx%dxf32>" % (S, D), "tensor<%dxf32>" % S, "tensor<%dx1xf32>" % S
    text = ("func.func @main(%%x: %s) -> %s {\n" % (tx, tx)
            + "  %ninf = arith.constant 0xFF800000 : f32\n"
            + "  %zero = arith.constant 0.0 : f32\n"
            + "  %%e0 = tensor.empty() : %s\n" % ts
            + "  %%f0 = linalg.fill ins(%%ninf : f32) outs(%%e0 : %s) -> %s\n" % (ts, ts)
            + generic("%mx", [ID2, ROW2], ["parallel", "reduction"], [("%x", tx)],
                      [("%f0", ts)], ts, [
                          "^bb0(%a: f32, %out: f32):",
                          "  %s = arith.maximumf %a, %out : f32",
                          "  linalg.yield %s : f32"])
            + "  %%e1 = tensor.empty() : %s\n" % tx
            + generic("%ex", [ID2, ROW2, ID2], ["parallel", "parallel"],
                      [("%x", tx), ("%mx", ts)], [("%e1", tx)], tx, [
                          "^bb0(%a: f32, %m: f32, %out: f32):",
                          "  %d = arith.subf %a, %m : f32",
                          "  %r = math.exp %d : f32",
                          "  linalg.yield %r : f32"])
            + "  %%f1 = linalg.fill ins(%%zero : f32) outs(%%e0 : %s) -> %s\n" % (ts, ts)
            + generic("%sm", [ID2, ROW2], ["parallel", "reduction"], [("%ex", tx)],
                      [("%f1", ts)], ts, [
                          "^bb0(%a: f32, %out: f32):",
                          "  %s = arith.addf %out, %a : f32",
                          "  linalg.yield %s : f32"])
            + "  %%smb = tensor.expand_shape %%sm [[0, 1]] output_shape [%d, 1] : %s into %s\n"
            % (S, ts, tsb)
            + generic("%y", [ID2, ROWB2, ID2], ["parallel", "parallel"],
                      [("%ex", tx), ("%smb", tsb)], [("%e1", tx)], tx, [
                          "^bb0(%a: f32, %s: f32, %out: f32):",
                          "  %r = arith.divf %a, %s : f32",
                          "  linalg.yield %r : f32"])
            + "  return %%y : %s\n}\n" % tx)
    def inputs(rng):
        return [rng.standard_normal((S, D)).astype(np.float32) * 3]
    def expect(x):
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)
    return text, inputs, expect, "f32"


def case_mix(H, S, D):
    """w0[h] * x + w1[h] * y with [H, 1, 1] weights read through (d1, 0, 0)
    and a select on a comparison computed in the body (ReLU-like)."""
    t4 = "tensor<1x%dx%dx%dxf32>" % (H, S, D)
    tw = "tensor<%dx1x1xf32>" % H
    id4 = "affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>"
    wm = "affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>"
    text = ("func.func @main(%%x: %s, %%y: %s, %%w0: %s, %%w1: %s) -> %s {\n"
            % (t4, t4, tw, tw, t4)
            + "  %%e = tensor.empty() : %s\n" % t4
            + generic("%r", [id4, id4, wm, wm, id4], ["parallel"] * 4,
                      [("%x", t4), ("%y", t4), ("%w0", tw), ("%w1", tw)], [("%e", t4)], t4, [
                          "^bb0(%a: f32, %b: f32, %u: f32, %v: f32, %out: f32):",
                          "  %p = arith.mulf %u, %a : f32",
                          "  %q = arith.mulf %v, %b : f32",
                          "  %s = arith.addf %p, %q : f32",
                          "  %z = arith.constant 0.0 : f32",
                          "  %c = arith.cmpf ogt, %s, %z : f32",
                          "  %o = arith.select %c, %s, %z : f32",
                          "  linalg.yield %o : f32"])
            + "  return %%r : %s\n}\n" % t4)
    def inputs(rng):
        return [rng.standard_normal((1, H, S, D)).astype(np.float32),
                rng.standard_normal((1, H, S, D)).astype(np.float32),
                rng.standard_normal((H, 1, 1)).astype(np.float32),
                rng.standard_normal((H, 1, 1)).astype(np.float32)]
    def expect(x, y, w0, w1):
        s = w0[None] * x + w1[None] * y
        return np.where(s > 0, s, 0)
    return text, inputs, expect, "f32"


def case_bf16(S, D):
    """bf16 inputs widened in the body, an i64 input converted with sitofp,
    a bf16 result rounded once (arith.truncf)."""
    tx, ti, to = ("tensor<%dx%dxbf16>" % (S, D), "tensor<%dxi64>" % D,
                  "tensor<%dx%dxbf16>" % (S, D))
    text = ("func.func @main(%%x: %s, %%i: %s) -> %s {\n" % (tx, ti, to)
            + "  %%e = tensor.empty() : %s\n" % to
            + generic("%r", [ID2, COL2, ID2], ["parallel", "parallel"],
                      [("%x", tx), ("%i", ti)], [("%e", to)], to, [
                          "^bb0(%a: bf16, %n: i64, %out: bf16):",
                          "  %af = arith.extf %a : bf16 to f32",
                          "  %nf = arith.sitofp %n : i64 to f32",
                          "  %p = arith.mulf %af, %nf : f32",
                          "  %t = math.tanh %p : f32",
                          "  %r = arith.truncf %t : f32 to bf16",
                          "  linalg.yield %r : bf16"])
            + "  return %%r : %s\n}\n" % to)
    def inputs(rng):
        return [rng.standard_normal((S, D)).astype(np.float32),
                rng.integers(-3, 4, size=(D,)).astype(np.int64)]
    def expect(x, i):
        return np.tanh(ref.round_to_bf16(x).astype(np.float64) * i)
    return text, inputs, expect, "bf16"


CASES = {
    "silu": lambda: case_silu(13, 70),
    "silu-wide": lambda: case_silu(3, 688),
    "rmsnorm": lambda: case_rmsnorm(9, 37),
    "rmsnorm-1": lambda: case_rmsnorm(1, 256),
    "softmax": lambda: case_softmax(7, 129),
    "mix": lambda: case_mix(3, 5, 33),
    "bf16": lambda: case_bf16(6, 45),
}


def main(argv):
    if not argv or argv[0] not in CASES:
        print("usage: run_elementwise.py CASE [--seed N]; cases: %s" % ", ".join(CASES))
        return 2
    name = argv[0]
    seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else 0
    text, make_inputs, expect, out_type = CASES[name]()
    tol = 1e-5 if out_type == "f32" else 1e-2
    opt, run = find_tool("kvshift-opt"), find_tool("kvshift-run")
    if not opt or not run:
        print("FAIL %s: kvshift-opt/kvshift-run not found (set KVSHIFT_TOOLS_DIR)" % name)
        return 1
    tmp = tempfile.mkdtemp(prefix="kvshift-ew-")
    try:
        src = os.path.join(tmp, "case.mlir")
        with open(src, "w") as f:
            f.write(text)
        p = subprocess.run([opt, src, "--kvshift-vectorize-elementwise"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
        if p.returncode != 0 or "linalg.generic" in p.stdout or "vector.load" not in p.stdout:
            print("FAIL %s: not every linalg.generic was vectorised (exit %d)"
                  % (name, p.returncode))
            sys.stderr.write(text + p.stderr)
            return 1
        rng = np.random.default_rng(seed)
        inputs = make_inputs(rng)
        paths = []
        for i, x in enumerate(inputs):
            path = os.path.join(tmp, "in%d.npy" % i)
            np.save(path, x)
            paths.append(path)
        expected = expect(*[x.astype(np.float64) for x in inputs])
        status = 0
        for pipeline in PIPELINES:
            out = os.path.join(tmp, "out.npy")
            if os.path.exists(out):
                os.remove(out)
            cmd = [run, src, "--entry=main", "--pipeline=" + pipeline,
                   "--output=" + out] + ["--input=" + q for q in paths]
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True, timeout=300)
            if p.returncode != 0:
                print("FAIL %s [%s]: kvshift-run exited with %d: %s"
                      % (name, pipeline, p.returncode, p.stderr.strip()[-2000:]))
                status = 1
                continue
            err = ref.max_rel_err(ref.read_npy(out), expected)
            ok = err <= tol
            print("%s %s [%s]: max rel err %.2e (tol %.0e)"
                  % ("PASS" if ok else "FAIL", name, pipeline, err, tol))
            status |= 0 if ok else 1
        return status
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
