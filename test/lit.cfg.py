# -*- Python -*-
# lit configuration of the kvshift test suite.

import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "KVSHIFT"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["Inputs", "CMakeLists.txt", "README.md", "lit.cfg.py",
                   "lit.site.cfg.py"]

config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.kvshift_obj_root, "test")

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%shlibext", config.llvm_shlib_ext))
config.substitutions.append(("%python", config.python_executable))
config.substitutions.append(("%kvshift_src", config.kvshift_src_root))
config.substitutions.append(("%kvshift_build", config.kvshift_obj_root))
config.substitutions.append(
    ("%integration", os.path.join(config.kvshift_src_root, "test", "Integration")))

# A sanitizer build: its shared runtime library cannot be loaded into a
# Python that is not instrumented, so tests of the Python compile API skip.
if getattr(config, "kvshift_sanitizers", ""):
    config.available_features.add("sanitizers")

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()

# The Python used by integration tests must see Debian's numpy: never let a
# PYTHONPATH or PYTHONHOME from the caller's environment leak in.
config.environment.pop("PYTHONHOME", None)
config.environment["PYTHONDONTWRITEBYTECODE"] = "1"
config.environment["KVSHIFT_TOOLS_DIR"] = config.kvshift_tools_dir
# The Python package finds libKVShiftRuntimeC.so of this build.
config.environment["KVSHIFT_BUILD_DIR"] = config.kvshift_obj_root
config.environment.pop("KVSHIFT_RUNTIME_LIB", None)
config.environment["OMP_NUM_THREADS"] = config.environment.get(
    "OMP_NUM_THREADS", "2")

llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.kvshift_tools_dir, append_path=True)

tool_dirs = [config.kvshift_tools_dir, config.llvm_tools_dir]
tools = [
    "kvshift-opt",
    "kvshift-run",
    "mlir-translate",
    "mlir-opt",
]
llvm_config.add_tool_substitutions(tools, tool_dirs)

# CUDA's ptxas validates the PTX of the GPU tests (REQUIRES: ptxas). Found on
# PATH, under $CUDA_HOME/bin or /usr/local/cuda/bin; without it those tests
# are reported UNSUPPORTED.
import shutil
ptxas = shutil.which("ptxas")
for root in [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"),
             "/usr/local/cuda"]:
    if ptxas or not root:
        continue
    candidate = os.path.join(root, "bin", "ptxas")
    if os.access(candidate, os.X_OK):
        ptxas = candidate
if ptxas:
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))
    config.substitutions.append(
        ("%cuda_home", os.path.dirname(os.path.dirname(os.path.realpath(ptxas)))))
    lit_config.note("ptxas: " + ptxas)
else:
    lit_config.note("ptxas not found: the PTX assembly tests are skipped")
config.substitutions.append(
    ("%extract_ptx", config.python_executable + " " +
     os.path.join(config.kvshift_src_root, "scripts", "extract-ptx.py")))

# libkvshift_cuda_runtime, configured when the CUDA toolkit was found and
# built by scripts/setup.sh (or `ninja check-kvshift`).
if config.kvshift_cuda_runtime and os.path.exists(config.kvshift_cuda_runtime):
    config.available_features.add("cuda-runtime")
    config.substitutions.append(("%cuda_runtime", config.kvshift_cuda_runtime))
elif config.kvshift_cuda_runtime:
    lit_config.note("libkvshift_cuda_runtime is configured but not built "
                    "(ninja kvshift_cuda_runtime kvshift_cuda_runtime_static): "
                    "the CUDA runtime tests are skipped")
else:
    lit_config.note("no CUDA toolkit at configure time: the CUDA runtime "
                    "tests are skipped")
