"""Property test of the importer: randomly generated small torch programs
are imported with kvshift.import_module, compiled with kvshift.compile and
run; each must either match the program computed in float64 (max error
below 1e-4 of max(max |ref|, 0.01), or 4x PyTorch's own float32 error when
that is larger) or be refused with a clear ImporterError
that names the ATen op. Anything else -- a crash, another exception, wrong
numbers, IR that does not compile -- is a failure, printed with the seed and
the program so that it can be replayed and turned into a regression test.

    importer_property.py [--cases N] [--seconds S] [--seed X] [--pipeline P]
                         [--replay SEED,SEED,...]

With --seconds, cases run until the time is up (scripts/fuzz.sh uses this
with a random seed); otherwise --cases (default 25) from --seed (default 1).
"""

import argparse
import random
import sys
import time
import traceback

import testutil  # noqa: F401  (sets sys.path)

import numpy as np
import torch
import torch.nn.functional as F

import kvshift
from kvshift.importer import ImporterError

DIMS = [1, 2, 3, 5, 7, 8]


def rand_shape(rng, rank=None):
    rank = rank or rng.randint(1, 4)
    return [rng.choice(DIMS) for _ in range(rank)]


class Program(torch.nn.Module):
    """A straight-line program: `steps` is a list of (name, fn, arg indices);
    value 0.. are the inputs, each step appends one value."""

    def __init__(self, steps, params, outputs, n_inputs):
        super().__init__()
        self.n_inputs = n_inputs
        self.steps = steps
        self.outputs = outputs
        self.weights = torch.nn.ParameterList(
            [torch.nn.Parameter(p) for p in params])

    def forward(self, *inputs):
        values = list(inputs)
        for _, fn, args in self.steps:
            values.append(fn(self, *[values[a] for a in args]))
        outs = tuple(values[i] for i in self.outputs)
        return outs[0] if len(outs) == 1 else outs

    def describe(self):
        return "; ".join(
            "v%d = %s(%s)" % (self.n_inputs + i, name,
                              ", ".join("v%d" % a for a in args))
            for i, (name, _, args) in enumerate(self.steps)) + \
            " -> " + ", ".join("v%d" % o for o in self.outputs)


def broadcastable(a, b):
    for x, y in zip(reversed(a), reversed(b)):
        if x != y and x != 1 and y != 1:
            return False
    return True


