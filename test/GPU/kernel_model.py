"""A NumPy model of the kernels of --kvshift-fuse-attention-gpu (tensor-core and SIMT),
lane by lane, checked against the float64 reference (kvshift_ref).

Nothing here runs the generated code (there is no GPU on the machines that
build kvshift). What it checks is the design the emitter
(lib/Dialect/KVShift/Transforms/FuseAttentionGPU.cpp, emitTensorCoreBody)
implements: the same lane/address formulas for the ldmatrix loads, the
fragment layouts of mma.sync.m16n8k16 as the PTX ISA defines them
(implemented here independently of the emitter), the quad shuffles, the
masking condition and tile skipping, the online softmax in log2 units and the
repacking of P from the S accumulators, and the mixes: without RoPE the key
mix is applied to the scores (S^ = a1 S + a2 S shifted by one column, the
column before the tile carried from the previous tile through a shuffle of
the odd columns of the lane before) and the value mix to the probabilities
(P' = b1 P + b2 P shifted the other way, plus b2 p_{j0} v_{j0-1} from the
halo row of the raw value tile). The query tile is staged through the key
buffer BN rows at a time (several chunks with warps = 8). With RoPE
(rope_theta), it models the pre-pass kernel (RopeKernelEmitter: one thread
per row and pair of chunks, the key rows mixed first with the weights of
their head, inv_freq as a product over the bits of the pair index, the angle
reduced by 2 pi), whose keys the attention kernel reads without mixing the
scores again. If a formula in the emitter changes, change it here too.
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


def shfl_idx(x, src):
    """shfl.sync.idx: lane l reads x of lane src[l]."""
    return x[src]


# --- RoPE (the emitter's formulas) -----------------------------------------

def rope_prepass(x, pos_offset, theta, vw, w=None, threads=256):
    """RopeKernelEmitter on a [B, H, S, D] tensor: thread `item` of the grid
    handles row item // pairs of the flattened rows and columns col0 =
    (item % pairs) * vw and col0 + D/2; row r sits at position (r mod S) +
    pos_offset. With `w` (the keys: mix = 1) the row is first mixed,
    w[h, 0] x_r + w[h, 1] x_{r-1} (nothing before position 0), h = (r / S)
    mod H."""
    rows_shape = x.shape
    d = x.shape[-1]
    seq, heads = x.shape[-2], x.shape[-3]
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
        pos_in_seq = row % seq
        pos = pos_in_seq + pos_offset
        lo_cols = np.arange(col0, col0 + vw)
        lo, hi = flat[row, lo_cols], flat[row, lo_cols + half]
        if w is not None:
            h = (row // seq) % heads
            prev_lo = flat[row - 1, lo_cols] if pos_in_seq > 0 else np.zeros(vw)
            prev_hi = flat[row - 1, lo_cols + half] if pos_in_seq > 0 else np.zeros(vw)
            lo = w[h, 0] * lo + w[h, 1] * prev_lo
            hi = w[h, 0] * hi + w[h, 1] * prev_hi
        for e, f in enumerate(chunk_inv_freqs(col0, d, theta, vw)):
            ang = pos * f
            r = ang - np.rint(ang / two_pi) * two_pi  # reduced to [-pi, pi]
            assert abs(r) <= math.pi + 1e-9
            c, sn = math.cos(r), math.sin(r)
            out[row, col0 + e] = lo[e] * c - hi[e] * sn
            out[row, half + col0 + e] = hi[e] * c + lo[e] * sn
    assert not np.isnan(out).any(), "the pre-pass left elements unwritten"
    return out.reshape(rows_shape)


# --- the kernel, one block --------------------------------------------------

def block(q, k, v, kw, vw, b, h, qtile, causal, warps=4, block_n=64, theta=None):
    """One thread block of the tensor-core kernel. With `theta`, q and k are
    the pre-pass's output (q rotated; k mixed, then rotated)."""
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
    score_mix = theta is None

    def copy(src, row0, rows, limit):
        """copyRows: raw rows [row0, row0 + rows) (row0 may be -1), zero
        outside [0, limit) and in the padding columns."""
        tile = np.full((rows, Dp + 8), np.nan)
        tile[:, D:] = 0
        for r in range(rows):
            j = row0 + r
            tile[r, :D] = src[j] if 0 <= j < limit else 0
        return tile

    g, t4 = LANES // 4, LANES % 4
    l8, l16, hi, mid = LANES % 8, LANES % 16, LANES // 16, (LANES // 8) % 2
    quad = LANES & ~3
    lane_prev, lane_next = quad | ((t4 + 3) & 3), quad | ((t4 + 1) & 3)
    # The query tile through the key buffer, BN rows at a time: a warp
    # takes its fragments from the chunk holding its rows.
    qf_of_warp = {}
    for c0 in range(0, BM, block_n):
        rows = min(block_n, BM - c0)
        ks_buf = np.zeros((block_n, Dp + 8))
        ks_buf[:rows] = copy(q[b, h], q0 + c0, rows, Sq)
        for w in range(warps):
            if c0 <= 16 * w < c0 + rows:
                qf_of_warp[w] = [ldmatrix_x4(ks_buf, 16 * w - c0 + l16, ks * 16 + 8 * hi, False)
                                 for ks in range(Dp // 16)]
    out = np.zeros((BM, D))
    kv_end = Sk
    if causal:
        kv_end = max(0, min(Sk, offset + q0 + BM))
    n_tiles = (kv_end + block_n - 1) // block_n
    ks_tiles = [copy(k[b, kv], tt * block_n, block_n, Sk) for tt in range(n_tiles)]
    vs_tiles = [copy(v[b, kv], tt * block_n - 1, block_n + 1, Sk) for tt in range(n_tiles)]
    nblk = block_n // 8
    for w in range(warps):
        warp_row = 16 * w
        qf = qf_of_warp[w]
        row = [q0 + warp_row + g, q0 + warp_row + g + 8]
        m = [np.full(32, -np.inf), np.full(32, -np.inf)]
        l = [np.zeros(32), np.zeros(32)]
        halo = [np.zeros(32), np.zeros(32)]
        o = [[np.zeros(32) for _ in range(4)] for _ in range(Dp // 8)]
        for tt in range(n_tiles):
            j0 = tt * block_n
            ks_, vs_ = ks_tiles[tt], vs_tiles[tt]
            s = [[np.zeros(32) for _ in range(4)] for _ in range(nblk)]
            for ks in range(Dp // 16):
                for nb2 in range(block_n // 16):
                    kf = ldmatrix_x4(ks_, nb2 * 16 + l8 + 8 * hi, ks * 16 + 8 * mid, False)
                    for hh in range(2):
                        nb = 2 * nb2 + hh
                        s[nb] = mma_m16n8k16(qf[ks], [kf[2 * hh], kf[2 * hh + 1]], s[nb])
            if score_mix:
                odd = [[shfl_idx(s[nb][2 * r + 1], lane_prev) for r in range(2)]
                       for nb in range(nblk)]
                mixed = [[None] * 4 for _ in range(nblk)]
                for nb in range(nblk):
                    for r in range(2):
                        before = halo[r] if nb == 0 else odd[nb - 1][r]
                        prev_even = np.where(t4 == 0, before, odd[nb][r])
                        even, odd_own = s[nb][2 * r], s[nb][2 * r + 1]
                        mixed[nb][2 * r] = a1 * even + a2 * prev_even
                        mixed[nb][2 * r + 1] = a1 * odd_own + a2 * even
                halo = [odd[nblk - 1][r] for r in range(2)]
                s = mixed
            needs_mask = j0 + block_n > Sk or (
                causal and j0 + block_n - 1 > offset + q0 + warp_row)
            if needs_mask:
                for nb in range(nblk):
                    for i in range(4):
                        j = j0 + nb * 8 + (i % 2) + 2 * t4
                        r = row[i // 2]
                        masked = (j >= Sk) | ((j > offset + r) if causal else False)
                        s[nb][i] = np.where(masked, -np.inf, s[nb][i])
            p = [[None] * 4 for _ in range(nblk)]
            alpha = [None, None]
            for r in range(2):
                red = np.max([s[nb][i] for nb in range(nblk)
                              for i in (2 * r, 2 * r + 1)], axis=0)
                red = np.maximum(red, shfl_xor(red, 1))
                red = np.maximum(red, shfl_xor(red, 2))
                new_m = np.maximum(m[r], red * scale_log2)
                m_use = np.where(new_m == -np.inf, 0.0, new_m)
                with np.errstate(invalid="ignore"):
                    alpha[r] = np.exp2(m[r] - m_use)
                total = np.zeros(32)
                for nb in range(nblk):
                    for i in (2 * r, 2 * r + 1):
                        p[nb][i] = np.exp2(s[nb][i] * scale_log2 - m_use)
                        total += p[nb][i]
                l[r] = l[r] * alpha[r] + total
                m[r] = new_m
            for nb in range(Dp // 8):
                for i in range(4):
                    o[nb][i] = o[nb][i] * alpha[i // 2]
            # The value mix on the probabilities, packed per (block, row).
            even = [[shfl_idx(p[nb][2 * r], lane_next) for r in range(2)] for nb in range(nblk)]
            pm = [[None] * 2 for _ in range(nblk)]
            for nb in range(nblk):
                for r in range(2):
                    after = even[nb + 1][r] if nb + 1 < nblk else np.zeros(32)
                    next_odd = np.where(t4 == 3, after, even[nb][r])
                    pe, po = p[nb][2 * r], p[nb][2 * r + 1]
                    pm[nb][r] = np.stack([b1 * pe + b2 * po, b1 * po + b2 * next_odd], axis=1)
            halo_weight = [b2 * shfl_idx(p[0][2 * r], quad) for r in range(2)]
            for kk in range(block_n // 16):
                a = [pm[2 * kk][0], pm[2 * kk][1], pm[2 * kk + 1][0], pm[2 * kk + 1][1]]
                for nb2 in range(Dp // 16):
                    vf = ldmatrix_x4(vs_, kk * 16 + 1 + l8 + 8 * mid, nb2 * 16 + 8 * hi, True)
                    for hh in range(2):
                        nb = 2 * nb2 + hh
                        o[nb] = mma_m16n8k16(a, [vf[2 * hh], vf[2 * hh + 1]], o[nb])
            for nb in range(Dp // 8):
                col = nb * 8 + 2 * t4
                hv = [vs_[0, col], vs_[0, col + 1]]
                for i in range(4):
                    o[nb][i] = o[nb][i] + halo_weight[i // 2] * hv[i % 2]
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

    def mixed(src, w, j0):
        """stageRows: mixed with w on the way in, or as it is (w None: the
        pre-pass's keys, already mixed and rotated)."""
        tile = np.zeros((block_n, Dp))
        for r in range(block_n):
            j = j0 + r
            if j < Sk:
                tile[r, :D] = src[j] if w is None else (
                    w[0] * src[j] + (w[1] * src[j - 1] if j > 0 else 0))
        return tile

    kv_end = max(0, min(Sk, offset + q0 + BM)) if causal else Sk
    m, l = np.full(T, -np.inf), np.zeros(T)
    o = [np.zeros((T, 4)) for _ in cols]
    xor = lambda x, off: x[tid ^ off]
    for tt in range((kv_end + block_n - 1) // block_n):
        j0 = tt * block_n
        kt = mixed(k[b, kv], None if theta is not None else kw[kv], j0)
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


def run(b_, hq, hkv, sq, sk, d, causal, seed, simt=False, theta=None, warps=4):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((b_, hq, sq, d))
    k = rng.standard_normal((b_, hkv, sk, d))
    v = rng.standard_normal((b_, hkv, sk, d))
    kw = rng.uniform(-1, 1, (hkv, 2))
    vw = rng.uniform(-1, 1, (hkv, 2))
    out = np.zeros_like(q)
    bm = 8 * warps if simt else 16 * warps
    qk = (q, k)
    if theta is not None:  # the pre-pass, launched on q and (mixing) on k
        vw_ = 4 if simt else 8
        qk = (rope_prepass(q, sk - sq, theta, vw_), rope_prepass(k, 0, theta, vw_, w=kw))
    for b in range(b_):
        for h in range(hq):
            for qt in range((sq + bm - 1) // bm):
                rows = (simt_block if simt else block)(qk[0], qk[1], v, kw, vw, b, h, qt,
                                                       causal, theta=theta, warps=warps)
                n = min(bm, sq - bm * qt)
                out[b, h, bm * qt:bm * qt + n] = rows[:n]
    expect = ref.kv_shift_attention(q, k, v, kw, vw, causal=causal, rope_theta=theta)
    err = ref.max_rel_err(out, expect)
    print(f"{'simt' if simt else 'mma '} B={b_} Hq={hq} Hkv={hkv} Sq={sq} Sk={sk} "
          f"D={d} causal={causal}{f' rope_theta={theta:g}' if theta else ''}"
          f"{f' warps={warps}' if warps != 4 else ''}: {err:.2e}")
    assert err < 1e-12, err


run(1, 2, 1, 70, 70, 16, False, 0)     # GQA, partial query and key tiles
run(1, 2, 1, 70, 70, 16, True, 1)      # causal, diagonal tiles
run(1, 1, 1, 20, 150, 24, True, 2)     # Sq < Sk, bottom-right; D = 24 padded to 32
run(1, 4, 2, 65, 130, 37, True, 3)     # odd D, GQA, Sq < Sk
run(1, 1, 1, 1, 200, 8, True, 4)       # decoding: one query row
run(1, 2, 1, 70, 70, 16, False, 5, simt=True)
run(1, 4, 2, 45, 90, 37, True, 6, simt=True)
run(1, 1, 1, 3, 50, 24, True, 7, simt=True)
run(1, 2, 1, 150, 150, 16, True, 14, warps=8)  # 128 query rows: Q in two chunks
run(1, 2, 1, 1, 129, 16, False, 15)            # S = 1 over 129 keys: a 1-key tile
# RoPE: the pre-pass (q rotated; k mixed, then rotated).
run(1, 2, 1, 70, 70, 16, True, 8, theta=10000.0)          # GQA, partial tiles
run(1, 4, 2, 45, 150, 48, True, 9, theta=500000.0)        # Sq < Sk; 3 pairs per row
run(1, 2, 2, 1, 131, 32, False, 10, theta=10000.0)        # one query row
run(2, 2, 1, 40, 70, 32, True, 13, theta=10000.0)         # two batches
run(1, 2, 1, 45, 90, 32, True, 11, simt=True, theta=10000.0)
run(1, 1, 1, 20, 77, 48, False, 12, simt=True, theta=500000.0)
print("model OK")
