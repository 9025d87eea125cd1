"""kvshift.import_step: KVShiftLlama.step (KV-cache prefill / decode) as one
MLIR function with kvshift.kv_cache_append / kv_cache_attention ops.

    importer_cache.py            the checks below (prints "importer_cache: N passed, 0 failed")
    importer_cache.py print      the decode-step text that importer-cache.test FileChecks
    importer_cache.py e2e        kvshift-run on imported steps against the eager step
                                 (needs a kvshift-run that lowers the cache ops)

Checks: for decode (T = 1) and prefill (T = P) steps, with and without RoPE,
GQA and MHA, kvshift and vanilla, f32 and bf16, params as arguments and as
constants: the signature (params, %tokens, %pos, caches) and result types
(logits, new caches in argument order); exactly n_layers kv_cache_append
and n_layers kv_cache_attention ops with the right operands, types and
attributes; pos read once by tensor.extract + arith.index_cast; length =
pos + T as arith.addi on index; the role attributes and bind(); the custom
ops are functional; pos as a python int (constant index) and pos + T used
elsewhere (tensor arithmetic, then extract); float64 and bad arguments
refused."""

import re
import sys

import testutil  # noqa: F401  (sets sys.path)
from testutil import Checker, np, torch

import kvshift
import kvshift.importer as ki
import kvshift.torch as kt
from kvshift.models import KVShiftLlama, LlamaConfig

ELT = {torch.float32: "f32", torch.bfloat16: "bf16", torch.float16: "f16"}


def model_of(impl="kvshift", theta=10000.0, n_layers=2, n_heads=4, n_kv=2, d_model=32,
             dtype=torch.float32, seed=0):
    cfg = LlamaConfig(vocab_size=29, d_model=d_model, n_layers=n_layers, n_heads=n_heads,
                      n_kv_heads=n_kv, d_ff=24, max_seq_len=32, rope_theta=theta)
    torch.manual_seed(seed)
    return KVShiftLlama(cfg, attention_impl=impl).to(dtype)


def ty(shape, elt):
    return "tensor<%s%s>" % ("".join("%dx" % s for s in shape), elt)


