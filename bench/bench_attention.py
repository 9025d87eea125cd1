#!/usr/bin/python3
"""CPU benchmark of causal f32 KV shifting attention (arXiv 2411.19574).

    /usr/bin/python3 bench/bench_attention.py                 # S = 512, 2048, 8192
    /usr/bin/python3 bench/bench_attention.py --quick         # S = 128, 512, 3 runs
    /usr/bin/python3 bench/bench_attention.py --sizes 2048 --repeat 10 --json out.json
    /usr/bin/python3 bench/bench_attention.py --peak-memory-check

Shape: B=1, Hq = Hkv = H = 8, D = 64, causal, f32, paper-initialised mixing
weights (a1, b1 ~ U(0,1), a2 = 1 - a1, b2 = 1 - b1). One row per (S, impl):

  fused      kvshift-run --pipeline=kvshift-to-llvm-cpu-fused (n/a if the
             pipeline is not registered in this build)
  reference  kvshift-run --pipeline=kvshift-to-llvm-cpu (materialises the
             S x S scores; skipped above --reference-max-s, default 2048)
  torch      PyTorch (CPU, all cores) doing what the paper's plain-PyTorch code
             does: pad + unfold + weighted sum to build K^ and V^, then
             q @ K^^T * scale, masked_fill(-inf), softmax, @ V^

Every measurement runs in its own child process; its peak memory is that
child's ru_maxrss (os.wait4), so it includes the process's fixed cost
(the MLIR JIT for kvshift-run, the Python + torch import for torch).
kvshift rows report the median printed by `kvshift-run --repeat=N` (JIT
compilation excluded); the torch row is the median of N perf_counter-timed
calls after one warm-up call. GFLOP/s uses the causal count
4*B*H*S*S*D/2 for every row. "vs torch" = torch time / row time at the same S
(> 1: faster than PyTorch). The error is max|o - r| / max|r| against the
float64 NumPy reference test/Integration/kvshift_ref.py (computed only for
S <= --check-max-s, default 2048: it is O(S^2) in memory).
"""

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
REF_DIR = os.path.join(ROOT, "test", "Integration")

FUSED_PIPELINE = "kvshift-to-llvm-cpu-fused"
REFERENCE_PIPELINE = "kvshift-to-llvm-cpu"
MIB = 1024.0 * 1024.0


# ---------------------------------------------------------------------------
# Child-process helpers
# ---------------------------------------------------------------------------

TIME_BIN = "/usr/bin/time"

# A tiny launcher used when GNU time is missing: it forks the command from a
# small process and prints the child's ru_maxrss (KiB) to the file argv[1].
LAUNCHER = (
    "import os,sys\n"
    "pid=os.fork()\n"
    "if pid==0:\n"
    "    os.execvp(sys.argv[2],sys.argv[2:])\n"
    "_,st,ru=os.wait4(pid,0)\n"
    "open(sys.argv[1],'w').write('%d\\n'%ru.ru_maxrss)\n"
    "sys.exit(os.waitstatus_to_exitcode(st) & 255)\n")


def run_measured(cmd, timeout, env=None):
    """Run cmd in its own process; return (rc, stdout, stderr, maxrss_bytes,
    wall_s), maxrss being that process's own peak RSS.

    The command is not started from this (large) Python process directly:
    Linux carries the memory high-water mark of the process that forks (or,
    with vfork/posix_spawn, of the parent) into the child's ru_maxrss at
    exec, so it would include this process's numpy/torch/reference arrays.
    It is started by /usr/bin/time (about 2 MiB), which reports the child's
    own ru_maxrss, or, without GNU time, by a minimal forking Python
    launcher (about 10 MiB, an upper bound on the error)."""
    fd, rss_file = tempfile.mkstemp(prefix="kvshift-rss-")
    os.close(fd)
    if os.access(TIME_BIN, os.X_OK):
        full = [TIME_BIN, "-f", "%M", "-o", rss_file] + list(cmd)
    else:
        full = [sys.executable, "-S", "-E", "-c", LAUNCHER, rss_file] + list(cmd)
    try:
        with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
            t0 = time.perf_counter()
            p = subprocess.Popen(full, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL,
                                 env=env, start_new_session=True)
            killed = []

            def kill():
                killed.append(True)
                try:
                    os.killpg(p.pid, 9)       # the launcher and the command
                except OSError:
                    pass

            timer = threading.Timer(timeout, kill) if timeout else None
            if timer:
                timer.start()
            try:
                rc = p.wait()
            finally:
                if timer:
                    timer.cancel()
            wall = time.perf_counter() - t0
            fo.seek(0)
            fe.seek(0)
            out = fo.read().decode("utf-8", "replace")
            err = fe.read().decode("utf-8", "replace")
        with open(rss_file) as f:
            txt = f.read()
    finally:
        os.remove(rss_file)
    # GNU time writes "Command exited with non-zero status N" / "Command
    # terminated by signal N" before the number; the number is the last line.
    rss_kib = 0
    for line in txt.split("\n"):
        line = line.strip()
        if line.isdigit():
            rss_kib = int(line)
        m = re.match(r"Command terminated by signal (\d+)", line)
        if m:
            rc = -int(m.group(1))
    if killed:
        err += "\n(timed out after %s s, killed)" % timeout
        rc = 124
    return rc, out, err, rss_kib * 1024, wall


