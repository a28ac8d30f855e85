package hostabi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi/wire"
)

// caps is the host side of one instance's imports: the log, the last
// error, and the capabilities it was granted. Host functions run on the
// goroutine calling into the instance, so caps needs no lock.
type caps struct {
	h       *Host
	log     *slog.Logger
	grants  Grants
	lastErr string
	files   map[int32]*appendFile
	nextFD  int32
	syncs   int // file_sync calls that succeeded
	writes  int // file_write calls that succeeded
	// call counts the calls into the instance (instance.call), so that
	// a file knows which call its truncation floor belongs to.
	call uint64
	// nativeCtx is the context of a native instance's current call, for
	// the capabilities that take one (a Wasm call passes its own).
	nativeCtx context.Context
	// http, kv: the plugin's, shared by its instances; nil when not
	// granted. httpResp is the last response, for http_response.
	http     *httpClient
	httpResp []byte
	// natsOut is the result of the last nats_publish or nats_last, for
	// nats_result.
	natsOut []byte
	kv      *kvStore
	secrets map[string]engine.Secret
	// targets are the plugin's clients of its granted [targets]; nil
	// when none is granted. task and plugin name the plugin to them (a
	// Kafka transactional.id).
	targets      *targetConns
	task, plugin string
	// sqlTxs are the transactions the instance has open, by target;
	// sqlRes is the last sql result message, for sql_result.
	sqlTxs map[string]sqlTx
	sqlRes []byte
	// copyBuf is the scratch buffer of the COPY data of sql copies.
	copyBuf []byte
	// redisReply is the last reply message of redis_exec, for
	// redis_reply.
	redisReply []byte
	// kafkaOut is the last kafka result, for kafka_result.
	kafkaOut []byte
	// macs are the keyed MACs secret_hmac made, by algorithm (SHA-256,
	// SHA-512) and secret name.
	macs [2]map[string]*keyedMAC

	// batch is the batch the instance is handling or sending, during
	// the call; env is envelope's scratch buffer, enc its renderer and
	// envNow the processing time of envBatch, the batch enc renders.
	batch    *engine.Batch
	env      []byte
	enc      engine.Envelopes
	envBatch *engine.Batch
	envNow   time.Time
	// ahead is a sender's envelopes rendered before its call (nil for a
	// handler).
	ahead *ahead
	// proj is the columns a native instance declared it reads (nil:
	// every column).
	proj *projection
	// group is the group being sent (puma_send_group), whose batches
	// group_batch makes the current batch.
	group []*engine.Batch
	// initing is set during puma_init; applied is the plugin's applied
	// position state (nil for a handler); posBatch and posToken cache
	// commit_position's last token.
	initing  bool
	remote   *bool // the plugin's remote flag (plugin.remote)
	applied  *appliedState
	posBatch *engine.Batch
	posToken []byte
}

// fail records err for last_error and returns its errno.
func (c *caps) fail(errno wire.Errno, format string, args ...any) int64 {
	c.lastErr = fmt.Sprintf(format, args...)
	if errno == wire.ErrnoRemote {
		c.markRemote()
	}
	return int64(errno)
}

// markRemote records that a capability could not reach its remote end
// during the current call (ErrnoRemote, for the whole call or for one
// record of it): if the call then fails, the destination is unavailable
// (Error.Unavailable).
func (c *caps) markRemote() {
	if c.remote != nil {
		*c.remote = true
	}
}

