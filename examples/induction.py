"""The induction-head experiment of the KV shifting attention paper (arXiv
2411.19574, section 3.2), scaled to a 2-core CPU.

The paper's claim: a 1-layer transformer with KV shifting attention learns
induction heads (predict the token that followed the previous occurrence of
the current token), like a 2-layer vanilla transformer and faster, while a
1-layer vanilla transformer cannot (induction needs two attention steps
without the shift: one to copy the previous token into each position, one to
find the match).

Data: sequences of S + 1 tokens from a vocabulary of V. Each sequence has its
own period P (uniform in [p_min, p_max]): a segment of P distinct random
tokens repeated to the end. Target i (the token at position i, predicted
from positions < i) is determined by an earlier occurrence exactly when
i >= P + 1 (the current token x[i-1] occurred at i-1-P and was followed by
x[i-P] = x[i]); accuracy is measured at those targets only. The period
varies per sequence, so copying "the token at a fixed offset" with absolute
positions does not solve the task; positions are RoPE (as in the paper), so
the models have no absolute positions at all.

Models (same width): 1-layer vanilla, 1-layer KV-shift, 2-layer vanilla
(kvshift.models.KVShiftLlama), trained with the same budget (steps, batch,
AdamW) and several seeds each, through kvshift.harness (checkpoints in
--out). The default trainer is kvshift's compiled train step
(``kvshift.train.CompiledTrainer``); ``--trainer eager`` uses PyTorch eager
with AdamW instead, for comparison.

    /usr/bin/python3 examples/induction.py                  # the full run (about 15 min)
    /usr/bin/python3 examples/induction.py --quick          # a smoke test
    /usr/bin/python3 examples/induction.py --docs docs      # also write docs/Induction.md
                                                            # and docs/induction.png
"""

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from kvshift.harness import Batches, EagerTrainer, train, plot  # noqa: E402
from kvshift.models import LlamaConfig, KVShiftLlama  # noqa: E402

MODELS = [("1-layer vanilla", 1, "vanilla"), ("1-layer KV-shift", 1, "kvshift"),
          ("2-layer vanilla", 2, "vanilla")]


def make_sequences(rng, batch, seq, vocab, p_min, p_max):
    """[batch, seq + 1] int64 tokens and the [batch, seq] mask of the logits
    positions whose target is determined by an earlier occurrence."""
    toks = np.empty((batch, seq + 1), np.int64)
    mask = np.zeros((batch, seq), bool)
    for b in range(batch):
        p = int(rng.integers(p_min, p_max + 1))
        seg = rng.choice(vocab, size=p, replace=False)
        toks[b] = np.resize(seg, seq + 1)
        # logits position j predicts token j + 1; determined iff j + 1 >= p + 1
        mask[b, p:] = True
    return toks, mask


def induction_accuracy(logits, toks, mask):
    pred = logits.argmax(-1)
    return float((pred == toks[:, 1:])[mask].mean())


def make_trainer(kind, model, args):
    if kind == "eager":
        return EagerTrainer(model, lr=args.lr, weight_decay=args.weight_decay)
    try:
        from kvshift.train import CompiledTrainer
    except ImportError as e:
        raise SystemExit("--trainer compiled: kvshift's compiled train step is "
                         "not available (%s)" % e)
    return CompiledTrainer(model, batch=args.batch, seq=args.seq, lr=args.lr,
                           weight_decay=args.weight_decay)


def run_one(label, layers, impl, seed, args, eval_set):
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=args.vocab, d_model=args.d_model, n_layers=layers,
                      n_heads=args.heads, n_kv_heads=args.heads,
                      rope_theta=10000.0, max_seq_len=args.seq + 1,
                      attention_impl=impl)
    model = KVShiftLlama(cfg)
    trainer = make_trainer(args.trainer, model, args)
    etoks, emask = eval_set

    def evaluate(tr, step):
        if hasattr(tr, "logits"):
            logits = tr.logits(etoks[:, :-1])
        else:
            with torch.no_grad():
                logits = model.eval()(torch.from_numpy(etoks[:, :-1])).numpy()
        return {"accuracy": induction_accuracy(logits, etoks, emask)}

    batches = Batches(lambda rng: make_sequences(rng, args.batch, args.seq, args.vocab,
                                                 args.p_min, args.p_max)[0],
                      seed=1000 + seed)
    out_dir = os.path.join(args.out, "%s-seed%d" % (label.replace(" ", "_"), seed))
    t0 = time.perf_counter()
    records = train(trainer, batches, args.steps, out_dir,
                    checkpoint_every=args.checkpoint_every, evaluate=evaluate,
                    eval_every=args.eval_every, progress=not args.quiet)
    return records, time.perf_counter() - t0, out_dir


