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

    `kvshift.kv_shift_attention_grad` has no lowering yet: the pass reports
    an error on it.

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

#endif // KVSHIFT_DIALECT_KVSHIFT_TRANSFORMS_PASSES_TD
