/* SPDX-License-Identifier: MIT */
/*
 * The metrics: one JSON object per line appended to the metrics file, with
 * every counter hearth keeps (the API server, each vCPU's exits by reason,
 * every device), written on FlushMetrics, every API_METRICS_PERIOD_MS (or
 * HEARTH_METRICS_PERIOD_MS) from a timer on the VM's event loop, and once
 * more when the VM stops. Counters are cumulative since the process began.
 *
 * Sections: "block" and "net" sum their devices; "block_<drive_id>" and
 * "net_<iface_id>" are the devices one by one, as Firecracker names them;
 * "vcpu" sums the vCPUs and "vcpu_<index>" is one vCPU.
 */
#include "api/api_priv.h"
#include "core/event_loop.h"
#include "core/log.h"
#include "core/util.h"
#include "vmm/vm.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static void jset_u64(json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static uint64_t load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/*
 * Add the counters of s to those of t: a stats structure made only of
 * uint64_t counters, n bytes long.
 */
static void sum_counters(void *t, const void *s, size_t n)
{
	uint64_t *to = t;
	const uint64_t *from = s;

	for (size_t i = 0; i < n / sizeof(uint64_t); i++)
		to[i] += from[i];
}

_Static_assert(sizeof(struct virtio_blk_stats) % sizeof(uint64_t) == 0, "counters only");
_Static_assert(sizeof(struct virtio_net_stats) % sizeof(uint64_t) == 0, "counters only");

static json_object *blk_json(const struct virtio_blk_stats *s, uint64_t guest_errors)
{
	json_object *o = json_object_new_object();

	jset_u64(o, "read_count", s->reads);
	jset_u64(o, "write_count", s->writes);
	jset_u64(o, "flush_count", s->flushes);
	jset_u64(o, "discard_count", s->discards);
	jset_u64(o, "write_zeroes_count", s->write_zeroes);
	jset_u64(o, "get_id_count", s->get_ids);
	jset_u64(o, "read_bytes", s->bytes_read);
	jset_u64(o, "write_bytes", s->bytes_written);
	jset_u64(o, "io_errors", s->io_errors);
	jset_u64(o, "invalid_reqs_count", s->bad_requests);
	jset_u64(o, "unsupported_count", s->unsupported);
	jset_u64(o, "dropped_count", s->dropped);
	jset_u64(o, "guest_errors", guest_errors);
	jset_u64(o, "rate_limiter_throttled_events", s->throttled);
	jset_u64(o, "rate_limiter_throttled_time_us", s->throttled_ns / 1000);
	return o;
}

static json_object *net_json(const struct virtio_net_stats *s, uint64_t guest_errors)
{
	json_object *o = json_object_new_object();

	jset_u64(o, "rx_packets_count", s->rx_packets);
	jset_u64(o, "rx_bytes_count", s->rx_bytes);
	jset_u64(o, "rx_dropped", s->rx_dropped);
	jset_u64(o, "rx_fails", s->rx_errors);
	jset_u64(o, "rx_rate_limiter_throttled", s->rx_throttled);
	jset_u64(o, "tx_packets_count", s->tx_packets);
	jset_u64(o, "tx_bytes_count", s->tx_bytes);
	jset_u64(o, "tx_dropped", s->tx_dropped);
	jset_u64(o, "tx_fails", s->tx_errors);
	jset_u64(o, "tx_rate_limiter_throttled", s->tx_throttled);
	jset_u64(o, "ctrl_count", s->ctrl_commands);
	jset_u64(o, "ctrl_fails", s->ctrl_errors);
	jset_u64(o, "guest_errors", guest_errors);
	return o;
}

static void exits_sum(struct vcpu_exit_counts *t, const struct vcpu_exit_counts *c)
{
	t->io_in += load(&c->io_in);
	t->io_out += load(&c->io_out);
	t->mmio_read += load(&c->mmio_read);
	t->mmio_write += load(&c->mmio_write);
	t->hlt += load(&c->hlt);
	t->intr += load(&c->intr);
	t->shutdown += load(&c->shutdown);
	t->system_event += load(&c->system_event);
	t->dirty_ring_full += load(&c->dirty_ring_full);
	t->internal_error += load(&c->internal_error);
	t->fail_entry += load(&c->fail_entry);
	t->other += load(&c->other);
	t->guest_errors += load(&c->guest_errors);
}

