// RUN: kvshift-opt %s -split-input-file -verify-diagnostics

// Every diagnostic of the kvshift verifiers (lib/Dialect/KVShift/IR/KVShiftOps.cpp),
// one case per split, each matched with its full text.

// kv_shift: x is not a tensor.
func.func @shift_x_not_tensor(%x: f32, %w: tensor<4x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift' op operand 'x' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'f32'}}
  %0 = kvshift.kv_shift %x, %w : f32, tensor<4x2xf32> -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @shift_x_memref(%x: memref<2x4x16x8xf32>, %w: tensor<4x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift' op operand 'x' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'memref<2x4x16x8xf32>'}}
  %0 = kvshift.kv_shift %x, %w : memref<2x4x16x8xf32>, tensor<4x2xf32> -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @shift_x_unranked(%x: tensor<*xf32>, %w: tensor<4x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift' op operand 'x' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<*xf32>'}}
  %0 = kvshift.kv_shift %x, %w : tensor<*xf32>, tensor<4x2xf32> -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @shift_x_rank3(%x: tensor<4x16x8xf32>, %w: tensor<4x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift' op operand 'x' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<4x16x8xf32>'}}
  %0 = kvshift.kv_shift %x, %w : tensor<4x16x8xf32>, tensor<4x2xf32> -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @shift_x_i32(%x: tensor<2x4x16x8xi32>, %w: tensor<4x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift' op operand 'x' must have element type f32, f16 or bf16, found 'i32'}}
  %0 = kvshift.kv_shift %x, %w : tensor<2x4x16x8xi32>, tensor<4x2xf32> -> tensor<2x4x16x8xi32>
  return
}

// -----

func.func @shift_x_f64(%x: tensor<2x4x16x8xf64>, %w: tensor<4x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift' op operand 'x' must have element type f32, f16 or bf16, found 'f64'}}
  %0 = kvshift.kv_shift %x, %w : tensor<2x4x16x8xf64>, tensor<4x2xf32> -> tensor<2x4x16x8xf64>
  return
}

// -----

