"""PyTorch -> MLIR importer: ``kvshift.import_module(module, example_inputs)``.

    text = kvshift.import_module(model, (tokens,))       # an ImportedModule (a str)
    text.arg_names        # ['tokens', 'embed.weight', 'layers.0.attn_norm.weight', ...]
    arrays = text.bind(model, tokens)                     # numpy arrays, argument order
    # kvshift-run m.mlir --entry=forward --input=a0.npy ... --output=r.npy

API
===
``import_module(module, example_inputs, func_name="forward", params="args",
comments=True) -> ImportedModule``
    ``module``: an ``nn.Module`` (traced in eval mode, its mode restored
    afterwards) or a plain callable.  ``example_inputs``: a tensor or a tuple
    of positional inputs; tensors (or numpy arrays) become function
    arguments with their static shapes and dtypes (int64 token ids included),
    other values (ints, floats, flags) are baked into the trace; containers
    of tensors are refused.  ``params``: ``"args"`` or ``"constants"`` (below).
    ``comments``: a ``// aten.op <- file.py:LINE: code`` line before each
    node's ops.
``ImportedModule`` (a ``str``; string operations return plain strings)
    ``func_name``, ``input_names`` (from ``forward``'s signature),
    ``param_names`` (qualified names, e.g. ``layers.0.attn.q_proj.weight``),
    ``arg_names`` (= input_names + param_names: the function's argument
    order), ``arg_types``/``result_types`` (MLIR types), ``params``,
    ``fused_attention`` (number of ``kvshift.kv_shift_attention`` ops) and
    ``bind(module_or_state_dict, *inputs) -> [np.ndarray]`` in argument order
    (``*inputs`` may be the example inputs as given, non-tensors included;
    bfloat16 becomes float32, which ``kvshift-run`` rounds back).
Errors: ``ImporterError`` (base); ``UnsupportedOpError(ImporterError)``,
    with ``.op`` (e.g. ``'aten.cumsum.default'``) and ``.source``
    (``'model.py:42: return x.cumsum(-1)'``).  No IR is returned then.
``import_step(model, batch, new_tokens, max_len, params="args", dtype=None,
func_name="step", comments=True) -> ImportedStep``
    ``KVShiftLlama.step`` (KV-cache inference: ``tokens [B, T]``, ``pos``,
    ``*cache`` -> ``(logits, *new_cache)``) as ``func.func @step(params...,
    %tokens: tensor<BxTxi64>, %pos: tensor<i64>, caches...) -> (logits, new
    caches...)``; T = 1 is a decode step, T = P a prefill.  ``ImportedStep``
    adds the roles: ``param_args``, ``tokens_arg``, ``pos_arg``,
    ``cache_args`` (argument indices), ``logits_result``, ``cache_results``
    (``cache_results[i]`` is the new ``cache_args[i]``), ``cache_names``,
    ``cache_ops``; ``bind(model, tokens, pos, *cache)``.
``kv_shift_attention_as_op()``: the context manager used while tracing.
``trace_function(fn, tensors) -> torch.fx.GraphModule``: make_fx of fn with
    gradients recorded (what ``kvshift.train`` imports; see "Training
    graphs" below); ``attention_grad_reference(q, k, v, kw, vw, dout, scale,
    causal, rope_theta=None)``: the attention's five gradients in closed form.

Design
======
Tracing
    ``make_fx`` (``torch.fx.experimental.proxy_tensor``; torch 1.13 and 2.x)
    in "real" mode under ``torch.no_grad()``: the model runs once on the
    example inputs, so code that reads shapes (``B, S, _ = x.shape``,
    ``torch.ones(S, S)``) traces, and every shape in the IR is static.
    Parameters and buffers are recognised by identity among the traced
    graph's tensor constants.  Stack traces are recorded on every node
    (``record_stack_traces``) for comments and error messages.  If the
    trace holds in-place ops on values that depend on the inputs
    (``masked_fill_``, ``x[:, 0] = v``, ``add_``), the model is traced again
    through ``functionalize`` (``torch.func`` on 2.x, ``functorch`` on 1.13),
    which turns them into out-of-place ops and ``slice_scatter`` /
    ``select_scatter``; in-place updates of inputs, parameters or buffers
    are refused (``UnsupportedOpError`` naming the input or parameter).

``KVShiftAttention`` becomes one op
    While importing, ``kvshift.torch.kv_shift_attention`` (which
    ``KVShiftAttention`` calls; also when a model calls the function
    directly) is redirected, through ``kvshift.torch._trace_hook``, to a
    custom operator ``torch.ops.kvshift_importer.kv_shift_attention(q, k, v,
    kw, vw, scale, causal, rope_theta=None)`` (``torch.library``; CPU kernel
    = the PyTorch reference, Meta kernel for fake tensors).  It is one node
    in the ATen graph and becomes one ``kvshift.kv_shift_attention ...
    causal scale = S [rope_theta = T]`` op (kw/vw cast to f32).  Outside
    ``import_module`` nothing changes: eager and autograd use run the
    ordinary PyTorch code.  Left unfused (imported as the reference's
    ordinary ops: correct, slower), with a ``UserWarning`` naming the
    reason: float64 operands (the op takes f32/f16/bf16).
    ``VanillaAttention`` (``kvshift.torch.attention``) becomes the same op
    with constant weights ``[1, 0]``.

KV cache ops
    ``kvshift.torch.kv_cache_append`` and ``kv_cache_attention`` (which
    ``forward_cached`` / ``KVShiftLlama.step`` call) are redirected through
    ``kvshift.torch._cache_trace_hook`` to the functional custom operators
    ``kvshift_importer.kv_cache_append(k_new, v_new, k_last, v_last, kw, vw,
    k_cache, v_cache, Tensor pos, rope_theta=None) -> 4 tensors`` and
    ``kvshift_importer.kv_cache_attention(q, k_cache, v_cache, Tensor length,
    scale, causal, rope_theta=None)`` (new tensors, not in-place updates) and
    become ``kvshift.kv_cache_append ... at %pos [rope_theta = T]`` and
    ``kvshift.kv_cache_attention ... length %len [causal] scale = S
    [rope_theta = T]``.  The index operands: a 0-d integer tensor is read
    by ``tensor.extract`` + ``arith.index_cast`` (once per value), a python
    int is an ``arith.constant`` index, and 0-d integer ``add``/``sub``
    nodes used only as index operands (``pos + T``) become
    ``arith.addi``/``subi`` on index.  VanillaAttention appends with the
    constant weights ``[1, 0]``.  float64 operands raise ``ImporterError``
    (no ordinary-op fallback: the write position is a traced value). Hand-written attention imports as
    ordinary ops (the raising pass finds it; ``test/Python/Inputs/plain_*.mlir`` are
    the forms of the paper-way attention).

Training graphs (gradients)
    ``kvshift.train`` imports a whole train step (forward, loss,
    ``torch.autograd.grad``, AdamW) through ``trace_function(fn, tensors)``:
    ``make_fx`` with gradients recorded, so the graph holds PyTorch's own
    backward formulas decomposed at the ATen level (what autograd's
    derivatives.yaml calls: ``mm``/``t``, ``sum``/``expand``,
    ``embedding_dense_backward``, ``_log_softmax_backward_data``,
    ``nll_loss_backward``, ``rsqrt``/``pow`` (``x^3`` as ``math.fpowi``),
    silu's formula...).
    The one exception is attention: while gradients are recorded,
    ``kv_shift_attention`` is an ``autograd.Function`` around the custom op
    whose backward is a second custom op
    ``kvshift_importer.kv_shift_attention_grad(q, k, v, kw, vw, dout, scale,
    causal, rope_theta=None) -> (dq, dk, dv, dkw, dvw)`` (CPU kernel: the
    closed-form backward ``attention_grad_reference``), emitted as one
    ``kvshift.kv_shift_attention_grad`` op with the forward's attributes on
    the forward's operands (so ``kvshift-share-attention-stats`` pairs them).
    float64 attention is left unfused, so its gradient is PyTorch's autograd
    of the reference.  In-place ops of autograd on intermediates nothing
    reads afterwards (``empty_like(x).fill_(1).sub_(x)``) are made
    out-of-place.  ``_import_traced(..., destinations={result: input})``
    makes the last op of a result that is the new value of an input (a
    parameter, an optimizer moment) write through that argument
    (``outs(%arg)`` of its elementwise ``linalg.generic``, whose body does
    not read it), which is what ``kvshift-tie-results`` follows to update
    the argument in place.

Parameters
    ``params="args"`` (default): after the inputs, one argument per
    parameter or buffer the graph uses, in ``module.state_dict()`` order,
    each once (tied weights once, under their first name: KVShiftLlama's
    ``lm_head.weight`` is ``embed.weight``).  ``params="constants"``: they
    are ``arith.constant dense<...>`` values (hex for more than 64 elements;
    fine for small models); the arguments are the inputs only.

Constants
    Every node that depends on no input and no parameter (``ones``,
    ``zeros``, ``full``, ``arange``, ``triu``/``tril`` of those, masks,
    comparisons of ``arange``s, ``repeat_interleave`` index vectors, RoPE
    cos/sin tables, ``torch.tensor(...)``) is evaluated by PyTorch at
    import time and emitted as an ``arith.constant dense<...>`` where it is
    used; ``zeros_like``/``ones_like``/``full_like``/``fill`` fold even on
    traced tensors.  Boolean masks are ``i1`` constants written as
    ``true``/``false`` lists up to 4096 elements, bit-packed hex above (so
    a 2048 x 2048 causal mask is 1 MB of text, not 28).  Random ops are
    refused.

Emitted IR
    ``module { func.func @forward(...) -> (...) }`` on ranked static
    tensors, upstream dialects only (plus ``kvshift.kv_shift_attention``):
    - ``linalg.matmul`` / ``linalg.batch_matmul`` (mm, addmm, bmm, baddbmm,
      and the broadcasting matmul forms: batch dims broadcast and collapsed)
      on a ``linalg.fill`` zero init; f16/bf16 products accumulate in f32;
    - ``linalg.transpose`` (t, transpose, permute);
    - ``linalg.generic`` for elementwise ops, broadcasting by indexing maps
      (a [H,1,1] weight against [B,H,S,D] reads ``(d1, 0, 0)``), scalars as
      ``arith.constant`` inside the body;
    - reductions: ``linalg.fill`` init + ``linalg.generic`` with reduction
      iterators, result rank-reduced (``tensor.expand_shape`` for keepdim);
      softmax = max-reduce, ``exp(x - max)``, sum-reduce, divide, in f32,
      the row statistics broadcast by the maps; argmax/max.dim: one generic
      with two results;
    - views: ``tensor.collapse_shape``/``expand_shape`` (a reshape that is
      neither goes through 1-D); slice/select/split/chunk/unbind:
      ``tensor.extract_slice``; cat/stack: ``tensor.insert_slice`` into
      ``tensor.empty``; ``constant_pad_nd``: ``tensor.pad`` (negative pads
      slice); scatters: ``tensor.insert_slice``;
    - gathers (embedding, index_select, index, gather, repeat_interleave,
      repeat, flip, roll): a ``linalg.generic`` over the result whose body
      reads the source with ``tensor.extract``;
    - ``math`` for exp/log/tanh/rsqrt/sqrt/sin/cos/..., erf by a polynomial
      (|error| <= 1.5e-7: the CPU pipelines do not lower ``math.erf``).
    SSA values are named after the FX nodes (``%mm``, ``%_softmax``, helpers
    ``%mm.0``...), arguments after inputs and parameters.  Output is
    deterministic.

ATen ops (the overload packets; ``*_copy`` variants of views too)
    mm addmm bmm baddbmm matmul mv dot, add sub rsub mul div(no rounding_mode)
    neg pow rsqrt sqrt exp exp2 log log2 log10 log1p expm1 abs reciprocal
    sign floor ceil trunc round remainder fmod maximum minimum clamp
    clamp_min clamp_max where masked_fill addcmul addcdiv lerp, eq ne lt le
    gt ge logical_and/or/xor/not bitwise_and/or/xor/not, sigmoid tanh sin
    cos erf gelu(none, tanh) silu relu relu6 leaky_relu elu softplus mish
    hardtanh hardsigmoid hardswish glu, sum mean amax amin max min argmax
    argmin prod any all var std var_mean std_mean logsumexp norm
    linalg_vector_norm _softmax _log_softmax native_layer_norm, view
    _reshape_alias _unsafe_view reshape flatten unflatten unsqueeze squeeze
    expand t transpose permute clone contiguous alias detach lift_fresh(_copy)
    _to_copy dropout(eval), slice select split split_with_sizes chunk unbind
    cat stack constant_pad_nd pad slice_scatter select_scatter fill copy,
    embedding index_select index(integer tensors) gather repeat_interleave
    repeat flip roll triu tril, ones zeros full arange empty+fill_ and any
    other op on constants (folded), scaled_dot_product_attention and
    _scaled_dot_product_flash_attention(_for_cpu) (torch 2.x; f32 softmax,
    top-left causal as PyTorch, GQA), kvshift_importer.kv_shift_attention.
    Backward ops (autograd's ATen-level formulas, see "Training graphs"):
    _softmax_backward_data _log_softmax_backward_data nll_loss_forward
    (weight, ignore_index, reduction none/mean/sum) nll_loss_backward
    embedding_dense_backward (an ``scf.for`` scatter-add over the tokens;
    padding_idx; no scale_grad_by_freq) select_backward slice_backward
    threshold_backward silu_backward sigmoid_backward tanh_backward
    gelu_backward(none, tanh) empty_like/new_empty (``tensor.empty``),
    kvshift_importer.kv_shift_attention_grad (``kvshift.kv_shift_attention_grad``).
    Not yet: native_layer_norm_backward, the *_backward of pooling,
    convolution, dropout and the other losses.

Limitations
    Static shapes (one function per example shape); control flow is
    specialised to the example inputs (as with any tracer); bool inputs and
    outputs are ``i1`` tensors (``kvshift-run`` binds no ``i1``: make masks
    inside the model); NaN in argmax/max.dim is not propagated as PyTorch
    does; complex dtypes, random ops, data-dependent shapes (boolean mask
    indexing, nonzero) and in-place updates of inputs/parameters are
    refused with an ``ImporterError``.
"""

import contextlib
import inspect
import math
import operator
import os
import re
import warnings

import numpy as np
import torch

from . import torch as _kt

__all__ = ["import_module", "import_step", "ImportedModule", "ImportedStep",
           "ImporterError",
           "UnsupportedOpError", "kv_shift_attention_as_op"]


class ImporterError(Exception):
    """Base class of the importer's errors."""


class UnsupportedOpError(ImporterError):
    """An ATen op (or argument form) the importer has no lowering for.
    Attributes: op (e.g. 'aten.cumsum.default'), source (file:line: code)."""

    def __init__(self, op, source, detail=""):
        self.op = op
        self.source = source
        msg = "unsupported op %s" % op
        if detail:
            msg += " (%s)" % detail
        msg += "; made by %s" % (source or "<unknown source line>")
        super().__init__(msg)


class ImportedModule(str):
    """The MLIR text (a str) plus the argument order of its function.

    Attributes: func_name; input_names (the model inputs, in order);
    param_names (qualified parameter/buffer names, in argument order after
    the inputs; empty with params="constants"); arg_names (input_names +
    param_names); arg_types / result_types (MLIR tensor types); params
    ("args" or "constants"); fused_attention (number of
    kvshift.kv_shift_attention ops emitted); cache_ops (number of
    kvshift.kv_cache_append and kv_cache_attention ops emitted)."""

    def bind(self, params_from, *inputs):
        """The arrays for the function's arguments, in order: the inputs
        (tensors or arrays; or all the example inputs as given to
        import_module, non-tensors included) then the parameters taken from
        params_from (a module or a state_dict-like mapping of name -> tensor).
        bfloat16 tensors become float32 arrays (kvshift-run rounds them)."""
        pos = getattr(self, "_tensor_positions", None)
        if pos is not None and len(inputs) == self._n_example_inputs \
                and len(inputs) != len(self.input_names):
            inputs = [inputs[p] for p in pos]      # the example inputs as given
        if len(inputs) != len(self.input_names):
            raise ValueError("expected %d inputs (%s), got %d"
                             % (len(self.input_names), ", ".join(self.input_names),
                                len(inputs)))
        if isinstance(params_from, torch.nn.Module):
            sd = dict(_all_tensors(params_from))
        else:
            sd = params_from if params_from is not None else {}
        out = [_to_numpy(x) for x in inputs]
        for n in self.param_names:
            if n not in sd:
                raise KeyError("parameter '%s' not found" % n)
            out.append(_to_numpy(sd[n]))
        return out


def _all_tensors(module, prefix=""):
    """(qualified name, tensor) of every parameter and buffer, duplicates
    (tied weights) included, in state_dict order."""
    out = []
    for n, p in module._parameters.items():
        if p is not None:
            out.append((prefix + n, p))
    for n, b in module._buffers.items():
        if b is not None:
            out.append((prefix + n, b))
    for n, m in module._modules.items():
        if m is not None:
            out.extend(_all_tensors(m, prefix + n + "."))
    return out


def _to_numpy(x):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.dtype == torch.bfloat16:
            x = x.float()
        return x.contiguous().numpy()
    return np.asarray(x)


# ---------------------------------------------------------------------------
# The custom op that KVShiftAttention becomes while importing
# ---------------------------------------------------------------------------

_OP_NS = "kvshift_importer"
_LIB = None
_IN_OP = [False]
_UNFUSED = []       # why kv_shift_attention calls were left unfused (this import)


def _op_cpu(q, k, v, kw, vw, scale, causal, rope_theta=None):
    _IN_OP[0] = True
    try:
        return _kt.kv_shift_attention(q, k, v, kw, vw, scale=scale, causal=causal,
                                      rope_theta=rope_theta)
    finally:
        _IN_OP[0] = False


def _op_meta(q, k, v, kw, vw, scale, causal, rope_theta=None):
    return torch.empty_like(q)


def _append_cpu(k_new, v_new, k_last, v_last, kw, vw, k_cache, v_cache, pos,
                rope_theta=None):
    # Functional: the eager kv_cache_append updates copies in place.
    _IN_OP[0] = True
    try:
        return _kt.kv_cache_append(k_new, v_new, k_last.clone(), v_last.clone(), kw, vw,
                                   k_cache.clone(), v_cache.clone(), pos,
                                   rope_theta=rope_theta)
    finally:
        _IN_OP[0] = False


def _append_meta(k_new, v_new, k_last, v_last, kw, vw, k_cache, v_cache, pos,
                 rope_theta=None):
    return (torch.empty_like(k_cache), torch.empty_like(v_cache),
            torch.empty_like(k_last), torch.empty_like(v_last))


def _cache_attention_cpu(q, k_cache, v_cache, length, scale, causal, rope_theta=None):
    _IN_OP[0] = True
    try:
        return _kt.kv_cache_attention(q, k_cache, v_cache, length, scale=scale,
                                      causal=causal, rope_theta=rope_theta)
    finally:
        _IN_OP[0] = False


def _cache_attention_meta(q, k_cache, v_cache, length, scale, causal, rope_theta=None):
    return torch.empty_like(q)


def _grad_cpu(q, k, v, kw, vw, dout, scale, causal, rope_theta=None):
    """The exact gradients of sum(out * dout) (SPEC.md, kv_shift_attention_grad)
    in closed form (a custom op's kernel runs below autograd): see
    attention_grad_reference."""
    _IN_OP[0] = True
    try:
        return attention_grad_reference(q, k, v, kw, vw, dout, scale, causal, rope_theta)
    finally:
        _IN_OP[0] = False


def attention_grad_reference(q, k, v, kw, vw, dout, scale, causal, rope_theta=None):
    """(dq, dk, dv, dkw, dvw) of sum(kv_shift_attention(q, k, v, kw, vw) * dout)
    by the backward formulas, without autograd, in float32 (float64 for
    float64 q): P = softmax(S), dP = dO V^T, dS = P (dP - rowsum(dP P)),
    dq = scale dS K^, dK^ = scale dS^T q, dV^ = P^T dO (grouped query heads
    summed into their KV head), RoPE's transpose (the rotation by minus the
    angle), then the mix's transpose dk_t = a1 dK^_t + a2 dK^_{t+1},
    da1 = sum dK^_t . k_t, da2 = sum dK^_t . k_{t-1} (the same for v)."""
    cdt = torch.float64 if q.dtype == torch.float64 else torch.float32
    B, Hq, Sq, D = q.shape
    Hkv, Sk = k.shape[1], k.shape[2]
    g = Hq // Hkv
    dev = q.device
    qc, kc, vc, do = q.to(cdt), k.to(cdt), v.to(cdt), dout.to(cdt)
    kwc, vwc = kw.to(cdt), vw.to(cdt)
    kh, vh = _kt._mix(kc, kwc), _kt._mix(vc, vwc)
    if rope_theta is not None:
        kcs = _kt._rope_cos_sin(torch.arange(Sk, device=dev), D, rope_theta, dev, cdt)
        qcs = _kt._rope_cos_sin(torch.arange(Sk - Sq, Sk, device=dev), D, rope_theta, dev, cdt)
        qr, khr = _kt._rotate(qc, *qcs), _kt._rotate(kh, *kcs)
    else:
        qr, khr = qc, kh
    qg = qr.reshape(B, Hkv, g, Sq, D)
    dog = do.reshape(B, Hkv, g, Sq, D)
    s = torch.matmul(qg, khr.unsqueeze(2).transpose(-1, -2)) * scale
    if causal:
        s = s.masked_fill(~_kt.causal_mask(Sq, Sk, device=dev), float("-inf"))
    p = torch.softmax(s, dim=-1)                                   # [B,Hkv,g,Sq,Sk]
    dp = torch.matmul(dog, vh.unsqueeze(2).transpose(-1, -2))
    ds = p * (dp - (dp * p).sum(-1, keepdim=True))
    dqr = (torch.matmul(ds, khr.unsqueeze(2)) * scale).reshape(B, Hq, Sq, D)
    dkhr = (torch.matmul(ds.transpose(-1, -2), qg) * scale).sum(2)  # [B,Hkv,Sk,D]
    dvh = torch.matmul(p.transpose(-1, -2), dog).sum(2)
    if rope_theta is not None:
        dq = _kt._rotate(dqr, qcs[0], -qcs[1])
        dkh = _kt._rotate(dkhr, kcs[0], -kcs[1])
    else:
        dq, dkh = dqr, dkhr

    def unmix(dxh, x, w):
        nxt = torch.nn.functional.pad(dxh, (0, 0, 0, 1))[:, :, 1:, :]   # dX^_{t+1}, 0 at the end
        prev = torch.nn.functional.pad(x, (0, 0, 1, 0))[:, :, :-1, :]   # x_{t-1}, 0 at t = 0
        dx = w[:, 0].reshape(1, -1, 1, 1) * dxh + w[:, 1].reshape(1, -1, 1, 1) * nxt
        dw = torch.stack([(dxh * x).sum((0, 2, 3)), (dxh * prev).sum((0, 2, 3))], dim=1)
        return dx, dw
    dk, dkw = unmix(dkh, kc, kwc)
    dv, dvw = unmix(dvh, vc, vwc)
    return (dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype), dkw.to(kw.dtype),
            dvw.to(vw.dtype))