def generate(rng):
    """A random program and its example inputs."""
    n_inputs = rng.randint(1, 2)
    shapes = [rand_shape(rng) for _ in range(n_inputs)]
    if n_inputs == 2 and rng.random() < 0.6:
        shapes[1] = list(shapes[0])  # often compatible
    inputs = [torch.randn(*s) for s in shapes]
    shapes = [list(s) for s in shapes]
    steps, params = [], []

    def add(name, fn, args, shape):
        steps.append((name, fn, args))
        shapes.append(shape)

    for _ in range(rng.randint(1, 6)):
        i = rng.randrange(len(shapes))
        s = shapes[i]
        r = len(s)
        kind = rng.choice(["unary", "unary", "binary", "reduce", "softmax",
                           "norm", "matmul", "linear", "view", "transpose",
                           "slice", "cat", "pad", "repeat", "scalar",
                           "where", "unsupported"])
        if kind == "unary":
            name, fn = rng.choice([
                ("relu", lambda m, x: F.relu(x)),
                ("gelu", lambda m, x: F.gelu(x)),
                ("silu", lambda m, x: F.silu(x)),
                ("tanh", lambda m, x: torch.tanh(x)),
                ("sigmoid", lambda m, x: torch.sigmoid(x)),
                ("exp", lambda m, x: torch.exp(x.clamp(-5, 5))),
                ("neg", lambda m, x: -x),
                ("abs", lambda m, x: x.abs()),
                ("sqrt", lambda m, x: torch.sqrt(x.abs() + 0.5)),
                ("rsqrt", lambda m, x: torch.rsqrt(x * x + 1.0)),
                ("square", lambda m, x: x.pow(2)),
                ("sin", lambda m, x: torch.sin(x)),
            ])
            add(name, fn, [i], s)
        elif kind == "binary":
            js = [j for j in range(len(shapes)) if broadcastable(s, shapes[j])]
            j = rng.choice(js)
            out = [max(a, b) for a, b in zip(
                [1] * (max(r, len(shapes[j])) - r) + s,
                [1] * (max(r, len(shapes[j])) - len(shapes[j])) + shapes[j])]
            name, fn = rng.choice([
                ("add", lambda m, x, y: x + y),
                ("sub", lambda m, x, y: x - y),
                ("mul", lambda m, x, y: x * y),
                ("div", lambda m, x, y: x / (y.abs() + 1.0)),
                ("maximum", lambda m, x, y: torch.maximum(x, y)),
            ])
            add(name, fn, [i, j], out)
        elif kind == "reduce":
            d = rng.randrange(r)
            keep = rng.random() < 0.5
            if not keep and r == 1:
                keep = True
            out = list(s)
            if keep:
                out[d] = 1
            else:
                del out[d]
            name, fn = rng.choice([
                ("sum", lambda m, x, d=d, k=keep: x.sum(d, keepdim=k)),
                ("mean", lambda m, x, d=d, k=keep: x.mean(d, keepdim=k)),
                ("amax", lambda m, x, d=d, k=keep: x.amax(d, keepdim=k)),
            ])
            add("%s[%d,%s]" % (name, d, keep), fn, [i], out)
        elif kind == "softmax":
            d = rng.randrange(r)
            if rng.random() < 0.5:
                add("softmax[%d]" % d, lambda m, x, d=d: x.softmax(d), [i], s)
            else:
                add("log_softmax[%d]" % d,
                    lambda m, x, d=d: F.log_softmax(x, d), [i], s)
        elif kind == "norm":
            # (layer_norm over a dimension of size 1 is exactly 0, which
            # PyTorch computes as rounding noise of size 1e-5.)
            if s[-1] > 1 and rng.random() < 0.5:
                add("layer_norm", lambda m, x: F.layer_norm(x, x.shape[-1:]),
                    [i], s)
            else:
                add("rms_norm", lambda m, x: x * torch.rsqrt(
                    x.pow(2).mean(-1, keepdim=True) + 1e-6), [i], s)
        elif kind in ("matmul", "linear"):
            n = rng.choice(DIMS)
            p = len(params)
            params.append(torch.randn(s[-1], n) / (s[-1] ** 0.5))
            if kind == "matmul":
                add("matmul[w%d]" % p,
                    lambda m, x, p=p: torch.matmul(x, m.weights[p]), [i],
                    s[:-1] + [n])
            else:
                params.append(torch.randn(n))
                add("linear[w%d]" % p,
                    lambda m, x, p=p: F.linear(x, m.weights[p].t(),
                                               m.weights[p + 1]), [i],
                    s[:-1] + [n])
        elif kind == "view":
            numel = int(np.prod(s))
            if rng.random() < 0.5:
                add("flatten", lambda m, x: x.reshape(-1), [i], [numel])
            else:
                add("unsqueeze[0]", lambda m, x: x.unsqueeze(0), [i], [1] + s)
        elif kind == "transpose":
            if r < 2:
                continue
            a, b = rng.sample(range(r), 2)
            out = list(s)
            out[a], out[b] = out[b], out[a]
            add("transpose[%d,%d]" % (a, b),
                lambda m, x, a=a, b=b: x.transpose(a, b).contiguous(), [i], out)
        elif kind == "slice":
            d = rng.randrange(r)
            if s[d] < 2:
                continue
            lo = rng.randrange(s[d] - 1)
            hi = rng.randint(lo + 1, s[d])
            out = list(s)
            out[d] = hi - lo
            add("slice[%d,%d:%d]" % (d, lo, hi),
                lambda m, x, d=d, lo=lo, hi=hi: x.narrow(d, lo, hi - lo), [i],
                out)
        elif kind == "cat":
            d = rng.randrange(r)
            out = list(s)
            out[d] *= 2
            add("cat[%d]" % d, lambda m, x, d=d: torch.cat([x, x * 0.5], d),
                [i], out)
        elif kind == "pad":
            out = list(s)
            out[-1] += 3
            add("pad", lambda m, x: F.pad(x, (1, 2)), [i], out)
        elif kind == "repeat":
            d = rng.randrange(r)
            out = list(s)
            out[d] *= 2
            add("repeat_interleave[%d]" % d,
                lambda m, x, d=d: x.repeat_interleave(2, dim=d), [i], out)
        elif kind == "scalar":
            c = rng.choice([0.5, -2.0, 3.0])
            add("scale[%g]" % c, lambda m, x, c=c: x * c + 1.0, [i], s)
        elif kind == "where":
            add("where", lambda m, x: torch.where(x > 0, x, x * 0.1), [i], s)
        else:
            # An op the importer does not support: must be a clear error.
            d = rng.randrange(r)
            add("cumsum[%d]" % d, lambda m, x, d=d: x.cumsum(d), [i], s)
    if not steps:
        add("relu", lambda m, x: F.relu(x), [0], shapes[0])
    n_values = len(shapes)
    outputs = [n_values - 1]
    if n_values - 2 >= n_inputs and rng.random() < 0.3:
        outputs.append(n_values - 2)
    return Program(steps, params, outputs, n_inputs).eval(), tuple(inputs)


