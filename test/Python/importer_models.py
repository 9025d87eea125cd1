"""Importer: kvshift.models.KVShiftLlama (small GQA config) and a single
KVShiftAttention module import with one kvshift.kv_shift_attention per
layer, arguments in the documented order, and run equal to PyTorch through
both CPU pipelines; the vanilla model imports unfused; params="constants"
embeds the weights."""

import testutil  # noqa: F401  (sets sys.path)
from testutil import Checker, np, torch
from importer_testlib import check_module

import kvshift  # noqa: F401
from kvshift.models import LlamaConfig, KVShiftLlama
from kvshift.torch import KVShiftAttention

C = Checker("importer_models")
torch.manual_seed(0)

cfg = LlamaConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2,
                  rope_theta=None)
model = KVShiftLlama(cfg)
tokens = torch.randint(0, 64, (2, 9))
text = check_module(C, "KVShiftLlama", model, (tokens,))
C.check(text.count("kvshift.kv_shift_attention") == 2 and text.fused_attention == 2,
        "one kvshift.kv_shift_attention per layer")
C.check("tokens: tensor<2x9xi64>" in text, "token ids are an i64 argument")
# Argument order: the inputs, then the used parameters in state_dict order,
# tied lm_head.weight once (as embed.weight).
sd_names = [n for n in model.state_dict().keys() if n != "lm_head.weight"]
C.check(text.input_names == ["tokens"], "input names %s" % text.input_names)
C.check(text.param_names == sd_names, "param names %s" % text.param_names)
C.check(text.arg_names == ["tokens"] + sd_names, "arg names")
C.check(len(text.arg_types) == 1 + len(sd_names), "arg types")
C.check(text.arg_types[1] == "tensor<64x32xf32>", "embed.weight type")
# bind() from a state_dict equals bind() from the module.
a = text.bind(model.state_dict(), tokens)
b = text.bind(model, tokens)
C.check(len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b)),
        "bind(state_dict) == bind(module)")

# Vanilla attention: the fused op with weights [1, 0], still correct.
torch.manual_seed(1)
van = KVShiftLlama(cfg, attention_impl="vanilla")
t2 = check_module(C, "vanilla Llama", van, (tokens,))
C.check(t2.count("kvshift.kv_shift_attention") == cfg.n_layers,
        "vanilla model: one kv_shift_attention per layer")
C.check("dense<[[1.00000000e+00, 0.00000000e+00]" in t2,
        "vanilla model: weights [1, 0]")

# Untied embeddings, MHA, one layer, batch 1.
torch.manual_seed(2)
cfg2 = LlamaConfig(vocab_size=40, d_model=24, n_layers=1, n_heads=3, rope_theta=None,
                   tie_embeddings=False)
m2 = KVShiftLlama(cfg2)
t3 = check_module(C, "untied MHA Llama", m2, (torch.randint(0, 40, (1, 6)),))
C.check("lm_head.weight" in t3.param_names, "untied lm_head is an argument")

# params="constants": only the input is an argument.
t4 = check_module(C, "KVShiftLlama constants", model, (tokens,), params="constants")
C.check(t4.arg_names == ["tokens"] and t4.param_names == [], "constants: one argument")
C.check('dense<"0x' in t4, "constants: weights embedded as hex dense")

# A KVShiftAttention module alone (GQA, with bias, non-causal and causal).
for causal in (True, False):
    torch.manual_seed(3)
    att = KVShiftAttention(32, 8, 2, causal=causal, bias=True)
    with torch.no_grad():
        att.kw.copy_(torch.tensor([[1.3, -0.4], [0.2, 0.9]]))
    x = torch.randn(2, 11, 32)
    t5 = check_module(C, "KVShiftAttention causal=%s" % causal, att, (x,))
    C.check(t5.count("kvshift.kv_shift_attention") == 1, "one op (causal=%s)" % causal)
    C.check((" causal " in t5) == causal, "causal attribute (causal=%s)" % causal)
    C.check(t5.param_names[:4] == ["kw", "vw", "q_proj.weight", "q_proj.bias"],
            "module param order %s" % t5.param_names)

# Buffers are arguments too (in state_dict order); non-tensor inputs are baked in; bind() takes the example
# inputs as given.
class WithBuffer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(6, 6)
        self.register_buffer("shift", torch.linspace(-1, 1, 6))

    def forward(self, x, scale, y):
        return self.lin(x) * scale + self.shift + y


torch.manual_seed(4)
wb = WithBuffer()
ex = (torch.randn(3, 6), 0.5, torch.randn(6))
t6 = check_module(C, "buffer + baked scalar input", wb, ex)
C.check(t6.input_names == ["x", "y"], "non-tensor input left out: %s" % t6.input_names)
C.check(t6.param_names == list(wb.state_dict().keys()) == ["shift", "lin.weight", "lin.bias"],
        "buffer is an argument, state_dict order: %s" % t6.param_names)
t7 = check_module(C, "buffer constants", wb, ex, params="constants")
C.check(t7.param_names == [] and "dense<[-1.00000000e+00, -6.00000024e-01" in t7,
        "buffer embedded as a constant")

# bfloat16 KV shifting attention (mixing weights stay f32): the op on bf16.
torch.manual_seed(5)
attb = KVShiftAttention(32, 4, 2)
for mod in (attb.q_proj, attb.k_proj, attb.v_proj, attb.o_proj):
    mod.to(torch.bfloat16)
xb = torch.randn(2, 8, 32).to(torch.bfloat16)
t8 = check_module(C, "KVShiftAttention bf16", attb, (xb,), tol=2e-2)
C.check("kvshift.kv_shift_attention" in t8 and "tensor<2x4x8x8xbf16>" in t8
        and "mix(%kw, %vw)" in t8, "bf16 operands, f32 mixing weights")

# Argument names that could clash with value names (an input named like an
# op, a ParameterList 'mul.0' next to helper values '%mul.0', 'cst0').
class Clash(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.mul = torch.nn.ParameterList([torch.nn.Parameter(torch.randn(3)) for _ in range(2)])

    def forward(self, mul, cst0):
        return mul * self.mul[0] + cst0 * self.mul[1] + torch.arange(3)


t9 = check_module(C, "clashing names", Clash(), (torch.randn(3), torch.randn(3)))
C.check(t9.param_names == ["mul.0", "mul.1"] and "%mul.0_: tensor<3xf32>" in t9,
        "renamed arguments keep their recorded names")

# A parameter whose values are never read (only its shape) is no argument.
class ShapeOnly(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.randn(3))
        self.b = torch.nn.Parameter(torch.randn(3))

    def forward(self, x):
        return x * self.a + torch.zeros_like(self.b) + 1


t10 = check_module(C, "shape-only parameter", ShapeOnly(), (torch.randn(3),))
C.check(t10.arg_names == ["x", "a"], "shape-only parameter dropped: %s" % t10.arg_names)

# Eager use is unchanged after importing (the hook is off again).
import kvshift.torch as kt
C.check(kt._trace_hook is None, "trace hook removed after import")
x = torch.randn(1, 4, 32, requires_grad=True)
att(x).sum().backward()
C.check(x.grad is not None and att.kw.grad is not None, "autograd still works")

C.finish()
