func.func @attn(%q: tensor<1x2x?x8xf32>, %k: tensor<1x1x?x8xf32>,
                %v: tensor<1x1x?x8xf32>, %kw: tensor<1x2xf32>,
                %vw: tensor<1x2xf32>) -> tensor<1x2x?x8xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
      : (tensor<1x2x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>,
         tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x2x?x8xf32>
  return %o : tensor<1x2x?x8xf32>
}

func.func @two_results(%q: tensor<1x2x4x8xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) {
  return %q, %q : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>
}

func.func private @declared(tensor<4xf32>) -> tensor<4xf32>
