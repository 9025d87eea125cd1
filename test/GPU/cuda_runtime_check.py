"""Checks libkvshift_cuda_runtime through ctypes: the probe, and that every
failure is recorded as one clear line (never an abort) and taken once.

Without a usable device (this machine, CI): the probe says "no CUDA device"
and every mgpu* call records that. With a device: a round trip through
device memory, and a recorded error for a missing kernel.
"""
import ctypes
import sys

lib = ctypes.CDLL(sys.argv[1])
buf = ctypes.create_string_buffer(1024)
lib.kvshift_cuda_probe.restype = ctypes.c_int
lib.kvshift_cuda_take_error.restype = ctypes.c_int
for name in ["mgpuStreamCreate", "mgpuMemAlloc", "mgpuModuleLoadJIT",
             "mgpuModuleGetFunction"]:
    getattr(lib, name).restype = ctypes.c_void_p
lib.mgpuMemAlloc.argtypes = [ctypes.c_uint64, ctypes.c_void_p, ctypes.c_bool]
lib.mgpuMemcpy.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                           ctypes.c_void_p]
lib.mgpuMemFree.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
lib.mgpuStreamSynchronize.argtypes = [ctypes.c_void_p]
lib.mgpuStreamDestroy.argtypes = [ctypes.c_void_p]
lib.mgpuModuleGetFunction.argtypes = [ctypes.c_void_p, ctypes.c_char_p]


def take():
    if lib.kvshift_cuda_take_error(buf, len(buf)):
        return buf.value.decode()
    return None


assert take() is None, "no error before any call"
status = lib.kvshift_cuda_probe(buf, len(buf))
message = buf.value.decode()
print("probe:", status, message)
if status != 0:
    assert message.startswith("no CUDA device"), message
    assert "\n" not in message
    # Every runtime entry point records the reason and returns null.
    assert lib.mgpuStreamCreate() is None
    err = take()
    print("error:", err)
    assert err.startswith("no CUDA device") and "(in mgpuStreamCreate)" in err
    assert take() is None, "an error is taken once"
    assert lib.mgpuMemAlloc(64, None, False) is None
    assert "(in mgpuMemAlloc)" in take()
    # Sticky: after a failure, later calls do nothing and add nothing.
    lib.mgpuStreamCreate()
    lib.mgpuMemcpy(None, None, 16, None)
    err = take()
    assert "(in mgpuStreamCreate)" in err, err
    assert take() is None
    print("OK: no device, errors recorded")
else:
    assert message.startswith("CUDA device 0: "), message
    stream = lib.mgpuStreamCreate()
    assert stream, take()
    host = (ctypes.c_float * 16)(*range(16))
    back = (ctypes.c_float * 16)()
    dev = lib.mgpuMemAlloc(64, stream, False)
    assert dev, take()
    lib.mgpuMemcpy(dev, ctypes.addressof(host), 64, stream)
    lib.mgpuMemcpy(ctypes.addressof(back), dev, 64, stream)
    lib.mgpuStreamSynchronize(stream)
    lib.mgpuMemFree(dev, stream)
    lib.mgpuStreamDestroy(stream)
    assert take() is None
    assert list(back) == list(host)
    assert lib.mgpuModuleGetFunction(None, b"missing") is None
    err = take()
    assert err and "missing" in err, err
    print("OK: device round trip, errors recorded")
