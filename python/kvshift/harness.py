"""A training harness: run N steps of a trainer on batches, with a progress
bar, a metrics log, atomic checkpoints, exact resumption and PNG plots.

::

    from kvshift.harness import Batches, EagerTrainer, train, plot
    batches = Batches(make_batch, seed=0)          # make_batch(rng) -> int64 tokens
    trainer = EagerTrainer(model, lr=1e-3, weight_decay=0.1)
    records = train(trainer, batches, steps=1000, out_dir="runs/a",
                    checkpoint_every=100, evaluate=my_eval, eval_every=50)
    plot("runs/a/metrics.jsonl", "runs/a/curves.png")

A *trainer* is any object with

* ``train_step(tokens) -> float``: one optimisation step on a batch
  (``[B, S]`` int64 token ids), returning the loss;
* ``state() -> dict`` of numpy arrays: everything a checkpoint must hold to
  continue exactly (parameters, optimizer moments, step counts);
* ``load_state(dict)``: the inverse;
* ``tokens_per_step(tokens) -> int`` (optional; default ``tokens.size``).

``EagerTrainer`` is the PyTorch eager trainer (``torch.optim.AdamW``); the
compiled train step of kvshift implements the same protocol.

Checkpoints (``out_dir/checkpoint.npz``) hold the trainer's state, the step,
the batch generator's RNG state and the metrics so far; they are written to a
temporary file and renamed over the previous one, so a run killed at any
moment leaves the last complete checkpoint. ``train(..., resume=True)``
continues from it: the batches after the checkpoint are the ones an
uninterrupted run would have seen, so (for a deterministic trainer) the
parameters reached are bit-identical to an uninterrupted run's. The metrics
log (``metrics.jsonl``, one JSON object per line) is rewritten from the
checkpoint's records on resumption, so that it never holds a step twice.
"""

import json
import math
import os
import sys
import time

import numpy as np

__all__ = ["Batches", "EagerTrainer", "train", "plot", "read_metrics",
           "CHECKPOINT", "METRICS"]

CHECKPOINT = "checkpoint.npz"
METRICS = "metrics.jsonl"


class Batches(object):
    """Batches from ``make_batch(rng)`` (``rng``: a numpy Generator), with a
    checkpointable RNG: ``state()`` / ``load_state()`` save and restore the
    position in the stream, so that a resumed run draws the same batches as
    an uninterrupted one. ``make_batch`` may return the tokens or a tuple
    whose first element is the tokens (the rest is passed to ``evaluate``)."""

    def __init__(self, make_batch, seed=0):
        self.make_batch = make_batch
        self.rng = np.random.default_rng(seed)

    def next(self):
        return self.make_batch(self.rng)

    def state(self):
        return self.rng.bit_generator.state

    def load_state(self, state):
        self.rng.bit_generator.state = state


class EagerTrainer(object):
    """PyTorch eager training of a ``kvshift.models.KVShiftLlama``-like model
    (``model(tokens[:, :-1])`` gives logits; next-token cross entropy) with
    ``torch.optim.AdamW``."""

    def __init__(self, model, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0.01):
        import torch
        self.torch = torch
        self.model = model
        self.opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=betas,
                                     eps=eps, weight_decay=weight_decay)
        self.names = [n for n, _ in model.named_parameters()]

    def train_step(self, tokens):
        torch = self.torch
        t = torch.as_tensor(np.asarray(tokens), dtype=torch.int64)
        self.model.train()
        logits = self.model(t[:, :-1])
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), t[:, 1:].reshape(-1))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return float(loss.detach())

    def logits(self, tokens):
        torch = self.torch
        self.model.eval()
        with torch.no_grad():
            t = torch.as_tensor(np.asarray(tokens), dtype=torch.int64)
            return self.model(t).numpy()

    def state(self):
        out = {}
        for n, p in self.model.named_parameters():
            out["param/" + n] = p.detach().numpy().copy()
        params = dict(self.model.named_parameters())
        for n in self.names:
            st = self.opt.state.get(params[n], {})
            for k in ("exp_avg", "exp_avg_sq"):
                if k in st:
                    out["opt/%s/%s" % (k, n)] = st[k].numpy().copy()
            if "step" in st:
                out["opt/step/" + n] = np.asarray(float(st["step"]))
        return out

    def load_state(self, state):
        torch = self.torch
        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for n in self.names:
                key = "param/" + n
                if key not in state:
                    raise KeyError("checkpoint lacks parameter %r" % n)
                params[n].copy_(torch.from_numpy(np.asarray(state[key])))
        for n in self.names:
            p = params[n]
            if "opt/step/" + n in state:
                step = float(state["opt/step/" + n])
            elif "step" in state and "opt/exp_avg/" + n in state:
                step = float(state["step"])  # a CompiledTrainer's checkpoint
            else:
                continue
            if step == 0:
                continue
            self.opt.state[p] = {
                "step": torch.tensor(step),
                "exp_avg": torch.from_numpy(np.array(state["opt/exp_avg/" + n])),
                "exp_avg_sq": torch.from_numpy(np.array(state["opt/exp_avg_sq/" + n])),
            }


