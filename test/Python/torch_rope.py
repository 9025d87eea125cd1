"""(d) RoPE in kvshift.torch ("rotate half" layout, SPEC.md section 2):
against a direct NumPy implementation of the SPEC's formula, norm
preservation, the relative-position property, and inside
kv_shift_attention: mix first, rotate after (k_{t-1} rotated with position
t), query i at position Sk - Sq + i (decoding equals the tail of the full
sequence)."""

import testutil  # noqa: F401  (sets sys.path)
from testutil import Checker, kvshift_ref, np, np64, rel_err, t64, torch

import kvshift.torch as kt

C = Checker("torch_rope")
rng = np.random.default_rng(2024)


def rot_np(x, positions, theta):
    """SPEC.md, element by element: half = D/2, inv_freq[i] = theta^(-2i/D),
    rot(x,p)[i] = x[i] cos(p f_i) - x[i+half] sin(p f_i),
    rot(x,p)[i+half] = x[i+half] cos(p f_i) + x[i] sin(p f_i). x: [..., S, D]."""
    x = np.asarray(x, dtype=np.float64)
    D = x.shape[-1]
    half = D // 2
    out = np.empty_like(x)
    for s, p in enumerate(positions):
        for i in range(half):
            f = theta ** (-2.0 * i / D)
            c, sn = np.cos(p * f), np.sin(p * f)
            out[..., s, i] = x[..., s, i] * c - x[..., s, i + half] * sn
            out[..., s, i + half] = x[..., s, i + half] * c + x[..., s, i] * sn
    return out


# 1. apply_rope against the formula; positions as None, an offset, a tensor.
for D, theta in ((8, 10000.0), (6, 10.0), (2, 1.5)):
    x = rng.standard_normal((2, 3, 7, D))
    C.close(rel_err(kt.apply_rope(t64(x), theta), rot_np(x, range(7), theta)), 1e-14,
            "apply_rope D=%d theta=%g" % (D, theta))
    C.close(rel_err(kt.apply_rope(t64(x), theta, 100), rot_np(x, range(100, 107), theta)),
            1e-13, "apply_rope offset 100 D=%d" % D)
    pos = [5, 0, 3, 1000, 2, 9, 7]
    C.close(rel_err(kt.apply_rope(t64(x), theta, torch.tensor(pos)), rot_np(x, pos, theta)),
            1e-12, "apply_rope positions tensor D=%d" % D)
    x32 = torch.tensor(x, dtype=torch.float32)
    r32 = kt.apply_rope(x32, theta, 100)
    C.check(r32.dtype == torch.float32, "apply_rope keeps float32")
    C.close(rel_err(r32, rot_np(x32.double().numpy(), range(100, 107), theta)), 1e-6,
            "apply_rope float32 D=%d" % D)
inv = kt.rope_inv_freq(8, 10000.0)
C.close(rel_err(inv, [10000.0 ** (-2.0 * i / 8) for i in range(4)]), 1e-15, "rope_inv_freq")
C.check(float(inv[0]) == 1.0, "inv_freq[0] = 1")

# 2. Rotation preserves norms (per row), and position 0 is the identity.
x = t64(rng.standard_normal((4, 50, 16)))
r = kt.apply_rope(x, 10000.0, 37)
C.close(rel_err(r.norm(dim=-1), x.norm(dim=-1)), 1e-14, "norms preserved")
C.close(rel_err(kt.apply_rope(x[:, :1], 10000.0), x[:, :1]), 0.0, "position 0 is the identity")

# 3. Relative position: rot(q, i) . rot(k, j) depends only on i - j.
D = 16
q = t64(rng.standard_normal(D)).expand(1, D)
k = t64(rng.standard_normal(D)).expand(1, D)


def dot(i, j, theta=10000.0):
    return float((kt.apply_rope(q, theta, i) * kt.apply_rope(k, theta, j)).sum())


worst = 0.0
for i, j in ((0, 0), (5, 2), (2, 5), (17, 3), (40, 40)):
    for s in (1, 7, 123, 4096):
        worst = max(worst, abs(dot(i + s, j + s) - dot(i, j)) / (q.norm() * k.norm()).item())
C.close(worst, 1e-12, "q_i . k_j invariant under i, j -> i + s, j + s")
C.check(abs(dot(5, 2) - dot(5, 3)) > 1e-6, "q_i . k_j depends on i - j")
# The same as a whole score matrix: positions shifted by s give the same scores.
qs = t64(rng.standard_normal((1, 6, D)))
ks = t64(rng.standard_normal((1, 6, D)))
s0 = kt.apply_rope(qs, 500.0) @ kt.apply_rope(ks, 500.0).transpose(1, 2)
s9 = kt.apply_rope(qs, 500.0, 9) @ kt.apply_rope(ks, 500.0, 9).transpose(1, 2)
C.close(rel_err(s9, s0), 1e-13, "score matrix invariant under a common position shift")

