/* Response rate limiting over UDP: a spoofed source must not turn dnsd
 * into an amplifier.  The semantics are those operators know from Knot
 * DNS's mod-rrl and NSD: a bucket per (source prefix, kind of answer,
 * name), a rate, a slip.
 *
 * The table is a fixed array of token buckets, found by a keyed hash and
 * probed over DNSD_RRL_PROBE slots: no allocation and a bounded cost per
 * answer however many sources a flood has.  A bucket is taken over only
 * when it is idle (full again); when every probed slot is busy, the answer
 * is charged to the first of them, which then limits two keys at once.
 * A collision can thus only limit sooner, never let more through. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "rrl.h"

/* Slots probed for a key. */
#define DNSD_RRL_PROBE 4
/* Tokens are kept in thousandths of an answer, refilled each millisecond. */
#define TOKEN 1000
/* A summary line at most this often while limiting. */
#define LOG_EVERY_MS 60000
/* Members' queriers remembered per address, for exempt-queriers. */
#define QMEMO_SIZE 1024

struct slot {
	uint32_t key;        /* the upper half of the key's hash; 0: empty */
	uint32_t stamp;      /* ms of the last refill (wraps; only differences matter) */
	int32_t tokens;      /* in TOKEN units, at most rate * TOKEN */
	uint32_t nlimited;   /* limited answers, for slip */
};

struct qmemo {
	uint8_t family;      /* 0: empty */
	uint8_t addr[16];
	bool querier;
};

struct dnsd_rrl {
	struct dnsd_rrl_conf conf;
	size_t mask;
	uint64_t seed[2];
	struct dnsd_rrl_stats stats;
	/* the summary line */
	bool logged;
	uint64_t log_at, log_dropped, log_slipped;
	/* members' queriers, rebuilt when the store's version moves */
	bool qbuilt;
	uint64_t qversion;
	struct pdb_addr_map queriers;
	struct qmemo qmemo[QMEMO_SIZE];
	struct slot slot[];
};

/* ---- configuration ---- */

void dnsd_rrl_conf_default(struct dnsd_rrl_conf *c)
{
	if (!c)
		return;
	memset(c, 0, sizeof(*c));
	c->rate = DNSD_RRL_RATE_DEFAULT;
	c->slip = DNSD_RRL_SLIP_DEFAULT;
}

