package instrument

import (
	"bytes"
	"fmt"
	"strings"
)

// Section ids of the binary format.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13
)

var sectionNames = [...]string{"custom", "type", "import", "function", "table", "memory", "global", "export", "start", "element", "code", "data", "data count", "tag"}

// sectionRank is the position a known section must take in the module
// (the tag section sits between memory and global).
func sectionRank(id byte) int {
	switch id {
	case secTag:
		return 6
	case secGlobal, secExport, secStart, secElement:
		return int(id) + 1
	case secDataCount:
		return 11
	case secCode, secData:
		return int(id) + 2
	}
	return int(id)
}

// Value types.
const (
	valI32       = 0x7f
	valI64       = 0x7e
	valF32       = 0x7d
	valF64       = 0x7c
	valV128      = 0x7b
	valFuncref   = 0x70
	valExternref = 0x6f
)

func (r *reader) valType() (byte, error) {
	start := r.pos
	c, err := r.byte()
	if err != nil {
		return 0, err
	}
	switch c {
	case valI32, valI64, valF32, valF64, valV128, valFuncref, valExternref:
		return c, nil
	case 0x63, 0x64:
		return 0, r.errAt(start, ErrUnsupported, "typed reference value type %#x (function references)", c)
	}
	return 0, r.errAt(start, ErrUnsupported, "value type %#x", c)
}

func (r *reader) refType() error {
	start := r.pos
	c, err := r.valType()
	if err != nil {
		return err
	}
	if c != valFuncref && c != valExternref {
		return r.errAt(start, ErrMalformed, "value type %#x is not a reference type", c)
	}
	return nil
}

// limits reads table or memory limits; memory allows the threads
// proposal's shared flag.
func (r *reader) limits(memory bool) error {
	start := r.pos
	flags, err := r.byte()
	if err != nil {
		return err
	}
	allowed := byte(0x01)
	if memory {
		allowed = 0x03
	}
	if flags&^allowed != 0 {
		if flags&0x04 != 0 {
			return r.errAt(start, ErrUnsupported, "64-bit limits (memory64/table64), flags %#x", flags)
		}
		return r.errAt(start, ErrMalformed, "limits flags %#x", flags)
	}
	if _, err := r.u32(); err != nil {
		return err
	}
	if flags&0x01 != 0 {
		if _, err := r.u32(); err != nil {
			return err
		}
	}
	return nil
}

func (r *reader) tableType() error {
	start := r.pos
	if len(r.b) > r.pos && r.b[r.pos] == 0x40 {
		return r.errAt(start, ErrUnsupported, "table with an initialiser expression (function references)")
	}
	if err := r.refType(); err != nil {
		return err
	}
	return r.limits(false)
}

func (r *reader) globalType() error {
	if _, err := r.valType(); err != nil {
		return err
	}
	start := r.pos
	mut, err := r.byte()
	if err != nil {
		return err
	}
	if mut > 1 {
		return r.errAt(start, ErrMalformed, "global mutability %#x", mut)
	}
	return nil
}

type section struct {
	id      byte
	name    string // custom sections
	off     int    // offset of payload in the input
	payload []byte
	out     []byte // new payload; nil keeps payload
	drop    bool
}

type module struct {
	in       []byte
	sections []*section
	byID     [14]*section

	numTypes         uint32
	emptyType        int64 // index of the first [] -> [] type, -1 if none
	numFuncImports   uint32
	numGlobalImports uint32
	numFuncs         uint32 // defined, from the function section
	numGlobals       uint32 // defined
	numCode          uint32

	// Filled by rewrite.
	interval  uint32
	spFunc    uint32 // index of the safepoint import
	intGlobal uint32
	cntGlobal uint32
	check     []byte // the instrumentation sequence
}

