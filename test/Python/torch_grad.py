"""(c) Gradients of kvshift.torch.kv_shift_attention in float64:
torch.autograd.gradcheck (central finite differences) with respect to all
five operands q, k, v, kw, vw on tiny cases (GQA, causal and not, Sq < Sk,
RoPE), and autograd against the hand-written analytic gradient of
kvshift_ref.kv_shift_attention_grad (the semantics of
kvshift.kv_shift_attention_grad). Also kv_shift alone and the module."""

import testutil  # noqa: F401  (sets sys.path)
from testutil import Checker, kvshift_ref, np, np64, rel_err, t64, torch

import kvshift.torch as kt

C = Checker("torch_grad")
rng = np.random.default_rng(99)


def inputs(B, Hq, Hkv, Sq, Sk, D, negative=True):
    q = t64(rng.standard_normal((B, Hq, Sq, D)), True)
    k = t64(rng.standard_normal((B, Hkv, Sk, D)), True)
    v = t64(rng.standard_normal((B, Hkv, Sk, D)), True)
    lo = -1.4 if negative else 0.0
    kw = t64(rng.uniform(lo, 1.4, (Hkv, 2)), True)
    vw = t64(rng.uniform(lo, 1.4, (Hkv, 2)), True)
    return q, k, v, kw, vw


# (B, Hq, Hkv, Sq, Sk, D, causal, scale, rope_theta)
CASES = [
    (1, 4, 2, 4, 4, 3, True, None, None),     # GQA g = 2, causal
    (2, 2, 1, 3, 3, 2, False, 0.8, None),     # MQA, non-causal, explicit scale
    (1, 3, 1, 2, 5, 2, True, None, None),     # decoding Sq < Sk, causal
    (1, 4, 2, 3, 5, 4, True, None, 10.0),     # RoPE (small theta: large angles), Sq < Sk
    (1, 2, 2, 4, 4, 4, False, 0.5, 100.0),    # RoPE, non-causal
]
for case in CASES:
    B, Hq, Hkv, Sq, Sk, D, causal, scale, theta = case
    args = inputs(B, Hq, Hkv, Sq, Sk, D)

    def fn(q, k, v, kw, vw):
        return kt.kv_shift_attention(q, k, v, kw, vw, scale=scale, causal=causal,
                                     rope_theta=theta)
    try:
        ok = torch.autograd.gradcheck(fn, args, eps=1e-6, atol=1e-7, rtol=1e-5)
    except RuntimeError as e:
        ok = False
        print(e)
    C.check(ok, "gradcheck %s" % (case,))

# The analytic gradient of the reference (no RoPE there).
for case in [(2, 4, 2, 6, 6, 3, True, None), (1, 6, 2, 3, 7, 4, True, 0.7),
             (1, 6, 2, 3, 7, 4, False, None), (1, 3, 1, 5, 4, 2, False, 1.3)]:
    B, Hq, Hkv, Sq, Sk, D, causal, scale = case
    args = inputs(B, Hq, Hkv, Sq, Sk, D)
    dout = rng.standard_normal((B, Hq, Sq, D))
    out = kt.kv_shift_attention(*args, scale=scale, causal=causal)
    grads = torch.autograd.grad(out, args, grad_outputs=t64(dout))
    ref = kvshift_ref.kv_shift_attention_grad(*(np64(a) for a in args), dout,
                                              scale=scale, causal=causal)
    for name, g, r in zip(("dq", "dk", "dv", "dkw", "dvw"), grads, ref):
        C.close(rel_err(g, r), 1e-12, "%s vs kvshift_ref.kv_shift_attention_grad %s"
                % (name, case))

# kv_shift alone.
x = t64(rng.standard_normal((2, 3, 4, 2)), True)
w = t64(rng.uniform(-1, 1, (3, 2)), True)
C.check(torch.autograd.gradcheck(kt.kv_shift, (x, w), eps=1e-6, atol=1e-8, rtol=1e-6),
        "gradcheck kv_shift")

# float32 parameters, float64 activations: gradients reach the float32 kw/vw.
m = kt.KVShiftAttention(8, 2, 1, rope_theta=1e4)
m.q_proj.double(), m.k_proj.double(), m.v_proj.double(), m.o_proj.double()
y = m(torch.randn(2, 5, 8, dtype=torch.float64))
y.pow(2).sum().backward()
C.check(m.kw.grad is not None and m.kw.grad.dtype == torch.float32
        and bool(m.kw.grad.abs().sum() > 0) and bool(m.vw.grad.abs().sum() > 0),
        "module: gradients reach kw and vw")
C.check(all(p.grad is not None for p in m.parameters()), "module: every parameter has a grad")

C.finish()
