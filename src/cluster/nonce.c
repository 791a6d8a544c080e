/*
 * The shared nonce key. A client whose 401 came from node A may send its
 * authenticated Allocate to node B (DNS round robin, anycast); B must accept
 * A's nonce or the client loops on 438. Deriving the key from the auth
 * secret every node already shares needs no Redis round trip, survives a
 * Redis outage, and changes with the secret. The label keeps this key apart
 * from every other use of the secret (the REST credential HMAC).
 */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "icestation/cluster.h"

static const char label[] = "icestation cluster nonce key v1";

int
ice_cluster_nonce_key(const uint8_t *secret, size_t secret_len,
                      uint8_t out[ICE_CLUSTER_NONCE_KEY_LEN])
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned mac_len = 0;

	if (secret_len > INT32_MAX ||
	    HMAC(EVP_sha256(), secret, (int)secret_len, (const uint8_t *)label, sizeof(label) - 1,
	         mac, &mac_len) == NULL ||
	    mac_len < ICE_CLUSTER_NONCE_KEY_LEN)
		return -EIO;
	memcpy(out, mac, ICE_CLUSTER_NONCE_KEY_LEN);
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}
