"""(e) kvshift.models.KVShiftLlama: forward and backward run, every parameter
(kw/vw included) gets a gradient and a few optimiser steps lower the loss;
the parameter count is what the config implies; tied embeddings share
storage (untied ones do not); the model is causal; attention_impl="vanilla"
has no kw/vw; RMSNorm and SwiGLU against direct formulas."""

import math

import testutil  # noqa: F401  (sets sys.path)
from testutil import Checker, np, rel_err, torch

import kvshift.torch as kt
from kvshift.models import KVShiftLlama, LlamaConfig, RMSNorm, SwiGLU

C = Checker("torch_models")
torch.manual_seed(0)


def expected_params(c, kvshift):
    """Parameter count from the config, written out here."""
    dh = c.d_model // c.n_heads
    per_layer = (c.d_model                                  # attention RMSNorm
                 + c.d_model * c.n_heads * dh               # q_proj
                 + 2 * c.d_model * c.n_kv_heads * dh        # k_proj, v_proj
                 + c.n_heads * dh * c.d_model               # o_proj
                 + (4 * c.n_kv_heads if kvshift else 0)     # kw, vw: [Hkv, 2] each
                 + c.d_model                                # MLP RMSNorm
                 + 3 * c.d_model * c.d_ff)                  # gate, up, down
    return (c.vocab_size * c.d_model + c.n_layers * per_layer + c.d_model
            + (0 if c.tie_embeddings else c.vocab_size * c.d_model))


CONFIGS = [
    LlamaConfig(vocab_size=97, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=72,
                max_seq_len=16, rope_theta=10000.0, tie_embeddings=True, norm_eps=1e-6),
    LlamaConfig(vocab_size=50, d_model=24, n_layers=3, n_heads=6, n_kv_heads=3, d_ff=40,
                max_seq_len=12, rope_theta=None, tie_embeddings=False, norm_eps=1e-5),
    LlamaConfig(vocab_size=64, d_model=16, n_layers=1, n_heads=2, n_kv_heads=1,
                max_seq_len=8, rope_theta=100.0, tie_embeddings=True),   # default d_ff
]
for cfg in CONFIGS:
    for impl in ("kvshift", "vanilla"):
        tag = "V=%d d=%d L=%d H=%d Hkv=%d rope=%s tied=%s %s" % (
            cfg.vocab_size, cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.n_kv_heads,
            cfg.rope_theta, cfg.tie_embeddings, impl)
        torch.manual_seed(1)
        model = KVShiftLlama(cfg, attention_impl=impl)
        exp = expected_params(model.config, impl == "kvshift")
        n = sum(p.numel() for p in model.parameters())
        C.check(n == exp, "parameter count %d, expected %d: %s" % (n, exp, tag))
        C.check(model.num_parameters() == exp and model.config.num_parameters() == exp,
                "num_parameters() " + tag)
        attn_cls = kt.KVShiftAttention if impl == "kvshift" else kt.VanillaAttention
        C.check(all(type(b.attn) is attn_cls for b in model.layers), "attention class " + tag)
        names = [nm for nm, _ in model.named_parameters()]
        n_mix = sum(nm.endswith(".kw") or nm.endswith(".vw") for nm in names)
        C.check(n_mix == (2 * cfg.n_layers if impl == "kvshift" else 0), "kw/vw count " + tag)

        # Tied: one Parameter, one storage; untied: separate.
        same = model.lm_head.weight is model.embed.weight
        shared = model.lm_head.weight.data_ptr() == model.embed.weight.data_ptr()
        C.check(same == shared == cfg.tie_embeddings, "tied embeddings " + tag)

        # Forward and backward.
        B, S = 2, cfg.max_seq_len
        tokens = torch.randint(0, cfg.vocab_size, (B, S), dtype=torch.int64)
        logits = model(tokens)
        C.check(logits.shape == (B, S, cfg.vocab_size) and logits.dtype == torch.float32,
                "logits shape %s %s" % (tuple(logits.shape), tag))
        C.check(bool(torch.isfinite(logits).all()), "finite logits " + tag)
        loss = model.loss(tokens)
        C.check(abs(loss.item() - math.log(cfg.vocab_size)) < 0.5,
                "initial loss %.3f near log(V) %s" % (loss.item(), tag))
        loss.backward()
        missing = [nm for nm, p in model.named_parameters()
                   if p.grad is None or not bool(torch.isfinite(p.grad).all())
                   or float(p.grad.abs().sum()) == 0.0]
        C.check(not missing, "parameters without a gradient %s: %s" % (missing, tag))
        if cfg.tie_embeddings:
            # The shared weight's gradient is the sum of both uses.
            C.check(model.embed.weight.grad is model.lm_head.weight.grad, "one grad when tied")

        # Causal: changing the last token changes no earlier logits.
        t2 = tokens.clone()
        t2[:, -1] = (t2[:, -1] + 1) % cfg.vocab_size
        with torch.no_grad():
            l1, l2 = model(tokens), model(t2)
        C.close(rel_err(l2[:, :-1], l1[:, :-1]), 1e-6, "causal model " + tag)
        C.check(rel_err(l2[:, -1], l1[:, -1]) > 1e-6, "last position sees its token " + tag)

        # Too long an input is refused.
        C.raises(ValueError, lambda: model(torch.zeros(1, S + 1, dtype=torch.int64)),
                 "max_seq_len " + tag, "max_seq_len")

