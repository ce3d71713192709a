package upstream

import "testing"

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url              string
		addr, user, pass string
		db               int
		tls              bool
	}{
		{"redis://127.0.0.1:6379", "127.0.0.1:6379", "", "", 0, false},
		{"redis://localhost", "localhost:6379", "", "", 0, false},
		{"redis://:secret@h:1/3", "h:1", "", "secret", 3, false},
		{"redis://alice:pw@h:1/0", "h:1", "alice", "pw", 0, false},
		{"redis://secret@h:1", "h:1", "", "secret", 0, false},
		{"rediss://h:6380/?db=4", "h:6380", "", "", 4, true},
		{"redis://[::1]:7000", "[::1]:7000", "", "", 0, false},
	} {
		o, err := ParseURL(tc.url)
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		if o.Addr != tc.addr || o.Username != tc.user || o.Password != tc.pass || o.DB != tc.db || (o.TLS != nil) != tc.tls {
			t.Errorf("%s: got %+v", tc.url, o)
		}
	}
	for _, bad := range []string{"http://h", "redis://h/x", "redis://h/-1", "::"} {
		if _, err := ParseURL(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	if got := Redacted("redis://alice:pw@h:1"); got != "redis://alice:xxxxx@h:1" {
		t.Errorf("Redacted = %q", got)
	}
}
