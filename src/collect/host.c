#include "collect/host.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "core/util.h"

/* Read limits per kind of file. /proc/stat grows with the number of interrupts and CPUs,
 * cpuinfo by about 1.3 KiB per CPU (x86) and mountinfo with every container, hence the
 * larger cap on those three. */
#define SMALL_FILE_MAX 4096
#define TABLE_FILE_MAX (1u << 20)
#define LARGE_FILE_MAX (8u << 20)

/* Maximum tokens taken from one mountinfo line: ten fixed fields plus the optional ones. */
#define MOUNTINFO_MAX_TOKENS 64

/* How often the sampler re-reads /proc/cpuinfo. The file is about 1.3 KiB per CPU (x86) and
 * only its MHz values change, so re-reading it every cycle would be wasted work. */
#define CPUINFO_REFRESH_MS 10000

/* ---- small helpers ---- */

static void set_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static const char *root_or_default(const char *root, const char *fallback)
{
    if (!root || root[0] == '\0') {
        return fallback;
    }
    return root;
}

/* Writes root + "/" + rel into out, without doubled slashes ("/" + "" gives "/"). */
static int join_path(char *out, size_t outlen, const char *root, const char *rel, char *err,
                     size_t errlen)
{
    size_t root_len = strlen(root);
    while (root_len > 1 && root[root_len - 1] == '/') {
        root_len--;
    }
    while (*rel == '/') {
        rel++;
    }
    const char *separator = "/";
    if (root_len > 0 && root[root_len - 1] == '/') {
        separator = "";
    }
    int n = snprintf(out, outlen, "%.*s%s%s", (int)root_len, root, separator, rel);
    if (n < 0 || (size_t)n >= outlen) {
        set_error(err, errlen, "path too long: %s/%s", root, rel);
        return IM_EINVAL;
    }
    return IM_OK;
}

/* Drops an unterminated last line: procfs ends every line with a newline, so a line without
 * one was cut short and its last number cannot be trusted. */
static void drop_partial_line(im_buf_t *buf)
{
    if (buf->len == 0 || buf->data[buf->len - 1] == '\n') {
        return;
    }
    char *newline = memrchr(buf->data, '\n', buf->len);
    buf->len = newline ? (size_t)(newline - buf->data) + 1 : 0;
    buf->data[buf->len] = '\0';
}

/* Reads at most max_bytes of path into out (NUL-terminated, never NULL on success). With
 * whole_lines, an unterminated last line is dropped. Missing files give IM_ENOTFOUND. */
static int read_text(const char *path, size_t max_bytes, bool whole_lines, im_buf_t *out, char *err,
                     size_t errlen)
{
    int rc = IM_OK;
    char errno_text[128];
    char chunk[4096];

    im_buf_reset(out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int saved = errno;
        set_error(err, errlen, "cannot open %s: %s", path,
                  strerror_r(saved, errno_text, sizeof(errno_text)));
        rc = (saved == ENOENT || saved == ENOTDIR) ? IM_ENOTFOUND : IM_ERR;
        goto out;
    }
    while (out->len < max_bytes) {
        size_t room = max_bytes - out->len;
        ssize_t n = read(fd, chunk, room < sizeof(chunk) ? room : sizeof(chunk));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            set_error(err, errlen, "cannot read %s: %s", path,
                      strerror_r(errno, errno_text, sizeof(errno_text)));
            rc = IM_ERR;
            goto out;
        }
        if (n == 0) {
            break;
        }
        im_buf_append(out, chunk, (size_t)n);
    }
    im_buf_append(out, "", 0);
    if (whole_lines) {
        drop_partial_line(out);
    }

out:
    if (fd >= 0) {
        close(fd);
    }
    return rc;
}

/* Reads root/rel (see read_text). */
static int read_under(const char *root, const char *rel, size_t max_bytes, bool whole_lines,
                      im_buf_t *out, char *err, size_t errlen)
{
    char path[4096];
    int rc = join_path(path, sizeof(path), root, rel, err, errlen);
    if (rc) {
        return rc;
    }
    return read_text(path, max_bytes, whole_lines, out, err, errlen);
}

/* Returns the next line of *cursor, NUL-terminated in place, or NULL at the end. */
static char *next_line(char **cursor)
{
    char *line = *cursor;
    if (!line || *line == '\0') {
        return NULL;
    }
    char *newline = strchr(line, '\n');
    if (newline) {
        *newline = '\0';
        *cursor = newline + 1;
    } else {
        *cursor = line + strlen(line);
    }
    return line;
}

static const char *skip_blanks(const char *p)
{
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    return p;
}

static void trim_right(char *s)
{
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1])) {
        s[--len] = '\0';
    }
}

/* Parses an unsigned decimal after optional blanks and advances *p; saturates on overflow. */
static bool parse_u64(const char **p, uint64_t *out)
{
    const char *s = skip_blanks(*p);
    if (!isdigit((unsigned char)*s)) {
        return false;
    }
    uint64_t value = 0;
    while (isdigit((unsigned char)*s)) {
        unsigned digit = (unsigned)(*s - '0');
        if (value > (UINT64_MAX - digit) / 10) {
            value = UINT64_MAX;
        } else {
            value = value * 10 + digit;
        }
        s++;
    }
    *out = value;
    *p = s;
    return true;
}

/* Parses an optionally signed decimal integer after optional blanks. */
static bool parse_i64(const char **p, int64_t *out)
{
    const char *s = skip_blanks(*p);
    bool negative = false;
    if (*s == '-') {
        negative = true;
        s++;
    }
    uint64_t magnitude;
    if (!parse_u64(&s, &magnitude) || magnitude > INT64_MAX) {
        return false;
    }
    *out = negative ? -(int64_t)magnitude : (int64_t)magnitude;
    *p = s;
    return true;
}

/* Parses "123", "123.45" or ".5" after optional blanks. Written by hand so that the result
 * does not depend on LC_NUMERIC, as strtod's would. */
static bool parse_decimal(const char **p, double *out)
{
    const char *s = skip_blanks(*p);
    double value = 0;
    bool any_digit = false;
    while (isdigit((unsigned char)*s)) {
        value = value * 10 + (*s - '0');
        any_digit = true;
        s++;
    }
    if (*s == '.') {
        s++;
        double scale = 0.1;
        while (isdigit((unsigned char)*s)) {
            value += (*s - '0') * scale;
            scale /= 10;
            any_digit = true;
            s++;
        }
    }
    if (!any_digit) {
        return false;
    }
    *out = value;
    *p = s;
    return true;
}

/* Grows a dynamic array so that it has room for one more item. */
static void *grow_array(void *items, size_t count, size_t *capacity, size_t item_size)
{
    if (count < *capacity) {
        return items;
    }
    size_t new_capacity = *capacity ? *capacity * 2 : 8;
    *capacity = new_capacity;
    return im_realloc(items, new_capacity * item_size);
}

/* Returns 1 when <sys_root>/<dir>/<name> is a symlink into devices/virtual, 0 when it is a
 * link or entry elsewhere, and -1 when it does not exist or cannot be read. */
static int sysfs_link_is_virtual(const char *sys_root, const char *dir, const char *name)
{
    char rel[512];
    char path[4096];
    char target[4096];

    int n = snprintf(rel, sizeof(rel), "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof(rel)) {
        return -1;
    }
    if (join_path(path, sizeof(path), sys_root, rel, NULL, 0)) {
        return -1;
    }
    ssize_t len = readlink(path, target, sizeof(target) - 1);
    if (len < 0) {
        return access(path, F_OK) == 0 ? 0 : -1;
    }
    target[len] = '\0';
    return strstr(target, "/devices/virtual/") ? 1 : 0;
}

/* ---- /proc/stat ---- */

/* Parses the numbers after "cpu" or "cpuN". Linux 2.4 gives four modes. Linux 2.6 adds
 * iowait, irq and softirq, 2.6.11 adds steal, and later kernels the two guest modes. */
static bool parse_cpu_times(const char *fields, im_host_cpu_times_t *out)
{
    uint64_t values[8] = {0};
    size_t count = 0;
    const char *p = fields;
    while (count < IM_ARRAY_LEN(values) && parse_u64(&p, &values[count])) {
        count++;
    }
    if (count < 4) {
        return false;
    }
    out->user = values[0];
    out->nice = values[1];
    out->system = values[2];
    out->idle = values[3];
    out->iowait = values[4];
    out->irq = values[5];
    out->softirq = values[6];
    out->steal = values[7];
    return true;
}

