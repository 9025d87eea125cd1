"""Raising never changes what a program computes: every case of
test/Transforms/raise.mlir (attention written the paper's way, and its
look-alikes) is compiled through the reference pipeline (no raising, the
plain linalg ops as written) and through the fused pipeline (kvshift-raise
first, then the fused kernel), run on the same random inputs (large logits
included), and the results must agree. Cases named neg_* must not be raised,
the others must be (counted with kvshift.opt)."""

import os
import re

import testutil  # noqa: F401  (sets sys.path)
from testutil import Checker

import numpy as np

import kvshift

c = Checker("raise_numerics")
rng = np.random.default_rng(11)
path = os.path.join(testutil.REPO, "test", "Transforms", "raise.mlir")
cases = open(path).read().split("// -----")
c.check(len(cases) >= 10, "only %d cases in raise.mlir" % len(cases))
for case in cases:
    name = re.search(r"func\.func @(\w+)\(", case).group(1)
    raised = kvshift.opt(case, "func.func(kvshift-raise)").count(
        "kvshift.kv_shift_attention")
    want = 0 if name.startswith("neg_") else 1
    c.check(raised == want, "%s: raised %d attention op(s), expected %d"
            % (name, raised, want))
    ref = kvshift.compile(case, pipeline="kvshift-to-llvm-cpu")
    fused = kvshift.compile(case)
    for magnitude in (1.0, 8.0):
        args = [(magnitude * rng.standard_normal(a.shape)).astype(np.float32)
                for a in ref.arguments]
        a, b = ref(*args), fused(*args)
        same_nan = np.array_equal(np.isnan(a), np.isnan(b))
        fa, fb = np.nan_to_num(a), np.nan_to_num(b)
        err = np.abs(fa - fb).max() / max(np.abs(fa).max(), 1e-30)
        c.check(same_nan and err < 2e-5,
                "%s (x%g): max rel diff %.3g between the reference and the "
                "raised+fused pipeline (NaN pattern equal: %s)"
                % (name, magnitude, err, same_nan))
c.finish()
