"""Compile MLIR (or a torch module) into a Python callable and run it on the
CPU: ``kvshift.compile``.

::

    fn = kvshift.compile(text, target="cpu")   # MLIR text, kvshift or upstream dialects
    out = fn(q, k, v, kw, vw)                  # numpy arrays (or torch CPU tensors) in
                                               # numpy arrays out

The compiled code comes from the project's C++ runtime (the same one as
``kvshift-run``: parse, lower with a named pipeline, JIT with MLIR's
ExecutionEngine), reached with ``ctypes`` through ``libKVShiftRuntimeC.so``
(Debian's MLIR has no Python bindings). The library is looked up, in order,
at ``$KVSHIFT_RUNTIME_LIB``, in ``$KVSHIFT_BUILD_DIR/lib`` and in the
repository's ``build/lib`` (what ``bash scripts/setup.sh`` builds).

Calling convention
    Positional arguments bind to the entry function's arguments in order.
    Arrays are converted to C order; their dtype must be the one the argument
    needs (float32 for f32 and bf16, float16, float64, int32, int64) -- a
    mismatch is a ``ValueError`` naming the argument, never a silent cast.
    Python numbers are accepted for scalar arguments, torch tensors (CPU) for
    anything (bfloat16 tensors are widened to float32, the carrier of bf16).
    One result is returned as a numpy array, several as a tuple; bf16 results
    come back as float32.

In-place state
    A function that returns an updated argument (a KV cache passed in and
    returned by ``kvshift.kv_cache_append``) has that result *tied* to the
    argument (``fn.tied_results``). A normal call copies the inputs and
    returns every result. ``fn.run_in_place(*arrays)`` (or
    ``fn.prepare_in_place(*arrays)`` for repeated runs) passes the arrays
    without copying, writes tied results into their arguments' arrays and
    returns the others; arguments that are not tied are never written.

Errors
    ``CompileError``: the text does not parse or verify, the entry is
    missing, lowering fails. ``ExecutionError``: the compiled function failed
    at run time (e.g. a buffer larger than ``memory_limit``). One case cannot
    be reported as an exception: a buffer over the limit requested inside a
    parallel loop (an OpenMP region) prints the error and ends the process
    (exit status 1), as there is no frame to return to. With the
    default limit (physical memory) that needs inputs nearly as large as the
    machine's memory.
"""

import ctypes
import os
import re

import numpy as np

__all__ = ["compile", "opt", "CompiledFunction", "InPlaceCall", "Error",
           "CompileError", "ExecutionError", "runtime_library_path"]


class Error(Exception):
    """Base class of the errors of kvshift's compile-and-run API."""


class CompileError(Error):
    """The module cannot be parsed, verified, lowered or JIT-compiled."""


class ExecutionError(Error):
    """The compiled function failed while running."""


# ---------------------------------------------------------------------------
# The C API (include/kvshift/Runtime/CAPI.h)
# ---------------------------------------------------------------------------

_CAPI_VERSION = 2

# kvshift_dtype codes <-> numpy dtypes.
_DTYPES = [np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64),
           np.dtype(np.int32), np.dtype(np.int64)]
_DTYPE_CODE = {d: i for i, d in enumerate(_DTYPES)}
# kvshift_element_type codes: names and carrier dtypes.
_ELEMENTS = ["f16", "bf16", "f32", "f64", "i32", "i64"]
_ELEMENT_CARRIER = [np.float16, np.float32, np.float32, np.float64,
                    np.int32, np.int64]


class _Array(ctypes.Structure):
    _fields_ = [("dtype", ctypes.c_int32), ("rank", ctypes.c_int32),
                ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("data", ctypes.c_void_p)]


class _Result(ctypes.Structure):
    _fields_ = [("dtype", ctypes.c_int32), ("rank", ctypes.c_int32),
                ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("data", ctypes.c_void_p), ("nbytes", ctypes.c_int64)]


_lib = None


