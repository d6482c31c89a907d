/* Tests for the Cookie request header parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/cookie.h"

#define NAME "inframon_refresh"

/* Parses header (a C string) for NAME and checks the result against expected (NULL for
 * no value). */
static void check(const char *header, const char *expected)
{
    char *value = im_cookie_value(header, header ? strlen(header) : 0, NAME);
    if (expected) {
        assert_non_null(value);
        assert_string_equal(value, expected);
    } else {
        assert_null(value);
    }
    free(value);
}

static void single_cookie_found(void **state)
{
    (void)state;
    check(NAME "=abc.def.ghi", "abc.def.ghi");
}

static void cookie_among_others_found(void **state)
{
    (void)state;
    check("theme=dark; " NAME "=abc; lang=en", "abc");
    check("theme=dark;" NAME "=abc", "abc");
    check("theme=dark;\t " NAME "=abc;", "abc");
}

static void missing_header_or_cookie_gives_null(void **state)
{
    (void)state;
    check(NULL, NULL);
    check("", NULL);
    check(";;; ", NULL);
    check("theme=dark; lang=en", NULL);
}

static void name_matches_exactly(void **state)
{
    (void)state;
    check("x" NAME "=evil", NULL);
    check(NAME "x=evil", NULL);
    check(NAME " =evil", NULL);
    check("INFRAMON_REFRESH=evil", NULL);
    check(NAME, NULL);
    check("x" NAME "=evil; " NAME "=good", "good");
    /* The name inside another cookie's value is not a pair of its own. */
    check("other=" NAME "=evil", NULL);
}

static void empty_value_gives_null(void **state)
{
    (void)state;
    check(NAME "=", NULL);
    check(NAME "=; other=x", NULL);
    check(NAME "=\"\"", NULL);
    check(NAME "=   ", NULL);
}

static void first_of_duplicates_wins(void **state)
{
    (void)state;
    check(NAME "=first; " NAME "=second", "first");
}

static void whitespace_and_quotes_removed(void **state)
{
    (void)state;
    check(NAME "= abc \t; x=y", "abc");
    check(NAME "=\"abc\"", "abc");
    /* A lone quote is not a quoted value, and '"' is no cookie-octet. */
    check(NAME "=\"abc", NULL);
}

static void invalid_octets_reject_the_cookie(void **state)
{
    (void)state;
    check(NAME "=a b", NULL);
    check(NAME "=a,b", NULL);
    check(NAME "=a\\b", NULL);
    check(NAME "=a\x01" "b", NULL);
    check(NAME "=a\x7f" "b", NULL);
    check(NAME "=a\xc3\xa9", NULL);
    check(NAME "=\"a\"b\"", NULL);
}

static void length_bounds_the_read(void **state)
{
    (void)state;
    const char header[] = NAME "=abcdef; other=1";
    size_t cut = strlen(NAME "=abc");
    char *value = im_cookie_value(header, cut, NAME);
    assert_non_null(value);
    assert_string_equal(value, "abc");
    free(value);
    /* A NUL inside the given length ends the header. */
    const char with_nul[] = "a=1\0" NAME "=hidden";
    assert_null(im_cookie_value(with_nul, sizeof(with_nul) - 1, NAME));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(single_cookie_found),
        cmocka_unit_test(cookie_among_others_found),
        cmocka_unit_test(missing_header_or_cookie_gives_null),
        cmocka_unit_test(name_matches_exactly),
        cmocka_unit_test(empty_value_gives_null),
        cmocka_unit_test(first_of_duplicates_wins),
        cmocka_unit_test(whitespace_and_quotes_removed),
        cmocka_unit_test(invalid_octets_reject_the_cookie),
        cmocka_unit_test(length_bounds_the_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
