/* What the dnsd unit tests share: a zone file and a store in a fresh
 * directory, and an engine over them. */
#ifndef DNSD_TEST_FIXTURE_H
#define DNSD_TEST_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dnsd.h"

struct fixture {
	char dir[64];
	char zone[96];
	pdb_t *db;
	dnsd_zones *zones;
	dnsd_engine *engine;
};

static const char fixture_zone_text[] =
	"$ORIGIN fed.example.\n$TTL 3600\n"
	"@ IN SOA ns1 hostmaster 1 7200 3600 1209600 60\n"
	"@ IN NS ns1\nns1 IN A 192.0.2.1\nch IN A 192.0.2.5\n";

/* The fixture with the zone text given.  Returns 0, or -1 after saying
 * what failed. */
static inline int fixture_open_zone(struct fixture *f, const char *zone_text)
{
	const char *files[1] = { f->zone };
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char err[256];
	FILE *fp;

	memset(f, 0, sizeof(*f));
	if ((size_t)snprintf(f->dir, sizeof(f->dir), "%s/dnsd-test-XXXXXX", tmp) >= sizeof(f->dir) ||
	    !mkdtemp(f->dir))
		return -1;
	snprintf(f->zone, sizeof(f->zone), "%s/zone", f->dir);
	if (!(fp = fopen(f->zone, "w")) || fputs(zone_text, fp) < 0 || fclose(fp) != 0)
		return -1;
	if (pdb_open(f->dir, PDB_CREATE, NULL, &f->db) != 0 || pdb_init(f->db, "test") != 0)
		return -1;
	if (dnsd_zones_load(files, 1, &f->zones, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return dnsd_engine_new(f->zones, f->db, &f->engine) == 0 ? 0 : -1;
}

/* The fixture with fixture_zone_text. */
static inline int fixture_open(struct fixture *f)
{
	return fixture_open_zone(f, fixture_zone_text);
}

static inline void fixture_close(struct fixture *f)
{
	char cmd[128];

	dnsd_engine_free(f->engine);
	dnsd_zones_free(f->zones);
	pdb_close(f->db);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", f->dir);
}

#endif