def runtime_library_path():
    """Where ``libKVShiftRuntimeC.so`` is found (or would be looked for)."""
    env = os.environ.get("KVSHIFT_RUNTIME_LIB")
    if env:
        return env
    candidates = []
    build = os.environ.get("KVSHIFT_BUILD_DIR")
    if build:
        candidates.append(os.path.join(build, "lib", "libKVShiftRuntimeC.so"))
    repo = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    candidates.append(os.path.join(repo, "build", "lib",
                                   "libKVShiftRuntimeC.so"))
    for c in candidates:
        if os.path.exists(c):
            return c
    return candidates[0]


def _library():
    global _lib
    if _lib is not None:
        return _lib
    path = runtime_library_path()
    if not os.path.exists(path):
        raise CompileError(
            "the kvshift runtime library is not built: %s does not exist "
            "(run `bash scripts/setup.sh`, or set KVSHIFT_RUNTIME_LIB or "
            "KVSHIFT_BUILD_DIR)" % path)
    lib = ctypes.CDLL(path)
    c = ctypes
    lib.kvshift_capi_version.restype = c.c_int
    lib.kvshift_executable_create.argtypes = [
        c.c_char_p, c.c_size_t, c.c_char_p, c.c_char_p, c.c_char_p,
        c.c_uint64, c.POINTER(c.c_void_p), c.POINTER(c.c_void_p)]
    lib.kvshift_executable_create.restype = c.c_int
    lib.kvshift_executable_destroy.argtypes = [c.c_void_p]
    lib.kvshift_executable_destroy.restype = None
    lib.kvshift_executable_compile.argtypes = [c.c_void_p,
                                               c.POINTER(c.c_void_p)]
    lib.kvshift_executable_compile.restype = c.c_int
    lib.kvshift_executable_num_values.argtypes = [c.c_void_p, c.c_int32]
    lib.kvshift_executable_num_values.restype = c.c_int32
    lib.kvshift_executable_value.argtypes = [
        c.c_void_p, c.c_int32, c.c_int32, c.POINTER(c.c_char_p),
        c.POINTER(c.c_int32), c.POINTER(c.c_int32), c.POINTER(c.c_int32),
        c.POINTER(c.POINTER(c.c_int64))]
    lib.kvshift_executable_value.restype = c.c_int
    lib.kvshift_executable_run.argtypes = [
        c.c_void_p, c.POINTER(_Array), c.c_size_t, c.c_uint32,
        c.POINTER(c.POINTER(_Result)), c.POINTER(c.c_size_t),
        c.POINTER(c.c_double), c.POINTER(c.c_void_p)]
    lib.kvshift_executable_run.restype = c.c_int
    lib.kvshift_executable_run_in_place.argtypes = \
        lib.kvshift_executable_run.argtypes
    lib.kvshift_executable_run_in_place.restype = c.c_int
    lib.kvshift_executable_tied_arguments.argtypes = [
        c.c_void_p, c.POINTER(c.c_int64), c.c_size_t, c.POINTER(c.c_void_p)]
    lib.kvshift_executable_tied_arguments.restype = c.c_int
    lib.kvshift_results_free.argtypes = [c.POINTER(_Result), c.c_size_t]
    lib.kvshift_results_free.restype = None
    lib.kvshift_run_pass_pipeline.argtypes = [
        c.c_char_p, c.c_size_t, c.c_char_p, c.POINTER(c.c_void_p),
        c.POINTER(c.c_void_p)]
    lib.kvshift_run_pass_pipeline.restype = c.c_int
    lib.kvshift_string_free.argtypes = [c.c_void_p]
    lib.kvshift_string_free.restype = None
    version = lib.kvshift_capi_version()
    if version != _CAPI_VERSION:
        raise CompileError("%s speaks C API version %d, this package needs %d "
                           "(rebuild with `bash scripts/setup.sh`)"
                           % (path, version, _CAPI_VERSION))
    _lib = lib
    return lib


def _take_error(lib, err):
    if not err.value:
        return "unknown error"
    msg = ctypes.cast(err.value, ctypes.c_char_p).value.decode(
        "utf-8", "replace")
    lib.kvshift_string_free(err.value)
    return msg


