/* The epoch: what the newest policy serial implies, kept up to date from
 * the journal, and what it takes for a cached answer to still hold.
 *
 * A commit used to empty the whole cache, since the key held the serial.
 * Now an answer records the serial it was rendered at and the members it
 * read (the one its name speaks for, and in a view the querier), and the
 * epoch records, per member, the last serial that changed it (its record,
 * or an override it is in), and the last serial that may change any
 * answer at all: the community settings, the views, a commit too large
 * for the journal, a reload.  An answer holds while none of these is
 * newer than it.  An answer that carries the community zone's SOA, whose
 * serial is the served serial, holds only until that moves: the next
 * commit, or a time event (a not-after, a grace end) passing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The changed-member table: open addressing on the name's hash, at most
 * half full.  It starts small and doubles as members change, up to
 * CHANGED_SLOTS; when that fills, it is emptied and everything counts as
 * changed: one flush per CHANGED_SLOTS / 2 members changed.  A few commits
 * cost a few KB, not the 2 MB of the largest table, in every thread. */
#define CHANGED_SLOTS (1u << 17)
#define CHANGED_FIRST (1u << 10)

uint64_t dnsd__name_key(const char *name)
{
	return pdb_fnv1a64(name, strlen(name)) | 1;   /* 0 marks an empty slot */
}

/* Emptied, its memory given back: it grows again with what changes. */
static void changed_clear(struct dnsd__changed *t)
{
	dnsd__changed_free(t);
}

void dnsd__changed_free(struct dnsd__changed *t)
{
	free(t->slot);
	memset(t, 0, sizeof(*t));
}

static size_t changed_slots(const struct dnsd__changed *t)
{
	return t->span / sizeof(*t->slot) + 1;
}

/* The slot of key, or the empty one where it would go.  Offsets in bytes
 * (the hash's bits 7 and up pick the slot), so that a probe is an add, an
 * and and a load: this runs for every cached answer after a commit. */
static inline struct dnsd__changed_slot *changed_find(const struct dnsd__changed *t,
                                                      uint64_t key)
{
	const char *v = (const char *)t->slot;
	size_t m = t->span, off = (size_t)(key >> 3) & m;

	for (;; off = (off + sizeof(*t->slot)) & m) {
		struct dnsd__changed_slot *s = (struct dnsd__changed_slot *)(v + off);
		if (!s->key || s->key == key)
			return s;
	}
}

/* Twice the slots (or the first ones), the entries moved over. */
static int changed_grow(struct dnsd__changed *t)
{
	size_t cap = t->slot ? 2 * changed_slots(t) : CHANGED_FIRST;
	struct dnsd__changed n = { .span = (cap - 1) * sizeof(*n.slot), .n = t->n };

	if (!(n.slot = calloc(cap, sizeof(*n.slot))))
		return -ENOMEM;
	for (size_t i = 0; t->slot && i < changed_slots(t); i++)
		if (t->slot[i].key)
			*changed_find(&n, t->slot[i].key) = t->slot[i];
	dnsd__changed_free(t);
	*t = n;
	return 0;
}

/* Two names of one hash share a slot: each then counts as changed when
 * the other is, which costs a render and never serves a stale answer. */
static int changed_mark(struct dnsd__changed *t, uint64_t key, uint64_t serial)
{
	struct dnsd__changed_slot *s;
	int rc;

	if (!t->slot && (rc = changed_grow(t)) != 0)
		return rc;
	s = changed_find(t, key);
	if (!s->key) {
		if (t->n >= changed_slots(t) / 2) {
			if (changed_slots(t) >= CHANGED_SLOTS)
				return -ENOSPC;
			if ((rc = changed_grow(t)) != 0)
				return rc;
			s = changed_find(t, key);
		}
		s->key = key;
		t->n++;
	}
	s->serial = serial;
	return 0;
}

/* The last serial that changed the member of key, or 0 if none since the
 * table was last emptied (when everything counted as changed). */
static uint64_t changed_at(const struct dnsd__changed *t, uint64_t key)
{
	return t->slot ? changed_find(t, key)->serial : 0;
}

