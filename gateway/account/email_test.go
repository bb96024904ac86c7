package account_test

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/authgate/gateway/gateway/account"
)

// emailCases: input → normalised form, or the start of the refusal message.
var emailCases = []struct {
	name    string
	in      string
	want    string // normalised form when accepted
	wantErr string // prefix of EmailError.Msg when refused
}{
	// Accepted, and what they become.
	{name: "plain", in: "alice@example.com", want: "alice@example.com"},
	{name: "mixed case", in: "Alice@Example.COM", want: "alice@example.com"},
	{name: "surrounding ASCII white space", in: "  alice@example.com\t\r\n", want: "alice@example.com"},
	{name: "surrounding Unicode spaces", in: "\u00a0alice@example.com\u3000", want: "alice@example.com"},
	{name: "NFKC fullwidth letters, at sign and dot", in: "ＡＬＩＣＥ＠ｅｘａｍｐｌｅ．ｃｏｍ", want: "alice@example.com"},
	{name: "NFKC ligature", in: "ﬁnance@example.com", want: "finance@example.com"},
	{name: "NFKC modifier capital letter", in: "\u1d2clice@example.com", want: "alice@example.com"},
	{name: "Kelvin sign", in: "\u212aen@example.com", want: "ken@example.com"},
	{name: "dotted capital I lower-cases to i", in: "\u0130nfo@example.com", want: "info@example.com"},
	{name: "combining accent composes", in: "rene\u0301@example.com", want: "ren\u00e9@example.com"},
	{name: "sharp s is not folded to ss", in: "STRAẞE@example.com", want: "straße@example.com"},
	{name: "IDN domain kept in Unicode", in: "bob@Bücher.Example", want: "bob@bücher.example"},
	{name: "punycode domain kept as is", in: "bob@XN--BCHER-KVA.example", want: "bob@xn--bcher-kva.example"},
	{name: "non-ASCII local part", in: "Ünal@bücher.de", want: "ünal@bücher.de"},
	{name: "plus tag kept", in: "alice+news@example.com", want: "alice+news@example.com"},
	{name: "RFC 5322 atext kept", in: "a!#$%&'*+/=?^_`{|}~-@example.com", want: "a!#$%&'*+/=?^_`{|}~-@example.com"},
	{name: "dotless domain", in: "root@localhost", want: "root@localhost"},
	{name: "local part of 64 octets", in: strings.Repeat("a", 64) + "@example.com", want: strings.Repeat("a", 64) + "@example.com"},
	{name: "254 octets", in: strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 61),
		want: strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 61)},

	// Refused.
	{name: "empty", in: "", wantErr: "must not be empty"},
	{name: "only white space", in: " \t\n", wantErr: "must not be empty"},
	{name: "invalid UTF-8", in: "al\xffice@example.com", wantErr: "must be valid UTF-8"},
	{name: "NUL", in: "al\x00ice@example.com", wantErr: "must not contain control"},
	{name: "tab inside", in: "al\tice@example.com", wantErr: "must not contain control"},
	{name: "DEL", in: "alice\x7f@example.com", wantErr: "must not contain control"},
	{name: "C1 control", in: "alice\u0085x@example.com", wantErr: "must not contain control"},
	{name: "space inside", in: "al ice@example.com", wantErr: "must not contain spaces"},
	{name: "no-break space inside", in: "alice\u00a0@example.com", wantErr: "must not contain spaces"},
	{name: "space produced by NFKC (diaeresis)", in: "alice\u00a8@example.com", wantErr: "must not contain spaces"},
	{name: "line separator", in: "alice@exa\u2028mple.com", wantErr: "must not contain spaces"},
	{name: "zero width space U+200B", in: "al\u200bice@example.com", wantErr: "must not contain invisible"},
	{name: "left-to-right mark U+200E", in: "alice@example.com\u200e", wantErr: "must not contain invisible"},
	{name: "right-to-left override U+202E", in: "\u202emoc.elpmaxe@ecila", wantErr: "must not contain invisible"},
	{name: "byte order mark U+FEFF", in: "\ufeffalice@example.com", wantErr: "must not contain invisible"},
	{name: "soft hyphen U+00AD", in: "ali\u00adce@example.com", wantErr: "must not contain invisible"},
	{name: "word joiner U+2060", in: "alice@exam\u2060ple.com", wantErr: "must not contain invisible"},
	{name: "Hangul filler U+3164", in: "\u3164@example.com", wantErr: "must not contain invisible"},
	{name: "variation selector U+FE0F", in: "alice\ufe0f@example.com", wantErr: "must not contain invisible"},
	{name: "combining grapheme joiner U+034F", in: "ali\u034fce@example.com", wantErr: "must not contain invisible"},
	{name: "tag character U+E0041", in: "alice\U000e0041@example.com", wantErr: "must not contain invisible"},
	{name: "private use U+E000", in: "alice\ue000@example.com", wantErr: "must not contain unassigned"},
	{name: "no at sign", in: "alice.example.com", wantErr: "must contain an @"},
	{name: "two at signs", in: "alice@bob@example.com", wantErr: "must contain exactly one @"},
	{name: "fullwidth second at sign", in: "alice@bob＠example.com", wantErr: "must contain exactly one @"},
	{name: "empty local part", in: "@example.com", wantErr: "must have a name before"},
	{name: "empty domain", in: "alice@", wantErr: "must have a domain after"},
	{name: "trailing dot in domain", in: "alice@example.com.", wantErr: "must not have an empty domain label"},
	{name: "leading dot in domain", in: "alice@.example.com", wantErr: "must not have an empty domain label"},
	{name: "double dot in domain", in: "alice@example..com", wantErr: "must not have an empty domain label"},
	{name: "trailing dot in local part", in: "alice.@example.com", wantErr: "is not a valid email address"},
	{name: "leading dot in local part", in: ".alice@example.com", wantErr: "is not a valid email address"},
	{name: "double dot in local part", in: "al..ice@example.com", wantErr: "is not a valid email address"},
	{name: "quoted local part", in: `"alice"@example.com`, wantErr: "must not use a quoted local part"},
	{name: "quoted local part with @", in: `"a@b"@example.com`, wantErr: "must not use a quoted local part"},
	{name: "angle brackets", in: "<alice@example.com>", wantErr: "must have a domain of"},
	{name: "angle bracket in local part", in: "<alice@example.com", wantErr: "is not a valid email address"},
	{name: "backslash in local part", in: `ali\ce@example.com`, wantErr: "is not a valid email address"},
	{name: "display name", in: "Alice <alice@example.com>", wantErr: "must not contain spaces"},
	{name: "comment", in: "alice@example.com(work)", wantErr: "must have a domain of"},
	{name: "comma", in: "alice,bob@example.com", wantErr: "is not a valid email address"},
	{name: "IP literal", in: "alice@[192.0.2.1]", wantErr: "must use a domain name"},
	{name: "hyphen at label start", in: "alice@-example.com", wantErr: "must not have a domain label that starts or ends"},
	{name: "underscore in domain", in: "alice@exa_mple.com", wantErr: "must have a domain of"},
	{name: "symbol in domain", in: "alice@☃.example", wantErr: "must have a domain of"},
	{name: "domain label over 63", in: "alice@" + strings.Repeat("b", 64) + ".com", wantErr: "must not have a domain label longer"},
	{name: "local part of 65 octets", in: strings.Repeat("a", 65) + "@example.com", wantErr: "must have at most 64"},
	{name: "255 octets", in: strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 62), wantErr: "must be at most 254"},
	{name: "huge input", in: strings.Repeat("a", 100000) + "@example.com", wantErr: "must be at most 254"},
}

