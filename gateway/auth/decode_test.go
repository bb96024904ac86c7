package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"unicode"
	"unicode/utf8"

	"github.com/authgate/gateway/gateway/problem"
)

// probe is a request body with every shape the decoder has to handle.
type probe struct {
	Email  string         `json:"email"`
	Cookie bool           `json:"cookie"`
	Meta   map[string]any `json:"meta"`
	List   []any          `json:"list"`
}

type decodeCase struct {
	name        string
	contentType string
	body        string
	status      int    // 0: accepted
	code        string // the problem code when refused
	want        probe  // when accepted
}

var decodeCases = []decodeCase{
	{name: "object", contentType: "application/json", body: `{"email":"a@example.com","cookie":true}`,
		want: probe{Email: "a@example.com", Cookie: true}},
	{name: "charset utf-8", contentType: "application/json; charset=UTF-8", body: `{"email":"a"}`, want: probe{Email: "a"}},
	{name: "media type in upper case", contentType: "Application/JSON", body: `{"email":"a"}`, want: probe{Email: "a"}},
	{name: "white space around", contentType: "application/json", body: " \n\t{\"email\" : \"a\"}\r\n ", want: probe{Email: "a"}},
	{name: "key in another case", contentType: "application/json", body: `{"EMAIL":"a"}`, want: probe{Email: "a"}},
	{name: "nested values", contentType: "application/json", body: `{"meta":{"a":[1,{"b":null}]},"list":[{"a":1},{"a":2}]}`,
		want: probe{Meta: map[string]any{"a": []any{1.0, map[string]any{"b": nil}}}, List: []any{map[string]any{"a": 1.0}, map[string]any{"a": 2.0}}}},
	{name: "same key in sibling objects", contentType: "application/json", body: `{"list":[{"a":1},{"a":2}],"meta":{"a":3}}`,
		want: probe{List: []any{map[string]any{"a": 1.0}, map[string]any{"a": 2.0}}, Meta: map[string]any{"a": 3.0}}},
	{name: "empty object", contentType: "application/json", body: `{}`},

	{name: "text/plain", contentType: "text/plain", body: `{"email":"a"}`, status: 415, code: problem.UnsupportedMedia},
	{name: "form", contentType: "application/x-www-form-urlencoded", body: `email=a`, status: 415, code: problem.UnsupportedMedia},
	{name: "no content type", body: `{"email":"a"}`, status: 415, code: problem.UnsupportedMedia},
	{name: "a JSON-like type", contentType: "application/merge-patch+json", body: `{"email":"a"}`, status: 415, code: problem.UnsupportedMedia},
	{name: "latin1", contentType: "application/json; charset=latin1", body: `{"email":"a"}`, status: 415, code: problem.UnsupportedMedia},
	{name: "unparsable content type", contentType: "application/json; charset", body: `{"email":"a"}`, status: 415, code: problem.UnsupportedMedia},

	{name: "empty body", contentType: "application/json", body: ``, status: 400, code: problem.BadRequest},
	{name: "truncated", contentType: "application/json", body: `{"email":`, status: 400, code: problem.BadRequest},
	{name: "unterminated object", contentType: "application/json", body: `{"email":"a"`, status: 400, code: problem.BadRequest},
	{name: "bare word", contentType: "application/json", body: `email`, status: 400, code: problem.BadRequest},
	{name: "trailing object", contentType: "application/json", body: `{"email":"a"}{}`, status: 400, code: problem.BadRequest},
	{name: "trailing garbage", contentType: "application/json", body: `{"email":"a"}x`, status: 400, code: problem.BadRequest},
	{name: "trailing comma", contentType: "application/json", body: `{"email":"a",}`, status: 400, code: problem.BadRequest},
	{name: "single quotes", contentType: "application/json", body: `{'email':'a'}`, status: 400, code: problem.BadRequest},
	{name: "duplicate key", contentType: "application/json", body: `{"email":"a","email":"b"}`, status: 400, code: problem.BadRequest},
	{name: "duplicate key by case", contentType: "application/json", body: `{"email":"a","EMAIL":"b"}`, status: 400, code: problem.BadRequest},
	{name: "duplicate key by escape", contentType: "application/json", body: `{"email":"a","\u0065mail":"b"}`, status: 400, code: problem.BadRequest},
	// encoding/json folds the Kelvin sign to k and the long s to s.
	{name: "duplicate key by Kelvin sign", contentType: "application/json", body: `{"cookie":true,"coo\u212aie":false}`, status: 400, code: problem.BadRequest},
	{name: "duplicate key by long s", contentType: "application/json", body: `{"list":[],"li\u017ft":[]}`, status: 400, code: problem.BadRequest},
	{name: "duplicate nested key", contentType: "application/json", body: `{"meta":{"a":1,"A":2}}`, status: 400, code: problem.BadRequest},
	{name: "duplicate key in an array's object", contentType: "application/json", body: `{"list":[{"x":1,"x":2}]}`, status: 400, code: problem.BadRequest},
	{name: "unknown field", contentType: "application/json", body: `{"email":"a","roles":["admin"]}`, status: 400, code: problem.BadRequest},
	{name: "array", contentType: "application/json", body: `[{"email":"a"}]`, status: 400, code: problem.BadRequest},
	{name: "string", contentType: "application/json", body: `"a"`, status: 400, code: problem.BadRequest},
	{name: "number", contentType: "application/json", body: `1`, status: 400, code: problem.BadRequest},
	{name: "null", contentType: "application/json", body: `null`, status: 400, code: problem.BadRequest},
	{name: "wrong type: string field", contentType: "application/json", body: `{"email":1}`, status: 400, code: problem.BadRequest},
	{name: "wrong type: bool field", contentType: "application/json", body: `{"cookie":"true"}`, status: 400, code: problem.BadRequest},
	{name: "wrong type: object field", contentType: "application/json", body: `{"meta":[]}`, status: 400, code: problem.BadRequest},
	{name: "deep nesting", contentType: "application/json", body: `{"list":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`,
		status: 400, code: problem.BadRequest},
	{name: "over MaxBodyBytes", contentType: "application/json", body: `{"email":"` + strings.Repeat("a", MaxBodyBytes) + `"}`,
		status: 413, code: problem.PayloadTooLarge},
}

