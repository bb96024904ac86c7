package testenv

import (
	"bytes"
	"sync"
)

// Buffer is a goroutine-safe byte buffer: a sink for a child process's
// output, a browser's log or a zap logger (it has Sync), read back in
// failure messages and checks while writers may still be running.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Sync lets a Buffer be a zapcore.WriteSyncer; there is nothing to flush.
func (b *Buffer) Sync() error { return nil }

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
