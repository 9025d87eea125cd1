"""CPU benchmark: training tokens/s of a compiled train step
(kvshift.train.TrainStep: forward, cross entropy, backward, AdamW in one
compiled function, state updated in place) against PyTorch eager training of
the same model (KVShiftAttention's eager code, i.e. the paper's pad + weighted
sum shift before a plain attention; loss.backward(); torch.optim.AdamW.step()).

    /usr/bin/python3 bench/bench_train.py [--batch 4 --seq 128 --d-model 128
        --layers 2 --heads 4 --kv-heads 2 --vocab 256 --steps 5]

from the repository root after `bash scripts/setup.sh` ($KVSHIFT_BUILD_DIR
selects another build). Both sides get the same model (same initial
weights), the same batches and the same hyperparameters; each timed step is
one full update. Prints the median and minimum step time of each over
--steps steps after one warm-up step, tokens/s = batch * seq / median, and
kvshift / torch (> 1: the compiled step is faster), plus the loss of the
last step of each (they agree to ~1e-5: same training)."""

import argparse
import copy
import os
import statistics
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))

import torch  # noqa: E402

from kvshift.models import KVShiftLlama, LlamaConfig  # noqa: E402
from kvshift.train import TrainStep  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=256)
    ap.add_argument("--rope", type=float, default=10000.0, help="rope_theta (0: none)")
    ap.add_argument("--attention", default="kvshift", choices=["kvshift", "vanilla"])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    # (read by the OpenMP runtime of the compiled code when it is loaded, below)
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    warnings.simplefilter("ignore", UserWarning)

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=a.vocab, d_model=a.d_model, n_layers=a.layers,
                      n_heads=a.heads, n_kv_heads=a.kv_heads,
                      rope_theta=a.rope or None, max_seq_len=max(256, a.seq),
                      attention_impl=a.attention)
    model = KVShiftLlama(cfg)
    eager = copy.deepcopy(model).train()
    hyper = dict(lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    gen = torch.Generator().manual_seed(1)
    batches = [torch.randint(0, a.vocab, (a.batch, a.seq + 1), generator=gen)
               for _ in range(a.steps + 1)]
    print("model: %s, %d parameters; batch %d x seq %d (%d tokens a step), %d threads"
          % (cfg, model.num_parameters(), a.batch, a.seq, a.batch * a.seq, a.threads))

    t0 = time.perf_counter()
    ts = TrainStep(model, a.batch, a.seq, **hyper)
    print("kvshift: imported and compiled in %.1f s; %d MLIR lines; state in place: %s"
          % (time.perf_counter() - t0, len(ts.imported.splitlines()), ts.in_place))
    kv_times = []
    for i, b in enumerate(batches):
        t = time.perf_counter()
        kv_loss = ts.step(b)
        if i:
            kv_times.append(time.perf_counter() - t)

    opt = torch.optim.AdamW(eager.parameters(), **hyper)
    pt_times = []
    for i, b in enumerate(batches):
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = eager.loss(b)
        loss.backward()
        opt.step()
        if i:
            pt_times.append(time.perf_counter() - t)
    pt_loss = float(loss)

    tokens = a.batch * a.seq
    rows = [("kvshift TrainStep", kv_times, kv_loss), ("torch eager + AdamW", pt_times, pt_loss)]
    print("%-22s %12s %12s %14s %12s" % ("", "median (ms)", "min (ms)", "tokens/s", "last loss"))
    for name, ts_, l in rows:
        med = statistics.median(ts_)
        print("%-22s %12.1f %12.1f %14.0f %12.6f" % (name, 1e3 * med, 1e3 * min(ts_),
                                                    tokens / med, l))
    print("kvshift / torch tokens/s: %.3f (medians), %.3f (minima)"
          % (statistics.median(pt_times) / statistics.median(kv_times),
             min(pt_times) / min(kv_times)))


if __name__ == "__main__":
    main()
