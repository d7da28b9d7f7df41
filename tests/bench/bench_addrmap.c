/* The address map alone (not a test): N members, each listing one of
 * 65,536 /24s as dns_bench.py's community does (or each its own /24 with
 * --distinct), then LOOKUPS lookups of random addresses in and out of
 * them.  Prints the pairs held, the lookups done and how many found a
 * member, and the heap the map takes (glibc's mallinfo2), so that two
 * builds can be compared, under callgrind for the lookups
 * (--toggle-collect=pdb_addr_map_find counts them alone).
 *
 *     bench_addrmap [--distinct] [N] [LOOKUPS]
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policydb.h"

static uint64_t rng = 88172645463325252ull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

int main(int argc, char **argv)
{
	struct pdb_addr_map m = { 0 };
	bool distinct = argc > 1 && strcmp(argv[1], "--distinct") == 0;
	unsigned long n = argc > 1 + distinct ? strtoul(argv[1 + distinct], NULL, 10) : 1000000;
	unsigned long lookups = argc > 2 + distinct ? strtoul(argv[2 + distinct], NULL, 10) : 1000000;
	unsigned long found = 0;
	char name[64];
	struct mallinfo2 before = mallinfo2(), after;

	for (unsigned long i = 0; i < n; i++) {
		struct pdb_addr p = { .family = 4, .prefix = 24 };
		unsigned long k = distinct ? i : i & 0xffff;
		p.bytes[0] = (uint8_t)(10 + (k >> 16));
		p.bytes[1] = (uint8_t)(k >> 8);
		p.bytes[2] = (uint8_t)k;
		snprintf(name, sizeof(name), "m%07lu.bench.example", i);
		if (pdb_addr_map_add(&m, &p, name) < 0) {
			fprintf(stderr, "bench_addrmap: no memory\n");
			return 1;
		}
	}
	after = mallinfo2();
	for (unsigned long i = 0; i < lookups; i++) {
		uint32_t r = rnd();
		uint8_t a[4] = { (uint8_t)(10 + (r >> 30)), (uint8_t)(r >> 8), (uint8_t)r,
		                 (uint8_t)(r >> 16) };
		found += pdb_addr_map_member(&m, pdb_addr_map_find(&m, 4, a)) != NULL;
	}
	printf("%zu pairs, %zu bytes of heap, %lu lookups, %lu found\n", m.n,
	       after.uordblks + after.hblkhd - before.uordblks - before.hblkhd, lookups, found);
	pdb_addr_map_free(&m);
	return 0;
}
