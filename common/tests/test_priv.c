/* Least privilege: looking up who to become, and becoming it for good
 * (in a child, since it cannot be undone). */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "priv.h"

static void test_lookup_user_takes_its_own_group(void **state)
{
	struct passwd *pw = getpwnam("nobody");
	struct priv_ids ids;
	char err[256];

	(void)state;
	if (!pw)
		skip();
	assert_int_equal(priv_lookup("nobody", NULL, &ids, err, sizeof(err)), 0);
	assert_true(ids.set);
	assert_int_equal(ids.uid, pw->pw_uid);
	assert_int_equal(ids.gid, pw->pw_gid);
	/* By number, and a group other than the user's own. */
	struct group *gr = getgrnam("nogroup");
	char uid[32];
	if (!gr)
		skip();
	snprintf(uid, sizeof(uid), "%u", (unsigned)pw->pw_uid);
	assert_int_equal(priv_lookup(uid, "nogroup", &ids, err, sizeof(err)), 0);
	assert_int_equal(ids.uid, pw->pw_uid);
	assert_int_equal(ids.gid, gr->gr_gid);
}

static void test_lookup_refuses_what_drops_nothing(void **state)
{
	struct priv_ids ids;
	char err[256];
	gid_t gid;

	(void)state;
	assert_int_equal(priv_lookup(NULL, NULL, &ids, err, sizeof(err)), 0);
	assert_false(ids.set);
	assert_int_equal(priv_lookup(NULL, "nogroup", &ids, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "group: nogroup: needs user: too"));
	assert_int_equal(priv_lookup("root", NULL, &ids, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "is root"));
	assert_int_equal(priv_lookup("nobody", "0", &ids, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "group: 0: is root's group; name an unprivileged group");
	assert_int_equal(priv_lookup("no-such-user-at-all", NULL, &ids, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "user: no-such-user-at-all: no such user");
	assert_int_equal(priv_group("no-such-group-at-all", &gid, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "group: no-such-group-at-all: no such group");
	assert_int_equal(priv_group("0", &gid, err, sizeof(err)), 0);
	assert_int_equal(gid, 0);
}

/* What the child checks after priv_drop(); its exit code says which
 * check failed. */
static int child_drop(const struct priv_ids *ids)
{
	char err[256];

	if (priv_drop(ids, err, sizeof(err)) != 0)
		return 1;
	if (getuid() != ids->uid || geteuid() != ids->uid || getgid() != ids->gid)
		return 2;
	if (setuid(0) == 0 || setgid(0) == 0)
		return 3;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return 4;
	if (prctl(PR_CAPBSET_READ, 0, 0, 0, 0) > 0)   /* CAP_CHOWN: gone from the bounding set */
		return 5;
	/* Once dropped, dropping to another user is refused. */
	struct priv_ids other = *ids;
	other.uid = ids->uid + 1;
	if (priv_drop(&other, err, sizeof(err)) != -EPERM)
		return 6;
	return 0;
}

static void test_drop_is_for_good(void **state)
{
	struct priv_ids ids;
	char err[256];
	int st;

	(void)state;
	if (geteuid() != 0 || priv_lookup("nobody", NULL, &ids, err, sizeof(err)) != 0)
		skip();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_drop(&ids));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_root_without_user_is_left_alone(void **state)
{
	struct priv_ids ids = { 0 };
	char err[256];

	(void)state;
	if (geteuid() != 0)
		skip();
	assert_int_equal(priv_drop(&ids, err, sizeof(err)), 1);
	assert_int_equal(geteuid(), 0);
	assert_int_equal(priv_drop(NULL, err, sizeof(err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup_user_takes_its_own_group),
		cmocka_unit_test(test_lookup_refuses_what_drops_nothing),
		cmocka_unit_test(test_drop_is_for_good),
		cmocka_unit_test(test_root_without_user_is_left_alone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
