//go:build amd64 && !purego

#include "textflag.h"

// func dot16(a, b *byte, n int) int32
//
// Sixteen bytes per round: each half is sign-extended to eight int16 (a
// byte unpacked with itself, then shifted right arithmetically by 8) and
// PMADDWD multiplies and adds pairs into four int32 lanes.
TEXT ·dot16(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	PXOR X0, X0

loop:
	CMPQ CX, $16
	JLT  done
	MOVOU (SI), X1
	MOVOU (DI), X2
	MOVO  X1, X3
	PUNPCKLBW X1, X3
	PSRAW $8, X3
	MOVO  X2, X4
	PUNPCKLBW X2, X4
	PSRAW $8, X4
	PMADDWL X4, X3
	PADDL X3, X0
	PUNPCKHBW X1, X1
	PSRAW $8, X1
	PUNPCKHBW X2, X2
	PSRAW $8, X2
	PMADDWL X2, X1
	PADDL X1, X0
	ADDQ $16, SI
	ADDQ $16, DI
	SUBQ $16, CX
	JMP  loop

done:
	PSHUFD $0x4e, X0, X1
	PADDL  X1, X0
	PSHUFD $0xb1, X0, X1
	PADDL  X1, X0
	MOVL   X0, AX
	MOVL   AX, ret+24(FP)
	RET
