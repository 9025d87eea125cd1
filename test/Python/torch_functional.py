"""(a) kvshift.torch.kv_shift_attention / kv_shift / attention against the
float64 NumPy reference test/Integration/kvshift_ref.py (SPEC.md section 2):
GQA and MQA, causal and not, Sq < Sk (decoding), Sq > Sk (non-causal only),
negative and paper-initialised weights, explicit scale; float32/16/bf16
inputs; malformed inputs."""

import testutil  # noqa: F401  (sets sys.path)
from testutil import Checker, kvshift_ref, np, t64, rel_err, torch

import kvshift.torch as kt

C = Checker("torch_functional")
rng = np.random.default_rng(1234)

# kvshift/torch.py does not shadow PyTorch (only python/ is on sys.path).
import os  # noqa: E402
C.check(kt.torch is torch and hasattr(torch, "nn")
        and not os.path.abspath(torch.__file__).startswith(os.path.join(testutil.REPO, "python")),
        "kvshift.torch uses the real torch (%s)" % torch.__file__)


def weights(h, mode):
    if mode == "paper":
        a = rng.uniform(0.0, 1.0, h)
        return np.stack([a, 1.0 - a], axis=1)
    if mode == "negative":
        w = rng.uniform(0.3, 1.4, (h, 2)) * np.where(rng.random((h, 2)) < 0.5, -1.0, 1.0)
        w[0] = [-0.7, 1.3]
        return w
    if mode == "identity":
        return np.tile([1.0, 0.0], (h, 1))
    return rng.normal(0.5, 0.5, (h, 2))


# (B, Hq, Hkv, Sq, Sk, D, causal, scale, weights)
CASES = [
    (2, 4, 2, 9, 9, 8, False, None, "negative"),    # GQA g=2
    (2, 4, 2, 9, 9, 8, True, None, "negative"),
    (1, 6, 2, 3, 11, 5, True, None, "paper"),       # GQA g=3, decoding Sq < Sk
    (1, 6, 2, 3, 11, 5, False, 0.3, "normal"),
    (2, 8, 1, 1, 7, 4, True, None, "negative"),     # MQA, one query
    (1, 2, 2, 6, 4, 3, False, 1.7, "normal"),       # Sq > Sk, non-causal
    (1, 3, 3, 1, 1, 6, True, None, "paper"),        # S = 1
    (2, 4, 4, 16, 16, 16, True, 0.125, "negative"), # MHA
]

worst64 = 0.0
for case in CASES:
    B, Hq, Hkv, Sq, Sk, D, causal, scale, mode = case
    q = rng.standard_normal((B, Hq, Sq, D))
    k = rng.standard_normal((B, Hkv, Sk, D))
    v = rng.standard_normal((B, Hkv, Sk, D))
    kw, vw = weights(Hkv, mode), weights(Hkv, mode)
    ref = kvshift_ref.kv_shift_attention(q, k, v, kw, vw, scale=scale, causal=causal)

    out = kt.kv_shift_attention(t64(q), t64(k), t64(v), t64(kw), t64(vw),
                                scale=scale, causal=causal)
    C.check(out.dtype == torch.float64 and tuple(out.shape) == (B, Hq, Sq, D),
            "float64 result dtype/shape %s" % (case,))
    e = rel_err(out, ref)
    worst64 = max(worst64, e)
    C.close(e, 1e-13, "float64 vs reference %s" % (case,))

    # float32 operands, mixing weights float32 (as the op): f32 accuracy.
    f = lambda a: torch.tensor(a, dtype=torch.float32)
    out32 = kt.kv_shift_attention(f(q), f(k), f(v), f(kw), f(vw), scale=scale, causal=causal)
    C.check(out32.dtype == torch.float32, "float32 result dtype %s" % (case,))
    C.close(rel_err(out32, ref), 2e-6, "float32 vs reference %s" % (case,))

    # The mix alone.
    C.close(rel_err(kt.kv_shift(t64(k), t64(kw)), kvshift_ref.kv_shift(k, kw)), 0.0,
            "kv_shift vs reference %s" % (case,))

    # Plain attention equals the op with identity weights.
    one = np.tile([1.0, 0.0], (Hkv, 1))
    ref1 = kvshift_ref.kv_shift_attention(q, k, v, one, one, scale=scale, causal=causal)
    C.close(rel_err(kt.attention(t64(q), t64(k), t64(v), scale=scale, causal=causal), ref1),
            1e-13, "attention vs reference with identity weights %s" % (case,))

print("float64 vs kvshift_ref: %d cases, max rel err %.1e" % (len(CASES), worst64))

