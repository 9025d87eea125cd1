"""PyTorch side of kvshift: KV shifting attention (arXiv 2411.19574) as
differentiable PyTorch code, with the semantics of SPEC.md sections 1-2.

Functional ops on ``[batch, heads, seq, head_dim]`` tensors:

``kv_shift(x, w)``
    The mix alone (``kvshift.kv_shift``): ``x^_t = w[h,0] x_t + w[h,1] x_{t-1}``,
    ``x_{-1} = 0``.
``kv_shift_attention(q, k, v, kw, vw, scale=None, causal=False, rope_theta=None)``
    ``kvshift.kv_shift_attention``: mix k and v one token back per KV head,
    optionally rotate q and k^ (RoPE, after the mix), grouped-query attention
    with a bottom-right aligned causal mask.  This is the function the
    importer maps to the op.
``attention(q, k, v, scale=None, causal=False, rope_theta=None)``
    The same attention without the shift (``kw = vw = [1, 0]``).
``kv_cache_append(k_new, v_new, k_last, v_last, kw, vw, k_cache, v_cache, pos, rope_theta=None)``
    ``kvshift.kv_cache_append``: mix (and rotate) T new rows into a KV cache
    in place; the cache keeps the mixed K^, V^ and the RAW last k, v row.
``kv_cache_attention(q, k_cache, v_cache, length, scale=None, causal=True, rope_theta=None)``
    ``kvshift.kv_cache_attention``: the new queries against the first
    ``length`` cache rows.
``apply_rope(x, theta, positions=None)``, ``rope_inv_freq(dim, theta)``
    The "rotate half" rotary embedding of SPEC.md section 2.

Modules: ``KVShiftAttention`` (projections + ``kv_shift_attention``) and
``VanillaAttention`` (the same without the shift, for comparisons); both
have ``forward_cached(x, pos, cache)`` for decoding with a KV cache.

Numerics follow the op: q, k, v of float16/bfloat16/float32 are computed in
float32 (the mixing weights are cast to float32) and the result is rounded
once to q's dtype; float64 inputs are computed in float64 (for tests and
gradcheck).  Everything is built from ordinary differentiable torch ops; no
custom autograd function.  The code uses only APIs present in torch 1.13 and
2.x.

This module is named ``kvshift.torch``; ``import torch`` below is an absolute
import (Python 3) and gets the real PyTorch as long as the package directory
``python/kvshift`` itself is not on ``sys.path`` (put ``python/`` there).
"""

import math
import numbers

import torch

if not hasattr(torch, "Tensor"):  # pragma: no cover - misconfigured sys.path
    raise ImportError(
        "kvshift.torch imported itself instead of PyTorch: put the directory "
        "that contains the kvshift package on sys.path, not python/kvshift")

from torch import nn
import torch.nn.functional as F

__all__ = [
    "kv_shift",
    "kv_shift_attention",
    "attention",
    "kv_cache_append",
    "kv_cache_attention",
    "apply_rope",
    "rope_inv_freq",
    "causal_mask",
    "paper_init_mix_weights",
    "KVShiftAttention",
    "VanillaAttention",
]


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def _compute_dtype(t, name):
    if not t.is_floating_point():
        raise TypeError("operand '%s' must be a floating-point tensor, found %s"
                        % (name, t.dtype))
    return torch.float64 if t.dtype == torch.float64 else torch.float32


def _check_rank4(t, name, what):
    if t.dim() != 4:
        raise ValueError("operand '%s' must be rank 4 %s, found shape %s"
                         % (name, what, tuple(t.shape)))


def _check_weights(w, name, hkv):
    if tuple(w.shape) != (hkv, 2):
        raise ValueError("operand '%s' must have shape [Hkv, 2] = [%d, 2], found %s"
                         % (name, hkv, list(w.shape)))
    _compute_dtype(w, name)


def _check_theta(rope_theta):
    if rope_theta is not None and not float(rope_theta) > 0.0:
        raise ValueError("rope_theta must be > 0, found %r" % (rope_theta,))


def _mix(x, w):
    """x: [B, H, S, D], w: [H, 2], both already in the compute dtype."""
    prev = F.pad(x, (0, 0, 1, 0))[:, :, :-1, :]          # x_{t-1}, zero at t = 0
    a = w[:, 0].reshape(1, -1, 1, 1)
    b = w[:, 1].reshape(1, -1, 1, 1)
    return a * x + b * prev


def causal_mask(sq, sk, device=None):
    """Boolean [Sq, Sk]: True where key j is visible to query i, i.e.
    j <= Sk - Sq + i (bottom-right aligned, as FlashAttention >= 2.1)."""
    i = torch.arange(sq, device=device).unsqueeze(1)
    j = torch.arange(sk, device=device).unsqueeze(0)
    return j <= (sk - sq) + i