def first_error_line(text):
    for line in text.splitlines():
        if "error" in line.lower():
            return line.strip()
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    return lines[-1] if lines else "(no message)"


def pipeline_unknown(stderr, pipeline):
    s = stderr.lower()
    return pipeline in stderr and ("does not refer to a registered" in s
                                   or "unknown pipeline" in s
                                   or "unknown pass" in s
                                   or "not a registered" in s)


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------

def mlir_text(B, H, S, D, entry="attn"):
    t = "tensor<%dx%dx%dx%dxf32>" % (B, H, S, D)
    w = "tensor<%dx2xf32>" % H
    return (
        "// generated by bench/bench_attention.py: causal f32 KV shifting attention\n"
        "func.func @%s(%%q: %s, %%k: %s, %%v: %s, %%kw: %s, %%vw: %s) -> %s {\n"
        "  %%o = kvshift.kv_shift_attention %%q, %%k, %%v mix(%%kw, %%vw) causal\n"
        "      : (%s, %s, %s, %s, %s) -> %s\n"
        "  return %%o : %s\n"
        "}\n" % (entry, t, t, t, w, w, t, t, t, t, w, w, t, t))


def write_inputs(np, d, B, H, S, D, seed):
    """Random normal q, k, v and paper-initialised kw, vw. Returns paths."""
    rng = np.random.default_rng(seed)
    paths = {}
    for name in ("q", "k", "v"):
        a = rng.standard_normal((B, H, S, D), dtype=np.float32)
        paths[name] = os.path.join(d, "%s_%d.npy" % (name, S))
        np.save(paths[name], a)
    for name in ("kw", "vw"):
        a1 = rng.uniform(0.0, 1.0, H).astype(np.float32)
        w = np.stack([a1, np.float32(1.0) - a1], axis=1).astype(np.float32)
        paths[name] = os.path.join(d, "%s_%d.npy" % (name, S))
        np.save(paths[name], w)
    paths["mlir"] = os.path.join(d, "attn_B%d_H%d_S%d_D%d.mlir" % (B, H, S, D))
    with open(paths["mlir"], "w") as f:
        f.write(mlir_text(B, H, S, D))
    return paths


# ---------------------------------------------------------------------------
# Implementations
# ---------------------------------------------------------------------------

RUN_RE = re.compile(r"median ([0-9.eE+-]+) ms over (\d+) run")


def run_kvshift(tool, paths, pipeline, repeat, out_path, timeout):
    cmd = [tool, paths["mlir"], "--entry=attn"]
    cmd += ["--input=" + paths[n] for n in ("q", "k", "v", "kw", "vw")]
    cmd += ["--output=" + out_path, "--pipeline=" + pipeline, "--repeat=%d" % repeat]
    rc, out, err, rss, wall = run_measured(cmd, timeout)
    res = {"cmd": " ".join(shlex.quote(c) for c in cmd), "rc": rc,
           "peak_mib": rss / MIB, "wall_s": wall}
    if rc != 0:
        if pipeline_unknown(err, pipeline):
            res["status"] = "n/a (pipeline not available)"
        else:
            res["status"] = "error: " + first_error_line(err)[:150]
        return res
    m = RUN_RE.search(err)
    if not m:
        res["status"] = "error: no timing line in kvshift-run's stderr"
        return res
    res["status"] = "ok"
    res["ms"] = float(m.group(1))
    res["runs"] = int(m.group(2))
    res["output"] = out_path
    return res


