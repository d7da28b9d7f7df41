/* STUB until tsig.c lands: the TSIG calls the transfer code makes, with
 * no keys.  A signed request is answered as one signed with a key dnsd
 * does not know (BADKEY), as before; nothing is signed.  Delete this file
 * when tsig.c is merged. */
#include <errno.h>
#include <string.h>

#include "internal.h"

#define TSIG_BADKEY 17

static bool has_tsig(const uint8_t *q, size_t qlen)
{
	ldns_pkt *p = NULL;
	bool yes = ldns_wire2pkt(&p, q, qlen) == LDNS_STATUS_OK && ldns_pkt_tsig(p);

	ldns_pkt_free(p);
	return yes;
}

int dnsd_tsig_verify(const dnsd_tsig_keys *keys, const uint8_t *q, size_t qlen, int64_t now,
                     struct dnsd_tsig_ctx *ctx)
{
	(void)keys;
	(void)now;
	if (!q || !ctx)
		return -EINVAL;
	memset(ctx, 0, sizeof(*ctx));
	if (has_tsig(q, qlen))
		ctx->error = TSIG_BADKEY;
	return 0;
}

int dnsd_tsig_sign(struct dnsd_tsig_ctx *ctx, uint8_t *msg, size_t *len, size_t cap, int64_t now)
{
	(void)msg;
	(void)len;
	(void)cap;
	(void)now;
	if (!ctx)
		return -EINVAL;
	ctx->mac_len = 0;   /* nothing signed: no MAC for the next message to cover */
	return 0;
}

const struct dnsd_tsig_key *dnsd_tsig_key_find(const dnsd_tsig_keys *keys, const char *name)
{
	(void)keys;
	(void)name;
	return NULL;
}

void dnsd_engine_set_keys(dnsd_engine *e, const dnsd_tsig_keys *keys)
{
	if (e)
		e->keys = keys;
}