// kv_shift: the weights must be tensor<H x 2 x f32>.
func.func @shift_w_not_tensor(%x: tensor<2x4x16x8xf32>, %w: f32) {
  // expected-error @+1 {{'kvshift.kv_shift' op operand 'w' must be a ranked tensor of rank 2 ([heads, 2]), found 'f32'}}
  %0 = kvshift.kv_shift %x, %w : tensor<2x4x16x8xf32>, f32 -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @shift_w_unranked(%x: tensor<2x4x16x8xf32>, %w: tensor<*xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift' op operand 'w' must be a ranked tensor of rank 2 ([heads, 2]), found 'tensor<*xf32>'}}
  %0 = kvshift.kv_shift %x, %w : tensor<2x4x16x8xf32>, tensor<*xf32> -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @shift_w_rank1(%x: tensor<2x4x16x8xf32>, %w: tensor<8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift' op operand 'w' must be a ranked tensor of rank 2 ([heads, 2]), found 'tensor<8xf32>'}}
  %0 = kvshift.kv_shift %x, %w : tensor<2x4x16x8xf32>, tensor<8xf32> -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @shift_w_rank3(%x: tensor<2x4x16x8xf32>, %w: tensor<4x2x1xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift' op operand 'w' must be a ranked tensor of rank 2 ([heads, 2]), found 'tensor<4x2x1xf32>'}}
  %0 = kvshift.kv_shift %x, %w : tensor<2x4x16x8xf32>, tensor<4x2x1xf32> -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @shift_w_f16(%x: tensor<2x4x16x8xf32>, %w: tensor<4x2xf16>) {
  // expected-error @+1 {{'kvshift.kv_shift' op operand 'w' must have element type f32, found 'f16'}}
  %0 = kvshift.kv_shift %x, %w : tensor<2x4x16x8xf32>, tensor<4x2xf16> -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @shift_w_bf16(%x: tensor<2x4x16x8xbf16>, %w: tensor<4x2xbf16>) {
  // expected-error @+1 {{'kvshift.kv_shift' op operand 'w' must have element type f32, found 'bf16'}}
  %0 = kvshift.kv_shift %x, %w : tensor<2x4x16x8xbf16>, tensor<4x2xbf16> -> tensor<2x4x16x8xbf16>
  return
}

// -----

func.func @shift_w_heads(%x: tensor<2x4x16x8xf32>, %w: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift' op operand 'w' must have shape [H, 2] = [4, 2], found [2, 2]}}
  %0 = kvshift.kv_shift %x, %w : tensor<2x4x16x8xf32>, tensor<2x2xf32> -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @shift_w_transposed(%x: tensor<2x4x16x8xf32>, %w: tensor<2x4xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift' op operand 'w' must have shape [H, 2] = [4, 2], found [2, 4]}}
  %0 = kvshift.kv_shift %x, %w : tensor<2x4x16x8xf32>, tensor<2x4xf32> -> tensor<2x4x16x8xf32>
  return
}

// -----

// Dynamic H: the 2 is still checked.
func.func @shift_w_not_two(%x: tensor<2x?x16x8xf32>, %w: tensor<4x3xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift' op operand 'w' must have shape [H, 2] = [?, 2], found [4, 3]}}
  %0 = kvshift.kv_shift %x, %w : tensor<2x?x16x8xf32>, tensor<4x3xf32> -> tensor<2x?x16x8xf32>
  return
}

// -----

func.func @shift_w_dyn_heads_not_two(%x: tensor<2x4x16x8xf32>, %w: tensor<?x1xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift' op operand 'w' must have shape [H, 2] = [4, 2], found [?, 1]}}
  %0 = kvshift.kv_shift %x, %w : tensor<2x4x16x8xf32>, tensor<?x1xf32> -> tensor<2x4x16x8xf32>
  return
}

// -----

// kv_shift: the result must have the type of x.
func.func @shift_result_not_tensor(%x: tensor<2x4x16x8xf32>, %w: tensor<4x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift' op result 'result' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'f32'}}
  %0 = kvshift.kv_shift %x, %w : tensor<2x4x16x8xf32>, tensor<4x2xf32> -> f32
  return
}

// -----

func.func @shift_result_unranked(%x: tensor<2x4x16x8xf32>, %w: tensor<4x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift' op result 'result' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<*xf32>'}}
  %0 = kvshift.kv_shift %x, %w : tensor<2x4x16x8xf32>, tensor<4x2xf32> -> tensor<*xf32>
  return
}

// -----

func.func @shift_result_rank5(%x: tensor<2x4x16x8xf32>, %w: tensor<4x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift' op result 'result' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<1x2x4x16x8xf32>'}}
  %0 = kvshift.kv_shift %x, %w : tensor<2x4x16x8xf32>, tensor<4x2xf32> -> tensor<1x2x4x16x8xf32>
  return
}

// -----

func.func @shift_result_i32(%x: tensor<2x4x16x8xf32>, %w: tensor<4x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift' op result 'result' must have element type f32, f16 or bf16, found 'i32'}}
  %0 = kvshift.kv_shift %x, %w : tensor<2x4x16x8xf32>, tensor<4x2xf32> -> tensor<2x4x16x8xi32>
  return
}

// -----

func.func @shift_result_elt(%x: tensor<2x4x16x8xf32>, %w: tensor<4x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift' op result 'result' must have the element type of 'x' ('f32'), found 'bf16'}}
  %0 = kvshift.kv_shift %x, %w : tensor<2x4x16x8xf32>, tensor<4x2xf32> -> tensor<2x4x16x8xbf16>
  return
}

// -----

func.func @shift_result_shape(%x: tensor<2x4x16x8xf32>, %w: tensor<4x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift' op result 'result' must have the shape of 'x' [2, 4, 16, 8], found [2, 4, 15, 8]}}
  %0 = kvshift.kv_shift %x, %w : tensor<2x4x16x8xf32>, tensor<4x2xf32> -> tensor<2x4x15x8xf32>
  return
}

// -----

func.func @shift_result_shape_dyn(%x: tensor<?x4x?x8xf32>, %w: tensor<4x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift' op result 'result' must have the shape of 'x' [?, 4, ?, 8], found [3, 4, 16, 9]}}
  %0 = kvshift.kv_shift %x, %w : tensor<?x4x?x8xf32>, tensor<4x2xf32> -> tensor<3x4x16x9xf32>
  return
}

// -----

// kv_shift_attention: q, k and v must be ranked rank-4 tensors of f32, f16 or bf16.
func.func @att_q_not_tensor(%q: f32, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'q' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'f32'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (f32, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_q_vector(%q: vector<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'q' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'vector<2x4x16x8xf32>'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (vector<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_q_unranked(%q: tensor<*xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'q' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<*xf32>'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<*xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_q_rank3(%q: tensor<4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'q' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<4x16x8xf32>'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_q_rank5(%q: tensor<2x2x2x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'q' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<2x2x2x16x8xf32>'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_q_i32(%q: tensor<2x4x16x8xi32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'q' must have element type f32, f16 or bf16, found 'i32'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xi32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_q_f64(%q: tensor<2x4x16x8xf64>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'q' must have element type f32, f16 or bf16, found 'f64'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf64>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_k_not_tensor(%q: tensor<2x4x16x8xf32>, %k: f32, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'k' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'f32'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, f32, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_k_unranked(%q: tensor<2x4x16x8xf32>, %k: tensor<*xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'k' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<*xf32>'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<*xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_k_rank3(%q: tensor<2x4x16x8xf32>, %k: tensor<2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'k' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<2x16x8xf32>'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_k_i32(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xi32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'k' must have element type f32, f16 or bf16, found 'i32'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xi32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_v_not_tensor(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: index, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'v' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'index'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, index, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_v_unranked(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<*xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'v' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<*xf32>'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<*xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_v_rank2(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'v' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<16x8xf32>'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_v_i32(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xi32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'v' must have element type f32, f16 or bf16, found 'i32'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xi32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

// kv_shift_attention: one element type for q, k and v.
func.func @att_k_elt(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf16>, %v: tensor<2x2x16x8xf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'k' must have the element type of 'q' ('f32'), found 'f16'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf16>, tensor<2x2x16x8xf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_k_elt_bf16(%q: tensor<2x4x16x8xbf16>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'k' must have the element type of 'q' ('bf16'), found 'f32'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xbf16>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xbf16>
  return
}

// -----

// kv_shift_attention: k and v must have the same type.
func.func @att_kv_elt(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operands 'k' and 'v' must have the same type, found 'tensor<2x2x16x8xf32>' and 'tensor<2x2x16x8xf16>'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_kv_shape(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x12x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operands 'k' and 'v' must have the same type, found 'tensor<2x2x16x8xf32>' and 'tensor<2x2x12x8xf32>'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x12x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

// kv_shift_attention: batch and head_dim of k must match q.
func.func @att_batch(%q: tensor<2x4x16x8xf32>, %k: tensor<3x2x16x8xf32>, %v: tensor<3x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op batch size of 'k' (dim 0) must equal that of 'q' (dim 0): expected 2, found 3}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<3x2x16x8xf32>, tensor<3x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_head_dim(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x16xf32>, %v: tensor<2x2x16x16xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op head_dim of 'k' (dim 3) must equal that of 'q' (dim 3): expected 8, found 16}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x16xf32>, tensor<2x2x16x16xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_head_dim_partly_dynamic(%q: tensor<?x4x?x8xf32>, %k: tensor<2x?x16x4xf32>, %v: tensor<2x?x16x4xf32>, %kw: tensor<?x2xf32>, %vw: tensor<?x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op head_dim of 'k' (dim 3) must equal that of 'q' (dim 3): expected 8, found 4}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<?x4x?x8xf32>, tensor<2x?x16x4xf32>, tensor<2x?x16x4xf32>, tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x4x?x8xf32>
  return
}

// -----

// kv_shift_attention: head counts.
func.func @att_zero_kv_heads(%q: tensor<2x4x16x8xf32>, %k: tensor<2x0x16x8xf32>, %v: tensor<2x0x16x8xf32>, %kw: tensor<0x2xf32>, %vw: tensor<0x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'k' must have at least one KV head (dim 1), found 0}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x0x16x8xf32>, tensor<2x0x16x8xf32>, tensor<0x2xf32>, tensor<0x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_gqa_not_multiple(%q: tensor<2x4x16x8xf32>, %k: tensor<2x3x16x8xf32>, %v: tensor<2x3x16x8xf32>, %kw: tensor<3x2xf32>, %vw: tensor<3x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op query heads (Hq = 4, dim 1 of 'q') must be a multiple of KV heads (Hkv = 3, dim 1 of 'k')}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x3x16x8xf32>, tensor<2x3x16x8xf32>, tensor<3x2xf32>, tensor<3x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_gqa_fewer_q_heads(%q: tensor<2x1x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op query heads (Hq = 1, dim 1 of 'q') must be a multiple of KV heads (Hkv = 2, dim 1 of 'k')}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x1x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x1x16x8xf32>
  return
}

// -----

// kv_shift_attention: kw must be tensor<Hkv x 2 x f32>.
func.func @att_kw_not_tensor(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: f32, %vw: f32) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'kw' must be a ranked tensor of rank 2 ([heads, 2]), found 'f32'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, f32, f32) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_kw_unranked(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<*xf32>, %vw: tensor<*xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'kw' must be a ranked tensor of rank 2 ([heads, 2]), found 'tensor<*xf32>'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<*xf32>, tensor<*xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_kw_rank1(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<4xf32>, %vw: tensor<4xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'kw' must be a ranked tensor of rank 2 ([heads, 2]), found 'tensor<4xf32>'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_kw_rank3(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<1x2x2xf32>, %vw: tensor<1x2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'kw' must be a ranked tensor of rank 2 ([heads, 2]), found 'tensor<1x2x2xf32>'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<1x2x2xf32>, tensor<1x2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_kw_f16(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf16>, %vw: tensor<2x2xf16>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'kw' must have element type f32, found 'f16'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf16>, tensor<2x2xf16>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_kw_i32(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xi32>, %vw: tensor<2x2xi32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'kw' must have element type f32, found 'i32'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xi32>, tensor<2x2xi32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_kw_heads(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<4x2xf32>, %vw: tensor<4x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'kw' must have shape [Hkv, 2] = [2, 2], found [4, 2]}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<4x2xf32>, tensor<4x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_kw_not_two(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x4xf32>, %vw: tensor<2x4xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'kw' must have shape [Hkv, 2] = [2, 2], found [2, 4]}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_kw_dyn_hkv_not_two(%q: tensor<2x4x16x8xf32>, %k: tensor<2x?x16x8xf32>, %v: tensor<2x?x16x8xf32>, %kw: tensor<2x1xf32>, %vw: tensor<2x1xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'kw' must have shape [Hkv, 2] = [?, 2], found [2, 1]}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x?x16x8xf32>, tensor<2x?x16x8xf32>, tensor<2x1xf32>, tensor<2x1xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

// kv_shift_attention: vw must be tensor<Hkv x 2 x f32>.
func.func @att_vw_not_tensor(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: f32) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'vw' must be a ranked tensor of rank 2 ([heads, 2]), found 'f32'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, f32) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_vw_unranked(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<*xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'vw' must be a ranked tensor of rank 2 ([heads, 2]), found 'tensor<*xf32>'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<*xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_vw_rank1(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<4xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'vw' must be a ranked tensor of rank 2 ([heads, 2]), found 'tensor<4xf32>'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<4xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_vw_rank3(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<1x2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'vw' must be a ranked tensor of rank 2 ([heads, 2]), found 'tensor<1x2x2xf32>'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<1x2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_vw_f16(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf16>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'vw' must have element type f32, found 'f16'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf16>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_vw_i32(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xi32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'vw' must have element type f32, found 'i32'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xi32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_vw_heads(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<4x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'vw' must have shape [Hkv, 2] = [2, 2], found [4, 2]}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<4x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_vw_not_two(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x4xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'vw' must have shape [Hkv, 2] = [2, 2], found [2, 4]}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x4xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_vw_dyn_hkv_not_two(%q: tensor<2x4x16x8xf32>, %k: tensor<2x?x16x8xf32>, %v: tensor<2x?x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x1xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'vw' must have shape [Hkv, 2] = [?, 2], found [2, 1]}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x?x16x8xf32>, tensor<2x?x16x8xf32>, tensor<2x2xf32>, tensor<2x1xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

// kv_shift_attention: causal attention needs Sq <= Sk.
func.func @att_causal_sq_gt_sk(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x8x8xf32>, %v: tensor<2x2x8x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op causal attention requires Sq <= Sk, found Sq = 16 (dim 2 of 'q') and Sk = 8 (dim 2 of 'k')}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal : (tensor<2x4x16x8xf32>, tensor<2x2x8x8xf32>, tensor<2x2x8x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

// kv_shift_attention: scale must be finite and non-zero.
func.func @att_scale_zero(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op attribute 'scale' must be finite and non-zero, found 0.000000e+00}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) scale = 0.0 : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_scale_neg_zero(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op attribute 'scale' must be finite and non-zero, found -0.000000e+00}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) scale = -0.0 : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_scale_inf(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op attribute 'scale' must be finite and non-zero, found INF}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) scale = 0x7F800000 : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_scale_neg_inf(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op attribute 'scale' must be finite and non-zero, found -INF}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) scale = 0xFF800000 : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_scale_nan(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op attribute 'scale' must be finite and non-zero, found nan}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) scale = 0x7FC00000 : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

// kv_shift_attention_grad: q, k and v must be ranked rank-4 tensors of f32, f16 or bf16.
func.func @grad_q_not_tensor(%q: f32, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'q' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'f32'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (f32, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_q_vector(%q: vector<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'q' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'vector<2x4x16x8xf32>'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (vector<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_q_unranked(%q: tensor<*xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'q' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<*xf32>'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<*xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_q_rank3(%q: tensor<4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'q' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<4x16x8xf32>'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_q_rank5(%q: tensor<2x2x2x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'q' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<2x2x2x16x8xf32>'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_q_i32(%q: tensor<2x4x16x8xi32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'q' must have element type f32, f16 or bf16, found 'i32'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xi32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_q_f64(%q: tensor<2x4x16x8xf64>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'q' must have element type f32, f16 or bf16, found 'f64'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf64>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_k_not_tensor(%q: tensor<2x4x16x8xf32>, %k: f32, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'k' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'f32'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, f32, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, f32, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_k_unranked(%q: tensor<2x4x16x8xf32>, %k: tensor<*xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'k' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<*xf32>'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<*xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<*xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_k_rank3(%q: tensor<2x4x16x8xf32>, %k: tensor<2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'k' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<2x16x8xf32>'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_k_i32(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xi32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'k' must have element type f32, f16 or bf16, found 'i32'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xi32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xi32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_v_not_tensor(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: index, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'v' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'index'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, index, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, index, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_v_unranked(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<*xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'v' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<*xf32>'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<*xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<*xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_v_rank2(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'v' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<16x8xf32>'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_v_i32(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xi32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'v' must have element type f32, f16 or bf16, found 'i32'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xi32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xi32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

// kv_shift_attention_grad: one element type for q, k and v.
func.func @grad_k_elt(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf16>, %v: tensor<2x2x16x8xf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'k' must have the element type of 'q' ('f32'), found 'f16'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf16>, tensor<2x2x16x8xf16>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf16>, tensor<2x2x16x8xf16>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_k_elt_bf16(%q: tensor<2x4x16x8xbf16>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xbf16>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'k' must have the element type of 'q' ('bf16'), found 'f32'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xbf16>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xbf16>) -> (tensor<2x4x16x8xbf16>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

// kv_shift_attention_grad: k and v must have the same type.
func.func @grad_kv_elt(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operands 'k' and 'v' must have the same type, found 'tensor<2x2x16x8xf32>' and 'tensor<2x2x16x8xf16>'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf16>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf16>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_kv_shape(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x12x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operands 'k' and 'v' must have the same type, found 'tensor<2x2x16x8xf32>' and 'tensor<2x2x12x8xf32>'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x12x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x12x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

// kv_shift_attention_grad: batch and head_dim of k must match q.
func.func @grad_batch(%q: tensor<2x4x16x8xf32>, %k: tensor<3x2x16x8xf32>, %v: tensor<3x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op batch size of 'k' (dim 0) must equal that of 'q' (dim 0): expected 2, found 3}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<3x2x16x8xf32>, tensor<3x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<3x2x16x8xf32>, tensor<3x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_head_dim(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x16xf32>, %v: tensor<2x2x16x16xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op head_dim of 'k' (dim 3) must equal that of 'q' (dim 3): expected 8, found 16}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x16xf32>, tensor<2x2x16x16xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x16xf32>, tensor<2x2x16x16xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_head_dim_partly_dynamic(%q: tensor<?x4x?x8xf32>, %k: tensor<2x?x16x4xf32>, %v: tensor<2x?x16x4xf32>, %kw: tensor<?x2xf32>, %vw: tensor<?x2xf32>, %do: tensor<?x4x?x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op head_dim of 'k' (dim 3) must equal that of 'q' (dim 3): expected 8, found 4}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<?x4x?x8xf32>, tensor<2x?x16x4xf32>, tensor<2x?x16x4xf32>, tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x4x?x8xf32>) -> (tensor<?x4x?x8xf32>, tensor<2x?x16x4xf32>, tensor<2x?x16x4xf32>, tensor<?x2xf32>, tensor<?x2xf32>)
  return
}

// -----

// kv_shift_attention_grad: head counts.
func.func @grad_zero_kv_heads(%q: tensor<2x4x16x8xf32>, %k: tensor<2x0x16x8xf32>, %v: tensor<2x0x16x8xf32>, %kw: tensor<0x2xf32>, %vw: tensor<0x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'k' must have at least one KV head (dim 1), found 0}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x0x16x8xf32>, tensor<2x0x16x8xf32>, tensor<0x2xf32>, tensor<0x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x0x16x8xf32>, tensor<2x0x16x8xf32>, tensor<0x2xf32>, tensor<0x2xf32>)
  return
}

// -----

func.func @grad_gqa_not_multiple(%q: tensor<2x4x16x8xf32>, %k: tensor<2x3x16x8xf32>, %v: tensor<2x3x16x8xf32>, %kw: tensor<3x2xf32>, %vw: tensor<3x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op query heads (Hq = 4, dim 1 of 'q') must be a multiple of KV heads (Hkv = 3, dim 1 of 'k')}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x3x16x8xf32>, tensor<2x3x16x8xf32>, tensor<3x2xf32>, tensor<3x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x3x16x8xf32>, tensor<2x3x16x8xf32>, tensor<3x2xf32>, tensor<3x2xf32>)
  return
}

// -----

func.func @grad_gqa_fewer_q_heads(%q: tensor<2x1x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x1x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op query heads (Hq = 1, dim 1 of 'q') must be a multiple of KV heads (Hkv = 2, dim 1 of 'k')}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x1x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x1x16x8xf32>) -> (tensor<2x1x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

// kv_shift_attention_grad: kw must be tensor<Hkv x 2 x f32>.
func.func @grad_kw_not_tensor(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: f32, %vw: f32, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'kw' must be a ranked tensor of rank 2 ([heads, 2]), found 'f32'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, f32, f32, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, f32, f32)
  return
}

// -----

func.func @grad_kw_unranked(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<*xf32>, %vw: tensor<*xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'kw' must be a ranked tensor of rank 2 ([heads, 2]), found 'tensor<*xf32>'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<*xf32>, tensor<*xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<*xf32>, tensor<*xf32>)
  return
}

// -----

func.func @grad_kw_rank1(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<4xf32>, %vw: tensor<4xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'kw' must be a ranked tensor of rank 2 ([heads, 2]), found 'tensor<4xf32>'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<4xf32>, tensor<4xf32>)
  return
}

// -----

func.func @grad_kw_rank3(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<1x2x2xf32>, %vw: tensor<1x2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'kw' must be a ranked tensor of rank 2 ([heads, 2]), found 'tensor<1x2x2xf32>'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<1x2x2xf32>, tensor<1x2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<1x2x2xf32>, tensor<1x2x2xf32>)
  return
}

// -----

func.func @grad_kw_f16(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf16>, %vw: tensor<2x2xf16>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'kw' must have element type f32, found 'f16'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf16>, tensor<2x2xf16>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf16>, tensor<2x2xf16>)
  return
}

// -----

func.func @grad_kw_i32(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xi32>, %vw: tensor<2x2xi32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'kw' must have element type f32, found 'i32'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xi32>, tensor<2x2xi32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xi32>, tensor<2x2xi32>)
  return
}

// -----

func.func @grad_kw_heads(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<4x2xf32>, %vw: tensor<4x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'kw' must have shape [Hkv, 2] = [2, 2], found [4, 2]}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<4x2xf32>, tensor<4x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<4x2xf32>, tensor<4x2xf32>)
  return
}

// -----

func.func @grad_kw_not_two(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x4xf32>, %vw: tensor<2x4xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'kw' must have shape [Hkv, 2] = [2, 2], found [2, 4]}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x4xf32>, tensor<2x4xf32>)
  return
}

// -----

func.func @grad_kw_dyn_hkv_not_two(%q: tensor<2x4x16x8xf32>, %k: tensor<2x?x16x8xf32>, %v: tensor<2x?x16x8xf32>, %kw: tensor<2x1xf32>, %vw: tensor<2x1xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'kw' must have shape [Hkv, 2] = [?, 2], found [2, 1]}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x?x16x8xf32>, tensor<2x?x16x8xf32>, tensor<2x1xf32>, tensor<2x1xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x?x16x8xf32>, tensor<2x?x16x8xf32>, tensor<2x1xf32>, tensor<2x1xf32>)
  return
}

// -----

// kv_shift_attention_grad: vw must be tensor<Hkv x 2 x f32>.
func.func @grad_vw_not_tensor(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: f32, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'vw' must be a ranked tensor of rank 2 ([heads, 2]), found 'f32'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, f32, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, f32)
  return
}

// -----

func.func @grad_vw_unranked(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<*xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'vw' must be a ranked tensor of rank 2 ([heads, 2]), found 'tensor<*xf32>'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<*xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<*xf32>)
  return
}

// -----

func.func @grad_vw_rank1(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<4xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'vw' must be a ranked tensor of rank 2 ([heads, 2]), found 'tensor<4xf32>'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<4xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<4xf32>)
  return
}

// -----

func.func @grad_vw_rank3(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<1x2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'vw' must be a ranked tensor of rank 2 ([heads, 2]), found 'tensor<1x2x2xf32>'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<1x2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<1x2x2xf32>)
  return
}

// -----

func.func @grad_vw_f16(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf16>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'vw' must have element type f32, found 'f16'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf16>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf16>)
  return
}

// -----

func.func @grad_vw_i32(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xi32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'vw' must have element type f32, found 'i32'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xi32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xi32>)
  return
}

// -----

func.func @grad_vw_heads(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<4x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'vw' must have shape [Hkv, 2] = [2, 2], found [4, 2]}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<4x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<4x2xf32>)
  return
}

// -----

func.func @grad_vw_not_two(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x4xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'vw' must have shape [Hkv, 2] = [2, 2], found [2, 4]}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x4xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x4xf32>)
  return
}

