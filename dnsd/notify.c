/* NOTIFY (RFC 1996): tell the configured secondaries that a served serial
 * moved, so that they transfer the zone at once rather than at their next
 * refresh.
 *
 * One timer ticks every interval.  A tick looks at the store's version
 * (a cheap read, no transaction), the zones' generation and the clock
 * against the next time event (a not-after or grace end that moves the
 * served serial with no commit); only when one of them moved does it open
 * a snapshot and work out which served serials changed.  A burst of commits within one interval is thus one NOTIFY per
 * zone and target.  Each NOTIFY is sent again with doubling gaps until a
 * response with its ID and opcode comes back from the target, or given up
 * after a number of tries (RFC 1996 3.6, 4.8).
 *
 * The zones that change on a commit or a time event: the community zone
 * (its serial holds the served policy serial), the apex zones outside it
 * of each member whose own serial moved (its stamp, pdb_member_stamp: a
 * change of the member, or of all of them; every apex when a member whose
 * view a transfer rule names moved, or the zone file's serial), and the
 * catalog zone (whose serial is the community zone's, and whose list of
 * member apexes a removal or the end of a grace changes).  A zone file reload changes the zones whose served serial moved. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "cfg.h"
#include "closedown.h"
#include "sockaddr.h"
#include "internal.h"

/* What an outstanding NOTIFY needs. */
#define NOTIFY_MSG_MAX 512
/* Jobs at once: a bound on memory for a very large member list. */
#define NOTIFY_JOBS_MAX 65536
#define NOTIFY_INTERVAL_DEFAULT 1000
#define NOTIFY_RETRY_DEFAULT 1000
#define NOTIFY_TRIES_DEFAULT 5

struct target {
	struct sockaddr_storage ss;
	char text[64];                    /* as configured, for logs */
	const struct dnsd_tsig_key *key;  /* NULL: unsigned */
	const char *key_name;             /* as configured, NULL: none */
	uv_udp_t *udp;                    /* the socket of its family */
};

/* One NOTIFY of one zone to one target, until answered or given up. */
struct job {
	uint8_t qname[256];               /* wire form, lower case */
	size_t qlen;
	char zone[256];                   /* text, for logs */
	uint32_t serial;
	bool have_serial;
	size_t target;
	uint16_t id;
	unsigned tries;                   /* sent so far */
	uint64_t due;                     /* loop time (ms) of the next send */
};

/* A static zone's served serial, as last seen. */
struct seen {
	char apex[256];
	uint32_t serial;
};

struct dnsd_notify {
	uv_loop_t *loop;
	pdb_t *db;
	pdb_txn *txn;
	const dnsd_zones *zones;
	unsigned zones_gen, seen_gen;
	uint64_t seen_version;
	int64_t next_event;               /* Unix time the served serial moves, 0: none */
	bool primed;                      /* the first look is a baseline */
	struct dnsd_notify_opts opts;
	char *catalog;                    /* owned; NULL: none */

	struct target *t;
	size_t nt;
	uv_udp_t udp4, udp6;
	bool have4, have6;
	uv_timer_t tick;

	struct seen *seen;
	size_t nseen;
	bool have_community;
	uint32_t community_serial;
	uint32_t community_base;          /* its file's part, as last seen */
	uint64_t served;                  /* the served policy serial, as last seen */
	char (*views)[PDB_NAME_MAX + 1];  /* members whose views transfer rules name */
	size_t nviews;
	uint64_t members_digest;          /* of the member apex list */

	struct job *jobs;
	size_t njobs, capjobs;
	bool full_said;

	struct ch_closedown cd;
};

/* ---- the configuration ---- */

static const char *key_configured(const struct dnsd_config *c, const char *name)
{
	for (size_t i = 0; i < c->nkeys; i++)
		if (c->keys[i].v[DNSD_KEY_NAME] && strcmp(c->keys[i].v[DNSD_KEY_NAME], name) == 0)
			return c->keys[i].v[DNSD_KEY_NAME];
	return NULL;
}

