/* Least privilege: who to become, and becoming it for good. */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "priv.h"

/* Buffer for getpwnam_r and getgrnam_r: large groups need more than
 * sysconf suggests, so it grows on ERANGE up to this. */
#define PRIV_BUF_MAX (1 << 20)

static bool priv__number(const char *s, unsigned long *out)
{
	char *end;

	if (!*s || strspn(s, "0123456789") != strlen(s))
		return false;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno == 0 && *out < (unsigned long)(uid_t)-1;
}

static int priv__user(const char *name, struct priv_ids *out, char *err, size_t errlen)
{
	struct passwd pw, *res = NULL;
	size_t cap = 4096;
	char *buf = NULL;
	unsigned long n;
	int rc;

	do {
		char *b = realloc(buf, cap);
		if (!b) {
			free(buf);
			return -ENOMEM;
		}
		buf = b;
		rc = priv__number(name, &n) ? getpwuid_r((uid_t)n, &pw, buf, cap, &res)
		                            : getpwnam_r(name, &pw, buf, cap, &res);
		cap *= 2;
	} while (rc == ERANGE && cap <= PRIV_BUF_MAX);
	if (rc == 0 && res) {
		out->uid = pw.pw_uid;
		out->gid = pw.pw_gid;
	}
	free(buf);
	if (rc != 0) {
		snprintf(err, errlen, "user: %s: %s", name, strerror(rc));
		return -rc;
	}
	if (!res) {
		snprintf(err, errlen, "user: %s: no such user", name);
		return -ENOENT;
	}
	return 0;
}

static int priv__group(const char *name, struct priv_ids *out, char *err, size_t errlen)
{
	struct group gr, *res = NULL;
	size_t cap = 4096;
	char *buf = NULL;
	unsigned long n;
	int rc;

	do {
		char *b = realloc(buf, cap);
		if (!b) {
			free(buf);
			return -ENOMEM;
		}
		buf = b;
		rc = priv__number(name, &n) ? getgrgid_r((gid_t)n, &gr, buf, cap, &res)
		                            : getgrnam_r(name, &gr, buf, cap, &res);
		cap *= 2;
	} while (rc == ERANGE && cap <= PRIV_BUF_MAX);
	if (rc == 0 && res)
		out->gid = gr.gr_gid;
	free(buf);
	if (rc != 0) {
		snprintf(err, errlen, "group: %s: %s", name, strerror(rc));
		return -rc;
	}
	if (!res) {
		snprintf(err, errlen, "group: %s: no such group", name);
		return -ENOENT;
	}
	return 0;
}

int priv_group(const char *name, gid_t *gid, char *err, size_t errlen)
{
	struct priv_ids ids;
	int rc;

	if (!name || !gid || !err)
		return -EINVAL;
	if ((rc = priv__group(name, &ids, err, errlen)) == 0)
		*gid = ids.gid;
	return rc;
}

int priv_lookup(const char *user, const char *group, struct priv_ids *out, char *err,
                size_t errlen)
{
	int rc;

	if (!out || !err)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!user) {
		if (!group)
			return 0;
		snprintf(err, errlen, "group: %s: needs user: too (a daemon started as root "
		         "changes both)", group);
		return -EINVAL;
	}
	if ((rc = priv__user(user, out, err, errlen)) != 0 ||
	    (group && (rc = priv__group(group, out, err, errlen)) != 0))
		return rc;
	if (out->uid == 0) {
		snprintf(err, errlen, "user: %s: is root; name an unprivileged user", user);
		return -EINVAL;
	}
	/* Group 0 owns much of the system's files: no drop either. */
	if (out->gid == 0) {
		snprintf(err, errlen, "group: %s: is root's group; name an unprivileged group",
		         group ? group : user);
		return -EINVAL;
	}
	snprintf(out->user, sizeof(out->user), "%s", user);
	if (group)
		snprintf(out->group, sizeof(out->group), "%s", group);
	else
		snprintf(out->group, sizeof(out->group), "%lu", (unsigned long)out->gid);
	out->set = true;
	return 0;
}

/* Empty the bounding set while still root: then not even an executed
 * set-user-ID program could hand a capability back.  A kernel or
 * container without CAP_SETPCAP refuses (EPERM): the set stays, but the
 * sets that count are emptied below all the same. */
static int priv__bounding(char *err, size_t errlen)
{
	for (unsigned long cap = 0; cap < 64; cap++) {
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0)
			break;   /* past the kernel's last capability */
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EPERM) {
			snprintf(err, errlen, "cannot drop capability %lu: %s", cap, strerror(errno));
			return -errno;
		}
	}
	return 0;
}

static int priv__become(const struct priv_ids *ids, char *err, size_t errlen)
{
	const char *step = "setgroups";

	if (setgroups(1, &ids->gid) != 0 ||
	    (step = "setgid", setgid(ids->gid)) != 0 ||
	    (step = "setuid", setuid(ids->uid)) != 0) {
		int e = errno;
		snprintf(err, errlen, "cannot become user %s, group %s: %s: %s", ids->user,
		         ids->group, step, strerror(e));
		return -e;
	}
	/* Prove it: a drop that could be undone is no drop. */
	if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0 || setegid(0) == 0) {
		snprintf(err, errlen, "after becoming user %s, root could be taken back", ids->user);
		return -EPERM;
	}
	return 0;
}

/* The raw calls: glibc has no wrapper, and libcap is not needed for
 * setting every set to zero. */
static int priv__clear_caps(char *err, size_t errlen)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	/* Ambient capabilities first: they would refill permitted on exec.
	 * EINVAL: a kernel before 4.3, which has none. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
		snprintf(err, errlen, "cannot clear the ambient capabilities: %s", strerror(errno));
		return -errno;
	}
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) != 0) {
		snprintf(err, errlen, "cannot clear the capabilities: %s", strerror(errno));
		return -errno;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		snprintf(err, errlen, "cannot set no_new_privs: %s", strerror(errno));
		return -errno;
	}
	/* Read back what the kernel holds, in case the call was filtered. */
	if (syscall(SYS_capget, &hdr, data) != 0)
		return -errno;
	for (unsigned i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		if (data[i].effective || data[i].permitted || data[i].inheritable) {
			snprintf(err, errlen, "capabilities remain after clearing them");
			return -EPERM;
		}
	}
	return 0;
}

int priv_drop(const struct priv_ids *ids, char *err, size_t errlen)
{
	int rc;

	if (!ids || !err)
		return -EINVAL;
	if (geteuid() == 0) {
		if (!ids->set)
			return 1;
		if ((rc = priv__bounding(err, errlen)) != 0 ||
		    (rc = priv__become(ids, err, errlen)) != 0)
			return rc;
	} else if (ids->set && (getuid() != ids->uid || geteuid() != ids->uid ||
	                        getgid() != ids->gid || getegid() != ids->gid)) {
		snprintf(err, errlen, "cannot become user %s, group %s: only a daemon started as "
		         "root can change its user", ids->user, ids->group);
		return -EPERM;
	}
	return priv__clear_caps(err, errlen);
}
