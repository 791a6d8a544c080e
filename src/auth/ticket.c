/*
 * Sealed tickets (include/icestation/auth_ticket.h): AES-128-GCM under a key
 * per epoch derived from one random master key.
 */
#include <sys/random.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "icestation/auth_ticket.h"

enum {
	VERSION = 1,
	HDR_LEN = 1 + 4,
	IV_LEN = 12,
	TAG_LEN = 16,
	KEY_LEN = 16,
};

static const char label[] = "icestation ticket v1";

int
ice_ticket_keys_init(struct ice_ticket_keys *k)
{
	if (getrandom(k->master, sizeof(k->master), 0) != (ssize_t)sizeof(k->master))
		return -errno;
	return 0;
}

static int
epoch_key(const struct ice_ticket_keys *k, uint32_t epoch, uint8_t key[KEY_LEN])
{
	uint8_t msg[sizeof(label) - 1 + 4], mac[EVP_MAX_MD_SIZE];
	unsigned mac_len = 0;

	memcpy(msg, label, sizeof(label) - 1);
	for (int i = 0; i < 4; i++)
		msg[sizeof(label) - 1 + (size_t)i] = (uint8_t)(epoch >> (24 - 8 * i));
	if (HMAC(EVP_sha256(), k->master, sizeof(k->master), msg, sizeof(msg), mac, &mac_len) ==
	    NULL)
		return -EIO;
	memcpy(key, mac, KEY_LEN);
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

/* One GCM pass: encrypt (tag written) or decrypt (tag checked). 0 or -EBADMSG/-EIO. */
static int
gcm(bool enc, const uint8_t key[KEY_LEN], const uint8_t *iv, const uint8_t *aad, size_t aad_len,
    const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, rc = -EIO;

	if (ctx == NULL)
		return -EIO;
	if (EVP_CipherInit_ex(ctx, EVP_aes_128_gcm(), NULL, key, iv, enc ? 1 : 0) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1 ||
	    EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1)
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, out + n, &n) != 1) {
		rc = enc ? -EIO : -EBADMSG; /* decrypting: the tag did not match */
		goto out;
	}
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1)
		goto out;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int
ice_ticket_seal(const struct ice_ticket_keys *k, uint64_t now, const uint8_t *plain, size_t len,
                uint8_t *out, size_t cap)
{
	uint32_t epoch = (uint32_t)(now / ICE_TICKET_EPOCH_S);
	uint8_t key[KEY_LEN];
	int rc;

	if (len > ICE_TICKET_PLAIN_MAX || cap < len + ICE_TICKET_OVERHEAD)
		return -EINVAL;
	out[0] = VERSION;
	for (int i = 0; i < 4; i++)
		out[1 + i] = (uint8_t)(epoch >> (24 - 8 * i));
	if (getrandom(out + HDR_LEN, IV_LEN, 0) != IV_LEN)
		return -EIO;
	rc = epoch_key(k, epoch, key);
	if (rc == 0)
		rc = gcm(true, key, out + HDR_LEN, out, HDR_LEN, plain, len, out + HDR_LEN + IV_LEN,
		         out + HDR_LEN + IV_LEN + len);
	OPENSSL_cleanse(key, sizeof(key));
	return rc < 0 ? rc : (int)(len + ICE_TICKET_OVERHEAD);
}

int
ice_ticket_open(const struct ice_ticket_keys *k, uint64_t now, const uint8_t *ticket, size_t len,
                uint8_t *plain, size_t cap)
{
	uint32_t epoch = 0, cur = (uint32_t)(now / ICE_TICKET_EPOCH_S);
	uint8_t key[KEY_LEN], tag[TAG_LEN];
	size_t plen;
	int rc;

	if (len < ICE_TICKET_OVERHEAD || len - ICE_TICKET_OVERHEAD > ICE_TICKET_PLAIN_MAX ||
	    ticket[0] != VERSION)
		return -EBADMSG;
	plen = len - ICE_TICKET_OVERHEAD;
	if (cap < plen)
		return -EINVAL;
	for (int i = 0; i < 4; i++)
		epoch = epoch << 8 | ticket[1 + i];
	if (epoch > cur)
		return -EBADMSG;
	if (cur - epoch > 1)
		return -ESTALE;
	memcpy(tag, ticket + len - TAG_LEN, TAG_LEN);
	rc = epoch_key(k, epoch, key);
	if (rc == 0)
		rc = gcm(false, key, ticket + HDR_LEN, ticket, HDR_LEN, ticket + HDR_LEN + IV_LEN,
		         plen, plain, tag);
	OPENSSL_cleanse(key, sizeof(key));
	if (rc < 0) {
		OPENSSL_cleanse(plain, plen);
		return rc == -EIO ? -EIO : -EBADMSG;
	}
	return (int)plen;
}
