/* Fills a SQLite database with generated statistics history through the store, the way
 * the history writer does: one transaction per 10-second bucket holding one point per
 * container, then one rollup into the 1-minute and 1-hour tiers. Prints the write time and
 * the bytes that each tier's table takes.
 *
 *   history_fill DATABASE_PATH CONTAINERS HOURS
 *
 * Container i is named bench-NNN and has a 64-hex-digit id derived from i. The points end
 * at the current 10-second boundary. Gauges are drawn around fixed means with a random
 * spread and counters grow, and values are rounded as the collector rounds them, so that
 * SQLite stores numbers of realistic size in its variable-length records. */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"
#include "store/store.h"

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Returns a uniform random number in [0, 1) from a seeded xorshift generator, so that runs
 * repeat. */
static double next_random(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return (double)(*state >> 11) / 9007199254740992.0;
}

static double round2(double value)
{
    return (double)(int64_t)(value * 100.0 + 0.5) / 100.0;
}

/* A gauge of 10 readings around mean, spread by `spread`, rounded like the batcher. */
static im_store_gauge_t gauge(uint64_t *state, double mean, double spread, bool fractional)
{
    double low = mean - spread * next_random(state);
    double high = mean + spread * next_random(state);
    double avg = low + (high - low) * next_random(state);
    im_store_gauge_t g = {low, high, fractional ? round2(avg) : (double)(int64_t)(avg + 0.5)};
    if (!fractional) {
        g.min = (double)(int64_t)g.min;
        g.max = (double)(int64_t)g.max;
    }
    return g;
}

static void fill_record(im_store_history_record_t *r, int container, int64_t t, uint64_t *state,
                        uint64_t counters[4])
{
    im_store_history_point_t *p = &r->point;
    double load = 20.0 + 15.0 * (double)(container % 5);

    snprintf(r->container_id, sizeof(r->container_id), "%064x", container + 1);
    snprintf(r->name, sizeof(r->name), "bench-%03d", container);
    p->time = t;
    p->samples = 10;
    p->cpu = gauge(state, load, 10.0, true);
    p->memory = gauge(state, 50e6 + 1e6 * container, 2e6, false);
    p->network_rx_rate = gauge(state, 20000, 8000, false);
    p->network_tx_rate = gauge(state, 60000, 20000, false);
    p->block_read_rate = gauge(state, 1000, 1000, false);
    p->block_write_rate = gauge(state, 4000, 3000, false);
    p->pids = gauge(state, 12, 0, true);
    p->memory_limit = 512 * 1024 * 1024;
    counters[0] += (uint64_t)(p->network_rx_rate.avg * 10);
    counters[1] += (uint64_t)(p->network_tx_rate.avg * 10);
    counters[2] += (uint64_t)(p->block_read_rate.avg * 10);
    counters[3] += (uint64_t)(p->block_write_rate.avg * 10);
    p->network_rx = counters[0];
    p->network_tx = counters[1];
    p->block_read = counters[2];
    p->block_write = counters[3];
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s DATABASE_PATH CONTAINERS HOURS\n", argv[0]);
        return 2;
    }
    int containers = atoi(argv[2]);
    int hours = atoi(argv[3]);
    if (containers < 1 || containers > 10000 || hours < 1 || hours > 24 * 90) {
        fprintf(stderr, "history_fill: CONTAINERS must be 1..10000 and HOURS 1..2160\n");
        return 2;
    }

    char url[4200];
    char err[512] = "";
    im_store_t *store = NULL;
    snprintf(url, sizeof(url), "sqlite:///%s", argv[1]);
    if (im_store_open(url, &store, err, sizeof(err)) != IM_OK ||
        im_store_migrate(store, NULL) != IM_OK) {
        fprintf(stderr, "history_fill: cannot open %s: %s\n", argv[1], err);
        return 1;
    }

    int64_t end = im_now() / 10 * 10;
    int64_t buckets = (int64_t)hours * 360;
    uint64_t state = 0x9E3779B97F4A7C15u;
    uint64_t(*counters)[4] = im_calloc((size_t)containers, sizeof(*counters));
    im_store_history_record_t *records = im_calloc((size_t)containers, sizeof(*records));
    double started = now_seconds();
    int rc = IM_OK;
    for (int64_t b = 0; b < buckets && rc == IM_OK; b++) {
        int64_t t = end - (buckets - b) * 10;
        for (int c = 0; c < containers; c++) {
            fill_record(&records[c], c, t, &state, counters[c]);
        }
        rc = im_store_history_write(store, records, (size_t)containers);
    }
    double written = now_seconds();
    if (rc == IM_OK) {
        rc = im_store_history_rollup(store, end);
    }
    double rolled = now_seconds();
    if (rc != IM_OK) {
        fprintf(stderr, "history_fill: the store failed with error %d\n", rc);
        return 1;
    }

    printf("wrote %" PRId64 " batches of %d points in %.1f s (%.2f ms per batch), "
           "rollup %.1f s\n",
           buckets, containers, written - started, (written - started) * 1000.0 / (double)buckets,
           rolled - written);
    for (int tier = 0; tier < IM_STORE_TIER_COUNT; tier++) {
        int64_t bytes = 0;
        int64_t rows = 0;
        if (im_store_history_size(store, (im_store_tier_t)tier, &bytes, &rows) != IM_OK) {
            fprintf(stderr, "history_fill: cannot read the size of tier %d\n", tier);
            return 1;
        }
        printf("tier %d: %" PRId64 " rows, %" PRId64 " bytes, %.1f bytes per row\n", tier, rows,
               bytes, rows ? (double)bytes / (double)rows : 0.0);
    }
    free(records);
    free(counters);
    im_store_close(store);
    return 0;
}
