package conn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
)

// tlsConfig builds the TLS configuration for this host from the SSL fields,
// following libpq's sslmode rules:
//
//   - prefer, allow: encryption without verification.
//   - require: encryption without verification, unless SSLRootCert is set,
//     in which case the chain is verified as with verify-ca (libpq does the
//     same when a root certificate file exists).
//   - verify-ca: the chain must lead to a trusted root; the host name is not
//     checked.
//   - verify-full: the chain and the host name are verified.
//
// SNI is sent when the host is a name, not an address. A TLSConfig in the
// Config replaces all of this.
func (c *Conn) tlsConfig() (*tls.Config, error) {
	cfg := c.cfg
	host := c.host.Host
	if host == "" {
		host = c.host.Hostaddr
	}
	if cfg.TLSConfig != nil {
		tc := cfg.TLSConfig.Clone()
		if tc.ServerName == "" && net.ParseIP(host) == nil && !isSocketPath(host) {
			tc.ServerName = host
		}
		return tc, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if net.ParseIP(host) == nil && !isSocketPath(host) {
		tc.ServerName = host
	}
	var roots *x509.CertPool
	if cfg.SSLRootCert != "" && cfg.SSLRootCert != "system" {
		pem, err := os.ReadFile(cfg.SSLRootCert)
		if err != nil {
			return nil, fmt.Errorf("sslrootcert: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("sslrootcert %s: no PEM certificate found", cfg.SSLRootCert)
		}
	}
	mode := cfg.SSLMode
	if mode == SSLModeRequire && roots != nil {
		mode = SSLModeVerifyCA
	}
	switch mode {
	case SSLModeVerifyFull:
		tc.RootCAs = roots
		if tc.ServerName == "" {
			// An IP address: verify it against the certificate's IP SANs.
			tc.ServerName = host
		}
	case SSLModeVerifyCA:
		tc.InsecureSkipVerify = true
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server presented no certificate")
			}
			opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
			for _, ic := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(ic)
			}
			_, err := cs.PeerCertificates[0].Verify(opts)
			return err
		}
	default:
		tc.InsecureSkipVerify = true
	}
	if cfg.SSLCert != "" || cfg.SSLKey != "" {
		if cfg.SSLCert == "" || cfg.SSLKey == "" {
			return nil, errors.New("sslcert and sslkey must be given together")
		}
		if cfg.SSLPassword != "" {
			return nil, errors.New("sslpassword: encrypted client keys are not supported; decrypt the key file")
		}
		cert, err := tls.LoadX509KeyPair(cfg.SSLCert, cfg.SSLKey)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
