// rowcount.c is examples/rowcount written in C against hostabi/ABI.md
// alone, without the Go SDK: it counts each table's row changes in the kv
// capability and adds the running count to every row change as a
// row_count column (in the after image; in the before image of a delete).
// It shares the Go plugin's state format: one key per table,
// "rows/<db>.<table>", holding a little-endian uint64.
//
//   clang --target=wasm32-wasi -mexec-model=reactor -O2 -o rowcount.wasm rowcount.c
//
// (Debian: apt-get install clang lld wasi-libc libclang-rt-dev-wasm32.)

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT(name) __attribute__((export_name(name)))
#define IMPORT(name) __attribute__((import_module("puma"), import_name(name)))

// Host functions (ABI.md section 6).
IMPORT("kv_get") int64_t kv_get(const void *key, uint32_t key_len, void *out, uint32_t out_cap);
IMPORT("kv_put") int32_t kv_put(const void *key, uint32_t key_len, const void *val, uint32_t val_len);
IMPORT("last_error") int32_t last_error(void *buf, uint32_t cap);

enum { MSG_INIT = 1, MSG_BATCH = 2, MSG_REPLY = 3 };
enum { REC_TABLE = 1, REC_CHANGE = 2, REC_VERDICT = 3 };
enum { BATCH_COMMIT = 2, BATCH_TX = 4 };
enum { CHANGE_BEFORE = 1, CHANGE_AFTER = 2, CHANGE_ROUTE = 4 };
enum { VERDICT_REPLACE = 2 };
enum { STATUS_FATAL = 2 };
enum { KIND_UINT = 2, COL_NULLABLE = 2 };
enum { ERRNO_NOT_FOUND = -5 };
#define OUTPUT_TABLE 0x80000000u

// ---- reading: a cursor that fails once and stays failed ----

typedef struct {
	const uint8_t *p;
	uint32_t len, off;
	int bad;
} rd;

static int need(rd *r, uint32_t n) {
	if (r->bad || r->len - r->off < n) {
		r->bad = 1;
		return 0;
	}
	return 1;
}
static uint8_t u8(rd *r) { return need(r, 1) ? r->p[r->off++] : 0; }
static uint16_t u16(rd *r) {
	if (!need(r, 2)) return 0;
	uint16_t v = (uint16_t)(r->p[r->off] | r->p[r->off + 1] << 8);
	r->off += 2;
	return v;
}
static uint32_t u32(rd *r) {
	if (!need(r, 4)) return 0;
	uint32_t v;
	memcpy(&v, r->p + r->off, 4); // wasm is little-endian
	r->off += 4;
	return v;
}
static void skip(rd *r, uint32_t n) {
	if (need(r, n)) r->off += n;
}
// str: u32 n, n bytes. Returns a pointer to the bytes.
static const uint8_t *str(rd *r, uint32_t *n) {
	*n = u32(r);
	if (!need(r, *n)) return 0;
	const uint8_t *s = r->p + r->off;
	r->off += *n;
	return s;
}

// ---- writing: a growable buffer ----

typedef struct {
	uint8_t *p;
	uint32_t len, cap;
} buf;

static void grow(buf *b, uint32_t n) {
	if (b->cap - b->len >= n) return;
	uint32_t c = b->cap ? b->cap : 4096;
	while (c - b->len < n) c *= 2;
	b->p = realloc(b->p, c);
	if (!b->p) __builtin_trap();
	b->cap = c;
}
static void put(buf *b, const void *p, uint32_t n) {
	grow(b, n);
	memcpy(b->p + b->len, p, n);
	b->len += n;
}
static void put8(buf *b, uint8_t v) { put(b, &v, 1); }
static void put16(buf *b, uint16_t v) { put(b, &v, 2); }
static void put32(buf *b, uint32_t v) { put(b, &v, 4); }
static void put64(buf *b, uint64_t v) { put(b, &v, 8); }
static void putstr(buf *b, const void *p, uint32_t n) {
	put32(b, n);
	put(b, p, n);
}
static void patch32(buf *b, uint32_t at, uint32_t v) { memcpy(b->p + at, &v, 4); }

// ---- tables this instance was told about ----

typedef struct {
	uint32_t id, out_id;
	int announced;
	uint8_t *body; // the table record, kept to declare the output table
	uint32_t body_len;
	char *key;     // "rows/db.table"
	uint32_t key_len;
	uint16_t ncols;
} table;

static table *tables;
static uint32_t ntables, next_out;

static table *find(uint32_t id) {
	for (uint32_t i = 0; i < ntables; i++)
		if (tables[i].id == id) return &tables[i];
	return 0;
}

