"""kvshift.train.TrainStep: one compiled function per AdamW train step
(forward, cross entropy, gradients, AdamW with weight decay) that updates the
parameters and the optimizer state in place.

* 20 steps of a KVShiftLlama (GQA, RoPE, 2 layers, float32) match PyTorch's
  own training (torch.optim.AdamW, same initial weights, same batches): the
  loss of every step to 1e-4 relative, the final parameters and moments
  closely; every state result is tied to its argument and the caller's
  arrays are the ones updated; copy_to puts the weights back into a model.
* float64 (attention unfused): 3 steps equal torch.optim.AdamW to rounding.
* Bad inputs (tokens, hyperparameters, models) raise clear errors."""

import copy
import warnings

import testutil  # noqa: F401  (sets sys.path)
from testutil import Checker, np, torch

from kvshift.models import KVShiftLlama, LlamaConfig
from kvshift.train import TrainStep

C = Checker("train_step")
warnings.simplefilter("ignore", UserWarning)   # float64 attention imports unfused


def make_model(impl="kvshift", rope=10000.0, layers=2, dtype=torch.float32, seed=0):
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=32, d_model=16, n_layers=layers, n_heads=4, n_kv_heads=2,
                      rope_theta=rope, max_seq_len=16, attention_impl=impl)
    return KVShiftLlama(cfg).to(dtype)


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def compare(tag, model, B, S, steps, hyper, loss_tol, param_tol):
    """TrainStep against torch.optim.AdamW for `steps` steps; returns the
    TrainStep and the reference model."""
    ref = copy.deepcopy(model)
    ts = TrainStep(model, B, S, **hyper)
    opt = torch.optim.AdamW(ref.parameters(), **hyper)
    n = len(ts.names)
    C.check(ts.function.tied_results == [None] + list(range(3 * n)) and ts.in_place,
            "%s: every new parameter, m and v is tied to its argument: %s"
            % (tag, ts.function.tied_results))
    C.check(all(ts.imported.written_through.values()),
            "%s: every state result is written through its argument" % tag)
    embed = ts.parameters()["embed.weight"]
    before = embed.copy()
    gen = torch.Generator().manual_seed(11)
    worst = 0.0
    for i in range(steps):
        tokens = torch.randint(0, 32, (B, S + 1), generator=gen)
        loss = ts.step(tokens)
        opt.zero_grad()
        ref_loss = ref.loss(tokens)
        ref_loss.backward()
        opt.step()
        worst = max(worst, abs(loss - float(ref_loss)) / abs(float(ref_loss)))
    C.close(worst, loss_tol, "%s: loss of each of %d steps" % (tag, steps))
    C.check(ts.steps == steps, "%s: steps counted" % tag)
    C.check(ts.parameters()["embed.weight"] is embed and not np.array_equal(embed, before),
            "%s: the step updates the owned arrays in place" % tag)
    ps, st = ts.parameters(), ts.optimizer_state()
    for name, p in ref.named_parameters():
        s = opt.state[p]
        C.close(rel(ps[name], p.detach().numpy()), param_tol, "%s: final %s" % (tag, name))
        C.close(max(rel(st[name][0], s["exp_avg"].numpy()),
                    rel(st[name][1], s["exp_avg_sq"].numpy())), param_tol * 10,
                "%s: AdamW moments of %s" % (tag, name))
    return ts, ref


