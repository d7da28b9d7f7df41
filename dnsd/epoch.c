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
	free(t->key);
	free(t->serial);
	memset(t, 0, sizeof(*t));
}

static size_t changed_slot(const struct dnsd__changed *t, uint64_t key)
{
	size_t i, mask = t->cap - 1;

	for (i = (size_t)(key >> 7) & mask; t->key[i] && t->key[i] != key; i = (i + 1) & mask)
		;
	return i;
}

/* Twice the slots (or the first ones), the entries moved over. */
static int changed_grow(struct dnsd__changed *t)
{
	struct dnsd__changed n = { .cap = t->cap ? 2 * t->cap : CHANGED_FIRST, .n = t->n };

	n.key = calloc(n.cap, sizeof(*n.key));
	n.serial = malloc(n.cap * sizeof(*n.serial));
	if (!n.key || !n.serial) {
		dnsd__changed_free(&n);
		return -ENOMEM;
	}
	for (size_t i = 0; i < t->cap; i++) {
		if (!t->key[i])
			continue;
		size_t j = changed_slot(&n, t->key[i]);
		n.key[j] = t->key[i];
		n.serial[j] = t->serial[i];
	}
	dnsd__changed_free(t);
	*t = n;
	return 0;
}

/* Two names of one hash share a slot: each then counts as changed when
 * the other is, which costs a render and never serves a stale answer. */
static int changed_mark(struct dnsd__changed *t, uint64_t key, uint64_t serial)
{
	size_t i;
	int rc;

	if (!t->key && (rc = changed_grow(t)) != 0)
		return rc;
	i = changed_slot(t, key);
	if (!t->key[i]) {
		if (t->n >= t->cap / 2) {
			if (t->cap >= CHANGED_SLOTS)
				return -ENOSPC;
			if ((rc = changed_grow(t)) != 0)
				return rc;
			i = changed_slot(t, key);
		}
		t->key[i] = key;
		t->n++;
	}
	t->serial[i] = serial;
	return 0;
}

/* The last serial that changed the member of key, or 0 if none since the
 * table was last emptied (when everything counted as changed). */
static uint64_t changed_at(const struct dnsd__changed *t, uint64_t key)
{
	if (!t->key)
		return 0;
	size_t i = changed_slot(t, key);
	return t->key[i] ? t->serial[i] : 0;
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
	/* Nothing changed one by one since everything last did. */
	if (!ep->changed.n)
		return true;
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
