/* Decisions per second on an existing store.
 *
 *   bench_decide DIR PREFIX COUNT SECONDS
 *
 * Members are named PREFIX-NNNNNNN.bench.example, NNNNNNN < COUNT (as the
 * benchmark script writes them).  Two figures: with a fresh snapshot per
 * decision (reset and renew, as a daemon does per query, so each decision
 * sees the newest commit), and with one snapshot for the whole run. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "policydb.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift64: a cheap, reproducible stream of member numbers. */
static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int run(pdb_t *db, const char *prefix, unsigned long count, double seconds, int renew,
               unsigned long *decisions, unsigned long *allowed, double *elapsed)
{
	char a[PDB_NAME_MAX + 1], b[PDB_NAME_MAX + 1];
	struct pdb_decision d;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	pdb_txn *t;
	int rc;

	if ((rc = pdb_read_begin(db, &t)) != 0)
		return rc;
	*decisions = *allowed = 0;
	double start = now(), end = start + seconds;
	while (1) {
		/* Check the clock every 1024 decisions only. */
		for (int i = 0; i < 1024; i++) {
			snprintf(a, sizeof(a), "%s-%07lu.bench.example", prefix,
			         (unsigned long)(next(&seed) % count));
			snprintf(b, sizeof(b), "%s-%07lu.bench.example", prefix,
			         (unsigned long)(next(&seed) % count));
			if (renew) {
				pdb_read_reset(t);
				if ((rc = pdb_read_renew(t)) != 0)
					goto out;
			}
			if ((rc = pdb_decide(t, a, b, 1800000000, &d)) != 0)
				goto out;
			*allowed += d.outcome == PDB_ALLOW;
			++*decisions;
		}
		if (now() >= end)
			break;
	}
out:
	*elapsed = now() - start;
	pdb_read_end(t);
	return rc;
}

int main(int argc, char **argv)
{
	unsigned long decisions, allowed;
	double elapsed;
	pdb_t *db;
	int rc;

	if (argc != 5) {
		fprintf(stderr, "usage: bench_decide DIR PREFIX COUNT SECONDS\n");
		return 2;
	}
	unsigned long count = strtoul(argv[3], NULL, 10);
	double seconds = strtod(argv[4], NULL);
	if ((rc = pdb_open(argv[1], PDB_RDONLY, NULL, &db)) != 0) {
		fprintf(stderr, "bench_decide: %s: %s\n", argv[1], pdb_strerror(rc));
		return 3;
	}
	for (int renew = 1; renew >= 0; renew--) {
		if ((rc = run(db, argv[2], count, seconds, renew, &decisions, &allowed, &elapsed)) != 0) {
			fprintf(stderr, "bench_decide: %s\n", pdb_strerror(rc));
			pdb_close(db);
			return 3;
		}
		printf("decide %-26s %10.0f decisions/s  (%lu in %.2f s, %.1f%% allowed)\n",
		       renew ? "(new snapshot each):" : "(one snapshot):", decisions / elapsed,
		       decisions, elapsed, 100.0 * (double)allowed / (double)decisions);
	}
	pdb_close(db);
	return 0;
}
