"""kvshift.harness: a run killed mid-way and resumed from its last checkpoint
reaches bit-identical parameters and the same losses as an uninterrupted run
(PyTorch eager trainer, and kvshift's compiled train step);
the metrics log holds every step once; the checkpoint is replaced atomically
(no temporary files left); the progress bar and the plot; bad arguments.

Usage: harness_train.py                      (the test)
       harness_train.py child DIR KIND       (a run that kills itself at step
                                              KILL_AT; KIND: eager or compiled)
"""

import io
import os
import shutil
import subprocess
import sys
import tempfile

import testutil  # noqa: F401  (sys.path)
from testutil import Checker

import numpy as np
import torch

from kvshift.harness import Batches, EagerTrainer, train, plot, read_metrics, CHECKPOINT, METRICS
from kvshift.models import LlamaConfig, KVShiftLlama

STEPS, EVERY, KILL_AT = 30, 10, 17


def make_batch(rng):
    return rng.integers(0, 37, size=(4, 17), dtype=np.int64)


def new_trainer(kind="eager"):
    torch.manual_seed(3)
    cfg = LlamaConfig(vocab_size=37, d_model=16, n_layers=1, n_heads=2,
                      n_kv_heads=1, max_seq_len=32)
    model = KVShiftLlama(cfg)
    if kind == "compiled":
        from kvshift.train import CompiledTrainer
        return CompiledTrainer(model, batch=4, seq=16, lr=3e-3, weight_decay=0.1)
    return EagerTrainer(model, lr=3e-3, weight_decay=0.1)


def accuracy(trainer, step):
    toks = make_batch(np.random.default_rng(99))
    pred = trainer.logits(toks[:, :-1]).argmax(-1)
    return {"accuracy": float((pred == toks[:, 1:]).mean())}


if len(sys.argv) == 4 and sys.argv[1] == "child":
    def die(step):
        if step == KILL_AT:
            os._exit(137)  # killed: no cleanup, no final checkpoint
    train(new_trainer(sys.argv[3]), Batches(make_batch, seed=5), STEPS, sys.argv[2],
          checkpoint_every=EVERY, evaluate=accuracy, eval_every=5,
          progress=False, on_step=die)
    sys.exit(0)

