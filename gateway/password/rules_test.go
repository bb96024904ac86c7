package password

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/problem"
)

func TestCodesMatchProblemCodes(t *testing.T) {
	if CodeValidationFailed != problem.ValidationFailed || CodeWeakPassword != problem.WeakPassword {
		t.Fatalf("codes %q/%q differ from the problem codes %q/%q",
			CodeValidationFailed, CodeWeakPassword, problem.ValidationFailed, problem.WeakPassword)
	}
}

func TestNewRules(t *testing.T) {
	r := NewRules(config.Default().Passwords)
	if r.MinLength != 12 || r.MaxLength != 256 {
		t.Fatalf("NewRules(default) = %+v, want 12..256", r)
	}
	lo, hi := Rules{}.limits()
	if lo != DefaultMinLength || hi != DefaultMaxLength {
		t.Fatalf("zero Rules limits = %d..%d, want the defaults", lo, hi)
	}
}

// ruleCase is one row of the rules table.
type ruleCase struct {
	name  string
	rules Rules
	pw    string
	email string
	// want is the sentinel cause, nil for an accepted password.
	want error
}

func ruleCases() []ruleCase {
	r := Rules{MinLength: 12, MaxLength: 20}
	loose := Rules{MinLength: 4, MaxLength: 64} // lets short common passwords reach the list
	return []ruleCase{
		// Length, in code points.
		{"11 ascii: too short", r, strings.Repeat("ab", 5) + "c", "", ErrTooShort},
		{"exactly min", r, "abcdefghijkl", "", nil},
		{"exactly max", r, "abcdefghijklmnopqrst", "", nil},
		{"max + 1", r, "abcdefghijklmnopqrstu", "", ErrTooLong},
		{"11 three-byte runes: too short though 33 bytes", r, "€a€b€c€d€e€", "", ErrTooShort},
		{"12 two-byte runes: exactly min", r, "éaébécédéeéf", "", nil},
		{"20 four-byte runes: exactly max though 80 bytes", r, strings.Repeat("😀🎉", 10), "", nil},
		{"21 four-byte runes: too long", r, strings.Repeat("😀🎉", 10) + "🚀", "", ErrTooLong},
		{"combining marks count as code points", r, strings.Repeat("e\u0301", 6), "", nil},
		{"10,000 characters", Rules{}, strings.Repeat("x", 10000), "", ErrTooLong},
		{"10,000 characters, invalid UTF-8: refused on length before reading", Rules{}, strings.Repeat("\xff", 10000), "", ErrTooLong},
		{"default rules: 12 is the minimum", Rules{}, "abcdefghijk", "", ErrTooShort},

		// Text that cannot be a password.
		{"NUL byte", r, "abcdefghijk\x00lm", "", ErrInvalidText},
		{"leading NUL", r, "\x00abcdefghijklm", "", ErrInvalidText},
		{"invalid UTF-8", r, "abcdefghijkl\xff", "", ErrInvalidText},
		{"truncated rune", r, "abcdefghijkl\xe2\x82", "", ErrInvalidText},
		{"overlong slash", r, "abcdefghijkl\xc0\xaf", "", ErrInvalidText},
		{"UTF-16 surrogate", r, "abcdefghijkl\xed\xa0\x80", "", ErrInvalidText},
		{"other control characters are kept", r, "abc\tdef\nghi\x7fjk", "", nil},

		// Common passwords, case-insensitively and trimmed.
		{"common: Password1", loose, "Password1", "", ErrCommon},
		{"common: qwerty123", loose, "qwerty123", "", ErrCommon},
		{"common: QWERTY123 upper", loose, "QWERTY123", "", ErrCommon},
		{"common: padded with spaces", loose, "  letmein  ", "", ErrCommon},
		{"common: tab and newline around", loose, "\tiloveyou\n", "", ErrCommon},
		{"common: TrustNo1", loose, "TrustNo1", "", ErrCommon},
		{"common: Passw0rd", loose, "Passw0rd", "", ErrCommon},
		{"common: password123", loose, "password123", "", ErrCommon},
		{"common: 1q2w3e4r", loose, "1q2w3e4r", "", ErrCommon},
		{"common at default length: 1qaz2wsx3edc", Rules{}, "1qaz2wsx3edc", "", ErrCommon},
		{"common at default length: Qwerty123456", Rules{}, "Qwerty123456", "", ErrCommon},
		{"common at default length: LeaveMeAlone", Rules{}, "LeaveMeAlone", "", ErrCommon},
		{"common at default length: finalfantasy", Rules{}, "finalfantasy", "", ErrCommon},
		{"inner spaces are not trimmed", loose, "pass word", "", nil},
		{"common with a suffix is not in the list", loose, "qwerty123!x", "", nil},

		// Email local part.
		{"contains local part", Rules{}, "iamAlice2024!", "alice@example.com", ErrContainsEmail},
		{"contains local part, other case", Rules{}, "xxALICExx-1234", "Alice@Example.com", ErrContainsEmail},
		{"email with spaces", Rules{}, "bob.smith rules 99", "  Bob.Smith@example.com ", ErrContainsEmail},
		{"unicode local part", Rules{}, "ich bin JÖRG hier", "jörg@example.de", ErrContainsEmail},
		{"local part of 3 counts", Rules{}, "the bob of all bobs", "bob@example.com", ErrContainsEmail},
		{"local part of 2 ignored", Rules{}, "also a fine passphrase", "al@example.com", nil},
		{"domain alone is fine", Rules{}, "example.com is my site", "alice@example.com", nil},
		{"no email", Rules{}, "a fine passphrase", "", nil},
		{"last @ splits", Rules{}, "quoted a@b local!", "\"a@b\"@example.com", nil},

		// Repetition.
		{"one repeated ascii", Rules{}, "aaaaaaaaaaaa", "", ErrRepeated},
		{"one repeated rune", Rules{}, strings.Repeat("€", 12), "", ErrRepeated},
		{"one repeated space", Rules{}, strings.Repeat(" ", 12), "", ErrRepeated},
		{"almost repeated", Rules{}, "aaaaaaaaaaab", "", nil},

		// Good ones.
		{"passphrase", Rules{}, "correct horse battery staple", "alice@example.com", nil},
		{"unicode passphrase", Rules{}, "mot de passe très sûr ✓", "bob@example.com", nil},
	}
}