def _grad_meta(q, k, v, kw, vw, dout, scale, causal, rope_theta=None):
    return (torch.empty_like(q), torch.empty_like(k), torch.empty_like(v),
            torch.empty_like(kw), torch.empty_like(vw))


_OPS = {
    "kv_shift_attention": (
        "kv_shift_attention(Tensor q, Tensor k, Tensor v, Tensor kw, Tensor vw, "
        "float scale, bool causal, float? rope_theta=None) -> Tensor", _op_cpu, _op_meta),
    "kv_cache_append": (
        "kv_cache_append(Tensor k_new, Tensor v_new, Tensor k_last, Tensor v_last, "
        "Tensor kw, Tensor vw, Tensor k_cache, Tensor v_cache, Tensor pos, "
        "float? rope_theta=None) -> (Tensor, Tensor, Tensor, Tensor)",
        _append_cpu, _append_meta),
    "kv_cache_attention": (
        "kv_cache_attention(Tensor q, Tensor k_cache, Tensor v_cache, Tensor length, "
        "float scale, bool causal, float? rope_theta=None) -> Tensor",
        _cache_attention_cpu, _cache_attention_meta),
    "kv_shift_attention_grad": (
        "kv_shift_attention_grad(Tensor q, Tensor k, Tensor v, Tensor kw, Tensor vw, "
        "Tensor dout, float scale, bool causal, float? rope_theta=None) "
        "-> (Tensor, Tensor, Tensor, Tensor, Tensor)", _grad_cpu, _grad_meta),
}


class _AttentionFunction(torch.autograd.Function):
    """kv_shift_attention as one custom op whose gradient is one custom op
    (kvshift_importer.kv_shift_attention_grad): what a traced train step
    (kvshift.train) records instead of the reference's forward and backward
    ops.  Used by the tracing hook only while gradients are being recorded."""

    @staticmethod
    def forward(ctx, q, k, v, kw, vw, scale, causal, rope_theta):
        ctx.save_for_backward(q, k, v, kw, vw)
        ctx.attrs = (scale, causal, rope_theta)
        return _attention_op(q, k, v, kw, vw, scale, causal, rope_theta)

    @staticmethod
    def backward(ctx, dout):
        q, k, v, kw, vw = ctx.saved_tensors
        scale, causal, rope_theta = ctx.attrs
        ns = getattr(torch.ops, _OP_NS)
        if rope_theta is not None:
            grads = ns.kv_shift_attention_grad(q, k, v, kw, vw, dout, scale, causal,
                                               rope_theta)
        else:
            grads = ns.kv_shift_attention_grad(q, k, v, kw, vw, dout, scale, causal)
        return tuple(grads) + (None, None, None)


def _attention_op(q, k, v, kw, vw, scale, causal, rope_theta):
    ns = getattr(torch.ops, _OP_NS)
    if rope_theta is not None:
        return ns.kv_shift_attention(q, k, v, kw, vw, scale, causal, float(rope_theta))
    return ns.kv_shift_attention(q, k, v, kw, vw, scale, causal)


def _define_op():
    global _LIB
    if _LIB is not None:
        return
    from torch.library import Library
    try:
        lib = Library(_OP_NS, "DEF")
        for name, (schema, cpu, meta) in _OPS.items():
            lib.define(schema)
            lib.impl(name, cpu, "CPU")
            lib.impl(name, meta, "Meta")
    except RuntimeError:
        # Defined by an earlier load of this module (importlib.reload): its
        # kernels behave the same.
        for name in _OPS:
            getattr(getattr(torch.ops, _OP_NS), name)
        lib = True
    _LIB = lib


def _hook(q, k, v, kw, vw, scale, causal, rope_theta):
    if _IN_OP[0]:
        return NotImplemented
    if q.dtype not in (torch.float32, torch.float16, torch.bfloat16):
        _UNFUSED.append("dtype %s" % q.dtype)
        return NotImplemented
    if kw.dtype != torch.float32:
        kw = kw.float()
    if vw.dtype != torch.float32:
        vw = vw.float()
    theta = None if rope_theta is None else float(rope_theta)
    if torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v, kw, vw)):
        # Tracing a training step: the op and its gradient op.
        return _AttentionFunction.apply(q, k, v, kw, vw, scale, causal, theta)
    return _attention_op(q, k, v, kw, vw, scale, causal, theta)


_CACHE_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def _cache_hook(op, *args):
    """kvshift.torch._cache_trace_hook while importing: kv_cache_append and
    kv_cache_attention become the functional custom ops (kw/vw f32; None
    weights are the constant [1, 0]; a python int pos/length a constant
    0-d int64 tensor).  Other dtypes than f32/f16/bf16 are refused: a cache
    update at a traced position has no ordinary-op form to fall back to."""
    if _IN_OP[0]:
        return NotImplemented
    ns = getattr(torch.ops, _OP_NS)

    def index(x):
        if isinstance(x, torch.Tensor):
            return x
        return torch.tensor(int(x), dtype=torch.int64)

    def theta(t):
        return None if t is None else float(t)
    if op == "kv_cache_append":
        k_new, v_new, k_last, v_last, kw, vw, k_cache, v_cache, pos, rope_theta = args
        if k_cache.dtype not in _CACHE_DTYPES:
            raise ImporterError("kv_cache_append with %s operands cannot be imported: the "
                                "kvshift cache ops take f32, f16 or bf16" % k_cache.dtype)
        if kw is None:
            kw = vw = torch.tensor([[1.0, 0.0]], dtype=torch.float32,
                                   device=k_new.device).expand(k_new.shape[1], 2)
        kw = kw if kw.dtype == torch.float32 else kw.float()
        vw = vw if vw.dtype == torch.float32 else vw.float()
        return tuple(ns.kv_cache_append(k_new, v_new, k_last, v_last, kw, vw, k_cache,
                                        v_cache, index(pos), theta(rope_theta)))
    if op == "kv_cache_attention":
        q, k_cache, v_cache, length, scale, causal, rope_theta = args
        if q.dtype not in _CACHE_DTYPES:
            raise ImporterError("kv_cache_attention with %s operands cannot be imported: the "
                                "kvshift cache ops take f32, f16 or bf16" % q.dtype)
        return ns.kv_cache_attention(q, k_cache, v_cache, index(length), float(scale),
                                     bool(causal), theta(rope_theta))
    return NotImplemented


@contextlib.contextmanager
def kv_shift_attention_as_op():
    """Within the context, kvshift.torch.kv_shift_attention (and so
    KVShiftAttention) calls the single custom op
    torch.ops.kvshift_importer.kv_shift_attention (float64 calls
    excepted), and kv_cache_append / kv_cache_attention call
    torch.ops.kvshift_importer.kv_cache_append / kv_cache_attention
    (functional: new tensors; float64 refused with an ImporterError)."""
    _define_op()
    old = _kt._trace_hook
    old_cache = _kt._cache_trace_hook
    _kt._trace_hook = _hook
    _kt._cache_trace_hook = _cache_hook
    try:
        yield
    finally:
        _kt._trace_hook = old
        _kt._cache_trace_hook = old_cache


# ---------------------------------------------------------------------------
# Tracing
# ---------------------------------------------------------------------------

@contextlib.contextmanager
def _record_stack_traces():
    from torch.fx.experimental import proxy_tensor
    cls = proxy_tensor.PythonKeyTracer
    had = "record_stack_traces" in cls.__dict__
    old = cls.__dict__.get("record_stack_traces")
    cls.record_stack_traces = True
    try:
        yield
    finally:
        if had:
            cls.record_stack_traces = old
        else:
            try:
                del cls.record_stack_traces
            except AttributeError:
                pass


def _functionalize():
    """functionalize() of this torch (torch.func on 2.x, functorch on 1.13)."""
    try:
        from torch.func import functionalize
        return functionalize
    except ImportError:
        pass
    try:
        from functorch import functionalize
        return functionalize
    except ImportError:
        return None


def _trace(module, inputs, tensor_pos, functionalize=False):
    from torch.fx.experimental.proxy_tensor import make_fx

    def run(*tensors):
        args = list(inputs)
        for p, t in zip(tensor_pos, tensors):
            args[p] = t
        return module(*args)
    if functionalize:
        run = _functionalize()(run)

    tensors = [inputs[p] for p in tensor_pos]
    kw = {}
    try:   # torch >= 2.6 takes it as an argument (and sets it on its tracer)
        sig = inspect.signature(make_fx).parameters
        if "record_stack_traces" in sig:
            kw["record_stack_traces"] = True
        if "record_module_stack" in sig:      # nn_module_stack: a fallback for errors
            kw["record_module_stack"] = True
    except (TypeError, ValueError):
        pass
    with kv_shift_attention_as_op(), torch.no_grad(), _record_stack_traces():
        return make_fx(run, **kw)(*tensors)


def trace_function(fn, tensors):
    """make_fx of fn(*tensors) with gradients recorded (torch.autograd.grad
    inside fn traces PyTorch's backward at the ATen level), the attention
    ops as custom ops (kv_shift_attention_as_op: with gradients, the op and
    kv_shift_attention_grad) and stack traces for comments and errors.
    Then in-place ops on intermediates that nothing reads afterwards
    (autograd's ``empty_like(x).fill_(1).sub_(x)``) become out-of-place
    (_out_of_place).  Returns the GraphModule, whose placeholders are the
    tensors."""
    from torch.fx.experimental.proxy_tensor import make_fx

    def run(*ts):
        return fn(*ts)
    kw = {}
    try:
        sig = inspect.signature(make_fx).parameters
        if "record_stack_traces" in sig:
            kw["record_stack_traces"] = True
        if "record_module_stack" in sig:
            kw["record_module_stack"] = True
    except (TypeError, ValueError):
        pass
    with kv_shift_attention_as_op(), torch.enable_grad(), _record_stack_traces():
        gm = make_fx(run, **kw)(*tensors)
    _out_of_place(gm)
    return gm


def _is_view(n):
    schema = getattr(n.target, "_schema", None)
    return schema is not None and any(r.alias_info is not None for r in schema.returns)


def _out_of_place(gm):
    """x.op_(...) -> op(...) where x is made by an op of the graph (not an
    input, parameter or view) and no node other than this one uses x after
    it: the out-of-place result is then the value x would have."""
    order = dict((n, i) for i, n in enumerate(gm.graph.nodes))
    changed = False
    for n in list(gm.graph.nodes):
        if n.op != "call_function" or not _mutates(n) or not n.args:
            continue
        name = _packet(n)
        x = n.args[0]
        if not name.endswith("_") or not isinstance(x, torch.fx.Node) or \
                x.op != "call_function" or _is_view(x):
            continue
        others = [u for u in x.users if u is not n]
        if any(order[u] > order[n] or (u.op == "call_function" and _is_view(u))
               for u in others):
            continue
        packet = getattr(torch.ops.aten, name[:-1], None)
        target = getattr(packet, n.target._overloadname, None) if packet else None
        if target is None:
            continue
        n.target = target
        changed = True
    if changed:
        gm.recompile()


_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__)) + os.sep
# functorch (torch 1.13's functionalize) lives next to torch.
_TORCH_DIRS = (_TORCH_DIR, os.path.join(os.path.dirname(_TORCH_DIR.rstrip(os.sep)),
                                        "functorch") + os.sep)
_THIS_FILE = os.path.abspath(__file__)
_FRAME_RE = re.compile(r'File "([^"]+)", line (\d+), in ([^\n]+)\n(?:    ([^\n]*)\n)?')


def _source_of(node):
    """'file.py:LINE: code' of the innermost model frame that made node
    (or, without a recorded stack trace, the module path where known)."""
    src = _source_line(node)
    if src is None:
        stack = node.meta.get("nn_module_stack")
        if stack:
            path, typ = list(stack.values())[-1][:2] if isinstance(
                list(stack.values())[-1], (tuple, list)) else (list(stack.keys())[-1], "")
            src = "module '%s' %s" % (path, getattr(typ, "__name__", typ))
    return src


def _source_line(node):
    st = getattr(node, "stack_trace", None) or node.meta.get("stack_trace")
    if not st:
        return None
    frames = [(f, int(l), fn, (code or "").strip()) for f, l, fn, code in _FRAME_RE.findall(st)]
    if not frames:
        return None
    def is_mine(fr):
        return os.path.abspath(fr[0]) == _THIS_FILE

    # The importer's frame that calls the model ("run") splits the stack;
    # "_import_traced" (outside the model) says which side is the model's.
    run = [i for i, fr in enumerate(frames) if is_mine(fr) and fr[2] == "run"]
    top = [i for i, fr in enumerate(frames) if is_mine(fr) and fr[2] == "_import_traced"]
    if run and top:
        r = run[0]
        inner_first = top[0] > r
        idx = range(0, r) if inner_first else range(len(frames) - 1, r, -1)
    elif top:
        return None            # made outside the model (e.g. by functionalize)
    else:
        idx = range(len(frames))
    cand = [i for i in idx
            if not os.path.abspath(frames[i][0]).startswith(_TORCH_DIRS)
            and not is_mine(frames[i]) and "_trace_hook" not in frames[i][3]
            and frames[i][:3] != ("<string>", 1, "<lambda>")]   # make_fx's fake_signature
    if not cand:
        return None
    f, l, fn, code = frames[cand[0]]
    return "%s:%d: %s" % (os.path.basename(f), l, code) if code else \
        "%s:%d (in %s)" % (os.path.basename(f), l, fn)


# ---------------------------------------------------------------------------
# Types and literals
# ---------------------------------------------------------------------------

_ELT = {
    torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16",
    torch.float64: "f64", torch.int64: "i64", torch.int32: "i32",
    torch.int16: "i16", torch.int8: "i8", torch.uint8: "i8", torch.bool: "i1",
}
_FLOATS = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def _elt(dtype):
    if dtype not in _ELT:
        raise ImporterError("unsupported dtype %s" % dtype)
    return _ELT[dtype]


def _isf(dtype):
    return dtype in _FLOATS


def _tty(shape, dtype):
    dims = "".join("%dx" % d for d in shape)
    return "tensor<%s%s>" % (dims, _elt(dtype))


def _flit(v, dtype):
    """A float literal of dtype's element type."""
    v = float(v)
    if math.isnan(v) or math.isinf(v):
        if dtype == torch.float64:
            return "0x%016X" % np.array(v, np.float64).view(np.uint64)
        if dtype == torch.float16:
            return "0x%04X" % np.array(v, np.float16).view(np.uint16)
        if dtype == torch.bfloat16:
            bits = int(np.array(v, np.float32).view(np.uint32)) >> 16
            return "0x%04X" % bits
        return "0x%08X" % np.array(v, np.float32).view(np.uint32)
    if dtype == torch.float64:
        return "%.16e" % v
    if dtype != torch.float32:
        v = float(torch.tensor(v, dtype=dtype).float())
    return "%.8e" % float(np.float32(v))


def _lit(v, dtype):
    if dtype == torch.bool:
        return "true" if v else "false"
    if _isf(dtype):
        return _flit(v, dtype)
    return "%d" % int(v)


_BOOL_LIST_MAX = 4096     # larger i1 constants (causal masks of S > 64) in hex


def _const_attr(value, dtype):
    """The attribute of a scalar arith.constant ('true' for i1: no type)."""
    if dtype == torch.bool:
        return "true" if value else "false"
    return "%s : %s" % (_lit(value, dtype), _elt(dtype))


def _dense(t):
    """'dense<...> : tensor<...>' for a constant tensor t."""
    t = t.detach().cpu().contiguous()
    dtype = t.dtype
    ty = _tty(tuple(t.shape), dtype)
    flat = t.reshape(-1)
    n = flat.numel()
    if n == 0:
        return "dense<> : %s" % ty
    first = flat[0]
    if bool((flat == first).all()) or (dtype in _FLOATS and bool(torch.isnan(flat).all())):
        return "dense<%s> : %s" % (_lit(first.item(), dtype), ty)
    finite = dtype not in _FLOATS or bool(torch.isfinite(flat).all())
    if dtype == torch.bool and n > _BOOL_LIST_MAX:
        # MLIR's hex form of i1 elements: bit-packed, least significant first.
        bits = np.packbits(flat.numpy().astype(np.uint8), bitorder="little")
        return 'dense<"0x%s"> : %s' % (bits.tobytes().hex().upper(), ty)
    if dtype == torch.bool or (n <= 64 and finite):
        vals = [_lit(x, dtype) for x in flat.tolist()]

        def nest(vs, shape):
            if not shape:
                return vs[0]
            if len(shape) == 1:
                return "[" + ", ".join(vs) + "]"
            step = len(vs) // shape[0]
            return "[" + ", ".join(nest(vs[i * step:(i + 1) * step], shape[1:])
                                   for i in range(shape[0])) + "]"
        return "dense<%s> : %s" % (nest(vals, list(t.shape)), ty)
    if dtype == torch.bfloat16:
        data = flat.view(torch.int16).numpy().astype("<i2").tobytes()
    else:
        a = flat.numpy()
        data = a.astype(a.dtype.newbyteorder("<")).tobytes()
    return 'dense<"0x%s"> : %s' % (data.hex().upper(), ty)


class V(object):
    """An SSA tensor value."""
    __slots__ = ("ssa", "shape", "dtype")

    def __init__(self, ssa, shape, dtype):
        self.ssa, self.shape, self.dtype = ssa, tuple(int(s) for s in shape), dtype

    @property
    def ty(self):
        return _tty(self.shape, self.dtype)

    @property
    def rank(self):
        return len(self.shape)


class Const(object):
    """A value folded at import time."""
    __slots__ = ("t", "v")

    def __init__(self, t):
        self.t = t
        self.v = None


class Scalar(object):
    __slots__ = ("value", "dtype")

    def __init__(self, value, dtype):
        self.value, self.dtype = value, dtype


class _Body(object):
    """Builds the region of a linalg.generic."""

    def __init__(self):
        self.lines = []
        self.n = 0

    def __call__(self, text):
        name = "%%e%d" % self.n
        self.n += 1
        self.lines.append("%s = %s" % (name, text))
        return name

    def const(self, value, dtype):
        return self("arith.constant %s" % _const_attr(value, dtype))

    def cast(self, x, src, dst):
        if src == dst:
            return x
        s, d = _elt(src), _elt(dst)
        if _isf(src) and _isf(dst):
            if src in (torch.float16, torch.bfloat16) and dst in (torch.float16, torch.bfloat16):
                x = self("arith.extf %s : %s to f32" % (x, s))
                return self("arith.truncf %s : f32 to %s" % (x, d))
            wider = torch.finfo(dst).bits > torch.finfo(src).bits
            return self("arith.%s %s : %s to %s" % ("extf" if wider else "truncf", x, s, d))
        if src == torch.bool:
            if _isf(dst):
                return self("arith.uitofp %s : i1 to %s" % (x, d))
            return self("arith.extui %s : i1 to %s" % (x, d))
        if dst == torch.bool:
            z = self.const(0, src)
            if _isf(src):
                return self("arith.cmpf une, %s, %s : %s" % (x, z, s))
            return self("arith.cmpi ne, %s, %s : %s" % (x, z, s))
        if _isf(dst):
            op = "uitofp" if src == torch.uint8 else "sitofp"
            return self("arith.%s %s : %s to %s" % (op, x, s, d))
        if _isf(src):
            op = "fptoui" if dst == torch.uint8 else "fptosi"
            return self("arith.%s %s : %s to %s" % (op, x, s, d))
        sb, db = torch.iinfo(src).bits, torch.iinfo(dst).bits
        if sb == db:
            return x
        if db > sb:
            return self("arith.%s %s : %s to %s" % ("extui" if src == torch.uint8 else "extsi",
                                                    x, s, d))
        return self("arith.trunci %s : %s to %s" % (x, s, d))


def _iters(kinds):
    return "[" + ", ".join('"%s"' % k for k in kinds) + "]"


def _amap(ndims, results):
    dims = ", ".join("d%d" % i for i in range(ndims))
    return "affine_map<(%s) -> (%s)>" % (dims, ", ".join(results))


def _bcast_map(in_shape, out_shape):
    R, r = len(out_shape), len(in_shape)
    res = []
    for i, s in enumerate(in_shape):
        o = R - r + i
        res.append("0" if (s == 1 and out_shape[o] != 1) else "d%d" % o)
    return _amap(R, res)


def _norm_dim(d, rank):
    d = int(d)
    if d < 0:
        d += max(rank, 1)
    return d


def _reassoc(big, small):
    """Group the dims of big (contiguously) into len(small) groups whose
    products are small's dims; None if impossible."""
    big, small = list(big), list(small)
    if not small:
        return [] if all(b == 1 for b in big) else None
    memo = {}

    def go(i, j):
        key = (i, j)
        if key in memo:
            return memo[key]
        res = None
        if j == len(small):
            res = [] if i == len(big) else None
        else:
            prod = 1
            for e in range(i, len(big)):
                prod *= big[e]
                if prod > small[j] and small[j] != 0:
                    break
                if prod == small[j]:
                    rest = go(e + 1, j + 1)
                    if rest is not None:
                        res = [list(range(i, e + 1))] + rest
                        break
        memo[key] = res
        return res
    return go(0, 0)