static void parse_cpu_line(const char *line, im_host_stat_t *out, size_t *capacity,
                           bool *have_total)
{
    im_host_cpu_times_t times;
    if (line[3] == ' ' || line[3] == '\t') {
        if (parse_cpu_times(line + 3, &times)) {
            out->total = times;
            *have_total = true;
        }
        return;
    }
    const char *p = line + 3;
    uint64_t id;
    if (!parse_u64(&p, &id) || (*p != ' ' && *p != '\t') || id > INT32_MAX) {
        return;
    }
    if (out->cpu_count >= IM_HOST_MAX_CPUS || !parse_cpu_times(p, &times)) {
        return;
    }
    out->cpus = grow_array(out->cpus, out->cpu_count, capacity, sizeof(*out->cpus));
    out->cpus[out->cpu_count].id = (int)id;
    out->cpus[out->cpu_count].times = times;
    out->cpu_count++;
}

int im_host_read_stat(const char *proc_root, im_host_stat_t *out, char *err, size_t errlen)
{
    im_buf_t text;
    im_buf_init(&text);
    memset(out, 0, sizeof(*out));
    size_t capacity = 0;
    bool have_total = false;

    int rc = read_under(proc_root, "stat", LARGE_FILE_MAX, true, &text, err, errlen);
    if (rc) {
        goto out;
    }
    char *cursor = text.data;
    char *line;
    while ((line = next_line(&cursor))) {
        if (strncmp(line, "cpu", 3) == 0) {
            parse_cpu_line(line, out, &capacity, &have_total);
        } else if (strncmp(line, "btime ", 6) == 0) {
            const char *p = line + 6;
            int64_t boot_time;
            if (parse_i64(&p, &boot_time) && boot_time > 0) {
                out->boot_time = boot_time;
            }
        }
    }
    if (!have_total) {
        set_error(err, errlen, "invalid %s/stat: no complete \"cpu\" line", proc_root);
        rc = IM_EINVAL;
    }

out:
    im_buf_release(&text);
    if (rc) {
        im_host_stat_release(out);
    }
    return rc;
}

void im_host_stat_release(im_host_stat_t *stat)
{
    free(stat->cpus);
    memset(stat, 0, sizeof(*stat));
}

/* Returns cur - prev, or 0 when the counter went backwards (iowait may, on some kernels). */
static uint64_t counter_delta(uint64_t prev, uint64_t cur)
{
    return cur >= prev ? cur - prev : 0;
}

double im_host_cpu_percent(const im_host_cpu_times_t *prev, const im_host_cpu_times_t *cur)
{
    uint64_t idle = counter_delta(prev->idle, cur->idle) + counter_delta(prev->iowait, cur->iowait);
    uint64_t total =
        counter_delta(prev->user, cur->user) + counter_delta(prev->nice, cur->nice) +
        counter_delta(prev->system, cur->system) + idle + counter_delta(prev->irq, cur->irq) +
        counter_delta(prev->softirq, cur->softirq) + counter_delta(prev->steal, cur->steal);
    if (total == 0) {
        return 0.0;
    }
    double percent = 100.0 * (1.0 - (double)idle / (double)total);
    if (percent < 0.0) {
        return 0.0;
    }
    if (percent > 100.0) {
        return 100.0;
    }
    return percent;
}

/* ---- /proc/meminfo ---- */

int im_host_read_meminfo(const char *proc_root, im_host_mem_t *out, char *err, size_t errlen)
{
    static const struct {
        const char *key;
        size_t offset;
    } fields[] = {
        {"MemTotal", offsetof(im_host_mem_t, total)},
        {"MemFree", offsetof(im_host_mem_t, free)},
        {"MemAvailable", offsetof(im_host_mem_t, available)},
        {"Buffers", offsetof(im_host_mem_t, buffers)},
        {"Cached", offsetof(im_host_mem_t, cached)},
        {"SwapTotal", offsetof(im_host_mem_t, swap_total)},
        {"SwapFree", offsetof(im_host_mem_t, swap_free)},
    };
    im_buf_t text;
    im_buf_init(&text);
    memset(out, 0, sizeof(*out));
    bool have_total = false;
    bool have_available = false;

    int rc = read_under(proc_root, "meminfo", TABLE_FILE_MAX, true, &text, err, errlen);
    if (rc) {
        goto out;
    }
    char *cursor = text.data;
    char *line;
    while ((line = next_line(&cursor))) {
        char *colon = strchr(line, ':');
        if (!colon) {
            continue;
        }
        *colon = '\0';
        const char *p = colon + 1;
        uint64_t value;
        if (!parse_u64(&p, &value)) {
            continue;
        }
        if (strncmp(skip_blanks(p), "kB", 2) == 0) {
            value = value > UINT64_MAX / 1024 ? UINT64_MAX : value * 1024;
        }
        for (size_t i = 0; i < IM_ARRAY_LEN(fields); i++) {
            if (strcmp(line, fields[i].key) == 0) {
                *(uint64_t *)((char *)out + fields[i].offset) = value;
                have_total = have_total || i == 0;
                have_available = have_available || i == 2;
            }
        }
    }
    if (!have_total) {
        set_error(err, errlen, "invalid %s/meminfo: no MemTotal line", proc_root);
        rc = IM_EINVAL;
        goto out;
    }
    if (!have_available) {
        out->available = out->free + out->buffers + out->cached;
        out->available_estimated = true;
    }
    if (out->available > out->total) {
        out->available = out->total;
    }

out:
    im_buf_release(&text);
    if (rc) {
        memset(out, 0, sizeof(*out));
    }
    return rc;
}

/* ---- /proc/loadavg, /proc/uptime ---- */

int im_host_read_loadavg(const char *proc_root, im_host_load_t *out, char *err, size_t errlen)
{
    im_buf_t text;
    im_buf_init(&text);
    memset(out, 0, sizeof(*out));

    int rc = read_under(proc_root, "loadavg", SMALL_FILE_MAX, false, &text, err, errlen);
    if (rc) {
        goto out;
    }
    const char *p = text.data;
    if (!parse_decimal(&p, &out->load1) || !parse_decimal(&p, &out->load5) ||
        !parse_decimal(&p, &out->load15)) {
        set_error(err, errlen, "invalid %s/loadavg: expected three load averages", proc_root);
        memset(out, 0, sizeof(*out));
        rc = IM_EINVAL;
    }

out:
    im_buf_release(&text);
    return rc;
}

int im_host_read_uptime(const char *proc_root, double *seconds, char *err, size_t errlen)
{
    im_buf_t text;
    im_buf_init(&text);
    *seconds = 0;

    int rc = read_under(proc_root, "uptime", SMALL_FILE_MAX, false, &text, err, errlen);
    if (rc) {
        goto out;
    }
    const char *p = text.data;
    if (!parse_decimal(&p, seconds)) {
        set_error(err, errlen, "invalid %s/uptime: expected seconds since boot", proc_root);
        *seconds = 0;
        rc = IM_EINVAL;
    }

out:
    im_buf_release(&text);
    return rc;
}

/* ---- /proc/cpuinfo ---- */

/* Keys that name the CPU model, best first: x86 and 32-bit ARM, old ARM kernels, MIPS,
 * PowerPC. */
static const char *const cpu_model_keys[] = {"model name", "Processor", "cpu model", "cpu"};

/* Reads cpu0's current frequency from cpufreq (in kHz) as MHz; 0 when unavailable. */
static double read_cpufreq_mhz(const char *sys_root)
{
    im_buf_t text;
    im_buf_init(&text);
    double mhz = 0;
    const char *rel = "devices/system/cpu/cpu0/cpufreq/scaling_cur_freq";
    if (read_under(sys_root, rel, SMALL_FILE_MAX, false, &text, NULL, 0) == IM_OK) {
        const char *p = text.data;
        uint64_t khz;
        if (parse_u64(&p, &khz)) {
            mhz = (double)khz / 1000.0;
        }
    }
    im_buf_release(&text);
    return mhz;
}

int im_host_read_cpuinfo(const char *proc_root, const char *sys_root, im_host_cpuinfo_t *out,
                         char *err, size_t errlen)
{
    im_buf_t text;
    im_buf_init(&text);
    memset(out, 0, sizeof(*out));
    size_t model_rank = IM_ARRAY_LEN(cpu_model_keys);
    double mhz_sum = 0;
    int mhz_count = 0;

    int rc = read_under(proc_root, "cpuinfo", LARGE_FILE_MAX, true, &text, err, errlen);
    if (rc) {
        goto out;
    }
    char *cursor = text.data;
    char *line;
    while ((line = next_line(&cursor))) {
        char *colon = strchr(line, ':');
        if (!colon) {
            continue;
        }
        *colon = '\0';
        trim_right(line);
        const char *value = skip_blanks(colon + 1);
        if (strcmp(line, "processor") == 0) {
            out->processors++;
            continue;
        }
        if (strcmp(line, "cpu MHz") == 0) {
            double mhz;
            if (parse_decimal(&value, &mhz)) {
                mhz_sum += mhz;
                mhz_count++;
            }
            continue;
        }
        for (size_t i = 0; i < model_rank; i++) {
            if (strcmp(line, cpu_model_keys[i]) == 0 && value[0] != '\0') {
                im_strlcpy(out->model, value, sizeof(out->model));
                trim_right(out->model);
                model_rank = i;
                break;
            }
        }
    }
    if (mhz_count > 0) {
        out->mhz = mhz_sum / mhz_count;
    } else if (sys_root) {
        out->mhz = read_cpufreq_mhz(sys_root);
    }

out:
    im_buf_release(&text);
    return rc;
}

