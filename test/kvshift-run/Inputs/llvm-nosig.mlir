llvm.func @f(%a: !llvm.ptr, %b: !llvm.ptr, %c: i64) {
  llvm.return
}
