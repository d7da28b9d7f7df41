/* The server's accept path, with the allocation of a connection made to
 * fail: the test is linked with -Wl,--wrap=calloc. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "fixtures.h"
#include "conn.h"

static char dir[256];
static pdb_t *db;
static unsigned fail_conn_allocs;

void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);

void *__wrap_calloc(size_t n, size_t size)
{
	if (fail_conn_allocs && n == 1 && size == sizeof(struct conn)) {
		fail_conn_allocs--;
		return NULL;
	}
	return __real_calloc(n, size);
}

static int setup(void **state)
{
	(void)state;
	assert_non_null(db = fixture_store_new(dir, sizeof(dir), "xmppd-test"));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return fixture_store_remove(db, dir);
}

static uint16_t free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static int dial(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Turn the loop until pred holds, for at most about two seconds. */
static bool run_until(uv_loop_t *loop, bool (*pred)(xmppd_server *), xmppd_server *s)
{
	for (int i = 0; i < 200 && !pred(s); i++) {
		uv_run(loop, UV_RUN_NOWAIT);
		usleep(10000);
	}
	return pred(s);
}

static bool alloc_failed(xmppd_server *s)
{
	(void)s;
	return fail_conn_allocs == 0;
}

static bool one_in_setup(xmppd_server *s)
{
	return s->nsetup == 1;
}

static bool peer_closed(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char b;
	return poll(&p, 1, 2000) == 1 && recv(fd, &b, 1, 0) == 0;
}

static void on_closed(void *arg)
{
	*(bool *)arg = true;
}

static void test_listener_survives_a_failed_connection_allocation(void **state)
{
	uv_loop_t loop;
	xmppd_server *s;
	char addr[32];
	uint16_t port = free_port();
	bool closed = false;
	(void)state;

	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(xmppd_server_init(&loop, db, NULL, XMPPD_REDIRECT, NULL, &s), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	assert_int_equal(xmppd_server_listen(s, addr, false), 0);

	/* Two in a row fail: the second arrives while the first is dropped. */
	fail_conn_allocs = 2;
	int a = dial(port), b = dial(port);
	assert_true(run_until(&loop, alloc_failed, s));
	run_until(&loop, one_in_setup, s);   /* let the drops finish */
	assert_true(peer_closed(a));          /* accepted and closed, not left pending */
	assert_true(peer_closed(b));
	assert_int_equal(s->nsetup, 0);

	/* and the listener still takes connections */
	int c = dial(port);
	assert_true(run_until(&loop, one_in_setup, s));

	xmppd_server_close(s, on_closed, &closed);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_true(closed);
	close(a);
	close(b);
	close(c);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listener_survives_a_failed_connection_allocation),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
