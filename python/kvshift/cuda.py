"""kvshift's fused GPU kernels on PyTorch CUDA tensors (``kvshift.cuda``).

``kv_shift_attention(q, k, v, kw, vw, scale=None, causal=False, rope_theta=None, chip="sm_80", options="")``
    ``kvshift.kv_shift_attention`` (SPEC.md) computed by the kernels of the
    ``kvshift-to-nvvm`` pipeline on the tensors' device memory and PyTorch's
    current stream: no copies to or from the host. Differentiable with
    respect to q, k, v, kw and vw: the forward keeps its output and each
    query row's log-sum-exp, and the backward runs the kernels of the
    training step (docs/GPU.md, "Training step") on them. ``options``:
    tile and variant options of ``kvshift-fuse-attention-gpu`` for these
    kernels (``shifted-values``, ``lazy-rescale``, ``wgmma``,
    ``wgmma-overlap``, ``kv-prefetch``, ``grad-prefetch``, ``block-k``, ``warps``,
    ``min-blocks-per-sm``; the wgmma ones need ``chip="sm_90a"``, an H100
    or H200).
``kernels(dtype, head_dim, causal=False, scale=None, rope_theta=None, chip="sm_80", options="")``
    The compiled kernels of one configuration (cached): ``forward(q, k, v,
    kw, vw)`` -> ``(out, lse)`` and ``backward(q, k, v, kw, vw, dout, out,
    lse)`` -> ``(dq, dk, dv, dkw, dvw)``.

``kv_cache_append(k_new, v_new, k_last, v_last, kw, vw, k_cache, v_cache, pos, rope_theta=None)``
``kv_cache_attention(q, k_cache, v_cache, length, scale=None, causal=True, rope_theta=None)``
    The KV-cache ops with the signatures and in-place semantics of
    ``kvshift.torch``'s (docs/KVCache.md), on caches that stay in device
    memory: the append kernel (``append-kernel``) writes the new rows into
    the caches, the decode and merge kernels read them.
``generate(model, prompt, n_new, max_len, dtype=None, options="")``
    ``kvshift.models.generate_eager`` with every attention layer's cache
    ops replaced by these: greedy decoding of a ``KVShiftLlama`` on the GPU
    whose attention runs on kvshift's kernels (``options``: decode options
    of ``kvshift-fuse-attention-gpu``, such as ``decode-mma=true``).

Shapes and types are those of the op: q ``[B, Hq, Sq, D]``, k and v ``[B,
Hkv, Sk, D]`` of one dtype (float16, bfloat16 or float32; D at most 128 for
the 16-bit types), kw and vw ``[Hkv, 2]`` (float32 in the kernels), causal
masking bottom-right aligned (Sq <= Sk). The kernels are compiled on first
use of a configuration by the C++ runtime library (``kvshift.opt``: the
module of a forward and its gradient through ``kvshift-to-nvvm``, PTX for
``chip``; the driver compiles the PTX for the device at load time), loaded
through the CUDA driver API (``libcuda.so.1``, ctypes) and launched in the
order and with the grids that their launchers use (``kvshift-gpu-launchers``
writes the same host code). Scratch buffers come from PyTorch's caching
allocator.

Errors: tensors that are not on a CUDA device, of other dtypes or shapes, or
a configuration the kernels do not support raise ValueError or
``kvshift.CompileError`` before anything runs; a failing CUDA call raises
``CUDAError`` naming it.

``set_driver(driver)`` replaces the CUDA driver (the tests run the kernels
on the CPU emulator of ``scripts/gpu_emulator.py`` through it).
"""

import ctypes
import json
import math
import os
import re

import torch

from . import ptx as _ptx
from . import runtime
from . import torch as _ktorch

__all__ = ["kv_shift_attention", "kernels", "Kernels", "CUDAError", "Driver",
           "set_driver", "save_kernels", "kv_cache_append", "kv_cache_attention",
           "cache_kernels", "CacheKernels", "generate"]


class CUDAError(runtime.Error):
    """A CUDA driver call failed."""


