; ModuleID = 'LLVMDialectModule'
source_filename = "LLVMDialectModule"
target datalayout = "e-i64:64-i128:128-v16:16-v32:32-n16:32:64"
target triple = "nvptx64-nvidia-cuda"

@global_smem = external addrspace(3) global [0 x i8], align 16

; Function Attrs: nounwind
define ptx_kernel void @matmul_kernel(ptr addrspace(1) %0, ptr addrspace(1) %1, ptr addrspace(1) %2, i32 %3, i32 %4, i32 %5, ptr addrspace(1) %6) local_unnamed_addr #0 !dbg !5 {
  %8 = tail call i32 @llvm.nvvm.read.ptx.sreg.tid.x(), !dbg !8
  %9 = tail call i32 @llvm.nvvm.read.ptx.sreg.ctaid.x(), !dbg !9
  %10 = shl i32 %9, 7, !dbg !10
  %11 = and i32 %8, 127, !dbg !10
  %12 = or disjoint i32 %10, %11, !dbg !10
  %13 = sext i32 %12 to i64, !dbg !11
  %14 = getelementptr half, ptr addrspace(1) %0, i64 %13, !dbg !11
  %15 = getelementptr half, ptr addrspace(1) %1, i64 %13, !dbg !12
  %16 = icmp sgt i32 %5, 0, !dbg !13
  br i1 %16, label %.lr.ph, label %._crit_edge, !dbg !13

.lr.ph:                                           ; preds = %7
  %17 = getelementptr inbounds i8, ptr addrspace(3) @global_smem, i32 %11
  br label %18, !dbg !13

18:                                               ; preds = %.lr.ph, %18
  %19 = phi i32 [ 0, %.lr.ph ], [ %40, %18 ]
  %20 = phi float [ 0.000000e+00, %.lr.ph ], [ %38, %18 ]
  %21 = phi float [ 0.000000e+00, %.lr.ph ], [ %39, %18 ]
  %22 = zext i32 %19 to i64
  %23 = getelementptr half, ptr addrspace(1) %14, i64 %22, !dbg !14
  tail call void asm sideeffect "cp.async.cg.shared.global [ $0 + 0 ], [ $1 + 0 ], 0x10, 0x10;", "r,l"(ptr addrspace(3) %17, ptr addrspace(1) %23) #2, !dbg !14
  tail call void asm sideeffect "cp.async.commit_group ;", ""() #2, !dbg !14
  tail call void asm sideeffect "cp.async.wait_group 0x0;", "n"(i32 0) #2, !dbg !14
  tail call void @llvm.nvvm.barrier0(), !dbg !15
  %24 = load <4 x i32>, ptr addrspace(3) %17, align 16, !dbg !16
  %25 = extractelement <4 x i32> %24, i64 0
  %26 = extractelement <4 x i32> %24, i64 1
  %27 = getelementptr half, ptr addrspace(1) %15, i64 %22, !dbg !17
  %28 = load <2 x i32>, ptr addrspace(1) %27, align 8, !dbg !17
  %29 = extractelement <2 x i32> %28, i64 0
  %30 = tail call { i32, i32, i32, i32 } asm sideeffect "ldmatrix.sync.aligned.m8n8.x4.shared.b16 { $0, $1, $2, $3 }, [ $4 + 0 ];", "=r,=r,=r,=r,r"(ptr addrspace(3) %17) #2, !dbg !18
  %31 = extractvalue { i32, i32, i32, i32 } %30, 0
  %32 = extractvalue { i32, i32, i32, i32 } %30, 1
  %33 = tail call { float, float, float, float } asm sideeffect "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 { $0, $1, $2, $3 }, { $4, $5, $6, $7 }, { $8, $9 }, { $10, $11, $12, $13 };", "=r,=r,=r,=r,r,r,r,r,r,r,0,1,2,3"(i32 %25, i32 %26, i32 %31, i32 %32, i32 %29, i32 %29, float %20, float %21, float %20, float %21) #2, !dbg !19
  %34 = extractvalue { float, float, float, float } %33, 0
  %35 = extractvalue { float, float, float, float } %33, 1
  %36 = fmul float %34, 5.000000e-01
  %37 = tail call float @llvm.nvvm.fma.rn.f(float %35, float 2.000000e+00, float %36)
  %38 = fadd float %36, %37
  %39 = fadd float %35, %37
  tail call void @llvm.nvvm.barrier0(), !dbg !20
  %40 = add nuw nsw i32 %19, 32, !dbg !13
  %41 = icmp slt i32 %40, %5, !dbg !13
  br i1 %41, label %18, label %._crit_edge, !dbg !13

