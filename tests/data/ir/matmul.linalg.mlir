// linalg on tensors, pretty form (upstream MLIR)
#map = affine_map<(d0, d1, d2) -> (d0, d2)>
#map1 = affine_map<(d0, d1, d2) -> (d2, d1)>
#map2 = affine_map<(d0, d1, d2) -> (d0, d1)>
module {
  func.func @matmul(%arg0: tensor<256x512xf16>, %arg1: tensor<512x128xf16>) -> tensor<256x128xf32> {
    %cst = arith.constant 0.000000e+00 : f32
    %0 = tensor.empty() : tensor<256x128xf32>
    %1 = linalg.fill ins(%cst : f32) outs(%0 : tensor<256x128xf32>) -> tensor<256x128xf32>
    %2 = linalg.matmul ins(%arg0, %arg1 : tensor<256x512xf16>, tensor<512x128xf16>) outs(%1 : tensor<256x128xf32>) -> tensor<256x128xf32>
    %3 = linalg.generic {indexing_maps = [#map2, #map2], iterator_types = ["parallel", "parallel"]} ins(%2 : tensor<256x128xf32>) outs(%0 : tensor<256x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      %4 = arith.maximumf %in, %cst : f32
      linalg.yield %4 : f32
    } -> tensor<256x128xf32>
    return %3 : tensor<256x128xf32>
  }
}
