/* Prints this process's VmRSS before and after one HMAC-SHA256, to compare what linking
 * and starting a crypto library costs in resident memory. Build three variants:
 *
 *   cc -O2 bench/crypto_rss.c -o /tmp/rss-plain
 *   cc -O2 -DWITH_OPENSSL bench/crypto_rss.c -o /tmp/rss-openssl -lssl -lcrypto
 *   cc -O2 -DWITH_NETTLE bench/crypto_rss.c -o /tmp/rss-nettle -lnettle
 *
 * and run each a few times. The OpenSSL variant refers to SSL_new so that libssl stays
 * linked, as it would in a TLS client. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef WITH_OPENSSL
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>
#endif
#ifdef WITH_NETTLE
#include <nettle/hmac.h>
#endif

static void print_vmrss(const char *label)
{
    FILE *status = fopen("/proc/self/status", "r");
    if (!status) {
        perror("/proc/self/status");
        return;
    }
    char line[256];
    while (fgets(line, sizeof(line), status)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            printf("%-12s %s", label, line + 6);
        }
    }
    fclose(status);
}

int main(void)
{
    static const char key[] = "key";
    static const char message[] = "message";
    unsigned char mac[64];
    print_vmrss("start");
#if defined(WITH_OPENSSL)
    void *volatile keep_libssl = (void *)SSL_new;
    (void)keep_libssl;
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)message, strlen(message), mac,
         &mac_len);
    print_vmrss("after HMAC");
#elif defined(WITH_NETTLE)
    struct hmac_sha256_ctx ctx;
    hmac_sha256_set_key(&ctx, strlen(key), (const uint8_t *)key);
    hmac_sha256_update(&ctx, strlen(message), (const uint8_t *)message);
    hmac_sha256_digest(&ctx, SHA256_DIGEST_SIZE, mac);
    print_vmrss("after HMAC");
#else
    (void)key;
    (void)message;
    (void)mac;
#endif
    return 0;
}