# ---------------------------------------------------------------------------
# The emitter
# ---------------------------------------------------------------------------

class _Emitter(object):

    def __init__(self, gm):
        self.gm = gm
        self.lines = []
        self.env = {}
        self.cur = None
        self.counter = {}
        self.nconst = 0
        self.fused = 0
        self.cache_ops = 0
        self.grad_ops = 0
        self.index_memo = {}
        self.node_names = set(n.name for n in gm.graph.nodes)

    # -- naming and emission ------------------------------------------------
    def fresh(self):
        k = self.counter.get(self.cur, 0)
        self.counter[self.cur] = k + 1
        return "%%%s.%d" % (self.cur, k)

    def res(self):
        """The SSA name of an op's result (the node's final value is renamed
        %<node> afterwards, see _name_result)."""
        return self.fresh()

    def _name_result(self, start, result):
        """Rename the final value of the current node (emitted from line
        start on) to %<node name>."""
        vals = [v for v in _flatten(result) if isinstance(v, V)]
        if len(vals) != 1:
            return
        v = vals[0]
        prefix = "%" + self.cur + "."
        if not v.ssa.startswith(prefix) or "#" in v.ssa:
            return
        pat = re.compile(re.escape(v.ssa) + r"(?![A-Za-z0-9_$.\-])")
        new = "%" + self.cur
        for i in range(start, len(self.lines)):
            self.lines[i] = pat.sub(new, self.lines[i])
        v.ssa = new

    def emit(self, line):
        self.lines.append("    " + line)

    # -- errors -------------------------------------------------------------
    def unsupported(self, node, detail=""):
        raise UnsupportedOpError(_opname(node), _source_of(node), detail)

    # -- values -------------------------------------------------------------
    def val(self, x):
        """Materialise x (V, Const, python scalar) as a V."""
        if isinstance(x, V):
            return x
        if isinstance(x, Const):
            if x.v is None:
                t = x.t
                if not isinstance(t, torch.Tensor):
                    raise ImporterError("expected a tensor, found %r" % (t,))
                name = "%%cst%d" % self.nconst
                self.nconst += 1
                self.emit("%s = arith.constant %s" % (name, _dense(t)))
                x.v = V(name, t.shape, t.dtype)
            return x.v
        raise ImporterError("expected a tensor, found %r" % (x,))

    def empty(self, shape, dtype):
        n = self.fresh()
        self.emit("%s = tensor.empty() : %s" % (n, _tty(shape, dtype)))
        return n

    def scalar_const(self, value, dtype):
        n = self.fresh()
        self.emit("%s = arith.constant %s" % (n, _const_attr(value, dtype)))
        return n

    def filled(self, shape, dtype, value):
        e = self.empty(shape, dtype)
        c = self.scalar_const(value, dtype)
        n = self.fresh()
        ty = _tty(shape, dtype)
        self.emit("%s = linalg.fill ins(%s : %s) outs(%s : %s) -> %s"
                  % (n, c, _elt(dtype), e, ty, ty))
        return n

    def generic(self, out_shape, out_dtype, ins, maps, iters, body_fn, init=None,
                out_map=None, name=None):
        """ins: list of (ssa, type, elt dtype); maps: their affine maps.
        body_fn(b, args, out_arg) -> ssa of the yielded value."""
        R = len(iters)
        out_map = out_map or _amap(R, ["d%d" % i for i in range(R)])
        oty = _tty(out_shape, out_dtype)
        if init is None:
            init = self.empty(out_shape, out_dtype)
        b = _Body()
        args = ["%%in%d" % i for i in range(len(ins))]
        body = body_fn(b, args, "%out")
        name = name or self.res()
        head = "%s = linalg.generic {indexing_maps = [%s], iterator_types = %s}" % (
            name, ", ".join(list(maps) + [out_map]), _iters(iters))
        if ins:
            head += " ins(%s : %s)" % (", ".join(i[0] for i in ins),
                                        ", ".join(i[1] for i in ins))
        head += " outs(%s : %s) {" % (init, oty)
        self.emit(head)
        bbargs = ["%s: %s" % (a, _elt(i[2])) for a, i in zip(args, ins)]
        bbargs.append("%%out: %s" % _elt(out_dtype))
        self.emit("^bb0(%s):" % ", ".join(bbargs))
        for l in b.lines:
            self.emit("  " + l)
        self.emit("  linalg.yield %s : %s" % (body, _elt(out_dtype)))
        self.emit("} -> %s" % oty)
        return V(name, out_shape, out_dtype)

    def ew(self, out_shape, out_dtype, operands, fn, name=None):
        """Elementwise op with broadcasting. operands: V, Const or Scalar.
        fn(b, [(ssa, dtype)]) -> ssa of out_dtype."""
        out_shape = tuple(out_shape)
        ins, maps, slots = [], [], []
        for o in operands:
            if isinstance(o, Scalar):
                slots.append(("s", o))
                continue
            m = None
            if isinstance(o, tuple):        # (value, explicit indexing map)
                o, m = o
            v = self.val(o)
            slots.append(("t", len(ins), v.dtype))
            ins.append((v.ssa, v.ty, v.dtype))
            maps.append(m or _bcast_map(v.shape, out_shape))

        def body(b, args, out):
            xs = []
            for s in slots:
                if s[0] == "s":
                    xs.append((b.const(s[1].value, s[1].dtype), s[1].dtype))
                else:
                    xs.append((args[s[1]], s[2]))
            return fn(b, xs)
        return self.generic(out_shape, out_dtype, ins, maps,
                            ["parallel"] * len(out_shape), body, name=name)

    # -- shape helpers ------------------------------------------------------
    def reshape(self, x, shape, name=None):
        x = self.val(x)
        shape = tuple(int(s) for s in shape)
        if shape == x.shape:
            return x
        ty = _tty(shape, x.dtype)
        if len(shape) < x.rank:
            ra = _reassoc(x.shape, shape)
            if ra is not None:
                n = name or self.res()
                self.emit("%s = tensor.collapse_shape %s %s : %s into %s"
                          % (n, x.ssa, _ra(ra), x.ty, ty))
                return V(n, shape, x.dtype)
        elif len(shape) > x.rank:
            ra = _reassoc(shape, x.shape)
            if ra is not None:
                n = name or self.res()
                self.emit("%s = tensor.expand_shape %s %s output_shape [%s] : %s into %s"
                          % (n, x.ssa, _ra(ra), ", ".join(str(s) for s in shape), x.ty, ty))
                return V(n, shape, x.dtype)
        numel = int(np.prod(x.shape)) if x.shape else 1
        flat = self.reshape(x, (numel,), name=self.fresh())
        return self.reshape(flat, shape, name=name)

    def transpose(self, x, perm):
        x = self.val(x)
        perm = [int(p) for p in perm]
        if perm == list(range(x.rank)):
            return x
        shape = tuple(x.shape[p] for p in perm)
        e = self.empty(shape, x.dtype)
        n = self.res()
        self.emit("%s = linalg.transpose ins(%s : %s) outs(%s : %s) permutation = [%s]"
                  % (n, x.ssa, x.ty, e, _tty(shape, x.dtype), ", ".join(map(str, perm))))
        return V(n, shape, x.dtype)

    def broadcast_to(self, x, shape):
        x = self.val(x)
        shape = tuple(shape)
        if x.shape == shape:
            return x
        return self.ew(shape, x.dtype, [x], lambda b, xs: xs[0][0])

    def cast(self, x, dtype):
        x = self.val(x)
        if x.dtype == dtype:
            return x
        return self.ew(x.shape, dtype, [x], lambda b, xs: b.cast(xs[0][0], x.dtype, dtype))

    def reduce(self, x, dims, kind, keepdim, out_dtype=None):
        """Sum/max/min over dims of x (a V). Returns V."""
        x = self.val(x)
        out_dtype = out_dtype or x.dtype
        dims = sorted(set(_norm_dim(d, x.rank) for d in dims))
        keep = [i for i in range(x.rank) if i not in dims]
        rshape = tuple(x.shape[i] for i in keep)
        if kind in ("any", "all"):
            out_dtype = torch.bool
        if kind == "sum":
            init_v = 0
        elif kind == "prod":
            init_v = 1
        elif kind == "any":
            init_v = False
        elif kind == "all":
            init_v = True
        elif kind == "max":
            init_v = float("-inf") if _isf(out_dtype) else torch.iinfo(out_dtype).min
        else:
            init_v = float("inf") if _isf(out_dtype) else torch.iinfo(out_dtype).max
        init = self.filled(rshape, out_dtype, init_v)
        iters = ["reduction" if i in dims else "parallel" for i in range(x.rank)]
        in_map = _amap(x.rank, ["d%d" % i for i in range(x.rank)])
        out_map = _amap(x.rank, ["d%d" % i for i in keep])
        f = _isf(out_dtype)
        ety = _elt(out_dtype)

        def body(b, args, out):
            a = b.cast(args[0], x.dtype, out_dtype)
            if kind == "any":
                return b("arith.ori %s, %s : i1" % (a, out))
            if kind == "all":
                return b("arith.andi %s, %s : i1" % (a, out))
            if kind == "prod":
                return b("arith.%s %s, %s : %s" % ("mulf" if f else "muli", a, out, ety))
            if kind == "sum":
                return b("arith.%s %s, %s : %s" % ("addf" if f else "addi", a, out, ety))
            if kind == "max":
                return b("arith.%s %s, %s : %s" % ("maximumf" if f else "maxsi", a, out, ety))
            return b("arith.%s %s, %s : %s" % ("minimumf" if f else "minsi", a, out, ety))
        r = self.generic(rshape, out_dtype, [(x.ssa, x.ty, x.dtype)], [in_map], iters,
                         body, init=init, out_map=out_map)
        if keepdim:
            kshape = tuple(1 if i in dims else s for i, s in enumerate(x.shape))
            return self.reshape(r, kshape)
        return r

    def arg_reduce(self, x, dim, kind):
        """(values, int64 indices) of the max/min along dim (not kept): one
        linalg.generic with two outputs; the first extremum wins (NaN is not
        treated specially)."""
        x = self.val(x)
        dim = _norm_dim(dim, x.rank)
        keep = [i for i in range(x.rank) if i != dim]
        rshape = tuple(x.shape[i] for i in keep)
        f = _isf(x.dtype)
        ety = _elt(x.dtype)
        if kind == "max":
            init_v = float("-inf") if f else torch.iinfo(x.dtype).min
        else:
            init_v = float("inf") if f else torch.iinfo(x.dtype).max
        iv = self.filled(rshape, x.dtype, init_v)
        ii = self.filled(rshape, torch.int64, 0)
        iters = ["reduction" if i == dim else "parallel" for i in range(x.rank)]
        in_map = _amap(x.rank, ["d%d" % i for i in range(x.rank)])
        out_map = _amap(x.rank, ["d%d" % i for i in keep])
        b = _Body()
        if f:
            c = b("arith.cmpf %s, %%in0, %%outv : %s" % ("ogt" if kind == "max" else "olt", ety))
        else:
            c = b("arith.cmpi %s, %%in0, %%outv : %s" % ("sgt" if kind == "max" else "slt", ety))
        j = b("linalg.index %d : index" % dim)
        j = b("arith.index_cast %s : index to i64" % j)
        nv = b("arith.select %s, %%in0, %%outv : %s" % (c, ety))
        ni = b("arith.select %s, %s, %%outi : i64" % (c, j))
        n = self.fresh()
        vty, ity = _tty(rshape, x.dtype), _tty(rshape, torch.int64)
        self.emit("%s:2 = linalg.generic {indexing_maps = [%s, %s, %s], iterator_types = %s} "
                  "ins(%s : %s) outs(%s, %s : %s, %s) {"
                  % (n, in_map, out_map, out_map, _iters(iters), x.ssa, x.ty, iv, ii, vty, ity))
        self.emit("^bb0(%%in0: %s, %%outv: %s, %%outi: i64):" % (ety, ety))
        for l in b.lines:
            self.emit("  " + l)
        self.emit("  linalg.yield %s, %s : %s, i64" % (nv, ni, ety))
        self.emit("} -> (%s, %s)" % (vty, ity))
        return V(n + "#0", rshape, x.dtype), V(n + "#1", rshape, torch.int64)

    def matmul2(self, a, b, out_dtype):
        """linalg.matmul or linalg.batch_matmul of a, b (rank 2 or 3)."""
        a, b = self.val(a), self.val(b)
        if a.rank == 2:
            shape = (a.shape[0], b.shape[1])
            op = "linalg.matmul"
        else:
            shape = (a.shape[0], a.shape[1], b.shape[2])
            op = "linalg.batch_matmul"
        # f16/bf16 products accumulate in f32 (as PyTorch's CPU kernels do).
        acc = torch.float32 if out_dtype in (torch.float16, torch.bfloat16) else out_dtype
        init = self.filled(shape, acc, 0)
        n = self.res()
        ty = _tty(shape, acc)
        self.emit("%s = %s ins(%s, %s : %s, %s) outs(%s : %s) -> %s"
                  % (n, op, a.ssa, b.ssa, a.ty, b.ty, init, ty, ty))
        return self.cast(V(n, shape, acc), out_dtype)

    def extract_slice(self, x, offsets, sizes, strides, out_shape, name=None):
        x = self.val(x)
        n = name or self.res()
        self.emit("%s = tensor.extract_slice %s[%s] [%s] [%s] : %s to %s"
                  % (n, x.ssa, ", ".join(map(str, offsets)), ", ".join(map(str, sizes)),
                     ", ".join(map(str, strides)), x.ty, _tty(out_shape, x.dtype)))
        return V(n, out_shape, x.dtype)

    def gather(self, out_shape, out_dtype, src, idx_inputs, index_fn):
        """out[i...] = src[index_fn(b, iv, idx_vals)]: a linalg.generic over
        out with idx_inputs (list of (V, affine map)) read as elements and
        src read with tensor.extract."""
        src = self.val(src)
        R = len(out_shape)
        ins = [(v.ssa, v.ty, v.dtype) for v, m in idx_inputs]
        maps = [m for v, m in idx_inputs]

        def body(b, args, out):
            iv = [b("linalg.index %d : index" % i) for i in range(R)]
            idx = index_fn(b, iv, list(zip(args, [v.dtype for v, m in idx_inputs])))
            e = b("tensor.extract %s[%s] : %s" % (src.ssa, ", ".join(idx), src.ty))
            return b.cast(e, src.dtype, out_dtype)
        return self.generic(out_shape, out_dtype, ins, maps, ["parallel"] * R, body)


def _ra(ra):
    return "[" + ", ".join("[" + ", ".join(map(str, g)) + "]" for g in ra) + "]"


def _opname(node):
    t = node.target
    if isinstance(t, str):
        return t
    s = str(t)
    if s.startswith("<"):
        s = getattr(t, "__name__", s)
    return s


def _meta(node):
    tm = node.meta.get("tensor_meta")
    if tm is None:
        val = node.meta.get("val")
        if isinstance(val, torch.Tensor):
            return tuple(val.shape), val.dtype
        return None
    if not hasattr(tm, "shape"):
        return None
    return tuple(int(s) for s in tm.shape), tm.dtype


# ---------------------------------------------------------------------------
# Lowerings
# ---------------------------------------------------------------------------

_LOWER = {}


def _reg(*names):
    def wrap(fn):
        for n in names:
            _LOWER[n] = fn
        return fn
    return wrap


def _is_tensorish(x):
    return isinstance(x, (V, Const))


def _dtype_of(x):
    if isinstance(x, V):
        return x.dtype
    if isinstance(x, Const):
        return x.t.dtype
    return None


def _shape_of(x):
    if isinstance(x, V):
        return x.shape
    return tuple(x.t.shape)


def _operand(x, dtype_hint):
    """A tensor operand stays as is; a python scalar becomes Scalar of the
    compute dtype."""
    if _is_tensorish(x):
        if isinstance(x, Const) and x.t.dim() == 0:
            return Scalar(x.t.item(), x.t.dtype)
        return x
    return Scalar(x, dtype_hint)


def _fop(dtype, fname, iname):
    return fname if _isf(dtype) else iname


def _binary(kind):
    def lower(em, node, args, kwargs, out_shape, out_dtype):
        a, b = args[0], args[1]
        alpha = kwargs.get("alpha", args[2] if len(args) > 2 else 1)
        if kind == "div":
            rm = kwargs.get("rounding_mode")
            if rm is not None:
                em.unsupported(node, "rounding_mode=%r" % rm)
        cdt = out_dtype
        ops = [_operand(a, cdt), _operand(b, cdt)]
        ety = _elt(cdt)

        def fn(bd, xs):
            x = bd.cast(xs[0][0], xs[0][1], cdt)
            y = bd.cast(xs[1][0], xs[1][1], cdt)
            if kind == "rsub":
                x, y = y, x
            if kind in ("add", "sub", "rsub") and alpha != 1:
                al = bd.const(alpha, cdt)
                y = bd("arith.%s %s, %s : %s" % (_fop(cdt, "mulf", "muli"), y, al, ety))
            op = {"add": ("addf", "addi"), "sub": ("subf", "subi"), "rsub": ("subf", "subi"),
                  "mul": ("mulf", "muli"), "div": ("divf", "divsi"),
                  "maximum": ("maximumf", "maxsi"), "minimum": ("minimumf", "minsi")}[kind]
            if cdt == torch.bool:
                op = {"add": ("", "ori"), "mul": ("", "andi"), "maximum": ("", "ori"),
                      "minimum": ("", "andi")}.get(kind)
                if op is None:
                    em.unsupported(node, "bool operands")
            return bd("arith.%s %s, %s : %s" % (op[0] if _isf(cdt) else op[1], x, y, ety))
        return em.ew(out_shape, out_dtype, ops, fn)
    return lower


for _k in ("add", "sub", "rsub", "mul", "div", "maximum", "minimum"):
    _reg(_k)(_binary(_k))


def _promote(*xs):
    dt = None
    for x in xs:
        if _is_tensorish(x):
            t = torch.empty((), dtype=_dtype_of(x)) if (isinstance(x, Const) and x.t.dim() == 0) \
                else torch.empty((1,), dtype=_dtype_of(x))
        else:
            t = x
        if dt is None:
            dt = t if isinstance(t, torch.Tensor) else torch.tensor(t)
        else:
            r = torch.result_type(dt, t)
            dt = torch.empty((1,) if dt.dim() or (isinstance(t, torch.Tensor) and t.dim())
                             else (), dtype=r)
    return dt.dtype


def _compare(pred_f, pred_i):
    def lower(em, node, args, kwargs, out_shape, out_dtype):
        a, b = args[0], args[1]
        cdt = _promote(a, b)
        ops = [_operand(a, cdt), _operand(b, cdt)]

        def fn(bd, xs):
            x = bd.cast(xs[0][0], xs[0][1], cdt)
            y = bd.cast(xs[1][0], xs[1][1], cdt)
            if _isf(cdt):
                return bd("arith.cmpf %s, %s, %s : %s" % (pred_f, x, y, _elt(cdt)))
            p = pred_i
            if cdt in (torch.bool, torch.uint8):
                p = p.replace("s", "u") if p not in ("eq", "ne") else p
            return bd("arith.cmpi %s, %s, %s : %s" % (p, x, y, _elt(cdt)))
        return em.ew(out_shape, torch.bool, ops, fn)
    return lower


for _k, _pf, _pi in (("eq", "oeq", "eq"), ("ne", "une", "ne"), ("lt", "olt", "slt"),
                     ("le", "ole", "sle"), ("gt", "ogt", "sgt"), ("ge", "oge", "sge")):
    _reg(_k)(_compare(_pf, _pi))


@_reg("logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor")
def _lower_logical(em, node, args, kwargs, out_shape, out_dtype):
    name = node.target.overloadpacket.__name__
    op = {"and": "andi", "or": "ori", "xor": "xori"}[name.split("_")[1]]
    logical = name.startswith("logical")
    cdt = torch.bool if logical else out_dtype
    ops = [_operand(args[0], cdt), _operand(args[1], cdt)]

    def fn(bd, xs):
        x = bd.cast(xs[0][0], xs[0][1], cdt)
        y = bd.cast(xs[1][0], xs[1][1], cdt)
        if _isf(cdt):
            em.unsupported(node, "float operands")
        r = bd("arith.%s %s, %s : %s" % (op, x, y, _elt(cdt)))
        return bd.cast(r, cdt, out_dtype)
    return em.ew(out_shape, out_dtype, ops, fn)


@_reg("logical_not", "bitwise_not")
def _lower_not(em, node, args, kwargs, out_shape, out_dtype):
    x = args[0]
    logical = node.target.overloadpacket.__name__ == "logical_not"

    def fn(bd, xs):
        v, dt = xs[0]
        if logical or dt == torch.bool:
            b = bd.cast(v, dt, torch.bool)
            t = bd.const(True, torch.bool)
            r = bd("arith.xori %s, %s : i1" % (b, t))
            return bd.cast(r, torch.bool, out_dtype)
        if _isf(dt):
            em.unsupported(node, "float operand")
        m = bd.const(-1, dt)
        return bd("arith.xori %s, %s : %s" % (v, m, _elt(dt)))
    return em.ew(out_shape, out_dtype, [x], fn)


def _unary(fn_f):
    """fn_f(bd, x, ety, cdt) -> ssa; computed in out dtype (float ops)."""
    def lower(em, node, args, kwargs, out_shape, out_dtype):
        x = args[0]
        cdt = out_dtype

        def fn(bd, xs):
            v = bd.cast(xs[0][0], xs[0][1], cdt)
            return fn_f(bd, v, _elt(cdt), cdt, node, args, kwargs, em)
        return em.ew(out_shape, out_dtype, [x], fn)
    return lower


def _math(op):
    def f(bd, v, ety, cdt, node, args, kwargs, em):
        if not _isf(cdt):
            em.unsupported(node, "integer operand")
        return bd("math.%s %s : %s" % (op, v, ety))
    return f


for _k, _m in (("exp", "exp"), ("log", "log"), ("tanh", "tanh"), ("rsqrt", "rsqrt"),
               ("sqrt", "sqrt"), ("sin", "sin"), ("cos", "cos"),
               ("floor", "floor"), ("ceil", "ceil")):
    _reg(_k)(_unary(_math(_m)))


