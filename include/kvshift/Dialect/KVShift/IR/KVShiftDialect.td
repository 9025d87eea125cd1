//===- KVShiftDialect.td - kvshift dialect definition ------*- tablegen -*-===//
//
// The kvshift dialect: KV shifting attention (arXiv 2411.19574) as a
// first-class operation.
//
//===----------------------------------------------------------------------===//

#ifndef KVSHIFT_DIALECT_KVSHIFT_IR_KVSHIFTDIALECT_TD
#define KVSHIFT_DIALECT_KVSHIFT_IR_KVSHIFTDIALECT_TD

include "mlir/IR/OpBase.td"

def KVShift_Dialect : Dialect {
  let name = "kvshift";
  let cppNamespace = "::mlir::kvshift";
  let summary = "KV shifting attention as a first-class operation";
  let description = [{
    The `kvshift` dialect models KV shifting attention ("KV Shifting Attention
    Enhances Language Modeling", Xu et al., arXiv 2411.19574). For one
    attention head with keys `k_t` and values `v_t`:

    ```
    k^_t = a1 * k_t + a2 * k_{t-1}      v^_t = b1 * v_t + b2 * v_{t-1}
    (k_{-1} = v_{-1} = 0)
    out_i = sum_j softmax_j(scale * q_i . k^_j [+ causal mask]) * v^_j
    ```

    with one learnable pair `[a1, a2]` and `[b1, b2]` per KV head. All ops
    work on tensors laid out as `[batch, heads, seq, head_dim]`. The element
    type of queries, keys, values and outputs is f32, f16 or bf16; mixing
    weights are always f32 and accumulation is always f32.

    Grouped-query attention: with `Hq = g * Hkv` query heads, query head `h`
    reads KV head `floor(h / g)`. When `Sq < Sk` (decoding against a longer
    context) query `i` sits at absolute position `Sk - Sq + i` and the causal
    mask keeps keys `j <= Sk - Sq + i` (bottom-right alignment).
  }];
  // Shape reification of the ops creates tensor.dim.
  let dependentDialects = ["::mlir::tensor::TensorDialect"];
}

class KVShift_Op<string mnemonic, list<Trait> traits = []>
    : Op<KVShift_Dialect, mnemonic, traits>;

#endif // KVSHIFT_DIALECT_KVSHIFT_IR_KVSHIFTDIALECT_TD
