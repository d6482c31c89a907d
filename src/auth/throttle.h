#ifndef IM_AUTH_THROTTLE_H
#define IM_AUTH_THROTTLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Failure counters with growing delays, keyed by short strings (a username, a client IP).
 *
 * A key may fail free_failures times without delay. The failure after those blocks the
 * key for base_delay_seconds, and each further failure doubles the delay up to
 * max_delay_seconds. A key with no failure for forget_seconds starts again from zero.
 * Memory is fixed at creation: the table is set-associative with 4 entries per set, and
 * a new key replaces an empty entry, else the least recently failed entry that is not
 * blocked, else the least recently failed one. Keys are hashed with a random per-table
 * seed so that a client cannot choose keys that collide with a given one.
 * All functions are thread-safe. */
typedef struct im_throttle im_throttle_t;

typedef struct {
    int free_failures;
    int base_delay_seconds;
    int max_delay_seconds;
    int forget_seconds;
} im_throttle_rule_t;

/* Maximum key length in bytes; longer keys are cut to it. */
#define IM_THROTTLE_KEY_MAX 127

im_throttle_t *im_throttle_new(const im_throttle_rule_t *rule, size_t capacity);
void im_throttle_free(im_throttle_t *throttle);

/* Returns the seconds until key may try again, 0 when it may try now. */
int im_throttle_wait(im_throttle_t *throttle, const char *key, int64_t now);

/* Records a failure of key at now and returns its failure count. *started_blocking (may be
 * NULL) is set when this failure is the first one that blocks the key, so a caller can
 * raise one event per episode rather than one per request. */
int im_throttle_fail(im_throttle_t *throttle, const char *key, int64_t now, bool *started_blocking);

/* Returns the failure count of key, 0 when it has none or they are forgotten. */
int im_throttle_count(im_throttle_t *throttle, const char *key, int64_t now);

/* Forgets key's failures. */
void im_throttle_reset(im_throttle_t *throttle, const char *key);

/* Returns the delay that the n-th failure (1-based) sets under rule, 0 for none. */
int im_throttle_delay_for(const im_throttle_rule_t *rule, int failures);

/* A counting gate that admits at most limit holders at once and never makes anyone
 * wait: a caller that finds it full is turned away. */
typedef struct {
    atomic_int holders;
    int limit;
} im_gate_t;

void im_gate_init(im_gate_t *gate, int limit);
/* Takes a place and returns true, or returns false when limit places are taken. */
bool im_gate_enter(im_gate_t *gate);
void im_gate_leave(im_gate_t *gate);

#endif