int dnsd_notify_check(const struct dnsd_config *c, const char *path, char *err, size_t errlen)
{
	struct sockaddr_storage ss;

	if (!c || (errlen && !err))
		return -EINVAL;
	path = path ? path : "(config)";
	for (size_t i = 0; i < c->nnotify; i++) {
		const struct cfg_record *r = &c->notify[i];
		const char *addr = r->v[DNSD_NOTIFY_ADDRESS], *key = r->v[DNSD_NOTIFY_KEY];
		const char *why = NULL, *what = "";

		if (!addr) {
			why = "notify: no address (ADDR:PORT)";
		} else if (cfg_addr_parse(addr, &ss) != 0) {
			why = "notify: not ADDR:PORT or [V6]:PORT: ";
			what = addr;
		} else if (key && !key_configured(c, key)) {
			why = "notify: no such key under keys: ";
			what = key;
		}
		if (why) {
			snprintf(err, errlen, "%s:%zu:%zu: %s%s", path, r->line, r->column, why, what);
			return DNSD_ECONFIG;
		}
	}
	return 0;
}

/* ---- jobs ---- */

static uint16_t fresh_id(void)
{
	uint16_t id = 0;

	/* Not for secrecy: a response must not match a NOTIFY by chance. */
	if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != sizeof(id))
		id = (uint16_t)rand();
	return id;
}

/* Schedule zone (text, no trailing dot needed) for every target; a job
 * still outstanding for the same zone and target is replaced: the
 * secondary needs to hear of the newest serial only. */
static void notify_zone_changed(dnsd_notify *n, const char *zone, const uint32_t *serial)
{
	ldns_rdf *name = ldns_dname_new_frm_str(zone);
	uint64_t now = uv_now(n->loop);

	if (!name)
		return;
	ldns_dname2canonical(name);
	for (size_t t = 0; t < n->nt; t++) {
		struct job *j = NULL;
		for (size_t i = 0; i < n->njobs; i++) {
			if (n->jobs[i].target == t && n->jobs[i].qlen == ldns_rdf_size(name) &&
			    memcmp(n->jobs[i].qname, ldns_rdf_data(name), ldns_rdf_size(name)) == 0) {
				j = &n->jobs[i];
				break;
			}
		}
		if (!j) {
			if (n->njobs == n->capjobs) {
				size_t cap = n->capjobs ? n->capjobs * 2 : 16;
				struct job *v;
				if (cap > NOTIFY_JOBS_MAX || !(v = realloc(n->jobs, cap * sizeof(*v)))) {
					if (!n->full_said)
						fprintf(stderr, "dnsd: notify: too many outstanding, %s and "
						        "others not notified\n", zone);
					n->full_said = true;
					break;
				}
				n->jobs = v;
				n->capjobs = cap;
			}
			j = &n->jobs[n->njobs++];
		}
		memset(j, 0, sizeof(*j));
		memcpy(j->qname, ldns_rdf_data(name), ldns_rdf_size(name));
		j->qlen = ldns_rdf_size(name);
		snprintf(j->zone, sizeof(j->zone), "%s", zone);
		j->have_serial = serial != NULL;
		j->serial = serial ? *serial : 0;
		j->target = t;
		j->id = fresh_id();
		j->due = now;
	}
	ldns_rdf_deep_free(name);
}

static void notify_job_drop(dnsd_notify *n, size_t i)
{
	n->jobs[i] = n->jobs[--n->njobs];
	if (n->njobs < NOTIFY_JOBS_MAX / 2)
		n->full_said = false;
}

/* The NOTIFY of RFC 1996 3.7: opcode NOTIFY, AA, the zone's SOA as the
 * question; the new serial is not put in the answer section, which the
 * RFC makes optional, since the secondary asks for the SOA anyway. */
