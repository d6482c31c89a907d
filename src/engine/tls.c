#include "engine/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

struct im_tls_creds {
    gnutls_certificate_credentials_t cert;
};

struct im_tls {
    gnutls_session_t session;
};

int im_tls_creds_new(const char *ca_file, const char *cert_file, const char *key_file,
                     im_tls_creds_t **out, char *err, size_t errlen)
{
    *out = NULL;
    /* Reference-counted: libmicrohttpd has usually initialised GnuTLS already. */
    int rc = gnutls_global_init();
    if (rc < 0) {
        snprintf(err, errlen, "TLS: cannot initialise GnuTLS: %s", gnutls_strerror(rc));
        return IM_EINVAL;
    }
    im_tls_creds_t *creds = im_calloc(1, sizeof(*creds));
    rc = gnutls_certificate_allocate_credentials(&creds->cert);
    if (rc < 0) {
        snprintf(err, errlen, "TLS: %s", gnutls_strerror(rc));
        free(creds);
        gnutls_global_deinit();
        return IM_EINVAL;
    }
    /* Returns the number of certificates read; a CA file with none is an error too. */
    rc = gnutls_certificate_set_x509_trust_file(creds->cert, ca_file, GNUTLS_X509_FMT_PEM);
    if (rc <= 0) {
        snprintf(err, errlen, "TLS: cannot read a CA certificate from %s: %s", ca_file,
                 rc == 0 ? "no certificate in the file" : gnutls_strerror(rc));
        im_tls_creds_free(creds);
        return IM_EINVAL;
    }
    rc = gnutls_certificate_set_x509_key_file(creds->cert, cert_file, key_file,
                                              GNUTLS_X509_FMT_PEM);
    if (rc < 0) {
        snprintf(err, errlen, "TLS: cannot use the client certificate %s with key %s: %s",
                 cert_file, key_file, gnutls_strerror(rc));
        im_tls_creds_free(creds);
        return IM_EINVAL;
    }
    *out = creds;
    return IM_OK;
}

void im_tls_creds_free(im_tls_creds_t *creds)
{
    if (!creds) {
        return;
    }
    gnutls_certificate_free_credentials(creds->cert);
    free(creds);
    gnutls_global_deinit();
}

static bool is_ip_address(const char *host)
{
    unsigned char addr[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

/* Writes why the engine's certificate was refused into err. */
static void describe_verify_failure(gnutls_session_t session, const char *host, char *err,
                                    size_t errlen)
{
    unsigned status = gnutls_session_get_verify_cert_status(session);
    gnutls_datum_t text = {0};
    if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) == 0) {
        snprintf(err, errlen,
                 "TLS handshake with %s failed: certificate verification failed: %s", host,
                 (const char *)text.data);
        gnutls_free(text.data);
    } else {
        snprintf(err, errlen, "TLS handshake with %s failed: certificate verification failed",
                 host);
    }
}

int im_tls_connect(const im_tls_creds_t *creds, int fd, const char *host, long timeout_ms,
                   im_tls_t **out, char *err, size_t errlen)
{
    *out = NULL;
    im_tls_t *tls = im_calloc(1, sizeof(*tls));
    int rc = gnutls_init(&tls->session, GNUTLS_CLIENT | GNUTLS_NONBLOCK);
    if (rc < 0) {
        snprintf(err, errlen, "TLS handshake with %s failed: %s", host, gnutls_strerror(rc));
        free(tls);
        return IM_EDENIED;
    }
    rc = gnutls_set_default_priority(tls->session);
    if (rc >= 0) {
        rc = gnutls_credentials_set(tls->session, GNUTLS_CRD_CERTIFICATE, creds->cert);
    }
    if (rc >= 0 && !is_ip_address(host)) {
        /* Server Name Indication carries DNS names only (RFC 6066). */
        rc = gnutls_server_name_set(tls->session, GNUTLS_NAME_DNS, host, strlen(host));
    }
    if (rc < 0) {
        snprintf(err, errlen, "TLS handshake with %s failed: %s", host, gnutls_strerror(rc));
        im_tls_free(tls);
        return IM_EDENIED;
    }
    /* The handshake checks the chain against ca.pem and the host name or IP address. */
    gnutls_session_set_verify_cert(tls->session, host, 0);
    gnutls_transport_set_int(tls->session, fd);
    gnutls_handshake_set_timeout(tls->session, 0);

    int64_t deadline = im_monotonic_ms() + timeout_ms;
    for (;;) {
        rc = gnutls_handshake(tls->session);
        if (rc == GNUTLS_E_SUCCESS) {
            *out = tls;
            return IM_OK;
        }
        if (rc != GNUTLS_E_AGAIN && rc != GNUTLS_E_INTERRUPTED) {
            break;
        }
        int64_t left = deadline - im_monotonic_ms();
        if (left <= 0) {
            snprintf(err, errlen, "TLS handshake with %s timed out after %ld ms", host, timeout_ms);
            im_tls_free(tls);
            return IM_EUNAVAILABLE;
        }
        struct pollfd pfd = {
            .fd = fd,
            .events = gnutls_record_get_direction(tls->session) ? POLLOUT : POLLIN,
        };
        if (poll(&pfd, 1, (int)(left > 1000 ? 1000 : left)) < 0 && errno != EINTR) {
            rc = GNUTLS_E_PUSH_ERROR;
            break;
        }
    }
    if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
        describe_verify_failure(tls->session, host, err, errlen);
    } else {
        snprintf(err, errlen, "TLS handshake with %s failed: %s", host, gnutls_strerror(rc));
    }
    im_tls_free(tls);
    return IM_EDENIED;
}

long im_tls_recv(im_tls_t *tls, void *buf, size_t len)
{
    for (;;) {
        ssize_t got = gnutls_record_recv(tls->session, buf, len);
        if (got >= 0) {
            return (long)got;
        }
        if (got == GNUTLS_E_INTERRUPTED) {
            continue;
        }
        if (got == GNUTLS_E_AGAIN) {
            errno = EAGAIN;
            return -1;
        }
        /* An engine may close the socket without a close_notify alert at the end of a
         * reply, so this counts as the end of the stream. The HTTP framing then shows
         * whether the reply is complete. */
        if (got == GNUTLS_E_PREMATURE_TERMINATION) {
            return 0;
        }
        errno = EIO;
        return -1;
    }
}

long im_tls_send(im_tls_t *tls, const void *buf, size_t len)
{
    for (;;) {
        ssize_t sent = gnutls_record_send(tls->session, buf, len);
        if (sent >= 0) {
            return (long)sent;
        }
        if (sent == GNUTLS_E_INTERRUPTED) {
            continue;
        }
        errno = sent == GNUTLS_E_AGAIN ? EAGAIN : EIO;
        return -1;
    }
}

short im_tls_poll_events(const im_tls_t *tls)
{
    return gnutls_record_get_direction(tls->session) ? POLLOUT : POLLIN;
}

bool im_tls_pending(const im_tls_t *tls)
{
    return gnutls_record_check_pending(tls->session) > 0;
}

void im_tls_free(im_tls_t *tls)
{
    if (!tls) {
        return;
    }
    gnutls_deinit(tls->session);
    free(tls);
}
