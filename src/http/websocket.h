#ifndef IM_HTTP_WEBSOCKET_H
#define IM_HTTP_WEBSOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

/*
 * WebSocket (RFC 6455) sessions: wslay framing over the socket that a libmicrohttpd upgrade
 * hands over. One I/O thread (the hub) serves every session with epoll, together with one
 * optional peer file descriptor per session (such as a hijacked engine connection) that the
 * hub polls for reading.
 *
 * Every handler callback runs on the hub thread, and im_ws_send/im_ws_close may only be
 * called from them. The hub pings each client every IM_WS_PING_SECONDS and closes a
 * session whose client sent nothing for IM_WS_IDLE_SECONDS.
 */

#define IM_WS_PING_SECONDS 25
#define IM_WS_IDLE_SECONDS 90
#define IM_WS_MAX_MESSAGE  (64 * 1024)
/* While more than this is queued for a slow client, the peer fd is not read. */
#define IM_WS_MAX_QUEUED (1024 * 1024)

typedef struct im_ws_session im_ws_session_t;
typedef struct im_ws_hub im_ws_hub_t;

typedef struct {
    /* The session is running (the 101 reply has been sent). May be NULL. */
    void (*on_open)(im_ws_session_t *ws, void *ctx);
    /* A complete text or binary message from the client. */
    void (*on_message)(im_ws_session_t *ws, void *ctx, bool binary, const uint8_t *data,
                       size_t len);
    /* The peer fd is readable or has hung up: read it without blocking. */
    void (*on_peer_readable)(im_ws_session_t *ws, void *ctx);
    /* The peer fd can take more bytes. Called only while the client is paused with
     * im_ws_pause_client. May be NULL. */
    void (*on_peer_writable)(im_ws_session_t *ws, void *ctx);
    /* Last call for the session, from either side's close, an error or the server
     * stopping; the handler closes its peer and frees ctx here. ws is NULL when the client
     * left before libmicrohttpd upgraded the connection. */
    void (*on_close)(im_ws_session_t *ws, void *ctx);
} im_ws_handler_t;

/* Checks the upgrade headers of req (GET, Upgrade: websocket, Connection containing
 * upgrade, Sec-WebSocket-Version 13, a Sec-WebSocket-Key of 16 bytes in base64). Returns
 * false after sending 400, or 426 for another version. */
bool im_ws_check_request(im_request_t *req);

/* Size of a Sec-WebSocket-Accept value with its NUL: base64 of a 20-byte SHA-1. */
#define IM_WS_ACCEPT_SIZE 29
/* Computes the Sec-WebSocket-Accept value for the client's key: base64 of the SHA-1 of the
 * key followed by the RFC 6455 GUID. */
void im_ws_accept_value(const char *key, char out[IM_WS_ACCEPT_SIZE]);

/* Prepares the 101 Switching Protocols reply. When libmicrohttpd hands the socket over,
 * the session joins the hub with handler and ctx, and peer_fd (-1 for none) is polled.
 * on_close is called once either way: at the end of the session, or from
 * im_ws_request_done when the connection was never upgraded. */
void im_ws_respond(im_request_t *req, const im_ws_handler_t *handler, void *ctx, int peer_fd);

/* Queues a message for the client. Returns IM_OK, or IM_ECONFLICT when the session is
 * closing. */
int im_ws_send(im_ws_session_t *ws, bool binary, const void *data, size_t len);

/* Pauses or resumes reading the client. A handler pauses it when the peer fd does not take
 * the client's input without blocking. While paused, the hub reads no client frames, so TCP
 * pushes back on the client, and it calls on_peer_writable when the peer fd can take more.
 * A paused session still ends after IM_WS_IDLE_SECONDS without reading the client. */
void im_ws_pause_client(im_ws_session_t *ws, bool paused);

/* Starts the closing handshake with a status code (1000 normal) and a short reason. */
void im_ws_close(im_ws_session_t *ws, uint16_t code, const char *reason);

/* ---- for the server ---------------------------------------------------------------------- */

/* Frees the upgrade state of req's 101 reply. When libmicrohttpd never upgraded the
 * connection (the client left first, or the 101 was replaced), calls on_close with a NULL
 * session. The server calls it when req completes, and it does nothing for other requests. */
void im_ws_request_done(im_request_t *req);

/* Starts the hub thread. Returns IM_ERR with a message when it cannot. */
int im_ws_hub_start(im_ws_hub_t **out, char *err, size_t errlen);
/* Closes every session (status 1001), stops the thread and frees the hub. NULL is allowed. */
void im_ws_hub_stop(im_ws_hub_t *hub);

#endif
