/* Export: each record becomes a jansson value with the policy file's keys;
 * JSON output dumps it, YAML output walks it into libyaml events.  One
 * builder, so the two formats cannot drift apart. */
#include <errno.h>
#include <string.h>
#include <yaml.h>

#include <openssl/evp.h>

#include "date.h"
#include "emit.h"

static json_t *str_json(pdb_str s) { return json_stringn(s.p, s.len); }

static json_t *tags_json(const pdb_str *t, unsigned n)
{
	json_t *a = json_array();
	for (unsigned i = 0; a && i < n; i++)
		json_array_append_new(a, str_json(t[i]));
	return a;
}

/* "host:port" when the priority is the listed order and weight is 0, as
 * the file's short form means; the full mapping otherwise. */
static json_t *targets_json(const struct pdb_target *t, unsigned n)
{
	json_t *a = json_array();
	for (unsigned i = 0; a && i < n; i++) {
		if (t[i].priority == i && t[i].weight == 0) {
			char buf[PDB_NAME_MAX + 8];
			snprintf(buf, sizeof(buf), "%.*s:%u", t[i].host.len, t[i].host.p, t[i].port);
			json_array_append_new(a, json_string(buf));
		} else {
			json_array_append_new(a, json_pack("{s:o,s:i,s:i,s:i}", "host", str_json(t[i].host),
			                                   "port", t[i].port, "priority", t[i].priority,
			                                   "weight", t[i].weight));
		}
	}
	return a;
}

static json_t *addrs_json(const struct pdb_addr *x, unsigned n)
{
	json_t *a = json_array();
	for (unsigned i = 0; a && i < n; i++) {
		char buf[64];
		pdb_addr_format(&x[i], buf, sizeof(buf));
		json_array_append_new(a, json_string(buf));
	}
	return a;
}

static json_t *policy_json(const struct pdb_policy *p)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	if (p->set & PDB_POLICY_MIN_LEVEL)
		json_object_set_new(o, "min-peer-level", json_integer(p->min_peer_level));
	if (p->set & PDB_POLICY_REQUIRE)
		json_object_set_new(o, "require-tags", tags_json(p->require, p->nrequire));
	if (p->set & PDB_POLICY_FORBID)
		json_object_set_new(o, "forbid-tags", tags_json(p->forbid, p->nforbid));
	return o;
}

void emit_not_after(int64_t not_after, char *buf, size_t len)
{
	/* A whole day is written as its date; anything else as the last
	 * valid second (see pf_parse_not_after).  0 is no end at all. */
	if (not_after == 0) {
		snprintf(buf, len, "none");
		return;
	}
	char s[CH_INSTANT_LEN];
	if (not_after % 86400 == 0)
		ch_date_format(not_after - 86400, s);
	else
		ch_instant_format(not_after - 1, s);
	snprintf(buf, len, "%s", s);
}

json_t *emit_member_json(const struct pdb_member *m)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	json_object_set_new(o, "level", json_integer(m->level));
	json_object_set_new(o, "status", json_string(pdb_status_name(m->status)));
	if (m->not_after) {
		char buf[32];
		emit_not_after(m->not_after, buf, sizeof(buf));
		json_object_set_new(o, "not-after", json_string(buf));
	}
	json_object_set_new(o, "tags", tags_json(m->tags, m->ntags));
	json_object_set_new(o, "targets", targets_json(m->targets, m->ntargets));
	if (m->ntls_targets)
		json_object_set_new(o, "tls-targets", targets_json(m->tls_targets, m->ntls_targets));
	if (m->naddrs)
		json_object_set_new(o, "addresses", addrs_json(m->addrs, m->naddrs));
	if (m->nqueriers)
		json_object_set_new(o, "queriers", addrs_json(m->queriers, m->nqueriers));
	if (m->npins) {
		json_t *a = json_array();
		for (unsigned i = 0; a && i < m->npins; i++) {
			char b64[48];
			EVP_EncodeBlock((unsigned char *)b64, m->pins[i], PDB_PIN_LEN);
			json_array_append_new(a, json_string(b64));
		}
		json_object_set_new(o, "pins", a);
	}
	if (m->contact.len)
		json_object_set_new(o, "contact", str_json(m->contact));
	if (m->note.len)
		json_object_set_new(o, "note", str_json(m->note));
	if (m->policy.set)
		json_object_set_new(o, "policy", policy_json(&m->policy));
	return o;
}

