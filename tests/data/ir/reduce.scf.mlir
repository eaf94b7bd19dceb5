module {
  func.func @row_sum(%in: memref<128x256xf32>, %out: memref<128xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c128 = arith.constant 128 : index
    %c256 = arith.constant 256 : index
    %zero = arith.constant 0.0 : f32
    scf.for %i = %c0 to %c128 step %c1 {
      %sum = scf.for %j = %c0 to %c256 step %c1 iter_args(%acc = %zero) -> (f32) {
        %v = memref.load %in[%i, %j] : memref<128x256xf32>
        %e = math.exp %v : f32
        %n = arith.addf %acc, %e : f32
        scf.yield %n : f32
      }
      memref.store %sum, %out[%i] : memref<128xf32>
    }
    return
  }
}