/* ---- /proc/net/dev ---- */

/* Parses one interface line ("  eth0: 16 numbers"); false for headers and short lines. */
static bool parse_net_dev_line(char *line, im_host_iface_t *out)
{
    char *colon = strchr(line, ':');
    if (!colon) {
        return false;
    }
    *colon = '\0';
    const char *name = skip_blanks(line);
    trim_right(line);
    size_t name_len = strlen(name);
    if (name_len == 0 || name_len >= sizeof(out->name) || strchr(name, '/') ||
        strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        return false;
    }
    uint64_t values[16];
    const char *p = colon + 1;
    for (size_t i = 0; i < IM_ARRAY_LEN(values); i++) {
        if (!parse_u64(&p, &values[i])) {
            return false;
        }
    }
    memset(out, 0, sizeof(*out));
    memcpy(out->name, name, name_len + 1);
    out->rx_bytes = values[0];
    out->rx_packets = values[1];
    out->rx_errors = values[2];
    out->rx_dropped = values[3];
    out->tx_bytes = values[8];
    out->tx_packets = values[9];
    out->tx_errors = values[10];
    out->tx_dropped = values[11];
    return true;
}

/* Guesses from the name alone whether an interface is virtual, for when sysfs is not
 * available: the names that the kernel, Docker, libvirt, CNI plugins and VPNs give by
 * default. Bonds count as virtual because their member interfaces carry the same bytes. */
static bool iface_name_is_virtual(const char *name)
{
    static const char *const prefixes[] = {"veth",    "docker", "br-",   "virbr", "cni",
                                           "flannel", "cali",   "vxlan", "tun",   "tap",
                                           "wg",      "dummy",  "ifb",   "bond",  "team"};
    if (strcmp(name, "lo") == 0) {
        return true;
    }
    for (size_t i = 0; i < IM_ARRAY_LEN(prefixes); i++) {
        if (im_str_starts_with(name, prefixes[i])) {
            return true;
        }
    }
    return false;
}

/* Returns whether interface name is virtual: from the previous reading when it listed the
 * name (hint is the index to try first), else from sysfs or, without sysfs, from the name. */
static bool iface_is_virtual(const char *sys_root, const char *name, const im_host_net_t *prev,
                             size_t hint)
{
    if (prev && hint < prev->count && strcmp(prev->items[hint].name, name) == 0) {
        return prev->items[hint].is_virtual;
    }
    for (size_t i = 0; prev && i < prev->count; i++) {
        if (strcmp(prev->items[i].name, name) == 0) {
            return prev->items[i].is_virtual;
        }
    }
    int link = sysfs_link_is_virtual(sys_root, "class/net", name);
    return link == 1 || (link < 0 && iface_name_is_virtual(name));
}

/* im_host_read_net_dev, taking the virtual flags of interfaces that prev lists from prev, so
 * that a host with a hundred veth interfaces makes no readlink calls per cycle. */
static int read_net_dev(const char *proc_root, const char *sys_root, const im_host_net_t *prev,
                        im_host_net_t *out, char *err, size_t errlen)
{
    im_buf_t text;
    im_buf_init(&text);
    memset(out, 0, sizeof(*out));
    size_t capacity = 0;

    int rc = read_under(proc_root, "1/net/dev", TABLE_FILE_MAX, true, &text, NULL, 0);
    if (rc) {
        rc = read_under(proc_root, "net/dev", TABLE_FILE_MAX, true, &text, err, errlen);
    }
    if (rc) {
        goto out;
    }
    char *cursor = text.data;
    char *line;
    while ((line = next_line(&cursor)) && out->count < IM_HOST_MAX_INTERFACES) {
        im_host_iface_t iface;
        if (!parse_net_dev_line(line, &iface)) {
            continue;
        }
        iface.is_virtual = iface_is_virtual(sys_root, iface.name, prev, out->count);
        out->items = grow_array(out->items, out->count, &capacity, sizeof(*out->items));
        out->items[out->count++] = iface;
    }

out:
    im_buf_release(&text);
    return rc;
}

int im_host_read_net_dev(const char *proc_root, const char *sys_root, im_host_net_t *out, char *err,
                         size_t errlen)
{
    return read_net_dev(proc_root, sys_root, NULL, out, err, errlen);
}

void im_host_net_release(im_host_net_t *net)
{
    free(net->items);
    memset(net, 0, sizeof(*net));
}

/* ---- /proc/diskstats ---- */

/* Guesses from the name alone whether a device is a partition: sda1, vdb2, hdc3, xvda1, or a
 * "p<N>" suffix after a digit (nvme0n1p1, mmcblk0p2, loop0p1). */
static bool name_is_partition(const char *name)
{
    static const char *const letter_disks[] = {"sd", "hd", "vd", "xvd"};
    size_t len = strlen(name);
    size_t digits = 0;
    while (digits < len && isdigit((unsigned char)name[len - 1 - digits])) {
        digits++;
    }
    if (digits == 0 || digits == len) {
        return false;
    }
    size_t stem = len - digits; /* length without the trailing number */
    if (name[stem - 1] == 'p' && stem >= 2 && isdigit((unsigned char)name[stem - 2])) {
        return true;
    }
    for (size_t i = 0; i < IM_ARRAY_LEN(letter_disks); i++) {
        size_t prefix = strlen(letter_disks[i]);
        if (strncmp(name, letter_disks[i], prefix) != 0 || stem <= prefix) {
            continue;
        }
        bool letters = true;
        for (size_t j = prefix; j < stem; j++) {
            letters = letters && islower((unsigned char)name[j]);
        }
        if (letters) {
            return true;
        }
    }
    return false;
}

/* Guesses from the name alone whether a device is backed by memory or by other devices. */
static bool name_is_virtual(const char *name)
{
    static const char *const prefixes[] = {"loop", "ram", "zram", "dm-", "md"};
    for (size_t i = 0; i < IM_ARRAY_LEN(prefixes); i++) {
        if (im_str_starts_with(name, prefixes[i])) {
            return true;
        }
    }
    return false;
}

/* Parses "major minor name reads merged sectors ms writes merged sectors ..."; lines with
 * fewer than seven counters (the partition format of Linux 2.4) are rejected. */
static bool parse_diskstats_line(const char *line, im_host_disk_t *out)
{
    const char *p = line;
    uint64_t major;
    uint64_t minor;
    if (!parse_u64(&p, &major) || !parse_u64(&p, &minor) || major > UINT32_MAX ||
        minor > UINT32_MAX) {
        return false;
    }
    p = skip_blanks(p);
    size_t name_len = strcspn(p, " \t");
    if (name_len == 0 || name_len >= sizeof(out->name)) {
        return false;
    }
    memset(out, 0, sizeof(*out));
    memcpy(out->name, p, name_len);
    out->name[name_len] = '\0';
    p += name_len;

    uint64_t values[7];
    for (size_t i = 0; i < IM_ARRAY_LEN(values); i++) {
        if (!parse_u64(&p, &values[i])) {
            return false;
        }
    }
    out->major = (unsigned)major;
    out->minor = (unsigned)minor;
    out->reads = values[0];
    out->read_bytes = values[2] > UINT64_MAX / 512 ? UINT64_MAX : values[2] * 512;
    out->writes = values[4];
    out->write_bytes = values[6] > UINT64_MAX / 512 ? UINT64_MAX : values[6] * 512;
    return true;
}

/* Sets is_partition and is_virtual, from <sys>/block when it can be opened. */
static void classify_disk(const char *sys_root, bool have_sys_block, im_host_disk_t *disk)
{
    if (!have_sys_block) {
        disk->is_partition = name_is_partition(disk->name);
        disk->is_virtual = name_is_virtual(disk->name);
        return;
    }
    /* sysfs spells a '/' in a device name (cciss/c0d0) as '!' */
    char sysfs_name[sizeof(disk->name)];
    im_strlcpy(sysfs_name, disk->name, sizeof(sysfs_name));
    for (char *c = sysfs_name; *c; c++) {
        if (*c == '/') {
            *c = '!';
        }
    }
    int link = sysfs_link_is_virtual(sys_root, "block", sysfs_name);
    disk->is_partition = link < 0;
    disk->is_virtual = link == 1 || name_is_virtual(disk->name);
}

