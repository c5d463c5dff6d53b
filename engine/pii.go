package engine

import "strings"

// A small built-in detector of personal data in prompts, for the
// `pii: true` condition of cache rules. It finds:
//
//   - email addresses (local@domain.tld);
//   - payment card numbers: 13 to 19 digits, optionally grouped by single
//     spaces or dashes, that pass the Luhn check (and are not all zeros;
//     digits right after a + are a phone number);
//   - phone numbers in common formats: international with a leading +
//     and a country code (8 to 15 digits in all, E.164's bound, groups
//     separated by at most two of space, dot, dash and parentheses), and
//     US/NANP numbers written (555) 123-4567, (555)123-4567, 555-123-4567,
//     555.123.4567 or 555 123 4567 (one separator, used twice).
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

// DetectPII reports the first kind of personal data found in text. It
// is a few hand-written scans, each linear in the text.
func DetectPII(text string) (PIIKind, bool) {
	if strings.IndexByte(text, '@') >= 0 && hasEmail(text) {
		return PIIEmail, true
	}
	if !strings.ContainsAny(text, "0123456789") {
		return "", false
	}
	if hasCard(text) {
		return PIICard, true
	}
	if hasPhone(text) {
		return PIIPhone, true
	}
	return "", false
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// hasEmail finds local@label.label…tld: a local part character before an
// @, then at least two domain labels, the last of two letters or more.
func hasEmail(text string) bool {
	isLocal := func(c byte) bool {
		return isLetter(c) || isDigit(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
	}
	isLabel := func(c byte) bool { return isLetter(c) || isDigit(c) || c == '-' }
	for i := 1; i < len(text); i++ {
		if text[i] != '@' || !isLocal(text[i-1]) {
			continue
		}
		labels, tld := 0, false
		for j := i + 1; ; {
			k := j
			for k < len(text) && isLabel(text[k]) {
				k++
			}
			if k == j {
				break
			}
			labels++
			tld = k-j >= 2 && !strings.ContainsFunc(text[j:k], func(r rune) bool { return !isLetter(byte(r)) })
			if k+1 < len(text) && text[k] == '.' && isLabel(text[k+1]) {
				j = k + 1
				continue
			}
			break
		}
		if labels >= 2 && tld {
			return true
		}
	}
	return false
}

// isPhoneSep separates the digit groups of a phone number.
func isPhoneSep(c byte) bool { return c == ' ' || c == '.' || c == '-' || c == '(' || c == ')' }

// hasPhone finds an international number (+, a country code 1-9…, 8 to
// 15 digits in all, groups separated by at most two of " .-()") or a US
// one: (415) 555-2671, (415)555-2671, or 415-555-2671 with one separator
// (space, dot or dash) used twice. A number must not continue a word or
// another number.
func hasPhone(text string) bool {
	for i := 0; i < len(text); i++ {
		if i > 0 && (isDigit(text[i-1]) || isLetter(text[i-1])) {
			continue
		}
		switch c := text[i]; {
		case c == '+':
			if i+1 < len(text) && text[i+1] >= '1' && text[i+1] <= '9' && (i == 0 || text[i-1] != '+') {
				if n := intlDigits(text[i+1:]); n >= 8 && n <= 15 {
					return true
				}
			}
		case c == '(' || isDigit(c):
			if usPhone(text[i:]) {
				return true
			}
		}
	}
	return false
}

// intlDigits counts the digits of the number that starts s (after its +).
func intlDigits(s string) int {
	n := 0
	for i := 0; i < len(s); {
		if isDigit(s[i]) {
			n++
			i++
			if n > 15 {
				return n
			}
			continue
		}
		// Up to two separators, then a digit, continue the number.
		j := i
		for j < len(s) && j-i < 2 && isPhoneSep(s[j]) {
			j++
		}
		if j == i || j >= len(s) || !isDigit(s[j]) {
			break
		}
		i = j
	}
	return n
}

// usPhone reports whether s starts with a US-format number.
func usPhone(s string) bool {
	digits := func(s string, n int) bool {
		if len(s) < n {
			return false
		}
		for i := range n {
			if !isDigit(s[i]) {
				return false
			}
		}
		return true
	}
	var rest string
	switch {
	case len(s) >= 5 && s[0] == '(' && digits(s[1:], 3) && s[4] == ')':
		rest = strings.TrimPrefix(s[5:], " ")
		if !digits(rest, 3) || len(rest) < 4 || (rest[3] != ' ' && rest[3] != '.' && rest[3] != '-') {
			return false
		}
		rest = rest[4:]
	case digits(s, 3) && len(s) > 7 && (s[3] == ' ' || s[3] == '.' || s[3] == '-') && digits(s[4:], 3) && s[7] == s[3]:
		rest = s[8:]
	default:
		return false
	}
	return digits(rest, 4) && (len(rest) == 4 || !isDigit(rest[4]))
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
		var buf [19]byte
		for i := range groups {
			n := 0
			for j := i; j < len(groups) && n+len(groups[j]) <= len(buf); j++ {
				n += copy(buf[n:], groups[j])
				if n >= 13 && luhn(buf[:n]) {
					return true
				}
			}
		}
		return false
	}
	for i := 0; i < len(text); {
		if !isDigit(text[i]) {
			i++
			continue
		}
		// The run: digit groups joined by single spaces or dashes.
		groups = groups[:0]
		phone := i > 0 && text[i-1] == '+' // an international number, not a card
		for {
			j := i
			for j < len(text) && isDigit(text[j]) {
				j++
			}
			groups = append(groups, text[i:j])
			i = j
			if j+1 < len(text) && (text[j] == ' ' || text[j] == '-') && isDigit(text[j+1]) {
				i = j + 1
				continue
			}
			break
		}
		if !phone && check() {
			return true
		}
	}
	return false
}

// luhn checks a card number's check digit (separators skipped).
func luhn[T string | []byte](s T) bool {
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