class Driver(object):
    """The CUDA driver API (``libcuda.so.1``) for the kernels: modules loaded
    once per device and PTX text, launches on PyTorch's current stream."""

    accepts_cpu = False  # the kernels take device memory

    def __init__(self):
        try:
            self.lib = ctypes.CDLL("libcuda.so.1")
        except OSError as e:
            raise CUDAError("no CUDA driver (libcuda.so.1): %s" % e)
        self.lib.cuGetErrorName.argtypes = [ctypes.c_int,
                                            ctypes.POINTER(ctypes.c_char_p)]
        self.modules = {}

    def check(self, r, what):
        if r != 0:
            name = ctypes.c_char_p()
            self.lib.cuGetErrorName(r, ctypes.byref(name))
            raise CUDAError("%s failed: %s"
                            % (what, name.value.decode() if name.value else r))

    def load(self, ptx, name, source=None, options=""):
        """Function ``name`` of the PTX module ``ptx`` on the current device
        (``source`` and ``options``: the MLIR it came from and the options of
        kvshift-fuse-attention-gpu it was compiled with, for drivers that run
        that)."""
        # PyTorch creates and makes current the device's primary context.
        torch.empty(0, device="cuda")
        key = (torch.cuda.current_device(), ptx)
        module = self.modules.get(key)
        if module is None:
            module = ctypes.c_void_p()
            log = ctypes.create_string_buffer(16384)
            opts = (ctypes.c_int * 2)(5, 6)  # CU_JIT_ERROR_LOG_BUFFER(_SIZE_BYTES)
            vals = (ctypes.c_void_p * 2)(ctypes.cast(log, ctypes.c_void_p).value,
                                         len(log) - 1)
            r = self.lib.cuModuleLoadDataEx(ctypes.byref(module),
                                            ctypes.c_char_p(ptx.encode() + b"\0"),
                                            2, opts, vals)
            if r != 0:
                self.check(r, "cuModuleLoadDataEx(%s): %s"
                           % (name, log.value.decode(errors="replace")))
            self.modules[key] = module
        fn = ctypes.c_void_p()
        self.check(self.lib.cuModuleGetFunction(ctypes.byref(fn), module,
                                                name.encode()),
                   "cuModuleGetFunction(%s)" % name)
        return fn

    def launch(self, fn, name, grid, threads, args, smem=0):
        """Launches ``fn`` on ``grid`` blocks of ``threads`` threads. ``args``:
        tensors (each a flat ``memref<?xT>``: pointer twice, offset 0, size,
        stride 1) and ints (``index``). ``smem``: bytes of dynamic shared
        memory (kernels whose tiles exceed 48 KiB; the function is first
        allowed that much)."""
        if smem > _STATIC_SHARED_BYTES:
            # CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
            self.check(self.lib.cuFuncSetAttribute(fn, 8, ctypes.c_int(smem)),
                       "cuFuncSetAttribute(%s, MAX_DYNAMIC_SHARED_SIZE_BYTES = %d; "
                       "more shared memory per block than this device allows?)"
                       % (name, smem))
        vals = []
        for a in args:
            if isinstance(a, torch.Tensor):
                p = a.data_ptr()
                vals += [ctypes.c_void_p(p), ctypes.c_void_p(p), ctypes.c_int64(0),
                         ctypes.c_int64(a.numel()), ctypes.c_int64(1)]
            else:
                vals.append(ctypes.c_int64(int(a)))
        params = (ctypes.c_void_p * len(vals))(
            *[ctypes.cast(ctypes.pointer(x), ctypes.c_void_p) for x in vals])
        stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
        self.check(self.lib.cuLaunchKernel(fn, grid[0], grid[1], grid[2], threads,
                                           1, 1, smem, stream, params, None),
                   "cuLaunchKernel(%s)" % name)


_driver = None


def set_driver(driver):
    """Uses ``driver`` (``load``, ``launch``, ``accepts_cpu``) for every
    later launch; ``None``: the CUDA driver again. ``launch`` is called as
    ``Driver.launch``; ``smem=`` is passed only to launch a kernel that needs
    dynamic shared memory."""
    global _driver
    _driver = driver


def _get_driver():
    global _driver
    if _driver is None:
        _driver = Driver()
    return _driver


_TYPES = {torch.float16: "f16", torch.bfloat16: "bf16", torch.float32: "f32"}


def _source(t, d, causal, scale, rope_theta):
    """A forward and its gradient on the same operands (dynamic B, H, S):
    kvshift-to-nvvm makes them the training step."""
    ty = "tensor<?x?x?x%dx%s>" % (d, t)
    w = "tensor<?x2xf32>"
    attrs = (" causal" if causal else "") + " scale = %r" % float(scale)
    if rope_theta is not None:
        attrs += " rope_theta = %r" % float(rope_theta)
    ins = "%s, %s, %s, %s, %s" % (ty, ty, ty, w, w)
    grads = "%s, %s, %s, %s, %s" % (ty, ty, ty, w, w)
    return ("func.func @train(%%q: %s, %%k: %s, %%v: %s, %%kw: %s, %%vw: %s, "
            "%%do: %s) -> (%s, %s) {\n"
            "  %%o = kvshift.kv_shift_attention %%q, %%k, %%v mix(%%kw, %%vw)%s"
            " : (%s) -> %s\n"
            "  %%dq, %%dk, %%dv, %%dkw, %%dvw = kvshift.kv_shift_attention_grad "
            "%%q, %%k, %%v mix(%%kw, %%vw) dout(%%do)%s : (%s, %s) -> (%s)\n"
            "  return %%o, %%dq, %%dk, %%dv, %%dkw, %%dvw : %s, %s\n}\n"
            % (ty, ty, ty, w, w, ty, ty, grads, attrs, ins, ty, attrs, ins, ty,
               grads, ty, grads))


def _launcher_attrs(text, marker):
    """The kvshift.gpu_* attributes of the launcher declaration whose line
    holds ``marker``: ints, symbol names and lists of symbol names."""
    line = next((l for l in text.splitlines()
                 if "func.func private @kvshift_launch_" in l and marker in l), None)
    if line is None:
        raise runtime.CompileError("kvshift-fuse-attention-gpu wrote no launcher "
                                   "with %s" % marker)
    attrs = {}
    for key, val in re.findall(r"kvshift\.gpu_(\w+) = (\[[^\]]*\]|[^,}]+)", line):
        val = val.strip()
        if val.startswith("["):
            attrs[key] = [x.split("::@")[-1].strip() for x in val.strip("[]").split(",")]
        elif val.startswith("@"):
            attrs[key] = val.split("::@")[-1]
        else:
            attrs[key] = int(val.split(":")[0])
    return attrs


