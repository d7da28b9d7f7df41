/* What the policyfile tests share: text into a temporary file. */
#ifndef PF_TEST_HELPERS_H
#define PF_TEST_HELPERS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Write text to a new file under $TMPDIR; path (len bytes) receives its
 * name.  0, or -1 if it could not be written. */
static inline int helper_file(const char *text, char *path, size_t len)
{
	const char *tmp = getenv("TMPDIR");
	FILE *f;
	int fd;

	snprintf(path, len, "%s/test_policyfile-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if ((fd = mkstemp(path)) < 0)
		return -1;
	if (!(f = fdopen(fd, "w"))) {
		close(fd);
		return -1;
	}
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -1;
}

#define HELPER_COMMUNITY \
	"community:\n" \
	"  zone: fed.example\n" \
	"  clearinghouse: [{host: ch.fed.example, port: 5269}]\n"

#endif
