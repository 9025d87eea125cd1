#!/usr/bin/python3
"""CPU benchmark: KV-cache decoding, compiled (kvshift) vs PyTorch eager.

    /usr/bin/python3 bench/bench_decode.py            # about 2 minutes on 2 cores
    /usr/bin/python3 bench/bench_decode.py --quick    # about 30 seconds

Two tables, markdown on stdout (progress on stderr):

1. Greedy generation with the small Llama-style model (kvshift.models,
   KV-shift attention, RoPE theta 10000, GQA), per configuration: decode
   tokens/s of ``kvshift.serve.Generator`` (prefill + decode graphs compiled
   with the fused CPU pipeline, caches updated in place) against
   ``kvshift.models.generate_eager`` (PyTorch eager, the same model and
   weights, the paper's method with the cache done right: mixed, rotated
   rows in the cache and the raw last row kept). Both generate the same
   tokens from the same prompt (checked). After one warm-up generation
   each, the sides run ``--repeat`` times, alternating; PyTorch runs with 1
   thread and with all cores, and the better of the two (its median) is the
   baseline (the thread count is in parentheses); medians are reported.
2. The decode kernel alone (``kvshift.kv_cache_attention``, one query per
   query head, f32): time per step from ``CompiledFunction.time`` (median of
   20 in-place runs) against PyTorch eager ``kvshift.torch.kv_cache_attention``
   (median of 20 after 3 warm-up calls), and the kernel's bandwidth: the bytes of the valid cache
   rows (K and V) it must read / its time, next to numpy's copy bandwidth of
   a buffer of the same size measured in the same run.
"""

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import kvshift  # noqa: E402
from kvshift.models import LlamaConfig, KVShiftLlama, generate_eager  # noqa: E402
from kvshift.serve import Generator  # noqa: E402
import kvshift.torch as kt  # noqa: E402


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def bench_model(name, cfg, batch, prompt_len, n_new, max_len, repeat, pipeline=None):
    torch.manual_seed(0)
    model = KVShiftLlama(cfg).eval()
    t0 = time.perf_counter()
    gen = Generator(model, max_len=max_len, batch=batch, pipeline=pipeline)
    gen._prefill_call(prompt_len)
    compile_s = time.perf_counter() - t0
    prompt = torch.randint(0, cfg.vocab_size, (batch, prompt_len))
    gen.generate(prompt, n_new)  # warm-up (thread pool, first touches)
    threads = sorted({1, os.cpu_count()})
    for t in threads:
        torch.set_num_threads(t)
        with torch.no_grad():
            generate_eager(model, prompt, n_new, max_len)  # warm-up
    ours, theirs = [], {t: [] for t in threads}
    same = True
    for r in range(repeat):
        toks, st = gen.generate(prompt, n_new)
        ours.append(st["decode_s"])
        for t in threads:
            torch.set_num_threads(t)
            with torch.no_grad():
                et, sec = generate_eager(model, prompt, n_new, max_len)
            theirs[t].append(sec)
            same &= np.array_equal(et.numpy(), toks)
        log("  %s run %d: kvshift %.1f ms, eager %s" % (
            name, r, 1e3 * ours[-1], ", ".join(
                "%.1f ms (%d thread%s)" % (1e3 * theirs[t][-1], t, "s" if t > 1 else "")
                for t in threads)))
    torch.set_num_threads(os.cpu_count())
    steps = batch * (n_new - 1)
    a = statistics.median(ours)
    best = min(threads, key=lambda t: statistics.median(theirs[t]))
    b = statistics.median(theirs[best])
    return ("| %s | %d | %d | %d | %.0f | %.0f (%d) | %.2fx | %s | %.1f |"
            % (name, batch, prompt_len, n_new, steps / a, steps / b, best, b / a,
               "yes" if same else "NO", compile_s))


