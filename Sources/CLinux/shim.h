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
#endif
