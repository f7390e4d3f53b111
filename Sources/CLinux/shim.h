#ifndef METRON_CLINUX_SHIM_H
#define METRON_CLINUX_SHIM_H
// Linux calls that Swift's Glibc module does not expose.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sched.h>
#include <time.h>
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timex.h>

static inline int metron_errno(void) { return errno; }

// Raises the soft limit on open files to the hard limit; returns the soft limit in force after.
static inline long long metron_raise_open_files_limit(void) {
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0) return -1;
    if (r.rlim_cur < r.rlim_max) {
        struct rlimit raised = r;
        raised.rlim_cur = r.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) return (long long)raised.rlim_cur;
    }
    return (long long)r.rlim_cur;
}

// socket(2), its errno through `error` (0 on success).
static inline int metron_socket(int family, int type, int protocol, int *error) {
    int fd = socket(family, type, protocol);
    *error = fd < 0 ? errno : 0;
    return fd;
}

// The symbol of an errno a client can meet when opening a connection, or NULL.
static inline const char *metron_errno_name(int e) {
    switch (e) {
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOBUFS: return "ENOBUFS";
    case ENOMEM: return "ENOMEM";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    default: return NULL;
    }
}

// The soft limit on open files now.
static inline long long metron_open_files_limit(void) {
    struct rlimit r;
    return getrlimit(RLIMIT_NOFILE, &r) == 0 ? (long long)r.rlim_cur : -1;
}

// The kernel's bound on the wall clock's error, seconds, or -1 when no NTP or PTP daemon keeps the
// clock synchronised (adjtimex in read-only mode).
static inline double metron_clock_max_error(void) {
    struct timex t;
    memset(&t, 0, sizeof t);
    int state = adjtimex(&t);
    if (state < 0 || state == TIME_ERROR) return -1;
    return (double)t.maxerror / 1e6;
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
