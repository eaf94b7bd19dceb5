module {
  func.func @matmul(%A: memref<64x32xf32>, %B: memref<32x16xf32>, %C: memref<64x16xf32>) {
    affine.for %i = 0 to 64 {
      affine.for %j = 0 to 16 {
        affine.for %k = 0 to 32 step 4 {
          %a = affine.load %A[%i, %k] : memref<64x32xf32>
          %b = affine.load %B[%k, %j] : memref<32x16xf32>
          %c = affine.load %C[%i, %j] : memref<64x16xf32>
          %p = arith.mulf %a, %b : f32
          %s = arith.addf %c, %p : f32
          affine.store %s, %C[%i, %j] : memref<64x16xf32>
        }
      }
    }
    return
  }
}
