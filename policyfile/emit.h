/* Writing policy back out: export (YAML, JSON) and show. */
#ifndef EMIT_H
#define EMIT_H

#include <jansson.h>
#include <stdio.h>

#include "policydb.h"

/* A member or the community as a JSON value with the policy file's keys.
 * New reference, NULL on out-of-memory. */
json_t *emit_member_json(const struct pdb_member *m);
json_t *emit_community_json(const struct pdb_community *c);

/* Format not_after as the policy file writes it into buf (>= 32 bytes);
 * "none" for 0. */
void emit_not_after(int64_t not_after, char *buf, size_t len);

/* The whole policy of txn, as a policy file that `load` reads back to the
 * same store content.  Returns 0 or a pdb error (-ENOMEM, -EIO, ...). */
int emit_policy_yaml(FILE *out, pdb_txn *txn);
int emit_policy_json(FILE *out, pdb_txn *txn);

/* One member, as its entry in the policy file. */
int emit_member_yaml(FILE *out, const char *name, const struct pdb_member *m);

#endif