func TestCheck(t *testing.T) {
	for _, tt := range ruleCases() {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.rules.Check(tt.pw, tt.email)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Check = %v, want %v", err, tt.want)
			}
			var re *RuleError
			if !errors.As(err, &re) {
				t.Fatalf("Check error %T is not a *RuleError", err)
			}
			wantCode := CodeWeakPassword
			switch tt.want {
			case ErrTooShort, ErrTooLong, ErrInvalidText:
				wantCode = CodeValidationFailed
			}
			if re.Code != wantCode {
				t.Errorf("Code = %q, want %q", re.Code, wantCode)
			}
			if re.Message == "" {
				t.Errorf("empty Message")
			}
			if strings.TrimSpace(tt.pw) != "" && strings.Contains(re.Error(), tt.pw) {
				t.Errorf("error %q contains the password", re.Error())
			}
		})
	}
}

func TestCheckLengthIgnoresStrength(t *testing.T) {
	// Login runs CheckLength only: an old password that is now "weak"
	// must still be able to log in (and change itself).
	for _, pw := range []string{"password1234", "aaaaaaaaaaaa", "xxalicexx-1234"} {
		if err := (Rules{}).CheckLength(pw); err != nil {
			t.Errorf("CheckLength(%q) = %v, want nil", pw, err)
		}
	}
	if err := (Rules{}).CheckLength(strings.Repeat("x", 257)); !errors.Is(err, ErrTooLong) {
		t.Errorf("CheckLength(257) = %v, want ErrTooLong", err)
	}
}

func TestTooLongIsFast(t *testing.T) {
	// SPEC 9: a password longer than max_length is refused before
	// hashing. Check on a 10,000-character password must cost about as
	// little as on a short one: no argon2, no full scan.
	pw := strings.Repeat("y", 10000)
	start := time.Now()
	for range 1000 {
		if err := (Rules{}).Check(pw, "someone@example.com"); !errors.Is(err, ErrTooLong) {
			t.Fatalf("Check = %v, want ErrTooLong", err)
		}
	}
	// 1000 argon2 hashes at any cost would take seconds; 1000 fast-path
	// refusals take well under a millisecond each even under -race.
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("1000 refusals took %v", d)
	}
}

// FuzzCheck holds the rules' invariants for any input: no panic, a
// *RuleError with a known code, and an accepted password is valid UTF-8
// without NUL, in range, not common and not one repeated character.
func FuzzCheck(f *testing.F) {
	for _, tt := range ruleCases() {
		f.Add(tt.pw, tt.email)
	}
	r := Rules{MinLength: 4, MaxLength: 64}
	f.Fuzz(func(t *testing.T, pw, email string) {
		err := r.Check(pw, email)
		if err != nil {
			var re *RuleError
			if !errors.As(err, &re) || (re.Code != CodeValidationFailed && re.Code != CodeWeakPassword) {
				t.Fatalf("Check(%q) = %v, want a *RuleError with a known code", pw, err)
			}
			return
		}
		n := utf8.RuneCountInString(pw)
		switch {
		case !utf8.ValidString(pw), strings.ContainsRune(pw, 0):
			t.Fatalf("accepted invalid text %q", pw)
		case n < 4 || n > 64:
			t.Fatalf("accepted %d code points", n)
		case IsCommon(pw):
			t.Fatalf("accepted common %q", pw)
		case repeated(pw):
			t.Fatalf("accepted repeated %q", pw)
		}
	})
}

func BenchmarkCheckRules(b *testing.B) {
	r := NewRules(config.Default().Passwords)
	IsCommon("") // load the list outside the timing
	cases := []struct{ name, pw string }{
		{"accepted", "correct horse battery staple"},
		{"common", "Qwerty123456"},
		{"too long", strings.Repeat("x", 10000)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = r.Check(c.pw, "alice@example.com")
			}
		})
	}
}

func TestCheckMax(t *testing.T) {
	r := Rules{MinLength: 12, MaxLength: 16}
	for _, tc := range []struct {
		name string
		pw   string
		ok   bool
	}{
		{"short is fine for login", "abc", true},
		{"exactly max", strings.Repeat("x", 16), true},
		{"max in multi-byte characters", strings.Repeat("é", 16), true},
		{"one over", strings.Repeat("x", 17), false},
		{"huge", strings.Repeat("x", 10000), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := r.CheckMax(tc.pw)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckMax(%d bytes) = %v, want ok=%v", len(tc.pw), err, tc.ok)
			}
			var re *RuleError
			if err != nil && (!errors.As(err, &re) || re.Code != CodeValidationFailed) {
				t.Errorf("error %v is not a validation_failed RuleError", err)
			}
		})
	}
}
