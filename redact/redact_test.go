package redact

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCardNumbersAreMasked(t *testing.T) {
	r := &Redactor{}
	for in, want := range map[string]string{
		"my card is 4111 1111 1111 1111, thanks": "my card is ████ ████ ████ ████, thanks",
		"4111-1111-1111-1111":                    "████-████-████-████",
		"4111111111111111":                       "████████████████",
		"amex 378282246310005 ok":                "amex ███████████████ ok",
		"order 12 4111 1111 1111 1111":           "order 12 ████ ████ ████ ████",
		"not a card: 4111 1111 1111 1112":        "not a card: 4111 1111 1111 1112",
		"phone 0612345678, ticket #4411":         "phone 0612345678, ticket #4411",
		"too short 4111111111":                   "too short 4111111111",
		"two spaces 4111  1111 1111 1111 stay":   "two spaces 4111  1111 1111 1111 stay",
		"😀 4012888888881881 😀":                   "😀 ████████████████ 😀",
		"#1 and 5555555555554444 and #2":         "#1 and ████████████████ and #2",
		"":                                       "",
	} {
		if got := r.Text(in); got != want {
			t.Errorf("Text(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestTenantPatterns(t *testing.T) {
	r, err := New([]string{`\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}\b`, `(?i)password: \S+`})
	if err != nil {
		t.Fatal(err)
	}
	got := r.Text("IBAN FR76 3000 6000 0112 3456 7890 189, Password: hunter2, card 4111111111111111")
	if strings.Contains(got, "FR76") || strings.Contains(got, "hunter2") || strings.Contains(got, "4111") {
		t.Fatalf("not masked: %q", got)
	}
	if utf8.RuneCountInString(got) != utf8.RuneCountInString("IBAN FR76 3000 6000 0112 3456 7890 189, Password: hunter2, card 4111111111111111") {
		t.Fatalf("masking changed the length: %q", got)
	}
	for _, bad := range []string{`(`, `a*`, strings.Repeat("a", 501)} {
		if _, err := New([]string{bad}); err == nil {
			t.Errorf("New(%.20q) accepted", bad)
		}
	}
}

// luhnNumber makes a Luhn-valid number of n digits.
func luhnNumber(r *rand.Rand, n int) string {
	d := make([]byte, n)
	for i := range n - 1 {
		d[i] = byte('0' + r.IntN(10))
	}
	for c := byte('0'); c <= '9'; c++ {
		d[n-1] = c
		pos := make([]int, n)
		for i := range pos {
			pos[i] = i
		}
		if luhn(string(d), pos) {
			break
		}
	}
	return string(d)
}

// FuzzEveryLuhnNumberIsMasked puts a Luhn-valid number of 13 to 19 digits,
// grouped with spaces or dashes, into arbitrary text: none of its digits may
// survive.
func FuzzEveryLuhnNumberIsMasked(f *testing.F) {
	f.Add("hello ", " world", uint64(1), uint8(16), uint8(4), uint8(0))
	f.Add("", "", uint64(7), uint8(13), uint8(0), uint8(1))
	f.Add("ref 99", "00 end", uint64(42), uint8(19), uint8(3), uint8(2))
	f.Fuzz(func(t *testing.T, before, after string, seed uint64, length, group, sep uint8) {
		r := rand.New(rand.NewPCG(seed, 0))
		n := 13 + int(length)%7
		number := luhnNumber(r, n)
		var b strings.Builder
		for i, c := range number {
			if group > 0 && i > 0 && i%int(group%6+1) == 0 {
				b.WriteByte(" -"[sep%2])
			}
			b.WriteRune(c)
		}
		text := before + " " + b.String() + " " + after
		got := (&Redactor{}).Text(text)
		// A digit becomes one mask: runes align, so each of the number's
		// digits can be checked in place.
		in, out := []rune(text), []rune(got)
		if len(in) != len(out) {
			t.Fatalf("masking changed the length: %q -> %q", text, got)
		}
		first := len([]rune(before)) + 1
		for i, c := range []rune(b.String()) {
			if c >= '0' && c <= '9' && string(out[first+i]) != Mask {
				t.Fatalf("digit %d of %q survived in %q", i, b.String(), got)
			}
		}
	})
}
