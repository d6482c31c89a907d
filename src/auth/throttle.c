#include "auth/throttle.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define WAYS 4

typedef struct {
    char key[IM_THROTTLE_KEY_MAX + 1]; /* "" marks an empty entry */
    int failures;
    int64_t last_failure;
    int64_t blocked_until;
} entry_t;

struct im_throttle {
    im_throttle_rule_t rule;
    pthread_mutex_t lock;
    uint64_t seed;
    size_t sets;
    entry_t *entries; /* sets * WAYS */
};

im_throttle_t *im_throttle_new(const im_throttle_rule_t *rule, size_t capacity)
{
    im_throttle_t *throttle = im_calloc(1, sizeof(*throttle));
    throttle->rule = *rule;
    throttle->sets = capacity / WAYS ? capacity / WAYS : 1;
    throttle->entries = im_calloc(throttle->sets * WAYS, sizeof(entry_t));
    im_random_bytes(&throttle->seed, sizeof(throttle->seed));
    pthread_mutex_init(&throttle->lock, NULL);
    return throttle;
}

void im_throttle_free(im_throttle_t *throttle)
{
    if (!throttle) {
        return;
    }
    pthread_mutex_destroy(&throttle->lock);
    free(throttle->entries);
    free(throttle);
}

/* FNV-1a over the seed and the key, finished with a 64-bit mix. Not a cryptographic hash:
 * the random seed only keeps clients from predicting which set a key lands in. */
static uint64_t hash_key(uint64_t seed, const char *key)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static entry_t *set_of(im_throttle_t *throttle, const char *key)
{
    return &throttle->entries[(hash_key(throttle->seed, key) % throttle->sets) * WAYS];
}

/* Returns the live entry of key, or NULL. An entry past forget_seconds is emptied. */
static entry_t *find(im_throttle_t *throttle, const char *key, int64_t now)
{
    char cut[IM_THROTTLE_KEY_MAX + 1];
    im_strlcpy(cut, key, sizeof(cut));
    entry_t *set = set_of(throttle, cut);
    for (int i = 0; i < WAYS; i++) {
        if (set[i].key[0] && strcmp(set[i].key, cut) == 0) {
            if (now - set[i].last_failure >= throttle->rule.forget_seconds &&
                set[i].blocked_until <= now) {
                memset(&set[i], 0, sizeof(set[i]));
                return NULL;
            }
            return &set[i];
        }
    }
    return NULL;
}

static entry_t *insert(im_throttle_t *throttle, const char *key, int64_t now)
{
    entry_t *set = set_of(throttle, key);
    entry_t *victim = NULL;
    for (int i = 0; i < WAYS && !victim; i++) {
        if (!set[i].key[0]) {
            victim = &set[i];
        }
    }
    for (int i = 0; i < WAYS && !victim; i++) {
        if (set[i].blocked_until <= now) {
            victim = victim && victim->last_failure <= set[i].last_failure ? victim : &set[i];
        }
    }
    if (!victim) {
        victim = &set[0];
        for (int i = 1; i < WAYS; i++) {
            if (set[i].last_failure < victim->last_failure) {
                victim = &set[i];
            }
        }
    }
    memset(victim, 0, sizeof(*victim));
    im_strlcpy(victim->key, key, sizeof(victim->key));
    return victim;
}

int im_throttle_delay_for(const im_throttle_rule_t *rule, int failures)
{
    int over = failures - rule->free_failures;
    if (over <= 0) {
        return 0;
    }
    int64_t delay = rule->base_delay_seconds;
    for (int i = 1; i < over && delay < rule->max_delay_seconds; i++) {
        delay *= 2;
    }
    return delay > rule->max_delay_seconds ? rule->max_delay_seconds : (int)delay;
}

int im_throttle_wait(im_throttle_t *throttle, const char *key, int64_t now)
{
    pthread_mutex_lock(&throttle->lock);
    entry_t *entry = find(throttle, key, now);
    int wait = entry && entry->blocked_until > now ? (int)(entry->blocked_until - now) : 0;
    pthread_mutex_unlock(&throttle->lock);
    return wait;
}

int im_throttle_fail(im_throttle_t *throttle, const char *key, int64_t now, bool *started_blocking)
{
    char cut[IM_THROTTLE_KEY_MAX + 1];
    im_strlcpy(cut, key, sizeof(cut));
    pthread_mutex_lock(&throttle->lock);
    entry_t *entry = find(throttle, cut, now);
    if (!entry) {
        entry = insert(throttle, cut, now);
    }
    if (entry->failures < 1000000) {
        entry->failures++;
    }
    entry->last_failure = now;
    int delay = im_throttle_delay_for(&throttle->rule, entry->failures);
    if (delay > 0 && now + delay > entry->blocked_until) {
        entry->blocked_until = now + delay;
    }
    int failures = entry->failures;
    pthread_mutex_unlock(&throttle->lock);
    if (started_blocking) {
        *started_blocking = failures == throttle->rule.free_failures + 1;
    }
    return failures;
}

int im_throttle_count(im_throttle_t *throttle, const char *key, int64_t now)
{
    pthread_mutex_lock(&throttle->lock);
    entry_t *entry = find(throttle, key, now);
    int failures = entry ? entry->failures : 0;
    pthread_mutex_unlock(&throttle->lock);
    return failures;
}

void im_throttle_reset(im_throttle_t *throttle, const char *key)
{
    pthread_mutex_lock(&throttle->lock);
    entry_t *entry = find(throttle, key, INT64_MIN / 2);
    if (entry) {
        memset(entry, 0, sizeof(*entry));
    }
    pthread_mutex_unlock(&throttle->lock);
}

void im_gate_init(im_gate_t *gate, int limit)
{
    atomic_init(&gate->holders, 0);
    gate->limit = limit > 0 ? limit : 1;
}

bool im_gate_enter(im_gate_t *gate)
{
    int holders = atomic_load(&gate->holders);
    while (holders < gate->limit) {
        if (atomic_compare_exchange_weak(&gate->holders, &holders, holders + 1)) {
            return true;
        }
    }
    return false;
}

void im_gate_leave(im_gate_t *gate)
{
    atomic_fetch_sub(&gate->holders, 1);
}
