/* Tests of the host readers, the sampler, the JSON bodies and the collector. Fixture trees
 * under fixtures/host are described in fixtures/host/README.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collect/collector.h"
#include "collect/host.h"
#include "core/util.h"

#define REAL         "fixtures/host/real"
#define REAL_PROC    REAL "/proc"
#define REAL_SYS     REAL "/sys"
#define TRIMMED      "fixtures/host/trimmed"
#define TRIMMED_PROC TRIMMED "/proc"
#define TRIMMED_SYS  TRIMMED "/sys"
#define BROKEN_PROC  "fixtures/host/broken/proc"
#define BROKEN_SYS   "fixtures/host/broken/sys"
#define MISSING_PROC "fixtures/host/missing/proc"
#define PAIR_T0_PROC "fixtures/host/pair/t0/proc"
#define PAIR_T1_PROC "fixtures/host/pair/t1/proc"
#define PAIR_SYS     "fixtures/host/pair/sys" /* absent: interfaces are classified by name */

#define KIB 1024ULL

/* Fails with both values printed when actual and expected differ by more than tolerance. */
#define assert_close(actual, expected, tolerance)                                                  \
    do {                                                                                           \
        double actual_value = (actual);                                                            \
        double expected_value = (expected);                                                        \
        if (fabs(actual_value - expected_value) > (tolerance)) {                                   \
            fail_msg("%s is %.6f, expected %.6f", #actual, actual_value, expected_value);          \
        }                                                                                          \
    } while (0)

static const im_host_iface_t *find_iface(const im_host_net_t *net, const char *name)
{
    for (size_t i = 0; i < net->count; i++) {
        if (strcmp(net->items[i].name, name) == 0) {
            return &net->items[i];
        }
    }
    fail_msg("interface %s not found", name);
    return NULL;
}

static const im_host_disk_t *find_disk(const im_host_diskstats_t *disks, const char *name)
{
    for (size_t i = 0; i < disks->count; i++) {
        if (strcmp(disks->items[i].name, name) == 0) {
            return &disks->items[i];
        }
    }
    return NULL;
}

static const json_t *find_by_key(const json_t *list, const char *key, const char *value)
{
    size_t i;
    const json_t *item;
    json_array_foreach(list, i, item)
    {
        const char *text = json_string_value(json_object_get(item, key));
        if (text && strcmp(text, value) == 0) {
            return item;
        }
    }
    fail_msg("no item with %s = %s", key, value);
    return NULL;
}

static void assert_has_keys(const json_t *obj, const char *const *keys, size_t count)
{
    assert_true(json_is_object(obj));
    for (size_t i = 0; i < count; i++) {
        if (!json_object_get(obj, keys[i])) {
            fail_msg("missing key %s", keys[i]);
        }
    }
}

/* ---- /proc/stat ---- */

static void stat_real_fixture(void **state)
{
    im_host_stat_t stat;
    char err[256] = "";
    assert_int_equal(im_host_read_stat(REAL_PROC, &stat, err, sizeof(err)), IM_OK);
    assert_int_equal(stat.total.user, 11262);
    assert_int_equal(stat.total.system, 6552);
    assert_int_equal(stat.total.idle, 159529);
    assert_int_equal(stat.total.iowait, 525);
    assert_int_equal(stat.total.softirq, 131);
    assert_int_equal(stat.total.steal, 24);
    assert_int_equal(stat.cpu_count, 2);
    assert_int_equal(stat.cpus[0].id, 0);
    assert_int_equal(stat.cpus[1].id, 1);
    assert_int_equal(stat.boot_time, 1796399269);
    im_host_stat_release(&stat);
    assert_null(stat.cpus);
}

static void stat_truncated_file(void **state)
{
    im_host_stat_t stat;
    char err[256] = "";
    assert_int_equal(im_host_read_stat(TRIMMED_PROC, &stat, err, sizeof(err)), IM_OK);
    assert_int_equal(stat.total.user, 4705);
    assert_int_equal(stat.total.nice, 356);
    /* cpu1 is offline and the cpu3 line is cut short, so only cpu0 and cpu2 remain */
    assert_int_equal(stat.cpu_count, 2);
    assert_int_equal(stat.cpus[0].id, 0);
    assert_int_equal(stat.cpus[1].id, 2);
    assert_int_equal(stat.boot_time, 0);
    im_host_stat_release(&stat);
}

static void stat_without_total_line(void **state)
{
    im_host_stat_t stat;
    char err[256] = "";
    assert_int_equal(im_host_read_stat(BROKEN_PROC, &stat, err, sizeof(err)), IM_EINVAL);
    assert_non_null(strstr(err, "no complete \"cpu\" line"));
    assert_null(stat.cpus);
    assert_int_equal(stat.cpu_count, 0);
}

static void stat_missing_file(void **state)
{
    im_host_stat_t stat;
    char err[256] = "";
    assert_int_equal(im_host_read_stat(MISSING_PROC, &stat, err, sizeof(err)), IM_ENOTFOUND);
    assert_non_null(strstr(err, MISSING_PROC "/stat"));
    assert_null(stat.cpus);
}

/* ---- CPU percentages ---- */

static void cpu_percent_from_two_snapshots(void **state)
{
    im_host_stat_t before;
    im_host_stat_t after;
    assert_int_equal(im_host_read_stat(PAIR_T0_PROC, &before, NULL, 0), IM_OK);
    assert_int_equal(im_host_read_stat(PAIR_T1_PROC, &after, NULL, 0), IM_OK);

    /* "cpu  11713 0 6691 160782 534 0 132 25" then "cpu  11774 0 6768 160826 535 0 163 25":
     * the eight modes sum to 179877 and 180091, idle + iowait to 161316 and 161361. */
    double total_delta = 180091.0 - 179877.0;
    double idle_delta = 161361.0 - 161316.0;
    assert_close(total_delta, 214, 0);
    assert_close(idle_delta, 45, 0);
    double expected = 100.0 * (1.0 - idle_delta / total_delta);
    assert_close(im_host_cpu_percent(&before.total, &after.total), expected, 1e-9);

    /* cpu0: "5204 0 2940 81672 59 0 23 11" sums to 89909, "5223 0 2985 81696 59 0 42 11" to
     * 90016; idle + iowait goes from 81731 to 81755. */
    double cpu0_expected = 100.0 * (1.0 - (81755.0 - 81731.0) / (90016.0 - 89909.0));
    assert_close(im_host_cpu_percent(&before.cpus[0].times, &after.cpus[0].times), cpu0_expected,
                 1e-9);
    /* cpu1: 89965 -> 90072 in all, 79585 -> 79606 idle + iowait */
    double cpu1_expected = 100.0 * (1.0 - (79606.0 - 79585.0) / (90072.0 - 89965.0));
    assert_close(im_host_cpu_percent(&before.cpus[1].times, &after.cpus[1].times), cpu1_expected,
                 1e-9);

    im_host_stat_release(&before);
    im_host_stat_release(&after);
}

static void cpu_percent_edge_cases(void **state)
{
    im_host_cpu_times_t a = {.user = 100, .idle = 100};
    assert_close(im_host_cpu_percent(&a, &a), 0.0, 0);

    im_host_cpu_times_t busy = {.user = 200, .idle = 100};
    assert_close(im_host_cpu_percent(&a, &busy), 100.0, 0);

    /* iowait going backwards counts as no change, not as negative idle time */
    im_host_cpu_times_t before = {.user = 100, .idle = 100, .iowait = 50};
    im_host_cpu_times_t after = {.user = 150, .idle = 150, .iowait = 40};
    assert_close(im_host_cpu_percent(&before, &after), 50.0, 1e-9);
}

static void rate_edge_cases(void **state)
{
    double rate = -1;
    assert_true(im_host_rate(0, 1000, 500, &rate));
    assert_close(rate, 2000.0, 0);
    assert_false(im_host_rate(100, 50, 1000, &rate));
    assert_false(im_host_rate(100, 200, 0, &rate));
    assert_false(im_host_rate(100, 200, -5, &rate));
}

/* ---- meminfo, loadavg, uptime ---- */

static void meminfo_real_fixture(void **state)
{
    im_host_mem_t mem;
    assert_int_equal(im_host_read_meminfo(REAL_PROC, &mem, NULL, 0), IM_OK);
    assert_int_equal(mem.total, 24683792 * KIB);
    assert_int_equal(mem.available, 24216332 * KIB);
    assert_false(mem.available_estimated);
    assert_int_equal(mem.swap_total, 0);
}

static void meminfo_without_available(void **state)
{
    im_host_mem_t mem;
    assert_int_equal(im_host_read_meminfo(TRIMMED_PROC, &mem, NULL, 0), IM_OK);
    assert_int_equal(mem.total, 2048000 * KIB);
    assert_true(mem.available_estimated);
    assert_int_equal(mem.available, (512000 + 102400 + 409600) * KIB);
    assert_int_equal(mem.swap_total, 1048576 * KIB);
    assert_int_equal(mem.swap_free, 524288 * KIB);
}

static void meminfo_empty_file(void **state)
{
    im_host_mem_t mem;
    char err[256] = "";
    assert_int_equal(im_host_read_meminfo(BROKEN_PROC, &mem, err, sizeof(err)), IM_EINVAL);
    assert_non_null(strstr(err, "MemTotal"));
    assert_int_equal(im_host_read_meminfo(MISSING_PROC, &mem, NULL, 0), IM_ENOTFOUND);
}

static void loadavg_and_uptime(void **state)
{
    im_host_load_t load;
    double uptime;
    assert_int_equal(im_host_read_loadavg(REAL_PROC, &load, NULL, 0), IM_OK);
    assert_close(load.load1, 0.89, 1e-9);
    assert_close(load.load5, 0.47, 1e-9);
    assert_close(load.load15, 0.23, 1e-9);
    assert_int_equal(im_host_read_uptime(REAL_PROC, &uptime, NULL, 0), IM_OK);
    assert_close(uptime, 899.79, 1e-9);

    assert_int_equal(im_host_read_loadavg(TRIMMED_PROC, &load, NULL, 0), IM_OK);
    assert_close(load.load1, 1.5, 1e-9);
    assert_close(load.load15, 0.25, 1e-9);
    assert_int_equal(im_host_read_uptime(TRIMMED_PROC, &uptime, NULL, 0), IM_OK);
    assert_close(uptime, 12345.67, 1e-9);

    assert_int_equal(im_host_read_loadavg(BROKEN_PROC, &load, NULL, 0), IM_EINVAL);
    assert_int_equal(im_host_read_uptime(BROKEN_PROC, &uptime, NULL, 0), IM_EINVAL);
    assert_int_equal(im_host_read_loadavg(MISSING_PROC, &load, NULL, 0), IM_ENOTFOUND);
    assert_int_equal(im_host_read_uptime(MISSING_PROC, &uptime, NULL, 0), IM_ENOTFOUND);
}

/* ---- cpuinfo ---- */

static void cpuinfo_x86(void **state)
{
    im_host_cpuinfo_t info;
    assert_int_equal(im_host_read_cpuinfo(REAL_PROC, REAL_SYS, &info, NULL, 0), IM_OK);
    assert_string_equal(info.model, "Intel(R) Xeon(R) Processor");
    assert_close(info.mhz, 2300.0, 1e-9);
    assert_int_equal(info.processors, 2);
}

static void cpuinfo_arm64_without_model(void **state)
{
    im_host_cpuinfo_t info;
    assert_int_equal(im_host_read_cpuinfo(TRIMMED_PROC, TRIMMED_SYS, &info, NULL, 0), IM_OK);
    assert_string_equal(info.model, "");
    assert_close(info.mhz, 1800.0, 1e-9); /* from cpufreq, 1800000 kHz */
    assert_int_equal(info.processors, 2);

    assert_int_equal(im_host_read_cpuinfo(TRIMMED_PROC, NULL, &info, NULL, 0), IM_OK);
    assert_close(info.mhz, 0.0, 0);
}

static void cpuinfo_malformed(void **state)
{
    im_host_cpuinfo_t info;
    assert_int_equal(im_host_read_cpuinfo(BROKEN_PROC, BROKEN_SYS, &info, NULL, 0), IM_OK);
    assert_string_equal(info.model, "");
    assert_close(info.mhz, 0.0, 0);
    assert_int_equal(im_host_read_cpuinfo(MISSING_PROC, NULL, &info, NULL, 0), IM_ENOTFOUND);
}

/* ---- net/dev ---- */

static void net_dev_real_fixture(void **state)
{
    im_host_net_t net;
    assert_int_equal(im_host_read_net_dev(REAL_PROC, REAL_SYS, &net, NULL, 0), IM_OK);
    assert_int_equal(net.count, 8);
    const im_host_iface_t *eth0 = find_iface(&net, "eth0");
    assert_int_equal(eth0->rx_bytes, 84140370);
    assert_int_equal(eth0->rx_packets, 1662);
    assert_int_equal(eth0->tx_bytes, 68882);
    assert_int_equal(eth0->tx_packets, 876);
    assert_false(eth0->is_virtual);
    assert_true(find_iface(&net, "lo")->is_virtual);
    assert_true(find_iface(&net, "br-854d51016da3")->is_virtual);
    assert_true(find_iface(&net, "vethbf4ddc3")->is_virtual);
    const im_host_iface_t *bridge = find_iface(&net, "br-1df9e3f17594");
    assert_int_equal(bridge->tx_dropped, 4);
    im_host_net_release(&net);
}

static void net_dev_host_namespace_path(void **state)
{
    im_host_net_t net;
    assert_int_equal(im_host_read_net_dev(TRIMMED_PROC, TRIMMED_SYS, &net, NULL, 0), IM_OK);
    assert_int_equal(net.count, 5); /* "short" has too few counters */
    const im_host_iface_t *eth0 = find_iface(&net, "eth0");
    assert_int_equal(eth0->rx_errors, 3);
    assert_int_equal(eth0->rx_dropped, 7);
    assert_int_equal(eth0->tx_errors, 1);
    assert_int_equal(eth0->tx_dropped, 2);
    assert_false(eth0->is_virtual);
    assert_false(find_iface(&net, "wlan0")->is_virtual);
    assert_true(find_iface(&net, "docker0")->is_virtual);
    assert_true(find_iface(&net, "veth1a2b3c")->is_virtual);
    assert_true(find_iface(&net, "lo")->is_virtual);
    im_host_net_release(&net);
}

static void net_dev_malformed(void **state)
{
    im_host_net_t net;
    assert_int_equal(im_host_read_net_dev(BROKEN_PROC, BROKEN_SYS, &net, NULL, 0), IM_OK);
    assert_int_equal(net.count, 1);
    assert_string_equal(net.items[0].name, "x");
    assert_int_equal(net.items[0].rx_bytes, UINT64_MAX); /* saturated, not wrapped */
    im_host_net_release(&net);
    assert_int_equal(im_host_read_net_dev(MISSING_PROC, BROKEN_SYS, &net, NULL, 0), IM_ENOTFOUND);
}

/* ---- diskstats ---- */

static void diskstats_real_fixture(void **state)
{
    im_host_diskstats_t disks;
    assert_int_equal(im_host_read_diskstats(REAL_PROC, REAL_SYS, &disks, NULL, 0), IM_OK);
    assert_int_equal(disks.count, 10);
    const im_host_disk_t *vda = find_disk(&disks, "vda");
    assert_non_null(vda);
    assert_int_equal(vda->major, 254);
    assert_int_equal(vda->reads, 57982);
    assert_int_equal(vda->read_bytes, 3465194ULL * 512);
    assert_int_equal(vda->writes, 41010);
    assert_int_equal(vda->write_bytes, 1610448ULL * 512);
    assert_false(vda->is_partition);
    assert_false(vda->is_virtual);
    assert_true(im_host_disk_in_totals(vda));
    assert_true(find_disk(&disks, "loop0")->is_virtual);
    assert_true(find_disk(&disks, "zram0")->is_virtual);
    for (size_t i = 0; i < disks.count; i++) {
        bool expected = strcmp(disks.items[i].name, "vda") == 0;
        assert_int_equal(im_host_disk_in_totals(&disks.items[i]), expected);
    }
    im_host_diskstats_release(&disks);
}

static void diskstats_classified_by_name(void **state)
{
    static const struct {
        const char *name;
        bool partition;
        bool is_virtual;
    } cases[] = {
        {"sda", false, false},      {"sda1", true, false},      {"sda2", true, false},
        {"nvme0n1", false, false},  {"nvme0n1p1", true, false}, {"mmcblk0", false, false},
        {"mmcblk0p1", true, false}, {"loop0", false, true},     {"dm-0", false, true},
        {"sr0", false, false},
    };
    im_host_diskstats_t disks;
    assert_int_equal(im_host_read_diskstats(TRIMMED_PROC, TRIMMED_SYS, &disks, NULL, 0), IM_OK);
    assert_int_equal(disks.count, IM_ARRAY_LEN(cases)); /* hda1 has the 2.4 format: skipped */
    for (size_t i = 0; i < IM_ARRAY_LEN(cases); i++) {
        const im_host_disk_t *disk = find_disk(&disks, cases[i].name);
        if (!disk) {
            fail_msg("disk %s not found", cases[i].name);
        }
        if (disk->is_partition != cases[i].partition || disk->is_virtual != cases[i].is_virtual) {
            fail_msg("disk %s: partition %d virtual %d, expected %d %d", cases[i].name,
                     disk->is_partition, disk->is_virtual, cases[i].partition, cases[i].is_virtual);
        }
    }
    assert_null(find_disk(&disks, "hda1"));
    im_host_diskstats_release(&disks);
}

static void diskstats_malformed(void **state)
{
    im_host_diskstats_t disks;
    assert_int_equal(im_host_read_diskstats(BROKEN_PROC, BROKEN_SYS, &disks, NULL, 0), IM_OK);
    assert_int_equal(disks.count, 0); /* a major number past 32 bits is rejected */
    im_host_diskstats_release(&disks);
    assert_int_equal(im_host_read_diskstats(MISSING_PROC, BROKEN_SYS, &disks, NULL, 0),
                     IM_ENOTFOUND);
}

/* ---- filesystems ---- */

static void mounts_real_fixture(void **state)
{
    im_host_mounts_t mounts;
    assert_int_equal(im_host_read_mounts(REAL_PROC, &mounts, NULL, 0), IM_OK);
    /* proc, sysfs, devtmpfs, tmpfs, devpts, cgroup, cgroup2, overlay and nsfs are skipped, and
     * the bind mounts of /dev/vda under /tmp fold into "/" */
    assert_int_equal(mounts.count, 1);
    assert_string_equal(mounts.items[0].mountpoint, "/");
    assert_string_equal(mounts.items[0].device, "/dev/vda");
    assert_string_equal(mounts.items[0].fstype, "ext4");
    assert_string_equal(mounts.items[0].options, "rw,relatime");
    assert_int_equal(mounts.items[0].major, 254);
    assert_int_equal(mounts.items[0].minor, 0);
    im_host_mounts_release(&mounts);
}

static void mounts_filtered_and_deduplicated(void **state)
{
    static const char *const expected[] = {"/", "/boot/efi", "/var/lib/docker", "/mnt/backup disk",
                                           "/mnt/nas"};
    im_host_mounts_t mounts;
    assert_int_equal(im_host_read_mounts(TRIMMED_PROC, &mounts, NULL, 0), IM_OK);
    assert_int_equal(mounts.count, IM_ARRAY_LEN(expected));
    for (size_t i = 0; i < IM_ARRAY_LEN(expected); i++) {
        assert_string_equal(mounts.items[i].mountpoint, expected[i]);
    }
    assert_string_equal(mounts.items[0].device, "/dev/sda2"); /* not the /srv/data bind */
    assert_string_equal(mounts.items[2].fstype, "xfs");
    assert_string_equal(mounts.items[3].device, "/dev/mapper/vg-backup");
    assert_string_equal(mounts.items[4].fstype, "nfs4");

    /* under this fixture root only "/" exists, so statvfs drops the other four */
    assert_int_equal(im_host_mounts_statfs(TRIMMED, &mounts), 4);
    assert_int_equal(mounts.count, 1);
    assert_true(mounts.items[0].has_usage);
    assert_true(mounts.items[0].usage.total > 0);
    im_host_mounts_release(&mounts);
}

static void mounts_malformed(void **state)
{
    im_host_mounts_t mounts;
    assert_int_equal(im_host_read_mounts(BROKEN_PROC, &mounts, NULL, 0), IM_OK);
    assert_int_equal(mounts.count, 0);
    im_host_mounts_release(&mounts);
    assert_int_equal(im_host_read_mounts(MISSING_PROC, &mounts, NULL, 0), IM_ENOTFOUND);
}

static void fstype_virtual_rule(void **state)
{
    static const char *const skipped[] = {
        "proc",     "sysfs",   "tmpfs",       "cgroup",     "cgroup2",  "devpts",
        "mqueue",   "overlay", "nsfs",        "tracefs",    "debugfs",  "securityfs",
        "pstore",   "bpf",     "autofs",      "fusectl",    "configfs", "hugetlbfs",
        "squashfs", "ramfs",   "binfmt_misc", "rpc_pipefs", "nfsd",     "devtmpfs"};
    static const char *const kept[] = {"ext4", "xfs", "btrfs", "vfat", "nfs4", "zfs", "fuse.sshfs"};
    for (size_t i = 0; i < IM_ARRAY_LEN(skipped); i++) {
        if (!im_host_fstype_is_virtual(skipped[i])) {
            fail_msg("%s should be skipped", skipped[i]);
        }
    }
    for (size_t i = 0; i < IM_ARRAY_LEN(kept); i++) {
        if (im_host_fstype_is_virtual(kept[i])) {
            fail_msg("%s should be kept", kept[i]);
        }
    }
}

static void statfs_of_fixture_root(void **state)
{
    im_host_fs_usage_t usage;
    char err[256] = "";
    assert_int_equal(im_host_statfs(REAL, "/", &usage, err, sizeof(err)), IM_OK);
    assert_true(usage.total > 0);
    assert_true(usage.used <= usage.total);
    assert_true(usage.free <= usage.total);
    assert_true(usage.percent >= 0.0 && usage.percent <= 100.0);
    assert_int_equal(im_host_statfs(REAL, "/no/such/mount", &usage, err, sizeof(err)),
                     IM_ENOTFOUND);
    assert_non_null(strstr(err, REAL "/no/such/mount"));
}

/* ---- temperatures, hostname ---- */

static void temperatures_absent(void **state)
{
    im_host_temps_t temps;
    assert_int_equal(im_host_read_temperatures(REAL_SYS, &temps, NULL, 0), IM_OK);
    assert_int_equal(temps.count, 0);
    im_host_temps_release(&temps);
}

static void temperatures_hwmon_and_thermal(void **state)
{
    im_host_temps_t temps;
    assert_int_equal(im_host_read_temperatures(TRIMMED_SYS, &temps, NULL, 0), IM_OK);
    /* temp3_input is empty, so 4 of the 5 sensors, sorted by name then label */
    assert_int_equal(temps.count, 4);

    assert_string_equal(temps.items[0].name, "acpitz");
    assert_string_equal(temps.items[0].label, "thermal_zone0");
    assert_close(temps.items[0].current, -5.5, 1e-9);
    assert_true(temps.items[0].has_high);
    assert_close(temps.items[0].high, 95.0, 1e-9);
    assert_true(temps.items[0].has_critical);
    assert_close(temps.items[0].critical, 105.0, 1e-9);

    assert_string_equal(temps.items[1].name, "coretemp");
    assert_string_equal(temps.items[1].label, "Package id 0");
    assert_close(temps.items[1].current, 45.0, 1e-9);
    assert_close(temps.items[1].high, 80.0, 1e-9);
    assert_close(temps.items[1].critical, 100.0, 1e-9);

    assert_string_equal(temps.items[2].label, "temp2");
    assert_close(temps.items[2].current, 43.5, 1e-9);
    assert_false(temps.items[2].has_high);
    assert_false(temps.items[2].has_critical);

    assert_string_equal(temps.items[3].name, "nvme");
    assert_string_equal(temps.items[3].label, "Composite");
    assert_close(temps.items[3].current, 38.85, 1e-9);
    im_host_temps_release(&temps);
}

static void hostname_files(void **state)
{
    char name[256];
    assert_int_equal(im_host_read_hostname(REAL_PROC, name, sizeof(name), NULL, 0), IM_OK);
    assert_string_equal(name, "vm");
    assert_int_equal(im_host_read_hostname(TRIMMED_PROC, name, sizeof(name), NULL, 0),
                     IM_ENOTFOUND);
    assert_int_equal(im_host_read_hostname(BROKEN_PROC, name, sizeof(name), NULL, 0), IM_EINVAL);
}

/* ---- random input ---- */

static void write_random_file(const char *dir, const char *name, unsigned *seed)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    size_t len = (size_t)(rand_r(seed) % 3000);
    /* a mix of digits, separators, letters and raw bytes reaches deeper than noise alone */
    static const char alphabet[] = "0123456789 \t\n:-/.cpuxMemTotal kB\\0";
    for (size_t i = 0; i < len; i++) {
        int pick = rand_r(seed) % 10;
        int c = pick == 0 ? rand_r(seed) % 256 : alphabet[rand_r(seed) % (sizeof(alphabet) - 1)];
        fputc(c, f);
    }
    fclose(f);
}

