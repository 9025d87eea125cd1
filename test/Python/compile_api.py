"""kvshift.compile: MLIR text -> a callable on numpy arrays / torch tensors,
through the C++ runtime (libKVShiftRuntimeC.so, ctypes). Numbers are checked
against the independent float64 reference of test/Integration/kvshift_ref.py;
every bad input must raise a clear Python exception, never crash."""

import os
import subprocess
import sys

import testutil  # noqa: F401  (sets sys.path)
from testutil import Checker, rel_err

import numpy as np
import torch

import kvshift
import kvshift_ref

c = Checker("compile_api")
rng = np.random.default_rng(20261126)

ATTN = """
func.func @attn(%q: tensor<{B}x{Hq}x{Sq}x{D}xf32>, %k: tensor<{B}x{Hkv}x{Sk}x{D}xf32>,
                %v: tensor<{B}x{Hkv}x{Sk}x{D}xf32>, %kw: tensor<{Hkv}x2xf32>,
                %vw: tensor<{Hkv}x2xf32>) -> tensor<{B}x{Hq}x{Sq}x{D}xf32> {{
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) {causal} scale = {scale:e}
      : (tensor<{B}x{Hq}x{Sq}x{D}xf32>, tensor<{B}x{Hkv}x{Sk}x{D}xf32>,
         tensor<{B}x{Hkv}x{Sk}x{D}xf32>, tensor<{Hkv}x2xf32>, tensor<{Hkv}x2xf32>)
      -> tensor<{B}x{Hq}x{Sq}x{D}xf32>
  return %o : tensor<{B}x{Hq}x{Sq}x{D}xf32>
}}
"""


def attn_text(B, Hq, Hkv, Sq, Sk, D, causal, scale, dynamic=False):
    d = lambda n: "?" if dynamic else n  # noqa: E731
    return ATTN.format(B=B, Hq=Hq, Hkv=Hkv, Sq=d(Sq), Sk=d(Sk), D=D,
                       causal="causal" if causal else "", scale=scale)


def inputs(B, Hq, Hkv, Sq, Sk, D, big=1.0):
    f = lambda *s: (big * rng.standard_normal(s)).astype(np.float32)  # noqa
    return [f(B, Hq, Sq, D), f(B, Hkv, Sk, D), f(B, Hkv, Sk, D),
            rng.uniform(-1.5, 1.5, (Hkv, 2)).astype(np.float32),
            rng.uniform(-1.5, 1.5, (Hkv, 2)).astype(np.float32)]


