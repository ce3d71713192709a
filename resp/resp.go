// Package resp frames and builds RESP values: it finds where one reply ends in a byte
// stream (RESP2 and RESP3 types) without copying or decoding it, builds commands, and
// decodes small replies hotswap needs to read itself (handshakes, HELLO, CLIENT INFO).
//
// Parsing client requests is redcon's job; this package is for the upstream side.
package resp

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// ErrProtocol is returned for bytes that are not RESP.
var ErrProtocol = errors.New("resp: protocol error")

// Scanner finds the end of one reply in a growing buffer. It is resumable: when a
// reply is incomplete, Scan remembers how far it got, so a reply of a million elements
// arriving in many reads is scanned once, not once per read.
//
// The zero value is ready to use. Reset it before scanning the next reply.
type Scanner struct {
	pos   int   // offset (from the reply start) of the next element header to read
	stack []int // elements still expected at each open aggregate level
}

// Reset prepares the scanner for a new reply.
func (s *Scanner) Reset() {
	s.pos = 0
	s.stack = s.stack[:0]
}

// Scan looks at buf, which starts at the beginning of a reply, and returns the reply's
// length once buf holds all of it, or 0 while it is incomplete (call again with more
// data: buf must start at the same reply and include what it held before).
func (s *Scanner) Scan(buf []byte) (int, error) {
	for {
		if s.pos >= len(buf) {
			return 0, nil
		}
		i := bytes.IndexByte(buf[s.pos:], '\n')
		if i < 0 {
			if len(buf)-s.pos > maxLine {
				return 0, fmt.Errorf("%w: line too long", ErrProtocol)
			}
			return 0, nil
		}
		lineEnd := s.pos + i + 1 // just past '\n'
		if i < 2 || buf[lineEnd-2] != '\r' {
			return 0, fmt.Errorf("%w: line not terminated by CRLF", ErrProtocol)
		}
		typ := buf[s.pos]
		line := buf[s.pos+1 : lineEnd-2]
		var children int
		switch typ {
		case '+', '-', ':', '_', ',', '#', '(':
			s.pos = lineEnd
		case '$', '!', '=':
			n, ok := parseLen(line)
			if !ok {
				return 0, fmt.Errorf("%w: bad bulk length %q", ErrProtocol, line)
			}
			if n < 0 {
				s.pos = lineEnd
				break
			}
			end := lineEnd + n + 2
			if end > len(buf) {
				return 0, nil
			}
			if buf[end-2] != '\r' || buf[end-1] != '\n' {
				return 0, fmt.Errorf("%w: bulk not terminated by CRLF", ErrProtocol)
			}
			s.pos = end
		case '*', '~', '>', '%', '|':
			n, ok := parseLen(line)
			if !ok {
				return 0, fmt.Errorf("%w: bad aggregate length %q", ErrProtocol, line)
			}
			s.pos = lineEnd
			if n <= 0 {
				break
			}
			if typ == '%' || typ == '|' {
				n *= 2
			}
			children = n
		default:
			return 0, fmt.Errorf("%w: unknown type byte %q", ErrProtocol, typ)
		}
		if typ == '|' {
			// An attribute precedes the value it annotates, and the two count as one
			// element of whatever holds them: a level of two (attribute, value).
			s.stack = append(s.stack, 2)
		}
		if children > 0 {
			s.stack = append(s.stack, children)
			continue
		}
		// One element finished: pop every aggregate it completes.
		for len(s.stack) > 0 {
			top := len(s.stack) - 1
			s.stack[top]--
			if s.stack[top] > 0 {
				break
			}
			s.stack = s.stack[:top]
		}
		if len(s.stack) == 0 {
			return s.pos, nil
		}
	}
}

// maxLine bounds a header line (a type byte and a length, or a simple string).
// Redis' own simple replies are short; the limit only stops a runaway buffer.
const maxLine = 64 << 20

func parseLen(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	neg := false
	if b[0] == '-' {
		neg = true
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		return -n, true
	}
	return n, true
}

// AppendCommand appends args as a RESP array of bulk strings.
func AppendCommand(dst []byte, args ...[]byte) []byte {
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(len(args)), 10)
	dst = append(dst, '\r', '\n')
	for _, a := range args {
		dst = AppendBulk(dst, a)
	}
	return dst
}

// AppendCommandString is AppendCommand for string arguments.
func AppendCommandString(dst []byte, args ...string) []byte {
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(len(args)), 10)
	dst = append(dst, '\r', '\n')
	for _, a := range args {
		dst = append(dst, '$')
		dst = strconv.AppendInt(dst, int64(len(a)), 10)
		dst = append(dst, '\r', '\n')
		dst = append(dst, a...)
		dst = append(dst, '\r', '\n')
	}
	return dst
}

// AppendBulk appends one bulk string.
func AppendBulk(dst, b []byte) []byte {
	dst = append(dst, '$')
	dst = strconv.AppendInt(dst, int64(len(b)), 10)
	dst = append(dst, '\r', '\n')
	dst = append(dst, b...)
	return append(dst, '\r', '\n')
}

// AppendError appends an error reply; msg must not contain CR or LF.
func AppendError(dst []byte, msg string) []byte {
	dst = append(dst, '-')
	dst = append(dst, msg...)
	return append(dst, '\r', '\n')
}

// AppendSimple appends a simple string reply.
func AppendSimple(dst []byte, s string) []byte {
	dst = append(dst, '+')
	dst = append(dst, s...)
	return append(dst, '\r', '\n')
}

// AppendInt appends an integer reply.
func AppendInt(dst []byte, n int64) []byte {
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, n, 10)
	return append(dst, '\r', '\n')
}

// AppendNullBulk appends the RESP2 null bulk string.
func AppendNullBulk(dst []byte) []byte { return append(dst, "$-1\r\n"...) }

// AppendArrayHeader appends an array header of n elements.
func AppendArrayHeader(dst []byte, n int) []byte {
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\r', '\n')
}