static int rrl__count(const char *name, const char *s, unsigned max, unsigned *out, char *err,
                      size_t errlen)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (!*s || *end || s[0] == '-' || errno || v > max) {
		snprintf(err, errlen, "rrl: %s takes a number from 0 to %u, not '%s'", name, max, s);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

static int rrl__prefixes(struct dnsd_rrl_conf *c, const char *list, char *err, size_t errlen)
{
	char buf[64];
	const char *p = list;

	c->nexempt = 0;
	while (*p) {
		size_t n = strcspn(p, " ,\t");
		if (n == 0) {
			p++;
			continue;
		}
		if (n >= sizeof(buf) || c->nexempt == DNSD_RRL_EXEMPT_MAX) {
			snprintf(err, errlen, "rrl: exempt takes at most %d prefixes such as 192.0.2.0/24",
			         DNSD_RRL_EXEMPT_MAX);
			return -EINVAL;
		}
		memcpy(buf, p, n);
		buf[n] = '\0';
		if (pdb_addr_parse(buf, true, &c->exempt[c->nexempt]) != 0) {
			snprintf(err, errlen, "rrl: exempt: '%s' is no address or prefix", buf);
			return -EINVAL;
		}
		c->nexempt++;
		p += n;
	}
	return 0;
}

int dnsd_rrl_conf_parse(struct dnsd_rrl_conf *c, const char *rate, const char *slip,
                        const char *exempt_queriers, const char *exempt, char *err,
                        size_t errlen)
{
	if (!c || !err)
		return -EINVAL;
	if (rate && rrl__count("rate", rate, DNSD_RRL_RATE_MAX, &c->rate, err, errlen) != 0)
		return -EINVAL;
	if (slip && rrl__count("slip", slip, DNSD_RRL_SLIP_MAX, &c->slip, err, errlen) != 0)
		return -EINVAL;
	if (exempt_queriers) {
		if (strcmp(exempt_queriers, "true") == 0) {
			c->exempt_queriers = true;
		} else if (strcmp(exempt_queriers, "false") == 0) {
			c->exempt_queriers = false;
		} else {
			snprintf(err, errlen, "rrl: exempt-queriers takes true or false, not '%s'",
			         exempt_queriers);
			return -EINVAL;
		}
	}
	return exempt ? rrl__prefixes(c, exempt, err, errlen) : 0;
}

/* ---- the table ---- */

int dnsd__rrl_new(const struct dnsd_rrl_conf *conf, size_t slots, dnsd_rrl **out)
{
	dnsd_rrl *r;

	if (!conf || !out || slots < 8 || (slots & (slots - 1)))
		return -EINVAL;
	if (!(r = malloc(sizeof(*r) + slots * sizeof(struct slot))))
		return -ENOMEM;
	memset(r, 0, sizeof(*r) + slots * sizeof(struct slot));
	r->conf = *conf;
	r->mask = slots - 1;
	/* A secret seed: whoever sends the queries cannot aim keys at one
	 * slot.  The clock, if the kernel has no entropy to give yet. */
	if (getrandom(r->seed, sizeof(r->seed), GRND_NONBLOCK) != (ssize_t)sizeof(r->seed)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		r->seed[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15u ^ (uint64_t)(uintptr_t)r;
		r->seed[1] = (uint64_t)ts.tv_sec * 0xc2b2ae3d27d4eb4fu;
	}
	*out = r;
	return 0;
}

void dnsd__rrl_free(dnsd_rrl *r)
{
	if (!r)
		return;
	pdb_addr_map_free(&r->queriers);
	free(r);
}

const struct dnsd_rrl_stats *dnsd__rrl_stats(const dnsd_rrl *r)
{
	return r ? &r->stats : NULL;
}

/* ---- what an answer is ---- */

/* Where the parts of a response are. */
struct rrl_scan {
	size_t qend;          /* the end of the question */
	uint16_t qtype;
	size_t opt_at, opt_end;   /* the OPT record; opt_end 0: none */
	bool have_auth;       /* the first authority record's owner is in auth */
	uint16_t auth_type;
	uint8_t auth[255];
	size_t auth_len;
};

static bool rrl__scan(const uint8_t *m, size_t len, uint8_t *qname, size_t *qlen,
                      struct rrl_scan *s)
{
	size_t off = LDNS_HEADER_SIZE;
	unsigned an = LDNS_ANCOUNT(m), ns = LDNS_NSCOUNT(m), total = an + ns + LDNS_ARCOUNT(m);

	memset(s, 0, sizeof(*s));
	*qlen = 0;
	if (LDNS_QDCOUNT(m) > 1)
		return false;
	if (LDNS_QDCOUNT(m) == 1) {
		if (!dnsd__name_read(m, len, &off, qname, qlen) || len - off < 4)
			return false;
		s->qtype = ldns_read_uint16(m + off);
		off += 4;
	}
	s->qend = off;
	for (unsigned i = 0; i < total; i++) {
		size_t at = off;
		bool first_auth = i == an && ns;
		/* Only the first authority record's owner is wanted whole. */
		if (!dnsd__name_read(m, len, &off, first_auth ? s->auth : NULL,
		                     first_auth ? &s->auth_len : NULL) || len - off < 10)
			return false;
		uint16_t type = ldns_read_uint16(m + off);
		size_t rdlen = ldns_read_uint16(m + off + 8);
		if (len - off - 10 < rdlen)
			return false;
		off += 10 + rdlen;
		if (first_auth) {
			s->have_auth = true;
			s->auth_type = type;
		}
		if (i >= an + ns && type == LDNS_RR_TYPE_OPT) {
			s->opt_at = at;
			s->opt_end = off;
		}
	}
	return true;
}

bool dnsd__rrl_classify(const uint8_t *resp, size_t len, enum dnsd_rrl_class *cls, uint8_t *name,
                        size_t *name_len)
{
	struct rrl_scan s;
	uint8_t qname[255];
	size_t qlen;

	if (!resp || !cls || !name || !name_len || len < LDNS_HEADER_SIZE)
		return false;
	*name_len = 0;
	if (!rrl__scan(resp, len, qname, &qlen, &s))
		return false;
	unsigned rcode = LDNS_RCODE_WIRE(resp);
	const uint8_t *key = qname;
	size_t key_len = qlen;
	if (rcode == LDNS_RCODE_NXDOMAIN) {
		*cls = DNSD_RRL_NXDOMAIN;
		if (s.have_auth && s.auth_type == LDNS_RR_TYPE_SOA)
			key = s.auth, key_len = s.auth_len;
	} else if (rcode != LDNS_RCODE_NOERROR || qlen == 0) {
		/* Whatever the name: a flood of refusals for random names is
		 * one bucket. */
		*cls = DNSD_RRL_ERROR;
		key_len = 0;
	} else if (LDNS_ANCOUNT(resp) == 0 && !LDNS_AA_WIRE(resp) && s.have_auth &&
	           s.auth_type == LDNS_RR_TYPE_NS) {
		*cls = DNSD_RRL_REFERRAL;
		key = s.auth, key_len = s.auth_len;
	} else if (LDNS_ANCOUNT(resp) == 0 && !LDNS_TC_WIRE(resp)) {
		*cls = DNSD_RRL_NODATA;
		if (s.have_auth && s.auth_type == LDNS_RR_TYPE_SOA)
			key = s.auth, key_len = s.auth_len;
	} else if (s.qtype == LDNS_RR_TYPE_ANY) {
		*cls = DNSD_RRL_ANY;
	} else if (len >= DNSD_RRL_LARGE_SIZE) {
		*cls = DNSD_RRL_LARGE;
	} else {
		*cls = DNSD_RRL_POSITIVE;
	}
	memcpy(name, key, key_len);
	*name_len = key_len;
	return true;
}

/* The key's hash: the source's prefix, the kind and the name, mixed with
 * the table's seed (FNV-1a from a secret start, then a finalizer so that
 * every input bit reaches the index bits). */
static uint64_t rrl__hash(const dnsd_rrl *r, const struct dnsd_client *c, enum dnsd_rrl_class cls,
                          const uint8_t *name, size_t name_len)
{
	uint8_t head[2 + 7];
	size_t plen = c->family == 4 ? 3 : 7;   /* /24, /56 */
	uint64_t h = r->seed[0] ^ 0xcbf29ce484222325u;

	head[0] = (uint8_t)c->family;
	head[1] = (uint8_t)cls;
	memcpy(head + 2, c->addr, plen);
	for (size_t i = 0; i < 2 + plen; i++)
		h = (h ^ head[i]) * 0x100000001b3u;
	for (size_t i = 0; i < name_len; i++)
		h = (h ^ name[i]) * 0x100000001b3u;
	h ^= r->seed[1];
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdu;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53u;
	h ^= h >> 33;
	return h;
}

/* Top a bucket up for the time since its last refill. */
static void rrl__refill(const dnsd_rrl *r, struct slot *s, uint32_t now)
{
	uint32_t elapsed = now - s->stamp;
	int64_t cap = (int64_t)r->conf.rate * TOKEN;

	/* A second refills a bucket whole: no need to multiply more. */
	if (elapsed > 1000)
		elapsed = 1000;
	int64_t t = (int64_t)s->tokens + (int64_t)elapsed * r->conf.rate;
	s->tokens = (int32_t)(t > cap ? cap : t);
	s->stamp = now;
}

/* The bucket of hash h: its own slot, or an idle one taken over, or the
 * first probed slot shared. */
static struct slot *rrl__bucket(dnsd_rrl *r, uint64_t h, uint32_t now)
{
	uint32_t key = (uint32_t)(h >> 32) | 1;   /* never 0, the empty mark */
	int32_t cap = (int32_t)r->conf.rate * TOKEN;
	struct slot *free_slot = NULL;

	for (size_t i = 0; i < DNSD_RRL_PROBE; i++) {
		struct slot *s = &r->slot[(h + i) & r->mask];
		if (s->key == key) {
			rrl__refill(r, s, now);
			return s;
		}
		if (!free_slot) {
			if (s->key)
				rrl__refill(r, s, now);
			if (!s->key || s->tokens == cap)
				free_slot = s;
		}
	}
	if (free_slot) {
		free_slot->key = key;
		free_slot->stamp = now;
		free_slot->tokens = cap;
		free_slot->nlimited = 0;
		return free_slot;
	}
	return &r->slot[h & r->mask];
}

/* ---- exemptions ---- */

/* Is c a querier of some member?  The map of queriers follows the store's
 * version; an address is remembered until it moves. */
static bool rrl__querier(dnsd_rrl *r, dnsd_engine *e, const struct dnsd_client *c)
{
	size_t alen = c->family == 4 ? 4 : 16;
	uint64_t v = pdb_version(e->db);

	if (!r->qbuilt || v != r->qversion) {
		int rc = pdb_read_renew(e->txn);
		if (rc == 0)
			rc = pdb_addr_map_build(&r->queriers, e->txn, PDB_LIST_QUERIERS);
		pdb_read_reset(e->txn);
		memset(r->qmemo, 0, sizeof(r->qmemo));
		/* A store that cannot be read exempts no one, and is tried
		 * again on the next limited answer. */
		r->qbuilt = rc == 0;
		r->qversion = v;
		if (rc != 0)
			return false;
	}
	struct qmemo *m = &r->qmemo[pdb_fnv1a32(c->addr, alen) & (QMEMO_SIZE - 1)];
	if (m->family != c->family || memcmp(m->addr, c->addr, alen) != 0) {
		m->family = (uint8_t)c->family;
		memcpy(m->addr, c->addr, alen);
		m->querier = pdb_addr_map_find(&r->queriers, c->family, c->addr) >= 0;
	}
	return m->querier;
}

static bool rrl__exempt(dnsd_rrl *r, dnsd_engine *e, const struct dnsd_client *c)
{
	for (size_t i = 0; i < r->conf.nexempt; i++)
		if (pdb_addr_in(&r->conf.exempt[i], c->family, c->addr))
			return true;
	return r->conf.exempt_queriers && e && rrl__querier(r, e, c);
}

/* ---- the check ---- */

/* Count a limited answer into the stats, and say so now and then. */
static void rrl__count_limited(dnsd_rrl *r, bool slipped, uint64_t now)
{
	uint64_t *n = slipped ? &r->stats.slipped : &r->stats.dropped;

	__atomic_store_n(n, *n + 1, __ATOMIC_RELAXED);
	if (slipped)
		r->log_slipped++;
	else
		r->log_dropped++;
	if (r->logged && now - r->log_at < LOG_EVERY_MS)
		return;
	if (!r->logged)
		fprintf(stderr, "dnsd: rate limiting begins (a thread's first limited answer)\n");
	else
		fprintf(stderr,
		        "dnsd: rate limiting: %llu answers dropped, %llu sent truncated in the last %llu s\n",
		        (unsigned long long)r->log_dropped, (unsigned long long)r->log_slipped,
		        (unsigned long long)((now - r->log_at) / 1000));
	r->logged = true;
	r->log_at = now;
	r->log_dropped = r->log_slipped = 0;
}

enum dnsd_rrl_verdict dnsd__rrl_check(dnsd_rrl *r, dnsd_engine *e, const struct dnsd_client *c,
                                      const uint8_t *resp, size_t len, uint64_t now_ms)
{
	enum dnsd_rrl_class cls;
	uint8_t name[255];
	size_t name_len;

	if (!r || !c || !resp || r->conf.rate == 0 || c->tcp)
		return DNSD_RRL_PASS;
	/* What cannot be classified is charged as an error. */
	if (!dnsd__rrl_classify(resp, len, &cls, name, &name_len)) {
		cls = DNSD_RRL_ERROR;
		name_len = 0;
	}
	struct slot *s = rrl__bucket(r, rrl__hash(r, c, cls, name, name_len), (uint32_t)now_ms);
	if (s->tokens >= TOKEN) {
		s->tokens -= TOKEN;
		return DNSD_RRL_PASS;
	}
	if (rrl__exempt(r, e, c)) {
		__atomic_store_n(&r->stats.exempted, r->stats.exempted + 1, __ATOMIC_RELAXED);
		return DNSD_RRL_PASS;
	}
	s->nlimited++;
	bool slip = r->conf.slip && s->nlimited % r->conf.slip == 0;
	rrl__count_limited(r, slip, now_ms);
	return slip ? DNSD_RRL_SLIP : DNSD_RRL_DROP;
}

size_t dnsd__rrl_truncate(uint8_t *resp, size_t len)
{
	struct rrl_scan s;
	uint8_t qname[255];
	size_t qlen;

	if (!resp || len < LDNS_HEADER_SIZE)
		return len;
	if (!rrl__scan(resp, len, qname, &qlen, &s)) {
		/* Not as dnsd writes: the header alone says enough. */
		s.qend = LDNS_HEADER_SIZE;
		s.opt_end = 0;
		ldns_write_uint16(resp + 4, 0);
	}
	size_t n = s.qend;
	if (s.opt_end) {
		memmove(resp + n, resp + s.opt_at, s.opt_end - s.opt_at);
		n += s.opt_end - s.opt_at;
	}
	LDNS_TC_SET(resp);
	ldns_write_uint16(resp + 6, 0);
	ldns_write_uint16(resp + 8, 0);
	ldns_write_uint16(resp + 10, s.opt_end ? 1 : 0);
	return n;
}
