/* Tests of the engine client's TLS sessions against a GnuTLS server on loopback. Each run
 * makes its own certificate authority, an engine certificate for 127.0.0.1 and
 * engine.test, and a client certificate, so the checks do not depend on files from
 * elsewhere. The server requires the client certificate, as dockerd --tlsverify does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "core/util.h"
#include "engine/tls.h"

typedef struct {
    gnutls_x509_privkey_t key;
    gnutls_x509_crt_t crt;
} identity_t;

typedef struct {
    char dir[64];
    char ca[128], other_ca[128], cert[128], key[128], server_cert[128], server_key[128];
} files_t;

static files_t files;

static void make_key(identity_t *id)
{
    assert_int_equal(gnutls_x509_privkey_init(&id->key), 0);
    assert_int_equal(gnutls_x509_privkey_generate(id->key, GNUTLS_PK_ECDSA,
                                                  GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
                                                  0),
                     0);
    assert_int_equal(gnutls_x509_crt_init(&id->crt), 0);
}

/* Fills id->crt for common_name, signed by issuer, or self-signed when issuer is NULL. */
static void make_certificate(identity_t *id, const identity_t *issuer, const char *common_name,
                             unsigned serial, bool server)
{
    make_key(id);
    char dn[96];
    snprintf(dn, sizeof(dn), "CN=%s", common_name);
    unsigned char serial_bytes[1] = {(unsigned char)serial};
    time_t now = time(NULL);
    assert_int_equal(gnutls_x509_crt_set_version(id->crt, 3), 0);
    assert_int_equal(gnutls_x509_crt_set_serial(id->crt, serial_bytes, 1), 0);
    assert_int_equal(gnutls_x509_crt_set_activation_time(id->crt, now - 60), 0);
    assert_int_equal(gnutls_x509_crt_set_expiration_time(id->crt, now + 3600), 0);
    assert_int_equal(gnutls_x509_crt_set_dn(id->crt, dn, NULL), 0);
    assert_int_equal(gnutls_x509_crt_set_key(id->crt, id->key), 0);
    if (!issuer) {
        assert_int_equal(gnutls_x509_crt_set_basic_constraints(id->crt, 1, -1), 0);
        assert_int_equal(gnutls_x509_crt_set_key_usage(id->crt, GNUTLS_KEY_KEY_CERT_SIGN), 0);
        assert_int_equal(gnutls_x509_crt_sign2(id->crt, id->crt, id->key, GNUTLS_DIG_SHA256, 0),
                         0);
        return;
    }
    assert_int_equal(gnutls_x509_crt_set_key_usage(id->crt, GNUTLS_KEY_DIGITAL_SIGNATURE), 0);
    if (server) {
        unsigned char loopback[4] = {127, 0, 0, 1};
        assert_int_equal(gnutls_x509_crt_set_subject_alt_name(id->crt, GNUTLS_SAN_IPADDRESS,
                                                              loopback, sizeof(loopback),
                                                              GNUTLS_FSAN_APPEND),
                         0);
        assert_int_equal(gnutls_x509_crt_set_subject_alt_name(id->crt, GNUTLS_SAN_DNSNAME,
                                                              "engine.test", 11,
                                                              GNUTLS_FSAN_APPEND),
                         0);
    }
    assert_int_equal(gnutls_x509_crt_set_key_purpose_oid(
                         id->crt, server ? GNUTLS_KP_TLS_WWW_SERVER : GNUTLS_KP_TLS_WWW_CLIENT, 0),
                     0);
    assert_int_equal(gnutls_x509_crt_sign2(id->crt, issuer->crt, issuer->key, GNUTLS_DIG_SHA256, 0),
                     0);
}

static void write_datum(const char *path, gnutls_datum_t *data)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(data->data, 1, data->size, f), data->size);
    assert_int_equal(fclose(f), 0);
    gnutls_free(data->data);
}

static void write_identity(const identity_t *id, const char *cert_path, const char *key_path)
{
    gnutls_datum_t data;
    assert_int_equal(gnutls_x509_crt_export2(id->crt, GNUTLS_X509_FMT_PEM, &data), 0);
    write_datum(cert_path, &data);
    if (key_path) {
        assert_int_equal(gnutls_x509_privkey_export2(id->key, GNUTLS_X509_FMT_PEM, &data), 0);
        write_datum(key_path, &data);
    }
}

