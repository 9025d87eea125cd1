"""A NumPy model of the decode kernels of --kvshift-fuse-attention-gpu
(kv_cache_attention: DecodeKernelEmitter and DecodeMergeEmitter), thread by
thread, checked against the float64 reference.

Nothing here runs the generated code (the machines that build kvshift have no
GPU). It checks the design the emitter implements, with the emitter's
formulas: the grid (KV head x row block, split, batch), the lane groups
(`lanes` lanes per cache row, lane p owning columns [p w, p w + w), idle
lanes when D / w is not a power of two), the query rows of a block (heads of
the group x new tokens, flat row (b Hq + kvHead G) Sq + r), the query
rotation with the partner chunk, the keys a lane group visits (j0 + kg + m
KG, kKeysPerIter per step, the same trip count for all threads), the
xor-shuffle reduction within a lane group, causal masking at position length - Sq + i, the online softmax per lane
group, the merge of the lane groups through shared memory, the workspace
layout (row * splits + split) and the merge kernel. If a formula in the
emitter changes, change it here too.
"""
import math
import sys

import numpy as np

sys.path.insert(0, sys.argv[1])  # test/Integration
import kvshift_ref as ref
from rope_model import chunk_inv_freqs

U = 4  # DecodeConfig::kKeysPerIter


