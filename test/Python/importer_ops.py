"""Importer: one small module per supported ATen op family, imported, run
through kvshift-run (default fused pipeline and kvshift-to-llvm-cpu) and
compared with PyTorch eager (max |out - ref| / max |ref| < 1e-4)."""

import sys

import testutil  # noqa: F401  (sets sys.path)
from testutil import Checker, torch
from importer_testlib import check_module

import torch.nn.functional as F
from kvshift.models import RMSNorm, SwiGLU

C = Checker("importer_ops")
nn = torch.nn


class Fn(nn.Module):
    """A module from a function (and optional parameters)."""

    def __init__(self, fn, **params):
        super().__init__()
        self.fn = fn
        for k, v in params.items():
            setattr(self, k, nn.Parameter(v))

    def forward(self, *xs):
        return self.fn(self, *xs)


def r(*shape):
    return torch.randn(*shape)


def _inplace(a, b):
    s = a * 2
    s.masked_fill_(torch.ones(4, 4).triu(1).bool(), float("-inf"))
    s = s.softmax(-1)
    s.add_(1)
    s[:, 1:3, 0] = b[:, :2]
    s[:, 0] = 0.25
    s[1].mul_(b[0])
    t = torch.zeros(2, 4)
    t.fill_(3.0)
    t[0] = b[1]
    return s, t * b


