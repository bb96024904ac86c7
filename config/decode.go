package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
)

// ByteSize is a size in bytes. It decodes from a number or from a string with
// a binary unit: "16KiB", "1MiB", "512B".
type ByteSize int64

// Binary size units.
const (
	B   ByteSize = 1
	KiB          = 1024 * B
	MiB          = 1024 * KiB
	GiB          = 1024 * MiB
)

// ParseByteSize parses "16KiB", "1MiB", "2GiB", "512B" or "512".
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		size   ByteSize
	}{{"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}, {"B", B}}
	mult := B
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.size
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > int64(1<<40/mult) {
		return 0, errors.New(`not a size: use a number of bytes or a unit such as "16KiB" or "1MiB"`)
	}
	return ByteSize(n) * mult, nil
}

// ParseDuration parses a Go duration, or a whole number of days ("7d").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n < 0 || n > 100*365 {
			return 0, fmt.Errorf("not a duration: %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("not a duration: %q (use a unit, e.g. \"15m\", \"10s\", \"7d\")", s)
	}
	return d, nil
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
	upstreamsTyp = reflect.TypeFor[[]Upstream]()
	stringsType  = reflect.TypeFor[[]string]()
)

// decodeHook converts the strings that YAML and the environment deliver into
// the typed fields: durations, byte sizes, comma-separated lists, and a JSON
// list of upstreams (so that GATEWAY_UPSTREAMS can replace the table).
func decodeHook(from, to reflect.Type, data any) (any, error) {
	switch to {
	case durationType:
		switch v := data.(type) {
		case string:
			return ParseDuration(v)
		case time.Duration:
			return v, nil
		case int, int64, uint, uint64, float64:
			return nil, fmt.Errorf("duration %v needs a unit (e.g. \"%vs\")", v, v)
		}
	case byteSizeType:
		switch v := data.(type) {
		case string:
			return ParseByteSize(v)
		case int:
			if v < 0 {
				return nil, errors.New("size cannot be negative")
			}
			return ByteSize(v), nil
		}
	case stringsType:
		if s, ok := data.(string); ok {
			return splitList(s), nil
		}
	case upstreamsTyp:
		if s, ok := data.(string); ok {
			var list []map[string]any
			if err := json.Unmarshal([]byte(s), &list); err != nil {
				return nil, fmt.Errorf("expected a JSON list of upstreams: %v", err)
			}
			return list, nil
		}
	}
	return data, nil
}

func splitList(s string) []string {
	out := []string{}
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// flattenDecodeErrors turns mapstructure's nested, joined and wrapped errors
// into one "key: message" line per problem.
func flattenDecodeErrors(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		case *mapstructure.DecodeError:
			inner := e.Unwrap()
			switch inner.(type) {
			case interface{ Unwrap() []error }, *mapstructure.DecodeError:
				walk(inner)
				return
			}
			msg := inner.Error()
			if keys, ok := strings.CutPrefix(msg, "has invalid keys: "); ok {
				for k := range strings.SplitSeq(keys, ", ") {
					out = append(out, joinKey(e.Name(), k)+": unknown key")
				}
				return
			}
			var pe *mapstructure.ParseError
			if errors.As(inner, &pe) {
				msg = fmt.Sprintf("invalid value %q", fmt.Sprint(pe.Value))
			}
			out = append(out, e.Name()+": "+msg)
		case interface{ Unwrap() error }:
			if inner := e.Unwrap(); inner != nil {
				walk(inner)
				return
			}
			out = append(out, err.Error())
		default:
			out = append(out, err.Error())
		}
	}
	walk(err)
	return out
}

func joinKey(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}