def run_torch(paths, S, repeat, threads, out_path, timeout):
    cmd = [sys.executable, os.path.abspath(__file__), "--_torch-child",
           json.dumps({"paths": paths, "repeat": repeat, "threads": threads,
                       "out": out_path})]
    rc, out, err, rss, wall = run_measured(cmd, timeout)
    res = {"cmd": "(child) torch, %d threads" % threads, "rc": rc,
           "peak_mib": rss / MIB, "wall_s": wall}
    if rc != 0:
        why = "killed by signal %d" % -rc if rc < 0 else first_error_line(err)
        res["status"] = "error: " + why[:150]
        return res
    try:
        info = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        res["status"] = "error: bad child output"
        return res
    res.update(info)
    res["status"] = "ok"
    res["output"] = out_path
    return res


def torch_child(arg):
    """Runs in a child process: the paper's plain-PyTorch KV shift + attention."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    import resource

    cfg = json.loads(arg)
    p = cfg["paths"]
    torch.set_num_threads(cfg["threads"])
    rss_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    q = torch.from_numpy(np.load(p["q"]))
    k = torch.from_numpy(np.load(p["k"]))
    v = torch.from_numpy(np.load(p["v"]))
    kw = torch.from_numpy(np.load(p["kw"]))      # [H, 2] = [a1, a2]
    vw = torch.from_numpy(np.load(p["vw"]))
    B, H, S, D = q.shape
    scale = 1.0 / (D ** 0.5)
    # The causal mask is a constant (a registered buffer in a model): built once.
    mask = torch.ones(S, S, dtype=torch.bool).triu_(1)

    def shift(x, w):
        # Paper: pad one token in front of the sequence, unfold windows of 2
        # (x_{t-1}, x_t), weighted sum. w[:, 0] weighs x_t, w[:, 1] x_{t-1}.
        xp = F.pad(x, (0, 0, 1, 0))                       # [B, H, S+1, D]
        win = xp.unfold(2, 2, 1)                           # [B, H, S, D, 2]
        wt = torch.stack([w[:, 1], w[:, 0]], dim=-1)       # (t-1, t) order
        return (win * wt.view(1, H, 1, 1, 2)).sum(-1)      # [B, H, S, D]

    def attention():
        kh = shift(k, kw)
        vh = shift(v, vw)
        s = torch.matmul(q, kh.transpose(-2, -1)) * scale
        s = s.masked_fill(mask, float("-inf"))
        pr = torch.softmax(s, dim=-1)
        return torch.matmul(pr, vh)

    with torch.no_grad():
        o = attention()                                    # warm-up
        times = []
        for _ in range(cfg["repeat"]):
            t0 = time.perf_counter()
            o = attention()
            times.append((time.perf_counter() - t0) * 1e3)
    np.save(cfg["out"], o.numpy())
    print(json.dumps({"ms": statistics.median(times), "min_ms": min(times),
                      "max_ms": max(times), "runs": len(times),
                      "import_rss_mib": rss_import / MIB}))


# ---------------------------------------------------------------------------
# Machine / BLAS report
# ---------------------------------------------------------------------------

def machine_info():
    info = {"model": platform.processor() or "?", "cpus": os.cpu_count()}
    try:
        txt = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        kv = {}
        for line in txt.splitlines():
            if ":" in line:
                a, b = line.split(":", 1)
                kv[a.strip()] = b.strip()
        info["model"] = kv.get("Model name", info["model"])
        info["sockets"] = kv.get("Socket(s)", "?")
        info["cores_per_socket"] = kv.get("Core(s) per socket", "?")
        info["threads_per_core"] = kv.get("Thread(s) per core", "?")
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    info["mem_gib"] = int(line.split()[1]) / MIB
    except OSError:
        pass
    try:
        info["loadavg"] = os.getloadavg()
    except OSError:
        pass
    return info


def blas_report(threads):
    """Which BLAS torch and numpy actually use (the libraries mapped into this
    process after a matmul in each), plus torch's own build summary line."""
    import numpy as np
    import torch

    lines, warnings = [], []
    torch.set_num_threads(threads)
    a = torch.randn(64, 64)
    _ = a @ a
    b = np.ones((64, 64), np.float32)
    _ = b @ b
    cfg = torch.__config__.show()
    m = re.search(r"BLAS_INFO=([^,\s]+)", cfg)
    lines.append("torch %s: BLAS_INFO=%s (build setting)" % (torch.__version__, m.group(1) if m else "?"))
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            base = os.path.basename(path).lower()
            if any(t in base for t in ("blas", "lapack", "mkl", "blis", "atlas")):
                libs.add(path)
    lines.append("BLAS libraries mapped (numpy %s + torch): %s"
                 % (np.__version__, ", ".join(sorted(libs)) or "none found"))
    fast = [l for l in libs if any(t in l.lower() for t in ("openblas", "mkl", "blis", "atlas"))]
    if not fast:
        warnings.append("torch/numpy are on the REFERENCE (netlib) BLAS or none could be found: "
                        "the PyTorch rows will be far too slow. Fix: "
                        "apt-get install -y libopenblas0-pthread")
    dpkg = subprocess.run(["dpkg", "-s", "libopenblas0-pthread"], capture_output=True, text=True)
    if dpkg.returncode != 0:
        warnings.append("libopenblas0-pthread is not installed: apt-get install -y libopenblas0-pthread")
    # A 512^3 sgemm: the reference BLAS manages ~1-3 GFLOP/s, OpenBLAS tens.
    x = torch.randn(512, 512)
    _ = x @ x
    t0 = time.perf_counter()
    for _ in range(5):
        _ = x @ x
    gf = 5 * 2 * 512 ** 3 / (time.perf_counter() - t0) / 1e9
    lines.append("torch sgemm 512^3: %.1f GFLOP/s (%d threads)" % (gf, torch.get_num_threads()))
    if gf < 5.0:
        warnings.append("torch sgemm only %.1f GFLOP/s: reference BLAS or a very busy machine" % gf)
    return lines, warnings