torch.manual_seed(0)
CASES = [
    # matmul family
    ("linear+bias (addmm)", nn.Linear(8, 6), (r(3, 8),)),
    ("linear 3-D (mm + views)", nn.Linear(8, 5, bias=False), (r(2, 3, 8),)),
    ("linear 3-D + bias", nn.Linear(8, 5), (r(2, 3, 8),)),
    ("mm / t", Fn(lambda m, a, b: torch.mm(a, b.t())), (r(4, 6), r(5, 6))),
    ("bmm", Fn(lambda m, a, b: torch.bmm(a, b)), (r(3, 4, 6), r(3, 6, 2))),
    ("matmul 4-D broadcast", Fn(lambda m, a, b: a @ b), (r(2, 1, 5, 4), r(3, 4, 6))),
    ("matmul 2-D", Fn(lambda m, a, b: torch.matmul(a, b)), (r(5, 4), r(4, 3))),
    ("mv/dot (matrix-vector, vector-vector, vector-matrix)",
     Fn(lambda m, a, v: (a @ v, torch.dot(v, v), v[:4] @ a)), (r(4, 6), r(6))),
    ("addmm alpha/beta", Fn(lambda m, c, a, b: torch.addmm(c, a, b, beta=0.5, alpha=2.0)),
     (r(4, 3), r(4, 5), r(5, 3))),
    # elementwise
    ("add/sub/mul/div broadcast", Fn(lambda m, a, b: (a + b) * (a - b) / (b * b + 1.0)),
     (r(2, 3, 4), r(3, 1))),
    ("scalars, alpha, rsub", Fn(lambda m, a: torch.add(a, a, alpha=3) - 2 * a + 1.5 - (1 - a) / 4),
     (r(5, 4),)),
    ("neg/pow/rsqrt/sqrt/exp/log", Fn(lambda m, a: -a.pow(3) + torch.rsqrt(a.abs() + 1)
                                      + (a * a).sqrt() + torch.exp(-a) + torch.log(a * a + 1)
                                      + a.pow(2) + (a.abs() + 1).pow(0.5) + (a.abs() + 1) ** 1.7),
     (r(3, 7),)),
    ("pow tensor/tensor, reciprocal", Fn(lambda m, a, b: torch.pow(a.abs() + 0.5, b)
                                        + torch.reciprocal(a.abs() + 1)), (r(4, 4), r(4))),
    ("tanh/sigmoid/abs/clamp/min/max",
     Fn(lambda m, a, b: torch.tanh(a) + torch.sigmoid(b) + a.abs().clamp(0.1, 0.8)
        + torch.maximum(a, b) - torch.minimum(a, b) + a.clamp(min=-0.5)),
     (r(6, 5), r(6, 5))),
    ("comparisons + where", Fn(lambda m, a, b: torch.where(a > b, a, b * 2) + (a <= 0.1).float()
                               + (a == a).float() - (b != 0.3).float() + (a >= b).float()
                               + torch.where(a < 0, 0.0, a)),
     (r(4, 6), r(4, 6))),
    ("gelu/silu/relu/erf", Fn(lambda m, a: F.gelu(a) + F.silu(a) + F.relu(a)
                              + F.gelu(a, approximate="tanh") + torch.erf(a)), (r(3, 9) * 3,)),
    ("sin/cos/floor/ceil", Fn(lambda m, a: torch.sin(a) * torch.cos(a) + a.floor() - a.ceil()),
     (r(4, 5) * 3,)),
    ("SwiGLU", SwiGLU(8, 12), (r(2, 5, 8),)),
    # reductions
    ("mean/sum keepdim, dims", Fn(lambda m, a: a.mean(-1, keepdim=True) + a.sum(dim=(0, 2))[None, :, None]
                                  + a.sum(1, keepdim=True)), (r(2, 3, 4),)),
    ("sum/mean all, amax/amin", Fn(lambda m, a: (a.sum() + a.mean(),
                                                 a.amax(-1) - a.amin(dim=(0, 1)).sum(),
                                                 a.max() + a.min())), (r(3, 4, 5),)),
    ("softmax/log_softmax", Fn(lambda m, a: (torch.softmax(a, -1), F.log_softmax(a, dim=1),
                                             a.softmax(0))), (r(3, 4, 5) * 4,)),
    ("layer_norm", nn.LayerNorm(8), (r(2, 3, 8),)),
    ("layer_norm 2-D normalized, no affine", nn.LayerNorm([3, 8], elementwise_affine=False),
     (r(2, 3, 8),)),
    ("RMSNorm (pow, mean, rsqrt, mul)", RMSNorm(8), (r(2, 3, 8),)),
    # views and layout
    ("view/reshape/flatten/unsqueeze/squeeze",
     Fn(lambda m, a: a.view(6, 4).reshape(2, 12).flatten().unsqueeze(0).unsqueeze(-1)
        .squeeze(0).reshape(4, 2, 3)), (r(2, 3, 4),)),
    ("expand/transpose/permute/contiguous/clone",
     Fn(lambda m, a: a[:, None].expand(2, 5, 3, 4).transpose(1, 3).contiguous()
        .permute(3, 0, 2, 1).clone() * 1.0), (r(2, 3, 4),)),
    ("reshape of a transpose", Fn(lambda m, a: a.transpose(0, 1).reshape(3, 8) + 0.0),
     (r(2, 3, 4),)),
    # slicing and joining
    ("slice/select/step", Fn(lambda m, a: a[:, 1:3] + a[:, -2:, ::2].sum(-1, keepdim=True)
                             + a[1][None, :2, :1] + a.select(2, 3)[:, :2, None]),
     (r(3, 4, 5),)),
    ("cat/split/chunk/unbind/stack", Fn(lambda m, a, b: torch.cat([b, a, b], dim=1).split(2, dim=1)[1]
                                        + torch.cat(a.chunk(2, -1)[::-1], -1)[:, :2]
                                        + torch.stack(a.unbind(0))[0][None, :2]
                                        + torch.stack([a, a * 2], dim=-1)[:, :2, :, 1]),
     (r(2, 3, 4), r(2, 1, 4))),
    ("split_with_sizes/cat dim0", Fn(lambda m, a: torch.cat(a.split([1, 3, 2], dim=0)[::-1])),
     (r(6, 3),)),
    ("constant_pad_nd (pos/neg/value)", Fn(lambda m, a: F.pad(a, (1, 2, 0, 1), value=0.5)
                                            .sum() + F.pad(a, (-1, 1, 2, -1))),
     (r(2, 4, 5),)),
    ("repeat_interleave/index_select/repeat",
     Fn(lambda m, a: a.repeat_interleave(2, dim=1) + a.index_select(1, torch.tensor([0, 0, 2, 1, 1, 2]))
        + a.repeat(1, 2, 1)), (r(2, 3, 4),)),
    ("repeat_interleave GQA form", Fn(lambda m, k: torch.repeat_interleave(k, 3, dim=1)),
     (r(1, 2, 4, 3),)),
    ("embedding (i64 ids)", nn.Embedding(11, 4), (torch.tensor([[1, 0, 10], [3, 3, 7]]),)),
    ("index_select with input ids", Fn(lambda m, w, i: w.index_select(0, i)),
     (r(7, 3), torch.tensor([6, 0, 2, 2], dtype=torch.int32))),
    # masks and constants
    ("masked_fill/ones/triu/tril/full/arange/zeros",
     Fn(lambda m, a: a.masked_fill(torch.ones(4, 4).triu(1).bool(), float("-inf")).softmax(-1)
        + a.masked_fill(torch.tril(torch.ones(4, 4, dtype=torch.bool), -1), 2.0)
        + torch.full((4,), 0.25) * torch.arange(4).float() + torch.zeros(4, 1)),
     (r(2, 4, 4),)),
    ("large causal mask (bit-packed i1 hex), S=80",
     Fn(lambda m, a: a.masked_fill(torch.ones(80, 80).triu(1).bool(), float("-inf")).softmax(-1)),
     (r(1, 80, 80),)),
    ("mask from arange compare, zeros_like, ~mask",
     Fn(lambda m, a: a.masked_fill(~(torch.arange(5)[None, :] <= torch.arange(5)[:, None]), -1e9)
        + torch.zeros_like(a) + torch.ones_like(a) * 2),
     (r(5, 5),)),
    ("triu/tril of traced values", Fn(lambda m, a: a.triu(1) + a.tril(-1) * 2 + a.triu()),
     (r(2, 5, 5),)),
    ("masked_fill with a traced mask", Fn(lambda m, a, b: a.masked_fill(b > 0, 0.0)),
     (r(3, 4), r(3, 4))),
    ("dtype casts (int, bool, f16, f64)",
     Fn(lambda m, a, i: (a.to(torch.float16).float() + i.float() + (a > 0).to(torch.int64)
                         + a.double().float() + i.to(torch.int32).float() * 0.5)),
     (r(3, 4), torch.randint(-5, 5, (3, 4)))),
    ("integer arithmetic", Fn(lambda m, i, j: ((i + j) * 3 - j).float() / 2),
     (torch.randint(-5, 5, (3, 4)), torch.randint(-5, 5, (4,)))),
    ("parameters broadcast [H,1,1] and [1,H,1,1]",
     Fn(lambda m, x: m.w1 * x + m.w2 * x, w1=r(2, 1, 1), w2=r(1, 2, 1, 1)), (r(3, 2, 4, 5),)),
    # more activations and pointwise ops
    ("leaky_relu/elu/softplus/mish/hardtanh/relu6/hardswish/hardsigmoid",
     Fn(lambda m, a: F.leaky_relu(a, 0.2) + F.elu(a, alpha=0.7) + F.softplus(a, beta=2.0)
        + F.mish(a) + F.hardtanh(a, -0.5, 0.7) + F.relu6(a * 4) + F.hardswish(a * 3)
        + F.hardsigmoid(a * 3) + F.softplus(a * 30)), (r(4, 7),)),
    ("log1p/expm1/log2/log10/exp2/trunc/round/sign",
     Fn(lambda m, a: torch.log1p(a.abs()) + torch.expm1(a) + torch.log2(a.abs() + 1)
        + torch.log10(a.abs() + 1) + torch.exp2(a) + torch.trunc(a * 3) + torch.round(a * 3)
        + torch.sign(a) + torch.round(torch.tensor([0.5, 1.5, 2.5, -0.5]))), (r(3, 4),)),
    ("remainder/fmod (float, int)",
     Fn(lambda m, a, i: torch.remainder(a * 5, 0.7) + torch.fmod(a * 5, 0.7)
        + torch.remainder(i, 3).float() + torch.fmod(i, -3).float() + (a * 3) % 1.3),
     (r(4, 5), torch.randint(-9, 9, (4, 5)))),
    ("addcmul/addcdiv/lerp", Fn(lambda m, a, b: torch.addcmul(a, a, b, value=0.5)
                                + torch.addcdiv(a, a, b.abs() + 1, value=2)
                                + torch.lerp(a, b, 0.3) + torch.lerp(a, b, b.sigmoid())),
     (r(3, 4), r(3, 4))),
    ("glu/flip/roll", Fn(lambda m, a: F.glu(a, -1)[..., :2] + a.flip(0)[..., :2]
                         + torch.roll(a, 2, 1)[..., :2] + torch.roll(a, (-1, 3), (0, 2))[..., :2]),
     (r(3, 5, 4),)),
    # more reductions
    ("var/std/var_mean", Fn(lambda m, a: (a.var(-1, keepdim=True) + a.std(-1, keepdim=True)
                                          + a.var(dim=(0, 1), unbiased=False),
                                          torch.var_mean(a, 1)[0], torch.var_mean(a, 1)[1],
                                          a.std())), (r(3, 4, 5),)),
    ("logsumexp/prod/any/all/norm",
     Fn(lambda m, a: (torch.logsumexp(a, -1), torch.logsumexp(a, (0, 1), keepdim=True),
                      a.prod(-1), (a > 0).any(-1).float(), (a > -1).all().float(),
                      torch.norm(a, dim=-1), F.normalize(a, dim=-1),
                      torch.linalg.vector_norm(a, ord=3, dim=(0, 2)), a.norm(p=1),
                      torch.logsumexp(torch.full((2, 3), float("-inf")) + a[0, :2, :3], -1))),
     (r(2, 3, 4),)),
    ("max.dim/min.dim/argmax/argmin", Fn(lambda m, a: (a.max(-1).values, a.max(1)[1],
                                                       a.min(0, keepdim=True)[0],
                                                       a.argmax(-1), a.argmin(), a.argmax(0))),
     (r(3, 4, 5),)),
    ("baddbmm", Fn(lambda m, c, a, b: torch.baddbmm(c, a, b, beta=0.5, alpha=2.0)
                   + torch.baddbmm(c, a, b)), (r(2, 3, 4), r(2, 3, 5), r(2, 5, 4))),
    ("einsum", Fn(lambda m, a, b: torch.einsum("bhqd,bhkd->bhqk", a, b)),
     (r(2, 3, 4, 5), r(2, 3, 6, 5))),
    # indexing
    ("index (x[i], x[:, i], x[i, :, j], negative)",
     Fn(lambda m, a, i, j: (a[i], a[:, i], a[i, :, j], a[:, :, torch.tensor([-1, 0])],
                            a[i[:, None], j[None, :] % 5])),
     (r(4, 5, 6), torch.tensor([3, 0, 1]), torch.tensor([5, 2, 2]))),
    ("gather", Fn(lambda m, a, i: (torch.gather(a, 1, i), torch.gather(a, 0, i[:2, :3] % 2))),
     (r(3, 5), torch.randint(0, 5, (3, 4)))),
    # in-place ops on intermediate values (traced again through functionalize)
    ("in-place on intermediates (masked_fill_, add_, slice/select assignment, fill_)",
     Fn(lambda m, a, b: _inplace(a, b)), (r(2, 4, 4), r(2, 4))),
    ("several outputs, an input returned", Fn(lambda m, a: (a * 2, a, a.sum(-1))), (r(2, 3),)),
]

only = sys.argv[1] if len(sys.argv) > 1 else None
for tag, mod, inputs in CASES:
    if only and only not in tag:
        continue
    try:
        check_module(C, tag, mod, inputs)
    except Exception as e:  # an import error is a failure of this case
        C.check(False, "%s: %s: %s" % (tag, type(e).__name__, e))

C.finish()
