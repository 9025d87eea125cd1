// RUN: kvshift-opt %s --kvshift-decompose --split-input-file | FileCheck %s
// RUN: kvshift-opt %s --kvshift-decompose --split-input-file | FileCheck %s --check-prefix=NOKV

// The reference decomposition of kvshift.kv_shift and
// kvshift.kv_shift_attention into linalg/tensor/arith/math on tensors.

// No kvshift op survives the pass, in any split.
// NOKV-NOT: kvshift.

//===----------------------------------------------------------------------===//
// kv_shift
//===----------------------------------------------------------------------===//

// The mix: x shifted one row down the sequence (pad one zero row in front of
// dim 2, keep the first S rows), then w[h,0] * x_t + w[h,1] * x_{t-1}.

// CHECK-DAG: #[[ID4:map[0-9]*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
// CHECK-DAG: #[[HEAD:map[0-9]*]] = affine_map<(d0, d1, d2, d3) -> (d1)>
// CHECK-LABEL: func.func @kv_shift_f32(
// CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<2x3x16x8xf32>, %[[W:[a-z0-9]+]]: tensor<3x2xf32>
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[PAD:.*]] = tensor.pad %[[X]] low[0, 0, 1, 0] high[0, 0, 0, 0]
// CHECK:   tensor.yield %[[ZERO]] : f32
// CHECK: } : tensor<2x3x16x8xf32> to tensor<2x3x17x8xf32>
// CHECK: %[[PREV:.*]] = tensor.extract_slice %[[PAD]][0, 0, 0, 0] [2, 3, 16, 8] [1, 1, 1, 1] : tensor<2x3x17x8xf32> to tensor<2x3x16x8xf32>
// CHECK: %[[W0:.*]] = tensor.extract_slice %[[W]][0, 0] [3, 1] [1, 1] : tensor<3x2xf32> to tensor<3xf32>
// CHECK: %[[W1:.*]] = tensor.extract_slice %[[W]][0, 1] [3, 1] [1, 1] : tensor<3x2xf32> to tensor<3xf32>
// CHECK: %[[INIT:.*]] = tensor.empty() : tensor<2x3x16x8xf32>
// CHECK: %[[MIX:.*]] = linalg.generic {indexing_maps = [#[[ID4]], #[[ID4]], #[[HEAD]], #[[HEAD]], #[[ID4]]], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
// CHECK-SAME: ins(%[[X]], %[[PREV]], %[[W0]], %[[W1]] : tensor<2x3x16x8xf32>, tensor<2x3x16x8xf32>, tensor<3xf32>, tensor<3xf32>) outs(%[[INIT]] : tensor<2x3x16x8xf32>)
// CHECK: ^bb0(%[[CUR:[a-z0-9_]+]]: f32, %[[OLD:[a-z0-9_]+]]: f32, %[[A:[a-z0-9_]+]]: f32, %[[B:[a-z0-9_]+]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[M0:.*]] = arith.mulf %[[A]], %[[CUR]] : f32
// CHECK-NEXT: %[[M1:.*]] = arith.mulf %[[B]], %[[OLD]] : f32
// CHECK-NEXT: %[[S:.*]] = arith.addf %[[M0]], %[[M1]] : f32
// CHECK-NEXT: linalg.yield %[[S]] : f32
// CHECK: } -> tensor<2x3x16x8xf32>
// CHECK: return %[[MIX]] : tensor<2x3x16x8xf32>
func.func @kv_shift_f32(%x: tensor<2x3x16x8xf32>, %w: tensor<3x2xf32>) -> tensor<2x3x16x8xf32> {
  %0 = kvshift.kv_shift %x, %w : tensor<2x3x16x8xf32>, tensor<3x2xf32> -> tensor<2x3x16x8xf32>
  return %0 : tensor<2x3x16x8xf32>
}

// -----

