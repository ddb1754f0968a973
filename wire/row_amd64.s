//go:build amd64 && !purego

#include "textflag.h"
// The verdicts (const_rowOK, const_rowRecheck, const_rowRefuse) and the
// layout of rowSpan (rowSpan_off, rowSpan_n, rowSpan__size) come from the
// Go declarations in row.go, through the header go build generates.
#include "go_asm.h"

// ACCWORD folds the 8 bytes in AX into the failure bits of R11: a high bit
// of (w - 0x0101…01) | w is set when a byte of w is zero or not ASCII
// (wordASCIINoNUL). R12 holds 0x0101…01; R13 is clobbered.
#define ACCWORD \
	MOVQ AX, R13; \
	SUBQ R12, R13; \
	ORQ  R13, AX; \
	ORQ  AX, R11

// ACCVEC folds the 32 bytes at addr into the failure bits of Y7: each
// byte's own high bit (not ASCII) and, for a zero byte, the high bit of
// its 0xFF from VPCMPEQB against Y0 (zero). Y1 and Y2 are clobbered.
#define ACCVEC(addr) \
	VMOVDQU  addr, Y1; \
	VPCMPEQB Y0, Y1, Y2; \
	VPOR     Y1, Y7, Y7; \
	VPOR     Y2, Y7, Y7

// func scanRowAVX2(b []byte, max int, text []bool, spans []rowSpan) (size int, verdict uint8)
//
// b holds the buffered input from a message's type byte on. If it starts
// with a whole DataRow ('D', a length of at least 6 whose body is within
// max and buffered, a column count equal to len(text)), the message's
// size (1 + its length) is returned with rowOK or rowRecheck, and
// spans[i] receives the offset in the body (b[5:size]) and the length of
// column i's value (0xFFFFFFFF for NULL). Anything else is rowRefuse. The
// loop keeps the row in registers: framing, as in NextRow's Go loop, and
// the quick check of every text value (words below 32 bytes, 32-byte AVX2
// loads above, the last ones overlapping), whose failure bits are tested
// once, after the last column.
//
// Registers: SI body, DX body length, R8 offset in the body, R9 text[i],
// CX columns left, DI spans[i], BX value length, R10 value address, AX and
// R13 scratch, R11 and Y7 failure bits, R12 0x0101…01, Y0 zero.
TEXT ·scanRowAVX2(SB), NOSPLIT, $0-89
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), AX
	// The header: type, length, column count.
	CMPQ AX, $7
	JLT  declined
	CMPB (SI), $'D'
	JNE  declined
	MOVL 1(SI), DX
	BSWAPL DX
	// DX is the message length, 0 to 2^32-1: the body is DX-4 bytes.
	CMPQ DX, $6
	JLT  declined
	LEAQ 1(DX), BX
	CMPQ BX, AX
	JGT  declined
	MOVQ BX, size+80(FP)
	SUBQ $4, DX
	CMPQ DX, max+24(FP)
	JGT  declined
	MOVWLZX 5(SI), AX
	ROLW $8, AX
	MOVQ text_len+40(FP), CX
	CMPQ AX, CX
	JNE  declined
	ADDQ $5, SI
	MOVQ text_base+32(FP), R9
	MOVQ spans_base+56(FP), DI
	MOVQ $2, R8
	XORQ R11, R11
	MOVQ $0x0101010101010101, R12
	VPXOR Y0, Y0, Y0
	VPXOR Y7, Y7, Y7
	TESTQ CX, CX
	JZ    end

column:
	// The length word: 4 bytes must remain.
	MOVQ DX, AX
	SUBQ R8, AX
	CMPQ AX, $4
	JLT  refuse
	MOVL (SI)(R8*1), BX
	BSWAPL BX
	ADDQ $4, R8
	SUBQ $4, AX
	MOVL R8, rowSpan_off(DI)
	MOVL BX, rowSpan_n(DI)
	TESTL BX, BX
	JS    null
	// BSWAPL cleared the upper half: BX is the length, 0 to 2^31-1.
	CMPQ BX, AX
	JGT  refuse
	LEAQ (SI)(R8*1), R10
	ADDQ BX, R8
	CMPB (R9), $0
	JEQ  next
	CMPQ BX, $32
	JAE  long
	CMPQ BX, $8
	JAE  words
	CMPQ BX, $4
	JAE  halves
	TESTQ BX, BX
	JZ    next
	// 1 to 3 bytes: v[0], v[n/2] and v[n-1], which are all of them, over
	// a word of 0x01 bytes.
	MOVBQZX (R10), AX
	MOVQ    BX, R13
	SHRQ    $1, R13
	MOVBQZX (R10)(R13*1), R13
	SHLQ    $8, R13
	ORQ     R13, AX
	MOVBQZX -1(R10)(BX*1), R13
	SHLQ    $16, R13
	ORQ     R13, AX
	MOVQ    $0x0101010101000000, R13
	ORQ     R13, AX
	ACCWORD
	JMP     next

halves:
	// 4 to 7 bytes: the first four and the last four, overlapping.
	MOVL (R10), AX
	MOVL -4(R10)(BX*1), R13
	SHLQ $32, R13
	ORQ  R13, AX
	ACCWORD
	JMP  next

words:
	// 8 to 31 bytes: the first and the last word; from 16 bytes on also
	// the second and the second to last (they may overlap).
	MOVQ (R10), AX
	ACCWORD
	MOVQ -8(R10)(BX*1), AX
	ACCWORD
	CMPQ BX, $16
	JB   next
	MOVQ 8(R10), AX
	ACCWORD
	MOVQ -16(R10)(BX*1), AX
	ACCWORD
	JMP  next

long:
	// 32 bytes and more. Up to 128, two or four loads, the last ones
	// overlapping the first, and no loop; above, 64 bytes a step, then the
	// last 64.
	CMPQ BX, $64
	JAE  long64
	ACCVEC((R10))
	ACCVEC(-32(R10)(BX*1))
	JMP  next

long64:
	CMPQ BX, $128
	JA   long128
	ACCVEC((R10))
	ACCVEC(32(R10))
	ACCVEC(-64(R10)(BX*1))
	ACCVEC(-32(R10)(BX*1))
	JMP  next

long128:
	LEAQ -64(R10)(BX*1), BX

longloop:
	ACCVEC((R10))
	ACCVEC(32(R10))
	ADDQ $64, R10
	CMPQ R10, BX
	JB   longloop
	ACCVEC((BX))
	ACCVEC(32(BX))
	JMP  next

null:
	CMPL BX, $-1
	JNE  refuse

next:
	INCQ R9
	ADDQ $rowSpan__size, DI
	DECQ CX
	JNZ  column

end:
	// Every byte of body belongs to a column.
	CMPQ R8, DX
	JNE  refuse
	VPMOVMSKB Y7, AX
	MOVQ $0x8080808080808080, R13
	ANDQ R13, R11
	ORQ  R11, AX
	VZEROUPPER
	JNZ  recheck
	MOVB $const_rowOK, verdict+88(FP)
	RET

recheck:
	MOVB $const_rowRecheck, verdict+88(FP)
	RET

refuse:
	VZEROUPPER

declined:
	MOVB $const_rowRefuse, verdict+88(FP)
	RET