# 4. Inside kv_shift_attention: out = attention(rot(q), rot(k^), v^) with the
#    reference's mix, the formula above and kvshift_ref with identity weights.
for (B, Hq, Hkv, Sq, Sk, D, causal, theta) in ((2, 4, 2, 9, 9, 8, True, 10000.0),
                                               (1, 6, 2, 3, 8, 6, True, 10.0),
                                               (1, 2, 1, 5, 4, 4, False, 100.0),
                                               (2, 2, 2, 7, 7, 2, False, 3.0)):
    tag = "B=%d Hq=%d Hkv=%d Sq=%d Sk=%d D=%d causal=%s theta=%g" % (
        B, Hq, Hkv, Sq, Sk, D, causal, theta)
    q = rng.standard_normal((B, Hq, Sq, D))
    k = rng.standard_normal((B, Hkv, Sk, D))
    v = rng.standard_normal((B, Hkv, Sk, D))
    kw = rng.uniform(-1.5, 1.5, (Hkv, 2))
    vw = rng.uniform(-1.5, 1.5, (Hkv, 2))
    one = np.tile([1.0, 0.0], (Hkv, 1))
    qpos = range(Sk - Sq, Sk)
    kh = rot_np(kvshift_ref.kv_shift(k, kw), range(Sk), theta)      # mix, then rotate
    ref = kvshift_ref.kv_shift_attention(rot_np(q, qpos, theta), kh,
                                         kvshift_ref.kv_shift(v, vw), one, one,
                                         causal=causal)
    out = kt.kv_shift_attention(t64(q), t64(k), t64(v), t64(kw), t64(vw), causal=causal,
                                rope_theta=theta)
    C.close(rel_err(out, ref), 1e-13, "kv_shift_attention with RoPE vs formula " + tag)
    # Rotating before the mix (k_{t-1} with position t-1) is a different thing.
    kh_wrong = kvshift_ref.kv_shift(rot_np(k, range(Sk), theta), kw)
    wrong = kvshift_ref.kv_shift_attention(rot_np(q, qpos, theta), kh_wrong,
                                           kvshift_ref.kv_shift(v, vw), one, one,
                                           causal=causal)
    C.check(rel_err(out, wrong) > 1e-6, "mix-then-rotate differs from rotate-then-mix " + tag)
    # Plain attention with RoPE: the same with identity weights.
    C.close(rel_err(kt.attention(t64(q), t64(k), t64(v), causal=causal, rope_theta=theta),
                    kt.kv_shift_attention(t64(q), t64(k), t64(v), t64(one), t64(one),
                                          causal=causal, rope_theta=theta)),
            1e-15, "attention with RoPE = identity-weight kv_shift_attention " + tag)

# 5. Decoding: the last Sq queries against all Sk keys (Sq < Sk) equal the
#    last Sq rows of the full causal computation (positions and mask aligned
#    bottom-right), for the functional op and RoPE.
B, Hq, Hkv, S, D = 1, 4, 2, 10, 8
q = t64(rng.standard_normal((B, Hq, S, D)))
k = t64(rng.standard_normal((B, Hkv, S, D)))
v = t64(rng.standard_normal((B, Hkv, S, D)))
kw, vw = t64(rng.uniform(-1, 1, (Hkv, 2))), t64(rng.uniform(-1, 1, (Hkv, 2)))
full = kt.kv_shift_attention(q, k, v, kw, vw, causal=True, rope_theta=50.0)
for sq in (1, 3, S):
    part = kt.kv_shift_attention(q[:, :, S - sq:], k, v, kw, vw, causal=True, rope_theta=50.0)
    C.close(rel_err(part, full[:, :, S - sq:]), 1e-14, "decode Sq=%d equals the full tail" % sq)

# 6. float32 with RoPE against the float64 formula.
q32, k32, v32 = (torch.tensor(rng.standard_normal(s), dtype=torch.float32)
                 for s in ((2, 4, 12, 16), (2, 2, 12, 16), (2, 2, 12, 16)))
kw32 = torch.tensor(rng.uniform(0, 1, (2, 2)), dtype=torch.float32)
out32 = kt.kv_shift_attention(q32, k32, v32, kw32, kw32, causal=True, rope_theta=10000.0)
out64 = kt.kv_shift_attention(q32.double(), k32.double(), v32.double(), kw32.double(),
                              kw32.double(), causal=True, rope_theta=10000.0)
C.close(rel_err(out32, out64), 2e-6, "float32 RoPE vs float64")

C.finish()
