"""Calls the C entry point of an ahead-of-time library built by
scripts/kvshift-aot.sh from Inputs/aot-f16-gqa.mlir, through ctypes.

Without a usable device: the call returns, and kvshift_cuda_take_error
reports "no CUDA device" (one line); nothing crashes. With a device: the
result is compared against the float64 NumPy reference.
"""
import ctypes
import sys

import numpy as np

sys.path.insert(0, sys.argv[2])  # test/Integration, for kvshift_ref
import kvshift_ref as ref


def descriptor(rank):
    class Desc(ctypes.Structure):
        _fields_ = [("allocated", ctypes.c_void_p), ("aligned", ctypes.c_void_p),
                    ("offset", ctypes.c_int64), ("sizes", ctypes.c_int64 * rank),
                    ("strides", ctypes.c_int64 * rank)]
    return Desc


def describe(a):
    d = descriptor(a.ndim)()
    d.allocated = d.aligned = a.ctypes.data
    d.offset = 0
    for i, (n, s) in enumerate(zip(a.shape, a.strides)):
        d.sizes[i] = n
        d.strides[i] = s // a.itemsize
    return d


lib = ctypes.CDLL(sys.argv[1])
rng = np.random.default_rng(0)
q = rng.standard_normal((1, 4, 77, 64)).astype(np.float16)
k = rng.standard_normal((1, 2, 99, 64)).astype(np.float16)
v = rng.standard_normal((1, 2, 99, 64)).astype(np.float16)
kw = rng.uniform(0, 1, (2, 2)).astype(np.float32)
vw = rng.uniform(0, 1, (2, 2)).astype(np.float32)
args = [describe(a) for a in (q, k, v, kw, vw)]
result = descriptor(4)()
lib._mlir_ciface_attn(ctypes.byref(result), *[ctypes.byref(a) for a in args])

msg = ctypes.create_string_buffer(1024)
if lib.kvshift_cuda_take_error(msg, len(msg)):
    text = msg.value.decode()
    print("error:", text)
    probe = lib.kvshift_cuda_probe(msg, len(msg))
    assert probe != 0, "an error with a usable device: " + text
    assert text.startswith("no CUDA device"), text
    print("OK: no CUDA device, reported")
else:
    assert list(result.sizes) == [1, 4, 77, 64]
    n = 1 * 4 * 77 * 64
    out = np.ctypeslib.as_array(
        ctypes.cast(result.aligned, ctypes.POINTER(ctypes.c_uint16)), (n,))
    out = out.view(np.float16).reshape(1, 4, 77, 64).astype(np.float64)
    expect = ref.kv_shift_attention(q.astype(np.float64), k.astype(np.float64),
                                    v.astype(np.float64), kw.astype(np.float64),
                                    vw.astype(np.float64), causal=True)
    err = ref.max_rel_err(out, expect)
    print("max_rel_err", err)
    assert err < 5e-3, err
    print("OK: matches the reference")