func (c *caps) closeAll() {
	c.closeSQL()
	for fd, f := range c.files {
		f.close()
		delete(c.files, fd)
	}
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// hostFunc is a function of the "puma" import module: its name, its Go
// side and its wasm type.
type hostFunc struct {
	name            string
	fn              func(c *caps, ctx context.Context, m api.Module, stack []uint64)
	params, results []api.ValueType
}

// hostFuncs are the host functions but safepoint. A capability's file adds
// its own from init (registerHostFuncs), so that each capability's
// functions, types and code stay together.
var hostFuncs = []hostFunc{
	{wire.ImportLog, (*caps).logFn, []api.ValueType{i32, i32, i32}, nil},
	{wire.ImportLastError, (*caps).lastErrorFn, []api.ValueType{i32, i32}, []api.ValueType{i32}},
	{wire.ImportEnvelope, (*caps).envelope, []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i64}},
	{wire.ImportGroupBatch, (*caps).groupBatch, []api.ValueType{i32}, []api.ValueType{i32}},
	{wire.ImportFileOpen, (*caps).fileOpen, []api.ValueType{i32, i32, i32}, []api.ValueType{i64}},
	{wire.ImportFileWrite, (*caps).fileWrite, []api.ValueType{i32, i32, i32}, []api.ValueType{i32}},
	{wire.ImportFileSync, (*caps).fileSync, []api.ValueType{i32}, []api.ValueType{i32}},
	{wire.ImportFileSize, (*caps).fileSize, []api.ValueType{i32}, []api.ValueType{i64}},
	{wire.ImportFileTruncate, (*caps).fileTruncate, []api.ValueType{i32, i64}, []api.ValueType{i32}},
	{wire.ImportFileRotate, (*caps).fileRotate, []api.ValueType{i32}, []api.ValueType{i32}},
	{wire.ImportFileClose, (*caps).fileClose, []api.ValueType{i32}, []api.ValueType{i32}},
	{wire.ImportStdoutWrite, (*caps).stdoutWrite, []api.ValueType{i32, i32}, []api.ValueType{i32}},
	{wire.ImportHTTPRequest, (*caps).httpRequest, []api.ValueType{i32, i32}, []api.ValueType{i64}},
	{wire.ImportHTTPResponse, (*caps).httpResponse, []api.ValueType{i32, i32}, []api.ValueType{i32}},
	{wire.ImportSecretHMAC, (*caps).secretHMAC, []api.ValueType{i32, i32, i32, i32, i32, i32, i32}, []api.ValueType{i32}},
	{wire.ImportSecretHMACBatch, (*caps).secretHMACBatch, []api.ValueType{i32, i32, i32, i32, i32, i32, i32}, []api.ValueType{i32}},
	{wire.ImportKVGet, (*caps).kvGet, []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i64}},
	{wire.ImportKVPut, (*caps).kvPut, []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}},
	{wire.ImportKVDelete, (*caps).kvDelete, []api.ValueType{i32, i32}, []api.ValueType{i32}},
}

// registerHostFuncs adds host functions; call it from init only.
func registerHostFuncs(fs ...hostFunc) { hostFuncs = append(hostFuncs, fs...) }

// instantiateHostModule builds the "puma" import module in r, shared by
// every instance r runs: each function finds its instance's caps in the
// context of the call (withCaps). Every function exists whatever the
// grants: the load-time check already refused a module importing one it
// was not granted, and each function checks again.
func instantiateHostModule(ctx context.Context, r wazero.Runtime) error {
	b := r.NewHostModuleBuilder(wire.ImportModule)
	for _, f := range hostFuncs {
		fn := f.fn
		b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
			fn(capsOf(ctx), ctx, m, stack)
		}), f.params, f.results).Export(f.name)
	}
	b.NewFunctionBuilder().WithGoFunction(api.GoFunc(safepoint), nil, nil).Export(wire.ImportSafepoint)
	_, err := b.Instantiate(ctx)
	return err
}

type capsKey struct{}

// withCaps makes c the caps of the host functions called under ctx.
func withCaps(ctx context.Context, c *caps) context.Context {
	return context.WithValue(ctx, capsKey{}, c)
}

// capsOf returns the caps of the instance making the call. Every call
// into a guest runs under its instance's context (instance.call), so
// there always is one; a guest cannot reach a host function otherwise.
func capsOf(ctx context.Context) *caps { return ctx.Value(capsKey{}).(*caps) }

