package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
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

// maxDays bounds the "d" form of ParseDuration (100 years).
const maxDays = 100 * 365

// ParseDuration parses a Go duration ("15m", "1h30m") or a whole number of
// days ("7d"). Negative durations are refused: no setting of the gateway has a
// meaning for one, and "-1s" is more likely a typo than an intent.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n < 0 || n > maxDays {
			return 0, fmt.Errorf("not a duration: %q (days are a whole number, e.g. \"7d\")", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("not a duration: %q (use a unit, e.g. \"15m\", \"10s\", \"7d\")", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("not a duration: %q is negative", s)
	}
	return d, nil
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
	upstreamsTyp = reflect.TypeFor[[]Upstream]()
	stringsType  = reflect.TypeFor[[]string]()
)

// decodeHook converts the values that YAML and the environment deliver into
// the typed fields: durations, byte sizes, comma-separated (or JSON) lists,
// and a JSON list of upstreams (so that GATEWAY_UPSTREAMS can replace the
// table). It is strict where mapstructure's weak typing would guess: a number
// is not a duration, true is not a number, "" is not a boolean, and a number
// that does not fit its field (iterations: -1 into a uint32, parallelism: 257
// into a uint8, min_length: 12.5) is refused instead of being wrapped or
// truncated.
func decodeHook(from, to reflect.Type, data any) (any, error) {
	switch to {
	case durationType:
		switch v := data.(type) {
		case string:
			return ParseDuration(v)
		case time.Duration:
			return v, nil
		case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
			// "timeout: 60" would otherwise be 60 nanoseconds.
			return nil, fmt.Errorf("duration %v needs a unit (e.g. \"%vs\")", v, v)
		default:
			return nil, fmt.Errorf("expected a duration such as \"15m\", got %T", data)
		}
	case byteSizeType:
		switch v := data.(type) {
		case string:
			return ParseByteSize(v)
		case ByteSize:
			return v, nil
		case bool:
			return nil, errors.New(`expected a size such as "16KiB" or a number of bytes, got a boolean`)
		}
		n, err := decodeInteger(to, data)
		if err != nil {
			return nil, err
		}
		if n.(ByteSize) < 0 {
			return nil, errors.New("size cannot be negative")
		}
		return n, nil
	case stringsType:
		if s, ok := data.(string); ok {
			return splitList(s)
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
	switch to.Kind() {
	case reflect.Bool:
		switch v := data.(type) {
		case bool:
			return v, nil
		case string:
			// An empty GATEWAY_COOKIES_SECURE must not quietly mean false.
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return nil, fmt.Errorf("expected true or false, got %q", v)
			}
			return b, nil
		default:
			return nil, fmt.Errorf("expected true or false, got %T", data)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return decodeInteger(to, data)
	}
	return data, nil
}

// decodeInteger converts a number or a decimal string into a value of type to
// (an integer kind), refusing fractions and values outside to's range.
func decodeInteger(to reflect.Type, data any) (any, error) {
	var n big.Int
	switch v := reflect.ValueOf(data); v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n.SetInt64(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n.SetUint64(v.Uint())
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) {
			return nil, fmt.Errorf("expected a whole number, got %v", f)
		}
		big.NewFloat(f).Int(&n)
	case reflect.String:
		if _, ok := n.SetString(strings.TrimSpace(v.String()), 10); !ok {
			return nil, fmt.Errorf("expected a whole number, got %q", v.String())
		}
	default:
		return nil, fmt.Errorf("expected a whole number, got %T", data)
	}
	out := reflect.New(to).Elem()
	bits := uint(to.Bits())
	switch to.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if !n.IsInt64() || out.OverflowInt(n.Int64()) {
			lo, hi := int64(-1)<<(bits-1), int64(uint64(1)<<(bits-1)-1) // #nosec G115 -- bits <= 64, so hi < 2^63
			return nil, fmt.Errorf("%s is out of range (%d to %d)", n.String(), lo, hi)
		}
		out.SetInt(n.Int64())
	default:
		if !n.IsUint64() || out.OverflowUint(n.Uint64()) {
			hi := uint64(1)<<(bits-1)<<1 - 1
			return nil, fmt.Errorf("%s is out of range (0 to %d)", n.String(), hi)
		}
		out.SetUint(n.Uint64())
	}
	return out.Interface(), nil
}

// splitList splits a comma-separated list ("10.0.0.0/8, 192.168.0.1"), or
// decodes a JSON list of strings when s starts with "[".
func splitList(s string) ([]string, error) {
	if strings.HasPrefix(strings.TrimSpace(s), "[") {
		var list []string
		if err := json.Unmarshal([]byte(s), &list); err != nil {
			return nil, fmt.Errorf("expected a comma-separated or JSON list of strings: %v", err)
		}
		return list, nil
	}
	out := []string{}
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out, nil
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
