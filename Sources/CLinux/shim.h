#ifndef METRON_CLINUX_SHIM_H
#define METRON_CLINUX_SHIM_H
// Linux calls that Swift's Glibc module does not expose.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sched.h>
#include <time.h>
#include <errno.h>

static inline int metron_errno(void) { return errno; }

static inline double metron_monotonic_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline int metron_set_fifo_priority(int priority) {
    struct sched_param p;
    p.sched_priority = priority;
    return sched_setscheduler(0, SCHED_FIFO, &p);
}
// epoll_event is packed on x86_64; these wrappers keep its layout out of Swift.
static inline int metron_epoll_ctl(int epfd, int op, int fd, unsigned int events) {
    struct epoll_event ev;
    ev.events = events;
    ev.data.fd = fd;
    return epoll_ctl(epfd, op, fd, &ev);
}

// Waits for events and writes each ready fd and its event mask into the two arrays.
static inline int metron_epoll_wait(int epfd, int *fds, unsigned int *masks, int max, int timeout_ms) {
    struct epoll_event evs[256];
    if (max > 256) max = 256;
    int n = epoll_wait(epfd, evs, max, timeout_ms);
    for (int i = 0; i < n; i++) { fds[i] = evs[i].data.fd; masks[i] = evs[i].events; }
    return n;
}

// Arms a timerfd to fire once at an absolute CLOCK_MONOTONIC time (seconds); 0 disarms it.
static inline int metron_timerfd_arm_absolute(int fd, double seconds) {
    struct itimerspec spec = {0};
    if (seconds > 0) {
        spec.it_value.tv_sec = (time_t)seconds;
        spec.it_value.tv_nsec = (long)((seconds - (double)spec.it_value.tv_sec) * 1e9);
        if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
    }
    return timerfd_settime(fd, TFD_TIMER_ABSTIME, &spec, NULL);
}
#endif
