// Package password hashes, verifies and judges the gateway's passwords.
//
// It guarantees:
//
//   - Hashes are argon2id (github.com/alexedwards/argon2id, PHC string format)
//     with the configured memory, iterations and parallelism, a 16-byte
//     random salt and a 32-byte key. Verify reports when a stored hash was
//     made with other parameters, so that login can rehash transparently.
//   - At most passwords.max_concurrent argon2 computations run at once,
//     process-wide for one Hasher. A caller waits at most passwords.max_wait
//     for a slot (and never past its context), then gets ErrOverloaded with a
//     suggested Retry-After. Memory spent on hashing therefore stays bounded
//     at about max_concurrent × memory_kib however many logins arrive
//     (SPEC 9: "memory stays bounded under any login flood"). Of the
//     max_concurrent hashes in progress, at most GOMAXPROCS compute at once
//     and the others wait their turn inside their slot: argon2 is
//     CPU-bound, so time-slicing more computations than processors only
//     stretches every one of them and holds more memory.
//   - VerifyUnknown costs what a real Verify costs (same code path, same
//     parameters, same slot), so that login answers take the same time
//     whether or not the account exists (SPEC 9).
//   - A malformed or out-of-range stored hash is an error (ErrInvalidHash),
//     never a panic.
//   - Rules refuse, before any hashing, passwords that are too short or too
//     long (counted in Unicode code points), that contain NUL or are not valid
//     UTF-8 (code validation_failed), and passwords that are common, contain
//     the email's local part or are one repeated character (weak_password).
//
// Passwords are never normalised: the exact bytes the user sent are hashed.
// Unicode normalisation (NFKC) would make verification depend on the Unicode
// tables of whatever golang.org/x/text version a future build links (a table
// change could lock users out), and it buys little: argon2 accepts any bytes,
// and a client that sends the same password sends the same bytes. The cost is
// that a user who types a composed character on one device and a decomposed
// one on another gets "invalid credentials"; we accept that (it is rare, and
// NIST SP 800-63B only recommends, not requires, normalisation). Emails, by
// contrast, are normalised by the account package.
//
// Nothing here logs, and no error message contains a password.
package password
