// Package secrets is the secrets capability: the host computes with
// secrets from puma.toml's [secrets] that the plugin was granted
// (grants = { secrets = ["webhook_hmac"] }), and the plugin never sees
// them. Importing it makes the module need the grant.
//
// To send a secret in an HTTP header, name it in the header instead (see
// package sdk/http); this package signs data with one.
//
// Outside Wasm (in unit tests) the secrets are those set with
// sdktest.Secret.
package secrets

// HMACSHA256 returns the HMAC-SHA256 of data keyed with the named secret.
func HMACSHA256(secret string, data []byte) ([]byte, error) { return mac(nil, 1, secret, data) }

// HMACSHA512 returns the HMAC-SHA512 of data keyed with the named secret.
func HMACSHA512(secret string, data []byte) ([]byte, error) { return mac(nil, 2, secret, data) }

// AppendHMACSHA256 appends the HMAC-SHA256 of data keyed with the named
// secret to dst: with room in dst, it allocates nothing (for a handler
// hashing a column of every row).
func AppendHMACSHA256(dst []byte, secret string, data []byte) ([]byte, error) {
	return mac(dst, 1, secret, data)
}

// AppendHMACSHA512 is AppendHMACSHA256 with SHA-512.
func AppendHMACSHA512(dst []byte, secret string, data []byte) ([]byte, error) {
	return mac(dst, 2, secret, data)
}