// signature returns the type of the host function name, params then
// results, for the load-time check.
func signature(name string) (sig [2][]api.ValueType, ok bool) {
	if name == wire.ImportSafepoint {
		return sig, true
	}
	for _, f := range hostFuncs {
		if f.name == name {
			return [2][]api.ValueType{f.params, f.results}, true
		}
	}
	return sig, false
}

func (c *caps) logFn(ctx context.Context, m api.Module, stack []uint64) {
	level := slog.Level(int32(stack[0]))
	if !c.log.Enabled(ctx, level) {
		return
	}
	msg, ok := m.Memory().Read(uint32(stack[1]), uint32(stack[2]))
	if !ok {
		c.log.Warn("plugin log: message out of bounds")
		return
	}
	c.log.Log(ctx, level, string(msg))
}

func (c *caps) lastErrorFn(_ context.Context, m api.Module, stack []uint64) {
	ptr, n := uint32(stack[0]), uint32(stack[1])
	msg := c.lastErr
	if len(msg) > int(n) {
		msg = msg[:n]
	}
	if !m.Memory().WriteString(ptr, msg) {
		ret32(stack, int64(wire.ErrnoInvalid))
		return
	}
	stack[0] = uint64(uint32(int32(len(c.lastErr))))
}

func (c *caps) envelope(_ context.Context, m api.Module, stack []uint64) {
	stack[0] = uint64(c.doEnvelope(m, uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3])))
}

// doEnvelope renders changes from..end of the current batch into the
// guest's buffer, whole envelopes only. opts is the separator byte and,
// from bit 8 on, the sender's wire.EnvelopeFlags. The changes before from
// are counted again each call (the transaction's event order depends on
// them), so a call that did not fit leaves no trace.
func (c *caps) doEnvelope(m api.Module, ptr, capacity, from, opts uint32) int64 {
	buf, rc := c.renderEnvelopes(c.env[:0], capacity, from, opts)
	if cap(buf) > cap(c.env) {
		c.env = buf[:0]
	}
	if rc <= 0 || rc>>32 == 0 {
		return rc
	}
	if !m.Memory().Write(ptr, buf) {
		return c.fail(wire.ErrnoInvalid, "envelope: buffer out of bounds")
	}
	return rc
}

// renderEnvelopes appends to buf the envelopes of changes from..end of the
// current batch that fit in capacity bytes, and returns buf and what
// envelope returns: the count of changes rendered and the bytes written,
// or the bytes the first one needs when none fits, or an errno. Bytes of
// buf past those written are scratch.
func (c *caps) renderEnvelopes(buf []byte, capacity, from, opts uint32) ([]byte, int64) {
	b := c.batch
	if b == nil {
		return buf, c.fail(wire.ErrnoInvalid, "envelope: no batch is being handled")
	}
	if int64(from) > int64(len(b.Changes)) {
		return buf, c.fail(wire.ErrnoInvalid, "envelope: change %d of a batch of %d", from, len(b.Changes))
	}
	sep, flags := byte(opts), wire.EnvelopeFlags(opts>>8)
	if !flags.Valid() {
		return buf, c.fail(wire.ErrnoInvalid, "envelope: unknown options %#x", uint32(flags))
	}
	var r *rendered
	if c.ahead != nil {
		c.ahead.used(opts)
		if int64(from) < int64(len(b.Changes)) {
			r = c.ahead.lookup(b, opts, c.envBatch)
		}
	}
	if b != c.envBatch {
		c.envBatch, c.envNow = b, c.h.now()
		if r != nil {
			c.envNow = r.now
		}
	}
	c.enc.Flags = flags
	c.enc.StartBatch(b, c.envNow)
	for i := range from {
		c.enc.Count(&b.Changes[i])
	}
	if r != nil {
		// Rendered ahead: copied, and counted as if rendered here, so that
		// the batches after it count on from it.
		buf, n, written := r.serve(buf, capacity, from)
		for i := range n {
			c.enc.Count(&b.Changes[int(from)+i])
		}
		return buf, int64(n)<<32 | int64(written)
	}
	n := uint32(0)
	for i := int(from); i < len(b.Changes); i++ {
		mark := len(buf)
		buf = c.enc.AppendChange(buf, &b.Changes[i], sep)
		if uint64(len(buf)) > uint64(capacity) {
			if n == 0 {
				return buf, int64(len(buf) - mark)
			}
			buf = buf[:mark]
			break
		}
		n++
	}
	return buf, int64(n)<<32 | int64(len(buf))
}

