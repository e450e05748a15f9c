/* SPDX-License-Identifier: MIT */
#include "core/event_loop.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

struct event_source {
	int fd;
	bool removed;
	event_handler_fn handler;
	void *opaque;
	struct event_source *next;
};

#define EVENT_LOOP_BATCH 32

int event_loop_init(struct event_loop *loop)
{
	loop->sources = NULL;
	loop->stop = false;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	return loop->epfd < 0 ? -errno : 0;
}

void event_loop_destroy(struct event_loop *loop)
{
	struct event_source *s = loop->sources, *next;

	for (; s; s = next) {
		next = s->next;
		free(s);
	}
	loop->sources = NULL;
	if (loop->epfd >= 0)
		close(loop->epfd);
	loop->epfd = -1;
}

static struct event_source *find_source(struct event_loop *loop, int fd)
{
	for (struct event_source *s = loop->sources; s; s = s->next)
		if (s->fd == fd && !s->removed)
			return s;
	return NULL;
}

int event_loop_add(struct event_loop *loop, int fd, uint32_t events, event_handler_fn handler,
		   void *opaque)
{
	struct epoll_event ev = {.events = events};
	struct event_source *s;

	if (fd < 0 || !handler)
		return -EINVAL;
	if (find_source(loop, fd))
		return -EEXIST;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fd = fd;
	s->handler = handler;
	s->opaque = opaque;
	ev.data.ptr = s;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = errno;
		free(s);
		return -e;
	}
	s->next = loop->sources;
	loop->sources = s;
	return 0;
}

int event_loop_modify(struct event_loop *loop, int fd, uint32_t events)
{
	struct event_source *s = find_source(loop, fd);
	struct epoll_event ev = {.events = events};

	if (!s)
		return -ENOENT;
	ev.data.ptr = s;
	return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

int event_loop_remove(struct event_loop *loop, int fd)
{
	struct event_source *s = find_source(loop, fd);

	if (!s)
		return -ENOENT;
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	/* Freed after the current batch: a pending event may still name it. */
	s->removed = true;
	return 0;
}

/* Free the sources removed during the last batch. */
static void reap_removed(struct event_loop *loop)
{
	struct event_source **pp = &loop->sources;

	while (*pp) {
		struct event_source *s = *pp;
		if (s->removed) {
			*pp = s->next;
			free(s);
		} else {
			pp = &s->next;
		}
	}
}

int event_loop_run_once(struct event_loop *loop, int timeout_ms)
{
	struct epoll_event evs[EVENT_LOOP_BATCH];
	int n, ran = 0;

	n = epoll_wait(loop->epfd, evs, EVENT_LOOP_BATCH, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct event_source *s = evs[i].data.ptr;
		if (s->removed)
			continue;
		s->handler(s->opaque, evs[i].events);
		ran++;
	}
	reap_removed(loop);
	return ran;
}