def check_step(C, tag, model, B, T, Smax, params="args", dtype=torch.float32):
    """Import model.step and check the text and the roles."""
    cfg = model.config
    L, Hq, Hkv, D, V = cfg.n_layers, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim, cfg.vocab_size
    e = ELT[dtype]
    text = kvshift.import_step(model, B, T, Smax, params=params)
    lines = text.splitlines()

    # Signature: params..., tokens, pos, 4 caches per layer -> logits, new caches.
    cache_ty = [ty((B, Hkv, Smax, D), e)] * 2 + [ty((B, Hkv, 1, D), e)] * 2
    names = ["%s.%d" % (k, i) for i in range(L) for k in ("k_cache", "v_cache", "k_last",
                                                           "v_last")]
    args_tail = ["%%tokens: %s" % ty((B, T), "i64"), "%pos: tensor<i64>"] + [
        "%%%s: %s" % (n, cache_ty[j % 4]) for j, n in enumerate(names)]
    results = [ty((B, T, V), e)] + [cache_ty[j % 4] for j in range(4 * L)]
    header = [l for l in lines if l.strip().startswith("func.func @step(")]
    C.check(len(header) == 1, tag + ": one func.func @step")
    h = header[0].strip() if header else ""
    C.check(h.endswith(", ".join(args_tail) + ") -> (" + ", ".join(results) + ") {"),
            tag + ": arguments end with tokens, pos, caches; results logits, caches: " + h[-300:])
    n_params = len(text.param_names)
    if params == "constants":
        C.check(n_params == 0 and h.startswith("func.func @step(%tokens:"),
                tag + ": constants: no parameter arguments")
    else:
        C.check(n_params > 0 and h.startswith("func.func @step(%embed.weight:"),
                tag + ": parameters first")

    # Roles.
    C.check(text.param_args == list(range(n_params)) and text.tokens_arg == n_params
            and text.pos_arg == n_params + 1
            and text.cache_args == list(range(n_params + 2, n_params + 2 + 4 * L)),
            tag + ": argument roles")
    C.check(text.logits_result == 0 and text.cache_results == list(range(1, 1 + 4 * L)),
            tag + ": result roles")
    C.check(text.arg_names == text.param_names + ["tokens", "pos"] + names
            and text.cache_names == names, tag + ": arg_names / cache_names")
    C.check(all(text.arg_types[a] == text.result_types[r]
                for a, r in zip(text.cache_args, text.cache_results)),
            tag + ": each new cache has its argument's type")
    C.check(text.arg_types[text.pos_arg] == "tensor<i64>"
            and text.arg_types[text.tokens_arg] == ty((B, T), "i64"), tag + ": pos, tokens types")
    C.check(text.cache_ops == 2 * L and text.fused_attention == 0, tag + ": cache_ops")
    cache = model.new_cache(B, Smax, dtype=dtype)
    arrays = text.bind(model, torch.zeros(B, T, dtype=torch.long), 3, *cache)
    def arr_ok(a, t):     # bind gives bfloat16 as float32 (kvshift-run rounds it)
        el = {np.dtype("int64"): "i64", np.dtype("float32"): "f32"}.get(a.dtype, "?")
        return t == ty(a.shape, el) or (el == "f32" and t == ty(a.shape, "bf16"))
    C.check(len(arrays) == len(text.arg_types)
            and all(arr_ok(a, t) for a, t in zip(arrays, text.arg_types))
            and arrays[text.pos_arg].shape == () and int(arrays[text.pos_arg]) == 3,
            tag + ": bind() gives the arguments in order")

    # pos: one tensor.extract + index_cast.
    ext = [re.match(r"\s*(%\S+) = tensor\.extract %pos\[\] : tensor<i64>$", l) for l in lines]
    ext = [m.group(1) for m in ext if m]
    C.check(len(ext) == 1, tag + ": pos extracted once")
    idx = [re.match(r"\s*(%\S+) = arith\.index_cast (%\S+) : i64 to index$", l) for l in lines]
    idx = [m.group(1) for m in idx if m and ext and m.group(2) == ext[0]]
    C.check(len(idx) == 1, tag + ": pos cast to index once")
    P = idx[0] if idx else "%?"
    consts = {}
    adds = {}
    for l in lines:
        m = re.match(r"\s*(%\S+) = arith\.constant (\d+) : index$", l)
        if m:
            consts[m.group(1)] = int(m.group(2))
        m = re.match(r"\s*(%\S+) = arith\.addi (%\S+), (%\S+) : index$", l)
        if m:
            adds[m.group(1)] = (m.group(2), m.group(3))

    # The ops, in layer order.
    theta = cfg.rope_theta
    rope = (" rope_theta = %s" % ki._flit(theta, torch.float32)) if theta else ""
    kv_in = ty((B, Hkv, T, D), e)
    app_types = "(%s) -> (%s)" % (
        ", ".join([kv_in, kv_in] + cache_ty[2:] + [ty((Hkv, 2), "f32")] * 2 + cache_ty[:2]
                  + ["index"]),
        ", ".join(cache_ty))
    app_re = re.compile(
        r"\s*(%\S+), (%\S+), (%\S+), (%\S+) = kvshift\.kv_cache_append %\S+, %\S+ "
        r"last\((%\S+), (%\S+)\) mix\((%\S+), (%\S+)\) into\((%\S+), (%\S+)\) at (%\S+)"
        + re.escape(rope) + " : " + re.escape(app_types) + "$")
    att_types = "(%s, %s, %s, index) -> %s" % (ty((B, Hq, T, D), e), cache_ty[0], cache_ty[1],
                                               ty((B, Hq, T, D), e))
    att_re = re.compile(
        r"\s*(%\S+) = kvshift\.kv_cache_attention %\S+, (%\S+), (%\S+) length (%\S+) causal "
        r"scale = " + re.escape(ki._flit(1.0 / D ** 0.5, torch.float32)) + re.escape(rope)
        + " : " + re.escape(att_types) + "$")
    C.check(sum("kvshift.kv_cache_append" in l for l in lines) == L,
            tag + ": %d kv_cache_append" % L)
    C.check(sum("kvshift.kv_cache_attention" in l for l in lines) == L,
            tag + ": %d kv_cache_attention" % L)
    C.check("kvshift.kv_shift_attention" not in text, tag + ": no kv_shift_attention")
    apps = [m for m in map(app_re.match, lines) if m]
    atts = [m for m in map(att_re.match, lines) if m]
    C.check(len(apps) == L and len(atts) == L, tag + ": op syntax, types and attributes (%d, %d)"
            % (len(apps), len(atts)))
    new_caches = []
    for i, (a, t) in enumerate(zip(apps, atts)):
        C.check((a.group(5), a.group(6), a.group(9), a.group(10)) ==
                ("%%k_last.%d" % i, "%%v_last.%d" % i, "%%k_cache.%d" % i, "%%v_cache.%d" % i),
                tag + ": layer %d appends to its own cache arguments" % i)
        C.check(a.group(11) == P, tag + ": layer %d writes at pos" % i)
        if model.config.attention_impl == "kvshift" and params == "constants":
            C.check(a.group(7).startswith("%cst") and a.group(8).startswith("%cst"),
                    tag + ": layer %d mixes with constant kw, vw" % i)
        elif model.config.attention_impl == "kvshift" and dtype == torch.float32:
            C.check((a.group(7), a.group(8)) == ("%%layers.%d.attn.kw" % i,
                                                 "%%layers.%d.attn.vw" % i),
                    tag + ": layer %d mixes with its kw, vw" % i)
        elif model.config.attention_impl == "kvshift":     # kw, vw converted to f32
            ok = True
            for j, w in ((7, "kw"), (8, "vw")):
                d = [l for l in lines if l.strip().startswith(a.group(j) + " = linalg.generic")]
                ok = ok and len(d) == 1 and ("ins(%%layers.%d.attn.%s : %s)"
                                             % (i, w, ty((Hkv, 2), e))) in d[0] \
                    and d[0].endswith("outs(%s.0 : %s) {" % (a.group(j), ty((Hkv, 2), "f32")))
            C.check(ok, tag + ": layer %d mixes with its kw, vw cast to f32" % i)
        else:
            cst = [l for l in lines if l.strip().startswith(a.group(7) + " = arith.constant")]
            C.check(a.group(7) == a.group(8) and len(cst) == 1 and cst[0].strip().endswith(
                "dense<%s> : %s" % (
                    "[" + ", ".join(["[1.00000000e+00, 0.00000000e+00]"] * Hkv) + "]"
                    if Hkv > 1 else "[[1.00000000e+00, 0.00000000e+00]]",
                    ty((Hkv, 2), "f32"))),
                    tag + ": vanilla layer %d mixes with the constant [1, 0]" % i)
        C.check((t.group(2), t.group(3)) == (a.group(1), a.group(2)),
                tag + ": layer %d attends over its appended caches" % i)
        ln = adds.get(t.group(4))
        C.check(ln is not None and ln[0] == P and consts.get(ln[1]) == T,
                tag + ": layer %d length = pos + %d (arith.addi on index)" % (i, T))
        new_caches += [a.group(j) for j in (1, 2, 3, 4)]
    ret = [l for l in lines if l.strip().startswith("return ")]
    C.check(len(ret) == 1 and ret[0].strip().split(" : ")[0].split(", ")[1:] == new_caches,
            tag + ": the new caches are returned in argument order")
    C.check("linalg" in text and "kvshift.kv_shift " not in text, tag + ": the rest is linalg")
    return text


