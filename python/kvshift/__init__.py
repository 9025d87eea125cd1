"""kvshift: KV shifting attention (arXiv 2411.19574) as an MLIR dialect; the
Python side.

Available now:

* ``kvshift.torch``: the PyTorch reference of the op (``kv_shift``,
  ``kv_shift_attention``, RoPE after the mix) and the ``KVShiftAttention``
  module with the paper's q/k/v/o projections and mixing weights.
* ``kvshift.models``: a small Llama-style model built from it
  (``LlamaConfig``, ``KVShiftLlama``).

Not yet: ``kvshift.import_module`` (torch module -> MLIR) and
``kvshift.compile`` (MLIR -> callable); until then, write the MLIR and run it
with the ``kvshift-run`` tool.

Put the repository's ``python/`` directory on ``PYTHONPATH`` and use Debian's
``/usr/bin/python3`` (with python3-torch)::

    PYTHONPATH=$PWD/python /usr/bin/python3 -c "import kvshift.torch"
"""

from .runtime import (compile, opt, CompiledFunction, Error, CompileError,
                      ExecutionError)

__all__ = ["torch", "models", "compile", "opt", "CompiledFunction", "Error",
           "CompileError", "ExecutionError"]
