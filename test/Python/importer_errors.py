"""Importer: an unsupported ATen op raises UnsupportedOpError naming the op
and the model source line (never IR); in-place ops on traced values,
non-tensor outputs and bad arguments give clear ImporterErrors; RoPE-enabled
KV shifting attention imports as one op with rope_theta and still matches;
float64 imports unfused with a warning."""

import warnings

import testutil  # noqa: F401  (sets sys.path)
from testutil import Checker, torch
from importer_testlib import check_module

import kvshift
from kvshift.importer import ImporterError, UnsupportedOpError
from kvshift.models import LlamaConfig, KVShiftLlama
from kvshift.torch import KVShiftAttention

C = Checker("importer_errors")
nn = torch.nn


class Cumsum(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        y = self.lin(x)
        return torch.cumsum(y, dim=-1)  # UNSUPPORTED-LINE


class Outer(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = Cumsum()

    def forward(self, x):
        return self.inner(x) * 2


def expect_unsupported(mod, inputs, op, line_marker, tag):
    try:
        text = kvshift.import_module(mod, inputs)
    except UnsupportedOpError as e:
        msg = str(e)
        C.check(isinstance(e, ImporterError), "%s: UnsupportedOpError is an ImporterError" % tag)
        C.check(op in msg, "%s: message names %s: %s" % (tag, op, msg))
        C.check(e.op == op, "%s: e.op = %r" % (tag, e.op))
        src = open(__file__).read().split("\n")
        lineno = [i + 1 for i, l in enumerate(src) if line_marker in l and "marker" not in l][0]
        C.check("importer_errors.py:%d" % lineno in msg,
                "%s: message names the source line %d: %s" % (tag, lineno, msg))
        C.check(src[lineno - 1].strip().split("#")[0].strip() in msg,
                "%s: message quotes the code: %s" % (tag, msg))
        return
    except Exception as e:
        C.check(False, "%s: raised %s: %s" % (tag, type(e).__name__, e))
        return
    C.check(False, "%s: no error; got IR of %d chars" % (tag, len(text)))


x = torch.randn(2, 3, 4)
expect_unsupported(Cumsum(), (x,), "aten.cumsum.default", "# UNSUPPORTED-LINE", "cumsum")
expect_unsupported(Outer(), (x,), "aten.cumsum.default", "# UNSUPPORTED-LINE", "nested cumsum")


class Sort(nn.Module):
    def forward(self, x):
        return x.sort(dim=-1).values + 1  # SORT-LINE


expect_unsupported(Sort(), (x,), "aten.sort.default", "# SORT-LINE", "sort")


class DivFloor(nn.Module):
    def forward(self, x):
        return torch.div(x, 3, rounding_mode="floor")  # DIV-LINE


expect_unsupported(DivFloor(), (x,), "aten.div.Tensor_mode", "# DIV-LINE", "div rounding_mode")


class InPlace(nn.Module):
    def forward(self, x):
        x.add_(1)  # INPLACE-LINE
        return x * 2


try:
    kvshift.import_module(InPlace(), (x.clone(),))
    C.check(False, "in-place update of an input: no error")
except ImporterError as e:
    C.check("in-place update of input 'x'" in str(e) and "copy_" in str(e),
            "in-place update of an input: %s" % e)


class NonTensorOut(nn.Module):
    def forward(self, x):
        return x * 2, 3


C.raises(ImporterError, lambda: kvshift.import_module(NonTensorOut(), (x,)),
         "non-tensor output", contains="not a tensor")
C.raises(ValueError, lambda: kvshift.import_module(Cumsum(), (x,), params="bogus"),
         "bad params mode", contains="params")

# RoPE: one fused op with rope_theta, no warning, matches PyTorch.
torch.manual_seed(0)
att = KVShiftAttention(32, 4, 2, rope_theta=10000.0)
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    text = check_module(C, "KVShiftAttention rope", att, (torch.randn(2, 6, 32),))
msgs = [str(i.message) for i in w if issubclass(i.category, UserWarning)]
C.check(not any("unfused" in m for m in msgs), "RoPE: no unfused warning: %s" % msgs)
C.check(text.fused_attention == 1 and "rope_theta = 1.00000000e+04" in text,
        "RoPE: one fused op with rope_theta")
C.check("math.cos" not in text and "tensor.pad" not in text,
        "RoPE: no rotation or mix as ordinary ops")

cfg = LlamaConfig(vocab_size=48, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2,
                  rope_theta=500.0)
torch.manual_seed(1)
llama = KVShiftLlama(cfg)
text = check_module(C, "KVShiftLlama rope", llama, (torch.randint(0, 48, (1, 8)),))
C.check(text.fused_attention == 2 and text.count("rope_theta = 5.00000000e+02") == 2,
        "Llama RoPE: two fused ops with rope_theta")

# float64: the op takes f32/f16/bf16, so the module imports unfused (warning).
torch.manual_seed(2)
att64 = KVShiftAttention(16, 2).double()
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    t64_ = check_module(C, "KVShiftAttention float64", att64, (torch.randn(1, 5, 16).double(),))
C.check(any("float64" in str(i.message) and "unfused" in str(i.message) for i in w),
        "float64 warning")
C.check(t64_.fused_attention == 0 and "xf64>" in t64_, "float64 unfused in f64")

# An f32 module imports without any warning.
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    kvshift.import_module(KVShiftAttention(16, 2), torch.randn(1, 3, 16))
C.check(not any("unfused" in str(i.message) for i in w), "no warning in f32")

C.finish()
