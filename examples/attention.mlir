// One KV shifting attention layer (arXiv 2411.19574), causal, with grouped-query
// attention: 8 query heads share 2 KV heads (query head h reads KV head h / 4).
// Before attention each KV head mixes every key and value with the previous
// token's: k^_t = kw[h,0] * k_t + kw[h,1] * k_{t-1} (same for v with vw).
// Layout [batch, heads, seq, head_dim]; no `scale` attribute, so 1/sqrt(64).
//
//   python3 examples/run_example.py     (lowers, runs and checks this file)

func.func @attention(%q: tensor<1x8x128x64xf32>,
                     %k: tensor<1x2x128x64xf32>,
                     %v: tensor<1x2x128x64xf32>,
                     %kw: tensor<2x2xf32>,
                     %vw: tensor<2x2xf32>) -> tensor<1x8x128x64xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
      : (tensor<1x8x128x64xf32>, tensor<1x2x128x64xf32>, tensor<1x2x128x64xf32>,
         tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x8x128x64xf32>
  return %o : tensor<1x8x128x64xf32>
}