._crit_edge:                                      ; preds = %18, %7
  %42 = phi float [ 0.000000e+00, %7 ], [ %38, %18 ]
  %43 = fptrunc float %42 to half, !dbg !21
  %44 = getelementptr half, ptr addrspace(1) %2, i64 %13, !dbg !22
  store half %43, ptr addrspace(1) %44, align 2, !dbg !22
  ret void, !dbg !23
}

; Function Attrs: mustprogress nocallback nofree nosync nounwind speculatable willreturn memory(none)
declare noundef i32 @llvm.nvvm.read.ptx.sreg.tid.x() #1

; Function Attrs: mustprogress nocallback nofree nosync nounwind speculatable willreturn memory(none)
declare noundef i32 @llvm.nvvm.read.ptx.sreg.ctaid.x() #1

; Function Attrs: convergent nocallback nounwind
declare void @llvm.nvvm.barrier0() #3

declare float @llvm.nvvm.fma.rn.f(float, float, float) #1

attributes #0 = { nounwind "nvvm.reqntid"="128" }
attributes #1 = { mustprogress nocallback nofree nosync nounwind speculatable willreturn memory(none) }
attributes #2 = { nounwind }
attributes #3 = { convergent nocallback nounwind }

!llvm.module.flags = !{!0, !1}
!llvm.dbg.cu = !{!2}
!nvvm.annotations = !{!4}

!0 = !{i32 2, !"Debug Info Version", i32 3}
!1 = !{i32 4, !"nvvm-reflect-ftz", i32 1}
!2 = distinct !DICompileUnit(language: DW_LANG_C, file: !3, producer: "triton", isOptimized: true, runtimeVersion: 0, emissionKind: LineTablesOnly)
!3 = !DIFile(filename: "matmul.py", directory: "/home/user/perfcast/kernels")
!4 = !{ptr @matmul_kernel, !"maxntidx", i32 128}
!5 = distinct !DISubprogram(name: "matmul_kernel", linkageName: "matmul_kernel", scope: !3, file: !3, line: 28, type: !6, scopeLine: 28, spFlags: DISPFlagDefinition | DISPFlagOptimized, unit: !2)
!6 = !DISubroutineType(cc: DW_CC_normal, types: !7)
!7 = !{}
!8 = !DILocation(line: 45, column: 24, scope: !5)
!9 = !DILocation(line: 46, column: 24, scope: !5)
!10 = !DILocation(line: 47, column: 20, scope: !5)
!11 = !DILocation(line: 50, column: 30, scope: !5)
!12 = !DILocation(line: 51, column: 30, scope: !5)
!13 = !DILocation(line: 60, column: 22, scope: !5)
!14 = !DILocation(line: 62, column: 20, scope: !5)
!15 = !DILocation(line: 62, column: 20, scope: !5)
!16 = !DILocation(line: 63, column: 20, scope: !5)
!17 = !DILocation(line: 64, column: 20, scope: !5)
!18 = !DILocation(line: 65, column: 20, scope: !5)
!19 = !DILocation(line: 69, column: 35, scope: !5)
!20 = !DILocation(line: 69, column: 35, scope: !5)
!21 = !DILocation(line: 75, column: 23, scope: !5)
!22 = !DILocation(line: 80, column: 21, scope: !5)
!23 = !DILocation(line: 80, column: 4, scope: !5)
