"""kvshift.train.import_loss_and_grad: the loss and the gradient of every
parameter of a whole KVShiftLlama (embedding, RMSNorm, GQA attention, SwiGLU,
tied LM head, cross entropy), imported from PyTorch's autograd and run by
kvshift.compile, against torch.autograd.

float64: the attention imports unfused (the kvshift ops take f32/f16/bf16),
so the graph is PyTorch's own backward of everything, and must agree to
rounding (1e-10).  float32: each layer's attention is one
kvshift.kv_shift_attention and one kvshift.kv_shift_attention_grad (the fused
CPU backward), checked against the float64 autograd gradients (2e-5)."""

import copy
import warnings

import testutil  # noqa: F401  (sets sys.path)
from testutil import Checker, np, torch

import kvshift
from kvshift.models import KVShiftLlama, LlamaConfig
from kvshift import train

C = Checker("train_grad")
B, S = 2, 8


def model_of(impl, rope, dtype, layers, seed=0):
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=32, d_model=16, n_layers=layers, n_heads=4, n_kv_heads=2,
                      rope_theta=rope, max_seq_len=16, attention_impl=impl)
    m = KVShiftLlama(cfg)
    # Unconstrained mixing weights, as after some training.
    with torch.no_grad():
        for p in m.parameters():
            if p.shape == (2, 2):
                p.copy_(torch.rand(2, 2) * 2 - 0.5)
    return m.to(dtype)


def reference(model, tokens):
    """(loss, grads) by torch.autograd in float64."""
    m64 = copy.deepcopy(model).double()
    loss = m64.loss(tokens)
    params = [p for _, p in m64.named_parameters()]
    return float(loss), [g.numpy() for g in torch.autograd.grad(loss, params)]


def rel(a, b):
    return float(np.abs(np.asarray(a, np.float64) - b).max() / max(np.abs(b).max(), 1e-30))


# (one layer where two add nothing but compile time on the 2-core machine)
CASES = [  # tag, attention, rope_theta, dtype, layers, tolerance
    ("kvshift GQA f64, 2 layers", "kvshift", None, torch.float64, 2, 1e-10),
    ("kvshift GQA RoPE f64", "kvshift", 10000.0, torch.float64, 1, 1e-10),
    ("vanilla GQA RoPE f64", "vanilla", 10000.0, torch.float64, 1, 1e-10),
    ("kvshift GQA RoPE f32 (fused attention gradient), 2 layers", "kvshift", 10000.0,
     torch.float32, 2, 2e-5),
    ("vanilla GQA f32 (fused attention gradient)", "vanilla", None, torch.float32, 1, 2e-5),
]

gen = torch.Generator().manual_seed(7)
for tag, impl, rope, dtype, layers, tol in CASES:
    model = model_of(impl, rope, dtype, layers)
    tokens = torch.randint(0, 32, (B, S + 1), generator=gen)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        text = train.import_loss_and_grad(model, B, S)
    names = [n for n, _ in model.named_parameters()]
    C.check(text.param_names == names and text.arg_names == names + ["tokens"],
            "%s: arguments are the parameters then tokens: %s" % (tag, text.arg_names[:3]))
    C.check(len(text.result_types) == 1 + len(names) and text.result_types[0] == (
        "tensor<f64>" if dtype == torch.float64 else "tensor<f32>"),
        "%s: results loss + one gradient per parameter" % tag)
    unfused = [x for x in w if "imported unfused" in str(x.message)]
    if dtype == torch.float64:
        C.check(len(unfused) == 1 and text.grad_ops == 0 and text.fused_attention == 0,
                "%s: attention unfused with a warning (%d warnings, %d grad ops)"
                % (tag, len(unfused), text.grad_ops))
    else:
        C.check(not unfused and text.grad_ops == layers and text.fused_attention == layers,
                "%s: one kvshift.kv_shift_attention and one _grad per layer (%d, %d)"
                % (tag, text.fused_attention, text.grad_ops))
        shared = kvshift.opt(text, "func.func(kvshift-share-attention-stats)")
        C.check(shared.count("kvshift.kv_shift_attention_grad_with_lse ") == layers and
                "kvshift.kv_shift_attention_grad " not in shared,
                "%s: kvshift-share-attention-stats pairs each gradient with its forward" % tag)
    fn = kvshift.compile(text)
    params = [p.detach().numpy() for _, p in model.named_parameters()]
    outs = fn(*(params + [tokens.numpy()]))
    loss, grads = reference(model, tokens)
    C.close(abs(float(outs[0]) - loss) / abs(loss), tol, "%s: loss" % tag)
    worst = max((rel(o, g), n) for o, g, n in zip(outs[1:], grads, names))
    C.close(worst[0], tol, "%s: gradients (worst: %s)" % (tag, worst[1]))
    C.check(all(o.dtype == params[0].dtype for o in outs),
            "%s: outputs of the model's dtype" % tag)

C.finish()
