// Input of ptxas.test (RoPE).
func.func @attn(%q: tensor<?x4x?x64xf32>, %k: tensor<?x1x?x64xf32>, %v: tensor<?x1x?x64xf32>, %kw: tensor<?x2xf32>, %vw: tensor<?x2xf32>) -> tensor<?x4x?x64xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal rope_theta = 10000.0
      : (tensor<?x4x?x64xf32>, tensor<?x1x?x64xf32>, tensor<?x1x?x64xf32>, tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x4x?x64xf32>
  return %o : tensor<?x4x?x64xf32>
}
