//===- Passes.td - kvshift transformation passes -----------*- tablegen -*-===//

#ifndef KVSHIFT_DIALECT_KVSHIFT_TRANSFORMS_PASSES_TD
#define KVSHIFT_DIALECT_KVSHIFT_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def KVShiftDecompose : Pass<"kvshift-decompose"> {
  let summary = "Lower kvshift ops to linalg/tensor/arith on tensors "
                "(the reference lowering)";
  let description = [{
    Rewrites `kvshift.kv_shift` and `kvshift.kv_shift_attention` into upstream
    ops on tensors, materialising everything: the mixed keys and values
    `K^`/`V^` (in f32), the full `[B, Hkv, G, Sq, Sk]` score tensor, a
    max-subtracted softmax and the `P V^` product. It is the semantic ground
    truth that the fused lowerings are tested against, not a fast path.

    * Mix: `tensor.pad` by one row at the front of the sequence, a slice, and
      one elementwise `linalg.generic` computing `w0 * x_t + w1 * x_{t-1}` in
      f32.
    * GQA: `q` is expanded from `[B, Hq, Sq, D]` to `[B, Hkv, G, Sq, D]`
      (`G = Hq / Hkv`), so that query head `h` meets KV head `h / G`; the
      result is collapsed back.
    * Causal masking (bottom-right aligned, key `j` visible to query `i` iff
      `j <= Sk - Sq + i`) sets masked logits to -inf. A row that sees no key
      at all (only possible when dynamic shapes give `Sq > Sk` at run time)
      produces zeros rather than NaN.
    * Arithmetic is f32 throughout; f16/bf16 results are rounded once.
    * `rope_theta`: q (positions `Sk - Sq + i`) and the mixed keys
      (positions `j`) are rotated by one `linalg.generic` over the two half
      slices each, with `inv_freq = theta^(-2i/D)`, the angle and its cosine
      and sine computed in f64 and rounded to f32.

    `kvshift.kv_shift_attention_grad` (and the internal forms) are lowered
    too: the forward is recomputed, and with `rope_theta` the gradients with
    respect to the rotated q and keys are rotated back by `-p` before `dq` is
    returned and before the transpose of the mix.

    Example:

    ```mlir
    // kvshift-opt --kvshift-decompose
    %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
        : (tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>,
           tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x4x16x8xf32>
    // becomes tensor.pad/linalg.generic (mix), tensor.expand_shape (GQA),
    // linalg.generic (QK^T, mask, max, exp, sum, normalise, PV^) and
    // tensor.collapse_shape.
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def KVShiftRaise : Pass<"kvshift-raise"> {
  let summary = "Recognise KV-shift attention written in plain linalg and "
                "replace it with kvshift.kv_shift_attention";
  let description = [{
    Finds attention written the paper's way in PyTorch, in the form
    `kvshift.import_module` emits it, and replaces it with one
    `kvshift.kv_shift_attention`, so that a model written without kvshift's
    module still gets the fused kernel. Matched, from the result backwards:

    * `expand_shape(batch_matmul(collapse(P), collapse(v^)))` on
      `[B, H, S, D]` tensors (reassociation `[[0, 1], [2], [3]]`);
    * `P = softmax(x)` as four generics: row max (init -inf), `exp(x - max)`,
      row sum (init 0), division;
    * optionally `x = select(mask, -inf, s)` with a constant `[Sq, Sk]` mask
      that must be exactly the bottom-right causal mask (`j > Sk - Sq + i`),
      and optionally a scale `s * c` or `s / c` with a constant `c`, in
      either order (a non-positive `c` applied after the mask is refused);
      no scale means `scale = 1.0`;
    * `s = expand_shape(batch_matmul(collapse(q), collapse(transpose(k^))))`
      with permutation `[0, 1, 3, 2]`;
    * `k^` (and `v^`) either the raw tensor (weights `[1, 0]`, plain
      attention) or `w0 * x + w1 * slice(pad(x, low = [0, 0, 1, 0]))`, the
      terms in any order, each weight an f32 tensor broadcast along the head
      dimension only (e.g. `[H, 1, 1]`) or a scalar constant;
    * grouped-query attention written out on `k^` and `v^` after the mix:
      `repeat_interleave(x, g, dim=1)` or Llama's `repeat_kv` (expand +
      reshape); the op then gets the KV heads themselves;
    * RoPE after the mix written the plain-PyTorch way, on `q` and on `k^`
      (before or after the GQA repeat): `x * cos + rotate_half(x) * sin`
      with `rotate_half(x)` the insert_slices of `-x[..., D/2:]` and
      `x[..., :D/2]` and `cos`, `sin` constant `[rows, D]` f32 tables (or
      row slices of them) broadcast along batch and heads. theta is read
      from the tables' row at position 1 (angle `theta^(-2i/D)`, snapped to
      an integer when that fits) and every entry of both tables is checked
      against SPEC.md's formula within what an f32 angle costs
      (`4 ulp * (1 + |angle|)`); keys must sit at positions `j` and queries
      at `Sk - Sq + i`, with one theta. The op then gets `rope_theta`.
      Tables passed as function arguments cannot be checked: such rotations
      stay, and the attention over the rotated `q` and `k^` is raised.

    Anything that differs is left alone: a shift by two rows, a mask that is
    not causal (or top-left aligned when `Sq < Sk`), weights that vary along
    another dimension, f16/bf16 attention, dynamic shapes, heads tiled with
    `repeat` (head `h` reading `h % Hkv`). A mix the op cannot express stays
    computed, and the attention over its result is raised with weights
    `[1, 0]`. The replaced ops become dead and are erased when nothing else
    uses them.

    Example:

    ```mlir
    // kvshift-opt --kvshift-raise
    // (pad/slice/mul/add mixes, transpose, batch_matmul, scale, causal
    //  mask, softmax, batch_matmul)
    // becomes
    %kw = linalg.generic ... -> tensor<4x2xf32>   // [a1, a2] per head
    %vw = linalg.generic ... -> tensor<4x2xf32>
    %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
        scale = 0.353553385 : (...) -> tensor<2x4x16x8xf32>
    ```
  }];
  let dependentDialects = [
    "::mlir::kvshift::KVShiftDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def KVShiftRecordSignature
    : Pass<"kvshift-record-signature", "::mlir::ModuleOp"> {
  let summary = "Record each function's tensor-level signature for runners";
  let description = [{
    Attaches `kvshift.signature = <function type>` to every `func.func` with
    a body that does not already carry one. The attribute survives
    bufferization and the conversion to the LLVM dialect, so that
    `kvshift-run` can bind `.npy` arrays to the arguments of a module that was
    lowered ahead of time (`kvshift-opt --kvshift-to-llvm-cpu`), where the
    original tensor types are otherwise lost.

    Example:

    ```mlir
    // kvshift-opt --kvshift-record-signature
    func.func @f(%a: tensor<4xbf16>) -> tensor<4xbf16>
    // becomes
    func.func @f(%a: tensor<4xbf16>) -> tensor<4xbf16>
        attributes {kvshift.signature = (tensor<4xbf16>) -> tensor<4xbf16>}
    ```
  }];
}

def KVShiftInsertRuntimeChecks
    : Pass<"kvshift-insert-runtime-checks", "::mlir::ModuleOp"> {
  let summary = "Check the positions and lengths of KV-cache ops at run time";
  let description = [{
    Before every `kvshift.kv_cache_append`, checks `0 <= pos` and
    `pos + T <= Smax`; before every `kvshift.kv_cache_attention`, checks
    `lo <= length <= Smax` (`lo` is `Sq` with `causal`, else 1). A failed
    check calls

    ```
    void kvshift_runtime_error(int64_t code, int64_t a, int64_t b, int64_t c)
    ```

    (declared in the module; code 1: append of rows `[a, b)` to a cache of
    `c` rows; code 2: a length `a` outside `[b, c]`), which the kvshift
    runtime provides: the run ends with a one-line error instead of writing
    or reading out of bounds. The lowerings clamp the position and length as
    well, so code built without the runtime never accesses memory out of
    bounds either. The registered CPU pipelines run this pass first.

    Example:

    ```mlir
    // kvshift-opt --kvshift-insert-runtime-checks
    %r:4 = kvshift.kv_cache_append ... at %pos ...
    // becomes
    %end = arith.addi %pos, %c1 : index
    %bad = arith.cmpi ugt, %end, %c512 : index
    scf.if %bad {
      func.call @kvshift_runtime_error(%c1_i64, %pos_i64, %end_i64, %c512_i64)
          : (i64, i64, i64, i64) -> ()
    }
    %r:4 = kvshift.kv_cache_append ... at %pos ...
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::tensor::TensorDialect"];
}

def KVShiftTieResults : Pass<"kvshift-tie-results", "::mlir::ModuleOp"> {
  let summary = "Find results that update an argument, for in-place state";
  let description = [{
    Run on tensors, just before one-shot bufferization. For every function
    with a body, a result that is an argument updated through destination
    operands (`tensor.insert_slice`, `tensor.insert`, destination-style ops
    such as `linalg.generic` outs, `scf.for` iteration arguments) and has the
    argument's type is *tied* to that argument: a KV cache passed in and
    returned updated is the typical case. The function gets
    `kvshift.tied_results = array<i64: ...>` (per result: the argument index,
    or -1), tied arguments stay writable and every other tensor argument is
    marked `bufferization.writable = false`, so that the compiled code never
    writes into a buffer the caller did not hand over as state.

    Together with `kvshift-drop-tied-results` after bufferization, a decode
    step updates its caches in place, and the kvshift runtime can pass
    parameters and caches without copying them (`run_in_place`).

    Example:

    ```mlir
    func.func @step(%w: tensor<8xf32>, %cache: tensor<64x8xf32>, %i: index)
        -> tensor<64x8xf32> {
      %r = tensor.insert_slice %w into %cache[%i, 0] [1, 8] [1, 1]
          : tensor<8xf32> into tensor<64x8xf32>
      return %r : tensor<64x8xf32>
    }
    // gets {kvshift.tied_results = array<i64: 1>} and
    // %w: tensor<8xf32> {bufferization.writable = false}
    ```
  }];
}

def KVShiftDropTiedResults
    : Pass<"kvshift-drop-tied-results", "::mlir::ModuleOp"> {
  let summary = "Return tied results through their argument's buffer";
  let description = [{
    Run on buffers, after one-shot bufferization and before buffer
    deallocation. For every result listed in `kvshift.tied_results`, the
    returned buffer is the tied argument's buffer when bufferization updated
    it in place (the usual case); otherwise it is copied into that buffer
    (`memref.copy`). Either way the result is then removed from the function:
    the caller finds the value in the argument's buffer. The attribute stays,
    for runners (the kvshift runtime reads it from the lowered function).

    Example:

    ```mlir
    func.func @step(%w: memref<8xf32>, %cache: memref<64x8xf32>, %i: index)
        -> memref<64x8xf32> attributes {kvshift.tied_results = array<i64: 1>}
    // becomes
    func.func @step(%w: memref<8xf32>, %cache: memref<64x8xf32>, %i: index)
        attributes {kvshift.tied_results = array<i64: 1>}
    ```
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
}

def KVShiftStridedCopyToLinalg : Pass<"kvshift-strided-copy-to-linalg"> {
  let summary = "Rewrite memref.copy between non-identity layouts as linalg.copy";
  let description = [{
    `finalize-memref-to-llvm` lowers a `memref.copy` whose source or target
    has a non-identity layout (a strided subview, for example the shifted
    view the mix writes through) into a call to `memrefCopy` from
    `libmlir_c_runner_utils`. This pass rewrites exactly those copies as
    `linalg.copy`, which becomes plain loops, so that modules produced by
    the kvshift CPU pipelines need no MLIR runtime library. Copies between
    identity layouts are left alone (they lower to `llvm.memcpy`).

    Example:

    ```mlir
    // kvshift-opt --kvshift-strided-copy-to-linalg
    memref.copy %a, %sub : memref<4x8xf32> to memref<4x8xf32, strided<[9, 1], offset: 1>>
    // becomes
    linalg.copy ins(%a : memref<4x8xf32>)
                outs(%sub : memref<4x8xf32, strided<[9, 1], offset: 1>>)
    ```
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def KVShiftFuseAttention : Pass<"kvshift-fuse-attention"> {
  let summary = "Lower kv_shift_attention to a fused flash-attention loop nest "
                "with the mix applied to each K/V tile as it is loaded";
  let description = [{
    Rewrites every `kvshift.kv_shift_attention` into a parallel, tiled,
    vectorised online-softmax (flash attention) loop nest on buffers. The
    mixed keys and values `K^`/`V^` and the `Sq x Sk` score matrix never
    exist as whole tensors:

    * Work items: one per (batch, KV head, query tile). A work item holds the
      `G = Hq / Hkv` query heads of its KV-head group, `block-rows / G` query
      rows each (at least one), so a K/V tile is loaded and mixed once and
      shared by the whole group (GQA). Items form an `scf.parallel` loop;
      with `causal`, query tiles are visited in the order 0, n-1, 1, n-2, ...
      so that contiguous chunks of items carry equal work.
    * Per key tile of `block-k` keys `[j0, j0 + block-k)`, the raw rows
      `j0 - 1 .. j0 + block-k - 1` are read and mixed in f32 into a
      `block-k x D` scratch tile (`k^_j = a1 k_j + a2 k_{j-1}`; one halo row
      per tile), vectorised along the head dimension.
    * Scores are computed transposed, `S^T = K^ Q^T`, with 16-wide f32
      vectors along the query rows and a 4 keys x 64 rows register tile;
      running max, running sum and the rescaled accumulator `O^T` are kept
      per row in f32; `P V^` accumulates into `O^T` with a 4 x 64 register
      tile. Softmax needs no horizontal reductions in this layout.
    * Causal: key tiles wholly above the diagonal are never visited; the
      mask is applied only on tiles that cross the diagonal.
    * Any sizes: partial query and key tiles, any head dimension (masked
      loads), dynamic shapes, f32/f16/bf16 inputs (widened on load, the
      output rounded once).
    * `rope_theta` (RoPE after the mix): a `[max(Sq, Sk), D/2]` f32 table of
      cos and sin per op, filled in parallel before the main loop from f64
      angles (libm for blocks of 64 positions, angle addition in f64
      within a block); queries rotated while loaded into `Q^T`, each mixed
      K tile rotated on load (in the mix loop with full vectors when D is
      static and D/2 a multiple of 16, else by a masked vector pass). The
      backward rotates q and the K tiles the same way and rotates the
      accumulated `dq` and `dK^` back by `-p` before storing `dq` and before
      the transpose of the mix.

    `kvshift.kv_cache_attention` becomes a flash-decoding kernel
    (FuseCacheAttention.cpp): the cache rows `[0, length)` are split into
    chunks of `decode-chunk` rows; one work item per (batch, KV head, chunk)
    reads its rows once for all `G * Sq` query rows of the KV-head group,
    16 keys at a time (16-lane dot products along D, one vector exp per row
    and block), and keeps a partial softmax state per row; a last parallel
    loop merges the chunks' states. Queries are rotated (`rope_theta`) and
    scaled once, before the split loop; the cache already holds mixed,
    rotated keys.

    Per work item the scratch is `O((block-k + 2 D) * rows + 2 block-k D)`
    floats on the stack (`memref.alloca` in a `memref.alloca_scope`):
    about 80 KiB for D = 64 and the default tiles.

    Example:

    ```mlir
    // kvshift-opt --kvshift-fuse-attention="block-rows=64 block-k=64"
    %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
        : (tensor<1x8x2048x64xf32>, tensor<1x8x2048x64xf32>,
           tensor<1x8x2048x64xf32>, tensor<8x2xf32>, tensor<8x2xf32>)
        -> tensor<1x8x2048x64xf32>
    // becomes bufferization.to_buffer of the operands, a memref.alloc for
    // the result, an scf.parallel over work items holding scf.for loops
    // over key tiles with vector.fma micro-kernels, and a
    // bufferization.to_tensor of the result.
    ```
  }];
  let options = [
    Option<"blockRows", "block-rows", "int64_t", /*default=*/"64",
           "Query rows per work item, summed over the query heads of a "
           "KV-head group (at least 1)">,
    Option<"blockK", "block-k", "int64_t", /*default=*/"64",
           "Keys per key tile (a positive multiple of 4)">,
    Option<"decodeChunk", "decode-chunk", "int64_t", /*default=*/"256",
           "kv_cache_attention: cache rows per work item of the split-K "
           "(flash-decoding) kernel (a positive multiple of 16)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::kvshift::KVShiftDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def KVShiftFuseAttentionGPU
    : Pass<"kvshift-fuse-attention-gpu", "::mlir::ModuleOp"> {
  let summary = "Lower kv_shift_attention (and its gradient and cache "
                "form) to fused CUDA kernels (gpu dialect, NVVM) and host "
                "code that launches them";
  let description = [{
    Rewrites every `kvshift.kv_shift_attention` (forward, on tensors) into
    host code and one kernel, a `gpu.func` in the `gpu.module
    @kvshift_kernels` (the module gets `gpu.container_module`). The pass
    works on tensors, before bufferization, like `kvshift-fuse-attention`:
    it reads the operands with `bufferization.to_buffer`, so the function
    keeps its tensor signature and, after one-shot bufferization, its
    host-memref calling convention; the kernel itself only sees flat
    device buffers, which keeps its arguments plain pointers and indices
    (the kernel ABI documented in docs/GPU.md, used by the GPU check).

    Host side, per op: the op becomes a `func.call` to a private launcher
    declaration `@kvshift_launch_<kernel>(q, k, v, kw, vw, out)` on the
    operands' buffers and a host `memref.alloc` for the result (then
    `bufferization.to_tensor`). The launcher's body (device buffers,
    copies, launch) is written by `kvshift-gpu-launchers`, which runs after
    bufferization and buffer deallocation: the deallocation passes reject
    gpu ops (`gpu.wait` has no memory-effect interface).

    Kernel, one thread block per (batch, query head, query tile), `32 *
    warps` threads; query head `h` reads KV head `h / (Hq / Hkv)` (GQA):
    * f16 / bf16, tensor cores (sm_80+): query tiles of `16 * warps` rows,
      one warp per 16 rows. The query tile is staged once through shared
      memory and kept as `ldmatrix` fragments in registers. No mixed tile
      is formed: the K and V tiles are raw copies brought into shared
      memory by `cp.async` (16 bytes, zero-filled outside the sequence),
      the next tile's keys requested while the softmax and `O += P V` run
      and the next tile's values while `S = Q K^T` runs. The key mix is
      applied to the scores, `S^ = a1 S + a2 S` shifted by one column (the
      column before the tile carried from the previous tile), and the value
      mix to the probabilities, `P' = b1 P + b2 P` shifted the other way
      plus `b2 p_{j0} v_{j0-1}` from the value tile's one halo row; the
      shifts are quad shuffles. `S = Q K^T` and `O += P' V` run on
      `mma.sync.m16n8k16` (`nvvm.mma.sync`, f32 accumulation) fed by
      `nvgpu.ldmatrix` (transposed for V). Online softmax in
      registers: row max over the quad of lanes with two xor-shuffles,
      `exp2` (`llvm.nvvm.ex2.approx.ftz.f`) with `scale * log2(e)` folded
      into one FMA, row sums reduced across lanes only at the end.
    * f32, SIMT: query tiles of `8 * warps` rows, four lanes per query row,
      each owning a quarter of the head dimension; key and value tiles of
      `simt-block-k` rows mixed in f32 on the way into shared memory
      (`w1 x_j + w2 x_{j-1}`, synchronous 16-byte loads).
    * Masking only where needed: key tiles that are partial (`j0 + block-k
      > Sk`) or cross the causal diagonal are masked (bottom-right aligned,
      key `j` visible to query `i` iff `j <= Sk - Sq + i`); key tiles
      wholly above the diagonal are never visited. Loads check the row
      against Sq / Sk (one compare per 16-byte chunk) and zero-fill.
    * Shapes: B, H, S dynamic or static; D must be static. D that is not a
      multiple of 16 is padded to 16 in shared memory and registers
      (columns >= D are zero-filled and never stored); when D is not a
      multiple of the 16-byte vector width (8 for f16/bf16, 4 for f32)
      global accesses are element by element. The tile configuration must
      fit 48 KiB of static shared memory (the pass reports an error
      otherwise: for f16/bf16 that limits D to 128 with the default
      tiles). Rows that see no key at all (dynamic Sq > Sk with causal)
      give zeros.
    * RoPE after the mix (`rope_theta`; D a multiple of 16, an error
      otherwise): a second kernel, `kv_shift_rope_d<D>_<T>`, rotates q (row
      i at position Sk - Sq + i), and mixes then rotates k (row j at
      position j) into device buffers of their own, one thread per row and
      pair of 16-byte chunks (columns c.. and c + D/2..), angles reduced by
      2 pi in f64 and `cos/sin.approx` in f32. The attention kernel reads
      those keys as they are (no key mix on the scores) and mixes the
      values as above.

    `kvshift.kv_cache_attention` becomes a flash-decoding kernel and a merge
    kernel (`kv_cache_decode_d<D>_<T>[_causal][_rope]` and `..._merge`):
    one thread block per (KV head and block of `decode-rows` query rows of
    its group, split of `decode-split` valid cache rows, batch); a group of
    `D / w` lanes (w = 16 bytes of T, rounded up to a power of two) reads a
    cache row with 16-byte loads and scores it against all the block's
    query rows in registers, so each cache row is read once for all query
    heads of a GQA group; per-lane-group online-softmax states are merged
    through shared memory into one partial state per row and split, and
    the merge kernel combines the splits. Each step loads the next step's
    keys and values before computing with its own (`decode-prefetch`).
    With `rope_theta` the queries are rotated at `length - Sq + i` when
    they are loaded. D must be static, a multiple of w (and of 16 with
    RoPE), at most 32 w. With `decode-mma` (f16/bf16, D a multiple of 16)
    the decode kernel runs on tensor cores instead: each warp takes 16 cache
    rows at a time, S = Q K^T and O += P V on mma.sync with the block's
    query rows as the rows of the m16n8k16 tiles, K and V loaded straight
    from global memory into fragment registers (the head dimension permuted
    so that every lane reads contiguous columns), one online-softmax update
    per 16 rows.

    `kvshift.kv_shift_attention_grad` becomes four kernels and a launcher
    declaration naming them in launch order
    (`kvshift.gpu_grad_kernels`): `<name>_grad_q` (lse and delta per query
    row, then dq; on tensor cores the forward kernel's first pass followed by
    a second pass over the key tiles), `<name>_grad_kv` (dk^ and dv^ per key
    row, f32; on tensor cores one warp per 15 key rows and the row before
    them: S^T, dV^, dP^T, dK^ on mma.sync over the query tiles of each query
    head of the group, the mixes applied to the rows of the f32 products),
    `<name>_grad_mix` (the shift's transpose and the weight-gradient terms
    of each key row) and `<name>_grad_w` (their sum per KV head, in a fixed
    order). f32 takes SIMT kernels (one warp per row). D must be static.
    With `rope_theta` the forward's pre-pass kernel rotates q and mixes then
    rotates k for `grad_q` and `grad_kv`, which rotate dq and dk^ back
    before storing them (D a multiple of 16 on tensor cores, of 64 for f32).

    `kvshift.kv_shift_attention_with_lse` becomes the forward kernel with an
    f32 lse buffer after its sizes (each row's natural-log log-sum-exp,
    -inf for a row that sees no key) and a launcher `(q, k, v, kw, vw, out,
    lse)`. `kvshift.kv_shift_attention_grad_with_lse` becomes the backward
    with a launcher `(q, k, v, kw, vw, dout, fwd_out, lse, dq, dk, dv, dkw,
    dvw)` that also names `<name>_grad_stats`
    (`kvshift.gpu_grad_stats_kernel`, launched first: one warp per query row
    writes the lse, in log2 units, and delta = rowsum(dO * out) that
    `grad_q` and `grad_kv` read); its `grad_q` then skips the forward pass.
    `--kvshift-share-attention-stats` (part of `kvshift-to-nvvm`) forms these
    ops from a forward and its gradient.

    `kvshift.kv_cache_append` is left alone (lowered on the host by the
    following passes) unless `append-kernel` is set: then it becomes
    `kv_cache_append_d<D>_<T>[_rope]`, one thread per new row and column
    (pair of columns with RoPE) mixing, rotating and storing the row into
    the cache, and a launcher `(k_new, v_new, k_last, v_last, kw, vw,
    k_cache, v_cache, pos, new_k_cache, new_v_cache, new_k_last,
    new_v_last)`.

    Example:

    ```mlir
    // kvshift-opt --kvshift-fuse-attention-gpu="warps=4 block-k=64"
    %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
        : (tensor<1x8x128x64xbf16>, tensor<1x2x128x64xbf16>,
           tensor<1x2x128x64xbf16>, tensor<2x2xf32>, tensor<2x2xf32>)
        -> tensor<1x8x128x64xbf16>
    // becomes gpu.alloc/gpu.memcpy/gpu.launch_func @kvshift_kernels::@...
    // on the host and a gpu.func with nvgpu.ldmatrix and nvvm.mma.sync.
    ```
  }];
  let options = [
    Option<"warps", "warps", "int64_t", /*default=*/"4",
           "Warps per thread block (1 to 16): 16 query rows per warp on "
           "tensor cores, 8 on the SIMT path">,
    Option<"blockK", "block-k", "int64_t", /*default=*/"64",
           "Keys per key tile on tensor cores (a positive multiple of 16)">,
    Option<"simtBlockK", "simt-block-k", "int64_t", /*default=*/"16",
           "Keys per key tile on the f32 SIMT path">,
    Option<"minBlocksPerSM", "min-blocks-per-sm", "int64_t",
           /*default=*/"0",
           "Attention kernels: ask ptxas to fit this many thread blocks per "
           "SM (.minnctapersm), capping registers and spilling the rest; 0 "
           "leaves the register count to ptxas">,
    Option<"decodeSplit", "decode-split", "int64_t", /*default=*/"512",
           "kv_cache_attention: cache rows per split (one thread block each; "
           "the merge kernel combines the splits)">,
    Option<"decodeRows", "decode-rows", "int64_t", /*default=*/"4",
           "kv_cache_attention: query rows (heads of a group x new tokens) "
           "per thread block, held in registers (1 to 16)">,
    Option<"decodePrefetch", "decode-prefetch", "bool", /*default=*/"true",
           "kv_cache_attention: load the next step's keys and values before "
           "computing with the current ones (more registers, loads in flight "
           "during the arithmetic)">,
    Option<"shiftedValues", "shifted-values", "bool", /*default=*/"false",
           "Forward on tensor cores: each key tile's value window is rows "
           "[j0 - 1, j0 + BN - 1) and the value mix is applied to P against "
           "it (the previous tile's last probability carried), instead of "
           "rows [j0 - 1, j0 + BN) whose first (halo) row is added by FMAs "
           "every tile">,
    Option<"lazyRescale", "lazy-rescale", "bool", /*default=*/"false",
           "Forward on tensor cores: a warp keeps its rows' running maxima "
           "and skips rescaling its output accumulators unless a row's max "
           "grows by more than 8 (log2 units; P stays below 2^8)">,
    Option<"appendKernel", "append-kernel", "bool", /*default=*/"false",
           "kv_cache_append: lower it to a GPU kernel and launcher as well. "
           "The launcher copies both caches to the device and back, which "
           "costs more than the host's append of T rows on this calling "
           "convention; the kernel is for callers whose caches stay on the "
           "device (kvshift.cuda)">,
    Option<"decodeMma", "decode-mma", "bool", /*default=*/"false",
           "kv_cache_attention, f16/bf16 with D a multiple of 16: score and "
           "accumulate on tensor cores (mma.sync, one warp per 16 cache rows "
           "at a time) instead of the SIMT lane-group kernel; f32 and other D "
           "keep the SIMT kernel">,
    Option<"wgmma", "wgmma", "bool", /*default=*/"false",
           "Forward, f16/bf16 with D a multiple of 16 (at most 256), warps a "
           "multiple of 4 (one warpgroup per 64 query rows): S = Q K^T and "
           "O += P V as sm_90a warpgroup MMAs "
           "(wgmma.mma_async, A from registers, B from shared memory by "
           "descriptor) instead of mma.sync; implies shifted-values. "
           "Backward, f16/bf16 with D a multiple of 16 and at most 128: "
           "grad_kv's four products as warpgroup MMAs (S^T and dP^T with A "
           "from shared memory too), and, given the forward's statistics "
           "(training step), grad_q's three; the recomputing grad_q keeps "
           "mma.sync. Needs "
           "chip = sm_90a; other ops and shapes keep their kernels">,
    Option<"wgmmaOverlap", "wgmma-overlap", "bool", /*default=*/"false",
           "With wgmma = true: software-pipelined key loop. The MMAs are "
           "issued asynchronously (S of the next key tile and O += P V of "
           "this one), and the softmax of the next tile runs while O's MMAs "
           "are in flight; the value windows are double-buffered (48 KiB of "
           "shared memory at D = 128)">,
    Option<"kvPrefetch", "kv-prefetch", "bool", /*default=*/"false",
           "The forward on mma.sync double-buffers its key and value tiles: "
           "tile t + 1's copies are issued at the start of tile t, after "
           "the one barrier that makes tile t's visible, and run during its "
           "products and softmax (one barrier per key tile instead of four; "
           "70720 bytes of dynamic shared memory at D = 128 in bf16). A "
           "kernel whose second slots do not fit the chip keeps one; the "
           "wgmma kernels ignore it (wgmma-overlap pipelines them)">,
    Option<"gradPrefetch", "grad-prefetch", "bool", /*default=*/"false",
           "The backward's tiles are double-buffered: grad_kv's q and dO "
           "tiles, and grad_q's second-pass tiles (the value tile and the "
           "key window on mma.sync; with wgmma = true, in the training "
           "step, the key tile, value tile and key window). Each tile's "
           "copies are issued before the previous tile's products and "
           "waited for at the next tile, one barrier per tile instead of "
           "two. At bf16 D = 128: grad_kv 52224 B (mma.sync) or 64 KiB "
           "(wgmma), grad_q 70720 B (mma.sync) or 96 KiB (wgmma), dynamic "
           "shared memory; a kernel whose second slots do not fit the chip "
           "keeps one">,
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_80\"",
           "The target SM (as kvshift-to-nvvm's chip): `wgmma` needs sm_90a">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::kvshift::KVShiftDialect",
    "::mlir::func::FuncDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::NVVM::NVVMDialect",
    "::mlir::nvgpu::NVGPUDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def KVShiftGPULaunchers : Pass<"kvshift-gpu-launchers", "::mlir::ModuleOp"> {
  let summary = "Write the host bodies of the launchers declared by "
                "kvshift-fuse-attention-gpu";
  let description = [{
    For every private `func.func` declaration carrying
    `kvshift.gpu_kernel = @module::@kernel`, `kvshift.gpu_block_m` and
    `kvshift.gpu_threads` (left by `kvshift-fuse-attention-gpu`), writes the
    body that runs the kernel on host memrefs `(q, k, v, kw, vw, out)`.
    `gpu.alloc async` and `gpu.memcpy async` of the five inputs (flattened
    with `memref.collapse_shape`); with `kvshift.gpu_rope_kernel` and
    `kvshift.gpu_rope_items_per_row` (RoPE), the RoPE pre-pass kernel is
    then launched on q and (mixing with kw) on k (rows = numel / D,
    `ceil(rows * items / 256)` blocks of 256 threads) into two more device
    buffers, which the attention kernel reads instead; then
    `gpu.launch_func` of the kernel on a grid of `(ceil(Sq / block_m), Hq,
    B)` blocks of `threads` threads (skipped when the grid is empty),
    `gpu.memcpy async` of the result into `out`, `gpu.dealloc async`, each
    phase ended by a `gpu.wait`. Declarations with
    `kvshift.gpu_decode_kernel` get the decode launcher (q, caches, length,
    out): a workspace sized by the length, the decode and the merge
    kernel. Run it after bufferization and buffer deallocation.

    Example:

    ```mlir
    // kvshift-opt --kvshift-gpu-launchers
    func.func private @kvshift_launch_k(memref<1x8x128x64xbf16>, ...)
        attributes {kvshift.gpu_kernel = @kvshift_kernels::@k,
                    kvshift.gpu_block_m = 64 : i64, kvshift.gpu_threads = 128 : i64}
    // gets a body with gpu.alloc/gpu.memcpy/gpu.launch_func/gpu.dealloc
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::func::FuncDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
  ];
}

def KVShiftGPUDynamicSharedMemory
    : Pass<"kvshift-gpu-dynamic-shared-memory", "::mlir::ModuleOp"> {
  let summary = "Move the tiles of kernels above 48 KiB of shared memory to "
                "dynamic shared memory";
  let description = [{
    A kernel may declare at most 48 KiB of static shared memory; above that
    its block needs dynamic shared memory, sized at launch, and the host must
    opt in (`cuFuncSetAttribute` with
    `CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES`, which kvshift's
    `mgpuLaunchKernel` and `kvshift.cuda` do). `kvshift-fuse-attention-gpu`
    marks such kernels with `kvshift.dynamic_shared_memory = N : i64`, the
    bytes of their workgroup attributions laid out one after the other at
    their alignments (`llvm.align`, else 16).

    For every `gpu.func` kernel with that attribute, this pass replaces the
    workgroup attributions by `memref.view`s of one
    `gpu.dynamic_shared_memory` at those offsets, and gives every
    `gpu.launch_func` of the kernel `dynamic_shared_memory_size` N. Kernels
    without the attribute are left alone. It is an error when the attribute
    is on a function that is not a kernel, is not a positive i32, is smaller
    than the attributions, or when a launch already sizes dynamic shared
    memory. Part of `kvshift-to-nvvm`, after `kvshift-gpu-launchers`; the
    GPU emulator reads the kernels before it, with their attributions.

    Example:

    ```mlir
    // kvshift-opt --kvshift-gpu-dynamic-shared-memory
    gpu.func @k(%a: memref<?xbf16>) workgroup(%t: memref<4096x8xbf16, 3>,
        %u: memref<4096x8xbf16, 3>) kernel
        attributes {kvshift.dynamic_shared_memory = 131072 : i64} {...}
    // becomes
    gpu.func @k(%a: memref<?xbf16>) kernel attributes {...} {
      %s = gpu.dynamic_shared_memory : memref<?xi8, 3>
      %t = memref.view %s[%c0][] : memref<?xi8, 3> to memref<4096x8xbf16, 3>
      %u = memref.view %s[%c65536][] : ...
    // and gpu.launch_func @m::@k ... dynamic_shared_memory_size %c131072_i32
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::memref::MemRefDialect",
  ];
}

def KVShiftGPUExternSharedMemory
    : Pass<"kvshift-gpu-extern-shared-memory", "::mlir::gpu::GPUModuleOp"> {
  let summary = "Declare the lowered dynamic shared memory `.extern`";
  let description = [{
    `convert-gpu-to-nvvm` lowers `gpu.dynamic_shared_memory` to an
    internal zero-sized `llvm.mlir.global` `__dynamic_shmem__N` in address
    space 3, 16-byte aligned. NVPTX demotes an internal global used by one
    kernel to a function-scope `.shared .b8` variable of one byte; the
    kernel's tiles then lie past its end, inside the dynamic allocation only
    because that follows it. This pass gives those globals external linkage
    and 128-byte alignment, so that the PTX reads
    `.extern .shared .align 128 .b8 __dynamic_shmem__0[];`, the declaration
    of dynamic shared memory, aligned as kvshift's static tiles are. Part of
    `kvshift-to-nvvm`, after `convert-gpu-to-nvvm`.

    Example:

    ```mlir
    // kvshift-opt --pass-pipeline="builtin.module(gpu.module(kvshift-gpu-extern-shared-memory))"
    llvm.mlir.global internal @__dynamic_shmem__0()
        {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<0 x i8>
    // becomes
    llvm.mlir.global external @__dynamic_shmem__0()
        {addr_space = 3 : i32, alignment = 128 : i64} : !llvm.array<0 x i8>
    ```
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def KVShiftEmitCInterface
    : Pass<"kvshift-emit-c-interface", "::mlir::ModuleOp"> {
  let summary = "Ask for C entry points (_mlir_ciface_<name>) of public functions";
  let description = [{
    Sets `llvm.emit_c_interface` on every public `func.func` with a body, so
    that the conversion to the LLVM dialect also emits
    `_mlir_ciface_<name>`, which takes one pointer per memref argument (to a
    strided memref descriptor `{T *allocated, T *aligned, int64_t offset,
    int64_t sizes[rank], int64_t strides[rank]}`) and, first, one pointer to
    the descriptor of each returned memref. Used by `scripts/kvshift-aot.sh`
    for the C entry points of ahead-of-time shared libraries.

    Example:

    ```mlir
    // kvshift-opt --kvshift-emit-c-interface
    func.func @f(%a: tensor<4xf32>) -> tensor<4xf32>
    // becomes
    func.func @f(%a: tensor<4xf32>) -> tensor<4xf32>
        attributes {llvm.emit_c_interface}
    ```
  }];
}

def KVShiftShareAttentionStats : Pass<"kvshift-share-attention-stats"> {
  let summary = "Hand the forward's row log-sum-exp to the gradient op";
  let description = [{
    When a `kv_shift_attention_grad` and a `kv_shift_attention` in the same
    block take the same `q, k, v, kw, vw` and attributes, and the forward
    comes first, the forward becomes `kv_shift_attention_with_lse` (its
    `out` replaces the old result) and the gradient becomes
    `kv_shift_attention_grad_with_lse` reading that `out` and `lse`, so the
    softmax statistics are computed once: the fused backward then recomputes
    only the probabilities, tile by tile, from q, the mixed K tile and lse.
    Several gradient ops may share one forward. A gradient op without a
    matching forward is left alone (its lowering runs the forward itself).

    Example:

    ```mlir
    // kvshift-opt --kvshift-share-attention-stats
    %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal : ...
    %g:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) causal : ...
    // becomes
    %o, %lse = kvshift.kv_shift_attention_with_lse %q, %k, %v mix(%kw, %vw) causal : ...
    %g:5 = kvshift.kv_shift_attention_grad_with_lse %q, %k, %v mix(%kw, %vw)
        dout(%do) stats(%o, %lse) causal : ...
    ```
  }];
}

def KVShiftApproximateMath : Pass<"kvshift-approximate-math"> {
  let summary = "Replace math.exp by a vectorisable polynomial approximation";
  let description = [{
    `math.exp` on vectors otherwise lowers to one libm call per lane. This
    pass applies MLIR's polynomial approximation of `exp` (f32, maximum
    relative error about 1.2e-7, stays in vector registers) to every
    `math.exp`, scalar or vector.

    Example:

    ```mlir
    // kvshift-opt --kvshift-approximate-math
    %e = math.exp %x : vector<16xf32>
    // becomes arith/vector ops only (no math.exp, no libm call)
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def KVShiftVectorizeContractions : Pass<"kvshift-vectorize-contractions"> {
  let summary = "Lower matmuls on static tensors to register-tiled, "
                "vectorised (AVX-512) and OpenMP-parallel micro-kernels";
  let description = [{
    Rewrites every contraction on static tensors that accumulates in f32 --
    `linalg.matmul`, `linalg.batch_matmul`, and any linalg op (named or
    `linalg.generic`) with two inputs, one init, projected-permutation maps,
    one reduction dimension and the body `acc + a * b` (operands optionally
    widened by `arith.extf` from f16/bf16) -- into a loop nest of 16-lane
    f32 FMA micro-kernels on buffers, like `kvshift-fuse-attention` does for
    attention: the inputs are read with `bufferization.to_buffer`, the
    result is a new `memref.alloc` returned through
    `bufferization.to_tensor`. Run it on tensors, after
    `kvshift-fuse-attention` and `kvshift-decompose` (the fused attention
    kernels are no linalg ops and are not touched) and before bufferization.

    Loop dimensions of size 1 are dropped (a decode step's `[1, K] x [K, N]`
    is a matrix-vector product); the others are classified as batch (in A, B
    and C), m (A and C), n (B and C) and k (A and B, reduction): at most one
    each of m, n and k, any number of batch dimensions.

    * `linalg.transpose` producers of A and B are folded into the maps (the
      importer emits `x @ W^T` for `nn.Linear` as a transpose of the weight
      and a matmul; after folding the weight is read in place).
    * A `linalg.fill` init is folded: the accumulators start at its value
      and the init is never read.
    * Row kernel (outer product), when B and C are contiguous along n: a
      register tile of `row-tile-rows` rows x `row-tile-vectors` 16-lane
      vectors of C; per k, the vectors of B's row k are loaded once and each
      A[m, k] is broadcast and FMAed into them (A may have any layout).
      The last, partial vector of a row uses masked loads and stores.
    * Dot kernel, when A and B are contiguous along k (`A W^T`): a tile of
      `dot-tile-rows` x `dot-tile-cols` outputs, each a 16-lane accumulator
      along k (16 products per FMA); a partial last k chunk uses masked
      loads; at the end a shuffle tree sums all the tile's accumulators at
      once (lane i of the result = output i).
    * Single rows (M = 1, decode) get wider tiles (4 vectors, or 8 dot
      columns) to keep enough FMA chains in flight.
    * Partial row and column tiles are handled by a second, statically sized
      kernel (shapes are static), chosen by an `scf.if` on the tile index.
    * The tile loop (batch, n tiles, m tiles) is an `scf.parallel` (OpenMP
      after `convert-scf-to-openmp`) when the op has at least
      `min-parallel-work` multiply-adds and more than one tile, and is not
      already inside an `scf.parallel`; otherwise a nest of `scf.for`.

    Contractions with dynamic shapes, integer or f64 types, other bodies, or
    layouts where neither B and C along n nor A and B along k are contiguous
    (with and without the transposes folded) are left alone (scalar loops
    later), and so is a contraction through whose destination a returned
    result updates a function argument (`kvshift-tie-results` ties that
    result to the argument and bufferization writes the argument in place;
    the kernels write new buffers).

    The kernel is emitted inside a `kvshift.kernel` that reads the operand
    tensors, so bufferization orders every read before any in-place write.

    Example:

    ```mlir
    // kvshift-opt --kvshift-vectorize-contractions
    %t = linalg.transpose ins(%w : tensor<64x32xf32>) outs(%e : tensor<32x64xf32>)
        permutation = [1, 0]
    %z = linalg.fill ins(%cst : f32) outs(%e2 : tensor<5x64xf32>) -> tensor<5x64xf32>
    %y = linalg.matmul ins(%x, %t : tensor<5x32xf32>, tensor<32x64xf32>)
        outs(%z : tensor<5x64xf32>) -> tensor<5x64xf32>
    // becomes bufferization.to_buffer of %x and %w (the transpose and the
    // fill are gone), a memref.alloc for the result, scf.for loops over the
    // tiles with vector.load/vector.fma dot kernels along k, a vector.shuffle
    // reduction tree, and a bufferization.to_tensor of the result.
    ```
  }];
  let options = [
    Option<"rowTileRows", "row-tile-rows", "int64_t", /*default=*/"6",
           "Row kernel: rows of C per register tile">,
    Option<"rowTileVectors", "row-tile-vectors", "int64_t", /*default=*/"4",
           "Row kernel: 16-lane vectors of C per tile row (rows x vectors "
           "at most 24)">,
    Option<"dotTileRows", "dot-tile-rows", "int64_t", /*default=*/"4",
           "Dot kernel: rows of C per register tile">,
    Option<"dotTileCols", "dot-tile-cols", "int64_t", /*default=*/"4",
           "Dot kernel: columns of C per register tile (rows x columns at "
           "most 16)">,
    Option<"minParallelWork", "min-parallel-work", "int64_t",
           /*default=*/"1048576",
           "Multiply-adds from which the tile loop is an scf.parallel">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::kvshift::KVShiftDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def KVShiftVectorizeElementwise : Pass<"kvshift-vectorize-elementwise"> {
  let summary = "Lower elementwise and row-reduction linalg.generic ops on "
                "static tensors to loops over 16-lane vectors";
  let description = [{
    Rewrites every `linalg.generic` on static tensors whose iterators are
    all parallel, whose one output is indexed by every non-unit loop
    dimension, and whose body holds only elementwise `arith` and `math` ops
    on integers and floats, into a loop nest on buffers (inputs read with
    `bufferization.to_buffer`, the result a new `memref.alloc` returned
    through `bufferization.to_tensor`): `scf.for` loops over the output's
    outer dimensions and, along its innermost dimension, chunks of 16 lanes
    in which the body is cloned once with vector types. A last partial
    chunk uses masked loads and stores with a constant mask.

    Reductions along one dimension, the innermost of the inputs that read
    it (a norm's row sum of squares, softmax's row max and row sum), are
    vectorised along that dimension when the body is `yield op(x, out)`
    with `op` one of `arith.addf`, `mulf`, `maximumf`, `maxnumf`,
    `minimumf`, `minnumf` and `out` used nowhere else: a 16-lane
    accumulator starting at the identity (the masked last chunk blended
    with it), one `vector.reduction` (reassociated for sums and products:
    the only results that are not bit-identical to the scalar loop's), and
    `op(total, init)`.

    Inputs must be contiguous along the vector dimension or not depend on it
    (broadcasts such as a `[H, 1, 1]` weight against `[B, H, S, D]`, or a
    row statistic against its row: loaded as a scalar and splat); unit
    dimensions and constant-0 map results are dropped. Constants in the
    body become splat vectors; scalars from outside the op are broadcast.
    Each lane computes exactly what the scalar loop computed, in the same
    order (math functions without a vector lowering are unrolled by LLVM
    into the same scalar calls), so elementwise results are unchanged;
    `math.exp` then stays in registers through `kvshift-approximate-math`.

    Left alone (scalar loops later): reductions over an outer dimension or
    with any other body, gathers (`tensor.extract`
    or `linalg.index` in the body), transposed reads, `i1` operands (a
    vector of `i1` is bit-packed in memory, a buffer of `i1` is not),
    dynamic shapes, multiple outputs, ops whose vector dimension is
    shorter than `min-length`, `math.fpowi`/`math.ipowi` (LLVM's powi
    takes a scalar exponent), and ops through whose destination a returned
    result updates a function argument (an optimizer update of a parameter:
    `kvshift-tie-results` ties it, and the kernels write new buffers). Each
    vectorised op becomes a `kvshift.kernel`.

    Example:

    ```mlir
    // kvshift-opt --kvshift-vectorize-elementwise
    %silu = linalg.generic {indexing_maps = [#id, #id],
        iterator_types = ["parallel", "parallel"]}
        ins(%x : tensor<32x688xf32>) outs(%e : tensor<32x688xf32>) {
    ^bb0(%in: f32, %out: f32):
      %n = arith.negf %in : f32
      %ex = math.exp %n : f32
      ...
    } -> tensor<32x688xf32>
    // becomes an scf.for over the 32 rows, an scf.for over 43 chunks of 16
    // lanes with vector.load, arith.negf/math.exp/... on vector<16xf32> and
    // vector.store, then the same body on the masked chunk (688 = 43 x 16,
    // no tail here).
    ```
  }];
  let options = [
    Option<"minLength", "min-length", "int64_t", /*default=*/"8",
           "Shortest innermost output dimension that is vectorised">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::kvshift::KVShiftDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect",
  ];
}

#endif // KVSHIFT_DIALECT_KVSHIFT_TRANSFORMS_PASSES_TD
