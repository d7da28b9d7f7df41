/* dnsd's configuration file: YAML, the same settings as the command line.
 *
 *   db: /var/lib/clearinghouse
 *   zones: [fed.example.zone]      # relative to this file's directory
 *   listen: ["192.0.2.1:53", "[2001:db8::1]:53"]
 *   threads: 2
 *   tcp-max: 256
 *   tcp-idle-ms: 10000
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "dnsd.h"

int dnsd_config_read(const char *path, struct dnsd_config *c, char *err, size_t errlen)
{
	if (!path || !c)
		return -EINVAL;
	const struct cfg_key keys[] = {
		{ "db", CFG_PATH, &c->db, NULL, 0 },
		{ "zones", CFG_PATH_LIST, c->zones, &c->nzones, 0 },
		{ "listen", CFG_LIST, c->listen, &c->nlisten, 0 },
		{ "threads", CFG_NUMBER, &c->threads, NULL, 256 },
		{ "tcp-max", CFG_NUMBER, &c->lim.tcp_max, NULL, 1000000 },
		{ "tcp-idle-ms", CFG_NUMBER, &c->lim.tcp_idle_ms, NULL, 1000000 },
	};
	int rc = cfg_read(path, keys, sizeof(keys) / sizeof(keys[0]), err, errlen);
	return rc == -EINVAL ? DNSD_ECONFIG : rc;
}

void dnsd_config_free(struct dnsd_config *c)
{
	if (!c)
		return;
	free(c->db);
	for (size_t i = 0; i < c->nzones; i++)
		free(c->zones[i]);
	for (size_t i = 0; i < c->nlisten; i++)
		free(c->listen[i]);
	memset(c, 0, sizeof(*c));
}