def first_step(records, threshold):
    for r in records:
        if r.get("accuracy", -1) >= threshold:
            return r["step"]
    return None


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--vocab", type=int, default=64)
    p.add_argument("--p-min", type=int, default=8)
    p.add_argument("--p-max", type=int, default=24)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--checkpoint-every", type=int, default=250)
    p.add_argument("--trainer", choices=["eager", "compiled"], default="compiled")
    p.add_argument("--out", default=os.path.join("runs", "induction"))
    p.add_argument("--docs", default=None, help="write Induction.md and induction.png here")
    p.add_argument("--quick", action="store_true", help="60 steps, 1 seed")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.seeds, args.eval_every = 60, 1, 20
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    eval_set = make_sequences(np.random.default_rng(12345), 256, args.seq, args.vocab,
                              args.p_min, args.p_max)
    results = {}
    t_all = time.perf_counter()
    for label, layers, impl in MODELS:
        for seed in range(args.seeds):
            print("== %s, seed %d" % (label, seed), file=sys.stderr, flush=True)
            recs, secs, out_dir = run_one(label, layers, impl, seed, args, eval_set)
            results.setdefault(label, []).append((recs, secs, out_dir))
    total = time.perf_counter() - t_all

    rows = []
    for label, runs in results.items():
        finals = [next(r["accuracy"] for r in reversed(recs) if "accuracy" in r)
                  for recs, _, _ in runs]
        s50 = [first_step(recs, 0.5) for recs, _, _ in runs]
        s90 = [first_step(recs, 0.9) for recs, _, _ in runs]
        tps = [statistics.median(r["tokens_per_s"] for r in recs) for recs, _, _ in runs]
        rows.append((label, finals, s50, s90, tps))
    fmt_steps = lambda xs: ", ".join("-" if x is None else str(x) for x in xs)
    lines = ["| model | final induction accuracy (per seed) | mean | first step >= 50% | first step >= 90% | train tokens/s (median) |",
             "|---|---|---|---|---|---|"]
    for label, finals, s50, s90, tps in rows:
        lines.append("| %s | %s | %.3f | %s | %s | %.0f |" % (
            label, ", ".join("%.3f" % f for f in finals), statistics.mean(finals),
            fmt_steps(s50), fmt_steps(s90), statistics.median(tps)))
    table = "\n".join(lines)
    cmd = "/usr/bin/python3 examples/induction.py " + " ".join(argv)
    header = ("%d steps, batch %d, S = %d, vocab %d, periods %d..%d, d_model %d, %d heads, "
              "RoPE theta 10000, AdamW lr %g wd %g, %d seed(s), trainer %s; %.0f s in all"
              % (args.steps, args.batch, args.seq, args.vocab, args.p_min, args.p_max,
                 args.d_model, args.heads, args.lr, args.weight_decay, args.seeds,
                 args.trainer, total))
    print(header)
    print()
    print(table)
    curves = {}
    for label, runs in results.items():
        by_step = {}
        for recs, _, _ in runs:
            for r in recs:
                if "accuracy" in r:
                    by_step.setdefault(r["step"], []).append(r["accuracy"])
        curves[label] = [{"step": s, "accuracy": statistics.mean(v),
                          "loss": float("nan")} for s, v in sorted(by_step.items())]
    summary = {"command": cmd, "header": header, "table": table,
               "runs": {label: [d for _, _, d in runs] for label, runs in results.items()}}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    png = plot(curves, os.path.join(args.out, "induction.png"), keys=("accuracy",),
               title="induction accuracy (mean over %d seed(s))" % args.seeds)
    if args.docs:
        import shutil
        shutil.copy(png, os.path.join(args.docs, "induction.png"))
        write_docs(os.path.join(args.docs, "Induction.md"), cmd, header, table)
    return 0


def write_docs(path, cmd, header, table):
    text = open(path).read() if os.path.exists(path) else ""
    begin, end = "<!-- induction-results:begin -->", "<!-- induction-results:end -->"
    block = "%s\n\n`%s`\n\n%s\n\n%s\n\n![induction accuracy against steps](induction.png)\n\n%s" % (
        begin, cmd, header, table, end)
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text += "\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
