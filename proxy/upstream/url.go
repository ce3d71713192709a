package upstream

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// ParseURL reads a Redis URL the way Redis clients do:
// redis://[[user]:password@]host[:port][/db] or rediss:// for TLS (the server name
// is the host; add ?insecure_skip_verify=true for self-signed test servers).
// The port defaults to 6379 and the db to 0.
func ParseURL(raw string) (Options, error) {
	var o Options
	u, err := url.Parse(raw)
	if err != nil {
		return o, fmt.Errorf("redis url: %w", err)
	}
	switch u.Scheme {
	case "redis":
	case "rediss":
		o.TLS = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
		if v := u.Query().Get("insecure_skip_verify"); v == "true" || v == "1" {
			o.TLS.InsecureSkipVerify = true
		}
	default:
		return o, fmt.Errorf("redis url %q: scheme must be redis:// or rediss://", redact(u))
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		host = "127.0.0.1"
	}
	if port == "" {
		port = "6379"
	}
	o.Addr = net.JoinHostPort(host, port)
	if u.User != nil {
		o.Username = u.User.Username()
		o.Password, _ = u.User.Password()
		if _, hasPass := u.User.Password(); !hasPass {
			// redis://secret@host: a lone userinfo is the password, as redis-cli reads it.
			o.Username, o.Password = "", u.User.Username()
		}
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		db, err := strconv.Atoi(p)
		if err != nil || db < 0 {
			return o, fmt.Errorf("redis url %q: db %q is not a number", redact(u), p)
		}
		o.DB = db
	} else if v := u.Query().Get("db"); v != "" {
		db, err := strconv.Atoi(v)
		if err != nil || db < 0 {
			return o, fmt.Errorf("redis url %q: db %q is not a number", redact(u), v)
		}
		o.DB = db
	}
	return o, nil
}

// Redacted returns the URL with its password masked, for logs.
func Redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable url)"
	}
	return redact(u)
}

func redact(u *url.URL) string {
	if u.User == nil {
		return u.String()
	}
	c := *u
	if _, ok := u.User.Password(); ok {
		c.User = url.UserPassword(u.User.Username(), "xxxxx")
	} else {
		c.User = url.User("xxxxx")
	}
	return c.String()
}
