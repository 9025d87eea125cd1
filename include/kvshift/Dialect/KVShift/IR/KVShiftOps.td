//===- KVShiftOps.td - kvshift operations ------------------*- tablegen -*-===//
//
// Operations of the kvshift dialect. The contract (operand order, attribute
// names, semantics) is fixed by SPEC.md, section 2.
//
//===----------------------------------------------------------------------===//

#ifndef KVSHIFT_DIALECT_KVSHIFT_IR_KVSHIFTOPS_TD
#define KVSHIFT_DIALECT_KVSHIFT_IR_KVSHIFTOPS_TD

include "kvshift/Dialect/KVShift/IR/KVShiftDialect.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.td"

//===----------------------------------------------------------------------===//
// kv_shift
//===----------------------------------------------------------------------===//

def KVShift_KVShiftOp : KVShift_Op<"kv_shift", [
    Pure,
    DeclareOpInterfaceMethods<ReifyRankedShapedTypeOpInterface,
        ["reifyResultShapes"]>]> {
  let summary = "one-token-back mixing of keys or values";
  let description = [{
    The mix of KV shifting attention on its own. For every batch `b`, head
    `h`, position `t` and channel `d`:

    ```
    result[b, h, t, d] = w[h, 0] * x[b, h, t, d] + w[h, 1] * x[b, h, t - 1, d]
    ```

    with `x[b, h, -1, d] = 0`. `x` is `tensor<B x H x S x D x T>` with `T` one
    of f32, f16, bf16; `w` is `tensor<H x 2 x f32>`; the result has the type
    of `x`. The arithmetic is done in f32 and rounded once to `T`.

    A mix whose weights are the constant `[1, 0]` for every head folds to
    `x` (exact for finite inputs: it drops the `0 * x[t - 1]` term, which is
    NaN only when `x[t - 1]` is infinite or NaN).

    Operands produced by a `tensor.cast` from a more static type are replaced
    by the cast's source (canonicalization), so that static shapes reach the
    verifier and the lowerings.

    Example:

    ```mlir
    %kh = kvshift.kv_shift %k, %kw
        : tensor<2x4x128x64xbf16>, tensor<4x2xf32> -> tensor<2x4x128x64xbf16>
    ```
  }];

  let arguments = (ins AnyType:$x, AnyType:$w);
  let results = (outs AnyType:$result);

  let assemblyFormat = [{
    $x `,` $w attr-dict `:` type($x) `,` type($w) `->` type($result)
  }];

  let hasVerifier = 1;
  let hasFolder = 1;
  let hasCanonicalizer = 1;
}

//===----------------------------------------------------------------------===//
// kv_shift_attention
//===----------------------------------------------------------------------===//