static int notify_build(const dnsd_notify *n, const struct job *j, uint8_t *msg, size_t *len,
                    size_t cap)
{
	struct dnsd_tsig_ctx ctx = { .key = n->t[j->target].key };
	size_t k = 0;

	if (12 + j->qlen + 4 > cap)
		return -ENOSPC;
	msg[k++] = (uint8_t)(j->id >> 8);
	msg[k++] = (uint8_t)j->id;
	msg[k++] = (uint8_t)((LDNS_PACKET_NOTIFY << 3) | 0x04);   /* opcode, AA */
	msg[k++] = 0;
	static const uint8_t counts[8] = { 0, 1, 0, 0, 0, 0, 0, 0 };
	memcpy(msg + k, counts, sizeof(counts));
	k += sizeof(counts);
	memcpy(msg + k, j->qname, j->qlen);
	k += j->qlen;
	msg[k++] = 0;
	msg[k++] = LDNS_RR_TYPE_SOA;
	msg[k++] = 0;
	msg[k++] = LDNS_RR_CLASS_IN;
	*len = k;
	if (!ctx.key)
		return 0;
	return dnsd_tsig_sign(&ctx, msg, len, cap, (int64_t)time(NULL));
}

struct send_req {
	uv_udp_send_t req;
	uint8_t msg[NOTIFY_MSG_MAX];
};

static void notify_sent(uv_udp_send_t *req, int status)
{
	(void)status;   /* a lost datagram is what the retries are for */
	free(req);
}

static void notify_send(dnsd_notify *n, struct job *j)
{
	const struct target *t = &n->t[j->target];
	struct send_req *s = malloc(sizeof(*s));
	size_t len;
	int rc;

	j->tries++;
	j->due = uv_now(n->loop) + ((uint64_t)n->opts.retry_ms << (j->tries - 1));
	if (!s)
		return;
	if ((rc = notify_build(n, j, s->msg, &len, sizeof(s->msg))) != 0) {
		fprintf(stderr, "dnsd: notify %s to %s: %s\n", j->zone, t->text, dnsd_strerror(rc));
		free(s);
		return;
	}
	uv_buf_t b = uv_buf_init((char *)s->msg, (unsigned)len);
	if ((rc = uv_udp_send(&s->req, t->udp, &b, 1, (const struct sockaddr *)&t->ss,
	                      notify_sent)) != 0) {
		fprintf(stderr, "dnsd: notify %s to %s: %s\n", j->zone, t->text, uv_strerror(rc));
		free(s);
		return;
	}
	char serial[24] = "";
	if (j->have_serial)
		snprintf(serial, sizeof(serial), " serial %u", j->serial);
	fprintf(stderr, "dnsd: notify %s%s to %s%s%s: sent (try %u of %u)\n", j->zone, serial,
	        t->text, t->key_name ? " key " : "", t->key_name ? t->key_name : "", j->tries,
	        n->opts.tries);
}

static void notify_send_due(dnsd_notify *n)
{
	uint64_t now = uv_now(n->loop);

	for (size_t i = 0; i < n->njobs;) {
		struct job *j = &n->jobs[i];
		if (j->due > now) {
			i++;
			continue;
		}
		if (j->tries >= n->opts.tries) {
			fprintf(stderr, "dnsd: notify %s to %s: no answer after %u tries, given up\n",
			        j->zone, n->t[j->target].text, j->tries);
			notify_job_drop(n, i);
			continue;
		}
		notify_send(n, j);
		i++;
	}
}

/* ---- what changed ---- */

static bool in_zone(const char *name, pdb_str zone)
{
	size_t k = strlen(name);
	return zone.len && k >= zone.len && memcmp(name + k - zone.len, zone.p, zone.len) == 0 &&
	       (k == zone.len || name[k - zone.len - 1] == '.');
}