# ---------------------------------------------------------------------------
# The callable
# ---------------------------------------------------------------------------

class ValueInfo(object):
    """An argument or result of the entry function."""

    def __init__(self, type_, element, is_buffer, shape):
        self.type = type_          # MLIR spelling, e.g. "tensor<1x?x8xf32>"
        self.element = element     # "f32", "bf16", ...
        self.is_buffer = is_buffer
        self.shape = shape         # tuple, None for a dynamic dimension
        self.dtype = np.dtype(_ELEMENT_CARRIER[_ELEMENTS.index(element)])

    def __repr__(self):
        return "ValueInfo(%s)" % self.type


class CompiledFunction(object):
    """A compiled entry function; call it with arrays. See the module
    docstring for the calling convention."""

    def __init__(self, text, entry, pipeline, memory_limit, arg_names=None,
                 target="cpu"):
        lib = _library()
        self._lib = lib
        self._handle = None
        self.entry = entry
        self.pipeline = pipeline
        self.target = target
        data = text.encode("utf-8")
        handle = ctypes.c_void_p()
        err = ctypes.c_void_p()
        rc = lib.kvshift_executable_create(
            data, len(data), entry.encode("utf-8"), target.encode("utf-8"),
            (pipeline or "").encode("utf-8"), int(memory_limit),
            ctypes.byref(handle), ctypes.byref(err))
        if rc:
            raise CompileError(_take_error(lib, err))
        self._handle = handle
        self.arguments = self._values(0)
        self.results = self._values(1)
        self.arg_names = list(arg_names) if arg_names else [
            "#%d" % i for i in range(len(self.arguments))]
        err = ctypes.c_void_p()
        if lib.kvshift_executable_compile(self._handle, ctypes.byref(err)):
            raise CompileError(_take_error(lib, err))
        tied = (ctypes.c_int64 * max(1, len(self.results)))()
        err = ctypes.c_void_p()
        if lib.kvshift_executable_tied_arguments(
                self._handle, tied, len(self.results), ctypes.byref(err)):
            raise CompileError(_take_error(lib, err))
        #: Per result: the index of the argument an in-place run writes it
        #: into (a state such as a KV cache passed in and returned updated),
        #: or None.
        self.tied_results = [None if tied[i] < 0 else int(tied[i])
                             for i in range(len(self.results))]

    def _values(self, which):
        out = []
        n = self._lib.kvshift_executable_num_values(self._handle, which)
        for i in range(n):
            t = ctypes.c_char_p()
            elt = ctypes.c_int32()
            buf = ctypes.c_int32()
            rank = ctypes.c_int32()
            shape = ctypes.POINTER(ctypes.c_int64)()
            self._lib.kvshift_executable_value(
                self._handle, which, i, ctypes.byref(t), ctypes.byref(elt),
                ctypes.byref(buf), ctypes.byref(rank), ctypes.byref(shape))
            dims = tuple(None if shape[d] < 0 else int(shape[d])
                         for d in range(rank.value))
            out.append(ValueInfo(t.value.decode(), _ELEMENTS[elt.value],
                                 bool(buf.value), dims))
        return out

    def __del__(self):
        if getattr(self, "_handle", None):
            self._lib.kvshift_executable_destroy(self._handle)
            self._handle = None

    def __repr__(self):
        return "<kvshift.CompiledFunction @%s (%s) -> (%s)>" % (
            self.entry, ", ".join(a.type for a in self.arguments),
            ", ".join(r.type for r in self.results))

    def _prepare(self, args):
        if len(args) != len(self.arguments):
            raise TypeError("@%s takes %d argument(s), got %d"
                            % (self.entry, len(self.arguments), len(args)))
        arrays = []
        for i, (a, info) in enumerate(zip(args, self.arguments)):
            name = self.arg_names[i]
            what = "argument %s of @%s (%s)" % (
                name if name.startswith("#") else "'%s' (#%d)" % (name, i),
                self.entry, info.type)
            if hasattr(a, "detach") and hasattr(a, "numpy"):  # torch tensor
                t = a.detach()
                if t.device.type != "cpu":
                    raise ValueError("%s: expected a CPU tensor, found one on "
                                     "%s" % (what, t.device))
                if str(t.dtype) == "torch.bfloat16":
                    t = t.float()
                a = t.numpy()
            if not info.is_buffer and isinstance(a, (bool, int, float)) \
                    and not isinstance(a, bool):
                a = np.array(a, dtype=info.dtype)
            a = np.asarray(a)
            if a.dtype != info.dtype:
                raise ValueError(
                    "%s: expected dtype %s%s, found %s" % (
                        what, info.dtype.name,
                        " (bf16 travels as float32)"
                        if info.element == "bf16" else "", a.dtype.name))
            # (np.ascontiguousarray would turn a 0-d array into a 1-d one)
            arrays.append(a if a.flags["C_CONTIGUOUS"] else a.copy(order="C"))
        return arrays

    def _c_arrays(self, arrays):
        c_arrays = (_Array * max(1, len(arrays)))()
        shapes = []
        for i, a in enumerate(arrays):
            shape = (ctypes.c_int64 * max(1, a.ndim))(*a.shape)
            shapes.append(shape)
            c_arrays[i].dtype = _DTYPE_CODE[a.dtype]
            c_arrays[i].rank = a.ndim
            c_arrays[i].shape = shape
            c_arrays[i].data = a.ctypes.data
        return c_arrays, shapes

    def _run(self, c_arrays, n_arrays, repeat, in_place):
        results = ctypes.POINTER(_Result)()
        n = ctypes.c_size_t()
        ms = ctypes.c_double()
        err = ctypes.c_void_p()
        run = self._lib.kvshift_executable_run_in_place if in_place \
            else self._lib.kvshift_executable_run
        rc = run(self._handle, c_arrays, n_arrays, repeat,
                 ctypes.byref(results), ctypes.byref(n), ctypes.byref(ms),
                 ctypes.byref(err))
        if rc:
            msg = _take_error(self._lib, err)
            # Input mismatches the runtime found (e.g. dynamic shapes that do
            # not fit) are the caller's error; everything else happened while
            # running.
            if msg.startswith("the input shapes do not fit") or \
                    msg.startswith("argument #"):
                raise ValueError(msg)
            if msg.startswith("lowering with pipeline") or \
                    msg.startswith("pipeline '") or \
                    msg.startswith("cannot JIT-compile"):
                raise CompileError(msg)
            raise ExecutionError(msg)
        try:
            outs = []
            for i in range(n.value):
                r = results[i]
                dtype = _DTYPES[r.dtype]
                shape = tuple(r.shape[d] for d in range(r.rank))
                buf = (ctypes.c_char * r.nbytes).from_address(r.data) \
                    if r.nbytes else b""
                outs.append(np.frombuffer(bytes(buf), dtype=dtype)
                            .reshape(shape).copy())
        finally:
            self._lib.kvshift_results_free(results, n.value)
        return outs, ms.value

    def _call(self, args, repeat):
        arrays = self._prepare(args)
        c_arrays, _shapes = self._c_arrays(arrays)
        return self._run(c_arrays, len(arrays), repeat, in_place=False)

    def prepare_in_place(self, *args):
        """Binds arrays for repeated in-place runs without copies; returns an
        ``InPlaceCall`` (call it to run). Every argument must be a numpy
        array of exactly the argument's dtype (no bf16), C-contiguous;
        arguments in ``tied_results`` must be writable and receive their
        results. The caller may change the arrays' contents between calls
        (e.g. the next token), never their shape or storage."""
        if len(args) != len(self.arguments):
            raise TypeError("@%s takes %d argument(s), got %d"
                            % (self.entry, len(self.arguments), len(args)))
        tied = set(t for t in self.tied_results if t is not None)
        for i, (a, info) in enumerate(zip(args, self.arguments)):
            name = self.arg_names[i]
            what = "argument %s of @%s (%s)" % (
                name if name.startswith("#") else "'%s' (#%d)" % (name, i),
                self.entry, info.type)
            if not isinstance(a, np.ndarray):
                raise TypeError("%s: an in-place run takes numpy arrays, found "
                                "%s" % (what, type(a).__name__))
            if info.element == "bf16":
                raise ValueError("%s: bf16 values travel as float32 and need "
                                 "a copying call" % what)
            if a.dtype != info.dtype:
                raise ValueError("%s: expected dtype %s, found %s"
                                 % (what, info.dtype.name, a.dtype.name))
            if not a.flags["C_CONTIGUOUS"]:
                raise ValueError("%s: the array must be C-contiguous" % what)
            if i in tied and not a.flags["WRITEABLE"]:
                raise ValueError("%s: the function updates this argument in "
                                 "place; the array must be writable" % what)
        return InPlaceCall(self, list(args))

    def run_in_place(self, *args):
        """One in-place run (see ``prepare_in_place``): tied results land in
        their arguments' arrays; the other results are returned (one array,
        or a tuple)."""
        outs = self.prepare_in_place(*args)()
        return outs[0] if len(outs) == 1 else tuple(outs)

    def __call__(self, *args):
        outs, _ = self._call(args, 1)
        if len(outs) == 1:
            return outs[0]
        return tuple(outs)

    def time(self, *args, repeat=10):
        """Runs the function ``repeat`` times on ``args`` and returns the
        median wall time of one run, in milliseconds."""
        if repeat < 1:
            raise ValueError("repeat must be at least 1")
        _, ms = self._call(args, int(repeat))
        return ms


