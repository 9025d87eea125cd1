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
``apply_rope(x, theta, positions=None)``, ``rope_inv_freq(dim, theta)``
    The "rotate half" rotary embedding of SPEC.md section 2.

Modules: ``KVShiftAttention`` (projections + ``kv_shift_attention``) and
``VanillaAttention`` (the same without the shift, for comparisons).

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


# Under torch.fx symbolic tracing the functional ops are leaves (one
# call_function node each, with their keyword arguments), so an importer
# can map them to kvshift ops; their bodies are not traceable anyway
# (shape checks).
try:
    import torch.fx as _fx
    _fx.wrap("kv_shift")
    _fx.wrap("kv_shift_attention")
    _fx.wrap("attention")
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
    rope_theta=rope_theta) with scale 1/sqrt(Dh), then o_proj."""

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


class VanillaAttention(_AttentionBase):
    """The same module without the shift (no kw/vw): plain grouped-query
    attention, for comparisons. Same arguments as KVShiftAttention."""

    def attend(self, q, k, v):
        return attention(q, k, v, scale=self.scale, causal=self.causal,
                         rope_theta=self.rope_theta)
