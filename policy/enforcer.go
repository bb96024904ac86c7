package policy

import (
	"context"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// Options configure an Enforcer. The zero value is usable.
type Options struct {
	// Logger receives reloads (info), refused reloads (error) and watch
	// problems (warn). Nil: no logging.
	Logger *zap.Logger
	// PollInterval is how often Run re-reads the file whatever inotify says
	// (it says nothing on some network and overlay file systems, or for a
	// symlink into another directory). 0 means 1 s; negative disables
	// polling.
	PollInterval time.Duration
	// OnReload, if set, is called after every reload attempt of a changed
	// file, from Run's goroutine (or Reload's caller): with the new policy,
	// or with the error that refused the file. For metrics.
	OnReload func(p *Policy, err error)
}

// Stats describes the reloads of an Enforcer, for metrics and /readyz.
type Stats struct {
	File     string
	Hash     string    // SHA-256 of the policy in force
	Rules    int       // p lines of the policy in force
	LoadedAt time.Time // when the policy in force was loaded
	Reloads  uint64    // changes loaded since the first load
	Failures uint64    // changes refused
	// LastError is why the file on disk is not in force: the error of the
	// last reload attempt if it failed, nil if it succeeded.
	LastError error
}

// Enforcer holds the policy in force and reloads it when the file changes.
// Decide is lock-free and safe for concurrent use with reloads.
type Enforcer struct {
	path string
	opt  Options
	log  *zap.Logger
	cur  atomic.Pointer[Policy]

	reloading sync.Mutex // serializes reloads

	mu       sync.Mutex // guards the fields below
	seen     [32]byte   // hash of the content last tried, valid or not (zero: missing)
	loadedAt time.Time
	reloads  uint64
	failures uint64
	lastErr  error

	disableNotify bool          // tests: poll only, as where inotify does not work
	watching      chan struct{} // closed once Run watches (tests)
	watchingOnce  sync.Once
}

// debounce is how long Run waits after a file system event for the burst
// to end (editors write, rename and chmod; ConfigMaps swap two symlinks)
// before it reads the file.
const debounce = 100 * time.Millisecond

// settleAttempts bounds how many times Reload re-reads a file that does
// not load and keeps changing (debounce apart) before it refuses it.
const settleAttempts = 5

// NewEnforcer loads the policy file at path. An invalid file is an error:
// there is no previous policy to keep. Call Run to follow changes.
func NewEnforcer(path string, opt Options) (*Enforcer, error) {
	if opt.Logger == nil {
		opt.Logger = zap.NewNop()
	}
	if opt.PollInterval == 0 {
		opt.PollInterval = time.Second
	}
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	p, err := compile(path, data)
	if err != nil {
		return nil, err
	}
	e := &Enforcer{path: path, opt: opt, log: opt.Logger.With(zap.String("file", path)), watching: make(chan struct{})}
	e.cur.Store(p)
	e.seen = p.hash
	e.loadedAt = time.Now()
	for _, w := range p.warnings {
		e.log.Warn("policy warning", zap.Int("line", w.Line), zap.String("warning", w.Msg))
	}
	return e, nil
}

// Policy returns the policy in force.
func (e *Enforcer) Policy() *Policy { return e.cur.Load() }

// Decide decides with the policy in force; see Policy.Decide.
func (e *Enforcer) Decide(roles []string, method, path string) Decision {
	return e.cur.Load().Decide(roles, method, path)
}

// Stats returns the reload counters.
func (e *Enforcer) Stats() Stats {
	p := e.cur.Load()
	e.mu.Lock()
	defer e.mu.Unlock()
	return Stats{
		File: e.path, Hash: p.Hash(), Rules: len(p.rules), LoadedAt: e.loadedAt,
		Reloads: e.reloads, Failures: e.failures, LastError: e.lastErr,
	}
}

// Reload reads the file now and, if its content changed since the last
// attempt, loads it: a valid file replaces the policy in force, an invalid
// or missing one is refused and the policy in force stays. It returns the
// error of a refused file (also when it is the same refused content as
// before). Run calls it on every change; call it yourself on SIGHUP.
//
// A file caught half-written (an editor truncates, then writes) would be
// refused for nothing: a file that does not load is read again after a
// short pause, and refused only if it did not change meanwhile.
func (e *Enforcer) Reload() error {
	e.reloading.Lock()
	defer e.reloading.Unlock()
	var prevSum [32]byte
	var prevErr error
	for attempt := 0; ; attempt++ {
		data, readErr := readFile(e.path)
		sum := sha256.Sum256(data)
		if readErr != nil {
			sum = [32]byte{} // "missing" is one content: refused once
		}
		if prevErr != nil && sum == prevSum {
			// It did not load and has not changed since: refuse it.
			e.refuse(sum, prevErr)
			return prevErr
		}
		e.mu.Lock()
		seen, lastErr := e.seen, e.lastErr
		e.mu.Unlock()
		if sum == seen {
			return lastErr
		}
		if inForce := e.cur.Load(); readErr == nil && inForce.hash == sum {
			// Back to the content in force (after a refused edit):
			// nothing to load, and nothing wrong any more.
			e.mu.Lock()
			e.seen, e.lastErr = sum, nil
			e.mu.Unlock()
			return nil
		}
		began := time.Now()
		p, err := (*Policy)(nil), readErr
		if err == nil {
			p, err = compile(e.path, data)
		}
		if err != nil {
			if attempt >= settleAttempts {
				e.refuse(sum, err)
				return err
			}
			prevSum, prevErr = sum, err
			time.Sleep(debounce)
			continue
		}
		e.cur.Store(p)
		e.mu.Lock()
		e.seen, e.lastErr = sum, nil
		e.loadedAt = time.Now()
		e.reloads++
		e.mu.Unlock()
		e.log.Info("policy reloaded", zap.String("hash", p.Hash()[:12]), zap.Int("rules", len(p.rules)),
			zap.Int("warnings", len(p.warnings)), zap.Duration("took", time.Since(began)))
		for _, w := range p.warnings {
			e.log.Warn("policy warning", zap.Int("line", w.Line), zap.String("warning", w.Msg))
		}
		if e.opt.OnReload != nil {
			e.opt.OnReload(p, nil)
		}
		return nil
	}
}

// refuse records a refused reload of the content with hash sum.
func (e *Enforcer) refuse(sum [32]byte, err error) {
	e.mu.Lock()
	e.seen = sum
	e.failures++
	e.lastErr = err
	e.mu.Unlock()
	fields := []zap.Field{zap.Error(err), zap.String("in_force", e.cur.Load().Hash()[:12])}
	var pe *ParseError
	if errors.As(err, &pe) {
		lines := make([]int, len(pe.Problems))
		for i, p := range pe.Problems {
			lines[i] = p.Line
		}
		fields = append(fields, zap.Ints("lines", lines))
	}
	e.log.Error("policy reload refused; the previous policy stays in force", fields...)
	if e.opt.OnReload != nil {
		e.opt.OnReload(nil, err)
	}
}

// Run follows the file until ctx is done, then returns nil. It watches the
// file's directory (not the file: editors and ConfigMaps replace it, which
// ends a watch on the file itself) and, whatever the watch says, re-reads
// the file every PollInterval; a change is compared by content hash, so
// events that change nothing cost one read.
func (e *Enforcer) Run(ctx context.Context) error {
	var events <-chan fsnotify.Event
	var watchErrs <-chan error
	w, err := fsnotify.NewWatcher()
	if err == nil && e.disableNotify {
		_ = w.Close()
		err = errors.New("disabled")
	}
	if err == nil {
		err = w.Add(filepath.Dir(e.path))
		if err != nil {
			_ = w.Close()
		}
	}
	if err != nil {
		e.log.Warn("policy: file system notifications unavailable; polling only", zap.Error(err),
			zap.Duration("interval", e.opt.PollInterval))
	} else {
		defer w.Close()
		events, watchErrs = w.Events, w.Errors
	}

	var tick <-chan time.Time
	if e.opt.PollInterval > 0 {
		t := time.NewTicker(e.opt.PollInterval)
		defer t.Stop()
		tick = t.C
	}
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()

	// A change between NewEnforcer and the watch is not missed.
	_ = e.Reload()
	e.watchingOnce.Do(func() { close(e.watching) })
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			settle.Reset(debounce)
		case err, ok := <-watchErrs:
			if !ok {
				watchErrs = nil
				continue
			}
			// Typically an overflowed inotify queue: read the file now.
			e.log.Warn("policy: file watch error", zap.Error(err))
			settle.Reset(debounce)
		case <-settle.C:
			_ = e.Reload()
		case <-tick:
			_ = e.Reload()
		}
	}
}