def _erf_of(bd, v, ety, cdt):
    """erf(x) by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7): the CPU
    pipelines do not lower math.erf."""
    c = lambda x: bd.const(x, cdt)  # noqa: E731
    ax = bd("math.absf %s : %s" % (v, ety))
    t = bd("arith.mulf %s, %s : %s" % (ax, c(0.3275911), ety))
    t = bd("arith.addf %s, %s : %s" % (t, c(1.0), ety))
    t = bd("arith.divf %s, %s : %s" % (c(1.0), t, ety))
    p = c(1.061405429)
    for a in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        p = bd("arith.mulf %s, %s : %s" % (p, t, ety))
        p = bd("arith.addf %s, %s : %s" % (p, c(a), ety))
    p = bd("arith.mulf %s, %s : %s" % (p, t, ety))
    x2 = bd("arith.mulf %s, %s : %s" % (ax, ax, ety))
    x2 = bd("arith.negf %s : %s" % (x2, ety))
    e = bd("math.exp %s : %s" % (x2, ety))
    y = bd("arith.mulf %s, %s : %s" % (p, e, ety))
    y = bd("arith.subf %s, %s : %s" % (c(1.0), y, ety))
    neg = bd("arith.cmpf olt, %s, %s : %s" % (v, c(0.0), ety))
    ny = bd("arith.negf %s : %s" % (y, ety))
    return bd("arith.select %s, %s, %s : %s" % (neg, ny, y, ety))


@_reg("erf")
def _lower_erf(em, node, args, kwargs, out_shape, out_dtype):
    return _unary(lambda bd, v, ety, cdt, *r: _erf_of(bd, v, ety, cdt))(
        em, node, args, kwargs, out_shape, out_dtype)


def _sigmoid_of(bd, v, ety, cdt):
    one = bd.const(1.0, cdt)
    n = bd("arith.negf %s : %s" % (v, ety))
    e = bd("math.exp %s : %s" % (n, ety))
    d = bd("arith.addf %s, %s : %s" % (one, e, ety))
    return bd("arith.divf %s, %s : %s" % (one, d, ety))


@_reg("neg")
def _lower_neg(em, node, args, kwargs, out_shape, out_dtype):
    def f(bd, v, ety, cdt, *rest):
        if _isf(cdt):
            return bd("arith.negf %s : %s" % (v, ety))
        z = bd.const(0, cdt)
        return bd("arith.subi %s, %s : %s" % (z, v, ety))
    return _unary(f)(em, node, args, kwargs, out_shape, out_dtype)


@_reg("abs")
def _lower_abs(em, node, args, kwargs, out_shape, out_dtype):
    def f(bd, v, ety, cdt, *rest):
        return bd("math.%s %s : %s" % ("absf" if _isf(cdt) else "absi", v, ety))
    return _unary(f)(em, node, args, kwargs, out_shape, out_dtype)


@_reg("reciprocal")
def _lower_recip(em, node, args, kwargs, out_shape, out_dtype):
    def f(bd, v, ety, cdt, *rest):
        one = bd.const(1.0, cdt)
        return bd("arith.divf %s, %s : %s" % (one, v, ety))
    return _unary(f)(em, node, args, kwargs, out_shape, out_dtype)


@_reg("sigmoid")
def _lower_sigmoid(em, node, args, kwargs, out_shape, out_dtype):
    return _unary(lambda bd, v, ety, cdt, *r: _sigmoid_of(bd, v, ety, cdt))(
        em, node, args, kwargs, out_shape, out_dtype)


@_reg("silu")
def _lower_silu(em, node, args, kwargs, out_shape, out_dtype):
    def f(bd, v, ety, cdt, *rest):
        s = _sigmoid_of(bd, v, ety, cdt)
        return bd("arith.mulf %s, %s : %s" % (v, s, ety))
    return _unary(f)(em, node, args, kwargs, out_shape, out_dtype)


@_reg("relu")
def _lower_relu(em, node, args, kwargs, out_shape, out_dtype):
    def f(bd, v, ety, cdt, *rest):
        z = bd.const(0, cdt)
        if _isf(cdt):
            c = bd("arith.cmpf ugt, %s, %s : %s" % (v, z, ety))   # NaN stays NaN
            return bd("arith.select %s, %s, %s : %s" % (c, v, z, ety))
        return bd("arith.maxsi %s, %s : %s" % (v, z, ety))
    return _unary(f)(em, node, args, kwargs, out_shape, out_dtype)


@_reg("gelu")
def _lower_gelu(em, node, args, kwargs, out_shape, out_dtype):
    approx = kwargs.get("approximate", args[1] if len(args) > 1 else "none")

    def f(bd, v, ety, cdt, *rest):
        half = bd.const(0.5, cdt)
        one = bd.const(1.0, cdt)
        if approx == "tanh":
            # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
            c0 = bd.const(math.sqrt(2.0 / math.pi), cdt)
            c1 = bd.const(0.044715, cdt)
            x3 = bd("arith.mulf %s, %s : %s" % (v, v, ety))
            x3 = bd("arith.mulf %s, %s : %s" % (x3, v, ety))
            t = bd("arith.mulf %s, %s : %s" % (x3, c1, ety))
            t = bd("arith.addf %s, %s : %s" % (v, t, ety))
            t = bd("arith.mulf %s, %s : %s" % (t, c0, ety))
            t = bd("math.tanh %s : %s" % (t, ety))
        else:
            c0 = bd.const(1.0 / math.sqrt(2.0), cdt)
            t = bd("arith.mulf %s, %s : %s" % (v, c0, ety))
            t = _erf_of(bd, t, ety, cdt)
        t = bd("arith.addf %s, %s : %s" % (one, t, ety))
        t = bd("arith.mulf %s, %s : %s" % (v, t, ety))
        return bd("arith.mulf %s, %s : %s" % (t, half, ety))
    return _unary(f)(em, node, args, kwargs, out_shape, out_dtype)


@_reg("pow")
def _lower_pow(em, node, args, kwargs, out_shape, out_dtype):
    base, ex = args[0], args[1]
    cdt = out_dtype
    ety = _elt(cdt)
    if not _is_tensorish(ex) and _is_tensorish(base):
        e = float(ex)

        def fn(bd, xs):
            v = bd.cast(xs[0][0], xs[0][1], cdt)
            if e == 2.0:
                return bd("arith.%s %s, %s : %s" % (_fop(cdt, "mulf", "muli"), v, v, ety))
            if e == 1.0:
                return v
            if not _isf(cdt):
                em.unsupported(node, "integer power %r" % ex)
            if e == 0.5:
                return bd("math.sqrt %s : %s" % (v, ety))
            if e == -0.5:
                return bd("math.rsqrt %s : %s" % (v, ety))
            if e == -1.0:
                one = bd.const(1.0, cdt)
                return bd("arith.divf %s, %s : %s" % (one, v, ety))
            if e == int(e) and abs(e) <= 64:
                c = bd.const(int(e), torch.int32)
                return bd("math.fpowi %s, %s : %s, i32" % (v, c, ety))
            c = bd.const(e, cdt)
            return bd("math.powf %s, %s : %s" % (v, c, ety))
        return em.ew(out_shape, out_dtype, [base], fn)
    if not _isf(cdt):
        em.unsupported(node, "integer pow")
    ops = [_operand(base, cdt), _operand(ex, cdt)]

    def fn2(bd, xs):
        x = bd.cast(xs[0][0], xs[0][1], cdt)
        y = bd.cast(xs[1][0], xs[1][1], cdt)
        return bd("math.powf %s, %s : %s" % (x, y, ety))
    return em.ew(out_shape, out_dtype, ops, fn2)


@_reg("clamp", "clamp_min", "clamp_max")
def _lower_clamp(em, node, args, kwargs, out_shape, out_dtype):
    name = node.target.overloadpacket.__name__
    if name == "clamp":
        lo = kwargs.get("min", args[1] if len(args) > 1 else None)
        hi = kwargs.get("max", args[2] if len(args) > 2 else None)
    elif name == "clamp_min":
        lo, hi = args[1], None
    else:
        lo, hi = None, args[1]
    cdt = out_dtype
    ety = _elt(cdt)
    ops = [args[0]]
    if lo is not None:
        ops.append(_operand(lo, cdt))
    if hi is not None:
        ops.append(_operand(hi, cdt))

    def fn(bd, xs):
        v = bd.cast(xs[0][0], xs[0][1], cdt)
        i = 1
        if lo is not None:
            l = bd.cast(xs[i][0], xs[i][1], cdt)
            i += 1
            v = bd("arith.%s %s, %s : %s" % (_fop(cdt, "maximumf", "maxsi"), v, l, ety))
        if hi is not None:
            h = bd.cast(xs[i][0], xs[i][1], cdt)
            v = bd("arith.%s %s, %s : %s" % (_fop(cdt, "minimumf", "minsi"), v, h, ety))
        return v
    return em.ew(out_shape, out_dtype, ops, fn)


@_reg("where")
def _lower_where(em, node, args, kwargs, out_shape, out_dtype):
    if len(args) != 3:
        em.unsupported(node, "where(condition) form")
    c, a, b = args
    cdt = out_dtype
    ops = [_operand(c, torch.bool), _operand(a, cdt), _operand(b, cdt)]

    def fn(bd, xs):
        m = bd.cast(xs[0][0], xs[0][1], torch.bool)
        x = bd.cast(xs[1][0], xs[1][1], cdt)
        y = bd.cast(xs[2][0], xs[2][1], cdt)
        return bd("arith.select %s, %s, %s : %s" % (m, x, y, _elt(cdt)))
    return em.ew(out_shape, out_dtype, ops, fn)


@_reg("masked_fill")
def _lower_masked_fill(em, node, args, kwargs, out_shape, out_dtype):
    x, mask, value = args[0], args[1], args[2]
    cdt = out_dtype
    ops = [x, _operand(mask, torch.bool), _operand(value, cdt)]

    def fn(bd, xs):
        v = bd.cast(xs[0][0], xs[0][1], cdt)
        m = bd.cast(xs[1][0], xs[1][1], torch.bool)
        f = bd.cast(xs[2][0], xs[2][1], cdt)
        return bd("arith.select %s, %s, %s : %s" % (m, f, v, _elt(cdt)))
    return em.ew(out_shape, out_dtype, ops, fn)


@_reg("_to_copy", "to", "type_as")
def _lower_to_copy(em, node, args, kwargs, out_shape, out_dtype):
    return em.cast(args[0], out_dtype)


@_reg("clone", "contiguous", "alias", "detach", "lift_fresh", "lift_fresh_copy", "dropout",
      "feature_dropout", "alpha_dropout")
def _lower_identity(em, node, args, kwargs, out_shape, out_dtype):
    if node.target.overloadpacket.__name__.endswith("dropout"):
        p, train = (list(args[1:3]) + [None, None])[:2]
        if train and p:
            em.unsupported(node, "dropout in training mode (random)")
    x = em.val(args[0])
    return em.reshape(x, out_shape)


@_reg("view", "_reshape_alias", "_unsafe_view", "reshape", "unsqueeze", "squeeze",
      "flatten", "unflatten", "view_copy", "expand_dims")
def _lower_view(em, node, args, kwargs, out_shape, out_dtype):
    return em.reshape(args[0], out_shape)


@_reg("expand", "broadcast_to", "expand_copy")
def _lower_expand(em, node, args, kwargs, out_shape, out_dtype):
    x = em.val(args[0])
    if x.rank == len(out_shape):
        return em.broadcast_to(x, out_shape)
    return em.ew(out_shape, x.dtype, [x], lambda b, xs: xs[0][0])


@_reg("t")
def _lower_t(em, node, args, kwargs, out_shape, out_dtype):
    x = em.val(args[0])
    if x.rank < 2:
        return x
    return em.transpose(x, [1, 0])


@_reg("transpose")
def _lower_transpose(em, node, args, kwargs, out_shape, out_dtype):
    x = em.val(args[0])
    d0, d1 = _norm_dim(args[1], x.rank), _norm_dim(args[2], x.rank)
    perm = list(range(x.rank))
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return em.transpose(x, perm)


@_reg("permute")
def _lower_permute(em, node, args, kwargs, out_shape, out_dtype):
    x = em.val(args[0])
    return em.transpose(x, [_norm_dim(d, x.rank) for d in args[1]])


@_reg("mm")
def _lower_mm(em, node, args, kwargs, out_shape, out_dtype):
    return em.matmul2(args[0], args[1], out_dtype)


@_reg("bmm")
def _lower_bmm(em, node, args, kwargs, out_shape, out_dtype):
    return em.matmul2(args[0], args[1], out_dtype)


@_reg("mv", "dot", "vdot")
def _lower_mv(em, node, args, kwargs, out_shape, out_dtype):
    """Matrix-vector and dot products as linalg.matmul on [.., 1] views."""
    a, b = em.val(args[0]), em.val(args[1])
    a2 = a if a.rank == 2 else em.reshape(a, (1, a.shape[0]))
    b2 = em.reshape(b, (b.shape[0], 1))
    return em.reshape(em.matmul2(a2, b2, out_dtype), out_shape)


@_reg("addmm")
def _lower_addmm(em, node, args, kwargs, out_shape, out_dtype):
    bias, a, b = args[0], args[1], args[2]
    beta = kwargs.get("beta", 1)
    alpha = kwargs.get("alpha", 1)
    mm = em.matmul2(a, b, out_dtype)
    cdt = out_dtype
    ety = _elt(cdt)

    def fn(bd, xs):
        m = xs[0][0]
        c = bd.cast(xs[1][0], xs[1][1], cdt)
        if alpha != 1:
            m = bd("arith.mulf %s, %s : %s" % (m, bd.const(alpha, cdt), ety))
        if beta != 1:
            c = bd("arith.mulf %s, %s : %s" % (c, bd.const(beta, cdt), ety))
        return bd("arith.addf %s, %s : %s" % (m, c, ety))
    return em.ew(out_shape, out_dtype, [mm, _operand(bias, cdt)], fn)


@_reg("matmul")
def _lower_matmul(em, node, args, kwargs, out_shape, out_dtype):
    a, b = em.val(args[0]), em.val(args[1])
    if a.rank < 2 or b.rank < 2:
        em.unsupported(node, "matmul with a 1-D operand")
    return _matmul_nd(em, a, b, out_dtype)


def _matmul_nd(em, a, b, out_dtype):
    """a [..., M, K] @ b [..., K, N] with broadcast batch dims: operands
    broadcast and collapsed to one batch dim, linalg.batch_matmul, expanded."""
    a, b = em.val(a), em.val(b)
    if a.rank == 2 and b.rank == 2:
        return em.matmul2(a, b, out_dtype)
    M, K, N = a.shape[-2], a.shape[-1], b.shape[-1]
    ba, bb = a.shape[:-2], b.shape[:-2]
    R = max(len(ba), len(bb))
    ba, bb = (1,) * (R - len(ba)) + ba, (1,) * (R - len(bb)) + bb
    batch = tuple(max(x, y) for x, y in zip(ba, bb))
    nb = int(np.prod(batch)) if batch else 1
    a3 = em.reshape(em.broadcast_to(a, batch + (M, K)), (nb, M, K))
    b3 = em.reshape(em.broadcast_to(b, batch + (K, N)), (nb, K, N))
    r = em.matmul2(a3, b3, out_dtype)
    return em.reshape(r, batch + (M, N))


def _named_args(node, args, kwargs):
    """name -> value of an ATen call by its schema (defaults filled in)."""
    out = {}
    for i, a in enumerate(node.target._schema.arguments):
        if i < len(args) and not a.kwarg_only:
            out[a.name] = args[i]
        elif a.name in kwargs:
            out[a.name] = kwargs[a.name]
        else:
            out[a.name] = a.default_value if a.has_default_value() else None
    return out


@_reg("scaled_dot_product_attention", "_scaled_dot_product_flash_attention_for_cpu",
      "_scaled_dot_product_flash_attention", "_scaled_dot_product_attention_math")
def _lower_sdpa(em, node, args, kwargs, out_shape, out_dtype):
    """F.scaled_dot_product_attention (torch 2.x; on the CPU make_fx records
    _scaled_dot_product_flash_attention_for_cpu): softmax(q k^T scale + mask) v
    in f32, causal top-left aligned as PyTorch's is_causal, GQA by
    broadcasting KV heads. Returns (out, logsumexp, ...) for the tuple forms."""
    a = _named_args(node, args, kwargs)
    q, k, v = em.val(a["query"]), em.val(a["key"]), em.val(a["value"])
    if float(a.get("dropout_p") or 0.0) != 0.0:
        em.unsupported(node, "dropout_p != 0")
    if a.get("return_debug_mask"):
        em.unsupported(node, "return_debug_mask")
    mask = a.get("attn_mask")
    scale = a.get("scale")
    E = q.shape[-1]
    scale = 1.0 / math.sqrt(E) if scale is None else float(scale)
    L, S = q.shape[-2], k.shape[-2]
    dt = q.dtype
    cdt = torch.float64 if dt == torch.float64 else torch.float32
    ety = _elt(cdt)
    qc, kc, vc = em.cast(q, cdt), em.cast(k, cdt), em.cast(v, cdt)
    kt = em.transpose(kc, list(range(kc.rank - 2)) + [kc.rank - 1, kc.rank - 2])
    # Grouped heads: [B, Hq, L, E] -> [B, Hkv, g, L, E] against [B, Hkv, 1, ...].
    grouped = q.rank == 4 and k.rank == 4 and q.shape[1] != k.shape[1]
    if grouped:
        B, Hq, Hkv = q.shape[0], q.shape[1], k.shape[1]
        if Hq % Hkv:
            em.unsupported(node, "query heads %d not a multiple of KV heads %d" % (Hq, Hkv))
        g = Hq // Hkv
        qc = em.reshape(qc, (B, Hkv, g, L, E))
        kt = em.reshape(kt, (B, Hkv, 1, E, S))
        vc = em.reshape(vc, (B, Hkv, 1, S, v.shape[-1]))
    sc = _matmul_nd(em, qc, kt, cdt)
    shape = sc.shape
    ops = [sc, Scalar(scale, cdt)]
    if mask is not None:
        mv = em.val(mask)
        if grouped and mv.rank >= 3:
            if mv.rank == 3:
                mv = em.reshape(mv, (1,) + mv.shape)
            mb, mh, ml, ms = mv.shape
            mv = em.reshape(mv, (mb, 1, 1, ml, ms) if mh == 1 else (mb, Hkv, g, ml, ms))
        ops.append(mv)
    if a.get("is_causal"):
        tri = Const(torch.ones(L, S, dtype=torch.bool).tril())
        ops.append(tri)

    def score_fn(bd, xs):
        x = bd("arith.mulf %s, %s : %s" % (xs[0][0], xs[1][0], ety))
        ninf = bd.const(float("-inf"), cdt)
        for val, vdt in xs[2:]:
            if vdt == torch.bool:
                x = bd("arith.select %s, %s, %s : %s" % (val, x, ninf, ety))
            else:
                x = bd("arith.addf %s, %s : %s" % (x, bd.cast(val, vdt, cdt), ety))
        return x
    sc = em.ew(shape, cdt, ops, score_fn)
    R = len(shape)
    rmap = _reduced_map(R, [R - 1])
    m = em.reduce(sc, [R - 1], "max", False)
    e = em.ew(shape, cdt, [sc, (m, rmap)],
              lambda bd, xs: bd("math.exp %s : %s" % (
                  bd("arith.subf %s, %s : %s" % (xs[0][0], xs[1][0], ety)), ety)))
    ssum = em.reduce(e, [R - 1], "sum", False)
    p = em.ew(shape, cdt, [e, (ssum, rmap)],
              lambda bd, xs: bd("arith.divf %s, %s : %s" % (xs[0][0], xs[1][0], ety)))
    o = _matmul_nd(em, p, vc, cdt)
    oshape = q.shape[:-1] + (v.shape[-1],)
    o = em.cast(em.reshape(o, oshape), dt)
    nret = len(node.target._schema.returns)
    if nret == 1:
        return o
    lse = em.ew(m.shape, torch.float32, [m, ssum],
                lambda bd, xs: bd.cast(bd("arith.addf %s, %s : %s" % (
                    xs[0][0], bd("math.log %s : %s" % (xs[1][0], ety)), ety)), cdt,
                    torch.float32))
    lse = em.reshape(lse, q.shape[:-1])
    return (o, lse) + (None,) * (nret - 2)


def _reduce_args(x, args, kwargs, idx_dim=1, idx_keep=2):
    dims = kwargs.get("dim", args[idx_dim] if len(args) > idx_dim else None)
    keep = kwargs.get("keepdim", args[idx_keep] if len(args) > idx_keep else False)
    if dims is None or (isinstance(dims, (list, tuple)) and len(dims) == 0):
        dims = list(range(x.rank))
    elif isinstance(dims, int):
        dims = [dims]
    return list(dims), bool(keep)


@_reg("sum")
def _lower_sum(em, node, args, kwargs, out_shape, out_dtype):
    x = em.val(args[0])
    dims, keep = _reduce_args(x, args, kwargs)
    if node.target._overloadname == "default":
        dims, keep = list(range(x.rank)), False
    r = em.reduce(x, dims, "sum", keep, out_dtype)
    return em.reshape(r, out_shape)


@_reg("mean")
def _lower_mean(em, node, args, kwargs, out_shape, out_dtype):
    x = em.val(args[0])
    dims, keep = _reduce_args(x, args, kwargs)
    if node.target._overloadname == "default":
        dims, keep = list(range(x.rank)), False
    nd = [_norm_dim(d, x.rank) for d in dims]
    count = int(np.prod([x.shape[d] for d in set(nd)])) if nd else 1
    s = em.reduce(x, dims, "sum", keep, out_dtype)
    r = em.ew(s.shape, out_dtype, [s, Scalar(float(count), out_dtype)],
              lambda bd, xs: bd("arith.divf %s, %s : %s" % (xs[0][0], xs[1][0],
                                                           _elt(out_dtype))))
    return em.reshape(r, out_shape)


