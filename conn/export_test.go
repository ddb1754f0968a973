package conn

// SendWakeState reports whether c has a send-wake timer and, if so, whether
// it is still armed (which it must never be between writes). It stops the
// timer, which is stopped already when the answer is right.
func SendWakeState(c *Conn) (has, armed bool) {
	if c.sendWake == nil {
		return false, false
	}
	return true, c.sendWake.Stop()
}
