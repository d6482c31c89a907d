/* Tests for the file-reading helper that keeps reads inside allowed folders: "..",
 * absolute paths, symlinks out of the root and non-regular files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/safefile.h"
#include "core/util.h"

/* A temporary tree:
 *   base/root/inside.txt        "inside"
 *   base/root/sub/nested.txt    "nested"
 *   base/root/link-in  ->  inside.txt
 *   base/root/link-out ->  ../outside/secret.txt
 *   base/root/dir-out  ->  ../outside
 *   base/root/fifo             (a named pipe)
 *   base/root-sibling/x.txt     (shares the root's name as a prefix)
 *   base/outside/secret.txt     "secret" */
typedef struct {
    char base[PATH_MAX];
    char root[PATH_MAX + 8];
} tree_t;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *tree_path(const tree_t *t, const char *relative)
{
    return im_asprintf("%s/%s", t->base, relative);
}

static void make_at(const tree_t *t, const char *relative, int kind, const char *arg)
{
    char *path = tree_path(t, relative);
    if (kind == 'd') {
        assert_int_equal(mkdir(path, 0700), 0);
    } else if (kind == 'f') {
        write_file(path, arg);
    } else if (kind == 'l') {
        assert_int_equal(symlink(arg, path), 0);
    } else {
        assert_int_equal(mkfifo(path, 0600), 0);
    }
    free(path);
}

static int tree_setup(void **state)
{
    tree_t *t = im_calloc(1, sizeof(*t));
    snprintf(t->base, sizeof(t->base), "/tmp/im-safefile-XXXXXX");
    assert_non_null(mkdtemp(t->base));
    snprintf(t->root, sizeof(t->root), "%s/root", t->base);
    make_at(t, "root", 'd', NULL);
    make_at(t, "root/sub", 'd', NULL);
    make_at(t, "outside", 'd', NULL);
    make_at(t, "root-sibling", 'd', NULL);
    make_at(t, "root/inside.txt", 'f', "inside");
    make_at(t, "root/sub/nested.txt", 'f', "nested");
    make_at(t, "outside/secret.txt", 'f', "secret");
    make_at(t, "root-sibling/x.txt", 'f', "sibling");
    make_at(t, "root/link-in", 'l', "inside.txt");
    make_at(t, "root/link-out", 'l', "../outside/secret.txt");
    make_at(t, "root/dir-out", 'l', "../outside");
    make_at(t, "root/fifo", 'p', NULL);
    *state = t;
    return 0;
}

static int tree_teardown(void **state)
{
    tree_t *t = *state;
    char *command = im_asprintf("rm -rf '%s'", t->base);
    assert_int_equal(system(command), 0);
    free(command);
    free(t);
    return 0;
}

/* Reads relative (below base) with the root as the only allowed folder. */
static int read_in_root(const tree_t *t, const char *relative, char **data)
{
    const char *roots[] = {t->root};
    char *path = relative[0] == '/' ? im_strdup(relative) : tree_path(t, relative);
    char err[512];
    size_t len = 0;
    int rc = im_safefile_read(roots, 1, path, 1024, data, &len, err, sizeof(err));
    free(path);
    return rc;
}

static void reads_file_inside_root(void **state)
{
    char *data = NULL;
    assert_int_equal(read_in_root(*state, "root/inside.txt", &data), IM_OK);
    assert_string_equal(data, "inside");
    free(data);
    assert_int_equal(read_in_root(*state, "root/sub/nested.txt", &data), IM_OK);
    assert_string_equal(data, "nested");
    free(data);
}

static void dotdot_inside_root_allowed(void **state)
{
    char *data = NULL;
    assert_int_equal(read_in_root(*state, "root/sub/../inside.txt", &data), IM_OK);
    assert_string_equal(data, "inside");
    free(data);
}

static void dotdot_out_of_root_rejected(void **state)
{
    char *data = NULL;
    assert_int_equal(read_in_root(*state, "root/../outside/secret.txt", &data), IM_EFORBIDDEN);
    assert_null(data);
    assert_int_equal(read_in_root(*state, "root/sub/../../outside/secret.txt", &data),
                     IM_EFORBIDDEN);
    assert_null(data);
}

