package wire

// Unexported functions under test in package wire_test.
var (
	ValidText  = validText
	ASCIINoNUL = asciiNoNUL
)
