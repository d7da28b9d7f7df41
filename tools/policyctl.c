/* policyctl: load, edit, inspect and explain the clearinghouse policy.
 * This file holds what every command shares: options, help, the store
 * directory, errors and the progress bar. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policyctl.h"

#define DB_ENV "CLEARINGHOUSE_DB"

struct command {
	const char *name;
	int (*run)(struct ctl *c, int argc, char **argv);
	const char *usage;
	const char *help;
};

static const struct command commands[] = {
	{ "init", cmd_init, "init [--group GROUP]",
	  "Create an empty policy store in the store directory (made if missing),\n"
	  "and its audit key (see --audit-key) if there is none yet; the audit log\n"
	  "is keyed from its first entry.  Fails if a store is already there,\n"
	  "unless --group is given.\n"
	  "  --group GROUP  give the store to GROUP, the group of policyctl's users\n"
	  "                 and of the daemons (their group: setting): the directory\n"
	  "                 mode 2770, data.mdb and lock.mdb 0660, all group GROUP;\n"
	  "                 others get no access.  On an existing store, only this.\n"
	  "                 The daemons open data.mdb read-only but must write\n"
	  "                 lock.mdb (LMDB's reader table).  Needs root, or an owner\n"
	  "                 who is in GROUP." },
	{ "load", cmd_load, "load [--dry-run] FILE",
	  "Replace the whole policy with the policy file FILE (YAML), in one\n"
	  "transaction: readers see either the old policy or the new, never a mix.\n"
	  "A file with any error changes nothing.\n"
	  "  --dry-run   print what would change (+ added, - removed, ~ changed)\n"
	  "              and write nothing" },
	{ "export", cmd_export, "export [--json]",
	  "Print the policy as a policy file that 'load' reads back unchanged.\n"
	  "  --json      the same content as JSON" },
	{ "show", cmd_show, "show NAME",
	  "Print one member as its entry in the policy file." },
	{ "list", cmd_list, "list",
	  "One line per member: name, level, status, not-after, tags." },
	{ "history", cmd_history, "history [-n N] [--verify]",
	  "The audit log: serial, time, user, command and what changed.  The user\n"
	  "is the name of the writer's real uid, with its login uid when the system\n"
	  "keeps one, and SUDO_USER as claimed (anyone can set that).\n"
	  "  -n N        only the newest N entries\n"
	  "  --verify    check the log instead of printing it: every entry's link\n"
	  "              to the one before (SHA-256), and with the audit key every\n"
	  "              entry's MAC and the log's head, so that an entry rewritten,\n"
	  "              dropped or moved, or a tail cut off, is named on stderr.\n"
	  "              Exit 0 intact, 1 not intact, 3 the key is missing for a\n"
	  "              keyed log, or is another key.  Not detectable: changes by\n"
	  "              someone holding the key, and the whole store put back to an\n"
	  "              older copy of itself" },
	{ "check", cmd_check, "check [--at TIME] A B",
	  "Decide whether A and B may federate.  The first word printed is allow,\n"
	  "deny or unknown, then the rule that fired and why; the second line\n"
	  "gives the targets A is sent to for B.  Exit 0 for allow, 1 otherwise.\n"
	  "  --at TIME   decide as of a date (2027-01-31) or instant\n"
	  "              (2027-01-31T12:00:00Z) instead of now" },
	{ "suspend", cmd_suspend, "suspend NAME",
	  "Set a member's status to suspended: every decision about it denies." },
	{ "resume", cmd_resume, "resume NAME",
	  "Set a suspended member's status back to active.  A revoked member is\n"
	  "reinstated only with 'set NAME status active', on purpose." },
	{ "set", cmd_set, "set NAME KEY VALUE",
	  "Change one key of a member, written as in the policy file, e.g.\n"
	  "  set alpha.fed.example level 3\n"
	  "  set alpha.fed.example tags '[industry:finance, auth:pki]'\n"
	  "  set alpha.fed.example not-after 2027-12-31\n"
	  "  set alpha.fed.example min-peer-level 2" },
	{ "removed-grace", cmd_removed_grace, "removed-grace [SECONDS]",
	  "Print, or set, how long dnsd goes on answering a removed member's\n"
	  "delegated names (its _xmpp-server._tcp and _xmpps-server._tcp zones)\n"
	  "after its removal: 0 to 7776000 seconds (90 days), default 604800 (a\n"
	  "week).  A store setting, so that the end of each grace is known to the\n"
	  "store and moves the SOA serial when it comes; dnsd follows it." },
	{ "batch", cmd_batch, "batch [FILE|-]",
	  "Apply many edits, one a line, from FILE or standard input (-, the\n"
	  "default), in one commit: one serial, one audit entry, all or nothing.\n"
	  "A line is one of\n"
	  "  set NAME KEY VALUE         as 'set' (VALUE is the rest of the line)\n"
	  "  suspend NAME               as 'suspend'\n"
	  "  resume NAME                as 'resume'\n"
	  "  override NAME NAME allow|deny|none   set or remove a pair's override\n"
	  "Blank lines and lines starting with # are skipped.  An edit that\n"
	  "changes nothing (suspend of a suspended member) is skipped; one that\n"
	  "is refused (no such member, a bad value) writes nothing and names\n"
	  "its line.  Prints the serial and how many edits changed something." },
	{ "verify", cmd_verify, "verify",
	  "Walk the whole store: the free list, every database and every record,\n"
	  "each decoded and checked as dnsd and xmppd read it.  LMDB keeps no\n"
	  "checksums, and a damaged page can crash a reader: the walk runs in a\n"
	  "child process, so that even then this prints 'store damaged' and where.\n"
	  "Exit 0 for a sound store, 3 for a damaged one (each damaged record is\n"
	  "named on stderr) or one that cannot be opened.  Safe while the daemons\n"
	  "and writers run: it reads one snapshot." },
	{ "backup", cmd_backup, "backup FILE",
	  "Write a consistent, compacted copy of the store (one snapshot, without\n"
	  "free pages) to the new file FILE, mode 0600: a data.mdb.  Safe while the\n"
	  "daemons and writers run.  FILE must not exist; it appears only once the\n"
	  "whole copy is on disk.  Exit 2 if FILE exists, 3 on a store or write error.\n"
	  "To restore: stop every process that uses the store (dnsd, xmppd, writers),\n"
	  "check the copy with 'policyctl --db DIR verify' after placing it as\n"
	  "DIR/data.mdb in an empty directory, then replace the store's data.mdb by\n"
	  "it, remove the store's lock.mdb, and start the daemons (README: Restore)." },
	{ "audit-key", cmd_audit_key, "audit-key",
	  "Key the audit log of a store made without a key (init makes one): make\n"
	  "the audit key file (see --audit-key; mode 0640), or use the one there,\n"
	  "and commit an entry keyed with it.  From then on every command that\n"
	  "writes needs the key, and 'history --verify' checks each entry's MAC." },
	{ "keygen", cmd_keygen, "keygen [--type ed25519|p256] --out PREFIX",
	  "Make a key pair for signing policy tables: PREFIX.key (private, mode\n"
	  "0600, stays on the clearinghouse) and PREFIX.pub (what members install).\n"
	  "Neither file may exist.  Ed25519 by default; p256 is ECDSA P-256." },
	{ "export-table", cmd_export_table,
	  "export-table --sign KEY --out TABLE [--sig FILE] [--valid-days N]",
	  "Write the policy table (JSON: every member's level, tags and status,\n"
	  "the named levels, the serial, when it was made and when it expires) to\n"
	  "TABLE and its detached signature to TABLE.sig, each replaced whole.\n"
	  "  --valid-days N   how long members may use it (7)\n"
	  "  --sig FILE       the signature elsewhere than TABLE.sig" },
	{ "verify-table", cmd_verify_table,
	  "verify-table --pubkey PUB [--sig FILE] [--state FILE] TABLE",
	  "Check a policy table as a member does before using it.  Exit 0 only\n"
	  "for an intact table signed by PUB, not expired, and not older than the\n"
	  "last one accepted; otherwise exit 1 saying which.  The serial accepted\n"
	  "is kept in TABLE.accepted, or --state FILE.  Needs no store." },
	{ "render-table", cmd_render_table,
	  "render-table --pubkey PUB --for DOMAIN --local-policy FILE\n"
	  "               --format prosody|ejabberd|list --out FILE [--sig F] [--state F] TABLE",
	  "Verify TABLE (as verify-table), apply DOMAIN's own service policy from\n"
	  "FILE (min-peer-level, require-tags, forbid-tags, allow, deny; YAML) and\n"
	  "write the peers it accepts, replacing FILE whole, as\n"
	  "  prosody    mod_firewall rules (firewall_scripts in DOMAIN's VirtualHost)\n"
	  "  ejabberd   an acl and s2s_access block (include_config_file)\n"
	  "  list       one domain a line\n"
	  "Nothing is written when the table or the local policy is refused." },
	{ "tsig-keygen", cmd_tsig_keygen, "tsig-keygen [--algorithm hmac-sha256|hmac-sha512] NAME",
	  "Print a new random TSIG key NAME (32 bytes for hmac-sha256, the default;\n"
	  "64 for hmac-sha512) for zone transfers and NOTIFY between dnsd and its\n"
	  "secondaries, in four forms: dnsd's keys: entry, Knot DNS's key: section,\n"
	  "NSD's key: clause and BIND's key statement.  Paste each where it belongs\n"
	  "and keep the output secret; nothing is written.  Needs no store." },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: policyctl [--db DIR] [--audit-key FILE] COMMAND [ARGS]\n"
	        "\n"
	        "The store directory is --db DIR, or $" DB_ENV ".\n"
	        "The audit key is --audit-key FILE, or $CLEARINGHOUSE_AUDIT_KEY, or else\n"
	        "DIR.audit-key beside the store directory (outside it, on purpose).\n"
	        "\n"
	        "commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %s\n", commands[i].usage);
	fprintf(out,
	        "\n"
	        "'policyctl COMMAND --help' tells more about one command.\n"
	        "exit: 0 ok (check: allow), 1 check: deny or unknown, 2 bad usage or\n"
	        "input, 3 store error\n");
}

static void command_help(const struct command *cmd)
{
	printf("usage: policyctl [--db DIR] %s\n\n%s\n", cmd->usage, cmd->help);
}

void ctl_err(const char *fmt, ...)
{
	va_list ap;

	fputs("policyctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int ctl_open(const struct ctl *c, unsigned flags, pdb_t **db)
{
	int rc;

	if (!c->dir || !*c->dir) {
		ctl_err("no store directory: give --db DIR or set " DB_ENV);
		return CTL_USAGE;
	}
	rc = pdb_open(c->dir, flags, NULL, db);
	if (rc == 0 && !(flags & (PDB_RDONLY | PDB_CREATE)) && !c->keyless &&
	    ctl_audit_key_use(c, *db) != CTL_OK) {
		pdb_close(*db);
		return CTL_STORE;
	}
	if (rc == 0)
		return CTL_OK;
	if (rc == -ENOENT && (flags & PDB_CREATE))
		ctl_err("%s: cannot create it: its parent directory does not exist", c->dir);
	else if (rc == -ENOENT)
		ctl_err("%s: no policy store there (run 'policyctl --db %s init')", c->dir, c->dir);
	else
		ctl_err("%s: %s", c->dir, pdb_strerror(rc));
	return CTL_STORE;
}

int ctl_name(const char *in, char out[PDB_NAME_MAX + 1])
{
	const char *why;

	if (pdb_name_normalise(in, out, &why) == 0)
		return CTL_OK;
	ctl_err("'%s' is not a valid domain name: %s", in, why);
	return CTL_USAGE;
}

int ctl_nargs(int argc, char **argv, int first, int n)
{
	if (argc - first == n)
		return CTL_OK;
	ctl_err("%s: %s arguments (see 'policyctl %s --help')", argv[0],
	        argc - first < n ? "missing" : "too many", argv[0]);
	return CTL_USAGE;
}

void progress_init(struct progress *p, const char *label)
{
	p->label = label;
	p->on = isatty(STDERR_FILENO) == 1;
	p->last = -1;
}

void progress_update(struct progress *p, size_t done, size_t total)
{
	enum { WIDTH = 40 };
	int permille;

	if (!p->on || total == 0)
		return;
	permille = (int)(done >= total ? 1000 : (double)done * 1000.0 / (double)total);
	if (permille == p->last)
		return;
	p->last = permille;
	int fill = permille * WIDTH / 1000;
	fprintf(stderr, "\r%-10s [%.*s%*s] %3d.%d%%", p->label, fill,
	        "########################################", WIDTH - fill, "",
	        permille / 10, permille % 10);
	fflush(stderr);
}

void progress_done(struct progress *p)
{
	if (p->on && p->last >= 0)
		fputc('\n', stderr);
	p->last = -1;
}

/* The audit log records the command line as typed. */
static char *join_args(int argc, char **argv)
{
	size_t n = 1;
	char *s, *p;

	for (int i = 0; i < argc; i++)
		n += strlen(argv[i]) + 1;
	if (!(s = malloc(n)))
		return NULL;
	p = s;
	for (int i = 0; i < argc; i++)
		p += sprintf(p, i ? " %s" : "%s", argv[i]);
	*p = '\0';
	return s;
}

