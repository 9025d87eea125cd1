"""Importer: the backward ATen ops that PyTorch's autograd records in a traced
train step (kvshift.train), each called directly in a small module, imported,
run through kvshift-run (default fused pipeline and kvshift-to-llvm-cpu) and
compared with PyTorch eager; the attention's gradient op
(kvshift_importer.kv_shift_attention_grad -> kvshift.kv_shift_attention_grad)
against autograd of the reference; its closed-form CPU kernel against
autograd in float64."""

import sys

import testutil  # noqa: F401  (sets sys.path)
from testutil import Checker, torch
from importer_testlib import check_module

import torch.nn.functional as F
from kvshift import importer
import kvshift.torch as kt

C = Checker("importer_backward")
nn = torch.nn
aten = torch.ops.aten
f64 = torch.float64


class Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


def r(*shape, dtype=torch.float32):
    return torch.randn(*shape, dtype=dtype)


torch.manual_seed(0)
_y = torch.softmax(r(3, 4, 7), -1)
_ly = torch.log_softmax(r(6, 9), -1)
_t = torch.tensor([2, 0, 8, -100, 8, 5])          # -100: ignored
_w = torch.rand(9) + 0.5
_ids = torch.tensor([[3, 1, 3], [0, 3, 9]])       # repeated ids
CASES = [
    ("_softmax_backward_data (last dim, dim 1)",
     Fn(lambda g, y: (aten._softmax_backward_data(g, y, -1, torch.float32),
                      aten._softmax_backward_data(g, y, 1, torch.float32))),
     (r(3, 4, 7), _y)),
    ("_log_softmax_backward_data",
     Fn(lambda g, y: aten._log_softmax_backward_data(g, y, 1, torch.float32)), (r(6, 9), _ly)),
    ("nll_loss forward (mean, sum, none; ignore_index; class weights)",
     Fn(lambda x, t, w: (F.nll_loss(x, t), F.nll_loss(x, t, reduction="sum"),
                         F.nll_loss(x, t, reduction="none"), F.nll_loss(x, t, weight=w),
                         F.cross_entropy(x, t.clamp(min=0), ignore_index=8),
                         F.nll_loss(x[0], t[0]))),
     (_ly, _t, _w)),
    ("nll_loss_backward (mean with ignored rows, sum, none, weights)",
     Fn(lambda x, t, w, g0, g1: (
         aten.nll_loss_backward(g0, x, t, None, 1, -100, torch.tensor(5.0)),
         aten.nll_loss_backward(g0, x, t, None, 2, -100, torch.tensor(5.0)),
         aten.nll_loss_backward(g1, x, t, None, 0, -100, torch.tensor(0.0)),
         aten.nll_loss_backward(g0, x, t, w, 1, -100, (w[_t.clamp(min=0)] * (_t >= 0)).sum()))),
     (_ly, _t, _w, torch.tensor(1.5), r(6))),
    ("embedding_dense_backward (repeated ids; padding_idx 3)",
     Fn(lambda g, i: (aten.embedding_dense_backward(g, i, 10, -1, False),
                      aten.embedding_dense_backward(g, i, 10, 3, False))),
     (r(2, 3, 5), _ids)),
    ("embedding_dense_backward float64",
     Fn(lambda g, i: aten.embedding_dense_backward(g, i, 10, -1, False)),
     (r(2, 3, 5, dtype=f64), _ids)),
    ("select_backward, slice_backward (step 2, negative start)",
     Fn(lambda a, b: (aten.select_backward(a, [3, 4, 5], 1, -2),
                      aten.slice_backward(b, [3, 9, 5], 1, 1, 9223372036854775807, 2),
                      aten.slice_backward(b, [3, 6, 5], 1, -4, 9223372036854775807, 1))),
     (r(3, 5), r(3, 4, 5))),
    ("threshold_backward, silu_backward, sigmoid_backward, tanh_backward",
     Fn(lambda g, x: (aten.threshold_backward(g, x, 0.0), aten.threshold_backward(g, x, 0.5),
                      aten.silu_backward(g, x), aten.sigmoid_backward(g, torch.sigmoid(x)),
                      aten.tanh_backward(g, torch.tanh(x)))),
     (r(4, 6), r(4, 6))),
    ("gelu_backward (none, tanh)",
     Fn(lambda g, x: (aten.gelu_backward(g, x), aten.gelu_backward(g, x, approximate="tanh"))),
     (r(4, 6), 2 * r(4, 6))),
    ("pow with integer exponents (x^3: rsqrt's gradient; x^-3, x^4; math.fpowi)",
     Fn(lambda x: (x.pow(3), x.pow(-3), x.pow(4), torch.rsqrt(x.abs() + 1).pow(3))),
     (r(4, 5) + 3,)),
]