var magic = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// parse splits the input into sections and decodes the ones whose counts
// the rewrite needs.
func parse(in []byte) (*module, error) {
	m := &module{in: in, emptyType: -1}
	if len(in) < 8 || !bytes.Equal(in[:4], magic[:4]) {
		return nil, &Error{Func: -1, Err: ErrMalformed, Detail: "not a WebAssembly binary (no \\0asm magic)"}
	}
	if !bytes.Equal(in[4:8], magic[4:]) {
		return nil, &Error{Offset: 4, Func: -1, Err: ErrUnsupported, Detail: fmt.Sprintf("binary format version and layer % x, not a core module of version 1 (a component?)", in[4:8])}
	}
	r := newReader(in, 0, "")
	r.pos = 8
	lastRank := 0
	for !r.done() {
		hdr := r.pos
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		if id > secTag {
			return nil, r.errAt(hdr, ErrUnsupported, "section id %d", id)
		}
		size, err := r.u32()
		if err != nil {
			return nil, err
		}
		body, err := r.sub(int(size), sectionNames[id])
		if err != nil {
			return nil, err
		}
		s := &section{id: id, off: body.base, payload: body.b}
		if id == secCustom {
			name, err := body.name()
			if err != nil {
				return nil, err
			}
			s.name = string(name)
		} else {
			rank := sectionRank(id)
			if rank <= lastRank {
				return nil, r.errAt(hdr, ErrMalformed, "%s section out of order or repeated", sectionNames[id])
			}
			lastRank = rank
			m.byID[id] = s
		}
		m.sections = append(m.sections, s)
	}
	if err := m.parseTypes(); err != nil {
		return nil, err
	}
	if err := m.parseImports(); err != nil {
		return nil, err
	}
	if s := m.byID[secFunction]; s != nil {
		r := m.reader(s)
		n, err := r.count(1)
		if err != nil {
			return nil, err
		}
		for i := 0; i < n; i++ {
			if err := m.typeIndex(r); err != nil {
				return nil, err
			}
		}
		if err := m.end(r); err != nil {
			return nil, err
		}
		m.numFuncs = uint32(n)
	}
	if s := m.byID[secMemory]; s != nil {
		r := m.reader(s)
		n, err := r.count(2)
		if err != nil {
			return nil, err
		}
		for i := 0; i < n; i++ {
			if err := r.limits(true); err != nil {
				return nil, err
			}
		}
		if err := m.end(r); err != nil {
			return nil, err
		}
	}
	if s := m.byID[secTable]; s != nil {
		r := m.reader(s)
		n, err := r.count(3)
		if err != nil {
			return nil, err
		}
		for i := 0; i < n; i++ {
			if err := r.tableType(); err != nil {
				return nil, err
			}
		}
		if err := m.end(r); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *module) reader(s *section) *reader {
	name := sectionNames[s.id]
	if s.id == secCustom {
		name = "custom " + `"` + s.name + `"`
	}
	return newReader(s.payload, s.off, name)
}

// end checks that r consumed its section exactly.
func (m *module) end(r *reader) error {
	if !r.done() {
		return r.errf(ErrMalformed, "%d bytes left over at the end of the section", len(r.b)-r.pos)
	}
	return nil
}

func (m *module) parseTypes() error {
	s := m.byID[secType]
	if s == nil {
		return nil
	}
	r := m.reader(s)
	n, err := r.count(3)
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		start := r.pos
		form, err := r.byte()
		if err != nil {
			return err
		}
		if form != 0x60 {
			return r.errAt(start, ErrUnsupported, "type form %#x (only function types, 0x60)", form)
		}
		var np, nr int
		for j := 0; j < 2; j++ {
			k, err := r.count(1)
			if err != nil {
				return err
			}
			for v := 0; v < k; v++ {
				if _, err := r.valType(); err != nil {
					return err
				}
			}
			if j == 0 {
				np = k
			} else {
				nr = k
			}
		}
		if np == 0 && nr == 0 && m.emptyType < 0 {
			m.emptyType = int64(i)
		}
	}
	m.numTypes = uint32(n)
	return m.end(r)
}

