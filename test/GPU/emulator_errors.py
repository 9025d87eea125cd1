"""Runs the kernels of Inputs/emulator-errors.mlir (generic form on stdin)
in scripts/gpu_emulator.py: each bug must be reported, the correct kernel
must compute its result."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "scripts"))
import gpu_emulator as ge  # noqa: E402

module = ge.Module(sys.stdin.read())
for name in ("oob", "divergent", "race", "norace"):
    out = np.full(64, np.nan, np.float32)
    try:
        module.launch(name, (1, 1, 1), 64, [out])
        print(f"{name}: ran, out[0] = {out[0]}, out[63] = {out[63]}")
    except ge.EmulatorError as e:
        print(f"{name}: error: {e}")
