//go:build amd64 && !purego

#include "textflag.h"

// func asciiNoNUL(b []byte) bool
//
// AVX2 from 64 bytes on when useAVX2 is set, else SSE2; both have this
// frame, so the dispatch is a tail jump.
TEXT ·asciiNoNUL(SB), NOSPLIT, $0-25
	MOVQ b_len+8(FP), CX
	CMPQ CX, $64
	JB   sse2
	CMPB ·useAVX2(SB), $0
	JEQ  sse2
	JMP  ·asciiNoNULAVX2(SB)

sse2:
	JMP ·asciiNoNULSSE2(SB)

// func asciiNoNULSSE2(b []byte) bool
//
// A byte fails when its high bit is set (not ASCII) or when it is zero.
// PCMPEQB against a zero register turns every zero byte into 0xFF, whose
// high bit PMOVMSKB then sees together with the data's own high bits.
TEXT ·asciiNoNULSSE2(SB), NOSPLIT, $0-25
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	PXOR X0, X0

loop32:
	CMPQ CX, $32
	JB   tail16
	MOVOU (SI), X1
	MOVOU 16(SI), X2
	MOVO X1, X3
	PCMPEQB X0, X3
	MOVO X2, X4
	PCMPEQB X0, X4
	POR X2, X1
	POR X4, X3
	POR X3, X1
	PMOVMSKB X1, AX
	TESTL AX, AX
	JNZ bad
	ADDQ $32, SI
	SUBQ $32, CX
	JMP loop32

tail16:
	CMPQ CX, $16
	JB   tail
	MOVOU (SI), X1
	MOVO X1, X3
	PCMPEQB X0, X3
	POR X3, X1
	PMOVMSKB X1, AX
	TESTL AX, AX
	JNZ bad
	ADDQ $16, SI
	SUBQ $16, CX

tail:
	// Fewer than 16 bytes are left, and at least 16 precede them: check the
	// last 16 bytes of b, which overlap bytes already checked.
	TESTQ CX, CX
	JZ ok
	LEAQ -16(SI)(CX*1), SI
	MOVOU (SI), X1
	MOVO X1, X3
	PCMPEQB X0, X3
	POR X3, X1
	PMOVMSKB X1, AX
	TESTL AX, AX
	JNZ bad

ok:
	MOVB $1, ret+24(FP)
	RET

bad:
	MOVB $0, ret+24(FP)
	RET

// func asciiNoNULAVX2(b []byte) bool
//
// The same test as asciiNoNULSSE2 on 32-byte registers, two per step.
TEXT ·asciiNoNULAVX2(SB), NOSPLIT, $0-25
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	VPXOR Y0, Y0, Y0

avxloop64:
	CMPQ CX, $64
	JB   avxtail32
	VMOVDQU (SI), Y1
	VMOVDQU 32(SI), Y2
	VPCMPEQB Y0, Y1, Y3
	VPCMPEQB Y0, Y2, Y4
	VPOR Y2, Y1, Y1
	VPOR Y4, Y3, Y3
	VPOR Y3, Y1, Y1
	VPMOVMSKB Y1, AX
	TESTL AX, AX
	JNZ avxbad
	ADDQ $64, SI
	SUBQ $64, CX
	JMP avxloop64

avxtail32:
	CMPQ CX, $32
	JB   avxtail
	VMOVDQU (SI), Y1
	VPCMPEQB Y0, Y1, Y3
	VPOR Y3, Y1, Y1
	VPMOVMSKB Y1, AX
	TESTL AX, AX
	JNZ avxbad
	ADDQ $32, SI
	SUBQ $32, CX

avxtail:
	// Fewer than 32 bytes are left, and at least 32 precede them: check the
	// last 32 bytes of b.
	TESTQ CX, CX
	JZ avxok
	LEAQ -32(SI)(CX*1), SI
	VMOVDQU (SI), Y1
	VPCMPEQB Y0, Y1, Y3
	VPOR Y3, Y1, Y1
	VPMOVMSKB Y1, AX
	TESTL AX, AX
	JNZ avxbad

avxok:
	VZEROUPPER
	MOVB $1, ret+24(FP)
	RET

avxbad:
	VZEROUPPER
	MOVB $0, ret+24(FP)
	RET

// func hasAVX2() bool
TEXT ·hasAVX2(SB), NOSPLIT, $0-1
	// Leaf 1: ECX bit 27 OSXSAVE (XGETBV usable), bit 28 AVX.
	MOVL $1, AX
	XORL CX, CX
	CPUID
	MOVL CX, DX
	ANDL $0x18000000, DX
	CMPL DX, $0x18000000
	JNE  no
	// XCR0 bits 1 and 2: the OS saves XMM and YMM state.
	XORL CX, CX
	XGETBV
	ANDL $6, AX
	CMPL AX, $6
	JNE  no
	// Leaf 7, subleaf 0: EBX bit 5 AVX2 (leaf 7 exists if leaf 0 says so).
	XORL AX, AX
	CPUID
	CMPL AX, $7
	JB   no
	MOVL $7, AX
	XORL CX, CX
	CPUID
	BTL  $5, BX
	JCC  no
	MOVB $1, ret+0(FP)
	RET

no:
	MOVB $0, ret+0(FP)
	RET
