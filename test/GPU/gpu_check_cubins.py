"""gpu_check.Driver's module loading on a fake CUDA driver: the sm_90a
cubins that build-gpu-check.sh puts beside the PTX are loaded instead of
JIT-compiling it, each module once; when a cubin does not load (for example
one newer than the driver), the PTX of that module and of every later one
is JIT-compiled instead.

    python3 gpu_check_cubins.py ARTIFACTS
"""
import os
import sys

sys.path.insert(0, sys.argv[1])
import gpu_check as g  # noqa: E402


class FakeLib:
    """The driver calls Driver makes, recorded; cuModuleLoadData (a cubin)
    fails with CUDA_ERROR_INVALID_IMAGE (200) when `fail`."""

    def __init__(self, fail):
        self.fail, self.calls = fail, []
        self.cuGetErrorName = lambda r, name: 0

    def cuModuleLoadData(self, module, image):
        self.calls.append(("cubin", image.value[:4]))
        return 200 if self.fail else 0

    def cuModuleLoadDataEx(self, module, ptx, n, opts, vals):
        self.calls.append(("ptx", ptx.value[:8]))
        return 0

    def cuModuleGetFunction(self, fn, module, name):
        return 0


kdir = os.path.join(sys.argv[1], "kernels")
ptx_files = sorted(f for f in os.listdir(kdir) if f.endswith(".ptx"))
images = g.cubin_images(sys.argv[1])
cubins = [f for f in os.listdir(kdir) if f.endswith(".sm_90a.cubin")]
print(f"{len(cubins)} cubins for {len(ptx_files)} PTX modules, "
      f"{len(set(images.values()))} of them found for their PTX")
texts = []
for f in ptx_files[:2]:
    with open(os.path.join(kdir, f), "rb") as fh:
        texts.append(fh.read())
for fail in (False, True):
    lib = FakeLib(fail)
    driver = g.Driver(images, lib=lib)
    for text in texts + texts:  # each module loaded once
        driver.load(text, "k")
    kinds = [k for k, _ in lib.calls]
    elf = all(head == b"\x7fELF" for k, head in lib.calls if k == "cubin")
    print(f"{'failing' if fail else 'loading'} cubins: {kinds}, loaded {driver.loaded}, "
          f"ELF images {elf}")
