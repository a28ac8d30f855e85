//go:build !wasip1

package host

import "github.com/pumacdc/puma/hostabi/wire"

// Outside Wasm the capability packages run against these, which package
// sdktest fills: a plugin's unit tests give it secrets, an HTTP stand-in
// and a kv store without a Puma host.
var (
	// Secrets are the secrets a test grants, by name.
	Secrets = map[string]string{}
	// KV is the plugin's kv state.
	KV = map[string]string{}
	// HTTP performs a request; nil sends it with net/http.
	HTTP func(*wire.HTTPRequest) (*wire.HTTPResponse, error)
	// AMQPPublish and AMQPDeclare stand in for the amqp capability's
	// broker; nil refuses it. A publish's bodies are valid during the
	// call only.
	AMQPPublish func(*wire.AMQPPublish) error
	AMQPDeclare func(*wire.AMQPDeclare) error
	// Applied is the position token the sender reported from Init, and
	// Positioned whether it reported one.
	Applied    string
	Positioned bool
)

// Err returns a host error with errno, as a failed host call would.
func Err(op string, errno wire.Errno, msg string) error {
	return &Error{Op: op, Errno: errno, Msg: msg}
}
