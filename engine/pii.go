package engine

import (
	"regexp"
	"strings"
)

// A small built-in detector of personal data in prompts, for the
// `pii: true` condition of cache rules. It finds:
//
//   - email addresses (local@domain.tld);
//   - payment card numbers: 13 to 19 digits, optionally grouped by spaces
//     or dashes, that pass the Luhn check (and are not all zeros);
//   - phone numbers in common formats: international with a leading +
//     and a country code (8 to 15 digits in all, E.164's bound, grouped
//     by spaces, dots, dashes or parentheses), and US/NANP numbers written
//     (555) 123-4567, 555-123-4567, 555.123.4567 or 555 123 4567.
//
// Its limits, by design: it sees text as written, so a number with no
// separators at all (5551234567) is not taken for a phone number, nor an
// address spelt out ("jane at example dot com"); it knows no names,
// postal addresses, national identity numbers or IBANs; and a card number
// that fails Luhn is not reported. It errs towards reporting: a product
// code formatted like a phone number is reported.

// PIIKind names what the detector found.
type PIIKind string

// The kinds the detector finds.
const (
	PIIEmail PIIKind = "email"
	PIICard  PIIKind = "card"
	PIIPhone PIIKind = "phone"
)

var (
	emailRE = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}`)
	intlRE  = regexp.MustCompile(`(?:^|[^0-9+])(\+[1-9][0-9]{0,2}(?:[ .\-]?\(?[0-9]{1,4}\)?){2,6})(?:$|[^0-9])`)
	usRE    = regexp.MustCompile(`(?:^|[^0-9])((?:\([0-9]{3}\) ?|[0-9]{3}[ .\-])[0-9]{3}[ .\-][0-9]{4})(?:$|[^0-9])`)
)

// DetectPII reports the first kind of personal data found in text.
func DetectPII(text string) (PIIKind, bool) {
	if strings.IndexByte(text, '@') >= 0 && emailRE.MatchString(text) {
		return PIIEmail, true
	}
	if !strings.ContainsAny(text, "0123456789") {
		return "", false
	}
	if hasCard(text) {
		return PIICard, true
	}
	for _, m := range intlRE.FindAllStringSubmatch(text, -1) {
		if n := digits(m[1]); n >= 8 && n <= 15 {
			return PIIPhone, true
		}
	}
	if usRE.MatchString(text) {
		return PIIPhone, true
	}
	return "", false
}

func digits(s string) int {
	n := 0
	for i := range len(s) {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n
}

// hasCard finds a card number: in each run of digit groups joined by
// single spaces or dashes, any consecutive groups holding 13 to 19 digits
// that pass Luhn (so "4111 1111 1111 1111 12/25" is found despite the
// expiry date after it). Linear in the text: a window never spans more
// than 19 digits.
func hasCard(text string) bool {
	var groups []string // the current run
	check := func() bool {
		for i := range groups {
			n := 0
			var b strings.Builder
			for j := i; j < len(groups) && n+len(groups[j]) <= 19; j++ {
				b.WriteString(groups[j])
				n += len(groups[j])
				if n >= 13 && luhn(b.String()) {
					return true
				}
			}
		}
		return false
	}
	i := 0
	for i < len(text) {
		if text[i] < '0' || text[i] > '9' {
			i++
			continue
		}
		j := i
		for j < len(text) && text[j] >= '0' && text[j] <= '9' {
			j++
		}
		groups = append(groups, text[i:j])
		// A single space or dash followed by a digit continues the run.
		if j+1 < len(text) && (text[j] == ' ' || text[j] == '-') && text[j+1] >= '0' && text[j+1] <= '9' {
			i = j + 1
			continue
		}
		if check() {
			return true
		}
		groups = groups[:0]
		i = j
	}
	return false
}

// luhn checks a card number's check digit (separators skipped).
func luhn(s string) bool {
	sum, n, nonzero := 0, 0, false
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if c < '0' || c > '9' {
			continue
		}
		d := int(c - '0')
		nonzero = nonzero || d != 0
		if n%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		n++
	}
	return n >= 13 && n <= 19 && nonzero && sum%10 == 0
}
