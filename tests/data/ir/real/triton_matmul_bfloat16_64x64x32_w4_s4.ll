; ModuleID = 'LLVMDialectModule'
source_filename = "LLVMDialectModule"
target datalayout = "e-p3:32:32-p4:32:32-p5:32:32-p6:32:32-p7:32:32-i64:64-i128:128-i256:256-v16:16-v32:32-n16:32:64"

@global_smem = external addrspace(3) global [0 x i8], align 16

; Function Attrs: nounwind
define ptx_kernel void @matmul_kernel(ptr addrspace(1) %0, ptr addrspace(1) %1, ptr addrspace(1) %2, i32 %3, i32 %4, i32 %5, i32 %6, i32 %7, i32 %8, ptr addrspace(1) readnone captures(none) %9, ptr addrspace(1) readnone captures(none) %10) local_unnamed_addr #0 !dbg !4 {
  %12 = tail call i32 @llvm.nvvm.read.ptx.sreg.ctaid.x(), !dbg !7
  %13 = add i32 %3, 63, !dbg !8
  %14 = sdiv i32 %13, 64, !dbg !13
  %15 = add i32 %4, 63, !dbg !14
  %16 = sdiv i32 %15, 64, !dbg !16
  %17 = shl nsw i32 %16, 3, !dbg !17
  %.frozen = freeze i32 %17, !dbg !18
  %18 = sdiv i32 %12, %.frozen, !dbg !18
  %19 = shl i32 %18, 3, !dbg !19
  %20 = sub i32 %14, %19, !dbg !20
  %21 = tail call i32 @llvm.smin.i32(i32 %20, i32 8), !dbg !21
  %22 = mul i32 %18, %.frozen, !dbg !22
  %.decomposed = sub i32 %12, %22, !dbg !22
  %.frozen165 = freeze i32 %21, !dbg !23
  %23 = sdiv i32 %.decomposed, %.frozen165, !dbg !23
  %24 = mul i32 %23, %.frozen165, !dbg !24
  %.decomposed166 = sub i32 %.decomposed, %24, !dbg !24
  %25 = add i32 %.decomposed166, %19, !dbg !25
  %26 = shl i32 %25, 6, !dbg !26
  %27 = tail call i32 @llvm.nvvm.read.ptx.sreg.tid.x(), !dbg !27
  %28 = lshr i32 %27, 2, !dbg !27
  %29 = and i32 %28, 31, !dbg !27
  %30 = lshr i32 %27, 3, !dbg !27
  %31 = and i32 %30, 15, !dbg !27
  %32 = or disjoint i32 %31, 16, !dbg !27
  %33 = shl nuw nsw i32 %27, 3, !dbg !27
  %34 = and i32 %33, 56, !dbg !27
  %35 = or disjoint i32 %26, %29, !dbg !28
  %36 = or disjoint i32 %35, 32, !dbg !28
  %37 = srem i32 %35, %3, !dbg !29
  %38 = srem i32 %36, %3, !dbg !29
  %39 = shl i32 %23, 6, !dbg !30
  %40 = or disjoint i32 %39, %34, !dbg !31
  %41 = srem i32 %40, %4, !dbg !32
  %42 = mul i32 %37, %6, !dbg !33
  %43 = mul i32 %38, %6, !dbg !33
  %44 = sext i32 %42 to i64, !dbg !34
  %45 = getelementptr bfloat, ptr addrspace(1) %0, i64 %44, !dbg !34
  %46 = sext i32 %43 to i64, !dbg !34
  %47 = getelementptr bfloat, ptr addrspace(1) %0, i64 %46, !dbg !34
  %48 = and i32 %33, 24, !dbg !35
  %49 = zext nneg i32 %48 to i64, !dbg !36
  %50 = getelementptr bfloat, ptr addrspace(1) %45, i64 %49, !dbg !36
  %51 = getelementptr bfloat, ptr addrspace(1) %47, i64 %49, !dbg !36
  %52 = mul i32 %7, %31, !dbg !37
  %53 = mul i32 %7, %32, !dbg !37
  %54 = sext i32 %52 to i64, !dbg !38
  %55 = getelementptr bfloat, ptr addrspace(1) %1, i64 %54, !dbg !38
  %56 = sext i32 %53 to i64, !dbg !38
  %57 = getelementptr bfloat, ptr addrspace(1) %1, i64 %56, !dbg !38
  %58 = sext i32 %41 to i64, !dbg !39
  %59 = getelementptr bfloat, ptr addrspace(1) %55, i64 %58, !dbg !39
  %60 = getelementptr bfloat, ptr addrspace(1) %57, i64 %58, !dbg !39
  %61 = add i32 %5, 31, !dbg !40
  %62 = sdiv i32 %61, 32, !dbg !42
  %63 = shl i32 %7, 5, !dbg !43
  %64 = icmp sgt i32 %61, 31, !dbg !44
  %65 = icmp slt i32 %48, %5, !dbg !45
  %66 = and i1 %65, %64, !dbg !44
  %67 = shl nuw nsw i32 %27, 4, !dbg !46
  %68 = and i32 %67, 2032, !dbg !46
  %69 = shl nuw nsw i32 %27, 1, !dbg !46
  %70 = and i32 %69, 48, !dbg !46
  %71 = xor i32 %68, %70, !dbg !46
  %72 = getelementptr inbounds nuw i8, ptr addrspace(3) @global_smem, i32 %71, !dbg !46
  %73 = select i1 %66, i32 16, i32 0, !dbg !46
  tail call void asm sideeffect "cp.async.cg.shared.global [ $0 + 0 ], [ $1 + 0 ], 0x10, $2;", "r,l,r"(ptr addrspace(3) %72, ptr addrspace(1) %50, i32 %73) #2, !dbg !46
  %74 = or disjoint i32 %71, 2048, !dbg !46
  %75 = getelementptr inbounds nuw i8, ptr addrspace(3) @global_smem, i32 %74, !dbg !46
  tail call void asm sideeffect "cp.async.cg.shared.global [ $0 + 0 ], [ $1 + 0 ], 0x10, $2;", "r,l,r"(ptr addrspace(3) nonnull %75, ptr addrspace(1) %51, i32 %73) #2, !dbg !46
  tail call void @llvm.nvvm.cp.async.commit.group(), !dbg !46
  %76 = icmp slt i32 %31, %5, !dbg !47
  %77 = icmp slt i32 %32, %5, !dbg !47
  %78 = and i1 %76, %64, !dbg !44
  %79 = and i1 %77, %64, !dbg !44
  %80 = and i32 %69, 112, !dbg !48
  %81 = xor i32 %68, %80, !dbg !48
  %82 = getelementptr inbounds nuw i8, ptr addrspace(3) getelementptr (i8, ptr addrspace(3) @global_smem, i32 16384), i32 %81, !dbg !48
  %83 = select i1 %78, i32 16, i32 0, !dbg !48
  tail call void asm sideeffect "cp.async.cg.shared.global [ $0 + 0 ], [ $1 + 0 ], 0x10, $2;", "r,l,r"(ptr addrspace(3) %82, ptr addrspace(1) %59, i32 %83) #2, !dbg !48
  %84 = or disjoint i32 %81, 2048, !dbg !48
  %85 = getelementptr inbounds nuw i8, ptr addrspace(3) getelementptr (i8, ptr addrspace(3) @global_smem, i32 16384), i32 %84, !dbg !48
  %86 = select i1 %79, i32 16, i32 0, !dbg !48
  tail call void asm sideeffect "cp.async.cg.shared.global [ $0 + 0 ], [ $1 + 0 ], 0x10, $2;", "r,l,r"(ptr addrspace(3) nonnull %85, ptr addrspace(1) %60, i32 %86) #2, !dbg !48
  tail call void @llvm.nvvm.cp.async.commit.group(), !dbg !48
  %87 = icmp sgt i32 %61, 63, !dbg !44
  %88 = getelementptr i8, ptr addrspace(1) %50, i64 64, !dbg !49
  %89 = getelementptr i8, ptr addrspace(1) %51, i64 64, !dbg !49
  %90 = sext i32 %63 to i64, !dbg !50
  %91 = getelementptr bfloat, ptr addrspace(1) %59, i64 %90, !dbg !50
  %92 = getelementptr bfloat, ptr addrspace(1) %60, i64 %90, !dbg !50
  %93 = add i32 %5, -32, !dbg !51
  %94 = icmp slt i32 %48, %93, !dbg !45
  %95 = and i1 %87, %94, !dbg !44
  tail call void @llvm.nvvm.barrier.cta.sync.aligned.all(i32 0), !dbg !46
  %96 = getelementptr inbounds nuw i8, ptr addrspace(3) getelementptr (i8, ptr addrspace(3) @global_smem, i32 4096), i32 %71, !dbg !46
  %97 = select i1 %95, i32 16, i32 0, !dbg !46
  tail call void asm sideeffect "cp.async.cg.shared.global [ $0 + 0 ], [ $1 + 0 ], 0x10, $2;", "r,l,r"(ptr addrspace(3) %96, ptr addrspace(1) %88, i32 %97) #2, !dbg !46
  %98 = getelementptr inbounds nuw i8, ptr addrspace(3) getelementptr (i8, ptr addrspace(3) @global_smem, i32 4096), i32 %74, !dbg !46
  tail call void asm sideeffect "cp.async.cg.shared.global [ $0 + 0 ], [ $1 + 0 ], 0x10, $2;", "r,l,r"(ptr addrspace(3) nonnull %98, ptr addrspace(1) %89, i32 %97) #2, !dbg !46
  tail call void @llvm.nvvm.cp.async.commit.group(), !dbg !46
  %99 = icmp slt i32 %31, %93, !dbg !47
  %100 = icmp slt i32 %32, %93, !dbg !47
  %101 = and i1 %87, %99, !dbg !44
  %102 = and i1 %87, %100, !dbg !44
  %103 = getelementptr inbounds nuw i8, ptr addrspace(3) getelementptr (i8, ptr addrspace(3) @global_smem, i32 20480), i32 %81, !dbg !48
  %104 = select i1 %101, i32 16, i32 0, !dbg !48
  tail call void asm sideeffect "cp.async.cg.shared.global [ $0 + 0 ], [ $1 + 0 ], 0x10, $2;", "r,l,r"(ptr addrspace(3) %103, ptr addrspace(1) %91, i32 %104) #2, !dbg !48
  %105 = getelementptr inbounds nuw i8, ptr addrspace(3) getelementptr (i8, ptr addrspace(3) @global_smem, i32 20480), i32 %84, !dbg !48
  %106 = select i1 %102, i32 16, i32 0, !dbg !48
  tail call void asm sideeffect "cp.async.cg.shared.global [ $0 + 0 ], [ $1 + 0 ], 0x10, $2;", "r,l,r"(ptr addrspace(3) nonnull %105, ptr addrspace(1) %92, i32 %106) #2, !dbg !48
  tail call void @llvm.nvvm.cp.async.commit.group(), !dbg !48
  %107 = icmp sgt i32 %61, 95, !dbg !44
  %108 = getelementptr i8, ptr addrspace(1) %50, i64 128, !dbg !49
  %109 = getelementptr i8, ptr addrspace(1) %51, i64 128, !dbg !49
  %110 = getelementptr bfloat, ptr addrspace(1) %91, i64 %90, !dbg !50
  %111 = getelementptr bfloat, ptr addrspace(1) %92, i64 %90, !dbg !50
  %112 = add i32 %5, -64, !dbg !51
  %113 = icmp slt i32 %48, %112, !dbg !45
  %114 = and i1 %107, %113, !dbg !44
  tail call void @llvm.nvvm.barrier.cta.sync.aligned.all(i32 0), !dbg !46
  %115 = getelementptr inbounds nuw i8, ptr addrspace(3) getelementptr (i8, ptr addrspace(3) @global_smem, i32 8192), i32 %71, !dbg !46
  %116 = select i1 %114, i32 16, i32 0, !dbg !46
  tail call void asm sideeffect "cp.async.cg.shared.global [ $0 + 0 ], [ $1 + 0 ], 0x10, $2;", "r,l,r"(ptr addrspace(3) %115, ptr addrspace(1) %108, i32 %116) #2, !dbg !46
  %117 = getelementptr inbounds nuw i8, ptr addrspace(3) getelementptr (i8, ptr addrspace(3) @global_smem, i32 8192), i32 %74, !dbg !46
  tail call void asm sideeffect "cp.async.cg.shared.global [ $0 + 0 ], [ $1 + 0 ], 0x10, $2;", "r,l,r"(ptr addrspace(3) nonnull %117, ptr addrspace(1) %109, i32 %116) #2, !dbg !46
  tail call void @llvm.nvvm.cp.async.commit.group(), !dbg !46
  %118 = icmp slt i32 %31, %112, !dbg !47
  %119 = icmp slt i32 %32, %112, !dbg !47
  %120 = and i1 %107, %118, !dbg !44
  %121 = and i1 %107, %119, !dbg !44
  %122 = getelementptr inbounds nuw i8, ptr addrspace(3) getelementptr (i8, ptr addrspace(3) @global_smem, i32 24576), i32 %81, !dbg !48
  %123 = select i1 %120, i32 16, i32 0, !dbg !48
  tail call void asm sideeffect "cp.async.cg.shared.global [ $0 + 0 ], [ $1 + 0 ], 0x10, $2;", "r,l,r"(ptr addrspace(3) %122, ptr addrspace(1) %110, i32 %123) #2, !dbg !48
  %124 = getelementptr inbounds nuw i8, ptr addrspace(3) getelementptr (i8, ptr addrspace(3) @global_smem, i32 24576), i32 %84, !dbg !48
  %125 = select i1 %121, i32 16, i32 0, !dbg !48
  tail call void asm sideeffect "cp.async.cg.shared.global [ $0 + 0 ], [ $1 + 0 ], 0x10, $2;", "r,l,r"(ptr addrspace(3) nonnull %124, ptr addrspace(1) %111, i32 %125) #2, !dbg !48
  tail call void @llvm.nvvm.cp.async.commit.group(), !dbg !48
  br i1 %64, label %.lr.ph, label %._crit_edge, !dbg !44

