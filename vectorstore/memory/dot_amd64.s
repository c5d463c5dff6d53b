#include "textflag.h"

// func dotU4S8BatchAVX2(q *int8, base *uint8, stride int, ids *uint32, n int, out *int32)
//
// out[k] = Σ q[i]·u(ids[k], i) where row(id) = base + id·stride holds
// 4-bit unsigned codes: in each 32-byte chunk c, byte j carries dimension
// 64c+j in its low nibble and 64c+32+j in its high nibble. q holds
// 2·stride signed bytes in natural order. stride is a positive multiple
// of 32. The row two ahead is prefetched so that random rows overlap.
TEXT ·dotU4S8BatchAVX2(SB), NOSPLIT, $0-48
	MOVQ q+0(FP), SI
	MOVQ base+8(FP), R8
	MOVQ stride+16(FP), R9
	MOVQ ids+24(FP), R10
	MOVQ n+32(FP), R11
	MOVQ out+40(FP), R12
	XORQ R13, R13

	// Y14 = sixteen int16 ones (for VPMADDWD), Y15 = bytes 0x0F.
	VPCMPEQW     Y14, Y14, Y14
	VPSRLW       $15, Y14, Y14
	MOVQ         $0x0F0F0F0F0F0F0F0F, AX
	MOVQ         AX, X15
	VPBROADCASTQ X15, Y15

	CMPQ R11, $0
	JLE  end
	MOVL (R10), BX
	IMULQ R9, BX
	ADDQ R8, BX
	MOVQ R9, DX
pf0:
	PREFETCHT0 (BX)
	ADDQ $64, BX
	SUBQ $64, DX
	JG   pf0
	CMPQ R11, $1
	JLE  next
	MOVL 4(R10), BX
	IMULQ R9, BX
	ADDQ R8, BX
	MOVQ R9, DX
pf1:
	PREFETCHT0 (BX)
	ADDQ $64, BX
	SUBQ $64, DX
	JG   pf1

next:
	CMPQ R13, R11
	JGE  end
	LEAQ 2(R13), AX
	CMPQ AX, R11
	JGE  compute
	MOVL (R10)(AX*4), BX
	IMULQ R9, BX
	ADDQ R8, BX
	MOVQ R9, DX
pf:
	PREFETCHT0 (BX)
	ADDQ $64, BX
	SUBQ $64, DX
	JG   pf

compute:
	MOVL (R10)(R13*4), DI
	IMULQ R9, DI
	ADDQ R8, DI
	MOVQ SI, AX
	MOVQ R9, CX
	VPXOR Y0, Y0, Y0

loop:
	VMOVDQU    (DI), Y2
	VPAND      Y15, Y2, Y3
	VPSRLW     $4, Y2, Y4
	VPAND      Y15, Y4, Y4
	VPMADDUBSW (AX), Y3, Y3
	VPMADDUBSW 32(AX), Y4, Y4
	VPADDW     Y3, Y4, Y3
	VPMADDWD   Y14, Y3, Y3
	VPADDD     Y3, Y0, Y0
	ADDQ $32, DI
	ADDQ $64, AX
	SUBQ $32, CX
	JNZ  loop

	VEXTRACTI128 $1, Y0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0x4E, X0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0xB1, X0, X1
	VPADDD       X1, X0, X0
	VMOVD        X0, (R12)(R13*4)
	INCQ R13
	JMP  next

end:
	VZEROUPPER
	RET

// func dotU4S8SeqAVX2(q *int8, rows *uint8, stride int, n int, out *int32)
//
// Like dotU4S8BatchAVX2 over the n consecutive rows starting at rows
// (streamed: the hardware prefetcher needs no help).
TEXT ·dotU4S8SeqAVX2(SB), NOSPLIT, $0-40
	MOVQ q+0(FP), SI
	MOVQ rows+8(FP), DI
	MOVQ stride+16(FP), R9
	MOVQ n+24(FP), R11
	MOVQ out+32(FP), R12

	VPCMPEQW     Y14, Y14, Y14
	VPSRLW       $15, Y14, Y14
	MOVQ         $0x0F0F0F0F0F0F0F0F, AX
	MOVQ         AX, X15
	VPBROADCASTQ X15, Y15

seqrow:
	CMPQ R11, $0
	JLE  seqend
	MOVQ SI, AX
	MOVQ R9, CX
	VPXOR Y0, Y0, Y0

seqloop:
	VMOVDQU    (DI), Y2
	VPAND      Y15, Y2, Y3
	VPSRLW     $4, Y2, Y4
	VPAND      Y15, Y4, Y4
	VPMADDUBSW (AX), Y3, Y3
	VPMADDUBSW 32(AX), Y4, Y4
	VPADDW     Y3, Y4, Y3
	VPMADDWD   Y14, Y3, Y3
	VPADDD     Y3, Y0, Y0
	ADDQ $32, DI
	ADDQ $64, AX
	SUBQ $32, CX
	JNZ  seqloop

	VEXTRACTI128 $1, Y0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0x4E, X0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0xB1, X0, X1
	VPADDD       X1, X0, X0
	VMOVD        X0, (R12)
	ADDQ $4, R12
	DECQ R11
	JMP  seqrow

seqend:
	VZEROUPPER
	RET
