#ifndef IM_AUTH_SEAL_H
#define IM_AUTH_SEAL_H

#include <stdbool.h>
#include <stddef.h>

/* Encryption at rest of short secrets (TOTP seeds) under a key derived from SECRET_KEY.
 *
 * The key is HKDF-SHA256 (RFC 5869) of SECRET_KEY with an empty salt and the info string
 * IM_SEAL_CONTEXT, so it differs from the JWT signing key even though both come from
 * SECRET_KEY. A sealed value is the text "v1:" followed by standard base64 of a random
 * 12-byte nonce, the AES-256-GCM ciphertext and the 16-byte tag. The associated data
 * (for example "totp:<user id>") binds a sealed value to its row, so a value copied into
 * another user's row does not open. */
#define IM_SEAL_PREFIX    "v1:"
#define IM_SEAL_CONTEXT   "inframon totp secret v1"
#define IM_SEAL_KEY_BYTES 32
#define IM_SEAL_NONCE_BYTES 12
#define IM_SEAL_TAG_BYTES   16

/* Maximum plaintext length in bytes. */
#define IM_SEAL_PLAIN_MAX 64
/* Length of the sealed text of a plaintext of plain_len bytes, without the NUL. */
#define IM_SEAL_TEXT_LEN(plain_len) \
    (sizeof(IM_SEAL_PREFIX) - 1 +   \
     4 * ((IM_SEAL_NONCE_BYTES + (plain_len) + IM_SEAL_TAG_BYTES + 2) / 3))

typedef struct {
    unsigned char bytes[IM_SEAL_KEY_BYTES];
} im_seal_key_t;

/* Derives the sealing key from secret_key. Always returns IM_OK. */
int im_seal_key_derive(const char *secret_key, im_seal_key_t *key);

/* Returns true when text has the sealed form's prefix (it may still fail to open). */
bool im_seal_is_sealed(const char *text);

/* Encrypts plain under key with associated data aad and writes the sealed text to out.
 * Returns IM_OK, or IM_EINVAL when plain is longer than IM_SEAL_PLAIN_MAX or out_size is
 * too small. */
int im_seal(const im_seal_key_t *key, const char *aad, const char *plain, char *out,
            size_t out_size);

/* Decrypts sealed text under key and aad into out (NUL-terminated). Returns IM_OK,
 * IM_EDENIED when the tag does not verify (another key, another aad or a changed value),
 * or IM_EINVAL when sealed is not in the sealed form (including base64 that is not
 * canonical), the plaintext contains a NUL, or out_size is too small. */
int im_seal_open(const im_seal_key_t *key, const char *aad, const char *sealed, char *out,
                 size_t out_size);

/* The primitives under the sealed form, public for their known-answer tests. */

/* Writes out_len bytes (at most 255 * 32) of HKDF-SHA256 (RFC 5869) to out. */
void im_hkdf_sha256(const void *salt, size_t salt_len, const void *ikm, size_t ikm_len,
                    const void *info, size_t info_len, unsigned char *out, size_t out_len);
/* AES-256-GCM with a 12-byte nonce and a 16-byte tag. out has room for len bytes and may
 * be in. Decryption returns false, with out zeroed, when the tag does not verify. */
void im_aes256_gcm_encrypt(const unsigned char key[IM_SEAL_KEY_BYTES],
                           const unsigned char nonce[IM_SEAL_NONCE_BYTES], const void *aad,
                           size_t aad_len, const unsigned char *in, size_t len,
                           unsigned char *out, unsigned char tag[IM_SEAL_TAG_BYTES]);
bool im_aes256_gcm_decrypt(const unsigned char key[IM_SEAL_KEY_BYTES],
                           const unsigned char nonce[IM_SEAL_NONCE_BYTES], const void *aad,
                           size_t aad_len, const unsigned char *in, size_t len,
                           unsigned char *out, const unsigned char tag[IM_SEAL_TAG_BYTES]);

#endif