# A few Adam steps on one fixed batch lower the loss (kvshift model, tied).
torch.manual_seed(3)
cfg = CONFIGS[0]
model = KVShiftLlama(cfg)
tokens = torch.randint(0, cfg.vocab_size, (4, cfg.max_seq_len))
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
kw0 = model.layers[0].attn.kw.detach().clone()
losses = []
for _ in range(15):
    opt.zero_grad()
    loss = model.loss(tokens)
    loss.backward()
    opt.step()
    losses.append(loss.item())
C.check(losses[-1] < losses[0] - 0.3, "training lowers the loss: %.3f -> %.3f"
        % (losses[0], losses[-1]))
C.check(not torch.equal(model.layers[0].attn.kw.detach(), kw0), "kw is trained")
C.check(model.lm_head.weight is model.embed.weight, "still tied after training")
print("15 Adam steps: loss %.3f -> %.3f" % (losses[0], losses[-1]))

# float64 model: logits in float64; the mixing weights stay what .double() makes them.
m64 = KVShiftLlama(CONFIGS[2]).double()
lg = m64(torch.randint(0, 64, (1, 5)))
C.check(lg.dtype == torch.float64, "double() model gives float64 logits")

# RMSNorm and SwiGLU against the formulas.
norm = RMSNorm(8, eps=1e-5)
with torch.no_grad():
    norm.weight.copy_(torch.linspace(0.5, 2.0, 8))
x = torch.randn(3, 4, 8, dtype=torch.float64)
ref = x / torch.sqrt((x * x).mean(-1, keepdim=True) + 1e-5) * norm.weight.double()
C.close(rel_err(norm(x), ref), 1e-15, "RMSNorm float64")
xh = x.to(torch.bfloat16)
C.check(norm(xh).dtype == torch.bfloat16, "RMSNorm keeps bfloat16")
mlp = SwiGLU(8, 12).double()
g, u = x @ mlp.gate_proj.weight.T, x @ mlp.up_proj.weight.T
C.close(rel_err(mlp(x), (g * torch.sigmoid(g) * u) @ mlp.down_proj.weight.T), 1e-15, "SwiGLU")

# Config checks.
C.raises(ValueError, lambda: LlamaConfig(d_model=30, n_heads=4), "d_model % n_heads")
C.raises(ValueError, lambda: LlamaConfig(n_heads=4, n_kv_heads=3), "n_heads % n_kv_heads")
C.raises(ValueError, lambda: LlamaConfig(attention_impl="flash"), "attention_impl")
c = LlamaConfig(d_model=48, n_heads=4)
C.check(c.n_kv_heads == 4 and c.d_ff == 128, "defaults: n_kv_heads = n_heads, d_ff = 8/3 d "
        "rounded up to 8 (%s, %s)" % (c.n_kv_heads, c.d_ff))

# torch.fx traces the whole model with one kv_shift_attention node per layer.
import torch.fx  # noqa: E402
model = KVShiftLlama(CONFIGS[1])
gm = torch.fx.symbolic_trace(model)
nodes = [nd for nd in gm.graph.nodes if nd.target is kt.kv_shift_attention]
C.check(len(nodes) == CONFIGS[1].n_layers, "fx: %d kv_shift_attention nodes" % len(nodes))
tk = torch.randint(0, CONFIGS[1].vocab_size, (2, 6))
C.close(rel_err(gm(tk), model(tk)), 0.0, "fx graph module equals the model")

C.finish()
