package resp

import (
	"bytes"
	"errors"
	"testing"
)

func TestScanner_Scan(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int // length of the first reply; 0: incomplete
	}{
		{"+OK\r\n", 5},
		{"-ERR x\r\n:1\r\n", 8},
		{":12\r\n", 5},
		{"$3\r\nabc\r\n", 9},
		{"$-1\r\n", 5},
		{"$0\r\n\r\n", 6},
		{"*-1\r\n", 5},
		{"*0\r\n", 4},
		{"*2\r\n$1\r\na\r\n*1\r\n:1\r\n+extra\r\n", 19},
		{"%1\r\n+k\r\n+v\r\n", 12},
		{"~2\r\n_\r\n,1.5\r\n", 13},
		{">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n", 31},
		{"|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n", 21},
		{"#t\r\n", 4},
		{"(123\r\n", 6},
		{"!3\r\nerr\r\n", 9},
		{"=7\r\ntxt:abc\r\n", 13},
		{"$3\r\nab", 0},
		{"*2\r\n:1\r\n", 0},
		{"+OK", 0},
	} {
		var s Scanner
		got, err := s.Scan([]byte(tc.in))
		if err != nil || got != tc.want {
			t.Errorf("Scan(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

// Feeding a reply one byte at a time gives the same answer as all at once.
func TestScanner_Resumable(t *testing.T) {
	var big []byte
	big = AppendArrayHeader(big, 1000)
	for i := 0; i < 1000; i++ {
		big = AppendBulk(big, bytes.Repeat([]byte{'x'}, i%50))
	}
	var s Scanner
	for i := 1; i <= len(big); i++ {
		n, err := s.Scan(big[:i])
		if err != nil {
			t.Fatal(err)
		}
		if i < len(big) && n != 0 {
			t.Fatalf("complete at %d of %d", i, len(big))
		}
		if i == len(big) && n != len(big) {
			t.Fatalf("got %d at the end, want %d", n, len(big))
		}
	}
}

func TestScanner_Errors(t *testing.T) {
	for _, in := range []string{"?x\r\n", "$x\r\n", "*y\r\n", "+OK\n", "$3\r\nabcd\r\n"} {
		var s Scanner
		if _, err := s.Scan([]byte(in)); !errors.Is(err, ErrProtocol) {
			t.Errorf("Scan(%q) err = %v, want ErrProtocol", in, err)
		}
	}
}

func TestParseAppendValue_RoundTrip(t *testing.T) {
	for _, in := range []string{
		"+OK\r\n", "-ERR no\r\n", ":-5\r\n", "$3\r\na\x00c\r\n", "$-1\r\n", "*-1\r\n",
		"*3\r\n$1\r\na\r\n:2\r\n*0\r\n", "%1\r\n$2\r\nid\r\n:7\r\n", "_\r\n", "~1\r\n+x\r\n",
	} {
		v, n, err := Parse([]byte(in))
		if err != nil || n != len(in) {
			t.Fatalf("Parse(%q) = %d, %v", in, n, err)
		}
		if out := string(AppendValue(nil, v)); out != in {
			t.Errorf("round trip %q -> %q", in, out)
		}
	}
	v, _, _ := Parse([]byte("-WRONGPASS bad\r\n"))
	var e *Error
	if !errors.As(v.Err(), &e) || e.Msg != "WRONGPASS bad" {
		t.Fatalf("Err() = %v", v.Err())
	}
}

func FuzzScanner(f *testing.F) {
	for _, s := range []string{"+OK\r\n", "*2\r\n$1\r\na\r\n:1\r\n", "%1\r\n+k\r\n+v\r\n", "|1\r\n+a\r\n:1\r\n:2\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Scanner
		n, err := s.Scan(b)
		if err != nil || n == 0 {
			return
		}
		if n > len(b) {
			t.Fatalf("length %d beyond input %d", n, len(b))
		}
		// Framing is lenient (":\r\n" frames); decoding may refuse, but must not panic
		// and, when it succeeds, must consume exactly the framed reply.
		if _, m, err := Parse(b[:n]); err == nil && m != n {
			t.Fatalf("Parse of a scanned reply consumed %d of %d", m, n)
		} else if err != nil && !errors.Is(err, ErrProtocol) {
			t.Fatalf("Parse error %v is not ErrProtocol", err)
		}
		// Scanned byte by byte, it ends at the same place.
		var s2 Scanner
		for i := 1; i <= n; i++ {
			m, err := s2.Scan(b[:i])
			if err != nil {
				t.Fatalf("incremental error at %d: %v", i, err)
			}
			if m != 0 {
				if m != n {
					t.Fatalf("incremental %d, whole %d", m, n)
				}
				return
			}
		}
		t.Fatal("incremental scan never completed")
	})
}
