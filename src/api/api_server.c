/* SPDX-License-Identifier: MIT */
/*
 * The control API's server: the UNIX socket, the HTTP server thread
 * (libmicrohttpd), request bodies, and handing ops to the VMM thread.
 */
#include "api/api_priv.h"
#include "core/event_loop.h"
#include "core/log.h"
#include "migration/migration.h"
#include "sandbox/seccomp.h"
#include "vmm/vm.h"

#include <errno.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Seconds an idle or slow connection is kept. */
#define API_CONN_TIMEOUT_S 30
/* Connections open at once. */
#define API_MAX_CONNS 32

/* One request being received. */
struct api_request {
	char *body;
	size_t len;
	bool too_large;
};

/* ---- the socket ----------------------------------------------------------- */

/* Whether an existing socket at path is stale: nobody accepts connections on it. */
static int socket_is_stale(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	if (fd < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	r = r == 0 ? 0 : errno == ECONNREFUSED ? 1 : -errno;
	close(fd);
	return r;
}

static int api_listen(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	mode_t old_mask;
	int fd, r;

	if (!*path || strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "--api-sock %s: the path must be 1-%zu bytes", path,
			 sizeof(sa.sun_path) - 1);
		return -EINVAL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "--api-sock %s: the file exists and is not a socket",
				 path);
			return -EEXIST;
		}
		r = socket_is_stale(&sa);
		if (r == 0) {
			snprintf(err, errlen,
				 "--api-sock %s: another process is listening on this socket",
				 path);
			return -EADDRINUSE;
		}
		if (r < 0 || unlink(path) < 0) {
			snprintf(err, errlen, "--api-sock %s: cannot replace the stale socket: %s",
				 path, strerror(r < 0 ? -r : errno));
			return r < 0 ? r : -errno;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "--api-sock: socket: %s", strerror(errno));
		return -errno;
	}
	old_mask = umask(0177); /* the socket is created 0600: owner only */
	r = bind(fd, (const struct sockaddr *)&sa, sizeof(sa));
	umask(old_mask);
	if (r < 0 || listen(fd, API_MAX_CONNS) < 0) {
		r = -errno;
		snprintf(err, errlen, "--api-sock %s: %s", path, strerror(errno));
		close(fd);
		return r;
	}
	return fd;
}

/* ---- HTTP ------------------------------------------------------------------ */

static enum MHD_Result api_reply(struct MHD_Connection *conn, int status, char *body)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(body ? strlen(body) : 0, body ? body : (void *)"",
					       MHD_RESPMEM_MUST_COPY);
	free(body);
	if (!resp)
		return MHD_NO;
	if (status != MHD_HTTP_NO_CONTENT)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	ret = MHD_queue_response(conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result api_access(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct api *api = cls;
	struct api_request *req = *con_cls;
	char *out = NULL;
	int status;

	(void)version;
	if (!req) {
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		*con_cls = req;
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (req->too_large || n > API_MAX_BODY - req->len) {
			/* Keep reading (and dropping) it, to answer once it is all in. */
			req->too_large = true;
			free(req->body);
			req->body = NULL;
			req->len = 0;
			return MHD_YES;
		}
		char *nb = realloc(req->body, req->len + n + 1);
		if (!nb)
			return MHD_NO;
		memcpy(nb + req->len, upload_data, n);
		req->body = nb;
		req->len += n;
		req->body[req->len] = '\0';
		return MHD_YES;
	}

	pthread_mutex_lock(&api->lock);
	api->requests++;
	if (req->too_large) {
		char msg[128];

		snprintf(msg, sizeof(msg),
			 "{\"fault_message\": \"The request body is larger than %d bytes\"}",
			 API_MAX_BODY);
		out = strdup(msg);
		status = MHD_HTTP_BAD_REQUEST;
	} else {
		status = api_route(api, method, url, req->body ? req->body : "", req->len, &out);
	}
	if (status >= 400)
		api->errors++;
	pthread_mutex_unlock(&api->lock);
	return api_reply(conn, status, out);
}

static void api_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			  enum MHD_RequestTerminationCode toe)
{
	struct api_request *req = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (req) {
		free(req->body);
		free(req);
		*con_cls = NULL;
	}
}

static void api_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[256];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_debug("api: %s", line);
}

/*
 * The server thread: it serves the listening socket with MHD_run() under
 * the API's seccomp filter (libmicrohttpd's own thread could not install
 * one), until api_stop() signals quit_fd.
 */
