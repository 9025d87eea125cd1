"""KV-cache inference in PyTorch (kvshift.torch.kv_cache_append /
kv_cache_attention, forward_cached, KVShiftLlama.step, generate_eager):

1. kv_cache_append against the contract written out in NumPy (kvshift_ref's
   mix and rope): rows pos..pos+T-1 written, the others untouched, the
   last rows raw, k_last ignored at pos 0, in place, int or tensor pos,
   f16/bf16 caches rounded once from the f32 result;
2. kv_cache_attention against kvshift_ref.kv_shift_attention on the same
   sequence (bottom-right queries, Sq < length, causal or not, GQA, RoPE),
   rows past length never read (NaN there), length 0 gives zeros;
3. the last-raw-row property: the paper's buggy variant (mixed row kept
   as last) gives other cache rows and other logits;
4. KVShiftLlama.step: prefill + decode equals the full forward (float64
   and float32), prompts of 1, 7 and the whole cache, chunks (Sq < length),
   RoPE theta 10000 / 500000 / none, GQA and MHA, kvshift and vanilla;
5. generate_eager: the greedy tokens of repeated full forwards;
6. errors: ValueError with the messages the docstrings promise."""

import testutil  # noqa: F401  (sets sys.path)
from testutil import Checker, kvshift_ref, np, np64, rel_err, torch

import kvshift.torch as kt
from kvshift.models import KVShiftLlama, LlamaConfig, generate_eager

C = Checker("torch_cache")
rng = np.random.default_rng(11)


def randn(*shape, dtype=torch.float64):
    return torch.tensor(rng.standard_normal(shape), dtype=dtype)


def append_ref(k_new, k_last, w, cache, pos, theta):
    """The contract of kv_cache_append for one of k / v, in NumPy float64:
    the rows pos..pos+T-1 of cache (a copy) are mix(prev ++ k_new) (minus
    the prev row), rotated at positions pos+t when theta is set."""
    k_new, k_last, cache = np64(k_new), np64(k_last), np64(cache).copy()
    T = k_new.shape[2]
    prev = k_last if pos > 0 else np.zeros_like(k_last)
    mixed = kvshift_ref.kv_shift(np.concatenate([prev, k_new], axis=2), np64(w))[:, :, 1:]
    if theta is not None:
        mixed = kvshift_ref.rope(mixed, np.arange(pos, pos + T), theta)
    cache[:, :, pos:pos + T] = mixed
    return cache


# ---------------------------------------------------------------------------
# 1. kv_cache_append
# ---------------------------------------------------------------------------
B, Hkv, D, Smax = 2, 3, 8, 11
for theta in (None, 10000.0, 500000.0):
    for pos, T in ((0, 1), (0, 4), (5, 1), (3, 5), (10, 1), (7, 4)):
        tag = "append pos=%d T=%d theta=%s" % (pos, T, theta)
        k_new, v_new = randn(B, Hkv, T, D), randn(B, Hkv, T, D)
        k_last, v_last = randn(B, Hkv, 1, D), randn(B, Hkv, 1, D)
        kw, vw = randn(Hkv, 2, dtype=torch.float32), randn(Hkv, 2, dtype=torch.float32)
        kc0, vc0 = randn(B, Hkv, Smax, D), randn(B, Hkv, Smax, D)   # "old" contents
        ek = append_ref(k_new, k_last, kw, kc0, pos, theta)
        ev = append_ref(v_new, v_last, vw, vc0, pos, None)          # values never rotated
        kc, vc, kl, vl = kc0.clone(), vc0.clone(), k_last.clone(), v_last.clone()
        p_arg = torch.tensor(pos) if T % 2 else pos                 # int and 0-d tensor
        out = kt.kv_cache_append(k_new, v_new, kl, vl, kw, vw, kc, vc, p_arg,
                                 rope_theta=theta)
        C.close(rel_err(out[0], ek), 1e-14, tag + ": k_cache")
        C.close(rel_err(out[1], ev), 1e-14, tag + ": v_cache")
        rest = [i for i in range(Smax) if not pos <= i < pos + T]
        C.check(torch.equal(out[0][:, :, rest], kc0[:, :, rest])
                and torch.equal(out[1][:, :, rest], vc0[:, :, rest]),
                tag + ": rows outside pos..pos+T-1 unchanged")
        C.check(torch.equal(out[2], k_new[:, :, -1:]) and torch.equal(out[3], v_new[:, :, -1:]),
                tag + ": new last rows are the raw k_new[T-1], v_new[T-1]")
        C.check(out[0] is kc and out[1] is vc and out[2] is kl and out[3] is vl,
                tag + ": the argument tensors are updated in place and returned")