# -- float32, 20 steps ------------------------------------------------------
hyper = dict(lr=3e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
model = make_model()
ts, ref = compare("f32 kvshift GQA RoPE", model, 2, 8, 20, hyper, 1e-4, 1e-3)
C.check(ts.imported.grad_ops == 2 and ts.imported.fused_attention == 2,
        "one kv_shift_attention and one kv_shift_attention_grad per layer")
imp, n = ts.imported, len(ts.names)
C.check(imp.arg_names[0] == "embed.weight" and imp.arg_names[n] == "m.embed.weight" and
        imp.arg_names[2 * n] == "v.embed.weight" and imp.arg_names[3 * n:] == ["step", "tokens"]
        and imp.arg_types[3 * n:] == ["tensor<i64>", "tensor<2x9xi64>"] and
        imp.result_types[0] == "tensor<f32>" and imp.result_types[1:] == imp.arg_types[:3 * n],
        "@train_step(params, m, v, step, tokens) -> (loss, new params, m, v): %s"
        % imp.arg_names[3 * n:])
C.check("func.func @train_step(" in imp and imp.state_results == list(range(1, 3 * n + 1)),
        "roles of the results")
back = make_model(seed=5)
ts.copy_to(back)
tokens = torch.randint(0, 32, (2, 9))
with torch.no_grad():
    C.close(abs(float(back.loss(tokens)) - float(ref.loss(tokens))) / float(ref.loss(tokens)),
            1e-4, "copy_to: the trained weights give the reference's loss")
C.check(back.lm_head.weight is back.embed.weight, "copy_to keeps tied weights tied")

# -- float64, 3 steps: the AdamW update to rounding ----------------------------
compare("f64 vanilla", make_model("vanilla", None, 1, torch.float64), 1, 6, 3,
        dict(lr=1e-2, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.05), 1e-12, 1e-10)

# -- errors -------------------------------------------------------------------
C.raises(ValueError, lambda: ts.step(torch.zeros(2, 8, dtype=torch.int64)),
         "tokens of the wrong shape", "tokens must have shape [batch, seq + 1] = [2, 9]")
C.raises(ValueError, lambda: ts.step(np.zeros((2, 9), np.float32)),
         "float tokens", "tokens must be integers")
C.raises(ValueError, lambda: ts.step(torch.full((2, 9), 32)),
         "token id = vocab", "token ids must be in [0, 32)")
C.raises(ValueError, lambda: ts.step(torch.full((2, 9), -1)),
         "negative token id", "token ids must be in [0, 32)")
C.check(ts.steps == 20, "a refused step changes nothing")
C.raises(ValueError, lambda: ts.copy_to(make_model(layers=1)),
         "copy_to a model of another architecture", "do not match")
m = make_model(layers=1)
C.raises(ValueError, lambda: TrainStep(m, 2, 17), "seq above max_seq_len",
         "seq = 17 exceeds the model's max_seq_len = 16")
C.raises(ValueError, lambda: TrainStep(m, 0, 8), "batch 0", "batch and seq must be >= 1")
C.raises(ValueError, lambda: TrainStep(m, 2, 8, lr=-1.0), "negative lr",
         "invalid AdamW hyperparameters")
C.raises(ValueError, lambda: TrainStep(m, 2, 8, betas=(0.9, 1.0)), "beta2 = 1",
         "invalid AdamW hyperparameters")
C.raises(ValueError, lambda: TrainStep(m, 2, 8, betas=(0.9,)), "one beta",
         "betas must be a pair")
C.raises(TypeError, lambda: TrainStep(lambda t: t, 2, 8), "not a module",
         "expected a torch.nn.Module")
m.norm.weight.requires_grad_(False)
C.raises(ValueError, lambda: TrainStep(m, 2, 8), "a frozen parameter",
         "parameter 'norm.weight' does not require grad")
C.raises(ValueError, lambda: TrainStep(make_model(layers=1).half(), 2, 8), "a float16 model",
         "the train step takes float32 or float64 models")


class WithLayerNorm(torch.nn.Module):     # a backward op the importer does not lower
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(32, 8)
        self.norm = torch.nn.LayerNorm(8)
        self.head = torch.nn.Linear(8, 32)

    def forward(self, tokens):
        return self.head(self.norm(self.embed(tokens)))


from kvshift.importer import UnsupportedOpError  # noqa: E402
C.raises(UnsupportedOpError, lambda: TrainStep(WithLayerNorm(), 2, 8),
         "an unsupported backward op is named", "aten.native_layer_norm_backward")

C.finish()