static void readers_survive_random_files(void **state)
{
    char root[] = "/tmp/im-host-test-XXXXXX";
    assert_non_null(mkdtemp(root));
    char dir[600];
    static const char *const subdirs[] = {"/net", "/self", "/sys", "/sys/kernel"};
    for (size_t i = 0; i < IM_ARRAY_LEN(subdirs); i++) {
        snprintf(dir, sizeof(dir), "%s%s", root, subdirs[i]);
        assert_int_equal(mkdir(dir, 0700), 0);
    }
    static const char *const files[] = {"stat",      "meminfo",        "loadavg",
                                        "uptime",    "cpuinfo",        "net/dev",
                                        "diskstats", "self/mountinfo", "sys/kernel/hostname"};
    unsigned seed = 12345;
    for (int round = 0; round < 300; round++) {
        for (size_t i = 0; i < IM_ARRAY_LEN(files); i++) {
            write_random_file(root, files[i], &seed);
        }
        im_host_sample_t sample;
        im_host_roots_t roots = {root, root, root};
        (void)im_host_sample_read(&roots, &sample, NULL, 0);
        json_decref(im_host_system_json(&sample, &sample));
        im_host_sample_release(&sample);
    }
    for (size_t i = 0; i < IM_ARRAY_LEN(files); i++) {
        snprintf(dir, sizeof(dir), "%s/%s", root, files[i]);
        unlink(dir);
    }
    for (size_t i = IM_ARRAY_LEN(subdirs); i-- > 0;) {
        snprintf(dir, sizeof(dir), "%s%s", root, subdirs[i]);
        rmdir(dir);
    }
    rmdir(root);
}

