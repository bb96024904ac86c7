package config

import (
	"strings"
	"testing"
	"time"
)

var durationTests = []struct {
	in      string
	want    time.Duration
	wantErr bool
}{
	{in: "15m", want: 15 * time.Minute},
	{in: "10s", want: 10 * time.Second},
	{in: "1h30m", want: 90 * time.Minute},
	{in: "500ms", want: 500 * time.Millisecond},
	{in: " 2m ", want: 2 * time.Minute},
	{in: "0s", want: 0},
	{in: "0", want: 0}, // Go's only unit-less duration; unambiguous
	{in: "7d", want: 7 * 24 * time.Hour},
	{in: "30d", want: 30 * 24 * time.Hour},
	{in: "0d", want: 0},
	{in: "36500d", want: 36500 * 24 * time.Hour},
	{in: "36501d", wantErr: true},
	{in: "60", wantErr: true}, // "timeout: 60" is not 60ns
	{in: "-1s", wantErr: true},
	{in: "-7d", wantErr: true},
	{in: "1.5d", wantErr: true},
	{in: "d", wantErr: true},
	{in: "1d12h", wantErr: true},
	{in: "", wantErr: true},
	{in: "soon", wantErr: true},
	{in: "9999999999h", wantErr: true},
	{in: "9223372036854775807d", wantErr: true},
}

func TestParseDuration(t *testing.T) {
	for _, tt := range durationTests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseDuration(%q) = %v, want an error", tt.in, got)
				}
				if !strings.Contains(err.Error(), "not a duration") {
					t.Errorf("error %q does not say what is wrong", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDuration(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseDuration(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

var byteSizeTests = []struct {
	in      string
	want    ByteSize
	wantErr bool
}{
	{in: "16KiB", want: 16 * KiB},
	{in: "1MiB", want: MiB},
	{in: "2GiB", want: 2 * GiB},
	{in: "512B", want: 512},
	{in: "512", want: 512},
	{in: "20000", want: 20000},
	{in: " 16 KiB ", want: 16 * KiB},
	{in: "0", want: 0},
	{in: "1024GiB", want: 1024 * GiB},
	{in: "1025GiB", wantErr: true},
	{in: "16KB", wantErr: true},
	{in: "16kib", wantErr: true},
	{in: "1.5MiB", wantErr: true},
	{in: "-1", wantErr: true},
	{in: "-1KiB", wantErr: true},
	{in: "KiB", wantErr: true},
	{in: "", wantErr: true},
	{in: "99999999999999999999", wantErr: true},
}

func TestParseByteSize(t *testing.T) {
	for _, tt := range byteSizeTests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseByteSize(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseByteSize(%q) = %d, want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseByteSize(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseByteSize(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzParseDuration: never panics; what it accepts is non-negative, and a
// value without the "d" form means what Go's time.ParseDuration says.
func FuzzParseDuration(f *testing.F) {
	for _, tt := range durationTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if d != 0 {
				t.Errorf("ParseDuration(%q) = %v with error %v, want 0", s, d, err)
			}
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v, a negative duration", s, d)
		}
		if trimmed := strings.TrimSpace(s); !strings.HasSuffix(trimmed, "d") {
			if want, err := time.ParseDuration(trimmed); err != nil || want != d {
				t.Errorf("ParseDuration(%q) = %v, time.ParseDuration = %v, %v", s, d, want, err)
			}
		} else if d%(24*time.Hour) != 0 {
			t.Errorf("ParseDuration(%q) = %v, not whole days", s, d)
		}
	})
}

// FuzzParseByteSize: never panics; what it accepts is between 0 and 1TiB.
func FuzzParseByteSize(f *testing.F) {
	for _, tt := range byteSizeTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseByteSize(s)
		if err != nil {
			return
		}
		if n < 0 || n > 1024*GiB {
			t.Fatalf("ParseByteSize(%q) = %d, outside 0..1TiB", s, n)
		}
	})
}
