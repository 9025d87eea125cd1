#!/usr/bin/python3
"""CPU benchmark of causal f32 KV shifting attention (arXiv 2411.19574).

    /usr/bin/python3 bench/bench_attention.py                 # S = 512, 2048, 8192
    /usr/bin/python3 bench/bench_attention.py --quick         # S = 128, 512, 3 runs
    /usr/bin/python3 bench/bench_attention.py --sizes 2048 --repeat 10 --json out.json
    /usr/bin/python3 bench/bench_attention.py --peak-memory-check
    /usr/bin/python3 bench/bench_attention.py --backward      # training step table
    /usr/bin/python3 bench/bench_attention.py --all           # both tables

Shape: B=1, Hq = Hkv = H = 8, D = 64, causal, f32, paper-initialised mixing
weights (a1, b1 ~ U(0,1), a2 = 1 - a1, b2 = 1 - b1). One row per (S, impl):

  fused      kvshift-run --pipeline=kvshift-to-llvm-cpu-fused (n/a if the
             pipeline is not registered in this build)
  fused-rope the same with rope_theta = 10000 (RoPE after the mix); its
             error is against the float64 reference with RoPE, and a line
             after the table gives its time / the fused row's time (medians
             and minima). With --backward it adds "fused-rope fwd+bwd", the
             training step with rope_theta, and the same line.
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

--backward (or --all, after the forward table) measures a training step, one
row per (S, impl): "fused fwd+bwd" / "reference fwd+bwd" run
@train(q, k, v, kw, vw, do) -> (out, dq, dk, dv, dkw, dvw), i.e.
kvshift.kv_shift_attention then kvshift.kv_shift_attention_grad on the same
operands (the fused pipeline then reuses the forward's softmax statistics);
"torch fwd+bwd" is autograd through the same paper code with requires_grad on
q, k, v, kw, vw, timing forward + out.backward(do). GFLOP/s counts 3.5x the
causal forward count (backward = 2.5x forward). The error is the max over the
five gradients of max|g - r| / max|r| against the float64 analytic gradient
kvshift_ref.kv_shift_attention_grad (S <= --grad-check-max-s, default 1024).
A torch row is skipped when its estimated autograd memory (5 S x S float32
tensors per head) exceeds --torch-bwd-max-gib (16) or 80% of MemAvailable.
It ends with the fused pipeline's peak RSS at B=1, H=1, D=64, S=512 and 8192
for the training step and for the grad op alone (O(S*D) growth).
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

ROPE_THETA = 10000.0  # rope_theta of the fused-rope row


def mlir_text(B, H, S, D, entry="attn", rope_theta=None):
    t = "tensor<%dx%dx%dx%dxf32>" % (B, H, S, D)
    w = "tensor<%dx2xf32>" % H
    rope = "" if rope_theta is None else " rope_theta = %.1f" % rope_theta
    return (
        "// generated by bench/bench_attention.py: causal f32 KV shifting attention\n"
        "func.func @%s(%%q: %s, %%k: %s, %%v: %s, %%kw: %s, %%vw: %s) -> %s {\n"
        "  %%o = kvshift.kv_shift_attention %%q, %%k, %%v mix(%%kw, %%vw) causal%s\n"
        "      : (%s, %s, %s, %s, %s) -> %s\n"
        "  return %%o : %s\n"
        "}\n" % (entry, t, t, t, w, w, t, rope, t, t, t, w, w, t, t))


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
    paths["mlir_rope"] = os.path.join(d, "attn_rope_B%d_H%d_S%d_D%d.mlir" % (B, H, S, D))
    with open(paths["mlir_rope"], "w") as f:
        f.write(mlir_text(B, H, S, D, rope_theta=ROPE_THETA))
    return paths


GRAD_NAMES = ("dq", "dk", "dv", "dkw", "dvw")
TRAIN_OUTS = ("out",) + GRAD_NAMES


def mlir_train_text(B, H, S, D, entry="train", grad_only=False, rope_theta=None):
    """@train(q, k, v, kw, vw, do) -> (out, dq, dk, dv, dkw, dvw): the forward
    op then the grad op on the same operands (a training step; the fused
    pipeline lets the backward reuse the forward's softmax statistics).
    grad_only: @grad(...) -> (dq, dk, dv, dkw, dvw), the grad op alone."""
    t = "tensor<%dx%dx%dx%dxf32>" % (B, H, S, D)
    w = "tensor<%dx2xf32>" % H
    ins = "(%s, %s, %s, %s, %s, %s)" % (t, t, t, w, w, t)
    gouts = "(%s, %s, %s, %s, %s)" % (t, t, t, w, w)
    head = ("// generated by bench/bench_attention.py: causal f32 KV shifting attention, %s\n"
            % ("backward (grad op alone)" if grad_only else "training step (forward + backward)"))
    sig = "func.func @%s(%%q: %s, %%k: %s, %%v: %s, %%kw: %s, %%vw: %s, %%do: %s)\n" % (
        entry, t, t, t, w, w, t)
    rope = "" if rope_theta is None else " rope_theta = %.1f" % rope_theta
    grad = ("  %%dq, %%dk, %%dv, %%dkw, %%dvw = kvshift.kv_shift_attention_grad %%q, %%k, %%v "
            "mix(%%kw, %%vw) dout(%%do) causal%s\n      : %s\n      -> %s\n" % (rope, ins, gouts))
    if grad_only:
        return (head + sig + "    -> %s {\n" % gouts + grad +
                "  return %%dq, %%dk, %%dv, %%dkw, %%dvw : %s, %s, %s, %s, %s\n}\n"
                % (t, t, t, w, w))
    fwd = ("  %%o = kvshift.kv_shift_attention %%q, %%k, %%v mix(%%kw, %%vw) causal%s\n"
           "      : (%s, %s, %s, %s, %s) -> %s\n" % (rope, t, t, t, w, w, t))
    return (head + sig + "    -> (%s, %s, %s, %s, %s, %s) {\n" % (t, t, t, t, w, w) + fwd + grad +
            "  return %%o, %%dq, %%dk, %%dv, %%dkw, %%dvw : %s, %s, %s, %s, %s, %s\n}\n"
            % (t, t, t, t, w, w))


def write_train_inputs(np, d, B, H, S, D, seed, grad_only=False):
    """write_inputs plus a random normal upstream gradient `do` and the
    training-step MLIR (paths["mlir"], entry paths["entry"])."""
    paths = write_inputs(np, d, B, H, S, D, seed)
    os.remove(paths["mlir"])
    rng = np.random.default_rng(seed + 7919)
    paths["do"] = os.path.join(d, "do_%d.npy" % S)
    np.save(paths["do"], rng.standard_normal((B, H, S, D), dtype=np.float32))
    entry = "grad" if grad_only else "train"
    paths["entry"] = entry
    paths["mlir"] = os.path.join(d, "%s_B%d_H%d_S%d_D%d.mlir" % (entry, B, H, S, D))
    with open(paths["mlir"], "w") as f:
        f.write(mlir_train_text(B, H, S, D, entry=entry, grad_only=grad_only))
    os.remove(paths["mlir_rope"])
    paths["mlir_rope"] = os.path.join(d, "%s_rope_B%d_H%d_S%d_D%d.mlir" % (entry, B, H, S, D))
    with open(paths["mlir_rope"], "w") as f:
        f.write(mlir_train_text(B, H, S, D, entry=entry, grad_only=grad_only,
                                rope_theta=ROPE_THETA))
    return paths


# ---------------------------------------------------------------------------
# Implementations
# ---------------------------------------------------------------------------

RUN_RE = re.compile(r"median ([0-9.eE+-]+) ms over (\d+) run")
RUN_MINMAX_RE = re.compile(r"\(min ([0-9.eE+-]+) ms, max ([0-9.eE+-]+) ms\)")


def run_kvshift(tool, paths, pipeline, repeat, out_path, timeout):
    """out_path: one .npy path (forward), or a list of them, one per result
    (training step / grad op; paths then has "do" and "entry")."""
    entry = paths.get("entry", "attn")
    ins = ("q", "k", "v", "kw", "vw") + (("do",) if "do" in paths else ())
    outs = out_path if isinstance(out_path, (list, tuple)) else [out_path]
    cmd = [tool, paths["mlir"], "--entry=" + entry]
    cmd += ["--input=" + paths[n] for n in ins]
    cmd += ["--output=" + o for o in outs]
    cmd += ["--pipeline=" + pipeline, "--repeat=%d" % repeat]
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
    mm = RUN_MINMAX_RE.search(err)
    if mm:
        res["min_ms"], res["max_ms"] = float(mm.group(1)), float(mm.group(2))
    res["output"] = out_path
    return res


def run_torch(paths, S, repeat, threads, out_path, timeout):
    """out_path: one .npy path (forward, no_grad), or a list of six (out and
    the five gradients: autograd training step, forward + out.backward(do))."""
    train = isinstance(out_path, (list, tuple))
    cmd = [sys.executable, os.path.abspath(__file__), "--_torch-child",
           json.dumps({"paths": paths, "repeat": repeat, "threads": threads,
                       "out": out_path, "mode": "train" if train else "fwd"})]
    rc, out, err, rss, wall = run_measured(cmd, timeout)
    res = {"cmd": "(child) torch%s, %d threads" % (" autograd" if train else "", threads), "rc": rc,
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

    def attention(q, k, v, kw, vw):
        kh = shift(k, kw)
        vh = shift(v, vw)
        s = torch.matmul(q, kh.transpose(-2, -1)) * scale
        s = s.masked_fill(mask, float("-inf"))
        pr = torch.softmax(s, dim=-1)
        return torch.matmul(pr, vh)

    if cfg.get("mode", "fwd") == "train":
        # Training step: autograd through the same code, requires_grad on
        # q, k, v, kw, vw; timed = forward + out.backward(do).
        do = torch.from_numpy(np.load(p["do"]))
        leaves = [t.clone().requires_grad_(True) for t in (q, k, v, kw, vw)]

        def step():
            for t in leaves:
                t.grad = None
            o = attention(*leaves)
            o.backward(do)
            return o

        o = step()                                         # warm-up
        times = []
        for _ in range(cfg["repeat"]):
            t0 = time.perf_counter()
            o = step()
            times.append((time.perf_counter() - t0) * 1e3)
        outs = [o.detach()] + [t.grad for t in leaves]
        for path, t in zip(cfg["out"], outs):
            np.save(path, t.numpy())
    else:
        with torch.no_grad():
            o = attention(q, k, v, kw, vw)                 # warm-up
            times = []
            for _ in range(cfg["repeat"]):
                t0 = time.perf_counter()
                o = attention(q, k, v, kw, vw)
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
                elif impl == "fused-rope":
                    r = run_kvshift(tool, dict(paths, mlir=paths["mlir_rope"]), FUSED_PIPELINE,
                                    args.repeat, out, args.timeout)
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
                    if r["status"] == "ok" and r["impl"] != "fused-rope":
                        r["max_rel_err"] = kvshift_ref.max_rel_err(np.load(r["output"]), ref)
                del ref
                if any(r["status"] == "ok" and r["impl"] == "fused-rope" for r in results):
                    ref = kvshift_ref.kv_shift_attention(
                        np.load(paths["q"]), np.load(paths["k"]), np.load(paths["v"]),
                        np.load(paths["kw"]), np.load(paths["vw"]), causal=True,
                        rope_theta=ROPE_THETA)
                    for r in results:
                        if r["status"] == "ok" and r["impl"] == "fused-rope":
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
            fused_ms = next((r["ms"] for r in results if r["impl"] == "fused" and r["status"] == "ok"), None)
            for r in results:
                if r["impl"] == "fused-rope" and r["status"] == "ok" and fused_ms:
                    r["vs_fused"] = r["ms"] / fused_ms
            for n in ("q", "k", "v", "kw", "vw", "mlir", "mlir_rope"):
                os.remove(paths[n])
            rows += results
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def torch_train_estimate_bytes(B, H, S, D):
    """Peak memory of the torch autograd training step beyond the import:
    autograd keeps the S x S scores / masked scores / softmax for the
    backward and the backward makes S x S gradients, about 5 S x S float32
    tensors per head at the peak (measured: 756 MiB peak RSS at S=2048, H=8,
    232 MiB of it the import, i.e. ~4 S x S tensors), plus O(S*D) terms."""
    return 5 * B * H * S * S * 4 + 16 * B * H * S * D * 4


def mem_available_bytes():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def bench_backward(args, tool, np):
    """Training-step rows (forward + backward) per (S, impl)."""
    sys.path.insert(0, REF_DIR)
    import kvshift_ref  # noqa: E402

    B, H, D = 1, args.heads, args.head_dim
    rows = []
    tmp = tempfile.mkdtemp(prefix="kvshift-bench-bwd-")
    try:
        for S in args.sizes:
            paths = write_train_inputs(np, tmp, B, H, S, D, args.seed + S)
            fwd_flop = 4.0 * B * H * S * S * D / 2.0
            flop = 3.5 * fwd_flop
            results = []
            for impl in args.impls:
                outs = [os.path.join(tmp, "%s_%s_%d.npy" % (n, impl, S)) for n in TRAIN_OUTS]
                name = impl + " fwd+bwd"
                load1 = os.getloadavg()[0]
                log("S=%d %s (load %.2f) ..." % (S, name, load1))
                if impl == "fused":
                    r = run_kvshift(tool, paths, FUSED_PIPELINE, args.repeat, outs, args.timeout)
                elif impl == "fused-rope":
                    r = run_kvshift(tool, dict(paths, mlir=paths["mlir_rope"]), FUSED_PIPELINE,
                                    args.repeat, outs, args.timeout)
                elif impl == "reference":
                    if S > args.reference_max_s:
                        r = {"status": "skipped (O(S^2) memory)"}
                    else:
                        r = run_kvshift(tool, paths, REFERENCE_PIPELINE, args.repeat, outs, args.timeout)
                else:
                    est = torch_train_estimate_bytes(B, H, S, D)
                    avail = mem_available_bytes()
                    if est > args.torch_bwd_max_gib * 1024 * MIB:
                        r = {"status": "skipped (needs ~%.0f GiB > --torch-bwd-max-gib %.0f)"
                                       % (est / 1024 / MIB, args.torch_bwd_max_gib)}
                    elif avail is not None and est > 0.8 * avail:
                        r = {"status": "skipped (needs ~%.0f GiB, %.0f GiB available)"
                                       % (est / 1024 / MIB, avail / 1024 / MIB)}
                    else:
                        r = run_torch(paths, S, args.repeat, args.threads, outs, args.timeout)
                r.update({"S": S, "impl": name, "B": B, "H": H, "D": D, "flop": flop,
                          "fwd_flop": fwd_flop, "loadavg_1min_at_start": load1})
                if r["status"] == "ok":
                    r["gflops"] = flop / (r["ms"] * 1e-3) / 1e9
                    r["outputs"] = outs
                log("  -> %s%s" % (r["status"], ", %.3f ms, peak %.0f MiB" % (r["ms"], r["peak_mib"])
                                    if r["status"] == "ok" else ""))
                results.append(r)
            # Accuracy of the five gradients against the float64 analytic
            # gradient (kvshift_ref.kv_shift_attention_grad, itself checked
            # against finite differences and torch.autograd by its self-test).
            if S <= args.grad_check_max_s and any(r["status"] == "ok" for r in results):
                log("S=%d float64 reference gradients ..." % S)
                ld = [np.load(paths[n]) for n in ("q", "k", "v", "kw", "vw", "do")]
                for rope in (None, ROPE_THETA):
                    rows_here = [r for r in results if r["status"] == "ok"
                                 and r["impl"].startswith("fused-rope") == (rope is not None)]
                    if not rows_here:
                        continue
                    ref_out = kvshift_ref.kv_shift_attention(*ld[:5], causal=True, rope_theta=rope)
                    ref_grads = kvshift_ref.kv_shift_attention_grad(*ld, causal=True,
                                                                    rope_theta=rope)
                    for r in rows_here:
                        errs = {"out": kvshift_ref.max_rel_err(np.load(r["outputs"][0]), ref_out)}
                        for n, o, g in zip(GRAD_NAMES, r["outputs"][1:], ref_grads):
                            errs[n] = kvshift_ref.max_rel_err(np.load(o), g)
                        r["errors"] = errs
                        r["max_rel_err"] = max(errs[n] for n in GRAD_NAMES)
                    del ref_out, ref_grads
                del ld
            for r in results:
                for o in r.pop("outputs", []):
                    if os.path.exists(o):
                        os.remove(o)
            torch_ms = next((r["ms"] for r in results
                             if r["impl"].startswith("torch") and r["status"] == "ok"), None)
            for r in results:
                if torch_ms is not None and r["status"] == "ok":
                    r["vs_torch"] = torch_ms / r["ms"]
            fused_ms = next((r["ms"] for r in results
                             if r["impl"] == "fused fwd+bwd" and r["status"] == "ok"), None)
            for r in results:
                if r["impl"] == "fused-rope fwd+bwd" and r["status"] == "ok" and fused_ms:
                    r["vs_fused"] = r["ms"] / fused_ms
            for n in ("q", "k", "v", "kw", "vw", "do", "mlir", "mlir_rope"):
                os.remove(paths[n])
            rows += results
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def backward_memory(args, tool, np):
    """Fused pipeline, B=1, H=1, D=64, causal f32: peak RSS of the training
    step (@train) and of the grad op alone (@grad) at each of
    --bwd-mem-sizes (default 512, 8192), one process each, --repeat=1."""
    B, H, D = 1, 1, 64
    res = []
    tmp = tempfile.mkdtemp(prefix="kvshift-bwd-mem-")
    try:
        for grad_only in (False, True):
            for S in args.bwd_mem_sizes:
                paths = write_train_inputs(np, tmp, B, H, S, D, args.seed + S, grad_only=grad_only)
                names = GRAD_NAMES if grad_only else TRAIN_OUTS
                outs = [os.path.join(tmp, "m_%s_%d.npy" % (n, S)) for n in names]
                what = "grad op alone" if grad_only else "fwd+bwd"
                log("backward memory: S=%d fused %s ..." % (S, what))
                r = run_kvshift(tool, paths, FUSED_PIPELINE, 1, outs, args.timeout)
                r.update({"S": S, "what": what})
                res.append(r)
                for f in os.listdir(tmp):
                    os.remove(os.path.join(tmp, f))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return res


def backward_memory_lines(res, sizes):
    out = []
    for what in ("fwd+bwd", "grad op alone"):
        rs = [r for r in res if r["what"] == what]
        parts = []
        for r in rs:
            if r["status"] == "ok":
                parts.append("S=%d: %.1f MiB (%s ms)" % (r["S"], r["peak_mib"], fmt_ms(r["ms"])))
            else:
                parts.append("S=%d: %s" % (r["S"], r["status"]))
        line = "- fused %s, B=1 H=1 D=64: peak RSS %s" % (what, ", ".join(parts))
        ok = [r for r in rs if r["status"] == "ok"]
        if len(ok) == len(rs) and len(ok) >= 2:
            lo, hi = ok[0], ok[-1]
            line += "; difference %.1f MiB (the S x S scores of one head at S=%d alone would be %.0f MiB)" % (
                hi["peak_mib"] - lo["peak_mib"], hi["S"], hi["S"] * hi["S"] * 4 / MIB)
        out.append(line)
    return out


def rope_cost_lines(rows, rope_impl, base_impl):
    """One line per S: the RoPE row's time over the row without RoPE, from
    the medians and from the minima (the runs least disturbed by other
    load), both rows from the same run."""
    printed = False
    for r in rows:
        if r["impl"] != rope_impl or "vs_fused" not in r:
            continue
        base = next((f for f in rows if f["impl"] == base_impl and f["S"] == r["S"]
                     and f["status"] == "ok"), None)
        line = ("RoPE cost at S=%d: %s / %s = %.3f (medians %s ms / %s ms"
                % (r["S"], rope_impl, base_impl, r["vs_fused"], fmt_ms(r["ms"]),
                   fmt_ms(base["ms"])))
        if "min_ms" in r and "min_ms" in base:
            line += "; minima %s ms / %s ms = %.3f" % (
                fmt_ms(r["min_ms"]), fmt_ms(base["min_ms"]), r["min_ms"] / base["min_ms"])
        print(line + "; same run)")
        printed = True
    if printed:
        print()


def markdown_table(rows, err_header="max rel err vs f64"):
    out = ["| S | impl | median (ms) | GFLOP/s | peak RSS (MiB) | %s | vs torch |" % err_header,
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
    ap.add_argument("--impls", default="fused,fused-rope,reference,torch",
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
    ap.add_argument("--backward", action="store_true",
                    help="only the training-step table: forward + backward (grad op) per row")
    ap.add_argument("--all", action="store_true", help="the forward table, then the backward table")
    ap.add_argument("--grad-check-max-s", type=int, default=1024,
                    help="--backward: float64 reference gradients only up to this S (default 1024)")
    ap.add_argument("--torch-bwd-max-gib", type=float, default=16.0,
                    help="--backward: skip a torch row whose estimated autograd memory "
                         "(5 S x S f32 tensors per head) exceeds this (default 16 GiB); "
                         "it is also skipped above 80%% of MemAvailable")
    ap.add_argument("--bwd-mem-sizes", type=lambda s: [int(x) for x in s.replace(",", " ").split()],
                    default=[512, 8192],
                    help="--backward: S values of the fused backward peak-memory line "
                         "(B=1 H=1 D=64; default 512,8192)")
    ap.add_argument("--no-bwd-mem", action="store_true",
                    help="--backward: skip the fused backward peak-memory line")
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
        if x not in ("fused", "fused-rope", "reference", "torch"):
            ap.error("unknown impl %r (fused, fused-rope, reference, torch)" % x)
    if args.repeat < 1 or any(s < 1 for s in args.sizes):
        ap.error("--repeat and --sizes must be positive")

    tool = args.kvshift_run
    if tool is None:
        d = os.environ.get("KVSHIFT_TOOLS_DIR")
        tool = os.path.join(d, "kvshift-run") if d else os.path.join(ROOT, "build", "bin", "kvshift-run")
    needs_tool = args.peak_memory_check or any(i in ("fused", "fused-rope", "reference") for i in args.impls)
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
    print("- shape: B=1, Hq=Hkv=%d, D=%d, causal, f32; paper-init weights%s; %d timed run(s) per row; "
          "torch threads: %d" % (args.heads, args.head_dim,
                                 "; random normal upstream gradient do" if (args.backward or args.all) else "",
                                 args.repeat, args.threads))
    print()
    for w in warnings:
        banner = "!" * 78
        print(banner + "\n!!! WARNING: " + w + "\n" + banner + "\n")
        print("WARNING: " + w, file=sys.stderr)

    t0 = time.time()
    do_fwd = args.all or not args.backward
    do_bwd = args.all or args.backward
    rows, bwd_rows, bwd_mem = [], [], []
    if do_fwd:
        rows = bench(args, tool, np)
        if do_bwd:
            print("## forward\n")
        print(markdown_table(rows))
        print()
        rope_cost_lines(rows, "fused-rope", "fused")

        base = [r["import_rss_mib"] for r in rows if r["impl"] == "torch" and "import_rss_mib" in r]
        print("GFLOP/s = 4*B*H*S*S*D/2 (causal) / median time. peak RSS = ru_maxrss of the child process "
              "that ran the row (includes the MLIR JIT, or the Python + torch import%s). vs torch = torch "
              "time / row time at the same S. Error = max|o-r|/max|r| vs the float64 NumPy reference "
              "(S <= %d only)." % (": %.0f MiB right after import" % base[0] if base else "",
                                   args.check_max_s))
        print("\nload average after the forward table: %s"
              % " ".join("%.2f" % x for x in os.getloadavg()))
    if do_bwd:
        if do_fwd:
            print()
        bwd_rows = bench_backward(args, tool, np)
        print("## backward: training step (forward + backward)\n")
        print(markdown_table(bwd_rows, "max rel err of dq,dk,dv,dkw,dvw vs f64"))
        print()
        rope_cost_lines(bwd_rows, "fused-rope fwd+bwd", "fused fwd+bwd")
        base = [r["import_rss_mib"] for r in bwd_rows
                if r["impl"].startswith("torch") and "import_rss_mib" in r]
        print("Each row runs one training step per timed call: kvshift rows run @train(q, k, v, kw, vw, do) "
              "-> (out, dq, dk, dv, dkw, dvw), kvshift.kv_shift_attention then "
              "kvshift.kv_shift_attention_grad on the same operands (median of kvshift-run --repeat=%d); "
              "torch runs the paper's pad+unfold mix and attention with requires_grad on q, k, v, kw, vw "
              "and times forward + out.backward(do) (median of %d after a warm-up). "
              "GFLOP/s = 3.5 x 4*B*H*S*S*D/2 (forward + backward; the causal forward count, the backward "
              "counted as 2.5x the forward) / median time. peak RSS = ru_maxrss of the child process that "
              "ran the row (includes the MLIR JIT, or the Python + torch import%s). Error = max over "
              "dq, dk, dv, dkw, dvw of max|g-r|/max|r| vs the float64 analytic gradient "
              "kvshift_ref.kv_shift_attention_grad (S <= %d only). vs torch = torch time / row time at "
              "the same S." % (args.repeat, args.repeat,
                               ": %.0f MiB right after import" % base[0] if base else "",
                               args.grad_check_max_s))
        if "fused" in args.impls and not args.no_bwd_mem:
            bwd_mem = backward_memory(args, tool, np)
            print()
            for line in backward_memory_lines(bwd_mem, args.bwd_mem_sizes):
                print(line)
    print("\nTotal benchmark time: %.0f s; load average at end: %s" % (
        time.time() - t0, " ".join("%.2f" % x for x in os.getloadavg())))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"command": sys.argv, "machine": mi, "warnings": warnings, "rows": rows,
                       "backward_rows": bwd_rows, "backward_memory": bwd_mem}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
