"""Inference with a KV cache, compiled: prefill and token-by-token decode.

::

    from kvshift.models import LlamaConfig, KVShiftLlama
    from kvshift.serve import Generator
    model = KVShiftLlama(LlamaConfig(n_heads=4, n_kv_heads=2)).eval()
    gen = Generator(model, max_len=256)          # compiles the decode step
    tokens, stats = gen.generate(prompt, n_new=64)   # greedy
    print(stats["decode_tokens_per_s"])

``Generator`` imports ``model.step`` twice with ``kvshift.import_step``: a
decode graph (one new token per sequence) and, per prompt length, a prefill
graph (the whole prompt at once). Both are compiled with the fused CPU
pipeline and share one set of buffers, allocated once for ``max_len`` rows:
per layer the mixed (and rotated, with RoPE) key and value caches and the
raw key and value rows of the last token. The caches are updated in place
(``CompiledFunction.prepare_in_place``): a decode step writes one row per
layer and KV head and never copies a cache or a parameter.

A request that does not fit (prompt + new tokens > ``max_len``) is refused
with a ``ValueError`` before anything runs; the compiled code checks the
positions again (``kvshift.ExecutionError``) and never writes out of bounds.
"""

import time

import numpy as np

from . import runtime

__all__ = ["Generator"]


def _as_tokens(x, batch, what):
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] != batch:
        raise ValueError("%s must be [batch=%d, length] token ids, found shape %s"
                         % (what, batch, x.shape))
    if not np.issubdtype(x.dtype, np.integer):
        raise ValueError("%s must hold integer token ids, found dtype %s"
                         % (what, x.dtype))
    return np.ascontiguousarray(x, dtype=np.int64)


