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
	// SQL performs an sql request (begin, exec, query, commit,
	// rollback) and returns its result message; nil refuses every
	// request.
	SQL func(*wire.SQLRequest) ([]byte, error)
	// Redis runs a batch of the redis capability, by target name.
	Redis = map[string]func(*wire.RedisBatch) (*wire.RedisReply, error){}
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

// KafkaCluster is what the kafka capability reaches outside Wasm: the
// in-memory cluster sdktest.Kafka makes.
type KafkaCluster interface {
	Produce(*wire.KafkaProduce) (wire.KafkaProduceResult, error)
	Txn(target string, op uint32) error
	Last(*wire.KafkaLast) (*wire.KafkaRecord, bool, error)
}

// Kafka is the kafka capability's cluster; nil when not granted.
var Kafka KafkaCluster
