"""The GPU check's correctness parts on the CPU: gpu_check.py itself (its
kernel classes, launch grids, parameter packing, references and bounds),
with every cuLaunchKernel executed by the emulator (scripts/gpu_emulator.py)
on the gpu-dialect form of the same kernels, and PyTorch on the CPU.

It checks, before a GPU is at hand, that the check launches each kernel with
the right grid and arguments and that the kernels pass its bounds. Small
shapes replace the check's (the emulator runs about a million lanes a
second), tile variants of the attention kernels are left out except those
whose tiles take dynamic shared memory (manifest "smem"; these, and the
decode and backward variants, run lowered with their manifest "options"),
and timings are not run.

    gpu_check_emulated.py ARTIFACTS [--opt build/bin/kvshift-opt]
                          [--parts attention,decode,grad,gradtimings,serve]

Part gradtimings runs the backward timing code at B=1, H=2, S=64 with a
clock that counts nothing (every time is 1 ms): a dry run of its launches
and tables, so that the GPU machine does not find their bugs. Part serve
runs the generation part with one-layer models and a few tokens.

ARTIFACTS is the directory of scripts/build-gpu-check.sh; the gpu-dialect
kernels come from its src/*.mlir through kvshift-opt.
"""
import argparse
import ctypes
import json
import os
import subprocess
import sys
import types

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gpu_check as g  # noqa: E402
import gpu_emulator as ge  # noqa: E402

SMALL_ATTENTION = [(1, 4, 2, 37, 37), (1, 2, 2, 20, 70), (1, 2, 1, 1, 1), (1, 2, 1, 1, 65)]
SMALL_DECODE = [(1, 8, 2, 1, 300, 270), (1, 4, 2, 3, 100, 90), (1, 4, 4, 1, 64, 1)]
SMALL_GRAD = [(1, 4, 2, 37, 37), (1, 2, 2, 9, 40), (1, 2, 1, 1, 1), (1, 2, 1, 40, 40, 3.0)]


def sdpa_cpu(q, k, v, attn_mask=None, scale=None, is_causal=False):
    """scaled_dot_product_attention with q's dtype's roundings (PyTorch 1.13
    has none): products accumulated in f32 and rounded, as tensor cores do
    (its CPU matmul has no f16)."""
    dt = q.dtype
    if scale is None:
        scale = q.shape[-1] ** -0.5
    s = (q.float() @ k.float().transpose(-1, -2)).to(dt) * scale
    if is_causal:
        attn_mask = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril()
    if attn_mask is not None:
        s = s.masked_fill(~attn_mask, float("-inf"))
    p = torch.softmax(s.float(), -1).to(dt)
    return (p.float() @ v.float()).to(dt)


class EmulatedDriver:
    """gpu_check.Driver on the emulator: load() finds the gpu-dialect form
    of the PTX module's source, launches run it."""

    def __init__(self, root, opt, options=None):
        self.root, self.opt = root, opt
        # Pass options of variants (manifest "options"), by PTX name.
        self.options = options or {}
        self.by_ptx = {}
        kdir = os.path.join(root, "kernels")
        for f in os.listdir(kdir):
            if f.endswith(".ptx"):
                with open(os.path.join(kdir, f), "rb") as fh:
                    self.by_ptx[fh.read()] = f[:-4]
        self.modules = {}
        self.tensors = {}
        self.lib = types.SimpleNamespace(cuLaunchKernel=self.launch,
                                         cuFuncSetAttribute=self.set_attribute)
        self.allowed = {}  # kernel -> dynamic shared memory allowed (attribute 8)

    def check(self, r, what):
        if r != 0:
            raise RuntimeError(f"{what} failed: {r}")

    def module(self, name):
        if name not in self.modules:
            src = os.path.join(self.root, "src", name + ".mlir")
            # As --kvshift-to-nvvm: a gradient next to its forward reads its
            # statistics (the training entries).
            fuse = "--kvshift-fuse-attention-gpu"
            if self.options.get(name):
                fuse += "=" + self.options[name]
            r = subprocess.run([self.opt, src, "--kvshift-share-attention-stats", fuse,
                                "--mlir-print-op-generic"], capture_output=True, text=True)
            if r.returncode:
                raise RuntimeError(f"kvshift-opt {src}: {r.stderr}")
            self.modules[name] = ge.Module(r.stdout)
        return self.modules[name]

    def load(self, ptx, name):
        return (self.module(self.by_ptx[ptx]), name)

    def register(self, tensors):
        for t in tensors:
            self.tensors[t.data_ptr()] = t

    def set_attribute(self, fn, attribute, value):
        # CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES: what a launch may
        # then give above 48 KiB.
        if attribute != 8:
            raise RuntimeError(f"cuFuncSetAttribute: attribute {attribute}")
        self.allowed[fn] = value.value
        return 0

    def launch(self, fn, gx, gy, gz, threads, ty, tz, shm, stream, params, extra):
        module, name = fn
        func = module.kernels[name]
        if shm > 48 * 1024 and self.allowed.get(fn, 0) < shm:
            raise RuntimeError(f"cuLaunchKernel({name}): {shm} bytes of dynamic shared "
                               f"memory without cuFuncSetAttribute allowing them "
                               f"(CUDA_ERROR_INVALID_VALUE)")
        block0 = func.regions[0][0]
        args, back, i = [], [], 0
        for _, ty_ in block0.args:
            if ty_.kind == "memref" and ty_.workgroup:
                break
            if ty_.kind == "memref":
                ptr = ctypes.cast(params[i], ctypes.POINTER(ctypes.c_void_p)).contents.value
                t = self.tensors[ptr].view(-1)
                a = t.float().numpy().copy() if t.dtype == torch.bfloat16 else t.numpy()
                args.append(a)
                back.append((t, a))
                i += 5
            else:
                args.append(ctypes.cast(params[i], ctypes.POINTER(ctypes.c_int64)).contents.value)
                i += 1
        module.launch(name, (gx, gy, gz), threads, args, smem=shm)
        for t, a in back:
            if t.dtype == torch.bfloat16:
                t.copy_(torch.from_numpy(a).to(torch.bfloat16))
        return 0