# pos == 0 does not read the last rows (NaN there changes nothing).
k_new, v_new = randn(1, 2, 3, 4), randn(1, 2, 3, 4)
w = randn(2, 2, dtype=torch.float32)
nan_last = torch.full((1, 2, 1, 4), float("nan"), dtype=torch.float64)
kc = torch.zeros(1, 2, 5, 4, dtype=torch.float64)
out = kt.kv_cache_append(k_new, v_new, nan_last.clone(), nan_last.clone(), w, w, kc,
                         kc.clone(), 0)
C.check(bool(torch.isfinite(out[0]).all()) and bool(torch.isfinite(out[1]).all()),
        "pos 0: k_last/v_last not read")

# float32 in, float16 / bfloat16 caches: the f32 result rounded once.
for dt in (torch.float16, torch.bfloat16):
    k_new, v_new = randn(1, 2, 3, 8, dtype=dt), randn(1, 2, 3, 8, dtype=dt)
    k_last, v_last = randn(1, 2, 1, 8, dtype=dt), randn(1, 2, 1, 8, dtype=dt)
    w = randn(2, 2, dtype=torch.float32)
    kc, vc = torch.zeros(1, 2, 6, 8, dtype=dt), torch.zeros(1, 2, 6, 8, dtype=dt)
    kt.kv_cache_append(k_new, v_new, k_last.clone(), v_last.clone(), w, w, kc, vc, 2,
                       rope_theta=100.0)
    exp32 = kt.apply_rope(kt.kv_shift(torch.cat([k_last, k_new], 2).float(), w)[:, :, 1:],
                          100.0, 2)
    C.check(torch.equal(kc[:, :, 2:5], exp32.to(dt)), "%s cache: f32 result rounded once" % dt)
    C.check(kc.dtype == dt and bool((kc[:, :, :2] == 0).all()), "%s cache: dtype, other rows" % dt)

# ---------------------------------------------------------------------------
# 2. kv_cache_attention
# ---------------------------------------------------------------------------
for (Hq, Hk) in ((4, 2), (3, 3)):
    for theta in (None, 10000.0):
        for causal in (True, False):
            S, Smax, D = 9, 12, 8
            q, k, v = randn(1, Hq, S, D), randn(1, Hk, S, D), randn(1, Hk, S, D)
            kw, vw = randn(Hk, 2, dtype=torch.float32), randn(Hk, 2, dtype=torch.float32)
            # The cache of the whole sequence; rows past S hold NaN.
            kc = torch.full((1, Hk, Smax, D), float("nan"), dtype=torch.float64)
            vc = kc.clone()
            z = torch.zeros(1, Hk, 1, D, dtype=torch.float64)
            kt.kv_cache_append(k, v, z.clone(), z.clone(), kw, vw, kc, vc, 0, rope_theta=theta)
            for Sq in (1, 4, S):
                tag = "attention Hq=%d Hkv=%d theta=%s causal=%s Sq=%d" % (
                    Hq, Hk, theta, causal, Sq)
                ref = kvshift_ref.kv_shift_attention(np64(q[:, :, S - Sq:]), np64(k), np64(v),
                                                     np64(kw), np64(vw), causal=causal,
                                                     rope_theta=theta)
                length = torch.tensor(S) if Sq % 2 else S
                out = kt.kv_cache_attention(q[:, :, S - Sq:], kc, vc, length, causal=causal,
                                            rope_theta=theta)
                C.close(rel_err(out, ref), 1e-13, tag)
                C.check(bool(torch.isfinite(out).all()), tag + ": rows past length not read")
            ref = kvshift_ref.kv_shift_attention(np64(q[:, :, :2]), np64(k), np64(v),
                                                 np64(kw), np64(vw), scale=0.2, causal=causal,
                                                 rope_theta=theta)
            out = kt.kv_cache_attention(q[:, :, :2], kc, vc, S, scale=0.2, causal=causal,
                                        rope_theta=theta)
            C.close(rel_err(out, ref), 1e-13,
                    "attention scale 0.2 Hq=%d theta=%s causal=%s" % (Hq, theta, causal))
