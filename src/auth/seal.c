#include "auth/seal.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "core/util.h"

#define RAW_MAX (IM_SEAL_NONCE_BYTES + IM_SEAL_PLAIN_MAX + IM_SEAL_TAG_BYTES)

int im_seal_key_derive(const char *secret_key, im_seal_key_t *key)
{
    static const char context[] = IM_SEAL_CONTEXT;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
    size_t key_len = sizeof(key->bytes);
    bool ok = ctx && EVP_PKEY_derive_init(ctx) > 0 &&
              EVP_PKEY_CTX_set_hkdf_md(ctx, EVP_sha256()) > 0 &&
              EVP_PKEY_CTX_set1_hkdf_key(ctx, (const unsigned char *)secret_key,
                                         (int)strlen(secret_key)) > 0 &&
              EVP_PKEY_CTX_add1_hkdf_info(ctx, (const unsigned char *)context,
                                          (int)(sizeof(context) - 1)) > 0 &&
              EVP_PKEY_derive(ctx, key->bytes, &key_len) > 0 && key_len == sizeof(key->bytes);
    EVP_PKEY_CTX_free(ctx);
    return ok ? IM_OK : IM_ERR;
}

bool im_seal_is_sealed(const char *text)
{
    return strncmp(text, IM_SEAL_PREFIX, sizeof(IM_SEAL_PREFIX) - 1) == 0;
}

/* Runs AES-256-GCM over in (encrypting or decrypting) with nonce and aad; on decryption
 * tag is checked, on encryption it is written. Returns IM_OK, IM_EDENIED (tag mismatch)
 * or IM_ERR. */
static int gcm_run(bool encrypt, const im_seal_key_t *key, const unsigned char *nonce,
                   const char *aad, const unsigned char *in, int in_len, unsigned char *out,
                   unsigned char *tag)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0;
    int rc = IM_ERR;
    if (!ctx || EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, encrypt) <= 0 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, IM_SEAL_NONCE_BYTES, NULL) <= 0 ||
        EVP_CipherInit_ex(ctx, NULL, NULL, key->bytes, nonce, encrypt) <= 0 ||
        EVP_CipherUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) <= 0 ||
        EVP_CipherUpdate(ctx, out, &len, in, in_len) <= 0) {
        goto out;
    }
    if (!encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, IM_SEAL_TAG_BYTES, tag) <= 0) {
        goto out;
    }
    if (EVP_CipherFinal_ex(ctx, out + len, &len) <= 0) {
        rc = encrypt ? IM_ERR : IM_EDENIED;
        goto out;
    }
    if (encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, IM_SEAL_TAG_BYTES, tag) <= 0) {
        goto out;
    }
    rc = IM_OK;
out:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
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
    int rc = gcm_run(true, key, nonce, aad, (const unsigned char *)plain, (int)plain_len, cipher,
                     tag);
    if (rc == IM_OK) {
        size_t prefix_len = sizeof(IM_SEAL_PREFIX) - 1;
        memcpy(out, IM_SEAL_PREFIX, prefix_len);
        EVP_EncodeBlock((unsigned char *)out + prefix_len, raw,
                        (int)(IM_SEAL_NONCE_BYTES + plain_len + IM_SEAL_TAG_BYTES));
    }
    explicit_bzero(raw, sizeof(raw));
    return rc;
}

int im_seal_open(const im_seal_key_t *key, const char *aad, const char *sealed, char *out,
                 size_t out_size)
{
    if (!im_seal_is_sealed(sealed)) {
        return IM_EINVAL;
    }
    const char *text = sealed + sizeof(IM_SEAL_PREFIX) - 1;
    size_t text_len = strlen(text);
    if (text_len == 0 || text_len % 4 != 0 || text_len > 4 * ((RAW_MAX + 2) / 3)) {
        return IM_EINVAL;
    }
    unsigned char raw[4 * ((RAW_MAX + 2) / 3)];
    int decoded = EVP_DecodeBlock(raw, (const unsigned char *)text, (int)text_len);
    if (decoded < 0) {
        return IM_EINVAL;
    }
    /* EVP_DecodeBlock counts the bytes that padding stands for; take them off. */
    size_t raw_len = (size_t)decoded;
    for (size_t i = text_len; i > text_len - 2 && text[i - 1] == '='; i--) {
        raw_len--;
    }
    if (raw_len < IM_SEAL_NONCE_BYTES + IM_SEAL_TAG_BYTES) {
        return IM_EINVAL;
    }
    size_t plain_len = raw_len - IM_SEAL_NONCE_BYTES - IM_SEAL_TAG_BYTES;
    if (plain_len + 1 > out_size) {
        return IM_EINVAL;
    }
    unsigned char *cipher = raw + IM_SEAL_NONCE_BYTES;
    int rc = gcm_run(false, key, raw, aad, cipher, (int)plain_len, (unsigned char *)out,
                     cipher + plain_len);
    if (rc == IM_OK && memchr(out, '\0', plain_len)) {
        rc = IM_EINVAL;
    }
    if (rc == IM_OK) {
        out[plain_len] = '\0';
    } else {
        explicit_bzero(out, out_size);
    }
    return rc;
}