// groupBatch makes batch index of the group being sent the one envelope
// renders.
func (c *caps) groupBatch(_ context.Context, _ api.Module, stack []uint64) {
	ret32(stack, c.doGroupBatch(uint32(stack[0])))
}

func (c *caps) doGroupBatch(index uint32) int64 {
	if c.group == nil {
		return c.fail(wire.ErrnoInvalid, "group_batch: no group is being sent")
	}
	if uint64(index) >= uint64(len(c.group)) {
		return c.fail(wire.ErrnoInvalid, "group_batch: batch %d of a group of %d", index, len(c.group))
	}
	c.batch = c.group[index]
	return 0
}

func (c *caps) stdoutWrite(_ context.Context, m api.Module, stack []uint64) {
	stack[0] = uint64(uint32(int32(c.doStdoutWrite(m, uint32(stack[0]), uint32(stack[1])))))
}

func (c *caps) doStdoutWrite(m api.Module, ptr, n uint32) int64 {
	if !c.grants.Stdout {
		return c.fail(wire.ErrnoDenied, "stdout is not granted: add grants = { stdout = true }")
	}
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		return c.fail(wire.ErrnoInvalid, "buffer out of bounds")
	}
	c.h.stdoutMu.Lock()
	_, err := c.h.stdout.Write(b)
	c.h.stdoutMu.Unlock()
	if err != nil {
		return c.fail(wire.ErrnoIO, "%v", err)
	}
	return 0
}

// appendFile is a file opened through the files capability: a path inside
// a granted directory, reached through an os.Root so that neither ".."
// nor a symlink can lead out of it.
type appendFile struct {
	root *os.Root
	rel  string // slash path inside root
	show string // the path as the plugin named it, for messages
	f    *os.File
	// floor is the file's size before call floorCall first wrote to it
	// (or opened or rotated it): file_truncate may cut back what that
	// call appended, down to floor and no further, so a plugin can undo
	// its partial write but never cut what the file held before.
	floor     int64
	floorCall uint64
}

// floorNow returns f's truncation floor for the current call, taking
// the file's size as the floor if the call has not touched the file yet.
func (c *caps) floorNow(f *appendFile) (int64, error) {
	if f.floorCall != c.call {
		st, err := f.f.Stat()
		if err != nil {
			return 0, err
		}
		f.floor, f.floorCall = st.Size(), c.call
	}
	return f.floor, nil
}

func (f *appendFile) close() error {
	var err error
	if f.f != nil {
		err = f.f.Close()
		f.f = nil
	}
	f.root.Close()
	return err
}

func (c *caps) fileOpen(_ context.Context, m api.Module, stack []uint64) {
	stack[0] = uint64(c.doFileOpen(m, uint32(stack[0]), uint32(stack[1]), uint32(stack[2])))
}

func (c *caps) doFileOpen(m api.Module, ptr, n, flags uint32) int64 {
	if len(c.grants.Files) == 0 {
		return c.filesDenied()
	}
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		return c.fail(wire.ErrnoInvalid, "path out of bounds")
	}
	return c.openFile(string(b), flags)
}

func (c *caps) filesDenied() int64 {
	return c.fail(wire.ErrnoDenied, "files is not granted: add grants = { files = [\"<dir>\"] }")
}