static void *api_thread(void *arg)
{
	struct api *api = arg;
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(api->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	int r = sandbox_seccomp_apply(SANDBOX_THREAD_API, "api");

	if (r) {
		log_error("api: cannot install the server thread's seccomp filter: %s",
			  strerror(-r));
		return NULL;
	}
	for (;;) {
		struct pollfd pfd[2] = {{.fd = info ? info->epoll_fd : -1, .events = POLLIN},
					{.fd = api->quit_fd, .events = POLLIN}};
		MHD_UNSIGNED_LONG_LONG ms;
		int timeout = -1;

		if (MHD_get_timeout(api->mhd, &ms) == MHD_YES)
			timeout = ms > 60000 ? 60000 : (int)ms;
		if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		MHD_run(api->mhd);
	}
	return NULL;
}

/* ---- handing ops to the VMM thread ----------------------------------------- */

void api_fault(struct api_op *op, int status, const char *fmt, ...)
{
	va_list ap;

	op->status = status;
	va_start(ap, fmt);
	vsnprintf(op->msg, sizeof(op->msg), fmt, ap);
	va_end(ap);
}

void api_submit(struct api *api, struct api_op *op)
{
	uint64_t one = 1;

	op->done = false;
	op->status = 204;
	if (api->state == API_STOPPED) {
		api_fault(op, 400, "The microVM has stopped");
		return;
	}
	api->op = op;
	if (write(api->efd, &one, sizeof(one)) != (ssize_t)sizeof(one)) {
		api->op = NULL;
		api_fault(op, 500, "cannot reach the VMM thread: %s", strerror(errno));
		return;
	}
	while (!op->done)
		pthread_cond_wait(&api->done, &api->lock);
	api->op = NULL;
}

/* On the VMM thread: run the op waiting in the slot, if any. */
static void api_serve_op(struct api *api)
{
	uint64_t cnt;
	ssize_t r = read(api->efd, &cnt, sizeof(cnt));

	(void)r;
	pthread_mutex_lock(&api->lock);
	if (api->op && !api->op->done) {
		api_run_op(api, api->op);
		api->op->done = true;
		pthread_cond_broadcast(&api->done);
	}
	pthread_mutex_unlock(&api->lock);
}

static void api_on_event(void *opaque, uint32_t events)
{
	(void)events;
	api_serve_op(opaque);
}

/* ---- life cycle ---------------------------------------------------------- */

/* Copy a string the configuration points at; *own keeps the copy. */
static int own_string(const char **field, char **own)
{
	if (!*field)
		return 0;
	*own = strdup(*field);
	if (!*own)
		return -ENOMEM;
	*field = *own;
	return 0;
}

static void api_free(struct api *api)
{
	if (api->efd >= 0)
		close(api->efd);
	if (api->quit_fd >= 0)
		close(api->quit_fd);
	for (unsigned i = 0; i < CONFIG_MAX_DISKS; i++)
		free(api->cfg.disks[i].path);
	free(api->kernel);
	free(api->initrd);
	free(api->boot_args);
	free(api->serial_path);
	mig_tls_creds_free(api->incoming_tls); /* a VM that never came */
	free(api->log_path);
	free(api->log_module);
	free(api->metrics_path);
	free(api->start_cmdline);
	if (api->log_fd >= 0) {
		log_set_output(-1);
		close(api->log_fd);
	}
	if (api->metrics_fd >= 0)
		close(api->metrics_fd);
	if (api->metrics_props)
		json_object_put(api->metrics_props);
	free(api->path);
	pthread_cond_destroy(&api->done);
	pthread_mutex_destroy(&api->lock);
	free(api);
}

struct api *api_start(const char *path, const struct vm_config *cfg, char *err, size_t errlen)
{
	struct api *api = calloc(1, sizeof(*api));
	sigset_t block, old;
	int r = 0;

	if (!api) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&api->lock, NULL);
	pthread_cond_init(&api->done, NULL);
	api->log_fd = api->metrics_fd = api->listen_fd = api->quit_fd = -1;
	api->incoming_fd = -1;
	api->metrics_timer_fd = -1;
	api->cfg = *cfg;
	api->boot_set = cfg->kernel_path != NULL;
	snprintf(api->log_level, sizeof(api->log_level), "Warning");
	for (unsigned i = 0; i < CONFIG_MAX_DISKS; i++)
		api->cfg.disks[i].path = NULL;
	for (unsigned i = 0; i < cfg->ndisks; i++) {
		api->cfg.disks[i].path = strdup(cfg->disks[i].path);
		r = r ?: api->cfg.disks[i].path ? 0 : -ENOMEM;
	}
	for (unsigned i = 0; i < cfg->nnics; i++)
		snprintf(api->nic_id[i], sizeof(api->nic_id[i]), "net%u", i);
	r = r ?: own_string(&api->cfg.kernel_path, &api->kernel);
	r = r ?: own_string(&api->cfg.initrd_path, &api->initrd);
	r = r ?: own_string(&api->cfg.cmdline, &api->boot_args);
	r = r ?: own_string(&api->cfg.serial_path, &api->serial_path);
	api->path = path ? strdup(path) : NULL;
	api->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r || (path && !api->path) || api->efd < 0) {
		snprintf(err, errlen, "cannot set up the API: %s",
			 strerror(api->efd < 0 ? errno : ENOMEM));
		goto free_api;
	}
	if (!path)
		return api;
	api->listen_fd = api_listen(path, err, errlen);
	if (api->listen_fd < 0)
		goto free_api;

	/* The API thread takes no signals: they belong to the VMM's signalfd. */
	sigfillset(&block);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	api->quit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (api->quit_fd >= 0)
		api->mhd = MHD_start_daemon(
		    MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, api_access, api,
		    MHD_OPTION_EXTERNAL_LOGGER, api_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET,
		    api->listen_fd, MHD_OPTION_NOTIFY_COMPLETED, api_completed, api,
		    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_CONN_TIMEOUT_S,
		    MHD_OPTION_CONNECTION_LIMIT, (unsigned)API_MAX_CONNS, MHD_OPTION_END);
	/* The thread's accept4() is limited to the listening socket. */
	if (api->mhd && !sandbox_seccomp_set_api_socket(api->listen_fd))
		api->thread_started = pthread_create(&api->thread, NULL, api_thread, api) == 0;
	if (api->thread_started)
		pthread_setname_np(api->thread, "api");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (api->mhd && !api->thread_started) {
		MHD_stop_daemon(api->mhd); /* closes the listening socket */
		api->mhd = NULL;
		api->listen_fd = -1;
	}
	if (!api->mhd) {
		snprintf(err, errlen, "--api-sock %s: cannot start the HTTP server", path);
		if (api->listen_fd >= 0)
			close(api->listen_fd);
		unlink(path);
		goto free_api;
	}
	return api;