@_reg("amax", "amin")
def _lower_amax(em, node, args, kwargs, out_shape, out_dtype):
    x = em.val(args[0])
    dims, keep = _reduce_args(x, args, kwargs)
    kind = "max" if node.target.overloadpacket.__name__ == "amax" else "min"
    r = em.reduce(x, dims, kind, keep, out_dtype)
    return em.reshape(r, out_shape)


def _reduced_map(rank, dims):
    """Indexing map reading a tensor reduced over dims (not kept) from a
    loop nest over the full rank."""
    return _amap(rank, ["d%d" % i for i in range(rank) if i not in dims])


def _softmax_core(em, x, dim, out_dtype, log=False):
    """max over dim; exp(x - max); sum; divide (or x - max - log(sum)).
    The row statistics stay rank-reduced and are broadcast by the maps."""
    x = em.val(x)
    cdt = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    if not _isf(cdt):
        cdt = torch.float32
    xc = em.cast(x, cdt)
    R = xc.rank
    rmap = _reduced_map(R, [dim])
    m = em.reduce(xc, [dim], "max", False)
    ety = _elt(cdt)
    if log:
        sh = em.ew(xc.shape, cdt, [xc, (m, rmap)],
                   lambda bd, xs: bd("arith.subf %s, %s : %s" % (xs[0][0], xs[1][0], ety)))
        ex = em.ew(xc.shape, cdt, [sh], lambda bd, xs: bd("math.exp %s : %s" % (xs[0][0], ety)))
        s = em.reduce(ex, [dim], "sum", False)

        def fn(bd, xs):
            l = bd("math.log %s : %s" % (xs[1][0], ety))
            r = bd("arith.subf %s, %s : %s" % (xs[0][0], l, ety))
            return bd.cast(r, cdt, out_dtype)
        return em.ew(xc.shape, out_dtype, [sh, (s, rmap)], fn)

    def exp_fn(bd, xs):
        d = bd("arith.subf %s, %s : %s" % (xs[0][0], xs[1][0], ety))
        return bd("math.exp %s : %s" % (d, ety))
    e = em.ew(xc.shape, cdt, [xc, (m, rmap)], exp_fn)
    s = em.reduce(e, [dim], "sum", False)

    def fn(bd, xs):
        r = bd("arith.divf %s, %s : %s" % (xs[0][0], xs[1][0], ety))
        return bd.cast(r, cdt, out_dtype)
    return em.ew(xc.shape, out_dtype, [e, (s, rmap)], fn)


@_reg("_softmax", "softmax")
def _lower_softmax(em, node, args, kwargs, out_shape, out_dtype):
    return _softmax_core(em, args[0], _norm_dim(args[1], len(out_shape)), out_dtype)


@_reg("_log_softmax", "log_softmax")
def _lower_log_softmax(em, node, args, kwargs, out_shape, out_dtype):
    return _softmax_core(em, args[0], _norm_dim(args[1], len(out_shape)), out_dtype, log=True)


@_reg("native_layer_norm")
def _lower_layer_norm(em, node, args, kwargs, out_shape, out_dtype):
    x = em.val(args[0])
    out_dtype = x.dtype
    nshape, w, b, eps = args[1], args[2], args[3], float(args[4])
    k = len(nshape)
    dims = list(range(x.rank - k, x.rank))
    cdt = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    ety = _elt(cdt)
    xc = em.cast(x, cdt)
    count = float(np.prod([x.shape[d] for d in dims]))
    s = em.reduce(xc, dims, "sum", True)
    mean = em.ew(s.shape, cdt, [s, Scalar(count, cdt)],
                 lambda bd, xs: bd("arith.divf %s, %s : %s" % (xs[0][0], xs[1][0], ety)),
                 name=em.fresh())
    d = em.ew(x.shape, cdt, [xc, mean],
              lambda bd, xs: bd("arith.subf %s, %s : %s" % (xs[0][0], xs[1][0], ety)),
              name=em.fresh())
    sq = em.ew(x.shape, cdt, [d],
               lambda bd, xs: bd("arith.mulf %s, %s : %s" % (xs[0][0], xs[0][0], ety)),
               name=em.fresh())
    vs = em.reduce(sq, dims, "sum", True)

    def rstd_fn(bd, xs):
        v = bd("arith.divf %s, %s : %s" % (xs[0][0], bd.const(count, cdt), ety))
        v = bd("arith.addf %s, %s : %s" % (v, bd.const(eps, cdt), ety))
        return bd("math.rsqrt %s : %s" % (v, ety))
    rstd = em.ew(vs.shape, cdt, [vs], rstd_fn, name=em.fresh())
    ops = [d, rstd]
    if w is not None:
        ops.append(w)
    if b is not None:
        ops.append(b)

    def fn(bd, xs):
        y = bd("arith.mulf %s, %s : %s" % (xs[0][0], xs[1][0], ety))
        i = 2
        if w is not None:
            y = bd("arith.mulf %s, %s : %s" % (y, bd.cast(xs[i][0], xs[i][1], cdt), ety))
            i += 1
        if b is not None:
            y = bd("arith.addf %s, %s : %s" % (y, bd.cast(xs[i][0], xs[i][1], cdt), ety))
        return bd.cast(y, cdt, out_dtype)
    out = em.ew(x.shape, x.dtype, ops, fn)
    return (out, mean, rstd)


@_reg("slice")
def _lower_slice(em, node, args, kwargs, out_shape, out_dtype):
    x = em.val(args[0])
    dim = _norm_dim(args[1] if len(args) > 1 else 0, x.rank)
    start = args[2] if len(args) > 2 else None
    end = args[3] if len(args) > 3 else None
    step = args[4] if len(args) > 4 else 1
    n = x.shape[dim]
    start = 0 if start is None else int(start)
    end = n if end is None else int(end)
    if start < 0:
        start += n
    if end < 0:
        end += n
    start = min(max(start, 0), n)
    end = min(max(end, start), n)
    size = out_shape[dim]
    if tuple(out_shape) == x.shape:
        return x
    offs = [0] * x.rank
    sizes = list(x.shape)
    strides = [1] * x.rank
    offs[dim], sizes[dim], strides[dim] = start, size, int(step)
    return em.extract_slice(x, offs, sizes, strides, tuple(out_shape))


@_reg("select")
def _lower_select(em, node, args, kwargs, out_shape, out_dtype):
    x = em.val(args[0])
    dim = _norm_dim(args[1], x.rank)
    i = int(args[2])
    if i < 0:
        i += x.shape[dim]
    offs = [0] * x.rank
    sizes = list(x.shape)
    offs[dim], sizes[dim] = i, 1
    return em.extract_slice(x, offs, sizes, [1] * x.rank, tuple(out_shape))


@_reg("split", "split_with_sizes", "unbind", "chunk", "tensor_split")
def _lower_split(em, node, args, kwargs, out_shape, out_dtype):
    x = em.val(args[0])
    name = node.target.overloadpacket.__name__
    if name == "unbind":
        dim = _norm_dim(kwargs.get("dim", args[1] if len(args) > 1 else 0), x.rank)
        sizes = [1] * x.shape[dim]
    else:
        dim = _norm_dim(kwargs.get("dim", args[2] if len(args) > 2 else 0), x.rank)
        n = x.shape[dim]
        spec = args[1]
        if name == "split_with_sizes":
            sizes = list(spec)
        elif name == "split":
            if isinstance(spec, (list, tuple)):
                sizes = list(spec)
            else:
                sizes = [min(int(spec), n - o) for o in range(0, n, int(spec))] or [0]
        elif name == "chunk":
            c = (n + int(spec) - 1) // int(spec)
            sizes = [min(c, n - o) for o in range(0, n, c)]
        else:
            em.unsupported(node)
    outs = []
    off = 0
    for s in sizes:
        offs = [0] * x.rank
        szs = list(x.shape)
        offs[dim], szs[dim] = off, s
        shape = tuple(szs)
        if name == "unbind":
            shape = tuple(x.shape[:dim] + x.shape[dim + 1:])
        outs.append(em.extract_slice(x, offs, szs, [1] * x.rank, shape, name=em.fresh()))
        off += s
    return tuple(outs)


@_reg("stack")
def _lower_stack(em, node, args, kwargs, out_shape, out_dtype):
    dim = _norm_dim(kwargs.get("dim", args[1] if len(args) > 1 else 0), len(out_shape))
    xs = []
    for t in args[0]:
        t = em.val(t)
        xs.append(em.reshape(t, t.shape[:dim] + (1,) + t.shape[dim:]))
    return _lower_cat(em, node, [xs, dim], {}, out_shape, out_dtype)


@_reg("cat", "concat")
def _lower_cat(em, node, args, kwargs, out_shape, out_dtype):
    xs = [em.val(t) for t in args[0]]
    xs = [t for t in xs if not (t.rank == 1 and t.shape[0] == 0)]
    dim = _norm_dim(kwargs.get("dim", args[1] if len(args) > 1 else 0), len(out_shape))
    acc = em.empty(out_shape, out_dtype)
    off = 0
    oty = _tty(out_shape, out_dtype)
    for i, t in enumerate(xs):
        t = em.cast(t, out_dtype)
        offs = [0] * len(out_shape)
        offs[dim] = off
        n = em.res() if i == len(xs) - 1 else em.fresh()
        em.emit("%s = tensor.insert_slice %s into %s[%s] [%s] [%s] : %s into %s"
                % (n, t.ssa, acc, ", ".join(map(str, offs)), ", ".join(map(str, t.shape)),
                   ", ".join(["1"] * len(out_shape)), t.ty, oty))
        acc = n
        off += t.shape[dim]
    return V(acc, out_shape, out_dtype)


