/* From a verified table and a member's local service policy to the
 * allow-list its XMPP server reads. */
#ifndef RENDER_H
#define RENDER_H

#include <stdio.h>

#include "policyfile.h"
#include "table.h"

enum render_format { RENDER_LIST, RENDER_PROSODY, RENDER_EJABBERD };

/* The peers self accepts: sorted, unique, self not among them. */
struct allowed {
	const char **names;
	size_t n;
};

/** Apply the local policy lp of self to the table at time now:
 *  - a peer in lp's deny list is refused;
 *  - a member that is not active, or past its not-after, is refused
 *    (pdb_member_valid_at);
 *  - a peer in lp's allow list is accepted (a domain outside the table too);
 *  - any other member is accepted if its level and tags meet lp's policy
 *    (pdb_policy_meets, with no default: a field lp does not give asks
 *    nothing).
 * Names point into t and lp.  Returns 0, -ENOMEM, or -EINVAL for a NULL
 * argument. */
int render_allowed(const struct table *t, const char *self, const struct pf_local *lp,
                   int64_t now, struct allowed *out);
void allowed_free(struct allowed *a);

/** Write the allow-list in format f to out (a memory stream), headed by a
 * comment that names the table it came from. */
int render_write(enum render_format f, const struct table *t, const char *self,
                 const struct allowed *a, FILE *out);

#endif
