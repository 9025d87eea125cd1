"""The host side of scripts/wgmma_probe.py (which runs only on an sm_90
GPU) against stand-in devices on the CPU: cuLaunchKernel is answered by
reading the launch's parameters (A, B, B's offsets, D, LBO, SBO) and
computing D = A B' in NumPy, B' decoded from the shared-memory image under
a given reading of the layouts. The probe must report the kernels' layouts
as matching for a device that reads them as the kernels do, and point at
the right candidate, or at permuted fragments, for devices that do not.

    python3 wgmma_probe_host.py SCRIPTS_DIR
"""
import ctypes
import sys

import numpy as np
import torch

sys.path.insert(0, sys.argv[1])
import wgmma_probe as wp  # noqa: E402

# CPU tensors stand in for device ones.
torch.Tensor.cuda = lambda self: self
torch.cuda.synchronize = lambda: None


class _Stream:
    cuda_stream = 0


torch.cuda.current_stream = lambda: _Stream()


def arg(params, i, ctype):
    return ctypes.cast(params[i], ctypes.POINTER(ctype)).contents.value


def array(ptr, ctype, n):
    return np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctype)), (n,))


class Device:
    """`reading(image, trans, lbo, sbo)` -> B as this device reads it;
    `rows`: the order of D's rows as this device writes them."""

    def __init__(self, reading, rows=None):
        self.reading, self.rows = reading, rows

    def cuLaunchKernel(self, fn, gx, gy, gz, bx, by, bz, smem, stream, params, extra):
        assert (gx, gy, gz, bx, by, bz, smem) == (1, 1, 1, 128, 1, 1, 0)
        ss = fn == "ss"  # A from shared memory: A's offsets before B's
        n_ptr = 5 if ss else 4
        ptrs = [arg(params, i, ctypes.c_void_p) for i in range(n_ptr)]
        lbo = arg(params, n_ptr, ctypes.c_uint32)
        sbo = arg(params, n_ptr + 1, ctypes.c_uint32)
        if ss:
            lbo_b = arg(params, n_ptr + 2, ctypes.c_uint32)
            sbo_b = arg(params, n_ptr + 3, ctypes.c_uint32)
        bf16 = lambda p, n: (array(p, ctypes.c_uint16, n).astype(np.uint32) << 16).view(  # noqa: E731
            np.float32).astype(np.float64)
        a = bf16(ptrs[0], wp.M * wp.K).reshape(wp.M, wp.K)
        b = bf16(ptrs[1], wp.K * wp.N).reshape(wp.K, wp.N)
        image = np.zeros(wp.SMEM_BYTES // 2)
        off_b = array(ptrs[3] if ss else ptrs[2], ctypes.c_int32, wp.K * wp.N)
        image[off_b // 2] = b.ravel()
        if ss:
            # A at A_BASE, read as a K-major B with n = m; B K-major
            # through its descriptor.
            off_a = array(ptrs[2], ctypes.c_int32, wp.M * wp.K)
            image[(wp.A_BASE + off_a) // 2] = a.ravel()
            a = self.reading(image[wp.A_BASE // 2:], 0, lbo, sbo).T
            d = a @ self.reading(image, 0, lbo_b, sbo_b)
        else:
            d = a @ self.reading(image, fn, lbo, sbo)
        if self.rows is not None:
            d = d[self.rows]
        array(ptrs[-1], ctypes.c_float, wp.M * wp.N)[:] = d.ravel()
        return 0


class Driver:
    def __init__(self, device):
        self.lib = device

    def load(self, text, name):
        assert b".target sm_90a" in text and name.encode() in text
        # imm-trans-b of wgmma_probe_t0 / _t1, or "ss" (A from shared memory)
        return "ss" if name.endswith("_ss") else int(name[-1])

    def check(self, r, what):
        assert r == 0, what


devices = {
    "the kernels' reading": Device(wp.decode),
    "LBO and SBO read the other way round": Device(
        lambda img, t, lbo, sbo: wp.decode(img, t, sbo, lbo)),
    "D's rows 0 and 1 exchanged": Device(wp.decode, [1, 0] + list(range(2, wp.M))),
}
for name, dev in devices.items():
    print(f"== device: {name}")
    print(f"failures: {wp.run(Driver(dev))}")
