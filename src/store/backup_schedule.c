#include "store/backup_schedule.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

#define LOG_MODULE "backup"

#define NAME_PREFIX             "inframon-"
#define NAME_SUFFIX             "Z.db"
#define MAX_RETRY_DELAY_SECONDS 900.0

struct im_backup_schedule {
    im_store_t *store;
    char *dir;
    double interval_seconds;
    int keep;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* signalled by stop, timed waits on CLOCK_MONOTONIC */
    bool stopping;
};

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

static int digits_value(const char *s, size_t n)
{
    int value = 0;
    for (size_t i = 0; i < n; i++) {
        value = value * 10 + (s[i] - '0');
    }
    return value;
}

bool im_backup_name_parse(const char *name, int64_t *when)
{
    /* inframon-YYYYmmddTHHMMSSZ.db: 9 + 8 + 1 + 6 + 4 characters */
    if (strlen(name) != IM_BACKUP_NAME_LEN || strncmp(name, NAME_PREFIX, 9) != 0) {
        return false;
    }
    const char *stamp = name + 9;
    if (!all_digits(stamp, 8) || stamp[8] != 'T' || !all_digits(stamp + 9, 6) ||
        strcmp(stamp + 15, NAME_SUFFIX) != 0) {
        return false;
    }
    struct tm tm = {
        .tm_year = digits_value(stamp, 4) - 1900,
        .tm_mon = digits_value(stamp + 4, 2) - 1,
        .tm_mday = digits_value(stamp + 6, 2),
        .tm_hour = digits_value(stamp + 9, 2),
        .tm_min = digits_value(stamp + 11, 2),
        .tm_sec = digits_value(stamp + 13, 2),
    };
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60) {
        return false;
    }
    if (when) {
        *when = (int64_t)timegm(&tm);
    }
    return true;
}

void im_backup_name_format(int64_t when, char *out, size_t out_size)
{
    time_t t = (time_t)when;
    struct tm tm;
    gmtime_r(&t, &tm);
    if (strftime(out, out_size, NAME_PREFIX "%Y%m%dT%H%M%S" NAME_SUFFIX, &tm) == 0 && out_size) {
        out[0] = '\0';
    }
}

/* Creates dir and its missing parents with mode 0700, like `mkdir -p -m 0700`. */
static int make_folder(const char *dir)
{
    char *copy = im_strdup(dir);
    int rc = IM_OK;
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/') {
            continue;
        }
        *p = '\0';
        if (mkdir(copy, 0700) != 0 && errno != EEXIST) {
            im_log_error(LOG_MODULE, "cannot create backup folder %s: %s", copy, strerror(errno));
            rc = IM_ERR;
            goto out;
        }
        *p = '/';
    }
    if (mkdir(copy, 0700) != 0 && errno != EEXIST) {
        im_log_error(LOG_MODULE, "cannot create backup folder %s: %s", copy, strerror(errno));
        rc = IM_ERR;
        goto out;
    }
    struct stat st;
    if (stat(copy, &st) != 0 || !S_ISDIR(st.st_mode)) {
        im_log_error(LOG_MODULE, "backup folder %s is not a folder: set BACKUP_DIR to a folder",
                     copy);
        rc = IM_ERR;
    }

out:
    free(copy);
    return rc;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the backup file names in dir, oldest first, because the UTC timestamp in the name
 * sorts as text. The caller frees each name and the array. Returns IM_ENOTFOUND, without
 * logging, when dir does not exist yet. */
static int list_backups(const char *dir, char ***names_out, size_t *count_out)
{
    *names_out = NULL;
    *count_out = 0;
    DIR *folder = opendir(dir);
    if (!folder && errno == ENOENT) {
        return IM_ENOTFOUND;
    }
    if (!folder) {
        im_log_error(LOG_MODULE, "cannot read backup folder %s: %s", dir, strerror(errno));
        return IM_ERR;
    }
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *entry;
    while ((entry = readdir(folder)) != NULL) {
        if (!im_backup_name_parse(entry->d_name, NULL)) {
            continue;
        }
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            names = im_realloc(names, cap * sizeof(*names));
        }
        names[count++] = im_strdup(entry->d_name);
    }
    closedir(folder);
    if (count > 1) {
        qsort(names, count, sizeof(*names), compare_names);
    }
    *names_out = names;
    *count_out = count;
    return IM_OK;
}

static void free_names(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(names[i]);
    }
    free(names);
}

int im_backup_prune(const char *dir, int keep, int *deleted)
{
    char **names = NULL;
    size_t count = 0;
    int removed = 0;
    int rc = list_backups(dir, &names, &count);
    if (rc == IM_ENOTFOUND) {
        rc = IM_OK; /* no folder, so nothing to prune */
        goto out;
    }
    if (rc != IM_OK) {
        goto out;
    }
    size_t keep_count = keep > 0 ? (size_t)keep : 1;
    for (size_t i = 0; i + keep_count < count; i++) {
        char *path = im_asprintf("%s/%s", dir, names[i]);
        if (unlink(path) == 0) {
            im_log_info(LOG_MODULE, "deleted old backup %s (BACKUP_KEEP=%d)", path, keep);
            removed++;
        } else if (errno != ENOENT) {
            im_log_error(LOG_MODULE, "cannot delete old backup %s: %s", path, strerror(errno));
            rc = IM_ERR;
        }
        free(path);
    }

out:
    free_names(names, count);
    if (deleted) {
        *deleted = removed;
    }
    return rc;
}

