"""kvshift: KV shifting attention (arXiv 2411.19574) as an MLIR dialect; the
Python side.

* ``kvshift.torch``: the PyTorch reference of the op (``kv_shift``,
  ``kv_shift_attention``, RoPE after the mix) and the ``KVShiftAttention``
  module with the paper's q/k/v/o projections and mixing weights.
* ``kvshift.models``: a small Llama-style model built from it
  (``LlamaConfig``, ``KVShiftLlama``).
* ``kvshift.import_module(module, example_inputs)`` (``kvshift.importer``):
  traces a torch module at the ATen level and returns its MLIR (upstream
  dialects; ``KVShiftAttention`` becomes ``kvshift.kv_shift_attention``) as a
  ``str`` that also records the argument order (``arg_names``, ``bind``).
* ``kvshift.import_step(model, batch, new_tokens, max_len)``: a
  ``KVShiftLlama.step`` with a KV cache (prefill or decode) as one function
  with ``kvshift.kv_cache_append`` / ``kv_cache_attention`` ops.
* ``kvshift.train``: a whole AdamW train step (forward, cross entropy,
  gradients, update) as one function (``import_train_step``) and
  ``TrainStep``, which compiles it and owns the parameters and optimizer
  state it updates in place; ``kvshift.import_train_step`` is a shortcut.
* ``kvshift.compile(text_or_module, target="cpu")`` (``kvshift.runtime``):
  MLIR text or a torch module -> a callable on numpy arrays, through the
  project's C++ runtime (``libKVShiftRuntimeC.so``, ctypes);
  ``kvshift.opt(text, pipeline)`` runs a pass pipeline on MLIR text.
* ``kvshift.cuda``: the fused GPU kernels on PyTorch CUDA tensors
  (``kv_shift_attention``, differentiable), through the CUDA driver API.

Put the repository's ``python/`` directory on ``PYTHONPATH`` and use Debian's
``/usr/bin/python3`` (with python3-torch)::

    PYTHONPATH=$PWD/python /usr/bin/python3 -c "import kvshift.torch"
"""

from .runtime import (compile, opt, CompiledFunction, Error, CompileError,
                      ExecutionError)

__all__ = ["torch", "models", "train", "import_module", "import_step", "import_train_step",
           "compile", "opt",
           "CompiledFunction", "Error", "CompileError", "ExecutionError"]


def import_module(module, example_inputs, **kwargs):
    """torch module -> MLIR text; see kvshift.importer.import_module."""
    from .importer import import_module as _import_module
    return _import_module(module, example_inputs, **kwargs)


def import_step(model, batch, new_tokens, max_len, **kwargs):
    """KVShiftLlama.step (KV-cache prefill/decode) -> MLIR text; see
    kvshift.importer.import_step."""
    from .importer import import_step as _import_step
    return _import_step(model, batch, new_tokens, max_len, **kwargs)


def import_train_step(model, batch, seq, **kwargs):
    """One AdamW train step of model (forward, cross entropy, gradients,
    update) -> MLIR text; see kvshift.train.import_train_step."""
    from .train import import_train_step as _import_train_step
    return _import_train_step(model, batch, seq, **kwargs)