def KVShift_KVShiftAttentionOp : KVShift_Op<"kv_shift_attention", [
    Pure,
    DeclareOpInterfaceMethods<ReifyRankedShapedTypeOpInterface,
        ["reifyResultShapes"]>]> {
  let summary = "KV shifting attention (mix of K and V fused with attention)";
  let description = [{
    Scaled dot-product attention over shifted keys and values:

    ```
    k^[t] = kw[h, 0] * k[t] + kw[h, 1] * k[t - 1]       (k[-1] = 0)
    v^[t] = vw[h, 0] * v[t] + vw[h, 1] * v[t - 1]       (v[-1] = 0)
    out[i] = sum_j softmax_j(scale * q[i] . k^[j]  [+ mask]) * v^[j]
    ```

    Operands, in order: `q : tensor<B x Hq x Sq x D x T>`,
    `k, v : tensor<B x Hkv x Sk x D x T>`, `kw, vw : tensor<Hkv x 2 x f32>`
    (`[a1, a2]` and `[b1, b2]` per KV head: weight of token `t`, weight of
    token `t - 1`). `T` is f32, f16 or bf16 and is the same for q, k, v and
    the result; accumulation is f32.

    Attributes:
    * `scale` (optional f32): multiplies the logits; absent means
      `1 / sqrt(D)`. Must be finite and non-zero.
    * `causal` (unit): keys `j > Sk - Sq + i` are masked for query row `i`
      (bottom-right aligned; requires `Sq <= Sk`).
    * `rope_theta` (optional f32): rotary position embedding applied after
      the mix. Must be finite and > 0, and D must be even. With
      `half = D / 2` and `inv_freq[i] = rope_theta^(-2 i / D)`, a row `x` at
      position `p` becomes ("rotate half" layout)

      ```
      rot(x, p)[i]        = x[i] cos(p inv_freq[i]) - x[i + half] sin(p inv_freq[i])
      rot(x, p)[i + half] = x[i + half] cos(p inv_freq[i]) + x[i] sin(p inv_freq[i])
      ```

      Query row `i` is at position `Sk - Sq + i`, key row `j` at position
      `j`, and `out = attention(rot(q), rot(k^), v^)`.

    Grouped-query attention: `Hq` must be a multiple of `Hkv`; query head `h`
    reads KV head `h / (Hq / Hkv)`. Static and dynamic (`?`) dimensions are
    accepted; the verifier checks what is static. Operands produced by a
    `tensor.cast` from a more static type are replaced by the cast's source
    (canonicalization).

    Example (4 query heads sharing 2 KV heads, causal):

    ```mlir
    %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal scale = 0.125
        : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>,
           tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
    ```

    The generic form is accepted as well:

    ```mlir
    %o = "kvshift.kv_shift_attention"(%q, %k, %v, %kw, %vw) {causal, scale = 0.125 : f32}
        : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>,
           tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
    ```

    With RoPE after the mix:

    ```mlir
    %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal rope_theta = 10000.0
        : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>,
           tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
    %o2 = "kvshift.kv_shift_attention"(%q, %k, %v, %kw, %vw) {causal, rope_theta = 1.0e4 : f32}
        : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>,
           tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
    ```
  }];

  let arguments = (ins AnyType:$q, AnyType:$k, AnyType:$v,
                       AnyType:$kw, AnyType:$vw,
                       OptionalAttr<F32Attr>:$scale,
                       UnitAttr:$causal,
                       OptionalAttr<F32Attr>:$rope_theta);
  let results = (outs AnyType:$out);

  let assemblyFormat = [{
    $q `,` $k `,` $v `mix` `(` $kw `,` $vw `)`
    (`causal` $causal^)? (`scale` `=` $scale^)?
    (`rope_theta` `=` $rope_theta^)?
    attr-dict `:` functional-type(operands, results)
  }];

  let extraClassDeclaration = [{
    /// The logit scale: the `scale` attribute, or 1/sqrt(D) when absent.
    /// Returns std::nullopt when absent and D is dynamic.
    std::optional<double> getStaticScale();
  }];

  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

//===----------------------------------------------------------------------===//
// KV cache: kv_cache_append, kv_cache_attention
//===----------------------------------------------------------------------===//

def KVShift_KVCacheAppendOp : KVShift_Op<"kv_cache_append", [Pure]> {
  let summary = "mix (and rotate) new key/value rows into a KV cache";
  let description = [{
    Appends `T` new tokens to the KV cache of one layer. The cache holds the
    mixed rows `K^`, `V^` (keys rotated too, with `rope_theta`); the only
    other state is the raw (unmixed, unrotated) key and value row of the
    last token, which the next append mixes with its first row.

    Operands: `k_new`, `v_new` (`[B, Hkv, T, D]`, the raw rows of tokens
    `pos .. pos + T - 1`), `k_last`, `v_last` (`[B, Hkv, 1, D]`, the raw
    rows of token `pos - 1`; not read when `pos == 0`), the mixing weights
    `kw`, `vw` (`[Hkv, 2]`, f32), the caches `k_cache`, `v_cache`
    (`[B, Hkv, Smax, D]`) and `pos` (index: the number of rows already in
    the cache). For `t = 0 .. T-1`:

    ```
    prev[t]          = t > 0 ? k_new[t - 1] : (pos > 0 ? k_last[0] : 0)
    k_cache[pos + t] = rot(kw[h, 0] * k_new[t] + kw[h, 1] * prev[t], pos + t)
    v_cache[pos + t] = vw[h, 0] * v_new[t] + vw[h, 1] * vprev[t]
    ```

    (`rot` only with `rope_theta`, as in `kv_shift_attention`; in f32,
    rounded once to the cache's element type). The other rows of the caches
    are unchanged. Results: the updated caches and the new last rows,
    `k_new[T - 1]` and `v_new[T - 1]`, raw. Element types: `k_new`, `v_new`,
    the last rows and the caches share one of f32, f16, bf16.

    `pos + T <= Smax` is checked at run time: the compiled code reports
    "kvshift.kv_cache_append: cannot write rows [pos, pos + T) into a cache
    of Smax rows" through the kvshift runtime (`kvshift-run`, the Python
    API) and writes nothing out of bounds.

    With one-shot bufferization and the caches passed in and returned by a
    function, the update happens in place: a decode step writes `T` rows
    and never copies the cache (see the `kvshift-tie-results` pass).

    Example:

    ```mlir
    %kc1, %vc1, %kl1, %vl1 = kvshift.kv_cache_append %k, %v last(%kl, %vl)
        mix(%kw, %vw) into(%kc, %vc) at %pos rope_theta = 1.0e4
        : (tensor<1x2x1x64xf32>, tensor<1x2x1x64xf32>, tensor<1x2x1x64xf32>,
           tensor<1x2x1x64xf32>, tensor<2x2xf32>, tensor<2x2xf32>,
           tensor<1x2x512x64xf32>, tensor<1x2x512x64xf32>, index)
        -> (tensor<1x2x512x64xf32>, tensor<1x2x512x64xf32>,
            tensor<1x2x1x64xf32>, tensor<1x2x1x64xf32>)
    ```
  }];

  let arguments = (ins AnyType:$k_new, AnyType:$v_new, AnyType:$k_last,
                       AnyType:$v_last, AnyType:$kw, AnyType:$vw,
                       AnyType:$k_cache, AnyType:$v_cache, Index:$pos,
                       OptionalAttr<F32Attr>:$rope_theta);
  let results = (outs AnyType:$new_k_cache, AnyType:$new_v_cache,
                      AnyType:$new_k_last, AnyType:$new_v_last);

  let assemblyFormat = [{
    $k_new `,` $v_new `last` `(` $k_last `,` $v_last `)`
    `mix` `(` $kw `,` $vw `)` `into` `(` $k_cache `,` $v_cache `)`
    `at` $pos (`rope_theta` `=` $rope_theta^)?
    attr-dict `:` functional-type(operands, results)
  }];

  let hasVerifier = 1;
}

def KVShift_KVCacheAttentionOp : KVShift_Op<"kv_cache_attention", [Pure]> {
  let summary = "attention of new queries over the valid rows of a KV cache";
  let description = [{
    Attention of `Sq` queries over the first `length` rows of a cache that
    `kv_cache_append` filled (mixed, and rotated with `rope_theta`):

    ```
    out[i] = sum_{j < length, visible} softmax_j(scale * rot(q[i], p_i) . k_cache[j]) * v_cache[j]
    p_i    = length - Sq + i
    ```

    Operands: `q` (`[B, Hq, Sq, D]`), `k_cache`, `v_cache`
    (`[B, Hkv, Smax, D]`, the element type of `q`), `length` (index: the
    valid rows, the `Sq` new tokens included). Attributes as
    `kv_shift_attention`: `scale` (default `1/sqrt(D)`), `causal` (key `j`
    visible to query `i` iff `j <= p_i`, bottom-right aligned), `rope_theta`
    (query `i` rotated at position `p_i`; the cache's keys are already
    rotated). Query head `h` reads KV head `h / (Hq / Hkv)`. A query with no
    visible key (`length == 0`) gives zeros.

    `length <= Smax`, and `Sq <= length` with `causal`, are checked at run
    time (reported through the kvshift runtime, as for `kv_cache_append`).

    The fused CPU lowering is a flash-decoding kernel: each work item reads
    a chunk of cache rows once for all query heads of a KV-head group and
    keeps a partial softmax state; the partial states are merged at the end.

    Example:

    ```mlir
    %o = kvshift.kv_cache_attention %q, %kc, %vc length %len causal
        : (tensor<1x8x1x64xf32>, tensor<1x2x512x64xf32>,
           tensor<1x2x512x64xf32>, index) -> tensor<1x8x1x64xf32>
    ```
  }];

  let arguments = (ins AnyType:$q, AnyType:$k_cache, AnyType:$v_cache,
                       Index:$length,
                       OptionalAttr<F32Attr>:$scale,
                       UnitAttr:$causal,
                       OptionalAttr<F32Attr>:$rope_theta);
  let results = (outs AnyType:$out);

  let assemblyFormat = [{
    $q `,` $k_cache `,` $v_cache `length` $length
    (`causal` $causal^)? (`scale` `=` $scale^)?
    (`rope_theta` `=` $rope_theta^)?
    attr-dict `:` functional-type(operands, results)
  }];

  let extraClassDeclaration = [{
    /// The number of cache rows every lowering reads: `length` clamped into
    /// [Sq under causal, else 1; Smax] (`sq`, `smax`: index values of the
    /// dimensions). The run-time check reports a length outside that range;
    /// the clamp keeps code run without it in bounds.
    ::mlir::Value buildValidLength(::mlir::OpBuilder &b, ::mlir::Location loc,
                                   ::mlir::Value sq, ::mlir::Value smax);
  }];

  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// kv_shift_attention_grad
//===----------------------------------------------------------------------===//

def KVShift_KVShiftAttentionGradOp : KVShift_Op<"kv_shift_attention_grad", [
    Pure,
    DeclareOpInterfaceMethods<ReifyRankedShapedTypeOpInterface,
        ["reifyResultShapes"]>]> {
  let summary = "gradient of kv_shift_attention with respect to every operand";
  let description = [{
    The exact gradients of `sum(out * dout)`, where
    `out = kvshift.kv_shift_attention(q, k, v, kw, vw)` with the same
    attributes, with respect to each operand.

    Operands, in order: `q, k, v, kw, vw` as for `kv_shift_attention`, and
    `dout`, of the type of `out`. Results, in order: `dq, dk, dv` (types of
    `q`, `k`, `v`) and `dkw, dvw` (`tensor<Hkv x 2 x f32>`). The weight
    gradients sum over batch, sequence, head dimension and the query heads of
    each KV-head group.

    Attributes and verification rules are those of `kv_shift_attention`
    (`scale`, `causal`, `rope_theta`); with `rope_theta` the gradients go
    through the rotation of q and of the mixed keys.

    Example:

    ```mlir
    %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad
        %q, %k, %v mix(%kw, %vw) dout(%do) causal
        : (tensor<1x8x64x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>,
           tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x8x64x32xf32>)
        -> (tensor<1x8x64x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>,
            tensor<2x2xf32>, tensor<2x2xf32>)
    ```
  }];

  let arguments = (ins AnyType:$q, AnyType:$k, AnyType:$v,
                       AnyType:$kw, AnyType:$vw, AnyType:$dout,
                       OptionalAttr<F32Attr>:$scale,
                       UnitAttr:$causal,
                       OptionalAttr<F32Attr>:$rope_theta);
  let results = (outs AnyType:$dq, AnyType:$dk, AnyType:$dv,
                      AnyType:$dkw, AnyType:$dvw);

  let assemblyFormat = [{
    $q `,` $k `,` $v `mix` `(` $kw `,` $vw `)` `dout` `(` $dout `)`
    (`causal` $causal^)? (`scale` `=` $scale^)?
    (`rope_theta` `=` $rope_theta^)?
    attr-dict `:` functional-type(operands, results)
  }];

  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

//===----------------------------------------------------------------------===//
// Internal forms that share the forward's softmax statistics
//===----------------------------------------------------------------------===//

def KVShift_KVShiftAttentionWithLSEOp
    : KVShift_Op<"kv_shift_attention_with_lse", [Pure]> {
  let summary = "kv_shift_attention that also returns the row log-sum-exp";
  let description = [{
    Internal form created by `--kvshift-share-attention-stats`: the forward
    of `kv_shift_attention` (same operands, attributes and `out`) with a
    second result `lse : tensor<B x Hq x Sq x f32>`, the natural logarithm
    of the softmax denominator of each query row in terms of the scaled
    logits, `lse_i = log(sum_j exp(scale * q_i . k^_j))` over visible keys.
    `kv_shift_attention_grad_with_lse` consumes it, so that the backward
    does not recompute a forward.

    Example:

    ```mlir
    %o, %lse = kvshift.kv_shift_attention_with_lse %q, %k, %v mix(%kw, %vw) causal
        : (tensor<1x8x64x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>,
           tensor<2x2xf32>, tensor<2x2xf32>)
        -> (tensor<1x8x64x32xf32>, tensor<1x8x64xf32>)
    ```
  }];
  let arguments = (ins AnyType:$q, AnyType:$k, AnyType:$v,
                       AnyType:$kw, AnyType:$vw,
                       OptionalAttr<F32Attr>:$scale,
                       UnitAttr:$causal,
                       OptionalAttr<F32Attr>:$rope_theta);
  let results = (outs AnyType:$out, AnyType:$lse);
  let assemblyFormat = [{
    $q `,` $k `,` $v `mix` `(` $kw `,` $vw `)`
    (`causal` $causal^)? (`scale` `=` $scale^)?
    (`rope_theta` `=` $rope_theta^)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def KVShift_KVShiftAttentionGradWithLSEOp
    : KVShift_Op<"kv_shift_attention_grad_with_lse", [Pure]> {
  let summary = "kv_shift_attention_grad given the forward's output and "
                "row log-sum-exp";
  let description = [{
    Internal form created by `--kvshift-share-attention-stats`: the
    gradients of `kv_shift_attention_grad` (same results), given in addition
    the forward's `out` and `lse` as produced by
    `kv_shift_attention_with_lse` on the same operands and attributes.

    Example:

    ```mlir
    %dq, %dk, %dv, %dkw, %dvw = kvshift.kv_shift_attention_grad_with_lse
        %q, %k, %v mix(%kw, %vw) dout(%do) stats(%o, %lse) causal
        : (tensor<1x8x64x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>,
           tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x8x64x32xf32>,
           tensor<1x8x64x32xf32>, tensor<1x8x64xf32>)
        -> (tensor<1x8x64x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>,
            tensor<2x2xf32>, tensor<2x2xf32>)
    ```
  }];
  let arguments = (ins AnyType:$q, AnyType:$k, AnyType:$v,
                       AnyType:$kw, AnyType:$vw, AnyType:$dout,
                       AnyType:$fwd_out, AnyType:$lse,
                       OptionalAttr<F32Attr>:$scale,
                       UnitAttr:$causal,
                       OptionalAttr<F32Attr>:$rope_theta);
  let results = (outs AnyType:$dq, AnyType:$dk, AnyType:$dv,
                      AnyType:$dkw, AnyType:$dvw);
  let assemblyFormat = [{
    $q `,` $k `,` $v `mix` `(` $kw `,` $vw `)` `dout` `(` $dout `)`
    `stats` `(` $fwd_out `,` $lse `)`
    (`causal` $causal^)? (`scale` `=` $scale^)?
    (`rope_theta` `=` $rope_theta^)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// kernel (internal: the fused lowerings' code on buffers, inside the tensor
// program)
//===----------------------------------------------------------------------===//

def KVShift_KernelOp : KVShift_Op<"kernel", [
    RecursiveMemoryEffects, SingleBlock,
    DeclareOpInterfaceMethods<BufferizableOpInterface, [
        "bufferizesToAllocation", "bufferizesToMemoryRead",
        "bufferizesToMemoryWrite", "getAliasingValues", "bufferize",
        "getBufferType"]>]> {
  let summary = "code on buffers that reads tensors and makes new tensors";
  let description = [{
    Internal to the fused lowerings (`kvshift-fuse-attention`,
    `kvshift-vectorize-contractions`, `kvshift-fuse-attention-gpu`): their
    loop nests work on buffers, but run before bufferization, in a program
    of tensors. The body sees each input tensor as a buffer (a block
    argument, a memref of the tensor's shape and element type with the
    identity layout) that it only reads, allocates its results
    (`memref.alloc` in the body, one per result) and yields them (memrefs
    of the results' shapes, identity layout).

    ```mlir
    %out = kvshift.kernel ins(%a, %b : tensor<64x16xf32>, tensor<16x48xf32>)
        -> tensor<64x48xf32> {
    ^bb0(%ma: memref<64x16xf32>, %mb: memref<16x48xf32>):
      %c = memref.alloc() : memref<64x48xf32>
      // ... reads %ma and %mb, writes %c
      kvshift.kernel_yield %c : memref<64x48xf32>
    }
    ```

    One-shot bufferization sees every input read at the op (so an in-place
    write to an input's buffer can only come after the kernel) and every
    result as a new allocation; it then inlines the body, passing the
    inputs' buffers (copied where a buffer does not have the identity
    layout). Why not `bufferization.to_buffer`/`to_tensor` around the
    loops: CSE merges two equal `to_buffer` ops into the first, and
    canonicalization folds `to_buffer(to_tensor(%m))` to `%m`, after which
    a later kernel's reads are invisible to the bufferization analysis,
    which may then reuse the buffer in place before them.

    The body works on buffers: no op inside has a tensor operand or result
    (tensors come in as inputs); it may use scalars and other non-tensor
    values defined above it. It must not write its input buffers.
  }];
  let arguments = (ins Variadic<AnyRankedTensor>:$inputs);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    (`ins` `(` $inputs^ `:` type($inputs) `)`)? (`->` type($results)^)?
    attr-dict-with-keyword $body
  }];
  let hasRegionVerifier = 1;
  let skipDefaultBuilders = 1;
  let builders = [
    OpBuilder<(ins "TypeRange":$resultTypes, "ValueRange":$inputs)>
  ];
  let extraClassDeclaration = [{
    /// The identity-layout memref type of a ranked tensor type.
    static MemRefType bufferTypeOf(Type tensorType);
  }];
}

def KVShift_KernelYieldOp : KVShift_Op<"kernel_yield", [
    Pure, Terminator, HasParent<"KernelOp">]> {
  let summary = "the buffers of a kvshift.kernel's results";
  let description = [{
    Ends the body of `kvshift.kernel` with one memref per result, of the
    result's shape and element type with the identity layout.
  }];
  let arguments = (ins Variadic<AnyMemRef>:$buffers);
  let assemblyFormat = [{ attr-dict ($buffers^ `:` type($buffers))? }];
}

#endif // KVSHIFT_DIALECT_KVSHIFT_IR_KVSHIFTOPS_TD
