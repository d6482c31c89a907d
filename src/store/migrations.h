#ifndef IM_STORE_MIGRATIONS_H
#define IM_STORE_MIGRATIONS_H

/* One schema migration compiled into the binary, from src/store/migrations/NNNN_name.sql. */
typedef struct {
    int version;
    const char *name;
    const char *sql;
} im_migration_t;

/* Migrations in ascending version order, generated at build time. */
extern const im_migration_t im_migrations[];
extern const int im_migrations_count;

#endif
