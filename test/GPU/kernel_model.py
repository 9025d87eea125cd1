"""A NumPy model of the kernels of --kvshift-fuse-attention-gpu (tensor-core and SIMT),
lane by lane, checked against the float64 reference (kvshift_ref).

Nothing here runs the generated code (there is no GPU on the machines that
build kvshift). What it checks is the design the emitter
(lib/Dialect/KVShift/Transforms/FuseAttentionGPU.cpp, emitTensorCoreBody)
implements: the same lane/address formulas for the ldmatrix loads, the
fragment layouts of mma.sync.m16n8k16 as the PTX ISA defines them
(implemented here independently of the emitter), the quad shuffles, the
masking condition and tile skipping, the online softmax in log2 units and the
repacking of P from the S accumulators. With RoPE (rope_theta), it models the
pre-pass kernel (RopeKernelEmitter: one thread per row and pair of chunks,
inv_freq as a product over the bits of the pair index, the angle reduced by
2 pi) and the key staging in the rotated frame (stageRowsRope: a1 rot(k_j, j)
+ a2 R rot(k_{j-1}, j - 1), R the one-position rotation, the work items and
their thread/iteration mapping). If a formula in the emitter changes, change
it here too.
"""
import math
import sys

import numpy as np

sys.path.insert(0, sys.argv[1])  # test/Integration
import kvshift_ref as ref
from rope_model import chunk_inv_freqs

LANES = np.arange(32)


# --- PTX semantics (from the ISA, not from the emitter) ---------------------

