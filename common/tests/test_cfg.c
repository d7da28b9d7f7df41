/* The shared configuration reader and address helpers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg.h"

struct settings {
	char *db;
	char *list[CFG_LIST_MAX];
	size_t nlist;
	unsigned n;
	struct cfg_record keys[CFG_LIST_MAX];
	size_t nkeys;
};

static const char *const key_fields[] = { "name", "algorithm", "secret", NULL };

static int read_text(const char *text, struct settings *s, char *err, size_t errlen)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char path[512];
	snprintf(path, sizeof(path), "%s/test_cfg_XXXXXX", tmp);
	int fd = mkstemp(path);
	const struct cfg_key keys[] = {
		{ "db", CFG_PATH, &s->db, NULL, 0, NULL },
		{ "listen", CFG_LIST, s->list, &s->nlist, 0, NULL },
		{ "threads", CFG_NUMBER, &s->n, NULL, 8, NULL },
		{ "keys", CFG_RECORDS, s->keys, &s->nkeys, 0, key_fields },
	};

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	int rc = cfg_read(path, keys, sizeof(keys) / sizeof(keys[0]), err, errlen);
	unlink(path);
	return rc;
}

static void settings_free(struct settings *s)
{
	free(s->db);
	for (size_t i = 0; i < s->nlist; i++)
		free(s->list[i]);
	cfg_records_free(s->keys, s->nkeys);
}

static void test_reads_records(void **state)
{
	struct settings s = { 0 };
	char err[256] = "";

	assert_int_equal(read_text("keys:\n"
	                           "  - {name: a, algorithm: hmac-sha256, secret: \"c2VjcmV0\"}\n"
	                           "  - name: b\n"
	                           "    secret: x\n", &s, err, sizeof(err)), 0);
	assert_int_equal(s.nkeys, 2);
	assert_string_equal(s.keys[0].v[0], "a");
	assert_string_equal(s.keys[0].v[1], "hmac-sha256");
	assert_string_equal(s.keys[0].v[2], "c2VjcmV0");
	assert_int_equal(s.keys[0].line, 2);
	assert_int_equal(s.keys[0].column, 5);
	assert_string_equal(s.keys[1].v[0], "b");
	assert_null(s.keys[1].v[1]);   /* not given */
	assert_int_equal(s.keys[1].line, 3);
	settings_free(&s);
}

/* One mapping (CFG_RECORD), and cfg_path for the paths inside it. */
/* A file with one setting of type CFG_RECORD, name, of these fields, into
 * rec. */
static int read_one_record(const char *text, const char *name, const char *const *fields,
                           struct cfg_record *rec, char *err, size_t errlen)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char path[512];
	snprintf(path, sizeof(path), "%s/test_cfg_XXXXXX", tmp);
	int fd = mkstemp(path);
	const struct cfg_key keys[] = { { name, CFG_RECORD, rec, NULL, 0, fields } };

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	int rc = cfg_read(path, keys, 1, err, errlen);
	unlink(path);
	return rc;
}

static const char *const dnssec_fields[] = { "keys", "validity", NULL };

static int read_mapping(const char *text, struct cfg_record *rec, char *err, size_t errlen)
{
	return read_one_record(text, "dnssec", dnssec_fields, rec, err, errlen);
}

static void test_reads_mapping(void **state)
{
	struct cfg_record rec = { 0 };
	char err[256] = "";
	(void)state;

	assert_int_equal(read_mapping("dnssec: {keys: k, validity: 60}\n", &rec, err, sizeof(err)),
	                 0);
	assert_string_equal(rec.v[0], "k");
	assert_string_equal(rec.v[1], "60");
	assert_int_equal(rec.line, 1);
	cfg_records_free(&rec, 1);
	assert_int_equal(read_mapping("dnssec:\n  keys: k\n", &rec, err, sizeof(err)), 0);
	assert_string_equal(rec.v[0], "k");
	assert_null(rec.v[1]);
	cfg_records_free(&rec, 1);
	assert_int_equal(read_mapping("dnssec: [a]\n", &rec, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "1:9: dnssec takes a mapping, such as {keys: ...}"));
	cfg_records_free(&rec, 1);
	assert_int_equal(read_mapping("dnssec: {colour: b}\n", &rec, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "dnssec has no field 'colour'"));
	cfg_records_free(&rec, 1);

	char *p = cfg_path("/etc/ch/dnsd.yaml", "keys");
	assert_string_equal(p, "/etc/ch/keys");
	free(p);
	p = cfg_path("/etc/ch/dnsd.yaml", "/var/keys");
	assert_string_equal(p, "/var/keys");
	free(p);
	p = cfg_path("dnsd.yaml", "keys");
	assert_string_equal(p, "keys");
	free(p);
}