func newJSONRequest(contentType, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/auth/login", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

// wantRefused fails t unless err is a problem with status and code.
func wantRefused(t *testing.T, err error, status int, code string) *problem.Problem {
	t.Helper()
	p := problem.As(err)
	if p == nil {
		t.Fatalf("error %v, want a problem %d %s", err, status, code)
	}
	if p.Status != status || p.Code != code {
		t.Errorf("problem %d %s (%s), want %d %s", p.Status, p.Code, p.Detail, status, code)
	}
	return p
}

func TestDecodeJSON(t *testing.T) {
	for _, tc := range decodeCases {
		t.Run(tc.name, func(t *testing.T) {
			var got probe
			err := decodeJSON(newJSONRequest(tc.contentType, tc.body), &got)
			if tc.status != 0 {
				wantRefused(t, err, tc.status, tc.code)
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("decoded %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestDecodeJSONBodyLimit(t *testing.T) {
	// Exactly MaxBodyBytes is accepted; one more byte is not.
	pad := MaxBodyBytes - len(`{"email":""}`)
	exact := `{"email":"` + strings.Repeat("a", pad) + `"}`
	var p probe
	if err := decodeJSON(newJSONRequest("application/json", exact), &p); err != nil || len(p.Email) != pad {
		t.Fatalf("a body of exactly MaxBodyBytes: %v", err)
	}
	err := decodeJSON(newJSONRequest("application/json", exact+" "), &p)
	wantRefused(t, err, http.StatusRequestEntityTooLarge, problem.PayloadTooLarge)
}

func TestDecodeJSONBrokenBody(t *testing.T) {
	// A body that fails to read (bad chunked encoding, a reset) is the
	// client's fault: 400, not 500 or 502.
	r := httptest.NewRequest(http.MethodPost, "/auth/login", iotest.ErrReader(errors.New("malformed chunked encoding")))
	r.Header.Set("Content-Type", "application/json")
	wantRefused(t, decodeJSON(r, &probe{}), http.StatusBadRequest, problem.BadRequest)
	r = httptest.NewRequest(http.MethodPost, "/auth/refresh", iotest.ErrReader(errors.New("malformed chunked encoding")))
	wantRefused(t, decodeOptionalJSON(r, &probe{}), http.StatusBadRequest, problem.BadRequest)
}

// TestDecodeJSONNeverEchoesValues: the problem's detail, which the client
// sees and the log keeps, never contains a value from the body (it may be
// a password).
func TestDecodeJSONNeverEchoesValues(t *testing.T) {
	const secret = "hunter2-correct-horse"
	for _, body := range []string{
		`{"email":["` + secret + `"]}`,
		`{"cookie":"` + secret + `"}`,
		`{"meta":"` + secret + `"}`,
		`{"email":"` + secret + `"`,
		`{"email":"` + secret + `","email":"` + secret + `"}`,
		`{"email":"` + secret + `"} "` + secret + `"`,
	} {
		err := decodeJSON(newJSONRequest("application/json", body), &probe{})
		p := problem.As(err)
		if p == nil {
			t.Fatalf("%s: accepted", body)
		}
		if strings.Contains(p.Detail, secret) || strings.Contains(p.Error(), secret) {
			t.Errorf("%s: the problem repeats a value: %q", body, p.Error())
		}
	}
}

func TestDecodeOptionalJSON(t *testing.T) {
	cases := []struct {
		name, contentType, body string
		status                  int
		want                    probe
	}{
		{name: "no body, no content type"},
		{name: "white space only", body: " \r\n"},
		{name: "no body, text/plain", contentType: "text/plain"},
		{name: "JSON", contentType: "application/json", body: `{"email":"a"}`, want: probe{Email: "a"}},
		{name: "text/plain with a body", contentType: "text/plain", body: `{"email":"a"}`, status: 415},
		{name: "body without content type", body: `{"email":"a"}`, status: 415},
		{name: "duplicate key", contentType: "application/json", body: `{"email":"a","Email":"b"}`, status: 400},
		{name: "too large", contentType: "application/json", body: strings.Repeat(" ", MaxBodyBytes+1), status: 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got probe
			err := decodeOptionalJSON(newJSONRequest(tc.contentType, tc.body), &got)
			if tc.status != 0 {
				if p := problem.As(err); p == nil || p.Status != tc.status {
					t.Fatalf("error %v, want status %d", err, tc.status)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("decoded %#v, want %#v", got, tc.want)
			}
		})
	}
}

// jsonFold is encoding/json's own key folding (fold.go): ASCII upper case,
// and every other rune to the smallest rune of its simple case-folding
// orbit. Two keys with the same jsonFold land in the same struct field, so
// an accepted body must not have two of them in one object. It is written
// independently of decode.go's folding on purpose.
func jsonFold(key string) string {
	var b strings.Builder
	for _, r := range key {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			b.WriteRune(r)
			continue
		}
		min := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < min {
				min = f
			}
		}
		b.WriteRune(min)
	}
	return b.String()
}

// duplicateKey reports whether any object in the JSON text body has two
// keys that encoding/json would treat as one.
func duplicateKey(t *testing.T, body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	var value func() bool
	value = func() bool {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("accepted body does not tokenize: %v", err)
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					t.Fatalf("accepted body does not tokenize: %v", err)
				}
				f := jsonFold(k.(string))
				if seen[f] {
					return true
				}
				seen[f] = true
				if value() {
					return true
				}
			}
			_, _ = dec.Token()
		case json.Delim('['):
			for dec.More() {
				if value() {
					return true
				}
			}
			_, _ = dec.Token()
		}
		return false
	}
	return value()
}

// FuzzDecodeJSON: the decoder never panics; what it accepts is one valid
// JSON object without duplicate keys under encoding/json's case folding,
// and decodes exactly as encoding/json decodes it; what it refuses is a
// 400 or 413 problem.
func FuzzDecodeJSON(f *testing.F) {
	for _, tc := range decodeCases {
		if tc.contentType == "application/json" && len(tc.body) < 4096 {
			f.Add([]byte(tc.body))
		}
	}
	f.Add([]byte(`{"email":"a","\u212a":1}`))
	f.Add([]byte(`{"meta":{"\u017f":1,"S":2}}`))
	f.Add([]byte(`{"meta":{"\u0130":1,"i":2,"\u0131":3}}`))
	f.Add([]byte("{\"email\":\"\xff\xfe\"}"))
	f.Fuzz(func(t *testing.T, body []byte) {
		var got probe
		err := unmarshalStrict(body, &got)
		if err != nil {
			p := problem.As(err)
			if p == nil || p.Status != http.StatusBadRequest || p.Code != problem.BadRequest {
				t.Fatalf("refused with %v, want a 400 bad_request problem", err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
			t.Fatalf("accepted a body that is not an object: %q", body)
		}
		if duplicateKey(t, body) {
			t.Fatalf("accepted a body with duplicate keys under case folding: %q", body)
		}
		var std probe
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&std); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", body, err)
		}
		if _, err := dec.Token(); err != io.EOF {
			t.Fatalf("accepted %q with trailing data", body)
		}
		if !reflect.DeepEqual(got, std) {
			t.Fatalf("decoded %#v, encoding/json decodes %#v", got, std)
		}
	})
}