def decode(q, kc, vc, length, causal, theta, w, threads=128, split=512, rb=4):
    B, Hq, Sq, D = q.shape
    Hkv, Smax = kc.shape[1], kc.shape[2]
    lanes = 1 << max(0, math.ceil(math.log2(D // w)))
    assert lanes <= 32
    KG = threads // lanes
    scale_log2 = (1 / math.sqrt(D)) * math.log2(math.e)
    length = min(length, Smax)
    G = Hq // Hkv
    rows_total = G * Sq
    row_blocks = (rows_total + rb - 1) // rb
    splits = (length + split - 1) // split
    qflat, kflat, vflat = q.reshape(-1), kc.reshape(-1), vc.reshape(-1)
    ws_m = np.full(B * Hq * Sq * max(splits, 1), np.nan)  # sized by length
    ws_l = np.full_like(ws_m, np.nan)
    ws_o = np.full(ws_m.size * D, np.nan)
    tid = np.arange(threads)
    kg, part = tid // lanes, tid % lanes
    col0 = part * w
    active = part < D // w
    two_pi = 6.283185307179586

    def load(flat, row_base, cond):
        out = np.zeros((threads, w))
        for t in np.nonzero(cond)[0]:
            out[t] = flat[row_base[t] + col0[t]:row_base[t] + col0[t] + w]
        return out

    def group_sum(x):
        """The xor-shuffles with offsets lanes/2 .. 1 over each warp."""
        off = lanes // 2
        while off >= 1:
            x = x + x[(tid // 32) * 32 + ((tid % 32) ^ off)]
            off //= 2
        return x

    for y in range(Hkv * row_blocks):      # blockIdx.x
        for s in range(splits):            # blockIdx.y
            for b in range(B):             # blockIdx.z
                kv, r0 = y // row_blocks, (y % row_blocks) * rb
                j0, j1 = s * split, min(s * split + split, length)
                kv_base = ((b * Hkv + kv) * Smax) * D
                row_flat0 = (b * Hq + kv * G) * Sq
                qv, valid, pos = [], [], []
                for rr in range(rb):
                    r = r0 + rr
                    valid.append(r < rows_total)
                    pos.append(length - Sq + r % Sq)
                    row_base = np.full(threads, (row_flat0 + r) * D)
                    cond = active & valid[-1]
                    own = load(qflat, row_base, cond)
                    if theta is not None:
                        half = D // 2
                        low = col0 < half
                        pcol = np.where(low, col0 + half, col0 - half)
                        partner = np.zeros((threads, w))
                        for t in np.nonzero(cond)[0]:
                            partner[t] = qflat[row_base[t] + pcol[t]:row_base[t] + pcol[t] + w]
                        rot = np.zeros((threads, w))
                        for t in np.nonzero(cond)[0]:
                            fcol = col0[t] if low[t] else pcol[t]
                            ang = pos[-1] * np.array(chunk_inv_freqs(fcol, D, theta, w))
                            red = ang - np.rint(ang / two_pi) * two_pi
                            sign = -1.0 if low[t] else 1.0
                            rot[t] = own[t] * np.cos(red) + partner[t] * sign * np.sin(red)
                        own = rot
                    qv.append(own * scale_log2)
                m = [np.full(threads, -np.inf) for _ in range(rb)]
                l = [np.zeros(threads) for _ in range(rb)]
                o = [np.zeros((threads, w)) for _ in range(rb)]
                # scf.for jt = j0 .. j1 step KG * U, the same trip count for
                # every thread (the reduction shuffles across the warp)
                for jt in range(j0, j1, KG * U):
                    keys = [jt + kg + u * KG for u in range(U)]
                    inb = [j < j1 for j in keys]
                    kvec = [load(kflat, kv_base + j * D, c & active) for j, c in zip(keys, inb)]
                    vvec = [load(vflat, kv_base + j * D, c & active) for j, c in zip(keys, inb)]
                    for rr in range(rb):
                        sc = []
                        for u in range(U):
                            dot = group_sum((qv[rr] * kvec[u]).sum(1))
                            vis = inb[u] & valid[rr]
                            if causal:
                                vis = vis & (keys[u] <= pos[rr])
                            sc.append(np.where(vis, dot, -np.inf))
                        new_m = np.maximum.reduce([m[rr]] + sc)
                        neg = -np.where(new_m == -np.inf, 0.0, new_m)
                        alpha = np.exp2(m[rr] + neg)
                        total = np.zeros(threads)
                        onew = o[rr] * alpha[:, None]
                        for u in range(U):
                            p = np.exp2(sc[u] + neg)
                            total += p
                            onew = onew + p[:, None] * vvec[u]
                        m[rr], l[rr], o[rr] = new_m, l[rr] * alpha + total, onew
                # shared memory: O[kg][rr][cols], M/L[kg][rr] from part 0
                osm = np.full((KG, rb, D), np.nan)
                msm = np.full((KG, rb), np.nan)
                lsm = np.full((KG, rb), np.nan)
                for rr in range(rb):
                    for t in tid:
                        if active[t]:
                            osm[kg[t], rr, col0[t]:col0[t] + w] = o[rr][t]
                        if part[t] == 0:
                            msm[kg[t], rr], lsm[kg[t], rr] = m[rr][t], l[rr][t]
                assert not np.isnan(osm).any() and not np.isnan(msm).any()
                items = rb * D
                for item in range(items):
                    rr, c = item // D, item % D
                    r = r0 + rr
                    if r >= rows_total:
                        continue
                    mmax = msm[:, rr].max()
                    neg = -(0.0 if mmax == -np.inf else mmax)
                    wgt = np.exp2(msm[:, rr] + neg)
                    state = (row_flat0 + r) * splits + s
                    ws_o[state * D + c] = (wgt * osm[:, rr, c]).sum()
                    if c == 0:
                        ws_m[state], ws_l[state] = mmax, (wgt * lsm[:, rr]).sum()
    # The merge kernel: one block per query row.
    out = np.zeros(B * Hq * Sq * D)
    for row in range(B * Hq * Sq):
        ms = ws_m[row * splits:(row + 1) * splits]
        assert not np.isnan(ms).any(), "a partial state was not written"
        mmax = ms.max() if splits else -np.inf
        neg = -(0.0 if mmax == -np.inf else mmax)
        wgt = np.exp2(ms + neg)
        lsum = (wgt * ws_l[row * splits:(row + 1) * splits]).sum()
        for c in range(D):
            osum = sum(wgt[s] * ws_o[(row * splits + s) * D + c] for s in range(splits))
            out[row * D + c] = osum / lsum if lsum > 0 else 0.0
    return out.reshape(q.shape)


def run(b, hq, hkv, sq, smax, length, d, causal, seed, theta=None, w=8, **kw):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((b, hq, sq, d))
    kc = rng.standard_normal((b, hkv, smax, d))
    vc = rng.standard_normal((b, hkv, smax, d))
    got = decode(q, kc, vc, length, causal, theta, w, **kw)
    qr = q if theta is None else ref.rope(q, np.arange(sq) + (length - sq), theta)
    one = np.tile([1.0, 0.0], (hkv, 1))
    expect = ref.kv_shift_attention(qr, kc[:, :, :length], vc[:, :, :length], one, one,
                                    causal=causal)
    err = ref.max_rel_err(got, expect)
    print(f"decode B={b} Hq={hq} Hkv={hkv} Sq={sq} Smax={smax} length={length} D={d} "
          f"w={w} causal={causal}{f' rope_theta={theta:g}' if theta else ''} {kw}: {err:.2e}")
    assert err < 1e-12, err


run(1, 4, 1, 1, 300, 257, 64, True, 0, split=128)          # GQA 4, 3 splits, partial
run(2, 8, 2, 1, 100, 100, 128, True, 1)                    # full cache, one split
run(1, 6, 2, 3, 200, 150, 64, True, 2, split=64, rb=4)     # 3 tokens x 3 heads: 3 row blocks of 4
run(1, 2, 2, 2, 90, 37, 48, False, 3, split=16)            # D / w = 6 lanes of 8: idle lanes
run(1, 4, 2, 1, 600, 513, 64, True, 4, theta=10000.0)      # RoPE, 2 splits
run(1, 2, 1, 2, 64, 9, 32, True, 5, theta=500000.0, w=4)   # f32 chunks, RoPE
print("decode model OK")
