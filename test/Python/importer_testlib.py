"""Helpers of the importer tests (test/Python/importer_*.py): run an
imported module through kvshift-run and compare it with PyTorch."""

import os
import subprocess
import tempfile

import testutil  # noqa: F401  (sets sys.path)
from testutil import np, torch

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.environ.get("KVSHIFT_TOOLS_DIR") or os.path.join(testutil.REPO, "build", "bin")
PIPELINES = (None, "kvshift-to-llvm-cpu")       # None: kvshift-run's default (fused)


def run_mlir(text, entry, arrays, nout, pipeline=None):
    """Write text and arrays to a temp dir, run kvshift-run, return the outputs."""
    with tempfile.TemporaryDirectory() as d:
        f = os.path.join(d, "m.mlir")
        with open(f, "w") as fh:
            fh.write(text)
        cmd = [os.path.join(TOOLS, "kvshift-run"), f, "--entry=" + entry]
        for i, a in enumerate(arrays):
            p = os.path.join(d, "in%d.npy" % i)
            np.save(p, a)
            cmd.append("--input=" + p)
        outs = [os.path.join(d, "out%d.npy" % i) for i in range(nout)]
        cmd += ["--output=" + o for o in outs]
        if pipeline:
            cmd.append("--pipeline=" + pipeline)
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
        if r.returncode != 0:
            raise RuntimeError("kvshift-run failed (%s):\n%s" % (pipeline, r.stderr[-4000:]))
        return [np.load(o) for o in outs]


def opt(text, *flags):
    """kvshift-opt text flags -> (returncode, stdout+stderr)."""
    r = subprocess.run([os.path.join(TOOLS, "kvshift-opt")] + list(flags) + ["-"],
                       input=text, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    return r.returncode, r.stdout


def torch_outputs(module, inputs):
    with torch.no_grad():
        ref = module(*inputs)
    if isinstance(ref, torch.Tensor):
        ref = (ref,)
    return [r.detach().double().numpy() for r in ref]


def max_rel(out, ref):
    """max |out - ref| / max |ref| (NaN/inf-aware: positions must agree)."""
    out = np.asarray(out, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if out.shape != ref.shape:
        return float("inf")
    fin = np.isfinite(ref)
    if not np.array_equal(fin, np.isfinite(out)):
        return float("inf")
    if not np.array_equal(ref[~fin], out[~fin]) and not np.all(np.isnan(ref[~fin])):
        return float("inf")
    if not fin.any():
        return 0.0
    den = max(np.abs(ref[fin]).max(), 1e-30)
    return float(np.abs(out[fin] - ref[fin]).max() / den)


def check_module(C, tag, module, inputs, text=None, pipelines=PIPELINES, tol=1e-4,
                 **import_kwargs):
    """Import module (unless text is given), run every pipeline, compare each
    output with PyTorch's eager result. Returns the imported text."""
    import kvshift
    if text is None:
        text = kvshift.import_module(module, inputs, **import_kwargs)
    ref = torch_outputs(module, inputs)
    arrays = text.bind(module, *inputs)
    for p in pipelines:
        try:
            outs = run_mlir(text, text.func_name, arrays, len(ref), p)
        except RuntimeError as e:
            C.check(False, "%s [%s]: %s" % (tag, p or "default", e))
            continue
        C.check(len(outs) == len(ref), "%s: %d outputs" % (tag, len(outs)))
        for i, (o, r) in enumerate(zip(outs, ref)):
            C.close(max_rel(o, r), tol, "%s [%s] output %d" % (tag, p or "default", i))
    return text
