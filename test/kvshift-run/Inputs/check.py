"""Checks kvshift-run outputs of good-inputs.test against NumPy."""
import sys

import numpy as np

what, d = sys.argv[1], sys.argv[2]
load = lambda n: np.load(f"{d}/{n}")
if what == "same":  # two files hold the same array
    a, b = load(sys.argv[3]), load(sys.argv[4])
    assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
    assert np.array_equal(a, b), np.abs(a - b).max()
elif what == "close":  # the same array up to f32 rounding
    a, b = load(sys.argv[3]), load(sys.argv[4])
    assert a.shape == b.shape, (a.shape, b.shape)
    err = np.abs(a.astype(np.float64) - b).max() / np.abs(b).max()
    assert err < 1e-5, err
elif what == "scalars":
    y, hh, ii, n = (load(f"r{i}.npy") for i in range(4))
    assert y.shape == () and y.dtype == np.float64 and y == 5.0, y
    h = load("a_f16.npy")
    assert hh.dtype == np.float16 and np.array_equal(hh, h + h), hh
    i = load("a_i64.npy")
    assert ii.dtype == np.int64 and np.array_equal(ii, i * i), ii
    assert n.shape == () and n.dtype == np.int32 and n == 7, n
elif what == "two":
    q = load("q.npy")
    assert np.array_equal(load("r0.npy"), q) and np.array_equal(load("r1.npy"), q)
else:
    raise SystemExit("unknown check " + what)
print("ok", what)
