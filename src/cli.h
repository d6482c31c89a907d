#ifndef IM_CLI_H
#define IM_CLI_H

#include "store/store.h"

/* Runs `inframon user SUBCOMMAND ...` against the store; returns the process exit code. */
int im_cli_user(im_store_t *store, int argc, char **argv);

#endif