struct walk {
	dnsd_notify *n;
	const struct pdb_community *c;
	bool notify;                      /* schedule each apex */
	uint32_t base;                    /* the community zone file's part */
	uint64_t since;                   /* served at the last look */
	bool all;                         /* every apex moved */
	int err;                          /* the first store error */
	uint64_t digest;
	int64_t now;
	uint32_t grace;
};

static int notify_member(void *arg, const char *name, const struct pdb_member *m)
{
	struct walk *w = arg;
	char apex[300];

	(void)m;
	if (in_zone(name, w->c->zone))
		return 0;
	w->digest = w->digest * 1099511628211u ^ pdb_fnv1a64(name, strlen(name) + 1);
	if (!w->notify)
		return 0;
	uint64_t stamp;
	int rc = pdb_member_stamp(w->n->txn, name, w->now, &stamp);
	if (rc != 0) {
		w->err = w->err ? w->err : rc;
		stamp = w->since + 1;   /* unknown: tell */
	}
	if (!w->all && stamp <= w->since)
		return 0;
	uint32_t serial = w->base + (uint32_t)stamp;
	snprintf(apex, sizeof(apex), "_xmpp-server._tcp.%s", name);
	notify_zone_changed(w->n, apex, &serial);
	snprintf(apex, sizeof(apex), "_xmpps-server._tcp.%s", name);
	notify_zone_changed(w->n, apex, &serial);
	return 0;
}

/* Did a change since the last look touch what every apex gives: a change
 * to all members, or to one whose view a secondary transfers? */
static int notify_all_moved(dnsd_notify *n, int64_t now, bool *all)
{
	uint64_t stamp;
	int rc;

	*all = false;
	/* No member's own stamp: the store-wide one. */
	if ((rc = pdb_member_stamp(n->txn, "", now, &stamp)) != 0)
		return rc;
	*all = stamp > n->served;
	for (size_t i = 0; i < n->nviews && !*all; i++) {
		if ((rc = pdb_member_stamp(n->txn, n->views[i], now, &stamp)) != 0)
			return rc;
		*all = stamp > n->served;
	}
	return 0;
}

/* A removed member's zones stay in the catalog until its grace ends:
 * that end changes the catalog with no commit. */
static int notify_removed(void *arg, const char *name, int64_t when)
{
	struct walk *w = arg;

	if (in_zone(name, w->c->zone) || w->now - when >= (int64_t)w->grace)
		return 0;
	/* Hashed apart from a member of that name: its removal is news too. */
	w->digest = (w->digest * 1099511628211u ^ pdb_fnv1a64(name, strlen(name) + 1)) + 1;
	return 0;
}

static struct seen *notify_seen(dnsd_notify *n, const char *apex)
{
	for (size_t i = 0; i < n->nseen; i++)
		if (strcmp(n->seen[i].apex, apex) == 0)
			return &n->seen[i];
	return NULL;
}

/* Compare every served serial with the last look, and schedule what moved.
 * The first look only takes note.  Returns 0 or a store error. */
