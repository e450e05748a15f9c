/* SPDX-License-Identifier: MIT */
#include "vmm/config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

void config_init_defaults(struct vm_config *c)
{
	uint8_t rnd[4] = {0};

	memset(c, 0, sizeof(*c));
	c->ncpus = CONFIG_DEFAULT_CPUS;
	c->mem_size = CONFIG_DEFAULT_MEMORY;
	c->cmdline = CONFIG_DEFAULT_CMDLINE;
	c->serial = CONSOLE_STDIO;
	c->shutdown_timeout_s = CONFIG_DEFAULT_SHUTDOWN_TIMEOUT;
	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
		uint32_t v = (uint32_t)time(NULL) ^ ((uint32_t)getpid() << 16);
		memcpy(rnd, &v, sizeof(rnd));
	}
	snprintf(c->id, sizeof(c->id), "vm-%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
}

int config_valid_id(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > CONFIG_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)id[i]) && id[i] != '-' && id[i] != '_')
			return 0;
	return 1;
}