static void test_reads_settings(void **state)
{
	struct settings s = { 0 };
	char err[256] = "";

	assert_int_equal(read_text("db: store\nlisten: [\"127.0.0.1:1\", \"[::1]:2\"]\nthreads: 3\n",
	                           &s, err, sizeof(err)), 0);
	/* relative to the file's directory */
	char want[512];
	snprintf(want, sizeof(want), "%s/store", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_string_equal(s.db, want);
	assert_int_equal(s.nlist, 2);
	assert_string_equal(s.list[1], "[::1]:2");
	assert_int_equal(s.n, 3);
	settings_free(&s);
}

static const char *const rrl_fields[] = { "rate", "slip", NULL };

static int read_record(const char *text, struct cfg_record *rec, char *err, size_t errlen)
{
	return read_one_record(text, "rrl", rrl_fields, rec, err, errlen);
}

static void test_reads_one_record(void **state)
{
	struct cfg_record rec = { 0 };
	char err[256] = "";

	assert_int_equal(read_record("rrl: {rate: 0, slip: 2}\n", &rec, err, sizeof(err)), 0);
	assert_string_equal(rec.v[0], "0");
	assert_string_equal(rec.v[1], "2");
	assert_int_equal(rec.line, 1);
	/* A second file replaces what it gives and keeps the rest. */
	assert_int_equal(read_record("rrl:\n  rate: 5\n", &rec, err, sizeof(err)), 0);
	assert_string_equal(rec.v[0], "5");
	assert_string_equal(rec.v[1], "2");
	assert_int_equal(read_record("rrl: [{rate: 1}]\n", &rec, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "rrl takes a mapping, such as {rate: ...}"));
	assert_int_equal(read_record("rrl: {rate: 1, rate: 2}\n", &rec, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "'rate' is given twice"));
	cfg_records_free(&rec, 1);
}

static void test_refuses(void **state)
{
	static const struct { const char *text, *msg; } bad[] = {
		{ "colour: blue\n", "1:1: unknown setting 'colour' (known: db, listen, threads, keys)" },
		{ "threads: 9\n", "1:10: threads takes a number from 1 to 8, not '9'" },
		{ "threads: -1\n", "threads takes a number" },
		{ "db: a\ndb: b\n", "2:1: 'db' is given twice" },
		{ "db: [a]\n", "db takes a single value" },
		{ "- a\n", "must be a mapping" },
		{ "db: &x a\nlisten: *x\n", "aliases" },
		{ "db: \"unclosed\n", "YAML syntax error" },
		{ "keys: {name: a}\n", "1:7: keys takes a list of mappings" },
		{ "keys: [a]\n", "1:8: keys takes a list of mappings, such as {name: ...}" },
		{ "keys: [{name: a, colour: b}]\n", "1:18: keys has no field 'colour'" },
		{ "keys: [{name: a, name: b}]\n", "'name' is given twice" },
		{ "keys: [{name: [a]}]\n", "keys's name takes a single value" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct settings s = { 0 };
		char err[256] = "";
		assert_int_equal(read_text(bad[i].text, &s, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].msg))
			fail_msg("'%s': got '%s'", bad[i].text, err);
		settings_free(&s);
	}
}

static void test_addresses(void **state)
{
	struct sockaddr_storage ss;
	char out[64];

	assert_int_equal(cfg_addr_parse("192.0.2.1:53", &ss), 0);
	assert_int_equal(cfg_sockaddr_format((struct sockaddr *)&ss, out, sizeof(out)), 12);
	assert_string_equal(out, "192.0.2.1:53");
	assert_int_equal(cfg_addr_parse("[2001:db8::5]:5269", &ss), 0);
	cfg_sockaddr_format((struct sockaddr *)&ss, out, sizeof(out));
	assert_string_equal(out, "[2001:db8::5]:5269");
	assert_int_equal(cfg_addr_parse("[::ffff:192.0.2.1]:65535", &ss), 0);
	assert_int_equal(cfg_sockaddr_format((struct sockaddr *)&ss, out, sizeof(out)), 24);
	assert_string_equal(out, "[::ffff:192.0.2.1]:65535");
	/* too small: truncated and terminated, as cfg_hostport() */
	assert_int_equal(cfg_sockaddr_format((struct sockaddr *)&ss, out, 8), -ENOSPC);
	assert_string_equal(out, "[::ffff");
	static const char *const bad[] = { "192.0.2.1", "192.0.2.1:0", "192.0.2.1:65536",
		"2001:db8::5:53", "[2001:db8::5]53", "[192.0.2.1]:53", "host.example:53",
		":53", "192.0.2.1:5x", "192.0.2.1:-1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (cfg_addr_parse(bad[i], &ss) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
	assert_int_equal(cfg_hostport("xmpp.b.example", 5269, out, sizeof(out)), 19);
	assert_string_equal(out, "xmpp.b.example:5269");
	cfg_hostport("2001:db8::5", 5269, out, sizeof(out));
	assert_string_equal(out, "[2001:db8::5]:5269");
	assert_int_equal(cfg_hostport("xmpp.b.example", 5269, out, 8), -ENOSPC);
	assert_string_equal(out, "xmpp.b.");
	assert_int_equal(cfg_hostport("xmpp.b.example", 5269, out, 20), 19);
	assert_int_equal(cfg_hostport("xmpp.b.example", 5269, out, 19), -ENOSPC);
	assert_string_equal(out, "xmpp.b.example:526");
	char longname[300], longout[320];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(cfg_hostport(longname, 5269, longout, sizeof(longout)), 304);
	assert_string_equal(longout + 299, ":5269");
	assert_int_equal(cfg_hostport("a:b", 1, out, sizeof(out)), 5);   /* not IPv6: no brackets */
	assert_string_equal(out, "a:b:1");
	assert_int_equal(cfg_addr_parse("10.0.255.9:0", &ss), -EINVAL);
	assert_int_equal(cfg_addr_parse("10.0.255.9:7", &ss), 0);
	assert_int_equal(cfg_sockaddr_format((struct sockaddr *)&ss, out, sizeof(out)), 12);
	assert_string_equal(out, "10.0.255.9:7");
	assert_int_equal(cfg_addr_parse("0.0.0.0:65535", &ss), 0);
	cfg_sockaddr_format((struct sockaddr *)&ss, out, sizeof(out));
	assert_string_equal(out, "0.0.0.0:65535");
}

/* The second pass of both daemons: values taken, and the exit codes. */
static void test_options(void **state)
{
	char *list[CFG_LIST_MAX] = { strdup("from.file:1") };
	size_t n = 1;
	bool cleared = false;
	char *one = NULL;
	unsigned num = 0;
	(void)state;

	assert_int_equal(cfg_opt_list("test", "--x", list, &n, &cleared, "192.0.2.1:53"), 0);
	assert_int_equal(n, 1);   /* the command line's list replaces the file's */
	assert_string_equal(list[0], "192.0.2.1:53");
	while (n < CFG_LIST_MAX)
		assert_int_equal(cfg_opt_list("test", "--x", list, &n, &cleared, "v"), 0);
	assert_int_equal(cfg_opt_list("test", "--x", list, &n, &cleared, "v"), 2);
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	assert_int_equal(cfg_opt_string(&one, "a"), 0);
	assert_int_equal(cfg_opt_string(&one, "b"), 0);
	assert_string_equal(one, "b");
	free(one);
	assert_int_equal(cfg_opt_number("test", "n", "7", 8, &num), 0);
	assert_int_equal(num, 7);
	assert_int_equal(cfg_opt_number("test", "n", "9", 8, &num), 2);
	assert_int_equal(cfg_opt_number("test", "n", "0", 8, &num), 2);
	assert_int_equal(num, 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_settings),
		cmocka_unit_test(test_reads_records),
		cmocka_unit_test(test_reads_mapping),
		cmocka_unit_test(test_refuses),
		cmocka_unit_test(test_reads_one_record),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
