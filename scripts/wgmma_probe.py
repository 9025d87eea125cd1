#!/usr/bin/env python3
"""A probe of the sm_90a warpgroup-MMA layouts that the `wgmma=true` kernels
assume, for the GPU check (part `wgmma`; H100/H200 only).

The wgmma kernels rest on a reading of the PTX ISA that only hardware can
confirm (docs/GPU.md, "Warpgroup MMAs"):
  * A from registers: warp w of the warpgroup holds rows 16 w .. 16 w + 15
    in mma.sync m16n8k16's A-fragment order;
  * D: the accumulators of warp w are mma.sync's C fragments of its rows,
    block after block of 8 columns;
  * B from shared memory through a descriptor without swizzle, element
    (k, n) at byte start + (n / 8) SBO + (k / 8) LBO + inner, where inner
    is (n % 8) 16 + (k % 8) 2 for K-major B (imm-trans-b = 0; the kernels'
    S = Q K^T) and (k % 8) 16 + (n % 8) 2 for MN-major B (imm-trans-b = 1;
    O += P V).
This probe runs one `wgmma.mma_async m64n64k16` (bf16) per candidate, for
both values of imm-trans-b: B stored as the kernels store it, read through
the kernels' descriptor and through one with LBO and SBO exchanged; and B
stored with the inner arrangement of each core matrix transposed, read
through both descriptors. It scatters B into shared memory at the
candidate's offsets, builds the descriptor, and compares D with A @ B. The kernels' reading
must match for both imm-trans-b; if it does not, the table says which
candidate the hardware agrees with (or that none does: then the A or D
fragment order is the suspect).

A from shared memory (K-major, imm-trans-a = 0; grad_kv's S^T = K Q^T and
dP^T = V dO^T under wgmma=true) is probed the same way by a third kernel
whose B is the K-major candidate that matched above (the kernels' if none
did), so that A's table does not depend on B's: element (m, k) of A at byte start
+ (m / 8) SBO + (k / 8) LBO + (m % 8) 16 + (k % 8) 2 (K-major B's rule
with n = m), against the exchanged descriptor and the transposed inner
arrangement.

    python3 wgmma_probe.py --ptx FILE    # writes the probe's PTX (for ptxas)
    python3 wgmma_probe.py --selftest    # CPU: the candidates are told apart

In the GPU check, `run(driver)` does the above through gpu_check.Driver.
"""
import argparse
import sys

import numpy as np

M, N, K = 64, 64, 16
SMEM_BYTES = 8192

# (name, imm-trans-b, storage: (bytes between 8-column groups along n,
# along k, inner arrangement of a 128-byte core matrix), descriptor: (LBO,
# SBO)). The kernels store K^T K-major (core matrices 128 bytes apart along
# k, 256 along n here) and V MN-major (1024 along k, 128 along n); "n16k2"
# is 8 rows of n, 16 bytes apart, each 8 consecutive k; "k16n2" the
# transpose.
KMAJOR = (256, 128, "n16k2")
MNMAJOR = (128, 1024, "k16n2")
CANDIDATES = [
    ("K-major (the kernels' S = Q K^T)", 0, KMAJOR, (128, 256)),
    ("K-major, LBO and SBO exchanged", 0, KMAJOR, (256, 128)),
    ("K-major stored, inner transposed", 0, (256, 128, "k16n2"), (128, 256)),
    ("... and LBO and SBO exchanged", 0, (256, 128, "k16n2"), (256, 128)),
    ("MN-major (the kernels' O += P V)", 1, MNMAJOR, (1024, 128)),
    ("MN-major, LBO and SBO exchanged", 1, MNMAJOR, (128, 1024)),
    ("MN-major stored, inner transposed", 1, (128, 1024, "n16k2"), (1024, 128)),
    ("... and LBO and SBO exchanged", 1, (128, 1024, "n16k2"), (128, 1024)),
]
OURS = (0, 4)  # the candidates the kernels use
# A from shared memory (M = N = 64, so offsets() serves with n = m): the
# kernels store K and V tiles K-major, core matrices 128 bytes apart along k
# and 256 along m here.
A_CANDIDATES = [
    ("A K-major (the kernels' grad_kv S^T, dP^T)", KMAJOR, (128, 256)),
    ("A K-major, LBO and SBO exchanged", KMAJOR, (256, 128)),
    ("A K-major stored, inner transposed", (256, 128, "k16n2"), (128, 256)),
    ("... and LBO and SBO exchanged", (256, 128, "k16n2"), (256, 128)),
]
A_OURS = 0
A_BASE = 4096  # A's image after B's (B's K-major offsets stay below 2048)