def cpu_stand_ins(driver):
    torch.Tensor.is_cuda = property(lambda self: True)
    torch.Tensor.cuda = lambda self, *a, **k: self
    torch.cuda.current_stream = lambda: types.SimpleNamespace(cuda_stream=0)
    torch.cuda.synchronize = lambda: None
    torch.cuda.empty_cache = lambda: None
    torch.cuda.get_device_name = lambda: "CPU emulator"
    # An sm_90 device: the sm_90a (wgmma) kernel sets run too.
    torch.cuda.get_device_capability = lambda *a: (9, 0)
    if not hasattr(F, "scaled_dot_product_attention"):
        F.scaled_dot_product_attention = sdpa_cpu
    orig_inputs = g.inputs
    g.inputs = lambda *a, device="cuda", **k: orig_inputs(*a, device="cpu", **k)
    orig_params = g.memref_params

    def memref_params(tensors):
        driver.register(tensors)
        return orig_params(tensors)
    g.memref_params = memref_params
    g.ATTENTION_SHAPES, g.DECODE_SHAPES, g.GRAD_SHAPES = (SMALL_ATTENTION, SMALL_DECODE,
                                                          SMALL_GRAD)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("artifacts")
    ap.add_argument("--opt", default=os.path.join(HERE, "..", "build", "bin", "kvshift-opt"))
    ap.add_argument("--parts", default="attention,decode,grad")
    ap.add_argument("--only", default="", help="substring of the kernel names to check")
    args = ap.parse_args()
    with open(os.path.join(args.artifacts, "manifest.json")) as f:
        manifest = json.load(f)
    options = {e["name"]: e["options"]
               for e in (manifest["kernels"] + manifest.get("decode_kernels", [])
                         + manifest.get("grad_kernels", []))
               if "options" in e}
    driver = EmulatedDriver(args.artifacts, args.opt, options)
    cpu_stand_ins(driver)
    keep = lambda e: "variant_of" not in e and args.only in e["name"]  # noqa: E731
    # Forward variants whose tiles take dynamic shared memory run too (their
    # launches give the bytes the kernel needs, checked by the emulator).
    keep_attention = lambda e: keep(e) or ("smem" in e and args.only in e["name"])  # noqa: E731
    # Decode variants are cheap to emulate (and the tensor-core one is a
    # different kernel): all of them run.
    keep_decode = lambda e: args.only in e["name"]  # noqa: E731
    parts = args.parts.split(",")
    failures = 0
    if "attention" in parts:
        kernels = [(e, g.Kernel(driver, manifest, e, args.artifacts))
                   for e in manifest["kernels"] if keep_attention(e)]
        failures += g.check_correctness(kernels, [], quick=False)
    if "decode" in parts:
        decoders = [(e, g.DecodeKernel(driver, e, args.artifacts))
                    for e in manifest.get("decode_kernels", []) if keep_decode(e)]
        failures += g.check_decode(decoders, quick=False)
    # The backward variants (the wgmma kernels) run too, lowered with their
    # manifest "options".
    grads = [(e, g.GradKernel(driver, e, args.artifacts))
             for e in manifest.get("grad_kernels", []) if keep_decode(e)]
    if {"grad", "gradtimings"} & set(parts):
        # kvshift.cuda on its saved kernel sets, its launches on the emulator.
        paths = [(e, p) for e, p in g.torch_paths(args.artifacts) if keep(e)]
        if paths:
            paths[0][1].kc.set_driver(ge.TorchDriver(args.opt))
        grads += paths
    if "grad" in parts:
        failures += g.check_grad(grads, quick=False)
    if "gradtimings" in parts:
        def no_clock(fn, warmup=0, iters=0):
            fn()
            return 1.0
        g.time_ms, g.TIMING_SHAPE = no_clock, (1, 2, 128)
        print("\ndry run of the backward timings (times are not measured)")
        g.grad_timings(grads, quick=True, seqs=[64])
    if "serve" in parts:
        # One-layer models with the saved sets' head dim (64), a few tokens;
        # the clock is real but means nothing here.
        paths = g.torch_paths(args.artifacts)
        paths[0][1].kc.set_driver(ge.TorchDriver(args.opt))
        g.SERVE_CHECK = dict(g.SERVE_CHECK, vocab_size=64, d_model=128, n_layers=1,
                             n_heads=2)
        g.SERVE_SPEED = dict(g.SERVE_SPEED, vocab_size=64, d_model=128, n_layers=1,
                             n_heads=2, n_kv_heads=1)
        failures += g.serve(args.artifacts, quick=True, check_shape=(1, 5, 3),
                            speed_shape=(1, 6, 3))
    print(f"\nemulated check [{args.parts}]: "
          f"{'all passed' if failures == 0 else f'{failures} FAILED'}")
    return 1 if failures else 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