json_t *emit_community_json(const struct pdb_community *c)
{
	json_t *o = json_object(), *ch = json_array(), *lv = json_object();
	if (!o || !ch || !lv) {
		json_decref(o), json_decref(ch), json_decref(lv);
		return NULL;
	}
	json_object_set_new(o, "zone", str_json(c->zone));
	for (unsigned i = 0; i < c->nch; i++) {
		json_t *h = json_pack("{s:o}", "host", str_json(c->ch[i].host));
		if (c->ch[i].port)
			json_object_set_new(h, "port", json_integer(c->ch[i].port));
		if (c->ch[i].tls_port)
			json_object_set_new(h, "tls-port", json_integer(c->ch[i].tls_port));
		json_array_append_new(ch, h);
	}
	json_object_set_new(o, "clearinghouse", ch);
	json_object_set_new(o, "fallback", json_string(pdb_fallback_name(c->fallback)));
	json_object_set_new(o, "inactive", json_string(pdb_inactive_name(c->inactive)));
	json_object_set_new(o, "identity", json_string(pdb_identity_name(c->identity)));
	json_object_set_new(o, "deny-text", json_string(pdb_deny_text_name(c->deny_text)));
	json_object_set_new(o, "ttl", json_integer(c->ttl));
	for (unsigned i = 0; i < c->nlevels; i++) {
		char k[4];
		snprintf(k, sizeof(k), "%u", c->levels[i].level);
		json_object_set_new(lv, k, str_json(c->levels[i].name));
	}
	json_object_set_new(o, "levels", lv);
	json_object_set_new(o, "default", policy_json(&c->dflt));
	return o;
}

/* ---- YAML ---- */

static int y_emit(yaml_emitter_t *e, yaml_event_t *ev)
{
	return yaml_emitter_emit(e, ev) ? 0 : -EIO;
}

static int y_scalar(yaml_emitter_t *e, const char *s, size_t n)
{
	yaml_event_t ev;
	yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)n, 1, 1,
	                             YAML_ANY_SCALAR_STYLE);
	return y_emit(e, &ev);
}

static bool all_scalars(json_t *v)
{
	size_t i;
	json_t *x;
	json_array_foreach(v, i, x)
		if (json_is_object(x) || json_is_array(x))
			return false;
	return true;
}

/* Walk a JSON value into YAML events: short lists and the small mappings
 * inside lists in flow style, the rest in block style, as people write it. */
static int y_value(yaml_emitter_t *e, json_t *v, bool flow)
{
	yaml_event_t ev;
	int rc = 0;

	if (json_is_object(v)) {
		const char *k;
		json_t *x;
		yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
		                                    flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE);
		if ((rc = y_emit(e, &ev)))
			return rc;
		json_object_foreach(v, k, x) {
			if ((rc = y_scalar(e, k, strlen(k))) || (rc = y_value(e, x, flow)))
				return rc;
		}
		yaml_mapping_end_event_initialize(&ev);
		return y_emit(e, &ev);
	}
	if (json_is_array(v)) {
		size_t i;
		json_t *x;
		bool f = flow || all_scalars(v);
		yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
		                                     f ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE);
		if ((rc = y_emit(e, &ev)))
			return rc;
		json_array_foreach(v, i, x)
			if ((rc = y_value(e, x, true)))
				return rc;
		yaml_sequence_end_event_initialize(&ev);
		return y_emit(e, &ev);
	}
	if (json_is_integer(v)) {
		char buf[32];
		int n = snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return y_scalar(e, buf, (size_t)n);
	}
	if (json_is_string(v))
		return y_scalar(e, json_string_value(v), json_string_length(v));
	return -EINVAL;
}

static int y_write(void *data, unsigned char *buf, size_t n)
{
	return fwrite(buf, 1, n, data) == n;
}

static int y_begin(yaml_emitter_t *e, FILE *out)
{
	yaml_event_t ev;
	int rc;

	yaml_emitter_initialize(e);
	yaml_emitter_set_output(e, y_write, out);
	yaml_emitter_set_unicode(e, 1);
	yaml_emitter_set_width(e, 100);
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	if ((rc = y_emit(e, &ev)))
		return rc;
	yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
	if ((rc = y_emit(e, &ev)))
		return rc;
	yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
	return y_emit(e, &ev);
}

static int y_end(yaml_emitter_t *e)
{
	yaml_event_t ev;
	int rc;

	yaml_mapping_end_event_initialize(&ev);
	if ((rc = y_emit(e, &ev)))
		return rc;
	yaml_document_end_event_initialize(&ev, 1);
	if ((rc = y_emit(e, &ev)))
		return rc;
	yaml_stream_end_event_initialize(&ev);
	if ((rc = y_emit(e, &ev)))
		return rc;
	return yaml_emitter_flush(e) ? 0 : -EIO;
}

/* Emit key: value, taking the reference to value. */
static int y_pair(yaml_emitter_t *e, const char *key, json_t *value)
{
	int rc = value ? 0 : -ENOMEM;
	if (rc == 0 && (rc = y_scalar(e, key, strlen(key))) == 0)
		rc = y_value(e, value, false);
	json_decref(value);
	return rc;
}

