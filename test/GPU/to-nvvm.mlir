// RUN: kvshift-opt %s --kvshift-to-nvvm="chip=sm_90a" | FileCheck %s
// RUN: kvshift-opt %s --kvshift-to-nvvm | FileCheck %s --check-prefix=SM80
// RUN: kvshift-opt %s --kvshift-to-nvvm | mlir-translate --mlir-to-llvmir | FileCheck %s --check-prefix=LLVMIR

// Host code in the LLVM dialect: the tensor signature is recorded, the
// buffers go through the mgpu* runtime functions on three streams (copies
// in, launch, copies out), the launch goes to the embedded kernel.
// CHECK-LABEL: llvm.func @attn
// CHECK-SAME: kvshift.signature = (tensor<2x8x100x64xbf16>, tensor<2x2x100x64xbf16>, tensor<2x2x100x64xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x8x100x64xbf16>
// CHECK: llvm.call @kvshift_launch_kv_shift_attention_d64_bf16_causal(
// The kernel is embedded as PTX for sm_90a (format=isa), with bf16 tensor
// core MMAs, ldmatrix (plain and transposed) and shared memory.
// CHECK: gpu.binary @kvshift_kernels  [#gpu.object<#nvvm.target<chip = "sm_90a", features = "+ptx80">
// CHECK-SAME: .target sm_90a
// CHECK-SAME: .visible .entry kv_shift_attention_d64_bf16_causal
// CHECK-SAME: .shared .align 16 .b8
// CHECK-SAME: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// CHECK-SAME: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// CHECK-SAME: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// CHECK: llvm.func @kvshift_launch_kv_shift_attention_d64_bf16_causal
// CHECK: llvm.call @mgpuStreamCreate()
// CHECK: llvm.call @mgpuMemAlloc(
// CHECK: llvm.call @mgpuMemcpy(
// CHECK: llvm.call @mgpuStreamSynchronize(
// CHECK: llvm.call @mgpuStreamDestroy(
// CHECK: llvm.call @mgpuStreamCreate()
// Grid: ceil(100 / 64) = 2 query tiles x 8 heads x 2 batches; 128 threads.
// CHECK: gpu.launch_func <%{{.*}} : !llvm.ptr> @kvshift_kernels::@kv_shift_attention_d64_bf16_causal blocks in (%[[TWO:.*]], %[[EIGHT:.*]], %[[TWO]]) threads in (%{{.*}}, %{{.*}}, %{{.*}}) : i64
// CHECK: llvm.call @mgpuMemcpy(
// CHECK: llvm.call @mgpuMemFree(
// SM80: #nvvm.target<chip = "sm_80", features = "+ptx80">
// SM80-SAME: .target sm_80

// The PTX is loaded by a global constructor through mgpuModuleLoadJIT;
// the launch passes 35 kernel parameters (6 flat memref descriptors of 5
// words, 5 sizes).
// LLVMIR: @kvshift_kernels_binary = internal constant
// LLVMIR: @llvm.global_ctors = appending global {{.*}} @kvshift_kernels_load
// LLVMIR: call ptr @mgpuModuleGetFunction(
// LLVMIR: call void @mgpuLaunchKernel(ptr %{{.*}}, i64 2, i64 8, i64 2, i64 128, i64 1, i64 1, i32 0, ptr %{{.*}}, ptr %{{.*}}, ptr null, i64 35)
// LLVMIR: define internal void @kvshift_kernels_load()
// LLVMIR: call ptr @mgpuModuleLoadJIT(ptr @kvshift_kernels_binary
func.func @attn(%q: tensor<2x8x100x64xbf16>, %k: tensor<2x2x100x64xbf16>, %v: tensor<2x2x100x64xbf16>, %kw: tensor<2x2xf32>, %vw: tensor<2x2xf32>) -> tensor<2x8x100x64xbf16> {
  %o = kvshift.kv_shift_attention %q, %k, %v mix(%kw, %vw) causal
      : (tensor<2x8x100x64xbf16>, tensor<2x2x100x64xbf16>, tensor<2x2x100x64xbf16>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x8x100x64xbf16>
  return %o : tensor<2x8x100x64xbf16>
}