int im_host_read_diskstats(const char *proc_root, const char *sys_root, im_host_diskstats_t *out,
                           char *err, size_t errlen)
{
    im_buf_t text;
    im_buf_init(&text);
    memset(out, 0, sizeof(*out));
    size_t capacity = 0;
    char sys_block[4096];
    bool have_sys_block = false;

    int rc = read_under(proc_root, "diskstats", TABLE_FILE_MAX, true, &text, err, errlen);
    if (rc) {
        goto out;
    }
    if (join_path(sys_block, sizeof(sys_block), sys_root, "block", NULL, 0) == IM_OK) {
        DIR *dir = opendir(sys_block);
        if (dir) {
            have_sys_block = true;
            closedir(dir);
        }
    }
    char *cursor = text.data;
    char *line;
    while ((line = next_line(&cursor)) && out->count < IM_HOST_MAX_DISKS) {
        im_host_disk_t disk;
        if (!parse_diskstats_line(line, &disk)) {
            continue;
        }
        classify_disk(sys_root, have_sys_block, &disk);
        out->items = grow_array(out->items, out->count, &capacity, sizeof(*out->items));
        out->items[out->count++] = disk;
    }

out:
    im_buf_release(&text);
    return rc;
}

void im_host_diskstats_release(im_host_diskstats_t *disks)
{
    free(disks->items);
    memset(disks, 0, sizeof(*disks));
}

bool im_host_disk_in_totals(const im_host_disk_t *disk)
{
    return !disk->is_partition && !disk->is_virtual;
}

/* ---- filesystems ---- */

bool im_host_fstype_is_virtual(const char *fstype)
{
    static const char *const types[] = {
        "autofs",   "binfmt_misc", "bpf",      "cgroup",     "cgroup2",    "configfs",
        "debugfs",  "devpts",      "devtmpfs", "efivarfs",   "fusectl",    "hugetlbfs",
        "iso9660",  "mqueue",      "nfsd",     "nsfs",       "overlay",    "aufs",
        "proc",     "pstore",      "ramfs",    "rpc_pipefs", "securityfs", "selinuxfs",
        "squashfs", "erofs",       "sysfs",    "tmpfs",      "tracefs",
    };
    for (size_t i = 0; i < IM_ARRAY_LEN(types); i++) {
        if (strcmp(fstype, types[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* True for mount points that never hold host data worth reporting: kernel trees, and the
 * per-container layers and secrets below the engines' storage directories (a disk mounted
 * at /var/lib/docker itself is kept). */
static bool mountpoint_is_excluded(const char *mountpoint)
{
    static const char *const trees[] = {"/proc", "/sys", "/dev"};
    static const char *const below[] = {"/run/credentials/", "/var/lib/docker/",
                                        "/var/lib/containers/storage/"};
    for (size_t i = 0; i < IM_ARRAY_LEN(trees); i++) {
        size_t len = strlen(trees[i]);
        if (strncmp(mountpoint, trees[i], len) == 0 &&
            (mountpoint[len] == '\0' || mountpoint[len] == '/')) {
            return true;
        }
    }
    for (size_t i = 0; i < IM_ARRAY_LEN(below); i++) {
        size_t len = strlen(below[i]);
        if (strncmp(mountpoint, below[i], len) == 0 && mountpoint[len] != '\0') {
            return true;
        }
    }
    return false;
}

/* Decodes the octal escapes mountinfo uses for space, tab, newline and backslash, in place. */
static void unescape_octal(char *s)
{
    char *out = s;
    for (const char *in = s; *in; in++) {
        if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] >= '0' && in[2] <= '7' &&
            in[3] >= '0' && in[3] <= '7') {
            *out++ = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 + (in[3] - '0'));
            in += 3;
        } else {
            *out++ = *in;
        }
    }
    *out = '\0';
}

/* Parses one mountinfo line:
 * "36 35 98:0 /root /mnt rw,noatime master:1 - ext3 /dev/root rw,errors=continue".
 * The strings in out point into line. False for malformed lines. */
static bool parse_mountinfo_line(char *line, im_host_mount_t *out)
{
    char *tokens[MOUNTINFO_MAX_TOKENS];
    size_t count = 0;
    char *save = NULL;
    for (char *token = strtok_r(line, " ", &save); token && count < MOUNTINFO_MAX_TOKENS;
         token = strtok_r(NULL, " ", &save)) {
        tokens[count++] = token;
    }
    size_t separator = 6; /* optional fields run from token 6 to the "-" */
    while (separator < count && strcmp(tokens[separator], "-") != 0) {
        separator++;
    }
    if (separator + 2 >= count) {
        return false;
    }
    unsigned major;
    unsigned minor;
    char tail;
    if (sscanf(tokens[2], "%u:%u%c", &major, &minor, &tail) != 2) {
        return false;
    }
    for (size_t i = 0; i < count; i++) {
        unescape_octal(tokens[i]);
    }
    memset(out, 0, sizeof(*out));
    out->major = major;
    out->minor = minor;
    out->mountpoint = tokens[4];
    out->options = tokens[5];
    out->fstype = tokens[separator + 1];
    out->device = tokens[separator + 2];
    return true;
}

/* Adds a parsed mount to the list, or replaces the entry of the same device when this one
 * has a shorter mount point. Copies the strings. */
static void add_mount(im_host_mounts_t *mounts, size_t *capacity, const im_host_mount_t *mount)
{
    size_t slot = mounts->count;
    for (size_t i = 0; i < mounts->count; i++) {
        im_host_mount_t *existing = &mounts->items[i];
        if (existing->major != mount->major || existing->minor != mount->minor) {
            continue;
        }
        if (strlen(mount->mountpoint) >= strlen(existing->mountpoint)) {
            return;
        }
        slot = i;
        free(existing->device);
        free(existing->mountpoint);
        free(existing->fstype);
        free(existing->options);
        break;
    }
    if (slot == mounts->count) {
        if (mounts->count >= IM_HOST_MAX_MOUNTS) {
            return;
        }
        mounts->items = grow_array(mounts->items, mounts->count, capacity, sizeof(*mounts->items));
        mounts->count++;
    }
    im_host_mount_t *item = &mounts->items[slot];
    *item = *mount;
    item->device = im_strdup(mount->device);
    item->mountpoint = im_strdup(mount->mountpoint);
    item->fstype = im_strdup(mount->fstype);
    item->options = im_strdup(mount->options);
}

int im_host_read_mounts(const char *proc_root, im_host_mounts_t *out, char *err, size_t errlen)
{
    im_buf_t text;
    im_buf_init(&text);
    memset(out, 0, sizeof(*out));
    size_t capacity = 0;

    /* NOTE: the self/mountinfo fallback lists the mount namespace of InfraMon itself, whose
     * mount points match the host's only when InfraMon is not in a container. */
    int rc = read_under(proc_root, "1/mountinfo", LARGE_FILE_MAX, true, &text, NULL, 0);
    if (rc) {
        rc = read_under(proc_root, "self/mountinfo", LARGE_FILE_MAX, true, &text, err, errlen);
    }
    if (rc) {
        goto out;
    }
    char *cursor = text.data;
    char *line;
    while ((line = next_line(&cursor))) {
        im_host_mount_t mount;
        if (!parse_mountinfo_line(line, &mount) || im_host_fstype_is_virtual(mount.fstype) ||
            mountpoint_is_excluded(mount.mountpoint)) {
            continue;
        }
        add_mount(out, &capacity, &mount);
    }

out:
    im_buf_release(&text);
    return rc;
}

static void mount_free_strings(im_host_mount_t *mount)
{
    free(mount->device);
    free(mount->mountpoint);
    free(mount->fstype);
    free(mount->options);
}

/* Copies the mount list of src into dst, strings included, without the usage figures. */
static void copy_mounts(const im_host_mounts_t *src, im_host_mounts_t *dst)
{
    memset(dst, 0, sizeof(*dst));
    if (src->count == 0) {
        return;
    }
    dst->items = im_calloc(src->count, sizeof(*dst->items));
    for (size_t i = 0; i < src->count; i++) {
        im_host_mount_t *item = &dst->items[i];
        *item = src->items[i];
        item->device = im_strdup(src->items[i].device);
        item->mountpoint = im_strdup(src->items[i].mountpoint);
        item->fstype = im_strdup(src->items[i].fstype);
        item->options = im_strdup(src->items[i].options);
        item->has_usage = false;
        memset(&item->usage, 0, sizeof(item->usage));
    }
    dst->count = src->count;
}

void im_host_mounts_release(im_host_mounts_t *mounts)
{
    for (size_t i = 0; i < mounts->count; i++) {
        mount_free_strings(&mounts->items[i]);
    }
    free(mounts->items);
    memset(mounts, 0, sizeof(*mounts));
}

int im_host_statfs(const char *host_root, const char *mountpoint, im_host_fs_usage_t *out,
                   char *err, size_t errlen)
{
    char path[4096];
    char errno_text[128];
    struct statvfs st;

    memset(out, 0, sizeof(*out));
    int rc = join_path(path, sizeof(path), host_root, mountpoint, err, errlen);
    if (rc) {
        return rc;
    }
    if (statvfs(path, &st) != 0) {
        int saved = errno;
        set_error(err, errlen, "statvfs %s failed: %s", path,
                  strerror_r(saved, errno_text, sizeof(errno_text)));
        return saved == ENOENT ? IM_ENOTFOUND : IM_ERR;
    }
    uint64_t block = st.f_frsize ? st.f_frsize : st.f_bsize;
    uint64_t blocks_free = st.f_bfree < st.f_blocks ? st.f_bfree : st.f_blocks;
    out->total = (uint64_t)st.f_blocks * block;
    out->used = (uint64_t)(st.f_blocks - blocks_free) * block;
    out->free = (uint64_t)st.f_bavail * block;
    uint64_t usable = out->used + out->free;
    out->percent = usable ? 100.0 * (double)out->used / (double)usable : 0.0;
    return IM_OK;
}

size_t im_host_mounts_statfs(const char *host_root, im_host_mounts_t *mounts)
{
    size_t kept = 0;
    size_t dropped = 0;
    for (size_t i = 0; i < mounts->count; i++) {
        im_host_mount_t *mount = &mounts->items[i];
        int rc = im_host_statfs(host_root, mount->mountpoint, &mount->usage, NULL, 0);
        mount->has_usage = rc == IM_OK;
        if (rc != IM_OK || mount->usage.total == 0) {
            mount_free_strings(mount);
            dropped++;
            continue;
        }
        mounts->items[kept++] = *mount;
    }
    mounts->count = kept;
    return dropped;
}

/* ---- temperatures ---- */

/* Reads a sysfs file with one integer in millidegrees Celsius. */
static bool read_millidegrees(const char *dir, const char *file, double *celsius)
{
    im_buf_t text;
    im_buf_init(&text);
    bool ok = false;
    if (read_under(dir, file, SMALL_FILE_MAX, false, &text, NULL, 0) == IM_OK) {
        const char *p = text.data;
        int64_t value;
        if (parse_i64(&p, &value)) {
            *celsius = (double)value / 1000.0;
            ok = true;
        }
    }
    im_buf_release(&text);
    return ok;
}

/* Reads a one-line sysfs text attribute into out; false when missing or empty. */
static bool read_attribute(const char *dir, const char *file, char *out, size_t outlen)
{
    im_buf_t text;
    im_buf_init(&text);
    bool ok = false;
    if (read_under(dir, file, SMALL_FILE_MAX, false, &text, NULL, 0) == IM_OK) {
        text.data[strcspn(text.data, "\n")] = '\0';
        trim_right(text.data);
        if (text.data[0] != '\0') {
            im_strlcpy(out, text.data, outlen);
            ok = true;
        }
    }
    im_buf_release(&text);
    return ok;
}

static void add_temp(im_host_temps_t *temps, size_t *capacity, const im_host_temp_t *temp)
{
    if (temps->count >= IM_HOST_MAX_TEMPS) {
        return;
    }
    temps->items = grow_array(temps->items, temps->count, capacity, sizeof(*temps->items));
    temps->items[temps->count++] = *temp;
}

/* Returns N when name is "<prefix>N<suffix>", else -1. */
static long numbered_name(const char *name, const char *prefix, const char *suffix)
{
    size_t prefix_len = strlen(prefix);
    if (strncmp(name, prefix, prefix_len) != 0 || !isdigit((unsigned char)name[prefix_len])) {
        return -1;
    }
    char *end;
    long n = strtol(name + prefix_len, &end, 10);
    if (strcmp(end, suffix) != 0 || n < 0 || n > 1000000) {
        return -1;
    }
    return n;
}

/* Adds every temp<N>_input of one hwmon chip directory. */
static void read_hwmon_chip(const char *chip_dir, im_host_temps_t *temps, size_t *capacity)
{
    char chip_name[64] = "";
    read_attribute(chip_dir, "name", chip_name, sizeof(chip_name));
    DIR *dir = opendir(chip_dir);
    if (!dir) {
        return;
    }
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        long n = numbered_name(entry->d_name, "temp", "_input");
        im_host_temp_t temp = {0};
        if (n < 0 || !read_millidegrees(chip_dir, entry->d_name, &temp.current)) {
            continue;
        }
        char file[64];
        im_strlcpy(temp.name, chip_name, sizeof(temp.name));
        snprintf(file, sizeof(file), "temp%ld_label", n);
        if (!read_attribute(chip_dir, file, temp.label, sizeof(temp.label))) {
            snprintf(temp.label, sizeof(temp.label), "temp%ld", n);
        }
        snprintf(file, sizeof(file), "temp%ld_max", n);
        temp.has_high = read_millidegrees(chip_dir, file, &temp.high);
        snprintf(file, sizeof(file), "temp%ld_crit", n);
        temp.has_critical = read_millidegrees(chip_dir, file, &temp.critical);
        add_temp(temps, capacity, &temp);
    }
    closedir(dir);
}

