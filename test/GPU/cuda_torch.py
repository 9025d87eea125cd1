"""kvshift.cuda (the fused GPU kernels on PyTorch tensors, differentiable)
run on the CPU: its launches go to the emulator of the generated kernels
(scripts/gpu_emulator.py) through kvshift.cuda.set_driver, on CPU tensors.

It checks the module itself (compilation through the runtime library,
launcher attributes, grids, argument order, scratch buffers, the autograd
function) against the float64 reference: out and the gradients of q, k, v,
kw and vw (f32 within 1e-5; bf16/f16 within 4 ulps plus twice what a delta
from the forward's rounded output costs), and every bad input it refuses.

    cuda_torch.py KVSHIFT_OPT
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cuda_support import EPS, RESULTS, refused, rel, saved_sets_only  # noqa: E402
import gpu_emulator as ge  # noqa: E402
import kvshift_ref as ref  # noqa: E402
import kvshift.cuda as kc  # noqa: E402

OPT = sys.argv[1]


def case(dtype, b, hq, hkv, sq, sk, d, causal, theta=None, seed=0, chip="sm_80",
         options=""):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, hq, sq, d, generator=g).to(dtype)
    k = torch.randn(b, hkv, sk, d, generator=g).to(dtype)
    v = torch.randn(b, hkv, sk, d, generator=g).to(dtype)
    dout = torch.randn(b, hq, sq, d, generator=g).to(dtype)
    kw = (torch.rand(hkv, 2, generator=g) * 2.5 - 1).requires_grad_()
    vw = (torch.rand(hkv, 2, generator=g) * 2.5 - 1).requires_grad_()
    leaves = [x.clone().requires_grad_() for x in (q, k, v)]
    out = kc.kv_shift_attention(*leaves, kw, vw, causal=causal, rope_theta=theta,
                                chip=chip, options=options)
    out.backward(dout)
    got = [out.detach()] + [x.grad for x in leaves] + [kw.grad, vw.grad]
    npin = [x.detach().float().numpy() for x in (q, k, v, kw, vw, dout)]
    want_o = ref.kv_shift_attention(*npin[:5], causal=causal, rope_theta=theta)
    want = ref.kv_shift_attention_grad(*npin, causal=causal, rope_theta=theta)
    # Given the forward's statistics, delta uses the output rounded to the
    # dtype: twice what that alone costs joins the low-precision bounds.
    given = ref.kv_shift_attention_grad(
        *npin, causal=causal, rope_theta=theta,
        round_out=lambda o: out.detach().float().numpy().reshape(o.shape))
    eps = EPS[dtype]
    names = ("out", "dq", "dk", "dv", "dkw", "dvw")
    ok, errs = True, []
    for i, (name, x, w) in enumerate(zip(names, got, [want_o] + list(want))):
        e = rel(x.float().numpy(), w)
        bound = 1e-5 if dtype == torch.float32 else 4 * eps
        if dtype != torch.float32 and i > 0:
            bound += 2 * rel(given[i - 1], w)
        if dtype != torch.float32 and name in ("out",):
            bound = 8 * eps  # P rounded to the dtype before P V, as FlashAttention
        if i > 0 and np.abs(w).max() < 1e-6:
            # Zero up to rounding (dq, dk, dkw at S = 1): absolute errors,
            # the bound scaled by dv's size.
            e = float(np.abs(x.float().numpy() - w).max())
            bound = (1e-5 if dtype == torch.float32 else 4 * eps) * np.abs(want[2]).max()
            if dtype != torch.float32:
                bound += 2 * float(np.abs(given[i - 1] - w).max())
        good = x.dtype == (torch.float32 if name in ("dkw", "dvw") else dtype) and \
            not torch.isnan(x).any() and e <= bound
        ok &= bool(good)
        errs.append("%s %.1e%s" % (name, e, "" if good else " (bound %.1e) FAIL" % bound))
    RESULTS.append(ok)
    print("%s %s %dx%d/%d Sq=%d Sk=%d D=%d%s%s%s: %s" % (
        "ok  " if ok else "FAIL", str(dtype).split(".")[1], b, hq, hkv, sq, sk, d,
        " causal" if causal else "", " rope" if theta else "",
        " " + chip + " " + options if options else "", ", ".join(errs)))


def main():
    driver = ge.TorchDriver(OPT)
    kc.set_driver(driver)
    case(torch.float32, 1, 4, 2, 33, 33, 32, True, seed=1)
    case(torch.float32, 2, 2, 1, 9, 20, 16, False, seed=2)
    case(torch.bfloat16, 1, 4, 2, 40, 40, 64, True, seed=3)
    case(torch.float16, 1, 2, 2, 20, 37, 64, True, seed=4)       # Sq < Sk
    case(torch.bfloat16, 1, 2, 1, 1, 1, 32, True, seed=5)        # S = 1
    case(torch.bfloat16, 1, 2, 1, 30, 30, 64, True, theta=10000.0, seed=6)
    case(torch.float32, 1, 2, 1, 17, 17, 64, False, theta=500.0, seed=7)
    # The training step's kernels, in the launchers' order.
    kinds = [n.split("_lse")[-1] or "forward" for n in driver.launches[-6:]]
    good = kinds == ["forward", "_grad_stats", "_grad_q", "_grad_kv", "_grad_mix",
                     "_grad_w"] or kinds[-5:] == ["_grad_stats", "_grad_q", "_grad_kv",
                                                  "_grad_mix", "_grad_w"]
    RESULTS.append(good)
    print("%s launch order of the last case: %s" % ("ok  " if good else "FAIL",
                                                    driver.launches[-8:]))
    # The forward's variants (options): the wgmma kernels for sm_90a,
    # synchronous with lazy rescaling, and pipelined (with wgmma=true the
    # backward's grad_kv runs on warpgroup MMAs too; grad_q keeps mma.sync).
    case(torch.bfloat16, 1, 4, 2, 70, 70, 64, True, seed=9, chip="sm_90a",
         options="wgmma=true lazy-rescale=true")
    case(torch.float16, 1, 2, 1, 40, 90, 64, True, seed=10, chip="sm_90a",
         options="wgmma=true wgmma-overlap=true")
    case(torch.bfloat16, 1, 2, 2, 50, 50, 64, False, seed=11,
         options="shifted-values=true block-k=32")
    # Key tiles of 128 at D = 128: the forward's tiles (64 KiB) and the
    # training step's grad_q's (mma.sync, 69904 bytes) exceed 48 KiB and are
    # launched with dynamic shared memory (the emulating driver checks the
    # bytes each launch gives against the kernel's).
    case(torch.bfloat16, 1, 2, 1, 150, 150, 128, True, seed=12, chip="sm_90a",
         options="wgmma=true lazy-rescale=true block-k=128")
    # grad-prefetch: the backward's tiles double-buffered (grad_kv's 64 KiB
    # and grad_q's 96 KiB in dynamic shared memory).
    case(torch.bfloat16, 1, 4, 2, 100, 100, 128, True, seed=13, chip="sm_90a",
         options="wgmma=true grad-prefetch=true")
    # ... and on mma.sync (sm_80: grad_kv's 52224 bytes, grad_q's 70720),
    # with the forward's key and value tiles double-buffered too
    # (kv-prefetch: 70720 bytes).
    case(torch.float16, 1, 4, 2, 100, 100, 128, True, seed=14,
         options="grad-prefetch=true")
    case(torch.bfloat16, 1, 2, 1, 150, 150, 128, True, seed=15,
         options="kv-prefetch=true grad-prefetch=true")
    # One compilation a configuration.
    n = len(kc._cache)
    case(torch.float32, 1, 4, 2, 33, 33, 32, True, seed=8)
    RESULTS.append(len(kc._cache) == n)
    print("%s kernels compiled once per configuration (%d configurations)"
          % ("ok  " if len(kc._cache) == n else "FAIL", n))

    # Saved kernels (save_kernels, $KVSHIFT_CUDA_KERNELS) are read, not
    # compiled: with the compiler made to fail, the case still runs.
    with saved_sets_only(kc) as paths:
        case(torch.bfloat16, 1, 4, 2, 40, 40, 64, True, seed=3)
        case(torch.float32, 1, 2, 1, 17, 17, 64, False, theta=500.0, seed=7)
        case(torch.bfloat16, 1, 4, 2, 70, 70, 64, True, seed=9, chip="sm_90a",
             options="wgmma=true lazy-rescale=true")
        case(torch.bfloat16, 1, 2, 1, 150, 150, 128, True, seed=12, chip="sm_90a",
             options="wgmma=true lazy-rescale=true block-k=128")
    print("saved kernel sets: %d (%s, ...)" % (len(paths), os.path.basename(paths[0])))

    q = torch.randn(1, 4, 8, 32)
    k = torch.randn(1, 2, 8, 32)
    w = torch.ones(2, 2)
    refused("q of rank 3", lambda: kc.kv_shift_attention(q[0], k, k, w, w),
            "q must be [batch, heads, seq, head_dim]")
    refused("mixed dtypes", lambda: kc.kv_shift_attention(q, k.half(), k, w, w),
            "q, k, v must have one dtype")
    refused("float64", lambda: kc.kv_shift_attention(q.double(), k.double(), k.double(), w, w),
            "q must be float16, bfloat16 or float32")
    refused("Hq not a multiple of Hkv", lambda: kc.kv_shift_attention(
        torch.randn(1, 3, 8, 32), k, k, w, w), "Hq (3) must be a multiple of Hkv (2)")
    refused("weights of the wrong shape", lambda: kc.kv_shift_attention(
        q, k, k, torch.ones(3, 2), w), "kw must be [Hkv, 2] = [2, 2]")
    refused("causal with Sq > Sk", lambda: kc.kv_shift_attention(
        torch.randn(1, 4, 9, 32), k, k, w, w, causal=True), "causal attention needs Sq <= Sk")
    refused("bf16 with D = 256 and key tiles of 256", lambda: kc.kv_shift_attention(
        torch.randn(1, 2, 4, 256).bfloat16(), torch.randn(1, 2, 4, 256).bfloat16(),
        torch.randn(1, 2, 4, 256).bfloat16(), w, w, options="block-k=256"),
        "needs 270864 bytes of shared memory, above the 166912 bytes a thread block "
        "may use on sm_80")
    refused("an option the training step does not take", lambda: kc.kv_shift_attention(
        q, k, k, w, w, options="decode-mma=true"),
        "options: expected shifted-values, lazy-rescale, wgmma, wgmma-overlap, kv-prefetch or grad-prefetch")
    refused("wgmma for sm_80", lambda: kc.kv_shift_attention(
        q.bfloat16(), k.bfloat16(), k.bfloat16(), w, w, options="wgmma=true"),
        "wgmma=true needs chip = sm_90a (warpgroup MMAs), found chip = sm_80")
    refused("operands on two devices", lambda: kc.kv_shift_attention(
        q, k, k, w.to("meta"), w), "kw is on meta, q on cpu: all operands must be on one device")
    kc.set_driver(None)
    refused("CPU tensors with the CUDA driver", lambda: kc.kv_shift_attention(q, k, k, w, w),
            "q must be on a CUDA device, found cpu")
    n, good = len(RESULTS), sum(RESULTS)
    print("%d of %d checks passed" % (good, n))
    return 0 if good == n else 1


if __name__ == "__main__":
    sys.exit(main())