static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return false;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	}
	return false;
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	struct ctl c = { .dir = getenv(DB_ENV) };
	const struct command *cmd;
	int i = 1, rc;

	while (i < argc && argv[i][0] == '-') {
		if ((!strcmp(argv[i], "--db") || !strcmp(argv[i], "-d")) && i + 1 < argc) {
			c.dir = argv[i + 1];
			i += 2;
		} else if (!strcmp(argv[i], "--audit-key") && i + 1 < argc) {
			c.audit_key = argv[i + 1];
			i += 2;
		} else if (!strncmp(argv[i], "--db=", 5)) {
			c.dir = argv[i] + 5;
			i++;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return CTL_OK;
		} else {
			ctl_err("unknown option '%s'", argv[i]);
			usage(stderr);
			return CTL_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return CTL_USAGE;
	}
	if (!strcmp(argv[i], "help")) {
		if (i + 1 >= argc) {
			usage(stdout);
			return CTL_OK;
		}
		if (!(cmd = find_command(argv[i + 1]))) {
			ctl_err("no command '%s'", argv[i + 1]);
			return CTL_USAGE;
		}
		command_help(cmd);
		return CTL_OK;
	}
	if (!(cmd = find_command(argv[i]))) {
		ctl_err("no command '%s'", argv[i]);
		usage(stderr);
		return CTL_USAGE;
	}
	if (wants_help(argc - i, argv + i)) {
		command_help(cmd);
		return CTL_OK;
	}
	if (!(c.cmdline = join_args(argc, argv))) {
		ctl_err("out of memory");
		return CTL_STORE;
	}
	rc = cmd->run(&c, argc - i, argv + i);
	free((char *)c.cmdline);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl_err("writing the output: %s", strerror(errno));
		return rc ? rc : CTL_STORE;
	}
	return rc;
}