.lr.ph:                                           ; preds = %11
  %126 = add nsw i32 %62, -3
  %.neg65 = add nsw i32 %5, -96
  br label %127, !dbg !44

127:                                              ; preds = %.lr.ph, %127
  %128 = phi i32 [ -1, %.lr.ph ], [ %166, %127 ]
  %129 = phi i32 [ 2, %.lr.ph ], [ %287, %127 ]
  %.pn4869 = phi ptr addrspace(1) [ %111, %.lr.ph ], [ %284, %127 ]
  %.pn6468 = phi ptr addrspace(1) [ %110, %.lr.ph ], [ %283, %127 ]
  %.pn1667 = phi ptr addrspace(1) [ %109, %.lr.ph ], [ %282, %127 ]
  %.pn3266 = phi ptr addrspace(1) [ %108, %.lr.ph ], [ %281, %127 ]
  %130 = phi float [ 0.000000e+00, %.lr.ph ], [ %249, %127 ]
  %131 = phi float [ 0.000000e+00, %.lr.ph ], [ %250, %127 ]
  %132 = phi float [ 0.000000e+00, %.lr.ph ], [ %251, %127 ]
  %133 = phi float [ 0.000000e+00, %.lr.ph ], [ %252, %127 ]
  %134 = phi float [ 0.000000e+00, %.lr.ph ], [ %253, %127 ]
  %135 = phi float [ 0.000000e+00, %.lr.ph ], [ %254, %127 ]
  %136 = phi float [ 0.000000e+00, %.lr.ph ], [ %255, %127 ]
  %137 = phi float [ 0.000000e+00, %.lr.ph ], [ %256, %127 ]
  %138 = phi float [ 0.000000e+00, %.lr.ph ], [ %257, %127 ]
  %139 = phi float [ 0.000000e+00, %.lr.ph ], [ %258, %127 ]
  %140 = phi float [ 0.000000e+00, %.lr.ph ], [ %259, %127 ]
  %141 = phi float [ 0.000000e+00, %.lr.ph ], [ %260, %127 ]
  %142 = phi float [ 0.000000e+00, %.lr.ph ], [ %261, %127 ]
  %143 = phi float [ 0.000000e+00, %.lr.ph ], [ %262, %127 ]
  %144 = phi float [ 0.000000e+00, %.lr.ph ], [ %263, %127 ]
  %145 = phi float [ 0.000000e+00, %.lr.ph ], [ %264, %127 ]
  %146 = phi float [ 0.000000e+00, %.lr.ph ], [ %265, %127 ]
  %147 = phi float [ 0.000000e+00, %.lr.ph ], [ %266, %127 ]
  %148 = phi float [ 0.000000e+00, %.lr.ph ], [ %267, %127 ]
  %149 = phi float [ 0.000000e+00, %.lr.ph ], [ %268, %127 ]
  %150 = phi float [ 0.000000e+00, %.lr.ph ], [ %269, %127 ]
  %151 = phi float [ 0.000000e+00, %.lr.ph ], [ %270, %127 ]
  %152 = phi float [ 0.000000e+00, %.lr.ph ], [ %271, %127 ]
  %153 = phi float [ 0.000000e+00, %.lr.ph ], [ %272, %127 ]
  %154 = phi float [ 0.000000e+00, %.lr.ph ], [ %273, %127 ]
  %155 = phi float [ 0.000000e+00, %.lr.ph ], [ %274, %127 ]
  %156 = phi float [ 0.000000e+00, %.lr.ph ], [ %275, %127 ]
  %157 = phi float [ 0.000000e+00, %.lr.ph ], [ %276, %127 ]
  %158 = phi float [ 0.000000e+00, %.lr.ph ], [ %277, %127 ]
  %159 = phi float [ 0.000000e+00, %.lr.ph ], [ %278, %127 ]
  %160 = phi float [ 0.000000e+00, %.lr.ph ], [ %279, %127 ]
  %161 = phi float [ 0.000000e+00, %.lr.ph ], [ %280, %127 ]
  %162 = phi i32 [ 0, %.lr.ph ], [ %306, %127 ]
  %163 = icmp slt i32 %162, %126, !dbg !44
  %164 = add i32 %128, 1, !dbg !44
  %165 = icmp sgt i32 %164, 3, !dbg !44
  %166 = select i1 %165, i32 0, i32 %164, !dbg !44
  tail call void @llvm.nvvm.cp.async.wait.group(i32 4), !dbg !46
  tail call void @llvm.nvvm.barrier.cta.sync.aligned.all(i32 0), !dbg !46
  %167 = shl i32 %166, 11, !dbg !46
  %168 = getelementptr bfloat, ptr addrspace(3) @global_smem, i32 %167, !dbg !46
  %169 = getelementptr bfloat, ptr addrspace(3) getelementptr (i8, ptr addrspace(3) @global_smem, i32 16384), i32 %167, !dbg !48
  %170 = ptrtoint ptr addrspace(3) %168 to i32, !dbg !52
  %171 = lshr exact i32 %170, 4, !dbg !52
  %172 = and i32 %171, 16383, !dbg !52
  %173 = zext nneg i32 %172 to i64, !dbg !52
  %174 = ptrtoint ptr addrspace(3) %169 to i32, !dbg !52
  %175 = lshr exact i32 %174, 4, !dbg !52
  %176 = and i32 %175, 16383, !dbg !52
  %177 = zext nneg i32 %176 to i64, !dbg !52
  tail call void @llvm.nvvm.wgmma.fence.sync.aligned(), !dbg !52
  %178 = or disjoint i64 %173, -9223371899415822336, !dbg !52
  %179 = or disjoint i64 %177, 4611686293305294848, !dbg !52
  %180 = tail call { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } asm sideeffect "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {$0,$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27,$28,$29,$30,$31}, $64, $65, $66, 1, 1, 0, 1;", "=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,l,l,b"(float %130, float %131, float %132, float %133, float %134, float %135, float %136, float %137, float %138, float %139, float %140, float %141, float %142, float %143, float %144, float %145, float %146, float %147, float %148, float %149, float %150, float %151, float %152, float %153, float %154, float %155, float %156, float %157, float %158, float %159, float %160, float %161, i64 %178, i64 %179, i1 true) #2, !dbg !52
  %181 = add nuw nsw i64 %173, -9223371899415822334, !dbg !52
  %182 = add nuw nsw i64 %177, 4611686293305294976, !dbg !52
  %183 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 0, !dbg !52
  %184 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 1, !dbg !52
  %185 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 2, !dbg !52
  %186 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 3, !dbg !52
  %187 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 4, !dbg !52
  %188 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 5, !dbg !52
  %189 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 6, !dbg !52
  %190 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 7, !dbg !52
  %191 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 8, !dbg !52
  %192 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 9, !dbg !52
  %193 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 10, !dbg !52
  %194 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 11, !dbg !52
  %195 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 12, !dbg !52
  %196 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 13, !dbg !52
  %197 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 14, !dbg !52
  %198 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 15, !dbg !52
  %199 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 16, !dbg !52
  %200 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 17, !dbg !52
  %201 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 18, !dbg !52
  %202 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 19, !dbg !52
  %203 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 20, !dbg !52
  %204 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 21, !dbg !52
  %205 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 22, !dbg !52
  %206 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 23, !dbg !52
  %207 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 24, !dbg !52
  %208 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 25, !dbg !52
  %209 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 26, !dbg !52
  %210 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 27, !dbg !52
  %211 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 28, !dbg !52
  %212 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 29, !dbg !52
  %213 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 30, !dbg !52
  %214 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %180, 31, !dbg !52
  %215 = tail call { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } asm sideeffect "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {$0,$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27,$28,$29,$30,$31}, $64, $65, $66, 1, 1, 0, 1;", "=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,l,l,b"(float %183, float %184, float %185, float %186, float %187, float %188, float %189, float %190, float %191, float %192, float %193, float %194, float %195, float %196, float %197, float %198, float %199, float %200, float %201, float %202, float %203, float %204, float %205, float %206, float %207, float %208, float %209, float %210, float %211, float %212, float %213, float %214, i64 %181, i64 %182, i1 true) #2, !dbg !52
  %216 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 0, !dbg !52
  %217 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 1, !dbg !52
  %218 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 2, !dbg !52
  %219 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 3, !dbg !52
  %220 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 4, !dbg !52
  %221 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 5, !dbg !52
  %222 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 6, !dbg !52
  %223 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 7, !dbg !52
  %224 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 8, !dbg !52
  %225 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 9, !dbg !52
  %226 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 10, !dbg !52
  %227 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 11, !dbg !52
  %228 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 12, !dbg !52
  %229 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 13, !dbg !52
  %230 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 14, !dbg !52
  %231 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 15, !dbg !52
  %232 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 16, !dbg !52
  %233 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 17, !dbg !52
  %234 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 18, !dbg !52
  %235 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 19, !dbg !52
  %236 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 20, !dbg !52
  %237 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 21, !dbg !52
  %238 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 22, !dbg !52
  %239 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 23, !dbg !52
  %240 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 24, !dbg !52
  %241 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 25, !dbg !52
  %242 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 26, !dbg !52
  %243 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 27, !dbg !52
  %244 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 28, !dbg !52
  %245 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 29, !dbg !52
  %246 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 30, !dbg !52
  %247 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %215, 31, !dbg !52
  tail call void @llvm.nvvm.wgmma.commit_group.sync.aligned(), !dbg !52
  %248 = tail call { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } asm sideeffect "// wait for regs: $0,$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27,$28,$29,$30,$31,$32,$33,$34,$35,$36,$37\0A\09wgmma.wait_group.sync.aligned 1;", "=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=l,=r,=r,=l,=r,=r,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37"(float %216, float %217, float %218, float %219, float %220, float %221, float %222, float %223, float %224, float %225, float %226, float %227, float %228, float %229, float %230, float %231, float %232, float %233, float %234, float %235, float %236, float %237, float %238, float %239, float %240, float %241, float %242, float %243, float %244, float %245, float %246, float %247, ptr addrspace(3) %168, i32 0, i32 0, ptr addrspace(3) %169, i32 0, i32 0) #2, !dbg !52
  %249 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 0, !dbg !52
  %250 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 1, !dbg !52
  %251 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 2, !dbg !52
  %252 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 3, !dbg !52
  %253 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 4, !dbg !52
  %254 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 5, !dbg !52
  %255 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 6, !dbg !52
  %256 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 7, !dbg !52
  %257 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 8, !dbg !52
  %258 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 9, !dbg !52
  %259 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 10, !dbg !52
  %260 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 11, !dbg !52
  %261 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 12, !dbg !52
  %262 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 13, !dbg !52
  %263 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 14, !dbg !52
  %264 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 15, !dbg !52
  %265 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 16, !dbg !52
  %266 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 17, !dbg !52
  %267 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 18, !dbg !52
  %268 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 19, !dbg !52
  %269 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 20, !dbg !52
  %270 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 21, !dbg !52
  %271 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 22, !dbg !52
  %272 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 23, !dbg !52
  %273 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 24, !dbg !52
  %274 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 25, !dbg !52
  %275 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 26, !dbg !52
  %276 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 27, !dbg !52
  %277 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 28, !dbg !52
  %278 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 29, !dbg !52
  %279 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 30, !dbg !52
  %280 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, ptr addrspace(3), i32, i32, ptr addrspace(3), i32, i32 } %248, 31, !dbg !52
  %281 = getelementptr i8, ptr addrspace(1) %.pn3266, i64 64, !dbg !49
  %282 = getelementptr i8, ptr addrspace(1) %.pn1667, i64 64, !dbg !49
  %283 = getelementptr bfloat, ptr addrspace(1) %.pn6468, i64 %90, !dbg !50
  %284 = getelementptr bfloat, ptr addrspace(1) %.pn4869, i64 %90, !dbg !50
  %285 = add i32 %129, 1, !dbg !44
  %286 = icmp sgt i32 %285, 3, !dbg !44
  %287 = select i1 %286, i32 0, i32 %285, !dbg !44
  %288 = shl i32 %162, 5, !dbg !51
  %289 = sub i32 %.neg65, %288, !dbg !51
  %290 = icmp slt i32 %48, %289, !dbg !45
  %291 = shl i32 %287, 11, !dbg !46
  %292 = getelementptr bfloat, ptr addrspace(3) @global_smem, i32 %291, !dbg !46
  %293 = and i1 %163, %290, !dbg !44
  tail call void @llvm.nvvm.barrier.cta.sync.aligned.all(i32 0), !dbg !46
  %294 = getelementptr inbounds nuw i8, ptr addrspace(3) %292, i32 %71, !dbg !46
  %295 = select i1 %293, i32 16, i32 0, !dbg !46
  tail call void asm sideeffect "cp.async.cg.shared.global [ $0 + 0 ], [ $1 + 0 ], 0x10, $2;", "r,l,r"(ptr addrspace(3) %294, ptr addrspace(1) %281, i32 %295) #2, !dbg !46
  %296 = getelementptr inbounds nuw i8, ptr addrspace(3) %292, i32 %74, !dbg !46
  tail call void asm sideeffect "cp.async.cg.shared.global [ $0 + 0 ], [ $1 + 0 ], 0x10, $2;", "r,l,r"(ptr addrspace(3) nonnull %296, ptr addrspace(1) %282, i32 %295) #2, !dbg !46
  tail call void @llvm.nvvm.cp.async.commit.group(), !dbg !46
  %297 = icmp slt i32 %31, %289, !dbg !47
  %298 = icmp slt i32 %32, %289, !dbg !47
  %299 = getelementptr bfloat, ptr addrspace(3) getelementptr (i8, ptr addrspace(3) @global_smem, i32 16384), i32 %291, !dbg !48
  %300 = and i1 %163, %297, !dbg !44
  %301 = and i1 %163, %298, !dbg !44
  %302 = getelementptr inbounds nuw i8, ptr addrspace(3) %299, i32 %81, !dbg !48
  %303 = select i1 %300, i32 16, i32 0, !dbg !48
  tail call void asm sideeffect "cp.async.cg.shared.global [ $0 + 0 ], [ $1 + 0 ], 0x10, $2;", "r,l,r"(ptr addrspace(3) %302, ptr addrspace(1) %283, i32 %303) #2, !dbg !48
  %304 = getelementptr inbounds nuw i8, ptr addrspace(3) %299, i32 %84, !dbg !48
  %305 = select i1 %301, i32 16, i32 0, !dbg !48
  tail call void asm sideeffect "cp.async.cg.shared.global [ $0 + 0 ], [ $1 + 0 ], 0x10, $2;", "r,l,r"(ptr addrspace(3) nonnull %304, ptr addrspace(1) %284, i32 %305) #2, !dbg !48
  tail call void @llvm.nvvm.cp.async.commit.group(), !dbg !48
  %306 = add nuw nsw i32 %162, 1, !dbg !44
  %exitcond.not = icmp eq i32 %306, %62, !dbg !44
  br i1 %exitcond.not, label %._crit_edge, label %127, !dbg !44