/* Adds one thermal zone, with its "hot" and "critical" trip points as high and critical. */
static void read_thermal_zone(const char *zone_dir, const char *zone, im_host_temps_t *temps,
                              size_t *capacity)
{
    im_host_temp_t temp = {0};
    if (!read_millidegrees(zone_dir, "temp", &temp.current)) {
        return;
    }
    if (!read_attribute(zone_dir, "type", temp.name, sizeof(temp.name))) {
        im_strlcpy(temp.name, "thermal", sizeof(temp.name));
    }
    im_strlcpy(temp.label, zone, sizeof(temp.label));
    for (int i = 0; i < 32; i++) {
        char file[64];
        char type[32];
        snprintf(file, sizeof(file), "trip_point_%d_type", i);
        if (!read_attribute(zone_dir, file, type, sizeof(type))) {
            break;
        }
        snprintf(file, sizeof(file), "trip_point_%d_temp", i);
        if (strcmp(type, "critical") == 0) {
            temp.has_critical = read_millidegrees(zone_dir, file, &temp.critical);
        } else if (strcmp(type, "hot") == 0) {
            temp.has_high = read_millidegrees(zone_dir, file, &temp.high);
        }
    }
    add_temp(temps, capacity, &temp);
}

/* Reads every entry of <sys_root>/<class_dir> named "<prefix>N", as a hwmon chip directory
 * when hwmon is true, else as a thermal zone. */
static void for_each_numbered(const char *sys_root, const char *class_dir, const char *prefix,
                              im_host_temps_t *temps, size_t *capacity, bool hwmon)
{
    char dir_path[4096];
    char entry_path[4096];
    if (join_path(dir_path, sizeof(dir_path), sys_root, class_dir, NULL, 0)) {
        return;
    }
    DIR *dir = opendir(dir_path);
    if (!dir) {
        return;
    }
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        if (numbered_name(entry->d_name, prefix, "") < 0 ||
            join_path(entry_path, sizeof(entry_path), dir_path, entry->d_name, NULL, 0)) {
            continue;
        }
        if (hwmon) {
            read_hwmon_chip(entry_path, temps, capacity);
        } else {
            read_thermal_zone(entry_path, entry->d_name, temps, capacity);
        }
    }
    closedir(dir);
}

static int compare_temps(const void *a, const void *b)
{
    const im_host_temp_t *left = a;
    const im_host_temp_t *right = b;
    int by_name = strcmp(left->name, right->name);
    return by_name ? by_name : strcmp(left->label, right->label);
}

int im_host_read_temperatures(const char *sys_root, im_host_temps_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    size_t capacity = 0;
    for_each_numbered(sys_root, "class/hwmon", "hwmon", out, &capacity, true);
    for_each_numbered(sys_root, "class/thermal", "thermal_zone", out, &capacity, false);
    if (out->count > 1) {
        qsort(out->items, out->count, sizeof(*out->items), compare_temps);
    }
    return IM_OK;
}

void im_host_temps_release(im_host_temps_t *temps)
{
    free(temps->items);
    memset(temps, 0, sizeof(*temps));
}

/* ---- identity ---- */