def main_checks():
    C = Checker("importer_cache")
    variants = [
        # tag, model kwargs, B, T, Smax, params, dtype
        ("kvshift rope GQA decode", {}, 2, 1, 12, "args", torch.float32),
        ("kvshift rope GQA prefill", {}, 2, 5, 12, "args", torch.float32),
        ("kvshift rope prefill fills the cache", {}, 1, 12, 12, "args", torch.float32),
        ("kvshift no-rope MHA decode 3 layers", dict(theta=None, n_layers=3, n_kv=4), 1, 1, 9,
         "constants", torch.float32),
        ("kvshift no-rope MHA prefill", dict(theta=None, n_kv=4), 1, 7, 9, "arguments",
         torch.float32),
        ("vanilla rope 500000 GQA decode", dict(impl="vanilla", theta=500000.0), 2, 1, 8,
         "args", torch.float32),
        ("vanilla rope prefill MQA", dict(impl="vanilla", n_kv=1), 1, 4, 8, "constants",
         torch.float32),
        ("kvshift bf16 decode", dict(dtype=torch.bfloat16), 1, 1, 6, "args", torch.bfloat16),
    ]
    for tag, kw, B, T, Smax, params, dtype in variants:
        model = model_of(**kw)
        check_step(C, tag, model, B, T, Smax, params=params, dtype=dtype)

    model = model_of()
    a = kvshift.import_step(model, 1, 1, 8)
    b = kvshift.import_step(model, 1, 1, 8, params="arguments")
    C.check(str(a) == str(b), "params='arguments' is params='args'")
    C.check(a == kvshift.import_step(model, 1, 1, 8), "output is deterministic")
    C.check(kt._trace_hook is None and kt._cache_trace_hook is None,
            "trace hooks removed after import")
    C.check(any(l.strip().startswith("// kvshift_importer.kv_cache_append.default <- torch.py")
                for l in a.splitlines()), "comment names the op and its source line")

    # The custom ops are functional (tracing must not update the example inputs).
    ki._define_op()
    ops = getattr(torch.ops, "kvshift_importer")
    g = torch.Generator().manual_seed(1)
    k, v = torch.randn(1, 2, 3, 8, generator=g), torch.randn(1, 2, 3, 8, generator=g)
    kl, vl = torch.randn(1, 2, 1, 8, generator=g), torch.randn(1, 2, 1, 8, generator=g)
    w = torch.rand(2, 2, generator=g)
    kc, vc = torch.randn(1, 2, 9, 8, generator=g), torch.randn(1, 2, 9, 8, generator=g)
    before = [t.clone() for t in (kl, vl, kc, vc)]
    out = ops.kv_cache_append(k, v, kl, vl, w, w, kc, vc, torch.tensor(2), 100.0)
    C.check(all(torch.equal(x, y) for x, y in zip(before, (kl, vl, kc, vc))),
            "custom kv_cache_append leaves its inputs unchanged")
    exp = kt.kv_cache_append(k, v, *[t.clone() for t in (kl, vl)], w, w,
                             *[t.clone() for t in (kc, vc)], 2, rope_theta=100.0)
    C.check(all(torch.equal(x, y) for x, y in zip(out, exp)),
            "custom kv_cache_append = the eager function")
    o = ops.kv_cache_attention(torch.randn(1, 4, 2, 8, generator=g), exp[0], exp[1],
                               torch.tensor(5), 0.3, True, 100.0)
    C.check(tuple(o.shape) == (1, 4, 2, 8), "custom kv_cache_attention")

    # pos as a python int: a constant index; pos + T also used as a tensor: the
    # add is tensor arithmetic and the op extracts its value.
    class IntPos(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = kt.KVShiftAttention(16, 2, 1, rope_theta=100.0)

        def forward(self, x, kc, vc, kl, vl):
            y, c = self.attn.forward_cached(x, 3, (kc, vc, kl, vl))
            return (y,) + tuple(c)

    m = IntPos()
    cache = m.attn.new_cache(1, 8)
    t = kvshift.import_module(m, (torch.randn(1, 2, 16),) + cache, comments=False)
    C.check(re.search(r"= arith\.constant 3 : index\n.*kv_cache_append .* at %\S+ rope_theta",
                      t) is not None and "tensor.extract" not in t
            and re.search(r"= arith\.constant 5 : index\n.*kv_cache_attention .* length %\S+ "
                          r"causal", t) is not None,
            "python int pos: constant indices 3 and 5")

    class LenOut(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = kt.KVShiftAttention(16, 2, 1)

        def forward(self, x, pos, kc, vc, kl, vl):
            q, k, v = self.attn.project(x)
            c = kt.kv_cache_append(k, v, kl, vl, self.attn.kw, self.attn.vw, kc, vc, pos)
            n = pos + x.shape[1]
            return kt.kv_cache_attention(q, c[0], c[1], n), n

    t = kvshift.import_module(LenOut(), (torch.randn(1, 2, 16), torch.tensor(0)) + cache,
                              comments=False)
    m = re.search(r"(%\S+) = tensor\.extract (%\S+)\[\] : tensor<i64>\n\s*(%\S+) = "
                  r"arith\.index_cast \1 : i64 to index\n\s*%\S+ = kvshift\.kv_cache_attention "
                  r"%\S+, %\S+, %\S+ length \3 ", t)
    C.check(m is not None and re.search(re.escape(m.group(2)) + r" = linalg\.generic", t)
            is not None and t.count("tensor.extract") == 2,
            "pos + T used as a tensor too: linalg add, then extract for the op")

    # Refused.
    C.raises(ki.ImporterError, lambda: kvshift.import_step(model_of(dtype=torch.float64), 1, 1, 4),
             "float64 model", "kv_cache_append with torch.float64 operands cannot be imported")
    C.raises(ValueError, lambda: kvshift.import_step(model, 1, 5, 4), "new_tokens > max_len",
             "new_tokens (5) exceeds max_len (4)")
    C.raises(ValueError, lambda: kvshift.import_step(model, 0, 1, 4), "batch 0",
             "batch and new_tokens must be >= 1")
    C.raises(ValueError, lambda: kvshift.import_step(model, 1, 1, 4, params="inline"),
             "bad params", "params must be 'args' or 'constants'")
    C.raises(ValueError, lambda: kvshift.import_step(torch.nn.Linear(2, 2), 1, 1, 4),
             "model without step", "needs a model with step() and new_cache()")
    C.raises(ValueError, lambda: a.bind(model, torch.zeros(1, 1, dtype=torch.long), 0),
             "bind without the cache", "expected 8 cache tensors, got 0")
    C.finish()


def print_decode():
    """The decode step that importer-cache.test checks with FileCheck."""
    model = model_of(n_layers=2, d_model=16, n_heads=4, n_kv=2)
    print(kvshift.import_step(model, 1, 1, 16, comments=False))


def e2e():
    """kvshift-run on imported steps (decode and a chunk at pos > 0) against
    the eager step; needs a kvshift-run whose pipelines lower the cache ops."""
    import importer_testlib as lib
    C = Checker("importer_cache_e2e")
    for kw, params in (({}, "args"), (dict(theta=None, n_kv=4), "constants"),
                       (dict(impl="vanilla"), "args")):
        model = model_of(**kw)
        for T, pos in ((1, 0), (1, 5), (4, 0), (3, 4)):
            text = kvshift.import_step(model, 2, T, 12, params=params)
            g = torch.Generator().manual_seed(T + pos)
            toks = torch.randint(0, 29, (2, 12), generator=g)
            cache = model.new_cache(2, 12)
            with torch.no_grad():
                if pos:
                    cache = model.step(toks[:, :pos], 0, *cache)[1:]
                before = [c.clone() for c in cache]
                ref = model.step(toks[:, pos:pos + T], pos, *cache)
            arrays = text.bind(model, toks[:, pos:pos + T], pos, *before)
            for pl in lib.PIPELINES:
                outs = lib.run_mlir(text, "step", arrays, len(text.result_types), pipeline=pl)
                err = max(lib.max_rel(o, r.numpy()) for o, r in zip(outs, ref))
                C.close(err, 1e-4, "%s %s T=%d pos=%d pipeline=%s" % (kw, params, T, pos, pl))
    C.finish()


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "check"
    {"check": main_checks, "print": print_decode, "e2e": e2e}[mode]()
