"""RoPE written the plain-PyTorch way, raised into kv_shift_attention's
rope_theta, computes what the program computes:

1. every case of test/Transforms/raise-rope.mlir through the reference
   pipeline (no raising: the rotations and the attention as written) and the
   fused pipeline (raised, the fused kernel rotates), on the same random
   inputs: they agree; rope_* cases carry rope_theta after kvshift-raise,
   norope_* cases do not;
2. a Llama-style attention layer written by hand in PyTorch (projections,
   the paper's pad + weighted-sum shift, cos/sin buffers sliced to the
   sequence length, rotate_half, GQA by repeat_interleave), imported with
   params="constants" (the tables are constants: raised with rope_theta)
   and with params="args" (the tables are arguments: nothing to infer theta
   from, so the rotation stays): logits against PyTorch's.
"""

import os
import re

import testutil  # noqa: F401  (sets sys.path)
from testutil import Checker

import numpy as np
import torch
import torch.nn.functional as F

import kvshift
from kvshift.torch import KVShiftAttention

c = Checker("raise_rope")
rng = np.random.default_rng(5)

# 1. The FileCheck cases, numerically.
path = os.path.join(testutil.REPO, "test", "Transforms", "raise-rope.mlir")
cases = [x for x in open(path).read().split("// -----") if "func.func" in x]
c.check(len(cases) == 7, "expected 7 cases in raise-rope.mlir, found %d" % len(cases))
for case in cases:
    name = re.search(r"func\.func @(\w+)\(", case).group(1)
    raised = kvshift.opt(case, "func.func(kvshift-raise,canonicalize)")
    has_rope = "rope_theta =" in raised
    c.check(has_rope == name.startswith("rope_"),
            "%s: rope_theta after raising: %s" % (name, has_rope))
    ref = kvshift.compile(case, pipeline="kvshift-to-llvm-cpu")
    fused = kvshift.compile(case)
    for magnitude in (1.0, 4.0):
        args = [(magnitude * rng.standard_normal(a.shape)).astype(np.float32)
                for a in ref.arguments]
        a, b = ref(*args), fused(*args)
        err = np.abs(a - b).max() / np.abs(a).max()
        c.close(err, 2e-5, "%s (x%g): reference vs raised+fused" % (name, magnitude))


# 2. A hand-written layer, end to end.
def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


class PlainRopeLayer(torch.nn.Module):
    def __init__(self, d=64, h=4, hkv=2, theta=10000.0, max_len=128):
        super().__init__()
        self.inner = KVShiftAttention(d, h, hkv)
        D = d // h
        inv = 1.0 / theta ** (torch.arange(0, D, 2).float() / D)
        freqs = torch.outer(torch.arange(max_len).float(), inv)
        emb = torch.cat((freqs, freqs), -1)
        self.register_buffer("cos_cached", emb.cos())
        self.register_buffer("sin_cached", emb.sin())

    def forward(self, x):
        a = self.inner
        B, S, _ = x.shape
        H, Hkv, D = a.n_heads, a.n_kv_heads, a.head_dim
        q = a.q_proj(x).view(B, S, H, D).transpose(1, 2)
        k = a.k_proj(x).view(B, S, Hkv, D).transpose(1, 2)
        v = a.v_proj(x).view(B, S, Hkv, D).transpose(1, 2)
        a1, a2 = a.kw[:, 0].view(Hkv, 1, 1), a.kw[:, 1].view(Hkv, 1, 1)
        b1, b2 = a.vw[:, 0].view(Hkv, 1, 1), a.vw[:, 1].view(Hkv, 1, 1)
        k_hat = a1 * k + a2 * F.pad(k, (0, 0, 1, 0))[:, :, :-1]
        v_hat = b1 * v + b2 * F.pad(v, (0, 0, 1, 0))[:, :, :-1]
        cos, sin = self.cos_cached[:S], self.sin_cached[:S]
        q = q * cos + rotate_half(q) * sin
        k_hat = k_hat * cos + rotate_half(k_hat) * sin
        k_hat = k_hat.repeat_interleave(H // Hkv, dim=1)
        v_hat = v_hat.repeat_interleave(H // Hkv, dim=1)
        scores = q @ k_hat.transpose(-2, -1) * (D ** -0.5)
        scores = scores.masked_fill(torch.ones(S, S).triu(1).bool(), float("-inf"))
        out = scores.softmax(-1) @ v_hat
        return a.o_proj(out.transpose(1, 2).reshape(B, S, H * D))


for theta, S in ((10000.0, 37), (500000.0, 64)):
    torch.manual_seed(int(theta) % 97)
    layer = PlainRopeLayer(theta=theta).eval()
    x = torch.randn(2, S, 64)
    with torch.no_grad():
        want = layer(x).numpy()
    for params, raises in (("constants", True), ("args", False)):
        name = "layer theta=%g S=%d params=%s" % (theta, S, params)
        text = kvshift.import_module(layer, (x,), params=params)
        raised = kvshift.opt(str(text), "func.func(kvshift-raise,canonicalize)")
        ops = re.findall(r"kvshift\.kv_shift_attention .*", raised)
        c.check(len(ops) == 1, "%s: %d attention ops after raising" % (name, len(ops)))
        c.check(("rope_theta = %s" % ("1.000000e+04" if theta == 10000.0 else "5.000000e+05")
                 in raised) == raises, "%s: rope_theta raised: %s" % (name, not raises))
        fn = kvshift.compile(str(text))
        got = fn(*text.bind(layer, x))
        c.close(np.abs(got - want).max() / np.abs(want).max(), 1e-4,
                "%s: logits vs PyTorch" % name)
c.finish()