._crit_edge:                                      ; preds = %127, %11
  %307 = phi float [ 0.000000e+00, %11 ], [ %249, %127 ], !dbg !53
  %308 = phi float [ 0.000000e+00, %11 ], [ %250, %127 ], !dbg !53
  %309 = phi float [ 0.000000e+00, %11 ], [ %251, %127 ], !dbg !53
  %310 = phi float [ 0.000000e+00, %11 ], [ %252, %127 ], !dbg !53
  %311 = phi float [ 0.000000e+00, %11 ], [ %253, %127 ], !dbg !53
  %312 = phi float [ 0.000000e+00, %11 ], [ %254, %127 ], !dbg !53
  %313 = phi float [ 0.000000e+00, %11 ], [ %255, %127 ], !dbg !53
  %314 = phi float [ 0.000000e+00, %11 ], [ %256, %127 ], !dbg !53
  %315 = phi float [ 0.000000e+00, %11 ], [ %257, %127 ], !dbg !53
  %316 = phi float [ 0.000000e+00, %11 ], [ %258, %127 ], !dbg !53
  %317 = phi float [ 0.000000e+00, %11 ], [ %259, %127 ], !dbg !53
  %318 = phi float [ 0.000000e+00, %11 ], [ %260, %127 ], !dbg !53
  %319 = phi float [ 0.000000e+00, %11 ], [ %261, %127 ], !dbg !53
  %320 = phi float [ 0.000000e+00, %11 ], [ %262, %127 ], !dbg !53
  %321 = phi float [ 0.000000e+00, %11 ], [ %263, %127 ], !dbg !53
  %322 = phi float [ 0.000000e+00, %11 ], [ %264, %127 ], !dbg !53
  %323 = phi float [ 0.000000e+00, %11 ], [ %265, %127 ], !dbg !53
  %324 = phi float [ 0.000000e+00, %11 ], [ %266, %127 ], !dbg !53
  %325 = phi float [ 0.000000e+00, %11 ], [ %267, %127 ], !dbg !53
  %326 = phi float [ 0.000000e+00, %11 ], [ %268, %127 ], !dbg !53
  %327 = phi float [ 0.000000e+00, %11 ], [ %269, %127 ], !dbg !53
  %328 = phi float [ 0.000000e+00, %11 ], [ %270, %127 ], !dbg !53
  %329 = phi float [ 0.000000e+00, %11 ], [ %271, %127 ], !dbg !53
  %330 = phi float [ 0.000000e+00, %11 ], [ %272, %127 ], !dbg !53
  %331 = phi float [ 0.000000e+00, %11 ], [ %273, %127 ], !dbg !53
  %332 = phi float [ 0.000000e+00, %11 ], [ %274, %127 ], !dbg !53
  %333 = phi float [ 0.000000e+00, %11 ], [ %275, %127 ], !dbg !53
  %334 = phi float [ 0.000000e+00, %11 ], [ %276, %127 ], !dbg !53
  %335 = phi float [ 0.000000e+00, %11 ], [ %277, %127 ], !dbg !53
  %336 = phi float [ 0.000000e+00, %11 ], [ %278, %127 ], !dbg !53
  %337 = phi float [ 0.000000e+00, %11 ], [ %279, %127 ], !dbg !53
  %338 = phi float [ 0.000000e+00, %11 ], [ %280, %127 ], !dbg !53
  %339 = or disjoint i32 %26, %31, !dbg !27
  %340 = or disjoint i32 %339, 48, !dbg !28
  %341 = or disjoint i32 %339, 32, !dbg !28
  %342 = or disjoint i32 %26, %32, !dbg !28
  %343 = tail call { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } asm sideeffect "// wait for regs: $0,$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27,$28,$29,$30,$31\0A\09wgmma.wait_group.sync.aligned 0;", "=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,=f,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31"(float %307, float %308, float %309, float %310, float %311, float %312, float %313, float %314, float %315, float %316, float %317, float %318, float %319, float %320, float %321, float %322, float %323, float %324, float %325, float %326, float %327, float %328, float %329, float %330, float %331, float %332, float %333, float %334, float %335, float %336, float %337, float %338) #2, !dbg !44
  tail call void @llvm.nvvm.cp.async.wait.group(i32 0), !dbg !44
  tail call void @llvm.nvvm.barrier.cta.sync.aligned.all(i32 0), !dbg !44
  %344 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 0, !dbg !54
  %345 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 1, !dbg !54
  %346 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 2, !dbg !54
  %347 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 3, !dbg !54
  %348 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 4, !dbg !54
  %349 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 5, !dbg !54
  %350 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 6, !dbg !54
  %351 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 7, !dbg !54
  %352 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 8, !dbg !54
  %353 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 9, !dbg !54
  %354 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 10, !dbg !54
  %355 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 11, !dbg !54
  %356 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 12, !dbg !54
  %357 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 13, !dbg !54
  %358 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 14, !dbg !54
  %359 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 15, !dbg !54
  %360 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 16, !dbg !54
  %361 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 17, !dbg !54
  %362 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 18, !dbg !54
  %363 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 19, !dbg !54
  %364 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 20, !dbg !54
  %365 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 21, !dbg !54
  %366 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 22, !dbg !54
  %367 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 23, !dbg !54
  %368 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 24, !dbg !54
  %369 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 25, !dbg !54
  %370 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 26, !dbg !54
  %371 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 27, !dbg !54
  %372 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 28, !dbg !54
  %373 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 29, !dbg !54
  %374 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 30, !dbg !54
  %375 = extractvalue { float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float, float } %343, 31, !dbg !54
  %376 = insertelement <2 x float> poison, float %344, i64 0, !dbg !54
  %377 = insertelement <2 x float> %376, float %345, i64 1, !dbg !54
  %378 = fptrunc <2 x float> %377 to <2 x bfloat>, !dbg !54
  %379 = insertelement <2 x float> poison, float %346, i64 0, !dbg !54
  %380 = insertelement <2 x float> %379, float %347, i64 1, !dbg !54
  %381 = fptrunc <2 x float> %380 to <2 x bfloat>, !dbg !54
  %382 = insertelement <2 x float> poison, float %348, i64 0, !dbg !54
  %383 = insertelement <2 x float> %382, float %349, i64 1, !dbg !54
  %384 = fptrunc <2 x float> %383 to <2 x bfloat>, !dbg !54
  %385 = insertelement <2 x float> poison, float %350, i64 0, !dbg !54
  %386 = insertelement <2 x float> %385, float %351, i64 1, !dbg !54
  %387 = fptrunc <2 x float> %386 to <2 x bfloat>, !dbg !54
  %388 = insertelement <2 x float> poison, float %352, i64 0, !dbg !54
  %389 = insertelement <2 x float> %388, float %353, i64 1, !dbg !54
  %390 = fptrunc <2 x float> %389 to <2 x bfloat>, !dbg !54
  %391 = insertelement <2 x float> poison, float %354, i64 0, !dbg !54
  %392 = insertelement <2 x float> %391, float %355, i64 1, !dbg !54
  %393 = fptrunc <2 x float> %392 to <2 x bfloat>, !dbg !54
  %394 = insertelement <2 x float> poison, float %356, i64 0, !dbg !54
  %395 = insertelement <2 x float> %394, float %357, i64 1, !dbg !54
  %396 = fptrunc <2 x float> %395 to <2 x bfloat>, !dbg !54
  %397 = insertelement <2 x float> poison, float %358, i64 0, !dbg !54
  %398 = insertelement <2 x float> %397, float %359, i64 1, !dbg !54
  %399 = fptrunc <2 x float> %398 to <2 x bfloat>, !dbg !54
  %400 = insertelement <2 x float> poison, float %360, i64 0, !dbg !54
  %401 = insertelement <2 x float> %400, float %361, i64 1, !dbg !54
  %402 = fptrunc <2 x float> %401 to <2 x bfloat>, !dbg !54
  %403 = insertelement <2 x float> poison, float %362, i64 0, !dbg !54
  %404 = insertelement <2 x float> %403, float %363, i64 1, !dbg !54
  %405 = fptrunc <2 x float> %404 to <2 x bfloat>, !dbg !54
  %406 = insertelement <2 x float> poison, float %364, i64 0, !dbg !54
  %407 = insertelement <2 x float> %406, float %365, i64 1, !dbg !54
  %408 = fptrunc <2 x float> %407 to <2 x bfloat>, !dbg !54
  %409 = insertelement <2 x float> poison, float %366, i64 0, !dbg !54
  %410 = insertelement <2 x float> %409, float %367, i64 1, !dbg !54
  %411 = fptrunc <2 x float> %410 to <2 x bfloat>, !dbg !54
  %412 = insertelement <2 x float> poison, float %368, i64 0, !dbg !54
  %413 = insertelement <2 x float> %412, float %369, i64 1, !dbg !54
  %414 = fptrunc <2 x float> %413 to <2 x bfloat>, !dbg !54
  %415 = insertelement <2 x float> poison, float %370, i64 0, !dbg !54
  %416 = insertelement <2 x float> %415, float %371, i64 1, !dbg !54
  %417 = fptrunc <2 x float> %416 to <2 x bfloat>, !dbg !54
  %418 = insertelement <2 x float> poison, float %372, i64 0, !dbg !54
  %419 = insertelement <2 x float> %418, float %373, i64 1, !dbg !54
  %420 = fptrunc <2 x float> %419 to <2 x bfloat>, !dbg !54
  %421 = insertelement <2 x float> poison, float %374, i64 0, !dbg !54
  %422 = insertelement <2 x float> %421, float %375, i64 1, !dbg !54
  %423 = fptrunc <2 x float> %422 to <2 x bfloat>, !dbg !54
  %424 = icmp slt i32 %339, %3, !dbg !55
  %425 = icmp slt i32 %342, %3, !dbg !55
  %426 = icmp slt i32 %341, %3, !dbg !55
  %427 = icmp slt i32 %340, %3, !dbg !55
  %428 = icmp slt i32 %40, %4, !dbg !56
  %429 = and i1 %424, %428, !dbg !57
  %430 = and i1 %425, %428, !dbg !57
  %431 = and i1 %426, %428, !dbg !57
  %432 = and i1 %427, %428, !dbg !57
  %433 = mul i32 %339, %8, !dbg !58
  %434 = mul i32 %342, %8, !dbg !58
  %435 = mul i32 %8, %341, !dbg !58
  %436 = mul i32 %8, %340, !dbg !58
  %437 = sext i32 %433 to i64, !dbg !59
  %438 = getelementptr bfloat, ptr addrspace(1) %2, i64 %437, !dbg !59
  %439 = sext i32 %434 to i64, !dbg !59
  %440 = getelementptr bfloat, ptr addrspace(1) %2, i64 %439, !dbg !59
  %441 = sext i32 %435 to i64, !dbg !59
  %442 = getelementptr bfloat, ptr addrspace(1) %2, i64 %441, !dbg !59
  %443 = sext i32 %436 to i64, !dbg !59
  %444 = getelementptr bfloat, ptr addrspace(1) %2, i64 %443, !dbg !59
  %445 = sext i32 %40 to i64, !dbg !60
  %446 = getelementptr bfloat, ptr addrspace(1) %438, i64 %445, !dbg !60
  %447 = getelementptr bfloat, ptr addrspace(1) %440, i64 %445, !dbg !60
  %448 = getelementptr bfloat, ptr addrspace(1) %442, i64 %445, !dbg !60
  %449 = getelementptr bfloat, ptr addrspace(1) %444, i64 %445, !dbg !60
  %450 = and i32 %67, 1536, !dbg !61
  %451 = and i32 %27, 1, !dbg !61
  %452 = shl nuw nsw i32 %451, 5, !dbg !61
  %453 = and i32 %27, 2, !dbg !61
  %454 = icmp eq i32 %453, 0, !dbg !61
  %455 = select i1 %454, i32 0, i32 4160, !dbg !61
  %456 = and i32 %27, 4, !dbg !61
  %457 = icmp eq i32 %456, 0, !dbg !61
  %458 = shl nuw nsw i32 %456, 2, !dbg !61
  %459 = and i32 %27, 8, !dbg !61
  %460 = icmp eq i32 %459, 0, !dbg !61
  %461 = select i1 %460, i32 0, i32 2080, !dbg !61
  %462 = and i32 %27, 16, !dbg !61
  %463 = icmp eq i32 %462, 0, !dbg !61
  %464 = shl nuw nsw i32 %462, 3, !dbg !61
  %465 = or disjoint i32 %455, %458, !dbg !61
  %466 = or disjoint i32 %465, %464, !dbg !61
  %467 = or disjoint i32 %450, %452, !dbg !61
  %468 = xor i32 %467, %461, !dbg !61
  %469 = or disjoint i32 %466, %468, !dbg !61
  %470 = getelementptr inbounds nuw i8, ptr addrspace(3) @global_smem, i32 %469, !dbg !61
  %471 = bitcast <2 x bfloat> %378 to i32, !dbg !61
  %472 = bitcast <2 x bfloat> %384 to i32, !dbg !61
  %473 = bitcast <2 x bfloat> %390 to i32, !dbg !61
  %474 = bitcast <2 x bfloat> %396 to i32, !dbg !61
  %475 = insertelement <4 x i32> poison, i32 %471, i64 0, !dbg !61
  %476 = insertelement <4 x i32> %475, i32 %472, i64 1, !dbg !61
  %477 = insertelement <4 x i32> %476, i32 %473, i64 2, !dbg !61
  %478 = insertelement <4 x i32> %477, i32 %474, i64 3, !dbg !61
  store <4 x i32> %478, ptr addrspace(3) %470, align 16, !dbg !61
  %479 = getelementptr inbounds nuw i8, ptr addrspace(3) %470, i32 256, !dbg !61
  %480 = bitcast <2 x bfloat> %381 to i32, !dbg !61
  %481 = bitcast <2 x bfloat> %387 to i32, !dbg !61
  %482 = bitcast <2 x bfloat> %393 to i32, !dbg !61
  %483 = bitcast <2 x bfloat> %399 to i32, !dbg !61
  %484 = insertelement <4 x i32> poison, i32 %480, i64 0, !dbg !61
  %485 = insertelement <4 x i32> %484, i32 %481, i64 1, !dbg !61
  %486 = insertelement <4 x i32> %485, i32 %482, i64 2, !dbg !61
  %487 = insertelement <4 x i32> %486, i32 %483, i64 3, !dbg !61
  store <4 x i32> %487, ptr addrspace(3) %479, align 16, !dbg !61
  %488 = xor i32 %469, 64, !dbg !61
  %489 = getelementptr inbounds nuw i8, ptr addrspace(3) @global_smem, i32 %488, !dbg !61
  %490 = bitcast <2 x bfloat> %402 to i32, !dbg !61
  %491 = bitcast <2 x bfloat> %408 to i32, !dbg !61
  %492 = bitcast <2 x bfloat> %414 to i32, !dbg !61
  %493 = bitcast <2 x bfloat> %420 to i32, !dbg !61
  %494 = insertelement <4 x i32> poison, i32 %490, i64 0, !dbg !61
  %495 = insertelement <4 x i32> %494, i32 %491, i64 1, !dbg !61
  %496 = insertelement <4 x i32> %495, i32 %492, i64 2, !dbg !61
  %497 = insertelement <4 x i32> %496, i32 %493, i64 3, !dbg !61
  store <4 x i32> %497, ptr addrspace(3) %489, align 16, !dbg !61
  %498 = getelementptr inbounds nuw i8, ptr addrspace(3) %489, i32 256, !dbg !61
  %499 = bitcast <2 x bfloat> %405 to i32, !dbg !61
  %500 = bitcast <2 x bfloat> %411 to i32, !dbg !61
  %501 = bitcast <2 x bfloat> %417 to i32, !dbg !61
  %502 = bitcast <2 x bfloat> %423 to i32, !dbg !61
  %503 = insertelement <4 x i32> poison, i32 %499, i64 0, !dbg !61
  %504 = insertelement <4 x i32> %503, i32 %500, i64 1, !dbg !61
  %505 = insertelement <4 x i32> %504, i32 %501, i64 2, !dbg !61
  %506 = insertelement <4 x i32> %505, i32 %502, i64 3, !dbg !61
  store <4 x i32> %506, ptr addrspace(3) %498, align 16, !dbg !61
  tail call void @llvm.nvvm.barrier.cta.sync.aligned.all(i32 0), !dbg !61
  %507 = shl nuw nsw i32 %27, 2, !dbg !61
  %508 = and i32 %507, 416, !dbg !61
  %509 = shl nuw nsw i32 %451, 6, !dbg !61
  %510 = shl nuw nsw i32 %453, 3, !dbg !61
  %511 = select i1 %457, i32 0, i32 2080, !dbg !61
  %512 = select i1 %463, i32 0, i32 4160, !dbg !61
  %513 = or disjoint i32 %508, %509, !dbg !61
  %514 = or disjoint i32 %511, %512, !dbg !61
  %515 = xor i32 %514, %513, !dbg !61
  %516 = getelementptr inbounds nuw i8, ptr addrspace(3) @global_smem, i32 %510, !dbg !61
  %517 = getelementptr inbounds nuw i8, ptr addrspace(3) %516, i32 %515, !dbg !61
  %518 = tail call { i32, i32, i32, i32 } @llvm.nvvm.ldmatrix.sync.aligned.m8n8.x4.b16.p3(ptr addrspace(3) %517), !dbg !61
  %519 = extractvalue { i32, i32, i32, i32 } %518, 0, !dbg !61
  %520 = extractvalue { i32, i32, i32, i32 } %518, 1, !dbg !61
  %521 = extractvalue { i32, i32, i32, i32 } %518, 2, !dbg !61
  %522 = extractvalue { i32, i32, i32, i32 } %518, 3, !dbg !61
  %523 = getelementptr inbounds nuw i8, ptr addrspace(3) %517, i32 512, !dbg !61
  %524 = tail call { i32, i32, i32, i32 } @llvm.nvvm.ldmatrix.sync.aligned.m8n8.x4.b16.p3(ptr addrspace(3) nonnull %523), !dbg !61
  %525 = extractvalue { i32, i32, i32, i32 } %524, 0, !dbg !61
  %526 = extractvalue { i32, i32, i32, i32 } %524, 1, !dbg !61
  %527 = extractvalue { i32, i32, i32, i32 } %524, 2, !dbg !61
  %528 = extractvalue { i32, i32, i32, i32 } %524, 3, !dbg !61
  %529 = getelementptr inbounds nuw i8, ptr addrspace(3) %517, i32 1024, !dbg !61
  %530 = tail call { i32, i32, i32, i32 } @llvm.nvvm.ldmatrix.sync.aligned.m8n8.x4.b16.p3(ptr addrspace(3) nonnull %529), !dbg !61
  %531 = extractvalue { i32, i32, i32, i32 } %530, 0, !dbg !61
  %532 = extractvalue { i32, i32, i32, i32 } %530, 1, !dbg !61
  %533 = extractvalue { i32, i32, i32, i32 } %530, 2, !dbg !61
  %534 = extractvalue { i32, i32, i32, i32 } %530, 3, !dbg !61
  %535 = getelementptr inbounds nuw i8, ptr addrspace(3) %517, i32 1536, !dbg !61
  %536 = tail call { i32, i32, i32, i32 } @llvm.nvvm.ldmatrix.sync.aligned.m8n8.x4.b16.p3(ptr addrspace(3) nonnull %535), !dbg !61
  %537 = extractvalue { i32, i32, i32, i32 } %536, 0, !dbg !61
  %538 = extractvalue { i32, i32, i32, i32 } %536, 1, !dbg !61
  %539 = extractvalue { i32, i32, i32, i32 } %536, 2, !dbg !61
  %540 = extractvalue { i32, i32, i32, i32 } %536, 3, !dbg !61
  tail call void asm sideeffect "@$5 st.global.v4.b32 [ $4 + 0 ], { $0, $1, $2, $3 };", "r,r,r,r,l,b"(i32 %519, i32 %520, i32 %521, i32 %522, ptr addrspace(1) %446, i1 %429) #2, !dbg !61
  tail call void asm sideeffect "@$5 st.global.v4.b32 [ $4 + 0 ], { $0, $1, $2, $3 };", "r,r,r,r,l,b"(i32 %525, i32 %526, i32 %527, i32 %528, ptr addrspace(1) %447, i1 %430) #2, !dbg !61
  tail call void asm sideeffect "@$5 st.global.v4.b32 [ $4 + 0 ], { $0, $1, $2, $3 };", "r,r,r,r,l,b"(i32 %531, i32 %532, i32 %533, i32 %534, ptr addrspace(1) %448, i1 %431) #2, !dbg !61
  tail call void asm sideeffect "@$5 st.global.v4.b32 [ $4 + 0 ], { $0, $1, $2, $3 };", "r,r,r,r,l,b"(i32 %537, i32 %538, i32 %539, i32 %540, ptr addrspace(1) %449, i1 %432) #2, !dbg !61
  ret void, !dbg !62
}