static int notify_look(dnsd_notify *n)
{
	struct pdb_community c;
	uint64_t pserial = 0;
	bool have_c;
	int rc;

	int64_t now = (int64_t)time(NULL);
	if ((rc = pdb_read_renew(n->txn)) != 0 ||
	    (rc = pdb_served_serial(n->txn, now, &pserial, &n->next_event)) != 0)
		return rc;
	rc = pdb_get_community(n->txn, &c);
	if (rc != 0 && rc != PDB_ENOTFOUND)
		return rc;
	have_c = rc == 0;

	char czone[PDB_NAME_MAX + 1] = "";
	const struct dnsd_zone *cz = NULL;
	if (have_c) {
		snprintf(czone, sizeof(czone), "%.*s", c.zone.len, c.zone.p);
		cz = dnsd__zone_by_name(n->zones, czone);
	}

	/* The static zones: the community zone's serial holds the policy's. */
	struct seen *next = calloc(n->zones->n ? n->zones->n : 1, sizeof(*next));
	if (!next)
		return -ENOMEM;
	bool community_moved = false;
	uint32_t cserial = 0;
	for (size_t i = 0; i < n->zones->n; i++) {
		const struct dnsd_zone *z = &n->zones->v[i];
		char *apex = ldns_rdf2str(z->apex);
		if (!apex)
			continue;
		size_t k = strlen(apex);
		if (k > 1 && apex[k - 1] == '.')
			apex[k - 1] = '\0';
		snprintf(next[i].apex, sizeof(next[i].apex), "%s", apex);
		free(apex);
		next[i].serial = z->serial_base + (z == cz ? (uint32_t)pserial : 0);
		const struct seen *old = notify_seen(n, next[i].apex);
		bool moved = !old || old->serial != next[i].serial;
		if (z == cz) {
			cserial = next[i].serial;
			community_moved = !n->have_community || n->community_serial != cserial;
		} else if (moved && n->primed) {
			notify_zone_changed(n, next[i].apex, &next[i].serial);
		}
	}
	if (cz && community_moved && n->primed)
		notify_zone_changed(n, czone, &cserial);

	/* The member apex zones, each with a serial of its own. */
	struct walk w = { .n = n, .c = &c, .notify = cz && community_moved && n->primed,
	                  .base = cz ? cz->serial_base : 0, .since = n->served,
	                  .digest = 14695981039346656037u, .now = now };
	if ((rc = pdb_removed_grace(n->txn, &w.grace)) != 0 ||
	    (w.notify && (rc = notify_all_moved(n, now, &w.all)) != 0)) {
		free(next);
		pdb_read_reset(n->txn);
		return rc;
	}
	w.all = w.all || (cz && n->have_community && cz->serial_base != n->community_base);
	if (cz && ((rc = pdb_walk_members(n->txn, notify_member, &w)) != 0 || (rc = w.err) != 0)) {
		free(next);
		pdb_read_reset(n->txn);
		return rc;
	}
	if (cz && n->catalog && (rc = pdb_walk_removed(n->txn, notify_removed, &w)) != 0) {
		free(next);
		pdb_read_reset(n->txn);
		return rc;
	}
	if (n->catalog && n->primed && w.digest != n->members_digest)
		notify_zone_changed(n, n->catalog, NULL);
	pdb_read_reset(n->txn);

	free(n->seen);
	n->seen = next;
	n->nseen = n->zones->n;
	n->have_community = cz != NULL;
	n->community_serial = cserial;
	n->community_base = cz ? cz->serial_base : 0;
	n->served = pserial;
	n->members_digest = w.digest;
	n->primed = true;
	return 0;
}

static void notify_tick(uv_timer_t *h)
{
	dnsd_notify *n = h->data;
	uint64_t v = pdb_version(n->db);
	int rc;

	if (!n->primed || v != n->seen_version || n->zones_gen != n->seen_gen ||
	    (n->next_event && (int64_t)time(NULL) >= n->next_event)) {
		if ((rc = notify_look(n)) != 0) {
			/* Looked at again on the next tick. */
			fprintf(stderr, "dnsd: notify: %s\n", dnsd_strerror(rc));
		} else {
			n->seen_version = v;
			n->seen_gen = n->zones_gen;
		}
	}
	notify_send_due(n);
}

/* ---- responses ---- */

static void notify_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	static uint8_t in[NOTIFY_MSG_MAX * 8];   /* only ever read on this loop */
	(void)h;
	(void)hint;
	*buf = uv_buf_init((char *)in, sizeof(in));
}

static bool same_addr(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	struct ch_addr x, y;

	return ch_sockaddr_addr(a, &x) == 0 && ch_sockaddr_addr((const struct sockaddr *)b, &y) == 0 &&
	       x.family == y.family && x.port == y.port && memcmp(x.addr, y.addr, ch_addr_len(&x)) == 0;
}

