/* Static zone data, read with ldns from master files.  Names are kept in
 * ldns's tree, which compares names case-insensitively. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static void zone_free(struct dnsd_zone *z)
{
	if (z->z)
		ldns_dnssec_zone_deep_free(z->z);
	memset(z, 0, sizeof(*z));
}

/* A zone file larger than this is refused: no sane zone of ours comes
 * near it, and reading it would hold up the loop that reloads. */
#define ZONE_FILE_MAX (64u << 20)

static const char *file_kind(mode_t m)
{
	return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device"
	       : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

/* Open file for reading only if it is a regular file of sane size: ldns
 * reads a directory forever (read() fails with EISDIR, which it takes for
 * "try again"), and a FIFO or a device never ends.  The check is made on
 * the descriptor, so the file cannot be swapped between check and read;
 * O_NONBLOCK keeps the open itself from waiting for a FIFO's writer. */
static FILE *zone_open(const char *file, char *err, size_t errlen)
{
	struct stat st;
	FILE *fp;
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: %s, not a zone file", file, file_kind(st.st_mode));
	} else if (st.st_size > (off_t)ZONE_FILE_MAX) {
		snprintf(err, errlen, "%s: %lld bytes, larger than the %u MiB a zone file may have",
		         file, (long long)st.st_size, ZONE_FILE_MAX >> 20);
	} else if (fcntl(fd, F_SETFL, O_RDONLY) != 0 || !(fp = fdopen(fd, "r"))) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
	} else {
		return fp;
	}
	close(fd);
	return NULL;
}

static int zone_load(const char *file, struct dnsd_zone *z, char *err, size_t errlen)
{
	FILE *fp = zone_open(file, err, errlen);
	int line = 0;
	ldns_status st;

	if (!fp)
		return DNSD_EZONE;
	st = ldns_dnssec_zone_new_frm_fp_l(&z->z, fp, NULL, 3600, LDNS_RR_CLASS_IN, &line);
	fclose(fp);
	if (st != LDNS_STATUS_OK) {
		z->z = NULL;
		snprintf(err, errlen, "%s:%d: %s", file, line, ldns_get_errorstr_by_id(st));
		return DNSD_EZONE;
	}
	if (!z->z->soa || !z->z->soa->rrsets || !(z->soa = ldns_dnssec_name_find_rrset(z->z->soa, LDNS_RR_TYPE_SOA))) {
		snprintf(err, errlen, "%s: no SOA record", file);
		return DNSD_EZONE;
	}
	if (z->soa->rrs->next) {
		snprintf(err, errlen, "%s: more than one SOA record", file);
		return DNSD_EZONE;
	}
	z->apex = ldns_rr_owner(z->soa->rrs->rr);
	z->ns = ldns_dnssec_name_find_rrset(z->z->soa, LDNS_RR_TYPE_NS);
	if (!z->ns) {
		snprintf(err, errlen, "%s: no NS records at the apex", file);
		return DNSD_EZONE;
	}
	/* Names with nothing of their own but with names below them exist:
	 * they answer NODATA, not NXDOMAIN. */
	if (ldns_dnssec_zone_add_empty_nonterminals(z->z) != LDNS_STATUS_OK) {
		snprintf(err, errlen, "%s: out of memory", file);
		return DNSD_EZONE;
	}
	dnsd__zone_stamp(z);
	return 0;
}

int dnsd_zones_load(const char *const *files, size_t n, dnsd_zones **out, char *err,
                    size_t errlen)
{
	dnsd_zones *zs;
	int rc = 0;

	if (!files || !out)
		return -EINVAL;
	*out = NULL;
	if (!(zs = calloc(1, sizeof(*zs))) || (n && !(zs->v = calloc(n, sizeof(*zs->v))))) {
		free(zs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = zone_load(files[i], &zs->v[i], err, errlen);
		zs->n = i + 1;
		for (size_t j = 0; rc == 0 && j < i; j++) {
			if (ldns_dname_compare(zs->v[j].apex, zs->v[i].apex) == 0) {
				char *apex = ldns_rdf2str(zs->v[i].apex);
				snprintf(err, errlen, "%s: zone %s is already loaded from %s", files[i],
				         apex ? apex : "?", files[j]);
				free(apex);
				rc = DNSD_EZONE;
			}
		}
	}
	if (rc) {
		dnsd_zones_free(zs);
		return rc;
	}
	*out = zs;
	return 0;
}

void dnsd_zones_free(dnsd_zones *zs)
{
	if (!zs)
		return;
	for (size_t i = 0; i < zs->n; i++)
		zone_free(&zs->v[i]);
	free(zs->v);
	free(zs);
}

size_t dnsd_zones_count(const dnsd_zones *zs)
{
	return zs ? zs->n : 0;
}

const struct dnsd_zone *dnsd__zone_find(const dnsd_zones *zs, const ldns_rdf *name)
{
	const struct dnsd_zone *best = NULL;

	for (size_t i = 0; i < zs->n; i++) {
		const struct dnsd_zone *z = &zs->v[i];
		if (!dnsd__name_at_or_below(name, z->apex))
			continue;
		if (!best || ldns_dname_label_count(z->apex) > ldns_dname_label_count(best->apex))
			best = z;
	}
	return best;
}

const struct dnsd_zone *dnsd__zone_by_name(const dnsd_zones *zs, const char *apex)
{
	ldns_rdf *d = ldns_dname_new_frm_str(apex);
	const struct dnsd_zone *z = NULL;

	for (size_t i = 0; d && i < zs->n; i++)
		if (ldns_dname_compare(d, zs->v[i].apex) == 0)
			z = &zs->v[i];
	ldns_rdf_deep_free(d);
	return z;
}

ldns_dnssec_name *dnsd__zone_name(const struct dnsd_zone *z, const ldns_rdf *name)
{
	ldns_rbnode_t *node = ldns_rbtree_search(z->z->names, name);
	return node ? (ldns_dnssec_name *)node->data : NULL;
}
