/* SPDX-License-Identifier: MIT */
#include "core/event_loop.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

struct event_source {
	int fd;
	atomic_bool removed;
	uint32_t events; /* what is watched (also while held) */
	bool control;	 /* never held by event_loop_hold() */
	event_handler_fn handler;
	void *opaque;
	struct event_source *next;
};

#define EVENT_LOOP_BATCH 32

int event_loop_init(struct event_loop *loop)
{
	loop->sources = NULL;
	loop->stop = false;
	atomic_store(&loop->held, false);
	pthread_mutex_init(&loop->lock, NULL);
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
	if (loop->epfd >= 0) {
		close(loop->epfd);
		pthread_mutex_destroy(&loop->lock);
	}
	loop->epfd = -1;
}

/* The live source for fd; the caller holds loop->lock. */
static struct event_source *find_source(struct event_loop *loop, int fd)
{
	for (struct event_source *s = loop->sources; s; s = s->next)
		if (s->fd == fd && !atomic_load(&s->removed))
			return s;
	return NULL;
}

int event_loop_add(struct event_loop *loop, int fd, uint32_t events, event_handler_fn handler,
		   void *opaque)
{
	struct epoll_event ev = {.events = events};
	struct event_source *s;

	int r = 0;

	if (fd < 0 || !handler)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fd = fd;
	s->events = events;
	s->handler = handler;
	s->opaque = opaque;
	ev.data.ptr = s;
	pthread_mutex_lock(&loop->lock);
	if (find_source(loop, fd)) {
		r = -EEXIST;
	} else if (atomic_load(&loop->held)) {
		/* Watched from event_loop_release() on. */
		s->next = loop->sources;
		loop->sources = s;
	} else if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		r = -errno;
	} else {
		s->next = loop->sources;
		loop->sources = s;
	}
	pthread_mutex_unlock(&loop->lock);
	if (r)
		free(s);
	return r;
}

int event_loop_modify(struct event_loop *loop, int fd, uint32_t events)
{
	struct epoll_event ev = {.events = events};
	struct event_source *s;
	int r = -ENOENT;

	pthread_mutex_lock(&loop->lock);
	s = find_source(loop, fd);
	if (s) {
		ev.data.ptr = s;
		s->events = events;
		if (atomic_load(&loop->held) && !s->control)
			r = 0;
		else
			r = epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
	}
	pthread_mutex_unlock(&loop->lock);
	return r;
}

int event_loop_remove(struct event_loop *loop, int fd)
{
	struct event_source *s;

	pthread_mutex_lock(&loop->lock);
	s = find_source(loop, fd);
	if (s) {
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL); /* ENOENT while held: fine */
		/* Freed by the loop thread after its batch: an event may still name it. */
		atomic_store(&s->removed, true);
	}
	pthread_mutex_unlock(&loop->lock);
	return s ? 0 : -ENOENT;
}

int event_loop_set_control(struct event_loop *loop, int fd)
{
	struct event_source *s;

	pthread_mutex_lock(&loop->lock);
	s = find_source(loop, fd);
	if (s)
		s->control = true;
	pthread_mutex_unlock(&loop->lock);
	return s ? 0 : -ENOENT;
}

int event_loop_hold(struct event_loop *loop)
{
	int r = 0;

	pthread_mutex_lock(&loop->lock);
	if (!atomic_load(&loop->held)) {
		atomic_store(&loop->held, true);
		for (struct event_source *s = loop->sources; s; s = s->next)
			if (!s->control && !atomic_load(&s->removed) &&
			    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, s->fd, NULL) < 0 &&
			    errno != ENOENT)
				r = r ?: -errno;
	}
	pthread_mutex_unlock(&loop->lock);
	return r;
}

int event_loop_release(struct event_loop *loop)
{
	int r = 0;

	pthread_mutex_lock(&loop->lock);
	if (atomic_load(&loop->held)) {
		atomic_store(&loop->held, false);
		for (struct event_source *s = loop->sources; s; s = s->next) {
			struct epoll_event ev = {.events = s->events, .data.ptr = s};

			if (!s->control && !atomic_load(&s->removed) &&
			    epoll_ctl(loop->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0 && errno != EEXIST)
				r = r ?: -errno;
		}
	}
	pthread_mutex_unlock(&loop->lock);
	return r;
}

/*
 * Free the sources removed so far. Only the loop thread frees, and only
 * between batches, so a source named by a pending event stays valid.
 */
static void reap_removed(struct event_loop *loop)
{
	struct event_source **pp = &loop->sources;

	pthread_mutex_lock(&loop->lock);
	while (*pp) {
		struct event_source *s = *pp;
		if (atomic_load(&s->removed)) {
			*pp = s->next;
			free(s);
		} else {
			pp = &s->next;
		}
	}
	pthread_mutex_unlock(&loop->lock);
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
		if (atomic_load(&s->removed))
			continue;
		/* Held by a handler earlier in this batch: it waits for the release. */
		if (atomic_load(&loop->held) && !s->control)
			continue;
		s->handler(s->opaque, evs[i].events);
		ran++;
	}
	reap_removed(loop);
	return ran;
}
