#!/usr/bin/env python3
"""GPU check of kvshift's fused KV-shift attention kernels, for a GPU machine
with PyTorch (CUDA) and a CUDA driver, without MLIR: it only uses the
artifacts of scripts/build-gpu-check.sh (PTX kernels, manifest.json,
ahead-of-time libraries).

1. Correctness: for bf16 and f16, causal and not, D in {64, 128}, with GQA,
   odd S and Sq < Sk, and with RoPE after the mix (rope_theta, D = 128),
   the fused kernel (launched through the CUDA driver API
   on PyTorch's stream) is compared against a float32 PyTorch reference of
   the same computation. The error (normwise: max|out - ref| / max|ref|) must
   be at most 2x the error of PyTorch's own low-precision implementation of
   the unfused computation (mix in T, then scaled_dot_product_attention in
   T). The ahead-of-time libraries (the whole host path: copies, launch, the
   project's CUDA runtime) are checked the same way on host tensors.
2. Timing with CUDA events at B=4, H=16, S in {1024, 4096, 8192}, D=128:
   (a) the fused kernel, (b) the paper's way in PyTorch (pad + mix, then
   scaled_dot_product_attention), (c) scaled_dot_product_attention without
   the shift. TFLOP/s = 4*B*H*S*S*D / time (halved for causal); ratios b/a
   and c/a (higher is better for the fused kernel). With RoPE (bf16, f16,
   causal): the fused kernel with RoPE (its pre-pass included) against the
   fused kernel without, and against the paper's way with RoPE in PyTorch
   (pad + mix, rotate, scaled_dot_product_attention).
3. The decode kernels of kv_cache_attention (flash decoding over a KV cache
   of mixed, rotated rows): correctness against the same references at GQA,
   several new tokens, short and long valid lengths, with and without RoPE;
   the achieved memory bandwidth at B=8, Hkv=8, Hq=32, D=128, cache length
   8192, bf16, against the device's copy bandwidth measured in the same run
   (and PyTorch's scaled_dot_product_attention over the same cache).
0. On sm_90 devices (part wgmma), wgmma_probe.py checks the warpgroup-MMA
   fragment and shared-memory layouts that the wgmma=true kernels assume.
4. The backward kernels of kv_shift_attention_grad (parts grad,
   gradtimings): dq, dk, dv, dkw, dvw against float32 autograd of the
   unfused computation, each within 2x the error of PyTorch's own
   low-precision autograd (see check_grad for the floors of degenerate and
   weight gradients); timings at B=4, H=16, D=128 against PyTorch autograd
   of the paper's way (its backward alone, and forward + backward), TFLOP/s
   counted as 2.5x the forward's. The same parts run kvshift.cuda (the
   package copied beside this file, kernels read from torch/): autograd of
   its kv_shift_attention, checked like the backward's training entries and
   timed forward + backward against PyTorch's.

    python3 gpu_check.py [--artifacts DIR] [--quick] [--selftest]

--selftest checks the reference functions against a float64 loop on the
CPU (no GPU needed). Exit status 1 when a correctness check fails.
"""

import argparse
import ctypes
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F


# --- references -------------------------------------------------------------

def mix(x, w):
    """x^_t = w[h,0] x_t + w[h,1] x_{t-1} (x_{-1} = 0), in x's dtype; the
    paper's way (pad, shift, weighted sum). x: [B, H, S, D], w: [H, 2]."""
    prev = F.pad(x, (0, 0, 1, 0))[:, :, :-1]
    w = w.to(x.dtype)
    return w[:, 0].view(1, -1, 1, 1) * x + w[:, 1].view(1, -1, 1, 1) * prev


def causal_mask(sq, sk, device):
    """True where key j is visible to query i: j <= Sk - Sq + i."""
    i = torch.arange(sq, device=device).view(-1, 1)
    j = torch.arange(sk, device=device).view(1, -1)
    return j <= (sk - sq) + i


def expand_heads(x, hq):
    """GQA: query head h reads KV head h // (Hq // Hkv)."""
    return x.repeat_interleave(hq // x.shape[1], dim=1)


def rope_cos_sin(positions, d, theta, dtype):
    """cos and sin [len(positions), D/2] of p * theta^(-2i/D). For the float32
    reference they are computed in float64 and rounded; for the low-precision
    results the way Llama implementations do it (inv_freq and the angles in
    float32, cos/sin cast to the dtype)."""
    half = d // 2
    if dtype == torch.float32:
        inv = theta ** (-2.0 * torch.arange(half, dtype=torch.float64) / d)
        ang = positions.to(torch.float64).view(-1, 1) * inv.to(positions.device).view(1, -1)
        return ang.cos().float(), ang.sin().float()
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float32, device=positions.device) / d))
    ang = positions.to(torch.float32).view(-1, 1) * inv.view(1, -1)
    return ang.cos().to(dtype), ang.sin().to(dtype)


def rotate(x, positions, theta, dtype):
    """RoPE, "rotate half" layout: (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin)."""
    c, s = rope_cos_sin(positions, x.shape[-1], theta, dtype)
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1)


def reference(q, k, v, kw, vw, causal, dtype, theta=None):
    """The unfused computation with all arithmetic in `dtype`: float32 for the
    reference, the inputs' dtype for PyTorch's own low-precision result. A
    row without any visible key gives zeros. With `theta`, RoPE after the
    mix: query row i at position Sk - Sq + i, key row j at position j."""
    q, k, v = q.to(dtype), k.to(dtype), v.to(dtype)
    km = mix(k, kw.to(dtype) if dtype != torch.float32 else kw)
    if theta is not None:
        sq, sk = q.shape[2], k.shape[2]
        km = rotate(km, torch.arange(sk, device=q.device), theta, dtype)
        q = rotate(q, torch.arange(sq, device=q.device) + (sk - sq), theta, dtype)
    kh = expand_heads(km, q.shape[1])
    vh = expand_heads(mix(v, vw.to(dtype) if dtype != torch.float32 else vw), q.shape[1])
    scale = 1.0 / math.sqrt(q.shape[-1])
    mask = causal_mask(q.shape[2], k.shape[2], q.device) if causal else None
    if dtype == torch.float32:
        s = (q @ kh.transpose(-1, -2)) * scale
        if mask is not None:
            s = s.masked_fill(~mask, float("-inf"))
        m = s.amax(-1, keepdim=True).clamp_min(-1e30)
        p = torch.exp(s - m)
        l = p.sum(-1, keepdim=True)
        return torch.where(l > 0, (p @ vh) / l.clamp_min(1e-30), torch.zeros_like(q))
    return F.scaled_dot_product_attention(q, kh, vh, attn_mask=mask, scale=scale)


def cache_reference(q, kc, vc, length, causal, dtype, theta=None):
    """kv_cache_attention: attention of q (rotated at length - Sq + i with
    RoPE) over the first `length` cache rows, bottom-right causal, in
    `dtype` (float32: the reference; q's dtype: PyTorch's own result)."""
    sq = q.shape[2]
    q, kc, vc = q.to(dtype), kc[:, :, :length].to(dtype), vc[:, :, :length].to(dtype)
    if theta is not None:
        q = rotate(q, torch.arange(sq, device=q.device) + (length - sq), theta, dtype)
    kh, vh = expand_heads(kc, q.shape[1]), expand_heads(vc, q.shape[1])
    scale = 1.0 / math.sqrt(q.shape[-1])
    mask = causal_mask(sq, length, q.device) if causal else None
    if dtype == torch.float32:
        s = (q @ kh.transpose(-1, -2)) * scale
        if mask is not None:
            s = s.masked_fill(~mask, float("-inf"))
        return torch.softmax(s, -1) @ vh
    return F.scaled_dot_product_attention(q, kh, vh, attn_mask=mask, scale=scale)


