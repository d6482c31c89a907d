/* Tests for the WebSocket handshake value computed in http/websocket.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "http/websocket.h"

/* RFC 6455 section 1.3: the sample nonce and the accept value the server returns for it. */
static void accept_value_matches_rfc6455_example(void **state)
{
    char accept[IM_WS_ACCEPT_SIZE];
    im_ws_accept_value("dGhlIHNhbXBsZSBub25jZQ==", accept);
    assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(strlen(accept), IM_WS_ACCEPT_SIZE - 1);
}

static void accept_value_depends_on_key(void **state)
{
    char first[IM_WS_ACCEPT_SIZE], second[IM_WS_ACCEPT_SIZE];
    im_ws_accept_value("dGhlIHNhbXBsZSBub25jZQ==", first);
    im_ws_accept_value("dGhlIHNhbXBsZSBub25jZA==", second);
    assert_string_not_equal(first, second);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accept_value_matches_rfc6455_example),
        cmocka_unit_test(accept_value_depends_on_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
