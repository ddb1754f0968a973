package scram

// SetUserAndNonce replaces the SCRAM user name and the client nonce of a
// client that has not produced client-first-message yet, so that tests can
// replay published vectors (RFC 7677 uses n=user and a 20-character nonce).
func SetUserAndNonce(c *Client, user, nonce string) {
	c.user = user
	c.clientNonce = nonce
}

// SetMaxIterations lowers the iteration cap of one client, so that tests and
// fuzzing can reach the limit without running PBKDF2 ten million times.
func SetMaxIterations(c *Client, n int) { c.maxIterations = n }

// SASLprep exposes saslPrep.
var SASLprep = saslPrep
