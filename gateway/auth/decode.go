package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/authgate/gateway/gateway/problem"
)

// MaxBodyBytes bounds every /auth request body (SPEC section 9).
const MaxBodyBytes = 64 << 10

// decodeJSON reads r's body into dst, which must be a pointer to a struct.
// The body must be exactly one JSON object: an unknown field, a duplicate key
// or trailing data is a 400, so that two parsers can never disagree about what
// a request said (the gateway and an auditing proxy, for example). A wrong
// content type is 415 and a body over MaxBodyBytes 413.
func decodeJSON(r *http.Request, dst any) error {
	if err := requireJSON(r); err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	return unmarshalStrict(body, dst)
}

// decodeOptionalJSON is decodeJSON for endpoints whose body may be empty
// (refresh and logout in cookie mode).
func decodeOptionalJSON(r *http.Request, dst any) error {
	body, err := readBody(r)
	if err != nil || len(bytes.TrimSpace(body)) == 0 {
		return err
	}
	if err := requireJSON(r); err != nil {
		return err
	}
	return unmarshalStrict(body, dst)
}

// readBody reads at most MaxBodyBytes of r's body: 413 beyond, 400 when the
// body itself is malformed (bad chunked encoding).
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, problem.New(http.StatusRequestEntityTooLarge, problem.PayloadTooLarge,
				fmt.Sprintf("request body is larger than %d bytes", MaxBodyBytes))
		}
		return nil, problem.Wrap(http.StatusBadRequest, problem.BadRequest, "could not read the request body", err)
	}
	return body, nil
}

// requireJSON refuses any content type other than application/json.
func requireJSON(r *http.Request) error {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return problem.New(http.StatusUnsupportedMediaType, problem.UnsupportedMedia, "Content-Type must be application/json")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return problem.New(http.StatusUnsupportedMediaType, problem.UnsupportedMedia, "JSON must be UTF-8")
	}
	return nil
}

func unmarshalStrict(body []byte, dst any) error {
	if err := checkSingleObject(body); err != nil {
		return problem.Wrap(http.StatusBadRequest, problem.BadRequest, err.Error(), err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return problem.Wrap(http.StatusBadRequest, problem.BadRequest, describeJSONError(err), err)
	}
	return nil
}

// checkSingleObject walks the tokens of body and refuses anything but one
// object without duplicate keys (at any depth) and without trailing data.
func checkSingleObject(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return errors.New("malformed JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("the body must be a JSON object")
	}
	if err := walkObject(dec); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON object")
	}
	return nil
}

// walkObject consumes an object whose '{' was read, checking for duplicate
// keys in it and in nested values.
func walkObject(dec *json.Decoder) error {
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return errors.New("malformed JSON")
		}
		key, ok := tok.(string)
		if !ok {
			return errors.New("malformed JSON")
		}
		// encoding/json matches field names case-insensitively (and folds
		// the Kelvin sign and long s), so "email" and "EMAIL" are the same
		// key to it: fold the same way before looking for duplicates.
		folded := strings.ToLower(strings.ToUpper(key))
		if seen[folded] {
			return fmt.Errorf("duplicate key %q", key)
		}
		seen[folded] = true
		if err := walkValue(dec); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return errors.New("malformed JSON")
	}
	return nil
}

func walkValue(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return errors.New("malformed JSON")
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		return walkObject(dec)
	case '[':
		for dec.More() {
			if err := walkValue(dec); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return errors.New("malformed JSON")
		}
	}
	return nil
}

// describeJSONError turns a decoding error into a message safe for the
// client (it never echoes values, which may be passwords).
func describeJSONError(err error) string {
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr):
		return fmt.Sprintf("field %q has the wrong type", typeErr.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	default:
		return "malformed JSON"
	}
}
