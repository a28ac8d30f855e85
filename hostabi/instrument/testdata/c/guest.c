// A WASI reactor built by the tests with clang and wasi-libc
// (-mexec-model=reactor, SIMD, bulk memory, sign extension and saturating
// conversions enabled) to instrument.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(name)))

static volatile uint64_t sink;

EXPORT("spin") void spin(void) {
	for (;;) sink++;
}

EXPORT("spins") uint64_t spins(void) { return sink; }

EXPORT("fib") int32_t fib(int32_t n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static int cmp(const void *a, const void *b) {
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

// work allocates, sorts through a function pointer (call_indirect),
// copies with memcpy (memory.copy) and formats numbers.
EXPORT("work") uint64_t work(int32_t n) {
	uint32_t *xs = malloc(n * sizeof *xs), *ys = malloc(n * sizeof *ys);
	uint32_t x = 12345;
	for (int32_t i = 0; i < n; i++) {
		x ^= x << 13; x ^= x >> 17; x ^= x << 5;
		xs[i] = x % 100000;
	}
	memcpy(ys, xs, n * sizeof *xs);
	qsort(ys, n, sizeof *ys, cmp);
	uint64_t h = 14695981039346656037ull;
	char buf[32];
	for (int32_t i = 0; i < n; i++) {
		int k = snprintf(buf, sizeof buf, "%u;", ys[i]);
		for (int j = 0; j < k; j++) { h ^= (uint8_t)buf[j]; h *= 1099511628211ull; }
	}
	free(xs); free(ys);
	return h;
}

// simd sums n bytes of a pattern with 128-bit vectors.
EXPORT("simd") int32_t simd(int32_t n) {
	uint8_t *p = malloc(n + 16);
	for (int32_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 7);
	v128_t acc = wasm_i32x4_splat(0);
	int32_t i = 0;
	for (; i + 16 <= n; i += 16) {
		v128_t v = wasm_v128_load(p + i);
		acc = wasm_i32x4_add(acc, wasm_u32x4_extend_low_u16x8(wasm_u16x8_extend_low_u8x16(v)));
		acc = wasm_i32x4_add(acc, wasm_u32x4_extend_high_u16x8(wasm_u16x8_extend_high_u8x16(v)));
	}
	int32_t s = wasm_i32x4_extract_lane(acc, 0) + wasm_i32x4_extract_lane(acc, 1) +
	            wasm_i32x4_extract_lane(acc, 2) + wasm_i32x4_extract_lane(acc, 3);
	for (; i < n; i++) s += p[i];
	free(p);
	return s;
}

// conv exercises sign extension and saturating conversions.
EXPORT("conv") int64_t conv(double d, int32_t x) {
	int8_t b = (int8_t)x;
	int16_t h = (int16_t)x;
	return (int64_t)d + (int32_t)(float)d + b + h + (int64_t)(int32_t)x;
}

// hello writes to stdout through WASI fd_write.
EXPORT("hello") int32_t hello(int32_t n) {
	return printf("hello %d\n", n);
}