int im_backup_run_once(im_store_t *store, const char *dir, int keep, int64_t when)
{
    char name[IM_BACKUP_NAME_LEN + 1];
    im_backup_name_format(when, name, sizeof(name));
    char *path = im_asprintf("%s/%s", dir, name);
    int64_t started = im_monotonic_ms();

    int rc = make_folder(dir);
    if (rc != IM_OK) {
        goto out;
    }
    rc = im_store_backup(store, path, false);
    if (rc != IM_OK) {
        /* im_store_backup logged the cause; this line names the schedule's file. */
        im_log_error(LOG_MODULE, "scheduled backup to %s failed (error %d)", path, rc);
        goto out;
    }
    struct stat st;
    long long size = stat(path, &st) == 0 ? (long long)st.st_size : -1;
    im_log_info(LOG_MODULE, "backup written to %s: %lld bytes in %lld ms", path, size,
                (long long)(im_monotonic_ms() - started));
    if (im_backup_prune(dir, keep, NULL) != IM_OK) {
        im_log_warn(LOG_MODULE, "pruning old backups in %s failed; the new backup %s is kept", dir,
                    path);
    }

out:
    free(path);
    return rc;
}

/* Seconds until the first backup: one interval after the newest existing backup, at once
 * when there is none, and never more than one interval (the clock may have gone back). */
static double first_delay_seconds(const im_backup_schedule_t *schedule)
{
    char **names = NULL;
    size_t count = 0;
    double delay = 0;
    if (list_backups(schedule->dir, &names, &count) == IM_OK && count > 0) {
        int64_t newest = 0;
        if (im_backup_name_parse(names[count - 1], &newest)) {
            delay = (double)(newest - im_now()) + schedule->interval_seconds;
        }
    }
    free_names(names, count);
    if (delay < 0) {
        delay = 0;
    }
    if (delay > schedule->interval_seconds) {
        delay = schedule->interval_seconds;
    }
    return delay;
}

/* Waits up to `seconds` or until stop. Returns true when the schedule is stopping. */
static bool wait_or_stop(im_backup_schedule_t *schedule, double seconds)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    long long whole = (long long)seconds;
    long long nanos = (long long)((seconds - (double)whole) * 1e9) + deadline.tv_nsec;
    deadline.tv_sec += (time_t)(whole + nanos / 1000000000LL);
    deadline.tv_nsec = (long)(nanos % 1000000000LL);

    pthread_mutex_lock(&schedule->lock);
    while (!schedule->stopping) {
        if (pthread_cond_timedwait(&schedule->wake, &schedule->lock, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    bool stopping = schedule->stopping;
    pthread_mutex_unlock(&schedule->lock);
    return stopping;
}

static void *backup_thread(void *arg)
{
    im_backup_schedule_t *schedule = arg;
    double delay = first_delay_seconds(schedule);
    int failures = 0;
    if (delay > 0) {
        im_log_info(LOG_MODULE, "next backup into %s in %.0f s", schedule->dir, delay);
    }
    while (!wait_or_stop(schedule, delay)) {
        int rc = im_backup_run_once(schedule->store, schedule->dir, schedule->keep, im_now());
        delay = schedule->interval_seconds;
        if (rc == IM_OK) {
            failures = 0;
            continue;
        }
        failures++;
        if (delay > MAX_RETRY_DELAY_SECONDS) {
            delay = MAX_RETRY_DELAY_SECONDS;
        }
        im_log_warn(LOG_MODULE, "backup into %s failed %d time(s) in a row; retrying in %.0f s",
                    schedule->dir, failures, delay);
    }
    return NULL;
}

int im_backup_schedule_start(im_store_t *store, const im_backup_schedule_options_t *options,
                             im_backup_schedule_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!options->dir || options->dir[0] == '\0' || options->interval_seconds < 1 ||
        options->keep < 1) {
        snprintf(err, errlen,
                 "invalid backup schedule: folder \"%s\", interval %.1f s, keep %d; expected a "
                 "folder, an interval of at least 1 s and keep of at least 1",
                 options->dir ? options->dir : "", options->interval_seconds, options->keep);
        return IM_EINVAL;
    }
    im_backup_schedule_t *schedule = im_calloc(1, sizeof(*schedule));
    schedule->store = store;
    schedule->dir = im_strdup(options->dir);
    /* A trailing slash would give "dir//name" in every log line. */
    size_t len = strlen(schedule->dir);
    while (len > 1 && schedule->dir[len - 1] == '/') {
        schedule->dir[--len] = '\0';
    }
    schedule->interval_seconds = options->interval_seconds;
    schedule->keep = options->keep;
    pthread_mutex_init(&schedule->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&schedule->wake, &attr);
    pthread_condattr_destroy(&attr);

    int error = pthread_create(&schedule->thread, NULL, backup_thread, schedule);
    if (error != 0) {
        snprintf(err, errlen, "cannot start the backup thread: %s", strerror(error));
        pthread_cond_destroy(&schedule->wake);
        pthread_mutex_destroy(&schedule->lock);
        free(schedule->dir);
        free(schedule);
        return IM_ERR;
    }
    im_log_info(LOG_MODULE, "scheduled backups every %g h into %s, keeping the newest %d",
                schedule->interval_seconds / 3600.0, schedule->dir, schedule->keep);
    *out = schedule;
    return IM_OK;
}

void im_backup_schedule_stop(im_backup_schedule_t *schedule)
{
    if (!schedule) {
        return;
    }
    pthread_mutex_lock(&schedule->lock);
    schedule->stopping = true;
    pthread_cond_signal(&schedule->wake);
    pthread_mutex_unlock(&schedule->lock);
    pthread_join(schedule->thread, NULL);
    pthread_cond_destroy(&schedule->wake);
    pthread_mutex_destroy(&schedule->lock);
    free(schedule->dir);
    free(schedule);
}