/* ---- samples and JSON ---- */

static void read_pair_sample(const char *proc, int64_t monotonic_ms, im_host_sample_t *out)
{
    memset(out, 0, sizeof(*out));
    out->wall_ms = 1796400000000 + monotonic_ms;
    out->monotonic_ms = monotonic_ms;
    out->has_stat = im_host_read_stat(proc, &out->stat, NULL, 0) == IM_OK;
    out->has_net = im_host_read_net_dev(proc, PAIR_SYS, &out->net, NULL, 0) == IM_OK;
    out->has_disks = im_host_read_diskstats(proc, PAIR_SYS, &out->disks, NULL, 0) == IM_OK;
    assert_true(out->has_stat);
    assert_true(out->has_net);
    assert_true(out->has_disks);
}

static void rates_from_two_snapshots(void **state)
{
    im_host_sample_t before;
    im_host_sample_t after;
    read_pair_sample(PAIR_T0_PROC, 5000, &before);
    read_pair_sample(PAIR_T1_PROC, 6000, &after); /* one second later */

    json_t *network = im_host_network_json(&after, &before);
    const json_t *eth0 = find_by_key(network, "interface", "eth0");
    assert_close(json_real_value(json_object_get(eth0, "rx_rate")), 85640370.0 - 84140370.0, 0);
    assert_close(json_real_value(json_object_get(eth0, "tx_rate")), 318882.0 - 68882.0, 0);
    assert_int_equal(json_integer_value(json_object_get(eth0, "bytes_recv")), 85640370);
    assert_int_equal(json_integer_value(json_object_get(eth0, "packets_sent")), 1076);
    const json_t *lo = find_by_key(network, "interface", "lo");
    assert_close(json_real_value(json_object_get(lo, "rx_rate")), 1468885689.0 - 13741.0, 0);
    assert_true(json_is_true(json_object_get(lo, "virtual")));
    json_decref(network);

    json_t *system = im_host_system_json(&after, &before);
    /* lo, the bridges and the veths are virtual, so the totals are eth0's alone */
    assert_close(json_real_value(json_object_get(system, "network_rx_rate")), 1500000.0, 0);
    assert_close(json_real_value(json_object_get(system, "network_tx_rate")), 250000.0, 0);
    assert_int_equal(json_integer_value(json_object_get(system, "network_rx")), 85640370);
    /* vda: 3486714 -> 3486834 sectors read, 1716056 -> 1728432 written */
    assert_close(json_real_value(json_object_get(system, "disk_read_rate")),
                 (3486834.0 - 3486714.0) * 512, 0);
    assert_close(json_real_value(json_object_get(system, "disk_write_rate")),
                 (1728432.0 - 1716056.0) * 512, 0);
    assert_int_equal(json_integer_value(json_object_get(system, "disk_read_bytes")),
                     3486834LL * 512);
    double cpu_expected = round(1000.0 * (1.0 - 45.0 / 214.0)) / 10.0; /* 79.0 */
    assert_close(json_real_value(json_object_get(system, "cpu_usage")), cpu_expected, 1e-9);
    const json_t *per_cpu = json_object_get(system, "per_cpu_usage");
    assert_int_equal(json_array_size(per_cpu), 2);
    assert_close(json_real_value(json_array_get(per_cpu, 0)),
                 round(1000.0 * (1.0 - 24.0 / 107.0)) / 10.0, 1e-9);
    json_decref(system);

    /* half a second between the readings doubles the rates */
    after.monotonic_ms = 5500;
    network = im_host_network_json(&after, &before);
    eth0 = find_by_key(network, "interface", "eth0");
    assert_close(json_real_value(json_object_get(eth0, "rx_rate")), 3000000.0, 0);
    json_decref(network);

    im_host_sample_release(&before);
    im_host_sample_release(&after);
}