void im_host_read_uname(im_host_uname_t *out)
{
    struct utsname names;
    memset(out, 0, sizeof(*out));
    if (uname(&names) != 0) {
        return;
    }
    im_strlcpy(out->system, names.sysname, sizeof(out->system));
    im_strlcpy(out->release, names.release, sizeof(out->release));
    im_strlcpy(out->version, names.version, sizeof(out->version));
    im_strlcpy(out->machine, names.machine, sizeof(out->machine));
}

int im_host_read_hostname(const char *proc_root, char *out, size_t outlen, char *err, size_t errlen)
{
    im_buf_t text;
    im_buf_init(&text);
    if (outlen > 0) {
        out[0] = '\0';
    }

    int rc =
        read_under(proc_root, "sys/kernel/hostname", SMALL_FILE_MAX, false, &text, err, errlen);
    if (rc) {
        goto out;
    }
    text.data[strcspn(text.data, "\n")] = '\0';
    trim_right(text.data);
    if (text.data[0] == '\0') {
        set_error(err, errlen, "invalid %s/sys/kernel/hostname: empty", proc_root);
        rc = IM_EINVAL;
        goto out;
    }
    im_strlcpy(out, text.data, outlen);

out:
    im_buf_release(&text);
    return rc;
}

/* ---- samples ---- */

/* Keeps the first failure of a sample read: its code and its message. */
typedef struct {
    int rc;
    char *err;
    size_t errlen;
} first_failure_t;

static bool record(first_failure_t *failure, int rc, const char *message)
{
    if (rc && failure->rc == IM_OK) {
        failure->rc = rc;
        set_error(failure->err, failure->errlen, "%s", message);
    }
    return rc == IM_OK;
}

/* What a sample may take from the previous one instead of reading it again. */
typedef struct {
    const im_host_sample_t *prev; /* interface virtual flags; NULL: read every one */
    bool same_mounts;             /* the mount table is unchanged since prev: copy its list */
} reuse_t;

/* Reads every part; with_cpuinfo false leaves cpuinfo for the caller to fill. */
static int read_sample(const char *proc, const char *sys, const char *root, bool with_cpuinfo,
                       const reuse_t *reuse, im_host_sample_t *out, char *err, size_t errlen)
{
    const im_host_sample_t *prev = reuse ? reuse->prev : NULL;
    char message[512] = "";
    first_failure_t failure = {IM_OK, err, errlen};

    memset(out, 0, sizeof(*out));
    out->wall_ms = im_now_ms();
    out->monotonic_ms = im_monotonic_ms();

    int rc = im_host_read_stat(proc, &out->stat, message, sizeof(message));
    out->has_stat = record(&failure, rc, message);
    rc = im_host_read_meminfo(proc, &out->mem, message, sizeof(message));
    out->has_mem = record(&failure, rc, message);
    rc = im_host_read_loadavg(proc, &out->load, message, sizeof(message));
    out->has_load = record(&failure, rc, message);
    rc = im_host_read_uptime(proc, &out->uptime_seconds, message, sizeof(message));
    out->has_uptime = record(&failure, rc, message);
    rc = read_net_dev(proc, sys, prev && prev->has_net ? &prev->net : NULL, &out->net, message,
                      sizeof(message));
    out->has_net = record(&failure, rc, message);
    rc = im_host_read_diskstats(proc, sys, &out->disks, message, sizeof(message));
    out->has_disks = record(&failure, rc, message);
    if (reuse && reuse->same_mounts && prev && prev->has_mounts) {
        copy_mounts(&prev->mounts, &out->mounts);
        out->has_mounts = true;
    } else {
        rc = im_host_read_mounts(proc, &out->mounts, message, sizeof(message));
        out->has_mounts = record(&failure, rc, message);
    }
    if (out->has_mounts) {
        im_host_mounts_statfs(root, &out->mounts);
    }
    rc = im_host_statfs(root, "/", &out->root_fs, message, sizeof(message));
    out->has_root_fs = record(&failure, rc, message);

    /* Optional parts: hosts without sensors, cpuinfo fields or a readable hostname are
     * normal, so these do not count as failures. */
    if (with_cpuinfo) {
        out->has_cpuinfo = im_host_read_cpuinfo(proc, sys, &out->cpuinfo, NULL, 0) == IM_OK;
    }
    out->has_temps = im_host_read_temperatures(sys, &out->temps, NULL, 0) == IM_OK;
    if (im_host_read_hostname(proc, out->hostname, sizeof(out->hostname), NULL, 0) != IM_OK) {
        struct utsname names;
        if (uname(&names) == 0) {
            im_strlcpy(out->hostname, names.nodename, sizeof(out->hostname));
        }
    }
    return failure.rc;
}

int im_host_sample_read(const im_host_roots_t *roots, im_host_sample_t *out, char *err,
                        size_t errlen)
{
    return read_sample(root_or_default(roots->proc, IM_HOST_DEFAULT_PROC),
                       root_or_default(roots->sys, IM_HOST_DEFAULT_SYS),
                       root_or_default(roots->root, IM_HOST_DEFAULT_ROOT), true, NULL, out, err,
                       errlen);
}

void im_host_sample_release(im_host_sample_t *sample)
{
    im_host_stat_release(&sample->stat);
    im_host_net_release(&sample->net);
    im_host_diskstats_release(&sample->disks);
    im_host_mounts_release(&sample->mounts);
    im_host_temps_release(&sample->temps);
    memset(sample, 0, sizeof(*sample));
}

bool im_host_rate(uint64_t prev, uint64_t cur, int64_t elapsed_ms, double *out)
{
    if (elapsed_ms <= 0 || cur < prev) {
        return false;
    }
    *out = (double)(cur - prev) * 1000.0 / (double)elapsed_ms;
    return true;
}

/* ---- sampler ---- */

static int copy_root(char *dst, size_t dstlen, const char *root, const char *fallback,
                     const char *what, char *err, size_t errlen)
{
    root = root_or_default(root, fallback);
    if (strlen(root) >= dstlen) {
        set_error(err, errlen, "%s root is longer than %zu bytes: %s", what, dstlen - 1, root);
        return IM_EINVAL;
    }
    im_strlcpy(dst, root, dstlen);
    return IM_OK;
}

int im_host_sampler_init(im_host_sampler_t *sampler, const im_host_roots_t *roots, char *err,
                         size_t errlen)
{
    memset(sampler, 0, sizeof(*sampler));
    int rc = copy_root(sampler->proc, sizeof(sampler->proc), roots ? roots->proc : NULL,
                       IM_HOST_DEFAULT_PROC, "proc", err, errlen);
    if (rc == IM_OK) {
        rc = copy_root(sampler->sys, sizeof(sampler->sys), roots ? roots->sys : NULL,
                       IM_HOST_DEFAULT_SYS, "sys", err, errlen);
    }
    if (rc == IM_OK) {
        rc = copy_root(sampler->root, sizeof(sampler->root), roots ? roots->root : NULL,
                       IM_HOST_DEFAULT_ROOT, "host", err, errlen);
    }
    im_host_read_uname(&sampler->uname);
    sampler->mountinfo_fd = IM_HOST_MOUNTINFO_CLOSED;
    return rc;
}

/* procfs's f_type (PROC_SUPER_MAGIC in linux/magic.h). */
#define PROCFS_MAGIC 0x9fa0

/* Returns false only when the mount table is known to be unchanged since the previous call.
 * poll(2) reports POLLPRI on a mountinfo descriptor after a mount or unmount in its
 * namespace (proc(5), /proc/pid/mounts); Linux reports each change to one poll only. */
static bool mounts_may_have_changed(im_host_sampler_t *sampler)
{
    if (sampler->mountinfo_fd == IM_HOST_MOUNTINFO_UNPOLLABLE) {
        return true;
    }
    if (sampler->mountinfo_fd == IM_HOST_MOUNTINFO_CLOSED) {
        char path[600];
        struct statfs fs;
        snprintf(path, sizeof(path), "%s/1/mountinfo", sampler->proc);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0 && fstatfs(fd, &fs) == 0 && fs.f_type == PROCFS_MAGIC) {
            sampler->mountinfo_fd = fd;
        } else {
            if (fd >= 0) {
                close(fd);
            }
            sampler->mountinfo_fd = IM_HOST_MOUNTINFO_UNPOLLABLE;
        }
        return true;
    }
    struct pollfd pfd = {.fd = sampler->mountinfo_fd, .events = POLLPRI, .revents = 0};
    if (poll(&pfd, 1, 0) < 0) {
        return true;
    }
    return (pfd.revents & (POLLPRI | POLLERR | POLLNVAL)) != 0;
}

