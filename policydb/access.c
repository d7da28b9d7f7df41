/* The store's files as the operating system sees them: who may open
 * them, and the modes that let a group of writers share them with the
 * daemons. */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* The files of a store, after the directory itself (""). */
static const char *const store_files[] = { "", "/data.mdb", "/lock.mdb" };

int pdb_check_access(const char *dir, unsigned flags)
{
	int rc;

	if (!dir || (flags & ~(PDB_RDONLY | PDB_CREATE)))
		return -EINVAL;
	if ((rc = pdb__open_check_dir(dir, flags & ~PDB_CREATE)) != 0)
		return rc;
	return pdb__open_check_lock(dir);
}

int pdb_world_writable(const char *dir, char *path, size_t len)
{
	struct stat st;
	char p[4096];

	if (!dir || !path || !len)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(store_files) / sizeof(store_files[0]); i++) {
		if ((size_t)snprintf(p, sizeof(p), "%s%s", dir, store_files[i]) >= sizeof(p))
			return -ENAMETOOLONG;
		if (stat(p, &st) != 0) {
			if (errno == ENOENT)
				continue;
			return -errno;
		}
		if (st.st_mode & S_IWOTH) {
			snprintf(path, len, "%s", p);
			return 1;
		}
	}
	return 0;
}

int pdb_set_group(const char *dir, gid_t gid)
{
	char p[4096];

	if (!dir)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(store_files) / sizeof(store_files[0]); i++) {
		if ((size_t)snprintf(p, sizeof(p), "%s%s", dir, store_files[i]) >= sizeof(p))
			return -ENAMETOOLONG;
		/* chown before chmod: chown clears the set-group-ID bit. */
		if (chown(p, (uid_t)-1, gid) != 0 || chmod(p, i == 0 ? 02770 : 0660) != 0)
			return -errno;
	}
	return 0;
}
