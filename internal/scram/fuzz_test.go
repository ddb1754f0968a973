package scram_test

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/pgstrict/pgstrict/internal/scram"
)

// FuzzServerFirst feeds arbitrary server-first-messages to a client. Property:
// ServerFirst never panics, and whenever it accepts a message, the returned
// client-final-message is exactly c=,r=,p= with the combined nonce echoed back
// and a 44-character base64 proof of 32 bytes.
func FuzzServerFirst(f *testing.F) {
	salt := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	// Valid messages.
	f.Add("r=" + fixedNonce + "srv,s=" + salt + ",i=4096")
	f.Add("r=" + fixedNonce + "%hvYDpWUa2R,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1")
	// Invalid ones from the table tests.
	f.Add("")
	f.Add("m=x,r=" + fixedNonce + "s,s=" + salt + ",i=1")
	f.Add("r=" + fixedNonce + ",s=" + salt + ",i=1")
	f.Add("r=" + fixedNonce + "s,s=" + salt + ",i=1,x=y")
	f.Add("r=" + fixedNonce + "s,s=QUI,i=1")
	f.Add("r=" + fixedNonce + "s,s=" + salt + ",i=04096")
	f.Add("r=" + fixedNonce + "s,s=" + salt + ",i=99999999999999999999")

	f.Fuzz(func(t *testing.T, msg string) {
		c, err := scram.NewClient(scram.MechanismSCRAMSHA256, "pw", nil, bytes.NewReader(fixedRandom))
		if err != nil {
			t.Fatal(err)
		}
		scram.SetMaxIterations(c, 4096) // keep each run fast; the cap itself is still exercised
		c.ClientFirst()
		final, err := c.ServerFirst([]byte(msg))
		if err != nil {
			if final != nil {
				t.Fatalf("error %v with non-nil client-final", err)
			}
			return
		}
		serverNonce := strings.TrimPrefix(strings.SplitN(msg, ",", 2)[0], "r=")
		attrs := strings.Split(string(final), ",")
		if len(attrs) != 3 {
			t.Fatalf("client-final %q: want 3 attributes", final)
		}
		if attrs[0] != "c=biws" {
			t.Fatalf("client-final %q: channel binding attribute", final)
		}
		if attrs[1] != "r="+serverNonce || !strings.HasPrefix(serverNonce, fixedNonce) {
			t.Fatalf("client-final %q: nonce does not echo %q", final, serverNonce)
		}
		proof, ok := strings.CutPrefix(attrs[2], "p=")
		if !ok || len(proof) != 44 {
			t.Fatalf("client-final %q: proof attribute", final)
		}
		raw, err := base64.StdEncoding.Strict().DecodeString(proof)
		if err != nil || len(raw) != 32 {
			t.Fatalf("client-final %q: proof does not decode to 32 bytes: %v", final, err)
		}
	})
}