static void absolute_path_outside_rejected(void **state)
{
    char *data = NULL;
    assert_int_equal(read_in_root(*state, "/etc/passwd", &data), IM_EFORBIDDEN);
    assert_null(data);
}

static void prefix_sibling_rejected(void **state)
{
    /* base/root-sibling starts with the text of base/root but is not inside it. */
    char *data = NULL;
    assert_int_equal(read_in_root(*state, "root-sibling/x.txt", &data), IM_EFORBIDDEN);
    assert_null(data);
}

static void symlink_inside_root_allowed(void **state)
{
    char *data = NULL;
    assert_int_equal(read_in_root(*state, "root/link-in", &data), IM_OK);
    assert_string_equal(data, "inside");
    free(data);
}

static void symlink_out_of_root_rejected(void **state)
{
    char *data = NULL;
    assert_int_equal(read_in_root(*state, "root/link-out", &data), IM_EFORBIDDEN);
    assert_null(data);
    assert_int_equal(read_in_root(*state, "root/dir-out/secret.txt", &data), IM_EFORBIDDEN);
    assert_null(data);
}

static void directory_and_fifo_rejected(void **state)
{
    char *data = NULL;
    assert_int_equal(read_in_root(*state, "root", &data), IM_EFORBIDDEN);
    assert_int_equal(read_in_root(*state, "root/sub", &data), IM_EFORBIDDEN);
    assert_int_equal(read_in_root(*state, "root/fifo", &data), IM_EFORBIDDEN);
    assert_null(data);
}

static void missing_file_not_found(void **state)
{
    char *data = NULL;
    assert_int_equal(read_in_root(*state, "root/absent.txt", &data), IM_ENOTFOUND);
    assert_null(data);
}

static void oversized_file_rejected(void **state)
{
    tree_t *t = *state;
    char big[2048];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    char *path = tree_path(t, "root/big.txt");
    write_file(path, big);
    free(path);
    char *data = NULL;
    assert_int_equal(read_in_root(t, "root/big.txt", &data), IM_EINVAL);
    assert_null(data);
}

static void empty_inputs_invalid(void **state)
{
    tree_t *t = *state;
    const char *roots[] = {t->root};
    char err[256];
    int fd = 0;
    assert_int_equal(im_safefile_open(roots, 1, "", &fd, err, sizeof(err)), IM_EINVAL);
    assert_int_equal(fd, -1);
    assert_int_equal(im_safefile_open(roots, 0, "/etc/hostname", &fd, err, sizeof(err)), IM_EINVAL);
}

static void second_root_allows_file(void **state)
{
    tree_t *t = *state;
    char *outside = tree_path(t, "outside");
    const char *roots[] = {t->root, outside};
    char *path = tree_path(t, "outside/secret.txt");
    char err[256];
    int fd = -1;
    assert_int_equal(im_safefile_open(roots, 2, path, &fd, err, sizeof(err)), IM_OK);
    assert_true(fd >= 0);
    close(fd);
    free(path);
    free(outside);
}

static void error_names_the_path(void **state)
{
    tree_t *t = *state;
    const char *roots[] = {t->root};
    char err[512] = "";
    int fd = -1;
    assert_int_equal(im_safefile_open(roots, 1, "/etc/passwd", &fd, err, sizeof(err)),
                     IM_EFORBIDDEN);
    assert_non_null(strstr(err, "/etc/passwd"));
    assert_non_null(strstr(err, "outside the allowed folders"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(reads_file_inside_root, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(dotdot_inside_root_allowed, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(dotdot_out_of_root_rejected, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(absolute_path_outside_rejected, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(prefix_sibling_rejected, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(symlink_inside_root_allowed, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(symlink_out_of_root_rejected, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(directory_and_fifo_rejected, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(missing_file_not_found, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(oversized_file_rejected, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(empty_inputs_invalid, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(second_root_allows_file, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(error_names_the_path, tree_setup, tree_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
