/* Tests of the cgroup and network namespace readers and of the container arithmetic, on
 * fixture trees described in fixtures/cgroup/README.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "collect/cgroup.h"
#include "collect/sampler.h"
#include "core/util.h"

#define FIXTURES "fixtures/cgroup"
#define BURN_ID  "f2af6f5074d976d1befc2b8ab7621dd6b4019f3d3c4f7113b5ea5a1003a1a4ec"
#define MEM_ID   "f73547d8fd1922b0f292e34f28d082f56e978952c9bafbb3850351523679822d"
#define V2_ID    "3f1c0a5e9d2b4c6f8a7e1d0b9c8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a"

/* Fails with both values printed when actual and expected differ by more than tolerance. */
#define assert_close(actual, expected, tolerance)                                                  \
    do {                                                                                           \
        double actual_value = (actual);                                                            \
        double expected_value = (expected);                                                        \
        if (fabs(actual_value - expected_value) > (tolerance)) {                                   \
            fail_msg("%s = %f, expected %f (tolerance %f)", #actual, actual_value, expected_value, \
                     (double)(tolerance));                                                         \
        }                                                                                          \
    } while (0)

/* Reads "key value" from fixtures/cgroup/arithmetic.txt. */
static double fixture_value(const char *key)
{
    FILE *f = fopen(FIXTURES "/arithmetic.txt", "r");
    char line[256];
    double value = NAN;

    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        size_t len = strlen(key);
        if (strncmp(line, key, len) == 0 && line[len] == ' ') {
            value = strtod(line + len + 1, NULL);
        }
    }
    fclose(f);
    if (isnan(value)) {
        fail_msg("arithmetic.txt has no %s", key);
    }
    return value;
}

static void v1_detected_in_real_tree(void **state)
{
    im_cgroup_layout_t layout;
    (void)state;

    im_cgroup_detect(FIXTURES "/v1/fx-burn/sys", &layout);
    assert_int_equal(layout.version, IM_CGROUP_V1);
    assert_string_equal(layout.base, FIXTURES "/v1/fx-burn/sys/fs/cgroup");
}

static void v1_cpu_burner(void **state)
{
    im_cgroup_layout_t layout;
    im_cgroup_sample_t s;
    char err[256];
    (void)state;

    im_cgroup_detect(FIXTURES "/v1/fx-burn/sys", &layout);
    assert_int_equal(im_cgroup_read(&layout, BURN_ID, NULL, &s, err, sizeof(err)), IM_OK);
    assert_true(s.has_cpu);
    assert_int_equal(s.cpu_usage_ns, 12378571460ULL);
    /* cpuacct.stat is in USER_HZ ticks: 1226 and 11 at 100 Hz. */
    assert_int_equal(s.cpu_user_ns, 12260000000ULL);
    assert_int_equal(s.cpu_system_ns, 110000000ULL);
    assert_int_equal(s.cpu_periods, 0);
    assert_true(s.cpu_limit_cores == 0.0); /* cpu.cfs_quota_us is -1 */
    assert_true(s.has_memory);
    assert_int_equal(s.memory_usage, 462848);
    assert_int_equal(s.memory_limit, 0); /* 9223372036854771712 means no limit */
    assert_true(s.has_pids);
    assert_int_equal(s.pids, 2);
    assert_true(s.has_blkio);
    assert_int_equal(s.blkio_read_bytes, 0);
    assert_int_equal(s.blkio_write_bytes, 0);
}

static void v1_memory_holder(void **state)
{
    im_cgroup_layout_t layout;
    im_cgroup_sample_t s;
    char err[256];
    (void)state;

    im_cgroup_detect(FIXTURES "/v1/fx-mem/sys", &layout);
    assert_int_equal(im_cgroup_read(&layout, MEM_ID, NULL, &s, err, sizeof(err)), IM_OK);
    assert_int_equal(s.memory_usage, 67989504);
    assert_int_equal(s.memory_limit, 268435456);
    assert_int_equal(s.memory_inactive_file, 0);
    assert_int_equal(s.memory_cache, 67117056);
    assert_int_equal(s.memory_rss, 106496);
    assert_int_equal(s.memory_swap, 0);
    /* The 64 MiB written to /dev/shm is shmem, not inactive file: it counts as used. */
    assert_true(im_cgroup_memory_used(&s) >= 64ULL * 1024 * 1024);
}

