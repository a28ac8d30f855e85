//go:build !wasip1

package amqp

import (
	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk/internal/host"
)

// Outside Wasm the messages go through the same encoding to the
// functions sdktest.AMQP set.

func publish(target string, msg []byte) error {
	p, err := wire.ParseAMQPPublish(msg)
	if err != nil {
		return host.Err("amqp: publish to "+target, wire.ErrnoInvalid, "malformed message "+err.Error())
	}
	if host.AMQPPublish == nil {
		return host.Err("amqp: publish to "+target, wire.ErrnoDenied, "no broker outside Wasm (set one with sdktest.AMQP)")
	}
	if err := host.AMQPPublish(&p); err != nil {
		return host.Err("amqp: publish to "+target, wire.ErrnoRemote, err.Error())
	}
	return nil
}

func declare(msg []byte) error {
	d, err := wire.ParseAMQPDeclare(msg)
	if err != nil {
		return host.Err("amqp: declare", wire.ErrnoInvalid, "malformed message "+err.Error())
	}
	if host.AMQPDeclare == nil {
		return host.Err("amqp: declare", wire.ErrnoDenied, "no broker outside Wasm (set one with sdktest.AMQP)")
	}
	if err := host.AMQPDeclare(&d); err != nil {
		return host.Err("amqp: declare on "+d.Target, wire.ErrnoRemote, err.Error())
	}
	return nil
}