# Shared memory a kernel may declare statically; kernels above it carry
# kvshift.dynamic_shared_memory and are launched with that many bytes.
_STATIC_SHARED_BYTES = 48 * 1024


def _dynamic_smem(text):
    """Kernel name -> bytes of dynamic shared memory, for the kernels of
    kvshift-fuse-attention-gpu's output that need it."""
    return {k: int(n) for k, n in re.findall(
        r"gpu\.func @(\w+)\(.*kvshift\.dynamic_shared_memory = (\d+)", text)}


def _block_size(text, kernel):
    m = re.search(r"gpu\.func @%s\(.*known_block_size = array<i32: (\d+)"
                  % re.escape(kernel), text)
    if not m:
        raise runtime.CompileError("no kernel %s in the GPU module" % kernel)
    return int(m.group(1))


def _cdiv(x, y):
    return -(-x // y)


class _KernelSet(object):
    """What Kernels and CacheKernels share: their JSON form (to_dict,
    from_dict: the fields of _FIELDS and the dtype), and loading and
    launching their functions."""

    _FIELDS = ()
    _OPTIONAL = {}  # fields that sets saved by earlier versions may lack
    _WHAT = "kvshift.cuda kernel set"
    options = ""  # kvshift-fuse-attention-gpu options the PTX was made with
    smem = {}  # kernel -> bytes of dynamic shared memory (tiles above 48 KiB)

    def _start(self, dtype, saved):
        """Checks the dtype, and sets the fields from ``saved`` when given;
        returns whether it did (then nothing is to be compiled)."""
        if dtype not in _TYPES:
            raise ValueError("dtype must be float16, bfloat16 or float32, got %s"
                             % dtype)
        self.dtype = dtype
        self._fns = {}
        if saved is None:
            return False
        for f in self._FIELDS:
            setattr(self, f, saved[f] if f in saved else self._OPTIONAL[f])
        return True

    def to_dict(self):
        """The configuration, PTX and launches as JSON-able values."""
        d = {f: getattr(self, f) for f in self._FIELDS}
        d["dtype"] = _TYPES[self.dtype]
        return d

    @classmethod
    def from_dict(cls, d):
        """A set from to_dict()'s values: no compilation (no MLIR needed)."""
        dtype = {v: k for k, v in _TYPES.items()}.get(d.get("dtype"))
        missing = [f for f in cls._FIELDS if f not in d and f not in cls._OPTIONAL]
        if dtype is None or missing:
            raise ValueError("not a %s: dtype %r, missing %s"
                             % (cls._WHAT, d.get("dtype"), missing))
        return cls(dtype, d["d"], _saved=d)

    def _fuse_options(self):
        """The options of kvshift-fuse-attention-gpu the PTX was made with."""
        return self.options

    def _fn(self, name):
        fn = self._fns.get(name)
        if fn is None:
            fn = _get_driver().load(self.ptx, name, source=self.source,
                                    options=self._fuse_options())
            self._fns[name] = fn
        return fn

    def _launch(self, name, grid, threads, args):
        if min(grid) > 0:
            smem = self.smem.get(name, 0)
            # A driver is only asked for dynamic shared memory when a kernel
            # needs it (drivers of earlier versions take no smem).
            extra = {"smem": smem} if smem else {}
            _get_driver().launch(self._fn(name), name, grid, threads, args, **extra)


class Kernels(_KernelSet):
    """The training step's kernels for one configuration: the forward that
    also writes each row's log-sum-exp, and the backward given it (stats
    kernel, grad_q, grad_kv, grad_mix, grad_w), with the RoPE pre-pass when
    ``rope_theta`` is set. ``options``: options of
    kvshift-fuse-attention-gpu (``_TRAIN_OPTION``)."""

    # What to_dict() keeps: the configuration, the PTX and the launches.
    _FIELDS = ("d", "causal", "scale", "rope_theta", "chip", "source", "ptx",
               "fwd_kernel", "block_m", "fwd_threads", "grad_kernels",
               "stats_kernel", "q_rows", "kv_rows", "threads", "mix_threads",
               "w_threads", "rope_kernel", "rope_items", "rope_threads", "options",
               "smem")
    _OPTIONAL = {"options": "", "smem": {}}

    def __init__(self, dtype, head_dim, causal=False, scale=None, rope_theta=None,
                 chip="sm_80", options="", _saved=None):
        if self._start(dtype, _saved):
            return
        bad = [o for o in options.split() if not _TRAIN_OPTION.match(o)]
        if bad:
            raise ValueError("options: expected shifted-values, lazy-rescale, wgmma, "
                             "wgmma-overlap, kv-prefetch or grad-prefetch =true|false, "
                             "or block-k, "
                             "warps or min-blocks-per-sm =N, got %s" % " ".join(bad))
        self.d, self.causal, self.chip = int(head_dim), bool(causal), chip
        self.options = " ".join(options.split())
        self.scale = 1.0 / math.sqrt(self.d) if scale is None else float(scale)
        self.rope_theta = None if rope_theta is None else float(rope_theta)
        self.source = _source(_TYPES[dtype], self.d, self.causal, self.scale,
                              self.rope_theta)
        lowered = runtime.opt(self.source, "kvshift-to-nvvm{%s}"
                              % " ".join(["chip=" + chip] + self.options.split()))
        self.ptx = _ptx.extract_ptx(lowered)
        fused = runtime.opt(self.source, "builtin.module(func.func("
                            "kvshift-share-attention-stats),kvshift-fuse-attention-gpu{%s})"
                            % self._fuse_options())
        fwd = _launcher_attrs(fused, "kvshift.gpu_block_m")
        grad = _launcher_attrs(fused, "kvshift.gpu_grad_stats_kernel")
        self.fwd_kernel, self.block_m = fwd["kernel"], fwd["block_m"]
        self.fwd_threads = fwd["threads"]
        self.grad_kernels = grad["grad_kernels"]  # q, kv, mix, w
        self.stats_kernel = grad["grad_stats_kernel"]
        self.q_rows, self.kv_rows = grad["grad_q_rows"], grad["grad_kv_rows"]
        self.threads = grad["threads"]
        self.mix_threads = _block_size(fused, self.grad_kernels[2])
        self.w_threads = _block_size(fused, self.grad_kernels[3])
        self.rope_kernel = fwd.get("rope_kernel")
        self.rope_items = fwd.get("rope_items_per_row")
        self.rope_threads = (_block_size(fused, self.rope_kernel)
                             if self.rope_kernel else None)
        self.smem = _dynamic_smem(fused)

    def _fuse_options(self):
        # The wgmma checks need the chip; without options the pass's
        # defaults (and the PTX of earlier versions) are kept.
        return "chip=%s %s" % (self.chip, self.options) if self.options else ""

    def _rotate(self, x, w, seq, pos_offset, mix):
        """The pre-pass into a new buffer: rows of D, row r at position (r mod
        seq) + pos_offset; with mix = 1 mixed first by the weights of its KV
        head (the keys)."""
        out = torch.empty_like(x)
        rows = x.numel() // self.d
        self._launch(self.rope_kernel,
                     (_cdiv(rows * self.rope_items, self.rope_threads), 1, 1),
                     self.rope_threads, [x, w, out, rows, seq, pos_offset, x.shape[1], mix])
        return out

    def _rotated(self, q, k, kw):
        sq, sk = q.shape[2], k.shape[2]
        return (self._rotate(q, kw, sq, sk - sq, 0), self._rotate(k, kw, sk, 0, 1))

    def forward(self, q, k, v, kw, vw):
        """(out, lse): out like q; lse float32 [B, Hq, Sq], natural log, -inf
        for a row that sees no key. Contiguous tensors of this dtype and D;
        kw, vw float32."""
        b, hq, sq, _ = q.shape
        hkv, sk = k.shape[1], k.shape[2]
        out = torch.empty_like(q)
        lse = torch.empty((b, hq, sq), dtype=torch.float32, device=q.device)
        if hkv == 0 or b * hq * sq == 0:
            return out, lse
        qa, ka = self._rotated(q, k, kw) if self.rope_kernel else (q, k)
        self._launch(self.fwd_kernel, (_cdiv(sq, self.block_m), hq, b), self.fwd_threads,
                     [qa, ka, v, kw, vw, out, b, hq, sq, hkv, sk, lse])
        return out, lse

    def backward(self, q, k, v, kw, vw, dout, out, lse):
        """(dq, dk, dv, dkw, dvw) given the forward's out and lse."""
        b, hq, sq, d = q.shape
        hkv, sk = k.shape[1], k.shape[2]
        f32 = dict(dtype=torch.float32, device=q.device)
        dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        dkw, dvw = torch.empty((hkv, 2), **f32), torch.empty((hkv, 2), **f32)
        qrows, krows = b * hq * sq, b * hkv * sk
        if hkv == 0:
            return dq, dk, dv, dkw, dvw
        lse2, delta = torch.empty(qrows, **f32), torch.empty(qrows, **f32)
        dkh, dvh = torch.empty(krows * d, **f32), torch.empty(krows * d, **f32)
        part = torch.empty(krows * 4, **f32)
        qa, ka = self._rotated(q, k, kw) if self.rope_kernel else (q, k)
        sizes = [b, hq, sq, hkv, sk]
        kq, kkv, kmix, kwgt = self.grad_kernels
        self._launch(self.stats_kernel, (_cdiv(qrows, self.threads // 32), 1, 1),
                     self.threads, [dout, out, lse, lse2, delta, qrows])
        attn = [qa, ka, v, kw, vw, dout, lse2, delta]
        self._launch(kq, (_cdiv(sq, self.q_rows), hq, b), self.threads,
                     attn + [dq] + sizes)
        if krows:
            self._launch(kkv, (_cdiv(sk, self.kv_rows), hkv, b), self.threads,
                         attn + [dkh, dvh] + sizes)
            self._launch(kmix, (_cdiv(krows, self.mix_threads // 32), 1, 1),
                         self.mix_threads,
                         [k, v, kw, vw, dkh, dvh, dk, dv, part, b, hkv, sk])
        self._launch(kwgt, (hkv, 1, 1), self.w_threads, [part, dkw, dvw, b, hkv, sk])
        return dq, dk, dv, dkw, dvw


def _cache_source(op, t, d, causal, scale, rope_theta):
    """One cache op of one layer (dynamic B, H, S): op "append" or
    "attention"."""
    row = "tensor<?x?x?x%dx%s>" % (d, t)
    last = "tensor<?x?x1x%dx%s>" % (d, t)
    w = "tensor<?x2xf32>"
    rope = "" if rope_theta is None else " rope_theta = %r" % float(rope_theta)
    if op == "append":
        ins = "%s, %s, %s, %s, %s, %s, %s, %s, index" % (row, row, last, last, w, w, row, row)
        outs = "%s, %s, %s, %s" % (row, row, last, last)
        return ("func.func @append(%%k: %s, %%v: %s, %%kl: %s, %%vl: %s, %%kw: %s, %%vw: %s, "
                "%%kc: %s, %%vc: %s, %%pos: index) -> (%s) {\n"
                "  %%kc1, %%vc1, %%kl1, %%vl1 = kvshift.kv_cache_append %%k, %%v "
                "last(%%kl, %%vl) mix(%%kw, %%vw) into(%%kc, %%vc) at %%pos%s : (%s) -> (%s)\n"
                "  return %%kc1, %%vc1, %%kl1, %%vl1 : %s\n}\n"
                % (row, row, last, last, w, w, row, row, outs, rope, ins, outs, outs))
    attrs = (" causal" if causal else "") + " scale = %r" % float(scale) + rope
    return ("func.func @attention(%%q: %s, %%kc: %s, %%vc: %s, %%len: index) -> %s {\n"
            "  %%o = kvshift.kv_cache_attention %%q, %%kc, %%vc length %%len%s"
            " : (%s, %s, %s, index) -> %s\n"
            "  return %%o : %s\n}\n" % (row, row, row, row, attrs, row, row, row, row, row))


_OPTION = re.compile(r"^(decode-split|decode-rows|warps)=\d+$|"
                     r"^(decode-prefetch|decode-mma)=(true|false)$")
# The training step's options (Kernels): the forward's tiles and variants.
_TRAIN_OPTION = re.compile(r"^(block-k|warps|min-blocks-per-sm)=\d+$|"
                           r"^(shifted-values|lazy-rescale|wgmma|wgmma-overlap|"
                           r"kv-prefetch|grad-prefetch)=(true|false)$")


class CacheKernels(_KernelSet):
    """The kernels of one cache op in one configuration, compiled by
    ``kvshift-to-nvvm``: op "append", kv_cache_append's kernel
    (``append-kernel``; causal, scale and options do not apply), or op
    "attention", kv_cache_attention's decode and merge kernels
    (``options``: decode options of ``kvshift-fuse-attention-gpu``:
    ``decode-split``, ``decode-rows``, ``decode-prefetch``, ``decode-mma``,
    ``warps``)."""

    _WHAT = "kvshift.cuda cache kernel set"
    _FIELDS = ("op", "d", "causal", "scale", "rope_theta", "chip", "options", "source",
               "ptx", "append_kernel", "append_items", "append_threads", "decode_kernel",
               "merge_kernel", "split", "rows", "decode_threads", "merge_threads", "smem")
    _OPTIONAL = {"smem": {}}

    def __init__(self, dtype, head_dim, op="attention", causal=True, scale=None,
                 rope_theta=None, chip="sm_80", options="", _saved=None):
        if self._start(dtype, _saved):
            return
        bad = [o for o in options.split() if not _OPTION.match(o)]
        if bad:
            raise ValueError("options: expected decode-split=N, decode-rows=N, warps=N, "
                             "decode-prefetch=true|false or decode-mma=true|false, got %s"
                             % " ".join(bad))
        if op not in ("append", "attention"):
            raise ValueError("op must be 'append' or 'attention', got %r" % (op,))
        if op == "append" and options.split():
            raise ValueError("options apply to op 'attention' only, got %r" % options)
        self.op, self.d, self.chip = op, int(head_dim), chip
        self.causal = bool(causal) and op == "attention"
        self.scale = 1.0 / math.sqrt(self.d) if scale is None else float(scale)
        self.rope_theta = None if rope_theta is None else float(rope_theta)
        self.options = " ".join(["append-kernel=true"] + options.split())
        self.source = _cache_source(op, _TYPES[dtype], self.d, self.causal, self.scale,
                                    self.rope_theta)
        lowered = runtime.opt(self.source, "kvshift-to-nvvm{chip=%s %s}"
                              % (chip, self.options))
        self.ptx = _ptx.extract_ptx(lowered)
        fused = runtime.opt(self.source, "builtin.module(kvshift-fuse-attention-gpu{%s})"
                            % self.options)
        for f in self._FIELDS[8:]:
            setattr(self, f, None)
        if op == "append":
            app = _launcher_attrs(fused, "kvshift.gpu_append_kernel")
            self.append_kernel = app["append_kernel"]
            self.append_items = app["append_items_per_row"]
            self.append_threads = app["threads"]
        else:
            dec = _launcher_attrs(fused, "kvshift.gpu_decode_kernel")
            self.decode_kernel, self.merge_kernel = dec["decode_kernel"], dec["merge_kernel"]
            self.split, self.rows = dec["decode_split"], dec["decode_rows"]
            self.decode_threads = dec["threads"]
            self.merge_threads = _block_size(fused, self.merge_kernel)
        self.smem = _dynamic_smem(fused)

    def append(self, k_new, v_new, k_last, v_last, kw, vw, k_cache, v_cache, pos):
        """Writes rows pos .. pos+T-1 of the caches and the raw last rows, in
        place. Contiguous tensors of this dtype and D (the caches and last
        rows are written where they are); kw, vw float32 [Hkv, 2]; 0 <= pos
        <= Smax - T (the caller checks)."""
        b, hkv, t, _ = k_new.shape
        smax = k_cache.shape[2]
        # With one new row the thread that reads a column of k_last writes it
        # afterwards; with more, the new last rows go through scratch buffers.
        kl_out, vl_out = ((k_last, v_last) if t == 1
                          else (torch.empty_like(k_last), torch.empty_like(v_last)))
        work = b * hkv * t * self.append_items
        self._launch(self.append_kernel, (_cdiv(work, self.append_threads), 1, 1),
                     self.append_threads,
                     [k_new, v_new, k_last, v_last, kw, vw, k_cache, v_cache, kl_out,
                      vl_out, b, hkv, t, smax, pos])
        if t > 1:
            k_last.copy_(kl_out)
            v_last.copy_(vl_out)

    def attention(self, q, k_cache, v_cache, length):
        """out like q: attention of q over the first ``length`` rows (1 <=
        length <= Smax, and >= Sq with causal: the caller checks)."""
        b, hq, sq, d = q.shape
        hkv, smax = k_cache.shape[1], k_cache.shape[2]
        out = torch.empty_like(q)
        if b * hq * sq == 0:
            return out
        splits = _cdiv(length, self.split)
        states = b * hq * sq * splits
        f32 = dict(dtype=torch.float32, device=q.device)
        ws_m, ws_l = torch.empty(states, **f32), torch.empty(states, **f32)
        ws_o = torch.empty(states * d, **f32)
        row_blocks = _cdiv((hq // hkv) * sq, self.rows)
        self._launch(self.decode_kernel, (hkv * row_blocks, splits, b), self.decode_threads,
                     [q, k_cache, v_cache, ws_m, ws_l, ws_o, b, hq, sq, hkv, smax, length])
        self._launch(self.merge_kernel, (b * hq * sq, 1, 1), self.merge_threads,
                     [ws_m, ws_l, ws_o, out, length, smax])
        return out


_cache = {}


def _file_name(dtype, d, causal, scale, rope_theta, chip, op=None, options=""):
    """kvshift[_<op>]_<T>_d<D>[_causal]_s<scale>[_rope<theta>]_<chip>
    [_<option>...].json: the file of a saved kernel set (a cache op's with
    ``op``)."""
    extra = "".join("_" + o.replace("=", "-") for o in options.split()
                    if o != "append-kernel=true")
    return "kvshift%s_%s_d%d%s_s%r%s_%s%s.json" % (
        "_" + op if op else "", _TYPES[dtype], d, "_causal" if causal else "",
        float(scale), "" if rope_theta is None else "_rope%r" % float(rope_theta),
        chip, extra)


def kernels(dtype, head_dim, causal=False, scale=None, rope_theta=None, chip="sm_80",
            options=""):
    """The ``Kernels`` of a configuration, made once: read from the directory
    ``$KVSHIFT_CUDA_KERNELS`` when it holds them (``save_kernels``; then no
    MLIR is needed), else compiled."""
    d = int(head_dim)
    scale = 1.0 / math.sqrt(d) if scale is None else float(scale)
    rope_theta = None if rope_theta is None else float(rope_theta)
    options = " ".join(options.split())
    key = (dtype, d, bool(causal), scale, rope_theta, chip, options)
    k = _cache.get(key)
    if k is None:
        saved = os.environ.get("KVSHIFT_CUDA_KERNELS")
        path = saved and os.path.join(saved, _file_name(*key[:6], options=options))
        if path and os.path.exists(path):
            with open(path) as f:
                k = Kernels.from_dict(json.load(f))
        else:
            k = Kernels(dtype, d, causal, scale, rope_theta, chip, options)
        _cache[key] = k
    return k


def cache_kernels(op, dtype, head_dim, causal=True, scale=None, rope_theta=None,
                  chip="sm_80", options=""):
    """The ``CacheKernels`` of a cache op ("append" or "attention") in a
    configuration, made once: read from ``$KVSHIFT_CUDA_KERNELS`` when it
    holds them (``save_kernels``), else compiled."""
    d = int(head_dim)
    rope_theta = None if rope_theta is None else float(rope_theta)
    if op == "append":  # causal, scale and options do not apply
        causal, scale = False, 1.0 / math.sqrt(d)
    scale = 1.0 / math.sqrt(d) if scale is None else float(scale)
    options = " ".join(options.split())
    key = (op, dtype, d, bool(causal), scale, rope_theta, chip, options)
    k = _cache.get(key)
    if k is None:
        saved = os.environ.get("KVSHIFT_CUDA_KERNELS")
        path = saved and os.path.join(saved, _file_name(
            dtype, d, bool(causal), scale, rope_theta, chip, op, options))
        if path and os.path.exists(path):
            with open(path) as f:
                k = CacheKernels.from_dict(json.load(f))
        else:
            k = CacheKernels(dtype, d, op, causal, scale, rope_theta, chip, options)
        _cache[key] = k
    return k


def save_kernels(directory, kernel_sets):
    """Writes each ``Kernels`` or ``CacheKernels`` of ``kernel_sets`` to
    ``directory`` (one JSON file each, named by its configuration), for
    ``kernels()`` and ``cache_kernels()`` to read on a machine without MLIR
    (``KVSHIFT_CUDA_KERNELS=directory``). Returns the paths."""
    os.makedirs(directory, exist_ok=True)
    paths = []
    for k in kernel_sets:
        if isinstance(k, CacheKernels):
            name = _file_name(k.dtype, k.d, k.causal, k.scale, k.rope_theta, k.chip,
                              k.op, k.options)
        else:
            name = _file_name(k.dtype, k.d, k.causal, k.scale, k.rope_theta, k.chip,
                              options=k.options)
        path = os.path.join(directory, name)
        with open(path, "w") as f:
            json.dump(k.to_dict(), f)
        paths.append(path)
    return paths


class _OnDevice(object):
    """``torch.cuda.device(t.device)`` for a CUDA tensor (modules are loaded
    and kernels launched on the current device); nothing otherwise."""

    def __init__(self, t):
        self.ctx = torch.cuda.device(t.device) if t.device.type == "cuda" else None

    def __enter__(self):
        if self.ctx is not None:
            self.ctx.__enter__()

    def __exit__(self, *exc):
        if self.ctx is not None:
            self.ctx.__exit__(*exc)


class _Attention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, kw, vw, kern):
        kw32, vw32 = kw.float().contiguous(), vw.float().contiguous()
        with _OnDevice(q):
            out, lse = kern.forward(q, k, v, kw32, vw32)
        ctx.kern = kern
        ctx.save_for_backward(q, k, v, kw, vw, out, lse)
        return out

    @staticmethod
    def backward(ctx, dout):
        q, k, v, kw, vw, out, lse = ctx.saved_tensors
        with _OnDevice(q):
            dq, dk, dv, dkw, dvw = ctx.kern.backward(
                q, k, v, kw.float().contiguous(), vw.float().contiguous(),
                dout.to(q.dtype).contiguous(), out, lse)
        return dq, dk, dv, dkw.to(kw.dtype), dvw.to(vw.dtype), None


def _check(q, k, v, kw, vw, causal):
    for name, t in (("q", q), ("k", k), ("v", v), ("kw", kw), ("vw", vw)):
        if not isinstance(t, torch.Tensor):
            raise ValueError("%s must be a torch.Tensor, got %s" % (name, type(t).__name__))
        if not t.is_cuda and not (_driver is not None and _driver.accepts_cpu):
            raise ValueError("kvshift.cuda.kv_shift_attention: %s must be on a "
                             "CUDA device, found %s" % (name, t.device))
        if t.device != q.device:
            raise ValueError("%s is on %s, q on %s: all operands must be on one "
                             "device" % (name, t.device, q.device))
    for name, t in (("q", q), ("k", k), ("v", v)):
        if t.dim() != 4:
            raise ValueError("%s must be [batch, heads, seq, head_dim], got shape %s"
                             % (name, tuple(t.shape)))
    if q.dtype not in _TYPES:
        raise ValueError("q must be float16, bfloat16 or float32, got %s" % q.dtype)
    if k.dtype != q.dtype or v.dtype != q.dtype:
        raise ValueError("q, k, v must have one dtype, got %s, %s, %s"
                         % (q.dtype, k.dtype, v.dtype))
    if k.shape != v.shape or k.shape[0] != q.shape[0] or k.shape[3] != q.shape[3]:
        raise ValueError("k and v must be [B, Hkv, Sk, D] with q's B and D: q %s, "
                         "k %s, v %s" % (tuple(q.shape), tuple(k.shape), tuple(v.shape)))
    hkv = k.shape[1]
    if hkv == 0 or q.shape[1] % hkv:
        raise ValueError("Hq (%d) must be a multiple of Hkv (%d)" % (q.shape[1], hkv))
    for name, w in (("kw", kw), ("vw", vw)):
        if tuple(w.shape) != (hkv, 2):
            raise ValueError("%s must be [Hkv, 2] = [%d, 2], got %s"
                             % (name, hkv, tuple(w.shape)))
    if causal and q.shape[2] > k.shape[2]:
        raise ValueError("causal attention needs Sq <= Sk, got Sq = %d and Sk = %d"
                         % (q.shape[2], k.shape[2]))


def kv_shift_attention(q, k, v, kw, vw, scale=None, causal=False, rope_theta=None,
                       chip="sm_80", options=""):
    """KV shifting attention on the GPU; see the module's docstring."""
    _check(q, k, v, kw, vw, causal)
    kern = kernels(q.dtype, q.shape[3], causal, scale, rope_theta, chip, options)
    return _Attention.apply(q.contiguous(), k.contiguous(), v.contiguous(), kw, vw,
                            kern)


_IDENTITY = {}


def _weights(w, hkv, device):
    """Mixing weights as the kernels take them: float32 [Hkv, 2] on the
    device; None (no shift) is [1, 0] per head."""
    if w is None:
        key = (hkv, str(device))
        if key not in _IDENTITY:
            one = torch.zeros(hkv, 2, dtype=torch.float32, device=device)
            one[:, 0] = 1.0
            _IDENTITY[key] = one
        return _IDENTITY[key]
    return w.detach().to(device=device, dtype=torch.float32).contiguous()


def _check_cache_tensors(what, tensors, in_place):
    dev = tensors[0][1].device
    for name, t in tensors:
        if t.device.type != "cuda" and not (_driver is not None and _driver.accepts_cpu):
            raise ValueError("kvshift.cuda.%s: '%s' must be on a CUDA device, found %s"
                             % (what, name, t.device))
        if t.device != dev:
            raise ValueError("kvshift.cuda.%s: '%s' is on %s, '%s' on %s: all operands "
                             "must be on one device" % (what, name, t.device, tensors[0][0],
                                                        dev))
        if t.dtype not in _TYPES:
            raise ValueError("kvshift.cuda.%s: '%s' must be float16, bfloat16 or float32 "
                             "on the GPU, found %s" % (what, name, t.dtype))
        if name in in_place and not t.is_contiguous():
            raise ValueError("kvshift.cuda.%s: '%s' is written in place and must be "
                             "contiguous" % (what, name))


def kv_cache_append(k_new, v_new, k_last, v_last, kw, vw, k_cache, v_cache, pos,
                    rope_theta=None, chip="sm_80"):
    """kvshift.torch.kv_cache_append on the GPU kernel: the same operands,
    checks and in-place semantics (the caches' rows pos .. pos+T-1 and the
    last rows are written where they are; returns the four tensors)."""
    b, hkv, t, d, smax = _ktorch._check_append_args(
        k_new, v_new, k_last, v_last, kw, vw, k_cache, v_cache, pos, rope_theta)
    _check_cache_tensors("kv_cache_append",
                         [("k_cache", k_cache), ("v_cache", v_cache), ("k_new", k_new),
                          ("v_new", v_new), ("k_last", k_last), ("v_last", v_last)],
                         ("k_cache", "v_cache", "k_last", "v_last"))
    p = int(pos)
    if p < 0:
        raise ValueError("'pos' must be >= 0, found %d" % p)
    if p + t > smax:
        raise ValueError("cannot append %d rows at position %d to a cache of %d rows"
                         % (t, p, smax))
    kern = cache_kernels("append", k_cache.dtype, d, rope_theta=rope_theta, chip=chip)
    dev = k_cache.device
    with _OnDevice(k_cache):
        kern.append(k_new.contiguous(), v_new.contiguous(), k_last, v_last,
                    _weights(kw, hkv, dev), _weights(vw, hkv, dev), k_cache, v_cache, p)
    return k_cache, v_cache, k_last, v_last


def kv_cache_attention(q, k_cache, v_cache, length, scale=None, causal=True,
                       rope_theta=None, chip="sm_80", options=""):
    """kvshift.torch.kv_cache_attention on the GPU's decode and merge
    kernels: the same operands, checks and result (a length of 0 gives
    zeros)."""
    b, hq, sq, d, hkv, smax = _ktorch._check_cache_attention_args(
        q, k_cache, v_cache, length, rope_theta)
    _check_cache_tensors("kv_cache_attention",
                         [("q", q), ("k_cache", k_cache), ("v_cache", v_cache)],
                         ("k_cache", "v_cache"))
    n = int(length)
    if n < 0 or n > smax:
        raise ValueError("'length' must be in [0, Smax = %d], found %d" % (smax, n))
    if causal and sq > n:
        raise ValueError("causal requires Sq <= length (found Sq = %d, length = %d)"
                         % (sq, n))
    if n == 0:
        return torch.zeros_like(q)
    kern = cache_kernels("attention", q.dtype, d, causal, scale, rope_theta, chip, options)
    with _OnDevice(q):
        return kern.attention(q.contiguous(), k_cache, v_cache, n)


def generate(model, prompt, n_new, max_len, dtype=None, chip="sm_80", options=""):
    """kvshift.models.generate_eager(model, prompt, n_new, max_len, dtype)
    with the cache ops of every attention layer replaced by this module's
    kv_cache_append and kv_cache_attention: (tokens [B, P + n_new],
    seconds of the decode steps). The model and prompt on one CUDA device;
    the caches, in ``dtype`` (default: the model's), stay there."""
    from . import models
    ops = (lambda *a, **k: kv_cache_append(*a, chip=chip, **k),
           lambda *a, **k: kv_cache_attention(*a, chip=chip, options=options, **k))
    layers = [m for m in model.modules() if isinstance(m, _ktorch._AttentionBase)]
    saved = [m.cache_ops for m in layers]
    try:
        for m in layers:
            m.cache_ops = ops
        return models.generate_eager(model, prompt, n_new, max_len, dtype=dtype)
    finally:
        for m, o in zip(layers, saved):
            m.cache_ops = o
