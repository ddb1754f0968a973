package scram

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"hash"
)

// ChannelBindingTypeEndPoint is the only channel binding type PostgreSQL
// supports (RFC 5929 §4).
const ChannelBindingTypeEndPoint = "tls-server-end-point"

// ChannelBinding is tls-server-end-point data for SCRAM-SHA-256-PLUS. It is a
// plain value, safe to share once built; NewClient copies Data.
type ChannelBinding struct {
	// Type is the channel binding type; it must be
	// ChannelBindingTypeEndPoint ("tls-server-end-point").
	Type string
	// Data is the channel binding data: the hash of the server's leaf
	// certificate as computed by EndPointBinding.
	Data []byte
}

// EndPointBinding computes tls-server-end-point data (RFC 5929 §4.1) from the
// server's leaf certificate: the hash of cert.Raw with the hash function of the
// certificate's signature algorithm, where MD5 and SHA-1 are replaced by
// SHA-256 and SHA-384/SHA-512 are kept.
//
// RFC 5929 leaves the binding undefined for signature algorithms that use no
// hash or several (Ed25519, for instance), and for hashes other than the above
// (MD2); PostgreSQL's server cannot compute it either. EndPointBinding returns
// an *Error with ReasonUnsupportedCertificate for those, and for a nil or
// unparsed certificate: the caller must then not use SCRAM-SHA-256-PLUS
// (libpq fails the connection in that case; a caller whose policy merely
// prefers channel binding may fall back to SCRAM-SHA-256 with a nil binding).
func EndPointBinding(cert *x509.Certificate) (*ChannelBinding, error) {
	if cert == nil || len(cert.Raw) == 0 {
		return nil, &Error{Op: OpChannelBinding, Reason: ReasonUnsupportedCertificate, Detail: "no certificate"}
	}
	var h hash.Hash
	switch cert.SignatureAlgorithm {
	case x509.MD5WithRSA,
		x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1,
		x509.SHA256WithRSA, x509.DSAWithSHA256, x509.ECDSAWithSHA256, x509.SHA256WithRSAPSS:
		h = sha256.New()
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
		h = sha512.New384()
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		h = sha512.New()
	default:
		return nil, &Error{
			Op:     OpChannelBinding,
			Reason: ReasonUnsupportedCertificate,
			Detail: "signature algorithm " + cert.SignatureAlgorithm.String(),
		}
	}
	h.Write(cert.Raw)
	return &ChannelBinding{Type: ChannelBindingTypeEndPoint, Data: h.Sum(nil)}, nil
}