// add remembers a table record (ABI.md 3.3); a repeated id replaces it.
static int add(const uint8_t *body, uint32_t len) {
	rd r = {body, len, 0, 0};
	uint32_t id = u32(&r), dbn, namen;
	skip(&r, 8); // version
	const uint8_t *db = str(&r, &dbn), *name = str(&r, &namen);
	skip(&r, 2); // key kind, reserved
	uint16_t ncols = u16(&r);
	if (r.bad) return 0;
	table *t = find(id);
	if (!t) {
		tables = realloc(tables, (ntables + 1) * sizeof *tables);
		t = &tables[ntables++];
		memset(t, 0, sizeof *t);
		t->id = id;
	} else {
		free(t->body);
		free(t->key);
	}
	t->out_id = OUTPUT_TABLE | ++next_out;
	t->announced = 0;
	t->body = malloc(len);
	memcpy(t->body, body, len);
	t->body_len = len;
	t->ncols = ncols;
	t->key_len = 5 + dbn + 1 + namen;
	t->key = malloc(t->key_len);
	memcpy(t->key, "rows/", 5);
	memcpy(t->key + 5, db, dbn);
	t->key[5 + dbn] = '.';
	memcpy(t->key + 6 + dbn, name, namen);
	return 1;
}

static buf out; // the reply, valid until the next call
static uint32_t nrec;

static void record_start(uint8_t tag, uint32_t *len_at) {
	put8(&out, tag);
	put8(&out, 0);
	put16(&out, 0);
	*len_at = out.len;
	put32(&out, 0);
	nrec++;
}
static void record_end(uint32_t len_at) { patch32(&out, len_at, out.len - len_at - 4); }

// declare writes t's output table: its columns and a nullable uint
// row_count after them, as the Go SDK's Schema.Add does.
static int declare(table *t) {
	rd r = {t->body, t->body_len, 0, 0};
	uint32_t n, len_at;
	skip(&r, 4 + 8);
	str(&r, &n);
	str(&r, &n);
	skip(&r, 2);
	uint16_t ncols = u16(&r);
	uint32_t cols_at = r.off;
	for (uint32_t i = 0; i < ncols; i++) {
		str(&r, &n);            // name
		skip(&r, 6);            // kind, sql type, meta, flags, reserved
		str(&r, &n);            // charset
		uint16_t nv = u16(&r);  // ENUM/SET members
		for (uint32_t j = 0; j < nv; j++) str(&r, &n);
	}
	if (r.bad) return 0;
	uint32_t cols_end = r.off;
	record_start(REC_TABLE, &len_at);
	put32(&out, t->out_id);
	put(&out, t->body + 4, cols_at - 2 - 4); // version, db, name, key kind, reserved
	put16(&out, (uint16_t)(ncols + 1));
	put(&out, t->body + cols_at, cols_end - cols_at);
	putstr(&out, "row_count", 9);
	put8(&out, KIND_UINT);
	put8(&out, 0);  // sql type
	put16(&out, 0); // meta
	put8(&out, COL_NULLABLE);
	put8(&out, 0);
	putstr(&out, "", 0); // charset
	put16(&out, 0);      // members
	put(&out, t->body + cols_end, t->body_len - cols_end); // key columns
	record_end(len_at);
	t->announced = 1;
	return 1;
}

// image copies a row image (ABI.md 3.4) with one more column: absent, or
// count. Value offsets count from the byte after the length, so each
// moves by the 4 bytes of the added slot; the new value goes last.
static int image(rd *r, uint16_t ncols, int set, uint64_t count) {
	uint32_t len = u32(r);
	if (!need(r, len) || len < 4) return 0;
	rd im = {r->p + r->off, len, 0, 0};
	r->off += len;
	uint16_t n = u16(&im);
	skip(&im, 2);
	if (n != ncols || !need(&im, 4u * n)) return 0;
	uint32_t values = 4 + 4u * n; // where the values start, in the input
	uint32_t extra = set ? 8 : 0;
	put32(&out, len + 4 + extra);
	put16(&out, (uint16_t)(n + 1));
	put16(&out, 0);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t slot = u32(&im);
		put32(&out, slot > 1 ? slot + 4 : slot); // 0 absent, 1 NULL, else an offset
	}
	put32(&out, set ? len + 4 : 0);
	put(&out, im.p + values, len - values);
	if (set) put64(&out, count);
	return 1;
}

static uint64_t fail(const char *msg) {
	out.len = 0;
	put8(&out, MSG_REPLY);
	put8(&out, STATUS_FATAL);
	put16(&out, 0);
	put32(&out, 0);
	put32(&out, 1);
	putstr(&out, msg, (uint32_t)strlen(msg));
	return (uint64_t)(uintptr_t)out.p << 32 | out.len;
}

// count adds one to the table's count in kv and returns it; 0 on error.
static uint64_t count(table *t) {
	uint64_t n = 0;
	int64_t got = kv_get(t->key, t->key_len, &n, 8);
	if (got == ERRNO_NOT_FOUND) {
		n = 0;
	} else if (got != 8) {
		return 0;
	}
	n++;
	if (kv_put(t->key, t->key_len, &n, 8) < 0) return 0;
	return n;
}

static char errmsg[300];