class InPlaceCall(object):
    """Arrays bound to a CompiledFunction for repeated in-place runs
    (``CompiledFunction.prepare_in_place``). ``call()`` returns the results
    that are not tied to an argument, as a list; ``call.time(repeat)`` the
    median time of one run in milliseconds."""

    def __init__(self, function, arrays):
        self.function = function
        self.arrays = arrays  # kept alive: the C structures point into them
        self._c_arrays, self._shapes = function._c_arrays(arrays)

    def __call__(self):
        outs, _ = self.function._run(self._c_arrays, len(self.arrays), 1,
                                     in_place=True)
        return outs

    def time(self, repeat=10):
        if repeat < 1:
            raise ValueError("repeat must be at least 1")
        _, ms = self.function._run(self._c_arrays, len(self.arrays),
                                   int(repeat), in_place=True)
        return ms


def opt(text, pipeline):
    """Runs a pass pipeline on MLIR text and returns the resulting MLIR text,
    as ``kvshift-opt --pass-pipeline`` would: e.g.
    ``kvshift.opt(text, "kvshift-raise,canonicalize")`` shows what the
    raising pass made of an imported model. ``pipeline`` is a registered
    pipeline name or a textual pass pipeline."""
    lib = _library()
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8")
    data = str(text).encode("utf-8")
    out = ctypes.c_void_p()
    err = ctypes.c_void_p()
    if lib.kvshift_run_pass_pipeline(data, len(data), pipeline.encode("utf-8"),
                                     ctypes.byref(out), ctypes.byref(err)):
        raise CompileError(_take_error(lib, err))
    return _take_error(lib, out)


