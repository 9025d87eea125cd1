#!/usr/bin/python3
"""CPU benchmark: linalg.matmul through the fused CPU pipeline vs NumPy.

    /usr/bin/python3 bench/bench_matmul.py            # about 1 minute on 2 cores
    /usr/bin/python3 bench/bench_matmul.py --quick    # fewer sizes

For each size, one ``func.func`` with a ``linalg.fill`` zero init and one
``linalg.matmul`` on static f32 tensors, in the two layouts the importer
emits: ``nn`` (``x @ W``, W [K, N]) and ``nt`` (``x @ W^T`` as nn.Linear
imports it: a ``linalg.transpose`` of W [N, K] feeding the matmul). Rows:

- ``vector``: ``kvshift-to-llvm-cpu-fused{vectorize-contractions=true}``
  (kvshift-vectorize-contractions; off by default in the pipeline, see
  README "kvshift-opt");
- ``scalar``: ``kvshift-to-llvm-cpu-fused`` (the default: the matmul as
  convert-linalg-to-loops scalar loops);
- ``numpy``: ``x @ W`` / ``x @ W.T`` in a separate process (no OpenMP
  threads of kvshift's runtime spinning next to it), with the environment
  as it is;
- ``numpy-skx``: the same with ``OPENBLAS_CORETYPE=SkylakeX``. On this
  machine's VM OpenBLAS 0.3.21 does not recognise the CPU and falls back to
  its SSE3 "Prescott" kernels (``OPENBLAS_VERBOSE=2`` prints the core):
  about 35-65 GFLOP/s for 512^3 on 2 cores instead of about 260 with its
  AVX-512 kernels. ``vs numpy`` compares with this row (the faster one).

Times: kvshift rows are ``CompiledFunction.time`` (median of --repeat runs in
the runtime, result allocation included); numpy the median of --repeat
``time.perf_counter()``-timed calls after three warm-up calls. Every row is
measured --rounds times, interleaved with the other rows of its size, and
the best round is reported (this machine is shared and noisy). GFLOP/s =
2 M N K / time. ``vs numpy`` = numpy time / row time (> 1: faster than
NumPy). Errors: max|o - r| / max|r| against float64 NumPy.
"""

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))

import numpy as np  # noqa: E402

import kvshift  # noqa: E402


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def blas_name():
    try:
        with open("/proc/self/maps") as f:
            maps = f.read()
    except OSError:
        return "unknown"
    for name in ("openblas", "mkl", "blis", "libblas"):
        if name in maps:
            return name
    return "unknown"


def program(M, N, K, layout):
    t = lambda *s: "tensor<%sxf32>" % "x".join(map(str, s))
    if layout == "nn":
        return """func.func @mm(%x: {x}, %w: {w}) -> {y} {{
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : {y}
  %z = linalg.fill ins(%zero : f32) outs(%e : {y}) -> {y}
  %y = linalg.matmul ins(%x, %w : {x}, {w}) outs(%z : {y}) -> {y}
  return %y : {y}
}}""".format(x=t(M, K), w=t(K, N), y=t(M, N))
    return """func.func @mm(%x: {x}, %w: {wt}) -> {y} {{
  %zero = arith.constant 0.0 : f32
  %et = tensor.empty() : {w}
  %t = linalg.transpose ins(%w : {wt}) outs(%et : {w}) permutation = [1, 0]
  %e = tensor.empty() : {y}
  %z = linalg.fill ins(%zero : f32) outs(%e : {y}) -> {y}
  %y = linalg.matmul ins(%x, %t : {x}, {w}) outs(%z : {y}) -> {y}
  return %y : {y}
}}""".format(x=t(M, K), w=t(K, N), wt=t(N, K), y=t(M, N))


NUMPY_TIMER = r"""
import statistics, sys, time
import numpy as np
M, N, K, layout, repeat = sys.argv[1:]
M, N, K, repeat = int(M), int(N), int(K), int(repeat)
rng = np.random.default_rng(0)
x = rng.standard_normal((M, K)).astype(np.float32)
w = rng.standard_normal((K, N) if layout == "nn" else (N, K)).astype(np.float32)
f = (lambda: x @ w) if layout == "nn" else (lambda: x @ w.T)
for _ in range(3):
    f()
ts = []
for _ in range(repeat):
    s = time.perf_counter()
    f()
    ts.append(time.perf_counter() - s)
print(1e3 * statistics.median(ts))
"""


