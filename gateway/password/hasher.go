package password

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/authgate/gateway/config"
)

const (
	// saltLength and keyLength are fixed: 16 random bytes of salt and a
	// 32-byte key, as RFC 9106 recommends. A stored hash with other lengths
	// verifies but is reported as needing a rehash.
	saltLength = 16
	keyLength  = 32

	// maxMemoryKiB is the largest argon2 memory cost accepted, in the
	// configuration and in a stored hash: 4 GiB, as config.Validate allows.
	maxMemoryKiB = 4 * 1024 * 1024

	// Bounds on a stored hash, so that a corrupted or forged database row
	// gives ErrInvalidHash instead of a panic in argon2 (t=0, p=0) or an
	// absurd key. RFC 9106 section 3.1: salt ≥ 8 bytes, tag ≥ 4 bytes; we
	// never write less than 16.
	minStoredSalt = 8
	maxStoredSalt = 64
	minStoredKey  = 16
	maxStoredKey  = 64
)

var (
	// ErrOverloaded is returned (wrapped in *OverloadedError, which carries
	// the suggested Retry-After) when no hashing slot freed up within
	// max_wait. The HTTP layer answers 503 "overloaded" with Retry-After.
	ErrOverloaded = errors.New("password: too many password hashes in progress")

	// ErrInvalidHash means a stored hash is not an argon2id PHC string this
	// package can verify, or its parameters are out of range. It is a
	// technical error (the stored data is bad), not a wrong password.
	ErrInvalidHash = errors.New("password: invalid stored hash")

	// ErrInvalidConfig is returned by New for parameters argon2 cannot use.
	ErrInvalidConfig = errors.New("password: invalid hashing configuration")
)

// OverloadedError is the error a caller gets when every hashing slot stayed
// busy for max_wait. errors.Is(err, ErrOverloaded) is true for it.
type OverloadedError struct {
	// RetryAfter is how long the client should wait before trying again.
	RetryAfter time.Duration
}

func (e *OverloadedError) Error() string {
	return fmt.Sprintf("%v (retry after %v)", ErrOverloaded, e.RetryAfter)
}

// Unwrap makes errors.Is(err, ErrOverloaded) true.
func (e *OverloadedError) Unwrap() error { return ErrOverloaded }

// RetryAfter returns the suggested Retry-After of an overload error anywhere
// in err's chain, and whether there was one.
func RetryAfter(err error) (time.Duration, bool) {
	var o *OverloadedError
	if errors.As(err, &o) {
		return o.RetryAfter, true
	}
	return 0, false
}

// Observer receives the Hasher's queueing events, for metrics
// (gateway_password_hash_wait_seconds). Methods are called synchronously on
// the caller's goroutine, concurrently from many goroutines: they must be
// fast and safe for concurrent use.
type Observer interface {
	// HashWait reports how long a caller waited for a hashing slot; it is
	// called once for every computation that got a slot (0 when one was
	// free at once).
	HashWait(d time.Duration)
	// HashRejected reports a caller turned away with ErrOverloaded. A caller
	// whose context ended while waiting is reported by neither method.
	HashRejected()
}

// Hasher hashes and verifies passwords with argon2id under a concurrency
// bound. It is safe for concurrent use; build one per process with New and
// share it, since the bound is per Hasher.
type Hasher struct {
	params argon2id.Params
	sem    chan struct{} // one token per hash in progress (max_concurrent)
	// cpu lets at most GOMAXPROCS of the hashes in progress compute at
	// once (fewer if max_concurrent is lower); the others keep their slot
	// and wait here, in order. argon2 is CPU-bound: with more computations
	// than processors the scheduler time-slices them, so every one of them
	// takes longer (and the tail much longer on a busy machine), while
	// each holds its 19 MiB. Queued instead, the same throughput comes
	// with fewer computations in flight, half the memory at the default
	// max_concurrent of 2 × CPUs, and a shorter tail.
	cpu        chan struct{}
	maxWait    time.Duration
	retryAfter time.Duration
	obs        Observer
	// dummy is a hash of a random secret made at construction with the
	// configured parameters; VerifyUnknown verifies against it.
	dummy string

	// computeHook, when set (tests only; nil in production), is called
	// with +1 just before and -1 just after every argon2 computation, inside
	// the slot, so that tests can count computations in flight.
	computeHook func(delta int)
}