// bf16: the arithmetic is done in f32 and rounded once.
// CHECK-LABEL: func.func @kv_shift_bf16(
// CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<1x2x8x4xbf16>
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : bf16
// CHECK: %[[PAD:.*]] = tensor.pad %[[X]] low[0, 0, 1, 0] high[0, 0, 0, 0]
// CHECK:   tensor.yield %[[ZERO]] : bf16
// CHECK: } : tensor<1x2x8x4xbf16> to tensor<1x2x9x4xbf16>
// CHECK: %[[PREV:.*]] = tensor.extract_slice %[[PAD]][0, 0, 0, 0] [1, 2, 8, 4] [1, 1, 1, 1]
// CHECK: %[[INIT:.*]] = tensor.empty() : tensor<1x2x8x4xbf16>
// CHECK: %[[MIX:.*]] = linalg.generic
// CHECK-SAME: ins(%[[X]], %[[PREV]], %{{.*}}, %{{.*}} : tensor<1x2x8x4xbf16>, tensor<1x2x8x4xbf16>, tensor<2xf32>, tensor<2xf32>) outs(%[[INIT]] : tensor<1x2x8x4xbf16>)
// CHECK: ^bb0(%[[CUR:[a-z0-9_]+]]: bf16, %[[OLD:[a-z0-9_]+]]: bf16, %[[A:[a-z0-9_]+]]: f32, %[[B:[a-z0-9_]+]]: f32, %{{.*}}: bf16):
// CHECK-NEXT: %[[CURF:.*]] = arith.extf %[[CUR]] : bf16 to f32
// CHECK-NEXT: %[[OLDF:.*]] = arith.extf %[[OLD]] : bf16 to f32
// CHECK-NEXT: %[[M0:.*]] = arith.mulf %[[A]], %[[CURF]] : f32
// CHECK-NEXT: %[[M1:.*]] = arith.mulf %[[B]], %[[OLDF]] : f32
// CHECK-NEXT: %[[S:.*]] = arith.addf %[[M0]], %[[M1]] : f32
// CHECK-NEXT: %[[T:.*]] = arith.truncf %[[S]] : f32 to bf16
// CHECK-NEXT: linalg.yield %[[T]] : bf16
// CHECK: return %[[MIX]] : tensor<1x2x8x4xbf16>
func.func @kv_shift_bf16(%x: tensor<1x2x8x4xbf16>, %w: tensor<2x2xf32>) -> tensor<1x2x8x4xbf16> {
  %0 = kvshift.kv_shift %x, %w : tensor<1x2x8x4xbf16>, tensor<2x2xf32> -> tensor<1x2x8x4xbf16>
  return %0 : tensor<1x2x8x4xbf16>
}

// -----

// Dynamic shapes: the sizes come from tensor.dim.
// CHECK-LABEL: func.func @kv_shift_dynamic_f16(
// CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<?x?x?x?xf16>, %[[W:[a-z0-9]+]]: tensor<?x2xf32>
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : index
// CHECK-DAG: %[[C3:.*]] = arith.constant 3 : index
// CHECK-DAG: %[[B:.*]] = tensor.dim %[[X]], %[[C0]] : tensor<?x?x?x?xf16>
// CHECK-DAG: %[[H:.*]] = tensor.dim %[[X]], %[[C1]] : tensor<?x?x?x?xf16>
// CHECK-DAG: %[[S:.*]] = tensor.dim %[[X]], %[[C2]] : tensor<?x?x?x?xf16>
// CHECK-DAG: %[[D:.*]] = tensor.dim %[[X]], %[[C3]] : tensor<?x?x?x?xf16>
// CHECK: %[[PAD:.*]] = tensor.pad %[[X]] low[0, 0, 1, 0] high[0, 0, 0, 0]
// CHECK: } : tensor<?x?x?x?xf16> to tensor<?x?x?x?xf16>
// CHECK: %[[PREV:.*]] = tensor.extract_slice %[[PAD]][0, 0, 0, 0] [%[[B]], %[[H]], %[[S]], %[[D]]] [1, 1, 1, 1] : tensor<?x?x?x?xf16> to tensor<?x?x?x?xf16>
// CHECK: tensor.extract_slice %[[W]][0, 0] [%{{.*}}, 1] [1, 1] : tensor<?x2xf32> to tensor<?xf32>
// CHECK: tensor.extract_slice %[[W]][0, 1] [%{{.*}}, 1] [1, 1] : tensor<?x2xf32> to tensor<?xf32>
// CHECK: %[[INIT:.*]] = tensor.empty(%[[B]], %[[H]], %[[S]], %[[D]]) : tensor<?x?x?x?xf16>
// CHECK: %[[MIX:.*]] = linalg.generic
// CHECK-SAME: ins(%[[X]], %[[PREV]], %{{.*}}, %{{.*}} : tensor<?x?x?x?xf16>, tensor<?x?x?x?xf16>, tensor<?xf32>, tensor<?xf32>) outs(%[[INIT]] : tensor<?x?x?x?xf16>)
// CHECK: arith.extf %{{.*}} : f16 to f32
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: return %[[MIX]] : tensor<?x?x?x?xf16>
func.func @kv_shift_dynamic_f16(%x: tensor<?x?x?x?xf16>, %w: tensor<?x2xf32>) -> tensor<?x?x?x?xf16> {
  %0 = kvshift.kv_shift %x, %w : tensor<?x?x?x?xf16>, tensor<?x2xf32> -> tensor<?x?x?x?xf16>
  return %0 : tensor<?x?x?x?xf16>
}