only = sys.argv[1] if len(sys.argv) > 1 else None
for tag, mod, inputs in CASES:
    if only and only not in tag:
        continue
    try:
        check_module(C, tag, mod, inputs)
    except Exception as e:  # an import error is a failure of this case
        C.check(False, "%s: %s: %s" % (tag, type(e).__name__, e))


# -- the attention's gradient op --------------------------------------------
def grads_autograd(q, k, v, kw, vw, do, scale, causal, rope):
    xs = [x.detach().double().requires_grad_(True) for x in (q, k, v, kw, vw)]
    out = kt.kv_shift_attention(*xs, scale=scale, causal=causal, rope_theta=rope)
    return torch.autograd.grad(out, xs, do.double())


# The closed-form CPU kernel of the custom op (what tracing runs) = autograd.
for causal, rope, sq in ((True, None, 6), (False, 50.0, 4), (True, 50.0, 4)):
    ins = [r(2, 4, sq, 6, dtype=f64), r(2, 2, 6, 6, dtype=f64), r(2, 2, 6, 6, dtype=f64),
           r(2, 2, dtype=f64), r(2, 2, dtype=f64), r(2, 4, sq, 6, dtype=f64)]
    got = importer.attention_grad_reference(*ins, 0.4, causal, rope)
    ref = grads_autograd(*ins, 0.4, causal, rope)
    C.close(max(float((a - b).abs().max() / b.abs().max()) for a, b in zip(got, ref)), 1e-12,
            "attention_grad_reference causal=%s rope=%s Sq=%d" % (causal, rope, sq))

importer._define_op()
ns = getattr(torch.ops, importer._OP_NS)
for causal, rope in ((True, None), (True, 100.0), (False, None)):
    tag = "kv_shift_attention_grad causal=%s rope=%s (GQA 4/2)" % (causal, rope)
    if only and only not in tag:
        continue
    q, k, v = r(2, 4, 8, 8), r(2, 2, 8, 8), r(2, 2, 8, 8)
    kw, vw, do = torch.rand(2, 2), torch.rand(2, 2) - 0.5, r(2, 4, 8, 8)
    extra = (rope,) if rope is not None else ()
    mod = Fn(lambda q, k, v, kw, vw, do: tuple(ns.kv_shift_attention_grad(
        q, k, v, kw, vw, do, 0.3, causal, *extra)))
    text = importer.import_module(mod, (q, k, v, kw, vw, do))
    C.check(text.count("kvshift.kv_shift_attention_grad ") == 1 and
            ("rope_theta" in text) == (rope is not None),
            "%s: one kvshift.kv_shift_attention_grad op" % tag)
    ref = [g.float() for g in grads_autograd(q, k, v, kw, vw, do, 0.3, causal, rope)]

    class Ref(nn.Module):          # check_module's reference: autograd's gradients
        def forward(self, *xs):
            return tuple(ref)
    check_module(C, tag, Ref(), (q, k, v, kw, vw, do), text=text, tol=2e-5)

C.finish()