// New returns a Hasher for cfg (SPEC 3 passwords): memory_kib, iterations,
// parallelism, max_concurrent (0 means 2 × runtime.NumCPU()) and max_wait
// (must be positive). obs may be nil. New computes one hash (the dummy for
// VerifyUnknown), so it takes as long as one login.
func New(cfg config.Passwords, obs Observer) (*Hasher, error) {
	var errs []error
	if cfg.Parallelism < 1 {
		errs = append(errs, errors.New("parallelism must be at least 1"))
	}
	if cfg.Iterations < 1 {
		errs = append(errs, errors.New("iterations must be at least 1"))
	}
	if cfg.MemoryKiB < 8*uint32(max(cfg.Parallelism, 1)) || cfg.MemoryKiB > maxMemoryKiB {
		errs = append(errs, errors.New("memory_kib must be between 8 × parallelism and 4 GiB"))
	}
	if cfg.MaxConcurrent < 0 {
		errs = append(errs, errors.New("max_concurrent must not be negative"))
	}
	if cfg.MaxWait <= 0 {
		errs = append(errs, errors.New("max_wait must be positive"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}

	n := cfg.MaxConcurrent
	if n == 0 {
		n = 2 * runtime.NumCPU()
	}
	h := &Hasher{
		params: argon2id.Params{
			Memory:      cfg.MemoryKiB,
			Iterations:  cfg.Iterations,
			Parallelism: cfg.Parallelism,
			SaltLength:  saltLength,
			KeyLength:   keyLength,
		},
		sem:     make(chan struct{}, n),
		cpu:     make(chan struct{}, min(n, runtime.GOMAXPROCS(0))),
		maxWait: cfg.MaxWait,
		// A slot frees up every few tens of milliseconds, but a client told
		// to come back at once would rejoin the same queue: ask for at least
		// a second (the header's granularity), or max_wait if longer.
		retryAfter: max(time.Second, cfg.MaxWait),
		obs:        obs,
	}

	// The dummy hashes 32 random bytes nobody knows, so no password can
	// match it; it is made here, outside the bound, once.
	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // crypto/rand.Read never fails (Go 1.24+)
	dummy, err := argon2id.CreateHash(string(secret), &h.params)
	if err != nil {
		return nil, fmt.Errorf("password: making the dummy hash: %w", err)
	}
	h.dummy = dummy
	return h, nil
}

// Hash returns the argon2id PHC string of pw with the configured parameters.
// It waits for a hashing slot as described on the package; errors are
// ErrOverloaded (as *OverloadedError) or ctx.Err(). Callers check Rules
// first: Hash itself accepts any string.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	release, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	var encoded string
	if cerr := h.compute(ctx, func() { encoded, err = argon2id.CreateHash(pw, &h.params) }); cerr != nil {
		return "", cerr
	}
	if err != nil {
		return "", fmt.Errorf("password: hashing: %w", err)
	}
	return encoded, nil
}

// Verify reports whether pw matches encodedHash, in constant time with
// respect to the key. needsRehash is true when pw matched and the stored
// hash was made with parameters (memory, iterations, parallelism, salt or key
// length) other than the configured ones: the caller should then store
// Hash(pw). It is always false when pw did not match, so that a wrong
// password can never be written as the new hash.
//
// A wrong password is (false, false, nil). err is ErrInvalidHash (wrapped)
// for a stored hash that cannot be verified, ErrOverloaded or ctx.Err().
func (h *Hasher) Verify(ctx context.Context, pw, encodedHash string) (match, needsRehash bool, err error) {
	return h.verify(ctx, pw, encodedHash)
}

// VerifyUnknown spends exactly what Verify spends (same code path, the
// configured parameters, a slot from the same bound) on a dummy hash that no
// password matches. Call it when the account does not exist (or has no
// password) so that the answer takes as long as for a real account and
// timing tells nothing (SPEC 9). It returns only ErrOverloaded or ctx.Err();
// since both paths share the slots, they are overloaded together and an
// overload answer says nothing about the account either.
func (h *Hasher) VerifyUnknown(ctx context.Context, pw string) error {
	_, _, err := h.verify(ctx, pw, h.dummy)
	return err
}

func (h *Hasher) verify(ctx context.Context, pw, encoded string) (match, needsRehash bool, err error) {
	p, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return false, false, err
	}
	defer release()
	if cerr := h.compute(ctx, func() { match, _, err = argon2id.CheckHash(pw, encoded) }); cerr != nil {
		return false, false, cerr
	}
	if err != nil {
		// decode accepted it, so this cannot happen; keep it an error.
		return false, false, fmt.Errorf("%w: %w", ErrInvalidHash, err)
	}
	if !match {
		return false, false, nil
	}
	return true, !h.sameParams(p), nil
}