// -----

// A result more static than x: the mix keeps the shape of x and is cast.
// CHECK-LABEL: func.func @kv_shift_result_cast(
// CHECK: %[[MIX:.*]] = linalg.generic
// CHECK: } -> tensor<?x2x8x4xf32>
// CHECK: %[[CAST:.*]] = tensor.cast %[[MIX]] : tensor<?x2x8x4xf32> to tensor<1x2x8x4xf32>
// CHECK: return %[[CAST]] : tensor<1x2x8x4xf32>
func.func @kv_shift_result_cast(%x: tensor<?x2x8x4xf32>, %w: tensor<2x2xf32>) -> tensor<1x2x8x4xf32> {
  %0 = kvshift.kv_shift %x, %w : tensor<?x2x8x4xf32>, tensor<2x2xf32> -> tensor<1x2x8x4xf32>
  return %0 : tensor<1x2x8x4xf32>
}

//===----------------------------------------------------------------------===//
// kv_shift_attention
//===----------------------------------------------------------------------===//

// -----

// Static shapes, GQA (4 query heads on 2 KV heads), causal, default scale
// 1/sqrt(16) = 0.25. The whole structure, step by step.

// CHECK-DAG: #[[QMAP:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3, d5)>
// CHECK-DAG: #[[KMAP:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d4, d5)>
// CHECK-DAG: #[[SMAP:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3, d4)>
// CHECK-DAG: #[[VMAP:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d5, d4)>
// CHECK-DAG: #[[ID5:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3, d4)>
// CHECK-DAG: #[[ROW:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @attention_gqa_causal(
// CHECK-SAME: %[[Q:[a-z0-9]+]]: tensor<2x4x16x16xf32>, %[[K:[a-z0-9]+]]: tensor<2x2x16x16xf32>, %[[V:[a-z0-9]+]]: tensor<2x2x16x16xf32>, %[[KW:[a-z0-9]+]]: tensor<2x2xf32>, %[[VW:[a-z0-9]+]]: tensor<2x2xf32>
// CHECK-DAG: %[[NEGINF:.*]] = arith.constant 0xFF800000 : f32
// CHECK-DAG: %[[SCALE:.*]] = arith.constant 2.500000e-01 : f32
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
//
// Mix of K (f32).
// CHECK: %[[KPAD:.*]] = tensor.pad %[[K]] low[0, 0, 1, 0] high[0, 0, 0, 0]
// CHECK: %[[KPREV:.*]] = tensor.extract_slice %[[KPAD]][0, 0, 0, 0] [2, 2, 16, 16] [1, 1, 1, 1]
// CHECK: %[[KW0:.*]] = tensor.extract_slice %[[KW]][0, 0] [2, 1] [1, 1]
// CHECK: %[[KW1:.*]] = tensor.extract_slice %[[KW]][0, 1] [2, 1] [1, 1]
// CHECK: %[[KH:.*]] = linalg.generic {{.*}} ins(%[[K]], %[[KPREV]], %[[KW0]], %[[KW1]] :
// CHECK: arith.mulf
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: } -> tensor<2x2x16x16xf32>
//
// Mix of V.
// CHECK: %[[VPAD:.*]] = tensor.pad %[[V]] low[0, 0, 1, 0] high[0, 0, 0, 0]
// CHECK: %[[VPREV:.*]] = tensor.extract_slice %[[VPAD]][0, 0, 0, 0] [2, 2, 16, 16] [1, 1, 1, 1]
// CHECK: %[[VW0:.*]] = tensor.extract_slice %[[VW]][0, 0] [2, 1] [1, 1]
// CHECK: %[[VW1:.*]] = tensor.extract_slice %[[VW]][0, 1] [2, 1] [1, 1]
// CHECK: %[[VH:.*]] = linalg.generic {{.*}} ins(%[[V]], %[[VPREV]], %[[VW0]], %[[VW1]] :
// CHECK: } -> tensor<2x2x16x16xf32>
//
// GQA: q as [B, Hkv, G, Sq, D].
// CHECK: %[[Q5:.*]] = tensor.expand_shape %[[Q]] {{\[\[}}0], [1, 2], [3], [4]] output_shape [2, 2, 2, 16, 16] : tensor<2x4x16x16xf32> into tensor<2x2x2x16x16xf32>
//
// Scores: sum over d of q * k^, a reduction over the last loop dim.
// CHECK: %[[SEMPTY:.*]] = tensor.empty() : tensor<2x2x2x16x16xf32>
// CHECK: %[[SINIT:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[SEMPTY]] : tensor<2x2x2x16x16xf32>)
// CHECK: %[[SCORES:.*]] = linalg.generic {indexing_maps = [#[[QMAP]], #[[KMAP]], #[[SMAP]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[Q5]], %[[KH]] : tensor<2x2x2x16x16xf32>, tensor<2x2x16x16xf32>) outs(%[[SINIT]] : tensor<2x2x2x16x16xf32>)
// CHECK: ^bb0(%[[QE:[a-z0-9_]+]]: f32, %[[KE:[a-z0-9_]+]]: f32, %[[ACC:[a-z0-9_]+]]: f32):
// CHECK-NEXT: %[[P:.*]] = arith.mulf %[[QE]], %[[KE]] : f32
// CHECK-NEXT: %[[SUM:.*]] = arith.addf %[[ACC]], %[[P]] : f32
// CHECK-NEXT: linalg.yield %[[SUM]] : f32
//
// Scale and bottom-right causal mask (Sq = Sk: j > i is masked).
// CHECK: %[[LOGITS:.*]] = linalg.generic {indexing_maps = [#[[ID5]], #[[ID5]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%[[SCORES]] :
// CHECK: ^bb0(%[[SE:[a-z0-9_]+]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[SCALED:.*]] = arith.mulf %[[SE]], %[[SCALE]] : f32
// CHECK-NEXT: %[[I:.*]] = linalg.index 3 : index
// CHECK-NEXT: %[[J:.*]] = linalg.index 4 : index
// CHECK-NEXT: %[[MASKED:.*]] = arith.cmpi sgt, %[[J]], %[[I]] : index
// CHECK-NEXT: %[[SEL:.*]] = arith.select %[[MASKED]], %[[NEGINF]], %[[SCALED]] : f32
// CHECK-NEXT: linalg.yield %[[SEL]] : f32
//
// Row max (from -inf), exp(logit - max), row sum, normalisation.
// CHECK: %[[MAXINIT:.*]] = linalg.fill ins(%[[NEGINF]] : f32) outs(%{{.*}} : tensor<2x2x2x16xf32>)
// CHECK: %[[MAX:.*]] = linalg.generic {indexing_maps = [#[[ID5]], #[[ROW]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[LOGITS]] : tensor<2x2x2x16x16xf32>) outs(%[[MAXINIT]] : tensor<2x2x2x16xf32>)
// CHECK: arith.maximumf
// CHECK: %[[EXP:.*]] = linalg.generic {indexing_maps = [#[[ID5]], #[[ROW]], #[[ID5]]], {{.*}} ins(%[[LOGITS]], %[[MAX]] :
// CHECK: arith.subf
// CHECK-NEXT: math.exp %{{.*}} : f32
// CHECK: %[[SUMINIT:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%{{.*}} : tensor<2x2x2x16xf32>)
// CHECK: %[[ROWSUM:.*]] = linalg.generic {indexing_maps = [#[[ID5]], #[[ROW]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[EXP]] : tensor<2x2x2x16x16xf32>) outs(%[[SUMINIT]] : tensor<2x2x2x16xf32>)
// CHECK: arith.addf
// CHECK: %[[PROBS:.*]] = linalg.generic {{.*}} ins(%[[EXP]], %[[ROWSUM]] :
// CHECK: arith.divf
//
// P V^, reduced over the keys.
// CHECK: %[[ACCINIT:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%{{.*}} : tensor<2x2x2x16x16xf32>)
// CHECK: %[[OUT5:.*]] = linalg.generic {indexing_maps = [#[[QMAP]], #[[VMAP]], #[[SMAP]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[PROBS]], %[[VH]] : tensor<2x2x2x16x16xf32>, tensor<2x2x16x16xf32>) outs(%[[ACCINIT]] : tensor<2x2x2x16x16xf32>)
// CHECK: arith.mulf
// CHECK-NEXT: arith.addf
//
// Heads collapsed back; f32 needs no rounding.
// CHECK-NOT: arith.truncf
// CHECK: %[[OUT:.*]] = tensor.collapse_shape %[[OUT5]] {{\[\[}}0], [1, 2], [3], [4]] : tensor<2x2x2x16x16xf32> into tensor<2x4x16x16xf32>
// CHECK-NEXT: return %[[OUT]] : tensor<2x4x16x16xf32>
func.func @attention_gqa_causal(%q: tensor<2x4x16x16xf32>, %k: tensor<2x2x16x16xf32>, %v: tensor<2x2x16x16xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<2x4x16x16xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
       : (tensor<2x4x16x16xf32>, tensor<2x2x16x16xf32>, tensor<2x2x16x16xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4x16x16xf32>
  return %o : tensor<2x4x16x16xf32>
}

// -----

// Not causal: no mask at all. An explicit scale replaces 1/sqrt(D) (D = 16
// would give 0.25). Hq = Hkv gives a group of one.
// CHECK-LABEL: func.func @attention_noncausal_scale(
// CHECK-SAME: %[[Q:[a-z0-9]+]]: tensor<1x2x8x16xf32>
// CHECK-DAG: %[[SCALE:.*]] = arith.constant 1.250000e-01 : f32
// CHECK-DAG: tensor.expand_shape %[[Q]] {{\[\[}}0], [1, 2], [3], [4]] output_shape [1, 2, 1, 8, 16] : tensor<1x2x8x16xf32> into tensor<1x2x1x8x16xf32>
// CHECK: %[[SCORES:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction"]
// CHECK: linalg.generic {{.*}} ins(%[[SCORES]] :
// CHECK-NEXT: ^bb0(%[[SE:[a-z0-9_]+]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[SCALED:.*]] = arith.mulf %[[SE]], %[[SCALE]] : f32
// CHECK-NEXT: linalg.yield %[[SCALED]] : f32
// CHECK-NOT: linalg.index
// CHECK-NOT: arith.cmpi
// CHECK: math.exp %{{.*}} : f32
// CHECK-NOT: linalg.index
// CHECK-NOT: arith.cmpi
// CHECK: tensor.collapse_shape %{{.*}} {{\[\[}}0], [1, 2], [3], [4]] : tensor<1x2x1x8x16xf32> into tensor<1x2x8x16xf32>
func.func @attention_noncausal_scale(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<1x2x8x16xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) scale = 0.125
       : (tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

// Decoding against a longer context: Sq = 4, Sk = 16, so query i sits at
// position 12 + i and key j is masked iff j > i + 12. Default scale with
// D = 64 is 0.125.
// CHECK-LABEL: func.func @attention_causal_decode(
// CHECK-DAG: %[[NEGINF:.*]] = arith.constant 0xFF800000 : f32
// CHECK-DAG: %[[C12:.*]] = arith.constant 12 : index
// CHECK-DAG: %[[SCALE:.*]] = arith.constant 1.250000e-01 : f32
// CHECK: tensor.expand_shape %{{.*}} {{\[\[}}0], [1, 2], [3], [4]] output_shape [1, 1, 4, 4, 64] : tensor<1x4x4x64xf32> into tensor<1x1x4x4x64xf32>
// CHECK: %[[SCORES:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x1x4x4x16xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[SCORES]] : tensor<1x1x4x4x16xf32>)
// CHECK-NEXT: ^bb0(%[[SE:[a-z0-9_]+]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[SCALED:.*]] = arith.mulf %[[SE]], %[[SCALE]] : f32
// CHECK-NEXT: %[[I:.*]] = linalg.index 3 : index
// CHECK-NEXT: %[[J:.*]] = linalg.index 4 : index
// CHECK-NEXT: %[[LAST:.*]] = arith.addi %[[I]], %[[C12]] : index
// CHECK-NEXT: %[[MASKED:.*]] = arith.cmpi sgt, %[[J]], %[[LAST]] : index
// CHECK-NEXT: arith.select %[[MASKED]], %[[NEGINF]], %[[SCALED]] : f32
// CHECK: math.exp %{{.*}} : f32
// CHECK: tensor.collapse_shape
func.func @attention_causal_decode(%q: tensor<1x4x4x64xf32>, %k: tensor<1x1x16x64xf32>, %v: tensor<1x1x16x64xf32>, %kw: tensor<1x2xf32>, %vw: tensor<1x2xf32>) -> tensor<1x4x4x64xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
       : (tensor<1x4x4x64xf32>, tensor<1x1x16x64xf32>, tensor<1x1x16x64xf32>, tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x4x4x64xf32>
  return %o : tensor<1x4x4x64xf32>
}

// -----

// Everything dynamic: the group size is Hq / Hkv at run time, q is reshaped
// through a shape tensor (tensor.reshape, not expand_shape), the scale is
// 1 / sqrt(D) computed at run time and the causal offset is Sk - Sq.
// CHECK-LABEL: func.func @attention_dynamic(
// CHECK-SAME: %[[Q:[a-z0-9]+]]: tensor<?x?x?x?xf32>, %[[K:[a-z0-9]+]]: tensor<?x?x?x?xf32>
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : index
// CHECK-DAG: %[[C3:.*]] = arith.constant 3 : index
// CHECK-NOT: tensor.expand_shape
// CHECK: %[[B:.*]] = tensor.dim %[[Q]], %[[C0]] : tensor<?x?x?x?xf32>
// CHECK: %[[HQ:.*]] = tensor.dim %[[Q]], %[[C1]] : tensor<?x?x?x?xf32>
// CHECK: %[[SQ:.*]] = tensor.dim %[[Q]], %[[C2]] : tensor<?x?x?x?xf32>
// CHECK: %[[D:.*]] = tensor.dim %[[Q]], %[[C3]] : tensor<?x?x?x?xf32>
// CHECK: %[[HKV:.*]] = tensor.dim %[[K]], %[[C1]] : tensor<?x?x?x?xf32>
// CHECK: %[[SK:.*]] = tensor.dim %[[K]], %[[C2]] : tensor<?x?x?x?xf32>
// CHECK: %[[G:.*]] = arith.divui %[[HQ]], %[[HKV]] : index
// CHECK: %[[SHAPE:.*]] = tensor.from_elements %[[B]], %[[HKV]], %[[G]], %[[SQ]], %[[D]] : tensor<5xindex>
// CHECK: %[[Q5:.*]] = tensor.reshape %[[Q]](%[[SHAPE]]) : (tensor<?x?x?x?xf32>, tensor<5xindex>) -> tensor<?x?x?x?x?xf32>
// CHECK: %[[DI:.*]] = arith.index_cast %[[D]] : index to i64
// CHECK: %[[DF:.*]] = arith.sitofp %[[DI]] : i64 to f32
// CHECK: %[[ROOT:.*]] = math.sqrt %[[DF]] : f32
// CHECK: %[[SCALE:.*]] = arith.divf %[[ONE]], %[[ROOT]] : f32
// CHECK: linalg.generic {{.*}} ins(%[[Q5]], %{{.*}} : tensor<?x?x?x?x?xf32>, tensor<?x?x?x?xf32>)
// CHECK: %[[OFFSET:.*]] = arith.subi %[[SK]], %[[SQ]] : index
// CHECK: linalg.generic
// CHECK: arith.mulf %{{.*}}, %[[SCALE]] : f32
// CHECK: %[[I:.*]] = linalg.index 3 : index
// CHECK: %[[J:.*]] = linalg.index 4 : index
// CHECK: %[[LAST:.*]] = arith.addi %[[I]], %[[OFFSET]] : index
// CHECK: arith.cmpi sgt, %[[J]], %[[LAST]] : index
// CHECK: math.exp %{{.*}} : f32
// CHECK: %[[OUT:.*]] = tensor.collapse_shape %{{.*}} {{\[\[}}0], [1, 2], [3], [4]] : tensor<?x?x?x?x?xf32> into tensor<?x?x?x?xf32>
// CHECK: return %[[OUT]]
func.func @attention_dynamic(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>, %kw: tensor<?x2xf32>, %vw: tensor<?x2xf32>) -> tensor<?x?x?x?xf32> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
       : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x?x?x?xf32>
  return %o : tensor<?x?x?x?xf32>
}

// -----

// Dynamic heads on one side only (Hq static, Hkv dynamic): still a reshape.
// CHECK-LABEL: func.func @attention_dynamic_kv_heads(
// CHECK-SAME: %[[Q:[a-z0-9]+]]: tensor<1x4x8x16xf16>
// CHECK-NOT: tensor.expand_shape
// CHECK: arith.divui
// CHECK: tensor.reshape %[[Q]](%{{.*}}) : (tensor<1x4x8x16xf16>, tensor<5xindex>) -> tensor<1x?x?x8x16xf16>
// CHECK-NOT: math.sqrt
// CHECK: tensor.collapse_shape %{{.*}} {{\[\[}}0], [1, 2], [3], [4]] : tensor<1x?x?x8x16xf16> into tensor<1x?x8x16xf16>
// CHECK: %[[CAST:.*]] = tensor.cast %{{.*}} : tensor<1x?x8x16xf16> to tensor<1x4x8x16xf16>
// CHECK: return %[[CAST]]
func.func @attention_dynamic_kv_heads(%q: tensor<1x4x8x16xf16>, %k: tensor<1x?x8x16xf16>, %v: tensor<1x?x8x16xf16>, %kw: tensor<?x2xf32>, %vw: tensor<?x2xf32>) -> tensor<1x4x8x16xf16> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw)
       : (tensor<1x4x8x16xf16>, tensor<1x?x8x16xf16>, tensor<1x?x8x16xf16>, tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<1x4x8x16xf16>
  return %o : tensor<1x4x8x16xf16>
}