// -----

func.func @grad_vw_dyn_hkv_not_two(%q: tensor<2x4x16x8xf32>, %k: tensor<2x?x16x8xf32>, %v: tensor<2x?x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x1xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'vw' must have shape [Hkv, 2] = [?, 2], found [2, 1]}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x?x16x8xf32>, tensor<2x?x16x8xf32>, tensor<2x2xf32>, tensor<2x1xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x?x16x8xf32>, tensor<2x?x16x8xf32>, tensor<2x2xf32>, tensor<2x1xf32>)
  return
}

// -----

// kv_shift_attention_grad: causal attention needs Sq <= Sk.
func.func @grad_causal_sq_gt_sk(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x8x8xf32>, %v: tensor<2x2x8x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op causal attention requires Sq <= Sk, found Sq = 16 (dim 2 of 'q') and Sk = 8 (dim 2 of 'k')}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) causal : (tensor<2x4x16x8xf32>, tensor<2x2x8x8xf32>, tensor<2x2x8x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x8x8xf32>, tensor<2x2x8x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

// kv_shift_attention_grad: scale must be finite and non-zero.
func.func @grad_scale_zero(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op attribute 'scale' must be finite and non-zero, found 0.000000e+00}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) scale = 0.0 : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_scale_neg_zero(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op attribute 'scale' must be finite and non-zero, found -0.000000e+00}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) scale = -0.0 : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_scale_inf(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op attribute 'scale' must be finite and non-zero, found INF}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) scale = 0x7F800000 : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_scale_neg_inf(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op attribute 'scale' must be finite and non-zero, found -INF}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) scale = 0xFF800000 : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_scale_nan(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op attribute 'scale' must be finite and non-zero, found nan}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) scale = 0x7FC00000 : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