def offsets(n_stride, k_stride, inner):
    """Byte offset of B's element (k, n) (K x N) in a storage layout."""
    k = np.arange(K)[:, None]
    n = np.arange(N)[None, :]
    if inner == "n16k2":
        within = (n % 8) * 16 + (k % 8) * 2
    else:
        within = (k % 8) * 16 + (n % 8) * 2
    return (n // 8) * n_stride + (k // 8) * k_stride + within


def decode(smem_elems, trans, lbo, sbo):
    """B as the kernels' reading of the PTX ISA decodes it from a shared
    image (bf16 elements) and a descriptor (start 0): the semantics the
    emulator (scripts/gpu_emulator.py) implements (K-major: SBO along n,
    LBO along k; MN-major: the same fields, the inner arrangement
    transposed)."""
    inner = "k16n2" if trans else "n16k2"
    return smem_elems[offsets(sbo, lbo, inner) // 2]


def a_offsets(store):
    """Byte offsets of A's elements (m, k) [M x K] in a storage layout
    (B's offsets with n = m, transposed)."""
    return offsets(*store).T


def decode_a(smem_elems, lbo, sbo):
    """A (K-major) as the kernels' reading decodes it: K-major B's rule with
    n = m."""
    return decode(smem_elems, 0, lbo, sbo).T


def selftest():
    """Under the kernels' reading, each candidate gives A @ B exactly when it
    is the kernels' own layout: a hardware run can tell them apart; and the
    fragment map finds a permuted D."""
    rng = np.random.default_rng(0)
    b = rng.integers(-8, 8, (K, N)).astype(np.float64)
    ok = True
    for i, (name, trans, store, (lbo, sbo)) in enumerate(CANDIDATES):
        img = np.zeros(SMEM_BYTES // 2)
        off = offsets(*store)
        assert off.max() < SMEM_BYTES and len(set(off.ravel())) == K * N, name
        img[off // 2] = b
        same = np.array_equal(decode(img, trans, lbo, sbo), b)
        ok &= same == (i in OURS)
        print(f"selftest {name:36}: {'decodes to B' if same else 'differs from B'}")
    a = rng.integers(-8, 8, (M, K)).astype(np.float64)
    for i, (name, store, (lbo, sbo)) in enumerate(A_CANDIDATES):
        img = np.zeros(SMEM_BYTES // 2)
        off = a_offsets(store)
        assert off.max() + A_BASE < SMEM_BYTES and len(set(off.ravel())) == M * K, name
        img[(A_BASE + off) // 2] = a
        same = np.array_equal(decode_a(img[A_BASE // 2:], lbo, sbo), a)
        ok &= same == (i == A_OURS)
        print(f"selftest {name:44}: {'decodes to A' if same else 'differs from A'}")
    a_rows = np.repeat(np.arange(M)[:, None], K, 1)
    a_cols = np.repeat(np.arange(K)[None, :], M, 0)
    ident = np.eye(K, N)
    exact = fragment_map(a_rows, a_cols, ident, lambda x, y: (x @ y).astype(int).tolist())
    swapped = fragment_map(a_rows, a_cols, ident,
                           lambda x, y: (x @ y)[[1, 0] + list(range(2, M))].astype(int).tolist())
    ok &= not exact and len(swapped) == 2 * K
    print(f"selftest fragment map: exact {len(exact)} mismatches, rows 0 and 1 "
          f"exchanged {len(swapped)}")
    print("selftest OK" if ok else "selftest FAILED")
    return 0 if ok else 1


def _head(e, name, params):
    """A probe kernel's signature, registers, shared buffer (zeroed: 64
    bytes per thread) and its first barrier; %r0 = tid, %r1 = sbuf."""
    e(f".visible .entry {name}(")
    e(params)
    e(".reqntid 128, 1, 1")
    e("{")
    e("  .reg .pred %p<2>;")
    e("  .reg .b16 %h<2>;")
    e("  .reg .b32 %r<40>;")
    e("  .reg .b64 %rd<40>;")
    e("  .reg .f32 %f<32>;")
    e(f"  .shared .align 128 .b8 sbuf[{SMEM_BYTES}];")
    e("  mov.u32 %r0, %tid.x;")
    e("  mov.u32 %r1, sbuf;")
    e("  mov.u32 %r2, 0;")
    e("  shl.b32 %r3, %r0, 6;")
    e("  add.u32 %r3, %r1, %r3;")
    for o in range(0, 64, 16):
        e(f"  st.shared.v4.u32 [%r3+{o}], {{%r2, %r2, %r2, %r2}};")
    e("  bar.sync 0;")


def _scatter(e, src, offp, count, base=0):
    """Element i = t + 128 j of bf16 array `src` goes to shared byte offset
    off[i] (+ base), `offp` the u32 offsets."""
    e(f"  ld.param.u64 %rd1, [{src}];")
    e("  cvta.to.global.u64 %rd1, %rd1;")
    e(f"  ld.param.u64 %rd2, [{offp}];")
    e("  cvta.to.global.u64 %rd2, %rd2;")
    for j in range(count // 128):
        e(f"  add.u32 %r4, %r0, {128 * j};")
        e("  mul.wide.u32 %rd3, %r4, 2;")
        e("  add.s64 %rd3, %rd1, %rd3;")
        e("  ld.global.b16 %h0, [%rd3];")
        e("  mul.wide.u32 %rd4, %r4, 4;")
        e("  add.s64 %rd4, %rd2, %rd4;")
        e("  ld.global.u32 %r5, [%rd4];")
        if base:
            e(f"  add.u32 %r5, %r5, {base};")
        e("  add.u32 %r5, %r1, %r5;")
        e("  st.shared.b16 [%r5], %h0;")


def _descriptor(e, dst, offset16, lbo_param, sbo_param, r, rd):
    """dst = the shared address of sbuf / 16 (+ offset16), LBO / 16 << 16,
    SBO / 16 << 32 (from two u32 parameters; scratch %r<r>, %r<r+1>,
    %rd<rd>, %rd<rd+1>)."""
    e(f"  cvt.u64.u32 {dst}, %r1;")
    e(f"  shr.u64 {dst}, {dst}, 4;")
    e(f"  and.b64 {dst}, {dst}, 16383;")
    if offset16:
        e(f"  add.s64 {dst}, {dst}, {offset16};")
    for k, (param, shift) in enumerate(((lbo_param, 16), (sbo_param, 32))):
        e(f"  ld.param.u32 %r{r + k}, [{param}];")
        e(f"  shr.u32 %r{r + k}, %r{r + k}, 4;")
        e(f"  cvt.u64.u32 %rd{rd + k}, %r{r + k};")
        e(f"  shl.b64 %rd{rd + k}, %rd{rd + k}, {shift};")
        e(f"  or.b64 {dst}, {dst}, %rd{rd + k};")


def _lanes(e):
    """%r10 = row0 = 16 warp + g, %r11 = 2 t4 (mma.sync's fragment rows and
    columns of this lane)."""
    e("  shr.u32 %r6, %r0, 5;")          # warp
    e("  and.b32 %r7, %r0, 31;")          # lane
    e("  shr.u32 %r8, %r7, 2;")           # g
    e("  and.b32 %r9, %r7, 3;")           # t4
    e("  shl.b32 %r10, %r6, 4;")
    e("  add.u32 %r10, %r10, %r8;")       # row0
    e("  shl.b32 %r11, %r9, 1;")          # 2 t4


def _mma_and_store(e, a, b, imms):
    """One wgmma (scale-d false: D = A B) on `a` (registers or a descriptor)
    and descriptor `b` (`imms`: the trans immediates), then D to pD:
    register 4 nb + 2 r + e is row row0 + 8 r, column 8 nb + 2 t4 + e."""
    e("  setp.ne.b32 %p1, %r2, 0;")       # scale-d false: D = A B
    e("  wgmma.fence.sync.aligned;")
    regs = ", ".join(f"%f{i}" for i in range(N // 2))
    e(f"  wgmma.mma_async.sync.aligned.m64n{N}k16.f32.bf16.bf16 {{{regs}}}, "
      f"{a}, {b}, %p1, 1, 1, {imms};")
    e("  wgmma.commit_group.sync.aligned;")
    e("  wgmma.wait_group.sync.aligned 0;")
    e("  ld.param.u64 %rd10, [pD];")
    e("  cvta.to.global.u64 %rd10, %rd10;")
    for v in range(N // 2):
        ee, r, nb = v % 2, (v // 2) % 2, v // 4
        e(f"  add.u32 %r15, %r10, {8 * r};")
        e(f"  mad.lo.u32 %r15, %r15, {N}, %r11;")
        e(f"  add.u32 %r15, %r15, {8 * nb + ee};")
        e("  mul.wide.u32 %rd11, %r15, 4;")
        e("  add.s64 %rd11, %rd10, %rd11;")
        e(f"  st.global.f32 [%rd11], %f{v};")
    e("  ret;")
    e("}")


def ptx():
    """Two kernels, wgmma_probe_t0 and _t1 (imm-trans-b 0 and 1), 128 threads:
    (A [64x16] bf16, B [16x64] bf16, offsets [16x64] u32 bytes, D [64x64]
    f32, LBO, SBO); and wgmma_probe_ss (ptx_ss)."""
    out = [".version 8.0", ".target sm_90a", ".address_size 64", ""]
    for trans in (0, 1):
        body = []
        e = body.append
        _head(e, f"wgmma_probe_t{trans}",
              "  .param .u64 pA, .param .u64 pB, .param .u64 pOff, .param .u64 pD,\n"
              "  .param .u32 pLbo, .param .u32 pSbo)")
        _scatter(e, "pB", "pOff", K * N)
        e("  fence.proxy.async.shared::cta;")
        e("  bar.sync 0;")
        # A: rows row0 = 16 w + g and row0 + 8, columns 2 t4 (+ 8).
        e("  ld.param.u64 %rd5, [pA];")
        e("  cvta.to.global.u64 %rd5, %rd5;")
        _lanes(e)
        for i, (dr, dc) in enumerate(((0, 0), (8, 0), (0, 8), (8, 8))):
            e(f"  add.u32 %r12, %r10, {dr};")
            e(f"  mad.lo.u32 %r12, %r12, {K}, %r11;")
            e(f"  add.u32 %r12, %r12, {dc};")
            e("  mul.wide.u32 %rd6, %r12, 2;")
            e("  add.s64 %rd6, %rd5, %rd6;")
            e(f"  ld.global.b32 %r{20 + i}, [%rd6];")
        _descriptor(e, "%rd7", 0, "pLbo", "pSbo", 13, 8)
        _mma_and_store(e, "{%r20, %r21, %r22, %r23}", "%rd7", str(trans))
        out += body + [""]
    out += ptx_ss() + [""]
    return "\n".join(out)


def ptx_ss():
    """wgmma_probe_ss, 128 threads: (A [64x16] bf16, B [16x64] bf16, A's
    offsets [64x16] u32 bytes from A_BASE, B's offsets [16x64], D [64x64]
    f32, A's LBO, SBO, B's LBO, SBO); A and B K-major."""
    body = []
    e = body.append
    _head(e, "wgmma_probe_ss",
          "  .param .u64 pA, .param .u64 pB, .param .u64 pOffA, .param .u64 pOffB,\n"
          "  .param .u64 pD, .param .u32 pLbo, .param .u32 pSbo, .param .u32 pLboB,\n"
          "  .param .u32 pSboB)")
    _scatter(e, "pB", "pOffB", K * N)
    _scatter(e, "pA", "pOffA", M * K, base=A_BASE)
    e("  fence.proxy.async.shared::cta;")
    e("  bar.sync 0;")
    _descriptor(e, "%rd12", 0, "pLboB", "pSboB", 16, 13)
    _descriptor(e, "%rd7", A_BASE // 16, "pLbo", "pSbo", 13, 8)
    _lanes(e)
    _mma_and_store(e, "%rd7", "%rd12", "0, 0")
    return body


def fragment_map(a_rows, a_cols, b_ident, mma):
    """Where D's elements come from when B = [I | 0] (D = [A | 0]): `mma(a,
    b)` -> D on the host; A holds its row index, then its column index.
    Returns the mismatches [(m, n, row, col)] of D[:, :16] (empty: the A and
    D fragment orders are the kernels')."""
    rows, cols = mma(a_rows, b_ident), mma(a_cols, b_ident)
    bad = []
    for m in range(M):
        for n in range(K):
            r, c = rows[m][n], cols[m][n]
            if (r, c) != (m, n):
                bad.append((m, n, r, c))
    return bad


def run(driver):
    """Runs every candidate on the device (gpu_check.Driver); prints the
    table; returns 1 when the kernels' layouts do not match, else 0."""
    import ctypes

    import torch
    text = ptx().encode()
    fns = {t: driver.load(text, f"wgmma_probe_t{t}") for t in (0, 1)}
    fns["ss"] = driver.load(text, "wgmma_probe_ss")

    def mma(a, b, trans, store, lbo, sbo):
        off = torch.from_numpy(offsets(*store).astype(np.int32)).cuda()
        d = torch.full((M, N), float("nan")).cuda()
        da = a.to(torch.bfloat16).contiguous().cuda()
        db = b.to(torch.bfloat16).contiguous().cuda()
        vals = [ctypes.c_void_p(x.data_ptr()) for x in (da, db, off, d)]
        vals += [ctypes.c_uint32(lbo), ctypes.c_uint32(sbo)]
        params = (ctypes.c_void_p * len(vals))(
            *[ctypes.cast(ctypes.pointer(x), ctypes.c_void_p) for x in vals])
        stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
        driver.check(driver.lib.cuLaunchKernel(fns[trans], 1, 1, 1, 128, 1, 1, 0, stream,
                                               params, None), "cuLaunchKernel(wgmma_probe)")
        torch.cuda.synchronize()
        return d.double().cpu()

    def mma_ss(a, b, store, lbo, sbo, b_store, b_desc):
        """A from shared memory (K-major) in `store` read through (lbo,
        sbo); B K-major in `b_store` read through `b_desc`."""
        off_a = torch.from_numpy(a_offsets(store).astype(np.int32).copy()).cuda()
        off_b = torch.from_numpy(offsets(*b_store).astype(np.int32)).cuda()
        d = torch.full((M, N), float("nan")).cuda()
        da = a.to(torch.bfloat16).contiguous().cuda()
        db = b.to(torch.bfloat16).contiguous().cuda()
        vals = [ctypes.c_void_p(x.data_ptr()) for x in (da, db, off_a, off_b, d)]
        vals += [ctypes.c_uint32(x) for x in (lbo, sbo) + tuple(b_desc)]
        params = (ctypes.c_void_p * len(vals))(
            *[ctypes.cast(ctypes.pointer(x), ctypes.c_void_p) for x in vals])
        stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
        driver.check(driver.lib.cuLaunchKernel(fns["ss"], 1, 1, 1, 128, 1, 1, 0, stream,
                                               params, None), "cuLaunchKernel(wgmma_probe_ss)")
        torch.cuda.synchronize()
        return d.double().cpu()

    g = torch.Generator(device="cpu").manual_seed(5)
    # Small integers: every product and sum exact in bf16 and f32.
    a = torch.randint(-4, 5, (M, K), generator=g).to(torch.bfloat16)
    b = torch.randint(-4, 5, (K, N), generator=g).to(torch.bfloat16)
    want = a.double() @ b.double()
    print("\nwgmma layout probe (m64n64k16 bf16, B by descriptor without swizzle): "
          "max |D - A B| per candidate layout of B")
    failures = 0

    def judge(got, ours):
        """max |D - A B|, whether it is 0, and the verdict's words; a
        mismatch of the kernels' own layout counts as a failure."""
        nonlocal failures
        diff = (got - want).abs().nan_to_num(float("inf")).max().item()
        match = diff == 0
        failures += ours and not match
        return diff, match, ("matches" if match else "differs") + (
            " (the kernels' layout)" if ours else "")
    b_for_a = None  # a K-major B that the device reads right
    for i, (name, trans, store, (lbo, sbo)) in enumerate(CANDIDATES):
        diff, match, verdict = judge(mma(a, b, trans, store, lbo, sbo), i in OURS)
        if match and trans == 0 and b_for_a is None:
            b_for_a = (store, (lbo, sbo), name)
        print(f"  imm-trans-b {trans}, LBO {lbo:4}, SBO {sbo:4}: {name:36} "
              f"max |D - A B| = {diff:.3g}: {verdict}")
    if b_for_a is None:
        b_for_a = (CANDIDATES[OURS[0]][2], CANDIDATES[OURS[0]][3], "none matched; the kernels'")
    print(f"  A from shared memory, with B as \"{b_for_a[2]}\":")
    for i, (name, store, (lbo, sbo)) in enumerate(A_CANDIDATES):
        diff, _, verdict = judge(mma_ss(a, b, store, lbo, sbo, b_for_a[0], b_for_a[1]),
                                 i == A_OURS)
        print(f"  imm-trans-a 0, LBO {lbo:4}, SBO {sbo:4}: {name:44} "
              f"max |D - A B| = {diff:.3g}: {verdict}")
    # The fragment orders alone: B = [I | 0] in the kernels' K-major layout,
    # A holding its row indices, then its column indices (exact in bf16).
    ident = torch.zeros(K, N)
    ident[torch.arange(K), torch.arange(K)] = 1
    _, trans, store, (lbo, sbo) = CANDIDATES[OURS[0]]
    bad = fragment_map(
        torch.arange(M, dtype=torch.float64)[:, None].expand(M, K),
        torch.arange(K, dtype=torch.float64)[None, :].expand(M, K), ident,
        lambda x, y: [[int(v) if v == v else -1 for v in row]
                      for row in mma(x, y, trans, store, lbo, sbo).tolist()])
    if bad:
        print(f"  A/D fragment orders: {len(bad)} of {M * K} elements of D = [A | 0] "
              f"come from elsewhere, D[m][n] <- A[row][col]: "
              + ", ".join(f"D[{m}][{n}] <- A[{r}][{c}]" for m, n, r, c in bad[:12]))
    else:
        print("  A/D fragment orders (D = [A | 0] for B = [I | 0]): the kernels'")
    verdict = "the kernels' layouts match" if failures == 0 else "MISMATCH"
    print(f"wgmma layout probe: {verdict}")
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ptx", help="write the probe's PTX to this file")
    ap.add_argument("--selftest", action="store_true")
    args = ap.parse_args()
    if args.ptx:
        with open(args.ptx, "w") as f:
            f.write(ptx())
    if args.selftest:
        return selftest()
    return 0


if __name__ == "__main__":
    sys.exit(main())
