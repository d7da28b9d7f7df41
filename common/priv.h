/* Least privilege for the daemons: bind as root (or with the capability
 * CAP_NET_BIND_SERVICE), then run as an ordinary user with no capability.
 *
 * The order is: priv_lookup() while reading the settings (a bad name is a
 * configuration error, found before anything is opened), bind every port,
 * priv_drop() before any second thread starts (capabilities are per
 * thread), then check that what the daemon opens later can still be
 * opened. */
#ifndef CH_PRIV_H
#define CH_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* What a daemon says after "cannot bind ADDR: permission denied; ". */
#define PRIV_BIND_HINT "start as root with user: set, or give CAP_NET_BIND_SERVICE"

/* The user and group to run as, looked up once. */
struct priv_ids {
	bool set;            /* false: no user: given, nothing to change to */
	uid_t uid;
	gid_t gid;
	char user[64];       /* the names, for messages */
	char group[64];
};

/** Look up user and group (names, or decimal ids), either may be NULL.
 * Without group, the user's primary group is taken; a group without a
 * user is refused, as are the user root (uid 0), which would drop nothing,
 * and the group root (gid 0), which owns much of the system.
 * Returns 0 with *out filled (out->set false when user is NULL), or
 * -EINVAL (out NULL, a group without a user, root), -ENOENT (no such user
 * or group), another negative errno from the user database; every error
 * comes with a sentence in err ("user: NAME: no such user"). */
int priv_lookup(const char *user, const char *group, struct priv_ids *out, char *err,
                size_t errlen);

/** Look up group name (or a decimal id) alone, for a tool that gives files
 * to a group.  Returns 0 with *gid, or -EINVAL, -ENOENT (no such group),
 * another negative errno, with a sentence in err ("group: NAME: ..."). */
int priv_group(const char *name, gid_t *gid, char *err, size_t errlen);

/** Give up privileges for good, in the calling thread and the process:
 * - started as root with ids set: empty the capability bounding set,
 *   become ids (supplementary groups: ids->gid alone), then make sure that
 *   neither uid nor gid 0 can be taken back;
 * - started as another user: ids, if set, must be that user and group
 *   already (under a service manager that starts it as the user);
 * then, in both cases, clear every capability (effective, permitted,
 * inheritable, ambient: CAP_NET_BIND_SERVICE is only needed to bind) and
 * set no_new_privs, so no executed program can gain any.
 * Call it before starting threads: capabilities belong to a thread, and
 * only threads created afterwards inherit the empty sets.
 * Returns 0 when dropped, 1 when started as root without ids (nothing is
 * changed: the caller says that it runs as root), or a negative errno with
 * a sentence in err: -EINVAL (ids NULL), -EPERM (ids set but not root and
 * not those ids; or root could be regained), another negative errno from
 * setgroups(), setgid(), setuid(), prctl() or capset(). */
int priv_drop(const struct priv_ids *ids, char *err, size_t errlen);

#endif
