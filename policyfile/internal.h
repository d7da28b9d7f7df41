/* What the policy file's readers share: the YAML event cursor and the
 * parsers of the values members and policies are made of.
 *
 * Every function here that can fail returns -1 after writing the reason
 * into the cursor's err buffer, as "FILE:LINE:COL: what" (or only "what"
 * when the cursor reads no file); 0 is success.  Strings a parser keeps go
 * into the cursor's scratch buffer (PF_SCRATCH_MAX bytes), which the
 * caller owns. */
#ifndef PF_INTERNAL_H
#define PF_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <yaml.h>

#include "policyfile.h"

struct pf__yp {
	yaml_parser_t parser;
	yaml_event_t ev;
	bool have_ev;
	const char *file;         /* NULL: a value typed on the command line */
	char *err;
	size_t errlen;
	char key[1024];           /* the current mapping key */
	yaml_mark_t key_mark;
	char *scratch;            /* strings of the value being built */
	size_t scratch_len;
	int error;                /* after a -1: PF_EINVALID, or -ENOMEM */
};

/* Write "FILE:LINE:COL: " and the message into the error buffer; -1. */
int pf__fail_at(struct pf__yp *y, yaml_mark_t m, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The same, at the current event. */
#define pf__fail(y, ...) pf__fail_at((y), (y)->ev.start_mark, __VA_ARGS__)
/* "out of memory" at the current event; -1 with y->error -ENOMEM. */
int pf__oom(struct pf__yp *y);
/* What a reader returns for rc, the result of its cursor functions. */
static inline int pf__result(const struct pf__yp *y, int rc)
{
	return rc == 0 ? 0 : y->error ? y->error : PF_EINVALID;
}

/* Step to the next event; aliases and NUL characters are refused. */
int pf__next(struct pf__yp *y);

static inline const char *pf__cur_text(const struct pf__yp *y)
{
	return (const char *)y->ev.data.scalar.value;
}

/* The current event as a scalar (*s, owned by the event), a mapping, a
 * list; what names the value in the message. */
int pf__cur_scalar(struct pf__yp *y, const char *what, const char **s);
int pf__cur_map(struct pf__yp *y, const char *what);
int pf__cur_seq(struct pf__yp *y, const char *what);

/* Next key of the current mapping: 1 with y->key set and its value as the
 * current event, 0 at the end of the mapping, -1. */
int pf__map_next(struct pf__yp *y);
/* Next item of the current list: 1 with it as the current event, 0 at the
 * end, -1. */
int pf__seq_next(struct pf__yp *y);

/* Refuse y->key, listing the known keys. */
int pf__unknown_key(struct pf__yp *y, const char *where, const char *known);
/* Refuse a key given twice in one mapping: seen collects bits. */
int pf__once(struct pf__yp *y, unsigned *seen, unsigned bit);

int pf__cur_uint(struct pf__yp *y, const char *what, unsigned long max, unsigned long *out);
int pf__cur_level(struct pf__yp *y, const char *what, uint8_t *out);
/* Copy n bytes of s into the scratch buffer, NUL-terminated, as *out. */
int pf__keep(struct pf__yp *y, const char *s, size_t n, pdb_str *out);
/* Normalise the domain name s into out. */
int pf__name_in(struct pf__yp *y, const char *s, const char *what, char out[PDB_NAME_MAX + 1]);
int pf__cur_name(struct pf__yp *y, const char *what, pdb_str *out);
int pf__cur_text_value(struct pf__yp *y, const char *what, pdb_str *out);
int pf__tag_list(struct pf__yp *y, const char *what, pdb_str *tags, uint8_t *n);

/* Grow *p (an array of size-byte items, *cap of them) to hold need;
 * 0 or -ENOMEM, *p untouched then. */
int pf__grow(void **p, size_t *cap, size_t need, size_t size);

/* ---- policies and members (member.c) ---- */

/* One key of a policy (min-peer-level, require-tags, forbid-tags): 1 if
 * y->key was one and its value is read, 0 if it is another key, -1. */
int pf__policy_key(struct pf__yp *y, struct pdb_policy *p, unsigned *seen);
/* A whole policy mapping. */
int pf__policy_map(struct pf__yp *y, const char *what, struct pdb_policy *p);

/* The keys a member may have, for pf__unknown_key(). */
extern const char pf__member_keys[];

/* pf__member_field(): y->key is no key of a member. */
#define PF__NOT_A_MEMBER_KEY 1

/* Read the value of y->key into m: 0, PF__NOT_A_MEMBER_KEY (nothing read,
 * nothing said) or -1.  Pins are kept in pins. */
int pf__member_field(struct pf__yp *y, struct pdb_member *m, unsigned *seen,
                     uint8_t pins[PDB_MAX_PINS][PDB_PIN_LEN]);

#endif
