/* A member's local service policy, for `policyctl render-table`. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- a member's local service policy ---- */

static int name_list(struct pf__yp *y, const char *what, char (**v)[PDB_NAME_MAX + 1], size_t *n)
{
	size_t cap = 0;
	int rc;

	if (pf__cur_seq(y, what))
		return -1;
	while ((rc = pf__seq_next(y)) == 1) {
		const char *s;
		if (pf__grow((void **)v, &cap, *n + 1, sizeof(**v)))
			return pf__oom(y);
		if (pf__cur_scalar(y, "a domain", &s) || pf__name_in(y, s, "domain", (*v)[*n]))
			return -1;
		for (size_t i = 0; i < *n; i++)
			if (!strcmp((*v)[i], (*v)[*n]))
				return pf__fail(y, "'%s' is listed twice in %s", (*v)[*n], what);
		(*n)++;
	}
	return rc;
}

static int read_local(struct pf__yp *y, struct pf_local *lp)
{
	unsigned seen = 0;
	int rc;

	if (pf__next(y) || pf__next(y))   /* stream start, document start */
		return -1;
	if (y->ev.type == YAML_STREAM_END_EVENT)
		return pf__fail(y, "the local policy file is empty");
	if (pf__next(y) || pf__cur_map(y, "a local policy"))
		return -1;
	while ((rc = pf__map_next(y)) == 1) {
		int k = pf__policy_key(y, &lp->policy, &seen);
		if (k < 0)
			return -1;
		if (k == 1)
			continue;
		if (!strcmp(y->key, "allow")) {
			if (pf__once(y, &seen, 8) || name_list(y, "allow", &lp->allow, &lp->nallow))
				return -1;
		} else if (!strcmp(y->key, "deny")) {
			if (pf__once(y, &seen, 16) || name_list(y, "deny", &lp->deny, &lp->ndeny))
				return -1;
		} else {
			return pf__unknown_key(y, "a local policy",
			                   "min-peer-level, require-tags, forbid-tags, allow, deny");
		}
	}
	if (rc || pf__next(y) || pf__next(y))   /* document end, stream end */
		return -1;
	if (y->ev.type != YAML_STREAM_END_EVENT)
		return pf__fail(y, "a local policy file holds one YAML document");
	for (size_t i = 0; i < lp->nallow; i++)
		for (size_t j = 0; j < lp->ndeny; j++)
			if (!strcmp(lp->allow[i], lp->deny[j]))
				return pf__fail(y, "'%s' is both allowed and denied", lp->allow[i]);
	return 0;
}

int pf_read_local(const char *path, struct pf_local *lp, char *err, size_t errlen)
{
	struct pf__yp y = { .file = path, .err = err, .errlen = errlen };
	FILE *f;
	int rc;

	memset(lp, 0, sizeof(*lp));
	if (!(lp->scratch = y.scratch = malloc(PF_SCRATCH_MAX))) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	if (!(f = fopen(path, "rb"))) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	yaml_parser_initialize(&y.parser);
	yaml_parser_set_input_file(&y.parser, f);
	rc = read_local(&y, lp);
	if (y.have_ev)
		yaml_event_delete(&y.ev);
	yaml_parser_delete(&y.parser);
	fclose(f);
	return pf__result(&y, rc);
}

void pf_local_free(struct pf_local *lp)
{
	free(lp->allow);
	free(lp->deny);
	free(lp->scratch);
	memset(lp, 0, sizeof(*lp));
}

