#include "textflag.h"

// The int8 kernels compute Σ q[i]·c[i] for signed codes in [-127, 127]
// with VPMADDUBSW, which multiplies unsigned by signed bytes: |q[i]| times
// c[i]·sign(q[i]) (VPSIGNB) is q[i]·c[i], and two such products sum to at
// most 2·127·127 = 32258, so the int16 pair sums never saturate. dim is a
// positive multiple of 32; qs holds q, qa holds |q|.

// func dotI8RowsAVX2(qs *int8, qa *uint8, dim int, rows *unsafe.Pointer, n int, out *int32)
//
// out[k] = Σ q[i]·rows[k][i]. The row two ahead is prefetched so that
// random rows (graph neighbours) overlap their cache misses.
TEXT ·dotI8RowsAVX2(SB), NOSPLIT, $0-48
	MOVQ qs+0(FP), SI
	MOVQ qa+8(FP), R8
	MOVQ dim+16(FP), R9
	MOVQ rows+24(FP), R10
	MOVQ n+32(FP), R11
	MOVQ out+40(FP), R12
	XORQ R13, R13

	// Y14 = sixteen int16 ones (for VPMADDWD).
	VPCMPEQW Y14, Y14, Y14
	VPSRLW   $15, Y14, Y14

	CMPQ R11, $0
	JLE  end
	MOVQ (R10), BX
	MOVQ R9, DX
pf0:
	PREFETCHT0 (BX)
	ADDQ $64, BX
	SUBQ $64, DX
	JG   pf0
	CMPQ R11, $1
	JLE  next
	MOVQ 8(R10), BX
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
	MOVQ (R10)(AX*8), BX
	MOVQ R9, DX
pf:
	PREFETCHT0 (BX)
	ADDQ $64, BX
	SUBQ $64, DX
	JG   pf

compute:
	MOVQ (R10)(R13*8), DI
	MOVQ SI, AX
	MOVQ R8, BX
	MOVQ R9, CX
	VPXOR Y0, Y0, Y0

loop:
	VMOVDQU    (DI), Y2
	VPSIGNB    (AX), Y2, Y2
	VMOVDQU    (BX), Y3
	VPMADDUBSW Y2, Y3, Y3
	VPMADDWD   Y14, Y3, Y3
	VPADDD     Y3, Y0, Y0
	ADDQ $32, DI
	ADDQ $32, AX
	ADDQ $32, BX
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

// func dotI8SeqAVX2(qs *int8, qa *uint8, dim int, rows *int8, n int, out *int32)
//
// Like dotI8RowsAVX2 over the n consecutive rows starting at rows
// (streamed: the hardware prefetcher needs no help).
TEXT ·dotI8SeqAVX2(SB), NOSPLIT, $0-48
	MOVQ qs+0(FP), SI
	MOVQ qa+8(FP), R8
	MOVQ dim+16(FP), R9
	MOVQ rows+24(FP), DI
	MOVQ n+32(FP), R11
	MOVQ out+40(FP), R12

	VPCMPEQW Y14, Y14, Y14
	VPSRLW   $15, Y14, Y14

seqrow:
	CMPQ R11, $0
	JLE  seqend
	MOVQ SI, AX
	MOVQ R8, BX
	MOVQ R9, CX
	VPXOR Y0, Y0, Y0

seqloop:
	VMOVDQU    (DI), Y2
	VPSIGNB    (AX), Y2, Y2
	VMOVDQU    (BX), Y3
	VPMADDUBSW Y2, Y3, Y3
	VPMADDWD   Y14, Y3, Y3
	VPADDD     Y3, Y0, Y0
	ADDQ $32, DI
	ADDQ $32, AX
	ADDQ $32, BX
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

// func absI8AVX2(dst *uint8, src *int8, n int)
//
// dst[i] = |src[i]| for n bytes, n a positive multiple of 32 (codes are in
// [-127, 127], so VPABSB never meets -128).
TEXT ·absI8AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
absloop:
	VMOVDQU (SI), Y0
	VPABSB  Y0, Y1
	VMOVDQU Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $32, CX
	JG      absloop
	VZEROUPPER
	RET