static json_object *exits_json(const struct vcpu_exit_counts *c, uint64_t total)
{
	json_object *o = json_object_new_object();

	jset_u64(o, "exits_to_vmm", total);
	jset_u64(o, "exit_io_in", c->io_in);
	jset_u64(o, "exit_io_out", c->io_out);
	jset_u64(o, "exit_mmio_read", c->mmio_read);
	jset_u64(o, "exit_mmio_write", c->mmio_write);
	jset_u64(o, "exit_hlt", c->hlt);
	jset_u64(o, "exit_intr", c->intr);
	jset_u64(o, "exit_shutdown", c->shutdown);
	jset_u64(o, "exit_system_event", c->system_event);
	jset_u64(o, "exit_dirty_ring_full", c->dirty_ring_full);
	jset_u64(o, "exit_internal_error", c->internal_error);
	jset_u64(o, "exit_fail_entry", c->fail_entry);
	jset_u64(o, "exit_other", c->other);
	jset_u64(o, "guest_errors", c->guest_errors);
	jset_u64(o, "failures", c->shutdown + c->internal_error + c->fail_entry + c->other);
	return o;
}

static void add_vcpus(json_object *m, struct vm *vm)
{
	struct vcpu_exit_counts total = {0};
	uint64_t exits = 0;
	char name[32];

	for (unsigned i = 0; vm->vcpus && i < vm->cfg.ncpus; i++) {
		struct vcpu_exit_counts one = {0};
		uint64_t n = load(&vm->vcpus[i].exits);

		exits_sum(&one, &vm->vcpus[i].exit_counts);
		exits_sum(&total, &one);
		exits += n;
		snprintf(name, sizeof(name), "vcpu_%u", i);
		json_object_object_add(m, name, exits_json(&one, n));
	}
	json_object_object_add(m, "vcpu", exits_json(&total, exits));
}

static void add_disks(json_object *m, struct vm *vm)
{
	struct virtio_blk_stats total = {0};
	uint64_t total_errors = 0;
	char name[CONFIG_ID_MAX + 32];

	for (unsigned i = 0; i < vm->virtio.nr_blk; i++) {
		struct virtio_blk *b = vm->virtio.blk[i];
		struct virtio_blk_stats s;
		uint64_t ge;

		if (!b)
			continue;
		virtio_blk_get_stats(b, &s);
		ge = load(&b->vdev.errors);
		if (vm->cfg.disks[i].id[0])
			snprintf(name, sizeof(name), "block_%s", vm->cfg.disks[i].id);
		else
			snprintf(name, sizeof(name), "block_drive%u", i);
		json_object_object_add(m, name, blk_json(&s, ge));
		sum_counters(&total, &s, sizeof(s));
		total_errors += ge;
	}
	json_object_object_add(m, "block", blk_json(&total, total_errors));
}

static void add_nics(json_object *m, struct api *api, struct vm *vm)
{
	struct virtio_net_stats total = {0};
	uint64_t total_errors = 0;
	char name[CONFIG_ID_MAX + 32];

	for (unsigned i = 0; i < vm->virtio.nr_net; i++) {
		struct virtio_net *n = vm->virtio.net[i];
		struct virtio_net_stats s;
		uint64_t ge;

		if (!n)
			continue;
		virtio_net_get_stats(n, &s);
		ge = load(&n->vdev.errors);
		if (api->nic_id[i][0])
			snprintf(name, sizeof(name), "net_%s", api->nic_id[i]);
		else
			snprintf(name, sizeof(name), "net_eth%u", i);
		json_object_object_add(m, name, net_json(&s, ge));
		sum_counters(&total, &s, sizeof(s));
		total_errors += ge;
	}
	json_object_object_add(m, "net", net_json(&total, total_errors));
}

static void add_small_devices(json_object *m, struct vm *vm)
{
	struct ns16550_stats us;
	struct i8042_stats ks;
	json_object *o;

	if (vm->virtio.rng) {
		struct virtio_rng *r = vm->virtio.rng;

		o = json_object_new_object();
		jset_u64(o, "entropy_bytes", load(&r->bytes_served));
		jset_u64(o, "entropy_event_count", load(&r->requests));
		jset_u64(o, "entropy_rate_limiter_throttled", load(&r->throttled));
		jset_u64(o, "host_rng_fails", load(&r->short_fills));
		jset_u64(o, "guest_errors", load(&r->dev.errors));
		json_object_object_add(m, "entropy", o);
	}
	if (vm->virtio.console) {
		struct virtio_console *c = vm->virtio.console;

		o = json_object_new_object();
		jset_u64(o, "rx_bytes_count", load(&c->rx_bytes));
		jset_u64(o, "tx_bytes_count", load(&c->tx_bytes));
		jset_u64(o, "guest_errors", load(&c->dev.errors));
		json_object_object_add(m, "virtio_console", o);
	}
	ns16550_get_stats(&vm->uart, &us);
	o = json_object_new_object();
	jset_u64(o, "write_count", us.tx_bytes);
	jset_u64(o, "read_count", us.rx_bytes);
	jset_u64(o, "input_bytes_count", us.in_bytes);
	jset_u64(o, "input_refused_count", us.refused);
	jset_u64(o, "dropped_count", us.overruns);
	jset_u64(o, "output_dropped_bytes", console_dropped_bytes(vm->console));
	json_object_object_add(m, "uart", o);
	i8042_get_stats(&vm->i8042, &ks);
	o = json_object_new_object();
	jset_u64(o, "read_count", ks.data_reads);
	jset_u64(o, "write_count", ks.data_writes);
	jset_u64(o, "status_read_count", ks.cmd_reads);
	jset_u64(o, "command_count", ks.cmd_writes);
	jset_u64(o, "reset_count", ks.resets);
	jset_u64(o, "keys_injected_count", ks.keys_injected);
	json_object_object_add(m, "i8042", o);
}

