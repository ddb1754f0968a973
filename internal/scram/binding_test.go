package scram_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/internal/scram"
)

// selfSigned creates a self-signed certificate with the given signature
// algorithm and returns it parsed.
func selfSigned(tb testing.TB, key crypto.Signer, alg x509.SignatureAlgorithm) *x509.Certificate {
	tb.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:       big.NewInt(1),
		Subject:            pkix.Name{CommonName: "pgstrict test"},
		NotBefore:          time.Now().Add(-time.Hour),
		NotAfter:           time.Now().Add(time.Hour),
		SignatureAlgorithm: alg,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(tb, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(tb, err)
	require.Equal(tb, alg, cert.SignatureAlgorithm)
	return cert
}

func TestEndPointBinding(t *testing.T) {
	t.Parallel()
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)

	sum256 := func(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
	sum384 := func(b []byte) []byte { s := sha512.Sum384(b); return s[:] }
	sum512 := func(b []byte) []byte { s := sha512.Sum512(b); return s[:] }

	tests := []struct {
		name string
		key  crypto.Signer
		alg  x509.SignatureAlgorithm
		hash func([]byte) []byte // expected hash of cert.Raw
	}{
		{name: "ecdsa sha1 upgraded to sha256", key: ecKey, alg: x509.ECDSAWithSHA1, hash: sum256},
		{name: "rsa sha1 upgraded to sha256", key: rsaKey, alg: x509.SHA1WithRSA, hash: sum256},
		{name: "ecdsa sha256", key: ecKey, alg: x509.ECDSAWithSHA256, hash: sum256},
		{name: "rsa sha256", key: rsaKey, alg: x509.SHA256WithRSA, hash: sum256},
		{name: "ecdsa sha384", key: ecKey, alg: x509.ECDSAWithSHA384, hash: sum384},
		{name: "rsa-pss sha384", key: rsaKey, alg: x509.SHA384WithRSAPSS, hash: sum384},
		{name: "ecdsa sha512", key: ecKey, alg: x509.ECDSAWithSHA512, hash: sum512},
		{name: "rsa sha512", key: rsaKey, alg: x509.SHA512WithRSA, hash: sum512},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cert := selfSigned(t, tc.key, tc.alg)
			cb, err := scram.EndPointBinding(cert)
			require.NoError(t, err)
			assert.Equal(t, "tls-server-end-point", cb.Type)
			assert.Equal(t, tc.hash(cert.Raw), cb.Data)
		})
	}
}

func TestEndPointBindingMD5(t *testing.T) {
	t.Parallel()
	// Go refuses to sign with MD5, so take a real certificate and relabel its
	// algorithm: only SignatureAlgorithm and Raw are consulted.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	cert := selfSigned(t, key, x509.ECDSAWithSHA256)
	relabelled := &x509.Certificate{Raw: cert.Raw, SignatureAlgorithm: x509.MD5WithRSA}
	cb, err := scram.EndPointBinding(relabelled)
	require.NoError(t, err)
	want := sha256.Sum256(cert.Raw)
	assert.Equal(t, want[:], cb.Data)
}

func TestEndPointBindingUndefined(t *testing.T) {
	t.Parallel()
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	edCert := selfSigned(t, edKey, x509.PureEd25519)
	tests := []struct {
		name string
		cert *x509.Certificate
	}{
		{name: "ed25519", cert: edCert},
		{name: "md2", cert: &x509.Certificate{Raw: edCert.Raw, SignatureAlgorithm: x509.MD2WithRSA}},
		{name: "unknown algorithm", cert: &x509.Certificate{Raw: edCert.Raw, SignatureAlgorithm: x509.UnknownSignatureAlgorithm}},
		{name: "nil certificate"},
		{name: "no raw bytes", cert: &x509.Certificate{SignatureAlgorithm: x509.SHA256WithRSA}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cb, err := scram.EndPointBinding(tc.cert)
			assert.Nil(t, cb)
			requireReason(t, err, scram.OpChannelBinding, scram.ReasonUnsupportedCertificate)
		})
	}
}
