#include "http/ratelimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define SHARDS       16
#define PROBE_LENGTH 8

typedef struct {
    unsigned char addr[16];
    bool used;
    int64_t window_start_ms; /* start of the current fixed window */
    int64_t last_seen_ms;
    uint32_t current;  /* requests in the current window */
    uint32_t previous; /* requests in the window before it */
} slot_t;

typedef struct {
    pthread_mutex_t lock;
    slot_t *slots;
    size_t used;
} shard_t;

struct im_ratelimit {
    int max_requests;
    int64_t window_ms;
    size_t slots_per_shard; /* a power of two */
    uint64_t hash_basis;
    shard_t shards[SHARDS];
};

/* FNV-1a with a random basis per limiter, so that an attacker cannot aim at one shard. */
static uint64_t hash_addr(const im_ratelimit_t *rl, const unsigned char addr[16])
{
    uint64_t h = rl->hash_basis;
    for (int i = 0; i < 16; i++) {
        h ^= addr[i];
        h *= 1099511628211ULL;
    }
    return h;
}

im_ratelimit_t *im_ratelimit_new(int max_requests, int window_seconds, size_t capacity)
{
    im_ratelimit_t *rl = im_calloc(1, sizeof(*rl));
    rl->max_requests = max_requests;
    rl->window_ms = (int64_t)window_seconds * 1000;
    im_random_bytes(&rl->hash_basis, sizeof(rl->hash_basis));
    size_t per_shard = 16;
    while (per_shard * SHARDS < capacity) {
        per_shard *= 2;
    }
    rl->slots_per_shard = per_shard;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_init(&rl->shards[i].lock, NULL);
        rl->shards[i].slots = im_calloc(per_shard, sizeof(slot_t));
    }
    return rl;
}

void im_ratelimit_free(im_ratelimit_t *rl)
{
    if (!rl) {
        return;
    }
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_destroy(&rl->shards[i].lock);
        free(rl->shards[i].slots);
    }
    free(rl);
}

/* Finds the client's slot among PROBE_LENGTH candidates, or takes a free or stale one, or
 * evicts the least recently seen. */
static slot_t *find_slot(im_ratelimit_t *rl, shard_t *shard, uint64_t hash,
                         const unsigned char addr[16], int64_t now_ms)
{
    size_t mask = rl->slots_per_shard - 1;
    slot_t *victim = NULL;
    for (size_t i = 0; i < PROBE_LENGTH; i++) {
        slot_t *s = &shard->slots[(hash + i) & mask];
        if (s->used && memcmp(s->addr, addr, 16) == 0) {
            return s;
        }
        bool stale = s->used && now_ms - s->last_seen_ms >= 2 * rl->window_ms;
        if (!s->used || stale) {
            if (!victim || victim->used) {
                victim = s;
            }
        } else if (!victim || (victim->used && s->last_seen_ms < victim->last_seen_ms)) {
            victim = s;
        }
    }
    if (!victim->used) {
        shard->used++;
    }
    memset(victim, 0, sizeof(*victim));
    memcpy(victim->addr, addr, 16);
    victim->used = true;
    victim->window_start_ms = now_ms - now_ms % rl->window_ms;
    return victim;
}

void im_ratelimit_hit(im_ratelimit_t *rl, const unsigned char addr[16], int64_t now_ms,
                      im_ratelimit_result_t *result)
{
    uint64_t hash = hash_addr(rl, addr);
    shard_t *shard = &rl->shards[hash % SHARDS];
    pthread_mutex_lock(&shard->lock);
    slot_t *s = find_slot(rl, shard, hash / SHARDS, addr, now_ms);

    /* Roll the fixed windows forward to the one that contains now. */
    int64_t window_start = now_ms - now_ms % rl->window_ms;
    if (window_start != s->window_start_ms) {
        s->previous = window_start - s->window_start_ms == rl->window_ms ? s->current : 0;
        s->current = 0;
        s->window_start_ms = window_start;
    }
    s->last_seen_ms = now_ms;

    /* The sliding count weighs the previous window by how much of it still overlaps the
     * last window_ms. */
    int64_t elapsed = now_ms - window_start;
    double weight = (double)(rl->window_ms - elapsed) / (double)rl->window_ms;
    double estimate = s->previous * weight + s->current;
    result->limit = rl->max_requests;
    result->reset_seconds = (int)((rl->window_ms - elapsed + 999) / 1000);
    if (estimate + 1 > rl->max_requests) {
        result->allowed = false;
        result->remaining = 0;
        /* One more request fits once the previous window's weight has dropped enough, or
         * at the latest when the current window ends. */
        int64_t wait_ms = rl->window_ms - elapsed;
        if (s->previous > 0 && s->current + 1 <= (uint32_t)rl->max_requests) {
            double needed = (rl->max_requests - 1 - (double)s->current) / s->previous;
            int64_t until = (int64_t)((1.0 - needed) * (double)rl->window_ms) - elapsed;
            if (until > 0 && until < wait_ms) {
                wait_ms = until;
            }
        }
        result->retry_after_seconds = (int)((wait_ms + 999) / 1000);
        if (result->retry_after_seconds < 1) {
            result->retry_after_seconds = 1;
        }
    } else {
        s->current++;
        result->allowed = true;
        double left = rl->max_requests - (estimate + 1);
        result->remaining = left > 0 ? (int)left : 0;
        result->retry_after_seconds = 0;
    }
    pthread_mutex_unlock(&shard->lock);
}

size_t im_ratelimit_size(im_ratelimit_t *rl)
{
    size_t total = 0;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_lock(&rl->shards[i].lock);
        total += rl->shards[i].used;
        pthread_mutex_unlock(&rl->shards[i].lock);
    }
    return total;
}
