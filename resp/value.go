package resp

import (
	"fmt"
	"strconv"
)

// Value is a decoded reply, for the few replies hotswap reads itself.
type Value struct {
	Type  byte    // the RESP type byte: '+', '-', ':', '$', '*', ...
	Str   []byte  // simple string, error text, bulk string, or the text of other scalars
	Int   int64   // ':' replies
	Elems []Value // aggregates
	Null  bool    // $-1, *-1 or _
}

// IsError reports whether v is an error reply.
func (v Value) IsError() bool { return v.Type == '-' || v.Type == '!' }

// Error is an error reply from Redis, kept verbatim so it can be passed on unchanged.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

// Err returns v as an *Error if it is an error reply, else nil.
func (v Value) Err() error {
	if v.IsError() {
		return &Error{Msg: string(v.Str)}
	}
	return nil
}

// Parse decodes one complete reply from the start of b and returns it with its length.
func Parse(b []byte) (Value, int, error) {
	var s Scanner
	n, err := s.Scan(b)
	if err != nil {
		return Value{}, 0, err
	}
	if n == 0 {
		return Value{}, 0, fmt.Errorf("%w: incomplete reply", ErrProtocol)
	}
	v, m, err := decode(b[:n])
	if err != nil {
		return Value{}, 0, err
	}
	if m != n {
		return Value{}, 0, fmt.Errorf("%w: reply length mismatch", ErrProtocol)
	}
	return v, n, nil
}

// decode assumes b holds a complete, well-formed reply (checked by Scanner).
func decode(b []byte) (Value, int, error) {
	if len(b) < 3 {
		return Value{}, 0, fmt.Errorf("%w: truncated reply", ErrProtocol)
	}
	i := 0
	for b[i] != '\n' {
		i++
	}
	typ := b[0]
	line := b[1 : i-1]
	pos := i + 1
	v := Value{Type: typ}
	switch typ {
	case '+', '-', '_', ',', '#', '(':
		v.Str = line
		v.Null = typ == '_'
	case ':':
		n, err := strconv.ParseInt(string(line), 10, 64)
		if err != nil {
			return v, 0, fmt.Errorf("%w: bad integer %q", ErrProtocol, line)
		}
		v.Int = n
	case '$', '!', '=':
		n, _ := parseLen(line)
		if n < 0 {
			v.Null = true
			return v, pos, nil
		}
		v.Str = b[pos : pos+n]
		pos += n + 2
	case '*', '~', '>', '%', '|':
		n, _ := parseLen(line)
		if n < 0 {
			v.Null = true
			return v, pos, nil
		}
		if typ == '%' || typ == '|' {
			n *= 2
		}
		v.Elems = make([]Value, 0, n)
		for k := 0; k < n; k++ {
			e, m, err := decode(b[pos:])
			if err != nil {
				return v, 0, err
			}
			v.Elems = append(v.Elems, e)
			pos += m
		}
		if typ == '|' {
			// The attribute annotates the next value; return that value.
			e, m, err := decode(b[pos:])
			if err != nil {
				return v, 0, err
			}
			return e, pos + m, nil
		}
	default:
		return v, 0, fmt.Errorf("%w: unknown type byte %q", ErrProtocol, typ)
	}
	return v, pos, nil
}

// AppendValue serialises v back to RESP (RESP2 types only, plus what v.Type names).
func AppendValue(dst []byte, v Value) []byte {
	switch v.Type {
	case '+', '-', '_', ',', '#', '(':
		dst = append(dst, v.Type)
		dst = append(dst, v.Str...)
		return append(dst, '\r', '\n')
	case ':':
		return AppendInt(dst, v.Int)
	case '$', '!', '=':
		if v.Null {
			return append(dst, v.Type, '-', '1', '\r', '\n')
		}
		dst = append(dst, v.Type)
		dst = strconv.AppendInt(dst, int64(len(v.Str)), 10)
		dst = append(dst, '\r', '\n')
		dst = append(dst, v.Str...)
		return append(dst, '\r', '\n')
	default: // aggregates
		if v.Null {
			return append(dst, v.Type, '-', '1', '\r', '\n')
		}
		n := len(v.Elems)
		if v.Type == '%' {
			n /= 2
		}
		dst = append(dst, v.Type)
		dst = strconv.AppendInt(dst, int64(n), 10)
		dst = append(dst, '\r', '\n')
		for _, e := range v.Elems {
			dst = AppendValue(dst, e)
		}
		return dst
	}
}
