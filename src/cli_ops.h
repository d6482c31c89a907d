#ifndef IM_CLI_OPS_H
#define IM_CLI_OPS_H

#include <stdio.h>

#include "core/config.h"

/* Runs `inframon rotate-secret`: prints a new random SECRET_KEY and the rotation steps to
 * out. config may be NULL when the configuration could not be loaded. The current keys are
 * never printed. Returns the process exit code (0). */
int im_cli_rotate_secret(const im_config_t *config, FILE *out);

/* Runs `inframon healthcheck`: sends GET /health to the server on this machine (the HOST
 * and PORT of config, with a wildcard HOST replaced by loopback) with a 5 s timeout and no
 * proxy. Returns 0 when the server returns 200 and 1 otherwise, for container HEALTHCHECKs. */
int im_cli_healthcheck(const im_config_t *config);

#endif
