#ifndef IM_AUTH_COOKIE_H
#define IM_AUTH_COOKIE_H

#include <stddef.h>

/* Finds the cookie called name in a Cookie request header and returns a malloc'd copy of
 * its value. The header contains "name=value" pairs separated by ";" and optional spaces or
 * tabs (RFC 6265 section 4.2.1). Returns NULL when header is NULL, the cookie is missing
 * or its value is empty or invalid.
 *
 * Names match exactly and case-sensitively from the start of a pair, so "xname=" and
 * "name =" do not match "name". The first pair with the name wins, which is the one with
 * the longest path when a browser sends several. Whitespace around the value is removed
 * and one pair of surrounding double quotes is stripped. A value with a byte outside the
 * RFC 6265 cookie-octet set (controls, space, '"', ',', ';', '\\' and bytes above 0x7e) is
 * invalid: the whole cookie is then ignored rather than cut. header_len bytes of header are
 * read; a NUL before that ends the header. */
char *im_cookie_value(const char *header, size_t header_len, const char *name);

#endif
