package password

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
)

// rawCommon returns the embedded list's lines as shipped.
func rawCommon(t *testing.T) []string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(commonGz))
	if err != nil {
		t.Fatalf("embedded list is not gzip: %v", err)
	}
	var lines []string
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading embedded list: %v", err)
	}
	return lines
}

func TestCommonListLoaded(t *testing.T) {
	set := common.get()
	if len(set) < 10000 {
		t.Fatalf("common list has %d entries, want at least 10,000", len(set))
	}
	if again := common.get(); len(again) != len(set) {
		t.Fatalf("second load differs: %d vs %d entries", len(again), len(set))
	}
	lines := rawCommon(t)
	if len(lines) != len(set) {
		t.Errorf("list has %d lines but %d distinct entries: duplicates or blank lines shipped", len(lines), len(set))
	}
	for _, w := range lines {
		if w != normaliseCommon(w) {
			t.Errorf("entry %q is not stored in lookup form (lower case, trimmed)", w)
		}
	}
}

func TestIsCommon(t *testing.T) {
	lines := rawCommon(t)
	// The 20 most common entries, each in several spellings.
	for _, w := range lines[:20] {
		for _, form := range []string{w, strings.ToUpper(w), strings.ToUpper(w[:1]) + w[1:], " " + w + " "} {
			if !IsCommon(form) {
				t.Errorf("IsCommon(%q) = false, want true (list entry %q)", form, w)
			}
		}
	}
	// Entries further down the list are in it too.
	for _, i := range []int{100, 1000, 10000, len(lines) - 1} {
		if !IsCommon(lines[i]) {
			t.Errorf("IsCommon(%q) (entry %d) = false", lines[i], i)
		}
	}
	for _, pw := range []string{"", "correct horse battery staple", "Tr0ub4dor&3-x9", "password1234567890!"} {
		if IsCommon(pw) {
			t.Errorf("IsCommon(%q) = true, want false", pw)
		}
	}
}

func TestParseCommonCorrupt(t *testing.T) {
	if _, err := parseCommon([]byte("not gzip")); err == nil {
		t.Fatalf("parseCommon(garbage) succeeded")
	}
	truncated := commonGz[:len(commonGz)/2]
	if _, err := parseCommon(truncated); err == nil {
		t.Fatalf("parseCommon(truncated) succeeded")
	}
}
