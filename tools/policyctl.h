/* policyctl: what its commands share. */
#ifndef POLICYCTL_H
#define POLICYCTL_H

#include <stdbool.h>
#include <stdio.h>

#include "policydb.h"

/* Exit codes: scripts branch on these, so they never change meaning. */
enum {
	CTL_OK = 0,     /* done; for check: allow */
	CTL_NO = 1,     /* check: deny or unknown */
	CTL_USAGE = 2,  /* bad arguments or bad input (file, name, value) */
	CTL_STORE = 3,  /* the store could not be opened, read or written */
};

struct ctl {
	const char *dir;      /* the store directory */
	const char *cmdline;  /* argv joined, for the audit log */
	const char *audit_key;   /* --audit-key FILE, or NULL */
	bool keyless;         /* ctl_open for writing leaves the audit key alone */
};

/* Print "policyctl: ..." to stderr. */
void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Open the store, saying why not on stderr.  Returns CTL_OK or CTL_STORE. */
int ctl_open(const struct ctl *c, unsigned flags, pdb_t **db);

/* Normalise a name typed on the command line; on failure say which name
 * and why, and return CTL_USAGE. */
int ctl_name(const char *in, char out[PDB_NAME_MAX + 1]);

/* Check that exactly n arguments follow the command's options (from
 * optind on); if not, say so and return CTL_USAGE. */
int ctl_nargs(int argc, char **argv, int first, int n);

/* A one-line progress bar on stderr, drawn only when stderr is a terminal,
 * so a pipe or log file never fills with carriage returns. */
struct progress {
	const char *label;
	bool on;
	int last;   /* last permille drawn */
};
void progress_init(struct progress *p, const char *label);
void progress_update(struct progress *p, size_t done, size_t total);
void progress_done(struct progress *p);

/* The audit key (cmd_audit.c).  ctl_audit_key_use: give a store opened
 * for writing its key, if the key file is there; CTL_STORE (said) for a
 * key file that cannot be used, or none for a keyed log.
 * ctl_audit_key_init: read the key, or make it when there is none (*made);
 * path receives its file name. */
int ctl_audit_key_use(const struct ctl *c, pdb_t *db);
int ctl_audit_key_init(const struct ctl *c, pdb_t *db, bool *made, char *path, size_t len);
/* history --verify: the exit code. */
int ctl_history_verify(const struct ctl *c);

/* Commands: argc/argv start at the command's own name. */
int cmd_init(struct ctl *c, int argc, char **argv);
int cmd_load(struct ctl *c, int argc, char **argv);
int cmd_export(struct ctl *c, int argc, char **argv);
int cmd_show(struct ctl *c, int argc, char **argv);
int cmd_list(struct ctl *c, int argc, char **argv);
int cmd_history(struct ctl *c, int argc, char **argv);
int cmd_check(struct ctl *c, int argc, char **argv);
int cmd_suspend(struct ctl *c, int argc, char **argv);
int cmd_resume(struct ctl *c, int argc, char **argv);
int cmd_set(struct ctl *c, int argc, char **argv);
int cmd_batch(struct ctl *c, int argc, char **argv);
int cmd_verify(struct ctl *c, int argc, char **argv);
int cmd_backup(struct ctl *c, int argc, char **argv);
int cmd_audit_key(struct ctl *c, int argc, char **argv);
int cmd_keygen(struct ctl *c, int argc, char **argv);
int cmd_export_table(struct ctl *c, int argc, char **argv);
int cmd_verify_table(struct ctl *c, int argc, char **argv);
int cmd_render_table(struct ctl *c, int argc, char **argv);
int cmd_tsig_keygen(struct ctl *c, int argc, char **argv);
int cmd_removed_grace(struct ctl *c, int argc, char **argv);

#endif