static int y_member(void *arg, const char *name, const struct pdb_member *m)
{
	return y_pair(arg, name, emit_member_json(m));
}

static int y_override(void *arg, const char *a, const char *b, enum pdb_override ov)
{
	json_t *o = json_pack("{s:[s,s]}", ov == PDB_OVERRIDE_ALLOW ? "allow" : "deny", a, b);
	int rc = o ? y_value(arg, o, false) : -ENOMEM;
	json_decref(o);
	return rc;
}

static int y_section(yaml_emitter_t *e, const char *key, bool seq)
{
	yaml_event_t ev;
	int rc = y_scalar(e, key, strlen(key));
	if (rc)
		return rc;
	if (seq)
		yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
	else
		yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
	return y_emit(e, &ev);
}

static int y_section_end(yaml_emitter_t *e, bool seq)
{
	yaml_event_t ev;
	if (seq)
		yaml_sequence_end_event_initialize(&ev);
	else
		yaml_mapping_end_event_initialize(&ev);
	return y_emit(e, &ev);
}

static int count_overrides(void *arg, const char *a, const char *b, enum pdb_override ov)
{
	(*(size_t *)arg)++;
	return 0;
}

int emit_policy_yaml(FILE *out, pdb_txn *txn)
{
	struct pdb_community c;
	yaml_emitter_t e;
	size_t noverrides = 0;
	int rc;

	rc = pdb_get_community(txn, &c);
	if (rc == PDB_ENOTFOUND)
		pdb_community_init(&c);
	else if (rc)
		return rc;
	if ((rc = y_begin(&e, out)) == 0 && (rc = y_pair(&e, "community", emit_community_json(&c))) == 0 &&
	    (rc = y_section(&e, "members", false)) == 0 &&
	    (rc = pdb_walk_members(txn, y_member, &e)) == 0 &&
	    (rc = y_section_end(&e, false)) == 0 &&
	    (rc = pdb_walk_overrides(txn, count_overrides, &noverrides)) == 0 && noverrides) {
		/* An empty block list cannot be written in YAML; leave it out. */
		if ((rc = y_section(&e, "overrides", true)) == 0 &&
		    (rc = pdb_walk_overrides(txn, y_override, &e)) == 0)
			rc = y_section_end(&e, true);
	}
	if (rc == 0)
		rc = y_end(&e);
	yaml_emitter_delete(&e);
	return rc;
}

int emit_member_yaml(FILE *out, const char *name, const struct pdb_member *m)
{
	yaml_emitter_t e;
	int rc = y_begin(&e, out);

	if (rc == 0)
		rc = y_pair(&e, name, emit_member_json(m));
	if (rc == 0)
		rc = y_end(&e);
	yaml_emitter_delete(&e);
	return rc;
}

/* ---- JSON: streamed member by member, so a large store never becomes
 * one tree in memory ---- */

struct json_walk {
	FILE *out;
	bool first;
};

static int j_dump(FILE *out, json_t *v)
{
	int rc = v ? (json_dumpf(v, out, JSON_COMPACT | JSON_ENCODE_ANY) == 0 ? 0 : -EIO) : -ENOMEM;
	json_decref(v);
	return rc;
}

static int j_member(void *arg, const char *name, const struct pdb_member *m)
{
	struct json_walk *w = arg;
	int rc;

	fputs(w->first ? "\n" : ",\n", w->out);
	w->first = false;
	if ((rc = j_dump(w->out, json_string(name))) != 0)
		return rc;
	fputc(':', w->out);
	return j_dump(w->out, emit_member_json(m));
}

static int j_override(void *arg, const char *a, const char *b, enum pdb_override ov)
{
	struct json_walk *w = arg;

	fputs(w->first ? "\n" : ",\n", w->out);
	w->first = false;
	return j_dump(w->out, json_pack("{s:[s,s]}", ov == PDB_OVERRIDE_ALLOW ? "allow" : "deny", a, b));
}

int emit_policy_json(FILE *out, pdb_txn *txn)
{
	struct pdb_community c;
	struct json_walk w = { out, true };
	int rc = pdb_get_community(txn, &c);

	if (rc == PDB_ENOTFOUND)
		pdb_community_init(&c);
	else if (rc)
		return rc;
	fputs("{\"community\":", out);
	if ((rc = j_dump(out, emit_community_json(&c))) != 0)
		return rc;
	fputs(",\"members\":{", out);
	if ((rc = pdb_walk_members(txn, j_member, &w)) != 0)
		return rc;
	fputs("},\"overrides\":[", out);
	w.first = true;
	if ((rc = pdb_walk_overrides(txn, j_override, &w)) != 0)
		return rc;
	fputs("]}\n", out);
	return ferror(out) ? -EIO : 0;
}
