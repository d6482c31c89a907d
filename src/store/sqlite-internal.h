#ifndef IM_STORE_SQLITE_INTERNAL_H
#define IM_STORE_SQLITE_INTERNAL_H

/* What sqlite.c shares with the other files of the SQLite backend (sqlite_history.c): the
 * connection pool and the error mapping. Not for use outside src/store. */

#include <sqlite3.h>

#include "store/store.h"

/* Statements that the other backend files may cache on each connection. */
#define IM__SQLITE_EXTRA_STMT_MAX 32

/* A pooled connection, used by one thread at a time. */
typedef struct im__sqlite_conn im__sqlite_conn_t;

/* Borrows a connection for reading; waits while every connection is in use. */
im__sqlite_conn_t *im__sqlite_reader_acquire(im_store_t *store);
void im__sqlite_reader_release(im_store_t *store, im__sqlite_conn_t *conn);

/* Takes the store's write lock, then a connection, so that writers queue in the process
 * rather than in SQLite's busy handler. */
im__sqlite_conn_t *im__sqlite_writer_acquire(im_store_t *store);
void im__sqlite_writer_release(im_store_t *store, im__sqlite_conn_t *conn);

sqlite3 *im__sqlite_conn_db(im__sqlite_conn_t *conn);

/* Returns in *out the connection's cached statement number index
 * (< IM__SQLITE_EXTRA_STMT_MAX), preparing sql on first use. Every caller must pass the
 * same sql for the same index. The statement is finalized when the store closes. */
int im__sqlite_extra_stmt(im__sqlite_conn_t *conn, int index, const char *sql, sqlite3_stmt **out);

/* Begin, commit and roll back on a pooled connection, with the error mapping of
 * im__sqlite_fail. im__sqlite_tx_abort rolls back only when a transaction is open. */
int im__sqlite_begin(im__sqlite_conn_t *conn, bool immediate, const char *op);
int im__sqlite_commit(im__sqlite_conn_t *conn, const char *op);
void im__sqlite_tx_abort(im__sqlite_conn_t *conn, const char *op);

/* Resets a cached statement and clears its bindings, because text is bound with
 * SQLITE_STATIC. Does nothing for NULL. */
void im__sqlite_stmt_done(sqlite3_stmt *stmt);

/* Logs a failed SQLite call under op and maps its result code to an IM_E* code. */
int im__sqlite_fail(im__sqlite_conn_t *conn, int rc, const char *op);

/* History operations (sqlite_history.c) for the ops table. */
int im__sqlite_history_write(im_store_t *store, const im_store_history_record_t *records,
                             size_t count);
int im__sqlite_history_rollup(im_store_t *store, int64_t until);
int im__sqlite_history_query(im_store_t *store, const im_store_history_query_t *query,
                             im_store_history_points_t *out);
int im__sqlite_history_series_find(im_store_t *store, const char *ref,
                                   im_store_history_series_t *out);
int im__sqlite_history_prune(im_store_t *store, const im_store_history_cutoffs_t *cutoffs,
                             im_store_history_pruned_t *out);
int im__sqlite_history_size(im_store_t *store, im_store_tier_t tier, int64_t *bytes, int64_t *rows);

#endif