def check_case(seed, pipeline):
    """Returns "ok", "refused" or a failure message."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    model, inputs = generate(rng)
    with torch.no_grad():
        ref = model(*inputs)
        import copy
        model64 = copy.deepcopy(model).double()
        ref64 = model64(*[x.double() for x in inputs])
    refs = ref if isinstance(ref, tuple) else (ref,)
    refs64 = ref64 if isinstance(ref64, tuple) else (ref64,)
    try:
        text = kvshift.import_module(model, inputs)
    except ImporterError as e:
        msg = str(e)
        if "cumsum" in model.describe() and "aten.cumsum" in msg:
            return "refused"
        return "ImporterError on a supported program: %s" % msg
    except Exception:  # noqa: BLE001
        return "import raised %s" % traceback.format_exc().splitlines()[-1]
    if "cumsum" in model.describe():
        return "cumsum was not refused"
    try:
        fn = kvshift.compile(model, example_inputs=inputs, pipeline=pipeline)
        outs = fn(*inputs)
    except Exception:  # noqa: BLE001
        return "compile/run raised %s" % traceback.format_exc().splitlines()[-1]
    outs = outs if isinstance(outs, tuple) else (outs,)
    if len(outs) != len(refs):
        return "%d results, expected %d" % (len(outs), len(refs))
    for o, r, r64 in zip(outs, refs, refs64):
        r, r64 = r.detach().numpy(), r64.detach().numpy()
        if o.shape != r.shape:
            return "result shape %s, expected %s" % (o.shape, r.shape)
        # Against float64: within 1e-4 of max |ref| (floored at 0.01), or
        # within 4x PyTorch's own float32 error when that is larger (sums
        # that cancel to zero are rounding noise in both).
        scale = max(float(np.abs(r64).max()), 1e-2)
        torch_err = float(np.abs(r.astype(np.float64) - r64).max())
        err = float(np.abs(o.astype(np.float64) - r64).max())
        if not err <= max(1e-4 * scale, 4 * torch_err):
            return ("max error %.3g against float64 (PyTorch float32: %.3g, "
                    "max |ref| %.3g)" % (err, torch_err, scale))
    return "ok"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cases", type=int, default=25)
    p.add_argument("--seconds", type=float, default=0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--pipeline", default=None)
    p.add_argument("--replay", default="",
                   help="comma-separated seeds to run (regressions)")
    args = p.parse_args()
    torch.set_num_threads(1)
    counts = {"ok": 0, "refused": 0}
    failures = 0
    start = time.time()
    seed = args.seed
    replay = [int(x) for x in args.replay.split(",") if x]
    if replay:
        for seed in replay:
            result = check_case(seed, args.pipeline)
            if result in counts:
                counts[result] += 1
            else:
                failures += 1
                print("FAIL: importer_property: seed %d: %s" % (seed, result))
        print("importer_property: %d programs (replayed seeds %s): %d imported, "
              "compiled and matched, %d refused with a clear error, %d failed"
              % (len(replay), args.replay, counts["ok"], counts["refused"],
                 failures))
        return 1 if failures else 0
    while True:
        if args.seconds:
            if time.time() - start > args.seconds:
                break
        elif seed - args.seed >= args.cases:
            break
        result = check_case(seed, args.pipeline)
        if result in counts:
            counts[result] += 1
        else:
            failures += 1
            model, _ = generate(random.Random(seed))
            print("FAIL: importer_property: seed %d: %s\n    program: %s"
                  % (seed, result, model.describe()))
        seed += 1
    total = seed - args.seed
    print("importer_property: %d programs (seeds %d..%d): %d imported, compiled "
          "and matched, %d refused with a clear error, %d failed"
          % (total, args.seed, seed - 1, counts["ok"], counts["refused"],
             failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