# ---------------------------------------------------------------------------
# compile()
# ---------------------------------------------------------------------------

_FUNC_RE = re.compile(
    r"^\s*func\.func\s+(?:(public|private|nested)\s+)?@([\w$.\-]+)\s*\(",
    re.MULTILINE)


def _default_entry(text):
    names = [m.group(2) for m in _FUNC_RE.finditer(text)
             if m.group(1) != "private"]
    if len(names) == 1:
        return names[0]
    if "forward" in names:
        return "forward"
    if not names:
        raise CompileError("the module defines no public func.func; name the "
                           "function to run with entry=")
    raise CompileError("the module defines several functions (%s); name the "
                       "one to run with entry="
                       % ", ".join("@" + n for n in names))


def compile(text_or_module, target="cpu", pipeline=None, entry=None,
            example_inputs=None, memory_limit=0):
    """Compiles MLIR text, or a torch ``nn.Module`` (imported with
    ``kvshift.import_module(module, example_inputs)``), into a callable.

    ``target``: ``"cpu"`` or ``"cuda"`` (an NVIDIA GPU through
    ``libkvshift_cuda_runtime``: arguments are copied to the device and
    results back on each call; a ``CompileError`` saying "no CUDA device"
    without a usable GPU and driver. The GPU path has not been run on a GPU
    yet, see docs/GPU.md).
    ``pipeline``: a registered pipeline (``kvshift-to-llvm-cpu-fused``, the
    CPU default, the reference ``kvshift-to-llvm-cpu``, or
    ``kvshift-to-nvvm{chip=...}``, the CUDA default) or a textual pass
    pipeline. ``entry``: the function to run (default: the only public
    function, or ``@forward``). ``memory_limit``: the largest buffer, in
    bytes, the compiled code may allocate (0: physical memory).

    For a module, the returned callable takes the model's inputs only: the
    parameters and buffers are bound from the module's state at compile time.
    """
    if target not in ("cpu", "cuda"):
        raise ValueError("target=%r: expected 'cpu' or 'cuda'" % (target,))
    if isinstance(text_or_module, (bytes, bytearray)):
        text_or_module = text_or_module.decode("utf-8")
    if isinstance(text_or_module, str):
        text = text_or_module
        if entry is None:
            entry = _default_entry(text)
        return CompiledFunction(text, entry, pipeline, memory_limit,
                                target=target)
    return _compile_module(text_or_module, example_inputs, pipeline, entry,
                           memory_limit, target)


