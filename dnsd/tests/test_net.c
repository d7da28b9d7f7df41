/* The server's TCP side when memory runs out, and its UDP batches.
 * Linked with -Wl,--wrap=calloc: the calls of dnsd's own code (not
 * libuv's) go through __wrap_calloc, which fails while fail_calloc is
 * set. */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <time.h>

#include <cmocka.h>

#include "fixture.h"

void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);

static bool fail_calloc;

void *__wrap_calloc(size_t n, size_t size)
{
	return fail_calloc ? NULL : __real_calloc(n, size);
}

struct server {
	struct fixture f;
	uv_loop_t loop;
	dnsd_server *s;
	unsigned port;
	bool closed;
};

static int setup(void **state)
{
	struct server *t = calloc(1, sizeof(*t));
	char addr[32];

	assert_non_null(t);
	assert_int_equal(fixture_open(&t->f), 0);
	assert_int_equal(uv_loop_init(&t->loop), 0);
	/* No rate limiting: a burst from one address is the point of some. */
	struct dnsd_limits lim = { .rrl_set = true };
	assert_int_equal(dnsd_server_init(&t->loop, t->f.engine, &lim, &t->s), 0);
	/* A free port: try a few in the dynamic range. */
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	for (int i = 0; i < 50; i++) {
		t->port = 20000 + (unsigned)rand() % 30000;
		snprintf(addr, sizeof(addr), "127.0.0.1:%u", t->port);
		if (dnsd_server_listen(t->s, addr, DNSD_LISTEN_TCP | DNSD_LISTEN_UDP) == 0)
			break;
		t->port = 0;
	}
	assert_int_not_equal(t->port, 0);
	*state = t;
	return 0;
}

static void closed(void *arg)
{
	((struct server *)arg)->closed = true;
}

static int teardown(void **state)
{
	struct server *t = *state;

	fail_calloc = false;
	dnsd_server_close(t->s, closed, t);
	for (int i = 0; i < 1000 && !t->closed; i++)
		uv_run(&t->loop, UV_RUN_NOWAIT);
	assert_true(t->closed);
	assert_int_equal(uv_loop_close(&t->loop), 0);
	fixture_close(&t->f);
	free(t);
	return 0;
}

/* A socket of type on loopback, connected to port.  For TCP the kernel
 * completes the connection from the backlog, accepted or not. */
static int loopback_to(int type, unsigned port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

static int connect_to(unsigned port)
{
	return loopback_to(SOCK_STREAM, port);
}

/* Run the loop until fd has something to read or is closed; at most about
 * five seconds.  Returns the recv() result (0: closed), or -2 on time. */
static ssize_t run_until_readable(uv_loop_t *loop, int fd, uint8_t *buf, size_t len)
{
	for (int i = 0; i < 1000; i++) {
		uv_run(loop, UV_RUN_NOWAIT);
		ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
		if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return n < 0 ? 0 : n;   /* a reset is a close too */
		usleep(5000);
	}
	return -2;
}

/* A query for ch.fed.example A over TCP, with its length. */
static const uint8_t query[] = {
	0, 32, 0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
	2, 'c', 'h', 3, 'f', 'e', 'd', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1,
};

static void assert_answers(struct server *t)
{
	uint8_t buf[512];
	int fd = connect_to(t->port);

	assert_int_equal(send(fd, query, sizeof(query), 0), (ssize_t)sizeof(query));
	ssize_t n = run_until_readable(&t->loop, fd, buf, sizeof(buf));
	assert_true(n >= 4);
	assert_int_equal(buf[2], 0x12);
	assert_int_equal(buf[3], 0x34);
	close(fd);
}

/* Regression: on a failed allocation the accept callback returned without
 * uv_accept, and libuv never watched the listener again. */
static void test_accept_without_memory_keeps_listening(void **state)
{
	struct server *t = *state;
	uint8_t buf[16];

	assert_answers(t);
	fail_calloc = true;
	int fd = connect_to(t->port);
	assert_int_equal(run_until_readable(&t->loop, fd, buf, sizeof(buf)), 0);
	close(fd);
	fail_calloc = false;
	assert_answers(t);
}

/* Several at once: the reject handle is busy closing the first while the
 * others wait in their listener, which takes them up when it is free. */
static void test_accept_without_memory_several_at_once(void **state)
{
	struct server *t = *state;
	uint8_t buf[16];
	int fds[5];

	fail_calloc = true;
	for (int i = 0; i < 5; i++)
		fds[i] = connect_to(t->port);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(run_until_readable(&t->loop, fds[i], buf, sizeof(buf)), 0);
		close(fds[i]);
	}
	fail_calloc = false;
	assert_answers(t);
}

/* ---- UDP ---- */

/* A UDP socket on loopback, of its own port, that sends to port. */
static int udp_to(unsigned port)
{
	return loopback_to(SOCK_DGRAM, port);
}

/* Send the UDP query (the TCP one without its length) with id, or with
 * QR set: a response, which gets no answer. */
static void udp_send(int fd, uint16_t id, bool response)
{
	uint8_t q[sizeof(query) - 2];

	memcpy(q, query + 2, sizeof(q));
	q[0] = (uint8_t)(id >> 8);
	q[1] = (uint8_t)id;
	if (response)
		q[2] |= 0x80;
	assert_int_equal(send(fd, q, sizeof(q), 0), (ssize_t)sizeof(q));
}

/* Datagrams sent before the loop runs are read in one batch.  One that
 * gets no answer (a response) sits between two that do: each answer
 * must still go to the address its own query came from. */