static void free_identity(identity_t *id)
{
    gnutls_x509_crt_deinit(id->crt);
    gnutls_x509_privkey_deinit(id->key);
}

static int make_files(void **state)
{
    (void)state;
    strcpy(files.dir, "/tmp/im-tls-test-XXXXXX");
    assert_non_null(mkdtemp(files.dir));
    snprintf(files.ca, sizeof(files.ca), "%s/ca.pem", files.dir);
    snprintf(files.other_ca, sizeof(files.other_ca), "%s/other-ca.pem", files.dir);
    snprintf(files.cert, sizeof(files.cert), "%s/cert.pem", files.dir);
    snprintf(files.key, sizeof(files.key), "%s/key.pem", files.dir);
    snprintf(files.server_cert, sizeof(files.server_cert), "%s/server-cert.pem", files.dir);
    snprintf(files.server_key, sizeof(files.server_key), "%s/server-key.pem", files.dir);

    identity_t ca, other_ca, server, client;
    make_certificate(&ca, NULL, "test CA", 1, false);
    make_certificate(&other_ca, NULL, "other CA", 2, false);
    make_certificate(&server, &ca, "engine", 3, true);
    make_certificate(&client, &ca, "inframon", 4, false);
    write_identity(&ca, files.ca, NULL);
    write_identity(&other_ca, files.other_ca, NULL);
    write_identity(&server, files.server_cert, files.server_key);
    write_identity(&client, files.cert, files.key);
    free_identity(&ca);
    free_identity(&other_ca);
    free_identity(&server);
    free_identity(&client);
    return 0;
}

static int remove_files(void **state)
{
    (void)state;
    const char *paths[] = {files.ca,  files.other_ca,    files.cert,
                           files.key, files.server_cert, files.server_key};
    for (size_t i = 0; i < IM_ARRAY_LEN(paths); i++) {
        unlink(paths[i]);
    }
    rmdir(files.dir);
    return 0;
}

/* A one-connection TLS server: it requires a client certificate from the test CA, reads
 * "ping" and replies "pong". */
typedef struct {
    int listen_fd;
    int port;
    pthread_t thread;
    bool handshake_ok;
} server_t;

static void *serve_one(void *arg)
{
    server_t *server = arg;
    int fd = accept(server->listen_fd, NULL, NULL);
    if (fd < 0) {
        return NULL;
    }
    gnutls_certificate_credentials_t creds;
    gnutls_certificate_allocate_credentials(&creds);
    gnutls_certificate_set_x509_trust_file(creds, files.ca, GNUTLS_X509_FMT_PEM);
    gnutls_certificate_set_x509_key_file(creds, files.server_cert, files.server_key,
                                         GNUTLS_X509_FMT_PEM);
    gnutls_session_t session;
    gnutls_init(&session, GNUTLS_SERVER);
    gnutls_set_default_priority(session);
    gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, creds);
    gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
    gnutls_session_set_verify_cert(session, NULL, 0);
    gnutls_transport_set_int(session, fd);
    int rc;
    do {
        rc = gnutls_handshake(session);
    } while (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED);
    if (rc == 0) {
        server->handshake_ok = true;
        char buf[4];
        size_t got = 0;
        while (got < sizeof(buf)) {
            ssize_t n = gnutls_record_recv(session, buf + got, sizeof(buf) - got);
            if (n <= 0) {
                break;
            }
            got += (size_t)n;
        }
        if (got == sizeof(buf) && memcmp(buf, "ping", 4) == 0) {
            gnutls_record_send(session, "pong", 4);
        }
        gnutls_bye(session, GNUTLS_SHUT_WR);
    }
    gnutls_deinit(session);
    gnutls_certificate_free_credentials(creds);
    close(fd);
    return NULL;
}

static void server_start(server_t *server)
{
    memset(server, 0, sizeof(*server));
    server->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(server->listen_fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(server->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(server->listen_fd, 1), 0);
    socklen_t len = sizeof(addr);
    assert_int_equal(getsockname(server->listen_fd, (struct sockaddr *)&addr, &len), 0);
    server->port = ntohs(addr.sin_port);
    assert_int_equal(pthread_create(&server->thread, NULL, serve_one, server), 0);
}

static void server_join(server_t *server)
{
    assert_int_equal(pthread_join(server->thread, NULL), 0);
    close(server->listen_fd);
}

/* Opens a non-blocking TCP connection to the server. */
static int connect_to(const server_t *server)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)server->port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
    return fd;
}