static const char *const system_keys[] = {
    "cpu_usage",        "cpu_cores",       "cpu_frequency",   "per_cpu_usage",
    "memory_usage",     "memory_total",    "memory_used",     "memory_available",
    "swap_usage",       "swap_total",      "swap_used",       "disk_usage",
    "disk_total",       "disk_used",       "disk_free",       "disk_read_bytes",
    "disk_write_bytes", "disk_read_rate",  "disk_write_rate", "network_rx",
    "network_tx",       "network_rx_rate", "network_tx_rate", "network_interfaces",
    "load_avg_1m",      "load_avg_5m",     "load_avg_15m",    "load_percent",
    "uptime",           "boot_time",       "temperatures",    "timestamp",
};

static const char *const info_keys[] = {
    "hostname", "system",           "release",        "version",   "machine", "boot_time",
    "uptime",   "cpu_architecture", "kernel_version", "cpu_model", "engine",
};

static const char *const disk_keys[] = {"device", "mountpoint", "fstype", "opts",
                                        "total",  "used",       "free",   "percent"};

static const char *const network_keys[] = {
    "interface", "bytes_sent", "bytes_recv", "packets_sent", "packets_recv", "errin",
    "errout",    "dropin",     "dropout",    "rx_rate",      "tx_rate",
};