# Low precision: computed in float32, rounded once to the input type; weights
# given as float32 (the op's type) and as float64 parameters alike.
B, Hq, Hkv, S, D = 2, 4, 2, 12, 16
q = rng.standard_normal((B, Hq, S, D)).astype(np.float32)
k = rng.standard_normal((B, Hkv, S, D)).astype(np.float32)
v = rng.standard_normal((B, Hkv, S, D)).astype(np.float32)
kw, vw = weights(Hkv, "negative"), weights(Hkv, "paper")
for dt, tol in ((torch.float16, 2e-3), (torch.bfloat16, 1.5e-2)):
    qt, kt_, vt = (torch.tensor(a).to(dt) for a in (q, k, v))
    ref = kvshift_ref.kv_shift_attention(qt.double().numpy(), kt_.double().numpy(),
                                         vt.double().numpy(), kw, vw, causal=True)
    out = kt.kv_shift_attention(qt, kt_, vt, torch.tensor(kw, dtype=torch.float32),
                                torch.tensor(vw, dtype=torch.float32), causal=True)
    C.check(out.dtype == dt, "%s result dtype" % dt)
    C.close(rel_err(out.float(), ref), tol, "%s vs reference" % dt)
    sh = kt.kv_shift(kt_, torch.tensor(kw, dtype=torch.float32))
    C.check(sh.dtype == dt, "%s kv_shift dtype" % dt)
    C.close(rel_err(sh.float(), kvshift_ref.kv_shift(kt_.double().numpy(), kw)), tol,
            "%s kv_shift vs reference" % dt)

# Hand-worked causal alignment (as kvshift_ref's self test): Sq = 2, Sk = 3,
# zero keys: query 0 averages v^_0, v^_1; query 1 averages all three.
k1 = torch.zeros(1, 1, 3, 1, dtype=torch.float64)
v1 = torch.tensor([1.0, 2.0, 6.0], dtype=torch.float64).reshape(1, 1, 3, 1)
ident = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
o = kt.kv_shift_attention(torch.ones(1, 1, 2, 1, dtype=torch.float64), k1, v1, ident,
                          ident, causal=True)
C.check(o.flatten().tolist() == [1.5, 3.0], "causal bottom-right alignment: %s" % o.flatten())
o = kt.kv_shift_attention(torch.ones(1, 1, 2, 1, dtype=torch.float64), k1, v1, ident,
                          torch.tensor([[0.0, 1.0]], dtype=torch.float64), causal=True)
C.check(o.flatten().tolist() == [0.5, 1.0], "shift of v by one token: %s" % o.flatten())

# Large logits stay finite.
q = rng.standard_normal((1, 2, 8, 4)) * 100
k = rng.standard_normal((1, 2, 8, 4))
v = rng.standard_normal((1, 2, 8, 4))
kw, vw = weights(2, "negative"), weights(2, "negative")
out = kt.kv_shift_attention(*(torch.tensor(a, dtype=torch.float32) for a in (q, k, v, kw, vw)),
                            scale=100.0, causal=True)
C.check(bool(torch.isfinite(out).all()), "scale 100: finite")
C.close(rel_err(out, kvshift_ref.kv_shift_attention(q, k, v, kw, vw, scale=100.0,
                                                   causal=True)), 1e-4, "scale 100")

# Malformed inputs: ValueError naming the operand.
Q = torch.zeros(1, 4, 5, 8)
K = torch.zeros(1, 2, 5, 8)
W = torch.zeros(2, 2)
op = kt.kv_shift_attention
C.raises(ValueError, lambda: op(Q, torch.zeros(1, 3, 5, 8), torch.zeros(1, 3, 5, 8),
                                torch.zeros(3, 2), torch.zeros(3, 2)),
         "Hq not a multiple of Hkv", "KV heads")
C.raises(ValueError, lambda: op(Q, K, K, torch.zeros(3, 2), W), "kw shape", "'kw'")
C.raises(ValueError, lambda: op(Q, K, K, W, torch.zeros(2)), "vw shape", "'vw'")
C.raises(ValueError, lambda: op(Q, K, torch.zeros(1, 2, 6, 8), W, W), "v shape", "'v'")
C.raises(ValueError, lambda: op(Q, torch.zeros(1, 2, 5, 7), torch.zeros(1, 2, 5, 7), W, W),
         "head dim mismatch", "'k'")
C.raises(ValueError, lambda: op(Q[0], K, K, W, W), "rank of q", "'q'")
C.raises(ValueError, lambda: op(torch.zeros(1, 4, 6, 8), K, K, W, W, causal=True),
         "causal with Sq > Sk", "Sq <= Sk")
C.raises(ValueError, lambda: op(torch.zeros(1, 4, 5, 7), torch.zeros(1, 2, 5, 7),
                                torch.zeros(1, 2, 5, 7), W, W, rope_theta=10.0),
         "RoPE with odd D", "even")
C.raises(ValueError, lambda: op(Q, K, K, W, W, rope_theta=0.0), "rope_theta <= 0", "rope_theta")
C.raises(TypeError, lambda: op(Q.long(), K, K, W, W), "integer q", "'q'")
C.raises(ValueError, lambda: kt.kv_shift(K, torch.zeros(3, 2)), "kv_shift w shape", "'w'")

C.finish()
