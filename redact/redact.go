// Package redact masks personal data in text before it is stored, indexed,
// shown to an agent or sent as a typing preview: payment card numbers (13 to
// 19 digits, spaces or dashes between them, Luhn-valid) always, and the
// patterns a tenant configures.
package redact

import (
	"fmt"
	"regexp"
	"strings"
)

// Mask replaces what is redacted.
const Mask = "█"

// runRE finds runs of digit groups separated by single spaces or dashes.
// Which groups form card numbers is Luhn's decision, in maskCards.
var runRE = regexp.MustCompile(`\d+(?:[ -]\d+)*`)

// Redactor masks card numbers and a tenant's patterns. The zero value masks
// card numbers only.
type Redactor struct {
	// KeepCards leaves card numbers as they are (a tenant's choice; masking
	// is the default).
	KeepCards bool
	patterns  []*regexp.Regexp
}

// New compiles a tenant's extra patterns (Go RE2 syntax: linear time, so a
// pattern cannot stall the server).
func New(patterns []string) (*Redactor, error) {
	r := &Redactor{}
	for i, p := range patterns {
		if len(p) > 500 {
			return nil, fmt.Errorf("redact: pattern %d: longer than 500 characters", i)
		}
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("redact: pattern %d: %w", i, err)
		}
		if re.MatchString("") {
			return nil, fmt.Errorf("redact: pattern %d matches the empty string", i)
		}
		r.patterns = append(r.patterns, re)
	}
	return r, nil
}

// Text returns s with every Luhn-valid card number and every match of the
// tenant's patterns replaced by masks (one per character, so the reader
// sees that something was there and how long it was).
func (r *Redactor) Text(s string) string {
	if r == nil {
		return maskCards(s)
	}
	if !r.KeepCards {
		s = maskCards(s)
	}
	for _, re := range r.patterns {
		s = re.ReplaceAllStringFunc(s, maskRunes)
	}
	return s
}

// maskCards masks card numbers: any run of whole digit groups ("4111 1111
// 1111 1111", "4111-1111-1111-1111", "4111111111111111") that holds 13 to 19
// digits and passes Luhn's check, even beside other numbers ("order 12 4111
// 1111 1111 1111"). Windows are whole groups, never parts of one, so that a
// long reference number is not masked because some slice of it passes Luhn.
func maskCards(s string) string {
	locs := runRE.FindAllStringIndex(s, -1)
	masked := make([]bool, len(s)) // by byte offset in s
	found := false
	for _, loc := range locs {
		if loc[1]-loc[0] < 13 {
			continue
		}
		// groups[g] are the byte offsets of the g-th group's digits.
		var groups [][]int
		var cur []int
		for i := loc[0]; i < loc[1]; i++ {
			if s[i] >= '0' && s[i] <= '9' {
				cur = append(cur, i)
			} else {
				groups, cur = append(groups, cur), nil
			}
		}
		groups = append(groups, cur)
		for a := range groups {
			var digits []int
			for b := a; b < len(groups); b++ {
				digits = append(digits, groups[b]...)
				if len(digits) > 19 {
					break
				}
				if len(digits) >= 13 && luhn(s, digits) {
					for _, p := range digits {
						masked[p] = true
					}
					found = true
				}
			}
		}
	}
	if !found {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		if masked[i] {
			b.WriteString(Mask)
		} else {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// luhn checks the digits of s at the given offsets.
func luhn(s string, digits []int) bool {
	sum := 0
	double := false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(s[digits[i]] - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

func maskRunes(m string) string { return strings.Repeat(Mask, len([]rune(m))) }
