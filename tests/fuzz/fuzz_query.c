/* libFuzzer target: raw packets into dnsd's query path (dnsd_answer), over
 * UDP and TCP sizes, against a small policy store and the sample zone.
 *
 *   CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
 *         -Db_lundef=false && ninja -C build-fuzz
 *   build-fuzz/tests/fuzz/fuzz_query -max_total_time=600 CORPUS_DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dnsd.h"

static dnsd_engine *engine;
static uint8_t out[DNSD_MSG_MAX];

static const char zone_text[] =
	"$ORIGIN fed.example.\n$TTL 3600\n"
	"@ IN SOA ns1 hostmaster 1 7200 3600 1209600 60\n"
	"@ IN NS ns1\n@ IN NS ns2.other.example.\n"
	"ns1 IN A 192.0.2.1\nch IN A 192.0.2.5\nch IN AAAA 2001:db8::5\n"
	"xmpp.alpha IN A 192.0.2.10\nsub IN NS ns.sub\nns.sub IN A 192.0.2.53\n"
	"www IN CNAME ch\n@ IN MX 10 ch\n";

static int put(pdb_wtxn *w, void *arg)
{
	struct pdb_community c;
	struct pdb_member m;
	int rc;

	pdb_community_init(&c);
	c.zone = pdb_str_of("fed.example");
	c.ch[c.nch++] = (struct pdb_clearinghouse){ pdb_str_of("ch.fed.example"), 5269, 5270 };
	if ((rc = pdb_w_put_community(w, &c)) != 0)
		return rc;
	pdb_member_init(&m);
	m.level = 2;
	m.targets[m.ntargets++] = (struct pdb_target){ pdb_str_of("xmpp.alpha.fed.example"), 5269, 0, 0 };
	pdb_addr_parse("0.0.0.0/0", true, &m.queriers[m.nqueriers++]);
	if ((rc = pdb_w_put_member(w, "alpha.fed.example", &m)) != 0 ||
	    (rc = pdb_w_put_member(w, "gamma.example", &m)) != 0)
		return rc;
	m.status = PDB_SUSPENDED;
	return pdb_w_put_member(w, "beta.fed.example", &m);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[] = "/tmp/fuzz-dnsd-XXXXXX", zone[64], err[256];
	const char *files[1] = { zone };
	dnsd_zones *zs;
	pdb_t *db;
	FILE *f;

	if (!mkdtemp(dir))
		abort();
	snprintf(zone, sizeof(zone), "%s/zone", dir);
	if (!(f = fopen(zone, "w")) || fputs(zone_text, f) < 0 || fclose(f) != 0)
		abort();
	if (pdb_open(dir, PDB_CREATE, NULL, &db) || pdb_init(db, "fuzz") ||
	    pdb_write(db, "fuzz", put, NULL, NULL) ||
	    dnsd_zones_load(files, 1, &zs, err, sizeof(err)) || dnsd_engine_new(zs, db, &engine))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The first byte picks the transport and the querier's address. */
	struct dnsd_client c = { .family = 4, .addr = { 192, 0, 2, 77 } };
	size_t n;

	if (size < 1)
		return 0;
	c.tcp = data[0] & 1;
	if (data[0] & 2) {
		c.family = 6;
		c.addr[0] = 0x20;
	}
	dnsd_answer(engine, data + 1, size - 1, &c, out, c.tcp ? sizeof(out) : 1232, &n);
	if (n > (c.tcp ? sizeof(out) : 1232))
		abort();
	return 0;
}
