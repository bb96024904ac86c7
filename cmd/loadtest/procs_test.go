package main

import (
	"os"
	"testing"
)

// TestReadMemory reads this test process's own memory: RSS is its
// anonymous part plus its file pages (plus shared memory), and the peak is
// at least RSS now.
func TestReadMemory(t *testing.T) {
	m, err := readMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.Anon <= 0 || m.File <= 0 || m.HWM < m.RSS || m.Anon+m.File > m.RSS {
		t.Errorf("readMemory = %+v: want RSS >= anon + file > 0 and peak >= RSS", m)
	}
	if _, err := readMemory(-1); err == nil {
		t.Error("readMemory(-1) succeeded")
	}
}