c = Checker("harness_train")
tmp = tempfile.mkdtemp(prefix="kvshift-harness-")
try:
    # Uninterrupted.
    a_dir = os.path.join(tmp, "a")
    out = io.StringIO()
    t_a = new_trainer()
    rec_a = train(t_a, Batches(make_batch, seed=5), STEPS, a_dir,
                  checkpoint_every=EVERY, evaluate=accuracy, eval_every=5,
                  stream=out)
    c.check([r["step"] for r in rec_a] == list(range(1, STEPS + 1)), "steps of the run")
    c.check("step %d/%d" % (STEPS, STEPS) in out.getvalue() and "ETA" in out.getvalue(),
            "progress output: %r" % out.getvalue()[-200:])
    c.check(rec_a[-1]["loss"] < rec_a[0]["loss"], "the loss went down")
    c.check(all("accuracy" in r for r in rec_a if r["step"] % 5 == 0), "accuracy every 5 steps")

    # Killed at step 17 in another process, then resumed here (from step 10).
    b_dir = os.path.join(tmp, "b")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, os.path.abspath(__file__), "child", b_dir, "eager"],
                       env=env)
    c.check(p.returncode == 137, "the child run was killed (exit %d)" % p.returncode)
    c.check(len(read_metrics(os.path.join(b_dir, METRICS))) == KILL_AT,
            "the killed run logged %d steps" % KILL_AT)
    t_b = new_trainer()
    # A different starting point: resumption must overwrite it.
    with torch.no_grad():
        for prm in t_b.model.parameters():
            prm.add_(1.0)
    err = io.StringIO()
    rec_b = train(t_b, Batches(make_batch, seed=5), STEPS, b_dir,
                  checkpoint_every=EVERY, evaluate=accuracy, eval_every=5,
                  stream=err, progress=False)
    c.check("resumed from" in err.getvalue() and "step %d" % EVERY in err.getvalue(),
            "resumption message: %r" % err.getvalue())
    sa, sb = t_a.state(), t_b.state()
    c.check(sorted(sa) == sorted(sb), "same state keys")
    same = all(np.array_equal(sa[k], sb[k]) for k in sa)
    c.check(same, "parameters and optimizer state bit-identical after resumption")
    la = [r["loss"] for r in rec_a]
    lb = [r["loss"] for r in read_metrics(os.path.join(b_dir, METRICS))]
    c.check(la == lb, "losses of the resumed run equal the uninterrupted run's")
    steps_b = [r["step"] for r in read_metrics(os.path.join(b_dir, METRICS))]
    c.check(steps_b == list(range(1, STEPS + 1)), "the log holds every step once: %s" % steps_b)
    c.check(not [f for f in os.listdir(b_dir) if ".tmp-" in f], "no temporary files left")

    # Running again to the same step does nothing; to more steps continues.
    rec_c = train(t_b, Batches(make_batch, seed=5), STEPS, b_dir, progress=False,
                  stream=io.StringIO())
    c.check(len(rec_c) == STEPS, "a finished run is not rerun")

    # The same with kvshift's compiled train step (its state: parameters,
    # AdamW moments, step count, in the arrays the compiled code updates).
    ca_dir, cb_dir = os.path.join(tmp, "ca"), os.path.join(tmp, "cb")
    t_ca = new_trainer("compiled")
    rec_ca = train(t_ca, Batches(make_batch, seed=5), STEPS, ca_dir,
                   checkpoint_every=EVERY, evaluate=accuracy, eval_every=5,
                   progress=False)
    c.check(rec_ca[-1]["loss"] < rec_ca[0]["loss"], "compiled: the loss went down")
    lea = [r["loss"] for r in rec_a]
    lca = [r["loss"] for r in rec_ca]
    c.check(max(abs(x - y) / abs(y) for x, y in zip(lca, lea)) < 1e-4,
            "compiled and eager losses agree to 1e-4")
    p = subprocess.run([sys.executable, os.path.abspath(__file__), "child", cb_dir,
                        "compiled"], env=env)
    c.check(p.returncode == 137, "the compiled child run was killed (exit %d)" % p.returncode)
    t_cb = new_trainer("compiled")
    train(t_cb, Batches(make_batch, seed=5), STEPS, cb_dir, checkpoint_every=EVERY,
          evaluate=accuracy, eval_every=5, progress=False, stream=io.StringIO())
    sa, sb = t_ca.state(), t_cb.state()
    c.check(sorted(sa) == sorted(sb) and all(np.array_equal(sa[k], sb[k]) for k in sa),
            "compiled: parameters, moments and step bit-identical after resumption")
    c.check([r["loss"] for r in read_metrics(os.path.join(cb_dir, METRICS))] == lca,
            "compiled: losses of the resumed run equal the uninterrupted run's")

    # Checkpoints move between trainers: an eager run's checkpoint resumed
    # by the compiled step, and a compiled run's by the eager one, continue
    # the uninterrupted eager run's losses (1e-4) and step count.
    for first, second in (("eager", "compiled"), ("compiled", "eager")):
        x_dir = os.path.join(tmp, "x-%s-%s" % (first, second))
        train(new_trainer(first), Batches(make_batch, seed=5), EVERY, x_dir,
              checkpoint_every=EVERY, progress=False)
        t_x = new_trainer(second)
        rec_x = train(t_x, Batches(make_batch, seed=5), STEPS, x_dir,
                      checkpoint_every=EVERY, progress=False, stream=io.StringIO())
        lx = [r["loss"] for r in rec_x]
        c.check(len(lx) == STEPS and
                max(abs(x - y) / abs(y) for x, y in zip(lx[EVERY:], lea[EVERY:])) < 1e-4,
                "%s checkpoint resumed by the %s trainer continues the run" % (first, second))
        st = t_x.state()
        steps = int(st["step"]) if "step" in st else int(float(next(
            v for k, v in st.items() if k.startswith("opt/step/"))))
        c.check(steps == STEPS, "%s -> %s: %d steps counted" % (first, second, steps))

    # Plot.
    try:
        import matplotlib  # noqa: F401
        png = plot({"a": os.path.join(a_dir, METRICS), "b": rec_b},
                   os.path.join(tmp, "curves.png"), title="test")
        with open(png, "rb") as f:
            c.check(f.read(8) == b"\x89PNG\r\n\x1a\n", "the plot is a PNG")
    except ImportError:
        print("note: matplotlib missing, plot not checked")

    # Bad arguments.
    c.raises(ValueError, lambda: train(t_a, Batches(make_batch), -1, a_dir),
             "negative steps", "steps must be >= 0")
    c.raises(ValueError, lambda: train(t_a, Batches(make_batch), 3, a_dir,
                                       checkpoint_every=0), "checkpoint_every 0",
             "checkpoint_every must be >= 1")
    c.raises(ValueError, lambda: plot([{"step": 1}], os.path.join(tmp, "x.png")),
             "nothing to plot", "none of the keys")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
c.finish()
