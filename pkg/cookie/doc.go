// Package cookie is the pure codec for extauthz's session cookie and for the
// Cookie / Set-Cookie headers it reads and writes.
//
// It generates and parses session tokens (versioned, 256-bit random), hashes
// them for storage (SHA-256; the raw token is never stored), compares hashes in
// constant time, parses Cookie request headers as RFC 6265 does (pairs split
// on ";" only, several header lines as separate inputs, no count that could
// hide a pair), rewrites a Cookie header without the pairs the service
// removes while keeping every other pair byte for byte (Strip), and builds
// Set-Cookie values that can never carry CR, LF or other control bytes. It
// depends on the standard library only.
package cookie