// kv_shift_attention: scale in generic form.
func.func @att_scale_nan_generic(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op attribute 'scale' must be finite and non-zero, found nan}}
  %0 = "kvshift.kv_shift_attention"(%q, %k, %v, %kw, %vw) {scale = 0x7FC00000 : f32} : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_scale_inf_generic(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op attribute 'scale' must be finite and non-zero, found INF}}
  %0 = "kvshift.kv_shift_attention"(%q, %k, %v, %kw, %vw) {causal, scale = 0x7F800000 : f32} : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @att_scale_f64(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op attribute 'scale' failed to satisfy constraint: 32-bit float attribute}}
  %0 = "kvshift.kv_shift_attention"(%q, %k, %v, %kw, %vw) {scale = 0.5 : f64} : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

// kv_shift_attention: out must have the type of q.
func.func @att_out_not_tensor(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op result 'out' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'f32'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> f32
  return
}

// -----

func.func @att_out_unranked(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op result 'out' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<*xf32>'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @att_out_rank3(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op result 'out' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<4x16x8xf32>'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<4x16x8xf32>
  return
}

// -----

func.func @att_out_i32(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op result 'out' must have element type f32, f16 or bf16, found 'i32'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xi32>
  return
}

// -----

func.func @att_out_elt(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op result 'out' must have the element type of 'q' ('f32'), found 'f16'}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf16>
  return
}

