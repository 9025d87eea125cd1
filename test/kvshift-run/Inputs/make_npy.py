"""Writes the .npy fixtures of the kvshift-run tests into a directory.

Good arrays for the attention entry of attention.mlir and scalar.mlir, plus
malformed files: every kind of bad input a user can hand to kvshift-run.
"""
import os
import struct
import sys

import numpy as np

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(0)


def save(name, array):
    np.save(os.path.join(out, name), array)


def raw(name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)


def header(descr, shape, fortran=False, version=1):
    text = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, "True" if fortran else "False", shape)
    text += " " * ((64 - (10 + len(text) + 1) % 64) % 64) + "\n"
    if version == 1:
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode()
    return b"\x93NUMPY\x02\x00" + struct.pack("<I", len(text)) + text.encode()


# Good inputs: q [1,2,4,8], k/v [1,1,4,8], weights [1,2].
save("q.npy", rng.standard_normal((1, 2, 4, 8)).astype(np.float32))
save("k.npy", rng.standard_normal((1, 1, 4, 8)).astype(np.float32))
save("v.npy", rng.standard_normal((1, 1, 4, 8)).astype(np.float32))
save("w.npy", np.array([[0.6, 0.4]], dtype=np.float32))
# Same q in Fortran order (np.save writes F-contiguous arrays that way).
save("q_fortran.npy", np.asfortranarray(np.load(os.path.join(out, "q.npy"))))
# Version 2.0 header holding the same k.
k = np.load(os.path.join(out, "k.npy"))
raw("k_v2.npy", header("<f4", "(1, 1, 4, 8)", version=2) + k.tobytes())

# Wrong dtype, rank and shape.
save("q_f64.npy", rng.standard_normal((1, 2, 4, 8)))
save("q_rank3.npy", rng.standard_normal((2, 4, 8)).astype(np.float32))
save("q_badshape.npy", rng.standard_normal((1, 2, 5, 8)).astype(np.float32))
save("w_i32.npy", np.ones((1, 2), dtype=np.int32))

# Malformed files.
raw("text.npy", b"this is not an npy file\n")
raw("empty.npy", b"")
good = open(os.path.join(out, "q.npy"), "rb").read()
raw("truncated.npy", good[:-7])
raw("trailing.npy", good + b"\0\0\0\0")
raw("bigendian.npy", header(">f4", "(1, 2, 4, 8)") + b"\0" * 256)
raw("absurd.npy", header("<f4", "(1000000000, 1000000000, 1000000000)") + b"\0" * 16)
raw("large.npy", header("<f4", "(100000, 100000, 100000, 8)") + b"\0" * 16)
raw("overflow.npy", header("<f4", "(99999999999999999, 99999999999999999)"))
raw("badheader.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': <f4  }\n")
raw("badversion.npy", b"\x93NUMPY\x07\x00\x10\x00" + b" " * 16)
raw("complex.npy", header("<c8", "(1, 2, 4, 8)") + b"\0" * 512)
raw("hugeheader.npy", b"\x93NUMPY\x02\x00" + struct.pack("<I", 0xFFFFFFF0) + b"{")

# Scalars and every supported dtype.
save("s_f64.npy", np.array(2.5, dtype=np.float64))
save("s_i32.npy", np.array(7, dtype=np.int32))
save("a_f16.npy", np.array([1.5, -2.0, 65504.0], dtype=np.float16))
save("a_i64.npy", np.array([[1, -2], [3, 4]], dtype=np.int64))