; Function Attrs: mustprogress nocallback nofree nosync nounwind speculatable willreturn memory(none)
declare noundef range(i32 0, 2147483647) i32 @llvm.nvvm.read.ptx.sreg.ctaid.x() #1

; Function Attrs: mustprogress nocallback nofree nosync nounwind speculatable willreturn memory(none)
declare i32 @llvm.smin.i32(i32, i32) #1

; Function Attrs: mustprogress nocallback nofree nosync nounwind speculatable willreturn memory(none)
declare noundef range(i32 0, 1024) i32 @llvm.nvvm.read.ptx.sreg.tid.x() #1

; Function Attrs: nounwind
declare void @llvm.nvvm.cp.async.commit.group() #2

; Function Attrs: convergent nocallback nounwind
declare void @llvm.nvvm.barrier.cta.sync.aligned.all(i32) #3

; Function Attrs: nounwind
declare void @llvm.nvvm.cp.async.wait.group(i32 immarg) #2

; Function Attrs: nocallback nofree nounwind memory(argmem: read)
declare { i32, i32, i32, i32 } @llvm.nvvm.ldmatrix.sync.aligned.m8n8.x4.b16.p3(ptr addrspace(3) readonly captures(none)) #4

; Function Attrs: convergent nounwind
declare void @llvm.nvvm.wgmma.fence.sync.aligned() #5

