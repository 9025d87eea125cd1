"""Training graphs: one whole train step of a model as one MLIR function.

::

    from kvshift.train import TrainStep
    trainer = TrainStep(model, batch=8, seq=64, lr=1e-3, betas=(0.9, 0.999),
                        eps=1e-8, weight_decay=0.01)
    loss = trainer.step(tokens)        # tokens [8, 65] int64: one AdamW step
    trainer.copy_to(model)             # the trained parameters back into model

``import_train_step(model, batch, seq, ...)`` gives the MLIR of the step::

    func.func @train_step(params..., m..., v..., %step: tensor<i64>,
                          %tokens: tensor<B x (S+1) x i64>)
        -> (loss: tensor<f32>, new params..., new m..., new v...)

forward, mean next-token softmax cross entropy (``model.loss(tokens)``:
positions 0..S-1 predict tokens 1..S), reverse-mode gradients, and
``torch.optim.AdamW``'s update (decoupled weight decay, bias correction
with the 1-based ``step``) of every parameter, its first moment m and its
second moment v.  Each new parameter, m and v is returned in the order of
its argument and is computed by an op whose destination is that argument,
so ``kvshift-tie-results`` ties it (``CompiledFunction.tied_results``) and
``run_in_place`` updates the caller's arrays: ``TrainStep`` owns those
arrays and runs the step in place.

``import_loss_and_grad(model, batch, seq)`` gives ``@loss_and_grad(params...,
%tokens) -> (loss, grads...)`` (the gradients alone, for tests).

How the graph is made
    The step function (``train_step_function``) runs the model with its
    parameters replaced by the traced arguments (tied weights stay tied:
    every module slot holding a parameter gets its argument), computes the
    loss, calls ``torch.autograd.grad(loss, params)`` and applies the
    functional AdamW (``adamw_update``, torch ops).  ``kvshift.importer.
    trace_function`` traces it with ``make_fx`` with gradients recorded, so
    the graph holds the forward ops and PyTorch's own backward formulas at
    the ATen level (``mm``/``t``, ``embedding_dense_backward``,
    ``_log_softmax_backward_data``, ``nll_loss_backward``, ``silu``'s
    gradient, ...) -- except attention: ``KVShiftAttention`` (and
    ``VanillaAttention``) is the custom op ``kv_shift_attention`` whose
    autograd formula is one op ``kv_shift_attention_grad``, emitted as
    ``kvshift.kv_shift_attention`` and ``kvshift.kv_shift_attention_grad``
    (the fused pipeline's ``kvshift-share-attention-stats`` then lets the
    backward reuse the forward's row statistics).  float64 models import
    attention unfused (the op takes f32/f16/bf16), with a warning, and
    their attention gradient is PyTorch's autograd of the reference.
"""

import contextlib
import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from . import importer as _imp
from . import runtime as _rt

__all__ = ["TrainStep", "CompiledTrainer", "ImportedTrainStep", "import_train_step",
           "import_loss_and_grad", "adamw_update", "train_step_function",
           "next_token_loss"]