// sameParams reports whether a stored hash's parameters are the configured
// ones.
func (h *Hasher) sameParams(p *argon2id.Params) bool {
	return p.Memory == h.params.Memory &&
		p.Iterations == h.params.Iterations &&
		p.Parallelism == h.params.Parallelism &&
		p.SaltLength == h.params.SaltLength &&
		p.KeyLength == h.params.KeyLength
}

// decode parses a stored hash and checks that argon2 can run it without
// panicking (t ≥ 1, p ≥ 1) and within sane bounds. Memory up to 4 GiB is
// accepted so that hashes made under an earlier, costlier configuration still
// verify (and are then rehashed); while such hashes are verified, memory is
// bounded by max_concurrent × their memory instead of memory_kib.
func decode(encoded string) (*argon2id.Params, error) {
	p, salt, key, err := argon2id.DecodeHash(encoded)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidHash, err)
	}
	switch {
	case p.Parallelism < 1:
		return nil, fmt.Errorf("%w: parallelism %d", ErrInvalidHash, p.Parallelism)
	case p.Iterations < 1:
		return nil, fmt.Errorf("%w: iterations %d", ErrInvalidHash, p.Iterations)
	case p.Memory < 8*uint32(p.Parallelism) || p.Memory > maxMemoryKiB:
		return nil, fmt.Errorf("%w: memory %d KiB", ErrInvalidHash, p.Memory)
	case len(salt) < minStoredSalt || len(salt) > maxStoredSalt:
		return nil, fmt.Errorf("%w: salt of %d bytes", ErrInvalidHash, len(salt))
	case len(key) < minStoredKey || len(key) > maxStoredKey:
		return nil, fmt.Errorf("%w: key of %d bytes", ErrInvalidHash, len(key))
	}
	return p, nil
}

// acquire takes a hashing slot, waiting at most maxWait and never past ctx.
// The returned func gives the slot back.
func (h *Hasher) acquire(ctx context.Context) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	start := time.Now()
	select {
	case h.sem <- struct{}{}:
	default:
		timer := time.NewTimer(h.maxWait)
		defer timer.Stop()
		select {
		case h.sem <- struct{}{}:
		case <-timer.C:
			if h.obs != nil {
				h.obs.HashRejected()
			}
			return nil, &OverloadedError{RetryAfter: h.retryAfter}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if h.obs != nil {
		h.obs.HashWait(time.Since(start))
	}
	return h.release, nil
}

func (h *Hasher) release() { <-h.sem }

// compute runs one argon2 computation once a processor is free (see
// Hasher.cpu), reporting it to the test hook. The caller holds a slot, so
// the wait is bounded: at most max_concurrent computations are ahead of it.
// It returns ctx.Err() if ctx ends first.
func (h *Hasher) compute(ctx context.Context, f func()) error {
	select {
	case h.cpu <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-h.cpu }()
	if h.computeHook != nil {
		h.computeHook(+1)
		defer h.computeHook(-1)
	}
	f()
	return nil
}