def rope_inv_freq(dim, theta, device=None, dtype=torch.float64):
    """inv_freq[i] = theta^(-2i/dim), i = 0 .. dim/2 - 1 (SPEC.md section 2)."""
    if dim % 2 != 0:
        raise ValueError("RoPE needs an even head dim, found D = %d" % dim)
    _check_theta(theta)
    i = torch.arange(dim // 2, dtype=torch.float64)
    inv = torch.pow(torch.tensor(float(theta), dtype=torch.float64), -2.0 * i / dim)
    return inv.to(device=device, dtype=dtype)


def _angle_dtype(device):
    # Angles and their cos/sin in float64 where the device has it.
    return torch.float32 if device.type == "mps" else torch.float64


def _rope_cos_sin(positions, dim, theta, device, dtype):
    """cos and sin of positions[:, None] * inv_freq[None, :], shape [S, D/2]."""
    adt = _angle_dtype(device)
    inv = rope_inv_freq(dim, theta, device=device, dtype=adt)
    ang = positions.to(device=device, dtype=adt).unsqueeze(-1) * inv
    return torch.cos(ang).to(dtype), torch.sin(ang).to(dtype)


def _rotate(x, cos, sin):
    """rot(x)[i] = x[i] cos - x[i+half] sin; rot(x)[i+half] = x[i+half] cos + x[i] sin."""
    half = x.shape[-1] // 2
    x1 = x[..., :half]
    x2 = x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def apply_rope(x, theta, positions=None):
    """Rotary position embedding, "rotate half" layout (SPEC.md section 2).

    x: [..., S, D] with D even; positions: None (0 .. S-1), an int offset
    (offset .. offset + S - 1) or a 1-D tensor/sequence of S positions.
    Computed in float32 (float64 for float64 x), returned in x's dtype."""
    if x.dim() < 2:
        raise ValueError("apply_rope needs x of shape [..., S, D], found %s"
                         % (tuple(x.shape),))
    _check_theta(theta)
    s, d = x.shape[-2], x.shape[-1]
    if positions is None or isinstance(positions, int):
        off = 0 if positions is None else positions
        positions = torch.arange(off, off + s, device=x.device)
    elif not isinstance(positions, torch.Tensor):
        positions = torch.tensor(list(positions), device=x.device)
    if positions.dim() != 1 or positions.shape[0] != s:
        raise ValueError("positions must be 1-D of length S = %d, found shape %s"
                         % (s, tuple(positions.shape)))
    cdt = _compute_dtype(x, "x")
    cos, sin = _rope_cos_sin(positions, d, theta, x.device, cdt)
    return _rotate(x.to(cdt), cos, sin).to(x.dtype)


def paper_init_mix_weights(n_kv_heads, generator=None, dtype=torch.float32):
    """The paper's initialisation, [n_kv_heads, 2]: w1 ~ U(0,1), w2 = 1 - w1."""
    w1 = torch.rand(n_kv_heads, generator=generator, dtype=dtype)
    return torch.stack([w1, 1.0 - w1], dim=1)


# ---------------------------------------------------------------------------
# Functional ops
# ---------------------------------------------------------------------------

def kv_shift(x, w):
    """kvshift.kv_shift: x [B, H, S, D], w [H, 2] -> x^ of x's shape and dtype,
    x^_t = w[h,0] x_t + w[h,1] x_{t-1} (x_{-1} = 0), computed in float32
    (float64 for float64 x)."""
    _check_rank4(x, "x", "[B, H, S, D]")
    _check_weights(w, "w", x.shape[1])
    cdt = _compute_dtype(x, "x")
    return _mix(x.to(cdt), w.to(device=x.device, dtype=cdt)).to(x.dtype)


def _check_attention_operands(q, k, v, causal, rope_theta):
    _check_rank4(q, "q", "[B, Hq, Sq, D]")
    _check_rank4(k, "k", "[B, Hkv, Sk, D]")
    _check_rank4(v, "v", "[B, Hkv, Sk, D]")
    B, Hq, Sq, D = q.shape
    Hkv, Sk = k.shape[1], k.shape[2]
    if k.shape[0] != B:
        raise ValueError("batch of 'k' (%d) must equal batch of 'q' (%d)" % (k.shape[0], B))
    if k.shape[3] != D:
        raise ValueError("head dim of 'k' (%d) must equal head dim of 'q' (%d)"
                         % (k.shape[3], D))
    if tuple(v.shape) != tuple(k.shape):
        raise ValueError("operand 'v' must have the shape of 'k' %s, found %s"
                         % (list(k.shape), list(v.shape)))
    if Hkv == 0 or Hq % Hkv != 0:
        raise ValueError("query heads (Hq = %d, dim 1 of 'q') must be a multiple of "
                         "KV heads (Hkv = %d, dim 1 of 'k')" % (Hq, Hkv))
    if causal and Sq > Sk:
        raise ValueError("causal requires Sq <= Sk (found Sq = %d, Sk = %d)" % (Sq, Sk))
    if rope_theta is not None:
        _check_theta(rope_theta)
        if D % 2 != 0:
            raise ValueError("rope_theta needs an even head dim, found D = %d" % D)
    for name, t in (("q", q), ("k", k), ("v", v)):
        _compute_dtype(t, name)


def _attend(q, kh, vh, scale, causal, rope_theta):
    """Core in the compute dtype. q [B,Hq,Sq,D]; kh, vh: the (mixed) keys and
    values [B,Hkv,Sk,D]. Query heads are grouped, so KV heads are broadcast
    rather than copied: query head h reads KV head h // g."""
    B, Hq, Sq, D = q.shape
    Hkv, Sk = kh.shape[1], kh.shape[2]
    g = Hq // Hkv
    if rope_theta is not None:
        kpos = torch.arange(Sk, device=q.device)            # key j at position j
        qpos = torch.arange(Sk - Sq, Sk, device=q.device)   # query i at Sk - Sq + i
        kh = _rotate(kh, *_rope_cos_sin(kpos, D, rope_theta, q.device, q.dtype))
        q = _rotate(q, *_rope_cos_sin(qpos, D, rope_theta, q.device, q.dtype))
    qg = q.reshape(B, Hkv, g, Sq, D)
    s = torch.matmul(qg, kh.unsqueeze(2).transpose(-1, -2)) * scale   # [B,Hkv,g,Sq,Sk]
    if causal:
        s = s.masked_fill(~causal_mask(Sq, Sk, device=q.device), float("-inf"))
    p = torch.softmax(s, dim=-1)
    out = torch.matmul(p, vh.unsqueeze(2))                # [B,Hkv,g,Sq,D]
    return out.reshape(B, Hq, Sq, D)


# Set by kvshift.importer while it traces a model: called as
# hook(q, k, v, kw, vw, scale, causal, rope_theta) after the operand checks,
# it returns the output (one traced op) or NotImplemented (run the code below).
_trace_hook = None


def kv_shift_attention(q, k, v, kw, vw, scale=None, causal=False, rope_theta=None):
    """kvshift.kv_shift_attention (SPEC.md section 2).

    q: [B, Hq, Sq, D]; k, v: [B, Hkv, Sk, D]; kw, vw: [Hkv, 2] ([a1, a2] and
    [b1, b2] per KV head). scale defaults to 1/sqrt(D). causal: key j is
    visible to query i iff j <= Sk - Sq + i (requires Sq <= Sk). rope_theta:
    rotate q (query i at position Sk - Sq + i) and the mixed keys (key j at
    position j) after the mix. Returns out [B, Hq, Sq, D] in q's dtype."""
    _check_attention_operands(q, k, v, causal, rope_theta)
    Hkv = k.shape[1]
    _check_weights(kw, "kw", Hkv)
    _check_weights(vw, "vw", Hkv)
    D = q.shape[3]
    if scale is None:
        scale = 1.0 / math.sqrt(D)
    if _trace_hook is not None:  # kvshift.import_module is tracing
        out = _trace_hook(q, k, v, kw, vw, float(scale), bool(causal), rope_theta)
        if out is not NotImplemented:
            return out
    cdt = _compute_dtype(q, "q")
    dev = q.device
    kh = _mix(k.to(cdt), kw.to(device=dev, dtype=cdt))
    vh = _mix(v.to(cdt), vw.to(device=dev, dtype=cdt))
    out = _attend(q.to(cdt), kh, vh, float(scale), causal, rope_theta)
    return out.to(q.dtype)


def attention(q, k, v, scale=None, causal=False, rope_theta=None):
    """Plain (vanilla) grouped-query attention with the same conventions as
    kv_shift_attention but no shift (equal to it with kw = vw = [1, 0])."""
    _check_attention_operands(q, k, v, causal, rope_theta)
    D = q.shape[3]
    if scale is None:
        scale = 1.0 / math.sqrt(D)
    if _trace_hook is not None:  # kvshift.import_module: the op, weights [1, 0]
        w = torch.tensor([[1.0, 0.0]], dtype=torch.float32,
                         device=q.device).expand(k.shape[1], 2)
        out = _trace_hook(q, k, v, w, w, float(scale), bool(causal), rope_theta)
        if out is not NotImplemented:
            return out
    cdt = _compute_dtype(q, "q")
    out = _attend(q.to(cdt), k.to(cdt), v.to(cdt), float(scale), causal, rope_theta)
    return out.to(q.dtype)


# ---------------------------------------------------------------------------
# KV cache (inference): kv_cache_append, kv_cache_attention
# ---------------------------------------------------------------------------

# Set by kvshift.importer while it traces a model: called as
# hook("kv_cache_append", k_new, v_new, k_last, v_last, kw, vw, k_cache,
# v_cache, pos, rope_theta) or hook("kv_cache_attention", q, k_cache,
# v_cache, length, scale, causal, rope_theta) after the static operand
# checks (before pos/length are read), it returns the result (one traced op)
# or NotImplemented (run the eager code below).
_cache_trace_hook = None

_CACHE_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def _cache_check_rank4(t, name, what):
    if not isinstance(t, torch.Tensor):
        raise ValueError("operand '%s' must be a tensor %s, found %s"
                         % (name, what, type(t).__name__))
    if t.dim() != 4:
        raise ValueError("operand '%s' must be rank 4 %s, found shape %s"
                         % (name, what, list(t.shape)))


def _cache_check_dtype(t, name, dtype, ref_name):
    if t.dtype not in _CACHE_DTYPES:
        raise ValueError("operand '%s' must be float32, float16, bfloat16 (or float64), "
                         "found %s" % (name, t.dtype))
    if t.dtype != dtype:
        raise ValueError("operand '%s' must have the dtype of '%s' (%s), found %s"
                         % (name, ref_name, dtype, t.dtype))


def _cache_check_weights(w, name, hkv):
    if w is None:
        return
    if not isinstance(w, torch.Tensor) or tuple(w.shape) != (hkv, 2):
        raise ValueError("operand '%s' must have shape [Hkv, 2] = [%d, 2], found %s"
                         % (name, hkv, list(w.shape) if isinstance(w, torch.Tensor)
                            else type(w).__name__))
    if not w.is_floating_point():
        raise ValueError("operand '%s' must be a floating-point tensor, found %s"
                         % (name, w.dtype))


def _check_index(p, name):
    """p: a python int or a 0-d integer tensor (not read here)."""
    if isinstance(p, torch.Tensor):
        if p.dim() != 0 or p.is_floating_point() or p.is_complex() or p.dtype == torch.bool:
            raise ValueError("'%s' must be a python int or a 0-d integer tensor, found a "
                             "tensor of shape %s and dtype %s"
                             % (name, list(p.shape), p.dtype))
        return
    if isinstance(p, bool) or not isinstance(p, numbers.Integral):
        raise ValueError("'%s' must be a python int or a 0-d integer tensor, found %r"
                         % (name, p))


_ROPE_TABLES = {}


def _rope_table(dim, theta, n, device, dtype):
    """cos, sin [n, dim/2] of positions 0 .. n-1 (the values _rope_cos_sin
    gives for those positions), memoised per (dim, theta, n, device, dtype):
    a decode step slices them instead of recomputing angles."""
    key = (dim, float(theta), n, str(device), dtype)
    tab = _ROPE_TABLES.get(key)
    if tab is None:
        if len(_ROPE_TABLES) >= 32:
            _ROPE_TABLES.clear()
        tab = _rope_cos_sin(torch.arange(n, device=device), dim, theta, device, dtype)
        _ROPE_TABLES[key] = tab
    return tab


def _rope_rows(start, count, dim, theta, n, device, dtype):
    """cos, sin of positions start .. start+count-1 (0 <= start, start+count <= n
    from the table; otherwise computed directly)."""
    if start >= 0 and start + count <= n:
        cos, sin = _rope_table(dim, theta, n, device, dtype)
        return cos[start:start + count], sin[start:start + count]
    pos = torch.arange(start, start + count, device=device)
    return _rope_cos_sin(pos, dim, theta, device, dtype)


def _check_append_args(k_new, v_new, k_last, v_last, kw, vw, k_cache, v_cache, pos,
                       rope_theta):
    """kv_cache_append's checks of what the operands' types say (not pos's
    value); returns (B, Hkv, T, D, Smax). kvshift.cuda shares them."""
    _cache_check_rank4(k_new, "k_new", "[B, Hkv, T, D]")
    _cache_check_rank4(v_new, "v_new", "[B, Hkv, T, D]")
    _cache_check_rank4(k_last, "k_last", "[B, Hkv, 1, D]")
    _cache_check_rank4(v_last, "v_last", "[B, Hkv, 1, D]")
    _cache_check_rank4(k_cache, "k_cache", "[B, Hkv, Smax, D]")
    _cache_check_rank4(v_cache, "v_cache", "[B, Hkv, Smax, D]")
    B, Hkv, T, D = k_new.shape
    Smax = k_cache.shape[2]
    if T < 1:
        raise ValueError("operand 'k_new' must hold at least one row (T >= 1), found "
                         "shape %s" % list(k_new.shape))
    if tuple(v_new.shape) != tuple(k_new.shape):
        raise ValueError("operand 'v_new' must have the shape of 'k_new' %s, found %s"
                         % (list(k_new.shape), list(v_new.shape)))
    for name, t in (("k_last", k_last), ("v_last", v_last)):
        if tuple(t.shape) != (B, Hkv, 1, D):
            raise ValueError("operand '%s' must have shape [B, Hkv, 1, D] = %s, found %s"
                             % (name, [B, Hkv, 1, D], list(t.shape)))
    for name, t in (("k_cache", k_cache), ("v_cache", v_cache)):
        if (t.shape[0], t.shape[1], t.shape[3]) != (B, Hkv, D) or t.shape[2] != Smax:
            raise ValueError("operand '%s' must have shape [B, Hkv, Smax, D] = %s, found %s"
                             % (name, [B, Hkv, Smax, D], list(t.shape)))
    dt = k_cache.dtype
    for name, t in (("k_cache", k_cache), ("v_cache", v_cache), ("k_new", k_new),
                    ("v_new", v_new), ("k_last", k_last), ("v_last", v_last)):
        _cache_check_dtype(t, name, dt, "k_cache")
    if (kw is None) != (vw is None):
        raise ValueError("kw and vw must both be tensors or both be None")
    _cache_check_weights(kw, "kw", Hkv)
    _cache_check_weights(vw, "vw", Hkv)
    _check_index(pos, "pos")
    if rope_theta is not None:
        _check_theta(rope_theta)
        if D % 2 != 0:
            raise ValueError("rope_theta needs an even head dim, found D = %d" % D)
    return B, Hkv, T, D, Smax


def kv_cache_append(k_new, v_new, k_last, v_last, kw, vw, k_cache, v_cache, pos,
                    rope_theta=None):
    """kvshift.kv_cache_append: mix (and rotate) T new key/value rows into a
    KV cache, in place.

    k_new, v_new: [B, Hkv, T, D] raw (unmixed, unrotated) rows of tokens
    pos .. pos+T-1 (T >= 1); k_last, v_last: [B, Hkv, 1, D] raw rows of
    token pos-1 (not read when pos == 0); kw, vw: [Hkv, 2] mixing weights
    ([a1, a2], [b1, b2] per KV head), or None for no shift (weights
    [1, 0]: VanillaAttention); k_cache, v_cache: [B, Hkv, Smax, D]; pos: a
    python int or a 0-d integer tensor, the number of rows already in the
    cache; rope_theta: rotate the mixed keys (SPEC.md section 2) at their
    positions pos+t.  For t = 0 .. T-1, with prev_0 = k_last (0 if pos == 0)
    and prev_t = k_new[t-1]:

        k_cache[pos+t] = rot(a1 k_new[t] + a2 prev_t, pos+t)
        v_cache[pos+t] = b1 v_new[t] + b2 vprev_t

    computed in float32 (float64 for float64 operands) and stored in the
    cache dtype.  Rows outside pos .. pos+T-1 are not touched.

    Returns (k_cache, v_cache, k_last, v_last): the argument tensors
    themselves, updated in place (the caches by a slice assignment, the
    last rows set to the RAW k_new[:, :, T-1:T], v_new[:, :, T-1:T]).
    While kvshift.importer traces, it is one functional op instead (new
    tensors), so models should use the returned tensors.

    Errors (ValueError): an operand of the wrong rank, shape or dtype
    (k_new, v_new, the last rows and the caches share one dtype of float32,
    float16, bfloat16, float64); pos not an int / 0-d integer tensor, or
    negative; "cannot append T rows at position p to a cache of Smax rows"
    when pos + T > Smax; rope_theta <= 0 or an odd D with rope_theta."""
    B, Hkv, T, D, Smax = _check_append_args(k_new, v_new, k_last, v_last, kw, vw,
                                            k_cache, v_cache, pos, rope_theta)
    dt = k_cache.dtype
    if _cache_trace_hook is not None:   # kvshift.importer is tracing
        out = _cache_trace_hook("kv_cache_append", k_new, v_new, k_last, v_last, kw, vw,
                                k_cache, v_cache, pos, rope_theta)
        if out is not NotImplemented:
            return out
    p = int(pos)
    if p < 0:
        raise ValueError("'pos' must be >= 0, found %d" % p)
    if p + T > Smax:
        raise ValueError("cannot append %d rows at position %d to a cache of %d rows"
                         % (T, p, Smax))
    cdt = torch.float64 if dt == torch.float64 else torch.float32
    dev = k_cache.device

    def mixed(x_new, x_last, w):
        x = x_new.to(cdt)
        if w is None:
            return x
        w = w.to(device=dev, dtype=cdt)
        a = w[:, 0].reshape(1, -1, 1, 1)
        b = w[:, 1].reshape(1, -1, 1, 1)
        out = a * x                                   # a fresh tensor
        if T > 1:
            out[:, :, 1:] += b * x[:, :, :-1]
        if p > 0:
            out[:, :, :1] += b * x_last.to(cdt)
        return out

    kh = mixed(k_new, k_last, kw)
    vh = mixed(v_new, v_last, vw)
    if rope_theta is not None:
        kh = _rotate(kh, *_rope_rows(p, T, D, rope_theta, Smax, dev, cdt))
    k_cache[:, :, p:p + T] = kh
    v_cache[:, :, p:p + T] = vh
    k_last.copy_(k_new[:, :, T - 1:T])
    v_last.copy_(v_new[:, :, T - 1:T])
    return k_cache, v_cache, k_last, v_last


def _check_cache_attention_args(q, k_cache, v_cache, length, rope_theta):
    """kv_cache_attention's checks of what the operands' types say (not
    length's value); returns (B, Hq, Sq, D, Hkv, Smax). kvshift.cuda shares
    them."""
    _cache_check_rank4(q, "q", "[B, Hq, Sq, D]")
    _cache_check_rank4(k_cache, "k_cache", "[B, Hkv, Smax, D]")
    _cache_check_rank4(v_cache, "v_cache", "[B, Hkv, Smax, D]")
    B, Hq, Sq, D = q.shape
    Hkv, Smax = k_cache.shape[1], k_cache.shape[2]
    if k_cache.shape[0] != B or k_cache.shape[3] != D:
        raise ValueError("operand 'k_cache' must have shape [B, Hkv, Smax, D] with B = %d "
                         "and D = %d of 'q', found %s" % (B, D, list(k_cache.shape)))
    if tuple(v_cache.shape) != tuple(k_cache.shape):
        raise ValueError("operand 'v_cache' must have the shape of 'k_cache' %s, found %s"
                         % (list(k_cache.shape), list(v_cache.shape)))
    if Hkv == 0 or Hq % Hkv != 0:
        raise ValueError("query heads (Hq = %d, dim 1 of 'q') must be a multiple of "
                         "KV heads (Hkv = %d, dim 1 of 'k_cache')" % (Hq, Hkv))
    for name, t in (("q", q), ("k_cache", k_cache), ("v_cache", v_cache)):
        _cache_check_dtype(t, name, q.dtype, "q")
    _check_index(length, "length")
    if rope_theta is not None:
        _check_theta(rope_theta)
        if D % 2 != 0:
            raise ValueError("rope_theta needs an even head dim, found D = %d" % D)
    return B, Hq, Sq, D, Hkv, Smax


def kv_cache_attention(q, k_cache, v_cache, length, scale=None, causal=True,
                       rope_theta=None):
    """kvshift.kv_cache_attention: attention of Sq new queries over the
    first ``length`` rows of a KV cache filled by kv_cache_append.

    q: [B, Hq, Sq, D]; k_cache, v_cache: [B, Hkv, Smax, D] (mixed rows;
    keys already rotated with rope_theta), of q's dtype; length: a python
    int or a 0-d integer tensor, the number of valid rows (the Sq new ones
    included).  Query i sits at position length - Sq + i; key j < length is
    visible to it (with causal: iff j <= length - Sq + i).  rope_theta:
    rotate q row i at its position.  scale defaults to 1/sqrt(D).  Query
    head h reads KV head h // (Hq / Hkv).  A query with no visible key
    (length == 0) gives zeros.  Reads only cache[:, :, :length]; computed
    in float32 (float64 for float64 q) and returned in q's dtype.

    Errors (ValueError): wrong ranks, shapes or dtypes; Hq not a multiple of
    Hkv; length not an int / 0-d integer tensor; length < 0 or
    length > Smax; causal with Sq > length; rope_theta <= 0 or odd D."""
    B, Hq, Sq, D, Hkv, Smax = _check_cache_attention_args(q, k_cache, v_cache, length,
                                                          rope_theta)
    if scale is None:
        scale = 1.0 / math.sqrt(D)
    if _cache_trace_hook is not None:   # kvshift.importer is tracing
        out = _cache_trace_hook("kv_cache_attention", q, k_cache, v_cache, length,
                                float(scale), bool(causal), rope_theta)
        if out is not NotImplemented:
            return out
    L = int(length)
    if L < 0 or L > Smax:
        raise ValueError("'length' must be in [0, Smax = %d], found %d" % (Smax, L))
    if causal and Sq > L:
        raise ValueError("causal requires Sq <= length (found Sq = %d, length = %d)"
                         % (Sq, L))
    cdt = torch.float64 if q.dtype == torch.float64 else torch.float32
    dev = q.device
    qc = q.to(cdt)
    kc = k_cache[:, :, :L].to(cdt)
    vc = v_cache[:, :, :L].to(cdt)
    if rope_theta is not None:
        qc = _rotate(qc, *_rope_rows(L - Sq, Sq, D, rope_theta, Smax, dev, cdt))
    # The g query heads of a KV head are rows of one matrix: [B, Hkv, g*Sq, D]
    # against the cache rows as they are (no broadcast copy of K or V).
    g = Hq // Hkv
    qg = qc.reshape(B, Hkv, g * Sq, D)
    s = torch.matmul(qg, kc.transpose(-1, -2)) * float(scale)             # [B,Hkv,g*Sq,L]
    if causal and Sq > 1:
        s = s.reshape(B, Hkv, g, Sq, L).masked_fill(
            ~causal_mask(Sq, L, device=dev), float("-inf")).reshape(B, Hkv, g * Sq, L)
    p = torch.softmax(s, dim=-1)
    out = torch.matmul(p, vc)                                              # [B,Hkv,g*Sq,D]
    return out.reshape(B, Hq, Sq, D).to(q.dtype)


# Under torch.fx symbolic tracing the functional ops are leaves (one
# call_function node each, with their keyword arguments), so an importer
# can map them to kvshift ops; their bodies are not traceable anyway
# (shape checks).
try:
    import torch.fx as _fx
    _fx.wrap("kv_shift")
    _fx.wrap("kv_shift_attention")
    _fx.wrap("attention")
    _fx.wrap("kv_cache_append")
    _fx.wrap("kv_cache_attention")
except Exception:  # pragma: no cover - fx missing or changed
    pass


# ---------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------

class _AttentionBase(nn.Module):
    """Projections shared by KVShiftAttention and VanillaAttention."""

    def __init__(self, d_model, n_heads, n_kv_heads=None, head_dim=None,
                 causal=True, rope_theta=None, bias=False):
        super().__init__()
        if n_kv_heads is None:
            n_kv_heads = n_heads
        if n_heads <= 0 or n_kv_heads <= 0 or n_heads % n_kv_heads != 0:
            raise ValueError("n_heads (%d) must be a positive multiple of n_kv_heads (%d)"
                             % (n_heads, n_kv_heads))
        if head_dim is None:
            if d_model % n_heads != 0:
                raise ValueError("d_model (%d) is not a multiple of n_heads (%d); "
                                 "pass head_dim" % (d_model, n_heads))
            head_dim = d_model // n_heads
        if rope_theta is not None:
            _check_theta(rope_theta)
            if head_dim % 2 != 0:
                raise ValueError("rope_theta needs an even head_dim, found %d" % head_dim)
            rope_theta = float(rope_theta)
        self.d_model = d_model
        self.n_heads = n_heads
        self.n_kv_heads = n_kv_heads
        self.head_dim = head_dim
        self.causal = bool(causal)
        self.rope_theta = rope_theta
        self.q_proj = nn.Linear(d_model, n_heads * head_dim, bias=bias)
        self.k_proj = nn.Linear(d_model, n_kv_heads * head_dim, bias=bias)
        self.v_proj = nn.Linear(d_model, n_kv_heads * head_dim, bias=bias)
        self.o_proj = nn.Linear(n_heads * head_dim, d_model, bias=bias)

    @property
    def scale(self):
        return 1.0 / math.sqrt(self.head_dim)

    def _heads(self, t, x, n):
        # [B, S, n * Dh] -> [B, n, S, Dh]; written with x.shape[i] so that
        # torch.fx can trace it.
        return t.reshape(x.shape[0], x.shape[1], n, self.head_dim).transpose(1, 2)

    def project(self, x):
        """x [B, S, d_model] -> q [B, Hq, S, Dh], k, v [B, Hkv, S, Dh]."""
        q = self._heads(self.q_proj(x), x, self.n_heads)
        k = self._heads(self.k_proj(x), x, self.n_kv_heads)
        v = self._heads(self.v_proj(x), x, self.n_kv_heads)
        return q, k, v

    def attend(self, q, k, v):
        raise NotImplementedError

    def forward(self, x):
        """x [B, S, d_model] -> [B, S, d_model]."""
        q, k, v = self.project(x)
        o = self.attend(q, k, v)                      # [B, Hq, S, Dh]
        return self.o_proj(o.transpose(1, 2).flatten(2))

    # (append, attention) that forward_cached calls instead of this module's
    # kv_cache_append and kv_cache_attention (same signatures and in-place
    # semantics); kvshift.cuda.generate sets the GPU kernels'.
    cache_ops = None

    def _cache_mix_weights(self):
        """(kw, vw) for kv_cache_append; None, None means no shift."""
        return None, None

    def new_cache(self, batch, max_len, dtype=torch.float32, device=None):
        """Zero cache state of this layer: (k_cache, v_cache [batch, Hkv,
        max_len, Dh], k_last, v_last [batch, Hkv, 1, Dh]) of dtype."""
        shape = (batch, self.n_kv_heads, max_len, self.head_dim)
        last = (batch, self.n_kv_heads, 1, self.head_dim)
        return (torch.zeros(shape, dtype=dtype, device=device),
                torch.zeros(shape, dtype=dtype, device=device),
                torch.zeros(last, dtype=dtype, device=device),
                torch.zeros(last, dtype=dtype, device=device))

    def forward_cached(self, x, pos, cache):
        """Attention of T new tokens x [B, T, d_model] at positions
        pos .. pos+T-1 with a KV cache.

        cache = (k_cache, v_cache, k_last, v_last) (see new_cache and
        kv_cache_append); pos: python int or 0-d integer tensor, the number
        of tokens already in the cache.  Projects x, appends k, v to the
        cache (kv_cache_append with this module's mixing weights and
        rope_theta), then kv_cache_attention over length = pos + T rows
        (this module's scale, causal flag and rope_theta) and o_proj.
        Returns (y [B, T, d_model], new_cache): eagerly new_cache holds the
        argument tensors updated in place; under the importer, new tensors.
        Raises ValueError for a cache that is not 4 tensors or does not fit
        (see kv_cache_append, kv_cache_attention)."""
        if not isinstance(cache, (tuple, list)) or len(cache) != 4:
            raise ValueError("cache must be (k_cache, v_cache, k_last, v_last), found %s"
                             % (type(cache).__name__ if not isinstance(cache, (tuple, list))
                                else "%d values" % len(cache)))
        k_cache, v_cache, k_last, v_last = cache
        q, k, v = self.project(x)
        kw, vw = self._cache_mix_weights()
        append, attend = self.cache_ops or (kv_cache_append, kv_cache_attention)
        kc, vc, kl, vl = append(k, v, k_last, v_last, kw, vw, k_cache, v_cache,
                                pos, rope_theta=self.rope_theta)
        length = pos + x.shape[1]
        o = attend(q, kc, vc, length, scale=self.scale, causal=self.causal,
                   rope_theta=self.rope_theta)
        return self.o_proj(o.transpose(1, 2).flatten(2)), (kc, vc, kl, vl)

    def extra_repr(self):
        return ("d_model=%d, n_heads=%d, n_kv_heads=%d, head_dim=%d, causal=%s, "
                "rope_theta=%s" % (self.d_model, self.n_heads, self.n_kv_heads,
                                   self.head_dim, self.causal, self.rope_theta))


class KVShiftAttention(_AttentionBase):
    """Multi-head (grouped-query) KV shifting attention (arXiv 2411.19574).

    KVShiftAttention(d_model, n_heads, n_kv_heads=None, head_dim=None,
                     causal=True, rope_theta=None, bias=False)

    Parameters: q_proj, k_proj, v_proj, o_proj (nn.Linear) and the mixing
    weights ``kw`` = [[a1, a2]] and ``vw`` = [[b1, b2]], float32 tensors of
    shape [n_kv_heads, 2], initialised as the paper (a1, b1 ~ U(0,1),
    a2 = 1 - a1, b2 = 1 - b1) and unconstrained afterwards.

    forward(x [B, S, d_model]) -> [B, S, d_model]: project, reshape to
    [B, H, S, Dh], then kv_shift_attention(q, k, v, kw, vw, causal=causal,
    rope_theta=rope_theta) with scale 1/sqrt(Dh), then o_proj.

    forward_cached(x, pos, cache) -> (y, new_cache): the same for T new
    tokens with a KV cache (kv_cache_append with kw, vw, then
    kv_cache_attention); new_cache(batch, max_len, dtype) makes one."""

    def __init__(self, d_model, n_heads, n_kv_heads=None, head_dim=None,
                 causal=True, rope_theta=None, bias=False):
        super().__init__(d_model, n_heads, n_kv_heads, head_dim, causal,
                         rope_theta, bias)
        self.kw = nn.Parameter(torch.empty(self.n_kv_heads, 2, dtype=torch.float32))
        self.vw = nn.Parameter(torch.empty(self.n_kv_heads, 2, dtype=torch.float32))
        self.reset_mix_parameters()

    def reset_mix_parameters(self, generator=None):
        """Paper initialisation of kw and vw (independently)."""
        with torch.no_grad():
            self.kw.copy_(paper_init_mix_weights(self.n_kv_heads, generator))
            self.vw.copy_(paper_init_mix_weights(self.n_kv_heads, generator))

    def attend(self, q, k, v):
        return kv_shift_attention(q, k, v, self.kw, self.vw, scale=self.scale,
                                  causal=self.causal, rope_theta=self.rope_theta)

    def _cache_mix_weights(self):
        return self.kw, self.vw


class VanillaAttention(_AttentionBase):
    """The same module without the shift (no kw/vw): plain grouped-query
    attention, for comparisons. Same arguments as KVShiftAttention.
    forward_cached appends with weights [1, 0] (kw = vw = None), so the
    cache holds the plain (rotated) keys and values and the last rows are
    never read."""

    def attend(self, q, k, v):
        return attention(q, k, v, scale=self.scale, causal=self.causal,
                         rope_theta=self.rope_theta)
