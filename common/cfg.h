/* Helpers both daemons share: their YAML configuration files and their
 * ADDR:PORT arguments.  Nothing here knows about DNS or XMPP. */
#ifndef CH_CFG_H
#define CH_CFG_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#define CFG_LIST_MAX 64

enum cfg_type {
	CFG_STRING,     /* char **: a single value, owned, replaces the old one */
	CFG_PATH,       /* the same, taken relative to the file's directory */
	CFG_LIST,       /* char *[CFG_LIST_MAX] with a size_t count: appended */
	CFG_PATH_LIST,  /* the same, each a path */
	CFG_NUMBER,     /* unsigned: 1..max */
	CFG_RECORDS,    /* struct cfg_record[CFG_LIST_MAX] with a size_t count:
	                   a list of mappings of single values, appended */
	CFG_MAPPING,    /* struct cfg_record *: one mapping of single values,
	                   such as dnssec: {keys: DIR, validity: 1209600} */
};

/* The fields a record of a CFG_RECORDS setting may have. */
#define CFG_FIELDS_MAX 8

/* One mapping of a CFG_RECORDS list, such as {key: k1, view: a.example}:
 * v[i] is the value of fields[i] (owned), or NULL where the mapping did
 * not give it.  line and column (1-based) say where the mapping began,
 * for the daemon's own checks of the values. */
struct cfg_record {
	char *v[CFG_FIELDS_MAX];
	size_t line, column;
};

/* One setting a file may give, at most once. */
struct cfg_key {
	const char *name;
	enum cfg_type type;
	void *out;          /* char **, char **[CFG_LIST_MAX], unsigned * or
	                       struct cfg_record[CFG_LIST_MAX] */
	size_t *count;      /* lists and records only */
	unsigned long max;  /* numbers only */
	const char *const *fields;  /* records and mappings only: the field
	                               names, NULL-ended, at most CFG_FIELDS_MAX */
};

/** A path given in the file at config, taken relative to the file's
 * directory unless it is absolute: a new string (free it), or NULL when
 * out of memory.  For the paths inside records and mappings, which
 * cfg_read() leaves as written. */
char *cfg_path(const char *config, const char *p);

/** Free the values of n records and zero them. */
void cfg_records_free(struct cfg_record *r, size_t n);

/** Read the YAML file at path: one mapping whose keys are among keys[].
 * Strings are strdup()ed into the outputs; the caller frees them,
 * whatever the result.  Returns 0; -EINVAL for a file that cannot be read
 * or is not valid, with "FILE:LINE:COL: why" in err; -ENOMEM. */
int cfg_read(const char *path, const struct cfg_key *keys, size_t nkeys, char *err,
             size_t errlen);

/* ---- the command line over the file ----
 * Both daemons read --config FILE first, wherever it stands, then the
 * rest of the command line, which wins: a single value replaces the
 * file's, a list given on the command line replaces the file's list. */

/** The first pass over argv: read every --config FILE (the option whose
 * val is 'c') with read_file into conf; then, if *db is still NULL, take
 * $CLEARINGHOUSE_DB.  Resets optind for the second pass.  Returns 0;
 * -EINVAL with "why" in err for a bad file; 1 for an unknown option
 * (getopt has said which); -ENOMEM. */
int cfg_argv_files(int argc, char **argv, const char *shortopts, const struct option *longopts,
                   int (*read_file)(const char *path, void *conf, char *err, size_t errlen),
                   void *conf, char **db, char *err, size_t errlen);

/** Take value for a list option of the second pass: the first one given
 * (*cleared false) empties the list the file filled.  Returns 0, -ENOSPC
 * (CFG_LIST_MAX values already), -ENOMEM. */
int cfg_list_arg(char **list, size_t *n, bool *cleared, const char *value);

/* ---- the second pass, as both daemons run it ----
 * These say what is wrong on stderr as "PROG: ...", and return the exit
 * code both daemons use: 0, 2 for a bad argument, 3 for no memory. */

/** The first pass (cfg_argv_files()) with its failure said: "PROG: why"
 * for a bad file, usage(stderr) for an unknown option.  Returns 0, 2, 3. */
int cfg_opt_files(const char *prog, void (*usage)(FILE *out), int argc, char **argv,
                  const char *shortopts, const struct option *longopts,
                  int (*read_file)(const char *path, void *conf, char *err, size_t errlen),
                  void *conf, char **db);

/** A single-valued option: *dst (freed) becomes a copy of value.
 * Returns 0, 3. */
int cfg_opt_string(char **dst, const char *value);

/** A list option (cfg_list_arg()); more than CFG_LIST_MAX values is said
 * as "PROG: at most 64 of each of WHAT".  Returns 0, 2, 3. */
int cfg_opt_list(const char *prog, const char *what, char **list, size_t *n, bool *cleared,
                 const char *value);

/** A number option --name (cfg_number()), said as "PROG: --why".
 * Returns 0, 2. */
int cfg_opt_number(const char *prog, const char *name, const char *value, unsigned long max,
                   unsigned *out);

/** Parse a number for option or setting name: 1..max.  Returns 0, or
 * -EINVAL with a message in err. */
int cfg_number(const char *name, const char *s, unsigned long max, unsigned *out, char *err,
               size_t errlen);

/** Parse "192.0.2.1:53" or "[2001:db8::1]:53" (a literal address, a port
 * 1..65535) into ss.  Returns 0 or -EINVAL. */
int cfg_addr_parse(const char *addr, struct sockaddr_storage *ss);

/** Write host:port into out, with an IPv6 literal in brackets
 * ("[2001:db8::5]:5269").  Returns the length, or -ENOSPC if out is too
 * small (out then holds a truncated, terminated string). */
int cfg_hostport(const char *host, unsigned port, char *out, size_t cap);

/** Write the address and port of sa the same way.  Returns the length or
 * -EINVAL for a family other than IPv4 and IPv6. */
int cfg_sockaddr_format(const struct sockaddr *sa, char *out, size_t cap);

#endif