q = randn(1, 4, 2, 8)
kc = torch.full((1, 2, 5, 8), float("nan"), dtype=torch.float64)
out = kt.kv_cache_attention(q, kc, kc, 0, causal=False)
C.check(torch.equal(out, torch.zeros_like(q)), "length 0 (no visible key) gives zeros")
out32 = kt.kv_cache_attention(q.float(), kc.float().nan_to_num(0.0), kc.float(), 3,
                              causal=False)
C.check(out32.dtype == torch.float32, "float32 in, float32 out")

# ---------------------------------------------------------------------------
# 3. The last row must be the RAW row: the paper's buggy variant differs.
# ---------------------------------------------------------------------------
_real_append = kt.kv_cache_append


def buggy_append(k_new, v_new, k_last, v_last, kw, vw, k_cache, v_cache, pos,
                 rope_theta=None):
    """The paper's printed prefill code: the MIXED row is kept as last."""
    T = k_new.shape[2]
    out = _real_append(k_new, v_new, k_last, v_last, kw, vw, k_cache, v_cache, pos,
                       rope_theta=rope_theta)
    if kw is not None:
        p = int(pos)
        prev_k = torch.cat([k_last if p > 0 else torch.zeros_like(k_last), k_new], 2)
        prev_v = torch.cat([v_last if p > 0 else torch.zeros_like(v_last), v_new], 2)
        k_last.copy_(kt.kv_shift(prev_k, kw)[:, :, T:T + 1])
        v_last.copy_(kt.kv_shift(prev_v, vw)[:, :, T:T + 1])
    return out


k_new, v_new = randn(1, 2, 3, 8), randn(1, 2, 3, 8)
w = torch.tensor([[0.3, 0.7], [0.6, 0.4]])
kc, vc = torch.zeros(1, 2, 6, 8, dtype=torch.float64), torch.zeros(1, 2, 6, 8, dtype=torch.float64)
z = torch.zeros(1, 2, 1, 8, dtype=torch.float64)
good = kt.kv_cache_append(k_new, v_new, z.clone(), z.clone(), w, w, kc.clone(), vc.clone(), 0)
bad = buggy_append(k_new, v_new, z.clone(), z.clone(), w, w, kc.clone(), vc.clone(), 0)
C.check(not torch.allclose(good[2], bad[2]), "buggy last row differs from the raw one")
nxt = randn(1, 2, 1, 8)
good = kt.kv_cache_append(nxt, nxt, good[2], good[3], w, w, good[0], good[1], 3)
bad = buggy_append(nxt, nxt, bad[2], bad[3], w, w, bad[0], bad[1], 3)
full = kvshift_ref.kv_shift(np64(torch.cat([k_new, nxt], 2)), np64(w))
C.close(rel_err(good[0][:, :, :4], full), 1e-14, "raw last row: row 3 = a1 k3 + a2 k2")
C.check(rel_err(bad[0][:, :, :4], full) > 1e-3, "mixed last row: row 3 is wrong (%.2e)"
        % rel_err(bad[0][:, :, :4], full))

# ---------------------------------------------------------------------------
# 4. KVShiftLlama.step against the full forward
# ---------------------------------------------------------------------------


