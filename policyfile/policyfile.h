/* Reading the policy file (YAML) that operators edit.
 *
 * Errors: functions return 0 on success, a negative errno (-ENOENT,
 * -EACCES, -ENOMEM, -EINVAL for a NULL argument, ...), or a code of this
 * library's range, PF_E_FIRST down to PF_E_LAST (below policydb's, dnsd's
 * and xmppd's ranges, see policydb.h).
 * Readers also write a sentence into the caller's err buffer (truncated to
 * errlen) on every error, because the useful part of the message, the
 * file, line and column of the fault, is not a number. */
#ifndef POLICYFILE_H
#define POLICYFILE_H

#include <stdio.h>

#include "policydb.h"

#define PF_E_FIRST (-4001)
#define PF_E_LAST  (-4999)

enum {
	PF_EINVALID = PF_E_FIRST,   /* the file or value breaks a rule; err says where and which */
};

/** One sentence for any error of this library: its own codes, a negative
 * errno, policydb's codes; "unknown error" for anything else.  Never
 * NULL. */
const char *pf_strerror(int err);

/* One member as read: its name and encoded record live in the arena. */
struct pf_member {
	size_t off;          /* name (NUL-terminated), then the record */
	uint16_t name_len, rec_len;
	uint32_t line, col;
};

struct pf_override {
	char a[PDB_NAME_MAX + 1], b[PDB_NAME_MAX + 1];
	enum pdb_override ov;
	uint32_t line, col;
};

struct policy_file {
	const char *path;
	struct pdb_community community;  /* strings point into strings[] */
	char *strings;                   /* backing for community strings */
	char *arena;
	size_t arena_len, arena_cap;
	struct pf_member *members;       /* sorted by name after pf_read */
	size_t nmembers, members_cap;
	struct pf_override *overrides;
	size_t noverrides, overrides_cap;
};

/* Called now and then while reading: bytes read so far of total. */
typedef void (*pf_progress_fn)(void *arg, size_t done, size_t total);

/** Read, validate and encode a whole policy file at path (which must
 * outlive pf).  Every member name is normalised and unique, every override
 * names two members.  progress (may be NULL) is called with arg now and
 * then.  Returns 0, PF_EINVALID with "FILE:LINE:COL: what" in err, or a
 * negative errno from opening the file (-ENOENT, -EACCES, ...) or -ENOMEM
 * with "FILE: why" in err.  pf_free() is needed either way. */
int pf_read(const char *path, struct policy_file *pf, pf_progress_fn progress,
            void *arg, char *err, size_t errlen);
/** Release what pf_read() allocated; pf is zeroed. */
void pf_free(struct policy_file *pf);

static inline const char *pf_name(const struct policy_file *pf, size_t i)
{
	return pf->arena + pf->members[i].off;
}

static inline const uint8_t *pf_record(const struct policy_file *pf, size_t i)
{
	return (const uint8_t *)pf->arena + pf->members[i].off + pf->members[i].name_len + 1;
}

#define PF_SCRATCH_MAX 65536

/* Storage for the values pf_set_member_key() puts into a member. */
struct pf_scratch {
	char text[PF_SCRATCH_MAX];
	uint8_t pins[PDB_MAX_PINS][PDB_PIN_LEN];
};

/** Set one key of a decoded member, as `policyctl set` does: VALUE is
 * read as that key's value in the policy file would be (YAML: 3, [a, b],
 * host:5269, ...), except that contact and note are text taken as typed.
 * min-peer-level, require-tags and forbid-tags change only that field of
 * the member's policy.  Nothing goes through a YAML document of key and
 * value: the value alone is parsed, straight into m.  The new values point
 * into *s, which must outlive m.  Returns 0, PF_EINVALID with the reason
 * in err (m may then be partly changed), or -EINVAL for a NULL argument. */
int pf_set_member_key(struct pdb_member *m, const char *key, const char *value,
                      struct pf_scratch *s, char *err, size_t errlen);

/** Parse a date (2027-12-31: valid through that day, UTC) or an instant
 * (2027-12-31T12:00:00Z: valid through that second) into the first Unix
 * second no longer valid.  Returns 0 or -EINVAL (*out untouched). */
int pf_parse_not_after(const char *s, int64_t *out);

/* A member's own service policy, for policyctl render-table:
 *
 *   min-peer-level: 3
 *   require-tags: [auth:pki]
 *   forbid-tags: [auth:password]
 *   allow: [partner.fed.example]    # whatever their level and tags
 *   deny: [rival.fed.example]       # whatever their level and tags
 */
struct pf_local {
	struct pdb_policy policy;         /* tags point into scratch */
	char (*allow)[PDB_NAME_MAX + 1];  /* normalised, unique */
	size_t nallow;
	char (*deny)[PDB_NAME_MAX + 1];
	size_t ndeny;
	char *scratch;
};

/** Read a local policy file.  Returns 0, PF_EINVALID with
 * "FILE:LINE:COL: what" in err, or a negative errno (opening the file,
 * -ENOMEM) with "FILE: why" in err; pf_local_free() is needed either way. */
int pf_read_local(const char *path, struct pf_local *lp, char *err, size_t errlen);
/** Release what pf_read_local() allocated; lp is zeroed. */
void pf_local_free(struct pf_local *lp);

#endif
