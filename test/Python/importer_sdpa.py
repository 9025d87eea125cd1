"""Importer: the lowering of PyTorch 2.x's scaled_dot_product_attention ops.
torch 1.13 has no SDPA, so this test defines stand-ins with the same names
and schemas in a test namespace (the importer dispatches on the op name and
reads arguments by schema name), with PyTorch reference kernels, and checks
the imported IR against them through both CPU pipelines. With torch 2.x the
real F.scaled_dot_product_attention is imported too."""

import math

import testutil  # noqa: F401  (sets sys.path)
from testutil import Checker, torch
from importer_testlib import check_module

C = Checker("importer_sdpa")


def ref_sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
             enable_gqa=False):
    L, S = q.shape[-2], k.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    if q.dim() == 4 and q.shape[1] != k.shape[1]:
        g = q.shape[1] // k.shape[1]
        k = k.repeat_interleave(g, dim=1)
        v = v.repeat_interleave(g, dim=1)
    s = (q.double() @ k.double().transpose(-2, -1)) * scale
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            s = s.masked_fill(~attn_mask, float("-inf"))
        else:
            s = s + attn_mask.double()
    if is_causal:
        s = s.masked_fill(~torch.ones(L, S, dtype=torch.bool).tril(), float("-inf"))
    lse = torch.logsumexp(s, dim=-1)
    return (torch.softmax(s, -1) @ v.double()).to(q.dtype), lse.float()


lib = torch.library.Library("kvshift_sdpa_test", "DEF")
lib.define("scaled_dot_product_attention(Tensor query, Tensor key, Tensor value, "
           "Tensor? attn_mask=None, float dropout_p=0.0, bool is_causal=False, *, "
           "float? scale=None, bool enable_gqa=False) -> Tensor")
lib.define("_scaled_dot_product_flash_attention_for_cpu(Tensor query, Tensor key, "
           "Tensor value, float dropout_p=0.0, bool is_causal=False, *, "
           "Tensor? attn_mask=None, float? scale=None) -> (Tensor output, Tensor logsumexp)")
lib.impl("scaled_dot_product_attention",
         lambda q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
         enable_gqa=False: ref_sdpa(q, k, v, attn_mask, dropout_p, is_causal, scale)[0], "CPU")
lib.impl("_scaled_dot_product_flash_attention_for_cpu",
         lambda q, k, v, dropout_p=0.0, is_causal=False, attn_mask=None, scale=None:
         ref_sdpa(q, k, v, attn_mask, dropout_p, is_causal, scale), "CPU")
ops = torch.ops.kvshift_sdpa_test


class Sdpa(torch.nn.Module):
    def __init__(self, **kw):
        super().__init__()
        self.kw = kw

    def forward(self, q, k, v, *mask):
        if mask:
            # kvshift-run binds no i1 arguments: a bool mask is made here.
            m = mask[0] > 0 if len(mask) == 2 else mask[0]
            return ops.scaled_dot_product_attention(q, k, v, m, **self.kw)
        return ops.scaled_dot_product_attention(q, k, v, **self.kw)


class FlashCpu(torch.nn.Module):
    def __init__(self, **kw):
        super().__init__()
        self.kw = kw

    def forward(self, q, k, v):
        out, lse = ops._scaled_dot_product_flash_attention_for_cpu(q, k, v, **self.kw)
        return out * 2, lse


torch.manual_seed(0)
r = torch.randn
q, k, v = r(2, 4, 6, 8), r(2, 4, 6, 8), r(2, 4, 6, 8)
check_module(C, "sdpa plain", Sdpa(), (q, k, v))
check_module(C, "sdpa causal scale", Sdpa(is_causal=True, scale=0.3), (q, k, v))
check_module(C, "sdpa causal L<S (top-left)", Sdpa(is_causal=True), (q[:, :, :3], k, v))
check_module(C, "sdpa bool mask", Sdpa(), (q, k, v, r(6, 6) + 0.5, "bool"))
check_module(C, "sdpa float mask [B,1,L,S]", Sdpa(), (q, k, v, r(2, 1, 6, 6)))
kg, vg = r(2, 2, 6, 8), r(2, 2, 6, 8)
check_module(C, "sdpa GQA causal", Sdpa(is_causal=True, enable_gqa=True), (q, kg, vg))
check_module(C, "sdpa GQA mask [B,1,L,S]", Sdpa(enable_gqa=True), (q, kg, vg, r(2, 1, 6, 6)))
check_module(C, "sdpa GQA mask [B,H,L,S]", Sdpa(enable_gqa=True), (q, kg, vg, r(2, 4, 6, 6), "bool"))
check_module(C, "sdpa 3-D", Sdpa(), (r(3, 5, 4), r(3, 7, 4), r(3, 7, 2)))
check_module(C, "flash_for_cpu (out, lse)", FlashCpu(is_causal=True), (q, k, v))

# The real op on torch 2.x.
F = torch.nn.functional
if hasattr(F, "scaled_dot_product_attention"):
    class Real(torch.nn.Module):
        def forward(self, q, k, v):
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    check_module(C, "torch 2.x F.scaled_dot_product_attention", Real(), (q, k, v))

C.finish()
