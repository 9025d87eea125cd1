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