/* Sends "ping" through tls and reads the whole reply into buf until the session ends. */
static size_t exchange(im_tls_t *tls, int fd, char *buf, size_t size)
{
    const char *ping = "ping";
    size_t sent = 0;
    while (sent < 4) {
        long n = im_tls_send(tls, ping + sent, 4 - sent);
        if (n < 0) {
            assert_int_equal(errno, EAGAIN);
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            poll(&pfd, 1, 1000);
            continue;
        }
        sent += (size_t)n;
    }
    size_t got = 0;
    for (;;) {
        long n = im_tls_recv(tls, buf + got, size - got);
        if (n == 0) {
            return got;
        }
        if (n < 0) {
            assert_int_equal(errno, EAGAIN);
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            assert_true(poll(&pfd, 1, 5000) > 0);
            continue;
        }
        got += (size_t)n;
    }
}

static void verified_session_carries_data(void **state)
{
    (void)state;
    const char *hosts[] = {"127.0.0.1", "engine.test"};
    im_tls_creds_t *creds = NULL;
    char err[512] = "";
    assert_int_equal(im_tls_creds_new(files.ca, files.cert, files.key, &creds, err, sizeof(err)),
                     IM_OK);
    for (size_t i = 0; i < IM_ARRAY_LEN(hosts); i++) {
        server_t server;
        server_start(&server);
        int fd = connect_to(&server);
        im_tls_t *tls = NULL;
        assert_int_equal(im_tls_connect(creds, fd, hosts[i], 5000, &tls, err, sizeof(err)), IM_OK);
        char reply[16];
        size_t got = exchange(tls, fd, reply, sizeof(reply));
        assert_int_equal(got, 4);
        assert_memory_equal(reply, "pong", 4);
        im_tls_free(tls);
        close(fd);
        server_join(&server);
        assert_true(server.handshake_ok);
    }
    im_tls_creds_free(creds);
}

/* Connects with creds to host and expects the handshake to fail with a message that
 * contains expected. */
static void expect_refused(im_tls_creds_t *creds, const char *host, const char *expected)
{
    server_t server;
    server_start(&server);
    int fd = connect_to(&server);
    im_tls_t *tls = NULL;
    char err[512] = "";
    assert_int_equal(im_tls_connect(creds, fd, host, 5000, &tls, err, sizeof(err)), IM_EDENIED);
    assert_null(tls);
    assert_non_null(strstr(err, expected));
    close(fd);
    server_join(&server);
    assert_false(server.handshake_ok);
}

static void wrong_host_is_rejected(void **state)
{
    (void)state;
    im_tls_creds_t *creds = NULL;
    char err[512] = "";
    assert_int_equal(im_tls_creds_new(files.ca, files.cert, files.key, &creds, err, sizeof(err)),
                     IM_OK);
    expect_refused(creds, "other.test", "certificate verification failed");
    expect_refused(creds, "127.0.0.2", "certificate verification failed");
    im_tls_creds_free(creds);
}

static void unknown_authority_is_rejected(void **state)
{
    (void)state;
    im_tls_creds_t *creds = NULL;
    char err[512] = "";
    assert_int_equal(
        im_tls_creds_new(files.other_ca, files.cert, files.key, &creds, err, sizeof(err)), IM_OK);
    expect_refused(creds, "127.0.0.1", "certificate verification failed");
    im_tls_creds_free(creds);
}

static void unusable_files_are_named(void **state)
{
    (void)state;
    im_tls_creds_t *creds = NULL;
    char err[512] = "";
    char missing[160];
    snprintf(missing, sizeof(missing), "%s/missing.pem", files.dir);
    assert_int_equal(im_tls_creds_new(missing, files.cert, files.key, &creds, err, sizeof(err)),
                     IM_EINVAL);
    assert_null(creds);
    assert_non_null(strstr(err, missing));
    /* A key that does not belong to the certificate. */
    assert_int_equal(
        im_tls_creds_new(files.ca, files.cert, files.server_key, &creds, err, sizeof(err)),
        IM_EINVAL);
    assert_null(creds);
    assert_non_null(strstr(err, files.cert));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(verified_session_carries_data),
        cmocka_unit_test(wrong_host_is_rejected),
        cmocka_unit_test(unknown_authority_is_rejected),
        cmocka_unit_test(unusable_files_are_named),
    };
    return cmocka_run_group_tests(tests, make_files, remove_files);
}