def ldmatrix_x4(smem, rows, cols, trans):
    """ldmatrix.sync.aligned.m8n8.x4[.trans].b16: lane l gives the address of
    row l % 8 of matrix l // 8. Returns regs[4][32][2]: for matrix i, lane l
    holds M[l // 4][2 (l % 4) + e] (or, transposed, M[2 (l % 4) + e][l // 4])."""
    mats = []
    for i in range(4):
        m = np.stack([smem[rows[8 * i + r], cols[8 * i + r]:cols[8 * i + r] + 8]
                      for r in range(8)])
        mats.append(m.T if trans else m)
    return [np.stack([mats[i][l // 4, 2 * (l % 4):2 * (l % 4) + 2] for l in LANES])
            for i in range(4)]


def mma_m16n8k16(a, b, c):
    """mma.sync.aligned.m16n8k16.row.col.f32: a = 4 regs [32][2], b = 2 regs,
    c = 4 values [32]. Rebuilds A (16x16), B (16x8), C (16x8) from the
    fragment layout of the ISA, returns D's fragments."""
    A, B, C = np.zeros((16, 16)), np.zeros((16, 8)), np.zeros((16, 8))
    for l in LANES:
        g, t = l // 4, l % 4
        for e in range(2):
            A[g, 2 * t + e] = a[0][l, e]
            A[g + 8, 2 * t + e] = a[1][l, e]
            A[g, 2 * t + 8 + e] = a[2][l, e]
            A[g + 8, 2 * t + 8 + e] = a[3][l, e]
            B[2 * t + e, g] = b[0][l, e]
            B[2 * t + 8 + e, g] = b[1][l, e]
            C[g, 2 * t + e] = c[e][l]
            C[g + 8, 2 * t + e] = c[2 + e][l]
    D = A @ B + C
    d = [np.zeros(32) for _ in range(4)]
    for l in LANES:
        g, t = l // 4, l % 4
        for e in range(2):
            d[e][l] = D[g, 2 * t + e]
            d[2 + e][l] = D[g + 8, 2 * t + e]
    return d


def shfl_xor(x, offset):
    return x[LANES ^ offset]


# --- RoPE (the emitter's formulas) -----------------------------------------

def rope_prepass(x, pos_offset, theta, vw, threads=256):
    """RopeKernelEmitter on one [rows, S, D] batch of rows: thread `item`
    of the grid handles row item // pairs and columns col0 = (item % pairs)
    * vw and col0 + D/2; row r sits at position (r mod S) + pos_offset."""
    rows_shape = x.shape
    d = x.shape[-1]
    seq = x.shape[-2]
    flat = x.reshape(-1, d)
    out = np.full_like(flat, np.nan)
    half, pairs = d // 2, d // 2 // vw
    n_items = flat.shape[0] * pairs
    blocks = (n_items + threads - 1) // threads
    two_pi = 6.283185307179586
    for item in range(blocks * threads):
        row, col0 = item // pairs, (item % pairs) * vw
        if row >= flat.shape[0]:
            continue
        pos = row % seq + pos_offset
        for e, f in enumerate(chunk_inv_freqs(col0, d, theta, vw)):
            ang = pos * f
            r = ang - np.rint(ang / two_pi) * two_pi  # reduced to [-pi, pi]
            assert abs(r) <= math.pi + 1e-9
            c, sn = math.cos(r), math.sin(r)
            a, b = flat[row, col0 + e], flat[row, half + col0 + e]
            out[row, col0 + e] = a * c - b * sn
            out[row, half + col0 + e] = b * c + a * sn
    assert not np.isnan(out).any(), "the pre-pass left elements unwritten"
    return out.reshape(rows_shape)


def stage_keys_rope(src, row0, rows, limit, w, d, theta, threads, vw, n_rows):
    """stageRowsRope: work item c = tid + it * threads stages row c // pairs,
    columns col0 = (c % pairs) * vw and col0 + D/2 of the mixed, rotated key
    tile from keys pre-rotated at their own positions (`src`)."""
    half, pairs = d // 2, d // 2 // vw
    tile = np.full((n_rows, d), np.nan)
    total = rows * pairs
    it = 0
    while it * threads < total:
        for tid in range(threads):
            c = tid + it * threads
            if c >= total:
                continue
            r, col0 = c // pairs, (c % pairs) * vw
            cols = np.arange(col0, col0 + vw)
            j = row0 + r
            if j >= limit:
                tile[r, cols] = 0
                tile[r, cols + half] = 0
                continue
            fs = np.array(chunk_inv_freqs(col0, d, theta, vw))
            cs, sn = np.cos(fs), np.sin(fs)
            plo = src[j - 1, cols] if j > 0 else np.zeros(vw)
            phi = src[j - 1, cols + half] if j > 0 else np.zeros(vw)
            rlo, rhi = plo * cs - phi * sn, phi * cs + plo * sn
            tile[r, cols] = w[0] * src[j, cols] + w[1] * rlo
            tile[r, cols + half] = w[0] * src[j, cols + half] + w[1] * rhi
        it += 1
    assert not np.isnan(tile[:rows]).any(), "a staged key element was not written"
    return tile


# --- the kernel, one block --------------------------------------------------

def block(q, k, v, kw, vw, b, h, qtile, causal, warps=4, block_n=64, theta=None):
    """One thread block of the tensor-core kernel. With `theta`, q and k are
    the pre-pass's output (rotated at their positions)."""
    Bq, Hq, Sq, D = q.shape
    Hkv, Sk = k.shape[1], k.shape[2]
    Dp = (D + 15) // 16 * 16
    BM = 16 * warps
    kv = h // (Hq // Hkv)
    q0 = qtile * BM
    scale_log2 = (1 / math.sqrt(D)) * math.log2(math.e)
    offset = Sk - Sq
    a1, a2 = kw[kv]
    b1, b2 = vw[kv]

    def stage(src, row0, rows, limit, w=None):
        tile = np.zeros((max(BM, block_n), Dp + 8))
        for r in range(rows):
            j = row0 + r
            if j >= limit:
                continue  # zero rows
            cur = np.zeros(Dp)
            cur[:D] = src[j]
            if w is None:
                tile[r, :Dp] = cur
                continue
            prev = np.zeros(Dp)
            if j > 0:
                prev[:D] = src[j - 1]
            tile[r, :Dp] = w[0] * cur + w[1] * prev
        return tile

    qs = stage(q[b, h], q0, BM, Sq)
    g, t4 = LANES // 4, LANES % 4
    l8, l16, hi, mid = LANES % 8, LANES % 16, LANES // 16, (LANES // 8) % 2
    out = np.zeros((BM, D))
    kv_end = Sk
    if causal:
        kv_end = max(0, min(Sk, offset + q0 + BM))
    n_tiles = (kv_end + block_n - 1) // block_n
    if theta is None:
        ks_tiles = [stage(k[b, kv], tt * block_n, block_n, Sk, (a1, a2))
                    for tt in range(n_tiles)]
    else:  # D is a multiple of 16: Dp = D, vw = 8 (f16/bf16)
        ks_tiles = []
        for tt in range(n_tiles):
            tile = np.zeros((max(BM, block_n), Dp + 8))
            tile[:, :D] = stage_keys_rope(k[b, kv], tt * block_n, block_n, Sk, (a1, a2),
                                          D, theta, 32 * warps, 8, max(BM, block_n))[:, :D]
            ks_tiles.append(tile)
    vs_tiles = [stage(v[b, kv], tt * block_n, block_n, Sk, (b1, b2)) for tt in range(n_tiles)]
    for w in range(warps):
        warp_row = 16 * w
        qf = [ldmatrix_x4(qs, warp_row + l16, ks * 16 + 8 * hi, False)
              for ks in range(Dp // 16)]
        row = [q0 + warp_row + g, q0 + warp_row + g + 8]
        m = [np.full(32, -np.inf), np.full(32, -np.inf)]
        l = [np.zeros(32), np.zeros(32)]
        o = [[np.zeros(32) for _ in range(4)] for _ in range(Dp // 8)]
        for tt in range(n_tiles):
            j0 = tt * block_n
            ks_, vs_ = ks_tiles[tt], vs_tiles[tt]
            s = [[np.zeros(32) for _ in range(4)] for _ in range(block_n // 8)]
            for ks in range(Dp // 16):
                for nb2 in range(block_n // 16):
                    kf = ldmatrix_x4(ks_, nb2 * 16 + l8 + 8 * hi, ks * 16 + 8 * mid, False)
                    for hh in range(2):
                        nb = 2 * nb2 + hh
                        s[nb] = mma_m16n8k16(qf[ks], [kf[2 * hh], kf[2 * hh + 1]], s[nb])
            needs_mask = j0 + block_n > Sk or (
                causal and j0 + block_n - 1 > offset + q0 + warp_row)
            if needs_mask:
                for nb in range(block_n // 8):
                    for i in range(4):
                        j = j0 + nb * 8 + (i % 2) + 2 * t4
                        r = row[i // 2]
                        masked = (j >= Sk) | ((j > offset + r) if causal else False)
                        s[nb][i] = np.where(masked, -np.inf, s[nb][i])
            p = [[None] * 4 for _ in range(block_n // 8)]
            alpha = [None, None]
            for r in range(2):
                red = np.max([s[nb][i] for nb in range(block_n // 8)
                              for i in (2 * r, 2 * r + 1)], axis=0)
                red = np.maximum(red, shfl_xor(red, 1))
                red = np.maximum(red, shfl_xor(red, 2))
                new_m = np.maximum(m[r], red * scale_log2)
                m_use = np.where(new_m == -np.inf, 0.0, new_m)
                with np.errstate(invalid="ignore"):
                    alpha[r] = np.exp2(m[r] - m_use)
                total = np.zeros(32)
                for nb in range(block_n // 8):
                    for i in (2 * r, 2 * r + 1):
                        p[nb][i] = np.exp2(s[nb][i] * scale_log2 - m_use)
                        total += p[nb][i]
                l[r] = l[r] * alpha[r] + total
                m[r] = new_m
            for nb in range(Dp // 8):
                for i in range(4):
                    o[nb][i] = o[nb][i] * alpha[i // 2]
            for kk in range(block_n // 16):
                pair = lambda x, y: np.stack([x, y], axis=1)
                a = [pair(p[2 * kk][0], p[2 * kk][1]), pair(p[2 * kk][2], p[2 * kk][3]),
                     pair(p[2 * kk + 1][0], p[2 * kk + 1][1]),
                     pair(p[2 * kk + 1][2], p[2 * kk + 1][3])]
                for nb2 in range(Dp // 16):
                    vf = ldmatrix_x4(vs_, kk * 16 + l8 + 8 * mid, nb2 * 16 + 8 * hi, True)
                    for hh in range(2):
                        nb = 2 * nb2 + hh
                        o[nb] = mma_m16n8k16(a, [vf[2 * hh], vf[2 * hh + 1]], o[nb])
        for r in range(2):
            total = l[r] + shfl_xor(l[r], 1)
            total = total + shfl_xor(total, 2)
            inv = np.where(total > 0, 1 / np.where(total > 0, total, 1), 0)
            for nb in range(Dp // 8):
                for e in range(2):
                    col = nb * 8 + 2 * t4 + e
                    for lane in LANES:
                        if row[r][lane] < Sq and col[lane] < D:
                            out[row[r][lane] - q0, col[lane]] = o[nb][2 * r + e][lane] * inv[lane]
    return out


def simt_block(q, k, v, kw, vw, b, h, qtile, causal, warps=4, block_n=16, theta=None):
    """The f32 SIMT kernel: four consecutive lanes per query row, lane part p
    owning columns 16 i + 4 p + e; partial dot products completed with two
    xor-shuffles (modelled over the block's threads)."""
    Bq, Hq, Sq, D = q.shape
    Hkv, Sk = k.shape[1], k.shape[2]
    Dp = (D + 15) // 16 * 16
    BM, T = 8 * warps, 32 * warps
    kv = h // (Hq // Hkv)
    q0 = qtile * BM
    c = (1 / math.sqrt(D)) * math.log2(math.e)
    offset = Sk - Sq
    tid = np.arange(T)
    part, row = tid % 4, q0 + tid // 4
    cols = [16 * i + 4 * part[:, None] + np.arange(4) for i in range(Dp // 16)]
    qp = np.zeros((Sq + BM, Dp))
    qp[:Sq, :D] = q[b, h]
    qv = [np.where(row[:, None] < Sq, qp[np.minimum(row, Sq + BM - 1)[:, None], cl], 0)
          for cl in cols]

    def mixed(src, w, j0, rope=False):
        if rope:  # D is a multiple of 16: Dp = D, vw = 4 (f32)
            return stage_keys_rope(src, j0, block_n, Sk, w, D, theta, T, 4, block_n)
        tile = np.zeros((block_n, Dp))
        for r in range(block_n):
            j = j0 + r
            if j < Sk:
                tile[r, :D] = w[0] * src[j] + (w[1] * src[j - 1] if j > 0 else 0)
        return tile

    kv_end = max(0, min(Sk, offset + q0 + BM)) if causal else Sk
    m, l = np.full(T, -np.inf), np.zeros(T)
    o = [np.zeros((T, 4)) for _ in cols]
    xor = lambda x, off: x[tid ^ off]
    for tt in range((kv_end + block_n - 1) // block_n):
        j0 = tt * block_n
        kt = mixed(k[b, kv], kw[kv], j0, rope=theta is not None)
        vt = mixed(v[b, kv], vw[kv], j0)
        s = []
        for j in range(block_n):
            dot = sum((qv[i] * kt[j][cl]).sum(1) for i, cl in enumerate(cols))
            dot = dot + xor(dot, 1)
            s.append(dot + xor(dot, 2))
        if j0 + block_n > Sk or (causal and j0 + block_n - 1 > offset + q0):
            s = [np.where((j0 + j >= Sk) | ((j0 + j > offset + row) if causal else False),
                          -np.inf, s[j]) for j in range(block_n)]
        new_m = np.maximum(m, np.max(s, axis=0) * c)
        m_use = np.where(new_m == -np.inf, 0.0, new_m)
        alpha = np.exp2(m - m_use)
        o = [x * alpha[:, None] for x in o]
        total = np.zeros(T)
        for j in range(block_n):
            pj = np.exp2(s[j] * c - m_use)
            total += pj
            o = [x + pj[:, None] * vt[j][cl] for x, cl in zip(o, cols)]
        l = l * alpha + total
        m = new_m
    inv = np.where(l > 0, 1 / np.where(l > 0, l, 1), 0)
    out = np.zeros((BM, D))
    for x, cl in zip(o, cols):
        for t in tid:
            if row[t] < Sq:
                for e in range(4):
                    if cl[t, e] < D:
                        out[row[t] - q0, cl[t, e]] = x[t, e] * inv[t]
    return out


def run(b_, hq, hkv, sq, sk, d, causal, seed, simt=False, theta=None):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((b_, hq, sq, d))
    k = rng.standard_normal((b_, hkv, sk, d))
    v = rng.standard_normal((b_, hkv, sk, d))
    kw = rng.uniform(-1, 1, (hkv, 2))
    vw = rng.uniform(-1, 1, (hkv, 2))
    out = np.zeros_like(q)
    bm = 32 if simt else 64
    qk = (q, k)
    if theta is not None:  # the pre-pass, launched on q and on k
        vw_ = 4 if simt else 8
        qk = (rope_prepass(q, sk - sq, theta, vw_), rope_prepass(k, 0, theta, vw_))
    for b in range(b_):
        for h in range(hq):
            for qt in range((sq + bm - 1) // bm):
                rows = (simt_block if simt else block)(qk[0], qk[1], v, kw, vw, b, h, qt,
                                                       causal, theta=theta)
                n = min(bm, sq - bm * qt)
                out[b, h, bm * qt:bm * qt + n] = rows[:n]
    expect = ref.kv_shift_attention(q, k, v, kw, vw, causal=causal, rope_theta=theta)
    err = ref.max_rel_err(out, expect)
    print(f"{'simt' if simt else 'mma '} B={b_} Hq={hq} Hkv={hkv} Sq={sq} Sk={sk} "
          f"D={d} causal={causal}{f' rope_theta={theta:g}' if theta else ''}: {err:.2e}")
    assert err < 1e-12, err


run(1, 2, 1, 70, 70, 16, False, 0)     # GQA, partial query and key tiles
run(1, 2, 1, 70, 70, 16, True, 1)      # causal, diagonal tiles
run(1, 1, 1, 20, 150, 24, True, 2)     # Sq < Sk, bottom-right; D = 24 padded to 32
run(1, 4, 2, 65, 130, 37, True, 3)     # odd D, GQA, Sq < Sk
run(1, 1, 1, 1, 200, 8, True, 4)       # decoding: one query row
run(1, 2, 1, 70, 70, 16, False, 5, simt=True)
run(1, 4, 2, 45, 90, 37, True, 6, simt=True)
run(1, 1, 1, 3, 50, 24, True, 7, simt=True)
# RoPE: the pre-pass and the mix in the rotated frame.
run(1, 2, 1, 70, 70, 16, True, 8, theta=10000.0)          # GQA, partial tiles
run(1, 4, 2, 45, 150, 48, True, 9, theta=500000.0)        # Sq < Sk; 3 pairs per row
run(1, 2, 2, 1, 131, 32, False, 10, theta=10000.0)        # one query row
run(2, 2, 1, 40, 70, 32, True, 13, theta=10000.0)         # two batches
run(1, 2, 1, 45, 90, 32, True, 11, simt=True, theta=10000.0)
run(1, 1, 1, 20, 77, 48, False, 12, simt=True, theta=500000.0)
print("model OK")
