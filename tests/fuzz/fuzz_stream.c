/* libFuzzer target: bytes from an initiating server into xmppd's stream
 * reader, in pieces whose size the first byte picks, and every complete
 * header through the decision and the rendered answer.
 *
 *   build-fuzz/tests/fuzz/fuzz_stream -max_total_time=600 CORPUS_DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmppd.h"

static pdb_t *db;
static xmppd_reader *rd;

static int put(pdb_wtxn *w, void *arg)
{
	struct pdb_community c;
	struct pdb_member m;
	int rc;

	(void)arg;
	pdb_community_init(&c);
	c.zone = pdb_str_of("fed.example");
	c.ch[c.nch++] = (struct pdb_clearinghouse){ pdb_str_of("ch.fed.example"), 5269, 5270 };
	c.deny_text = PDB_DENY_TEXT_RULE;
	pdb_member_init(&m);
	m.level = 2;
	m.targets[m.ntargets++] = (struct pdb_target){ pdb_str_of("xmpp.a.fed.example"), 5269, 0, 0 };
	if ((rc = pdb_w_put_community(w, &c)) != 0 ||
	    (rc = pdb_w_put_member(w, "a.fed.example", &m)) != 0 ||
	    (rc = pdb_w_put_member(w, "b.fed.example", &m)) != 0)
		return rc;
	m.status = PDB_SUSPENDED;
	return pdb_w_put_member(w, "c.fed.example", &m);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[] = "/tmp/fuzz-xmppd-XXXXXX";

	if (!mkdtemp(dir) || pdb_open(dir, PDB_CREATE, NULL, &db) || pdb_init(db, "fuzz") ||
	    pdb_write(db, "fuzz", put, NULL, NULL) || xmppd_reader_new(2048, &rd))
		abort();
	return 0;
}

static void answer(const struct xmppd_header *h, bool tls)
{
	struct xmppd_peer peer = { .tls = tls, .cert_checked = tls };
	struct xmppd_verdict v;
	char out[2048];

	xmppd_decide(db, h, &peer, tls ? XMPPD_RELAY : XMPPD_REDIRECT, 1700000000, &v);
	int n = xmppd_render_error(&v, false, out, sizeof(out));
	if (n < 0 || (size_t)n != strlen(out))
		abort();
	xmppd_render_features(&v, out, sizeof(out));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t step, used;

	if (size < 1)
		return 0;
	step = (size_t)(data[0] & 0x7f) + 1;
	data++, size--;
	if (xmppd_reader_reset(rd) != 0)
		abort();
	for (size_t off = 0;;) {
		size_t k = size - off < step ? size - off : step;
		enum xmppd_event ev = xmppd_reader_feed(rd, data + off, k, &used);
		off += used;
		if (ev == XMPPD_EV_HEADER)
			answer(xmppd_reader_header(rd), data[-1] & 0x80);
		else if (ev == XMPPD_EV_ERROR || ev == XMPPD_EV_CLOSED)
			break;
		else if (ev == XMPPD_EV_MORE && off >= size)
			break;
	}
	return 0;
}
