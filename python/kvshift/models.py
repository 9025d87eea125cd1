"""A small Llama-style language model built from KVShiftAttention.

    from kvshift.models import LlamaConfig, KVShiftLlama
    cfg = LlamaConfig(vocab_size=256, d_model=64, n_layers=2, n_heads=4, n_kv_heads=2)
    model = KVShiftLlama(cfg)                    # or attention_impl="vanilla"
    logits = model(tokens)                       # tokens [B, S] int64 -> [B, S, vocab]

    cache = model.new_cache(batch=1, max_len=64)  # KV cache inference
    logits, *cache = model.step(prompt, 0, *cache)
    tokens, seconds = generate_eager(model, prompt, n_new=16, max_len=64)

Each block: x = x + attn(RMSNorm(x)); x = x + SwiGLU(RMSNorm(x)). Then a final
RMSNorm and the LM head (tied to the token embedding or not). Attention is
causal; ``attention_impl="kvshift"`` uses KVShiftAttention, ``"vanilla"`` the
same attention without the shift (no kw/vw parameters), for comparisons.
"""

import math
import time
import dataclasses
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
import torch.nn.functional as F

from .torch import KVShiftAttention, VanillaAttention

__all__ = ["LlamaConfig", "RMSNorm", "SwiGLU", "LlamaBlock", "KVShiftLlama",
           "ATTENTION_IMPLS", "rms_norm", "generate_eager"]

ATTENTION_IMPLS = {"kvshift": KVShiftAttention, "vanilla": VanillaAttention}


def _default_d_ff(d_model, multiple_of=8):
    # Llama: 2/3 of 4 * d_model, rounded up to a multiple.
    hidden = int(8 * d_model / 3)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


