package plugintool

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pumacdc/puma/hostabi"
)

// Registered returns the roles ("handler", "sender") the module wasm
// really plays, of those it exports entry points for: a Go SDK module
// exports both, whatever it registers. Each exported role is started with
// an empty config and every capability granted (nothing it could reach:
// files in a directory that does not exist, http to a name that does not
// resolve); only an init refusing the role itself ("registers no
// sender") rules it out, so a plugin that needs config still counts.
// name labels the module in errors.
func Registered(ctx context.Context, h *hostabi.Host, name string, wasm []byte, exported []string) ([]string, error) {
	m, err := h.Load(ctx, name, wasm)
	if err != nil {
		return nil, err
	}
	allow, err := hostabi.ParseHTTPAllow("https://puma-inspect.invalid")
	if err != nil {
		return nil, err
	}
	grants := hostabi.Grants{
		Files:   []string{filepath.Join(os.TempDir(), "puma-inspect-nothing")},
		Stdout:  true,
		HTTP:    []hostabi.HTTPAllow{allow},
		Secrets: []string{},
		KV:      true,
	}
	var roles []string
	for _, role := range exported {
		s := hostabi.Spec{Task: "inspect", Name: "inspect", Module: m, Config: []byte("{}"), Grants: grants, Timeout: 5 * time.Second, MaxMemory: 64 << 20}
		var err error
		switch role {
		case "handler":
			var hd *hostabi.Handler
			if hd, err = h.StartHandler(ctx, s); err == nil {
				hd.Close()
			}
		case "sender":
			var sd *hostabi.Sender
			if sd, err = h.StartSender(ctx, s); err == nil {
				sd.Close()
			}
		default:
			continue
		}
		if err != nil && strings.Contains(err.Error(), "registers no "+role) {
			continue
		}
		roles = append(roles, role)
	}
	return roles, nil
}
