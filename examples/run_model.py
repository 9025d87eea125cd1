"""kvshift's main job, end to end: import a small KV-shift Llama-style model
from PyTorch, compile it for the CPU, run it, and compare with PyTorch.

Run it with ``bash scripts/demo.sh`` (sets everything up first), or, after
``bash scripts/setup.sh``::

    /usr/bin/python3 examples/run_model.py [--seq 64] [--layers 2] ...

Two models:

1. ``kvshift.models.KVShiftLlama``: its ``KVShiftAttention`` layers import
   directly as ``kvshift.kv_shift_attention`` ops.
2. The same network with the attention written by hand the paper's way in
   plain PyTorch (pad + slice shift, weighted sum, matmul, causal
   ``masked_fill``, softmax, matmul; ``repeat_interleave`` for GQA): it
   imports as ordinary linalg ops, and
   the ``kvshift-raise`` pass of the compile pipeline finds the pattern and
   replaces it with the op, so it gets the fused kernel as well.

3. KVShiftLlama with RoPE: the op carries ``rope_theta`` and the fused
   kernel rotates q and the mixed keys as it loads them.

4. Generation with a KV cache (``kvshift.serve.Generator``): the RoPE model's
   prefill and decode steps compiled (``kvshift.kv_cache_append`` +
   ``kv_cache_attention``, caches updated in place), greedy generation of
   --new-tokens tokens after a prompt of --seq tokens, checked against
   PyTorch's full forward at every step and against PyTorch eager decoding
   (``kvshift.models.generate_eager``) for the tokens and the speed.

For each: the imported IR's size, the number of fused attention ops after
raising, compile time, run time (median of --repeat runs) against PyTorch
eager, and the maximum relative error of the logits against PyTorch's own
forward (float32). Exit status 1 if an error exceeds --tolerance.
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import kvshift  # noqa: E402
from kvshift.models import KVShiftLlama, LlamaConfig  # noqa: E402


class PaperWayAttention(torch.nn.Module):
    """KV shifting attention as the paper's PyTorch code writes it, without
    kvshift's module: per-KV-head weights [H, 1, 1], F.pad shift."""

    def __init__(self, attn):
        super().__init__()
        # Reuse the projections and the mixing weights of a KVShiftAttention
        # so that both models compute the same function.
        self.inner = attn

    def forward(self, x):
        a = self.inner
        B, S, _ = x.shape
        H, Hkv, D = a.n_heads, a.n_kv_heads, a.head_dim
        q = a.q_proj(x).view(B, S, H, D).transpose(1, 2)
        k = a.k_proj(x).view(B, S, Hkv, D).transpose(1, 2)
        v = a.v_proj(x).view(B, S, Hkv, D).transpose(1, 2)
        a1 = a.kw[:, 0].view(Hkv, 1, 1)
        a2 = a.kw[:, 1].view(Hkv, 1, 1)
        b1 = a.vw[:, 0].view(Hkv, 1, 1)
        b2 = a.vw[:, 1].view(Hkv, 1, 1)
        k_hat = a1 * k + a2 * F.pad(k, (0, 0, 1, 0))[:, :, :-1]
        v_hat = b1 * v + b2 * F.pad(v, (0, 0, 1, 0))[:, :, :-1]
        if H != Hkv:  # grouped-query attention
            k_hat = k_hat.repeat_interleave(H // Hkv, dim=1)
            v_hat = v_hat.repeat_interleave(H // Hkv, dim=1)
        scores = q @ k_hat.transpose(-2, -1) * (D ** -0.5)
        mask = torch.ones(S, S).triu(1).bool()
        scores = scores.masked_fill(mask, float("-inf"))
        out = scores.softmax(-1) @ v_hat
        return a.o_proj(out.transpose(1, 2).reshape(B, S, H * D))


def paper_way(model):
    """A copy of `model` whose attention layers are PaperWayAttention."""
    import copy
    plain = copy.deepcopy(model)
    for layer in plain.layers:
        layer.attn = PaperWayAttention(layer.attn)
    return plain


def median_ms(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return sorted(times)[len(times) // 2]


def run(name, model, tokens, args):
    print("== %s" % name)
    with torch.no_grad():
        ref = model(tokens).float().numpy()
    t0 = time.perf_counter()
    text = kvshift.import_module(model, (tokens,))
    t_import = time.perf_counter() - t0
    raised = kvshift.opt(text, "func.func(kvshift-raise,canonicalize)")
    n_ops = raised.count("kvshift.kv_shift_attention")
    print("imported in %.2f s: %d lines of MLIR, %d argument(s) (%d parameter "
          "tensors); kvshift.kv_shift_attention ops after raising: %d"
          % (t_import, text.count("\n"), len(text.arg_names),
             len(text.param_names), n_ops))
    t0 = time.perf_counter()
    fn = kvshift.compile(model, example_inputs=(tokens,), pipeline=args.pipeline)
    t_compile = time.perf_counter() - t0
    logits = fn(tokens)
    err = float(np.abs(logits - ref).max() / np.abs(ref).max())
    ms = fn.time(tokens, repeat=args.repeat)
    with torch.no_grad():
        torch_ms = median_ms(lambda: model(tokens), args.repeat)
    print("compiled in %.2f s; logits %s, max relative error vs PyTorch %.2e "
          "(tolerance %.0e)" % (t_compile, "x".join(map(str, logits.shape)),
                                err, args.tolerance))
    print("forward: kvshift %.2f ms, PyTorch eager %.2f ms (median of %d)"
          % (ms, torch_ms, args.repeat))
    print("next-token prediction at the last position: kvshift %d, PyTorch %d"
          % (int(logits[0, -1].argmax()), int(ref[0, -1].argmax())))
    return err <= args.tolerance and n_ops == args.layers


def run_decode(model, tokens, args):
    from kvshift.models import generate_eager
    from kvshift.serve import Generator
    print("== generation with a KV cache: the RoPE model, prefill of %d "
          "tokens, then %d greedy decode steps" % (tokens.shape[1],
                                                    args.new_tokens - 1))
    max_len = tokens.shape[1] + args.new_tokens
    t0 = time.perf_counter()
    gen = Generator(model, max_len=max_len, batch=tokens.shape[0],
                    pipeline=args.pipeline)
    gen._prefill_call(tokens.shape[1])
    compile_s = time.perf_counter() - t0
    gen.generate(tokens, args.new_tokens)  # warm-up (threads, first touches)
    out, stats = gen.generate(tokens, args.new_tokens)
    # Every step's logits against PyTorch's forward over the whole prefix.
    with torch.no_grad():
        full = model(torch.tensor(out[:, :-1])).numpy()
    P = tokens.shape[1]
    errs = [np.abs(gen.prefill(out[:, :P]) - full[:, :P]).max()
            / np.abs(full[:, :P]).max()]
    for t in range(P, out.shape[1] - 1):
        lg = gen.decode(out[:, t:t + 1])[:, 0]
        errs.append(np.abs(lg - full[:, t]).max() / np.abs(full[:, t]).max())
    with torch.no_grad():
        generate_eager(model, tokens, args.new_tokens, max_len)  # warm-up
        eager, eager_s = generate_eager(model, tokens, args.new_tokens, max_len)
    same = np.array_equal(eager.numpy(), out)
    steps = tokens.shape[0] * (args.new_tokens - 1)
    print("compiled prefill + decode graphs in %.2f s; max relative error of "
          "the logits of every step vs PyTorch's full forward %.2e (tolerance "
          "%.0e); same tokens as PyTorch eager decoding: %s"
          % (compile_s, max(errs), args.tolerance, "yes" if same else "NO"))
    print("decode: kvshift %.0f tokens/s, PyTorch eager with a KV cache %.0f "
          "tokens/s" % (steps / stats["decode_s"], steps / eager_s))
    return max(errs) <= args.tolerance and same


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--vocab", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--tolerance", type=float, default=1e-4)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--pipeline", default=None,
                   help="compile pipeline (default: kvshift-to-llvm-cpu-fused; "
                        "'kvshift-to-llvm-cpu-fused{vectorize-contractions=false "
                        "vectorize-elementwise=false}' leaves the matmuls and "
                        "elementwise ops to scalar loops)")
    args = p.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    cfg = LlamaConfig(vocab_size=args.vocab, d_model=args.dim,
                      n_layers=args.layers, n_heads=args.heads,
                      n_kv_heads=args.kv_heads,
                      # The generation check runs the full forward over the
                      # prompt and the generated tokens.
                      max_seq_len=max(args.seq + args.new_tokens, 8),
                      rope_theta=None)
    model = KVShiftLlama(cfg).eval()
    tokens = torch.randint(0, args.vocab, (args.batch, args.seq))
    print("model: KVShiftLlama, %d layers, d_model %d, %d query heads / %d KV "
          "heads, vocab %d, %d parameters; input %d x %d token ids"
          % (args.layers, args.dim, args.heads, args.kv_heads, args.vocab,
             sum(t.numel() for t in model.parameters()), args.batch,
             args.seq))
    ok = run("KVShiftLlama (kvshift.torch.KVShiftAttention)", model, tokens,
             args)
    ok &= run("the same model with the attention written the paper's way in "
              "plain PyTorch", paper_way(model), tokens, args)
    cfg.rope_theta = 10000.0
    rope = KVShiftLlama(cfg).eval()
    ok &= run("KVShiftLlama with RoPE after the mix (rope_theta = 10000)", rope,
              tokens, args)
    ok &= run_decode(rope, tokens, args)
    print("result: %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
