"""kvshift.serve.Generator: compiled prefill + decode with a KV cache.

For small KVShiftLlama models (RoPE or not, GQA or MHA, KV-shift or vanilla
attention, batch 1 and 2): the logits of the prefill and of every decode
step equal those of a full forward over the whole prefix (f32, max relative
error < 1e-4), for prompts of length 1, of odd length and prompts whose
generation fills the cache exactly; greedy tokens equal generate_eager's;
the caches are updated in place (same arrays, parameters never written);
requests that do not fit are refused with ValueError, a bad position given
to the compiled step directly is an ExecutionError.
"""

import sys

import testutil  # noqa: F401  (sys.path)
import numpy as np
import torch

import kvshift
from kvshift.models import LlamaConfig, KVShiftLlama, generate_eager
from kvshift.serve import Generator

passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL", what)


def expect(exc, fn, what, needle=None):
    try:
        fn()
    except exc as e:
        check(needle is None or needle in str(e), "%s: message %r" % (what, str(e)))
        return
    except Exception as e:  # noqa: BLE001
        check(False, "%s: raised %s: %s" % (what, type(e).__name__, e))
        return
    check(False, "%s: no %s" % (what, exc.__name__))


def rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


CONFIGS = [
    dict(name="kvshift rope gqa", n_heads=4, n_kv_heads=2, rope_theta=10000.0,
         attention_impl="kvshift", batch=1),
    dict(name="kvshift norope mha b2", n_heads=4, n_kv_heads=4, rope_theta=None,
         attention_impl="kvshift", batch=2),
    dict(name="vanilla rope500k gqa", n_heads=4, n_kv_heads=1,
         rope_theta=500000.0, attention_impl="vanilla", batch=1),
]
MAX_LEN = 24

for i, c in enumerate(CONFIGS):
    torch.manual_seed(100 + i)
    cfg = LlamaConfig(vocab_size=61, d_model=32, n_layers=2, n_heads=c["n_heads"],
                      n_kv_heads=c["n_kv_heads"], rope_theta=c["rope_theta"],
                      attention_impl=c["attention_impl"], max_seq_len=64)
    model = KVShiftLlama(cfg).eval()
    B = c["batch"]
    gen = Generator(model, max_len=MAX_LEN, batch=B)
    cache_ids = [id(a) for a in gen.cache]
    params_before = [p.copy() for p in gen._params]
    for P, n_new in ((1, 6), (7, 5), (5, MAX_LEN - 5)):
        name = "%s P=%d n=%d" % (c["name"], P, n_new)
        prompt = torch.randint(0, cfg.vocab_size, (B, P))
        tokens, stats = gen.generate(prompt, n_new)
        check(tokens.shape == (B, P + n_new), name + ": token shape")
        check(gen.pos == P + n_new - 1, name + ": pos after generate")
        eager, _ = generate_eager(model, prompt, n_new, MAX_LEN)
        check(np.array_equal(eager.numpy(), tokens), name + ": tokens = generate_eager")
        # Logits of every step against the full forward over the prefix.
        with torch.no_grad():
            full = model(torch.tensor(tokens[:, :-1])).numpy()
        logits = gen.prefill(tokens[:, :P])
        errs = [rel(logits, full[:, :P])]
        for t in range(P, P + n_new - 1):
            lg = gen.decode(tokens[:, t:t + 1])
            errs.append(rel(lg[:, 0], full[:, t]))
        check(max(errs) < 1e-4, name + ": max rel err %.3g" % max(errs))
        check(stats["decode_steps"] == n_new - 1, name + ": decode steps")
    check([id(a) for a in gen.cache] == cache_ids, c["name"] + ": caches reallocated")
    check(all(np.array_equal(a, b) for a, b in zip(params_before, gen._params)),
          c["name"] + ": parameters written")
    # Errors.
    prompt = torch.zeros((B, 5), dtype=torch.int64)
    expect(ValueError, lambda: gen.generate(prompt, MAX_LEN - 4),
           c["name"] + ": too long a request", "the cache holds %d" % MAX_LEN)
    expect(ValueError, lambda: gen.prefill(torch.zeros((B, MAX_LEN + 1), dtype=torch.int64)),
           c["name"] + ": too long a prompt", "the cache holds")
    expect(ValueError, lambda: gen.prefill(torch.zeros((B + 1, 3), dtype=torch.int64)),
           c["name"] + ": wrong batch", "batch=%d" % B)
    gen.prefill(torch.zeros((B, MAX_LEN), dtype=torch.int64))
    expect(ValueError, lambda: gen.decode(np.zeros((B, 1), np.int64)),
           c["name"] + ": decode into a full cache", "the cache holds")

# The compiled step itself refuses a position past the cache (no Python
# check in between) and leaves the process alive.
gen.prefill(torch.zeros((1, 3), dtype=torch.int64))
gen._pos[...] = MAX_LEN
expect(kvshift.ExecutionError, lambda: gen._decode_call(),
       "compiled decode at pos = max_len",
       "kvshift.kv_cache_append: cannot write rows [%d, %d) into a cache of %d rows"
       % (MAX_LEN, MAX_LEN + 1, MAX_LEN))
expect(ValueError, lambda: Generator(model, max_len=8).decode(np.zeros((1, 1), np.int64)),
       "decode before prefill", "decode before prefill")

print("serve_cache: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
