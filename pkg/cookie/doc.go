// Package cookie is the pure codec for extauthz's session cookie and for the
// Cookie / Set-Cookie headers it reads and writes.
//
// It generates and parses session tokens (versioned, 256-bit random), hashes
// them for storage (SHA-256; the raw token is never stored), compares hashes in
// constant time, parses a Cookie request header tolerantly (joins with ";" or
// ",", repeated headers, garbage), and builds Set-Cookie values that can never
// carry CR, LF or other control bytes. It depends on the standard library only.
package cookie
