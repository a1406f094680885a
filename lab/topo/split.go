package topo

import (
	"errors"
	"strings"
)

// SplitCommand splits s into words the way a POSIX shell does, without any
// expansion: words are separated by spaces, tabs and newlines; 'single
// quotes' keep everything literally; "double quotes" keep everything but
// \\, \", \$, \` and backslash-newline, which they unescape; outside quotes a
// backslash keeps the next character literally and backslash-newline is
// removed. $VAR, *, ~, |, ;, > and # are ordinary characters: to use a shell,
// run ["sh", "-c", "..."]. An empty or blank s yields no words.
func SplitCommand(s string) ([]string, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, errors.New("command contains a NUL byte")
	}
	var (
		words []string
		w     strings.Builder
		in    bool // inside a word (possibly an empty quoted one)
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case ' ', '\t', '\n':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		case '\'':
			in = true
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("command has an unterminated ' quote")
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case '"':
			in = true
			closed := false
			for i++; i < len(s); i++ {
				c := s[i]
				if c == '"' {
					closed = true
					break
				}
				if c == '\\' && i+1 < len(s) {
					switch s[i+1] {
					case '\\', '"', '$', '`':
						w.WriteByte(s[i+1])
						i++
						continue
					case '\n':
						i++
						continue
					}
				}
				w.WriteByte(c)
			}
			if !closed {
				return nil, errors.New(`command has an unterminated " quote`)
			}
		case '\\':
			if i+1 >= len(s) {
				return nil, errors.New("command ends with a lone backslash")
			}
			i++
			if s[i] == '\n' {
				continue
			}
			in = true
			w.WriteByte(s[i])
		default:
			in = true
			w.WriteByte(c)
		}
	}
	if in {
		words = append(words, w.String())
	}
	return words, nil
}

// QuoteCommand joins argv into a string that SplitCommand splits back into
// argv: words of safe characters are left as they are, others are put in
// single quotes.
func QuoteCommand(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = quoteWord(a)
	}
	return strings.Join(q, " ")
}

func quoteWord(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_@%+=:,./-", c) >= 0) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