// -----

// bf16 with static heads (GQA 6 on 2) and dynamic B, S, D: expand_shape with
// runtime sizes, K^/V^ materialised in f32, q extended in the score loop, a
// runtime sqrt for the scale, and one rounding to bf16 at the end.
// CHECK-LABEL: func.func @attention_bf16(
// CHECK-SAME: %[[Q:[a-z0-9]+]]: tensor<?x6x?x?xbf16>, %[[K:[a-z0-9]+]]: tensor<?x2x?x?xbf16>, %[[V:[a-z0-9]+]]: tensor<?x2x?x?xbf16>
// CHECK: %[[KH:.*]] = linalg.generic {{.*}} ins(%[[K]], %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x2x?x?xbf16>, tensor<?x2x?x?xbf16>, tensor<2xf32>, tensor<2xf32>) outs(%{{.*}} : tensor<?x2x?x?xf32>)
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK-NOT: arith.truncf
// CHECK: } -> tensor<?x2x?x?xf32>
// CHECK: %[[VH:.*]] = linalg.generic {{.*}} ins(%[[V]], %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x2x?x?xbf16>, tensor<?x2x?x?xbf16>, tensor<2xf32>, tensor<2xf32>) outs(%{{.*}} : tensor<?x2x?x?xf32>)
// CHECK-NOT: arith.truncf
// CHECK: } -> tensor<?x2x?x?xf32>
// CHECK-DAG: %[[B:.*]] = tensor.dim %[[Q]], %{{.*}} : tensor<?x6x?x?xbf16>
// CHECK-DAG: %[[SQ:.*]] = tensor.dim %[[Q]], %{{.*}} : tensor<?x6x?x?xbf16>
// CHECK-DAG: %[[D:.*]] = tensor.dim %[[Q]], %{{.*}} : tensor<?x6x?x?xbf16>
// CHECK: %[[Q5:.*]] = tensor.expand_shape %[[Q]] {{\[\[}}0], [1, 2], [3], [4]] output_shape [%[[B]], 2, 3, %[[SQ]], %[[D]]] : tensor<?x6x?x?xbf16> into tensor<?x2x3x?x?xbf16>
// CHECK: math.sqrt
// CHECK: linalg.generic {{.*}} ins(%[[Q5]], %[[KH]] : tensor<?x2x3x?x?xbf16>, tensor<?x2x?x?xf32>) outs(%{{.*}} : tensor<?x2x3x?x?xf32>)
// CHECK-NEXT: ^bb0(%[[QE:[a-z0-9_]+]]: bf16, %[[KE:[a-z0-9_]+]]: f32, %[[ACC:[a-z0-9_]+]]: f32):
// CHECK-NEXT: %[[QF:.*]] = arith.extf %[[QE]] : bf16 to f32
// CHECK-NEXT: arith.mulf %[[QF]], %[[KE]] : f32
// CHECK-NOT: linalg.index
// CHECK: math.exp %{{.*}} : f32
// CHECK: %[[ACC5:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %[[VH]] : tensor<?x2x3x?x?xf32>, tensor<?x2x?x?xf32>) outs(%{{.*}} : tensor<?x2x3x?x?xf32>)
// CHECK: %[[ROUND:.*]] = linalg.generic {{.*}} ins(%[[ACC5]] : tensor<?x2x3x?x?xf32>) outs(%{{.*}} : tensor<?x2x3x?x?xbf16>)
// CHECK-NEXT: ^bb0(%[[AE:[a-z0-9_]+]]: f32, %{{.*}}: bf16):
// CHECK-NEXT: %[[T:.*]] = arith.truncf %[[AE]] : f32 to bf16
// CHECK-NEXT: linalg.yield %[[T]] : bf16
// CHECK: %[[OUT:.*]] = tensor.collapse_shape %[[ROUND]] {{\[\[}}0], [1, 2], [3], [4]] : tensor<?x2x3x?x?xbf16> into tensor<?x6x?x?xbf16>
// CHECK: return %[[OUT]] : tensor<?x6x?x?xbf16>
func.func @attention_bf16(%q: tensor<?x6x?x?xbf16>, %k: tensor<?x2x?x?xbf16>, %v: tensor<?x2x?x?xbf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<?x6x?x?xbf16> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw)
       : (tensor<?x6x?x?xbf16>, tensor<?x2x?x?xbf16>, tensor<?x2x?x?xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<?x6x?x?xbf16>
  return %o : tensor<?x6x?x?xbf16>
}

