#!/usr/bin/python3
"""Integration driver: one contraction through kvshift-run on random inputs,
checked against float64 NumPy (kvshift-vectorize-contractions).

  1. writes `func.func @main` computing C = init + A B on static tensors in
     one of the layouts the importer emits (--layout: nn = A [M,K] x B [K,N];
     nt = B given as [N,K] through a linalg.transpose, nn.Linear's form;
     tn = A given as [K,M] through a linalg.transpose; tt = both), optionally
     batched (--batch: batch_matmul, or a leading batch loop of a generic),
     as linalg.matmul/batch_matmul (--form named) or as a linalg.generic with
     the same body (--form generic); the init is a linalg.fill of zero
     (--init fill) or an argument (--init arg, read through a linalg.copy);
     --dtype bf16/f16 inputs are
     widened with arith.extf and accumulated in f32 (the importer's form);
  2. --expect row|dot|none: runs `kvshift-opt --kvshift-vectorize-contractions`
     on it and checks that the contraction became the named kernel (no
     linalg contraction left; vector.fma; a vector.shuffle sum tree for dot)
     or was left alone;
  3. runs `kvshift-run --entry=main` through each pipeline of --pipelines
     (default: the fused pipeline, and the fused pipeline with
     vectorize-contractions=false as a second opinion) and compares with
     float64 NumPy on the values the tool saw (bf16 inputs rounded to
     nearest even): max|o - r| / max|r| <= --tol (f32 1e-5, f16/bf16 1e-5
     too: the products of widened values are exact in f32... up to the f32
     accumulation, which is what the bound is for).

Tools are taken from $KVSHIFT_TOOLS_DIR, else PATH. Prints one PASS/FAIL line
per pipeline; exit status 1 if any failed.
"""

import argparse
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

PIPELINES = ("kvshift-to-llvm-cpu-fused;"
             "kvshift-to-llvm-cpu-fused{vectorize-contractions=false}")


def tt(shape, elt):
    return "tensor<%sx%s>" % ("x".join(map(str, shape)), elt)


def build(a):
    """MLIR text, input names and shapes (as given to @main)."""
    M, N, K, B, elt = a.M, a.N, a.K, a.batch, a.dtype
    bat = [B] if B else []
    a_given = bat + ([K, M] if a.layout in ("tn", "tt") else [M, K])
    b_given = bat + ([N, K] if a.layout in ("nt", "tt") else [K, N])
    a_shape, b_shape, c_shape = bat + [M, K], bat + [K, N], bat + [M, N]
    args = [("a", a_given, elt), ("b", b_given, elt)]
    if a.init == "arg":
        args.append(("c", c_shape, "f32"))
    lines = ["func.func @main(%s) -> %s {" % (
        ", ".join("%%%s: %s" % (n, tt(s, e)) for n, s, e in args), tt(c_shape, "f32"))]
    perm = "[0, 2, 1]" if B else "[1, 0]"
    ops = {"a": "%a", "b": "%b"}
    for name, given, shape, flip in (("a", a_given, a_shape, a.layout in ("tn", "tt")),
                                     ("b", b_given, b_shape, a.layout in ("nt", "tt"))):
        if flip:
            lines.append("  %%%s_e = tensor.empty() : %s" % (name, tt(shape, elt)))
            lines.append("  %%%s_t = linalg.transpose ins(%%%s : %s) outs(%%%s_e : %s) "
                         "permutation = %s" % (name, name, tt(given, elt), name,
                                               tt(shape, elt), perm))
            ops[name] = "%%%s_t" % name
    if a.init == "arg":
        # Read through a copy: computed into the argument itself, the result
        # would update %c in place (kvshift-tie-results), and the vectorizing
        # pass leaves such contractions to bufferization.
        lines.append("  %c_e = tensor.empty() : " + tt(c_shape, "f32"))
        lines.append("  %%c_i = linalg.copy ins(%%c : %s) outs(%%c_e : %s) -> %s"
                     % (tt(c_shape, "f32"), tt(c_shape, "f32"), tt(c_shape, "f32")))
        init = "%c_i"
    else:
        lines.append("  %zero = arith.constant 0.0 : f32")
        lines.append("  %c_e = tensor.empty() : " + tt(c_shape, "f32"))
        lines.append("  %%c_f = linalg.fill ins(%%zero : f32) outs(%%c_e : %s) -> %s"
                     % (tt(c_shape, "f32"), tt(c_shape, "f32")))
        init = "%c_f"
    ta, tb, tc = tt(a_shape, elt), tt(b_shape, elt), tt(c_shape, "f32")
    if a.form == "named":
        op = "linalg.batch_matmul" if B else "linalg.matmul"
        lines.append("  %%r = %s ins(%s, %s : %s, %s) outs(%s : %s) -> %s"
                     % (op, ops["a"], ops["b"], ta, tb, init, tc, tc))
    else:
        if B:
            maps = ["(b, m, n, k) -> (b, m, k)", "(b, m, n, k) -> (b, k, n)",
                    "(b, m, n, k) -> (b, m, n)"]
            its = '["parallel", "parallel", "parallel", "reduction"]'
        else:
            maps = ["(m, n, k) -> (m, k)", "(m, n, k) -> (k, n)", "(m, n, k) -> (m, n)"]
            its = '["parallel", "parallel", "reduction"]'
        lines.append("  %%r = linalg.generic {indexing_maps = [%s], iterator_types = %s} "
                     "ins(%s, %s : %s, %s) outs(%s : %s) {"
                     % (", ".join("affine_map<%s>" % m for m in maps), its,
                        ops["a"], ops["b"], ta, tb, init, tc))
        lines.append("  ^bb0(%x: {e}, %y: {e}, %acc: f32):".format(e=elt))
        x, y = "%x", "%y"
        if elt != "f32":
            lines.append("    %%xf = arith.extf %%x : %s to f32" % elt)
            lines.append("    %%yf = arith.extf %%y : %s to f32" % elt)
            x, y = "%xf", "%yf"
        # The product in the order B * A and the sum as acc + p: any order
        # of the operands must be recognised.
        lines.append("    %%p = arith.mulf %s, %s : f32" % (y, x))
        lines.append("    %sum = arith.addf %acc, %p : f32")
        lines.append("    linalg.yield %sum : f32")
        lines.append("  } -> " + tc)
    lines.append("  return %%r : %s" % tc)
    lines.append("}")
    return "\n".join(lines) + "\n", args