/* Writes text to dir/name, creating dir and its parents. */
static void write_file(const char *dir, const char *name, const char *text)
{
    char path[1024];
    char command[1100];

    snprintf(command, sizeof(command), "mkdir -p '%s'", dir);
    assert_int_equal(system(command), 0);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

static void remove_tree(const char *dir)
{
    char command[1100];
    snprintf(command, sizeof(command), "rm -rf '%s'", dir);
    assert_int_equal(system(command), 0);
}

/* A temporary folder used as the host root (its fs/cgroup and <pid>/cgroup), with what the
 * readers fill in. The teardown removes the folder. */
typedef struct {
    char root[32];
    im_cgroup_layout_t layout;
    im_cgroup_files_t files;
    im_cgroup_sample_t s;
    char err[256];
} tree_t;

static int tree_setup(void **state)
{
    tree_t *fx = im_calloc(1, sizeof(*fx));
    im_strlcpy(fx->root, "/tmp/im-cgroup-test-XXXXXX", sizeof(fx->root));
    if (!mkdtemp(fx->root)) {
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int tree_teardown(void **state)
{
    tree_t *fx = *state;
    remove_tree(fx->root);
    free(fx);
    return 0;
}

/* Reads container id's sample into fx->s through files, or by path when files is NULL. */
static int tree_read(tree_t *fx, const char *id, im_cgroup_files_t *files)
{
    return im_cgroup_read(&fx->layout, id, files, &fx->s, fx->err, sizeof(fx->err));
}

/* Opens fx->files for container id from the <pid>/cgroup file under fx->root. */
static int tree_open_pid(tree_t *fx, int pid, const char *id)
{
    return im_cgroup_open_pid(&fx->layout, fx->root, pid, id, &fx->files, fx->err, sizeof(fx->err));
}

static void v1_open_files_reread(void **state)
{
    tree_t *fx = *state;
    char memory_dir[512];

    snprintf(memory_dir, sizeof(memory_dir), "%s/fs/cgroup/memory/docker/%s", fx->root, MEM_ID);
    write_file(memory_dir, "memory.usage_in_bytes", "1000\n");
    write_file(memory_dir, "memory.stat", "cache 5\ntotal_cache 7\ntotal_rss 3\n");
    write_file(memory_dir, "memory.limit_in_bytes", "4096\n");
    im_cgroup_detect(fx->root, &fx->layout);
    assert_int_equal(fx->layout.version, IM_CGROUP_V1);

    assert_int_equal(tree_read(fx, MEM_ID, &fx->files), IM_OK);
    assert_true(fx->files.opened);
    assert_true(fx->files.fds[IM_CGROUP_FILE_MEMORY_USAGE] >= 0);
    assert_int_equal(fx->files.fds[IM_CGROUP_FILE_CPU_USAGE], -1); /* no cpuacct hierarchy */
    assert_false(fx->s.has_cpu);
    assert_int_equal(fx->s.memory_usage, 1000);
    assert_int_equal(fx->s.memory_cache, 7);
    assert_int_equal(fx->s.memory_rss, 3);
    assert_int_equal(fx->s.memory_limit, 4096);

    /* The open descriptors see new contents; the limit is kept until the files reopen. */
    int usage_fd = fx->files.fds[IM_CGROUP_FILE_MEMORY_USAGE];
    write_file(memory_dir, "memory.usage_in_bytes", "2000\n");
    write_file(memory_dir, "memory.limit_in_bytes", "8192\n");
    assert_int_equal(tree_read(fx, MEM_ID, &fx->files), IM_OK);
    assert_int_equal(fx->files.fds[IM_CGROUP_FILE_MEMORY_USAGE], usage_fd);
    assert_int_equal(fx->s.memory_usage, 2000);
    assert_int_equal(fx->s.memory_limit, 4096);

    im_cgroup_files_close(&fx->files);
    assert_false(fx->files.opened);
    assert_int_equal(tree_read(fx, MEM_ID, &fx->files), IM_OK);
    assert_int_equal(fx->s.memory_limit, 8192);

    /* After IM_CGROUP_LIMITS_REFRESH_READS reads the limit is read again without a reopen. */
    write_file(memory_dir, "memory.limit_in_bytes", "16384\n");
    for (int i = 0; i < IM_CGROUP_LIMITS_REFRESH_READS; i++) {
        assert_int_equal(tree_read(fx, MEM_ID, &fx->files), IM_OK);
    }
    assert_int_equal(fx->s.memory_limit, 16384);
    im_cgroup_files_close(&fx->files);
}

static void v1_open_files_match_one_shot(void **state)
{
    im_cgroup_layout_t layout;
    im_cgroup_files_t files = {0};
    im_cgroup_sample_t kept;
    im_cgroup_sample_t once;
    char err[256];
    (void)state;

    im_cgroup_detect(FIXTURES "/v1/fx-burn/sys", &layout);
    assert_int_equal(im_cgroup_read(&layout, BURN_ID, &files, &kept, err, sizeof(err)), IM_OK);
    assert_int_equal(im_cgroup_read(&layout, BURN_ID, &files, &kept, err, sizeof(err)), IM_OK);
    assert_int_equal(im_cgroup_read(&layout, BURN_ID, NULL, &once, err, sizeof(err)), IM_OK);
    assert_memory_equal(&kept, &once, sizeof(kept));
    im_cgroup_files_close(&files);
}

static void keyed_parser_cases(void **state)
{
    static const char *const keys[] = {"cache", "total_cache", "rss", "missing"};
    uint64_t values[4] = {11, 22, 33, 44};
    (void)state;

    /* A key that is a prefix of another ("cache" of "cache_x") must not match it. */
    size_t found = im_cgroup_parse_keyed("cache_x 9\ncache 1\ntotal_cache 18446744073709551615\n"
                                         "rss\nbad line\nrss 7",
                                         keys, values, 4);
    assert_int_equal(found, 3);
    assert_int_equal(values[0], 1);
    assert_int_equal(values[1], UINT64_MAX);
    assert_int_equal(values[2], 7);
    assert_int_equal(values[3], 44); /* untouched */
    assert_int_equal(im_cgroup_parse_keyed("", keys, values, 4), 0);
}

static void blkio_parser_cases(void **state)
{
    im_cgroup_sample_t s = {0};
    (void)state;

    im_cgroup_parse_blkio_v1("8:0 Read 100\n8:0 Write 20\n8:0 Sync 120\n8:0 Async 0\n"
                             "8:0 Total 120\n8:16 Read 5\n8:16 Write\nWrite 7\nTotal 125\n",
                             &s);
    assert_int_equal(s.blkio_read_bytes, 105);
    assert_int_equal(s.blkio_write_bytes, 20);
}

static void net_file_reread(void **state)
{
    char root[] = "/tmp/im-net-test-XXXXXX";
    char dir[512];
    im_cgroup_net_file_t file;
    im_cgroup_net_t net;
    char err[256];
    static const char *const header = "Inter-|   Receive |  Transmit\n face |bytes packets\n";
    char text[512];
    (void)state;

    assert_non_null(mkdtemp(root));
    snprintf(dir, sizeof(dir), "%s/42/net", root);
    snprintf(text, sizeof(text), "%s  eth0: 100 2 0 0 0 0 0 0 300 4 0 0 0 0 0 0\n", header);
    write_file(dir, "dev", text);
    assert_int_equal(im_cgroup_net_open(root, 42, &file, err, sizeof(err)), IM_OK);
    assert_int_equal(file.netns_inode, 0); /* no 42/ns/net in this tree */
    assert_int_equal(im_cgroup_net_read(&file, &net), IM_OK);
    assert_int_equal(net.rx_bytes, 100);
    assert_int_equal(net.tx_packets, 4);

    snprintf(text, sizeof(text), "%s  eth0: 150 3 0 0 0 0 0 0 310 5 0 0 0 0 0 0\n", header);
    write_file(dir, "dev", text);
    assert_int_equal(im_cgroup_net_read(&file, &net), IM_OK);
    assert_int_equal(net.rx_bytes, 150);
    assert_int_equal(net.tx_bytes, 310);
    im_cgroup_net_close(&file);
    assert_int_equal(file.fd, -1);
    assert_int_equal(im_cgroup_net_open(root, 43, &file, err, sizeof(err)), IM_ENOTFOUND);
    assert_non_null(strstr(err, "/43/net/dev"));
    remove_tree(root);
}

static void v1_unknown_container(void **state)
{
    im_cgroup_layout_t layout;
    im_cgroup_sample_t s;
    char err[256];
    (void)state;

    im_cgroup_detect(FIXTURES "/v1/fx-mem/sys", &layout);
    assert_int_equal(im_cgroup_read(&layout, BURN_ID, NULL, &s, err, sizeof(err)), IM_ENOTFOUND);
    assert_non_null(strstr(err, "f2af6f5074d9"));
}

static void v2_systemd_scope(void **state)
{
    im_cgroup_layout_t layout;
    im_cgroup_sample_t s;
    char err[256];
    (void)state;

    im_cgroup_detect(FIXTURES "/v2/sys", &layout);
    assert_int_equal(layout.version, IM_CGROUP_V2);
    assert_int_equal(im_cgroup_read(&layout, V2_ID, NULL, &s, err, sizeof(err)), IM_OK);
    assert_int_equal(s.cpu_usage_ns, 7250000000ULL);
    assert_int_equal(s.cpu_user_ns, 6000000000ULL);
    assert_int_equal(s.cpu_system_ns, 1250000000ULL);
    assert_int_equal(s.cpu_periods, 400);
    assert_int_equal(s.cpu_throttled_periods, 25);
    assert_int_equal(s.cpu_throttled_ns, 1500000000ULL);
    assert_close(s.cpu_limit_cores, 0.5, 1e-9);
    assert_int_equal(s.memory_usage, 73400320);
    assert_int_equal(s.memory_limit, 268435456);
    assert_int_equal(s.memory_inactive_file, 16777216);
    assert_int_equal(s.memory_rss, 52428800);
    assert_int_equal(s.memory_cache, 20971520);
    assert_int_equal(s.memory_swap, 4096);
    assert_int_equal(s.blkio_read_bytes, 1459200 + 4096);
    assert_int_equal(s.blkio_write_bytes, 314773504 + 8192);
    assert_int_equal(s.pids, 3);
    assert_int_equal(im_cgroup_memory_used(&s), 73400320 - 16777216);
}

#define PODMAN_ID "9825e83722925987601bbf4dfa89f8a9cc09ecc0ca3f4c9e8ddbd0ae18b73183"
#define PROC_CGROUP FIXTURES "/proc_cgroup"

/* Reads a whole fixture file into a new string. */
static char *read_fixture(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = calloc(1, 16384);

    assert_non_null(f);
    assert_non_null(text);
    size_t len = fread(text, 1, 16383, f);
    text[len] = '\0';
    fclose(f);
    return text;
}

static void proc_cgroup_paths_found(void **state)
{
    static const struct {
        const char *file;
        const char *controller;
        const char *path;
        const char *mount;
    } cases[] = {
        {"docker_cgroupfs_v1.txt", "memory", "/docker/" BURN_ID, "memory"},
        {"docker_cgroupfs_v1.txt", "cpuacct", "/docker/" BURN_ID, "cpu,cpuacct"},
        {"docker_cgroupfs_v1.txt", "cpu", "/docker/" BURN_ID, "cpu,cpuacct"},
        {"docker_systemd_v1.txt", "blkio", "/system.slice/docker-" BURN_ID ".scope", "blkio"},
        {"docker_systemd_v1.txt", "pids", "/system.slice/docker-" BURN_ID ".scope", "pids"},
        {"podman_cgroupfs_v1.txt", "memory", "/libpod_parent/libpod-" PODMAN_ID, "memory"},
        {"podman_cgroupfs_v1.txt", "cpuacct", "/libpod_parent/libpod-" PODMAN_ID, "cpuacct"},
        {"podman_cgroupfs_v1.txt", "", "/libpod_parent/libpod-" PODMAN_ID, ""},
        {"podman_systemd_v1.txt", "memory", "/machine.slice/libpod-" PODMAN_ID ".scope",
         "memory"},
        {"podman_systemd_v1.txt", "rdma", "/", "rdma"},
        {"docker_cgroupfs_v2.txt", "", "/docker/" BURN_ID, ""},
        {"docker_systemd_v2.txt", "", "/system.slice/docker-" BURN_ID ".scope", ""},
        {"podman_cgroupfs_v2.txt", "", "/libpod_parent/libpod-" PODMAN_ID, ""},
        {"podman_systemd_v2.txt", "", "/machine.slice/libpod-" PODMAN_ID ".scope", ""},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char file[256];
        char path[512];
        char mount[64];
        snprintf(file, sizeof(file), "%s/%s", PROC_CGROUP, cases[i].file);
        char *text = read_fixture(file);
        bool found = im_cgroup_parse_proc_cgroup(text, cases[i].controller, path, sizeof(path),
                                                 mount, sizeof(mount));
        if (!found) {
            fail_msg("%s: no path for controller \"%s\"", cases[i].file, cases[i].controller);
        }
        if (strcmp(path, cases[i].path) != 0) {
            fail_msg("%s, \"%s\": path %s, expected %s", cases[i].file, cases[i].controller, path,
                     cases[i].path);
        }
        if (strcmp(mount, cases[i].mount) != 0) {
            fail_msg("%s, \"%s\": mount %s, expected %s", cases[i].file, cases[i].controller,
                     mount, cases[i].mount);
        }
        free(text);
    }
}

static void proc_cgroup_paths_rejected(void **state)
{
    char path[512];
    char small[16];
    (void)state;

    char *v2 = read_fixture(PROC_CGROUP "/podman_systemd_v2.txt");
    assert_false(im_cgroup_parse_proc_cgroup(v2, "memory", path, sizeof(path), NULL, 0));
    assert_false(im_cgroup_parse_proc_cgroup(v2, "", small, sizeof(small), NULL, 0));
    free(v2);

    char *v1 = read_fixture(PROC_CGROUP "/docker_cgroupfs_v1.txt");
    /* "cpu,cpuacct" is a mount name, not a controller, and "net" is only a prefix of net_cls. */
    assert_false(im_cgroup_parse_proc_cgroup(v1, "cpu,cpuacct", path, sizeof(path), NULL, 0));
    assert_false(im_cgroup_parse_proc_cgroup(v1, "net", path, sizeof(path), NULL, 0));
    assert_false(im_cgroup_parse_proc_cgroup(v1, "misc", path, sizeof(path), NULL, 0));
    free(v1);

    char *outside = read_fixture(PROC_CGROUP "/outside_namespace_v2.txt");
    assert_false(im_cgroup_parse_proc_cgroup(outside, "", path, sizeof(path), NULL, 0));
    free(outside);

    assert_false(im_cgroup_parse_proc_cgroup("0::/..\n", "", path, sizeof(path), NULL, 0));
    assert_false(im_cgroup_parse_proc_cgroup("", "", path, sizeof(path), NULL, 0));
    /* A cgroup whose name starts with ".." is inside the namespace. */
    assert_true(im_cgroup_parse_proc_cgroup("0::/..data/ctr\n", "", path, sizeof(path), NULL, 0));
    assert_string_equal(path, "/..data/ctr");
    assert_false(im_cgroup_parse_proc_cgroup("garbage\n4:memory\n", "memory", path,
                                             sizeof(path), NULL, 0));
}

/* Writes the v1 memory files of a container into dir with the given usage. */
static void write_v1_memory(const char *dir, const char *usage)
{
    write_file(dir, "memory.usage_in_bytes", usage);
    write_file(dir, "memory.stat", "total_cache 7\ntotal_rss 3\n");
    write_file(dir, "memory.limit_in_bytes", "4096\n");
}

static void v1_podman_cgroupfs_without_pid(void **state)
{
    tree_t *fx = *state;
    char dir[512];

    snprintf(dir, sizeof(dir), "%s/fs/cgroup/memory/libpod_parent/libpod-%s", fx->root, PODMAN_ID);
    write_v1_memory(dir, "1000\n");
    snprintf(dir, sizeof(dir), "%s/fs/cgroup/cpuacct/libpod_parent/libpod-%s", fx->root, PODMAN_ID);
    write_file(dir, "cpuacct.usage", "5000\n");
    im_cgroup_detect(fx->root, &fx->layout);

    /* pid 0: no /proc/<pid>/cgroup, so the Podman cgroupfs pattern finds the directory. */
    assert_int_equal(tree_open_pid(fx, 0, PODMAN_ID), IM_OK);
    assert_int_equal(tree_read(fx, PODMAN_ID, &fx->files), IM_OK);
    assert_true(fx->s.has_memory);
    assert_int_equal(fx->s.memory_usage, 1000);
    assert_true(fx->s.has_cpu);
    assert_int_equal(fx->s.cpu_usage_ns, 5000);
    im_cgroup_files_close(&fx->files);

    /* im_cgroup_read alone tries the same patterns. */
    assert_int_equal(tree_read(fx, PODMAN_ID, NULL), IM_OK);
    assert_int_equal(fx->s.memory_usage, 1000);
}

static void v1_custom_parent_from_pid(void **state)
{
    tree_t *fx = *state;
    char dir[512];
    char text[1024];

    /* A parent that no pattern matches (docker run --cgroup-parent), and cpu and cpuacct
     * mounted together as "cpu,cpuacct" without the per-controller links. */
    snprintf(dir, sizeof(dir), "%s/fs/cgroup/memory/ci/job-7/%s", fx->root, BURN_ID);
    write_v1_memory(dir, "2000\n");
    snprintf(dir, sizeof(dir), "%s/fs/cgroup/cpu,cpuacct/ci/job-7/%s", fx->root, BURN_ID);
    write_file(dir, "cpuacct.usage", "9000\n");
    write_file(dir, "cpu.cfs_quota_us", "50000\n");
    write_file(dir, "cpu.cfs_period_us", "100000\n");
    snprintf(dir, sizeof(dir), "%s/fs/cgroup/pids/ci/job-7/%s", fx->root, BURN_ID);
    write_file(dir, "pids.current", "4\n");
    snprintf(dir, sizeof(dir), "%s/4242", fx->root);
    snprintf(text, sizeof(text),
             "5:pids:/ci/job-7/%s\n4:memory:/ci/job-7/%s\n2:cpu,cpuacct:/ci/job-7/%s\n"
             "1:name=systemd:/ci/job-7/%s\n0::/\n",
             BURN_ID, BURN_ID, BURN_ID, BURN_ID);
    write_file(dir, "cgroup", text);
    im_cgroup_detect(fx->root, &fx->layout);
    assert_int_equal(fx->layout.version, IM_CGROUP_V1);

    assert_int_equal(tree_read(fx, BURN_ID, NULL), IM_ENOTFOUND);
    assert_int_equal(tree_open_pid(fx, 4242, BURN_ID), IM_OK);
    assert_true(fx->files.opened);
    assert_int_equal(tree_read(fx, BURN_ID, &fx->files), IM_OK);
    assert_int_equal(fx->s.memory_usage, 2000);
    assert_int_equal(fx->s.memory_limit, 4096);
    assert_int_equal(fx->s.cpu_usage_ns, 9000);
    assert_close(fx->s.cpu_limit_cores, 0.5, 1e-9);
    assert_true(fx->s.has_pids);
    assert_int_equal(fx->s.pids, 4);
    assert_false(fx->s.has_blkio); /* no blkio line in this /proc/<pid>/cgroup */
    im_cgroup_files_close(&fx->files);

    /* A pid that has exited falls back to the patterns, which do not match this parent. */
    assert_int_equal(tree_open_pid(fx, 4243, BURN_ID), IM_ENOTFOUND);
    assert_false(fx->files.opened);
}

static void v2_podman_systemd_from_pid(void **state)
{
    tree_t *fx = *state;
    char dir[512];
    char text[512];

    snprintf(dir, sizeof(dir), "%s/fs/cgroup", fx->root);
    write_file(dir, "cgroup.controllers", "cpuset cpu io memory pids\n");
    snprintf(dir, sizeof(dir), "%s/fs/cgroup/machine.slice/libpod-%s.scope", fx->root, PODMAN_ID);
    write_file(dir, "cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n");
    write_file(dir, "memory.current", "3000\n");
    write_file(dir, "memory.max", "max\n");
    snprintf(dir, sizeof(dir), "%s/77", fx->root);
    snprintf(text, sizeof(text), "0::/machine.slice/libpod-%s.scope\n", PODMAN_ID);
    write_file(dir, "cgroup", text);
    im_cgroup_detect(fx->root, &fx->layout);
    assert_int_equal(fx->layout.version, IM_CGROUP_V2);

    assert_int_equal(tree_open_pid(fx, 77, PODMAN_ID), IM_OK);
    assert_int_equal(tree_read(fx, PODMAN_ID, &fx->files), IM_OK);
    assert_true(fx->s.has_cpu);
    assert_int_equal(fx->s.cpu_usage_ns, 1500000);
    assert_int_equal(fx->s.memory_usage, 3000);
    assert_int_equal(fx->s.memory_limit, 0);
    im_cgroup_files_close(&fx->files);

    /* A path outside the reader's cgroup namespace is not used, but the pattern still finds
     * the scope. */
    snprintf(text, sizeof(text), "0::/../../machine.slice/libpod-%s.scope\n", PODMAN_ID);
    write_file(dir, "cgroup", text);
    assert_int_equal(tree_open_pid(fx, 77, PODMAN_ID), IM_OK);
    assert_int_equal(tree_read(fx, PODMAN_ID, &fx->files), IM_OK);
    assert_int_equal(fx->s.memory_usage, 3000);
    im_cgroup_files_close(&fx->files);

    /* A process in the root cgroup is not taken for the container. */
    write_file(dir, "cgroup", "0::/\n");
    snprintf(dir, sizeof(dir), "%s/fs/cgroup/machine.slice/libpod-%s.scope", fx->root, PODMAN_ID);
    remove_tree(dir);
    assert_int_equal(tree_open_pid(fx, 77, PODMAN_ID), IM_ENOTFOUND);
}

static void missing_hierarchy(void **state)
{
    im_cgroup_layout_t layout;
    (void)state;

    im_cgroup_detect(FIXTURES "/no-such-tree", &layout);
    assert_int_equal(layout.version, IM_CGROUP_NONE);
}

static void net_dev_skips_loopback(void **state)
{
    FILE *f = fopen(FIXTURES "/net/pid", "r");
    int pid = 0;
    im_cgroup_net_t net;
    char err[256];
    (void)state;

    assert_non_null(f);
    assert_int_equal(fscanf(f, "%d", &pid), 1);
    fclose(f);
    assert_int_equal(im_cgroup_read_net(FIXTURES "/net/proc", pid, &net, err, sizeof(err)), IM_OK);
    assert_true(net.has_net);
    assert_int_equal(net.rx_bytes, 1378);
    assert_int_equal(net.rx_packets, 15);
    assert_int_equal(net.tx_bytes, 336);
    assert_int_equal(net.tx_packets, 4);
}

static void net_dev_malformed(void **state)
{
    im_cgroup_net_t net = {0};
    (void)state;

    im_cgroup_parse_net_dev("garbage\n eth0: 1 2 3\nlo: 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5\n", &net);
    assert_int_equal(net.rx_bytes, 0);
    assert_int_equal(net.tx_bytes, 0);
}

static void cpu_percent_matches_docker_stats(void **state)
{
    (void)state;
    double percent = im_cgroup_cpu_percent(
        (uint64_t)fixture_value("cpu_usage_before_ns"),
        (uint64_t)fixture_value("cpu_usage_after_ns"),
        (int64_t)(fixture_value("wall_after_ns") - fixture_value("wall_before_ns")));

    /* The CLI's one-second window lies inside the bracket of a steady burner. */
    assert_close(percent, fixture_value("docker_stats_cpu_percent"), 2.0);
}

static void memory_matches_docker_stats(void **state)
{
    im_cgroup_sample_t s = {0};
    (void)state;

    s.memory_usage = (uint64_t)fixture_value("memory_usage");
    s.memory_inactive_file = (uint64_t)fixture_value("memory_inactive_file");
    s.memory_limit = (uint64_t)fixture_value("memory_limit");
    double mib = (double)im_cgroup_memory_used(&s) / (1024.0 * 1024.0);
    double percent = (double)im_cgroup_memory_used(&s) / (double)s.memory_limit * 100.0;
    /* The CLI prints 3 significant digits for MiB and 2 decimals for the percentage. */
    assert_close(mib, fixture_value("docker_stats_memory_mib"), 0.05);
    assert_close(percent, fixture_value("docker_stats_memory_percent"), 0.005);
}

static void engine_stats_reply_mapped(void **state)
{
    json_error_t error;
    json_t *stats = json_load_file(FIXTURES "/engine_stats_burn.json", 0, &error);
    im_cgroup_sample_t s;
    im_cgroup_net_t net;
    (void)state;

    assert_non_null(stats);
    im_sampler_map_engine_stats(stats, &s, &net);
    assert_true(s.has_cpu);
    assert_int_equal(s.cpu_usage_ns, 20014064183ULL);
    assert_int_equal(s.pids, 2);
    /* The docker CLI computes cpu delta / system delta * online CPUs * 100 from precpu_stats.
     * The collector's formula over the same delta must give the same figure. */
    json_t *cpu = json_object_get(stats, "cpu_stats");
    json_t *precpu = json_object_get(stats, "precpu_stats");
    uint64_t prev = (uint64_t)json_integer_value(
        json_object_get(json_object_get(precpu, "cpu_usage"), "total_usage"));
    int64_t system_delta = json_integer_value(json_object_get(cpu, "system_cpu_usage")) -
                           json_integer_value(json_object_get(precpu, "system_cpu_usage"));
    int64_t cpus = json_integer_value(json_object_get(cpu, "online_cpus"));
    double docker = (double)(s.cpu_usage_ns - prev) / (double)system_delta * (double)cpus * 100.0;
    assert_close(im_cgroup_cpu_percent(prev, s.cpu_usage_ns, system_delta / cpus), docker, 1e-9);
    assert_close(docker, 60.2, 0.05);
    json_decref(stats);
}

static void engine_stats_memory_mapped(void **state)
{
    json_error_t error;
    json_t *stats = json_load_file(FIXTURES "/engine_stats_mem.json", 0, &error);
    im_cgroup_sample_t s;
    im_cgroup_net_t net;
    (void)state;

    assert_non_null(stats);
    im_sampler_map_engine_stats(stats, &s, &net);
    assert_true(s.has_memory);
    assert_int_equal(s.memory_limit, 268435456);
    assert_true(im_cgroup_memory_used(&s) >= 64ULL * 1024 * 1024);
    json_decref(stats);
}

static void arithmetic_edge_cases(void **state)
{
    im_cgroup_sample_t s = {0};
    (void)state;

    assert_true(im_cgroup_cpu_percent(100, 50, 1000) == 0.0); /* restarted container */
    assert_true(im_cgroup_cpu_percent(0, 1000, 0) == 0.0);    /* no time passed */
    assert_close(im_cgroup_cpu_percent(0, 2000000000, 1000000000), 200.0, 1e-9); /* two cores */
    assert_true(im_cgroup_rate(10, 5, 1000000000) == 0.0);
    assert_close(im_cgroup_rate(0, 500, 500000000), 1000.0, 1e-9);
    s.memory_usage = 0;
    s.memory_rss = 10;
    s.memory_cache = 5;
    assert_int_equal(im_cgroup_memory_used(&s), 15); /* usage 0: rss + cache */
    s.memory_usage = 100;
    s.memory_inactive_file = 200;
    assert_int_equal(im_cgroup_memory_used(&s), 100); /* inactive above usage */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(v1_detected_in_real_tree),
        cmocka_unit_test(v1_cpu_burner),
        cmocka_unit_test(v1_memory_holder),
        cmocka_unit_test_setup_teardown(v1_open_files_reread, tree_setup, tree_teardown),
        cmocka_unit_test(v1_open_files_match_one_shot),
        cmocka_unit_test(keyed_parser_cases),
        cmocka_unit_test(blkio_parser_cases),
        cmocka_unit_test(net_file_reread),
        cmocka_unit_test(v1_unknown_container),
        cmocka_unit_test(v2_systemd_scope),
        cmocka_unit_test(missing_hierarchy),
        cmocka_unit_test(proc_cgroup_paths_found),
        cmocka_unit_test(proc_cgroup_paths_rejected),
        cmocka_unit_test_setup_teardown(v1_podman_cgroupfs_without_pid, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(v1_custom_parent_from_pid, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(v2_podman_systemd_from_pid, tree_setup, tree_teardown),
        cmocka_unit_test(net_dev_skips_loopback),
        cmocka_unit_test(net_dev_malformed),
        cmocka_unit_test(cpu_percent_matches_docker_stats),
        cmocka_unit_test(memory_matches_docker_stats),
        cmocka_unit_test(engine_stats_reply_mapped),
        cmocka_unit_test(engine_stats_memory_mapped),
        cmocka_unit_test(arithmetic_edge_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