/* The question of a response, if it has one, names the job's zone. */
static bool same_question(const uint8_t *m, size_t len, const struct job *j)
{
	if ((m[4] << 8 | m[5]) == 0)
		return true;
	if (len < 12 + j->qlen)
		return false;
	for (size_t i = 0; i < j->qlen; i++) {
		uint8_t a = m[12 + i], b = j->qname[i];
		if (a >= 'A' && a <= 'Z')
			a = (uint8_t)(a + 32);
		if (a != b)
			return false;
	}
	return true;
}

static void notify_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
                    unsigned flags)
{
	dnsd_notify *n = h->data;
	const uint8_t *m = (const uint8_t *)buf->base;

	(void)flags;
	if (nread < 12 || !from)
		return;
	/* A response (QR) to a NOTIFY (opcode 4), whatever its rcode: a
	 * secondary that says NOTAUTH or REFUSED will not be persuaded by
	 * a second try either. */
	if (!(m[2] & 0x80) || ((m[2] >> 3) & 0x0f) != LDNS_PACKET_NOTIFY)
		return;
	uint16_t id = (uint16_t)(m[0] << 8 | m[1]);
	for (size_t i = 0; i < n->njobs; i++) {
		struct job *j = &n->jobs[i];
		if (j->id != id || j->tries == 0 || !same_addr(from, &n->t[j->target].ss) ||
		    !same_question(m, (size_t)nread, j))
			continue;
		ldns_lookup_table *rc = ldns_lookup_by_id(ldns_rcodes, m[3] & 0x0f);
		fprintf(stderr, "dnsd: notify %s to %s: acknowledged%s%s\n", j->zone,
		        n->t[j->target].text, rc && rc->id ? " with " : "",
		        rc && rc->id ? rc->name : "");
		notify_job_drop(n, i);
		return;
	}
}

/* ---- the handle ---- */

static void notify_free(dnsd_notify *n)
{
	void (*cb)(void *) = n->cd.cb;
	void *arg = n->cd.arg;

	pdb_read_end(n->txn);
	free(n->catalog);
	free(n->views);
	free(n->t);
	free(n->seen);
	free(n->jobs);
	free(n);
	if (cb)
		cb(arg);
}

static void notify_closed(uv_handle_t *h)
{
	dnsd_notify *n = h->data;

	if (ch_closedown_release(&n->cd))
		notify_free(n);
}

void dnsd_notify_opts_default(struct dnsd_notify_opts *o)
{
	if (!o)
		return;
	o->interval_ms = NOTIFY_INTERVAL_DEFAULT;
	o->retry_ms = NOTIFY_RETRY_DEFAULT;
	o->tries = NOTIFY_TRIES_DEFAULT;
}

static int notify_socket(dnsd_notify *n, uv_udp_t *u, int family)
{
	struct sockaddr_storage any = { 0 };
	int rc;

	any.ss_family = (sa_family_t)family;
	if ((rc = uv_udp_init(n->loop, u)) != 0)
		return rc;
	u->data = n;
	n->cd.open++;
	if ((rc = uv_udp_bind(u, (const struct sockaddr *)&any, 0)) != 0 ||
	    (rc = uv_udp_recv_start(u, notify_alloc, notify_recv)) != 0)
		return rc;
	return 0;
}