// openFile is file_open of the path name: the files capability's calls
// take and give the host's memory; the imports read and write the
// guest's around them.
func (c *caps) openFile(name string, flags uint32) int64 {
	if len(c.grants.Files) == 0 {
		return c.filesDenied()
	}
	if flags&^wire.OpenTrimToNewline != 0 {
		return c.fail(wire.ErrnoInvalid, "open %s: unknown flags %#x", name, flags)
	}
	if err := checkPath(name); err != nil {
		return c.fail(wire.ErrnoDenied, "open: %v", err)
	}
	full := filepath.Clean(filepath.FromSlash(name))
	if !filepath.IsAbs(full) {
		full = filepath.Join(c.h.configDir, full)
	}
	var dir, rel string
	for _, g := range c.grants.Files {
		if r, err := filepath.Rel(g, full); err == nil && r != "." && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			dir, rel = g, filepath.ToSlash(r)
			break
		}
	}
	if dir == "" {
		return c.fail(wire.ErrnoDenied, "open %s: outside the granted directories (%s)", name, strings.Join(c.relGrants(), ", "))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return c.fail(wire.ErrnoIO, "open %s: %v", name, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return c.fail(wire.ErrnoIO, "open %s: %v", name, err)
	}
	af := &appendFile{root: root, rel: rel, show: name}
	if err := af.open(flags&wire.OpenTrimToNewline != 0); err != nil {
		root.Close()
		return c.fail(errnoOf(err), "open %s: %v", name, err)
	}
	af.floorCall = c.call - 1 // taken at the first write or truncate
	if c.files == nil {
		c.files = make(map[int32]*appendFile)
	}
	c.nextFD++
	c.files[c.nextFD] = af
	return int64(c.nextFD)
}

// relGrants returns the granted directories as a configuration names
// them: inside puma.toml's directory relative to it, elsewhere absolute.
func (c *caps) relGrants() []string {
	out := make([]string, len(c.grants.Files))
	for i, g := range c.grants.Files {
		if r, err := filepath.Rel(c.h.configDir, g); err == nil && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			g = r
		}
		out[i] = g
	}
	return out
}

func errnoOf(err error) wire.Errno {
	var pe *os.PathError
	if errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "escapes") {
		return wire.ErrnoDenied
	}
	if errors.Is(err, os.ErrPermission) {
		return wire.ErrnoDenied
	}
	return wire.ErrnoIO
}