; Function Attrs: convergent nounwind
declare void @llvm.nvvm.wgmma.commit_group.sync.aligned() #5

attributes #0 = { nounwind "nvvm.reqntid"="128" }
attributes #1 = { mustprogress nocallback nofree nosync nounwind speculatable willreturn memory(none) }
attributes #2 = { nounwind }
attributes #3 = { convergent nocallback nounwind }
attributes #4 = { nocallback nofree nounwind memory(argmem: read) }
attributes #5 = { convergent nounwind }

!llvm.dbg.cu = !{!0}
!llvm.module.flags = !{!2, !3}

!0 = distinct !DICompileUnit(language: DW_LANG_C, file: !1, producer: "triton", isOptimized: true, runtimeVersion: 0, emissionKind: LineTablesOnly)
!1 = !DIFile(filename: "collect_real_ir.py", directory: "/work/main/tests/data/ir")
!2 = !{i32 2, !"Debug Info Version", i32 3}
!3 = !{i32 4, !"nvvm-reflect-ftz", i32 1}
!4 = distinct !DISubprogram(name: "matmul_kernel", linkageName: "matmul_kernel", scope: !1, file: !1, line: 20, type: !5, scopeLine: 20, spFlags: DISPFlagDefinition | DISPFlagOptimized, unit: !0)
!5 = !DISubroutineType(cc: DW_CC_normal, types: !6)
!6 = !{}
!7 = !DILocation(line: 22, column: 24, scope: !4)
!8 = !DILocation(line: 43, column: 17, scope: !9, inlinedAt: !11)
!9 = distinct !DILexicalBlockFile(scope: !4, file: !10, discriminator: 0)
!10 = !DIFile(filename: "standard.py", directory: "/opt/torch/.venv/lib/python3.12/site-packages/triton/language")
!11 = !DILocation(line: 23, column: 27, scope: !12)
!12 = distinct !DILexicalBlockFile(scope: !4, file: !1, discriminator: 0)
!13 = !DILocation(line: 43, column: 30, scope: !9, inlinedAt: !11)
!14 = !DILocation(line: 43, column: 17, scope: !9, inlinedAt: !15)
!15 = !DILocation(line: 24, column: 27, scope: !12)
!16 = !DILocation(line: 43, column: 30, scope: !9, inlinedAt: !15)
!17 = !DILocation(line: 25, column: 22, scope: !4)
!18 = !DILocation(line: 26, column: 20, scope: !4)
!19 = !DILocation(line: 26, column: 29, scope: !4)
!20 = !DILocation(line: 27, column: 26, scope: !4)
!21 = !DILocation(line: 27, column: 33, scope: !4)
!22 = !DILocation(line: 28, column: 28, scope: !4)
!23 = !DILocation(line: 29, column: 29, scope: !4)
!24 = !DILocation(line: 28, column: 37, scope: !4)
!25 = !DILocation(line: 28, column: 21, scope: !4)
!26 = !DILocation(line: 30, column: 22, scope: !4)
!27 = !DILocation(line: 30, column: 45, scope: !4)
!28 = !DILocation(line: 30, column: 32, scope: !4)
!29 = !DILocation(line: 30, column: 57, scope: !4)
!30 = !DILocation(line: 31, column: 22, scope: !4)
!31 = !DILocation(line: 31, column: 32, scope: !4)
!32 = !DILocation(line: 31, column: 57, scope: !4)
!33 = !DILocation(line: 33, column: 34, scope: !4)
!34 = !DILocation(line: 33, column: 16, scope: !4)
!35 = !DILocation(line: 33, column: 47, scope: !4)
!36 = !DILocation(line: 33, column: 40, scope: !4)
!37 = !DILocation(line: 34, column: 34, scope: !4)
!38 = !DILocation(line: 34, column: 16, scope: !4)
!39 = !DILocation(line: 34, column: 40, scope: !4)
!40 = !DILocation(line: 43, column: 17, scope: !9, inlinedAt: !41)
!41 = !DILocation(line: 36, column: 33, scope: !12)
!42 = !DILocation(line: 43, column: 30, scope: !9, inlinedAt: !41)
!43 = !DILocation(line: 41, column: 23, scope: !4)
!44 = !DILocation(line: 36, column: 22, scope: !4)
!45 = !DILocation(line: 37, column: 46, scope: !4)
!46 = !DILocation(line: 37, column: 20, scope: !4)
!47 = !DILocation(line: 38, column: 46, scope: !4)
!48 = !DILocation(line: 38, column: 20, scope: !4)
!49 = !DILocation(line: 40, column: 13, scope: !4)
!50 = !DILocation(line: 41, column: 13, scope: !4)
!51 = !DILocation(line: 37, column: 50, scope: !4)
!52 = !DILocation(line: 39, column: 27, scope: !4)
!53 = !DILocation(line: 35, column: 19, scope: !4)
!54 = !DILocation(line: 42, column: 15, scope: !4)
!55 = !DILocation(line: 45, column: 83, scope: !4)
!56 = !DILocation(line: 45, column: 103, scope: !4)
!57 = !DILocation(line: 45, column: 89, scope: !4)
!58 = !DILocation(line: 45, column: 27, scope: !4)
!59 = !DILocation(line: 45, column: 21, scope: !4)
!60 = !DILocation(line: 45, column: 41, scope: !4)
!61 = !DILocation(line: 45, column: 60, scope: !4)
!62 = !DILocation(line: 45, column: 4, scope: !4)