// -----

func.func @att_out_shape_kv_heads(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op result 'out' must have the shape of 'q' [2, 4, 16, 8], found [2, 2, 16, 8]}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2x16x8xf32>
  return
}

// -----

func.func @att_out_shape_dyn(%q: tensor<?x4x?x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op result 'out' must have the shape of 'q' [?, 4, ?, 8], found [2, 4, 16, 16]}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) : (tensor<?x4x?x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x16xf32>
  return
}

// -----

// kv_shift_attention_grad: dout must have the type of out (= q).
func.func @grad_dout_not_tensor(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: f32) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'dout' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'f32'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, f32) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_dout_unranked(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<*xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'dout' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<*xf32>'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<*xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_dout_rank3(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'dout' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<4x16x8xf32>'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_dout_i32(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xi32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'dout' must have element type f32, f16 or bf16, found 'i32'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xi32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_dout_elt(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xbf16>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'dout' must have the element type of 'q' ('f32'), found 'bf16'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xbf16>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_dout_shape(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x2x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'dout' must have the shape of 'q' [2, 4, 16, 8], found [2, 2, 16, 8]}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

// kv_shift_attention_grad: dq must have the type of q.
func.func @grad_dq_not_tensor(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dq' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'f32'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (f32, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_dq_unranked(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dq' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<*xf32>'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<*xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_dq_rank3(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dq' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<2x16x8xf32>'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_dq_i32(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dq' must have element type f32, f16 or bf16, found 'i32'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xi32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_dq_elt(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dq' must have the element type of 'q' ('f32'), found 'f16'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf16>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

// kv_shift_attention_grad: dk must have the type of k.
func.func @grad_dk_not_tensor(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dk' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'f32'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, f32, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_dk_unranked(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dk' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<*xf32>'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<*xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_dk_rank3(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dk' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<2x16x8xf32>'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_dk_i32(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dk' must have element type f32, f16 or bf16, found 'i32'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xi32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_dk_elt(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dk' must have the element type of 'k' ('f32'), found 'f16'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf16>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

// kv_shift_attention_grad: dv must have the type of v.
func.func @grad_dv_not_tensor(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dv' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'f32'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, f32, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_dv_unranked(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dv' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<*xf32>'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<*xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_dv_rank3(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dv' must be a ranked tensor of rank 4 ([batch, heads, seq, head_dim]), found 'tensor<2x16x8xf32>'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_dv_i32(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dv' must have element type f32, f16 or bf16, found 'i32'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xi32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_dv_elt(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dv' must have the element type of 'v' ('f32'), found 'f16'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf16>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_dq_shape(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dq' must have the shape of 'q' [2, 4, 16, 8], found [2, 2, 16, 8]}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_dk_shape(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dk' must have the shape of 'k' [2, 2, 16, 8], found [2, 4, 16, 8]}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_dv_shape(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dv' must have the shape of 'v' [2, 2, 16, 8], found [2, 2, 8, 8]}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x8x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

// kv_shift_attention_grad: dkw must be tensor<Hkv x 2 x f32>.
func.func @grad_dkw_not_tensor(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dkw' must be a ranked tensor of rank 2 ([heads, 2]), found 'f32'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, f32, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_dkw_unranked(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dkw' must be a ranked tensor of rank 2 ([heads, 2]), found 'tensor<*xf32>'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<*xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_dkw_rank1(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dkw' must be a ranked tensor of rank 2 ([heads, 2]), found 'tensor<4xf32>'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<4xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_dkw_f16(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dkw' must have element type f32, found 'f16'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf16>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_dkw_heads(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dkw' must have shape [Hkv, 2] = [2, 2], found [4, 2]}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<4x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_dkw_not_two(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dkw' must have shape [Hkv, 2] = [2, 2], found [2, 3]}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x3xf32>, tensor<2x2xf32>)
  return
}

// -----

// kv_shift_attention_grad: dvw must be tensor<Hkv x 2 x f32>.
func.func @grad_dvw_not_tensor(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dvw' must be a ranked tensor of rank 2 ([heads, 2]), found 'f32'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, f32)
  return
}

// -----

func.func @grad_dvw_unranked(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dvw' must be a ranked tensor of rank 2 ([heads, 2]), found 'tensor<*xf32>'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<*xf32>)
  return
}

// -----

func.func @grad_dvw_rank1(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dvw' must be a ranked tensor of rank 2 ([heads, 2]), found 'tensor<4xf32>'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<4xf32>)
  return
}

// -----

func.func @grad_dvw_f16(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dvw' must have element type f32, found 'f16'}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf16>)
  return
}

// -----

func.func @grad_dvw_heads(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dvw' must have shape [Hkv, 2] = [2, 2], found [4, 2]}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<4x2xf32>)
  return
}

// -----

func.func @grad_dvw_not_two(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x8xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>, %do: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op result 'dvw' must have shape [Hkv, 2] = [2, 2], found [2, 3]}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %v mix(%kw, %vw) dout(%do) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x3xf32>)
  return
}

// -----

// Generic form with the wrong number of operands or results.
func.func @att_generic_operand_count(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op expected 5 operands, but found 2}}
  %0 = "kvshift.kv_shift_attention"(%q, %k) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @grad_generic_result_count(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %w: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op expected 5 results}}
  %0:4 = "kvshift.kv_shift_attention_grad"(%q, %k, %k, %w, %w, %q) : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @shift_generic_no_result(%x: tensor<2x4x16x8xf32>, %w: tensor<4x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift' op requires one result}}
  "kvshift.kv_shift"(%x, %w) : (tensor<2x4x16x8xf32>, tensor<4x2xf32>) -> ()
  return
}

// -----

func.func @att_generic_causal_not_unit(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %w: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op attribute 'causal' failed to satisfy constraint: unit attribute}}
  %0 = "kvshift.kv_shift_attention"(%q, %k, %k, %w, %w) {causal = 1 : i32} : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

// kv_shift_attention: zero head_dim.
func.func @attn_zero_head_dim(%q: tensor<1x2x4x0xf32>, %k: tensor<1x2x4x0xf32>, %v: tensor<1x2x4x0xf32>, %w: tensor<2x2xf32>) -> tensor<1x2x4x0xf32> {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'q' must have a non-zero head_dim (dim 3), found 0}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%w, %w) : (tensor<1x2x4x0xf32>, tensor<1x2x4x0xf32>, tensor<1x2x4x0xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x4x0xf32>
  return %0 : tensor<1x2x4x0xf32>
}

// -----

// kv_shift_attention: no keys.
func.func @attn_zero_keys(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x0x8xf32>, %v: tensor<1x2x0x8xf32>, %w: tensor<2x2xf32>) -> tensor<1x2x4x8xf32> {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op operand 'k' must have a non-zero sequence length (Sk) (dim 2), found 0}}
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%w, %w) : (tensor<1x2x4x8xf32>, tensor<1x2x0x8xf32>, tensor<1x2x0x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x4x8xf32>
  return %0 : tensor<1x2x4x8xf32>
}

// -----

// kv_shift_attention_grad: no keys.
func.func @grad_zero_keys(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x0x8xf32>, %w: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op operand 'k' must have a non-zero sequence length (Sk) (dim 2), found 0}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %k mix(%w, %w) dout(%q) : (tensor<1x2x4x8xf32>, tensor<1x2x0x8xf32>, tensor<1x2x0x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x4x8xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x2x0x8xf32>, tensor<1x2x0x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

// kv_shift: empty sequence and zero head_dim.
func.func @shift_zero_seq(%x: tensor<1x2x0x8xf32>, %w: tensor<2x2xf32>) -> tensor<1x2x0x8xf32> {
  // expected-error @+1 {{'kvshift.kv_shift' op operand 'x' must have a non-zero sequence length (dim 2), found 0}}
  %0 = kvshift.kv_shift %x, %w : tensor<1x2x0x8xf32>, tensor<2x2xf32> -> tensor<1x2x0x8xf32>
  return %0 : tensor<1x2x0x8xf32>
}

// -----

func.func @shift_zero_head_dim(%x: tensor<1x2x4x0xf32>, %w: tensor<2x2xf32>) -> tensor<1x2x4x0xf32> {
  // expected-error @+1 {{'kvshift.kv_shift' op operand 'x' must have a non-zero head_dim (dim 3), found 0}}
  %0 = kvshift.kv_shift %x, %w : tensor<1x2x4x0xf32>, tensor<2x2xf32> -> tensor<1x2x4x0xf32>
  return %0 : tensor<1x2x4x0xf32>
}

// -----

// rope_theta: finite and > 0.
func.func @rope_zero(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %w: tensor<2x2xf32>) -> tensor<1x2x4x8xf32> {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op attribute 'rope_theta' must be finite and > 0, found 0.000000e+00}}
  %0 = kvshift.kv_shift_attention %q, %k, %k mix(%w, %w) rope_theta = 0.0 : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x4x8xf32>
  return %0 : tensor<1x2x4x8xf32>
}

// -----

func.func @rope_negative(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %w: tensor<2x2xf32>) -> tensor<1x2x4x8xf32> {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op attribute 'rope_theta' must be finite and > 0, found -1.000000e+04}}
  %0 = kvshift.kv_shift_attention %q, %k, %k mix(%w, %w) rope_theta = -10000.0 : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x4x8xf32>
  return %0 : tensor<1x2x4x8xf32>
}

