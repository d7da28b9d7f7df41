/* The owner map of direct-TLS relay: which member a peer address belongs
 * to, followed from commit to commit (addresses added, moved between
 * members, members removed) without being built again. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fixtures.h"
#include "internal.h"

static char path[256];
static pdb_t *db;

static int setup(void **state)
{
	(void)state;
	db = fixture_store_new(path, sizeof(path), "xmppd-owners");
	return db ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return fixture_store_remove(db, path);
}

struct put {
	const char *name;
	const char *addr;     /* NULL: none; "-": remove the member */
	int level;
};

static int apply(pdb_wtxn *w, void *arg)
{
	const struct put *p = arg;
	struct pdb_member m;
	int rc;

	for (; p->name; p++) {
		if (p->addr && !strcmp(p->addr, "-")) {
			if ((rc = pdb_w_del_member(w, p->name)) != 0)
				return rc;
			continue;
		}
		fixture_member(&m, (uint8_t)p->level, NULL, NULL);
		if (p->addr && (rc = pdb_addr_parse(p->addr, false, &m.addrs[m.naddrs++])) != 0)
			return rc;
		if ((rc = pdb_w_put_member(w, p->name, &m)) != 0)
			return rc;
	}
	return 0;
}

static void commit(const struct put *p)
{
	assert_int_equal(pdb_write(db, "test", apply, (void *)p, NULL), 0);
}

/* The owner of 192.0.2.x, or "" for none. */
static const char *owner(xmppd__owners *o, uint8_t x)
{
	static char name[PDB_NAME_MAX + 1];
	const uint8_t addr[4] = { 192, 0, 2, x };
	int rc = xmppd__owner_of(o, db, 4, addr, name);

	if (rc == PDB_ENOTFOUND)
		return "";
	assert_int_equal(rc, 0);
	return name;
}

static void test_owner_follows_address_moves_between_commits(void **state)
{
	const struct put first[] = { { "a.example", "192.0.2.1", 1 }, { "b.example", "192.0.2.2", 1 },
	                             { NULL, NULL, 0 } };
	const struct put move[] = { { "a.example", "192.0.2.2", 1 }, { "b.example", "192.0.2.3", 1 },
	                            { NULL, NULL, 0 } };
	const struct put level[] = { { "b.example", "192.0.2.3", 2 }, { NULL, NULL, 0 } };
	const struct put gone[] = { { "a.example", "-", 0 }, { "c.example", "192.0.2.1", 1 },
	                            { NULL, NULL, 0 } };
	xmppd__owners *o;

	(void)state;
	assert_int_equal(xmppd__owners_new(&o), 0);
	commit(first);
	assert_string_equal(owner(o, 1), "a.example");
	assert_string_equal(owner(o, 2), "b.example");
	assert_string_equal(owner(o, 3), "");
	/* 192.0.2.2 passes from b to a in one commit: never both, never none. */
	commit(move);
	assert_string_equal(owner(o, 1), "");
	assert_string_equal(owner(o, 2), "a.example");
	assert_string_equal(owner(o, 3), "b.example");
	commit(level);
	assert_string_equal(owner(o, 3), "b.example");
	/* A removed member's address is free, and taken by another. */
	commit(gone);
	assert_string_equal(owner(o, 2), "");
	assert_string_equal(owner(o, 1), "c.example");
	xmppd__owners_free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_owner_follows_address_moves_between_commits, setup,
		                                teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
