/* Tests of the statistics history on real SQLite files: writes, rollups into the 1-minute
 * and 1-hour tiers, tier selection, retention, series lookup, downsampling, the batcher and
 * the writer thread. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "collect/history.h"
#include "core/util.h"
#include "store/store.h"

#define CONTAINER_A                                                                                \
    "aaaa1111"                                                                                     \
    "00000000000000000000000000000000000000000000000000000001"
#define CONTAINER_B                                                                                \
    "aaaa2222"                                                                                     \
    "00000000000000000000000000000000000000000000000000000002"
#define CONTAINER_C                                                                                \
    "bbbb3333"                                                                                     \
    "00000000000000000000000000000000000000000000000000000003"

/* A fixed hour boundary, so that bucket arithmetic is easy to check by hand. */
#define BASE_TIME ((int64_t)1767225600) /* 2026-01-01T00:00:00Z */

typedef struct {
    char dir[64];
    im_store_t *store;
} fixture_t;

static int setup(void **state)
{
    fixture_t *fx = im_calloc(1, sizeof(*fx));
    char url[160];
    char err[256] = "";
    int version = 0;

    im_strlcpy(fx->dir, "/tmp/im-history-test-XXXXXX", sizeof(fx->dir));
    if (!mkdtemp(fx->dir)) {
        free(fx);
        return -1;
    }
    snprintf(url, sizeof(url), "sqlite:///%s/inframon.db", fx->dir);
    if (im_store_open(url, &fx->store, err, sizeof(err)) != IM_OK ||
        im_store_migrate(fx->store, &version) != IM_OK) {
        print_error("cannot open %s: %s\n", url, err);
        return -1;
    }
    *state = fx;
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    im_store_close(fx->store);
    nftw(fx->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

/* A 10-second point whose values depend on i, with `samples` readings. */
static im_store_history_record_t make_record(const char *id, const char *name, int64_t time, int i,
                                             int64_t samples)
{
    im_store_history_record_t r;
    memset(&r, 0, sizeof(r));
    im_strlcpy(r.container_id, id, sizeof(r.container_id));
    im_strlcpy(r.name, name, sizeof(r.name));
    im_store_history_point_t *p = &r.point;
    p->time = time;
    p->samples = samples;
    double cpu = (double)(i % 13) * 7.5;
    p->cpu = (im_store_gauge_t){cpu - 1.25, cpu + 2.5, cpu};
    double memory = 1000000.0 + (double)(i % 17) * 4096.0;
    p->memory = (im_store_gauge_t){memory - 512, memory + 1024, memory};
    p->network_rx_rate = (im_store_gauge_t){(double)i, (double)(i * 3), (double)(i * 2)};
    p->network_tx_rate = (im_store_gauge_t){0, (double)(i % 5), 1};
    p->block_read_rate = (im_store_gauge_t){2, 4, 3};
    p->block_write_rate = (im_store_gauge_t){(double)(i % 3), 10, 5};
    p->pids = (im_store_gauge_t){1, (double)(1 + i % 4), 1.5};
    p->memory_limit = 268435456;
    p->network_rx = 1000 + (uint64_t)i * 10;
    p->network_tx = 2000 + (uint64_t)i * 20;
    p->block_read = 3000 + (uint64_t)i * 30;
    p->block_write = 4000 + (uint64_t)i * 40;
    return r;
}

/* Expected rollup of records[first, first + n) for one gauge. */
typedef struct {
    double min;
    double max;
    double avg;
} expected_t;

static expected_t expect_gauge(const im_store_history_record_t *records, size_t first, size_t n,
                               size_t offset)
{
    expected_t e = {INFINITY, -INFINITY, 0};
    double weighted = 0;
    double samples = 0;
    for (size_t i = first; i < first + n; i++) {
        const im_store_gauge_t *g =
            (const im_store_gauge_t *)((const char *)&records[i].point + offset);
        e.min = fmin(e.min, g->min);
        e.max = fmax(e.max, g->max);
        weighted += g->avg * (double)records[i].point.samples;
        samples += (double)records[i].point.samples;
    }
    e.avg = weighted / samples;
    return e;
}

static void assert_gauge(const im_store_gauge_t *got, expected_t want, double tolerance)
{
    assert_float_equal(got->min, want.min, 1e-9);
    assert_float_equal(got->max, want.max, 1e-9);
    assert_float_equal(got->avg, want.avg, tolerance);
}

static void query_points(im_store_t *store, const char *id, im_store_tier_t tier, int64_t since,
                         int64_t until, im_store_history_points_t *out)
{
    im_store_history_query_t q = {.container_id = id, .tier = tier, .since = since, .until = until};
    assert_int_equal(im_store_history_query(store, &q, out), IM_OK);
}

/* Two hours of 10-second points with uneven sample counts roll up into 120 minute points
 * and 2 hour points whose min, max and weighted mean match the arithmetic here. */
static void test_rollup_arithmetic(void **state)
{
    fixture_t *fx = *state;
    enum { N = 720 };
    im_store_history_record_t *records = im_calloc(N, sizeof(*records));
    for (int i = 0; i < N; i++) {
        records[i] = make_record(CONTAINER_A, "web", BASE_TIME + i * 10, i, 1 + i % 10);
    }
    assert_int_equal(im_store_history_write(fx->store, records, N), IM_OK);
    assert_int_equal(im_store_history_rollup(fx->store, BASE_TIME + N * 10), IM_OK);

    im_store_history_points_t minutes;
    query_points(fx->store, CONTAINER_A, IM_STORE_TIER_1M, BASE_TIME, BASE_TIME + 7200, &minutes);
    assert_int_equal(minutes.count, 120);
    for (size_t m = 0; m < minutes.count; m++) {
        const im_store_history_point_t *p = &minutes.points[m];
        assert_int_equal(p->time, BASE_TIME + (int64_t)m * 60);
        int64_t samples = 0;
        for (size_t i = m * 6; i < m * 6 + 6; i++) {
            samples += records[i].point.samples;
        }
        assert_int_equal(p->samples, samples);
        assert_gauge(&p->cpu,
                     expect_gauge(records, m * 6, 6, offsetof(im_store_history_point_t, cpu)),
                     0.005);
        assert_gauge(&p->memory,
                     expect_gauge(records, m * 6, 6, offsetof(im_store_history_point_t, memory)),
                     0.5);
        assert_gauge(&p->pids,
                     expect_gauge(records, m * 6, 6, offsetof(im_store_history_point_t, pids)),
                     0.005);
        /* Counters come from the latest 10-second point of the minute. */
        assert_int_equal(p->network_rx, records[m * 6 + 5].point.network_rx);
        assert_int_equal(p->block_write, records[m * 6 + 5].point.block_write);
        assert_int_equal(p->memory_limit, 268435456);
    }
    im_store_history_points_release(&minutes);

    im_store_history_points_t hours;
    query_points(fx->store, CONTAINER_A, IM_STORE_TIER_1H, BASE_TIME, BASE_TIME + 7200, &hours);
    assert_int_equal(hours.count, 2);
    for (size_t h = 0; h < 2; h++) {
        const im_store_history_point_t *p = &hours.points[h];
        assert_int_equal(p->time, BASE_TIME + (int64_t)h * 3600);
        /* The hour's mean is rounded twice (minute, then hour), so it may be off by a unit
         * of the stored precision. */
        assert_gauge(&p->cpu,
                     expect_gauge(records, h * 360, 360, offsetof(im_store_history_point_t, cpu)),
                     0.011);
        assert_gauge(&p->network_rx_rate,
                     expect_gauge(records, h * 360, 360,
                                  offsetof(im_store_history_point_t, network_rx_rate)),
                     1.0);
        assert_int_equal(p->network_tx, records[h * 360 + 359].point.network_tx);
    }
    im_store_history_points_release(&hours);
    free(records);
}

/* A rollup only covers complete buckets, and a later rollup continues from the watermark
 * without counting a point twice. */
static void test_rollup_incremental(void **state)
{
    fixture_t *fx = *state;
    im_store_history_record_t records[12];
    for (int i = 0; i < 12; i++) {
        records[i] = make_record(CONTAINER_A, "web", BASE_TIME + i * 10, i, 10);
    }
    assert_int_equal(im_store_history_write(fx->store, records, 9), IM_OK);
    /* Points up to 0:01:30 are written: only the first minute is complete. */
    assert_int_equal(im_store_history_rollup(fx->store, BASE_TIME + 90), IM_OK);
    im_store_history_points_t minutes;
    query_points(fx->store, CONTAINER_A, IM_STORE_TIER_1M, BASE_TIME, BASE_TIME + 3600, &minutes);
    assert_int_equal(minutes.count, 1);
    assert_int_equal(minutes.points[0].samples, 60);
    im_store_history_points_release(&minutes);

    assert_int_equal(im_store_history_write(fx->store, records + 9, 3), IM_OK);
    assert_int_equal(im_store_history_rollup(fx->store, BASE_TIME + 120), IM_OK);
    assert_int_equal(im_store_history_rollup(fx->store, BASE_TIME + 120), IM_OK);
    query_points(fx->store, CONTAINER_A, IM_STORE_TIER_1M, BASE_TIME, BASE_TIME + 3600, &minutes);
    assert_int_equal(minutes.count, 2);
    assert_int_equal(minutes.points[0].samples, 60);
    assert_int_equal(minutes.points[1].samples, 60);
    im_store_history_points_release(&minutes);

    /* No hour is complete yet. */
    im_store_history_points_t hours;
    query_points(fx->store, CONTAINER_A, IM_STORE_TIER_1H, BASE_TIME, BASE_TIME + 3600, &hours);
    assert_int_equal(hours.count, 0);
    im_store_history_points_release(&hours);
}

static void test_tier_pick(void **state)
{
    (void)state;
    assert_int_equal(im_history_pick_tier(3600, 24), IM_STORE_TIER_10S);
    assert_int_equal(im_history_pick_tier(86400, 24), IM_STORE_TIER_10S);
    assert_int_equal(im_history_pick_tier(86401, 24), IM_STORE_TIER_1M);
    assert_int_equal(im_history_pick_tier(21600, 1), IM_STORE_TIER_1M);
    assert_int_equal(im_history_pick_tier(7 * 86400, 24), IM_STORE_TIER_1M);
    assert_int_equal(im_history_pick_tier(30 * 86400, 24), IM_STORE_TIER_1H);
    /* 500 buckets over 24 h are 173 s wide: the 1-minute tier resolves them. */
    assert_int_equal(im_history_pick_query_tier(86400, 24, 500), IM_STORE_TIER_1M);
    assert_int_equal(im_history_pick_query_tier(86400, 24, 5000), IM_STORE_TIER_10S);
    assert_int_equal(im_history_pick_query_tier(3600, 24, 500), IM_STORE_TIER_10S);
    assert_int_equal(im_history_pick_query_tier(30 * 86400, 24, 10), IM_STORE_TIER_1H);
    assert_int_equal(im_history_tier_seconds(IM_STORE_TIER_1M), 60);
    assert_string_equal(im_history_tier_name(IM_STORE_TIER_1H), "1h");
}

/* After retention the tier that the picker names for each period still has the points of
 * that period: 24 h in 10-second points, 7 days in minutes, 30 days in hours. */
static void test_tier_pick_covers_after_retention(void **state)
{
    fixture_t *fx = *state;
    int64_t now = BASE_TIME + 40 * 86400;
    /* One point every 10 minutes over 40 days. */
    enum { N = 40 * 144 };
    im_store_history_record_t *records = im_calloc(N, sizeof(*records));
    for (int i = 0; i < N; i++) {
        records[i] = make_record(CONTAINER_A, "web", BASE_TIME + (int64_t)i * 600, i, 10);
    }
    assert_int_equal(im_store_history_write(fx->store, records, N), IM_OK);
    assert_int_equal(im_store_history_rollup(fx->store, now), IM_OK);
    im_store_history_cutoffs_t cutoffs = im_history_cutoffs(now, 24, 90);
    assert_int_equal(im_store_history_prune(fx->store, &cutoffs, NULL), IM_OK);

    const struct {
        int64_t period;
        im_store_tier_t tier;
        size_t points;
    } cases[] = {
        {86400, IM_STORE_TIER_10S, 144},
        {7 * 86400, IM_STORE_TIER_1M, 7 * 144},
        {30 * 86400, IM_STORE_TIER_1H, 30 * 24},
    };
    for (size_t c = 0; c < IM_ARRAY_LEN(cases); c++) {
        im_store_tier_t tier = im_history_pick_tier(cases[c].period, 24);
        assert_int_equal(tier, cases[c].tier);
        im_store_history_points_t points;
        query_points(fx->store, CONTAINER_A, tier, now - cases[c].period, now, &points);
        assert_int_equal(points.count, cases[c].points);
        im_store_history_points_release(&points);
    }
    free(records);
}

static int64_t count_points(im_store_t *store, const char *id, im_store_tier_t tier)
{
    im_store_history_points_t points;
    query_points(store, id, tier, 0, INT64_MAX, &points);
    int64_t count = (int64_t)points.count;
    im_store_history_points_release(&points);
    return count;
}

/* Retention deletes the points older than each tier's cut-off and nothing newer, and drops
 * the series of a container left without points, but never the host's. */
static void test_prune_exact(void **state)
{
    fixture_t *fx = *state;
    int64_t now = BASE_TIME + 100 * 86400;
    im_store_history_record_t records[] = {
        make_record(CONTAINER_A, "web", now - 25 * 3600, 1, 1), /* raw: too old */
        make_record(CONTAINER_A, "web", now - 23 * 3600, 2, 1), /* raw: kept */
        make_record(CONTAINER_B, "db", now - 95 * 86400, 3, 1), /* every tier: too old */
        make_record("", "host", now - 95 * 86400, 4, 1),        /* the host keeps its series */
    };
    assert_int_equal(im_store_history_write(fx->store, records, IM_ARRAY_LEN(records)), IM_OK);
    assert_int_equal(im_store_history_rollup(fx->store, now), IM_OK);
    assert_int_equal(count_points(fx->store, CONTAINER_A, IM_STORE_TIER_1M), 2);
    assert_int_equal(count_points(fx->store, CONTAINER_B, IM_STORE_TIER_1H), 1);

    im_store_history_cutoffs_t cutoffs = im_history_cutoffs(now, 24, 90);
    im_store_history_pruned_t pruned;
    assert_int_equal(im_store_history_prune(fx->store, &cutoffs, &pruned), IM_OK);
    assert_int_equal(pruned.points[IM_STORE_TIER_10S], 3);
    /* 1-minute tier: B's and the host's points are past 7 days, A's are not. */
    assert_int_equal(pruned.points[IM_STORE_TIER_1M], 2);
    assert_int_equal(pruned.points[IM_STORE_TIER_1H], 2);
    assert_int_equal(pruned.series, 1);

    assert_int_equal(count_points(fx->store, CONTAINER_A, IM_STORE_TIER_10S), 1);
    assert_int_equal(count_points(fx->store, CONTAINER_A, IM_STORE_TIER_1M), 2);
    assert_int_equal(count_points(fx->store, CONTAINER_A, IM_STORE_TIER_1H), 2);
    assert_int_equal(count_points(fx->store, CONTAINER_B, IM_STORE_TIER_1H), 0);
    im_store_history_series_t series;
    assert_int_equal(im_store_history_series_find(fx->store, "db", &series), IM_ENOTFOUND);
    assert_int_equal(im_store_history_series_find(fx->store, "web", &series), IM_OK);

    /* A second run finds nothing more. */
    assert_int_equal(im_store_history_prune(fx->store, &cutoffs, &pruned), IM_OK);
    assert_int_equal(pruned.points[0] + pruned.points[1] + pruned.points[2] + pruned.series, 0);
}

/* A removed container is found by id, id prefix or name. When a new container re-uses a
 * name, a lookup by that name returns the newer series, and a query by name reads both. */
static void test_series_find_and_name_query(void **state)
{
    fixture_t *fx = *state;
    im_store_history_record_t records[] = {
        make_record(CONTAINER_A, "web", BASE_TIME, 1, 1),
        make_record(CONTAINER_B, "web", BASE_TIME + 10, 2, 1),
        make_record(CONTAINER_C, "cache", BASE_TIME + 20, 3, 1),
    };
    assert_int_equal(im_store_history_write(fx->store, records, 3), IM_OK);

    im_store_history_series_t series;
    assert_int_equal(im_store_history_series_find(fx->store, CONTAINER_A, &series), IM_OK);
    assert_string_equal(series.container_id, CONTAINER_A);
    assert_int_equal(im_store_history_series_find(fx->store, "web", &series), IM_OK);
    assert_string_equal(series.container_id, CONTAINER_B);
    assert_int_equal(im_store_history_series_find(fx->store, "bbbb", &series), IM_OK);
    assert_string_equal(series.name, "cache");
    /* "aaaa" starts both A and B. */
    assert_int_equal(im_store_history_series_find(fx->store, "aaaa", &series), IM_ENOTFOUND);
    assert_int_equal(im_store_history_series_find(fx->store, "nothing", &series), IM_ENOTFOUND);

    im_store_history_query_t q = {
        .name = "web", .tier = IM_STORE_TIER_10S, .since = 0, .until = INT64_MAX};
    im_store_history_points_t points;
    assert_int_equal(im_store_history_query(fx->store, &q, &points), IM_OK);
    assert_int_equal(points.count, 2);
    assert_true(points.points[0].time < points.points[1].time);
    im_store_history_points_release(&points);
}

static void test_write_rejects_bad_record(void **state)
{
    fixture_t *fx = *state;
    im_store_history_record_t records[] = {
        make_record(CONTAINER_A, "web", BASE_TIME, 1, 1),
        make_record(CONTAINER_B, "db", BASE_TIME, 2, 0),
    };
    assert_int_equal(im_store_history_write(fx->store, records, 2), IM_EINVAL);
    /* Nothing of the batch was written. */
    assert_int_equal(count_points(fx->store, CONTAINER_A, IM_STORE_TIER_10S), 0);
}

/* Downsampling keeps at most max_points buckets whose arithmetic matches the points. */
static void test_downsample(void **state)
{
    (void)state;
    enum { N = 8640 };
    im_store_history_point_t *points = im_calloc(N, sizeof(*points));
    im_store_history_record_t record;
    for (int i = 0; i < N; i++) {
        record = make_record(CONTAINER_A, "web", BASE_TIME + i * 10, i, 1 + i % 3);
        points[i] = record.point;
    }
    im_store_history_point_t *buckets = NULL;
    int64_t width = 0;
    size_t n =
        im_history_downsample(points, N, BASE_TIME, BASE_TIME + 86400, 10, 500, &buckets, &width);
    assert_true(n <= 500);
    assert_int_equal(width % 10, 0);
    assert_int_equal(width, 180);
    assert_int_equal(n, 480);
    /* The first bucket merges the first 18 points. */
    int64_t samples = 0;
    double min = INFINITY;
    double max = -INFINITY;
    double weighted = 0;
    for (int i = 0; i < 18; i++) {
        samples += points[i].samples;
        min = fmin(min, points[i].cpu.min);
        max = fmax(max, points[i].cpu.max);
        weighted += points[i].cpu.avg * (double)points[i].samples;
    }
    assert_int_equal(buckets[0].time, BASE_TIME);
    assert_int_equal(buckets[0].samples, samples);
    assert_float_equal(buckets[0].cpu.min, min, 1e-9);
    assert_float_equal(buckets[0].cpu.max, max, 1e-9);
    assert_float_equal(buckets[0].cpu.avg, weighted / (double)samples, 1e-9);
    assert_int_equal(buckets[0].network_rx, points[17].network_rx);
    free(buckets);

    /* Fewer points than max_points: one bucket each. */
    n = im_history_downsample(points, 30, BASE_TIME, BASE_TIME + 300, 10, 500, &buckets, &width);
    assert_int_equal(n, 30);
    assert_int_equal(width, 10);
    free(buckets);

    /* A range that is not aligned still yields at most max_points buckets. */
    n = im_history_downsample(points, N, BASE_TIME + 7, BASE_TIME + 3607, 10, 7, &buckets, &width);
    assert_true(n <= 7);
    assert_true(n >= 6);
    free(buckets);
    free(points);
}

static im_sampler_figures_t figures(const char *id, const char *name, double cpu, uint64_t memory)
{
    im_sampler_figures_t f;
    memset(&f, 0, sizeof(f));
    im_strlcpy(f.id, id, sizeof(f.id));
    im_strlcpy(f.name, name, sizeof(f.name));
    im_strlcpy(f.status, "running", sizeof(f.status));
    f.sampled = true;
    f.has_rates = true;
    f.cpu_percent = cpu;
    f.memory_used = memory;
    f.counters.pids = 3;
    f.network_rx = (uint64_t)(cpu * 10);
    return f;
}

/* The batcher turns the readings of one 10-second bucket into one point per container. */
static void test_batcher_bucket(void **state)
{
    (void)state;
    im_history_batcher_t *batcher = im_history_batcher_new();
    int64_t t0 = BASE_TIME * 1000;
    const double cpu[] = {10, 50, 30};
    for (int i = 0; i < 3; i++) {
        im_sampler_figures_t a = figures(CONTAINER_A, "/web", cpu[i], 1000 * (uint64_t)(i + 1));
        im_sampler_figures_t stopped = figures(CONTAINER_B, "/db", 99, 1);
        im_strlcpy(stopped.status, "exited", sizeof(stopped.status));
        assert_false(im_history_batcher_due(batcher, t0 + i * 1000));
        im_history_batcher_add_container(batcher, &a, t0 + i * 1000);
        im_history_batcher_add_container(batcher, &stopped, t0 + i * 1000);
    }
    assert_false(im_history_batcher_due(batcher, t0 + 9999));
    assert_true(im_history_batcher_due(batcher, t0 + 10000));

    im_store_history_record_t *records = NULL;
    size_t n = im_history_batcher_take(batcher, &records);
    assert_int_equal(n, 1);
    assert_string_equal(records[0].container_id, CONTAINER_A);
    assert_string_equal(records[0].name, "web");
    assert_int_equal(records[0].point.time, BASE_TIME);
    assert_int_equal(records[0].point.samples, 3);
    assert_float_equal(records[0].point.cpu.min, 10, 1e-9);
    assert_float_equal(records[0].point.cpu.max, 50, 1e-9);
    assert_float_equal(records[0].point.cpu.avg, 30, 1e-9);
    assert_float_equal(records[0].point.memory.avg, 2000, 1e-9);
    assert_int_equal(records[0].point.network_rx, 300);
    free(records);
    assert_int_equal(im_history_batcher_take(batcher, &records), 0);
    assert_null(records);
    im_history_batcher_free(batcher);
}

/* The writer thread applies submitted batches, and points written by it can be read back
 * after a flush. */
static void test_writer_submit_flush(void **state)
{
    fixture_t *fx = *state;
    im_history_writer_options_t opts = {.store = fx->store, .raw_hours = 24, .retention_days = 90};
    im_history_writer_t *writer = NULL;
    char err[256];
    assert_int_equal(im_history_writer_start(&opts, &writer, err, sizeof(err)), IM_OK);

    int64_t now = im_now();
    int64_t start = now - now % 10 - 100;
    for (int i = 0; i < 5; i++) {
        im_store_history_record_t *batch = im_calloc(2, sizeof(*batch));
        batch[0] = make_record(CONTAINER_A, "web", start + i * 10, i, 10);
        batch[1] = make_record("", "host", start + i * 10, i, 10);
        assert_true(im_history_writer_submit(writer, batch, 2));
    }
    assert_true(im_history_writer_flush(writer, 10000));
    im_history_writer_stats_t stats;
    im_history_writer_get_stats(writer, &stats);
    assert_int_equal(stats.batches_written, 5);
    assert_int_equal(stats.records_written, 10);
    assert_int_equal(stats.batches_dropped, 0);
    im_history_writer_stop(writer);

    assert_int_equal(count_points(fx->store, CONTAINER_A, IM_STORE_TIER_10S), 5);
    assert_int_equal(count_points(fx->store, "", IM_STORE_TIER_10S), 5);
}

/* While another connection holds the database's write lock, the writer cannot drain its
 * queue, so submissions beyond the queue's capacity are dropped and counted instead of
 * blocking the caller. Every batch is accounted for once the lock is released. */
static void test_writer_drops_when_full(void **state)
{
    fixture_t *fx = *state;
    char path[128];
    char err[256];
    sqlite3 *blocker = NULL;
    enum { SUBMITTED = IM_HISTORY_QUEUE_MAX + 8 };

    snprintf(path, sizeof(path), "%s/inframon.db", fx->dir);
    assert_int_equal(sqlite3_open(path, &blocker), SQLITE_OK);
    assert_int_equal(sqlite3_exec(blocker, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);

    im_history_writer_options_t opts = {.store = fx->store, .raw_hours = 24, .retention_days = 90};
    im_history_writer_t *writer = NULL;
    assert_int_equal(im_history_writer_start(&opts, &writer, err, sizeof(err)), IM_OK);
    int64_t start = im_now() / 10 * 10 - SUBMITTED * 10;
    size_t accepted = 0;
    for (int i = 0; i < SUBMITTED; i++) {
        im_store_history_record_t *batch = im_calloc(1, sizeof(*batch));
        batch[0] = make_record(CONTAINER_A, "web", start + i * 10, i, 10);
        accepted += im_history_writer_submit(writer, batch, 1) ? 1 : 0;
    }
    /* The writer holds at most one batch outside the queue while it waits for the lock. */
    assert_true(accepted <= IM_HISTORY_QUEUE_MAX + 1);
    im_history_writer_stats_t stats;
    im_history_writer_get_stats(writer, &stats);
    assert_int_equal(stats.batches_dropped, SUBMITTED - accepted);
    assert_int_equal(stats.records_dropped, SUBMITTED - accepted);

    assert_int_equal(sqlite3_exec(blocker, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(blocker);
    assert_true(im_history_writer_flush(writer, 60000));
    im_history_writer_get_stats(writer, &stats);
    assert_int_equal(stats.batches_written + stats.batches_failed, accepted);
    assert_int_equal(stats.queued, 0);
    im_history_writer_stop(writer);
}

/* In-memory points become one-sample history points, with block I/O rates from the
 * counters of consecutive points. */
static void test_from_memory_rates(void **state)
{
    (void)state;
    im_sampler_point_t raw[3];
    memset(raw, 0, sizeof(raw));
    for (int i = 0; i < 3; i++) {
        raw[i].time_ms = BASE_TIME * 1000 + i * 2000;
        raw[i].cpu_percent = (float)(10 * (i + 1));
        raw[i].memory_used = 1000;
        raw[i].block_read = 4096 * (uint64_t)i * (uint64_t)i;
        raw[i].pids = 2;
    }
    im_store_history_point_t *points = NULL;
    assert_int_equal(im_history_from_memory(raw, 3, &points), 3);
    assert_int_equal(points[1].time, BASE_TIME + 2);
    assert_int_equal(points[1].samples, 1);
    assert_float_equal(points[1].cpu.min, 20, 1e-6);
    assert_float_equal(points[1].cpu.max, 20, 1e-6);
    assert_float_equal(points[0].block_read_rate.avg, 0, 1e-9);
    /* 4096 bytes in 2 s, then 12288 bytes in 2 s. */
    assert_float_equal(points[1].block_read_rate.avg, 2048, 1e-9);
    assert_float_equal(points[2].block_read_rate.avg, 6144, 1e-9);
    assert_float_equal(points[2].pids.avg, 2, 1e-9);
    free(points);
}

static void test_size_reports_pages(void **state)
{
    fixture_t *fx = *state;
    im_store_history_record_t records[60];
    for (int i = 0; i < 60; i++) {
        records[i] = make_record(CONTAINER_A, "web", BASE_TIME + i * 10, i, 10);
    }
    assert_int_equal(im_store_history_write(fx->store, records, 60), IM_OK);
    int64_t bytes = 0;
    int64_t rows = 0;
    assert_int_equal(im_store_history_size(fx->store, IM_STORE_TIER_10S, &bytes, &rows), IM_OK);
    assert_int_equal(rows, 60);
    assert_true(bytes >= 4096);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rollup_arithmetic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollup_incremental, setup, teardown),
        cmocka_unit_test(test_tier_pick),
        cmocka_unit_test_setup_teardown(test_tier_pick_covers_after_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_series_find_and_name_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_rejects_bad_record, setup, teardown),
        cmocka_unit_test(test_downsample),
        cmocka_unit_test(test_batcher_bucket),
        cmocka_unit_test_setup_teardown(test_writer_submit_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_drops_when_full, setup, teardown),
        cmocka_unit_test(test_from_memory_rates),
        cmocka_unit_test_setup_teardown(test_size_reports_pages, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
