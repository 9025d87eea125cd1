#!/usr/bin/python3
"""Run the example KV shifting attention graph end to end and check it.

    python3 examples/run_example.py [--file examples/attention.mlir] [--repeat 5]

Steps:
  1. read the example's entry function (the first func.func in the file) to
     find the shapes and element type of q, k, v and whether the op is causal
     and has a `scale`;
  2. make random q, k, v and the paper's initial mixing weights
     (a1, b1 ~ U(0,1), a2 = 1 - a1, b2 = 1 - b1), write them as .npy;
  3. for the fused pipeline (kvshift-to-llvm-cpu-fused, the default of
     kvshift-run) and the reference one (kvshift-to-llvm-cpu):
     kvshift-opt FILE --PIPELINE -o lowered.mlir
  4. kvshift-run lowered.mlir --entry=NAME --input=... --output=out.npy --repeat=N
  5. compare with the float64 NumPy reference (test/Integration/kvshift_ref.py)
     and print a short report; exit status 1 on a mismatch or a tool failure.

The tools are taken from $KVSHIFT_TOOLS_DIR if set, else from <repo>/build/bin,
where <repo> is the parent directory of this script's directory.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "test", "Integration"))
import kvshift_ref as ref  # noqa: E402

DEFAULT_TOL = {"f32": 1e-5, "f16": 2e-3, "bf16": 1e-2}


def tools_dir():
    return os.environ.get("KVSHIFT_TOOLS_DIR") or os.path.join(ROOT, "build", "bin")


def tool(name):
    p = os.path.join(tools_dir(), name)
    if not (os.path.isfile(p) and os.access(p, os.X_OK)):
        sys.exit("error: %s not found (build the project, or set KVSHIFT_TOOLS_DIR)" % p)
    return p


def parse_tensor(t):
    """'tensor<1x8x128x64xf32>' -> ((1, 8, 128, 64), 'f32')."""
    m = re.fullmatch(r"tensor<((?:\d+x)*)(\w+)>", t.strip())
    if not m:
        raise ValueError("unsupported type %r (static shapes only)" % t)
    dims = tuple(int(d) for d in m.group(1).split("x") if d)
    return dims, m.group(2)


def parse_example(text):
    """Entry name, argument types, causal flag and scale of the example."""
    m = re.search(r"func\.func\s+@([\w.$-]+)\s*\((.*?)\)\s*->", text, re.S)
    if not m:
        raise ValueError("no func.func found")
    entry = m.group(1)
    args = re.findall(r"%\w+\s*:\s*(tensor<[^>]*>)", m.group(2))
    if len(args) != 5:
        raise ValueError("expected 5 arguments (q, k, v, kw, vw), found %d" % len(args))
    types = [parse_tensor(a) for a in args]
    body = text[m.end():]
    op = re.search(r"kvshift\.kv_shift_attention\b(.*?):", body, re.S)
    if not op:
        raise ValueError("no kvshift.kv_shift_attention in @%s" % entry)
    attrs = op.group(1)
    causal = re.search(r"\bcausal\b", attrs) is not None
    sm = re.search(r"scale\s*=\s*([-+0-9.eE]+)", attrs)
    scale = float(np.float32(float(sm.group(1)))) if sm else None
    return entry, types, causal, scale


def run(cmd):
    t0 = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True)
    return p, time.time() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--file", default=os.path.join(HERE, "attention.mlir"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tol", type=float, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    a = ap.parse_args()

    with open(a.file) as f:
        text = f.read()
    entry, types, causal, scale = parse_example(text)
    (qs, et), (ks, _), (vs, _), (kws, _), (vws, _) = types
    tol = a.tol if a.tol is not None else DEFAULT_TOL[et]
    opt, runner = tool("kvshift-opt"), tool("kvshift-run")

    rng = np.random.default_rng(a.seed)
    q = rng.standard_normal(qs).astype(np.float32)
    k = rng.standard_normal(ks).astype(np.float32)
    v = rng.standard_normal(vs).astype(np.float32)
    a1 = rng.uniform(0, 1, kws[0])
    b1 = rng.uniform(0, 1, vws[0])
    kw = np.stack([a1, 1 - a1], 1).astype(np.float32)
    vw = np.stack([b1, 1 - b1], 1).astype(np.float32)
    if et == "f16":
        q, k, v = (t.astype(np.float16) for t in (q, k, v))
        seen = [t.astype(np.float64) for t in (q, k, v)]
    elif et == "bf16":
        seen = [ref.round_to_bf16(t).astype(np.float64) for t in (q, k, v)]
    else:
        seen = [t.astype(np.float64) for t in (q, k, v)]

    g = qs[1] // ks[1]
    print("kvshift example: %s @%s" % (os.path.relpath(os.path.abspath(a.file), ROOT), entry))
    print("  q %s  k %s  v %s  %s  (%s, %d query heads per KV head)"
          % ("x".join(map(str, qs)), "x".join(map(str, ks)), "x".join(map(str, vs)),
             et, "GQA" if g > 1 else "MHA", g))
    print("  causal=%s  scale=%s" % (causal, "1/sqrt(%d)" % qs[3] if scale is None else scale))
    print("  kw (a1, a2) = %s" % np.array2string(kw, precision=3).replace("\n", ""))
    print("  vw (b1, b2) = %s" % np.array2string(vw, precision=3).replace("\n", ""))
    expected = ref.kv_shift_attention(*seen, kw.astype(np.float64),
                                      vw.astype(np.float64), scale=scale,
                                      causal=causal)
    ok_all = True
    for pipeline in ("kvshift-to-llvm-cpu-fused", "kvshift-to-llvm-cpu"):
        tmp = tempfile.mkdtemp(prefix="kvshift-example-")
        try:
            lowered = os.path.join(tmp, "lowered.mlir")
            p, t_opt = run([opt, a.file, "--" + pipeline, "-o", lowered])
            if p.returncode:
                print("FAIL: kvshift-opt --%s failed:\n%s" % (pipeline, p.stderr))
                return 1
            cmd = [runner, lowered, "--entry=" + entry]
            for nm, arr in (("q", q), ("k", k), ("v", v), ("kw", kw), ("vw", vw)):
                path = os.path.join(tmp, nm + ".npy")
                np.save(path, arr)
                cmd.append("--input=" + path)
            out_path = os.path.join(tmp, "out.npy")
            cmd += ["--output=" + out_path, "--repeat=%d" % a.repeat]
            p, t_run = run(cmd)
            if p.returncode:
                print("FAIL: kvshift-run failed (exit %d):\n%s" % (p.returncode, p.stderr))
                return 1
            out = np.load(out_path)
            err = ref.max_rel_err(out, expected)
            ok = out.shape == expected.shape and err <= tol
            ok_all = ok_all and ok
            print("  %s:" % pipeline)
            print("    kvshift-opt --%s: %.2f s" % (pipeline, t_opt))
            timing = [l for l in p.stderr.splitlines() if l.strip()]
            print("    kvshift-run (%.2f s wall, incl. JIT compile): %s"
                  % (t_run, " | ".join(timing) if timing else "(printed no timing line)"))
            print("    max_rel_err = %.3e  (max|out-ref| / max|ref|, float64 reference; tol %.0e)"
                  "  %s" % (err, tol, "PASS" if ok else "FAIL"))
        finally:
            if a.keep:
                print("    kept %s" % tmp)
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    print("  %s" % ("PASS" if ok_all else "FAIL"))
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