static void test_udp_batch_sends_each_answer_to_its_own_querier(void **state)
{
	struct server *t = *state;
	uint8_t buf[512];
	int a = udp_to(t->port), b = udp_to(t->port), c = udp_to(t->port);

	udp_send(a, 0x0a0a, false);
	udp_send(b, 0x0b0b, true);
	udp_send(c, 0x0c0c, false);
	assert_true(run_until_readable(&t->loop, a, buf, sizeof(buf)) >= 12);
	assert_int_equal(buf[0] << 8 | buf[1], 0x0a0a);
	assert_true(buf[2] & 0x80);
	assert_true(run_until_readable(&t->loop, c, buf, sizeof(buf)) >= 12);
	assert_int_equal(buf[0] << 8 | buf[1], 0x0c0c);
	assert_int_equal(recv(b, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(recv(a, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(recv(c, buf, sizeof(buf), MSG_DONTWAIT), -1);
	close(a);
	close(b);
	close(c);
}

/* A query that claims source port 0 (forged: no socket has it) cannot be
 * answered: sendmmsg stops at its answer (EINVAL) and used to drop every
 * answer after it in the batch.  The forged datagram needs a raw socket;
 * without the privilege the test has nothing to show and is skipped. */
static void test_udp_answer_to_port_zero_does_not_drop_the_rest_of_the_batch(void **state)
{
	struct server *t = *state;
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	uint8_t buf[512], forged[8 + sizeof(query) - 2];
	int raw = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_UDP);

	if (raw < 0) {
		skip();
		return;
	}
	int a = udp_to(t->port), c = udp_to(t->port);
	/* UDP header: source port 0, our port, length, no checksum (IPv4
	 * allows it). */
	memset(forged, 0, 8);
	forged[2] = (uint8_t)(t->port >> 8);
	forged[3] = (uint8_t)t->port;
	forged[4] = (uint8_t)(sizeof(forged) >> 8);
	forged[5] = (uint8_t)sizeof(forged);
	memcpy(forged + 8, query + 2, sizeof(query) - 2);
	udp_send(a, 0x0a0a, false);
	assert_int_equal(sendto(raw, forged, sizeof(forged), 0, (struct sockaddr *)&to, sizeof(to)),
	                 (ssize_t)sizeof(forged));
	udp_send(c, 0x0c0c, false);
	assert_true(run_until_readable(&t->loop, a, buf, sizeof(buf)) >= 12);
	assert_int_equal(buf[0] << 8 | buf[1], 0x0a0a);
	assert_true(run_until_readable(&t->loop, c, buf, sizeof(buf)) >= 12);
	assert_int_equal(buf[0] << 8 | buf[1], 0x0c0c);
	close(raw);
	close(a);
	close(c);
}

/* More datagrams than one batch, and than one wake-up takes: every one is
 * answered, once (the loop comes back to the socket while it is not
 * empty). */
static void test_udp_answers_every_query_of_a_burst(void **state)
{
	struct server *t = *state;
	enum { N = 101 };
	static bool seen[N];
	uint8_t buf[512];
	int fd = udp_to(t->port), got = 0;

	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < N; i++)
		udp_send(fd, (uint16_t)i, false);
	while (got < N) {
		ssize_t n = run_until_readable(&t->loop, fd, buf, sizeof(buf));
		assert_true(n >= 12);
		unsigned id = (unsigned)(buf[0] << 8 | buf[1]);
		assert_true(id < N);
		assert_false(seen[id]);
		seen[id] = true;
		got++;
	}
	close(fd);
}

static void count_active_idle(uv_handle_t *h, void *arg)
{
	if (h->type == UV_IDLE && uv_is_active(h))
		++*(int *)arg;
}

static int active_idle(uv_loop_t *loop)
{
	int n = 0;

	uv_walk(loop, count_active_idle, &n);
	return n;
}

/* A socket still full after a wake-up's batches leaves epoll and is read
 * from an idle handle, which keeps the loop from waiting; the first read
 * that finds it empty hands it back to epoll.  Left in the idle handle, an
 * idle server would spin at full speed; never handed back, it would not
 * hear the next query. */
static void test_udp_socket_read_while_full_then_polled_again(void **state)
{
	struct server *t = *state;
	enum { N = 120 };   /* more than one wake-up's batches take */
	uint8_t buf[512];
	int fd = udp_to(t->port);

	for (int i = 0; i < N; i++)
		udp_send(fd, (uint16_t)i, false);
	uv_run(&t->loop, UV_RUN_NOWAIT);
	assert_int_equal(active_idle(&t->loop), 1);
	for (int got = 0; got < N; got++)
		assert_true(run_until_readable(&t->loop, fd, buf, sizeof(buf)) >= 12);
	uv_run(&t->loop, UV_RUN_NOWAIT);
	assert_int_equal(active_idle(&t->loop), 0);
	udp_send(fd, 0x4242, false);
	assert_true(run_until_readable(&t->loop, fd, buf, sizeof(buf)) >= 12);
	assert_int_equal(buf[0] << 8 | buf[1], 0x4242);
	assert_int_equal(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_accept_without_memory_keeps_listening, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accept_without_memory_several_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_batch_sends_each_answer_to_its_own_querier, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_udp_answers_every_query_of_a_burst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_socket_read_while_full_then_polled_again, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_udp_answer_to_port_zero_does_not_drop_the_rest_of_the_batch,
		                                setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
