#ifndef IM_STORE_BACKUP_SCHEDULE_H
#define IM_STORE_BACKUP_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* Scheduled online backups: a thread that writes inframon-YYYYmmddTHHMMSSZ.db (UTC) into a
 * folder with im_store_backup and deletes the oldest files of that name pattern beyond a
 * count. Other files in the folder are never touched. */

/* Length of a backup file name, "inframon-20260102T030405Z.db", without the NUL. */
#define IM_BACKUP_NAME_LEN 28

typedef struct im_backup_schedule im_backup_schedule_t;

typedef struct {
    const char *dir;         /* created with mode 0700 (parents too) when missing */
    double interval_seconds; /* at least 1 */
    int keep;                /* newest backups kept after each run, at least 1 */
} im_backup_schedule_options_t;

/* Starts the backup thread. The first backup is due one interval after the newest backup
 * already in the folder, or at once when there is none, so restarts do not postpone
 * backups. A failed backup is logged and retried after min(interval, 15 minutes); the
 * server keeps running. Returns IM_EINVAL with a message in err for invalid options. */
int im_backup_schedule_start(im_store_t *store, const im_backup_schedule_options_t *options,
                             im_backup_schedule_t **out, char *err, size_t errlen) IM_WARN_UNUSED;

/* Stops the thread, waiting for a backup in progress to finish, and frees the schedule.
 * NULL is accepted. Call it before im_store_close. */
void im_backup_schedule_stop(im_backup_schedule_t *schedule);

/* Writes one backup named after `when` into dir (creating dir), then prunes to keep files.
 * Logs the path, size and duration, or the failure. Returns IM_OK or the error of the
 * step that failed. A pruning failure is logged but does not fail the backup. */
int im_backup_run_once(im_store_t *store, const char *dir, int keep, int64_t when);

/* Deletes the oldest backup files in dir so that at most keep remain and stores the number
 * deleted in *deleted (may be NULL). A missing dir has nothing to delete and returns IM_OK.
 * Returns IM_ERR when dir cannot be read or a file cannot be deleted. */
int im_backup_prune(const char *dir, int keep, int *deleted);

/* Returns true when name is exactly a backup file name, and stores its UTC time in *when
 * (may be NULL). */
bool im_backup_name_parse(const char *name, int64_t *when);

/* Writes the backup file name for the Unix time `when` into out (at least
 * IM_BACKUP_NAME_LEN + 1 bytes). */
void im_backup_name_format(int64_t when, char *out, size_t out_size);

#endif
