package pgtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// certsLoad parses the single PEM certificate in path.
func certsLoad(tb testing.TB, path string) *x509.Certificate {
	tb.Helper()
	data, err := os.ReadFile(path)
	require.NoError(tb, err)
	block, rest := pem.Decode(data)
	require.NotNil(tb, block, "no PEM block in %s", path)
	require.Empty(tb, rest)
	require.Equal(tb, "CERTIFICATE", block.Type)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(tb, err)
	return cert
}

func TestCertsGenerateChain(t *testing.T) {
	t.Parallel()
	now := time.Now()
	files, err := certsGenerate(t.TempDir(), rand.Reader, now)
	require.NoError(t, err)

	ca := certsLoad(t, files.caFile)
	assert.True(t, ca.IsCA)
	roots := x509.NewCertPool()
	roots.AddCert(ca)

	tests := []struct {
		name     string             // case
		certFile string             // leaf certificate
		keyFile  string             // its key
		opts     x509.VerifyOptions // what it must be valid for
		wantCN   string             // subject common name
	}{
		{
			name: "server_localhost", certFile: files.serverCertFile, keyFile: files.serverKeyFile,
			opts:   x509.VerifyOptions{DNSName: "localhost", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
			wantCN: "localhost",
		},
		{
			name: "server_loopback_ip", certFile: files.serverCertFile, keyFile: files.serverKeyFile,
			opts:   x509.VerifyOptions{DNSName: "127.0.0.1", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
			wantCN: "localhost",
		},
		{
			name: "client", certFile: files.clientCertFile, keyFile: files.clientKeyFile,
			opts:   x509.VerifyOptions{KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
			wantCN: CertUser,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			leaf := certsLoad(t, tc.certFile)
			opts := tc.opts
			opts.Roots = roots
			opts.CurrentTime = now
			_, err := leaf.Verify(opts)
			require.NoError(t, err)
			assert.Equal(t, tc.wantCN, leaf.Subject.CommonName)
			assert.Equal(t, x509.ECDSAWithSHA256, leaf.SignatureAlgorithm)
			pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
			require.True(t, ok)
			assert.Equal(t, elliptic.P256(), pub.Curve)

			// The key matches the certificate.
			_, err = tls.LoadX509KeyPair(tc.certFile, tc.keyFile)
			require.NoError(t, err)
			fi, err := os.Stat(tc.keyFile)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "key file mode")
		})
	}

	server := certsLoad(t, files.serverCertFile)
	assert.Equal(t, []string{"localhost"}, server.DNSNames)
	require.Len(t, server.IPAddresses, 1)
	assert.True(t, server.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)))
	// The client certificate is not a server certificate.
	_, err = certsLoad(t, files.clientCertFile).Verify(x509.VerifyOptions{
		Roots: roots, CurrentTime: now, DNSName: "localhost",
	})
	assert.Error(t, err)
}

func TestCertsGenerateFailsOnShortRandomness(t *testing.T) {
	t.Parallel()
	// Serial numbers need 16 random bytes each.
	_, err := certsGenerate(t.TempDir(), io.LimitReader(rand.Reader, 3), time.Now())
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
}
