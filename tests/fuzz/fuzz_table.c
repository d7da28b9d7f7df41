/* libFuzzer target: bytes into the policy table reader (table_parse), the
 * part of render-table and verify-table that reads what a member fetched.
 * Verification checks the signature first; this reads what a signer
 * could still get wrong, or a key thief could write.
 *
 *   build-fuzz/tests/fuzz/fuzz_table -max_total_time=600 CORPUS_DIR
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"
#include "table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct table t;
	struct pf_local lp;
	struct allowed a;
	char err[512];

	if (table_parse((const char *)data, size, &t, err, sizeof(err)) == 0) {
		/* A table that reads must also render. */
		memset(&lp, 0, sizeof(lp));
		lp.policy.set = PDB_POLICY_MIN_LEVEL;
		lp.policy.min_peer_level = 2;
		if (t.nmembers && render_allowed(&t, t.members[0].name, &lp, 1700000000, &a) == 0) {
			for (size_t i = 1; i < a.n; i++)
				if (strcmp(a.names[i - 1], a.names[i]) >= 0)
					abort();   /* sorted and unique */
			allowed_free(&a);
		}
	}
	table_free(&t);
	return 0;
}