static void json_bodies_have_contract_fields(void **state)
{
    im_host_roots_t roots = {REAL_PROC, REAL_SYS, REAL};
    im_host_sample_t first;
    im_host_sample_t second;
    char err[256] = "";
    assert_int_equal(im_host_sample_read(&roots, &first, err, sizeof(err)), IM_OK);
    assert_int_equal(im_host_sample_read(&roots, &second, err, sizeof(err)), IM_OK);
    second.monotonic_ms = first.monotonic_ms + 1000; /* the reads may share a millisecond */

    json_t *system = im_host_system_json(&second, &first);
    assert_has_keys(system, system_keys, IM_ARRAY_LEN(system_keys));
    assert_int_equal(json_integer_value(json_object_get(system, "cpu_cores")), 2);
    assert_close(json_real_value(json_object_get(system, "cpu_frequency")), 2300.0, 0);
    assert_int_equal(json_integer_value(json_object_get(system, "memory_total")), 24683792 * KIB);
    assert_int_equal(json_integer_value(json_object_get(system, "memory_used")),
                     (24683792 - 24216332) * KIB);
    assert_close(json_real_value(json_object_get(system, "load_percent")), 44.5, 1e-9);
    assert_close(json_real_value(json_object_get(system, "load_avg_1m")), 0.89, 1e-9);
    assert_string_equal(json_string_value(json_object_get(system, "boot_time")),
                        "2026-12-04T15:47:49Z");
    assert_int_equal(json_integer_value(json_object_get(system, "uptime")), 899);
    assert_true(json_is_array(json_object_get(system, "temperatures")));
    assert_int_equal(json_array_size(json_object_get(system, "temperatures")), 0);
    assert_true(json_integer_value(json_object_get(system, "disk_total")) > 0);
    /* identical counters in both readings: the rates are known and zero */
    assert_close(json_real_value(json_object_get(system, "cpu_usage")), 0.0, 0);
    assert_true(json_is_real(json_object_get(system, "network_rx_rate")));
    const char *timestamp = json_string_value(json_object_get(system, "timestamp"));
    assert_non_null(timestamp);
    assert_int_equal(strlen(timestamp), 20);
    assert_int_equal(timestamp[19], 'Z');
    json_decref(system);

    json_t *disk = im_host_disk_json(&second);
    assert_int_equal(json_array_size(disk), 1);
    assert_has_keys(json_array_get(disk, 0), disk_keys, IM_ARRAY_LEN(disk_keys));
    json_decref(disk);

    json_t *network = im_host_network_json(&second, &first);
    assert_int_equal(json_array_size(network), 8);
    for (size_t i = 0; i < json_array_size(network); i++) {
        assert_has_keys(json_array_get(network, i), network_keys, IM_ARRAY_LEN(network_keys));
    }
    json_decref(network);

    im_host_uname_t uname;
    im_host_read_uname(&uname);
    json_t *engine = json_pack("{s:s, s:s, s:s}", "name", "Docker Engine", "version", "20.10.24",
                               "api_version", "1.41");
    json_t *info = im_host_info_json(&second, &uname, engine);
    assert_has_keys(info, info_keys, IM_ARRAY_LEN(info_keys));
    assert_string_equal(json_string_value(json_object_get(info, "hostname")), "vm");
    assert_string_equal(json_string_value(json_object_get(info, "cpu_model")),
                        "Intel(R) Xeon(R) Processor");
    assert_string_equal(json_string_value(json_object_get(info, "system")), "Linux");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(info, "engine"), "api_version")), "1.41");
    json_decref(info);
    info = im_host_info_json(&second, &uname, NULL);
    assert_true(json_is_null(json_object_get(info, "engine")));
    json_decref(info);

    im_host_sample_release(&first);
    im_host_sample_release(&second);
}

