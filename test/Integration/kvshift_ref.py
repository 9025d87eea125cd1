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


def kv_shift_attention(q, k, v, kw, vw, scale=None, causal=False):
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
    head_map = np.arange(Hq) // g                  # query head -> KV head
    kh = kh[:, head_map]                           # [B, Hq, Sk, D]
    vh = vh[:, head_map]

    s = np.float64(scale) * np.einsum("bhid,bhjd->bhij", q, kh)
    if causal:
        s = np.where(causal_mask(Sq, Sk)[None, None], s, -np.inf)
    p = _softmax_rows(s)
    return np.einsum("bhij,bhjd->bhid", p, vh)


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
    print("kvshift_ref self test: OK")


if __name__ == "__main__":
    _self_test()