func TestNormalizeEmail(t *testing.T) {
	for _, tc := range emailCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := account.NormalizeEmail(tc.in)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("NormalizeEmail(%q) error %v, want %q", tc.in, err, tc.want)
				}
				if got != tc.want {
					t.Fatalf("NormalizeEmail(%q) = %q, want %q", tc.in, got, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("NormalizeEmail(%q) = %q, want an error %q", tc.in, got, tc.wantErr)
			}
			var ee *account.EmailError
			if !errors.As(err, &ee) {
				t.Fatalf("NormalizeEmail(%q) error %T %v, want *account.EmailError", tc.in, err, err)
			}
			if !strings.HasPrefix(ee.Msg, tc.wantErr) {
				t.Fatalf("NormalizeEmail(%q) message %q, want it to start with %q", tc.in, ee.Msg, tc.wantErr)
			}
			if got != "" {
				t.Fatalf("NormalizeEmail(%q) returned %q with its error", tc.in, got)
			}
		})
	}
}

func TestEmailErrorText(t *testing.T) {
	_, err := account.NormalizeEmail("nope")
	if err == nil || !strings.HasPrefix(err.Error(), "account: invalid email: ") {
		t.Fatalf("error text %v, want the account: prefix", err)
	}
}

// Spellings of one address normalise to one string (one account per address).
func TestNormalizeEmailEquivalents(t *testing.T) {
	spellings := []string{
		"alice@example.com",
		"ALICE@EXAMPLE.COM",
		" Alice@Example.Com\n",
		"ａｌｉｃｅ@ｅｘａｍｐｌｅ.ｃｏｍ",
		"ＡＬＩＣＥ＠ＥＸＡＭＰＬＥ．ＣＯＭ",
		"\u1d2clice@example.com",
	}
	for _, s := range spellings {
		got, err := account.NormalizeEmail(s)
		if err != nil || got != "alice@example.com" {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want alice@example.com", s, got, err)
		}
	}
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, tc := range emailCases {
		if len(tc.in) < 1000 {
			f.Add(tc.in)
		}
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := account.NormalizeEmail(in)
		if err != nil {
			var ee *account.EmailError
			if !errors.As(err, &ee) || ee.Msg == "" {
				t.Fatalf("NormalizeEmail(%q) error %T %v, want *EmailError with a message", in, err, err)
			}
			return
		}
		again, err := account.NormalizeEmail(out)
		if err != nil || again != out {
			t.Fatalf("not idempotent: NormalizeEmail(%q) = %q, then %q, %v", in, out, again, err)
		}
		if !utf8.ValidString(out) || len(out) > 254 || strings.Count(out, "@") != 1 {
			t.Fatalf("NormalizeEmail(%q) = %q: invalid result", in, out)
		}
		for _, r := range out {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r) ||
				unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) {
				t.Fatalf("NormalizeEmail(%q) = %q contains %U", in, out, r)
			}
		}
		if strings.ToLower(out) != out {
			t.Fatalf("NormalizeEmail(%q) = %q is not lower-case", in, out)
		}
	})
}