def expect_error(kind, fragment, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except kind as e:
        return c.check(fragment in str(e),
                       "%s raised %s(%r), expected the message to contain %r"
                       % (fn, type(e).__name__, str(e), fragment))
    except Exception as e:  # noqa: BLE001
        return c.check(False, "expected %s containing %r, got %s: %s"
                       % (kind.__name__, fragment, type(e).__name__, e))
    return c.check(False, "expected %s containing %r, nothing raised"
                   % (kind.__name__, fragment))


# 1. The forward op, both pipelines, static and dynamic shapes.
cases = [
    (1, 2, 1, 1, 1, 8, True),     # S = 1
    (2, 4, 2, 13, 13, 24, True),  # GQA, odd S, D not a power of two
    (1, 2, 2, 70, 70, 16, False),  # S not a multiple of the 64-row tile
    (1, 4, 1, 5, 19, 8, True),    # Sq < Sk, bottom-right causal, MQA
]
for pipeline in ("kvshift-to-llvm-cpu-fused", "kvshift-to-llvm-cpu"):
    for (B, Hq, Hkv, Sq, Sk, D, causal) in cases:
        scale = 1.0 / np.sqrt(D)
        for dynamic in (False, True):
            fn = kvshift.compile(attn_text(B, Hq, Hkv, Sq, Sk, D, causal,
                                           scale, dynamic),
                                 pipeline=pipeline)
            args = inputs(B, Hq, Hkv, Sq, Sk, D)
            saved = [a.copy() for a in args]
            out = fn(*args)
            ref = kvshift_ref.kv_shift_attention(
                *[a.astype(np.float64) for a in args], scale=scale,
                causal=causal)
            err = rel_err(out, ref)
            c.check(out.dtype == np.float32 and out.shape == ref.shape,
                    "result %s %s, expected float32 %s" % (out.dtype,
                                                           out.shape,
                                                           ref.shape))
            c.check(err < 1e-5, "%s %s dynamic=%s: rel err %.3g"
                    % (pipeline, (B, Hq, Hkv, Sq, Sk, D, causal), dynamic,
                       err))
            c.check(all((a == s).all() for a, s in zip(args, saved)),
                    "the inputs were modified")

# Torch tensors in, non-contiguous views, large logits.
fn = kvshift.compile(attn_text(1, 2, 1, 9, 9, 8, True, 0.35))
args = inputs(1, 2, 1, 9, 9, 8, big=30.0)
q_t = np.ascontiguousarray(args[0].transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
c.check(not q_t.flags["C_CONTIGUOUS"], "the test view should be strided")
out = fn(torch.from_numpy(q_t), torch.from_numpy(args[1]), args[2], args[3],
         torch.from_numpy(args[4]))
ref = kvshift_ref.kv_shift_attention(*[a.astype(np.float64) for a in args],
                                     scale=0.35, causal=True)
c.check(isinstance(out, np.ndarray), "the result is not a numpy array")
c.check(rel_err(out, ref) < 1e-5, "torch/strided inputs: rel err %.3g"
        % rel_err(out, ref))
ms = fn.time(*args, repeat=3)
c.check(isinstance(ms, float) and ms > 0, "time() returned %r" % (ms,))

# 2. The gradient op: five results come back as a tuple.
GRAD = """
func.func @g(%q: tensor<1x4x7x8xf32>, %k: tensor<1x2x7x8xf32>, %v: tensor<1x2x7x8xf32>,
             %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<1x4x7x8xf32>)
    -> (tensor<1x4x7x8xf32>, tensor<1x2x7x8xf32>, tensor<1x2x7x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) {
  %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) causal
      : (tensor<1x4x7x8xf32>, tensor<1x2x7x8xf32>, tensor<1x2x7x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x4x7x8xf32>)
      -> (tensor<1x4x7x8xf32>, tensor<1x2x7x8xf32>, tensor<1x2x7x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return %dq, %dk, %dv, %dkw, %dvw : tensor<1x4x7x8xf32>, tensor<1x2x7x8xf32>, tensor<1x2x7x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>
}
"""
g = kvshift.compile(GRAD)
args = inputs(1, 4, 2, 7, 7, 8) + [rng.standard_normal((1, 4, 7, 8)).astype(np.float32)]
outs = g(*args)
refs = kvshift_ref.kv_shift_attention_grad(*[a.astype(np.float64) for a in args],
                                           causal=True)
c.check(isinstance(outs, tuple) and len(outs) == 5, "grad: %r results" % (type(outs),))
for name, o, r in zip(("dq", "dk", "dv", "dkw", "dvw"), outs, refs):
    c.check(rel_err(o, r) < 1e-4, "grad %s: rel err %.3g" % (name, rel_err(o, r)))

# 3. bf16 arguments travel as float32; torch bfloat16 tensors are widened.
BF16 = """
func.func @a(%q: tensor<1x1x6x8xbf16>, %k: tensor<1x1x6x8xbf16>, %v: tensor<1x1x6x8xbf16>,
             %kw: tensor<1x2xf32>, %vw: tensor<1x2xf32>) -> tensor<1x1x6x8xbf16> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
      : (tensor<1x1x6x8xbf16>, tensor<1x1x6x8xbf16>, tensor<1x1x6x8xbf16>, tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x1x6x8xbf16>
  return %o : tensor<1x1x6x8xbf16>
}
"""
fb = kvshift.compile(BF16)
c.check([a.element for a in fb.arguments] == ["bf16"] * 3 + ["f32"] * 2,
        "bf16 signature: %r" % [a.element for a in fb.arguments])
args = inputs(1, 1, 1, 6, 6, 8)
rounded = [kvshift_ref.round_to_bf16(a.astype(np.float64)) for a in args[:3]] + \
    [a.astype(np.float64) for a in args[3:]]
ref = kvshift_ref.kv_shift_attention(*rounded, causal=True)
out = fb(*args)
c.check(out.dtype == np.float32, "bf16 result dtype %s" % out.dtype)
c.check(rel_err(out, ref) < 1e-2, "bf16: rel err %.3g" % rel_err(out, ref))
out_t = fb(*[torch.from_numpy(a).bfloat16() for a in args[:3]], args[3], args[4])
c.check((out_t == out).all(), "torch bfloat16 inputs give other results")

# 4. Scalars and integers.
SCALAR = """
#map = affine_map<(d0) -> (d0)>
func.func @axpy(%a: f32, %x: tensor<5xf32>, %n: tensor<3xi64>) -> (tensor<5xf32>, tensor<3xi64>, f32) {
  %e = tensor.empty() : tensor<5xf32>
  %r = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]}
      ins(%x : tensor<5xf32>) outs(%e : tensor<5xf32>) {
  ^bb0(%in: f32, %o: f32):
    %m = arith.mulf %in, %a : f32
    linalg.yield %m : f32
  } -> tensor<5xf32>
  %ei = tensor.empty() : tensor<3xi64>
  %ri = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]}
      ins(%n : tensor<3xi64>) outs(%ei : tensor<3xi64>) {
  ^bb0(%in: i64, %o: i64):
    %s = arith.addi %in, %in : i64
    linalg.yield %s : i64
  } -> tensor<3xi64>
  return %r, %ri, %a : tensor<5xf32>, tensor<3xi64>, f32
}
"""
fs = kvshift.compile(SCALAR)
x = np.arange(5, dtype=np.float32)
n = np.array([1, -2, 1 << 40], dtype=np.int64)
r, ri, a = fs(2.5, x, n)
c.check((r == 2.5 * x).all() and (ri == 2 * n).all() and a == np.float32(2.5),
        "scalar/int results %r %r %r" % (r, ri, a))
c.check(a.shape == () and ri.dtype == np.int64, "scalar result %r" % (a,))

# kvshift.opt: a pass pipeline on text.
lowered = kvshift.opt(attn_text(1, 2, 1, 4, 4, 8, True, 0.3), "kvshift-decompose")
c.check("kvshift.kv_shift_attention" not in lowered and "linalg.generic" in lowered,
        "opt(kvshift-decompose) left the op or made no linalg")
expect_error(kvshift.CompileError, "pipeline 'no-such-pass'", kvshift.opt,
             GRAD, "no-such-pass")
expect_error(kvshift.CompileError, "cannot parse", kvshift.opt, "func.func @",
             "canonicalize")

# 5. Bad input: clear exceptions, the process survives.
fn = kvshift.compile(attn_text(1, 2, 1, 4, 4, 8, True, 0.3, dynamic=True))
good = inputs(1, 2, 1, 4, 4, 8)
expect_error(TypeError, "@attn takes 5 argument(s), got 4", fn, *good[:4])
expect_error(ValueError, "expected dtype float32, found float64", fn,
             good[0].astype(np.float64), *good[1:])
expect_error(ValueError, "argument #3 of @attn", fn, good[0], good[1],
             good[2], good[3].astype(np.int32), good[4])
expect_error(ValueError, "expected rank 4, found rank 3", fn, good[0][0],
             *good[1:])
expect_error(ValueError, "dimension 1 must be 2", fn,
             np.zeros((1, 3, 4, 8), np.float32), *good[1:])
expect_error(ValueError, "the input shapes do not fit @attn", fn,
             np.zeros((1, 2, 5, 8), np.float32), *good[1:])   # causal Sq > Sk
expect_error(ValueError, "the input shapes do not fit @attn", fn,
             good[0], good[1], np.zeros((1, 1, 3, 8), np.float32), *good[3:])
expect_error(ValueError, "expected a CPU tensor", fn,
             torch.zeros(1, 2, 4, 8, device="meta"), *good[1:])
out = fn(*good)  # still usable after the errors
c.check(out.shape == (1, 2, 4, 8), "after errors: %r" % (out.shape,))

expect_error(kvshift.CompileError, "cannot parse", kvshift.compile,
             "func.func @f(", entry="f")
expect_error(kvshift.CompileError, "query heads (Hq = 3, dim 1 of 'q') must be a multiple",
             kvshift.compile, attn_text(1, 3, 2, 4, 4, 8, True, 0.3))
expect_error(kvshift.CompileError, "no function @nope", kvshift.compile,
             GRAD, entry="nope")
expect_error(kvshift.CompileError, "several functions (@g, @attn)",
             kvshift.compile, GRAD + attn_text(1, 2, 1, 4, 4, 8, True, 0.3))
expect_error(kvshift.CompileError, "defines no public func.func",
             kvshift.compile, "module {}")
expect_error(kvshift.CompileError, "pipeline 'no-such-pipeline'",
             kvshift.compile, GRAD, pipeline="no-such-pipeline")
expect_error(kvshift.CompileError, "is not an llvm.func", kvshift.compile,
             GRAD, pipeline="canonicalize")
expect_error(kvshift.CompileError, "which cannot be bound", kvshift.compile,
             "func.func @u(%x: tensor<4xi1>) -> tensor<4xi1> {\n"
             "  return %x : tensor<4xi1>\n}\n")
# No GPU on the test machines: target="cuda" says so (CPU fallback is never
# silent).
expect_error(kvshift.CompileError, "no CUDA device", kvshift.compile,
             attn_text(1, 2, 1, 4, 4, 8, True, 0.3), target="cuda")
expect_error(ValueError, "expected 'cpu' or 'cuda'", kvshift.compile, GRAD,
             target="tpu")
expect_error(ValueError, "needs example_inputs", kvshift.compile,
             torch.nn.Linear(2, 2))
expect_error(TypeError, "MLIR text or a torch.nn.Module", kvshift.compile, 42)

# A buffer over the memory limit, and one larger than the machine: an
# ExecutionError, and the function (and the process) still work afterwards.
FILL = """
func.func @fill(%x: tensor<4xf32>) -> tensor<1000xf32> {
  %c = arith.constant 1.0 : f32
  %e = tensor.empty() : tensor<1000xf32>
  %f = linalg.fill ins(%c : f32) outs(%e : tensor<1000xf32>) -> tensor<1000xf32>
  return %f : tensor<1000xf32>
}
"""
small = kvshift.compile(FILL, memory_limit=1000)
expect_error(kvshift.ExecutionError,
             "bytes, more than the 1000 bytes "
             "allowed", small, np.zeros(4, np.float32))
HUGE = open(os.path.join(testutil.REPO, "test", "kvshift-run", "Inputs",
                         "huge-buffer.mlir")).read()
huge = kvshift.compile(HUGE)
expect_error(kvshift.ExecutionError, "asked for a buffer of 3725.3 GiB", huge,
             np.zeros(4, np.float32))
outs = g(*(inputs(1, 4, 2, 7, 7, 8) + [np.ones((1, 4, 7, 8), np.float32)]))
c.check(len(outs) == 5, "the grad function after the failed runs")

# Without the runtime library: a CompileError saying how to build it.
code = ("import sys; sys.path.insert(0, %r); import kvshift\n"
        "try:\n    kvshift.compile('func.func @f() { return }')\n"
        "except kvshift.CompileError as e:\n    print('CompileError:', e)\n"
        % os.path.join(testutil.REPO, "python"))
env = dict(os.environ, KVSHIFT_RUNTIME_LIB="/nonexistent/libKVShiftRuntimeC.so")
p = subprocess.run([sys.executable, "-c", code], env=env,
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                   universal_newlines=True)
c.check(p.returncode == 0 and "is not built" in p.stdout
        and "scripts/setup.sh" in p.stdout,
        "missing library: rc %d, %r" % (p.returncode, p.stdout))

c.finish()
