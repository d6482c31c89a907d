#ifndef IM_ENGINE_TLS_H
#define IM_ENGINE_TLS_H

/* TLS to a tcp:// engine (DOCKER_TLS_VERIFY), over GnuTLS.
 *
 * GnuTLS is the TLS library libmicrohttpd already loads and initialises in this process,
 * so talking TLS to the engine costs no extra library. The engine's certificate must chain
 * to ca.pem and name the host of DOCKER_HOST (a DNS name or an IP address); InfraMon shows
 * cert.pem with key.pem as its client certificate, as the docker CLI does. */

#include <stdbool.h>
#include <stddef.h>

#include "core/util.h"

/* The certificates of one engine, read once and shared by its connections. */
typedef struct im_tls_creds im_tls_creds_t;

/* One TLS session on a connected socket. */
typedef struct im_tls im_tls_t;

/* Reads ca_file, cert_file and key_file. Returns IM_OK, or IM_EINVAL with a message naming
 * the file that cannot be used. */
int im_tls_creds_new(const char *ca_file, const char *cert_file, const char *key_file,
                     im_tls_creds_t **out, char *err, size_t errlen) IM_WARN_UNUSED;
void im_tls_creds_free(im_tls_creds_t *creds);

/* Runs the handshake on fd, a connected non-blocking socket, and verifies the engine's
 * certificate for host, giving up after timeout_ms. Returns IM_OK with the session in
 * *out, IM_EUNAVAILABLE with "timed out" in err, or IM_EDENIED when the handshake or the
 * verification failed, with a message that starts with "TLS handshake" and gives the
 * reason, such as what is wrong with the certificate. The caller keeps fd. */
int im_tls_connect(const im_tls_creds_t *creds, int fd, const char *host, long timeout_ms,
                   im_tls_t **out, char *err, size_t errlen) IM_WARN_UNUSED;

/* Reads decrypted bytes without blocking. Returns the count, 0 when the engine closed the
 * session, or -1 with errno EAGAIN when nothing can be read yet or EIO on a TLS error. */
long im_tls_recv(im_tls_t *tls, void *buf, size_t len);

/* Writes without blocking. Returns the count taken, or -1 with errno EAGAIN (call again
 * with the same data once fd is writable) or EIO. */
long im_tls_send(im_tls_t *tls, const void *buf, size_t len);

/* Returns POLLOUT when the last im_tls_recv or im_tls_send that failed with EAGAIN waits to
 * write to fd (a TLS read may need to write), else POLLIN. */
short im_tls_poll_events(const im_tls_t *tls);

/* Returns whether decrypted bytes wait in the session's buffer, which poll on fd misses. */
bool im_tls_pending(const im_tls_t *tls);

/* Ends the session (without waiting for the engine's close) and frees it; fd stays open. */
void im_tls_free(im_tls_t *tls);

#endif