int im_host_sampler_update(im_host_sampler_t *sampler, char *err, size_t errlen)
{
    int next = sampler->count == 0 ? 0 : 1 - sampler->current;
    const im_host_sample_t *prev = im_host_sampler_current(sampler);
    int64_t now = im_monotonic_ms();
    bool reuse_cpuinfo =
        prev && prev->has_cpuinfo && now - sampler->cpuinfo_read_ms < CPUINFO_REFRESH_MS;

    reuse_t reuse = {.prev = prev, .same_mounts = !mounts_may_have_changed(sampler)};

    im_host_sample_release(&sampler->samples[next]);
    int rc = read_sample(sampler->proc, sampler->sys, sampler->root, !reuse_cpuinfo, &reuse,
                         &sampler->samples[next], err, errlen);
    if (reuse_cpuinfo) {
        sampler->samples[next].cpuinfo = prev->cpuinfo;
        sampler->samples[next].has_cpuinfo = true;
    } else {
        sampler->cpuinfo_read_ms = now;
    }
    sampler->current = next;
    sampler->count++;
    return rc;
}

const im_host_sample_t *im_host_sampler_current(const im_host_sampler_t *sampler)
{
    return sampler->count > 0 ? &sampler->samples[sampler->current] : NULL;
}

const im_host_sample_t *im_host_sampler_previous(const im_host_sampler_t *sampler)
{
    return sampler->count > 1 ? &sampler->samples[1 - sampler->current] : NULL;
}

void im_host_sampler_release(im_host_sampler_t *sampler)
{
    im_host_sample_release(&sampler->samples[0]);
    im_host_sample_release(&sampler->samples[1]);
    sampler->count = 0;
    if (sampler->mountinfo_fd >= 0) {
        close(sampler->mountinfo_fd);
    }
    sampler->mountinfo_fd = IM_HOST_MOUNTINFO_CLOSED;
}

/* ---- JSON ---- */

static json_t *json_tenths(double value)
{
    return json_real(round(value * 10.0) / 10.0);
}

static json_t *json_hundredths(double value)
{
    return json_real(round(value * 100.0) / 100.0);
}

static json_t *json_counter(uint64_t value)
{
    return json_integer(value > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)value);
}

static json_t *json_time(int64_t unix_seconds)
{
    char text[32];
    im_time_iso8601(unix_seconds, text);
    return json_string(text);
}

static json_t *json_rate_or_null(uint64_t prev, uint64_t cur, int64_t elapsed_ms)
{
    double rate;
    if (!im_host_rate(prev, cur, elapsed_ms, &rate)) {
        return json_null();
    }
    return json_tenths(rate);
}

/* Returns a JSON string of text, with every byte of an invalid UTF-8 text above 0x7f
 * replaced by '?': device names, mount points and labels come from the kernel as raw bytes. */
static json_t *json_string_lossy(const char *text)
{
    json_t *value = json_string(text);
    if (value) {
        return value;
    }
    char *copy = im_strdup(text);
    for (char *c = copy; *c; c++) {
        if ((unsigned char)*c > 0x7f) {
            *c = '?';
        }
    }
    value = json_string(copy);
    free(copy);
    return value;
}

static json_t *json_text_or_null(const char *text)
{
    return text[0] ? json_string_lossy(text) : json_null();
}

/* Milliseconds between two samples; 0 when either is missing. */
static int64_t elapsed_ms(const im_host_sample_t *cur, const im_host_sample_t *prev)
{
    return prev ? cur->monotonic_ms - prev->monotonic_ms : 0;
}

static const im_host_cpu_t *find_cpu(const im_host_stat_t *stat, size_t hint, int id)
{
    if (hint < stat->cpu_count && stat->cpus[hint].id == id) {
        return &stat->cpus[hint];
    }
    for (size_t i = 0; i < stat->cpu_count; i++) {
        if (stat->cpus[i].id == id) {
            return &stat->cpus[i];
        }
    }
    return NULL;
}

static void add_cpu_fields(json_t *obj, const im_host_sample_t *cur, const im_host_sample_t *prev)
{
    bool have_pair = prev && prev->has_stat && cur->has_stat;
    json_t *per_cpu = json_array();
    for (size_t i = 0; cur->has_stat && i < cur->stat.cpu_count; i++) {
        const im_host_cpu_t *cpu = &cur->stat.cpus[i];
        const im_host_cpu_t *before = have_pair ? find_cpu(&prev->stat, i, cpu->id) : NULL;
        json_array_append_new(per_cpu,
                              before ? json_tenths(im_host_cpu_percent(&before->times, &cpu->times))
                                     : json_null());
    }
    json_object_set_new(obj, "cpu_usage",
                        have_pair
                            ? json_tenths(im_host_cpu_percent(&prev->stat.total, &cur->stat.total))
                            : json_null());
    json_object_set_new(obj, "cpu_cores",
                        cur->has_stat ? json_integer((json_int_t)cur->stat.cpu_count)
                                      : json_null());
    json_object_set_new(obj, "cpu_frequency",
                        cur->has_cpuinfo && cur->cpuinfo.mhz > 0 ? json_tenths(cur->cpuinfo.mhz)
                                                                 : json_null());
    json_object_set_new(obj, "per_cpu_usage", per_cpu);
}

static void add_memory_fields(json_t *obj, const im_host_sample_t *cur)
{
    if (!cur->has_mem) {
        static const char *const keys[] = {"memory_usage",     "memory_total", "memory_used",
                                           "memory_available", "swap_usage",   "swap_total",
                                           "swap_used"};
        for (size_t i = 0; i < IM_ARRAY_LEN(keys); i++) {
            json_object_set_new(obj, keys[i], json_null());
        }
        return;
    }
    const im_host_mem_t *mem = &cur->mem;
    uint64_t used = mem->total - mem->available;
    uint64_t swap_used = mem->swap_total > mem->swap_free ? mem->swap_total - mem->swap_free : 0;
    double memory_percent = mem->total ? 100.0 * (double)used / (double)mem->total : 0.0;
    double swap_percent =
        mem->swap_total ? 100.0 * (double)swap_used / (double)mem->swap_total : 0.0;
    json_object_set_new(obj, "memory_usage", json_tenths(memory_percent));
    json_object_set_new(obj, "memory_total", json_counter(mem->total));
    json_object_set_new(obj, "memory_used", json_counter(used));
    json_object_set_new(obj, "memory_available", json_counter(mem->available));
    json_object_set_new(obj, "swap_usage", json_tenths(swap_percent));
    json_object_set_new(obj, "swap_total", json_counter(mem->swap_total));
    json_object_set_new(obj, "swap_used", json_counter(swap_used));
}

static const im_host_disk_t *find_disk(const im_host_diskstats_t *disks, size_t hint,
                                       const char *name)
{
    if (hint < disks->count && strcmp(disks->items[hint].name, name) == 0) {
        return &disks->items[hint];
    }
    for (size_t i = 0; i < disks->count; i++) {
        if (strcmp(disks->items[i].name, name) == 0) {
            return &disks->items[i];
        }
    }
    return NULL;
}

/* Adds the root filesystem's usage and the disk I/O totals. Rates sum each disk's own
 * delta, so a disk that appeared or was reset between the samples adds nothing. */
static void add_disk_fields(json_t *obj, const im_host_sample_t *cur, const im_host_sample_t *prev)
{
    const im_host_fs_usage_t *root = &cur->root_fs;
    json_object_set_new(obj, "disk_usage",
                        cur->has_root_fs ? json_tenths(root->percent) : json_null());
    json_object_set_new(obj, "disk_total",
                        cur->has_root_fs ? json_counter(root->total) : json_null());
    json_object_set_new(obj, "disk_used",
                        cur->has_root_fs ? json_counter(root->used) : json_null());
    json_object_set_new(obj, "disk_free",
                        cur->has_root_fs ? json_counter(root->free) : json_null());

    uint64_t read_bytes = 0;
    uint64_t write_bytes = 0;
    uint64_t read_delta = 0;
    uint64_t write_delta = 0;
    bool have_pair = prev && prev->has_disks && cur->has_disks;
    for (size_t i = 0; cur->has_disks && i < cur->disks.count; i++) {
        const im_host_disk_t *disk = &cur->disks.items[i];
        if (!im_host_disk_in_totals(disk)) {
            continue;
        }
        read_bytes += disk->read_bytes;
        write_bytes += disk->write_bytes;
        const im_host_disk_t *before = have_pair ? find_disk(&prev->disks, i, disk->name) : NULL;
        if (before) {
            read_delta += counter_delta(before->read_bytes, disk->read_bytes);
            write_delta += counter_delta(before->write_bytes, disk->write_bytes);
        }
    }
    int64_t elapsed = have_pair ? elapsed_ms(cur, prev) : 0;
    json_object_set_new(obj, "disk_read_bytes",
                        cur->has_disks ? json_counter(read_bytes) : json_null());
    json_object_set_new(obj, "disk_write_bytes",
                        cur->has_disks ? json_counter(write_bytes) : json_null());
    json_object_set_new(obj, "disk_read_rate", json_rate_or_null(0, read_delta, elapsed));
    json_object_set_new(obj, "disk_write_rate", json_rate_or_null(0, write_delta, elapsed));
}