func (m *module) parseImports() error {
	s := m.byID[secImport]
	if s == nil {
		return nil
	}
	r := m.reader(s)
	n, err := r.count(4)
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		if _, err := r.name(); err != nil {
			return err
		}
		if _, err := r.name(); err != nil {
			return err
		}
		start := r.pos
		kind, err := r.byte()
		if err != nil {
			return err
		}
		switch kind {
		case 0x00:
			if err := m.typeIndex(r); err != nil {
				return err
			}
			m.numFuncImports++
		case 0x01:
			err = r.tableType()
		case 0x02:
			err = r.limits(true)
		case 0x03:
			err = r.globalType()
			m.numGlobalImports++
		case 0x04:
			// A tag (exception handling): no index the rewrite moves.
			if _, err = r.byte(); err == nil {
				_, err = r.u32()
			}
		default:
			return r.errAt(start, ErrMalformed, "import kind %#x", kind)
		}
		if err != nil {
			return err
		}
	}
	return m.end(r)
}

// typeIndex reads a function's type index. Checked here because wazero
// v1.12.0 panics compiling a module whose called function has a type
// index out of range (found by FuzzInstrument).
func (m *module) typeIndex(r *reader) error {
	start := r.pos
	t, err := r.u32()
	if err != nil {
		return err
	}
	if t >= m.numTypes {
		return r.errAt(start, ErrMalformed, "type index %d out of range (%d types)", t, m.numTypes)
	}
	return nil
}

// totalFuncs is the size of the input's function index space.
func (m *module) totalFuncs() uint64 { return uint64(m.numFuncImports) + uint64(m.numFuncs) }

// funcIndex reads a function index and returns it in the output's
// numbering. An index outside the function index space is refused: moved,
// it could land inside the space and turn an invalid module valid.
func (m *module) funcIndex(r *reader) (uint32, error) {
	start := r.pos
	f, err := r.u32()
	if err != nil {
		return 0, err
	}
	if uint64(f) >= m.totalFuncs() {
		return 0, r.errAt(start, ErrMalformed, "function index %d out of range (%d functions)", f, m.totalFuncs())
	}
	if f >= m.numFuncImports {
		f++
	}
	return f, nil
}

// rewrite builds the instrumented module.
func (m *module) rewrite(interval uint32) ([]byte, error) {
	m.interval = interval
	// Index of everything added.
	m.spFunc = m.numFuncImports
	typeIdx := uint32(m.emptyType)
	if m.emptyType < 0 {
		typeIdx = m.numTypes
	}
	if s := m.byID[secGlobal]; s != nil {
		r := m.reader(s)
		n, err := r.count(3)
		if err != nil {
			return nil, err
		}
		m.numGlobals = uint32(n)
	}
	m.intGlobal = m.numGlobalImports + m.numGlobals
	m.cntGlobal = m.intGlobal + 1
	m.check = checkSequence(m.intGlobal, m.cntGlobal, m.spFunc, interval)

	// Type: reuse [] -> [] or append it.
	if m.emptyType < 0 {
		s := m.ensure(secType)
		out, err := m.appendToVector(s, m.numTypes, []byte{0x60, 0x00, 0x00})
		if err != nil {
			return nil, err
		}
		s.out = out
	}
	// Import: the safepoint, after every existing import.
	{
		s := m.ensure(secImport)
		entry := appendName(nil, []byte(ImportModule))
		entry = appendName(entry, []byte(ImportSafepoint))
		entry = append(entry, 0x00)
		entry = appendU32(entry, typeIdx)
		var n uint32
		if len(s.payload) > 0 {
			c, err := m.reader(s).u32()
			if err != nil {
				return nil, err
			}
			n = c
		}
		out, err := m.appendToVector(s, n, entry)
		if err != nil {
			return nil, err
		}
		s.out = out
	}
	steps := []func() error{m.rewriteGlobals, m.rewriteExports, m.rewriteStart, m.rewriteElements, m.rewriteCode}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	m.coalesceData()
	if m.numCode != m.numFuncs {
		return nil, &Error{Offset: len(m.in), Section: "code", Func: -1, Err: ErrMalformed, Detail: "function and code sections disagree on the number of functions"}
	}
	for _, s := range m.sections {
		if s.id != secCustom {
			continue
		}
		switch {
		case strings.HasPrefix(s.name, ".debug_"), s.name == "external_debug_info", s.name == "sourceMappingURL":
			s.drop = true
		case s.name == "name":
			out, err := m.rewriteNames(s)
			if err != nil {
				s.drop = true
			} else {
				s.out = out
			}
		}
	}

	out := make([]byte, 0, len(m.in)+len(m.in)/8+64)
	out = append(out, magic...)
	for _, s := range m.sections {
		if s.drop {
			continue
		}
		p := s.payload
		if s.out != nil {
			p = s.out
		}
		out = append(out, s.id)
		out = appendU32(out, uint32(len(p)))
		out = append(out, p...)
	}
	return out, nil
}

