#ifndef IM_APP_H
#define IM_APP_H

#include "core/config.h"

struct im_store;
struct im_engine;
struct im_collector;
struct im_events;
struct im_auth;
struct im_terminal_tickets;
struct im_group_index;
struct im_history_writer;

/* Long-lived services shared by every request handler. Created in main.c, read-only after
 * start; each service is thread-safe on its own. */
typedef struct im_app {
    const im_config_t *config;
    struct im_store *store;
    struct im_engine *engine;
    struct im_collector *collector;
    struct im_events *events; /* the engine events feed */
    struct im_auth *auth;
    struct im_terminal_tickets *terminal_tickets; /* single-use shell tickets (api/exec.c) */
    struct im_group_index *group_index;           /* cached group membership (api/groups.c) */
    int64_t started_at;
    struct im_history_writer *history; /* writes the database tiers of the statistics history */
} im_app_t;

#endif
