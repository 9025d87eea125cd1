"""kvshift.cuda's KV-cache ops and generate() run on the CPU: every launch
goes to the emulator of the generated kernels (scripts/gpu_emulator.py)
through kvshift.cuda.set_driver, on CPU tensors.

It checks kv_cache_append (the append kernel) and kv_cache_attention (the
decode and merge kernels, SIMT and decode-mma) against kvshift.torch's ops
on the same operands (the in-place semantics included: the caches' other
rows and the tensors' identities), generate() on a small KVShiftLlama
against kvshift.models.generate_eager (same tokens; the logits of a prefill
and of decode steps within 1e-4 in f32), kernel sets saved and read
without a compiler, and the errors.

    cuda_cache.py KVSHIFT_OPT
"""
import os
import re
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cuda_support import EPS, RESULTS, check, refused, rel, saved_sets_only  # noqa: E402
import gpu_emulator as ge  # noqa: E402
import kvshift.cuda as kc  # noqa: E402
import kvshift.torch as kt  # noqa: E402
from kvshift.models import KVShiftLlama, LlamaConfig, generate_eager  # noqa: E402

OPT = sys.argv[1]


def append_case(dtype, b, hkv, t, smax, d, pos, theta=None, shift=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    rnd = lambda *s: torch.randn(*s, generator=g).to(dtype)  # noqa: E731
    k, v = rnd(b, hkv, t, d), rnd(b, hkv, t, d)
    kl, vl = rnd(b, hkv, 1, d), rnd(b, hkv, 1, d)
    kcache, vcache = rnd(b, hkv, smax, d), rnd(b, hkv, smax, d)
    kw = torch.rand(hkv, 2, generator=g) * 2.5 - 1 if shift else None
    vw = torch.rand(hkv, 2, generator=g) * 2.5 - 1 if shift else None
    want = [x.clone() for x in (kcache, vcache, kl, vl)]
    kt.kv_cache_append(k, v, want[2], want[3], kw, vw, want[0], want[1], pos,
                       rope_theta=theta)
    got = kc.kv_cache_append(k, v, kl, vl, kw, vw, kcache, vcache, pos, rope_theta=theta)
    same = all(x is y for x, y in zip(got, (kcache, vcache, kl, vl)))
    errs = [rel(x, w) for x, w in zip(got, want)]
    # One rounding to the dtype (f32 products and sum); RoPE's angles to a
    # few f32 ulps.
    bound = 4 * EPS[dtype] + (1e-6 if theta else 0.0)
    check("append %s B=%d Hkv=%d T=%d at %d of %d D=%d%s%s" % (
        str(dtype)[6:], b, hkv, t, pos, smax, d, " rope" if theta else "",
        "" if shift else " no shift"), same and max(errs) <= bound,
        "k_cache %.1e, v_cache %.1e, k_last %.1e, v_last %.1e%s" % (
            tuple(errs) + ("" if same else ", NOT in place",)))


def attention_case(dtype, b, hq, hkv, sq, smax, length, d, causal, theta=None,
                   options="", seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, hq, sq, d, generator=g).to(dtype)
    kcache = torch.randn(b, hkv, smax, d, generator=g).to(dtype)
    vcache = torch.randn(b, hkv, smax, d, generator=g).to(dtype)
    got = kc.kv_cache_attention(q, kcache, vcache, length, causal=causal, rope_theta=theta,
                                options=options)
    want = kt.kv_cache_attention(q.double(), kcache.double(), vcache.double(), length,
                                 causal=causal, rope_theta=theta)
    lowp = kt.kv_cache_attention(q, kcache, vcache, length, causal=causal, rope_theta=theta)
    e = rel(got, want)
    bound = 1e-5 if dtype == torch.float32 else 2 * rel(lowp, want) + 4 * EPS[dtype]
    check("attention %s %dx%d/%d Sq=%d length %d of %d D=%d%s%s%s" % (
        str(dtype)[6:], b, hq, hkv, sq, length, smax, d, " causal" if causal else "",
        " rope" if theta else "", " " + options if options else ""),
        got.dtype == dtype and not torch.isnan(got).any() and e <= bound,
        "err %.1e (bound %.1e)" % (e, bound))


def generate_case(dtype, theta, options="", kv_shift=True):
    torch.manual_seed(5)
    cfg = LlamaConfig(vocab_size=97, d_model=64, n_layers=2, n_heads=4, n_kv_heads=2,
                      max_seq_len=64, rope_theta=theta,
                      attention_impl="kvshift" if kv_shift else "vanilla")
    model = KVShiftLlama(cfg).eval().to(dtype)
    prompt = torch.randint(0, 97, (2, 5))
    want, _ = generate_eager(model, prompt, 4, 12)
    got, _ = kc.generate(model, prompt, 4, 12, options=options)
    # Logits of a prefill and two decode steps through the kernels against
    # PyTorch's step on the same caches' contents.
    attn = [m for m in model.modules() if isinstance(m, kt._AttentionBase)]
    err = 0.0
    with torch.no_grad():
        cache_a = model.new_cache(2, 12, dtype=dtype)
        cache_b = model.new_cache(2, 12, dtype=dtype)
        toks = [prompt, want[:, 5:6], want[:, 6:7]]
        pos = 0
        for t in toks:
            ref = model.step(t, pos, *cache_a)
            for m in attn:
                m.cache_ops = (kc.kv_cache_append,
                               lambda *a, **k: kc.kv_cache_attention(*a, options=options,
                                                                     **k))
            try:
                out = model.step(t, pos, *cache_b)
            finally:
                for m in attn:
                    m.cache_ops = None
            err = max(err, rel(out[0], ref[0]))
            pos += t.shape[1]
    bound = 1e-4 if dtype == torch.float32 else 0.05
    same = torch.equal(got, want)
    check("generate %s %s%s%s: 2 prompts of 5 tokens + 4" % (
        str(dtype)[6:], "kvshift" if kv_shift else "vanilla", " rope" if theta else "",
        " " + options if options else ""),
        (same or dtype != torch.float32) and err <= bound,
        "tokens %s eager's, logits max rel err %.1e (bound %.0e)"
        % ("equal to" if same else "differ from", err, bound))


def main():
    driver = ge.TorchDriver(OPT)
    kc.set_driver(driver)
    append_case(torch.float32, 2, 2, 1, 10, 16, 4, seed=1)              # a decode step
    append_case(torch.float32, 1, 2, 3, 10, 37, 0, seed=2)              # first chunk, odd D
    append_case(torch.bfloat16, 1, 2, 4, 12, 64, 5, theta=10000.0, seed=3)
    append_case(torch.float16, 2, 1, 2, 6, 32, 4, theta=500.0, seed=4)  # ends at the last row
    append_case(torch.float32, 1, 2, 2, 8, 16, 3, shift=False, seed=5)  # vanilla attention
    attention_case(torch.float32, 1, 4, 2, 1, 40, 33, 16, True, seed=11)
    attention_case(torch.float32, 2, 2, 2, 3, 20, 20, 32, True, theta=10000.0, seed=12)
    attention_case(torch.bfloat16, 1, 8, 2, 1, 300, 257, 64, True, seed=13)
    attention_case(torch.bfloat16, 1, 8, 2, 1, 300, 257, 64, True, options="decode-mma=true",
                   seed=13)
    attention_case(torch.float16, 1, 4, 1, 2, 50, 30, 64, False, theta=500.0,
                   options="decode-mma=true decode-split=16", seed=14)
    generate_case(torch.float32, None)
    generate_case(torch.float32, 10000.0)
    generate_case(torch.float32, 10000.0, kv_shift=False)
    generate_case(torch.bfloat16, 10000.0, options="decode-mma=true")
    launches = set(re.sub(r"_d\d+_.*", "", n) for n in driver.launches)
    check("kernels launched", launches == {"kv_cache_append", "kv_cache_decode"},
          sorted(launches))

    # Saved sets are read, not compiled.
    with saved_sets_only(kc):
        append_case(torch.bfloat16, 1, 2, 4, 12, 64, 5, theta=10000.0, seed=3)
        attention_case(torch.bfloat16, 1, 8, 2, 1, 300, 257, 64, True,
                       options="decode-mma=true", seed=13)

    z = lambda *s: torch.zeros(*s)  # noqa: E731
    refused("append past the cache's end",
            lambda: kc.kv_cache_append(z(1, 2, 3, 16), z(1, 2, 3, 16), z(1, 2, 1, 16),
                                       z(1, 2, 1, 16), None, None, z(1, 2, 8, 16),
                                       z(1, 2, 8, 16), 6),
            "cannot append 3 rows at position 6 to a cache of 8 rows")
    refused("a cache that is not contiguous",
            lambda: kc.kv_cache_append(z(1, 2, 1, 16), z(1, 2, 1, 16), z(1, 2, 1, 16),
                                       z(1, 2, 1, 16), None, None,
                                       z(1, 8, 2, 16).transpose(1, 2), z(1, 2, 8, 16), 0),
            "'k_cache' is written in place and must be contiguous")
    refused("float64 on the GPU",
            lambda: kc.kv_cache_attention(z(1, 2, 1, 16).double(), z(1, 2, 8, 16).double(),
                                          z(1, 2, 8, 16).double(), 4),
            "must be float16, bfloat16 or float32 on the GPU")
    refused("a length beyond the cache",
            lambda: kc.kv_cache_attention(z(1, 2, 1, 16), z(1, 2, 8, 16), z(1, 2, 8, 16), 9),
            "'length' must be in [0, Smax = 8], found 9")
    refused("a shape the op's checks refuse (kvshift.torch's message)",
            lambda: kc.kv_cache_attention(z(1, 3, 1, 16), z(1, 2, 8, 16), z(1, 2, 8, 16), 4),
            "must be a multiple of KV heads")
    refused("an unknown option",
            lambda: kc.kv_cache_attention(z(1, 2, 1, 16), z(1, 2, 8, 16), z(1, 2, 8, 16), 4,
                                          options="block-k=32"),
            "options: expected decode-split=N")
    refused("a cache op that does not exist",
            lambda: kc.CacheKernels(torch.float32, 16, op="prefill"),
            "op must be 'append' or 'attention', got 'prefill'")
    refused("decode options for the append",
            lambda: kc.cache_kernels("append", torch.float32, 16, options="decode-mma=true"),
            "options apply to op 'attention' only")
    kc.set_driver(None)
    kc._driver = None

    class NoCUDA:
        accepts_cpu = False
    kc.set_driver(NoCUDA())
    refused("CPU tensors with the CUDA driver",
            lambda: kc.kv_cache_attention(z(1, 2, 1, 16), z(1, 2, 8, 16), z(1, 2, 8, 16), 4),
            "'q' must be on a CUDA device, found cpu")
    kc.set_driver(None)
    print("%d of %d checks passed" % (sum(RESULTS), len(RESULTS)))
    return 0 if all(RESULTS) else 1


if __name__ == "__main__":
    sys.exit(main())