# ---------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------

def _save_checkpoint(path, trainer, batches, step, records):
    arrays = {"trainer/" + k: np.asarray(v) for k, v in trainer.state().items()}
    meta = {"step": step, "batches": batches.state(), "records": records,
            "format": 1}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8)
    tmp = path + ".tmp-%d" % os.getpid()
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)  # atomic: a reader sees the old or the new file


def _load_checkpoint(path):
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(bytes(z["meta"]).decode("utf-8"))
        state = {k[len("trainer/"):]: z[k] for k in z.files if k.startswith("trainer/")}
    return meta, state


def _write_metrics(path, records):
    tmp = path + ".tmp-%d" % os.getpid()
    with open(tmp, "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    os.replace(tmp, path)


def read_metrics(path):
    """The records of a metrics.jsonl file."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


# ---------------------------------------------------------------------------
# Progress
# ---------------------------------------------------------------------------

def _fmt_time(s):
    if not math.isfinite(s):
        return "?"
    s = int(round(s))
    return "%d:%02d:%02d" % (s // 3600, s % 3600 // 60, s % 60) if s >= 3600 \
        else "%d:%02d" % (s // 60, s % 60)


class _Progress(object):
    def __init__(self, total, start, stream, enabled):
        self.total, self.start, self.stream = total, start, stream
        self.enabled = enabled
        self.tty = enabled and hasattr(stream, "isatty") and stream.isatty()
        self.t0 = time.perf_counter()
        self.last_print = 0.0

    def update(self, step, rec):
        if not self.enabled:
            return
        now = time.perf_counter()
        done = step - self.start
        rate = done / (now - self.t0) if now > self.t0 else float("nan")
        eta = (self.total - step) / rate if rate > 0 else float("inf")
        width = 24
        filled = int(width * step / max(1, self.total))
        bar = "=" * filled + (">" if filled < width else "") + " " * (width - filled - 1)
        extra = "".join(" %s %.4g" % (k, rec[k]) for k in ("accuracy",) if k in rec)
        line = ("step %d/%d [%s] loss %.4f%s %.0f tok/s ETA %s"
                % (step, self.total, bar[:width], rec["loss"], extra,
                   rec.get("tokens_per_s", float("nan")), _fmt_time(eta)))
        if self.tty:
            self.stream.write("\r" + line + " " * 4)
            if step == self.total:
                self.stream.write("\n")
            self.stream.flush()
        elif now - self.last_print >= 5.0 or step == self.total:
            self.stream.write(line + "\n")
            self.stream.flush()
            self.last_print = now


# ---------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------

def train(trainer, batches, steps, out_dir, checkpoint_every=100,
          evaluate=None, eval_every=None, resume=True, progress=True,
          stream=None, on_step=None):
    """Runs the trainer to ``steps`` steps (counting from 0, or from the
    checkpoint in ``out_dir`` with ``resume``). Returns the metrics records.

    ``batches``: a ``Batches`` (checkpointable) or any iterator of batches
    (then a resumed run skips the batches of the steps already done, which
    reproduces the stream only if the iterator is deterministic).
    ``evaluate(trainer, step) -> dict`` of extra metrics (e.g. accuracy),
    every ``eval_every`` steps and at the last step. ``on_step(step)`` is
    called after each step (tests use it to interrupt a run). Each record:
    step, loss, seconds (of the step), tokens_per_s, wall (seconds since the
    start of this process's run), plus what ``evaluate`` returned."""
    if steps < 0:
        raise ValueError("steps must be >= 0, found %d" % steps)
    if checkpoint_every is not None and checkpoint_every < 1:
        raise ValueError("checkpoint_every must be >= 1 or None, found %r"
                         % (checkpoint_every,))
    os.makedirs(out_dir, exist_ok=True)
    ckpt = os.path.join(out_dir, CHECKPOINT)
    log = os.path.join(out_dir, METRICS)
    stream = stream or sys.stderr
    checkpointable = isinstance(batches, Batches)
    start, records = 0, []
    if resume and os.path.exists(ckpt):
        meta, state = _load_checkpoint(ckpt)
        trainer.load_state(state)
        start, records = int(meta["step"]), list(meta["records"])
        if checkpointable:
            batches.load_state(meta["batches"])
        else:
            for _ in range(start):
                next(batches)
        stream.write("resumed from %s at step %d\n" % (ckpt, start))
    _write_metrics(log, records)
    if start >= steps:
        return records
    bar = _Progress(steps, start, stream, progress)
    t_start = time.perf_counter()
    with open(log, "a") as logf:
        for step in range(start + 1, steps + 1):
            batch = batches.next() if checkpointable else next(batches)
            tokens = batch[0] if isinstance(batch, tuple) else batch
            t0 = time.perf_counter()
            loss = trainer.train_step(tokens)
            dt = time.perf_counter() - t0
            n_tok = trainer.tokens_per_step(tokens) if hasattr(
                trainer, "tokens_per_step") else int(np.asarray(tokens).size)
            rec = {"step": step, "loss": float(loss), "seconds": dt,
                   "tokens_per_s": n_tok / dt if dt > 0 else float("nan"),
                   "wall": time.perf_counter() - t_start}
            if evaluate is not None and eval_every and (step % eval_every == 0
                                                        or step == steps):
                rec.update(evaluate(trainer, step))
            records.append(rec)
            logf.write(json.dumps(rec) + "\n")
            logf.flush()
            bar.update(step, rec)
            if checkpoint_every and (step % checkpoint_every == 0 or step == steps):
                _save_checkpoint(ckpt, trainer, batches if checkpointable else
                                 _NoState(), step, records)
            if on_step is not None:
                on_step(step)
    return records


class _NoState(object):
    def state(self):
        return None


# ---------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------

def plot(runs, png_path, keys=("loss", "accuracy"), title=None):
    """Plots metrics against steps into a PNG, one panel per key that the
    runs have. ``runs``: a metrics.jsonl path, a list of records, or a dict
    label -> (path or records) for several runs on the same axes."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise RuntimeError("plot() needs matplotlib (apt-get install -y "
                           "python3-matplotlib): %s" % e)
    if not isinstance(runs, dict):
        runs = {"": runs}
    data = {}
    for label, r in runs.items():
        data[label] = read_metrics(r) if isinstance(r, str) else list(r)
    keys = [k for k in keys if any(k in rec for recs in data.values() for rec in recs)]
    if not keys:
        raise ValueError("none of the keys %s is in the records" % (keys,))
    fig, axes = plt.subplots(1, len(keys), figsize=(5.5 * len(keys), 4), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for label, recs in data.items():
            pts = [(r["step"], r[key]) for r in recs if key in r]
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, label=label or None)
        ax.set_xlabel("step")
        ax.set_ylabel(key)
        ax.grid(True, alpha=0.3)
        if any(data):
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return png_path
