// spin is a handler for the interruption tests (hostabi/interrupt_test.go),
// in C: it keeps every change of a batch, and never returns from a batch
// whose message holds the bytes "SPIN".
#include <stdint.h>
#include <stdlib.h>

static volatile uint64_t sink;
static uint8_t *arena;

__attribute__((export_name("puma_abi_v1"))) void puma_abi_v1(void) {}

__attribute__((export_name("puma_alloc"))) uint8_t *puma_alloc(uint32_t n) {
	free(arena);
	arena = malloc(n);
	return arena;
}

__attribute__((export_name("puma_init"))) uint64_t puma_init(uint8_t *p, uint32_t n) {
	return 0;
}

__attribute__((export_name("puma_handle"))) uint64_t puma_handle(const uint8_t *p, uint32_t n) {
	for (uint32_t i = 0; i + 4 <= n; i++) {
		if (p[i] == 'S' && p[i + 1] == 'P' && p[i + 2] == 'I' && p[i + 3] == 'N') {
			for (;;) {
				sink++;
			}
		}
	}
	return 0;
}