free_api:
	api_free(api);
	return NULL;
}

struct vm *api_wait_start(struct api *api, int *status)
{
	sigset_t sigs, old;
	struct vm *vm = NULL;
	int sfd;

	*status = VM_EXIT_OK;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, &old);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		log_error("signalfd: %s", strerror(errno));
		*status = VM_EXIT_HOST_ERROR;
		goto restore;
	}
	while (!vm) {
		struct pollfd pfd[2] = {{.fd = api->efd, .events = POLLIN},
					{.fd = sfd, .events = POLLIN}};

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll: %s", strerror(errno));
			*status = VM_EXIT_HOST_ERROR;
			break;
		}
		if (pfd[1].revents) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				log_info("signal %u before the VM started: exiting", si.ssi_signo);
			break;
		}
		if (pfd[0].revents) {
			api_serve_op(api);
			pthread_mutex_lock(&api->lock);
			vm = api->vm;
			pthread_mutex_unlock(&api->lock);
			if (!vm && api->incoming_fd >= 0) {
				vm = api_migrate_receive(api, status);
				if (!vm)
					break;
			}
		}
	}
	close(sfd);
restore:
	/* With a VM, the signals stay blocked: its signalfd (vm_run()) takes them. */
	if (!vm)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	return vm;
}

int api_attach(struct api *api, struct vm *vm)
{
	int r;

	pthread_mutex_lock(&api->lock);
	if (!api->vm) {
		/* Booted from the command line: the API describes what it gave. */
		api->vm = vm;
		api->start_cfg = api->cfg;
		for (unsigned i = 0; i < api->cfg.ndisks; i++)
			api->start_drive[i] = i;
	}
	/* A snapshot loaded without resume_vm starts paused. */
	api->state = vm_is_paused(vm) ? API_PAUSED : API_RUNNING;
	pthread_mutex_unlock(&api->lock);
	api_migrate_attach(api, vm);
	r = event_loop_add(&vm->loop, api->efd, EPOLLIN, api_on_event, api);
	r = r ?: event_loop_set_control(&vm->loop, api->efd); /* served while devices are held */
	if (r)
		log_error("api: cannot watch requests on the event loop: %s", strerror(-r));
	else if ((r = api_metrics_timer_start(api, vm)))
		log_error("api: cannot start the periodic metrics: %s", strerror(-r));
	return r;
}

void api_detach(struct api *api)
{
	if (!api)
		return;
	api_migrate_detach(api);
	pthread_mutex_lock(&api->lock);
	/* The last line of metrics, with the VM's final counts. */
	if (api->vm && api->metrics_set && api_write_metrics(api))
		log_warn("metrics: cannot write them at exit");
	api_metrics_timer_stop(api, api->vm);
	api->state = API_STOPPED;
	api->vm = NULL;
	if (api->op && !api->op->done) {
		api_fault(api->op, 400, "The microVM has stopped");
		api->op->done = true;
		pthread_cond_broadcast(&api->done);
	}
	pthread_mutex_unlock(&api->lock);
}

void api_stop(struct api *api)
{
	if (!api)
		return;
	api_detach(api);
	if (api->thread_started) {
		uint64_t one = 1;

		if (write(api->quit_fd, &one, sizeof(one)) == (ssize_t)sizeof(one))
			pthread_join(api->thread, NULL);
		api->thread_started = false;
	}
	if (api->mhd) {
		MHD_stop_daemon(api->mhd); /* closes the listening socket */
		unlink(api->path);
	}
	api_free(api);
}
