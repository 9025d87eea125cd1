"""Independent float64 NumPy reference of the kvshift ops (SPEC.md section 1-2).

This module is deliberately written without any reference to the C++ lowering:
it follows the text of SPEC.md only, computes everything in float64, and is the
ground truth the integration tests compare kvshift-run against.

Layouts are [batch, heads, seq, head_dim].

  kv_shift(x, w)          x^_t = w[h,0] * x_t + w[h,1] * x_{t-1}   (x_{-1} = 0)
  kv_shift_attention(q, k, v, kw, vw, scale=None, causal=False)
                          out_i = sum_j softmax_j(scale * q_i . k^_j [+ mask]) v^_j
      - GQA: query head h reads KV head h // (Hq // Hkv)
      - scale defaults to 1/sqrt(D)
      - causal mask is bottom-right aligned: key j is visible to query i iff
        j <= Sk - Sq + i (query i sits at absolute position Sk - Sq + i)

      - rope_theta (optional): RoPE after the mix, "rotate half" layout:
        half = D/2, inv_freq[i] = theta^(-2i/D), a row x at position p becomes
          rot(x,p)[i]        = x[i] cos(p f_i) - x[i+half] sin(p f_i)
          rot(x,p)[i+half]   = x[i+half] cos(p f_i) + x[i] sin(p f_i)
        query i at position Sk - Sq + i, key j at position j:
          out = attention(rot(q), rot(k^), v^)

  kv_shift_attention_grad(q, k, v, kw, vw, dout, scale=None, causal=False,
                          rope_theta=None)
                          -> (dq, dk, dv, dkw, dvw): the exact gradients of
                          sum(out * dout), written out by hand (backpropagation
                          through matmul, softmax, matmul and the mix); its self
                          test checks it against finite differences and torch.

Error measure (used by all tests): max_rel_err(out, ref) = max|out - ref| / max|ref|.
It is *normwise* (the infinity norm of the error divided by the infinity norm
of the reference), not elementwise: attention outputs contain values close to
zero whose elementwise relative error is meaningless, while the normwise error
is what rounding in f32/f16/bf16 arithmetic actually bounds.
"""

import numpy as np

__all__ = [
    "kv_shift",
    "kv_shift_attention",
    "kv_shift_attention_grad",
    "rope",
    "round_to_bf16",
    "max_rel_err",
    "write_npy",
    "read_npy",
]


