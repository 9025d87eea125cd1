"""Prints the MLIR that kvshift.import_module emits for small modules
(checked by importer-filecheck.test with FileCheck)."""

import sys

import testutil  # noqa: F401  (sets sys.path)
from testutil import torch

import kvshift
from kvshift.torch import KVShiftAttention

which = sys.argv[1]
torch.manual_seed(0)
if which == "causal":
    # d_model 32, 8 query heads of 4 (scale 1/2), 2 KV heads, causal.
    print(kvshift.import_module(KVShiftAttention(32, 8, 2), torch.randn(2, 7, 32)))
elif which == "noncausal":
    m = KVShiftAttention(48, 3, head_dim=16, causal=False)
    print(kvshift.import_module(m, torch.randn(1, 5, 48), func_name="attn"))
elif which == "functional":
    from kvshift.torch import kv_shift_attention

    class F(torch.nn.Module):
        def forward(self, q, k, v, kw, vw):
            return kv_shift_attention(q, k, v, kw, vw, scale=0.3, causal=True)
    args = (torch.randn(1, 4, 6, 8), torch.randn(1, 2, 6, 8), torch.randn(1, 2, 6, 8),
            torch.rand(2, 2), torch.rand(2, 2))
    print(kvshift.import_module(F(), args))