static uint64_t host_fail(const char *what) {
	size_t w = strlen(what), room = sizeof errmsg - w - 1;
	int32_t n = last_error(errmsg + w, (uint32_t)room);
	if (n < 0) n = 0;
	if ((size_t)n > room) n = (int32_t)room;
	memcpy(errmsg, what, w);
	errmsg[w + (size_t)n] = 0;
	return fail(errmsg);
}

// ---- exports (ABI.md section 2) ----

EXPORT("puma_abi_v1") void puma_abi_v1(void) {}

static uint8_t *arena;

EXPORT("puma_alloc") uint8_t *puma_alloc(uint32_t size) {
	free(arena);
	arena = malloc(size);
	return arena;
}

EXPORT("puma_init") uint64_t puma_init(uint8_t *p, uint32_t len) {
	rd r = {p, len, 0, 0};
	uint8_t type = u8(&r), role = u8(&r);
	skip(&r, 2);
	uint32_t version = u32(&r);
	if (r.bad || type != MSG_INIT) return fail("rowcount: malformed init message");
	if (version != 1) return fail("rowcount: this plugin speaks ABI v1");
	if (role != 1) return fail("rowcount: configured as a sender, but it is a handler");
	return 0;
}

EXPORT("puma_handle") uint64_t puma_handle(uint8_t *p, uint32_t len) {
	rd r = {p, len, 0, 0};
	uint32_t n;
	if (u8(&r) != MSG_BATCH) return fail("rowcount: not a batch");
	uint8_t flags = u8(&r);
	skip(&r, 2);
	uint32_t records = u32(&r);
	skip(&r, 4 + 4 + 8); // change count, reserved, seq
	if (flags & BATCH_TX) {
		str(&r, &n);
		str(&r, &n);
		skip(&r, 4);
		str(&r, &n);
		skip(&r, 4);
		if (flags & BATCH_COMMIT) {
			str(&r, &n);
			skip(&r, 4);
			str(&r, &n);
			skip(&r, 8);
		}
	}
	out.len = 0;
	nrec = 0;
	put8(&out, MSG_REPLY);
	put8(&out, 0); // ok
	put16(&out, 0);
	put32(&out, 0); // record count, patched below
	put32(&out, 0); // error code
	put32(&out, 0); // message ""
	uint32_t index = 0;
	for (uint32_t i = 0; i < records; i++) {
		uint8_t tag = u8(&r);
		skip(&r, 3);
		uint32_t blen = u32(&r);
		if (!need(&r, blen)) break;
		const uint8_t *body = r.p + r.off;
		r.off += blen;
		if (tag == REC_TABLE) {
			if (!add(body, blen)) return fail("rowcount: malformed table record");
			continue;
		}
		if (tag != REC_CHANGE) return fail("rowcount: unknown record tag");
		rd c = {body, blen, 0, 0};
		uint8_t op = u8(&c), cflags = u8(&c);
		skip(&c, 2);
		uint32_t id = u32(&c);
		if (id == 0) { // DDL: kept
			index++;
			continue;
		}
		table *t = find(id);
		if (!t) return fail("rowcount: change of an unannounced table");
		if (!t->announced && !declare(t)) return fail("rowcount: malformed table record");
		int rows = op == 'c' || op == 'u' || op == 'd' || op == 'r';
		uint64_t cnt = 0;
		if (rows && (cnt = count(t)) == 0) return host_fail("rowcount: kv: ");
		// The verdict: replace the change with itself in the output table.
		uint32_t vlen_at, clen_at;
		record_start(REC_VERDICT, &vlen_at);
		put32(&out, index);
		put8(&out, VERDICT_REPLACE);
		put8(&out, 0);
		put16(&out, 0);
		put32(&out, 1);
		clen_at = out.len;
		put32(&out, 0);
		put8(&out, op);
		put8(&out, cflags);
		put16(&out, 0);
		put32(&out, t->out_id);
		skip(&c, 4 + 4 + 8);                   // seq, pos, timestamp: copied as they are
		put(&out, body + 8, 4 + 4 + 8);
		uint32_t start = c.off;
		str(&c, &n);                            // file
		str(&c, &n);                            // db
		str(&c, &n);                            // statement
		if (cflags & CHANGE_ROUTE) str(&c, &n); // route
		if (c.bad) return fail("rowcount: malformed change");
		put(&out, body + start, c.off - start);
		if (cflags & CHANGE_BEFORE && !image(&c, t->ncols, op == 'd', cnt)) return fail("rowcount: malformed before image");
		if (cflags & CHANGE_AFTER && !image(&c, t->ncols, op != 'd', cnt)) return fail("rowcount: malformed after image");
		patch32(&out, clen_at, out.len - clen_at - 4);
		record_end(vlen_at);
		index++;
	}
	if (r.bad) return fail("rowcount: malformed batch");
	if (nrec == 0) return 0; // every change kept
	patch32(&out, 4, nrec);
	return (uint64_t)(uintptr_t)out.p << 32 | out.len;
}
