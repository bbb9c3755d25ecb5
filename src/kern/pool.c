/* pool.c: a fixed pool of worker threads running indexed tasks; the caller
 * takes part.  Calls on one pool are serialized by a mutex. */
#include "kern.h"
#include "alloc.h"
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

struct kern_pool {
    int n;                      /* threads including the caller */
    pthread_t *threads;         /* n - 1 workers */
    pthread_mutex_t run_lock;   /* one run at a time */
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    void (*fn)(void *, size_t);
    void *ctx;
    size_t n_tasks;
    atomic_size_t next;
    int active;                 /* workers still in the current run */
    unsigned long generation;
    int stop;
};

static void drain(kern_pool *p)
{
    size_t i;
    while ((i = atomic_fetch_add(&p->next, 1)) < p->n_tasks)
        p->fn(p->ctx, i);
}

static void *worker(void *arg)
{
    kern_pool *p = arg;
    unsigned long seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stop && p->generation == seen)
            pthread_cond_wait(&p->wake, &p->lock);
        if (p->stop)
            break;
        seen = p->generation;
        pthread_mutex_unlock(&p->lock);
        drain(p);
        pthread_mutex_lock(&p->lock);
        if (--p->active == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
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
    p->n = n_threads;
    pthread_mutex_init(&p->run_lock, NULL);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    if (n_threads > 1) {
        p->threads = sx_calloc((size_t)n_threads - 1, sizeof *p->threads);
        if (!p->threads) {
            sx_free(p);
            return NULL;
        }
        for (int i = 0; i < n_threads - 1; i++)
            if (pthread_create(&p->threads[i], NULL, worker, p)) {
                p->n = i + 1; /* keep the threads that started */
                break;
            }
    }
    return p;
}

void kern_pool_free(kern_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
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

void kern_pool_run(kern_pool *p, void (*fn)(void *ctx, size_t task), void *ctx, size_t n_tasks)
{
    if (!p || p->n == 1 || n_tasks <= 1) {
        for (size_t i = 0; i < n_tasks; i++)
            fn(ctx, i);
        return;
    }
    pthread_mutex_lock(&p->run_lock);
    pthread_mutex_lock(&p->lock);
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    atomic_store(&p->next, 0);
    p->active = p->n - 1;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    drain(p);
    pthread_mutex_lock(&p->lock);
    while (p->active)
        pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
    pthread_mutex_unlock(&p->run_lock);
}