static void first_sample_has_null_rates(void **state)
{
    im_host_roots_t roots = {REAL_PROC, REAL_SYS, REAL};
    im_host_sample_t sample;
    assert_int_equal(im_host_sample_read(&roots, &sample, NULL, 0), IM_OK);
    json_t *system = im_host_system_json(&sample, NULL);
    assert_has_keys(system, system_keys, IM_ARRAY_LEN(system_keys));
    static const char *const rates[] = {"cpu_usage", "disk_read_rate", "disk_write_rate",
                                        "network_rx_rate", "network_tx_rate"};
    for (size_t i = 0; i < IM_ARRAY_LEN(rates); i++) {
        if (!json_is_null(json_object_get(system, rates[i]))) {
            fail_msg("%s should be null on the first sample", rates[i]);
        }
    }
    const json_t *per_cpu = json_object_get(system, "per_cpu_usage");
    assert_int_equal(json_array_size(per_cpu), 2);
    assert_true(json_is_null(json_array_get(per_cpu, 0)));
    json_decref(system);
    im_host_sample_release(&sample);
}

static void sample_with_missing_root(void **state)
{
    im_host_roots_t roots = {MISSING_PROC, "fixtures/host/missing/sys", "fixtures/host/missing"};
    im_host_sample_t sample;
    char err[512] = "";
    assert_int_equal(im_host_sample_read(&roots, &sample, err, sizeof(err)), IM_ENOTFOUND);
    assert_non_null(strstr(err, MISSING_PROC "/stat"));
    assert_false(sample.has_stat);
    assert_false(sample.has_mem);
    assert_false(sample.has_root_fs);

    json_t *system = im_host_system_json(&sample, NULL);
    assert_has_keys(system, system_keys, IM_ARRAY_LEN(system_keys));
    assert_true(json_is_null(json_object_get(system, "memory_total")));
    assert_true(json_is_null(json_object_get(system, "cpu_cores")));
    assert_true(json_is_null(json_object_get(system, "disk_total")));
    json_decref(system);
    im_host_sample_release(&sample);
}