// ensure returns the section with id, adding an empty one in its place if
// the module has none.
func (m *module) ensure(id byte) *section {
	if s := m.byID[id]; s != nil {
		return s
	}
	s := &section{id: id, off: len(m.in), payload: nil, out: []byte{0}}
	rank := sectionRank(id)
	at := len(m.sections)
	for i, t := range m.sections {
		if t.id != secCustom && sectionRank(t.id) > rank {
			at = i
			break
		}
	}
	// Keep custom sections that follow the preceding known section with
	// it: insert right after it when there is one.
	for i := at - 1; i >= 0; i-- {
		if m.sections[i].id != secCustom {
			at = i + 1
			break
		}
	}
	m.sections = append(m.sections, nil)
	copy(m.sections[at+1:], m.sections[at:])
	m.sections[at] = s
	m.byID[id] = s
	return s
}

// appendToVector returns s's payload (a vector of n elements) with entry
// appended.
func (m *module) appendToVector(s *section, n uint32, entry []byte) ([]byte, error) {
	var rest []byte
	if len(s.payload) > 0 {
		r := m.reader(s)
		if _, err := r.u32(); err != nil {
			return nil, err
		}
		rest = r.b[r.pos:]
	}
	if n == 1<<32-1 {
		return nil, &Error{Offset: s.off, Section: sectionNames[s.id], Func: -1, Err: ErrMalformed, Detail: "vector too long to extend"}
	}
	out := appendU32(nil, n+1)
	out = append(out, rest...)
	return append(out, entry...), nil
}

func (m *module) rewriteGlobals() error {
	s := m.ensure(secGlobal)
	out := appendU32(nil, m.numGlobals+2)
	if len(s.payload) > 0 {
		r := m.reader(s)
		if _, err := r.u32(); err != nil {
			return err
		}
		for i := uint32(0); i < m.numGlobals; i++ {
			start := r.pos
			if err := r.globalType(); err != nil {
				return err
			}
			out = append(out, r.b[start:r.pos]...)
			var err error
			if out, err = m.constExpr(r, out); err != nil {
				return err
			}
		}
		if err := m.end(r); err != nil {
			return err
		}
	}
	out = append(out, valI32, 0x01, 0x41, 0x00, 0x0b) // the flag: mut i32 = 0
	out = append(out, valI32, 0x01, 0x41)             // the countdown: mut i32 = interval
	out = appendS32(out, int32(m.interval))
	out = append(out, 0x0b)
	s.out = out
	return nil
}

