/* Tests for the backup file names and the pruning of old scheduled backups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"
#include "store/backup_schedule.h"

static void touch(const char *dir, const char *name)
{
    char *path = im_asprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    free(path);
}

static bool exists(const char *dir, const char *name)
{
    char *path = im_asprintf("%s/%s", dir, name);
    bool found = access(path, F_OK) == 0;
    free(path);
    return found;
}

static void name_round_trip(void **state)
{
    char name[IM_BACKUP_NAME_LEN + 1];
    im_backup_name_format(1767323045, name, sizeof(name)); /* 2026-01-02T03:04:05Z */
    assert_string_equal(name, "inframon-20260102T030405Z.db");
    int64_t when = 0;
    assert_true(im_backup_name_parse(name, &when));
    assert_int_equal(when, 1767323045);
}

static void name_parse_rejects_others(void **state)
{
    static const char *rejected[] = {
        "inframon-20260102T030405Z.db.tmp-ABC123",
        "inframon-20260102T030405Z.db-wal",
        "inframon-20260102T030405.db",
        "inframon-2026010xT030405Z.db",
        "inframon-20261302T030405Z.db",
        "inframon-20260100T030405Z.db",
        "inframon-20260102T250405Z.db",
        "inframon-20260102 030405Z.db",
        "other-20260102T030405Z.db",
        "inframon-latest.db",
        "",
    };
    for (size_t i = 0; i < IM_ARRAY_LEN(rejected); i++) {
        assert_false(im_backup_name_parse(rejected[i], NULL));
    }
}

static void prune_keeps_newest_and_foreign(void **state)
{
    char dir[] = "/tmp/inframon-prune-XXXXXX";
    assert_non_null(mkdtemp(dir));
    static const char *backups[] = {
        "inframon-20250101T000000Z.db",
        "inframon-20260102T030405Z.db",
        "inframon-20240101T000000Z.db",
        "inframon-20260102T030406Z.db",
    };
    static const char *foreign[] = {"notes.txt", "inframon-20200101T000000Z.db.tmp-ABC123",
                                    "inframon-latest.db"};
    for (size_t i = 0; i < IM_ARRAY_LEN(backups); i++) {
        touch(dir, backups[i]);
    }
    for (size_t i = 0; i < IM_ARRAY_LEN(foreign); i++) {
        touch(dir, foreign[i]);
    }

    int deleted = -1;
    assert_int_equal(im_backup_prune(dir, 2, &deleted), IM_OK);
    assert_int_equal(deleted, 2);
    assert_false(exists(dir, "inframon-20240101T000000Z.db"));
    assert_false(exists(dir, "inframon-20250101T000000Z.db"));
    assert_true(exists(dir, "inframon-20260102T030405Z.db"));
    assert_true(exists(dir, "inframon-20260102T030406Z.db"));
    for (size_t i = 0; i < IM_ARRAY_LEN(foreign); i++) {
        assert_true(exists(dir, foreign[i]));
    }

    assert_int_equal(im_backup_prune(dir, 2, &deleted), IM_OK);
    assert_int_equal(deleted, 0);

    char *command = im_asprintf("rm -rf '%s'", dir);
    assert_int_equal(system(command), 0);
    free(command);
}

static void prune_missing_folder_is_ok(void **state)
{
    int deleted = -1;
    assert_int_equal(im_backup_prune("/tmp/inframon-prune-does-not-exist/x", 3, &deleted), IM_OK);
    assert_int_equal(deleted, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(name_round_trip),
        cmocka_unit_test(name_parse_rejects_others),
        cmocka_unit_test(prune_keeps_newest_and_foreign),
        cmocka_unit_test(prune_missing_folder_is_ok),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