def bench_kernel(B, hq, hkv, D, length, smax, repeat):
    rng = np.random.default_rng(0)
    q = rng.standard_normal((B, hq, 1, D)).astype(np.float32)
    kc = rng.standard_normal((B, hkv, smax, D)).astype(np.float32)
    vc = rng.standard_normal((B, hkv, smax, D)).astype(np.float32)
    ln = np.array(length, np.int64)
    t = lambda *s: "tensor<%sxf32>" % "x".join(map(str, s))
    text = """func.func @decode(%q: {q}, %kc: {c}, %vc: {c}, %len64: i64) -> {q} {{
  %len = arith.index_cast %len64 : i64 to index
  %o = kvshift.kv_cache_attention %q, %kc, %vc length %len causal : ({q}, {c}, {c}, index) -> {q}
  return %o : {q}
}}""".format(q=t(B, hq, 1, D), c=t(B, hkv, smax, D))
    fn = kvshift.compile(text, entry="decode")
    call = fn.prepare_in_place(q, kc, vc, ln)
    out = call()[0]
    ms = call.time(repeat)
    qt, kct, vct = (torch.from_numpy(x) for x in (q, kc, vc))
    ref = kt.kv_cache_attention(qt, kct, vct, length, causal=True).numpy()
    err = float(np.abs(out - ref).max() / np.abs(ref).max())
    for _ in range(3):  # warm-up (the first eager calls are several times slower)
        kt.kv_cache_attention(qt, kct, vct, length, causal=True)
    times = []
    for _ in range(repeat):
        s = time.perf_counter()
        kt.kv_cache_attention(qt, kct, vct, length, causal=True)
        times.append(time.perf_counter() - s)
    torch_ms = 1e3 * statistics.median(times)
    nbytes = 2 * B * hkv * length * D * 4
    src = np.ones(nbytes // 4, np.float32)
    dst = np.empty_like(src)
    ct = []
    for _ in range(repeat):
        s = time.perf_counter()
        np.copyto(dst, src)
        ct.append(time.perf_counter() - s)
    copy_gbs = 2 * nbytes / statistics.median(ct) / 1e9  # read + write
    gbs = nbytes / (ms / 1e3) / 1e9
    return ("| %d | %d/%d | %d | %d | %.3f | %.3f | %.2fx | %.1f | %.1f | %.0f%% | %.1e |"
            % (B, hq, hkv, D, length, ms, torch_ms, torch_ms / ms, gbs, copy_gbs,
               100 * gbs / copy_gbs, err))


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--pipeline", default=None,
                   help="pipeline of the generation table's compiled graphs "
                        "(default kvshift-to-llvm-cpu-fused; "
                        "'kvshift-to-llvm-cpu-fused{vectorize-contractions=false "
                        "vectorize-elementwise=false}' runs the matmuls and "
                        "elementwise ops as scalar loops, as before "
                        "kvshift-vectorize-contractions/-elementwise)")
    a = p.parse_args(argv)
    torch.set_num_threads(os.cpu_count())
    print("# KV-cache decoding on the CPU: kvshift vs PyTorch eager\n")
    print("command: `%s`; %d cores; OMP_NUM_THREADS=%s; torch threads %d; load average %s\n"
          % (" ".join(["bench/bench_decode.py"] + argv), os.cpu_count(),
             os.environ.get("OMP_NUM_THREADS", "unset"), torch.get_num_threads(),
             " ".join("%.2f" % x for x in os.getloadavg())))
    print("## Greedy generation, small Llama-style model (KV-shift attention, RoPE, GQA)\n")
    print("| model | batch | prompt | new tokens | kvshift tok/s | eager tok/s (threads) | speedup | same tokens | compile (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    small = LlamaConfig(vocab_size=256, d_model=64, n_layers=2, n_heads=4, n_kv_heads=2,
                        rope_theta=10000.0, max_seq_len=1024)
    wider = LlamaConfig(vocab_size=512, d_model=256, n_layers=4, n_heads=8, n_kv_heads=2,
                        rope_theta=10000.0, max_seq_len=1024)
    runs = [("d64 L2 H4/2", small, 1, 32, 128, 256)]
    if not a.quick:
        runs += [("d64 L2 H4/2", small, 4, 32, 128, 256),
                 ("d256 L4 H8/2", wider, 1, 32, 128, 256),
                 ("d64 L2 H4/2, long", small, 1, 512, 256, 1024)]
    for r in runs:
        log("model", r[0], "batch", r[2])
        print(bench_model(*r, repeat=a.repeat, pipeline=a.pipeline), flush=True)
    print("\n## Decode kernel alone: kv_cache_attention, one query per head, f32, causal\n")
    print("| B | Hq/Hkv | D | length | kvshift (ms) | torch eager (ms) | speedup | kvshift GB/s | numpy copy GB/s | of copy | max rel err |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    kernels = [(1, 8, 2, 64, 2048, 2048)]
    if not a.quick:
        kernels += [(1, 32, 8, 128, 8192, 8192), (8, 32, 8, 128, 1024, 1024),
                    (1, 8, 2, 64, 300, 8192)]
    for k in kernels:
        log("kernel", k)
        print(bench_kernel(*k, repeat=20), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
