package pgtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CertUser is the common name of the client certificate that a managed
// cluster writes next to its CA; it is also the name of the role that
// authenticates with it (RoleCert).
const CertUser = "pgstrict_cert"

// certsFiles holds the paths of the TLS files of one cluster.
type certsFiles struct {
	caFile         string // CA certificate (PEM), trusted by server and client
	serverCertFile string // server certificate signed by the CA (PEM)
	serverKeyFile  string // server private key (PEM, PKCS #8), mode 0600
	clientCertFile string // client certificate for CertUser signed by the CA (PEM)
	clientKeyFile  string // client private key (PEM, PKCS #8), mode 0600
}

// certsValidity is how long the generated certificates are valid; a cluster
// lives for one test binary or one sandbox session, far less than this.
const certsValidity = 10 * 365 * 24 * time.Hour

// certsGenerate creates a self-signed CA, a server certificate for localhost
// and 127.0.0.1 and a client certificate with CN CertUser, all ECDSA P-256
// signed with SHA-256, and writes them into dir. random supplies key and
// serial-number randomness; now anchors the validity period.
func certsGenerate(dir string, random io.Reader, now time.Time) (certsFiles, error) {
	files := certsFiles{
		caFile:         filepath.Join(dir, "ca.crt"),
		serverCertFile: filepath.Join(dir, "server.crt"),
		serverKeyFile:  filepath.Join(dir, "server.key"),
		clientCertFile: filepath.Join(dir, "client.crt"),
		clientKeyFile:  filepath.Join(dir, "client.key"),
	}
	notBefore := now.Add(-time.Hour) // tolerate small clock differences
	notAfter := now.Add(certsValidity)

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), random)
	if err != nil {
		return certsFiles{}, fmt.Errorf("generate ca key: %w", err)
	}
	caSerial, err := certsSerial(random)
	if err != nil {
		return certsFiles{}, err
	}
	caTemplate := &x509.Certificate{
		SerialNumber:          caSerial,
		Subject:               pkix.Name{CommonName: "pgstrict test CA"},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(random, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		return certsFiles{}, fmt.Errorf("create ca certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return certsFiles{}, fmt.Errorf("parse ca certificate: %w", err)
	}
	if err := certsWritePEM(files.caFile, "CERTIFICATE", caDER, 0o644); err != nil {
		return certsFiles{}, err
	}

	leaves := []struct {
		certFile, keyFile string
		template          x509.Certificate
	}{
		{
			certFile: files.serverCertFile,
			keyFile:  files.serverKeyFile,
			template: x509.Certificate{
				Subject:     pkix.Name{CommonName: "localhost"},
				DNSNames:    []string{"localhost"},
				IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
				ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			},
		},
		{
			certFile: files.clientCertFile,
			keyFile:  files.clientKeyFile,
			template: x509.Certificate{
				Subject:     pkix.Name{CommonName: CertUser},
				ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			},
		},
	}
	for _, leaf := range leaves {
		key, err := ecdsa.GenerateKey(elliptic.P256(), random)
		if err != nil {
			return certsFiles{}, fmt.Errorf("generate key for %s: %w", leaf.template.Subject.CommonName, err)
		}
		serial, err := certsSerial(random)
		if err != nil {
			return certsFiles{}, err
		}
		tmpl := leaf.template
		tmpl.SerialNumber = serial
		tmpl.NotBefore = notBefore
		tmpl.NotAfter = notAfter
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(random, &tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			return certsFiles{}, fmt.Errorf("create certificate for %s: %w", tmpl.Subject.CommonName, err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return certsFiles{}, fmt.Errorf("marshal key for %s: %w", tmpl.Subject.CommonName, err)
		}
		if err := certsWritePEM(leaf.certFile, "CERTIFICATE", der, 0o644); err != nil {
			return certsFiles{}, err
		}
		if err := certsWritePEM(leaf.keyFile, "PRIVATE KEY", keyDER, 0o600); err != nil {
			return certsFiles{}, err
		}
	}
	return files, nil
}

// certsSerial returns a random positive 128-bit serial number.
func certsSerial(random io.Reader) (*big.Int, error) {
	buf := make([]byte, 16)
	if _, err := io.ReadFull(random, buf); err != nil {
		return nil, fmt.Errorf("read serial number: %w", err)
	}
	buf[0] &= 0x7f
	buf[0] |= 0x40 // never zero, never negative
	return new(big.Int).SetBytes(buf), nil
}

// certsWritePEM writes one PEM block to path with the given mode. The mode is
// applied explicitly so that a restrictive umask cannot widen or narrow it.
func certsWritePEM(path, blockType string, der []byte, mode os.FileMode) error {
	data := pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
	if err := os.WriteFile(path, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := os.Chmod(path, mode); err != nil {
		return fmt.Errorf("chmod %s: %w", filepath.Base(path), err)
	}
	return nil
}
