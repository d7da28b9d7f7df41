/* A program with one sanitizer finding, picked by its argument, that
 * exits 0 when the sanitizer lets it: what tests/sanitized must catch.
 *   leak      memory never freed (LeakSanitizer, at exit)
 *   overflow  a signed integer overflow (UndefinedBehaviorSanitizer)
 *   none      nothing wrong
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *volatile kept;

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	if (strcmp(argv[1], "leak") == 0) {
		kept = malloc(32);
		kept = NULL;
	} else if (strcmp(argv[1], "overflow") == 0) {
		volatile int big = INT_MAX;
		printf("%d\n", big + argc);
	} else if (strcmp(argv[1], "none") != 0) {
		return 2;
	}
	return 0;
}