static void sampler_keeps_previous_sample(void **state)
{
    im_host_sampler_t sampler;
    im_host_roots_t roots = {NULL, NULL, NULL}; /* this machine's /proc, /sys and / */
    assert_int_equal(im_host_sampler_init(&sampler, &roots, NULL, 0), IM_OK);
    assert_string_equal(sampler.proc, "/proc");
    assert_null(im_host_sampler_current(&sampler));

    char err[512] = "";
    int rc = im_host_sampler_update(&sampler, err, sizeof(err));
    if (rc) {
        fail_msg("first sample of this machine failed: %s", err);
    }
    assert_null(im_host_sampler_previous(&sampler));
    json_t *system = im_host_system_json(im_host_sampler_current(&sampler), NULL);
    assert_true(json_is_null(json_object_get(system, "cpu_usage")));
    json_decref(system);

    usleep(20000);
    assert_int_equal(im_host_sampler_update(&sampler, err, sizeof(err)), IM_OK);
    const im_host_sample_t *cur = im_host_sampler_current(&sampler);
    const im_host_sample_t *prev = im_host_sampler_previous(&sampler);
    assert_non_null(prev);
    assert_true(cur->monotonic_ms >= prev->monotonic_ms);
    assert_true(cur->has_cpuinfo); /* reused from the first sample */
    system = im_host_system_json(cur, prev);
    assert_true(json_is_real(json_object_get(system, "cpu_usage")));
    double cpu = json_real_value(json_object_get(system, "cpu_usage"));
    assert_true(cpu >= 0.0 && cpu <= 100.0);
    json_decref(system);
    im_host_sampler_release(&sampler);
}

/* Compares the mount points and virtual flags of two samples, item by item. */
static void assert_same_lists(const im_host_sample_t *a, const im_host_sample_t *b)
{
    assert_int_equal(a->mounts.count, b->mounts.count);
    for (size_t i = 0; i < a->mounts.count; i++) {
        assert_string_equal(a->mounts.items[i].mountpoint, b->mounts.items[i].mountpoint);
        assert_string_equal(a->mounts.items[i].device, b->mounts.items[i].device);
        assert_int_equal(a->mounts.items[i].has_usage, b->mounts.items[i].has_usage);
    }
    assert_int_equal(a->net.count, b->net.count);
    for (size_t i = 0; i < a->net.count; i++) {
        assert_string_equal(a->net.items[i].name, b->net.items[i].name);
        assert_int_equal(a->net.items[i].is_virtual, b->net.items[i].is_virtual);
    }
}

static void sampler_reuses_unchanged_mounts(void **state)
{
    im_host_sampler_t sampler;
    im_host_roots_t roots = {NULL, NULL, NULL}; /* this machine's /proc, /sys and / */
    im_host_sample_t fresh;
    char err[512] = "";
    assert_int_equal(im_host_sampler_init(&sampler, &roots, NULL, 0), IM_OK);
    assert_int_equal(sampler.mountinfo_fd, IM_HOST_MOUNTINFO_CLOSED);

    assert_int_equal(im_host_sampler_update(&sampler, err, sizeof(err)), IM_OK);
    assert_true(sampler.mountinfo_fd >= 0); /* /proc is procfs here */
    assert_int_equal(im_host_sampler_update(&sampler, err, sizeof(err)), IM_OK);
    assert_int_equal(im_host_sampler_update(&sampler, err, sizeof(err)), IM_OK);

    /* The copied list and the reused interface flags match a reading from scratch. */
    assert_int_equal(im_host_sample_read(&roots, &fresh, err, sizeof(err)), IM_OK);
    assert_same_lists(im_host_sampler_current(&sampler), &fresh);
    im_host_sample_release(&fresh);
    im_host_sampler_release(&sampler);
    assert_int_equal(sampler.mountinfo_fd, IM_HOST_MOUNTINFO_CLOSED);
}

