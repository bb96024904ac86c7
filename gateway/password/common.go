package password

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"strings"
	"sync"
)

// commonGz is the list of common passwords, one per line, most common first,
// gzip-compressed.
//
// Provenance: the "passwords" frequency list (30,000 entries, lower case) of
// the npm package zxcvbn 4.4.2 (lib/frequency_lists.js), © 2012-2016 Dan
// Wheeler and Dropbox, Inc., MIT licence; upstream it was compiled from the
// Xato 10-million-password corpus. Kept whole. README.md in this directory
// says how to regenerate it.
//
//go:embed common_passwords.txt.gz
var commonGz []byte

// commonSet is the decompressed list as a set, built on first use (it costs
// a few milliseconds and about 2 MB, which a process that never checks a new
// password does not need to pay).
type commonSet struct {
	once sync.Once
	set  map[string]struct{}
}

// common is the package's only mutable global: written once, under once,
// and read-only afterwards.
var common commonSet

func (c *commonSet) get() map[string]struct{} {
	c.once.Do(func() {
		set, err := parseCommon(commonGz)
		if err != nil {
			// The list is embedded at build time and a test reads it, so
			// this is a broken build, not a runtime condition. Failing
			// open (accepting every password) would be worse.
			panic(err)
		}
		c.set = set
	})
	return c.set
}

func parseCommon(gz []byte) (map[string]struct{}, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("password: common list: %w", err)
	}
	set := make(map[string]struct{}, 30000)
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		if w := normaliseCommon(sc.Text()); w != "" {
			set[w] = struct{}{}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("password: common list: %w", err)
	}
	if err := zr.Close(); err != nil {
		return nil, fmt.Errorf("password: common list: %w", err)
	}
	return set, nil
}

// normaliseCommon is the key under which a password is looked up in the
// list. It is used only for the lookup; the password that is hashed is never
// changed.
func normaliseCommon(pw string) string {
	return strings.ToLower(strings.TrimSpace(pw))
}

// IsCommon reports whether pw is in the common-password list, ignoring case
// and surrounding white space. The first call loads the list.
func IsCommon(pw string) bool {
	_, ok := common.get()[normaliseCommon(pw)]
	return ok
}