def cached_logits(model, tokens, chunks, max_len, dtype):
    """Logits of tokens fed in chunks (sizes; the first is the prompt) with a
    cache of max_len rows, positions as int or 0-d tensor alternately."""
    cache = model.new_cache(tokens.shape[0], max_len, dtype=dtype)
    outs, pos = [], 0
    for i, n in enumerate(chunks):
        p = torch.tensor(pos) if i % 2 else pos
        out = model.step(tokens[:, pos:pos + n], p, *cache)
        C.check(len(out) == 1 + len(cache), "step returns logits and the cache")
        outs.append(out[0])
        cache = out[1:]
        pos += n
    return torch.cat(outs, 1)


S = 10
# (prompt 1, then decode to the end), (odd prompt 7, decode), (one prefill of
# the whole cache), (prompt 3, a chunk of 4 with Sq < length, decode).
SCHEDULES = ((1,) + (1,) * (S - 1), (7, 1, 1, 1), (S,), (3, 4, 1, 1, 1))
with torch.no_grad():
    for impl in ("kvshift", "vanilla"):
        for theta in (None, 10000.0, 500000.0):
            for n_kv in (2, 4):
                cfg = LlamaConfig(vocab_size=37, d_model=32, n_layers=2, n_heads=4,
                                  n_kv_heads=n_kv, d_ff=40, max_seq_len=16, rope_theta=theta)
                torch.manual_seed(3)
                model = KVShiftLlama(cfg, attention_impl=impl)
                if impl == "kvshift":   # weights far from [1, 0]: the shift matters
                    for b in model.layers:
                        b.attn.kw.data = torch.tensor([[0.2, 0.9], [-0.5, 1.1]]).repeat(
                            n_kv // 2, 1)
                        b.attn.vw.data = torch.tensor([[0.7, -0.6], [0.4, 0.5]]).repeat(
                            n_kv // 2, 1)
                tokens = torch.tensor(rng.integers(0, 37, (2, S)))
                tag = "%s theta=%s Hkv=%d" % (impl, theta, n_kv)
                ref32 = model(tokens)
                model64 = KVShiftLlama(cfg, attention_impl=impl).double()
                model64.load_state_dict(model.state_dict())
                ref64 = model64(tokens)
                for sched in SCHEDULES:
                    got = cached_logits(model64, tokens, sched, S, torch.float64)
                    C.close(rel_err(got, ref64), 1e-12,
                            "%s chunks %s float64" % (tag, sched[:4]))
                    got = cached_logits(model, tokens, sched, S, torch.float32)
                    C.close(rel_err(got, ref32), 1e-4, "%s chunks %s float32" % (tag, sched[:4]))
                # A cache longer than the sequence: the rows past pos + T are not read.
                got = cached_logits(model64, tokens[:, :7], (3, 1, 1, 1, 1), 16, torch.float64)
                C.close(rel_err(got, ref64[:, :7]), 1e-12, tag + ": cache of 16 rows")
                if impl == "kvshift":
                    kt.kv_cache_append = buggy_append      # used by forward_cached
                    try:
                        bad = cached_logits(model64, tokens, (7, 1, 1, 1), S, torch.float64)
                    finally:
                        kt.kv_cache_append = _real_append
                    C.check(rel_err(bad[:, 7:], ref64[:, 7:]) > 1e-4,
                            tag + ": the mixed-last-row variant decodes wrong logits (%.2e)"
                            % rel_err(bad[:, 7:], ref64[:, 7:]))
                    C.close(rel_err(bad[:, :7], ref64[:, :7]), 1e-12,
                            tag + ": ... while its prefill is right")

    # The cache state after the steps equals kv_cache_append of the whole sequence
    # (the layer's own k/v), and new_cache's layout.
    cfg = LlamaConfig(vocab_size=37, d_model=32, n_layers=3, n_heads=4, n_kv_heads=2,
                      max_seq_len=16)
    model = KVShiftLlama(cfg).double()
    cache = model.new_cache(2, 12, dtype=torch.float64)
    C.check(len(cache) == 12 and [tuple(t.shape) for t in cache[:4]] ==
            [(2, 2, 12, 8), (2, 2, 12, 8), (2, 2, 1, 8), (2, 2, 1, 8)]
            and all(t.dtype == torch.float64 and not bool(t.any()) for t in cache),
            "new_cache: 4 zero tensors per layer")
    tokens = torch.tensor(rng.integers(0, 37, (2, 6)))
    out = model.step(tokens[:, :4], 0, *cache)
    out = model.step(tokens[:, 4:6], 4, *out[1:])
    C.check(all(a is b for a, b in zip(out[1:], cache)), "step: the cache is updated in place")
    x = model.embed(tokens)
    attn = model.layers[0].attn
    _, k, v = attn.project(model.layers[0].attn_norm(x))
    exp = append_ref(k, k[:, :, :1], attn.kw.detach(), torch.zeros(2, 2, 12, 8), 0,
                     cfg.rope_theta)
    C.close(rel_err(cache[0], exp), 1e-13, "layer 0 k_cache after prefill 4 + chunk 2")
    C.check(torch.equal(cache[2], k[:, :, 5:6]) and torch.equal(cache[3], v[:, :, 5:6]),
            "layer 0 last rows: raw k, v of token 5")

# ---------------------------------------------------------------------------
# 5. generate_eager
# ---------------------------------------------------------------------------
cfg = LlamaConfig(vocab_size=37, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2,
                  max_seq_len=16, rope_theta=10000.0)
torch.manual_seed(5)
model = KVShiftLlama(cfg).double()
prompt = torch.tensor(rng.integers(0, 37, (2, 3)))
toks, secs = generate_eager(model, prompt, 6, 9)
ref = prompt
with torch.no_grad():
    for _ in range(6):
        ref = torch.cat([ref, model(ref)[:, -1].argmax(-1, keepdim=True)], 1)
C.check(torch.equal(toks, ref), "generate_eager = greedy full forwards")
C.check(isinstance(secs, float) and secs >= 0.0, "generate_eager: decode seconds")
toks, secs = generate_eager(model, prompt, 0, 3)
C.check(torch.equal(toks, prompt) and secs == 0.0, "generate_eager n_new 0")

# ---------------------------------------------------------------------------
# 6. Errors
# ---------------------------------------------------------------------------
k1, z1 = torch.zeros(1, 2, 3, 8), torch.zeros(1, 2, 1, 8)
w = torch.zeros(2, 2)
kc = torch.zeros(1, 2, 10, 8)


def app(**kw):
    a = dict(k_new=k1, v_new=k1, k_last=z1, v_last=z1, kw=w, vw=w, k_cache=kc,
             v_cache=kc.clone(), pos=0, rope_theta=None)
    a.update(kw)
    return lambda: kt.kv_cache_append(**a)


C.raises(ValueError, app(pos=8), "append overflow",
         "cannot append 3 rows at position 8 to a cache of 10 rows")
C.raises(ValueError, app(pos=torch.tensor(9)), "append overflow (tensor pos)",
         "cannot append 3 rows at position 9 to a cache of 10 rows")
C.raises(ValueError, app(pos=-1), "append negative pos", "'pos' must be >= 0")
C.raises(ValueError, app(pos=torch.tensor(1.0)), "append float pos",
         "'pos' must be a python int or a 0-d integer tensor")
C.raises(ValueError, app(pos=torch.tensor([1])), "append 1-d pos", "shape [1]")
C.raises(ValueError, app(pos=True), "append bool pos", "'pos' must be a python int")
C.raises(ValueError, app(k_last=torch.zeros(1, 2, 2, 8)), "append k_last shape",
         "operand 'k_last' must have shape [B, Hkv, 1, D] = [1, 2, 1, 8], found [1, 2, 2, 8]")
C.raises(ValueError, app(v_new=torch.zeros(1, 2, 2, 8)), "append v_new shape",
         "operand 'v_new' must have the shape of 'k_new'")
C.raises(ValueError, app(k_new=torch.zeros(2, 3, 8)), "append k_new rank",
         "operand 'k_new' must be rank 4")
C.raises(ValueError, app(k_new=torch.zeros(1, 2, 0, 8), v_new=torch.zeros(1, 2, 0, 8)),
         "append T = 0", "at least one row")
C.raises(ValueError, app(v_cache=torch.zeros(1, 2, 9, 8)), "append v_cache shape",
         "operand 'v_cache' must have shape [B, Hkv, Smax, D] = [1, 2, 10, 8]")
C.raises(ValueError, app(k_cache=torch.zeros(1, 3, 10, 8)), "append cache heads",
         "operand 'k_cache' must have shape [B, Hkv, Smax, D]")
C.raises(ValueError, app(kw=torch.zeros(3, 2)), "append kw shape",
         "operand 'kw' must have shape [Hkv, 2] = [2, 2], found [3, 2]")
C.raises(ValueError, app(kw=None), "append one weight None", "both be tensors or both be None")
C.raises(ValueError, app(v_cache=torch.zeros(1, 2, 10, 8, dtype=torch.float16)),
         "append dtype mismatch", "operand 'v_cache' must have the dtype of 'k_cache'")
C.raises(ValueError, app(k_new=k1.int(), v_new=k1.int()), "append integer k_new",
         "operand 'k_new' must be float32, float16, bfloat16")
C.raises(ValueError, app(rope_theta=-1.0), "append rope_theta <= 0", "rope_theta must be > 0")
C.raises(ValueError, app(k_new=torch.zeros(1, 2, 3, 7), v_new=torch.zeros(1, 2, 3, 7),
                         k_last=torch.zeros(1, 2, 1, 7), v_last=torch.zeros(1, 2, 1, 7),
                         k_cache=torch.zeros(1, 2, 10, 7), v_cache=torch.zeros(1, 2, 10, 7),
                         rope_theta=10.0), "append odd D with rope", "even head dim")
q = torch.zeros(1, 4, 3, 8)
C.raises(ValueError, lambda: kt.kv_cache_attention(q, kc, kc, 11), "attention length > Smax",
         "'length' must be in [0, Smax = 10], found 11")
C.raises(ValueError, lambda: kt.kv_cache_attention(q, kc, kc, 2), "attention causal Sq > length",
         "causal requires Sq <= length (found Sq = 3, length = 2)")
C.raises(ValueError, lambda: kt.kv_cache_attention(torch.zeros(1, 3, 3, 8), kc, kc, 5),
         "attention heads", "must be a multiple of KV heads")
C.raises(ValueError, lambda: kt.kv_cache_attention(q, kc, torch.zeros(1, 2, 9, 8), 5),
         "attention v_cache shape", "operand 'v_cache' must have the shape of 'k_cache'")
C.raises(ValueError, lambda: kt.kv_cache_attention(q, kc.double(), kc.double(), 5),
         "attention dtype", "operand 'k_cache' must have the dtype of 'q'")
C.raises(ValueError, lambda: kt.kv_cache_attention(q, kc, kc, 5.0), "attention float length",
         "'length' must be a python int or a 0-d integer tensor")
C.raises(ValueError, lambda: kt.kv_cache_attention(torch.zeros(1, 4, 3, 6), kc, kc, 5),
         "attention head dim", "D = 6 of 'q'")
cache = model.new_cache(1, 4, dtype=torch.float64)
C.raises(ValueError, lambda: model.step(torch.zeros(1, 5, dtype=torch.long), 0, *cache),
         "step overflow", "cannot append 5 rows at position 0 to a cache of 4 rows")
C.raises(ValueError, lambda: model.step(torch.zeros(1, 1, dtype=torch.long), 0, *cache[:-1]),
         "step cache count", "step needs 8 cache tensors")
C.raises(ValueError, lambda: model.step(torch.zeros(3, dtype=torch.long), 0, *cache),
         "step tokens rank", "tokens must be [B, T]")
C.raises(ValueError, lambda: model.layers[0].attn.forward_cached(
    torch.zeros(1, 1, 32, dtype=torch.float64), 0, cache[:3]), "forward_cached cache",
    "cache must be (k_cache, v_cache, k_last, v_last)")
C.raises(ValueError, lambda: generate_eager(model, prompt, 7, 9), "generate overflow",
         "a prompt of 3 tokens plus 7 new tokens does not fit in max_len = 9")
C.raises(ValueError, lambda: generate_eager(model, prompt[:, :0], 2, 9), "generate empty prompt",
         "P >= 1")

C.finish()
