"""(b) kvshift.torch.KVShiftAttention: the module equals a direct computation
from its own projection weights and the functional op (and the float64 NumPy
reference); with kw = vw = [1, 0] it equals plain softmax attention written
out separately here; the paper initialisation; VanillaAttention; and under
torch.fx the functional op is one call_function node."""

import math

import testutil  # noqa: F401  (sets sys.path)
from testutil import Checker, kvshift_ref, np, np64, rel_err, torch

import kvshift.torch as kt

C = Checker("torch_module")
torch.manual_seed(0)
rng = np.random.default_rng(7)


def plain_attention(x, m, causal):
    """Softmax attention from m's projections, written without kvshift:
    repeat KV heads, explicit mask, exp/sum softmax, float64."""
    B, S, _ = x.shape
    H, Hkv, Dh = m.n_heads, m.n_kv_heads, m.head_dim
    q = (x @ m.q_proj.weight.T).reshape(B, S, H, Dh).permute(0, 2, 1, 3)
    k = (x @ m.k_proj.weight.T).reshape(B, S, Hkv, Dh).permute(0, 2, 1, 3)
    v = (x @ m.v_proj.weight.T).reshape(B, S, Hkv, Dh).permute(0, 2, 1, 3)
    k = torch.cat([k[:, h // (H // Hkv)].unsqueeze(1) for h in range(H)], dim=1)
    v = torch.cat([v[:, h // (H // Hkv)].unsqueeze(1) for h in range(H)], dim=1)
    s = q @ k.transpose(2, 3) / math.sqrt(Dh)
    if causal:
        s = s + torch.triu(torch.full((S, S), -1e300, dtype=s.dtype), 1)
    e = torch.exp(s - s.max(dim=-1, keepdim=True).values)
    o = (e / e.sum(dim=-1, keepdim=True)) @ v
    return o.permute(0, 2, 1, 3).reshape(B, S, H * Dh) @ m.o_proj.weight.T


# (d_model, n_heads, n_kv_heads, head_dim, causal, bias)
CONFIGS = [
    (32, 4, 2, None, True, False),    # GQA g = 2
    (24, 6, 2, None, False, True),    # GQA g = 3, biases, non-causal
    (16, 2, None, 12, True, False),   # MHA, head_dim != d_model / n_heads
    (20, 4, 1, 6, True, True),        # MQA
]
for d, H, Hkv, Dh, causal, bias in CONFIGS:
    tag = "d=%d H=%d Hkv=%s Dh=%s causal=%s bias=%s" % (d, H, Hkv, Dh, causal, bias)
    m = kt.KVShiftAttention(d, H, Hkv, head_dim=Dh, causal=causal, bias=bias).double()
    hkv = m.n_kv_heads
    C.check(m.kw.shape == (hkv, 2) and m.vw.shape == (hkv, 2), "kw/vw shape " + tag)
    C.check(m.q_proj.weight.shape == (H * m.head_dim, d)
            and m.k_proj.weight.shape == (hkv * m.head_dim, d)
            and m.o_proj.weight.shape == (d, H * m.head_dim), "projection shapes " + tag)
    names = dict(m.named_parameters())
    C.check("kw" in names and "vw" in names, "kw, vw are parameters " + tag)
    C.check((m.q_proj.bias is not None) == bias, "bias " + tag)
    # Unconstrained weights: set some negative ones.
    with torch.no_grad():
        m.kw.copy_(torch.tensor(rng.uniform(-1.5, 1.5, (hkv, 2))))
        m.vw.copy_(torch.tensor(rng.uniform(-1.5, 1.5, (hkv, 2))))
    B, S = 2, 7
    x = torch.randn(B, S, d, dtype=torch.float64)
    y = m(x)
    C.check(y.shape == (B, S, d) and y.dtype == torch.float64, "output shape " + tag)

    # Direct computation: projections by hand, the functional op, o_proj by hand.
    def lin(t, layer):
        return t @ layer.weight.T + (layer.bias if layer.bias is not None else 0.0)
    q = lin(x, m.q_proj).reshape(B, S, H, m.head_dim).transpose(1, 2)
    k = lin(x, m.k_proj).reshape(B, S, hkv, m.head_dim).transpose(1, 2)
    v = lin(x, m.v_proj).reshape(B, S, hkv, m.head_dim).transpose(1, 2)
    o = kt.kv_shift_attention(q, k, v, m.kw, m.vw, causal=causal)
    direct = lin(o.transpose(1, 2).reshape(B, S, H * m.head_dim), m.o_proj)
    C.close(rel_err(y, direct), 1e-14, "module vs projections + functional op " + tag)
    # ... and with the NumPy reference in place of the functional op.
    ref = kvshift_ref.kv_shift_attention(np64(q), np64(k), np64(v), np64(m.kw), np64(m.vw),
                                         causal=causal)
    direct_ref = lin(torch.tensor(ref).transpose(1, 2).reshape(B, S, H * m.head_dim), m.o_proj)
    C.close(rel_err(y, direct_ref), 1e-13, "module vs projections + kvshift_ref " + tag)
    qq, kk, vv = m.project(x)
    C.close(max(rel_err(a, b) for a, b in ((qq, q), (kk, k), (vv, v))), 1e-15,
            "project() " + tag)

    # kw = vw = [1, 0]: plain softmax attention.
    if not bias:
        with torch.no_grad():
            m.kw.copy_(torch.tensor([[1.0, 0.0]] * hkv))
            m.vw.copy_(torch.tensor([[1.0, 0.0]] * hkv))
        C.close(rel_err(m(x), plain_attention(x, m, causal)), 1e-13,
                "identity weights vs plain attention " + tag)
        van = kt.VanillaAttention(d, H, Hkv, head_dim=Dh, causal=causal).double()
        van.load_state_dict({n: p for n, p in m.state_dict().items() if n not in ("kw", "vw")})
        C.check(not any(n in dict(van.named_parameters()) for n in ("kw", "vw")),
                "VanillaAttention has no kw/vw " + tag)
        C.close(rel_err(van(x), plain_attention(x, m, causal)), 1e-13,
                "VanillaAttention vs plain attention " + tag)

# The shift matters: with weights [0, 1] token t sees k_{t-1}, v_{t-1} only.
m = kt.KVShiftAttention(8, 2, causal=True).double()
x = torch.randn(1, 5, 8, dtype=torch.float64)
base = m(x)
with torch.no_grad():
    m.vw.copy_(torch.tensor([[0.0, 1.0]] * 2))
C.check(rel_err(m(x), base) > 1e-3, "changing vw changes the output")

# Causality of the module: output at t does not depend on tokens after t.
y0 = m(x)
x2 = x.clone()
x2[:, 3:] += 1.0
y2 = m(x2)
C.close(rel_err(y2[:, :3], y0[:, :3]), 1e-15, "causal module ignores the future")
C.check(rel_err(y2[:, 3:], y0[:, 3:]) > 1e-3, "... but not the present")

# Paper initialisation: a1, b1 in [0, 1), a2 = 1 - a1, b2 = 1 - b1, and the
# four columns are not all equal (independent draws).
m = kt.KVShiftAttention(64, 16, 8)
C.check(m.kw.dtype == torch.float32 and m.vw.dtype == torch.float32, "kw/vw float32")
for w in (m.kw, m.vw):
    C.check(bool(((w[:, 0] >= 0) & (w[:, 0] < 1)).all()), "w1 in [0, 1)")
    C.check(bool(torch.allclose(w.sum(1), torch.ones(8))), "w1 + w2 = 1")
C.check(not torch.equal(m.kw, m.vw), "kw and vw drawn independently")
C.check(float(m.kw[:, 0].std()) > 0.0, "kw differs across heads")

# RoPE is passed to the op (module vs functional with rope_theta).
m = kt.KVShiftAttention(16, 4, 2, rope_theta=500.0).double()
x = torch.randn(2, 6, 16, dtype=torch.float64)
q, k, v = m.project(x)
o = kt.kv_shift_attention(q, k, v, m.kw, m.vw, causal=True, rope_theta=500.0)
C.close(rel_err(m(x), m.o_proj(o.transpose(1, 2).flatten(2))), 1e-14, "module with RoPE")
C.check(rel_err(m(x), m.o_proj(kt.kv_shift_attention(q, k, v, m.kw, m.vw, causal=True)
                             .transpose(1, 2).flatten(2))) > 1e-4, "RoPE changes the output")

# Constructor errors.
C.raises(ValueError, lambda: kt.KVShiftAttention(32, 6, 4, head_dim=8), "Hq % Hkv")
C.raises(ValueError, lambda: kt.KVShiftAttention(30, 4), "d_model % n_heads")
C.raises(ValueError, lambda: kt.KVShiftAttention(12, 4, rope_theta=1e4), "odd head_dim with RoPE")

# torch.fx: the functional op is a leaf with its attributes as keywords.
import torch.fx  # noqa: E402
m = kt.KVShiftAttention(32, 4, 2, rope_theta=1e4)
gm = torch.fx.symbolic_trace(m)
calls = [n for n in gm.graph.nodes
         if n.op == "call_function" and n.target is kt.kv_shift_attention]
C.check(len(calls) == 1, "fx: one kv_shift_attention node")
if calls:
    C.check(calls[0].kwargs.get("causal") is True and calls[0].kwargs.get("rope_theta") == 1e4
            and abs(calls[0].kwargs.get("scale") - 1 / math.sqrt(8)) < 1e-15,
            "fx: node keywords %s" % (calls[0].kwargs,))
x = torch.randn(2, 5, 32)
C.close(rel_err(gm(x), m(x)), 0.0, "fx graph module runs")

C.finish()