func (m *module) rewriteExports() error {
	s := m.ensure(secExport)
	var n int
	out := []byte(nil)
	if len(s.payload) > 0 {
		r := m.reader(s)
		var err error
		if n, err = r.count(3); err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			start := r.pos
			name, err := r.name()
			if err != nil {
				return err
			}
			if string(name) == ExportInterrupt || string(name) == ExportCountdown {
				return r.errAt(start, ErrReserved, "the module already exports %q (instrumented twice?)", name)
			}
			kpos := r.pos
			kind, err := r.byte()
			if err != nil {
				return err
			}
			out = append(out, r.b[start:r.pos]...)
			switch kind {
			case 0x00:
				f, err := m.funcIndex(r)
				if err != nil {
					return err
				}
				out = appendU32(out, f)
			case 0x01, 0x02, 0x03, 0x04:
				p := r.pos
				if _, err := r.u32(); err != nil {
					return err
				}
				out = append(out, r.b[p:r.pos]...)
			default:
				return r.errAt(kpos, ErrMalformed, "export kind %#x", kind)
			}
		}
		if err := m.end(r); err != nil {
			return err
		}
	}
	head := appendU32(nil, uint32(n)+2)
	out = append(head, out...)
	out = appendName(out, []byte(ExportInterrupt))
	out = append(out, 0x03)
	out = appendU32(out, m.intGlobal)
	out = appendName(out, []byte(ExportCountdown))
	out = append(out, 0x03)
	out = appendU32(out, m.cntGlobal)
	s.out = out
	return nil
}

func (m *module) rewriteStart() error {
	s := m.byID[secStart]
	if s == nil {
		return nil
	}
	r := m.reader(s)
	f, err := m.funcIndex(r)
	if err != nil {
		return err
	}
	if err := m.end(r); err != nil {
		return err
	}
	s.out = appendU32(nil, f)
	return nil
}

func (m *module) rewriteElements() error {
	s := m.byID[secElement]
	if s == nil {
		return nil
	}
	r := m.reader(s)
	p := r.pos
	n, err := r.count(2)
	if err != nil {
		return err
	}
	out := append([]byte(nil), r.b[p:r.pos]...)
	for i := 0; i < n; i++ {
		fpos := r.pos
		flags, err := r.u32()
		if err != nil {
			return err
		}
		if flags > 7 {
			return r.errAt(fpos, ErrMalformed, "element segment flags %d", flags)
		}
		out = append(out, r.b[fpos:r.pos]...)
		// Table index (flags 2 and 6), offset expression (active).
		if flags&0x02 != 0 && flags&0x01 == 0 {
			p := r.pos
			if _, err := r.u32(); err != nil {
				return err
			}
			out = append(out, r.b[p:r.pos]...)
		}
		if flags&0x01 == 0 {
			if out, err = m.constExpr(r, out); err != nil {
				return err
			}
		}
		// Element kind (0x00 funcref) or reference type.
		if flags&0x03 != 0 {
			p := r.pos
			if flags&0x04 == 0 {
				kpos := r.pos
				k, err := r.byte()
				if err != nil {
					return err
				}
				if k != 0x00 {
					return r.errAt(kpos, ErrMalformed, "element kind %#x", k)
				}
			} else if err := r.refType(); err != nil {
				return err
			}
			out = append(out, r.b[p:r.pos]...)
		}
		p := r.pos
		k, err := r.count(1)
		if err != nil {
			return err
		}
		out = append(out, r.b[p:r.pos]...)
		for j := 0; j < k; j++ {
			if flags&0x04 == 0 {
				f, err := m.funcIndex(r)
				if err != nil {
					return err
				}
				out = appendU32(out, f)
			} else if out, err = m.constExpr(r, out); err != nil {
				return err
			}
		}
	}
	if err := m.end(r); err != nil {
		return err
	}
	s.out = out
	return nil
}