def _compile_module(module, example_inputs, pipeline, entry, memory_limit,
                    target):
    try:
        import torch
    except ImportError:  # pragma: no cover
        raise TypeError("compile() takes MLIR text or a torch.nn.Module")
    if not isinstance(module, torch.nn.Module):
        raise TypeError("compile() takes MLIR text or a torch.nn.Module, "
                        "found %s" % type(module).__name__)
    if example_inputs is None:
        raise ValueError("compiling a torch module needs example_inputs (a "
                         "tuple of tensors with the shapes to compile for)")
    from . import importer
    imported = importer.import_module(module, example_inputs)
    return BoundModule(imported, module, pipeline, entry, memory_limit, target)


class BoundModule(object):
    """A compiled torch module: call it with the model's inputs; its
    parameters and buffers were captured when it was compiled."""

    def __init__(self, imported, module, pipeline, entry, memory_limit,
                 target="cpu"):
        text = str(imported)
        entry = entry or getattr(imported, "func_name", None) or \
            _default_entry(text)
        input_names = list(getattr(imported, "input_names", []))
        param_names = list(getattr(imported, "param_names", []))
        self.function = CompiledFunction(
            text, entry, pipeline, memory_limit,
            arg_names=input_names + param_names
            if input_names or param_names else None, target=target)
        n_inputs = len(self.function.arguments) - len(param_names)
        if input_names and len(input_names) != n_inputs:
            raise CompileError("the imported function takes %d argument(s) "
                               "but names %d input(s) and %d parameter(s)"
                               % (len(self.function.arguments),
                                  len(input_names), len(param_names)))
        state = dict(module.state_dict(keep_vars=False))
        state.update(dict(module.named_buffers()))
        params = []
        for name in param_names:
            if name not in state:
                raise CompileError("the imported function needs parameter "
                                   "'%s', which the module does not have"
                                   % name)
            t = state[name].detach()
            if str(t.dtype) == "torch.bfloat16":
                t = t.float()
            params.append(np.ascontiguousarray(t.cpu().numpy()))
        self._params = params
        self.num_inputs = n_inputs
        self.text = text

    def __call__(self, *inputs):
        if len(inputs) != self.num_inputs:
            raise TypeError("the compiled module takes %d input(s), got %d"
                            % (self.num_inputs, len(inputs)))
        return self.function(*(tuple(inputs) + tuple(self._params)))

    def time(self, *inputs, repeat=10):
        return self.function.time(*(tuple(inputs) + tuple(self._params)),
                                  repeat=repeat)