@_reg("constant_pad_nd", "pad")
def _lower_pad(em, node, args, kwargs, out_shape, out_dtype):
    x = em.val(args[0])
    pad = list(args[1])
    value = args[2] if len(args) > 2 else kwargs.get("value", 0)
    if node.target.overloadpacket.__name__ == "pad":
        mode = args[2] if len(args) > 2 else kwargs.get("mode", "constant")
        if mode != "constant":
            em.unsupported(node, "mode=%r" % mode)
        value = args[3] if len(args) > 3 else kwargs.get("value", 0)
    value = 0 if value is None else value
    low = [0] * x.rank
    high = [0] * x.rank
    for i in range(len(pad) // 2):
        d = x.rank - 1 - i
        low[d], high[d] = int(pad[2 * i]), int(pad[2 * i + 1])
    # Negative padding crops: slice first.
    if any(p < 0 for p in low + high):
        offs = [max(-l, 0) for l in low]
        sizes = [x.shape[d] - max(-low[d], 0) - max(-high[d], 0) for d in range(x.rank)]
        x = em.extract_slice(x, offs, sizes, [1] * x.rank, tuple(sizes), name=em.fresh())
        low = [max(l, 0) for l in low]
        high = [max(h, 0) for h in high]
    if not any(low) and not any(high):
        return x
    c = em.scalar_const(value, x.dtype)
    n = em.res()
    idx = ", ".join("%%i%d: index" % i for i in range(x.rank))
    em.emit("%s = tensor.pad %s low[%s] high[%s] {" % (n, x.ssa, ", ".join(map(str, low)),
                                                      ", ".join(map(str, high))))
    em.emit("^bb0(%s):" % idx)
    em.emit("  tensor.yield %s : %s" % (c, _elt(x.dtype)))
    em.emit("} : %s to %s" % (x.ty, _tty(out_shape, x.dtype)))
    return V(n, out_shape, x.dtype)


def _index_to_index(bd, v, dtype):
    if dtype == torch.int64 or dtype == torch.int32:
        return bd("arith.index_cast %s : %s to index" % (v, _elt(dtype)))
    em_dt = torch.int64
    v = bd.cast(v, dtype, em_dt)
    return bd("arith.index_cast %s : i64 to index" % v)


@_reg("embedding")
def _lower_embedding(em, node, args, kwargs, out_shape, out_dtype):
    w, idx = em.val(args[0]), em.val(args[1])
    R = len(out_shape)
    imap = _amap(R, ["d%d" % i for i in range(idx.rank)])

    def index_fn(bd, iv, idxv):
        i = _index_to_index(bd, idxv[0][0], idxv[0][1])
        return [i, iv[R - 1]]
    return em.gather(tuple(out_shape), out_dtype, w, [(idx, imap)], index_fn)


@_reg("index_select")
def _lower_index_select(em, node, args, kwargs, out_shape, out_dtype):
    x, dim, idx = em.val(args[0]), _norm_dim(args[1], em.val(args[0]).rank), em.val(args[2])
    R = len(out_shape)
    imap = _amap(R, ["d%d" % dim] if idx.rank == 1 else [])

    def index_fn(bd, iv, idxv):
        i = _index_to_index(bd, idxv[0][0], idxv[0][1])
        out = list(iv)
        out[dim] = i
        return out
    return em.gather(tuple(out_shape), out_dtype, x, [(idx, imap)], index_fn)


@_reg("repeat_interleave")
def _lower_repeat_interleave(em, node, args, kwargs, out_shape, out_dtype):
    if node.target._overloadname != "self_int":
        em.unsupported(node, "repeat_interleave with tensor repeats of a traced value")
    x = em.val(args[0])
    reps = int(args[1])
    dim = kwargs.get("dim", args[2] if len(args) > 2 else None)
    if dim is None:
        em.unsupported(node, "repeat_interleave without dim")
    dim = _norm_dim(dim, x.rank)

    def index_fn(bd, iv, idxv):
        r = bd("arith.constant %d : index" % reps)
        out = list(iv)
        out[dim] = bd("arith.divui %s, %s : index" % (iv[dim], r))
        return out
    return em.gather(tuple(out_shape), out_dtype, x, [], index_fn)


@_reg("repeat")
def _lower_repeat(em, node, args, kwargs, out_shape, out_dtype):
    x = em.val(args[0])
    R = len(out_shape)
    lead = R - x.rank

    def index_fn(bd, iv, idxv):
        out = []
        for d in range(x.rank):
            n = bd("arith.constant %d : index" % x.shape[d])
            out.append(bd("arith.remui %s, %s : index" % (iv[lead + d], n)))
        return out
    return em.gather(tuple(out_shape), out_dtype, x, [], index_fn)


def _tri(upper):
    def lower(em, node, args, kwargs, out_shape, out_dtype):
        x = em.val(args[0])
        diag = int(kwargs.get("diagonal", args[1] if len(args) > 1 else 0))
        R = x.rank

        def fn_generic(bd, args_, out):
            i = bd("linalg.index %d : index" % (R - 2))
            j = bd("linalg.index %d : index" % (R - 1))
            ii = bd("arith.index_cast %s : index to i64" % i)
            jj = bd("arith.index_cast %s : index to i64" % j)
            dd = bd("arith.subi %s, %s : i64" % (jj, ii))
            k = bd.const(diag, torch.int64)
            keep = bd("arith.cmpi %s, %s, %s : i64" % ("sge" if upper else "sle", dd, k))
            z = bd.const(0 if x.dtype != torch.bool else False, x.dtype)
            return bd("arith.select %s, %s, %s : %s" % (keep, args_[0], z, _elt(x.dtype)))
        m = _amap(R, ["d%d" % i for i in range(R)])
        return em.generic(x.shape, x.dtype, [(x.ssa, x.ty, x.dtype)], [m], ["parallel"] * R,
                          fn_generic)
    return lower


_reg("triu")(_tri(True))
_reg("tril")(_tri(False))


@_reg("max", "min")
def _lower_max_dim(em, node, args, kwargs, out_shape, out_dtype):
    x = em.val(args[0])
    kind = node.target.overloadpacket.__name__
    if node.target._overloadname == "default":
        return em.reshape(em.reduce(x, list(range(x.rank)), kind, False, x.dtype), ())
    if node.target._overloadname != "dim":
        # max.other / min.other: elementwise
        return _LOWER["maximum" if kind == "max" else "minimum"](
            em, node, args, kwargs, out_shape, out_dtype)
    dim = _norm_dim(args[1], x.rank)
    keep = bool(kwargs.get("keepdim", args[2] if len(args) > 2 else False))
    v, i = em.arg_reduce(x, dim, kind)
    if keep:
        ks = tuple(1 if d == dim else s_ for d, s_ in enumerate(x.shape))
        v, i = em.reshape(v, ks), em.reshape(i, ks)
    return (v, i)


@_reg("argmax", "argmin")
def _lower_argmax(em, node, args, kwargs, out_shape, out_dtype):
    x = em.val(args[0])
    kind = "max" if node.target.overloadpacket.__name__ == "argmax" else "min"
    dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
    if dim is None:
        x = em.reshape(x, (int(np.prod(x.shape)) if x.shape else 1,))
        dim = 0
    v, i = em.arg_reduce(x, dim, kind)
    return em.reshape(i, out_shape)


def _var_parts(em, node, args, kwargs):
    a = _named_args(node, args, kwargs)
    x = em.val(a["self"])
    dims = a.get("dim")
    if dims is None or (isinstance(dims, (list, tuple)) and not dims):
        dims = list(range(x.rank))
    elif isinstance(dims, int):
        dims = [dims]
    dims = [_norm_dim(d, x.rank) for d in dims]
    corr = a.get("correction")
    if corr is None:
        unb = a.get("unbiased")
        corr = 1 if unb is None or unb else 0
    keep = bool(a.get("keepdim") or False)
    cdt = torch.float64 if x.dtype == torch.float64 else torch.float32
    ety = _elt(cdt)
    xc = em.cast(x, cdt)
    n = float(np.prod([x.shape[d] for d in set(dims)]))
    s_ = em.reduce(xc, dims, "sum", True)
    mean = em.ew(s_.shape, cdt, [s_, Scalar(n, cdt)],
                 lambda bd, xs: bd("arith.divf %s, %s : %s" % (xs[0][0], xs[1][0], ety)))
    sq = em.ew(x.shape, cdt, [xc, mean], lambda bd, xs: bd("arith.mulf %s, %s : %s" % (
        bd("arith.subf %s, %s : %s" % (xs[0][0], xs[1][0], ety)),
        bd("arith.subf %s, %s : %s" % (xs[0][0], xs[1][0], ety)), ety)))
    ss = em.reduce(sq, dims, "sum", keep)
    var = em.ew(ss.shape, cdt, [ss, Scalar(max(n - float(corr), 0.0), cdt)],
                lambda bd, xs: bd("arith.divf %s, %s : %s" % (xs[0][0], xs[1][0], ety)))
    if not keep:
        mean = em.reshape(mean, ss.shape)
    return x, var, mean, cdt


@_reg("var")
def _lower_var(em, node, args, kwargs, out_shape, out_dtype):
    x, var, mean, cdt = _var_parts(em, node, args, kwargs)
    return em.reshape(em.cast(var, out_dtype), out_shape)


@_reg("std")
def _lower_std(em, node, args, kwargs, out_shape, out_dtype):
    x, var, mean, cdt = _var_parts(em, node, args, kwargs)
    ety = _elt(cdt)
    r = em.ew(var.shape, out_dtype, [var], lambda bd, xs: bd.cast(
        bd("math.sqrt %s : %s" % (xs[0][0], ety)), cdt, out_dtype))
    return em.reshape(r, out_shape)


@_reg("var_mean", "std_mean")
def _lower_var_mean(em, node, args, kwargs, out_shape, out_dtype):
    x, var, mean, cdt = _var_parts(em, node, args, kwargs)
    ety = _elt(cdt)
    if node.target.overloadpacket.__name__ == "std_mean":
        var = em.ew(var.shape, cdt, [var], lambda bd, xs: bd("math.sqrt %s : %s" % (xs[0][0], ety)))
    return (em.cast(var, x.dtype), em.cast(mean, x.dtype))


@_reg("logsumexp")
def _lower_logsumexp(em, node, args, kwargs, out_shape, out_dtype):
    x = em.val(args[0])
    dims = args[1] if len(args) > 1 else kwargs.get("dim")
    dims = [dims] if isinstance(dims, int) else list(dims)
    dims = [_norm_dim(d, x.rank) for d in dims] or list(range(x.rank))
    cdt = torch.float64 if x.dtype == torch.float64 else torch.float32
    ety = _elt(cdt)
    xc = em.cast(x, cdt)
    rmap = _reduced_map(x.rank, dims)
    m = em.reduce(xc, dims, "max", False)

    def safe(bd, v):   # an all -inf row: subtract 0, not -inf (as PyTorch)
        inf = bd.const(float("inf"), cdt)
        a = bd("math.absf %s : %s" % (v, ety))
        isinf = bd("arith.cmpf oeq, %s, %s : %s" % (a, inf, ety))
        return bd("arith.select %s, %s, %s : %s" % (isinf, bd.const(0.0, cdt), v, ety))
    e = em.ew(x.shape, cdt, [xc, (m, rmap)], lambda bd, xs: bd("math.exp %s : %s" % (
        bd("arith.subf %s, %s : %s" % (xs[0][0], safe(bd, xs[1][0]), ety)), ety)))
    s_ = em.reduce(e, dims, "sum", False)
    r = em.ew(s_.shape, out_dtype, [s_, m], lambda bd, xs: bd.cast(bd("arith.addf %s, %s : %s" % (
        bd("math.log %s : %s" % (xs[0][0], ety)), safe(bd, xs[1][0]), ety)), cdt, out_dtype))
    return em.reshape(r, out_shape)


@_reg("prod", "any", "all")
def _lower_prod(em, node, args, kwargs, out_shape, out_dtype):
    x = em.val(args[0])
    kind = node.target.overloadpacket.__name__
    if node.target._overloadname == "default" or len(args) < 2 and "dim" not in kwargs:
        dims, keep = list(range(x.rank)), False
    else:
        dims, keep = _reduce_args(x, args, kwargs)
    r = em.reduce(x, dims, kind, keep, out_dtype if kind == "prod" else torch.bool)
    return em.reshape(em.cast(r, out_dtype), out_shape)


@_reg("norm", "linalg_vector_norm")
def _lower_norm(em, node, args, kwargs, out_shape, out_dtype):
    a = _named_args(node, args, kwargs)
    x = em.val(a["self"])
    p = a.get("p", a.get("ord"))
    p = 2.0 if p is None else float(p)
    dims = a.get("dim")
    if dims is None or (isinstance(dims, (list, tuple)) and not dims):
        dims = list(range(x.rank))
    dims = [dims] if isinstance(dims, int) else list(dims)
    keep = bool(a.get("keepdim") or False)
    cdt = out_dtype
    ety = _elt(cdt)
    if p == float("inf"):
        ab = em.ew(x.shape, cdt, [x], lambda bd, xs: bd("math.absf %s : %s" % (
            bd.cast(xs[0][0], x.dtype, cdt), ety)))
        return em.reshape(em.reduce(ab, dims, "max", keep), out_shape)
    if p <= 0:
        em.unsupported(node, "p=%r" % p)

    def pw(bd, xs):
        v = bd("math.absf %s : %s" % (bd.cast(xs[0][0], x.dtype, cdt), ety))
        if p == 1.0:
            return v
        if p == 2.0:
            return bd("arith.mulf %s, %s : %s" % (v, v, ety))
        return bd("math.powf %s, %s : %s" % (v, bd.const(p, cdt), ety))
    t = em.ew(x.shape, cdt, [x], pw)
    s_ = em.reduce(t, dims, "sum", keep)

    def root(bd, xs):
        if p == 1.0:
            return xs[0][0]
        if p == 2.0:
            return bd("math.sqrt %s : %s" % (xs[0][0], ety))
        return bd("math.powf %s, %s : %s" % (xs[0][0], bd.const(1.0 / p, cdt), ety))
    return em.reshape(em.ew(s_.shape, cdt, [s_], root), out_shape)


@_reg("baddbmm")
def _lower_baddbmm(em, node, args, kwargs, out_shape, out_dtype):
    a = _named_args(node, args, kwargs)
    mm = em.matmul2(a["batch1"], a["batch2"], out_dtype)
    beta, alpha = a.get("beta", 1), a.get("alpha", 1)
    ety = _elt(out_dtype)

    def fn(bd, xs):
        m = xs[0][0]
        c = bd.cast(xs[1][0], xs[1][1], out_dtype)
        if alpha != 1:
            m = bd("arith.mulf %s, %s : %s" % (m, bd.const(alpha, out_dtype), ety))
        if beta == 0:
            return m
        if beta != 1:
            c = bd("arith.mulf %s, %s : %s" % (c, bd.const(beta, out_dtype), ety))
        return bd("arith.addf %s, %s : %s" % (m, c, ety))
    return em.ew(out_shape, out_dtype, [mm, _operand(a["self"], out_dtype)], fn)


def _ew_named(fn_f):
    """Elementwise op over all tensor/scalar arguments in schema order; fn_f(bd,
    vals (cast to the out dtype), named args, cdt, ety) -> ssa."""
    def lower(em, node, args, kwargs, out_shape, out_dtype):
        a = _named_args(node, args, kwargs)
        cdt = out_dtype
        names = [k for k, v in a.items() if _is_tensorish(v)]
        ops = [_operand(a[k], cdt) for k in names]

        def fn(bd, xs):
            class Vals(dict):     # scalar arguments become constants when asked for
                def __missing__(self, k):
                    if isinstance(a.get(k), (int, float, bool)):
                        self[k] = bd.const(a[k], cdt)
                        return self[k]
                    raise KeyError(k)
            vals = Vals((k, bd.cast(x, d, cdt)) for k, (x, d) in zip(names, xs))
            return fn_f(bd, vals, a, cdt, _elt(cdt))
        return em.ew(out_shape, out_dtype, ops, fn)
    return lower


def _c(bd, v, cdt):
    return bd.const(v, cdt)


def _softplus_of(bd, x, cdt, ety, beta=1.0, threshold=20.0):
    bx = bd("arith.mulf %s, %s : %s" % (x, _c(bd, beta, cdt), ety)) if beta != 1 else x
    e = bd("math.exp %s : %s" % (bx, ety))
    l = bd("math.log1p %s : %s" % (e, ety))
    if beta != 1:
        l = bd("arith.divf %s, %s : %s" % (l, _c(bd, beta, cdt), ety))
    big = bd("arith.cmpf ogt, %s, %s : %s" % (bx, _c(bd, threshold, cdt), ety))
    return bd("arith.select %s, %s, %s : %s" % (big, x, l, ety))


_reg("leaky_relu")(_ew_named(lambda bd, v, a, cdt, ety: bd(
    "arith.select %s, %s, %s : %s" % (
        bd("arith.cmpf ogt, %s, %s : %s" % (v["self"], _c(bd, 0.0, cdt), ety)), v["self"],
        bd("arith.mulf %s, %s : %s" % (v["self"], _c(bd, a["negative_slope"], cdt), ety)),
        ety))))


def _elu(bd, v, a, cdt, ety):
    x = v["self"]
    alpha, scale, iscale = float(a["alpha"]), float(a["scale"]), float(a["input_scale"])
    e = bd("math.expm1 %s : %s" % (bd("arith.mulf %s, %s : %s" % (x, _c(bd, iscale, cdt), ety)),
                                   ety))
    neg = bd("arith.mulf %s, %s : %s" % (e, _c(bd, alpha * scale, cdt), ety))
    pos = bd("arith.mulf %s, %s : %s" % (x, _c(bd, scale, cdt), ety))
    gt = bd("arith.cmpf ogt, %s, %s : %s" % (x, _c(bd, 0.0, cdt), ety))
    return bd("arith.select %s, %s, %s : %s" % (gt, pos, neg, ety))


_reg("elu")(_ew_named(_elu))
_reg("softplus")(_ew_named(lambda bd, v, a, cdt, ety: _softplus_of(
    bd, v["self"], cdt, ety, float(a["beta"]), float(a["threshold"]))))
_reg("mish")(_ew_named(lambda bd, v, a, cdt, ety: bd("arith.mulf %s, %s : %s" % (
    v["self"], bd("math.tanh %s : %s" % (_softplus_of(bd, v["self"], cdt, ety), ety)), ety))))


def _clamp_to(bd, x, lo, hi, cdt, ety):
    x = bd("arith.maximumf %s, %s : %s" % (x, _c(bd, lo, cdt), ety))
    return bd("arith.minimumf %s, %s : %s" % (x, _c(bd, hi, cdt), ety))


_reg("hardtanh")(_ew_named(lambda bd, v, a, cdt, ety: _clamp_to(
    bd, v["self"], float(a["min_val"]), float(a["max_val"]), cdt, ety)))
_reg("relu6")(_ew_named(lambda bd, v, a, cdt, ety: _clamp_to(bd, v["self"], 0.0, 6.0, cdt, ety)))


def _hardsigmoid_of(bd, x, cdt, ety):
    t = bd("arith.addf %s, %s : %s" % (x, _c(bd, 3.0, cdt), ety))
    t = _clamp_to(bd, t, 0.0, 6.0, cdt, ety)
    return bd("arith.divf %s, %s : %s" % (t, _c(bd, 6.0, cdt), ety))


_reg("hardsigmoid")(_ew_named(lambda bd, v, a, cdt, ety: _hardsigmoid_of(bd, v["self"], cdt, ety)))
_reg("hardswish")(_ew_named(lambda bd, v, a, cdt, ety: bd("arith.mulf %s, %s : %s" % (
    v["self"], _hardsigmoid_of(bd, v["self"], cdt, ety), ety))))
for _k in ("log1p", "expm1", "log2", "log10", "exp2", "trunc"):
    _reg(_k)(_unary(_math(_k)))


@_reg("round")
def _lower_round(em, node, args, kwargs, out_shape, out_dtype):
    if node.target._overloadname != "default":
        em.unsupported(node, "round with decimals")
    return _unary(_math("roundeven"))(em, node, args, kwargs, out_shape, out_dtype)


def _sign(bd, v, a, cdt, ety):
    x = v["self"]
    z = _c(bd, 0, cdt)
    if _isf(cdt):
        gt = bd("arith.cmpf ogt, %s, %s : %s" % (x, z, ety))
        lt = bd("arith.cmpf olt, %s, %s : %s" % (x, z, ety))
    else:
        gt = bd("arith.cmpi sgt, %s, %s : %s" % (x, z, ety))
        lt = bd("arith.cmpi slt, %s, %s : %s" % (x, z, ety))
    r = bd("arith.select %s, %s, %s : %s" % (lt, _c(bd, -1, cdt), z, ety))
    return bd("arith.select %s, %s, %s : %s" % (gt, _c(bd, 1, cdt), r, ety))


_reg("sign")(_ew_named(_sign))


def _remainder(bd, v, a, cdt, ety):
    x, y = v["self"], v["other"]
    if not _isf(cdt):
        r = bd("arith.remsi %s, %s : %s" % (x, y, ety))
        # Python semantics: the result has the divisor's sign.
        z = _c(bd, 0, cdt)
        nz = bd("arith.cmpi ne, %s, %s : %s" % (r, z, ety))
        rneg = bd("arith.cmpi slt, %s, %s : %s" % (r, z, ety))
        yneg = bd("arith.cmpi slt, %s, %s : %s" % (y, z, ety))
        diff = bd("arith.xori %s, %s : i1" % (rneg, yneg))
        fix = bd("arith.andi %s, %s : i1" % (nz, diff))
        ry = bd("arith.addi %s, %s : %s" % (r, y, ety))
        return bd("arith.select %s, %s, %s : %s" % (fix, ry, r, ety))
    q = bd("math.floor %s : %s" % (bd("arith.divf %s, %s : %s" % (x, y, ety)), ety))
    return bd("arith.subf %s, %s : %s" % (x, bd("arith.mulf %s, %s : %s" % (q, y, ety)), ety))


_reg("remainder")(_ew_named(_remainder))
_reg("fmod")(_ew_named(lambda bd, v, a, cdt, ety: bd("arith.%s %s, %s : %s" % (
    "remf" if _isf(cdt) else "remsi", v["self"], v["other"], ety))))


def _addc(op):
    def f(bd, v, a, cdt, ety):
        t = bd("arith.%s %s, %s : %s" % (op, v["tensor1"], v["tensor2"], ety))
        val = a.get("value", 1)
        if val != 1:
            t = bd("arith.mulf %s, %s : %s" % (t, _c(bd, val, cdt), ety))
        return bd("arith.addf %s, %s : %s" % (v["self"], t, ety))
    return f


_reg("addcmul")(_ew_named(_addc("mulf")))
_reg("addcdiv")(_ew_named(_addc("divf")))


def _lerp(bd, v, a, cdt, ety):
    w = v["weight"]
    d = bd("arith.subf %s, %s : %s" % (v["end"], v["self"], ety))
    return bd("arith.addf %s, %s : %s" % (v["self"], bd("arith.mulf %s, %s : %s" % (w, d, ety)),
                                          ety))


_reg("lerp")(_ew_named(_lerp))


@_reg("glu")
def _lower_glu(em, node, args, kwargs, out_shape, out_dtype):
    x = em.val(args[0])
    dim = _norm_dim(kwargs.get("dim", args[1] if len(args) > 1 else -1), x.rank)
    h = x.shape[dim] // 2
    offs, sizes = [0] * x.rank, list(x.shape)
    sizes[dim] = h
    a_ = em.extract_slice(x, offs, sizes, [1] * x.rank, tuple(sizes))
    offs[dim] = h
    b_ = em.extract_slice(x, offs, sizes, [1] * x.rank, tuple(sizes))
    ety = _elt(out_dtype)
    return em.ew(out_shape, out_dtype, [a_, b_], lambda bd, xs: bd("arith.mulf %s, %s : %s" % (
        xs[0][0], _sigmoid_of(bd, xs[1][0], ety, out_dtype), ety)))


@_reg("flip")
def _lower_flip(em, node, args, kwargs, out_shape, out_dtype):
    x = em.val(args[0])
    dims = set(_norm_dim(d, x.rank) for d in args[1])

    def index_fn(bd, iv, idxv):
        out = list(iv)
        for d in dims:
            n1 = bd("arith.constant %d : index" % (x.shape[d] - 1))
            out[d] = bd("arith.subi %s, %s : index" % (n1, iv[d]))
        return out
    return em.gather(x.shape, out_dtype, x, [], index_fn)


@_reg("roll")
def _lower_roll(em, node, args, kwargs, out_shape, out_dtype):
    x = em.val(args[0])
    shifts = args[1] if isinstance(args[1], (list, tuple)) else [args[1]]
    dims = args[2] if len(args) > 2 else kwargs.get("dims", [])
    dims = dims if isinstance(dims, (list, tuple)) else [dims]
    if not dims:
        em.unsupported(node, "roll without dims")
    sh = dict((_norm_dim(d, x.rank), int(s_)) for d, s_ in zip(dims, shifts))

    def index_fn(bd, iv, idxv):
        out = list(iv)
        for d, s_ in sh.items():
            n = x.shape[d]
            k = bd("arith.constant %d : index" % ((n - s_ % n) % n))
            t = bd("arith.addi %s, %s : index" % (iv[d], k))
            out[d] = bd("arith.remui %s, %s : index" % (t, bd("arith.constant %d : index" % n)))
        return out
    return em.gather(x.shape, out_dtype, x, [], index_fn)


def _wrap_index(bd, v, dtype, n):
    """A (possibly negative) integer index -> index type, in [0, n)."""
    i = _index_to_index(bd, v, dtype)
    z = bd("arith.constant 0 : index")
    neg = bd("arith.cmpi slt, %s, %s : index" % (i, z))
    w = bd("arith.addi %s, %s : index" % (i, bd("arith.constant %d : index" % n)))
    return bd("arith.select %s, %s, %s : index" % (neg, w, i))


@_reg("gather")
def _lower_gather(em, node, args, kwargs, out_shape, out_dtype):
    a = _named_args(node, args, kwargs)
    x, idx = em.val(a["self"]), em.val(a["index"])
    dim = _norm_dim(a["dim"], x.rank)
    R = len(out_shape)
    imap = _amap(R, ["d%d" % i for i in range(R)])

    def index_fn(bd, iv, idxv):
        out = list(iv)
        out[dim] = _wrap_index(bd, idxv[0][0], idxv[0][1], x.shape[dim])
        return out
    return em.gather(tuple(out_shape), out_dtype, x, [(idx, imap)], index_fn)


@_reg("index")
def _lower_index(em, node, args, kwargs, out_shape, out_dtype):
    """x[i0, i1, ...] with integer index tensors (None = full slice)."""
    x = em.val(args[0])
    idx = list(args[1])
    tens = [(d, em.val(t)) for d, t in enumerate(idx) if t is not None]
    if any(t.dtype == torch.bool for d, t in tens):
        em.unsupported(node, "boolean mask indexing (data-dependent shape)")
    pos = [d for d, t in tens]
    bshape = tuple(torch.broadcast_shapes(*[t.shape for d, t in tens]))
    adjacent = pos == list(range(pos[0], pos[-1] + 1))
    rest = [d for d in range(x.rank) if d not in pos]
    # Output dims: where the broadcast index dims sit, and each remaining x dim.
    if adjacent:
        first = pos[0]
        before = [d for d in rest if d < first]
        after = [d for d in rest if d > first]
        layout = [("x", d) for d in before] + [("i", j) for j in range(len(bshape))] + \
                 [("x", d) for d in after]
    else:
        layout = [("i", j) for j in range(len(bshape))] + [("x", d) for d in rest]
    R = len(layout)
    ipos = [k for k, (kind, j) in enumerate(layout) if kind == "i"]
    inputs = []
    for d, t in tens:
        off = len(bshape) - t.rank
        res = []
        for j, s_ in enumerate(t.shape):
            o = ipos[off + j]
            res.append("0" if (s_ == 1 and bshape[off + j] != 1) else "d%d" % o)
        inputs.append((t, _amap(R, res)))

    def index_fn(bd, iv, idxv):
        src = [None] * x.rank
        for k, (kind, d) in enumerate(layout):
            if kind == "x":
                src[d] = iv[k]
        for (d, t), (v, dt) in zip(tens, idxv):
            src[d] = _wrap_index(bd, v, dt, x.shape[d])
        return src
    return em.gather(tuple(out_shape), out_dtype, x, inputs, index_fn)


@_reg("slice_scatter")
def _lower_slice_scatter(em, node, args, kwargs, out_shape, out_dtype):
    a = _named_args(node, args, kwargs)
    base, src = em.val(a["self"]), em.cast(a["src"], out_dtype)
    dim = _norm_dim(a.get("dim") or 0, base.rank)
    n = base.shape[dim]
    start = 0 if a.get("start") is None else int(a["start"])
    step = int(a.get("step") or 1)
    if start < 0:
        start += n
    start = min(max(start, 0), n)
    offs = [0] * base.rank
    offs[dim] = start
    strides = [1] * base.rank
    strides[dim] = step
    return _insert(em, src, base, offs, list(src.shape), strides)


@_reg("select_scatter")
def _lower_select_scatter(em, node, args, kwargs, out_shape, out_dtype):
    a = _named_args(node, args, kwargs)
    base, src = em.val(a["self"]), em.cast(a["src"], out_dtype)
    dim = _norm_dim(a["dim"], base.rank)
    i = int(a["index"])
    if i < 0:
        i += base.shape[dim]
    offs = [0] * base.rank
    offs[dim] = i
    sizes = list(base.shape)
    sizes[dim] = 1
    return _insert(em, src, base, offs, sizes, [1] * base.rank)


def _insert(em, src, base, offs, sizes, strides):
    if tuple(src.shape) == tuple(base.shape) and not any(offs):
        return src                                   # overwrites all of base
    n = em.res()
    em.emit("%s = tensor.insert_slice %s into %s[%s] [%s] [%s] : %s into %s"
            % (n, src.ssa, base.ssa, ", ".join(map(str, offs)), ", ".join(map(str, sizes)),
               ", ".join(map(str, strides)), src.ty, base.ty))
    return V(n, base.shape, base.dtype)


@_reg("fill", "copy")
def _lower_fill(em, node, args, kwargs, out_shape, out_dtype):
    """fill(x, value tensor) / copy(x, src): src broadcast to x's shape and
    dtype (the values of x do not matter)."""
    src = args[1]
    if not _is_tensorish(src):
        return em.ew(out_shape, out_dtype, [Scalar(src, out_dtype)], lambda bd, xs: xs[0][0])
    sv = em.val(src)
    return em.ew(out_shape, out_dtype, [sv], lambda bd, xs: bd.cast(xs[0][0], sv.dtype,
                                                                   out_dtype))


@_reg("kv_shift_attention")
def _lower_kv_shift_attention(em, node, args, kwargs, out_shape, out_dtype):
    q, k, v, kw, vw = [em.val(a) for a in args[:5]]
    scale, causal = float(args[5]), bool(args[6])
    rope_theta = args[7] if len(args) > 7 else kwargs.get("rope_theta")
    n = em.res()
    attrs = (" causal" if causal else "") + " scale = %s" % _flit(scale, torch.float32)
    if rope_theta is not None:
        attrs += " rope_theta = %s" % _flit(float(rope_theta), torch.float32)
    em.emit("%s = kvshift.kv_shift_attention %s, %s, %s mix(%s, %s)%s : (%s) -> %s"
            % (n, q.ssa, k.ssa, v.ssa, kw.ssa, vw.ssa, attrs,
               ", ".join(t.ty for t in (q, k, v, kw, vw)), _tty(out_shape, out_dtype)))
    em.fused += 1
    return V(n, out_shape, out_dtype)


# Index operands of the cache ops: (op, argument position).
_INDEX_OPERANDS = {"kv_cache_append": 8, "kv_cache_attention": 3}


def _index_only_nodes(gm, dynamic):
    """0-d integer add/sub nodes (``pos + T``) whose values are used only as
    index operands of the cache ops (directly or through other such nodes):
    they become arith.addi/subi on index, not tensor arithmetic."""
    out = set()
    for n in reversed(list(gm.graph.nodes)):
        if n.op != "call_function" or n not in dynamic or _packet(n) not in ("add", "sub"):
            continue
        meta = _meta(n)
        if meta is None or meta[0] != () or _isf(meta[1]) or meta[1] == torch.bool:
            continue
        alpha = n.kwargs.get("alpha", n.args[2] if len(n.args) > 2 else 1)
        if alpha != 1 or len(n.args) < 2:
            continue
        ok = True
        for a in n.args[:2]:
            if isinstance(a, torch.fx.Node):
                m = _meta(a)
                ok = ok and m is not None and m[0] == () and not _isf(m[1]) \
                    and m[1] != torch.bool
            elif isinstance(a, bool) or not isinstance(a, int):
                ok = False
        if not ok or not n.users:
            continue
        for u in n.users:
            if u in out:
                continue
            pos = _INDEX_OPERANDS.get(_packet(u)) if u.op == "call_function" else None
            if pos is None or n in _flatten([list(u.args[:pos]), list(u.args[pos + 1:]),
                                             u.kwargs]) \
                    or len(u.args) <= pos or u.args[pos] is not n:
                ok = False
                break
        if ok:
            out.add(n)
    return out


class _IndexOnly(object):
    """The env value of an index-only node (see _index_only_nodes)."""
    __slots__ = ()


def _index_value(em, a):
    """An SSA value of type index for a (0-d integer tensor) FX node or a
    python int: tensor.extract + arith.index_cast of a tensor value (once
    per value), arith.constant for constants, arith.addi/subi for
    index-only add/sub nodes."""
    memo = em.index_memo
    if isinstance(a, torch.fx.Node) and a in memo:
        return memo[a]
    if isinstance(a, bool) or isinstance(a, int):
        n = em.fresh()
        em.emit("%s = arith.constant %d : index" % (n, int(a)))
        return n
    v = em.env[a]
    if isinstance(v, _IndexOnly):
        x = _index_value(em, a.args[0])
        y = _index_value(em, a.args[1])
        n = em.fresh()
        em.emit("%s = arith.%s %s, %s : index"
                % (n, "addi" if _packet(a) == "add" else "subi", x, y))
    elif isinstance(v, Const) or (isinstance(v, (int, float)) and not isinstance(v, bool)):
        t = v.t if isinstance(v, Const) else torch.tensor(v)
        if t.numel() != 1 or _isf(t.dtype) or t.dtype == torch.bool:
            raise ImporterError("%s: expected an integer scalar, found %s of %s"
                                % (a.name, list(t.shape), t.dtype))
        n = em.fresh()
        em.emit("%s = arith.constant %d : index" % (n, int(t.reshape(-1)[0])))
    elif isinstance(v, V):
        if v.shape != () or _isf(v.dtype) or v.dtype == torch.bool:
            raise ImporterError("%s: expected a 0-d integer tensor, found %s"
                                % (a.name, v.ty))
        if v.ssa in memo:
            return memo[v.ssa]
        e = em.fresh()
        em.emit("%s = tensor.extract %s[] : %s" % (e, v.ssa, v.ty))
        n = em.fresh()
        em.emit("%s = arith.index_cast %s : %s to index" % (n, e, _elt(v.dtype)))
        memo[v.ssa] = n
    else:
        raise ImporterError("%s: expected an integer scalar, found %r" % (a.name, v))
    memo[a] = n
    return n


def _theta_attr(rope_theta):
    if rope_theta is None:
        return ""
    return " rope_theta = %s" % _flit(float(rope_theta), torch.float32)


@_reg("kv_cache_append")
def _lower_kv_cache_append(em, node, args, kwargs, out_shape, out_dtype):
    k, v, kl, vl, kw, vw, kc, vc = [em.val(a) for a in args[:8]]
    pos = _index_value(em, node.args[8])
    rope_theta = args[9] if len(args) > 9 else kwargs.get("rope_theta")
    res = (V(em.fresh(), kc.shape, kc.dtype), V(em.fresh(), vc.shape, vc.dtype),
           V(em.fresh(), kl.shape, kl.dtype), V(em.fresh(), vl.shape, vl.dtype))
    em.emit("%s = kvshift.kv_cache_append %s, %s last(%s, %s) mix(%s, %s) into(%s, %s) "
            "at %s%s : (%s, index) -> (%s)"
            % (", ".join(r.ssa for r in res), k.ssa, v.ssa, kl.ssa, vl.ssa, kw.ssa, vw.ssa,
               kc.ssa, vc.ssa, pos, _theta_attr(rope_theta),
               ", ".join(t.ty for t in (k, v, kl, vl, kw, vw, kc, vc)),
               ", ".join(r.ty for r in res)))
    em.cache_ops += 1
    return res


@_reg("kv_cache_attention")
def _lower_kv_cache_attention(em, node, args, kwargs, out_shape, out_dtype):
    q, kc, vc = [em.val(a) for a in args[:3]]
    length = _index_value(em, node.args[3])
    scale, causal = float(args[4]), bool(args[5])
    rope_theta = args[6] if len(args) > 6 else kwargs.get("rope_theta")
    n = em.res()
    attrs = (" causal" if causal else "") + " scale = %s" % _flit(scale, torch.float32)
    em.emit("%s = kvshift.kv_cache_attention %s, %s, %s length %s%s%s : (%s, index) -> %s"
            % (n, q.ssa, kc.ssa, vc.ssa, length, attrs, _theta_attr(rope_theta),
               ", ".join(t.ty for t in (q, kc, vc)), q.ty))
    em.cache_ops += 1
    return V(n, q.shape, q.dtype)


@_reg("kv_shift_attention_grad")
def _lower_kv_shift_attention_grad(em, node, args, kwargs, out_shape, out_dtype):
    """kvshift_importer.kv_shift_attention_grad (the backward of the
    attention op in a traced train step) -> kvshift.kv_shift_attention_grad
    (dq, dk, dv, dkw, dvw), with the forward's attributes."""
    q, k, v, kw, vw, do = [em.val(a) for a in args[:6]]
    scale, causal = float(args[6]), bool(args[7])
    rope_theta = args[8] if len(args) > 8 else kwargs.get("rope_theta")
    n = em.fresh()
    attrs = (" causal" if causal else "") + " scale = %s" % _flit(scale, torch.float32)
    ins = (q, k, v, kw, vw, do)
    outs = (q, k, v, kw, vw)
    em.emit("%s:5 = kvshift.kv_shift_attention_grad %s, %s, %s mix(%s, %s) dout(%s)%s%s "
            ": (%s) -> (%s)"
            % (n, q.ssa, k.ssa, v.ssa, kw.ssa, vw.ssa, do.ssa, attrs, _theta_attr(rope_theta),
               ", ".join(t.ty for t in ins), ", ".join(t.ty for t in outs)))
    em.grad_ops += 1
    return tuple(V("%s#%d" % (n, i), t.shape, t.dtype) for i, t in enumerate(outs))


# ---------------------------------------------------------------------------
# Backward ops (what PyTorch's autograd records at the ATen level)
# ---------------------------------------------------------------------------

def _acc_dtype(dtype):
    """The compute dtype of a float dtype: f32 for f16/bf16."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


@_reg("_softmax_backward_data", "_log_softmax_backward_data")
def _lower_softmax_backward(em, node, args, kwargs, out_shape, out_dtype):
    """softmax: y (g - sum(g y)); log_softmax: g - exp(y) sum(g), over dim,
    in f32 for f16/bf16; the row sums broadcast by the maps."""
    go, y = em.val(args[0]), em.val(args[1])
    dim = _norm_dim(args[2], go.rank)
    log = node.target.overloadpacket.__name__.startswith("_log")
    cdt = _acc_dtype(go.dtype)
    ety = _elt(cdt)
    rmap = _reduced_map(go.rank, [dim])
    if log:
        s = em.reduce(go, [dim], "sum", False, cdt)

        def fn(bd, xs):
            g = bd.cast(xs[0][0], xs[0][1], cdt)
            e = bd("math.exp %s : %s" % (bd.cast(xs[1][0], xs[1][1], cdt), ety))
            r = bd("arith.subf %s, %s : %s" % (g, bd("arith.mulf %s, %s : %s" % (
                e, xs[2][0], ety)), ety))
            return bd.cast(r, cdt, out_dtype)
        return em.ew(out_shape, out_dtype, [go, y, (s, rmap)], fn)
    gy = em.ew(go.shape, cdt, [go, y], lambda bd, xs: bd("arith.mulf %s, %s : %s" % (
        bd.cast(xs[0][0], xs[0][1], cdt), bd.cast(xs[1][0], xs[1][1], cdt), ety)))
    s = em.reduce(gy, [dim], "sum", False)

    def fn2(bd, xs):
        g = bd.cast(xs[0][0], xs[0][1], cdt)
        o = bd.cast(xs[1][0], xs[1][1], cdt)
        r = bd("arith.mulf %s, %s : %s" % (o, bd("arith.subf %s, %s : %s" % (
            g, xs[2][0], ety)), ety))
        return bd.cast(r, cdt, out_dtype)
    return em.ew(out_shape, out_dtype, [go, y, (s, rmap)], fn2)


def _nll_parts(em, node, a):
    """Common operands of nll_loss_forward/backward: x [N, C], target [N]
    (1-D inputs as one row), weight, reduction, ignore_index."""
    x, t = em.val(a["self"]), em.val(a["target"])
    if x.rank == 1:
        x = em.reshape(x, (1, x.shape[0]))
        t = em.reshape(t, (1,))
    if x.rank != 2:
        em.unsupported(node, "input of rank %d (only [N, C] and [C])" % x.rank)
    if _isf(t.dtype) or t.dtype == torch.bool:
        em.unsupported(node, "target of dtype %s" % t.dtype)
    w = a.get("weight")
    w = em.val(w) if w is not None else None
    return x, t, w, int(a["reduction"]), int(a["ignore_index"])


def _nll_target_index(bd, tv, tdt, ign):
    """(ignored?, the target as an index, 0 when ignored: no out-of-bounds
    read) in a generic body."""
    ig = bd("arith.cmpi eq, %s, %s : %s" % (tv, bd.const(ign, tdt), _elt(tdt)))
    i = _index_to_index(bd, tv, tdt)
    z = bd("arith.constant 0 : index")
    return ig, bd("arith.select %s, %s, %s : index" % (ig, z, i))


@_reg("nll_loss_forward")
def _lower_nll_loss_forward(em, node, args, kwargs, out_shape, out_dtype):
    """(output, total_weight): the picked -w[t] x[i, t] per row (0 where
    t == ignore_index) -> none: per row; sum; mean: divided by the summed
    weights of the rows not ignored (total_weight)."""
    a = _named_args(node, args, kwargs)
    x, t, w, red, ign = _nll_parts(em, node, a)
    N = x.shape[0]
    dt = x.dtype
    cdt = _acc_dtype(dt)
    ety = _elt(cdt)
    tmap = _amap(1, ["d0"])

    def body(picked):
        def fn(bd, args_, out):
            ig, i = _nll_target_index(bd, args_[0], t.dtype, ign)
            if w is not None:
                wv = bd.cast(bd("tensor.extract %s[%s] : %s" % (w.ssa, i, w.ty)), w.dtype, cdt)
            else:
                wv = bd.const(1.0, cdt)
            if picked:
                r = bd("linalg.index 0 : index")
                e = bd.cast(bd("tensor.extract %s[%s, %s] : %s" % (x.ssa, r, i, x.ty)), dt, cdt)
                wv = bd("arith.negf %s : %s" % (bd("arith.mulf %s, %s : %s" % (e, wv, ety)), ety))
            return bd("arith.select %s, %s, %s : %s" % (ig, bd.const(0.0, cdt), wv, ety))
        return fn
    picked = em.generic((N,), cdt, [(t.ssa, t.ty, t.dtype)], [tmap], ["parallel"], body(True))
    if red == 0:
        out = em.cast(picked, dt)
        if em.val(a["self"]).rank == 1:
            out = em.reshape(out, ())
        return (out, V(em.filled((), dt, 0), (), dt))
    weights = em.generic((N,), cdt, [(t.ssa, t.ty, t.dtype)], [tmap], ["parallel"], body(False))
    total = em.reduce(weights, [0], "sum", False)
    s = em.reduce(picked, [0], "sum", False)
    if red == 1:
        s = em.ew((), cdt, [s, total], lambda bd, xs: bd("arith.divf %s, %s : %s" % (
            xs[0][0], xs[1][0], ety)))
    elif red != 2:
        em.unsupported(node, "reduction %d" % red)
    return (em.cast(s, dt), em.cast(total, dt))


@_reg("nll_loss_backward")
def _lower_nll_loss_backward(em, node, args, kwargs, out_shape, out_dtype):
    """grad[i, c] = -g_i w[t_i] (/ total_weight for mean) where c == t_i and
    t_i != ignore_index, else 0: one generic over [N, C]."""
    a = _named_args(node, args, kwargs)
    x, t, w, red, ign = _nll_parts(em, node, a)
    go, tw = em.val(a["grad_output"]), em.val(a["total_weight"])
    N, C = x.shape
    dt = out_dtype
    cdt = _acc_dtype(dt)
    ety = _elt(cdt)
    if go.rank == 1 and go.shape[0] != N:
        em.unsupported(node, "grad_output of shape %s" % (go.shape,))
    if go.rank == 1 and N == 1 and red != 0:
        go = em.reshape(go, ())
    gmap = _amap(2, ["d0"] if (red == 0 and go.rank == 1) else [])
    go = go if go.rank <= 1 else em.reshape(go, (N,))
    ins = [(t.ssa, t.ty, t.dtype), (go.ssa, go.ty, go.dtype), (tw.ssa, tw.ty, tw.dtype)]
    maps = [_amap(2, ["d0"]), gmap, _amap(2, [])]

    def fn(bd, args_, out):
        ig, i = _nll_target_index(bd, args_[0], t.dtype, ign)
        c = bd("linalg.index 1 : index")
        hit = bd("arith.cmpi eq, %s, %s : index" % (c, i))
        nig = bd("arith.xori %s, %s : i1" % (ig, bd.const(True, torch.bool)))
        hit = bd("arith.andi %s, %s : i1" % (hit, nig))
        g = bd("arith.negf %s : %s" % (bd.cast(args_[1], go.dtype, cdt), ety))
        if w is not None:
            wv = bd.cast(bd("tensor.extract %s[%s] : %s" % (w.ssa, i, w.ty)), w.dtype, cdt)
            g = bd("arith.mulf %s, %s : %s" % (g, wv, ety))
        if red == 1:
            g = bd("arith.divf %s, %s : %s" % (g, bd.cast(args_[2], tw.dtype, cdt), ety))
        r = bd("arith.select %s, %s, %s : %s" % (hit, g, bd.const(0.0, cdt), ety))
        return bd.cast(r, cdt, dt)
    r = em.generic((N, C), dt, ins, maps, ["parallel", "parallel"], fn)
    return em.reshape(r, out_shape)


@_reg("embedding_dense_backward")
def _lower_embedding_backward(em, node, args, kwargs, out_shape, out_dtype):
    """The embedding's weight gradient, a scatter-add of grad_output's rows
    into the rows their indices name: an scf.for over the N positions whose
    body adds one row (tensor.extract_slice, linalg.generic,
    tensor.insert_slice on the iteration argument, which bufferizes in
    place), in f32 for f16/bf16; padding_idx's row is zero."""
    a = _named_args(node, args, kwargs)
    go, idx = em.val(a["grad_output"]), em.val(a["indices"])
    if a.get("scale_grad_by_freq"):
        em.unsupported(node, "scale_grad_by_freq=True")
    if _isf(idx.dtype) or idx.dtype == torch.bool:
        em.unsupported(node, "indices of dtype %s" % idx.dtype)
    nw, pad = int(a["num_weights"]), int(a["padding_idx"])
    D = go.shape[-1]
    N = int(np.prod(idx.shape)) if idx.shape else 1
    cdt = _acc_dtype(go.dtype)
    g2 = em.reshape(em.cast(go, cdt), (N, D))
    i1 = em.reshape(idx, (N,))
    acc0 = V(em.filled((nw, D), cdt, 0), (nw, D), cdt)
    c0, c1, cn = em.fresh(), em.fresh(), em.fresh()
    em.emit("%s = arith.constant 0 : index" % c0)
    em.emit("%s = arith.constant 1 : index" % c1)
    em.emit("%s = arith.constant %d : index" % (cn, N))
    r, p, acc = em.fresh(), em.fresh(), em.fresh()
    em.emit("%s = scf.for %s = %s to %s step %s iter_args(%s = %s) -> (%s) {"
            % (r, p, c0, cn, c1, acc, acc0.ssa, acc0.ty))
    e, i = em.fresh(), em.fresh()
    em.emit("%s = tensor.extract %s[%s] : %s" % (e, i1.ssa, p, i1.ty))
    em.emit("%s = arith.index_cast %s : %s to index" % (i, e, _elt(idx.dtype)))
    accv = V(acc, (nw, D), cdt)
    row = em.extract_slice(accv, [i, 0], [1, D], [1, 1], (1, D), name=em.fresh())
    gr = em.extract_slice(g2, [p, 0], [1, D], [1, 1], (1, D), name=em.fresh())
    ety = _elt(cdt)
    idm = _amap(2, ["d0", "d1"])
    s = em.generic((1, D), cdt, [(gr.ssa, gr.ty, cdt)], [idm], ["parallel", "parallel"],
                   lambda bd, args_, out: bd("arith.addf %s, %s : %s" % (args_[0], out, ety)),
                   init=row.ssa, name=em.fresh())
    ins = em.fresh()
    em.emit("%s = tensor.insert_slice %s into %s[%s, 0] [1, %d] [1, 1] : %s into %s"
            % (ins, s.ssa, acc, i, D, s.ty, acc0.ty))
    em.emit("scf.yield %s : %s" % (ins, acc0.ty))
    em.emit("}")
    out = V(r, (nw, D), cdt)
    if 0 <= pad < nw:
        z = V(em.filled((1, D), cdt, 0), (1, D), cdt)
        out = _insert(em, z, out, [pad, 0], [1, D], [1, 1])
    return em.cast(out, out_dtype)


@_reg("empty_like", "new_empty")
def _lower_empty_like(em, node, args, kwargs, out_shape, out_dtype):
    """Undefined values, as in PyTorch: a tensor.empty (autograd's
    ``empty_like(x).fill_(1)`` only needs the shape; the fill is folded)."""
    return V(em.empty(out_shape, out_dtype), out_shape, out_dtype)


@_reg("select_backward")
def _lower_select_backward(em, node, args, kwargs, out_shape, out_dtype):
    """Zeros of the input's shape with grad_output inserted at index."""
    a = _named_args(node, args, kwargs)
    g = em.val(a["grad_output"])
    sizes = [int(s_) for s_ in a["input_sizes"]]
    dim = _norm_dim(a["dim"], len(sizes))
    i = int(a["index"])
    if i < 0:
        i += sizes[dim]
    base = V(em.filled(sizes, g.dtype, 0), sizes, g.dtype)
    offs = [0] * len(sizes)
    offs[dim] = i
    szs = list(sizes)
    szs[dim] = 1
    return _insert(em, g, base, offs, szs, [1] * len(sizes))


@_reg("slice_backward")
def _lower_slice_backward(em, node, args, kwargs, out_shape, out_dtype):
    """Zeros of the input's shape with grad_output inserted at the slice
    (start, step) along dim."""
    a = _named_args(node, args, kwargs)
    g = em.val(a["grad_output"])
    sizes = [int(s_) for s_ in a["input_sizes"]]
    dim = _norm_dim(a["dim"], len(sizes))
    n = sizes[dim]
    start = int(a["start"])
    if start < 0:
        start += n
    start = min(max(start, 0), n)
    if tuple(g.shape) == tuple(sizes):
        return g
    base = V(em.filled(sizes, g.dtype, 0), sizes, g.dtype)
    offs = [0] * len(sizes)
    offs[dim] = start
    strides = [1] * len(sizes)
    strides[dim] = int(a["step"])
    return _insert(em, g, base, offs, list(g.shape), strides)


def _bin(bd, op, x, y, ety):
    return bd("arith.%s %s, %s : %s" % (op, x, y, ety))


_reg("threshold_backward")(_ew_named(lambda bd, v, a, cdt, ety: bd(
    "arith.select %s, %s, %s : %s" % (
        bd("arith.cmpf ule, %s, %s : %s" % (v["self"], v["threshold"], ety)),
        _c(bd, 0.0, cdt), v["grad_output"], ety))))


def _silu_backward(bd, v, a, cdt, ety):
    # g s (1 + x (1 - s)), s = sigmoid(x)
    x = v["self"]
    s = _sigmoid_of(bd, x, ety, cdt)
    one = _c(bd, 1.0, cdt)
    t = _bin(bd, "addf", one, _bin(bd, "mulf", x, _bin(bd, "subf", one, s, ety), ety), ety)
    return _bin(bd, "mulf", v["grad_output"], _bin(bd, "mulf", s, t, ety), ety)


_reg("silu_backward")(_ew_named(_silu_backward))
# g y (1 - y) and g (1 - y^2), y the forward's output.
_reg("sigmoid_backward")(_ew_named(lambda bd, v, a, cdt, ety: _bin(
    bd, "mulf", v["grad_output"], _bin(bd, "mulf", v["output"], _bin(
        bd, "subf", _c(bd, 1.0, cdt), v["output"], ety), ety), ety)))
_reg("tanh_backward")(_ew_named(lambda bd, v, a, cdt, ety: _bin(
    bd, "mulf", v["grad_output"], _bin(bd, "subf", _c(bd, 1.0, cdt), _bin(
        bd, "mulf", v["output"], v["output"], ety), ety), ety)))


def _gelu_backward(bd, v, a, cdt, ety):
    x, g = v["self"], v["grad_output"]
    c = lambda z: _c(bd, z, cdt)  # noqa: E731
    if a.get("approximate", "none") == "tanh":
        beta, kappa = math.sqrt(2.0 / math.pi), 0.044715
        x2 = _bin(bd, "mulf", x, x, ety)
        x3 = _bin(bd, "mulf", x2, x, ety)
        inner = _bin(bd, "mulf", c(beta), _bin(bd, "addf", x, _bin(
            bd, "mulf", c(kappa), x3, ety), ety), ety)
        th = bd("math.tanh %s : %s" % (inner, ety))
        left = _bin(bd, "mulf", c(0.5), x, ety)
        right = _bin(bd, "addf", c(1.0), th, ety)
        dleft = _bin(bd, "mulf", c(0.5), right, ety)
        sech2 = _bin(bd, "subf", c(1.0), _bin(bd, "mulf", th, th, ety), ety)
        dinner = _bin(bd, "mulf", c(beta), _bin(bd, "addf", c(1.0), _bin(
            bd, "mulf", c(3.0 * kappa), x2, ety), ety), ety)
        dright = _bin(bd, "mulf", left, _bin(bd, "mulf", sech2, dinner, ety), ety)
        return _bin(bd, "mulf", g, _bin(bd, "addf", dleft, dright, ety), ety)
    # cdf(x) + x pdf(x)
    cdf = _bin(bd, "mulf", c(0.5), _bin(bd, "addf", c(1.0), _erf_of(
        bd, _bin(bd, "mulf", x, c(1.0 / math.sqrt(2.0)), ety), ety, cdt), ety), ety)
    e = bd("math.exp %s : %s" % (_bin(bd, "mulf", c(-0.5), _bin(
        bd, "mulf", x, x, ety), ety), ety))
    pdf = _bin(bd, "mulf", e, c(1.0 / math.sqrt(2.0 * math.pi)), ety)
    return _bin(bd, "mulf", g, _bin(bd, "addf", cdf, _bin(bd, "mulf", x, pdf, ety), ety), ety)


_reg("gelu_backward")(_ew_named(_gelu_backward))


# Ops that create tensors whose values do not depend on their tensor
# arguments (only on shapes/dtypes): folded even when the argument is traced.
_LIKE = {"zeros_like", "ones_like", "full_like", "empty_like", "new_zeros", "new_ones",
         "new_full", "new_empty", "scalar_tensor", "fill"}
_RANDOM = {"rand", "randn", "randint", "rand_like", "randn_like", "randint_like",
           "bernoulli", "normal", "uniform", "multinomial", "native_dropout", "randperm"}
# Ops whose values are undefined or random: never folded through _LIKE (an
# empty tensor is folded only as the input of a fill, e.g. repeat_interleave's).
_NONDETERMINISTIC = _RANDOM | {"empty", "empty_like", "new_empty", "empty_strided"}


# ---------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------

def _flatten(x):
    if isinstance(x, (list, tuple)):
        out = []
        for e in x:
            out.extend(_flatten(e))
        return out
    if isinstance(x, dict):
        out = []
        for k in x:
            out.extend(_flatten(x[k]))
        return out
    return [x]


def _caller_level():
    """warnings stacklevel of the first frame outside the kvshift package
    (as seen from the function that calls warnings.warn)."""
    pkg = os.path.dirname(_THIS_FILE) + os.sep
    f = inspect.currentframe().f_back
    level = 1
    while f is not None and os.path.abspath(f.f_code.co_filename).startswith(pkg):
        f = f.f_back
        level += 1
    return level


def _sanitize(name):
    s = re.sub(r"[^A-Za-z0-9_$.\-]", "_", name)
    if not s or not (s[0].isalpha() or s[0] in "_$.-"):
        s = "_" + s
    return s


def import_module(module, example_inputs, func_name="forward", params="args",
                  comments=True):
    """Trace module on example_inputs and return its MLIR (an ImportedModule,
    a str subclass that records the argument order).

    module: a torch.nn.Module (or a plain callable: then params are whatever
    tensors it closes over, folded as constants). example_inputs: a tensor
    or a tuple of inputs (tensors; other values are baked in). func_name:
    the function's name. params: "args" (parameters and buffers are
    arguments after the inputs) or "constants" (embedded). comments: a
    comment naming each node's ATen op and source line."""
    if params not in ("args", "constants"):
        raise ValueError("params must be 'args' or 'constants', found %r" % (params,))
    if isinstance(example_inputs, (torch.Tensor, np.ndarray)) or not isinstance(
            example_inputs, (tuple, list)):
        example_inputs = (example_inputs,)
    inputs = [torch.from_numpy(x) if isinstance(x, np.ndarray) else x for x in example_inputs]
    for i, x in enumerate(inputs):
        if not isinstance(x, torch.Tensor) and any(
                isinstance(e, (torch.Tensor, np.ndarray)) for e in _flatten(x)):
            raise ImporterError("example input %d is a container of tensors: pass the "
                                "tensors as separate inputs (wrap the module)" % i)
        if isinstance(x, torch.Tensor) and x.dtype not in _ELT:
            raise ImporterError("example input %d has unsupported dtype %s" % (i, x.dtype))
    tensor_pos = [i for i, x in enumerate(inputs) if isinstance(x, torch.Tensor)]

    # Input names from forward's signature.
    fwd = module.forward if isinstance(module, torch.nn.Module) else module
    try:
        pnames = [p.name for p in inspect.signature(fwd).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        pnames = []
    in_names = [pnames[i] if i < len(pnames) else "input%d" % i for i in tensor_pos]
    return _import_traced(module, module, inputs, tensor_pos, in_names, func_name, params,
                          comments)


def _import_traced(module, call, inputs, tensor_pos, in_names, func_name, params,
                   comments, params_first=False, cls=None, trace=None, destinations=None):
    """Trace call(*inputs) (parameters and buffers of module become
    arguments or constants) and emit the function; in_names name the
    tensor inputs. params_first: the parameter arguments come before the
    inputs. cls: the ImportedModule subclass of the result. trace: a
    callable returning the FX graph (its placeholders are the tensor
    inputs), used instead of tracing call (see trace_function). destinations: {result index: input index}: results that are the
    new value of an input (state updated in place) are written through
    that argument as their destination (see _write_through)."""
    was_training = getattr(module, "training", False)
    if isinstance(module, torch.nn.Module):
        module.eval()
    if trace is None:
        del _UNFUSED[:]
    # Parameters and buffers by identity.
    pmap = {}
    order = {}
    if isinstance(module, torch.nn.Module):
        i = 0
        for n, t in module.state_dict(keep_vars=True).items():
            order.setdefault(id(t), i)
            i += 1
        for n, t in _all_tensors(module):
            pmap.setdefault(id(t), (n, t))
    try:
        if trace is None:
            gm = _trace(call, inputs, tensor_pos)
            retrace = _has_dynamic_mutation(gm, pmap) and _functionalize() is not None
        else:
            gm = trace()
            retrace = False
        if retrace:
            # In-place ops on traced values (masked_fill_, x[:, 0] = ...):
            # trace again through functionalize (out-of-place + *_scatter).
            del _UNFUSED[:]
            gm = _trace(call, inputs, tensor_pos, functionalize=True)
    finally:
        if isinstance(module, torch.nn.Module) and was_training:
            module.train()
    unfused = list(_UNFUSED)
    del _UNFUSED[:]
    if unfused:
        warnings.warn("kvshift.import_module: %d kv_shift_attention call(s) with %s "
                      "imported unfused (the op takes f32/f16/bf16)"
                      % (len(unfused), unfused[0]), UserWarning, stacklevel=_caller_level())

    em = _Emitter(gm)
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    used_names = set()

    def taken(s):
        head, _, tail = s.rpartition(".")
        return (s in used_names or s in em.node_names or s.startswith("cst")
                or (tail.isdigit() and (head in em.node_names or head == "ret")))

    def uniq(base):
        s = _sanitize(base)
        if s.startswith("cst"):           # %cstN are the folded constants
            s = "_" + s
        while taken(s):
            s = s + "_"
        used_names.add(s)
        return s

    arg_decls = []
    for ph, name in zip(placeholders, in_names):
        meta = _meta(ph)
        t = inputs[tensor_pos[placeholders.index(ph)]]
        ssa = "%" + uniq(name)
        _elt(t.dtype)
        em.env[ph] = V(ssa, t.shape, t.dtype)
        arg_decls.append((ssa, em.env[ph].ty))
        del meta

    # Parameters used by the graph (get_attr nodes that are parameters/buffers).
    param_nodes = []
    for n in gm.graph.nodes:
        if n.op == "get_attr":
            t = _getattr(gm, n.target)
            if isinstance(t, torch.Tensor) and id(t) in pmap:
                param_nodes.append((n, t))
    seen = {}
    plist = []
    for n, t in param_nodes:
        if id(t) not in seen:
            seen[id(t)] = None
            plist.append(t)
    plist.sort(key=lambda t: order.get(id(t), 1 << 30))
    param_names = []
    pval = {}
    for t in plist:
        name = pmap[id(t)][0]
        if params == "args":
            ssa = "%" + uniq(name)
            _elt(t.dtype)
            pval[id(t)] = V(ssa, t.shape, t.dtype)
            arg_decls.append((ssa, pval[id(t)].ty))
            param_names.append(name)
        else:
            pval[id(t)] = Const(t.detach().clone())
            pval[id(t)].v = None

    # Which nodes depend on inputs/parameters.
    dynamic = _dynamic_nodes(gm, pmap)
    index_only = _index_only_nodes(gm, dynamic)
    out_node = None
    for n in gm.graph.nodes:
        if n.op == "get_attr":
            t = _getattr(gm, n.target)
            if isinstance(t, torch.Tensor) and id(t) in pmap:
                em.env[n] = pval[id(t)]
            else:
                em.env[n] = Const(t)
        elif n.op == "output":
            out_node = n

    for n in gm.graph.nodes:
        if n.op != "call_function":
            continue
        em.cur = n.name
        name = _packet(n)
        if n in index_only:                 # emitted on index by its user (_index_value)
            em.env[n] = _IndexOnly()
            continue
        if n not in dynamic:
            em.env[n] = _fold(em, n, name)
            continue
        if _mutates(n) or name in _INPLACE:
            tgt = n.args[0] if n.args else None
            what = "an input or parameter"
            if isinstance(tgt, torch.fx.Node) and tgt.op == "placeholder":
                what = "input '%s'" % in_names[placeholders.index(tgt)]
            elif isinstance(tgt, torch.fx.Node) and tgt.op == "get_attr":
                t = _getattr(gm, tgt.target)
                if id(t) in pmap:
                    what = "parameter/buffer '%s'" % pmap[id(t)][0]
            raise UnsupportedOpError(_opname(n), _source_of(n),
                                     "in-place update of %s" % what)
        if n.target is operator.getitem:
            src = em.env[n.args[0]]
            em.env[n] = src[n.args[1]]
            if em.env[n] is None and n.users:
                raise UnsupportedOpError(_opname(n.args[0]), _source_of(n),
                                         "result %d is not supported" % n.args[1])
            continue
        fn = _LOWER.get(name)
        if fn is None and name.endswith("_copy"):   # functionalized graphs: view_copy, ...
            fn = _LOWER.get(name[:-len("_copy")])
        if fn is None:
            raise UnsupportedOpError(_opname(n), _source_of(n))
        args = torch.fx.node.map_arg(n.args, lambda a: em.env[a])
        kwargs = torch.fx.node.map_arg(n.kwargs, lambda a: em.env[a])
        meta = _meta(n)
        out_shape, out_dtype = meta if meta is not None else (None, None)
        if out_dtype is not None and out_dtype not in _ELT:
            raise UnsupportedOpError(_opname(n), _source_of(n), "dtype %s" % out_dtype)
        start = len(em.lines)
        if comments:
            src = _source_of(n)
            em.emit("// %s%s" % (_opname(n), (" <- " + src) if src else ""))
        r = fn(em, n, args, kwargs, out_shape, out_dtype)
        if len(em.lines) == start + (1 if comments else 0):
            del em.lines[start:]           # a no-op (view of the same shape, ...)
        else:
            em._name_result(start, r)
        em.env[n] = r

    outs = _flatten(out_node.args[0])
    results = []
    for o in outs:
        if not isinstance(o, torch.fx.Node):
            raise ImporterError("output %r is not a tensor" % (o,))
        v = em.env[o]
        if not _is_tensorish(v):
            raise ImporterError("output %s is not a tensor" % o.name)
        em.cur = "ret"
        results.append(em.val(v))
    written = {}
    for ri, ai in sorted((destinations or {}).items()):
        written[ri] = _write_through(em, results[ri], em.env[placeholders[ai]])

    # Parameters whose values the function does not read (only their shape
    # was used, e.g. by zeros_like) are not arguments.
    body_text = "\n".join(em.lines) + " " + " ".join(r.ssa for r in results)
    n_in = len(in_names)
    keep = list(range(n_in))
    for k, ssa in enumerate(a[0] for a in arg_decls[n_in:]):
        if re.search(re.escape(ssa) + r"(?![A-Za-z0-9_$.\-])", body_text):
            keep.append(n_in + k)
    param_names = [param_names[k - n_in] for k in keep[n_in:]]
    arg_decls = [arg_decls[k] for k in keep]
    if params_first:
        arg_decls = arg_decls[n_in:] + arg_decls[:n_in]

    header = "func.func @%s(%s) -> (%s) {" % (
        func_name, ", ".join("%s: %s" % a for a in arg_decls),
        ", ".join(r.ty for r in results))
    ret = "    return %s : %s" % (", ".join(r.ssa for r in results),
                                  ", ".join(r.ty for r in results))
    text = "module {\n  " + header + "\n" + "\n".join(em.lines) + "\n" + ret + "\n  }\n}\n"
    out = (cls or ImportedModule)(text)
    out.func_name = func_name
    out.input_names = list(in_names)
    out.param_names = param_names
    out.arg_names = (param_names + list(in_names)) if params_first else \
        (list(in_names) + param_names)
    out.arg_types = [a[1] for a in arg_decls]
    out.result_types = [r.ty for r in results]
    out.params = params
    out.fused_attention = em.fused
    out.cache_ops = em.cache_ops
    out.grad_ops = em.grad_ops
    out.written_through = written
    out._tensor_positions = list(tensor_pos)
    out._n_example_inputs = len(inputs)
    return out


def _write_through(em, v, arg):
    """Make the op that computes result v write into argument arg: when v
    is the result of an elementwise linalg.generic (identity output map,
    a body that does not read %out) whose init is a tensor.empty of v's
    type, the init becomes arg.  kvshift-tie-results follows destination
    operands, so the result is then tied to arg (updated in place by
    CompiledFunction.run_in_place).  Returns whether it could."""
    if not isinstance(arg, V) or arg.ty != v.ty:
        return False
    head = re.compile(r"^\s*" + re.escape(v.ssa) + r" = linalg\.generic ")
    idx = [i for i, l in enumerate(em.lines) if head.match(l)]
    if len(idx) != 1:
        return False
    i = idx[0]
    line = em.lines[i]
    m = re.search(r"outs\((%[^ :]+) : ([^)]+)\) \{$", line)
    maps = re.search(r"indexing_maps = \[(.*)\], iterator_types", line)
    if not m or m.group(2) != v.ty or not maps:
        return False
    out_map = maps.group(1).split("affine_map")[-1]
    dims = ", ".join("d%d" % k for k in range(v.rank))
    if out_map != "<(%s) -> (%s)>" % (dims, dims):
        return False
    init = m.group(1)
    j = i + 1
    while j < len(em.lines) and not em.lines[j].lstrip().startswith("} -> "):
        body = em.lines[j].lstrip()
        if not body.startswith("^bb0") and re.search(r"%out(?![A-Za-z0-9_$.\-])", body):
            return False                       # the body reads the init
        j += 1
    use = re.compile(re.escape(init) + r"(?![A-Za-z0-9_$.\-])")
    defs = [k for k, l in enumerate(em.lines)
            if l.lstrip().startswith(init + " = tensor.empty() : " + v.ty)]
    if len(defs) != 1 or sum(len(use.findall(l)) for l in em.lines) != 2:
        return False
    em.lines[i] = line[:m.start(1)] + arg.ssa + line[m.end(1):]
    del em.lines[defs[0]]
    return True


class ImportedStep(ImportedModule):
    """The MLIR text of a KV-cache inference step (import_step): one
    function ``@step(params..., %tokens, %pos, caches...) -> (logits,
    new caches...)``.

    Argument roles (indices into the function's arguments):
    ``param_args`` (list; empty with params="constants"), ``tokens_arg``,
    ``pos_arg``, ``cache_args`` (list, 4 per layer: k_cache, v_cache,
    k_last, v_last of layer 0, then layer 1, ...).  Result roles:
    ``logits_result`` (0) and ``cache_results`` (list):
    ``cache_results[i]`` is the new value of argument ``cache_args[i]``.
    Also ``cache_names`` (``k_cache.0``, ``v_cache.0``, ``k_last.0``, ...,
    the SSA names of the cache arguments), ``batch``, ``new_tokens`` (T),
    ``max_len`` (Smax), ``n_layers`` and the ImportedModule attributes
    (``arg_names`` in argument order, ``cache_ops``: the number of kvshift
    cache ops, 2 per layer)."""

    def bind(self, params_from, tokens, pos, *cache):
        """The arrays for the function's arguments, in order: parameters
        from params_from (a module or a state_dict-like mapping), tokens,
        pos (an int becomes a 0-d int64 array) and the cache tensors."""
        if len(cache) != len(self.cache_args):
            raise ValueError("expected %d cache tensors, got %d"
                             % (len(self.cache_args), len(cache)))
        if not isinstance(pos, torch.Tensor):
            pos = torch.tensor(int(pos), dtype=torch.int64)
        if isinstance(params_from, torch.nn.Module):
            sd = dict(_all_tensors(params_from))
        else:
            sd = params_from if params_from is not None else {}
        out = []
        for n in self.param_names:
            if n not in sd:
                raise KeyError("parameter '%s' not found" % n)
            out.append(_to_numpy(sd[n]))
        return out + [_to_numpy(x) for x in (tokens, pos) + tuple(cache)]


def import_step(model, batch, new_tokens, max_len, params="args", dtype=None,
                func_name="step", comments=True):
    """Import ``model.step`` (KVShiftLlama.step: tokens [B, T], pos, *cache
    -> (logits, *new_cache)) as one MLIR function for a fixed batch B, T =
    new_tokens new tokens (1: a decode step; P: a prefill) and a cache of
    max_len rows.  Returns an ImportedStep (a str) whose function is

        func.func @step(params..., %tokens: tensor<BxTxi64>, %pos: tensor<i64>,
                        caches...) -> (logits, new caches...)

    with the new caches in the order of the cache arguments (see
    ImportedStep for the role attributes).  Each layer's attention is one
    ``kvshift.kv_cache_append`` and one ``kvshift.kv_cache_attention``; pos
    is read with tensor.extract + arith.index_cast, the attention length
    pos + T is an arith.addi on index.

    params: "args" (parameters are function arguments, before the inputs;
    "arguments" is accepted as a synonym) or "constants" (embedded).
    dtype: of the cache (default: the dtype of model.embed.weight); f32,
    f16 or bf16: float64 models raise ImporterError (the cache ops take no
    f64).  Raises ValueError for a model without step/new_cache, batch or
    new_tokens < 1, or new_tokens > max_len."""
    if params == "arguments":
        params = "args"
    if params not in ("args", "constants"):
        raise ValueError("params must be 'args' or 'constants', found %r" % (params,))
    if not hasattr(model, "step") or not hasattr(model, "new_cache"):
        raise ValueError("import_step needs a model with step() and new_cache() "
                         "(kvshift.models.KVShiftLlama), found %s" % type(model).__name__)
    batch, new_tokens, max_len = int(batch), int(new_tokens), int(max_len)
    if batch < 1 or new_tokens < 1:
        raise ValueError("batch and new_tokens must be >= 1, found %d, %d"
                         % (batch, new_tokens))
    if new_tokens > max_len:
        raise ValueError("new_tokens (%d) exceeds max_len (%d)" % (new_tokens, max_len))
    if dtype is None:
        dtype = model.embed.weight.dtype
    cache = tuple(t.cpu() for t in model.new_cache(batch, max_len, dtype=dtype))
    n_layers = len(cache) // 4
    tokens = torch.zeros(batch, new_tokens, dtype=torch.int64)
    pos = torch.tensor(0, dtype=torch.int64)
    inputs = (tokens, pos) + cache
    cache_names = ["%s.%d" % (kind, i) for i in range(n_layers)
                   for kind in ("k_cache", "v_cache", "k_last", "v_last")]
    in_names = ["tokens", "pos"] + cache_names

    def step(*args):
        return model.step(*args)
    out = _import_traced(model, step, inputs, list(range(len(inputs))), in_names,
                         func_name, params, comments, params_first=True, cls=ImportedStep)
    n_p = len(out.param_names)
    out.param_args = list(range(n_p))
    out.tokens_arg = n_p
    out.pos_arg = n_p + 1
    out.cache_args = list(range(n_p + 2, n_p + 2 + len(cache)))
    out.logits_result = 0
    out.cache_results = list(range(1, 1 + len(cache)))
    out.cache_names = cache_names
    out.batch, out.new_tokens, out.max_len, out.n_layers = batch, new_tokens, max_len, n_layers
    if len(out.result_types) != 1 + len(cache):
        raise ImporterError("step returned %d results, expected logits and %d cache tensors"
                            % (len(out.result_types), len(cache)))
    return out


_INPLACE = {"copy_", "fill_", "zero_", "add_", "mul_", "masked_fill_", "index_put_",
            "index_put", "copy", "set_", "resize_"}


def _dynamic_nodes(gm, pmap):
    """The nodes whose values depend on an input or a parameter (the rest is
    folded at import time)."""
    dynamic = set()
    for n in gm.graph.nodes:
        if n.op == "placeholder":
            dynamic.add(n)
        elif n.op == "get_attr":
            t = _getattr(gm, n.target)
            if isinstance(t, torch.Tensor) and id(t) in pmap:
                dynamic.add(n)
        elif n.op == "call_function":
            name = _packet(n)
            ins = [a for a in _flatten([n.args, n.kwargs]) if isinstance(a, torch.fx.Node)]
            if name in _LIKE and name not in _NONDETERMINISTIC:
                # values independent of the first argument's values
                ins = [a for a in _flatten([n.args[1:], n.kwargs]) if isinstance(a, torch.fx.Node)]
            if any(a in dynamic for a in ins) or name in _OPS:
                dynamic.add(n)
        elif n.op != "output":
            raise ImporterError("unexpected FX node %s (%s)" % (n.name, n.op))
    return dynamic


def _mutates(n):
    """Whether call_function node n writes one of its arguments."""
    schema = getattr(n.target, "_schema", None)
    if schema is None:
        return False
    for a in schema.arguments:
        ai = a.alias_info
        if ai is not None and getattr(ai, "is_write", False):
            return True
    return False


def _has_dynamic_mutation(gm, pmap):
    dynamic = _dynamic_nodes(gm, pmap)
    return any(n.op == "call_function" and n in dynamic and _mutates(n)
               for n in gm.graph.nodes)


def _packet(n):
    t = n.target
    if t is operator.getitem:
        return "getitem"
    pk = getattr(t, "overloadpacket", None)
    if pk is not None:
        return pk.__name__
    return getattr(t, "__name__", str(t))


def _getattr(gm, target):
    obj = gm
    for p in target.split("."):
        obj = getattr(obj, p)
    return obj


def _fold(em, n, name):
    """Evaluate a node that depends on no input/parameter."""
    if name in _RANDOM:
        raise UnsupportedOpError(_opname(n), _source_of(n), "random numbers")

    def get(a):
        v = em.env[a]
        if isinstance(v, Const):
            return v.t
        if isinstance(v, tuple):
            return tuple(x.t if isinstance(x, Const) else x for x in v)
        raise ImporterError("cannot fold %s: input %s is not constant" % (n.name, a.name))

    if name in _LIKE:
        def get_like(a):
            v = em.env[a]
            if isinstance(v, Const):
                return v.t
            return torch.zeros(v.shape, dtype=v.dtype)
        args = (torch.fx.node.map_arg(n.args[0], get_like),) + \
            tuple(torch.fx.node.map_arg(n.args[1:], get))
        kwargs = torch.fx.node.map_arg(n.kwargs, get)
    else:
        args = torch.fx.node.map_arg(n.args, get)
        kwargs = torch.fx.node.map_arg(n.kwargs, get)
    if name.endswith("_") and args and isinstance(args[0], torch.Tensor):
        args = (args[0].clone(),) + tuple(args[1:])
    try:
        with torch.no_grad():
            r = n.target(*args, **kwargs)
    except Exception as e:
        raise ImporterError("folding %s (%s) failed: %s" % (n.name, _opname(n), e))
    if isinstance(r, (tuple, list)):
        return tuple(Const(x) if isinstance(x, torch.Tensor) else x for x in r)
    if isinstance(r, torch.Tensor):
        return Const(r)
    return r