def check_kernel(a, mlir, tmp):
    opt = find_tool("kvshift-opt")
    if not opt:
        print("FAIL kvshift-opt not found (set KVSHIFT_TOOLS_DIR or PATH)")
        return False
    src = os.path.join(tmp, "expect.mlir")
    with open(src, "w") as f:
        f.write(mlir)
    proc = subprocess.run([opt, src, "--kvshift-vectorize-contractions"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    if proc.returncode != 0:
        print("FAIL kvshift-opt exited with %d: %s" % (proc.returncode, proc.stderr[-2000:]))
        return False
    out = proc.stdout
    left = any(s in out for s in ("linalg.matmul", "linalg.batch_matmul", "linalg.generic"))
    fma, shuffle = "vector.fma" in out, "vector.shuffle" in out
    if a.expect == "none":
        ok = left and not fma
    else:
        ok = not left and fma and shuffle == (a.expect == "dot")
    if not ok:
        print("FAIL expected kernel %s, got: contraction left %s, vector.fma %s, "
              "vector.shuffle %s" % (a.expect, left, fma, shuffle))
    return ok


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--M", type=int, required=True)
    p.add_argument("--N", type=int, required=True)
    p.add_argument("--K", type=int, required=True)
    p.add_argument("--batch", type=int, default=0, help="0: no batch dimension")
    p.add_argument("--layout", choices=["nn", "nt", "tn", "tt"], default="nn")
    p.add_argument("--form", choices=["named", "generic"], default="named")
    p.add_argument("--init", choices=["fill", "arg"], default="fill")
    p.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32")
    p.add_argument("--expect", choices=["row", "dot", "none"])
    p.add_argument("--pipelines", default=PIPELINES)
    p.add_argument("--tol", type=float, default=1e-5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=300)
    a = p.parse_args(argv)
    name = "matmul M=%d N=%d K=%d batch=%d %s %s init=%s %s" % (
        a.M, a.N, a.K, a.batch, a.layout, a.form, a.init, a.dtype)
    mlir, args = build(a)
    rng = np.random.default_rng(a.seed)
    tool = find_tool("kvshift-run")
    if not tool:
        print("FAIL %s: kvshift-run not found (set KVSHIFT_TOOLS_DIR or PATH)" % name)
        return 1
    tmp = tempfile.mkdtemp(prefix="kvshift-mm-")
    try:
        if a.expect and not check_kernel(a, mlir, tmp):
            sys.stderr.write(mlir)
            return 1
        seen, paths = {}, []
        for n, shape, elt in args:
            x = rng.standard_normal(shape).astype(np.float32)
            if n == "c":
                x = x.astype(np.float32)
            if elt == "f16":
                x = x.astype(np.float16)
                seen[n] = x.astype(np.float64)
            elif elt == "bf16":
                seen[n] = ref.round_to_bf16(x).astype(np.float64)
            else:
                seen[n] = x.astype(np.float64)
            path = os.path.join(tmp, n + ".npy")
            ref.write_npy(path, x, x.dtype)
            paths.append(path)
        A, B = seen["a"], seen["b"]
        if a.layout in ("tn", "tt"):
            A = np.swapaxes(A, -1, -2)
        if a.layout in ("nt", "tt"):
            B = np.swapaxes(B, -1, -2)
        expected = A @ B + (seen["c"] if a.init == "arg" else 0.0)
        status = 0
        for pipeline in a.pipelines.split(";"):
            out_path = os.path.join(tmp, "out.npy")
            if os.path.exists(out_path):
                os.remove(out_path)
            src = os.path.join(tmp, "case.mlir")
            with open(src, "w") as f:
                f.write(mlir)
            cmd = [tool, src, "--entry=main", "--output=" + out_path,
                   "--pipeline=" + pipeline] + ["--input=" + q for q in paths]
            try:
                proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      universal_newlines=True, timeout=a.timeout)
            except subprocess.TimeoutExpired:
                print("FAIL %s [%s]: kvshift-run timed out" % (name, pipeline))
                status = 1
                continue
            if proc.returncode != 0:
                print("FAIL %s [%s]: kvshift-run exited with %d: %s"
                      % (name, pipeline, proc.returncode, proc.stderr.strip()[-2000:]))
                sys.stderr.write(mlir)
                status = 1
                continue
            out = ref.read_npy(out_path)
            err = ref.max_rel_err(out, expected)
            ok = out.dtype == np.float32 and err <= a.tol
            print("%s %s [%s]: max rel err %.2e (tol %.0e)"
                  % ("PASS" if ok else "FAIL", name, pipeline, err, a.tol))
            status |= 0 if ok else 1
        return status
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