// -----

func.func @rope_inf(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %w: tensor<2x2xf32>) -> tensor<1x2x4x8xf32> {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op attribute 'rope_theta' must be finite and > 0, found INF}}
  %0 = kvshift.kv_shift_attention %q, %k, %k mix(%w, %w) rope_theta = 0x7F800000 : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x4x8xf32>
  return %0 : tensor<1x2x4x8xf32>
}

// -----

func.func @rope_nan(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %w: tensor<2x2xf32>) -> tensor<1x2x4x8xf32> {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op attribute 'rope_theta' must be finite and > 0, found nan}}
  %0 = kvshift.kv_shift_attention %q, %k, %k mix(%w, %w) {rope_theta = 0x7FC00000 : f32} : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x4x8xf32>
  return %0 : tensor<1x2x4x8xf32>
}

// -----

// rope_theta needs an even head_dim.
func.func @rope_odd_d(%q: tensor<1x2x4x7xf32>, %k: tensor<1x2x4x7xf32>, %w: tensor<2x2xf32>) -> tensor<1x2x4x7xf32> {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op attribute 'rope_theta' requires an even head_dim (dim 3 of 'q'), found D = 7}}
  %0 = kvshift.kv_shift_attention %q, %k, %k mix(%w, %w) causal rope_theta = 10000.0 : (tensor<1x2x4x7xf32>, tensor<1x2x4x7xf32>, tensor<1x2x4x7xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x4x7xf32>
  return %0 : tensor<1x2x4x7xf32>
}