def kv_shift(x, w):
    """The mix alone. x: [B, H, S, D], w: [H, 2]. Returns float64 [B, H, S, D]."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    if x.ndim != 4:
        raise ValueError("x must be rank 4 [B, H, S, D], got shape %s" % (x.shape,))
    if w.shape != (x.shape[1], 2):
        raise ValueError("w must be [H, 2] = [%d, 2], got %s" % (x.shape[1], w.shape))
    prev = np.zeros_like(x)
    prev[:, :, 1:, :] = x[:, :, :-1, :]          # x_{t-1}, zero at t = 0
    a = w[:, 0][None, :, None, None]
    b = w[:, 1][None, :, None, None]
    return a * x + b * prev


def rope(x, positions, theta, inverse=False):
    """RoPE on the last axis of x (float64), rows at `positions` (one per
    entry of axis -2). inverse=True rotates by -p (the transpose R^T, which
    carries gradients back through the rotation)."""
    x = np.asarray(x, dtype=np.float64)
    D = x.shape[-1]
    if D % 2:
        raise ValueError("rope needs an even head dim, got D = %d" % D)
    half = D // 2
    inv_freq = np.float64(theta) ** (-2.0 * np.arange(half, dtype=np.float64) / D)
    ang = np.asarray(positions, dtype=np.float64)[:, None] * inv_freq[None, :]
    c, s = np.cos(ang), np.sin(ang)
    if inverse:
        s = -s
    x1, x2 = x[..., :half], x[..., half:]
    return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], axis=-1)


def _softmax_rows(s):
    """Numerically stable softmax over the last axis; rows that are entirely
    -inf (cannot happen with the spec's masks) would give NaN on purpose."""
    m = np.max(s, axis=-1, keepdims=True)
    e = np.exp(s - m)
    return e / np.sum(e, axis=-1, keepdims=True)


def causal_mask(sq, sk):
    """Boolean [Sq, Sk]: True where key j is visible to query i (bottom-right)."""
    i = np.arange(sq)[:, None]
    j = np.arange(sk)[None, :]
    return j <= (sk - sq) + i


def kv_shift_attention(q, k, v, kw, vw, scale=None, causal=False, rope_theta=None):
    """float64 reference of kvshift.kv_shift_attention.

    q: [B, Hq, Sq, D], k, v: [B, Hkv, Sk, D], kw, vw: [Hkv, 2]."""
    q = np.asarray(q, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    B, Hq, Sq, D = q.shape
    Bk, Hkv, Sk, Dk = k.shape
    if (Bk, Dk) != (B, D) or v.shape != k.shape:
        raise ValueError("shape mismatch: q %s k %s v %s" % (q.shape, k.shape, v.shape))
    if Hq % Hkv != 0:
        raise ValueError("Hq=%d is not a multiple of Hkv=%d" % (Hq, Hkv))
    if causal and Sq > Sk:
        raise ValueError("causal requires Sq <= Sk (got Sq=%d, Sk=%d)" % (Sq, Sk))
    if scale is None:
        scale = 1.0 / np.sqrt(D)
    g = Hq // Hkv

    kh = kv_shift(k, kw)                           # [B, Hkv, Sk, D]
    vh = kv_shift(v, vw)
    if rope_theta is not None:                     # RoPE after the mix
        kh = rope(kh, np.arange(Sk), rope_theta)
        q = rope(q, np.arange(Sq) + (Sk - Sq), rope_theta)
    head_map = np.arange(Hq) // g                  # query head -> KV head
    kh = kh[:, head_map]                           # [B, Hq, Sk, D]
    vh = vh[:, head_map]

    s = np.float64(scale) * np.einsum("bhid,bhjd->bhij", q, kh)
    if causal:
        s = np.where(causal_mask(Sq, Sk)[None, None], s, -np.inf)
    p = _softmax_rows(s)
    return np.einsum("bhij,bhjd->bhid", p, vh)


def mix_transpose(dxh, x, w):
    """The gradients through the mix x^_t = w0 x_t + w1 x_{t-1}, given dx^:
    dx_t = w0 dx^_t + w1 dx^_{t+1} (last row w0 only) and, per head,
    dw = [sum dx^_t . x_t, sum dx^_t . x_{t-1}]."""
    dx = w[None, :, 0, None, None] * dxh
    dx[:, :, :-1, :] += w[None, :, 1, None, None] * dxh[:, :, 1:, :]
    dw = np.zeros((x.shape[1], 2))
    dw[:, 0] = np.einsum("bhtd,bhtd->h", dxh, x)
    dw[:, 1] = np.einsum("bhtd,bhtd->h", dxh[:, :, 1:, :], x[:, :, :-1, :])
    return dx, dw


def kv_shift_attention_grad(q, k, v, kw, vw, dout, scale=None, causal=False,
                            rope_theta=None, round_out=None):
    """float64 analytic gradients of sum(out * dout), out = kv_shift_attention(...).

    Returns (dq, dk, dv, dkw, dvw) with the shapes of q, k, v, kw, vw.
    Per query head h (KV head g = h // (Hq // Hkv)), with P the softmax:
      dV^   = P^T dout                    dP = dout V^^T
      dS    = P * (dP - rowsum(dout * out))       (masked entries: P = 0)
      dq    = scale * dS K^               dK^ = scale * dS^T q
    dK^, dV^ are summed over the query heads of each group. The mix
    x^_t = w0 x_t + w1 x_{t-1} transposes to
      dx_t = w0 dx^_t + w1 dx^_{t+1}   (the last row has the w0 term only)
      dw0  = sum dx^_t . x_t           dw1 = sum_{t >= 1} dx^_t . x_{t-1}
    summed over batch, sequence and head dim. With RoPE the logits use
    q~ = rot(q) and K~ = rot(K^); the formulas above give the gradients with
    respect to q~ and K~, which go back through the rotation by its transpose
    (rotation by -p): dq = rot^T(dq~), dK^ = rot^T(dK~).

    `round_out` (a function of `out`, grouped [B, Hkv, g, Sq, D], returning
    an array of its size), when given, replaces `out` in rowsum(dout * out):
    the gradients of a backward that is handed the forward's output in a low
    precision (as FlashAttention's and the fused `_with_lse` backwards are),
    to measure what that alone costs."""
    q = np.asarray(q, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    kw = np.asarray(kw, dtype=np.float64)
    vw = np.asarray(vw, dtype=np.float64)
    dout = np.asarray(dout, dtype=np.float64)
    B, Hq, Sq, D = q.shape
    Bk, Hkv, Sk, Dk = k.shape
    if (Bk, Dk) != (B, D) or v.shape != k.shape:
        raise ValueError("shape mismatch: q %s k %s v %s" % (q.shape, k.shape, v.shape))
    if Hq % Hkv != 0:
        raise ValueError("Hq=%d is not a multiple of Hkv=%d" % (Hq, Hkv))
    if kw.shape != (Hkv, 2) or vw.shape != (Hkv, 2):
        raise ValueError("kw, vw must be [Hkv, 2] = [%d, 2], got %s, %s"
                         % (Hkv, kw.shape, vw.shape))
    if dout.shape != q.shape:
        raise ValueError("dout must have the shape of q %s, got %s" % (q.shape, dout.shape))
    if causal and Sq > Sk:
        raise ValueError("causal requires Sq <= Sk (got Sq=%d, Sk=%d)" % (Sq, Sk))
    if scale is None:
        scale = 1.0 / np.sqrt(D)
    scale = np.float64(scale)
    g = Hq // Hkv

    # Forward, with the query heads grouped: [B, Hkv, g, Sq, D].
    kh = kv_shift(k, kw)                                   # [B, Hkv, Sk, D]
    vh = kv_shift(v, vw)
    qpos, kpos = np.arange(Sq) + (Sk - Sq), np.arange(Sk)
    if rope_theta is not None:
        kh = rope(kh, kpos, rope_theta)
        q = rope(q, qpos, rope_theta)
    qg = q.reshape(B, Hkv, g, Sq, D)
    dog = dout.reshape(B, Hkv, g, Sq, D)
    s = scale * np.einsum("bkgid,bkjd->bkgij", qg, kh)
    if causal:
        s = np.where(causal_mask(Sq, Sk), s, -np.inf)
    p = _softmax_rows(s)                                   # [B, Hkv, g, Sq, Sk]
    out = np.einsum("bkgij,bkjd->bkgid", p, vh)

    # Backward.
    dvh = np.einsum("bkgij,bkgid->bkjd", p, dog)           # summed over the group
    dp = np.einsum("bkgid,bkjd->bkgij", dog, vh)
    if round_out is not None:
        out = np.asarray(round_out(out), dtype=np.float64).reshape(out.shape)
    delta = np.sum(dog * out, axis=-1, keepdims=True)      # rowsum(dP * P)
    ds = p * (dp - delta)                                  # d/d(logits before scale)
    dq = scale * np.einsum("bkgij,bkjd->bkgid", ds, kh).reshape(B, Hq, Sq, D)
    dkh = scale * np.einsum("bkgij,bkgid->bkjd", ds, qg)   # summed over the group
    if rope_theta is not None:
        dq = rope(dq, qpos, rope_theta, inverse=True)
        dkh = rope(dkh, kpos, rope_theta, inverse=True)

    dk, dkw = mix_transpose(dkh, k, kw)
    dv, dvw = mix_transpose(dvh, v, vw)
    return dq, dk, dv, dkw, dvw


def round_to_bf16(a):
    """Round float32 values to the nearest bfloat16 (ties to even) and return
    them as float32, as kvshift-run does when it reads a float32 .npy into a
    bf16 argument. NaN stays NaN; overflow rounds to +-inf as IEEE requires."""
    a = np.ascontiguousarray(np.asarray(a, dtype=np.float32))
    u = a.view(np.uint32).astype(np.uint64)
    lsb = (u >> 16) & 1
    r = ((u + 0x7FFF + lsb) >> 16) << 16
    out = (r & 0xFFFFFFFF).astype(np.uint32).view(np.float32)
    nan = np.isnan(a)
    if nan.any():
        out = out.copy()
        out[nan] = np.float32("nan")
    return out.reshape(a.shape)


def max_rel_err(out, ref):
    """Normwise relative error: max|out - ref| / max|ref| (in float64).

    Returns inf if out contains NaN/Inf (or has a different shape), so that a
    comparison `max_rel_err(...) <= tol` fails in that case."""
    out = np.asarray(out, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if out.shape != ref.shape or not np.all(np.isfinite(out)):
        return float("inf")
    denom = np.max(np.abs(ref)) if ref.size else 0.0
    num = np.max(np.abs(out - ref)) if ref.size else 0.0
    if denom == 0.0:
        return float(num)
    return float(num / denom)


def write_npy(path, array, dtype):
    """Write `array` to `path` as a C-contiguous .npy of `dtype`."""
    np.save(path, np.ascontiguousarray(np.asarray(array, dtype=dtype)))


def read_npy(path):
    return np.load(path, allow_pickle=False)


# ---------------------------------------------------------------------------
# Self checks of the reference (python3 kvshift_ref.py). They compare against
# deliberately differently written computations and tiny hand-worked cases.
# ---------------------------------------------------------------------------

def _loop_attention(q, k, v, kw, vw, scale, causal):
    """Slow, loop-by-loop version written from the per-head formula."""
    B, Hq, Sq, D = q.shape
    Hkv, Sk = k.shape[1], k.shape[2]
    out = np.zeros((B, Hq, Sq, D))
    for b in range(B):
        for h in range(Hq):
            hk = h * Hkv // Hq
            for i in range(Sq):
                logits = []
                vals = []
                for j in range(Sk):
                    if causal and j > Sk - Sq + i:
                        continue
                    kj = kw[hk, 0] * k[b, hk, j] + (kw[hk, 1] * k[b, hk, j - 1] if j > 0 else 0.0)
                    vj = vw[hk, 0] * v[b, hk, j] + (vw[hk, 1] * v[b, hk, j - 1] if j > 0 else 0.0)
                    logits.append(scale * float(np.dot(q[b, h, i], kj)))
                    vals.append(vj)
                logits = np.array(logits)
                wts = np.exp(logits - logits.max())
                wts /= wts.sum()
                out[b, h, i] = sum(wt * vj for wt, vj in zip(wts, vals))
    return out


def _self_test():
    rng = np.random.default_rng(0)

    # 1. kw = vw = [1, 0] is plain attention (with a matmul/softmax written
    #    differently: explicit log-sum-exp).
    B, Hq, Hkv, S, D = 2, 4, 2, 9, 5
    q = rng.standard_normal((B, Hq, S, D))
    k = rng.standard_normal((B, Hkv, S, D))
    v = rng.standard_normal((B, Hkv, S, D))
    one = np.tile([1.0, 0.0], (Hkv, 1))
    for causal in (False, True):
        ref = kv_shift_attention(q, k, v, one, one, causal=causal)
        kk = np.repeat(k, Hq // Hkv, axis=1)
        vv = np.repeat(v, Hq // Hkv, axis=1)
        s = q @ kk.transpose(0, 1, 3, 2) / np.sqrt(D)
        if causal:
            s = s + np.triu(np.full((S, S), -1e300), 1)
        lse = np.log(np.sum(np.exp(s - s.max(-1, keepdims=True)), -1, keepdims=True)) + s.max(-1, keepdims=True)
        plain = np.exp(s - lse) @ vv
        assert np.max(np.abs(ref - plain)) < 1e-12, "plain attention mismatch"

    # 2. Loop version, GQA, Sq < Sk, negative weights, causal and not.
    Sq, Sk = 3, 7
    q = rng.standard_normal((B, Hq, Sq, D))
    k = rng.standard_normal((B, Hkv, Sk, D))
    v = rng.standard_normal((B, Hkv, Sk, D))
    kw = np.array([[-0.7, 1.3], [0.2, 0.9]])
    vw = np.array([[1.1, -0.4], [0.5, 0.5]])
    for causal in (False, True):
        for scale in (None, 0.3):
            ref = kv_shift_attention(q, k, v, kw, vw, scale=scale, causal=causal)
            sc = 1.0 / np.sqrt(D) if scale is None else scale
            lp = _loop_attention(q, k, v, kw, vw, sc, causal)
            assert np.max(np.abs(ref - lp)) < 1e-12, "loop mismatch causal=%s" % causal

    # 3. Hand-worked causal alignment: Sq = 1, Sk = 3, D = 1: the single query
    #    sees all 3 keys (j <= 3 - 1 + 0 = 2). Sq = 2, Sk = 3: query 0 sees keys
    #    0, 1; query 1 sees keys 0, 1, 2.
    k1 = np.array([0.0, 0.0, 0.0]).reshape(1, 1, 3, 1)
    v1 = np.array([1.0, 2.0, 6.0]).reshape(1, 1, 3, 1)
    ident = np.array([[1.0, 0.0]])
    o = kv_shift_attention(np.ones((1, 1, 1, 1)), k1, v1, ident, ident, causal=True)
    assert abs(o[0, 0, 0, 0] - 3.0) < 1e-14              # mean of 1, 2, 6
    o = kv_shift_attention(np.ones((1, 1, 2, 1)), k1, v1, ident, ident, causal=True)
    assert abs(o[0, 0, 0, 0] - 1.5) < 1e-14              # mean of 1, 2
    assert abs(o[0, 0, 1, 0] - 3.0) < 1e-14              # mean of 1, 2, 6
    # And the shift on v: vw = [0, 1] gives v^ = [0, 1, 2].
    o = kv_shift_attention(np.ones((1, 1, 2, 1)), k1, v1, ident, np.array([[0.0, 1.0]]), causal=True)
    assert abs(o[0, 0, 0, 0] - 0.5) < 1e-14            # mean of 0, 1
    assert abs(o[0, 0, 1, 0] - 1.0) < 1e-14            # mean of 0, 1, 2

    # 4. kv_shift by hand.
    x = np.arange(6, dtype=np.float64).reshape(1, 1, 3, 2)   # rows [0,1],[2,3],[4,5]
    y = kv_shift(x, np.array([[2.0, -1.0]]))
    assert np.array_equal(y[0, 0], [[0, 2], [4, 5], [6, 7]])

    # 5. Large logits stay finite.
    o = kv_shift_attention(q * 100, k, v, kw, vw, scale=100.0, causal=True)
    assert np.all(np.isfinite(o))

    # 6. bf16 rounding: ties to even, carry into the exponent, NaN/inf.
    vals = np.array([1.0, 1.0 + 2.0 ** -8, 1.0 + 3 * 2.0 ** -8, 1.0 + 2.0 ** -9,
                     -1.0 - 2.0 ** -8, 3.4e38, np.inf, -np.inf, 0.0, -0.0,
                     1.0 + 2.0 ** -8 + 2.0 ** -20], dtype=np.float32)
    exp = np.array([1.0, 1.0, 1.0 + 2.0 ** -6, 1.0, -1.0, np.inf, np.inf, -np.inf,
                    0.0, -0.0, 1.0 + 2.0 ** -7], dtype=np.float32)
    got = round_to_bf16(vals)
    # 1 + 3*2^-8 lies exactly between 1 + 2^-7 and 1 + 2^-6 (bf16 has 7
    # fraction bits: ulp at 1 is 2^-7); ties go to the even one, 1 + 2^-6.
    assert np.array_equal(got, exp), (got, exp)
    assert np.isnan(round_to_bf16(np.array([np.nan], np.float32)))[0]
    r = round_to_bf16(rng.standard_normal(1000).astype(np.float32))
    assert np.all((r.view(np.uint32) & 0xFFFF) == 0)

    # 7. max_rel_err.
    assert max_rel_err(np.array([1.0, 2.0]), np.array([1.0, 4.0])) == 0.5
    assert max_rel_err(np.array([np.nan]), np.array([1.0])) == float("inf")

    # 8. The analytic gradient against finite differences and torch.autograd.
    _grad_self_test(rng)

    # 9. RoPE.
    _rope_self_test(rng)
    print("kvshift_ref self test: OK")


# Gradient cases: (B, Hq, Hkv, Sq, Sk, D, causal, scale, weights). Small enough
# for an element-by-element central difference of every operand.
_GRAD_CASES = [
    (2, 4, 2, 6, 6, 3, False, None, "negative"),   # GQA g=2, non-causal
    (2, 4, 2, 6, 6, 3, True, None, "negative"),    # GQA g=2, causal
    (1, 6, 2, 3, 7, 4, True, 0.7, "normal"),       # GQA g=3, Sq < Sk decoding, causal
    (1, 6, 2, 3, 7, 4, False, 0.7, "negative"),    # the same, non-causal
    (2, 2, 2, 1, 1, 5, True, None, "normal"),      # MHA, S = 1: only the a1/b1 terms
    (1, 2, 2, 1, 9, 3, True, None, "negative"),    # one query against 9 keys, causal
    (1, 3, 1, 5, 4, 2, False, 1.3, "paper"),       # MQA, Sq > Sk (non-causal only)
    (1, 2, 2, 8, 8, 3, True, None, "paper"),       # MHA, causal, paper initialisation
]
_GRAD_NAMES = ("q", "k", "v", "kw", "vw")


def _grad_weights(rng, h, mode):
    if mode == "paper":                       # a1 ~ U(0,1), a2 = 1 - a1
        a1 = rng.uniform(0.0, 1.0, h)
        return np.stack([a1, 1.0 - a1], axis=1)
    if mode == "negative":                    # both signs, sums far from 1
        w = rng.uniform(0.3, 1.4, (h, 2)) * np.where(rng.random((h, 2)) < 0.5, -1.0, 1.0)
        w[0] = [-0.7, 1.3]
        return w
    return rng.normal(0.5, 0.5, (h, 2))


def _grad_case_inputs(rng, case):
    B, Hq, Hkv, Sq, Sk, D, causal, scale, weights = case
    args = [rng.standard_normal((B, Hq, Sq, D)),
            rng.standard_normal((B, Hkv, Sk, D)),
            rng.standard_normal((B, Hkv, Sk, D)),
            _grad_weights(rng, Hkv, weights),
            _grad_weights(rng, Hkv, weights)]
    dout = rng.standard_normal((B, Hq, Sq, D))
    return args, dout, scale, causal


def _objective(args, dout, scale, causal, rope_theta=None):
    """sum(out * dout) through the (independently tested) forward reference."""
    return float(np.sum(kv_shift_attention(*args, scale=scale, causal=causal,
                                           rope_theta=rope_theta) * dout))


def _finite_difference_grads(args, dout, scale, causal, h=1e-5, rope_theta=None):
    """Central differences of sum(out * dout), one element at a time."""
    grads = []
    for n in range(len(args)):
        gr = np.zeros_like(args[n])
        flat = gr.reshape(-1)
        for idx in range(args[n].size):
            plus = [a.copy() for a in args]
            minus = [a.copy() for a in args]
            plus[n].reshape(-1)[idx] += h
            minus[n].reshape(-1)[idx] -= h
            flat[idx] = (_objective(plus, dout, scale, causal, rope_theta)
                         - _objective(minus, dout, scale, causal, rope_theta)) / (2.0 * h)
        grads.append(gr)
    return grads


def _torch_grads(torch, args, dout, scale, causal):
    """The SPEC semantics written in torch (pad + mix, matmul, mask, softmax,
    matmul), differentiated by torch.autograd in float64."""
    F = torch.nn.functional
    q, k, v, kw, vw = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in args]
    do = torch.tensor(dout, dtype=torch.float64)
    B, Hq, Sq, D = q.shape
    Hkv, Sk = k.shape[1], k.shape[2]

    def mix(x, w):
        xp = F.pad(x, (0, 0, 1, 0))           # one zero row in front of the sequence
        return (w[:, 0].view(1, -1, 1, 1) * xp[:, :, 1:, :]
                + w[:, 1].view(1, -1, 1, 1) * xp[:, :, :-1, :])

    kh = mix(k, kw).repeat_interleave(Hq // Hkv, dim=1)
    vh = mix(v, vw).repeat_interleave(Hq // Hkv, dim=1)
    sc = 1.0 / D ** 0.5 if scale is None else scale
    s = torch.matmul(q, kh.transpose(-1, -2)) * sc
    if causal:
        keep = torch.ones(Sq, Sk, dtype=torch.bool).tril(diagonal=Sk - Sq)
        s = s.masked_fill(~keep, float("-inf"))
    out = torch.matmul(torch.softmax(s, dim=-1), vh)
    loss = (out * do).sum()
    grads = torch.autograd.grad(loss, (q, k, v, kw, vw))
    return [g.detach().numpy() for g in grads]


def _directional_check(rng, args, dout, scale, causal, grads, h=1e-5):
    """<grad, dir> against a central difference along a random direction,
    for operand sets too large for element-wise differences."""
    worst = 0.0
    for n in range(len(args)):
        d = rng.standard_normal(args[n].shape)
        plus = [a.copy() for a in args]
        minus = [a.copy() for a in args]
        plus[n] += h * d
        minus[n] -= h * d
        fd = (_objective(plus, dout, scale, causal)
              - _objective(minus, dout, scale, causal)) / (2.0 * h)
        an = float(np.sum(grads[n] * d))
        err = abs(fd - an) / max(abs(an), np.sqrt(np.sum(grads[n] ** 2)) * np.sqrt(d.size))
        worst = max(worst, err)
    return worst


def _grad_self_test(rng):
    try:
        import torch
    except ImportError as e:
        torch = None
        print("kvshift_ref self test: NOTICE: torch cannot be imported (%s); "
              "skipping the torch.autograd comparison of the gradients" % e)
    FD_TOL, TORCH_TOL = 1e-7, 1e-12
    fd_worst = {n: 0.0 for n in _GRAD_NAMES}
    th_worst = {n: 0.0 for n in _GRAD_NAMES}
    for case in _GRAD_CASES:
        args, dout, scale, causal = _grad_case_inputs(rng, case)
        an = kv_shift_attention_grad(*args, dout, scale=scale, causal=causal)
        for n, a, gr in zip(_GRAD_NAMES, args, an):
            assert gr.shape == a.shape, (case, n, gr.shape, a.shape)
            assert np.all(np.isfinite(gr)), (case, n)
        fd = _finite_difference_grads(args, dout, scale, causal)
        for n, a, f in zip(_GRAD_NAMES, an, fd):
            e = max_rel_err(a, f)
            fd_worst[n] = max(fd_worst[n], e)
            assert e < FD_TOL, "grad vs finite differences: %s case %s err %.3e" % (n, case, e)
        if torch is not None:
            tg = _torch_grads(torch, args, dout, scale, causal)
            for n, a, t in zip(_GRAD_NAMES, an, tg):
                e = max_rel_err(a, t)
                th_worst[n] = max(th_worst[n], e)
                assert e < TORCH_TOL, "grad vs torch: %s case %s err %.3e" % (n, case, e)

    # Known answers. With kw = [1, 0] the mix is the identity: dk is the plain
    # attention dk, and (a1 = 1, a2 = 0) dkw[:, 0] = sum dk . k exactly.
    args, dout, scale, causal = _grad_case_inputs(rng, (1, 4, 2, 5, 5, 3, True, None, "normal"))
    args[3] = np.tile([1.0, 0.0], (2, 1))
    dq, dk, dv, dkw, dvw = kv_shift_attention_grad(*args, dout, causal=True)
    assert np.allclose(dkw[:, 0], np.einsum("bhtd,bhtd->h", dk, args[1]), rtol=1e-12, atol=1e-12)
    # The gradient is linear in dout; a zero dout gives zero gradients.
    z = kv_shift_attention_grad(*args, np.zeros_like(dout), causal=True)
    assert all(np.all(t == 0.0) for t in z)
    g2 = kv_shift_attention_grad(*args, 2.5 * dout, causal=True)
    assert all(max_rel_err(b, 2.5 * a) < 1e-13 for a, b in zip((dq, dk, dv, dkw, dvw), g2))
    # The value weights only see dv^: b1 scales dv, and Sk = 1 with vw = [b1, b2]
    # gives dv = b1 * P^T dout, dvw[:, 1] = 0 (there is no v_{-1}).
    args, dout, scale, causal = _grad_case_inputs(rng, (1, 2, 1, 3, 1, 4, False, None, "negative"))
    dq, dk, dv, dkw, dvw = kv_shift_attention_grad(*args, dout)
    assert np.allclose(dv[0, 0, 0], args[4][0, 0] * dout[0].sum(axis=(0, 1)), rtol=1e-12)
    assert dkw[0, 1] == 0.0 and dvw[0, 1] == 0.0
    # With Sk = 1 the softmax is constant 1: no gradient reaches q, k or kw
    # (dP - rowsum(dP * P) cancels to rounding error.)
    assert max(np.max(np.abs(dq)), np.max(np.abs(dk)), np.max(np.abs(dkw))) < 1e-14

    # Larger shapes (tile-crossing sizes of the integration tests): random
    # directional derivatives, and torch element by element.
    dir_worst = 0.0
    for case in [(2, 8, 2, 70, 70, 24, True, None, "negative"),
                 (1, 4, 2, 5, 64, 7, True, 0.125, "paper"),
                 (1, 2, 2, 37, 37, 7, False, None, "normal")]:
        args, dout, scale, causal = _grad_case_inputs(rng, case)
        an = kv_shift_attention_grad(*args, dout, scale=scale, causal=causal)
        e = _directional_check(rng, args, dout, scale, causal, an)
        dir_worst = max(dir_worst, e)
        assert e < 1e-7, "grad vs directional difference: case %s err %.3e" % (case, e)
        if torch is not None:
            tg = _torch_grads(torch, args, dout, scale, causal)
            for n, a, t in zip(_GRAD_NAMES, an, tg):
                e = max_rel_err(a, t)
                th_worst[n] = max(th_worst[n], e)
                assert e < TORCH_TOL, "grad vs torch: %s case %s err %.3e" % (n, case, e)

    print("kvshift_ref self test: gradient vs central differences (%d cases), max rel err: %s"
          % (len(_GRAD_CASES), " ".join("d%s=%.1e" % (n, fd_worst[n]) for n in _GRAD_NAMES)))
    print("kvshift_ref self test: gradient vs directional differences (3 larger cases), "
          "max rel err %.1e" % dir_worst)
    if torch is not None:
        print("kvshift_ref self test: gradient vs torch %s autograd float64 (%d cases), "
              "max rel err: %s" % (torch.__version__, len(_GRAD_CASES) + 3,
                                   " ".join("d%s=%.1e" % (n, th_worst[n]) for n in _GRAD_NAMES)))


def _rope_self_test(rng):
    # The rotation as a complex product z_i * exp(i p f_i), z_i = x_i + i x_{i+half},
    # with the frequencies written as exp(-(2i/D) log theta).
    D, S = 10, 7
    x = rng.standard_normal((2, 3, S, D))
    pos = np.arange(S) + 5
    for theta in (10000.0, 500000.0, 1.5):
        z = x[..., :D // 2] + 1j * x[..., D // 2:]
        f = np.exp(-(2.0 * np.arange(D // 2) / D) * np.log(theta))
        zr = z * np.exp(1j * pos[:, None] * f[None, :])
        want = np.concatenate([zr.real, zr.imag], axis=-1)
        assert np.max(np.abs(rope(x, pos, theta) - want)) < 1e-12
        assert np.max(np.abs(rope(rope(x, pos, theta), pos, theta, inverse=True) - x)) < 1e-12
    # Position 0 is the identity; logits depend on relative positions only
    # (kw = [1, 0], Sq = Sk: shifting every position leaves out unchanged is
    # what rope with an offset must satisfy; here checked on one dot product).
    assert np.array_equal(rope(x, np.zeros(S), 10000.0), x)
    a, b = rng.standard_normal(D), rng.standard_normal(D)
    d1 = rope(a[None], [9], 100.0)[0] @ rope(b[None], [4], 100.0)[0]
    d2 = rope(a[None], [105], 100.0)[0] @ rope(b[None], [100], 100.0)[0]
    assert abs(d1 - d2) < 1e-12
    # RoPE changes the output (the test cases would not see a dropped rotation).
    q = rng.standard_normal((1, 2, 5, 6))
    k = rng.standard_normal((1, 1, 8, 6))
    w = np.array([[0.6, 0.4]])
    o0 = kv_shift_attention(q, k, k, w, w, causal=True)
    o1 = kv_shift_attention(q, k, k, w, w, causal=True, rope_theta=10.0)
    assert max_rel_err(o1, o0) > 1e-2
    # Loop version: rotate by hand per row, then plain attention.
    qr = np.stack([rope(q[0, h], np.arange(5) + 3, 10.0) for h in range(2)])[None]
    kr = rope(kv_shift(k, w)[0, 0], np.arange(8), 10.0)[None, None]
    ref = kv_shift_attention(qr, kr, kv_shift(k, w), np.array([[1.0, 0.0]]),
                             np.array([[1.0, 0.0]]), causal=True)
    assert max_rel_err(o1, ref) < 1e-13
    # Analytic gradients with RoPE against central differences.
    worst = 0.0
    for case, theta in [((1, 4, 2, 5, 5, 4, True, None, "negative"), 10000.0),
                        ((1, 4, 2, 3, 6, 6, True, 0.5, "paper"), 3.0),
                        ((1, 2, 1, 4, 7, 2, False, None, "normal"), 500000.0),
                        ((2, 3, 1, 5, 4, 4, False, None, "negative"), 2.0)]:
        args, dout, scale, causal = _grad_case_inputs(rng, case)
        an = kv_shift_attention_grad(*args, dout, scale=scale, causal=causal,
                                     rope_theta=theta)
        fd = _finite_difference_grads(args, dout, scale, causal, rope_theta=theta)
        for n, a, f in zip(_GRAD_NAMES, an, fd):
            e = max_rel_err(a, f)
            worst = max(worst, e)
            assert e < 1e-7, "rope grad vs finite differences: %s case %s err %.3e" % (n, case, e)
    print("kvshift_ref self test: RoPE gradient vs central differences (4 cases), "
          "max rel err %.1e" % worst)


if __name__ == "__main__":
    _self_test()