/* Every counter hearth keeps, as one object. */
static json_object *api_metrics(struct api *api)
{
	json_object *m = json_object_new_object(), *o;
	struct timespec ts;
	struct vm *vm = api->vm;

	clock_gettime(CLOCK_REALTIME, &ts);
	jset_u64(m, "utc_timestamp_ms",
		 (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
	if (api->metrics_emit_id)
		json_object_object_add(m, "id", json_object_new_string(api->cfg.id));
	if (api->metrics_props)
		json_object_object_add(m, "properties", json_object_get(api->metrics_props));
	o = json_object_new_object();
	jset_u64(o, "requests", api->requests);
	jset_u64(o, "errors", api->errors);
	json_object_object_add(m, "api_server", o);
	jset_u64(m, "guest_errors", log_guest_error_count());
	if (!vm)
		return m;
	add_vcpus(m, vm);
	add_disks(m, vm);
	add_nics(m, api, vm);
	add_small_devices(m, vm);
	return m;
}

int api_write_metrics(struct api *api)
{
	json_object *m;
	const char *s;
	char *line;
	size_t len, off = 0;
	int r = 0;

	if (api->metrics_fd < 0)
		return -ENOENT;
	m = api_metrics(api);
	s = json_object_to_json_string_ext(m,
					   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	len = strlen(s);
	line = malloc(len + 2);
	if (!line) {
		json_object_put(m);
		return -ENOMEM;
	}
	memcpy(line, s, len);
	line[len++] = '\n';
	json_object_put(m);
	while (off < len) {
		ssize_t n = write(api->metrics_fd, line + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)n;
	}
	free(line);
	return r;
}

/* ---- the periodic write ------------------------------------------------------- */

/* The period: HEARTH_METRICS_PERIOD_MS when set to a number > 0, else the default. */
static uint64_t api_metrics_period_ms(void)
{
	const char *env = getenv("HEARTH_METRICS_PERIOD_MS");
	char *end;
	unsigned long long v;

	if (!env || !*env)
		return API_METRICS_PERIOD_MS;
	errno = 0;
	v = strtoull(env, &end, 10);
	if (errno || *end || v == 0 || v > 24ULL * 3600 * 1000) {
		log_warn("HEARTH_METRICS_PERIOD_MS=%s is not a period in ms: using %u", env,
			 API_METRICS_PERIOD_MS);
		return API_METRICS_PERIOD_MS;
	}
	return v;
}

static void api_on_metrics_timer(void *opaque, uint32_t events)
{
	struct api *api = opaque;
	uint64_t n;
	int r;

	(void)events;
	if (read(api->metrics_timer_fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return;
	pthread_mutex_lock(&api->lock);
	if (api->metrics_set && (r = api_write_metrics(api)))
		log_warn("metrics: cannot write them: %s", strerror(-r));
	pthread_mutex_unlock(&api->lock);
}

int api_metrics_timer_start(struct api *api, struct vm *vm)
{
	uint64_t ms = api_metrics_period_ms();
	struct itimerspec its = {
	    .it_interval = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000},
	    .it_value = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000},
	};
	int fd, r;

	if (api->metrics_timer_fd >= 0)
		return 0;
	fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (timerfd_settime(fd, 0, &its, NULL) < 0) {
		r = -errno;
		goto close_fd;
	}
	r = event_loop_add(&vm->loop, fd, EPOLLIN, api_on_metrics_timer, api);
	if (r)
		goto close_fd;
	api->metrics_timer_fd = fd;
	return 0;

close_fd:
	close(fd);
	return r;
}

void api_metrics_timer_stop(struct api *api, struct vm *vm)
{
	if (api->metrics_timer_fd < 0)
		return;
	if (vm)
		event_loop_remove(&vm->loop, api->metrics_timer_fd);
	close(api->metrics_timer_fd);
	api->metrics_timer_fd = -1;
}