// -----

// rope_theta must be an f32 attribute.
func.func @rope_not_f32(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %w: tensor<2x2xf32>) -> tensor<1x2x4x8xf32> {
  // expected-error @+1 {{'kvshift.kv_shift_attention' op attribute 'rope_theta' failed to satisfy constraint: 32-bit float attribute}}
  %0 = "kvshift.kv_shift_attention"(%q, %k, %k, %w, %w) {rope_theta = 10000 : i32} : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x4x8xf32>
  return %0 : tensor<1x2x4x8xf32>
}

// -----

// kv_shift_attention_grad: the same rope_theta rules.
func.func @grad_rope_zero(%q: tensor<1x2x4x6xf32>, %k: tensor<1x2x4x6xf32>, %w: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op attribute 'rope_theta' must be finite and > 0, found -0.000000e+00}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %k mix(%w, %w) dout(%q) rope_theta = -0.0 : (tensor<1x2x4x6xf32>, tensor<1x2x4x6xf32>, tensor<1x2x4x6xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x4x6xf32>) -> (tensor<1x2x4x6xf32>, tensor<1x2x4x6xf32>, tensor<1x2x4x6xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_rope_odd_d(%q: tensor<1x2x4x5xf32>, %k: tensor<1x2x4x5xf32>, %w: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad' op attribute 'rope_theta' requires an even head_dim (dim 3 of 'q'), found D = 5}}
  %0:5 = kvshift.kv_shift_attention_grad %q, %k, %k mix(%w, %w) dout(%q) rope_theta = 500000.0 : (tensor<1x2x4x5xf32>, tensor<1x2x4x5xf32>, tensor<1x2x4x5xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x4x5xf32>) -> (tensor<1x2x4x5xf32>, tensor<1x2x4x5xf32>, tensor<1x2x4x5xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

// Internal forms: the same rope_theta rules.
func.func @with_lse_rope_odd_d(%q: tensor<1x2x4x3xf32>, %k: tensor<1x2x4x3xf32>, %w: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_with_lse' op attribute 'rope_theta' requires an even head_dim (dim 3 of 'q'), found D = 3}}
  %0:2 = kvshift.kv_shift_attention_with_lse %q, %k, %k mix(%w, %w) rope_theta = 1.0e4 : (tensor<1x2x4x3xf32>, tensor<1x2x4x3xf32>, tensor<1x2x4x3xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> (tensor<1x2x4x3xf32>, tensor<1x2x4xf32>)
  return
}

// -----

// k and v may differ where one of them is dynamic: accepted.
func.func @kv_compatible(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<?x2x4x8xf32>, %w: tensor<2x2xf32>) -> tensor<1x2x4x8xf32> {
  %0 = kvshift.kv_shift_attention %q, %k, %v mix(%w, %w) : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<?x2x4x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x4x8xf32>
  return %0 : tensor<1x2x4x8xf32>
}

// -----

// Internal forms: lse must be tensor<B x Hq x Sq x f32>.
func.func @with_lse_bad_lse(%q: tensor<1x4x16x8xf32>, %k: tensor<1x2x16x8xf32>, %w: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_with_lse' op result 'lse' must be tensor<B x Hq x Sq x f32> matching 'q' [1, 4, 16, 8], found 'tensor<1x4x8xf32>'}}
  %o, %l = kvshift.kv_shift_attention_with_lse %q, %k, %k mix(%w, %w) : (tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> (tensor<1x4x16x8xf32>, tensor<1x4x8xf32>)
  return
}

// -----

func.func @with_lse_bad_out(%q: tensor<1x4x16x8xf32>, %k: tensor<1x2x16x8xf32>, %w: tensor<2x2xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_with_lse' op result 'out' must have the element type of 'q' ('f32'), found 'bf16'}}
  %o, %l = kvshift.kv_shift_attention_with_lse %q, %k, %k mix(%w, %w) : (tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> (tensor<1x4x16x8xbf16>, tensor<1x4x16xf32>)
  return
}

// -----

func.func @grad_with_lse_bad_lse(%q: tensor<1x4x16x8xf32>, %k: tensor<1x2x16x8xf32>, %w: tensor<2x2xf32>, %lse: tensor<1x4x16xf16>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad_with_lse' op operand 'lse' must be tensor<B x Hq x Sq x f32> matching 'q' [1, 4, 16, 8], found 'tensor<1x4x16xf16>'}}
  %g:5 = kvshift.kv_shift_attention_grad_with_lse %q, %k, %k mix(%w, %w) dout(%q) stats(%q, %lse) : (tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<1x4x16xf16>) -> (tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_with_lse_bad_fwd_out(%q: tensor<1x4x16x8xf32>, %k: tensor<1x2x16x8xf32>, %w: tensor<2x2xf32>, %o: tensor<1x4x15x8xf32>, %lse: tensor<1x4x16xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad_with_lse' op operand 'fwd_out' must have the shape of 'q' [1, 4, 16, 8], found [1, 4, 15, 8]}}
  %g:5 = kvshift.kv_shift_attention_grad_with_lse %q, %k, %k mix(%w, %w) dout(%q) stats(%o, %lse) : (tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x4x16x8xf32>, tensor<1x4x15x8xf32>, tensor<1x4x16xf32>) -> (tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
  return
}

// -----

func.func @grad_with_lse_bad_dkw(%q: tensor<1x4x16x8xf32>, %k: tensor<1x2x16x8xf32>, %w: tensor<2x2xf32>, %lse: tensor<1x4x16xf32>) {
  // expected-error @+1 {{'kvshift.kv_shift_attention_grad_with_lse' op result 'dkw' must have shape [Hkv, 2] = [2, 2], found [3, 2]}}
  %g:5 = kvshift.kv_shift_attention_grad_with_lse %q, %k, %k mix(%w, %w) dout(%q) stats(%q, %lse) : (tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<1x4x16xf32>) -> (tensor<1x4x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<3x2xf32>, tensor<2x2xf32>)
  return
}
