/* Socket addresses, the one conversion both daemons use. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "sockaddr.h"

int ch_sockaddr_addr(const struct sockaddr *sa, struct ch_addr *out)
{
	if (!sa || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		out->family = 4;
		memcpy(out->addr, &s4->sin_addr, 4);
		out->port = s4->sin_port;
		return 0;
	}
	if (sa->sa_family != AF_INET6)
		return -EAFNOSUPPORT;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	out->port = s6->sin6_port;
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		out->family = 4;
		memcpy(out->addr, s6->sin6_addr.s6_addr + 12, 4);
	} else {
		out->family = 6;
		memcpy(out->addr, &s6->sin6_addr, 16);
	}
	return 0;
}