static const im_host_iface_t *find_iface(const im_host_net_t *net, size_t hint, const char *name)
{
    if (hint < net->count && strcmp(net->items[hint].name, name) == 0) {
        return &net->items[hint];
    }
    for (size_t i = 0; i < net->count; i++) {
        if (strcmp(net->items[i].name, name) == 0) {
            return &net->items[i];
        }
    }
    return NULL;
}

/* Adds the network totals over non-virtual interfaces (so traffic that crosses a bridge and
 * a veth pair is not counted three times) and the per-interface list. */
static void add_network_fields(json_t *obj, const im_host_sample_t *cur,
                               const im_host_sample_t *prev)
{
    uint64_t rx = 0;
    uint64_t tx = 0;
    uint64_t rx_delta = 0;
    uint64_t tx_delta = 0;
    bool have_pair = prev && prev->has_net && cur->has_net;
    for (size_t i = 0; cur->has_net && i < cur->net.count; i++) {
        const im_host_iface_t *iface = &cur->net.items[i];
        if (iface->is_virtual) {
            continue;
        }
        rx += iface->rx_bytes;
        tx += iface->tx_bytes;
        const im_host_iface_t *before = have_pair ? find_iface(&prev->net, i, iface->name) : NULL;
        if (before) {
            rx_delta += counter_delta(before->rx_bytes, iface->rx_bytes);
            tx_delta += counter_delta(before->tx_bytes, iface->tx_bytes);
        }
    }
    int64_t elapsed = have_pair ? elapsed_ms(cur, prev) : 0;
    json_object_set_new(obj, "network_rx", cur->has_net ? json_counter(rx) : json_null());
    json_object_set_new(obj, "network_tx", cur->has_net ? json_counter(tx) : json_null());
    json_object_set_new(obj, "network_rx_rate", json_rate_or_null(0, rx_delta, elapsed));
    json_object_set_new(obj, "network_tx_rate", json_rate_or_null(0, tx_delta, elapsed));
    json_object_set_new(obj, "network_interfaces", im_host_network_json(cur, prev));
}

/* Adds the load averages. load_percent is load_avg_1m per online CPU and exceeds 100 when
 * more tasks are runnable than there are CPUs. */
static void add_load_fields(json_t *obj, const im_host_sample_t *cur)
{
    bool have = cur->has_load;
    json_object_set_new(obj, "load_avg_1m", have ? json_hundredths(cur->load.load1) : json_null());
    json_object_set_new(obj, "load_avg_5m", have ? json_hundredths(cur->load.load5) : json_null());
    json_object_set_new(obj, "load_avg_15m",
                        have ? json_hundredths(cur->load.load15) : json_null());
    bool have_cores = cur->has_stat && cur->stat.cpu_count > 0;
    json_object_set_new(obj, "load_percent",
                        have && have_cores
                            ? json_tenths(100.0 * cur->load.load1 / (double)cur->stat.cpu_count)
                            : json_null());
}

/* Returns the boot time in Unix seconds from btime, else from the uptime; 0 when unknown. */
static int64_t boot_time(const im_host_sample_t *cur)
{
    if (cur->has_stat && cur->stat.boot_time > 0) {
        return cur->stat.boot_time;
    }
    if (cur->has_uptime) {
        return cur->wall_ms / 1000 - (int64_t)cur->uptime_seconds;
    }
    return 0;
}

static void add_time_fields(json_t *obj, const im_host_sample_t *cur)
{
    int64_t booted = boot_time(cur);
    json_object_set_new(obj, "uptime",
                        cur->has_uptime ? json_integer((json_int_t)cur->uptime_seconds)
                                        : json_null());
    json_object_set_new(obj, "boot_time", booted > 0 ? json_time(booted) : json_null());
}

static json_t *temperatures_json(const im_host_sample_t *cur)
{
    json_t *list = json_array();
    for (size_t i = 0; cur->has_temps && i < cur->temps.count; i++) {
        const im_host_temp_t *temp = &cur->temps.items[i];
        json_array_append_new(
            list,
            json_pack("{s:o, s:o, s:o, s:o, s:o}", "name", json_string_lossy(temp->name), "label",
                      json_string_lossy(temp->label), "current", json_tenths(temp->current), "high",
                      temp->has_high ? json_tenths(temp->high) : json_null(), "critical",
                      temp->has_critical ? json_tenths(temp->critical) : json_null()));
    }
    return list;
}

json_t *im_host_system_json(const im_host_sample_t *cur, const im_host_sample_t *prev)
{
    json_t *obj = json_object();
    add_cpu_fields(obj, cur, prev);
    add_memory_fields(obj, cur);
    add_disk_fields(obj, cur, prev);
    add_network_fields(obj, cur, prev);
    add_load_fields(obj, cur);
    add_time_fields(obj, cur);
    json_object_set_new(obj, "temperatures", temperatures_json(cur));
    json_object_set_new(obj, "timestamp", json_time(cur->wall_ms / 1000));
    return obj;
}

json_t *im_host_info_json(const im_host_sample_t *cur, const im_host_uname_t *uname, json_t *engine)
{
    json_t *obj = json_object();
    int64_t booted = boot_time(cur);
    json_object_set_new(obj, "hostname", json_text_or_null(cur->hostname));
    json_object_set_new(obj, "system", json_text_or_null(uname->system));
    json_object_set_new(obj, "release", json_text_or_null(uname->release));
    json_object_set_new(obj, "version", json_text_or_null(uname->version));
    json_object_set_new(obj, "machine", json_text_or_null(uname->machine));
    json_object_set_new(obj, "boot_time", booted > 0 ? json_time(booted) : json_null());
    json_object_set_new(obj, "uptime",
                        cur->has_uptime ? json_integer((json_int_t)cur->uptime_seconds)
                                        : json_null());
    json_object_set_new(obj, "cpu_architecture", json_text_or_null(uname->machine));
    json_object_set_new(obj, "kernel_version", json_text_or_null(uname->release));
    json_object_set_new(obj, "cpu_model",
                        cur->has_cpuinfo ? json_text_or_null(cur->cpuinfo.model) : json_null());
    json_object_set_new(obj, "engine", engine ? engine : json_null());
    return obj;
}

json_t *im_host_disk_json(const im_host_sample_t *cur)
{
    json_t *list = json_array();
    for (size_t i = 0; cur->has_mounts && i < cur->mounts.count; i++) {
        const im_host_mount_t *mount = &cur->mounts.items[i];
        if (!mount->has_usage) {
            continue;
        }
        json_array_append_new(list, json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "device",
                                              json_string_lossy(mount->device), "mountpoint",
                                              json_string_lossy(mount->mountpoint), "fstype",
                                              json_string_lossy(mount->fstype), "opts",
                                              json_string_lossy(mount->options), "total",
                                              json_counter(mount->usage.total), "used",
                                              json_counter(mount->usage.used), "free",
                                              json_counter(mount->usage.free), "percent",
                                              json_tenths(mount->usage.percent)));
    }
    return list;
}

json_t *im_host_network_json(const im_host_sample_t *cur, const im_host_sample_t *prev)
{
    json_t *list = json_array();
    bool have_pair = prev && prev->has_net && cur->has_net;
    int64_t elapsed = have_pair ? elapsed_ms(cur, prev) : 0;
    for (size_t i = 0; cur->has_net && i < cur->net.count; i++) {
        const im_host_iface_t *iface = &cur->net.items[i];
        const im_host_iface_t *before = have_pair ? find_iface(&prev->net, i, iface->name) : NULL;
        json_t *rx_rate =
            before ? json_rate_or_null(before->rx_bytes, iface->rx_bytes, elapsed) : json_null();
        json_t *tx_rate =
            before ? json_rate_or_null(before->tx_bytes, iface->tx_bytes, elapsed) : json_null();
        json_array_append_new(
            list,
            json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b}", "interface",
                      json_string_lossy(iface->name), "bytes_sent", json_counter(iface->tx_bytes),
                      "bytes_recv", json_counter(iface->rx_bytes), "packets_sent",
                      json_counter(iface->tx_packets), "packets_recv",
                      json_counter(iface->rx_packets), "errin", json_counter(iface->rx_errors),
                      "errout", json_counter(iface->tx_errors), "dropin",
                      json_counter(iface->rx_dropped), "dropout", json_counter(iface->tx_dropped),
                      "rx_rate", rx_rate, "tx_rate", tx_rate, "virtual", iface->is_virtual));
    }
    return list;
}
