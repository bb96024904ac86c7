package account

import "testing"

func TestPrefixSuccessor(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"a", "b", true},
		{"ab", "ac", true},
		{"a@", "aA", true},
		{"az", "a{", true},
		{"\u007f", "\u0080", true},
		{"a\u07ff", "a\u0800", true},
		{"\ud7ff", "\ue000", true}, // skips the surrogates
		{"a\uffff", "a\U00010000", true},
		{"a\U0010ffff", "b", true},
		{"\U0010ffff\U0010ffff", "", false},
		{"", "", false},
	} {
		got, ok := prefixSuccessor(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("prefixSuccessor(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
		if ok && !(tc.in+"\U0010ffff" < got) {
			t.Errorf("prefixSuccessor(%q) = %q is not above every extension", tc.in, got)
		}
	}
}

func TestCursorRoundTrip(t *testing.T) {
	const id = "0b8c6f1e-4a52-4f7e-9d3c-2f1a5b6c7d8e"
	email, gotID, err := decodeCursor(encodeCursor("ünal@bücher.de", id))
	if err != nil || email != "ünal@bücher.de" || gotID != id {
		t.Fatalf("round trip = %q, %q, %v", email, gotID, err)
	}
}
