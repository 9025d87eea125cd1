"""End to end: torch models imported with kvshift.import_module, raised,
fused, compiled with kvshift.compile and run on the CPU, against PyTorch's
own forward in float32 (max relative error below 1e-4):

- KVShiftLlama (GQA, odd sequence length, batch 2): KVShiftAttention imports
  as kvshift.kv_shift_attention directly;
- the vanilla-attention Llama;
- the same network with the attention written the paper's way in plain
  PyTorch (examples/run_model.py's PaperWayAttention; GQA through
  repeat_interleave, and MHA): the raising pass must
  find every layer's attention (counted with kvshift.opt), and the compiled
  model must agree;
- both CPU pipelines (fused, the default, and the reference);
- a model with RoPE (the op with rope_theta, fused) agrees too.
"""

import os
import sys
import warnings

import testutil  # noqa: F401  (sets sys.path)
from testutil import Checker, rel_err

import numpy as np
import torch

import kvshift
from kvshift.models import KVShiftLlama, LlamaConfig

sys.path.insert(0, os.path.join(testutil.REPO, "examples"))
from run_model import paper_way  # noqa: E402

c = Checker("e2e_models")
torch.manual_seed(7)


def forward(model, tokens):
    with torch.no_grad():
        return model(tokens).float().numpy()


def raised_count(model, tokens):
    text = kvshift.import_module(model, (tokens,))
    return kvshift.opt(text, "func.func(kvshift-raise,canonicalize)").count(
        "kvshift.kv_shift_attention"), text


def check_model(name, model, tokens, expect_ops, pipelines=(None,)):
    ref = forward(model, tokens)
    n, text = raised_count(model, tokens)
    c.check(n == expect_ops, "%s: %d kv_shift_attention ops after raising, "
            "expected %d" % (name, n, expect_ops))
    for pipeline in pipelines:
        fn = kvshift.compile(model, example_inputs=(tokens,),
                             pipeline=pipeline)
        out = fn(tokens)
        err = rel_err(out, ref)
        c.check(out.shape == ref.shape, "%s: shape %s vs %s"
                % (name, out.shape, ref.shape))
        c.check(err < 1e-4, "%s (%s): max rel err %.3g" % (
            name, pipeline or "default pipeline", err))
    return text


base = dict(vocab_size=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2,
            max_seq_len=32, rope_theta=None)
tokens = torch.randint(0, 64, (2, 13))

# 1. KVShiftLlama with GQA: the module maps to the op.
model = KVShiftLlama(LlamaConfig(**base)).eval()
text = check_model("KVShiftLlama GQA", model, tokens, 2,
                   pipelines=(None, "kvshift-to-llvm-cpu"))
c.check(text.count("kvshift.kv_shift_attention") == 2,
        "KVShiftAttention did not import as the op")

# Untied head, one sequence of length 1.
model1 = KVShiftLlama(LlamaConfig(**dict(base, tie_embeddings=False))).eval()
check_model("KVShiftLlama S=1", model1, torch.randint(0, 64, (1, 1)), 2)

# 2. Vanilla attention.
vanilla = KVShiftLlama(LlamaConfig(**dict(base, attention_impl="vanilla"))).eval()
check_model("vanilla Llama", vanilla, tokens, 2)

# 3. The paper's way in plain PyTorch (GQA by repeat_interleave, and MHA):
# raised, fused, equal.
for kv_heads in (2, 4):
    m = KVShiftLlama(LlamaConfig(**dict(base, n_kv_heads=kv_heads))).eval()
    plain = paper_way(m)
    c.check(np.allclose(forward(plain, tokens), forward(m, tokens), rtol=1e-4,
                        atol=1e-5), "PaperWayAttention does not match the module")
    check_model("paper-way plain PyTorch, %d KV heads" % kv_heads, plain,
                tokens, 2, pipelines=(None, "kvshift-to-llvm-cpu"))

# 4. RoPE after the mix: the op with rope_theta, both pipelines.
rope = KVShiftLlama(LlamaConfig(**dict(base, rope_theta=10000.0))).eval()
text = check_model("KVShiftLlama RoPE", rope, tokens, 2,
                   pipelines=(None, "kvshift-to-llvm-cpu"))
c.check(text.count("rope_theta = 1.00000000e+04") == 2,
        "RoPE model: the ops do not carry rope_theta")

c.finish()
