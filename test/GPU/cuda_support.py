"""What the kvshift.cuda tests on the emulator share (cuda_torch.py,
cuda_cache.py): the import paths (python/, scripts/, test/Integration), the
dtypes' unit roundoffs, the relative error, and the record of checks."""
import contextlib
import os
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
for p in (os.path.join(ROOT, "python"), os.path.join(ROOT, "scripts"),
          os.path.join(ROOT, "test", "Integration")):
    if p not in sys.path:
        sys.path.insert(0, p)
import kvshift  # noqa: E402

torch.set_num_threads(1)
EPS = {torch.float32: 2.0 ** -24, torch.float16: 2.0 ** -11, torch.bfloat16: 2.0 ** -8}
RESULTS = []


def _f64(x):
    if isinstance(x, torch.Tensor):
        x = x.detach().double().cpu().numpy()
    return np.asarray(x, np.float64)


def rel(a, b):
    """max |a - b| / max |b| (arrays or tensors)."""
    a, b = _f64(a), _f64(b)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def check(what, ok, detail):
    RESULTS.append(bool(ok))
    print("%s %s: %s" % ("ok  " if ok else "FAIL", what, detail))


def refused(what, fn, message):
    """fn must raise ValueError or kvshift.CompileError holding message."""
    try:
        fn()
    except (ValueError, kvshift.CompileError) as e:
        check(what, message in str(e), str(e))
        return
    check(what, False, "accepted")


@contextlib.contextmanager
def saved_sets_only(kc):
    """Within: every compiled kernel set of kvshift.cuda (``kc``) saved to a
    directory that $KVSHIFT_CUDA_KERNELS names, the cache emptied, and the
    compiler made to fail, so that what runs must read saved sets. Yields
    the saved paths."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = kc.save_kernels(tmp, list(kc._cache.values()))
        kc._cache.clear()
        os.environ["KVSHIFT_CUDA_KERNELS"] = tmp
        real_opt = kc.runtime.opt

        def no_compiler(*a, **k):
            raise kvshift.CompileError("no compiler here")
        kc.runtime.opt = no_compiler
        try:
            yield paths
        finally:
            kc.runtime.opt = real_opt
            del os.environ["KVSHIFT_CUDA_KERNELS"]
