"""Shared setup of the Python tests (test/Python/*.py, run by the *.test files).

Puts <repo>/python (the kvshift package) and <repo>/test/Integration (the
float64 NumPy reference kvshift_ref.py) on sys.path, computed from this file's
location, so the tests need no PYTHONPATH. Never put python/kvshift itself on
sys.path: kvshift/torch.py would then shadow PyTorch.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
for _p in (os.path.join(REPO, "test", "Integration"), os.path.join(REPO, "python")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import numpy as np  # noqa: E402
import torch  # noqa: E402

# Tiny tensors: threads only add overhead, and lit runs tests in parallel.
torch.set_num_threads(1)

import kvshift_ref  # noqa: E402


def t64(a, requires_grad=False):
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64,
                        requires_grad=requires_grad)


def np64(t):
    return t.detach().to(torch.float64).cpu().numpy()


def rel_err(out, ref):
    """Normwise max|out - ref| / max|ref| (kvshift_ref.max_rel_err)."""
    if isinstance(out, torch.Tensor):
        out = np64(out)
    if isinstance(ref, torch.Tensor):
        ref = np64(ref)
    return kvshift_ref.max_rel_err(out, ref)


class Checker(object):
    """Counts checks; check(ok, msg) records a failure instead of stopping,
    finish() prints a summary line and exits 1 if anything failed."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0

    def check(self, ok, msg):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL: %s: %s" % (self.name, msg))
        return ok

    def close(self, value, bound, msg):
        """value <= bound (value is an error measure)."""
        return self.check(value <= bound, "%s: %.3e > %.1e" % (msg, value, bound))

    def raises(self, exc, fn, msg, contains=None):
        try:
            fn()
        except exc as e:
            if contains is not None and contains not in str(e):
                return self.check(False, "%s: message %r lacks %r" % (msg, str(e), contains))
            return self.check(True, msg)
        except Exception as e:  # wrong type
            return self.check(False, "%s: raised %s: %s" % (msg, type(e).__name__, e))
        return self.check(False, "%s: did not raise" % msg)

    def finish(self):
        print("%s: %d passed, %d failed" % (self.name, self.passed, self.failed))
        sys.exit(1 if self.failed else 0)
