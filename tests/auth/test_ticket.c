/*
 * Sealed tickets (auth_ticket.h): a round trip; every single-bit change of
 * a ticket refused; another master key refused; the epoch rules (current and
 * previous open, older -ESTALE, future refused); sizes.
 */
#include <errno.h>
#include <string.h>

#include "icestation/auth_ticket.h"

#include "testutil.h"

#define T0 1800000000ull /* unix seconds, inside an epoch */

static void
test_round_trip(void)
{
	struct ice_ticket_keys k, other;
	uint8_t plain[21], out[21 + ICE_TICKET_OVERHEAD], back[64];
	int n;

	REQUIRE(ice_ticket_keys_init(&k) == 0);
	REQUIRE(ice_ticket_keys_init(&other) == 0);
	for (size_t i = 0; i < sizeof(plain); i++)
		plain[i] = (uint8_t)(i * 7 + 1);
	n = ice_ticket_seal(&k, T0, plain, sizeof(plain), out, sizeof(out));
	CHECK_EQ_INT(n, (int)sizeof(out));
	CHECK_EQ_INT(ice_ticket_open(&k, T0, out, sizeof(out), back, sizeof(back)),
	             (int)sizeof(plain));
	CHECK(memcmp(back, plain, sizeof(plain)) == 0);
	/* The plaintext does not appear in the ticket. */
	CHECK(memmem(out, sizeof(out), plain + 4, 8) == NULL);
	/* Two seals of one plaintext differ (random IV). */
	{
		uint8_t again[sizeof(out)];

		CHECK_EQ_INT(ice_ticket_seal(&k, T0, plain, sizeof(plain), again, sizeof(again)),
		             (int)sizeof(again));
		CHECK(memcmp(again, out, sizeof(out)) != 0);
	}
	/* Every bit of every byte matters (header, IV, ciphertext, tag). */
	for (size_t i = 0; i < sizeof(out); i++)
		for (int bit = 0; bit < 8; bit++) {
			int rc;

			out[i] ^= (uint8_t)(1u << bit);
			rc = ice_ticket_open(&k, T0, out, sizeof(out), back, sizeof(back));
			CHECK(rc == -EBADMSG || (i >= 1 && i < 5 && rc == -ESTALE));
			out[i] ^= (uint8_t)(1u << bit);
		}
	CHECK_EQ_INT(ice_ticket_open(&other, T0, out, sizeof(out), back, sizeof(back)), -EBADMSG);
	CHECK_EQ_INT(ice_ticket_open(&k, T0, out, sizeof(out) - 1, back, sizeof(back)), -EBADMSG);
	CHECK_EQ_INT(ice_ticket_open(&k, T0, out, 10, back, sizeof(back)), -EBADMSG);
	CHECK_EQ_INT(ice_ticket_open(&k, T0, out, sizeof(out), back, 4), -EINVAL);
	CHECK_EQ_INT(ice_ticket_seal(&k, T0, plain, sizeof(plain), out, sizeof(out) - 1), -EINVAL);
}

static void
test_epochs(void)
{
	struct ice_ticket_keys k;
	uint8_t plain[8] = "ticket!", out[8 + ICE_TICKET_OVERHEAD], back[8];

	REQUIRE(ice_ticket_keys_init(&k) == 0);
	REQUIRE(ice_ticket_seal(&k, T0, plain, sizeof(plain), out, sizeof(out)) ==
	        (int)sizeof(out));
	/* The next epoch still opens it; the one after does not. */
	CHECK_EQ_INT(
		ice_ticket_open(&k, T0 + ICE_TICKET_EPOCH_S, out, sizeof(out), back, sizeof(back)),
		(int)sizeof(plain));
	CHECK_EQ_INT(ice_ticket_open(&k, T0 + 2 * ICE_TICKET_EPOCH_S, out, sizeof(out), back,
	                             sizeof(back)),
	             -ESTALE);
	/* Sealed in an epoch that has not begun: not ours. */
	CHECK_EQ_INT(
		ice_ticket_open(&k, T0 - ICE_TICKET_EPOCH_S, out, sizeof(out), back, sizeof(back)),
		-EBADMSG);
}

int
main(void)
{
	test_round_trip();
	test_epochs();
	TEST_DONE();
}
