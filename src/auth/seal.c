#include "auth/seal.h"

#include <string.h>

#include <nettle/gcm.h>
#include <nettle/hkdf.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>

#include "core/util.h"

#define RAW_MAX (IM_SEAL_NONCE_BYTES + IM_SEAL_PLAIN_MAX + IM_SEAL_TAG_BYTES)

void im_hkdf_sha256(const void *salt, size_t salt_len, const void *ikm, size_t ikm_len,
                    const void *info, size_t info_len, unsigned char *out, size_t out_len)
{
    struct hmac_sha256_ctx ctx;
    unsigned char prk[SHA256_DIGEST_SIZE];
    /* An empty salt gives HMAC an empty key, which HMAC pads with zeros: the same as the
     * salt of SHA256_DIGEST_SIZE zero bytes that RFC 5869 section 2.2 prescribes. */
    hmac_sha256_set_key(&ctx, salt_len, salt);
    hkdf_extract(&ctx, (nettle_hash_update_func *)hmac_sha256_update,
                 (nettle_hash_digest_func *)hmac_sha256_digest, SHA256_DIGEST_SIZE, ikm_len, ikm,
                 prk);
    hmac_sha256_set_key(&ctx, sizeof(prk), prk);
    hkdf_expand(&ctx, (nettle_hash_update_func *)hmac_sha256_update,
                (nettle_hash_digest_func *)hmac_sha256_digest, SHA256_DIGEST_SIZE, info_len, info,
                out_len, out);
    explicit_bzero(&ctx, sizeof(ctx));
    explicit_bzero(prk, sizeof(prk));
}

int im_seal_key_derive(const char *secret_key, im_seal_key_t *key)
{
    static const char context[] = IM_SEAL_CONTEXT;
    im_hkdf_sha256("", 0, secret_key, strlen(secret_key), context, sizeof(context) - 1, key->bytes,
                   sizeof(key->bytes));
    return IM_OK;
}

bool im_seal_is_sealed(const char *text)
{
    return strncmp(text, IM_SEAL_PREFIX, sizeof(IM_SEAL_PREFIX) - 1) == 0;
}

static void gcm_start(struct gcm_aes256_ctx *ctx, const unsigned char *key,
                      const unsigned char *nonce, const void *aad, size_t aad_len)
{
    gcm_aes256_set_key(ctx, key);
    gcm_aes256_set_iv(ctx, IM_SEAL_NONCE_BYTES, nonce);
    gcm_aes256_update(ctx, aad_len, aad);
}

void im_aes256_gcm_encrypt(const unsigned char key[IM_SEAL_KEY_BYTES],
                           const unsigned char nonce[IM_SEAL_NONCE_BYTES], const void *aad,
                           size_t aad_len, const unsigned char *in, size_t len, unsigned char *out,
                           unsigned char tag[IM_SEAL_TAG_BYTES])
{
    struct gcm_aes256_ctx ctx;
    gcm_start(&ctx, key, nonce, aad, aad_len);
    gcm_aes256_encrypt(&ctx, len, out, in);
    gcm_aes256_digest(&ctx, IM_SEAL_TAG_BYTES, tag);
    explicit_bzero(&ctx, sizeof(ctx));
}

bool im_aes256_gcm_decrypt(const unsigned char key[IM_SEAL_KEY_BYTES],
                           const unsigned char nonce[IM_SEAL_NONCE_BYTES], const void *aad,
                           size_t aad_len, const unsigned char *in, size_t len, unsigned char *out,
                           const unsigned char tag[IM_SEAL_TAG_BYTES])
{
    struct gcm_aes256_ctx ctx;
    unsigned char computed[IM_SEAL_TAG_BYTES];
    gcm_start(&ctx, key, nonce, aad, aad_len);
    gcm_aes256_decrypt(&ctx, len, out, in);
    gcm_aes256_digest(&ctx, sizeof(computed), computed);
    explicit_bzero(&ctx, sizeof(ctx));
    if (!memeql_sec(computed, tag, sizeof(computed))) {
        explicit_bzero(out, len);
        return false;
    }
    return true;
}

int im_seal(const im_seal_key_t *key, const char *aad, const char *plain, char *out,
            size_t out_size)
{
    size_t plain_len = strlen(plain);
    if (plain_len > IM_SEAL_PLAIN_MAX || out_size < IM_SEAL_TEXT_LEN(plain_len) + 1) {
        return IM_EINVAL;
    }
    unsigned char raw[RAW_MAX];
    unsigned char *nonce = raw;
    unsigned char *cipher = raw + IM_SEAL_NONCE_BYTES;
    unsigned char *tag = cipher + plain_len;
    im_random_bytes(nonce, IM_SEAL_NONCE_BYTES);
    im_aes256_gcm_encrypt(key->bytes, nonce, aad, strlen(aad), (const unsigned char *)plain,
                          plain_len, cipher, tag);
    size_t prefix_len = sizeof(IM_SEAL_PREFIX) - 1;
    memcpy(out, IM_SEAL_PREFIX, prefix_len);
    im_base64_encode(raw, IM_SEAL_NONCE_BYTES + plain_len + IM_SEAL_TAG_BYTES, out + prefix_len);
    explicit_bzero(raw, sizeof(raw));
    return IM_OK;
}

int im_seal_open(const im_seal_key_t *key, const char *aad, const char *sealed, char *out,
                 size_t out_size)
{
    if (!im_seal_is_sealed(sealed)) {
        return IM_EINVAL;
    }
    const char *text = sealed + sizeof(IM_SEAL_PREFIX) - 1;
    unsigned char raw[RAW_MAX];
    size_t raw_len = 0;
    if (!im_base64_decode(text, strlen(text), raw, sizeof(raw), &raw_len) ||
        raw_len < IM_SEAL_NONCE_BYTES + IM_SEAL_TAG_BYTES) {
        return IM_EINVAL;
    }
    size_t plain_len = raw_len - IM_SEAL_NONCE_BYTES - IM_SEAL_TAG_BYTES;
    if (plain_len + 1 > out_size) {
        return IM_EINVAL;
    }
    unsigned char *cipher = raw + IM_SEAL_NONCE_BYTES;
    int rc = IM_OK;
    if (!im_aes256_gcm_decrypt(key->bytes, raw, aad, strlen(aad), cipher, plain_len,
                               (unsigned char *)out, cipher + plain_len)) {
        rc = IM_EDENIED;
    } else if (memchr(out, '\0', plain_len)) {
        rc = IM_EINVAL;
    }
    if (rc == IM_OK) {
        out[plain_len] = '\0';
    } else {
        explicit_bzero(out, out_size);
    }
    return rc;
}