# ---------------------------------------------------------------------------
# Main benchmark
# ---------------------------------------------------------------------------

def fmt_ms(x):
    return "%.3f" % x if x < 10 else ("%.2f" % x if x < 1000 else "%.0f" % x)


def fmt_err(x):
    return "-" if x is None else "%.1e" % x


def bench(args, tool, np):
    sys.path.insert(0, REF_DIR)
    import kvshift_ref  # noqa: E402

    B, H, D = 1, args.heads, args.head_dim
    impls = args.impls
    rows = []
    tmp = tempfile.mkdtemp(prefix="kvshift-bench-")
    try:
        for S in args.sizes:
            paths = write_inputs(np, tmp, B, H, S, D, args.seed + S)
            flop = 4.0 * B * H * S * S * D / 2.0
            results = []
            for impl in impls:
                out = os.path.join(tmp, "out_%s_%d.npy" % (impl, S))
                log("S=%d %s ..." % (S, impl))
                if impl == "fused":
                    r = run_kvshift(tool, paths, FUSED_PIPELINE, args.repeat, out, args.timeout)
                elif impl == "reference":
                    if S > args.reference_max_s:
                        r = {"status": "skipped (O(S^2) memory)"}
                    else:
                        r = run_kvshift(tool, paths, REFERENCE_PIPELINE, args.repeat, out, args.timeout)
                else:
                    r = run_torch(paths, S, args.repeat, args.threads, out, args.timeout)
                r.update({"S": S, "impl": impl, "B": B, "H": H, "D": D, "flop": flop})
                if r["status"] == "ok":
                    r["gflops"] = flop / (r["ms"] * 1e-3) / 1e9
                log("  -> %s%s" % (r["status"], ", %.3f ms, peak %.0f MiB" % (r["ms"], r["peak_mib"])
                                    if r["status"] == "ok" else ""))
                results.append(r)
            # Accuracy against the float64 reference.
            if S <= args.check_max_s and any(r["status"] == "ok" for r in results):
                log("S=%d float64 reference ..." % S)
                ref = kvshift_ref.kv_shift_attention(
                    np.load(paths["q"]), np.load(paths["k"]), np.load(paths["v"]),
                    np.load(paths["kw"]), np.load(paths["vw"]), causal=True)
                for r in results:
                    if r["status"] == "ok":
                        r["max_rel_err"] = kvshift_ref.max_rel_err(np.load(r["output"]), ref)
                del ref
            for r in results:
                if r.get("output") and os.path.exists(r["output"]):
                    os.remove(r["output"])
                r.pop("output", None)
            torch_ms = next((r["ms"] for r in results if r["impl"] == "torch" and r["status"] == "ok"), None)
            for r in results:
                if torch_ms is not None and r["status"] == "ok":
                    r["vs_torch"] = torch_ms / r["ms"]
            for n in ("q", "k", "v", "kw", "vw", "mlir"):
                os.remove(paths[n])
            rows += results
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def markdown_table(rows):
    out = ["| S | impl | median (ms) | GFLOP/s | peak RSS (MiB) | max rel err vs f64 | vs torch |",
           "|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r["status"] == "ok":
            out.append("| %d | %s | %s | %.2f | %.0f | %s | %s |" % (
                r["S"], r["impl"], fmt_ms(r["ms"]), r["gflops"], r["peak_mib"],
                fmt_err(r.get("max_rel_err")),
                "%.2fx" % r["vs_torch"] if "vs_torch" in r else "-"))
        else:
            peak = ("%.0f" % r["peak_mib"] if r.get("peak_mib") and r["status"].startswith("error")
                    else "-")
            out.append("| %d | %s | %s | - | %s | - | - |" % (r["S"], r["impl"], r["status"], peak))
    return "\n".join(out)


def peak_memory_check(args, tool, np):
    """B=1, H=1, D=64, causal f32 at S=512 and S=8192 through the fused
    pipeline: the peak RSS of the two kvshift-run processes must differ by
    at most --mem-limit-mib (64 MiB): no O(S^2) buffer."""
    B, H, D = 1, 1, 64
    sizes = (512, 8192)
    pipeline = args.mem_pipeline
    tmp = tempfile.mkdtemp(prefix="kvshift-mem-")
    res = {}
    try:
        for S in sizes:
            paths = write_inputs(np, tmp, B, H, S, D, args.seed + S)
            out = os.path.join(tmp, "out_%d.npy" % S)
            log("peak-memory-check: S=%d %s ..." % (S, pipeline))
            res[S] = run_kvshift(tool, paths, pipeline, 1, out, args.timeout)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("## peak memory check: B=1, H=1, D=64, causal f32, --pipeline=%s\n" % pipeline)
    print("| S | status | median (ms) | peak RSS (MiB) |")
    print("|---:|---|---:|---:|")
    for S in sizes:
        r = res[S]
        print("| %d | %s | %s | %s |" % (S, r["status"], fmt_ms(r["ms"]) if "ms" in r else "-",
                                         "%.1f" % r["peak_mib"] if "peak_mib" in r else "-"))
    print()
    if any(res[S]["status"] != "ok" for S in sizes):
        print("peak-memory-check: n/a (%s)" % "; ".join(
            "S=%d: %s" % (S, res[S]["status"]) for S in sizes if res[S]["status"] != "ok"))
        return 2
    diff = res[8192]["peak_mib"] - res[512]["peak_mib"]
    ok = diff <= args.mem_limit_mib
    print("peak RSS difference S=8192 - S=512: %.1f MiB (limit %.0f MiB): %s"
          % (diff, args.mem_limit_mib, "PASS" if ok else "FAIL"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"peak_memory_check": {str(k): v for k, v in res.items()},
                       "diff_mib": diff, "limit_mib": args.mem_limit_mib, "pass": ok}, f, indent=1)
    return 0 if ok else 1


def log(msg):
    if not QUIET[0]:
        print("[bench] " + msg, file=sys.stderr, flush=True)


QUIET = [False]


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--_torch-child":
        torch_child(sys.argv[2])
        return 0

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=lambda s: [int(x) for x in s.replace(",", " ").split()],
                    default=None, help="sequence lengths, e.g. '512,2048' (default 512,2048,8192)")
    ap.add_argument("--repeat", type=int, default=None, help="timed runs per measurement (default 5)")
    ap.add_argument("--quick", action="store_true", help="S = 128, 512 and 3 runs (unless given)")
    ap.add_argument("--impls", default="fused,reference,torch",
                    help="comma list from fused, reference, torch (default all)")
    ap.add_argument("--reference-max-s", type=int, default=2048,
                    help="skip the reference pipeline above this S (default 2048)")
    ap.add_argument("--check-max-s", type=int, default=2048,
                    help="compute the float64 reference only up to this S (default 2048)")
    ap.add_argument("--heads", type=int, default=8, help="Hq = Hkv (default 8)")
    ap.add_argument("--head-dim", type=int, default=64, help="D (default 64)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default all CPUs)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per child process")
    ap.add_argument("--kvshift-run", default=None,
                    help="the tool (default $KVSHIFT_TOOLS_DIR/kvshift-run, else build/bin/kvshift-run)")
    ap.add_argument("--json", default=None, help="also write the results as JSON to this file")
    ap.add_argument("--peak-memory-check", action="store_true",
                    help="only: fused pipeline, B=1 H=1 D=64, peak RSS at S=512 vs S=8192")
    ap.add_argument("--mem-pipeline", default=FUSED_PIPELINE, help="pipeline for --peak-memory-check")
    ap.add_argument("--mem-limit-mib", type=float, default=64.0)
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    args = ap.parse_args()
    QUIET[0] = args.quiet
    sys.stdout.reconfigure(line_buffering=True)
    if args.sizes is None:
        args.sizes = [128, 512] if args.quick else [512, 2048, 8192]
    if args.repeat is None:
        args.repeat = 3 if args.quick else 5
    args.impls = [x.strip() for x in args.impls.split(",") if x.strip()]
    for x in args.impls:
        if x not in ("fused", "reference", "torch"):
            ap.error("unknown impl %r (fused, reference, torch)" % x)
    if args.repeat < 1 or any(s < 1 for s in args.sizes):
        ap.error("--repeat and --sizes must be positive")

    tool = args.kvshift_run
    if tool is None:
        d = os.environ.get("KVSHIFT_TOOLS_DIR")
        tool = os.path.join(d, "kvshift-run") if d else os.path.join(ROOT, "build", "bin", "kvshift-run")
    needs_tool = args.peak_memory_check or any(i in ("fused", "reference") for i in args.impls)
    if needs_tool and not (os.path.isfile(tool) and os.access(tool, os.X_OK)):
        print("bench_attention: error: kvshift-run not found at %s (build the project or pass --kvshift-run)"
              % tool, file=sys.stderr)
        return 1

    import numpy as np

    mi = machine_info()
    print("# kvshift CPU attention benchmark\n")
    print("- command: `%s`" % " ".join(shlex.quote(a) for a in [sys.executable] + sys.argv))
    print("- date: %s" % datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S"))
    print("- machine: %s, %s CPU(s) (%s socket(s) x %s core(s) x %s thread(s)), %.1f GiB RAM, "
          "load average at start %s" % (
              mi["model"], mi["cpus"], mi.get("sockets", "?"), mi.get("cores_per_socket", "?"),
              mi.get("threads_per_core", "?"), mi.get("mem_gib", 0.0),
              " ".join("%.2f" % x for x in mi.get("loadavg", ()))))
    print("- kvshift-run: %s" % tool)
    envs = ["%s=%s" % (k, os.environ[k]) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                   "MKL_NUM_THREADS", "KVSHIFT_TOOLS_DIR")
            if k in os.environ]
    if envs:
        print("- environment: " + " ".join(envs))
    if mi.get("loadavg") and mi["loadavg"][0] > 0.5:
        print("- NOTE: the machine is not idle (1-minute load average %.2f at start): other work "
              "competes for the %s CPU(s); timings are noisy, multi-threaded rows suffer most"
              % (mi["loadavg"][0], mi["cpus"]))

    if args.peak_memory_check:
        print()
        return peak_memory_check(args, tool, np)

    warnings = []
    if "torch" in args.impls:
        lines, warnings = blas_report(args.threads)
        for l in lines:
            print("- " + l)
    print("- shape: B=1, Hq=Hkv=%d, D=%d, causal, f32; paper-init weights; %d timed run(s) per row; "
          "torch threads: %d" % (args.heads, args.head_dim, args.repeat, args.threads))
    print()
    for w in warnings:
        banner = "!" * 78
        print(banner + "\n!!! WARNING: " + w + "\n" + banner + "\n")
        print("WARNING: " + w, file=sys.stderr)

    t0 = time.time()
    rows = bench(args, tool, np)
    print(markdown_table(rows))
    print()
    base = [r["import_rss_mib"] for r in rows if r["impl"] == "torch" and "import_rss_mib" in r]
    print("GFLOP/s = 4*B*H*S*S*D/2 (causal) / median time. peak RSS = ru_maxrss of the child process "
          "that ran the row (includes the MLIR JIT, or the Python + torch import%s). vs torch = torch "
          "time / row time at the same S. Error = max|o-r|/max|r| vs the float64 NumPy reference "
          "(S <= %d only)." % (": %.0f MiB right after import" % base[0] if base else "", args.check_max_s))
    print("\nTotal benchmark time: %.0f s; load average at end: %s" % (
        time.time() - t0, " ".join("%.2f" % x for x in os.getloadavg())))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"command": sys.argv, "machine": mi, "warnings": warnings, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