def next_token_loss(model, tokens):
    """Mean softmax cross entropy of model(tokens[:, :-1]) against
    tokens[:, 1:] (KVShiftLlama.loss)."""
    logits = model(tokens[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                           tokens[:, 1:].reshape(-1))


def adamw_update(p, g, m, v, step, lr, beta1, beta2, eps, weight_decay):
    """One step of torch.optim.AdamW (its single-tensor algorithm) as
    functional torch ops: returns (new p, new m, new v).  step: the 1-based
    step number (a 0-d tensor or a number)."""
    if isinstance(step, torch.Tensor):
        step = step.to(p.dtype)
    p = p * (1.0 - lr * weight_decay)
    m = m * beta1 + g * (1.0 - beta1)
    v = v * beta2 + g * g * (1.0 - beta2)
    bc1 = 1.0 - beta1 ** step
    bc2 = 1.0 - beta2 ** step
    step_size = lr / bc1
    denom = v.sqrt() / (bc2 ** 0.5) + eps
    return p - step_size * (m / denom), m, v


@contextlib.contextmanager
def _parameters_replaced(model, new):
    """Within the context, every module slot of model that holds parameter P
    (by identity; tied weights have several) holds new[id(P)]."""
    saved = []
    try:
        for mod in model.modules():
            for name, p in list(mod._parameters.items()):
                if p is not None and id(p) in new:
                    saved.append((mod, name, p))
                    mod._parameters[name] = new[id(p)]
        yield
    finally:
        for mod, name, p in saved:
            mod._parameters[name] = p


def _trained_parameters(model):
    names, params = [], []
    for n, p in model.named_parameters():        # tied weights once
        if not p.requires_grad:
            raise ValueError("parameter '%s' does not require grad: the train step "
                             "trains every parameter of the model" % n)
        if p.dtype not in (torch.float32, torch.float64):
            raise ValueError("parameter '%s' is %s: the train step takes float32 or "
                             "float64 models" % (n, p.dtype))
        names.append(n)
        params.append(p)
    if not params:
        raise ValueError("the model has no parameters to train")
    dts = set(p.dtype for p in params)
    if len(dts) != 1:
        raise ValueError("the parameters must share one dtype, found %s"
                         % sorted(str(d) for d in dts))
    return names, params


def train_step_function(model, params, lr, betas, eps, weight_decay,
                        loss_fn=next_token_loss, optimizer=True):
    """The function that import_train_step traces:
    f(*params, *m, *v, step, tokens) -> (loss, *new_params, *new_m, *new_v)
    (optimizer=False: f(*params, tokens) -> (loss, *grads))."""
    n = len(params)
    ids = [id(p) for p in params]
    beta1, beta2 = float(betas[0]), float(betas[1])

    def step_fn(*args):
        ps = args[:n]
        tokens = args[-1]
        with _parameters_replaced(model, dict(zip(ids, ps))):
            loss = loss_fn(model, tokens)
        grads = torch.autograd.grad(loss, ps)
        if not optimizer:
            return (loss,) + tuple(grads)
        ms, vs, step = args[n:2 * n], args[2 * n:3 * n], args[3 * n]
        new = [adamw_update(p, g, m, v, step, lr, beta1, beta2, eps, weight_decay)
               for p, g, m, v in zip(ps, grads, ms, vs)]
        return (loss,) + tuple(u[0] for u in new) + tuple(u[1] for u in new) + \
            tuple(u[2] for u in new)
    return step_fn


class ImportedTrainStep(_imp.ImportedModule):
    """The MLIR text of a train step (import_train_step) with the roles of
    its arguments and results (indices):

    ``param_args``, ``m_args``, ``v_args`` (one per parameter, in
    ``param_names`` order), ``step_arg``, ``tokens_arg``; ``loss_result``
    (0), ``param_results``, ``m_results``, ``v_results``: ``param_results[i]``
    is the new value of argument ``param_args[i]`` (the same for m, v).
    ``state_args`` / ``state_results``: the three lists concatenated.
    ``written_through``: {result: whether its op writes into its argument
    (what kvshift-tie-results follows)}.  Also ``batch``, ``seq``, ``lr``,
    ``betas``, ``eps``, ``weight_decay``, ``grad_ops`` (the number of
    kvshift.kv_shift_attention_grad ops) and ``fused_attention``."""


def _import(model, batch, seq, func_name, comments, optimizer, lr=0.0, betas=(0.9, 0.999),
            eps=1e-8, weight_decay=0.0, loss_fn=next_token_loss):
    if not isinstance(model, torch.nn.Module):
        raise TypeError("expected a torch.nn.Module, found %s" % type(model).__name__)
    batch, seq = int(batch), int(seq)
    if batch < 1 or seq < 1:
        raise ValueError("batch and seq must be >= 1, found %d, %d" % (batch, seq))
    max_len = getattr(getattr(model, "config", None), "max_seq_len", None)
    if max_len is not None and seq > max_len:
        raise ValueError("seq = %d exceeds the model's max_seq_len = %d" % (seq, max_len))
    if optimizer:
        lr, eps, weight_decay = float(lr), float(eps), float(weight_decay)
        if len(betas) != 2:
            raise ValueError("betas must be a pair (beta1, beta2), found %r" % (betas,))
        b1, b2 = float(betas[0]), float(betas[1])
        if not (lr >= 0.0 and 0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0 and eps >= 0.0
                and weight_decay >= 0.0):
            raise ValueError("invalid AdamW hyperparameters: lr=%r, betas=%r, eps=%r, "
                             "weight_decay=%r (need lr, eps, weight_decay >= 0 and "
                             "0 <= beta < 1)" % (lr, betas, eps, weight_decay))
    names, params = _trained_parameters(model)
    n = len(params)
    ex = [p.detach().clone().requires_grad_(True) for p in params]
    in_names = list(names)
    if optimizer:
        # (distinct tensors: make_fx maps one tensor object to one placeholder)
        ex += [torch.zeros_like(p) for p in params] + [torch.zeros_like(p) for p in params]
        ex.append(torch.tensor(1, dtype=torch.int64))
        in_names += ["m." + x for x in names] + ["v." + x for x in names] + ["step"]
    ex.append(torch.zeros(batch, seq + 1, dtype=torch.int64))
    in_names.append("tokens")
    fn = train_step_function(model, params, lr, betas, eps, weight_decay, loss_fn,
                             optimizer)
    was_training = model.training
    model.train()
    try:
        out = _imp._import_traced(
            None, None, ex, list(range(len(ex))), in_names, func_name, "constants",
            comments, cls=ImportedTrainStep, trace=lambda: _imp.trace_function(fn, ex),
            destinations=dict((1 + i, i) for i in range(3 * n)) if optimizer else None)
    finally:
        model.train(was_training)
    out.param_names = list(names)
    out.param_args = list(range(n))
    out.batch, out.seq = batch, seq
    out.tokens_arg = len(ex) - 1
    out.loss_result = 0
    if optimizer:
        out.m_args = list(range(n, 2 * n))
        out.v_args = list(range(2 * n, 3 * n))
        out.step_arg = 3 * n
        out.param_results = list(range(1, n + 1))
        out.m_results = list(range(n + 1, 2 * n + 1))
        out.v_results = list(range(2 * n + 1, 3 * n + 1))
        out.state_args = list(range(3 * n))
        out.state_results = list(range(1, 3 * n + 1))
        out.lr, out.betas, out.eps, out.weight_decay = lr, (float(betas[0]),
                                                            float(betas[1])), eps, weight_decay
    else:
        out.grad_results = list(range(1, n + 1))
    return out


def import_train_step(model, batch, seq, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                      weight_decay=1e-2, func_name="train_step", comments=True,
                      loss_fn=next_token_loss):
    """One AdamW train step of model on a [batch, seq + 1] token batch as one
    MLIR function (see the module docstring); returns an ImportedTrainStep.
    lr, betas, eps, weight_decay are those of torch.optim.AdamW and are
    constants of the function; the step number is its argument ``step``.
    loss_fn(model, tokens) -> 0-d loss (default: next_token_loss).  Every
    parameter is trained (all must require grad and share one dtype,
    float32 or float64)."""
    return _import(model, batch, seq, func_name, comments, True, lr, betas, eps,
                   weight_decay, loss_fn)


def import_loss_and_grad(model, batch, seq, func_name="loss_and_grad", comments=True,
                         loss_fn=next_token_loss):
    """@loss_and_grad(params..., %tokens: [batch, seq + 1]) -> (loss, grads...):
    the loss and its gradient with respect to every parameter (in
    param_names order), as traced for the train step."""
    return _import(model, batch, seq, func_name, comments, False, loss_fn=loss_fn)


class TrainStep(object):
    """A compiled AdamW train step that owns the parameters and the optimizer
    state (numpy arrays, updated in place by each step).

    TrainStep(model, batch, seq, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
              weight_decay=1e-2, pipeline=None, loss_fn=next_token_loss)

    The parameters start as copies of model's; m and v as zeros, the step
    count at 0 (as a fresh torch.optim.AdamW over model.parameters()).
    ``step(tokens)``: tokens [batch, seq + 1] (int, values in [0, vocab))
    -> the loss before the update (a float); ``copy_to(model)`` copies the
    parameters into a model of the same architecture; ``parameters()``:
    name -> array; ``steps``: updates done.  Attributes: ``imported`` (the
    ImportedTrainStep), ``function`` (the CompiledFunction), ``in_place``
    (True when every state result is tied to its argument; otherwise each
    step copies the new state back, and ``untied`` names the results)."""

    def __init__(self, model, batch, seq, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=1e-2, pipeline=None, loss_fn=next_token_loss):
        self.imported = import_train_step(model, batch, seq, lr, betas, eps, weight_decay,
                                          loss_fn=loss_fn)
        imp = self.imported
        self.function = _rt.CompiledFunction(str(imp), imp.func_name, pipeline, 0,
                                             arg_names=imp.arg_names)
        self.batch, self.seq = imp.batch, imp.seq
        self.names = list(imp.param_names)
        _, params = _trained_parameters(model)
        self.vocab_size = getattr(getattr(model, "config", None), "vocab_size", None)
        if self.vocab_size is None and hasattr(model, "embed"):
            self.vocab_size = model.embed.weight.shape[0]
        self._params = [np.array(p.detach().cpu().numpy(), order="C", copy=True)
                        for p in params]
        self._m = [np.zeros_like(a) for a in self._params]
        self._v = [np.zeros_like(a) for a in self._params]
        self._step = np.zeros((), dtype=np.int64)
        self._tokens = np.zeros((self.batch, self.seq + 1), dtype=np.int64)
        self.steps = 0
        tied = self.function.tied_results
        self.untied = ["new %s (result %d)" % (imp.arg_names[a], r)
                       for r, a in zip(imp.state_results, imp.state_args)
                       if tied[r] != a]
        self.in_place = not self.untied
        state = self._params + self._m + self._v
        if self.in_place:
            self._call = self.function.prepare_in_place(*(state + [self._step,
                                                                   self._tokens]))
        else:
            warnings.warn("kvshift.train.TrainStep: %d state result(s) are not tied to "
                          "their arguments; each step copies them back"
                          % len(self.untied), RuntimeWarning, stacklevel=2)
            self._call = None

    def _check_tokens(self, tokens):
        if isinstance(tokens, torch.Tensor):
            tokens = tokens.detach().cpu().numpy()
        t = np.asarray(tokens)
        want = (self.batch, self.seq + 1)
        if t.shape != want:
            raise ValueError("tokens must have shape [batch, seq + 1] = %s, found %s"
                             % (list(want), list(t.shape)))
        if t.dtype.kind not in "iu":
            raise ValueError("tokens must be integers, found dtype %s" % t.dtype)
        if self.vocab_size is not None and t.size and \
                (t.min() < 0 or t.max() >= self.vocab_size):
            raise ValueError("token ids must be in [0, %d), found values in [%d, %d]"
                             % (self.vocab_size, t.min(), t.max()))
        return t

    def step(self, tokens):
        """One AdamW step on tokens [batch, seq + 1]; returns the loss (of the
        parameters before the update) as a float."""
        t = self._check_tokens(tokens)
        np.copyto(self._tokens, t, casting="unsafe")
        self._step[...] = self.steps + 1
        if self._call is not None:
            loss = self._call()[0]
        else:
            state = self._params + self._m + self._v
            outs = self.function(*(state + [self._step, self._tokens]))
            loss = outs[0]
            for dst, src in zip(state, outs[1:]):
                np.copyto(dst, src)
        self.steps += 1
        return float(loss)

    def parameters(self):
        """name -> numpy array (the live arrays the step updates)."""
        return dict(zip(self.names, self._params))

    def optimizer_state(self):
        """name -> (m, v) arrays (live)."""
        return dict((n, (m, v)) for n, m, v in zip(self.names, self._m, self._v))

    def copy_to(self, model):
        """Copy the trained parameters into model (same architecture; tied
        weights are written once)."""
        names, params = _trained_parameters(model)
        if names != self.names:
            raise ValueError("the model's parameters %s do not match the train step's %s"
                             % (names[:3] + ["..."], self.names[:3] + ["..."]))
        with torch.no_grad():
            for p, a in zip(params, self._params):
                if tuple(p.shape) != a.shape:
                    raise ValueError("parameter shape %s does not match %s"
                                     % (tuple(p.shape), a.shape))
                p.copy_(torch.from_numpy(a))
        return model


class CompiledTrainer(object):
    """kvshift.harness's trainer protocol over a compiled TrainStep:
    ``train_step(tokens) -> loss``, ``state()`` / ``load_state()`` (the
    parameters, AdamW moments and step count, for checkpoints) and
    ``logits(tokens)`` (the model's forward in PyTorch with the trained
    parameters, for evaluation).

    CompiledTrainer(model, batch, seq, lr=1e-3, betas=(0.9, 0.999),
                    eps=1e-8, weight_decay=1e-2, pipeline=None)"""

    def __init__(self, model, batch, seq, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=1e-2, pipeline=None):
        self.model = model
        self.step_fn = TrainStep(model, batch, seq, lr=lr, betas=betas, eps=eps,
                                 weight_decay=weight_decay, pipeline=pipeline)

    def train_step(self, tokens):
        return self.step_fn.step(tokens)

    def state(self):
        ts = self.step_fn
        out = {"step": np.asarray(ts.steps, dtype=np.int64)}
        for n, p, m, v in zip(ts.names, ts._params, ts._m, ts._v):
            out["param/" + n] = p.copy()
            out["opt/exp_avg/" + n] = m.copy()
            out["opt/exp_avg_sq/" + n] = v.copy()
        return out

    def load_state(self, state):
        ts = self.step_fn
        for n, p, m, v in zip(ts.names, ts._params, ts._m, ts._v):
            fresh = "step" not in state and "opt/step/" + n not in state
            for key, dst in (("param/", p), ("opt/exp_avg/", m), ("opt/exp_avg_sq/", v)):
                if key + n not in state and key != "param/" and fresh:
                    dst.fill(0)  # an EagerTrainer's checkpoint before its first step
                    continue
                if key + n not in state:
                    raise KeyError("checkpoint lacks %r" % (key + n))
                src = np.asarray(state[key + n])
                if src.shape != dst.shape:
                    raise ValueError("checkpoint's %s has shape %s, expected %s"
                                     % (key + n, src.shape, dst.shape))
                np.copyto(dst, src)  # in place: the compiled step holds these arrays
        if "step" in state:
            ts.steps = int(state["step"])
        else:
            # An EagerTrainer's checkpoint: torch.optim.AdamW's per-parameter
            # step counts (all equal), absent before the first step.
            steps = {int(float(state["opt/step/" + n])) for n in ts.names
                     if "opt/step/" + n in state}
            if len(steps) > 1:
                raise ValueError("checkpoint's per-parameter step counts differ: %s"
                                 % sorted(steps))
            ts.steps = steps.pop() if steps else 0

    def logits(self, tokens):
        self.step_fn.copy_to(self.model)
        self.model.eval()
        with torch.no_grad():
            return self.model(torch.as_tensor(np.asarray(tokens), dtype=torch.int64)).numpy()