def err(out, ref):
    out, ref = out.double(), ref.double()
    return ((out - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item()


def diagnose(out, ref, bound):
    """Where a failing output is wrong: unwritten (NaN) elements, the place of
    the largest error, and which query rows and heads are off by more than
    `bound` (normwise, as err())."""
    out, ref = out.double(), ref.double()
    nan = torch.isnan(out)
    diff = (out - ref).abs().nan_to_num(float("inf"))
    scale = ref.abs().max().clamp_min(1e-30)
    flat, idx = int(diff.argmax()), []
    for n in reversed(diff.shape):
        idx.insert(0, flat % n)
        flat //= n
    idx = tuple(idx)
    bad = (diff / scale > bound).any(-1)  # [B, H, S]
    rows = bad.any(0).any(0).nonzero().flatten().tolist()
    heads = bad.any(0).any(-1).nonzero().flatten().tolist()
    return (f"    NaN (unwritten or non-finite): {int(nan.sum())} of {out.numel()}; "
            f"largest error at [b,h,i,d] = {list(idx)}: ours {out[idx].item():.4g}, "
            f"reference {ref[idx].item():.4g}\n"
            f"    rows over the bound: {len(rows)} of {out.shape[2]} (first {rows[:12]}); "
            f"heads: {heads[:16]}")


def selftest():
    """The float32 reference against a float64 loop written from the spec."""
    g = torch.Generator().manual_seed(0)
    b, hq, hkv, sq, sk, d = 1, 4, 2, 5, 7, 8
    q = torch.randn(b, hq, sq, d, generator=g, dtype=torch.float64)
    k = torch.randn(b, hkv, sk, d, generator=g, dtype=torch.float64)
    v = torch.randn(b, hkv, sk, d, generator=g, dtype=torch.float64)
    kw = torch.rand(hkv, 2, generator=g, dtype=torch.float64)
    vw = torch.rand(hkv, 2, generator=g, dtype=torch.float64)
    def rot(x, p, theta):
        half = d // 2
        y = x.clone()
        for i in range(half):
            a = p * theta ** (-2.0 * i / d)
            y[i] = x[i] * math.cos(a) - x[i + half] * math.sin(a)
            y[i + half] = x[i + half] * math.cos(a) + x[i] * math.sin(a)
        return y

    for causal, theta in ((False, None), (True, None), (True, 10000.0), (False, 500.0)):
        out = torch.zeros(b, hq, sq, d, dtype=torch.float64)
        for h in range(hq):
            kv = h // (hq // hkv)
            kh = [kw[kv, 0] * k[0, kv, t] + (kw[kv, 1] * k[0, kv, t - 1] if t else 0)
                  for t in range(sk)]
            qh = [q[0, h, i] for i in range(sq)]
            if theta is not None:
                kh = [rot(kh[t], t, theta) for t in range(sk)]
                qh = [rot(qh[i], sk - sq + i, theta) for i in range(sq)]
            vh = [vw[kv, 0] * v[0, kv, t] + (vw[kv, 1] * v[0, kv, t - 1] if t else 0)
                  for t in range(sk)]
            for i in range(sq):
                js = [j for j in range(sk) if not causal or j <= sk - sq + i]
                s = torch.tensor([float(qh[i] @ kh[j]) / math.sqrt(d) for j in js],
                                 dtype=torch.float64)
                p = torch.softmax(s, 0)
                out[0, h, i] = sum(p[n] * vh[j] for n, j in enumerate(js))
        got = reference(q.float(), k.float(), v.float(), kw.float(), vw.float(),
                        causal, torch.float32, theta)
        e = err(got, out)
        print(f"selftest causal={causal} rope_theta={theta}: float32 reference vs "
              f"float64 loop: {e:.2e}")
        assert e < 1e-5, e
    print("selftest OK")


# --- the kernels through the CUDA driver API ------------------------------------

def cubin_images(artifacts):
    """PTX text -> the path of its sm_90a cubin, for the modules of
    `artifacts`/kernels that have one (build-gpu-check.sh makes them with
    ptxas when the toolkit has it)."""
    images = {}
    kdir = os.path.join(artifacts, "kernels")
    for f in sorted(os.listdir(kdir)) if os.path.isdir(kdir) else []:
        cubin = os.path.join(kdir, f[:-len(".ptx")] + ".sm_90a.cubin")
        if f.endswith(".ptx") and os.path.isfile(cubin):
            with open(os.path.join(kdir, f), "rb") as fh:
                images[fh.read()] = cubin
    return images


class Driver:
    def __init__(self, cubins=None, lib=None):
        """`cubins`: PTX text -> path of a cubin for this device, loaded
        instead of JIT-compiling that PTX (the PTX if the cubin does not
        load, e.g. a cubin newer than the driver)."""
        self.lib = lib or ctypes.CDLL("libcuda.so.1")
        self.lib.cuGetErrorName.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)]
        self.modules = {}  # PTX text -> module: each module is loaded once
        self.cubins = dict(cubins or {})
        self.loaded = {"cubin": 0, "ptx": 0}

    def error_name(self, r):
        name = ctypes.c_char_p()
        self.lib.cuGetErrorName(r, ctypes.byref(name))
        return name.value.decode() if name.value else str(r)

    def load_cubin(self, ptx):
        """The module of PTX text `ptx` from its cubin, or None (no cubin, or
        it did not load: then no other cubin is tried)."""
        path = self.cubins.get(ptx)
        if path is None:
            return None
        with open(path, "rb") as f:
            image = f.read()
        module = ctypes.c_void_p()
        r = self.lib.cuModuleLoadData(ctypes.byref(module), ctypes.c_char_p(image))
        if r != 0:
            print(f"cuModuleLoadData({os.path.basename(path)}) failed: {self.error_name(r)}; "
                  f"JIT-compiling the PTX of every module instead", flush=True)
            self.cubins = {}
            return None
        self.loaded["cubin"] += 1
        return module

    def check(self, r, what):
        if r != 0:
            raise RuntimeError(f"{what} failed: {self.error_name(r)}")

    def load(self, ptx, name):
        """Function `name` of the PTX module `ptx` (loaded on first use, from
        its cubin if there is one)."""
        module = self.modules.get(ptx)
        if module is None:
            module = self.load_cubin(ptx)
        if module is None:
            self.loaded["ptx"] += 1
            module = ctypes.c_void_p()
            log = ctypes.create_string_buffer(16384)
            opts = (ctypes.c_int * 2)(5, 6)  # CU_JIT_ERROR_LOG_BUFFER(_SIZE_BYTES)
            vals = (ctypes.c_void_p * 2)(ctypes.cast(log, ctypes.c_void_p).value,
                                         len(log) - 1)
            r = self.lib.cuModuleLoadDataEx(ctypes.byref(module),
                                            ctypes.c_char_p(ptx + b"\0"), 2, opts, vals)
            if r != 0:
                self.check(r, f"cuModuleLoadDataEx({name}): "
                              f"{log.value.decode(errors='replace')}")
        self.modules[ptx] = module
        fn = ctypes.c_void_p()
        self.check(self.lib.cuModuleGetFunction(ctypes.byref(fn), module, name.encode()),
                   f"cuModuleGetFunction({name})")
        return fn


def memref_params(tensors):
    """A flat memref<?xT> per tensor: (allocated, aligned, offset 0, numel, 1)."""
    vals = []
    for t in tensors:
        assert t.is_cuda and t.is_contiguous()
        p = t.data_ptr()
        vals += [ctypes.c_void_p(p), ctypes.c_void_p(p), ctypes.c_int64(0),
                 ctypes.c_int64(t.numel()), ctypes.c_int64(1)]
    return vals


