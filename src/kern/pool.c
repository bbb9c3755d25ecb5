/* pool.c: a fixed pool of worker threads running indexed tasks; the caller
 * takes part.  Knows nothing of the kernels that use it.
 *
 * One run: the caller describes it in a job on its own stack, publishes a
 * pointer to it (p->job) and bumps p->gen; workers claim task indices from
 * the job's counter until none are left.  The caller returns once every
 * task is done and no worker still holds the job:
 *   - a worker counts itself in p->refs before it loads p->job and out when
 *     it no longer touches the job; the caller clears p->job, then waits for
 *     p->refs to drain (all seq_cst, so a worker that loaded the job is
 *     counted before the caller looks; one that comes later loads NULL).
 * Waiting spins first (idle workers about 100 us, polling p->gen; the
 * caller for the last tasks), then sleeps on a condition variable; the
 * sleeper announces itself in an atomic flag and the waker checks it after
 * its own store (both seq_cst), so no wake-up is lost and no one takes the
 * mutex while everyone is awake.  Runs on one pool are serialized by
 * run_lock; a run started from inside a task finds the pool busy and runs
 * inline instead of waiting (nesting would otherwise deadlock). */
#include "kern.h"
#include "alloc.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#define SPIN_NS 100000 /* how long an idle worker polls before sleeping */

typedef struct pool_job {
    void (*fn)(void *, size_t);
    void *ctx;
    size_t n_tasks;
    atomic_size_t next; /* next task index to claim */
    atomic_size_t done; /* tasks finished */
    atomic_int caller_sleeps;
} pool_job;

struct kern_pool {
    int n;                  /* threads including the caller */
    pthread_t *threads;     /* n - 1 workers */
    pthread_mutex_t run_lock;
    pthread_mutex_t lock;   /* for the condition variables only */
    pthread_cond_t wake, done;
    _Atomic(pool_job *) job;
    atomic_ulong gen;       /* bumped for every run and at shutdown */
    atomic_int refs;        /* workers that may be touching job */
    atomic_int sleepers;    /* workers asleep (or about to be) on wake */
    atomic_int stop;
};

/* Nonzero while this thread runs pool tasks (a worker, or a caller inside
 * its own run): a run from here must not wait for a busy pool. */
static _Thread_local int in_task;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void job_drain(kern_pool *p, pool_job *j)
{
    size_t i;
    while ((i = atomic_fetch_add(&j->next, 1)) < j->n_tasks) {
        j->fn(j->ctx, i);
        if (atomic_fetch_add(&j->done, 1) + 1 == j->n_tasks && atomic_load(&j->caller_sleeps)) {
            pthread_mutex_lock(&p->lock);
            pthread_cond_broadcast(&p->done);
            pthread_mutex_unlock(&p->lock);
        }
    }
}

/* Waits until p->gen differs from seen; returns it. */
static unsigned long worker_wait(kern_pool *p, unsigned long seen)
{
    unsigned long g;
    long long t0 = 0;
    for (unsigned spins = 0;; spins++) {
        if ((g = atomic_load(&p->gen)) != seen)
            return g;
        cpu_relax();
        if ((spins & 63) == 63) {
            long long t = now_ns();
            if (!t0)
                t0 = t;
            else if (t - t0 > SPIN_NS)
                break;
        }
    }
    pthread_mutex_lock(&p->lock);
    atomic_fetch_add(&p->sleepers, 1);
    while ((g = atomic_load(&p->gen)) == seen)
        pthread_cond_wait(&p->wake, &p->lock);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->lock);
    return g;
}

static void *worker(void *arg)
{
    kern_pool *p = arg;
    /* p->gen as it was when the pool was made: a worker that first runs
     * late (after some runs, or after kern_pool_free's bump) must still see
     * those bumps, not take the current value as already handled */
    unsigned long seen = 0;
    in_task = 1;
    for (;;) {
        seen = worker_wait(p, seen);
        if (atomic_load(&p->stop))
            break;
        atomic_fetch_add(&p->refs, 1);
        pool_job *j = atomic_load(&p->job);
        if (j)
            job_drain(p, j);
        atomic_fetch_sub(&p->refs, 1);
    }
    return NULL;
}

kern_pool *kern_pool_new(int n_threads)
{
    if (n_threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = c > 0 ? (int)c : 1;
    }
    kern_pool *p = sx_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n = 1;
    pthread_mutex_init(&p->run_lock, NULL);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->job, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->refs, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->stop, 0);
    if (n_threads > 1) {
        p->threads = sx_calloc((size_t)n_threads - 1, sizeof *p->threads);
        if (!p->threads) {
            kern_pool_free(p);
            return NULL;
        }
        /* keep the threads that started; p->n is only read by callers */
        for (int i = 0; i < n_threads - 1 && !pthread_create(&p->threads[i], NULL, worker, p); i++)
            p->n = i + 2;
    }
    return p;
}

static void wake_workers(kern_pool *p)
{
    if (atomic_load(&p->sleepers)) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
}

void kern_pool_free(kern_pool *p)
{
    if (!p)
        return;
    atomic_store(&p->stop, 1);
    atomic_fetch_add(&p->gen, 1);
    /* a worker between its sleepers check and cond_wait holds lock, so the
     * broadcast below cannot slip in before it sleeps */
    pthread_mutex_lock(&p->lock);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->n - 1; i++)
        pthread_join(p->threads[i], NULL);
    sx_free(p->threads);
    pthread_mutex_destroy(&p->run_lock);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    sx_free(p);
}

int kern_pool_size(const kern_pool *p) { return p ? p->n : 1; }

static void run_inline(void (*fn)(void *ctx, size_t task), void *ctx, size_t n_tasks)
{
    for (size_t i = 0; i < n_tasks; i++)
        fn(ctx, i);
}

void kern_pool_run(kern_pool *p, void (*fn)(void *ctx, size_t task), void *ctx, size_t n_tasks)
{
    if (!p || p->n == 1 || n_tasks <= 1) {
        run_inline(fn, ctx, n_tasks);
        return;
    }
    if (in_task) {
        if (pthread_mutex_trylock(&p->run_lock)) {
            run_inline(fn, ctx, n_tasks);
            return;
        }
    } else {
        pthread_mutex_lock(&p->run_lock);
    }
    pool_job j = {.fn = fn, .ctx = ctx, .n_tasks = n_tasks};
    atomic_init(&j.next, 0);
    atomic_init(&j.done, 0);
    atomic_init(&j.caller_sleeps, 0);
    atomic_store(&p->job, &j);
    atomic_fetch_add(&p->gen, 1);
    wake_workers(p);

    int outer = in_task;
    in_task = 1;
    job_drain(p, &j);
    in_task = outer;

    /* the last tasks run on workers: spin a little, then sleep */
    for (unsigned spins = 0; atomic_load(&j.done) != n_tasks; spins++) {
        if (spins < 4096) {
            cpu_relax();
            continue;
        }
        pthread_mutex_lock(&p->lock);
        atomic_store(&j.caller_sleeps, 1);
        while (atomic_load(&j.done) != n_tasks)
            pthread_cond_wait(&p->done, &p->lock);
        pthread_mutex_unlock(&p->lock);
    }
    atomic_store(&p->job, NULL);
    /* workers leave right after their last claim; yield in case one was
     * preempted there (the cores are shared) */
    for (unsigned spins = 0; atomic_load(&p->refs); spins++)
        if (spins < 1024)
            cpu_relax();
        else
            sched_yield();
    pthread_mutex_unlock(&p->run_lock);
}
