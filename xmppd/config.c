/* xmppd's configuration file: YAML, the same settings as the command line.
 *
 *   db: /var/lib/clearinghouse
 *   listen: ["192.0.2.1:5269"]
 *   tls-listen: ["192.0.2.1:5270"]
 *   cert: ch.fed.example.pem          # relative to this file's directory
 *   key: ch.fed.example.key
 *   ca: federation-ca.pem
 *   mode: redirect                    # or relay
 *   header-max: 8192
 *   first-byte-ms: 5000
 *   setup-ms: 10000
 *   conn-max: 4096
 *   connect-ms: 5000
 *   relay-idle-ms: 300000
 *   metrics: 127.0.0.1:9154
 *   user: clearinghouse               # run as, after binding (started as root)
 *   group: clearinghouse
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "xmppd.h"

int xmppd_config_read(const char *path, struct xmppd_config *c, char *err, size_t errlen)
{
	if (!path || !c)
		return -EINVAL;
	const struct cfg_key keys[] = {
		{ "db", CFG_PATH, &c->db, NULL, 0, NULL },
		{ "listen", CFG_LIST, c->listen, &c->nlisten, 0, NULL },
		{ "tls-listen", CFG_LIST, c->tls_listen, &c->ntls_listen, 0, NULL },
		{ "cert", CFG_PATH, &c->cert, NULL, 0, NULL },
		{ "key", CFG_PATH, &c->key, NULL, 0, NULL },
		{ "ca", CFG_PATH, &c->ca, NULL, 0, NULL },
		{ "mode", CFG_STRING, &c->mode, NULL, 0, NULL },
		{ "header-max", CFG_NUMBER, &c->lim.header_max, NULL, 1 << 20, NULL },
		{ "first-byte-ms", CFG_NUMBER, &c->lim.first_byte_ms, NULL, 600000, NULL },
		{ "setup-ms", CFG_NUMBER, &c->lim.setup_ms, NULL, 600000, NULL },
		{ "conn-max", CFG_NUMBER, &c->lim.conn_max, NULL, 1000000, NULL },
		{ "connect-ms", CFG_NUMBER, &c->lim.connect_ms, NULL, 600000, NULL },
		{ "relay-idle-ms", CFG_NUMBER, &c->lim.relay_idle_ms, NULL, 86400000, NULL },
		{ "metrics", CFG_STRING, &c->metrics, NULL, 0, NULL },
		{ "user", CFG_STRING, &c->user, NULL, 0, NULL },
		{ "group", CFG_STRING, &c->group, NULL, 0, NULL },
	};
	int rc = cfg_read(path, keys, sizeof(keys) / sizeof(keys[0]), err, errlen);
	return rc == -EINVAL ? XMPPD_ECONFIG : rc;
}

void xmppd_config_free(struct xmppd_config *c)
{
	if (!c)
		return;
	free(c->db);
	free(c->cert);
	free(c->key);
	free(c->ca);
	free(c->mode);
	free(c->metrics);
	free(c->user);
	free(c->group);
	for (size_t i = 0; i < c->nlisten; i++)
		free(c->listen[i]);
	for (size_t i = 0; i < c->ntls_listen; i++)
		free(c->tls_listen[i]);
	memset(c, 0, sizeof(*c));
}
