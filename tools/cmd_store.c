/* policyctl verify and backup: the store as a file, for operators who must
 * know whether it is sound and keep a copy that is. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "policyctl.h"

/* The child tells the parent, through a pipe, which database it is about
 * to walk: if LMDB faults on a damaged page, the parent can say where. */
struct verify_child {
	int fd;
	const char *dir;
};

static void verify_at(void *arg, const char *db)
{
	const struct verify_child *vc = arg;
	char line[64];
	int n = snprintf(line, sizeof(line), "%s\n", db);

	if (n > 0 && write(vc->fd, line, (size_t)n) != n) {
		/* The parent reads until the child ends; a lost note only
		 * makes a fault's report less precise. */
	}
}

static void verify_damage(void *arg, const char *db, const char *key, const char *why)
{
	const struct verify_child *vc = arg;

	ctl_err("%s: store damaged: %s database%s%s: %s", vc->dir, db, *key ? ", key " : "", key, why);
}

/* The walk itself, in the child.  Exit code as policyctl's. */
static int verify_walk(const struct ctl *c, int fd)
{
	struct verify_child vc = { fd, c->dir };
	struct pdb_verify_cb cb = { verify_at, verify_damage, &vc };
	size_t records = 0;
	pdb_t *db;
	int rc;

	if ((rc = ctl_open(c, PDB_RDONLY, &db)) != CTL_OK)
		return rc;
	rc = pdb_verify(db, &cb, &records);
	pdb_close(db);
	if (rc == PDB_ECORRUPT) {
		ctl_err("%s: store damaged (restore it from a backup: see 'policyctl backup --help')",
		        c->dir);
		return CTL_STORE;
	}
	if (rc != 0) {
		ctl_err("%s: %s", c->dir, pdb_strerror(rc));
		return CTL_STORE;
	}
	printf("%s: store sound: %zu records walked\n", c->dir, records);
	return fflush(stdout) == 0 ? CTL_OK : CTL_STORE;
}

int cmd_verify(struct ctl *c, int argc, char **argv)
{
	char buf[64], where[64] = "";
	size_t have = 0;
	int fds[2], rc, status;
	pid_t pid;

	if ((rc = ctl_nargs(argc, argv, 1, 0)) != CTL_OK)
		return rc;
	fflush(stdout);
	if (pipe(fds) != 0 || (pid = fork()) < 0) {
		ctl_err("verify: %s", strerror(errno));
		return CTL_STORE;
	}
	if (pid == 0) {
		/* A fault in the walk is what the parent reports: let it end the
		 * child plainly, past any handler a sanitizer or debugger put
		 * there, which would report it as a bug of ours. */
		struct sigaction dfl = { .sa_handler = SIG_DFL };
		sigaction(SIGSEGV, &dfl, NULL);
		sigaction(SIGBUS, &dfl, NULL);
		close(fds[0]);
		rc = verify_walk(c, fds[1]);
		fflush(stdout);
		_exit(rc);
	}
	close(fds[1]);
	/* Keep the last line the child wrote: the database it was in. */
	for (;;) {
		ssize_t n = read(fds[0], buf + have, sizeof(buf) - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		char *nl;
		while ((nl = strchr(buf, '\n')) != NULL) {
			*nl = '\0';
			memcpy(where, buf, sizeof(where));
			have -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, have + 1);
		}
		if (have == sizeof(buf) - 1)
			have = 0;
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			ctl_err("verify: %s", strerror(errno));
			return CTL_STORE;
		}
	}
	if (WIFSIGNALED(status)) {
		ctl_err("%s: store damaged: reading the %s%s faulted (%s) inside LMDB; "
		        "restore it from a backup", c->dir, *where ? where : "store",
		        *where ? " database" : "", strsignal(WTERMSIG(status)));
		return CTL_STORE;
	}
	/* Anything but policyctl's own codes is a walk that did not end
	 * its own way: a sanitizer's report of a fault, for one. */
	if (!WIFEXITED(status) || (WEXITSTATUS(status) != CTL_OK && WEXITSTATUS(status) != CTL_USAGE &&
	                           WEXITSTATUS(status) != CTL_STORE)) {
		ctl_err("%s: store damaged: reading the %s%s ended abnormally (exit %d); "
		        "restore it from a backup", c->dir, *where ? where : "store",
		        *where ? " database" : "", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return CTL_STORE;
	}
	return WEXITSTATUS(status);
}

int cmd_backup(struct ctl *c, int argc, char **argv)
{
	pdb_t *db;
	int rc;

	if ((rc = ctl_nargs(argc, argv, 1, 1)) != CTL_OK)
		return rc;
	if ((rc = ctl_open(c, PDB_RDONLY, &db)) != CTL_OK)
		return rc;
	rc = pdb_backup(db, argv[1]);
	pdb_close(db);
	if (rc == -EEXIST) {
		ctl_err("%s: already exists; a backup never replaces a file", argv[1]);
		return CTL_USAGE;
	}
	if (rc != 0) {
		/* An errno is about FILE here, not the store: pdb_strerror's
		 * words for -ENOSPC speak of the store's device. */
		ctl_err("%s: no backup written: %s", argv[1], rc > -1000 ? strerror(-rc) : pdb_strerror(rc));
		return CTL_STORE;
	}
	printf("backed up %s to %s\n", c->dir, argv[1]);
	return CTL_OK;
}
