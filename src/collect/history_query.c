/* Tier selection and downsampling of history points (see history.h). */

#include <stdlib.h>
#include <string.h>

#include "collect/history.h"
#include "core/util.h"

int64_t im_history_tier_seconds(im_store_tier_t tier)
{
    switch (tier) {
    case IM_STORE_TIER_10S:
        return 10;
    case IM_STORE_TIER_1M:
        return 60;
    default:
        return 3600;
    }
}

const char *im_history_tier_name(im_store_tier_t tier)
{
    switch (tier) {
    case IM_STORE_TIER_10S:
        return "10s";
    case IM_STORE_TIER_1M:
        return "1m";
    default:
        return "1h";
    }
}

im_store_tier_t im_history_pick_tier(int64_t range_seconds, int raw_hours)
{
    if (range_seconds <= (int64_t)raw_hours * 3600) {
        return IM_STORE_TIER_10S;
    }
    if (range_seconds <= (int64_t)IM_HISTORY_MINUTE_TIER_DAYS * 86400) {
        return IM_STORE_TIER_1M;
    }
    return IM_STORE_TIER_1H;
}

im_store_tier_t im_history_pick_query_tier(int64_t range_seconds, int raw_hours, size_t max_points)
{
    im_store_tier_t tier = im_history_pick_tier(range_seconds, raw_hours);
    int64_t buckets = max_points > 0 ? (int64_t)max_points : 1;
    int64_t width = (range_seconds + buckets - 1) / buckets;

    if (tier == IM_STORE_TIER_10S && width >= 60 &&
        range_seconds <= (int64_t)IM_HISTORY_MINUTE_TIER_DAYS * 86400) {
        return IM_STORE_TIER_1M;
    }
    return tier;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Returns the number of width-second buckets aligned to multiples of width that
 * [since, until) touches. */
static int64_t bucket_count(int64_t since, int64_t until, int64_t width)
{
    return floor_div(until - 1, width) - floor_div(since, width) + 1;
}

static void merge_gauge(im_store_gauge_t *into, const im_store_gauge_t *from, int64_t into_samples,
                        int64_t from_samples)
{
    if (from->min < into->min) {
        into->min = from->min;
    }
    if (from->max > into->max) {
        into->max = from->max;
    }
    into->avg = (into->avg * (double)into_samples + from->avg * (double)from_samples) /
                (double)(into_samples + from_samples);
}

/* Adds point p to bucket b, which already contains at least one point. Points arrive in time
 * order, so the latest one sets the counters. */
static void merge_point(im_store_history_point_t *b, const im_store_history_point_t *p)
{
    merge_gauge(&b->cpu, &p->cpu, b->samples, p->samples);
    merge_gauge(&b->memory, &p->memory, b->samples, p->samples);
    merge_gauge(&b->network_rx_rate, &p->network_rx_rate, b->samples, p->samples);
    merge_gauge(&b->network_tx_rate, &p->network_tx_rate, b->samples, p->samples);
    merge_gauge(&b->block_read_rate, &p->block_read_rate, b->samples, p->samples);
    merge_gauge(&b->block_write_rate, &p->block_write_rate, b->samples, p->samples);
    merge_gauge(&b->pids, &p->pids, b->samples, p->samples);
    b->samples += p->samples;
    b->memory_limit = p->memory_limit;
    b->network_rx = p->network_rx;
    b->network_tx = p->network_tx;
    b->block_read = p->block_read;
    b->block_write = p->block_write;
}

size_t im_history_downsample(const im_store_history_point_t *points, size_t count, int64_t since,
                             int64_t until, int64_t resolution, size_t max_points,
                             im_store_history_point_t **out, int64_t *width_out)
{
    int64_t range = until > since ? until - since : 1;
    int64_t width = resolution > 0 ? resolution : 1;

    if (max_points < 1) {
        max_points = 1;
    }
    /* Start from the width that max_points gives, rounded up to the resolution, then widen
     * until the aligned buckets fit, since alignment can add one bucket at each end. */
    int64_t wanted = (range + (int64_t)max_points - 1) / (int64_t)max_points;
    if (wanted > width) {
        width = (wanted + width - 1) / width * width;
    }
    while (bucket_count(since, until, width) > (int64_t)max_points) {
        width += resolution > 0 ? resolution : 1;
    }
    if (width_out) {
        *width_out = width;
    }

    *out = NULL;
    if (count == 0) {
        return 0;
    }
    im_store_history_point_t *buckets = im_malloc(count * sizeof(*buckets));
    size_t n = 0;
    int64_t current = 0;
    for (size_t i = 0; i < count; i++) {
        const im_store_history_point_t *p = &points[i];
        if (p->time < since || p->time >= until || p->samples < 1) {
            continue;
        }
        int64_t start = floor_div(p->time, width) * width;
        if (n > 0 && start == current) {
            merge_point(&buckets[n - 1], p);
            continue;
        }
        current = start;
        buckets[n] = *p;
        buckets[n].time = start;
        n++;
    }
    if (n == 0) {
        free(buckets);
        return 0;
    }
    *out = buckets;
    return n;
}

static im_store_gauge_t single(double value)
{
    im_store_gauge_t gauge = {value, value, value};
    return gauge;
}

static double counter_rate(uint64_t before, uint64_t after, int64_t dt_ms)
{
    if (dt_ms <= 0 || after < before) {
        return 0.0;
    }
    return (double)(after - before) * 1000.0 / (double)dt_ms;
}

size_t im_history_from_memory(const im_sampler_point_t *points, size_t count,
                              im_store_history_point_t **out)
{
    *out = NULL;
    if (count == 0) {
        return 0;
    }
    im_store_history_point_t *converted = im_calloc(count, sizeof(*converted));
    for (size_t i = 0; i < count; i++) {
        const im_sampler_point_t *p = &points[i];
        im_store_history_point_t *h = &converted[i];
        double read_rate = 0.0;
        double write_rate = 0.0;
        if (i > 0) {
            int64_t dt_ms = p->time_ms - points[i - 1].time_ms;
            read_rate = counter_rate(points[i - 1].block_read, p->block_read, dt_ms);
            write_rate = counter_rate(points[i - 1].block_write, p->block_write, dt_ms);
        }
        h->time = p->time_ms / 1000;
        h->samples = 1;
        h->cpu = single(p->cpu_percent);
        h->memory = single((double)p->memory_used);
        h->network_rx_rate = single(p->network_rx_rate);
        h->network_tx_rate = single(p->network_tx_rate);
        h->block_read_rate = single(read_rate);
        h->block_write_rate = single(write_rate);
        h->pids = single(p->pids);
        h->memory_limit = p->memory_limit;
        h->network_rx = p->network_rx;
        h->network_tx = p->network_tx;
        h->block_read = p->block_read;
        h->block_write = p->block_write;
    }
    *out = converted;
    return count;
}