class Kernel:
    """One fused kernel; parameter ABI in manifest.json. With RoPE
    (entry["rope_theta"]), the pre-pass kernel of the same PTX module first
    rotates q, and mixes and rotates k, into scratch tensors, which the
    attention kernel reads."""

    def __init__(self, driver, manifest, entry, root):
        self.driver, self.entry = driver, entry
        self.block_m = entry.get("block_m", manifest["block_m"])
        self.threads = entry.get("threads", manifest["threads"])
        with open(os.path.join(root, entry["ptx"]), "rb") as f:
            ptx = f.read()
        # A tile variant's kernel has the default kernel's name in its PTX.
        self.fn = self.load(ptx, entry.get("kernel", entry["name"]))
        self.rope = None
        if entry.get("rope_theta") is not None:
            self.rope = self.load(ptx, entry["rope_kernel"])

    def load(self, ptx, kernel):
        """Function `kernel` of the PTX module, with the bytes of dynamic
        shared memory its launches give (entry["smem"][kernel]: kernels
        whose tiles exceed 48 KiB; 0 otherwise)."""
        fn = self.driver.load(ptx, kernel)
        if not hasattr(self, "smem_of"):
            self.smem_of = {}
        self.smem_of[id(fn)] = (fn, self.entry.get("smem", {}).get(kernel, 0))
        return fn

    def launch(self, fn, name, grid, threads, vals):
        params = (ctypes.c_void_p * len(vals))(
            *[ctypes.cast(ctypes.pointer(x), ctypes.c_void_p) for x in vals])
        stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
        smem = self.smem_of[id(fn)][1]
        if smem > STATIC_SHARED_BYTES:
            # CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
            self.driver.check(self.driver.lib.cuFuncSetAttribute(fn, 8, ctypes.c_int(smem)),
                              f"cuFuncSetAttribute({name}, MAX_DYNAMIC_SHARED_SIZE_BYTES "
                              f"= {smem})")
        self.driver.check(self.driver.lib.cuLaunchKernel(
            fn, grid[0], grid[1], grid[2], threads, 1, 1, smem, stream, params, None),
            f"cuLaunchKernel({name})")

    def rotate(self, x, w, out, seq, pos_offset, mix):
        """The pre-pass: rows = numel / D, row r at position (r mod seq) +
        pos_offset; with mix = 1 (the keys) first mixed with the row before
        it by the weights w[(r / seq) mod H] of its head; one thread per row
        and pair of 16-byte chunks."""
        e = self.entry
        rows = x.numel() // e["d"]
        items = rows * e["rope_items_per_row"]
        t = e["rope_threads"]
        if items:
            self.launch(self.rope, e["rope_kernel"], ((items + t - 1) // t, 1, 1), t,
                        memref_params((x, w, out)) +
                        [ctypes.c_int64(v) for v in (rows, seq, pos_offset, x.shape[1], mix)])

    def __call__(self, q, k, v, kw, vw, out, scratch=None):
        b, hq, sq, _ = q.shape
        hkv, sk = k.shape[1], k.shape[2]
        if self.rope is not None:
            qr, kr = scratch if scratch is not None else (torch.empty_like(q),
                                                           torch.empty_like(k))
            self.rotate(q, kw, qr, sq, sk - sq, 0)
            self.rotate(k, kw, kr, sk, 0, 1)
            q, k = qr, kr
        grid = ((sq + self.block_m - 1) // self.block_m, hq, b)
        if min(grid) == 0:
            return out
        self.launch(self.fn, self.entry["name"], grid, self.threads,
                    memref_params((q, k, v, kw, vw, out)) +
                    [ctypes.c_int64(x) for x in (b, hq, sq, hkv, sk)])
        return out


class DecodeKernel(Kernel):
    """The decode kernel of kv_cache_attention and its merge kernel (one PTX
    module; launch configuration in the manifest entry):
      decode: grid (Hkv * ceil(G Sq / rows), ceil(length / split), B),
              params q, kc, vc, wsM, wsL, wsO (flat memrefs), B, Hq, Sq,
              Hkv, Smax, length;
      merge:  grid (B Hq Sq), params wsM, wsL, wsO, out, length, Smax.
    The workspace holds ceil(length / split) partial states per query row
    (allocated here for the largest length, Smax, so that it can be reused)."""

    def __init__(self, driver, entry, root):
        self.driver, self.entry = driver, entry
        with open(os.path.join(root, entry["ptx"]), "rb") as f:
            ptx = f.read()
        # A variant's kernels have the default kernels' names in its PTX.
        self.fn = self.load(ptx, entry.get("kernel", entry["name"]))
        self.merge = self.load(ptx, entry["merge"])

    def workspace(self, q, kc):
        rows = q.shape[0] * q.shape[1] * q.shape[2]
        states = rows * max(1, -(-kc.shape[2] // self.entry["split"]))
        f32 = dict(dtype=torch.float32, device=q.device)
        return (torch.empty(states, **f32), torch.empty(states, **f32),
                torch.empty(states * q.shape[3], **f32))

    def __call__(self, q, kc, vc, length, out, ws=None):
        e = self.entry
        b, hq, sq, d = q.shape
        hkv, smax = kc.shape[1], kc.shape[2]
        length = min(length, smax)
        wm, wl, wo = ws if ws is not None else self.workspace(q, kc)
        splits = -(-length // e["split"])
        row_blocks = -(-(hq // hkv) * sq // e["rows"])
        if splits * b * hkv * row_blocks:
            self.launch(self.fn, e.get("kernel", e["name"]), (hkv * row_blocks, splits, b),
                        e["threads"],
                        memref_params((q, kc, vc, wm, wl, wo)) +
                        [ctypes.c_int64(x) for x in (b, hq, sq, hkv, smax, length)])
        if b * hq * sq:
            self.launch(self.merge, e["merge"], (b * hq * sq, 1, 1), e["merge_threads"],
                        memref_params((wm, wl, wo, out)) +
                        [ctypes.c_int64(length), ctypes.c_int64(smax)])
        return out


class GradKernel(Kernel):
    """The four backward kernels of kv_shift_attention_grad (one PTX module;
    launch configuration in the manifest entry, "grad_params" there):
      <name>_q   grid (ceil(Sq / q_rows), Hq, B): lse, delta and dq;
      <name>_kv  grid (ceil(Sk / kv_rows), Hkv, B): dk^ and dv^ (f32);
      <name>_mix grid (ceil(B Hkv Sk / (mix_threads / 32))): dk, dv and the
                 weight-gradient terms of each key row;
      <name>_w   grid (Hkv): dkw, dvw.
    A training entry ("stats": true; a forward and its gradient compiled
    together) also has the forward that writes each row's log-sum-exp
    (entry["forward"], the forward kernel's ABI plus an f32 lse [B Hq Sq]
    after the sizes) and <name>_stats (grid ceil(B Hq Sq / (threads / 32)):
    dout, out, lse, then grad_q's lse and delta, then B Hq Sq), launched
    before grad_q, which then reads lse and delta instead of recomputing
    them. Called like the others, it runs the forward first."""

    def __init__(self, driver, entry, root):
        self.driver, self.entry = driver, entry
        with open(os.path.join(root, entry["ptx"]), "rb") as f:
            ptx = f.read()
        parts = ("q", "kv", "mix", "w") + (("stats",) if entry.get("stats") else ())
        # A variant's kernels are named as its base entry's ("kernel").
        prefix = entry.get("kernel", entry["name"])
        self.fns = {part: self.load(ptx, f"{prefix}_{part}") for part in parts}
        self.fwd = self.load(ptx, entry["forward"]) if entry.get("stats") else None
        self.last_forward = None
        # With RoPE, the forward's pre-pass (Kernel.rotate) first rotates q,
        # and mixes then rotates k, for grad_q and grad_kv.
        self.rope = None
        if entry.get("rope_theta") is not None:
            self.rope = self.load(ptx, entry["rope_kernel"])

    def scratch(self, q, k):
        f32 = dict(dtype=torch.float32, device=q.device)
        qrows = q.shape[0] * q.shape[1] * q.shape[2]
        krows = k.shape[0] * k.shape[1] * k.shape[2]
        return (torch.empty(qrows, **f32), torch.empty(qrows, **f32),
                torch.empty(krows * k.shape[3], **f32), torch.empty(krows * k.shape[3], **f32),
                torch.empty(krows * 4, **f32), torch.empty_like(q), torch.empty_like(k))

    def forward(self, q, k, v, kw, vw, out, lse):
        """A training entry's forward: out and the rows' natural-log lse."""
        e = self.entry
        b, hq, sq, _ = q.shape
        grid = (-(-sq // e["block_m"]), hq, b)
        if min(grid) and k.shape[1]:
            self.launch(self.fwd, e["forward"], grid, e["fwd_threads"],
                        memref_params((q, k, v, kw, vw, out)) +
                        [ctypes.c_int64(x) for x in (b, hq, sq, k.shape[1], k.shape[2])] +
                        memref_params((lse,)))
        return out, lse

    def __call__(self, q, k, v, kw, vw, dout, grads, scratch=None, stats=None):
        """grads: (dq, dk, dv, dkw, dvw), written. A training entry takes the
        forward's (out, lse) as `stats`, or runs the forward first (kept in
        last_forward)."""
        e = self.entry
        b, hq, sq, _ = q.shape
        hkv, sk = k.shape[1], k.shape[2]
        lse, delta, dkh, dvh, part, qr, kr = (scratch if scratch is not None
                                              else self.scratch(q, k))
        dq, dk, dv, dkw, dvw = grads
        sizes = [ctypes.c_int64(x) for x in (b, hq, sq, hkv, sk)]
        if e.get("stats"):
            if stats is None:
                stats = self.forward(q, k, v, kw, vw, torch.full_like(q, float("nan")),
                                     torch.full(q.shape[:3], float("nan"),
                                                dtype=torch.float32, device=q.device))
                self.last_forward = stats
            qrows = b * hq * sq
            if qrows:
                self.launch(self.fns["stats"], e["name"] + "_stats",
                            (-(-qrows // (e["threads"] // 32)), 1, 1), e["threads"],
                            memref_params((dout, stats[0], stats[1], lse, delta)) +
                            [ctypes.c_int64(qrows)])
        if hkv == 0:
            return grads
        qa, ka = q, k
        if self.rope is not None:
            self.rotate(q, kw, qr, sq, sk - sq, 0)
            self.rotate(k, kw, kr, sk, 0, 1)
            qa, ka = qr, kr
        attn = memref_params((qa, ka, v, kw, vw, dout, lse, delta))
        if b * hq * sq:
            self.launch(self.fns["q"], e["name"] + "_q", (-(-sq // e["q_rows"]), hq, b),
                        e["threads"], attn + memref_params((dq,)) + sizes)
        krows = b * hkv * sk
        if krows:
            self.launch(self.fns["kv"], e["name"] + "_kv", (-(-sk // e["kv_rows"]), hkv, b),
                        e["threads"], attn + memref_params((dkh, dvh)) + sizes)
            self.launch(self.fns["mix"], e["name"] + "_mix",
                        (-(-krows // (e["mix_threads"] // 32)), 1, 1), e["mix_threads"],
                        memref_params((k, v, kw, vw, dkh, dvh, dk, dv, part)) +
                        [ctypes.c_int64(x) for x in (b, hkv, sk)])
        self.launch(self.fns["w"], e["name"] + "_w", (hkv, 1, 1), e["w_threads"],
                    memref_params((part, dkw, dvw)) + [ctypes.c_int64(x) for x in (b, hkv, sk)])
        return grads


class TorchPath:
    """kvshift.cuda on one saved kernel set, called like GradKernel (a
    training entry): autograd of kvshift.cuda.kv_shift_attention, its
    gradients written to `grads`; last_forward holds (out, lse), lse from
    the set's forward."""

    def __init__(self, kc, saved):
        self.kc, self.saved = kc, saved
        self.dtype = DTYPES[saved["dtype"]]
        self.last_forward = None

    def kernels(self):
        s = self.saved
        return self.kc.kernels(self.dtype, s["d"], s["causal"], s["scale"],
                               s["rope_theta"], s["chip"], s.get("options", ""))

    def step(self, q, k, v, kw, vw, dout):
        """Forward + backward through autograd; returns out and the leaves."""
        s = self.saved
        leaves = [x.detach().clone().requires_grad_() for x in (q, k, v, kw, vw)]
        out = self.kc.kv_shift_attention(*leaves, scale=s["scale"], causal=s["causal"],
                                         rope_theta=s["rope_theta"], chip=s["chip"],
                                         options=s.get("options", ""))
        out.backward(dout)
        return out, leaves

    def __call__(self, q, k, v, kw, vw, dout, grads, scratch=None, stats=None):
        out, leaves = self.step(q, k, v, kw, vw, dout)
        for g, x in zip(grads, leaves):
            g.copy_(x.grad)
        lse = self.kernels().forward(q.contiguous(), k.contiguous(), v.contiguous(),
                                     kw.float().contiguous(), vw.float().contiguous())[1]
        self.last_forward = (out.detach(), lse)
        return grads


def torch_paths(artifacts):
    """(entry, TorchPath) for each kernel set saved in torch/ (kvshift.cuda
    from python/ beside this file); [] without them."""
    tdir, pdir = os.path.join(artifacts, "torch"), os.path.join(artifacts, "python")
    if not os.path.isdir(tdir) or not os.path.isdir(pdir):
        return []
    if pdir not in sys.path:
        sys.path.insert(0, pdir)
    os.environ["KVSHIFT_CUDA_KERNELS"] = tdir
    import kvshift.cuda as kc
    paths = []
    for f in sorted(os.listdir(tdir)):
        with open(os.path.join(tdir, f)) as fh:
            saved = json.load(fh)
        if "op" in saved:  # a cache op's kernels (the serve part's)
            continue
        if saved["chip"] == "sm_90a" and torch.cuda.get_device_capability() != (9, 0):
            print(f"kvshift.cuda set {f}: skipped (sm_90a PTX, an H100 or H200 only)")
            continue
        name = "kvshift.cuda d%d %s%s%s%s" % (saved["d"], saved["dtype"],
                                             " causal" if saved["causal"] else "",
                                             " rope" if saved["rope_theta"] else "",
                                             " " + saved["options"] if saved.get("options")
                                             else "")
        entry = {"name": name, "forward": name, "dtype": saved["dtype"], "d": saved["d"],
                 "causal": saved["causal"], "rope_theta": saved["rope_theta"],
                 "options": saved.get("options", ""), "stats": True}
        paths.append((entry, TorchPath(kc, saved)))
    return paths


class AOTLibrary:
    """An ahead-of-time library: _mlir_ciface_attn on host memory."""

    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        self.libc = ctypes.CDLL(None)

    @staticmethod
    def desc(t):
        class Desc(ctypes.Structure):
            _fields_ = [("allocated", ctypes.c_void_p), ("aligned", ctypes.c_void_p),
                        ("offset", ctypes.c_int64), ("sizes", ctypes.c_int64 * t.dim()),
                        ("strides", ctypes.c_int64 * t.dim())]
        d = Desc()
        d.allocated = d.aligned = t.data_ptr()
        d.offset = 0
        for i in range(t.dim()):
            d.sizes[i], d.strides[i] = t.shape[i], t.stride(i)
        return d

    def __call__(self, q, k, v, kw, vw):
        args = [self.desc(t.contiguous()) for t in (q, k, v, kw, vw)]
        result = self.desc(torch.empty(0, 0, 0, 0))
        self.lib._mlir_ciface_attn(ctypes.byref(result), *[ctypes.byref(a) for a in args])
        msg = ctypes.create_string_buffer(2048)
        if self.lib.kvshift_cuda_take_error(msg, len(msg)):
            raise RuntimeError(msg.value.decode())
        shape = list(result.sizes)
        nbytes = math.prod(shape) * q.element_size()
        data = bytearray(ctypes.string_at(result.aligned, nbytes))
        self.libc.free(ctypes.c_void_p(result.allocated))
        return torch.frombuffer(data, dtype=q.dtype).reshape(shape).clone()


# --- the check ----------------------------------------------------------------

DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16}
# The shared memory a kernel may declare statically; kernels whose tiles
# exceed it (manifest "smem") are launched with dynamic shared memory.
STATIC_SHARED_BYTES = 48 * 1024


def inputs(b, hq, hkv, sq, sk, d, dtype, seed, device="cuda"):
    g = torch.Generator(device="cpu").manual_seed(seed)
    q = torch.randn(b, hq, sq, d, generator=g).to(dtype)
    k = torch.randn(b, hkv, sk, d, generator=g).to(dtype)
    v = torch.randn(b, hkv, sk, d, generator=g).to(dtype)
    kw = torch.rand(hkv, 2, generator=g)  # paper init: a1 ~ U(0,1), a2 = 1 - a1
    kw[:, 1] = 1 - kw[:, 0]
    vw = torch.rand(hkv, 2, generator=g)
    vw[:, 1] = 1 - vw[:, 0]
    return [t.to(device).contiguous() for t in (q, k, v, kw, vw)]


def print_error_table(what, shape_title, rows):
    """Rows (name, shape, our error, PyTorch's error, ok), each failing one
    followed by its diagnose() text."""
    print_error_header(what, shape_title)
    for row in rows:
        print_error_row(shape_title, row)


def print_error_header(what, shape_title):
    w = max(len(shape_title), 26)
    print(f"\n{what:44} {shape_title:{w}} {'err ours':>10} {'err torch':>10}  ok")


def print_error_row(shape_title, row):
    w = max(len(shape_title), 26)
    if isinstance(row, str):
        print(row)
        return
    name, shape, ours, theirs, ok = row
    print(f"{name:44} {shape:{w}} {ours:10.2e} {theirs:10.2e}  {'yes' if ok else 'NO'}")


# Shapes of the correctness checks (module level, so that a CPU run under
# scripts/gpu_check_emulated.py can use small ones).
ATTENTION_SHAPES = [  # b, hq, hkv, sq, sk
    (2, 8, 2, 333, 333),    # GQA, odd S
    (1, 4, 4, 77, 333),     # Sq < Sk (bottom-right causal), odd
    (1, 4, 2, 1, 1),        # S = 1
    (1, 4, 2, 1, 129),      # one query over 129 keys (a decode-like call)
    (2, 16, 16, 1024, 1024),
]
DECODE_SHAPES = [  # b, hq, hkv, sq, smax, length
    (2, 32, 8, 1, 1024, 1000),   # one new token, GQA 4, 2 splits
    (1, 8, 2, 3, 700, 650),      # three new tokens: 12 rows, 3 row blocks
    (1, 4, 4, 1, 2048, 1),       # one valid row
    (2, 16, 2, 5, 333, 333),     # a full cache, 40 rows per group
]
GRAD_SHAPES = [  # b, hq, hkv, sq, sk[, factor on q and k]
    (2, 8, 2, 333, 333),    # GQA, odd S
    (1, 4, 4, 77, 333),     # Sq < Sk
    (1, 4, 2, 1, 1),        # S = 1
    (1, 16, 16, 1024, 1024),
    (2, 8, 2, 256, 256, 3.0),  # large logits (standard deviation 9)
]


def check_correctness(kernels, aot_libs, quick):
    """Each row is printed as soon as it is known: a part stopped by its time
    limit, or by a kernel fault (which leaves the CUDA context unusable),
    keeps the rows before it."""
    shapes = ATTENTION_SHAPES[:4] if quick else ATTENTION_SHAPES
    title = "shape B x Hq/Hkv x Sq/Sk"
    failures = 0
    print_error_header("kernel", title)

    class Rows(list):
        def append(self, row):
            print_error_row(title, row)
            sys.stdout.flush()
    rows = Rows()
    for entry, kern in kernels:
        dtype = DTYPES[entry["dtype"]]
        for n, (b, hq, hkv, sq, sk) in enumerate(shapes):
            q, k, v, kw, vw = inputs(b, hq, hkv, sq, sk, entry["d"], dtype, seed=n)
            out = torch.full_like(q, float("nan"))
            kern(q, k, v, kw, vw, out)
            torch.cuda.synchronize()  # a kernel fault raises here
            theta = entry.get("rope_theta")
            ref = reference(q, k, v, kw, vw, entry["causal"], torch.float32, theta)
            ours = err(out, ref)
            theirs = err(reference(q, k, v, kw, vw, entry["causal"], dtype, theta), ref)
            ok = ours <= 2 * theirs and math.isfinite(ours)
            failures += not ok
            rows.append((entry["name"], f"{b}x{hq}/{hkv}x{sq}/{sk}", ours, theirs, ok))
            if not ok:
                rows.append(diagnose(out, ref, 2 * theirs))
    for path, dname, theta in aot_libs:
        dtype = DTYPES[dname]
        lib = AOTLibrary(path)
        q, k, v, kw, vw = inputs(1, 4, 2, 77, 99, 128, dtype, seed=7, device="cpu")
        try:
            out = lib(q, k, v, kw, vw)
            dev = [t.cuda() for t in (q, k, v, kw, vw)]
            ref = reference(*dev, True, torch.float32, theta).cpu()
            ours = err(out, ref)
            theirs = err(reference(*dev, True, dtype, theta).cpu(), ref)
            ok = ours <= 2 * theirs and math.isfinite(ours)
        except RuntimeError as e:
            print(f"AOT {os.path.basename(path)}: {e}")
            ours, theirs, ok = float("nan"), float("nan"), False
        failures += not ok
        rows.append(("AOT " + os.path.basename(path), "1x4/2x77/99", ours, theirs, ok))
    return failures


def check_decode(decoders, quick):
    """Correctness of the decode kernels against the float32 reference, with
    the same 2x-of-PyTorch bound as the attention kernels."""
    shapes = DECODE_SHAPES[:2] if quick else DECODE_SHAPES
    failures, rows = 0, []
    for entry, kern in decoders:
        dtype = DTYPES[entry["dtype"]]
        theta = entry.get("rope_theta")
        for n, (b, hq, hkv, sq, smax, length) in enumerate(shapes):
            g = torch.Generator(device="cpu").manual_seed(100 + n)
            q = torch.randn(b, hq, sq, entry["d"], generator=g).to(dtype).cuda()
            kc = torch.randn(b, hkv, smax, entry["d"], generator=g).to(dtype).cuda()
            vc = torch.randn(b, hkv, smax, entry["d"], generator=g).to(dtype).cuda()
            out = torch.full_like(q, float("nan"))
            kern(q, kc, vc, length, out)
            torch.cuda.synchronize()
            ref = cache_reference(q, kc, vc, length, entry["causal"], torch.float32, theta)
            ours = err(out, ref)
            theirs = err(cache_reference(q, kc, vc, length, entry["causal"], dtype, theta), ref)
            ok = ours <= 2 * theirs and math.isfinite(ours)
            failures += not ok
            rows.append((entry["name"], f"{b}x{hq}/{hkv}x{sq} len {length}/{smax}",
                         ours, theirs, ok))
            if not ok:
                rows.append(diagnose(out, ref, 2 * theirs))
    print_error_table("decode kernel", "B x Hq/Hkv x Sq, length/Smax", rows)
    return failures


GRAD_NAMES = ("dq", "dk", "dv", "dkw", "dvw")


def reference_grads(q, k, v, kw, vw, dout, causal, dtype, theta=None):
    """Gradients of sum(reference(...) * dout) by autograd, all arithmetic in
    `dtype` (float32: the reference; the inputs' dtype: PyTorch's own
    low-precision backward of the paper's way, with sdpa); the weights stay
    float32 leaves."""
    leaves = [x.detach().to(dtype).requires_grad_() for x in (q, k, v)]
    wl = [w.detach().clone().requires_grad_() for w in (kw, vw)]
    out = reference(*leaves, *wl, causal, dtype, theta)
    grads = torch.autograd.grad(out, leaves + wl, dout.to(dtype))
    return [g.float() for g in grads]


def reference_grads_given_out(q, k, v, kw, vw, dout, causal, theta, given):
    """float32 gradients of a backward whose delta = rowsum(dout * out) uses
    the output `given` (the forward's, rounded to the inputs' dtype) instead
    of the exact one, as FlashAttention's backward and ours given the
    statistics do: delta' - delta = dout . (given - out) =: e, and dS' = dS -
    P e, which is autograd of sum(out * dout) - sum(e * lse) with e held
    constant (d lse_i / d s_ij = P_ij). Their error is what using the
    rounded output costs."""
    leaves = [x.detach().float().requires_grad_() for x in (q, k, v)]
    wl = [w.detach().clone().requires_grad_() for w in (kw, vw)]
    out = reference(*leaves, *wl, causal, torch.float32, theta)
    lse = reference_lse(leaves[0], leaves[1], wl[0], causal, theta)
    e = (dout.float() * (given.float() - out)).sum(-1).detach()
    loss = (out * dout.float()).sum() - (e * lse).sum()
    return [g.float() for g in torch.autograd.grad(loss, leaves + wl)]


def reference_lse(q, k, kw, causal, theta=None, with_max=False):
    """float32 log-sum-exp of each query row's scaled logits q . k^ (K mixed
    in float32; with `theta` both rotated as in reference()), [B, Hq, Sq];
    with_max: also the largest |logit| (a float)."""
    q, km = q.float(), mix(k.float(), kw)
    if theta is not None:
        sq, sk = q.shape[2], k.shape[2]
        km = rotate(km, torch.arange(sk, device=q.device), theta, torch.float32)
        q = rotate(q, torch.arange(sq, device=q.device) + (sk - sq), theta, torch.float32)
    s = (q @ expand_heads(km, q.shape[1]).transpose(-1, -2)) / math.sqrt(q.shape[-1])
    smax = s.abs().max().item() if with_max and s.numel() else 0.0
    if causal:
        s = s.masked_fill(~causal_mask(q.shape[2], k.shape[2], q.device), float("-inf"))
    return (torch.logsumexp(s, -1), smax) if with_max else torch.logsumexp(s, -1)


def weight_term_scale(q, k, v, kw, vw, dout, causal, theta):
    """Per KV head and weight, the root sum of squares of the weight
    gradient's terms, dk^_t[d] k_t[d] and dk^_t[d] k_{t-1}[d] over batch,
    sequence and d (likewise for v), float32: the scale of the rounding error
    of a sum of that many independently rounded terms. Returns [Hkv, 2] for
    kw and for vw."""
    kh = mix(k.float(), kw).detach().requires_grad_()
    vh = mix(v.float(), vw).detach().requires_grad_()
    one = torch.zeros_like(kw)
    one[:, 0] = 1
    out = reference(q.float(), kh, vh, one, one, causal, torch.float32, theta)
    dkh, dvh = torch.autograd.grad(out, (kh, vh), dout.float())
    scales = []
    for g, x in ((dkh, k.float()), (dvh, v.float())):
        prev = F.pad(x, (0, 0, 1, 0))[:, :, :-1]
        scales.append(torch.stack([(g * x).square().sum((0, 2, 3)).sqrt(),
                                   (g * prev).square().sum((0, 2, 3)).sqrt()], -1))
    return scales


def check_grad(grads, quick):
    """The backward kernels against float32 autograd: each of dq, dk, dv,
    dkw, dvw within 2x the error of PyTorch's own low-precision autograd of
    the paper's way (and every element written). Training entries (the
    backward given the forward's statistics): also their forward's out and
    lse, and the bound is 2x the larger of PyTorch's error and that of
    float32 gradients whose delta uses the forward's rounded output."""
    shapes = GRAD_SHAPES[:3] if quick else GRAD_SHAPES
    failures, rows = 0, []
    for entry, kern in grads:
        dtype = DTYPES[entry["dtype"]]
        for n, (b, hq, hkv, sq, sk, *factor) in enumerate(shapes):
            q, k, v, kw, vw = inputs(b, hq, hkv, sq, sk, entry["d"], dtype, seed=200 + n)
            if factor:  # larger logits (the inputs stay in the dtype)
                q, k = (q * factor[0]).to(dtype), (k * factor[0]).to(dtype)
            kw[0, 1] = -0.5  # a negative weight
            g = torch.Generator(device="cpu").manual_seed(300 + n)
            dout = torch.randn(q.shape, generator=g).to(dtype).cuda()
            outs = [torch.full_like(x, float("nan")) for x in (q, k, v, kw, vw)]
            kern(q, k, v, kw, vw, dout, outs)
            torch.cuda.synchronize()
            theta = entry.get("rope_theta")
            shape = f"{b}x{hq}/{hkv}x{sq}/{sk}" + (f" q,k x{factor[0]:g}" if factor else "")
            if entry.get("stats"):
                # The training entry's forward: out within 2x PyTorch's
                # error, as the forward kernels; lse within 1e-4 (relative
                # to max(1, |lse|)) of float32's logsumexp of the scaled
                # logits (the scores are f32 sums of products of the inputs,
                # mixed in f32, as the reference's).
                out, lse = kern.last_forward
                ref_o = reference(q, k, v, kw, vw, entry["causal"], torch.float32, theta)
                ours = err(out, ref_o)
                theirs = err(reference(q, k, v, kw, vw, entry["causal"], dtype, theta), ref_o)
                ok = ours <= 2 * theirs and math.isfinite(ours)
                failures += not ok
                rows.append((f"{entry['forward']} out", shape, ours, theirs, ok))
                # With RoPE the pre-pass rounds the rotated rows to the
                # dtype: 4 ulps of the largest |logit| more.
                ref_l, smax = reference_lse(q, k, kw, entry["causal"], theta,
                                            with_max=True)
                top = ref_l.abs().max().clamp_min(1.0).item()
                lse_err = (lse.double() - ref_l.double()).abs().max().item() / top
                bound = 1e-4 + (4 * torch.finfo(dtype).eps * smax / top if theta else 0.0)
                ok = lse_err <= bound and not torch.isnan(lse).any().item()
                failures += not ok
                rows.append((f"{entry['forward']} lse (bound {bound:.0e})", shape, lse_err,
                             float("nan"), ok))
            ref = reference_grads(q, k, v, kw, vw, dout, entry["causal"], torch.float32, theta)
            low = reference_grads(q, k, v, kw, vw, dout, entry["causal"], dtype, theta)
            given = None
            if entry.get("stats"):
                # Given the statistics, delta uses the forward's rounded
                # output (as FlashAttention's backward): the bound also
                # allows twice what that alone costs.
                given = reference_grads_given_out(q, k, v, kw, vw, dout, entry["causal"],
                                                  theta, kern.last_forward[0])
            wscale = weight_term_scale(q, k, v, kw, vw, dout, entry["causal"], theta)
            for n_, (what, ours_t, r, lo) in enumerate(zip(GRAD_NAMES, outs, ref, low)):
                ours, theirs = err(ours_t, r), err(lo, r)
                if what in ("dkw", "dvw"):
                    # A weight gradient is a sum over batch, sequence and
                    # D with cancellation, and PyTorch's error on its few
                    # values is partly luck: the bound is at least 2 ulps of
                    # the dtype times the root sum of squares of its terms
                    # (the error of a sum of independently rounded terms).
                    floor = (torch.finfo(dtype).eps * wscale[n_ - 3].max() /
                             r.abs().max().clamp_min(1e-30)).item()
                    theirs = max(theirs, floor)
                # S = 1: dq and dk are zero up to rounding; compare absolute
                # errors, PyTorch's at least one ulp of the dtype at 1.
                if given is not None:
                    theirs = max(theirs, err(given[n_], r))
                if r.abs().max() < 1e-6:
                    ours = (ours_t.double() - r).abs().max().item()
                    theirs = max((lo.double() - r).abs().max().item(),
                                 torch.finfo(dtype).eps)
                    if given is not None:
                        theirs = max(theirs, (given[n_].double() - r).abs().max().item())
                ok = ours <= 2 * theirs and math.isfinite(ours)
                failures += not ok
                rows.append((f"{entry['name']} {what}", shape, ours, theirs, ok))
    print_error_table("backward kernel, gradient", "shape B x Hq/Hkv x Sq/Sk", rows)
    return failures


def grad_timings(grads, quick, seqs=None):
    """The backward (our grad kernels, which recompute the forward's row
    statistics) against PyTorch autograd of the paper's way (pad + mix, then
    scaled_dot_product_attention): its backward alone, and forward +
    backward. TFLOP/s counted as 2.5x the forward's 4*B*H*S*S*D (halved for
    causal). Where the training entry of the same dtype and masking exists
    (a forward that hands its lse to the backward), a second table times it
    against the same PyTorch runs: its backward given the statistics (stats
    kernel + the four kernels, grad_q without a forward pass), the same
    against our recomputing backward, and forward (with lse) + backward
    against PyTorch's forward + backward (TFLOP/s: 3.5x the forward's)."""
    b, h, d = TIMING_SHAPE
    by_name = {e["name"]: k for e, k in grads}
    torch_by = {(e["dtype"], e["causal"]): k for e, k in grads
                if isinstance(k, TorchPath) and not e["rope_theta"] and e["d"] == d
                and not e.get("options")}
    # kvshift.cuda sets with forward options (the wgmma forward), timed
    # against the set without options of their dtype and masking.
    optioned = [(e, k) for e, k in grads if isinstance(k, TorchPath) and e.get("options")
                and not e["rope_theta"] and e["d"] == d]
    seqs = seqs or ([1024, 4096] if quick else [1024, 4096, 8192])
    # Backward variants (other kernel options, e.g. the products on
    # warpgroup MMAs), first: each against its base entry in the same run.
    # A training entry's rows: its backward given the statistics ("bwd",
    # TFLOP/s 2.5x the forward's) and its forward with lse ("fwd", 1x).
    variants = [(e, k) for e, k in grads if e.get("variant_of") in by_name and e["d"] == d]
    if variants:
        print(f"\nbackward variants, B={b} H={h} D={d}: base ms / variant ms (higher: the "
              f"variant is faster)")
        print(f"{'variant':50} {'part':4} {'S':>5} | {'variant ms':>10} {'TF/s':>6} | "
              f"{'base ms':>8} {'TF/s':>6} | {'base/variant':>12}")
    for e, kern in variants:
        base = by_name[e["variant_of"]]
        for s in seqs:
            q, k, v, kw, vw = inputs(b, h, h, s, s, d, DTYPES[e["dtype"]], seed=s)
            dout = torch.randn_like(q)
            outs = [torch.empty_like(x) for x in (q, k, v, kw, vw)]
            scratch = kern.scratch(q, k)
            flops = 4 * b * h * s * s * d / (2 if e["causal"] else 1)
            iters = 3 if s >= 8192 else 5
            rows = []
            if e.get("stats"):
                o = torch.empty_like(q)
                lse = torch.empty(q.shape[:3], dtype=torch.float32, device=q.device)
                stats = kern.forward(q, k, v, kw, vw, o, lse)
                rows.append(("bwd", 2.5, lambda kk: kk(q, k, v, kw, vw, dout, outs, scratch,
                                                        stats=stats)))
                rows.append(("fwd", 1.0, lambda kk: kk.forward(
                    q, k, v, kw, vw, torch.empty_like(q), torch.empty_like(lse))))
            else:
                rows.append(("bwd", 2.5, lambda kk: kk(q, k, v, kw, vw, dout, outs, scratch)))
            for part, mult, run in rows:
                tv = time_ms(lambda: run(kern), warmup=1, iters=iters)
                tb = time_ms(lambda: run(base), warmup=1, iters=iters)
                tf = lambda t: mult * flops / (t * 1e-3) / 1e12  # noqa: E731
                print(f"{e['name']:50} {part:4} {s:5} | {tv:10.3f} {tf(tv):6.1f} | "
                      f"{tb:8.3f} {tf(tb):6.1f} | {tb / tv:12.2f}", flush=True)
            del q, k, v, kw, vw, dout, outs, scratch, rows
            torch.cuda.empty_cache()
    train_rows = []
    print(f"\nbackward, B={b} H={h} D={d}; TFLOP/s = 2.5*4*B*H*S*S*D/t (halved for causal)")
    print(f"{'dtype':5} {'causal':6} {'S':>5} | {'fused ms':>9} {'TF/s':>6} | "
          f"{'paper bwd ms':>12} {'TF/s':>6} | {'paper f+b ms':>12} | "
          f"{'paper bwd/fused':>15} {'paper f+b/fused':>15}")
    for dname, causal in (("bf16", True), ("bf16", False), ("f16", True)):
        kern = by_name.get(f"kv_shift_attention_d{d}_{dname}" + ("_causal" if causal else "")
                           + "_grad")
        if kern is None:
            continue
        for s in seqs:
            if s == 8192 and not causal:
                continue
            dtype = DTYPES[dname]
            q, k, v, kw, vw = inputs(b, h, h, s, s, d, dtype, seed=s)
            dout = torch.randn_like(q)
            outs = [torch.empty_like(x) for x in (q, k, v, kw, vw)]
            scratch = kern.scratch(q, k)
            flops = 2.5 * 4 * b * h * s * s * d / (2 if causal else 1)
            iters = 3 if s >= 8192 else 5
            ta = time_ms(lambda: kern(q, k, v, kw, vw, dout, outs, scratch), warmup=1,
                         iters=iters)
            leaves = [x.detach().requires_grad_() for x in (q, k, v, kw, vw)]

            def forward():
                return F.scaled_dot_product_attention(
                    leaves[0], mix(leaves[1], leaves[3]), mix(leaves[2], leaves[4]),
                    is_causal=causal)
            out = forward()
            tb = time_ms(lambda: torch.autograd.grad(out, leaves, dout, retain_graph=True),
                         warmup=1, iters=iters)
            tc = time_ms(lambda: torch.autograd.grad(forward(), leaves, dout), warmup=1,
                         iters=iters)
            tf = lambda t: flops / (t * 1e-3) / 1e12  # noqa: E731
            print(f"{dname:5} {str(causal):6} {s:5} | {ta:9.3f} {tf(ta):6.1f} | "
                  f"{tb:12.3f} {tf(tb):6.1f} | {tc:12.3f} | {tb / ta:15.2f} {tc / ta:15.2f}")
            train = by_name.get(f"kv_shift_attention_d{d}_{dname}" +
                                ("_causal" if causal else "") + "_lse_grad")
            if train is not None:
                o = torch.empty_like(q)
                lse = torch.empty(q.shape[:3], dtype=torch.float32, device=q.device)
                tfw = time_ms(lambda: train.forward(q, k, v, kw, vw, o, lse), warmup=1,
                              iters=iters)
                tbs = time_ms(lambda: train(q, k, v, kw, vw, dout, outs, scratch,
                                            stats=(o, lse)), warmup=1, iters=iters)
                tt = float("nan")
                tp = torch_by.get((dname, causal))
                if tp is not None:
                    tt = time_ms(lambda: tp.step(q, k, v, kw, vw, dout), warmup=1,
                                 iters=iters)
                train_rows.append((dname, causal, s, flops, ta, tbs, tfw, tb, tc, tt))
            del q, k, v, kw, vw, dout, outs, scratch, leaves, out
            torch.cuda.empty_cache()
    if train_rows:
        print(f"\ntraining step (a forward that hands its lse to the backward), B={b} H={h} "
              f"D={d}; TFLOP/s: backward 2.5x, forward + backward 3.5x the forward's")
        print("(kvshift.cuda: the same kernels through its autograd function, input "
              "copies and allocations included)")
        print(f"{'dtype':5} {'causal':6} {'S':>5} | {'bwd stats ms':>12} {'TF/s':>6} | "
              f"{'recompute/stats':>15} {'paper bwd/stats':>15} | {'f+b ms':>8} {'TF/s':>6} | "
              f"{'paper f+b/ours':>14} | {'kvshift.cuda f+b ms':>19} {'paper/it':>8}")
        for dname, causal, s, flops, ta, tbs, tfw, tb, tc, tt in train_rows:
            tf = lambda t, x: x * flops / 2.5 / (t * 1e-3) / 1e12  # noqa: E731
            print(f"{dname:5} {str(causal):6} {s:5} | {tbs:12.3f} {tf(tbs, 2.5):6.1f} | "
                  f"{ta / tbs:15.2f} {tb / tbs:15.2f} | {tfw + tbs:8.3f} "
                  f"{tf(tfw + tbs, 3.5):6.1f} | {tc / (tfw + tbs):14.2f} | "
                  f"{tt:19.3f} {tc / tt:8.2f}")
    if optioned:
        print(f"\nkvshift.cuda training step (forward + backward) with forward options, "
              f"B={b} H={h} D={d}: time without options / with (higher: the options "
              f"are faster)")
        print(f"{'set':60} {'S':>5} | {'with ms':>8} | {'without ms':>10} | {'ratio':>6}")
    for e, tp in optioned:
        base = torch_by.get((e["dtype"], e["causal"]))
        for s in seqs:
            q, k, v, kw, vw = inputs(b, h, h, s, s, d, DTYPES[e["dtype"]], seed=s)
            dout = torch.randn_like(q)
            iters = 3 if s >= 8192 else 5
            tw = time_ms(lambda: tp.step(q, k, v, kw, vw, dout), warmup=1, iters=iters)
            tn = (time_ms(lambda: base.step(q, k, v, kw, vw, dout), warmup=1, iters=iters)
                  if base is not None else float("nan"))
            print(f"{e['name']:60} {s:5} | {tw:8.3f} | {tn:10.3f} | {tn / tw:6.2f}",
                  flush=True)
            del q, k, v, kw, vw, dout
            torch.cuda.empty_cache()


def copy_bandwidth():
    """The device's copy bandwidth (GB/s, bytes read + written) on a 1 GiB
    buffer, with CUDA events."""
    src = torch.empty(1 << 30, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    t = time_ms(lambda: dst.copy_(src), warmup=3, iters=20)
    del src, dst
    torch.cuda.empty_cache()
    return 2 * (1 << 30) / (t * 1e-3) / 1e9


def decode_bandwidth(decoders):
    """Decode-step bandwidth: bytes of the valid cache rows (K and V) read
    per call over the kernel time (decode + merge, workspace allocated
    beforehand), against the copy bandwidth and PyTorch's
    scaled_dot_product_attention over the same cache (GQA expanded by
    enable_gqa)."""
    b, hkv, hq, d, length = 8, 8, 32, 128, 8192
    copy = copy_bandwidth()
    print(f"\ndecode step: B={b} Hq={hq} Hkv={hkv} D={d} cache length {length}; "
          f"copy bandwidth {copy:.0f} GB/s (read + write, 1 GiB)")
    print(f"{'kernel':44} | {'ms':>7} {'GB/s':>7} {'of copy':>7} | {'sdpa ms':>8} {'sdpa GB/s':>9}"
          f" | default/variant")
    times = {}
    for entry, kern in decoders:
        if entry["d"] != d:
            continue
        dtype = DTYPES[entry["dtype"]]
        g = torch.Generator(device="cpu").manual_seed(1)
        q = torch.randn(b, hq, 1, d, generator=g).to(dtype).cuda()
        kc = torch.randn(b, hkv, length, d, generator=g).to(dtype).cuda()
        vc = torch.randn(b, hkv, length, d, generator=g).to(dtype).cuda()
        out = torch.empty_like(q)
        ws = kern.workspace(q, kc)
        t = time_ms(lambda: kern(q, kc, vc, length, out, ws), warmup=10, iters=100)
        nbytes = 2 * b * hkv * length * d * q.element_size()
        gbs = nbytes / (t * 1e-3) / 1e9
        try:
            ts = time_ms(lambda: F.scaled_dot_product_attention(q, kc, vc, enable_gqa=True),
                         warmup=5, iters=50)
            sdpa = f"{ts:8.3f} {nbytes / (ts * 1e-3) / 1e9:9.0f}"
        except (TypeError, RuntimeError) as e:  # enable_gqa needs torch >= 2.5
            sdpa = f"n/a ({type(e).__name__})"
        times[entry["name"]] = t
        base = times.get(entry.get("variant_of"))
        ratio = f" | {base / t:15.2f}" if base else ""
        print(f"{entry['name']:44} | {t:7.3f} {gbs:7.0f} {gbs / copy:7.2f} | {sdpa}{ratio}")


def warm_up(seconds=1.0):
    """Busy work until the clocks are up: an idle GPU starts at a low SM
    clock, and the first part's timings would otherwise pay for the ramp."""
    x = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    t0 = time.time()
    while time.time() - t0 < seconds:
        for _ in range(20):
            x @ x
        torch.cuda.synchronize()


def time_ms(fn, warmup=3, iters=10):
    for _ in range(warmup):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / iters


TIMING_SHAPE = (4, 16, 128)  # B, H, D


def timing_seqs(quick):
    return [1024, 4096] if quick else [1024, 4096, 8192]


def timings(kernels, quick):
    b, h, d = TIMING_SHAPE
    seqs = timing_seqs(quick)
    by_name = {e["name"]: (e, k) for e, k in kernels}
    print(f"\nB={b} H={h} D={d}; TFLOP/s = 4*B*H*S*S*D/t (halved for causal); "
          f"device: {torch.cuda.get_device_name()}")
    print(f"{'dtype':5} {'causal':6} {'S':>5} | {'fused ms':>9} {'TF/s':>6} | "
          f"{'paper ms':>9} {'TF/s':>6} | {'sdpa ms':>8} {'TF/s':>6} | "
          f"{'fused/paper':>11} {'fused/sdpa':>10}")
    for dname in ("bf16", "f16"):
        for causal in (True, False):
            kern = by_name[f"kv_shift_attention_d{d}_{dname}" + ("_causal" if causal else "")][1]
            for s in seqs:
                q, k, v, kw, vw = inputs(b, h, h, s, s, d, DTYPES[dname], seed=s)
                out = torch.empty_like(q)
                flops = 4 * b * h * s * s * d / (2 if causal else 1)
                ta = time_ms(lambda: kern(q, k, v, kw, vw, out))
                tb = time_ms(lambda: F.scaled_dot_product_attention(
                    q, mix(k, kw), mix(v, vw), is_causal=causal))
                tc = time_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal))
                tf = lambda t: flops / (t * 1e-3) / 1e12
                print(f"{dname:5} {str(causal):6} {s:5} | {ta:9.3f} {tf(ta):6.1f} | "
                      f"{tb:9.3f} {tf(tb):6.1f} | {tc:8.3f} {tf(tc):6.1f} | "
                      f"{tb / ta:11.2f} {tc / ta:10.2f}")
                del q, k, v, kw, vw, out
                torch.cuda.empty_cache()


def variant_timings(kernels, b, h, d, seqs):
    """Tile variants (manifest entries with "variant_of") against the kernel
    with the default tiles, and (without RoPE) against the paper's way, on
    the same inputs. Inputs, the default's times and the paper's way's are
    computed once per dtype and S (and causality) and shared by the
    variants."""
    by_name = {e["name"]: (e, k) for e, k in kernels}
    rows = [(e, k, by_name[e["variant_of"]]) for e, k in kernels
            if e.get("variant_of") in by_name]
    if not rows:
        return
    print(f"\ntile variants, B={b} H={h} D={d}: time of the default tiles / time of "
          f"the variant (higher: the variant is faster), and the paper's way "
          f"(pad + mix, sdpa) / the variant (> 1: the variant beats it; - with RoPE)")
    print(f"{'variant':44} {'S':>5} | {'variant ms':>10} {'TF/s':>6} | "
          f"{'default ms':>10} | {'default/variant':>15} | {'paper ms':>8} {'paper/variant':>13}")
    base_ms, paper_ms = {}, {}
    for s in seqs:
        for dname in sorted({e["dtype"] for e, _, _ in rows}):
            dtype = DTYPES[dname]
            q, k, v, kw, vw = inputs(b, h, h, s, s, d, dtype, seed=s)
            out = torch.empty_like(q)
            scratch = (torch.empty_like(q), torch.empty_like(k))
            for entry, kern, (base_entry, base) in rows:
                if entry["dtype"] != dname:
                    continue
                tv = time_ms(lambda: kern(q, k, v, kw, vw, out, scratch))
                key = (base_entry["name"], s)
                if key not in base_ms:
                    base_ms[key] = time_ms(lambda: base(q, k, v, kw, vw, out, scratch))
                tp = None
                if entry.get("rope_theta") is None:
                    pkey = (dname, entry["causal"], s)
                    if pkey not in paper_ms:
                        paper_ms[pkey] = time_ms(lambda: F.scaled_dot_product_attention(
                            q, mix(k, kw), mix(v, vw), is_causal=entry["causal"]))
                    tp = paper_ms[pkey]
                # Printed at once: a time limit or a kernel fault keeps the
                # rows before it.
                tb = base_ms[key]
                flops = 4 * b * h * s * s * d / (2 if entry["causal"] else 1)
                paper = (f"{tp:8.3f} {tp / tv:13.2f}" if tp is not None
                         else f"{'-':>8} {'-':>13}")
                print(f"{entry['name']:44} {s:5} | {tv:10.3f} "
                      f"{flops / (tv * 1e-3) / 1e12:6.1f} | {tb:10.3f} | {tb / tv:15.2f} | "
                      f"{paper}", flush=True)
            del q, k, v, kw, vw, out, scratch
            torch.cuda.empty_cache()


def rope_timings(by_name, b, h, d, seqs):
    """The cost of RoPE: the fused kernel with RoPE (pre-pass included, into
    preallocated scratch) against the fused kernel without, and against the
    paper's way with RoPE in PyTorch (pad + mix, rotate with cos/sin tables
    computed beforehand, scaled_dot_product_attention)."""
    rows = [(dn, by_name.get(f"kv_shift_attention_d{d}_{dn}_causal_rope"),
             by_name.get(f"kv_shift_attention_d{d}_{dn}_causal")) for dn in ("bf16", "f16")]
    rows = [(dn, r, p) for dn, r, p in rows if r is not None and p is not None]
    if not rows:
        return
    print(f"\nRoPE after the mix, causal, B={b} H={h} D={d}, theta "
          f"{rows[0][1][0]['rope_theta']:g}; TFLOP/s counted as without RoPE")
    print(f"{'dtype':5} {'S':>5} | {'rope ms':>8} {'TF/s':>6} | {'no-rope ms':>10} | "
          f"{'paper+rope ms':>13} | {'rope/no-rope':>12} {'paper/rope':>10}")
    for dname, (entry, rope_kern), (_, plain_kern) in rows:
        theta = entry["rope_theta"]
        for s in seqs:
            q, k, v, kw, vw = inputs(b, h, h, s, s, d, DTYPES[dname], seed=s)
            out = torch.empty_like(q)
            scratch = (torch.empty_like(q), torch.empty_like(k))
            pos = torch.arange(s, device="cuda")
            c, sn = rope_cos_sin(pos, d, theta, q.dtype)

            def paper():
                half = d // 2

                def rot(x):
                    x1, x2 = x[..., :half], x[..., half:]
                    return torch.cat([x1 * c - x2 * sn, x2 * c + x1 * sn], dim=-1)
                return F.scaled_dot_product_attention(rot(q), rot(mix(k, kw)), mix(v, vw),
                                                      is_causal=True)
            flops = 4 * b * h * s * s * d / 2
            tr = time_ms(lambda: rope_kern(q, k, v, kw, vw, out, scratch))
            tp = time_ms(lambda: plain_kern(q, k, v, kw, vw, out))
            tb = time_ms(paper)
            print(f"{dname:5} {s:5} | {tr:8.3f} {flops / (tr * 1e-3) / 1e12:6.1f} | "
                  f"{tp:10.3f} | {tb:13.3f} | {tr / tp:12.3f} {tb / tr:10.2f}")


# The serve part's models (kvshift.models.KVShiftLlama, RoPE, GQA 16/4,
# head dim 64): build-gpu-check.sh saves kvshift.cuda's kernel sets for
# them. SERVE_CHECK (f32) must give eager's tokens; SERVE_SPEED (bf16) is
# timed.
SERVE_CHECK = dict(vocab_size=512, d_model=256, n_layers=2, n_heads=4, n_kv_heads=1,
                   max_seq_len=4096, rope_theta=10000.0)
SERVE_SPEED = dict(vocab_size=4096, d_model=1024, n_layers=4, n_heads=16, n_kv_heads=4,
                   max_seq_len=4096, rope_theta=10000.0)
SERVE_SHAPE = (8, 1024, 64)  # batch, prompt, new tokens


def serve(artifacts, quick, check_shape=(2, 37, 8), speed_shape=None):
    """Greedy generation with device-resident KV caches: kvshift.cuda.generate
    (the append kernel, then the decode and merge kernels, in every layer;
    the rest of the model in PyTorch) against kvshift.models.generate_eager
    (the same model in PyTorch eager with the cache done right). An f32
    model must give eager's tokens; a bf16 model is timed (decode steps
    only; prefill excluded), with the SIMT decode kernel and decode-mma."""
    paths = torch_paths(artifacts)  # sys.path and KVSHIFT_CUDA_KERNELS
    if not paths:
        print("\nserve: no kvshift.cuda in the artifacts")
        return 1
    kc = paths[0][1].kc
    from kvshift.models import KVShiftLlama, LlamaConfig, generate_eager
    failures = 0
    torch.manual_seed(0)
    b, p, n = check_shape
    model = KVShiftLlama(LlamaConfig(**SERVE_CHECK)).eval().cuda()
    prompt = torch.randint(0, SERVE_CHECK["vocab_size"], (b, p)).cuda()
    want, _ = generate_eager(model, prompt, n, p + n)
    got, _ = kc.generate(model, prompt, n, p + n)
    same = torch.equal(got, want)
    failures += not same
    print(f"\nserve: f32 KVShiftLlama {SERVE_CHECK['d_model']}x{SERVE_CHECK['n_layers']}, "
          f"{b} prompts of {p} tokens + {n}: kvshift.cuda.generate's tokens "
          f"{'equal' if same else 'DIFFER FROM'} generate_eager's")
    b, p, n = speed_shape or (SERVE_SHAPE if not quick else (SERVE_SHAPE[0], 256, 32))
    model = KVShiftLlama(LlamaConfig(**SERVE_SPEED)).eval().to(torch.bfloat16).cuda()
    prompt = torch.randint(0, SERVE_SPEED["vocab_size"], (b, p)).cuda()
    print(f"serve: bf16 KVShiftLlama d_model {SERVE_SPEED['d_model']}, "
          f"{SERVE_SPEED['n_layers']} layers, heads {SERVE_SPEED['n_heads']}/"
          f"{SERVE_SPEED['n_kv_heads']} (D = 64), batch {b}, prompt {p}, {n} new tokens "
          f"(decode steps timed; best of 2)")
    print(f"{'decoding':36} | {'tokens/s':>9} | {'vs eager':>8} | same tokens as eager")
    runs = [("PyTorch eager (generate_eager)", lambda: generate_eager(model, prompt, n, p + n)),
            ("kvshift.cuda.generate", lambda: kc.generate(model, prompt, n, p + n)),
            ("kvshift.cuda.generate decode-mma", lambda: kc.generate(
                model, prompt, n, p + n, options="decode-mma=true"))]
    base, ref_tokens = None, None
    for name, fn in runs:
        best, tokens = None, None
        for _ in range(2):
            tokens, sec = fn()
            best = sec if best is None else min(best, sec)
        tps = b * (n - 1) / best if best > 0 else float("inf")
        if base is None:
            base, ref_tokens = tps, tokens
        agree = float((tokens[:, p:] == ref_tokens[:, p:]).float().mean())
        print(f"{name:36} | {tps:9.0f} | {tps / base:8.2f} | {agree:.3f} of new tokens")
    return failures


PARTS = ("wgmma", "attention", "aot", "decode", "bandwidth", "timings", "rope", "grad",
         "gradtimings", "serve", "profile")


def profile_launches(kernels, decoders):
    """One launch each of the bf16 causal D=128 kernel (B=4, H=16, S=4096)
    and of the bf16 decode kernels (the bandwidth shape; the SIMT kernel,
    then the tensor-core variant, whose kernel has the same name), for a
    profiler (gpu-check.sh --ncu) to read; nothing is printed but the
    launches."""
    by_name = {e["name"]: k for e, k in kernels}
    kern = by_name["kv_shift_attention_d128_bf16_causal"]
    q, k, v, kw, vw = inputs(4, 16, 16, 4096, 4096, 128, torch.bfloat16, seed=0)
    out = torch.empty_like(q)
    kern(q, k, v, kw, vw, out)
    for entry, dec in decoders:
        if entry["name"] in ("kv_cache_decode_d128_bf16_causal",
                             "kv_cache_decode_d128_bf16_causal_mma"):
            g = torch.Generator(device="cpu").manual_seed(1)
            q = torch.randn(8, 32, 1, 128, generator=g).to(torch.bfloat16).cuda()
            kc = torch.randn(8, 8, 8192, 128, generator=g).to(torch.bfloat16).cuda()
            vc = torch.randn(8, 8, 8192, 128, generator=g).to(torch.bfloat16).cuda()
            dec(q, kc, vc, 8192, torch.empty_like(q))
    torch.cuda.synchronize()
    print("profile: launched")


def loadable(entry, root):
    """Whether this device can load the entry's PTX: PTX for sm_90a (the
    wgmma variants) loads on sm_90 devices only; the others are skipped with
    a line saying so."""
    with open(os.path.join(root, entry["ptx"]), "rb") as f:
        sm90a = b".target sm_90a" in f.read()
    if sm90a and torch.cuda.get_device_capability() != (9, 0):
        print(f"{entry['name']}: skipped (PTX for sm_90a, an H100 or H200 only)")
        return False
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--artifacts", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--quick", action="store_true", help="fewer shapes, S <= 4096")
    ap.add_argument("--parts", default=",".join(PARTS[:-1]),
                    help="comma-separated subset of " + ",".join(PARTS) +
                         " (gpu-check.sh runs each in a process of its own, so that a "
                         "kernel fault in one leaves the others' results)")
    ap.add_argument("--selftest", action="store_true")
    args = ap.parse_args()
    if args.selftest:
        selftest()
        return 0
    parts = args.parts.split(",")
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        ap.error(f"unknown part(s) {unknown}; expected some of {','.join(PARTS)}")
    if not torch.cuda.is_available():
        print("no CUDA device visible to PyTorch")
        return 1
    t0 = time.time()
    torch.zeros(1, device="cuda")  # PyTorch creates the primary context
    with open(os.path.join(args.artifacts, "manifest.json")) as f:
        manifest = json.load(f)
    print(f"[{args.parts}] artifacts: {args.artifacts} ({manifest['built']}, PTX for "
          f"{manifest['chip']}); torch {torch.__version__}, CUDA {torch.version.cuda}, "
          f"{torch.cuda.get_device_name()}")
    cubins = {}
    if torch.cuda.get_device_capability() == (9, 0) and \
            os.environ.get("KVSHIFT_JIT_PTX", "0") in ("", "0"):
        cubins = cubin_images(args.artifacts)
    print(f"modules: {len(cubins)} sm_90a cubins ({manifest.get('cubins') or 'none built'}) "
          f"loaded instead of JIT-compiling their PTX" if cubins else
          "modules: the PTX JIT-compiled by the driver")
    driver = Driver(cubins)
    failures = 0
    try:
        kernels, decoders = [], []
        if {"attention", "timings", "rope", "profile"} & set(parts):
            kernels = [(e, Kernel(driver, manifest, e, args.artifacts))
                       for e in manifest["kernels"] if loadable(e, args.artifacts)]
        if {"decode", "bandwidth", "profile"} & set(parts):
            decoders = [(e, DecodeKernel(driver, e, args.artifacts))
                        for e in manifest.get("decode_kernels", [])]
        grads = []
        if {"grad", "gradtimings"} & set(parts):
            grads = [(e, GradKernel(driver, e, args.artifacts))
                     for e in manifest.get("grad_kernels", []) if loadable(e, args.artifacts)]
            grads += torch_paths(args.artifacts)
        if "wgmma" in parts:
            if torch.cuda.get_device_capability() == (9, 0):
                sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
                import wgmma_probe
                failures += wgmma_probe.run(driver)
            else:
                print("wgmma layout probe: skipped (sm_90a only; this device is "
                      f"sm_{''.join(map(str, torch.cuda.get_device_capability()))})")
        if "attention" in parts:
            failures += check_correctness(kernels, [], args.quick)
        if "aot" in parts:
            libdir = os.path.join(args.artifacts, "lib")
            # lib/libkvshift_attn_<dtype>_d128_causal[_rope].so; the RoPE
            # library's theta is the manifest's.
            rope_theta = manifest.get("aot_rope_theta")
            aot = [(os.path.join(libdir, f), f.split("_")[2],
                    rope_theta if "_rope" in f else None)
                   for f in sorted(os.listdir(libdir))
                   if f.endswith(".so")] if os.path.isdir(libdir) else []
            failures += check_correctness([], aot, args.quick)
        if "decode" in parts:
            failures += check_decode(decoders, args.quick)
        if "grad" in parts:
            failures += check_grad(grads, args.quick)
        if {"wgmma", "attention", "aot", "decode", "grad"} & set(parts):
            print(f"\ncorrectness [{args.parts}]: "
                  f"{'all passed' if failures == 0 else f'{failures} FAILED'} "
                  f"({time.time() - t0:.0f} s)")
        if {"bandwidth", "timings", "rope", "gradtimings", "serve"} & set(parts):
            warm_up()
        if "bandwidth" in parts:
            decode_bandwidth(decoders)
        if "timings" in parts:
            timings(kernels, args.quick)
            b, h, d = TIMING_SHAPE
            variant_timings(kernels, b, h, d, timing_seqs(args.quick))
        if "rope" in parts:
            b, h, d = TIMING_SHAPE
            rope_timings({e["name"]: (e, k) for e, k in kernels}, b, h, d,
                         timing_seqs(args.quick))
        if "gradtimings" in parts:
            grad_timings(grads, args.quick)
        if "serve" in parts:
            failures += serve(args.artifacts, args.quick)
        if "profile" in parts:
            profile_launches(kernels, decoders)
    except RuntimeError as e:  # a launch error or a kernel fault
        print(f"\n[{args.parts}] aborted: {e}")
        return 1
    print(f"\n[{args.parts}] done in {time.time() - t0:.0f} s (modules loaded: "
          f"{driver.loaded['cubin']} from cubins, {driver.loaded['ptx']} JIT-compiled)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