func (f *appendFile) open(trim bool) error {
	if d := path.Dir(f.rel); d != "." {
		if err := f.root.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	fh, err := f.root.OpenFile(f.rel, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if st, err := fh.Stat(); err != nil || !st.Mode().IsRegular() {
		fh.Close()
		if err == nil {
			err = errors.New("not a regular file")
		}
		return err
	}
	if trim {
		if err := trimToNewline(fh); err != nil {
			fh.Close()
			return err
		}
	}
	f.f = fh
	return nil
}

// trimToNewline cuts f after its last newline.
func trimToNewline(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	end := size
	for end > 0 {
		n := min(int64(chunk), end)
		if _, err := f.ReadAt(buf[:n], end-n); err != nil && err != io.EOF {
			return err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			end = end - n + int64(i) + 1
			break
		}
		end -= n
	}
	if end != size {
		return f.Truncate(end)
	}
	return nil
}

func (c *caps) file(fd uint64) (*appendFile, int64) {
	f := c.files[int32(fd)]
	if f == nil || f.f == nil {
		return nil, c.fail(wire.ErrnoBadHandle, "bad file handle %d", int32(fd))
	}
	return f, 0
}

func ret32(stack []uint64, v int64) { stack[0] = uint64(uint32(int32(v))) }

func (c *caps) fileWrite(_ context.Context, m api.Module, stack []uint64) {
	b, ok := m.Memory().Read(uint32(stack[1]), uint32(stack[2]))
	if !ok {
		if f, rc := c.file(stack[0]); f == nil {
			ret32(stack, rc)
			return
		}
		ret32(stack, c.fail(wire.ErrnoInvalid, "buffer out of bounds"))
		return
	}
	ret32(stack, c.writeFile(int32(stack[0]), b))
}

func (c *caps) writeFile(fd int32, b []byte) int64 {
	f, rc := c.file(uint64(uint32(fd)))
	if f == nil {
		return rc
	}
	if _, err := c.floorNow(f); err != nil {
		return c.fail(wire.ErrnoIO, "write %s: %v", f.show, err)
	}
	if _, err := f.f.Write(b); err != nil {
		return c.fail(wire.ErrnoIO, "write %s: %v", f.show, err)
	}
	c.writes++
	return 0
}

func (c *caps) fileSync(_ context.Context, _ api.Module, stack []uint64) {
	ret32(stack, c.syncFile(int32(stack[0])))
}

func (c *caps) syncFile(fd int32) int64 {
	f, rc := c.file(uint64(uint32(fd)))
	if f == nil {
		return rc
	}
	if err := f.f.Sync(); err != nil {
		return c.fail(wire.ErrnoIO, "sync %s: %v", f.show, err)
	}
	c.syncs++
	return 0
}

func (c *caps) fileSize(_ context.Context, _ api.Module, stack []uint64) {
	stack[0] = uint64(c.sizeFile(int32(stack[0])))
}

func (c *caps) sizeFile(fd int32) int64 {
	f, rc := c.file(uint64(uint32(fd)))
	if f == nil {
		return rc
	}
	st, err := f.f.Stat()
	if err != nil {
		return c.fail(wire.ErrnoIO, "stat %s: %v", f.show, err)
	}
	return st.Size()
}

func (c *caps) fileTruncate(_ context.Context, _ api.Module, stack []uint64) {
	ret32(stack, c.truncateFile(int32(stack[0]), int64(stack[1])))
}

func (c *caps) truncateFile(fd int32, size int64) int64 {
	f, rc := c.file(uint64(uint32(fd)))
	if f == nil {
		return rc
	}
	if size < 0 {
		return c.fail(wire.ErrnoInvalid, "truncate %s: negative size", f.show)
	}
	floor, err := c.floorNow(f)
	var st os.FileInfo
	if err == nil {
		st, err = f.f.Stat()
	}
	if err != nil {
		return c.fail(wire.ErrnoIO, "truncate %s: %v", f.show, err)
	}
	switch {
	case size > st.Size():
		return c.fail(wire.ErrnoInvalid, "truncate %s to %d bytes: the file has %d; truncation only cuts", f.show, size, st.Size())
	case size < floor:
		return c.fail(wire.ErrnoDenied, "truncate %s to %d bytes: it held %d before this call; files are append-only, and truncation may only undo what the same call appended", f.show, size, floor)
	}
	if err := f.f.Truncate(size); err != nil {
		return c.fail(wire.ErrnoIO, "truncate %s: %v", f.show, err)
	}
	return 0
}

func (c *caps) fileRotate(_ context.Context, _ api.Module, stack []uint64) {
	ret32(stack, c.rotateFile(int32(stack[0])))
}

func (c *caps) rotateFile(fd int32) int64 {
	f, rc := c.file(uint64(uint32(fd)))
	if f == nil {
		return rc
	}
	if err := f.rotate(); err != nil {
		return c.fail(errnoOf(err), "rotate %s: %v", f.show, err)
	}
	f.floor, f.floorCall = 0, c.call // a new, empty file
	return 0
}

// rotate renames the file aside, syncs the directory and starts a new one.
func (f *appendFile) rotate() error {
	if err := f.f.Close(); err != nil {
		return err
	}
	f.f = nil
	if err := f.root.Rename(f.rel, f.rel+"."+strconv.FormatInt(time.Now().UnixNano(), 10)); err != nil {
		return err
	}
	if d, err := f.root.Open(path.Dir(f.rel)); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return err
		}
	} else {
		return err
	}
	return f.open(false)
}

