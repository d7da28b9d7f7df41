/* Files whole: read at once with a size limit, written so that a reader
 * never sees half of one. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

int table_file_read(const char *path, size_t max, char **out, size_t *len, char *err,
                    size_t errlen)
{
	FILE *f;
	struct stat st;
	char *buf;
	int rc;

	if (!path || !out || !len || !err)
		return -EINVAL;
	*out = NULL;
	if (!(f = fopen(path, "rb"))) {
		rc = -errno;
		return table__say(rc, err, errlen, "%s: %s", path, strerror(-rc));
	}
	if (fstat(fileno(f), &st) != 0) {
		rc = -errno;
		fclose(f);
		return table__say(rc, err, errlen, "%s: %s", path, strerror(-rc));
	}
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		rc = S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
		fclose(f);
		return table__say(rc, err, errlen, "%s: not a regular file of at most %zu bytes",
		                  path, max);
	}
	if (!(buf = malloc((size_t)st.st_size + 1))) {
		fclose(f);
		return table__say(-ENOMEM, err, errlen, "%s: out of memory", path);
	}
	*len = fread(buf, 1, (size_t)st.st_size + 1, f);
	if (ferror(f) || *len > (size_t)st.st_size) {
		fclose(f);
		free(buf);
		return table__say(-EIO, err, errlen, "%s: changed while being read", path);
	}
	fclose(f);
	buf[*len] = '\0';
	*out = buf;
	return 0;
}

int table_file_write_atomic(const char *path, const void *data, size_t len, char *err,
                            size_t errlen)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	const char *slash, *p = data;
	size_t left = len;
	int fd, dfd, e;

	if (!path || (!data && len) || !err)
		return -EINVAL;
	slash = strrchr(path, '/');
	if (snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path) >= (int)sizeof(tmp))
		return table__say(-ENAMETOOLONG, err, errlen, "%s: path too long", path);
	if ((fd = mkstemp(tmp)) < 0) {
		e = errno;
		return table__say(-e, err, errlen, "%s: %s", tmp, strerror(e));
	}
	errno = 0;   /* a write of 0 bytes says nothing: EIO below */
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		p += n;
		left -= (size_t)n;
	}
	if (left > 0 || fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
		e = errno ? errno : EIO;
		close(fd);
		unlink(tmp);
		return table__say(-e, err, errlen, "%s: %s", tmp, strerror(e));
	}
	/* A failed close has released the descriptor all the same (Linux):
	 * closing it again could close one another thread just opened. */
	if (close(fd) != 0) {
		e = errno ? errno : EIO;
		unlink(tmp);
		return table__say(-e, err, errlen, "%s: %s", tmp, strerror(e));
	}
	if (rename(tmp, path) != 0) {
		e = errno;
		unlink(tmp);
		return table__say(-e, err, errlen, "%s: %s", path, strerror(e));
	}
	/* The rename itself lasts only once the directory is on disk. */
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path + 1) : 1, slash ? path : ".");
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}