// -----

// f16 with a static D = 64 and a dynamic sequence: the default scale is a
// constant (0.125), not a runtime sqrt.
// CHECK-LABEL: func.func @attention_f16_static_d(
// CHECK-DAG: arith.constant 1.250000e-01 : f32
// CHECK-NOT: math.sqrt
// CHECK: arith.extf %{{.*}} : f16 to f32
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: tensor.collapse_shape %{{.*}} : tensor<1x8x1x?x64xf16> into tensor<1x8x?x64xf16>
func.func @attention_f16_static_d(%q: tensor<1x8x?x64xf16>, %k: tensor<1x8x?x64xf16>, %v: tensor<1x8x?x64xf16>, %kw: tensor<8x2xf32>, %vw: tensor<8x2xf32>) -> tensor<1x8x?x64xf16> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
       : (tensor<1x8x?x64xf16>, tensor<1x8x?x64xf16>, tensor<1x8x?x64xf16>, tensor<8x2xf32>, tensor<8x2xf32>) -> tensor<1x8x?x64xf16>
  return %o : tensor<1x8x?x64xf16>
}

// -----

// Ops of other dialects are left alone, and a function without kvshift ops is
// unchanged.
// CHECK-LABEL: func.func @untouched(
// CHECK-NEXT: arith.addf
// CHECK-NEXT: return
func.func @untouched(%a: f32) -> f32 {
  %0 = arith.addf %a, %a : f32
  return %0 : f32
}