@dataclass
class LlamaConfig:
    """Hyperparameters of KVShiftLlama.

    n_kv_heads None means n_heads (no GQA); d_ff None means 8/3 d_model
    rounded up to a multiple of 8; rope_theta None means no position
    embedding (only the causal mask and, for kvshift, the shift)."""
    vocab_size: int = 256
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    n_kv_heads: Optional[int] = None
    d_ff: Optional[int] = None
    max_seq_len: int = 256
    rope_theta: Optional[float] = 10000.0
    tie_embeddings: bool = True
    norm_eps: float = 1e-6
    attention_impl: str = "kvshift"

    def __post_init__(self):
        if self.n_kv_heads is None:
            self.n_kv_heads = self.n_heads
        if self.d_ff is None:
            self.d_ff = _default_d_ff(self.d_model)
        if self.d_model % self.n_heads != 0:
            raise ValueError("d_model (%d) must be a multiple of n_heads (%d)"
                             % (self.d_model, self.n_heads))
        if self.n_heads % self.n_kv_heads != 0:
            raise ValueError("n_heads (%d) must be a multiple of n_kv_heads (%d)"
                             % (self.n_heads, self.n_kv_heads))
        if self.attention_impl not in ATTENTION_IMPLS:
            raise ValueError("attention_impl must be one of %s, found %r"
                             % (sorted(ATTENTION_IMPLS), self.attention_impl))
        if self.rope_theta is not None and (self.d_model // self.n_heads) % 2:
            raise ValueError("rope_theta needs an even head dim, found %d"
                             % (self.d_model // self.n_heads))

    @property
    def head_dim(self):
        return self.d_model // self.n_heads

    def num_parameters(self):
        """The number of distinct parameters KVShiftLlama(self) has."""
        d, dh = self.d_model, self.head_dim
        attn = d * self.n_heads * dh * 2 + d * self.n_kv_heads * dh * 2
        if self.attention_impl == "kvshift":
            attn += 4 * self.n_kv_heads
        mlp = 3 * d * self.d_ff
        block = attn + mlp + 2 * d
        head = 0 if self.tie_embeddings else self.vocab_size * d
        return self.vocab_size * d + self.n_layers * block + d + head


def rms_norm(x, weight, eps):
    """x / sqrt(mean(x^2, last dim) + eps) * weight, computed in float32
    (float64 for float64 x) and returned in x's dtype."""
    xf = x if x.dtype == torch.float64 else x.float()
    y = xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + eps)
    return (y * weight.to(y.dtype)).to(x.dtype)


try:  # a leaf under torch.fx tracing (its body branches on the dtype)
    import torch.fx as _fx
    _fx.wrap("rms_norm")
except Exception:  # pragma: no cover
    pass


class RMSNorm(nn.Module):
    """y = x / sqrt(mean(x^2, last dim) + eps) * weight (in float32 or wider,
    returned in x's dtype)."""

    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return rms_norm(x, self.weight, self.eps)

    def extra_repr(self):
        return "%d, eps=%g" % (self.weight.shape[0], self.eps)


class SwiGLU(nn.Module):
    """down(silu(gate(x)) * up(x)), no biases."""

    def __init__(self, d_model, d_ff):
        super().__init__()
        self.gate_proj = nn.Linear(d_model, d_ff, bias=False)
        self.up_proj = nn.Linear(d_model, d_ff, bias=False)
        self.down_proj = nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaBlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        attn_cls = ATTENTION_IMPLS[config.attention_impl]
        self.attn_norm = RMSNorm(config.d_model, config.norm_eps)
        self.attn = attn_cls(config.d_model, config.n_heads, config.n_kv_heads,
                             causal=True, rope_theta=config.rope_theta, bias=False)
        self.mlp_norm = RMSNorm(config.d_model, config.norm_eps)
        self.mlp = SwiGLU(config.d_model, config.d_ff)

    def forward(self, x):
        x = x + self.attn(self.attn_norm(x))
        return x + self.mlp(self.mlp_norm(x))

    def forward_cached(self, x, pos, cache):
        """x [B, T, d_model] at positions pos .. pos+T-1 with this block's
        cache (k_cache, v_cache, k_last, v_last) -> (y, new_cache)."""
        h, cache = self.attn.forward_cached(self.attn_norm(x), pos, cache)
        x = x + h
        return x + self.mlp(self.mlp_norm(x)), cache


class KVShiftLlama(nn.Module):
    """Llama-style decoder: embedding, n_layers LlamaBlocks, RMSNorm, LM head.

    KVShiftLlama(config, attention_impl=None): attention_impl overrides
    config.attention_impl ("kvshift" or "vanilla").
    forward(tokens [B, S] int64, S <= max_seq_len) -> logits [B, S, vocab].
    new_cache(batch, max_len=None, dtype=float32) and step(tokens, pos,
    *cache) -> (logits, *new_cache): inference with a KV cache."""

    def __init__(self, config, attention_impl=None):
        super().__init__()
        if attention_impl is not None and attention_impl != config.attention_impl:
            config = dataclasses.replace(config, attention_impl=attention_impl)
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.layers = nn.ModuleList([LlamaBlock(config) for _ in range(config.n_layers)])
        self.norm = RMSNorm(config.d_model, config.norm_eps)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.reset_parameters()
        if config.tie_embeddings:
            self.lm_head.weight = self.embed.weight

    def reset_parameters(self, std=0.02):
        """Normal(0, std) for embeddings and linear layers, with the output
        projections of each residual branch scaled by 1/sqrt(2 n_layers)
        (GPT-2 style); RMSNorm weights 1; kw/vw keep the paper's
        initialisation (drawn when the attention modules were built)."""
        out_std = std / math.sqrt(2 * max(1, self.config.n_layers))
        for name, mod in self.named_modules():
            if isinstance(mod, nn.Embedding):
                nn.init.normal_(mod.weight, 0.0, std)
            elif isinstance(mod, nn.Linear):
                last = name.rsplit(".", 1)[-1]
                nn.init.normal_(mod.weight, 0.0,
                                out_std if last in ("o_proj", "down_proj") else std)
                if mod.bias is not None:
                    nn.init.zeros_(mod.bias)

    def num_parameters(self):
        return sum(p.numel() for p in self.parameters())

    def forward(self, tokens):
        if isinstance(tokens, torch.Tensor):  # not under torch.fx tracing
            if tokens.dim() != 2:
                raise ValueError("tokens must be [B, S], found shape %s"
                                 % (tuple(tokens.shape),))
            if tokens.shape[1] > self.config.max_seq_len:
                raise ValueError("sequence length %d exceeds max_seq_len %d"
                                 % (tokens.shape[1], self.config.max_seq_len))
        x = self.embed(tokens)
        for layer in self.layers:
            x = layer(x)
        return self.lm_head(self.norm(x))

    def new_cache(self, batch, max_len=None, dtype=torch.float32, device=None):
        """A zero KV cache for step(): a tuple of 4 * n_layers tensors, per
        layer (k_cache, v_cache [batch, n_kv_heads, max_len, head_dim],
        k_last, v_last [batch, n_kv_heads, 1, head_dim]) of dtype, on
        device (default: the device of the model's parameters).  max_len
        defaults to config.max_seq_len."""
        if max_len is None:
            max_len = self.config.max_seq_len
        if int(batch) < 1 or int(max_len) < 1:
            raise ValueError("new_cache needs batch >= 1 and max_len >= 1, found %r, %r"
                             % (batch, max_len))
        if device is None:
            device = self.embed.weight.device
        out = ()
        for layer in self.layers:
            out += layer.attn.new_cache(int(batch), int(max_len), dtype, device)
        return out

    def step(self, tokens, pos, *cache):
        """One inference step with a KV cache: T new tokens at positions
        pos .. pos+T-1 (a prefill when pos == 0 and T is the prompt length,
        a decode step when T == 1).

        tokens: [B, T] int64; pos: python int or 0-d int64 tensor (tokens
        already in the cache); cache: the 4 * n_layers tensors of
        new_cache() or of the previous step.  Every layer appends its k, v
        (kv_cache_append) and attends over length = pos + T cache rows
        (kv_cache_attention, causal).  Returns (logits [B, T, vocab],
        *new_cache) with new_cache in the order of cache.  Eagerly the
        cache tensors are updated in place and returned; under
        kvshift.importer the ops are functional, so use the returned ones.
        Raises ValueError for tokens that are not [B, T], a wrong number of
        cache tensors, or a cache too short for pos + T."""
        n = 4 * len(self.layers)
        if isinstance(tokens, torch.Tensor) and tokens.dim() != 2:
            raise ValueError("tokens must be [B, T], found shape %s" % (tuple(tokens.shape),))
        if len(cache) != n:
            raise ValueError("step needs %d cache tensors (4 per layer: k_cache, v_cache, "
                             "k_last, v_last), found %d" % (n, len(cache)))
        x = self.embed(tokens)
        new = ()
        for i, layer in enumerate(self.layers):
            x, c = layer.forward_cached(x, pos, tuple(cache[4 * i:4 * i + 4]))
            new += tuple(c)
        return (self.lm_head(self.norm(x)),) + new

    def loss(self, tokens):
        """Mean next-token cross entropy of tokens [B, S] (S >= 2)."""
        logits = self.forward(tokens[:, :-1])
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                               tokens[:, 1:].reshape(-1))


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def generate_eager(model, prompt, n_new, max_len, dtype=None):
    """Greedy decoding with KVShiftLlama.step and an in-place KV cache (the
    PyTorch eager baseline of cached inference).

    prompt: [B, P] int64 (P >= 1); n_new >= 0 tokens are generated; the
    cache has max_len rows (dtype: default the dtype of the model's
    embedding).  One prefill step over the prompt gives the first new token
    (argmax of the last logits), then n_new - 1 decode steps of one token
    each, under torch.no_grad().  Returns (tokens [B, P + n_new], seconds):
    seconds is the wall time of the decode steps only (prefill excluded;
    CUDA synchronised), 0.0 when n_new <= 1.
    Raises ValueError when prompt is not [B, P] with P >= 1, n_new < 0, or
    P + n_new > max_len."""
    if not isinstance(prompt, torch.Tensor) or prompt.dim() != 2 or prompt.shape[1] < 1:
        raise ValueError("prompt must be a [B, P] tensor with P >= 1, found %s"
                         % (list(prompt.shape) if isinstance(prompt, torch.Tensor)
                            else type(prompt).__name__,))
    n_new = int(n_new)
    if n_new < 0:
        raise ValueError("n_new must be >= 0, found %d" % n_new)
    B, P = prompt.shape
    if P + n_new > max_len:
        raise ValueError("a prompt of %d tokens plus %d new tokens does not fit in "
                         "max_len = %d" % (P, n_new, max_len))
    if n_new == 0:
        return prompt.clone(), 0.0
    if dtype is None:
        dtype = model.embed.weight.dtype
    dev = prompt.device
    with torch.no_grad():
        cache = model.new_cache(B, max_len, dtype=dtype, device=dev)
        out = model.step(prompt, 0, *cache)
        cache = out[1:]
        nxt = out[0][:, -1].argmax(dim=-1, keepdim=True)
        toks = [prompt, nxt]
        _sync(dev)
        t0 = time.perf_counter()
        for i in range(n_new - 1):
            out = model.step(nxt, P + i, *cache)
            cache = out[1:]
            nxt = out[0][:, -1].argmax(dim=-1, keepdim=True)
            toks.append(nxt)
        _sync(dev)
        seconds = time.perf_counter() - t0
    return torch.cat(toks, dim=1), seconds
