package hostabi

import (
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

func TestIPClass(t *testing.T) {
	for addr, want := range map[string]string{
		"93.184.216.34": "public", "8.8.8.8": "public", "2606:4700::1111": "public",
		"127.0.0.1": "loopback", "127.9.9.9": "loopback", "::1": "loopback", "::ffff:127.0.0.1": "loopback",
		"10.1.2.3": "private", "172.16.0.1": "private", "172.31.255.255": "private", "192.168.1.1": "private",
		"100.64.0.1": "private", "fd00::1": "private", "fc00::1": "private",
		"172.32.0.1": "public", "100.128.0.1": "public",
		"169.254.169.254": "link-local", "fe80::1": "link-local",
		"0.0.0.0": "unspecified", "::": "unspecified", "0.1.2.3": "unspecified",
		"224.0.0.1": "multicast", "ff02::1": "multicast",
		"255.255.255.255": "reserved", "240.0.0.1": "reserved", "192.0.2.1": "reserved", "198.18.0.1": "reserved",
		"2001:db8::1": "reserved", "::127.0.0.1": "reserved",
		"64:ff9b::7f00:1": "loopback", "64:ff9b::808:808": "public", "2002:a00:1::": "private",
	} {
		if got := ipClass(netip.MustParseAddr(addr)); got != want {
			t.Errorf("%s: %s, want %s", addr, got, want)
		}
	}
}

func TestHTTPAllow(t *testing.T) {
	for _, tc := range []struct {
		allow string
		yes   []string
		no    []string
	}{
		{"https://hooks.example.com",
			[]string{"https://hooks.example.com/", "https://HOOKS.example.com./x?y=1", "https://hooks.example.com:443/a"},
			[]string{"http://hooks.example.com/", "https://hooks.example.com:8443/", "https://evil.com/", "https://x.hooks.example.com/"}},
		{"https://*.example.com/api",
			[]string{"https://a.example.com/api", "https://a.b.example.com/api/v1"},
			[]string{"https://example.com/api", "https://a.example.com/apiv2", "https://a.example.com/", "https://aexample.com/api"}},
		{"http://127.0.0.1:8080/in/",
			[]string{"http://127.0.0.1:8080/in/x", "http://[::ffff:127.0.0.1]:8080/in/", "http://127.0.0.1:8080/in/a%20b", "http://127.0.0.1:8080/in/a b"},
			[]string{"http://127.0.0.1:8080/in", "http://127.0.0.1/in/x", "http://127.0.0.1:8080/in%2Fx", "http://127.0.0.1:8080/in/..;/x",
				"http://127.0.0.1:8080/in/%2e%2e/x", "http://127.0.0.1:8080/in/a%5Cb", "http://127.0.0.1:8080/%69n/x"}},
		// A grant's path is compared escaped, as requests are sent.
		{"https://x.example/a b/",
			[]string{"https://x.example/a%20b/c"},
			[]string{"https://x.example/a%2520b/c"}},
		{"https://x.example",
			[]string{"https://x.example/a%2Fb", "https://x.example/a;b", "https://x.example/a%2e"},
			nil},
	} {
		a, err := ParseHTTPAllow(tc.allow)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range tc.yes {
			if pu, _ := url.Parse(u); !a.Match(pu) {
				t.Errorf("%s does not match %s", tc.allow, u)
			}
		}
		for _, u := range tc.no {
			if pu, _ := url.Parse(u); a.Match(pu) {
				t.Errorf("%s matches %s", tc.allow, u)
			}
		}
	}
	for s, want := range map[string]string{
		"ftp://x.example":          "want an http:// or https:// URL",
		"https://u:p@x.example":    "credentials do not belong",
		"https://x.example/?a=1":   "without query",
		"https://*.com":            "a wildcard",
		"https://a.*.example.com":  "a wildcard",
		"https://x.example/a/../b": `"." or ".."`,
		"https://x.example/a;b/":   `a ";" (path parameter)`,
		"https://x.example/a%2Fb/": "an encoded slash",
	} {
		if _, err := ParseHTTPAllow(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", s, err, want)
		}
	}
}