func (c *caps) fileClose(_ context.Context, _ api.Module, stack []uint64) {
	ret32(stack, c.closeFile(int32(stack[0])))
}

func (c *caps) closeFile(fd int32) int64 {
	f, rc := c.file(uint64(uint32(fd)))
	if f == nil {
		return rc
	}
	delete(c.files, fd)
	if err := f.close(); err != nil {
		return c.fail(wire.ErrnoIO, "close %s: %v", f.show, err)
	}
	return 0
}

// logWriter turns a guest's WASI stdout or stderr into log lines, keeping
// the last few for error messages (a Go guest's runtime prints its fatal
// errors there before exiting).
type logWriter struct {
	mu    sync.Mutex
	log   *slog.Logger
	level slog.Level
	buf   []byte
	tail  []string
	// crash is what a Go runtime printed on its way down since the tail
	// was last taken: its first "panic: " or "fatal error: " line and the
	// stack of the goroutine that failed, at most crashLines lines. The
	// tail alone would keep only the outermost frames.
	crash     []string
	crashDone bool
}

const (
	tailLines  = 8
	crashLines = 64
)

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.line(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 4096 {
		w.line(string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

func (w *logWriter) line(s string) {
	if s == "" {
		return
	}
	w.log.Log(context.Background(), w.level, s)
	switch {
	case len(w.crash) == 0:
		if strings.HasPrefix(s, "panic: ") || strings.HasPrefix(s, "fatal error: ") {
			w.crash = append(w.crash, s)
		}
	case w.crashDone:
	case len(w.crash) == crashLines || strings.HasPrefix(s, "goroutine ") && slices.ContainsFunc(w.crash, isGoroutine):
		w.crashDone = true // the failing goroutine's stack ended
	default:
		w.crash = append(w.crash, s)
	}
	if len(w.tail) == tailLines {
		copy(w.tail, w.tail[1:])
		w.tail = w.tail[:tailLines-1]
	}
	w.tail = append(w.tail, s)
}

// takeTail returns and forgets the lines kept, flushing a partial line.
func (w *logWriter) takeTail() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.line(string(w.buf))
		w.buf = w.buf[:0]
	}
	t := w.tail
	w.tail = nil
	return t
}

// takeCrash returns and forgets what a Go runtime printed on its way
// down (see crash), or nil.
func (w *logWriter) takeCrash() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.crash
	w.crash, w.crashDone = nil, false
	return c
}

func isGoroutine(s string) bool { return strings.HasPrefix(s, "goroutine ") }

// goCrash summarises a Go runtime's report (logWriter.crash): what it
// was ("panic", "fatal error"), its message, and the file:line where it
// happened: the first frame after the last panic call that is not the
// runtime's (a panic the SDK recovered and raised again shows the
// SDK's frames first).
func goCrash(lines []string) (what, msg, at string) {
	if len(lines) == 0 {
		return "", "", ""
	}
	what, msg, _ = strings.Cut(lines[0], ": ")
	msg = strings.TrimSuffix(strings.TrimSuffix(msg, " [recovered, repanicked]"), " [recovered]")
	// Frames follow the goroutine's header: a function line, then a
	// tab-indented "file:line +0x…".
	from := slices.IndexFunc(lines, isGoroutine)
	if from < 0 {
		return what, msg, ""
	}
	for i := from; i < len(lines); i++ {
		if strings.HasPrefix(lines[i], "panic(") {
			from = i
		}
	}
	for i := from; i+1 < len(lines); i++ {
		fn, file := lines[i], lines[i+1]
		if !strings.HasPrefix(file, "\t") || strings.HasPrefix(fn, "\t") {
			continue
		}
		if strings.HasPrefix(fn, "runtime.") || strings.HasPrefix(fn, "internal/") || strings.HasPrefix(fn, "panic(") {
			continue
		}
		at, _, _ = strings.Cut(strings.TrimPrefix(file, "\t"), " ")
		break
	}
	return what, msg, at
}