class Generator(object):
    """Compiled prefill + decode of a ``kvshift.models.KVShiftLlama`` (float32)
    with a KV cache of ``max_len`` rows for ``batch`` sequences.

    ``prefill(prompt)`` starts a new request (the cache is reset), returns the
    logits of every prompt position; ``decode(tokens)`` appends one token per
    sequence and returns its logits; ``generate(prompt, n_new)`` does greedy
    generation and returns the tokens and timings. ``pos`` is the number of
    tokens in the cache. Parameters are read from the model when the
    Generator is built (later changes to the model are not seen)."""

    def __init__(self, model, max_len, batch=1, pipeline=None, memory_limit=0):
        from . import importer
        self.max_len = int(max_len)
        self.batch = int(batch)
        self.pipeline = pipeline
        self.memory_limit = memory_limit
        self.vocab_size = model.config.vocab_size
        self._model = model
        self._importer = importer
        self._decode = self._compile(1)
        step = self._decode_step
        # One set of buffers, shared by every graph: parameters and caches.
        cache = [t.numpy() for t in model.new_cache(self.batch, self.max_len)]
        bound = step.bind(model, np.zeros((self.batch, 1), np.int64), 0, *cache)
        self._params = [np.ascontiguousarray(bound[i]) for i in step.param_args]
        self.cache = [np.ascontiguousarray(bound[i]) for i in step.cache_args]
        self._pos = np.zeros((), np.int64)
        self._tokens1 = np.zeros((self.batch, 1), np.int64)
        self._decode_call = self._bind(self._decode, step, self._tokens1)
        self._prefill = {}   # prompt length -> (function, step, tokens, call)
        self.pos = 0

    # --- compilation ------------------------------------------------------
    def _compile(self, new_tokens):
        step = self._importer.import_step(self._model, self.batch, new_tokens,
                                          self.max_len)
        fn = runtime.CompiledFunction(
            str(step), step.func_name,
            self.pipeline, self.memory_limit, arg_names=step.arg_names)
        want = [step.cache_args[i] for i in range(len(step.cache_args))]
        got = [fn.tied_results[r] for r in step.cache_results]
        if got != want:
            raise runtime.CompileError(
                "the compiled step does not update its caches in place "
                "(tied results %s, expected %s)" % (got, want))
        if new_tokens == 1:
            self._decode_step = step
        return fn, step

    def _bind(self, compiled, step, tokens):
        fn, step = compiled
        args = [None] * len(fn.arguments)
        for i, a in zip(step.param_args, self._params):
            args[i] = a
        for i, a in zip(step.cache_args, self.cache):
            args[i] = a
        args[step.tokens_arg] = tokens
        args[step.pos_arg] = self._pos
        return fn.prepare_in_place(*args)

    def _prefill_call(self, length):
        if length not in self._prefill:
            compiled = self._compile(length)
            fn, step = compiled
            if step.param_names != self._decode_step.param_names:
                raise runtime.CompileError(
                    "the prefill graph's parameters differ from the decode "
                    "graph's")
            tokens = np.zeros((self.batch, length), np.int64)
            self._prefill[length] = (tokens, self._bind(compiled, step, tokens))
        return self._prefill[length]

    # --- running ----------------------------------------------------------
    def _check_room(self, n):
        if self.pos + n > self.max_len:
            raise ValueError(
                "the request needs %d cache rows (%d in the cache + %d new) but "
                "the cache holds %d (Generator(max_len=%d))"
                % (self.pos + n, self.pos, n, self.max_len, self.max_len))

    def prefill(self, prompt):
        """Starts a new request: runs the prompt [batch, P] (P >= 1) through
        the prefill graph and returns the logits [batch, P, vocab]."""
        prompt = _as_tokens(prompt, self.batch, "prompt")
        P = prompt.shape[1]
        if P < 1:
            raise ValueError("the prompt must hold at least one token")
        self.pos = 0
        self._check_room(P)
        tokens, call = self._prefill_call(P)
        tokens[...] = prompt
        self._pos[...] = 0
        (logits,) = call()
        self.pos = P
        return logits

    def decode(self, tokens):
        """Appends one token per sequence (tokens [batch, 1]) and returns the
        logits [batch, 1, vocab]."""
        tokens = _as_tokens(tokens, self.batch, "tokens")
        if tokens.shape[1] != 1:
            raise ValueError("decode takes one token per sequence, found %d"
                             % tokens.shape[1])
        if self.pos == 0:
            raise ValueError("decode before prefill: start a request with "
                             "prefill(prompt)")
        self._check_room(1)
        self._tokens1[...] = tokens
        self._pos[...] = self.pos
        (logits,) = self._decode_call()
        self.pos += 1
        return logits

    def generate(self, prompt, n_new):
        """Greedy generation: the prefill gives the first new token, then
        n_new - 1 decode steps. Returns (tokens [batch, P + n_new] int64,
        stats) with stats: prefill_s, decode_s (wall time of the decode
        steps), decode_tokens_per_s (batch * (n_new - 1) / decode_s)."""
        prompt = _as_tokens(prompt, self.batch, "prompt")
        n_new = int(n_new)
        if n_new < 1:
            raise ValueError("n_new must be at least 1, found %d" % n_new)
        P = prompt.shape[1]
        if P + n_new > self.max_len:
            raise ValueError(
                "the request needs %d cache rows (a prompt of %d + %d new "
                "tokens) but the cache holds %d (Generator(max_len=%d))"
                % (P + n_new, P, n_new, self.max_len, self.max_len))
        self._prefill_call(P)  # compile outside the timed region
        out = np.zeros((self.batch, P + n_new), np.int64)
        out[:, :P] = prompt
        t0 = time.perf_counter()
        logits = self.prefill(prompt)
        t1 = time.perf_counter()
        nxt = logits[:, -1].argmax(-1)
        out[:, P] = nxt
        for i in range(1, n_new):
            logits = self.decode(nxt[:, None])
            nxt = logits[:, -1].argmax(-1)
            out[:, P + i] = nxt
        t2 = time.perf_counter()
        decode_s = t2 - t1
        steps = n_new - 1
        return out, {"prefill_s": t1 - t0, "decode_s": decode_s,
                     "decode_steps": steps,
                     "decode_tokens_per_s": (self.batch * steps / decode_s)
                     if steps and decode_s > 0 else float("nan")}
