// RUN: kvshift-opt %s --kvshift-strided-copy-to-linalg --split-input-file | FileCheck %s

// A copy into a strided subview becomes linalg.copy.
// CHECK-LABEL: func.func @into_subview
// CHECK-SAME: (%[[A:.*]]: memref<4x8xf32>, %[[B:.*]]: memref<5x9xf32>)
// CHECK: %[[SUB:.*]] = memref.subview %[[B]]
// CHECK-NOT: memref.copy
// CHECK: linalg.copy ins(%[[A]] : memref<4x8xf32>) outs(%[[SUB]] : memref<4x8xf32, strided<[9, 1], offset: 10>>)
func.func @into_subview(%a: memref<4x8xf32>, %b: memref<5x9xf32>) {
  %sub = memref.subview %b[1, 1] [4, 8] [1, 1] : memref<5x9xf32> to memref<4x8xf32, strided<[9, 1], offset: 10>>
  memref.copy %a, %sub : memref<4x8xf32> to memref<4x8xf32, strided<[9, 1], offset: 10>>
  return
}

// -----

// A copy from a strided source, with dynamic sizes, too.
// CHECK-LABEL: func.func @from_strided
// CHECK: linalg.copy ins(%{{.*}} : memref<?x?xf32, strided<[?, 1], offset: ?>>) outs(%{{.*}} : memref<?x?xf32>)
func.func @from_strided(%a: memref<?x?xf32, strided<[?, 1], offset: ?>>, %b: memref<?x?xf32>) {
  memref.copy %a, %b : memref<?x?xf32, strided<[?, 1], offset: ?>> to memref<?x?xf32>
  return
}

// -----

// Copies between identity layouts stay memref.copy (they become llvm.memcpy).
// CHECK-LABEL: func.func @contiguous
// CHECK: memref.copy
// CHECK-NOT: linalg.copy
func.func @contiguous(%a: memref<4x8xf32>, %b: memref<4x8xf32>) {
  memref.copy %a, %b : memref<4x8xf32> to memref<4x8xf32>
  return
}