def numpy_ms(M, N, K, layout, repeat, coretype=None):
    env = dict(os.environ)
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    out = subprocess.run([sys.executable, "-c", NUMPY_TIMER, str(M), str(N), str(K),
                          layout, str(repeat)], env=env, check=True,
                         stdout=subprocess.PIPE, universal_newlines=True).stdout
    return float(out)


def openblas_core(coretype=None):
    env = dict(os.environ, OPENBLAS_VERBOSE="2")
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    p = subprocess.run([sys.executable, "-c", "import numpy as np; "
                        "a = np.ones((64, 64), np.float32); a @ a"], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    for line in p.stdout.splitlines():
        if line.startswith("Core:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-scalar", action="store_true",
                   help="skip the scalar-loop rows")
    p.add_argument("--pipeline", default="kvshift-to-llvm-cpu-fused{vectorize-contractions=true}",
                   help="pipeline of the vector rows")
    a = p.parse_args(argv)
    sizes = [(512, 512, 512), (1, 1024, 1024), (1, 688, 256), (32, 688, 256),
             (4, 256, 256), (100, 97, 131)]
    if a.quick:
        sizes = [(512, 512, 512), (1, 1024, 1024)]
    rng = np.random.default_rng(0)
    np.ones((4, 4), np.float32) @ np.ones((4, 4), np.float32)  # load BLAS
    print("# linalg.matmul on the CPU: kvshift vs NumPy\n")
    print("command: `%s`; %d cores; OMP_NUM_THREADS=%s; NumPy BLAS: %s (OpenBLAS "
          "core: %s; with OPENBLAS_CORETYPE=SkylakeX: %s); load average %s\n"
          % (" ".join(["bench/bench_matmul.py"] + argv), os.cpu_count(),
             os.environ.get("OMP_NUM_THREADS", "unset"), blas_name(),
             openblas_core(), openblas_core("SkylakeX"),
             " ".join("%.2f" % x for x in os.getloadavg())))
    print("| M x N x K | layout | impl | time (ms) | GFLOP/s | vs numpy-skx | max rel err |")
    print("|---|---|---|---|---|---|---|")
    scalar = "kvshift-to-llvm-cpu-fused{vectorize-contractions=false}"
    for (M, N, K) in sizes:
        for layout in ("nn", "nt"):
            x = rng.standard_normal((M, K)).astype(np.float32)
            w = rng.standard_normal((K, N) if layout == "nn" else (N, K)).astype(np.float32)
            w64 = w.astype(np.float64)
            ref = x.astype(np.float64) @ (w64 if layout == "nn" else w64.T)
            flop = 2.0 * M * N * K
            rows = [("vector", a.pipeline)]
            if not a.no_scalar:
                rows.append(("scalar", scalar))
            fns, errs = {}, {}
            for name, pipe in rows:
                log("%dx%dx%d %s %s" % (M, N, K, layout, name))
                fn = kvshift.compile(program(M, N, K, layout), pipeline=pipe, entry="mm")
                out = fn(x, w)
                errs[name] = float(np.abs(out - ref).max() / np.abs(ref).max())
                fns[name] = fn
            best = {}
            for _ in range(a.rounds):
                for name, fn in fns.items():
                    # The scalar loops are slow: fewer runs.
                    rep = a.repeat if name != "scalar" else max(1, a.repeat // 4)
                    best[name] = min(best.get(name, float("inf")), fn.time(x, w, repeat=rep))
                best["numpy"] = min(best.get("numpy", float("inf")),
                                    numpy_ms(M, N, K, layout, a.repeat))
                best["numpy-skx"] = min(best.get("numpy-skx", float("inf")),
                                        numpy_ms(M, N, K, layout, a.repeat, "SkylakeX"))
            for name in [r[0] for r in rows] + ["numpy", "numpy-skx"]:
                ms = best[name]
                print("| %dx%dx%d | %s | %s | %.4f | %.1f | %.2fx | %s |"
                      % (M, N, K, layout, name, ms, flop / ms / 1e6,
                         best["numpy-skx"] / ms,
                         "%.1e" % errs[name] if name in errs else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