int dnsd_notify_init(uv_loop_t *loop, pdb_t *db, const dnsd_zones *zones,
                     const struct dnsd_config *c, const struct dnsd_tsig_keys *keys,
                     const struct dnsd_notify_opts *opts, dnsd_notify **out)
{
	dnsd_notify *n;
	int rc;

	if (!loop || !db || !zones || !c || !out)
		return -EINVAL;
	*out = NULL;
	if (!(n = calloc(1, sizeof(*n))))
		return -ENOMEM;
	n->loop = loop;
	n->db = db;
	n->zones = zones;
	if (opts)
		n->opts = *opts;
	else
		dnsd_notify_opts_default(&n->opts);
	if (!n->opts.interval_ms || !n->opts.retry_ms || !n->opts.tries || n->opts.tries > 16) {
		free(n);
		return -EINVAL;
	}
	if ((c->catalog && !(n->catalog = strdup(c->catalog))) ||
	    (c->nnotify && !(n->t = calloc(c->nnotify, sizeof(*n->t))))) {
		free(n->catalog);
		free(n);
		return -ENOMEM;
	}
	if ((rc = pdb_read_begin(db, &n->txn)) != 0) {
		free(n->t);
		free(n->catalog);
		free(n);
		return rc;
	}
	pdb_read_reset(n->txn);
	if (c->ntransfer && !(n->views = calloc(c->ntransfer, sizeof(*n->views)))) {
		pdb_read_end(n->txn);
		free(n->t);
		free(n->catalog);
		free(n);
		return -ENOMEM;
	}
	for (size_t i = 0; i < c->ntransfer; i++) {
		const char *view = c->transfer[i].v[DNSD_TRANSFER_VIEW], *why;
		/* A bad name was refused at start (dnsd_xfr_acl_new). */
		if (view && pdb_name_normalise(view, n->views[n->nviews], &why) == 0)
			n->nviews++;
	}
	for (size_t i = 0; i < c->nnotify; i++) {
		struct target *t = &n->t[n->nt];
		const char *addr = c->notify[i].v[DNSD_NOTIFY_ADDRESS];
		const char *key = c->notify[i].v[DNSD_NOTIFY_KEY];
		if (!addr || cfg_addr_parse(addr, &t->ss) != 0)
			continue;   /* dnsd_notify_check() said so before */
		snprintf(t->text, sizeof(t->text), "%s", addr);
		t->key_name = key;
		t->key = key && keys ? dnsd_tsig_key_find(keys, key) : NULL;
		if (key && !t->key)
			fprintf(stderr, "dnsd: notify to %s: key %s is not available, sending it "
			        "unsigned\n", addr, key);
		if (t->ss.ss_family == AF_INET6)
			n->have6 = true;
		else
			n->have4 = true;
		t->udp = t->ss.ss_family == AF_INET6 ? &n->udp6 : &n->udp4;
		n->nt++;
	}
	/* From here on, handles exist: a failure is undone by
	 * dnsd_notify_close(), as after any other start. */
	*out = n;
	uv_timer_init(loop, &n->tick);
	n->tick.data = n;
	n->cd.open++;
	if (n->have4 && (rc = notify_socket(n, &n->udp4, AF_INET)) != 0)
		return rc;
	if (n->have6 && (rc = notify_socket(n, &n->udp6, AF_INET6)) != 0)
		return rc;
	return 0;
}

int dnsd_notify_start(dnsd_notify *n)
{
	if (!n)
		return -EINVAL;
	if (!n->nt)
		return 0;   /* nobody to tell: do not even look */
	return uv_timer_start(&n->tick, notify_tick, n->opts.interval_ms, n->opts.interval_ms);
}

void dnsd_notify_set_zones(dnsd_notify *n, const dnsd_zones *zones)
{
	if (!n || !zones)
		return;
	n->zones = zones;
	n->zones_gen++;
}

void dnsd_notify_close(dnsd_notify *n, void (*cb)(void *arg), void *arg)
{
	if (!n || ch_closedown_start(&n->cd, cb, arg) != 0)
		return;
	uv_timer_stop(&n->tick);
	uv_close((uv_handle_t *)&n->tick, notify_closed);
	if (n->udp4.loop && !uv_is_closing((uv_handle_t *)&n->udp4))
		uv_close((uv_handle_t *)&n->udp4, notify_closed);
	if (n->udp6.loop && !uv_is_closing((uv_handle_t *)&n->udp6))
		uv_close((uv_handle_t *)&n->udp6, notify_closed);
	/* Jobs still outstanding are dropped: the secondaries' refresh timer
	 * finds the serial in the end. */
	if (ch_closedown_release(&n->cd))
		notify_free(n);
}
