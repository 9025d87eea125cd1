"""RoPE frequencies as the GPU kernels compute them (EmitterBase::invFreq and
invFreqs in lib/Dialect/KVShift/Transforms/FuseAttentionGPU.cpp), shared by
the NumPy models kernel_model.py and decode_model.py."""


def inv_freq(i, d, theta):
    """theta^(-2 i / D): the product of the constants theta^(-2^(b+1) / D)
    over the bits b set in the pair index i (invFreq)."""
    acc, bit = 1.0, 0
    while (1 << bit) < d // 2:
        if i & (1 << bit):
            acc *= theta ** (-2.0 * (1 << bit) / d)
        bit += 1
    return acc


def chunk_inv_freqs(col0, d, theta, vw):
    """The frequencies of pairs col0 .. col0 + vw - 1: invFreq(col0), times
    theta^(-2 e / D) for element e of the chunk (invFreqs)."""
    base = inv_freq(col0, d, theta)
    return [base if e == 0 else base * theta ** (-2.0 * e / d) for e in range(vw)]