static int note_change(void *arg, const struct pdb_change *c)
{
	struct dnsd_epoch *ep = arg;
	int rc = 0;

	switch (c->kind) {
	case PDB_CHANGE_MEMBER:
		rc = changed_mark(&ep->changed, dnsd__name_key(c->name), c->serial);
		break;
	case PDB_CHANGE_OVERRIDE:
		/* The pair's decision: answers about either in the other's view. */
		if ((rc = changed_mark(&ep->changed, dnsd__name_key(c->name), c->serial)) == 0)
			rc = changed_mark(&ep->changed, dnsd__name_key(c->other), c->serial);
		break;
	case PDB_CHANGE_COMMUNITY:
		ep->all_serial = c->serial;
		break;
	}
	return rc;
}

/* Everything counts as changed at serial. */
static void changed_all(struct dnsd_epoch *ep, uint64_t serial)
{
	changed_clear(&ep->changed);
	ep->all_serial = serial;
	memset(ep->memo, 0, sizeof(ep->memo));
}

static int community_copy(dnsd_engine *e)
{
	struct dnsd_epoch *ep = &e->epoch;
	struct pdb_community tmp;
	size_t len;
	int rc;

	ep->have_c = false;
	ep->community = NULL;
	rc = pdb_get_community(e->txn, &tmp);
	if (rc == PDB_ENOTFOUND)
		return 0;
	if (rc != 0 || (rc = pdb_community_encode(&tmp, ep->cbuf, sizeof(ep->cbuf), &len)) != 0 ||
	    (rc = pdb_community_decode(ep->cbuf, len, &ep->c)) != 0)
		return rc;
	char zone[PDB_NAME_MAX + 1];
	snprintf(zone, sizeof(zone), "%.*s", ep->c.zone.len, ep->c.zone.p);
	ep->community = dnsd__zone_by_name(e->zones, zone);
	ep->have_c = true;
	return 0;
}

int dnsd__epoch_refresh(dnsd_engine *e, uint64_t serial)
{
	struct dnsd_epoch *ep = &e->epoch;
	int rc;

	if (ep->serial == serial && ep->zones_gen == e->zones_gen)
		return 0;
	if (!ep->serial || ep->zones_gen != e->zones_gen || serial < ep->serial)
		changed_all(ep, serial);
	else if ((rc = pdb_changes_since(e->txn, ep->serial, note_change, ep)) != 0)
		/* Too old for the journal, too many names for the table, or a
		 * walk that failed half way: nothing is known to hold. */
		changed_all(ep, serial);
	ep->serial = 0;
	/* The views follow on first use (dnsd__views_build). */
	ep->views_built = false;
	if ((rc = community_copy(e)) != 0)
		return rc;
	/* The grace decides removed members' answers, whoever they are. */
	uint32_t grace = ep->grace;
	if ((rc = pdb_removed_grace(e->txn, &ep->grace)) != 0)
		return rc;
	if (grace != ep->grace)
		changed_all(ep, serial);
	ep->serial = serial;
	ep->zones_gen = e->zones_gen;
	return 0;
}

void dnsd__epoch_views_moved(struct dnsd_epoch *ep)
{
	ep->all_serial = ep->serial;
	memset(ep->memo, 0, sizeof(ep->memo));
}

bool dnsd__epoch_holds(const struct dnsd_epoch *ep, const struct dnsd_cache_deps *d)
{
	if (d->serial < ep->all_serial || (d->all && (d->serial != ep->serial ||
	                                              d->served != ep->served)))
		return false;
	for (unsigned i = 0; i < d->n; i++)
		if (changed_at(&ep->changed, d->names[i]) > d->serial)
			return false;
	return true;
}

void dnsd__query_depends(struct dnsd_query *x, const char *member)
{
	uint64_t key = dnsd__name_key(member);

	for (unsigned i = 0; i < x->deps.n; i++)
		if (x->deps.names[i] == key)
			return;
	if (x->deps.n < DNSD_DEPS_NAMES)
		x->deps.names[x->deps.n++] = key;
	else
		x->deps.all = true;
}

void dnsd__query_depends_all(struct dnsd_query *x)
{
	x->deps.all = true;
}