// constExpr copies a constant expression up to and including its end,
// moving ref.func indices.
func (m *module) constExpr(r *reader, out []byte) ([]byte, error) {
	for {
		start := r.pos
		op, err := r.byte()
		if err != nil {
			return nil, err
		}
		switch op {
		case 0x0b: // end
			return append(out, op), nil
		case 0x41:
			_, err = r.signed(32)
		case 0x42:
			_, err = r.signed(64)
		case 0x43:
			_, err = r.bytes(4)
		case 0x44:
			_, err = r.bytes(8)
		case 0x23: // global.get
			_, err = r.u32()
		case 0xd0: // ref.null
			err = r.heapType()
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended const: add, sub, mul
		case 0xd2: // ref.func
			f, err := m.funcIndex(r)
			if err != nil {
				return nil, err
			}
			out = append(out, op)
			out = appendU32(out, f)
			continue
		case 0xfd:
			var sub uint32
			if sub, err = r.u32(); err == nil {
				if sub != 12 {
					return nil, r.errAt(start, ErrUnsupported, "opcode 0xfd %d in a constant expression", sub)
				}
				_, err = r.bytes(16)
			}
		default:
			return nil, r.errAt(start, ErrUnsupported, "opcode %#x (%s) in a constant expression", op, opName(op))
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r.b[start:r.pos]...)
	}
}

func (r *reader) heapType() error {
	start := r.pos
	c, err := r.byte()
	if err != nil {
		return err
	}
	if c != valFuncref && c != valExternref {
		return r.errAt(start, ErrUnsupported, "heap type %#x (function references or GC)", c)
	}
	return nil
}

func (m *module) rewriteCode() error {
	s := m.byID[secCode]
	if s == nil {
		return nil
	}
	r := m.reader(s)
	n, err := r.count(2)
	if err != nil {
		return err
	}
	m.numCode = uint32(n)
	if m.numCode != m.numFuncs {
		return r.errAt(0, ErrMalformed, "%d bodies for %d functions", n, m.numFuncs)
	}
	out := make([]byte, 0, len(s.payload)+len(s.payload)/4+64)
	out = appendU32(out, uint32(n))
	w := &bodyWriter{m: m}
	for i := 0; i < n; i++ {
		size, err := r.u32()
		if err != nil {
			return err
		}
		br, err := r.sub(int(size), "code")
		if err != nil {
			return err
		}
		br.fn = int(m.numFuncImports) + i
		body, err := w.rewrite(br)
		if err != nil {
			return err
		}
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	if err := m.end(r); err != nil {
		return err
	}
	s.out = out
	return nil
}

// rewriteNames moves the function indices of the name section's function,
// local and label maps; other subsections are copied.
func (m *module) rewriteNames(s *section) ([]byte, error) {
	r := m.reader(s)
	if _, err := r.name(); err != nil {
		return nil, err
	}
	out := appendName(nil, []byte("name"))
	for !r.done() {
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.u32()
		if err != nil {
			return nil, err
		}
		sub, err := r.sub(int(size), r.section)
		if err != nil {
			return nil, err
		}
		payload := sub.b
		if id == 1 || id == 2 || id == 3 {
			if payload, err = m.nameMap(sub, id != 1); err != nil {
				return nil, err
			}
		}
		out = append(out, id)
		out = appendU32(out, uint32(len(payload)))
		out = append(out, payload...)
	}
	// Payload of a custom section starts with its name; the caller writes
	// the section header.
	return out, nil
}

// nameMap rewrites a name map (function index -> name) or an indirect
// name map (function index -> name map), keyed by function index.
func (m *module) nameMap(r *reader, indirect bool) ([]byte, error) {
	p := r.pos
	n, err := r.count(2)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), r.b[p:r.pos]...)
	for i := 0; i < n; i++ {
		f, err := m.funcIndex(r)
		if err != nil {
			return nil, err
		}
		out = appendU32(out, f)
		p := r.pos
		if indirect {
			k, err := r.count(2)
			if err != nil {
				return nil, err
			}
			for j := 0; j < k; j++ {
				if _, err := r.u32(); err != nil {
					return nil, err
				}
				if _, err := r.name(); err != nil {
					return nil, err
				}
			}
		} else if _, err := r.name(); err != nil {
			return nil, err
		}
		out = append(out, r.b[p:r.pos]...)
	}
	if !r.done() {
		return nil, r.errf(ErrMalformed, "trailing bytes in name subsection")
	}
	return out, nil
}