static void sampler_rereads_copied_mountinfo(void **state)
{
    im_host_sampler_t sampler;
    im_host_roots_t roots = {REAL_PROC, REAL_SYS, NULL};
    char err[512] = "";
    assert_int_equal(im_host_sampler_init(&sampler, &roots, NULL, 0), IM_OK);
    (void)im_host_sampler_update(&sampler, err, sizeof(err));
    assert_int_equal(sampler.mountinfo_fd, IM_HOST_MOUNTINFO_UNPOLLABLE);
    (void)im_host_sampler_update(&sampler, err, sizeof(err));
    assert_true(im_host_sampler_current(&sampler)->has_mounts);
    assert_true(im_host_sampler_current(&sampler)->mounts.count > 0);
    im_host_sampler_release(&sampler);
}

static void sampler_rejects_long_root(void **state)
{
    char long_root[1024];
    memset(long_root, 'a', sizeof(long_root) - 1);
    long_root[sizeof(long_root) - 1] = '\0';
    im_host_roots_t roots = {long_root, NULL, NULL};
    im_host_sampler_t sampler;
    char err[256] = "";
    assert_int_equal(im_host_sampler_init(&sampler, &roots, err, sizeof(err)), IM_EINVAL);
    assert_non_null(strstr(err, "proc root is longer than"));
}

/* ---- collector ---- */

static void collector_publishes_and_stops(void **state)
{
    im_collector_options_t opts = {.interval_seconds = 1}; /* this machine's roots */
    im_collector_t *collector = NULL;
    char err[512] = "";
    int rc = im_collector_start(&opts, &collector, err, sizeof(err));
    if (rc) {
        fail_msg("collector start failed: %s", err);
    }

    /* the first snapshot exists as soon as start returns */
    const im_collector_snapshot_t *first = im_collector_acquire(collector);
    assert_non_null(first);
    assert_int_equal(first->sequence, 1);
    assert_non_null(first->system_body.data);
    json_t *parsed = json_loads(first->system_body.data, 0, NULL);
    assert_non_null(parsed);
    assert_true(json_is_null(json_object_get(parsed, "cpu_usage")));
    json_decref(parsed);
    assert_non_null(first->disk_body.data);
    assert_non_null(first->network_body.data);
    assert_true(json_is_null(json_object_get(first->host_info, "engine")));

    /* the thread publishes the second one about one interval later */
    const im_collector_snapshot_t *latest = NULL;
    for (int i = 0; i < 300; i++) {
        latest = im_collector_acquire(collector);
        if (latest->sequence >= 2) {
            break;
        }
        im_collector_release(latest);
        latest = NULL;
        usleep(10000);
    }
    assert_non_null(latest);
    assert_true(json_is_real(json_object_get(latest->system, "cpu_usage")));
    assert_string_not_equal(latest->etag, first->etag);
    assert_true(latest->stats.cycles >= 2);
    im_collector_release(latest);

    im_collector_stats_t stats;
    im_collector_get_stats(collector, &stats);
    assert_true(stats.cycles >= 2);
    assert_true(stats.last_duration_us > 0);
    assert_true(stats.max_duration_us >= stats.last_duration_us);

    /* stop wakes the thread instead of waiting out the interval */
    int64_t before_stop = im_monotonic_ms();
    im_collector_stop(collector);
    int64_t stop_ms = im_monotonic_ms() - before_stop;
    if (stop_ms > 200) {
        fail_msg("stop took %lld ms", (long long)stop_ms);
    }

    /* a snapshot held across stop stays readable */
    assert_int_equal(first->sequence, 1);
    assert_non_null(first->system_body.data);
    im_collector_release(first);
}

static void collector_rejects_bad_proc_root(void **state)
{
    im_collector_options_t opts = {.proc_root = MISSING_PROC};
    im_collector_t *collector = (im_collector_t *)1;
    char err[512] = "";
    assert_int_equal(im_collector_start(&opts, &collector, err, sizeof(err)), IM_EINVAL);
    assert_null(collector);
    assert_non_null(strstr(err, MISSING_PROC "/stat"));
    im_collector_stop(NULL);
    im_collector_release(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stat_real_fixture),
        cmocka_unit_test(stat_truncated_file),
        cmocka_unit_test(stat_without_total_line),
        cmocka_unit_test(stat_missing_file),
        cmocka_unit_test(cpu_percent_from_two_snapshots),
        cmocka_unit_test(cpu_percent_edge_cases),
        cmocka_unit_test(rate_edge_cases),
        cmocka_unit_test(meminfo_real_fixture),
        cmocka_unit_test(meminfo_without_available),
        cmocka_unit_test(meminfo_empty_file),
        cmocka_unit_test(loadavg_and_uptime),
        cmocka_unit_test(cpuinfo_x86),
        cmocka_unit_test(cpuinfo_arm64_without_model),
        cmocka_unit_test(cpuinfo_malformed),
        cmocka_unit_test(net_dev_real_fixture),
        cmocka_unit_test(net_dev_host_namespace_path),
        cmocka_unit_test(net_dev_malformed),
        cmocka_unit_test(diskstats_real_fixture),
        cmocka_unit_test(diskstats_classified_by_name),
        cmocka_unit_test(diskstats_malformed),
        cmocka_unit_test(mounts_real_fixture),
        cmocka_unit_test(mounts_filtered_and_deduplicated),
        cmocka_unit_test(mounts_malformed),
        cmocka_unit_test(fstype_virtual_rule),
        cmocka_unit_test(statfs_of_fixture_root),
        cmocka_unit_test(temperatures_absent),
        cmocka_unit_test(temperatures_hwmon_and_thermal),
        cmocka_unit_test(hostname_files),
        cmocka_unit_test(readers_survive_random_files),
        cmocka_unit_test(rates_from_two_snapshots),
        cmocka_unit_test(json_bodies_have_contract_fields),
        cmocka_unit_test(first_sample_has_null_rates),
        cmocka_unit_test(sample_with_missing_root),
        cmocka_unit_test(sampler_keeps_previous_sample),
        cmocka_unit_test(sampler_reuses_unchanged_mounts),
        cmocka_unit_test(sampler_rereads_copied_mountinfo),
        cmocka_unit_test(sampler_rejects_long_root),
        cmocka_unit_test(collector_publishes_and_stops),
        cmocka_unit_test(collector_rejects_bad_proc_root),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
