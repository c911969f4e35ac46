/* shmstruct._native: the synchronisation that Python cannot express safely or fast.
 *
 * Two types living over a mapping of a shared segment (they hold a buffer export of it,
 * so the mapping stays valid for as long as they exist):
 *
 *   Mutex      the lock of a block: a process-shared, robust, recursive pthread mutex in the
 *              segment header, with a condition (wait/notify) built on a futex word beside it.
 *   Atomic     one 32- or 64-bit integer field: sequentially consistent atomic operations on
 *              the shared address, range-checked, with futex-based waiting for a change.
 *
 * And one piece of speed: FieldSetter, the fast path of a schema's checked __setattr__ (Python
 * decides everything it does; it only saves the Python frame on every plain scalar write, which
 * is most of a locked increment's time).
 *
 * Owner death is the kernel's business (robust futexes: EOWNERDEAD), never a guess from elapsed
 * time. Every blocking call releases the GIL; a wait in the main thread wakes for signals (Ctrl-C);
 * every error becomes a Python exception. Linux with glibc only.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if !defined(__linux__) || !defined(__GLIBC__)
#error "shmstruct._native needs Linux with glibc (robust process-shared mutexes and futexes)"
#endif

/* ------------------------------------------------------------------------------------------
 * The lock record: 128 bytes in the segment header, one per lock. Python reads the offsets
 * from the module constants below (shmstruct._header).
 */

typedef struct {
    union {
        pthread_mutex_t mutex;
        char room[64]; /* 40 bytes on x86_64, 48 on aarch64: room for both */
    } m;
    int64_t holder;      /* 64: pid of the holding process, 0 when free */
    int64_t depth;       /* 72: re-entry depth of the holding thread (written by the holder only) */
    int64_t recoveries;  /* 80: takeovers from a holder that died holding the lock */
    int64_t dead_holder; /* 88: pid of the last holder found dead (0: none, -1: not recorded) */
    uint32_t cond_seq;   /* 96: futex word of the condition: bumped by notify */
    uint32_t cond_waiters; /* 100: processes waiting on the condition */
    int32_t quiet;       /* 104: the holder changes no user data (a death then warns nobody) */
    char spare[20];
} lock_record;

_Static_assert(sizeof(lock_record) == 128, "lock record is 128 bytes");
_Static_assert(sizeof(pthread_mutex_t) <= 64, "pthread_mutex_t fits its room");

/* The mutex kind glibc records for the attributes init_mutex sets (read once, at import, from a
 * reference mutex): a lock record whose kind differs was not made by init_lock. */
static int expected_kind = -1;

static int
init_mutex(pthread_mutex_t *mutex)
{
    pthread_mutexattr_t attributes;
    int r = pthread_mutexattr_init(&attributes);
    if (r == 0) {
        r = pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
        if (r == 0) {
            r = pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
        }
        if (r == 0) {
            r = pthread_mutexattr_settype(&attributes, PTHREAD_MUTEX_RECURSIVE);
        }
        if (r == 0) {
            r = pthread_mutex_init(mutex, &attributes);
        }
        pthread_mutexattr_destroy(&attributes);
    }
    return r;
}


/* ------------------------------------------------------------------------------------------
 * Who we are: pid and thread id, cached (getpid and gettid are system calls), reset in a child
 * after fork.
 */

static pid_t cached_pid;
static __thread pid_t cached_tid;

static inline pid_t
my_tid(void)
{
    pid_t tid = cached_tid;
    if (tid == 0) {
        tid = (pid_t)syscall(SYS_gettid);
        cached_tid = tid;
    }
    return tid;
}

static void
after_fork_in_child(void)
{
    cached_tid = 0;
    cached_pid = getpid();
}

/* The thread Python runs signal handlers in: the process's first thread (tid == pid), which
 * after a fork is the thread that forked. Only it needs to wake up for Ctrl-C. */
static inline int
is_signal_thread(void)
{
    return my_tid() == cached_pid;
}

/* The exception classes the package defines; set once by configure(). */
static PyObject *DeadHolderWarning = NULL;
static PyObject *FieldTypeError = NULL;
static PyObject *FieldValueError = NULL;

/* How often a blocked lock acquire in the signal thread comes up to run signal handlers. The lock
 * itself is handed over by the kernel the moment it is free (or its holder dies), not by this. */
#define SIGNAL_CHECK_NS 50000000L

/* Keeping an exception aside while more C code runs (the API changed in Python 3.12). */
#if PY_VERSION_HEX >= 0x030C0000
typedef struct { PyObject *exception; } saved_error;
static saved_error save_error(void) { saved_error saved = {PyErr_GetRaisedException()}; return saved; }
static int has_error(saved_error saved) { return saved.exception != NULL; }
static void restore_error(saved_error saved) { PyErr_SetRaisedException(saved.exception); }
static void drop_error(saved_error saved) { Py_XDECREF(saved.exception); }
#else
typedef struct { PyObject *type, *value, *traceback; } saved_error;
static saved_error save_error(void) { saved_error saved; PyErr_Fetch(&saved.type, &saved.value, &saved.traceback); return saved; }
static int has_error(saved_error saved) { return saved.type != NULL; }
static void restore_error(saved_error saved) { PyErr_Restore(saved.type, saved.value, saved.traceback); }
static void drop_error(saved_error saved) { Py_XDECREF(saved.type); Py_XDECREF(saved.value); Py_XDECREF(saved.traceback); }
#endif

/* ------------------------------------------------------------------------------------------
 * Time and futexes
 */

static void
monotonic_after(double seconds, struct timespec *out)
{
    clock_gettime(CLOCK_MONOTONIC, out);
    if (seconds > 1e9) {
        seconds = 1e9; /* ~31 years: as good as forever, and no overflow */
    }
    long long whole = (long long)seconds;
    long nanos = (long)((seconds - (double)whole) * 1e9);
    out->tv_sec += (time_t)whole;
    out->tv_nsec += nanos;
    if (out->tv_nsec >= 1000000000L) {
        out->tv_sec += 1;
        out->tv_nsec -= 1000000000L;
    }
}

static int
passed(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > deadline->tv_sec || (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

static const struct timespec *
earlier(const struct timespec *a, const struct timespec *b)
{
    if (a == NULL) {
        return b;
    }
    if (b == NULL) {
        return a;
    }
    return (a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec <= b->tv_nsec)) ? a : b;
}

/* Sleep while *word == expected, until woken or the absolute CLOCK_MONOTONIC deadline (NULL: no
 * deadline). Not FUTEX_PRIVATE: the word is shared between processes. Returns 0 or an errno
 * (EAGAIN: the word differed; ETIMEDOUT; EINTR: a signal arrived). */
static int
futex_wait(uint32_t *word, uint32_t expected, const struct timespec *deadline)
{
    long r = syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected, deadline, NULL, FUTEX_BITSET_MATCH_ANY);
    return r == 0 ? 0 : errno;
}

/* How long a futex wait in the signal thread sleeps at most before it comes up to run signal
 * handlers. A signal normally interrupts the wait at once (EINTR); this only covers one that
 * arrives in the instant between the last check and the system call. Nothing is polled: the
 * wait is over only when the futex word changes. */
#define SIGNAL_SAFETY_NET_SECONDS 1.0

/* futex_wait for a Python-level wait: up to the deadline (NULL: none); in the signal thread, for
 * at most SIGNAL_SAFETY_NET_SECONDS at a time. Called without the GIL. */
static int
futex_wait_interruptibly(uint32_t *word, uint32_t expected, const struct timespec *deadline, int signal_thread)
{
    struct timespec net;
    const struct timespec *until = deadline;
    if (signal_thread) {
        monotonic_after(SIGNAL_SAFETY_NET_SECONDS, &net);
        until = earlier(deadline, &net);
    }
    return futex_wait(word, expected, until);
}

static void
futex_wake(uint32_t *word, int count)
{
    syscall(SYS_futex, word, FUTEX_WAKE, count, NULL, NULL, 0);
}

/* ------------------------------------------------------------------------------------------
 * Reading the time-out argument of acquire and the waits
 */

/* None -> *has = 0; a number >= 0 -> *has = 1 and the deadline. Negative means "no deadline"
 * only when it is -1 (as for threading.Lock.acquire); other negatives are errors. */
static int
parse_timeout(PyObject *timeout, int *has, struct timespec *deadline)
{
    *has = 0;
    if (timeout == NULL || timeout == Py_None) {
        return 0;
    }
    double seconds = PyFloat_AsDouble(timeout);
    if (seconds == -1.0 && PyErr_Occurred()) {
        return -1;
    }
    if (seconds != seconds) {
        PyErr_SetString(PyExc_ValueError, "timeout must be a number of seconds, not nan");
        return -1;
    }
    if (seconds < 0) {
        if (seconds == -1.0) {
            return 0;
        }
        PyErr_SetString(PyExc_ValueError, "timeout must be >= 0 (or None, or -1, to wait as long as it takes)");
        return -1;
    }
    *has = 1;
    monotonic_after(seconds, deadline);
    return 0;
}

/* ==========================================================================================
 * Mutex
 */

typedef struct {
    PyObject_HEAD
    Py_buffer view; /* an export of the mapping: it cannot be unmapped under us */
    lock_record *rec;
    PyObject *label; /* how messages name the lock, e.g. "the lock of shared block 'x'" */
    int warn;        /* warn when taking over from a dead holder (the user lock), or not */
    int pinned;      /* this object holds a reference to itself while this process holds the lock */
} MutexObject;

static inline pid_t
owner_tid(lock_record *rec)
{
    /* A robust mutex's futex word holds its owner's thread id (the kernel's robust-futex ABI);
     * the kernel clears it, setting FUTEX_OWNER_DIED, when the owner dies. */
    return (pid_t)(__atomic_load_n((uint32_t *)&rec->m.mutex.__data.__lock, __ATOMIC_RELAXED) & FUTEX_TID_MASK);
}

static inline int
is_mine(lock_record *rec)
{
    return owner_tid(rec) == my_tid();
}

static void
mark_held(MutexObject *self)
{
    lock_record *rec = self->rec;
    rec->depth = 1;
    rec->quiet = 0;
    __atomic_store_n(&rec->holder, (int64_t)cached_pid, __ATOMIC_RELAXED);
    if (!self->pinned) {
        /* While held, this object (and so the mapping) must outlive any reference the user drops:
         * glibc links held robust mutexes into a per-thread list through the mutex memory. */
        self->pinned = 1;
        Py_INCREF(self);
    }
}

static void
unpin(MutexObject *self)
{
    if (self->pinned) {
        self->pinned = 0;
        Py_DECREF(self);
    }
}

/* Give the lock back completely (depth and all). The caller holds it. */
static int
unlock_fully(MutexObject *self)
{
    lock_record *rec = self->rec;
    rec->depth = 0;
    rec->quiet = 0;
    __atomic_store_n(&rec->holder, 0, __ATOMIC_RELAXED);
    int r = pthread_mutex_unlock(&rec->m.mutex);
    if (r != 0) {
        errno = r;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return 0;
}

static int
warn_dead_holder(MutexObject *self, int64_t dead, int64_t quiet)
{
    if (!self->warn || quiet) {
        return 0;
    }
    PyObject *message;
    if (dead == (int64_t)cached_pid) {
        message = PyUnicode_FromFormat(
            "%U was taken over: a thread of this process (%lld) exited while holding it. "
            "The data it guards may hold that thread's half-finished update.",
            self->label, (long long)dead);
    }
    else if (dead > 0) {
        message = PyUnicode_FromFormat(
            "%U was taken over: process %lld died while holding it. "
            "The data it guards may hold that process's half-finished update.",
            self->label, (long long)dead);
    }
    else {
        message = PyUnicode_FromFormat(
            "%U was taken over: a process died while holding it, before it could record its pid. "
            "The data it guards may hold that process's half-finished update.",
            self->label);
    }
    if (message == NULL) {
        return -1;
    }
    const char *text = PyUnicode_AsUTF8(message);
    int r = text == NULL ? -1 : PyErr_WarnEx(DeadHolderWarning ? DeadHolderWarning : PyExc_RuntimeWarning, text, 1);
    Py_DECREF(message);
    return r;
}

/* The GIL is held. r is what pthread_mutex_(try|clock)lock returned. Returns 1 (taken), 0 (not
 * taken: busy or timed out) or -1 (exception set; the lock is not held unless keep_on_error). */
static int
took(MutexObject *self, int r, int keep_on_error)
{
    lock_record *rec = self->rec;
    if (r == 0) {
        mark_held(self);
        return 1;
    }
    if (r == EBUSY || r == ETIMEDOUT) {
        return 0;
    }
    if (r == EOWNERDEAD) {
        int64_t dead = __atomic_load_n(&rec->holder, __ATOMIC_RELAXED);
        int64_t quiet = rec->quiet;
        pthread_mutex_consistent(&rec->m.mutex);
        rec->dead_holder = dead != 0 ? dead : -1;
        __atomic_add_fetch(&rec->recoveries, 1, __ATOMIC_RELAXED);
        mark_held(self);
        if (warn_dead_holder(self, dead, quiet) < 0) {
            if (!keep_on_error) {
                /* The warning was made an error: __exit__ will not run, so give the lock back. */
                saved_error saved = save_error();
                unlock_fully(self);
                unpin(self);
                restore_error(saved);
            }
            return -1;
        }
        return 1;
    }
    if (r == ENOTRECOVERABLE) {
        PyErr_Format(PyExc_OSError, "%U is not recoverable: a process died holding it and the next holder "
                     "released it without repairing it", self->label);
        return -1;
    }
    errno = r;
    PyErr_SetFromErrno(PyExc_OSError);
    return -1;
}

static int
lock_now(lock_record *rec, int signal_thread, const struct timespec *deadline)
{
    if (deadline == NULL && !signal_thread) {
        return pthread_mutex_lock(&rec->m.mutex);
    }
    struct timespec slice;
    const struct timespec *until = deadline;
    if (signal_thread) {
        monotonic_after(SIGNAL_CHECK_NS / 1e9, &slice);
        until = earlier(deadline, &slice);
    }
#if __GLIBC_PREREQ(2, 30)
    return pthread_mutex_clocklock(&rec->m.mutex, CLOCK_MONOTONIC, until);
#else
    /* Older glibc times out on the wall clock only: translate the monotonic deadline. */
    struct timespec now_monotonic, wall;
    clock_gettime(CLOCK_MONOTONIC, &now_monotonic);
    clock_gettime(CLOCK_REALTIME, &wall);
    long long left = (until->tv_sec - now_monotonic.tv_sec) * 1000000000LL + (until->tv_nsec - now_monotonic.tv_nsec);
    if (left < 0) {
        left = 0;
    }
    wall.tv_sec += left / 1000000000LL;
    wall.tv_nsec += left % 1000000000LL;
    if (wall.tv_nsec >= 1000000000L) {
        wall.tv_sec += 1;
        wall.tv_nsec -= 1000000000L;
    }
    return pthread_mutex_timedlock(&rec->m.mutex, &wall);
#endif
}

/* Take the lock, waiting up to the deadline (NULL: forever). 1 taken, 0 timed out, -1 error. */
static int
acquire(MutexObject *self, int block, const struct timespec *deadline)
{
    lock_record *rec = self->rec;
    if (is_mine(rec)) {
        rec->depth++;
        return 1;
    }
    int r = pthread_mutex_trylock(&rec->m.mutex);
    if (r != EBUSY || !block) {
        return took(self, r, 0);
    }
    int signal_thread = is_signal_thread();
    for (;;) {
        Py_BEGIN_ALLOW_THREADS
        r = lock_now(rec, signal_thread, deadline);
        Py_END_ALLOW_THREADS
        if (r != ETIMEDOUT) {
            return took(self, r, 0);
        }
        if (deadline != NULL && passed(deadline)) {
            return 0;
        }
        if (PyErr_CheckSignals() < 0) {
            return -1;
        }
    }
}

static int
release(MutexObject *self)
{
    lock_record *rec = self->rec;
    if (!is_mine(rec)) {
        PyErr_Format(PyExc_AssertionError, "release of %U, which this thread does not hold", self->label);
        return -1;
    }
    if (--rec->depth > 0) {
        return 0;
    }
    int r = unlock_fully(self);
    unpin(self);
    return r;
}

static PyObject *
Mutex_enter(MutexObject *self, PyObject *Py_UNUSED(ignored))
{
    int r = acquire(self, 1, NULL);
    if (r < 0) {
        return NULL;
    }
    Py_RETURN_TRUE;
}

static PyObject *
Mutex_exit(MutexObject *self, PyObject *const *Py_UNUSED(args), Py_ssize_t Py_UNUSED(nargs))
{
    if (release(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Mutex_acquire(MutexObject *self, PyObject *const *args, Py_ssize_t nargsf, PyObject *kwnames)
{
    /* acquire(block=True, timeout=None), parsed by hand: the argument parser of
     * PyArg_ParseTupleAndKeywords costs more than the lock itself. */
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *block_object = NULL, *timeout = Py_None;
    if (nargs > 2) {
        PyErr_Format(PyExc_TypeError, "acquire() takes at most 2 arguments (%zd given)", nargs);
        return NULL;
    }
    if (nargs >= 1) {
        block_object = args[0];
    }
    if (nargs == 2) {
        timeout = args[1];
    }
    Py_ssize_t keywords = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t i = 0; i < keywords; i++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, i);
        PyObject *value = args[nargs + i];
        if (PyUnicode_CompareWithASCIIString(key, "block") == 0 && nargs < 1) {
            block_object = value;
        }
        else if (PyUnicode_CompareWithASCIIString(key, "timeout") == 0 && nargs < 2) {
            timeout = value;
        }
        else {
            PyErr_Format(PyExc_TypeError, "acquire() got an unexpected or repeated keyword argument %R", key);
            return NULL;
        }
    }
    int block = 1;
    if (block_object != NULL && (block = PyObject_IsTrue(block_object)) < 0) {
        return NULL;
    }
    int has_deadline;
    struct timespec deadline;
    if (parse_timeout(timeout, &has_deadline, &deadline) < 0) {
        return NULL;
    }
    int r = acquire(self, block, has_deadline ? &deadline : NULL);
    if (r < 0) {
        return NULL;
    }
    return PyBool_FromLong(r);
}

static PyObject *
Mutex_release(MutexObject *self, PyObject *Py_UNUSED(ignored))
{
    if (release(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Mutex_held_by_me(MutexObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(is_mine(self->rec));
}

static PyObject *
Mutex_set_quiet(MutexObject *self, PyObject *flag)
{
    if (!is_mine(self->rec)) {
        PyErr_Format(PyExc_RuntimeError, "%U is not held by this thread", self->label);
        return NULL;
    }
    int quiet = PyObject_IsTrue(flag);
    if (quiet < 0) {
        return NULL;
    }
    int before = self->rec->quiet;
    self->rec->quiet = quiet;
    return PyBool_FromLong(before);
}

/* Re-take the lock after a condition wait, whatever signals arrive meanwhile (any pending
 * exception is kept and raised afterwards, with the lock held again, as threading.Condition does). */
static int
reacquire(MutexObject *self, int64_t depth, int quiet)
{
    lock_record *rec = self->rec;
    int r;
    saved_error pending = save_error();
    Py_BEGIN_ALLOW_THREADS
    r = pthread_mutex_lock(&rec->m.mutex);
    Py_END_ALLOW_THREADS
    int result = took(self, r, 1);
    if (result == 1 || (result < 0 && is_mine(rec))) {
        rec->depth = depth;
        rec->quiet = quiet;
    }
    if (has_error(pending)) {
        if (result < 0) {
            drop_error(pending);
        }
        else {
            restore_error(pending);
            return -1;
        }
    }
    return result < 0 ? -1 : 0;
}

static PyObject *
Mutex_wait(MutexObject *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"timeout", NULL};
    PyObject *timeout = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:wait", keywords, &timeout)) {
        return NULL;
    }
    int has_deadline;
    struct timespec deadline;
    if (parse_timeout(timeout, &has_deadline, &deadline) < 0) {
        return NULL;
    }
    lock_record *rec = self->rec;
    if (!is_mine(rec)) {
        PyErr_Format(PyExc_RuntimeError, "cannot wait on %U: this thread does not hold it", self->label);
        return NULL;
    }
    int64_t depth = rec->depth;
    int quiet = rec->quiet;
    /* Read under the lock: a notify (made under the lock) either came before, and is not for us,
     * or comes after we let go, and changes the word we sleep on. */
    uint32_t seq = __atomic_load_n(&rec->cond_seq, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&rec->cond_waiters, 1, __ATOMIC_SEQ_CST);
    if (unlock_fully(self) < 0) {
        __atomic_sub_fetch(&rec->cond_waiters, 1, __ATOMIC_SEQ_CST);
        return NULL;
    }
    int woken = 0, failed = 0, signal_thread = is_signal_thread();
    for (;;) {
        int r;
        Py_BEGIN_ALLOW_THREADS
        r = futex_wait_interruptibly(&rec->cond_seq, seq, has_deadline ? &deadline : NULL, signal_thread);
        Py_END_ALLOW_THREADS
        if (__atomic_load_n(&rec->cond_seq, __ATOMIC_SEQ_CST) != seq) {
            woken = 1;
            break;
        }
        if (has_deadline && passed(&deadline)) {
            break;
        }
        if ((r == EINTR || r == ETIMEDOUT) && PyErr_CheckSignals() < 0) {
            failed = 1;
            break;
        }
    }
    __atomic_sub_fetch(&rec->cond_waiters, 1, __ATOMIC_SEQ_CST);
    if (reacquire(self, depth, quiet) < 0 || failed) {
        return NULL;
    }
    return PyBool_FromLong(woken);
}

static PyObject *
notify(MutexObject *self, Py_ssize_t count)
{
    lock_record *rec = self->rec;
    if (!is_mine(rec)) {
        PyErr_Format(PyExc_RuntimeError, "cannot notify on %U: this thread does not hold it", self->label);
        return NULL;
    }
    __atomic_add_fetch(&rec->cond_seq, 1, __ATOMIC_SEQ_CST);
    if (count > 0 && __atomic_load_n(&rec->cond_waiters, __ATOMIC_SEQ_CST) != 0) {
        futex_wake(&rec->cond_seq, count > INT_MAX ? INT_MAX : (int)count);
    }
    Py_RETURN_NONE;
}

static PyObject *
Mutex_notify(MutexObject *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"n", NULL};
    Py_ssize_t count = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|n:notify", keywords, &count)) {
        return NULL;
    }
    if (count < 0) {
        PyErr_SetString(PyExc_ValueError, "notify(n) needs n >= 0");
        return NULL;
    }
    return notify(self, count);
}

static PyObject *
Mutex_notify_all(MutexObject *self, PyObject *Py_UNUSED(ignored))
{
    return notify(self, INT_MAX);
}

static PyObject *
Mutex_get_holder(MutexObject *self, void *Py_UNUSED(closure))
{
    int64_t holder = __atomic_load_n(&self->rec->holder, __ATOMIC_RELAXED);
    if (holder == 0) {
        Py_RETURN_NONE;
    }
    return PyLong_FromLongLong(holder);
}

static PyObject *
Mutex_get_recoveries(MutexObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromLongLong(__atomic_load_n(&self->rec->recoveries, __ATOMIC_RELAXED));
}

static PyObject *
Mutex_get_dead_holder(MutexObject *self, void *Py_UNUSED(closure))
{
    int64_t dead = __atomic_load_n(&self->rec->dead_holder, __ATOMIC_RELAXED);
    if (dead == 0) {
        Py_RETURN_NONE;
    }
    return PyLong_FromLongLong(dead);
}

/* Map a record at `offset` of a writable buffer (the segment's mapping). */
static int
view_record(PyObject *buffer, Py_ssize_t offset, Py_ssize_t size, Py_ssize_t alignment, Py_buffer *view, char **where)
{
    if (PyObject_GetBuffer(buffer, view, PyBUF_WRITABLE) < 0) {
        return -1;
    }
    if (offset < 0 || size > view->len || offset > view->len - size) {
        PyErr_Format(PyExc_ValueError, "offset %zd (+%zd bytes) is outside the %zd-byte mapping", offset, size, view->len);
        PyBuffer_Release(view);
        return -1;
    }
    *where = (char *)view->buf + offset;
    if ((uintptr_t)*where % (uintptr_t)alignment != 0) {
        PyErr_Format(PyExc_ValueError, "offset %zd is not aligned to %zd bytes", offset, alignment);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static int
Mutex_init(MutexObject *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"mapping", "offset", "label", "warn", NULL};
    PyObject *mapping, *label;
    Py_ssize_t offset;
    int warn = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OnU|p:Mutex", keywords, &mapping, &offset, &label, &warn)) {
        return -1;
    }
    if (self->rec != NULL) {
        PyErr_SetString(PyExc_TypeError, "Mutex is already initialised");
        return -1;
    }
    char *where;
    if (view_record(mapping, offset, sizeof(lock_record), 64, &self->view, &where) < 0) {
        return -1;
    }
    if (((lock_record *)where)->m.mutex.__data.__kind != expected_kind) {
        /* Not a mutex init_lock made (a damaged or hostile file): pthread must never see it. */
        PyBuffer_Release(&self->view);
        PyErr_Format(PyExc_ValueError, "%U is damaged: its record is not a robust process-shared mutex", label);
        return -1;
    }
    self->rec = (lock_record *)where;
    Py_INCREF(label);
    self->label = label;
    self->warn = warn;
    return 0;
}

static void
Mutex_dealloc(MutexObject *self)
{
    if (self->rec != NULL) {
        PyBuffer_Release(&self->view);
    }
    Py_XDECREF(self->label);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Mutex_methods[] = {
    {"__enter__", (PyCFunction)Mutex_enter, METH_NOARGS, "Take the lock, waiting as long as it takes."},
    {"__exit__", (PyCFunction)(void (*)(void))Mutex_exit, METH_FASTCALL, "Give back one level of ownership."},
    {"acquire", (PyCFunction)(void (*)(void))Mutex_acquire, METH_FASTCALL | METH_KEYWORDS,
     "acquire(block=True, timeout=None) -> bool\n\nTake the lock; return whether it was taken."},
    {"release", (PyCFunction)Mutex_release, METH_NOARGS,
     "Give back one level of ownership (AssertionError if this thread does not hold the lock)."},
    {"held_by_me", (PyCFunction)Mutex_held_by_me, METH_NOARGS, "Whether the calling thread holds the lock."},
    {"wait", (PyCFunction)(void (*)(void))Mutex_wait, METH_VARARGS | METH_KEYWORDS,
     "wait(timeout=None) -> bool\n\nRelease the lock completely, sleep until notified (True) or the "
     "timeout passes (False), and take the lock back at the same depth."},
    {"notify", (PyCFunction)(void (*)(void))Mutex_notify, METH_VARARGS | METH_KEYWORDS,
     "notify(n=1)\n\nWake up to n processes or threads waiting on this lock."},
    {"notify_all", (PyCFunction)Mutex_notify_all, METH_NOARGS, "Wake every process or thread waiting on this lock."},
    {"_set_quiet", (PyCFunction)Mutex_set_quiet, METH_O,
     "Mark the current holding as one that changes no user data (no warning if it dies); returns the "
     "previous mark."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Mutex_getset[] = {
    {"holder", (getter)Mutex_get_holder, NULL, "The pid of the process holding the lock, or None.", NULL},
    {"recoveries", (getter)Mutex_get_recoveries, NULL,
     "How many times the lock was taken over from a holder that died holding it.", NULL},
    {"dead_holder", (getter)Mutex_get_dead_holder, NULL,
     "The pid of the last holder found dead (-1: it died before recording its pid), or None.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject MutexType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "shmstruct._native.Mutex",
    .tp_basicsize = sizeof(MutexObject),
    .tp_dealloc = (destructor)Mutex_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Mutex(mapping, offset, label, warn=True)\n\nThe robust, process-shared, re-entrant lock "
              "whose record lies at `offset` of `mapping`.",
    .tp_methods = Mutex_methods,
    .tp_getset = Mutex_getset,
    .tp_init = (initproc)Mutex_init,
    .tp_new = PyType_GenericNew,
};

static PyObject *
init_lock(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *mapping;
    Py_ssize_t offset;
    if (!PyArg_ParseTuple(args, "On:init_lock", &mapping, &offset)) {
        return NULL;
    }
    Py_buffer view;
    char *where;
    if (view_record(mapping, offset, sizeof(lock_record), 64, &view, &where) < 0) {
        return NULL;
    }
    lock_record *rec = (lock_record *)where;
    memset(rec, 0, sizeof(*rec));
    int r = init_mutex(&rec->m.mutex);
    PyBuffer_Release(&view);
    if (r != 0) {
        errno = r;
        PyErr_SetFromErrno(PyExc_OSError);
        return NULL;
    }
    Py_RETURN_NONE;
}

/* ==========================================================================================
 * Atomic
 */

enum { I32, U32, I64, U64 };

static const struct {
    const char *c_name;
    int size;
    __int128 low, high;
} KINDS[] = {
    [I32] = {"int32_t", 4, INT32_MIN, INT32_MAX},
    [U32] = {"uint32_t", 4, 0, UINT32_MAX},
    [I64] = {"int64_t", 8, INT64_MIN, INT64_MAX},
    [U64] = {"uint64_t", 8, 0, UINT64_MAX},
};

typedef struct {
    PyObject_HEAD
    Py_buffer view;
    char *value;
    uint32_t *changes; /* the block's futex word for atomic waits: bumped when a waiter may care */
    uint32_t *waiters; /* how many wait() calls sleep on it */
    PyObject *label;   /* "State.hits" */
    int kind;
} AtomicObject;

static inline __int128
atomic_get(AtomicObject *self)
{
    switch (self->kind) {
    case I32: return (int32_t)__atomic_load_n((uint32_t *)self->value, __ATOMIC_SEQ_CST);
    case U32: return __atomic_load_n((uint32_t *)self->value, __ATOMIC_SEQ_CST);
    case I64: return (int64_t)__atomic_load_n((uint64_t *)self->value, __ATOMIC_SEQ_CST);
    default: return __atomic_load_n((uint64_t *)self->value, __ATOMIC_SEQ_CST);
    }
}

/* Replace `*expected` by `desired` if it is still there; else put the current value in *expected. */
static inline int
atomic_cas(AtomicObject *self, __int128 *expected, __int128 desired)
{
    if (KINDS[self->kind].size == 4) {
        uint32_t seen = (uint32_t)*expected;
        int done = __atomic_compare_exchange_n((uint32_t *)self->value, &seen, (uint32_t)desired, 0,
                                               __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
        *expected = self->kind == I32 ? (__int128)(int32_t)seen : (__int128)seen;
        return done;
    }
    uint64_t seen = (uint64_t)*expected;
    int done = __atomic_compare_exchange_n((uint64_t *)self->value, &seen, (uint64_t)desired, 0,
                                           __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    *expected = self->kind == I64 ? (__int128)(int64_t)seen : (__int128)seen;
    return done;
}

static inline __int128
atomic_swap(AtomicObject *self, __int128 desired)
{
    switch (self->kind) {
    case I32: return (int32_t)__atomic_exchange_n((uint32_t *)self->value, (uint32_t)desired, __ATOMIC_SEQ_CST);
    case U32: return __atomic_exchange_n((uint32_t *)self->value, (uint32_t)desired, __ATOMIC_SEQ_CST);
    case I64: return (int64_t)__atomic_exchange_n((uint64_t *)self->value, (uint64_t)desired, __ATOMIC_SEQ_CST);
    default: return __atomic_exchange_n((uint64_t *)self->value, (uint64_t)desired, __ATOMIC_SEQ_CST);
    }
}

/* After a change: wake the waiters, if any (one load when there are none: no system call). */
static inline void
changed(AtomicObject *self)
{
    if (__atomic_load_n(self->waiters, __ATOMIC_SEQ_CST) != 0) {
        __atomic_add_fetch(self->changes, 1, __ATOMIC_SEQ_CST);
        futex_wake(self->changes, INT_MAX);
    }
}

static PyObject *
from_int128(__int128 value)
{
    if (value >= INT64_MIN && value <= INT64_MAX) {
        return PyLong_FromLongLong((long long)value);
    }
    return PyLong_FromUnsignedLongLong((unsigned long long)value);
}

/* A Python int (not a bool) as a 128-bit integer; *huge set when it does not fit in 65 bits
 * (then no 32- or 64-bit field can take it, nor any sum with it). */
static int
to_int128(AtomicObject *self, PyObject *object, __int128 *out, int *huge)
{
    *huge = 0;
    if (PyBool_Check(object) || !(PyLong_Check(object) || PyIndex_Check(object))) {
        PyErr_Format(FieldTypeError, "%U expects an int, got %s %.60R", self->label, Py_TYPE(object)->tp_name, object);
        return -1;
    }
    PyObject *number = PyNumber_Index(object);
    if (number == NULL) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_Format(FieldTypeError, "%U expects an int, got %s %.60R", self->label, Py_TYPE(object)->tp_name, object);
        }
        return -1;
    }
    int overflow;
    long long small = PyLong_AsLongLongAndOverflow(number, &overflow);
    if (small == -1 && PyErr_Occurred()) {
        Py_DECREF(number);
        return -1;
    }
    if (!overflow) {
        *out = small;
    }
    else if (overflow > 0) {
        unsigned long long big = PyLong_AsUnsignedLongLong(number);
        if (big == (unsigned long long)-1 && PyErr_Occurred()) {
            PyErr_Clear();
            *huge = 1;
            *out = (__int128)UINT64_MAX + 1;
        }
        else {
            *out = big;
        }
    }
    else {
        *huge = 1;
        *out = (__int128)INT64_MIN - 1;
    }
    Py_DECREF(number);
    return 0;
}

static int
in_range(AtomicObject *self, __int128 value)
{
    return value >= KINDS[self->kind].low && value <= KINDS[self->kind].high;
}

static void
range_error(AtomicObject *self, PyObject *shown)
{
    PyObject *low = from_int128(KINDS[self->kind].low), *high = from_int128(KINDS[self->kind].high);
    if (low != NULL && high != NULL) {
        PyErr_Format(FieldValueError, "%U: %.60S is out of range for %s (allowed %S..%S)", self->label, shown,
                     KINDS[self->kind].c_name, low, high);
    }
    Py_XDECREF(low);
    Py_XDECREF(high);
}

/* A value to store: an int within the field's range, else FieldTypeError / FieldValueError. */
static int
storable(AtomicObject *self, PyObject *object, __int128 *out)
{
    int huge;
    if (to_int128(self, object, out, &huge) < 0) {
        return -1;
    }
    if (huge || !in_range(self, *out)) {
        range_error(self, object);
        return -1;
    }
    return 0;
}

static PyObject *
Atomic_load(AtomicObject *self, PyObject *Py_UNUSED(ignored))
{
    return from_int128(atomic_get(self));
}

static PyObject *
Atomic_store(AtomicObject *self, PyObject *object)
{
    __int128 value;
    if (storable(self, object, &value) < 0) {
        return NULL;
    }
    atomic_swap(self, value);
    changed(self);
    Py_RETURN_NONE;
}

static PyObject *
Atomic_exchange(AtomicObject *self, PyObject *object)
{
    __int128 value;
    if (storable(self, object, &value) < 0) {
        return NULL;
    }
    __int128 previous = atomic_swap(self, value);
    changed(self);
    return from_int128(previous);
}

static PyObject *
fetch_add(AtomicObject *self, PyObject *object, int negate)
{
    __int128 amount;
    int huge;
    if (to_int128(self, object, &amount, &huge) < 0) {
        return NULL;
    }
    __int128 old = atomic_get(self);
    for (;;) {
        __int128 new = negate ? old - amount : old + amount;
        if (huge || !in_range(self, new)) {
            PyObject *before = from_int128(old);
            PyObject *low = from_int128(KINDS[self->kind].low), *high = from_int128(KINDS[self->kind].high);
            if (before != NULL && low != NULL && high != NULL) {
                PyErr_Format(FieldValueError, "%U: %s %.60R %s %S would leave the range of %s (allowed %S..%S); "
                             "the value is unchanged", self->label, negate ? "subtracting" : "adding", object,
                             negate ? "from" : "to", before, KINDS[self->kind].c_name, low, high);
            }
            Py_XDECREF(before);
            Py_XDECREF(low);
            Py_XDECREF(high);
            return NULL;
        }
        if (atomic_cas(self, &old, new)) {
            break;
        }
    }
    if (amount != 0) {
        changed(self);
    }
    return from_int128(old);
}

static PyObject *
Atomic_add(AtomicObject *self, PyObject *amount)
{
    return fetch_add(self, amount, 0);
}

static PyObject *
Atomic_sub(AtomicObject *self, PyObject *amount)
{
    return fetch_add(self, amount, 1);
}

static PyObject *
Atomic_compare_exchange(AtomicObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "compare_exchange(expected, new) takes 2 arguments (%zd given)", nargs);
        return NULL;
    }
    __int128 expected, desired;
    int huge;
    if (to_int128(self, args[0], &expected, &huge) < 0 || storable(self, args[1], &desired) < 0) {
        return NULL;
    }
    if (huge || !in_range(self, expected)) {
        Py_RETURN_FALSE; /* the field can never hold it */
    }
    if (!atomic_cas(self, &expected, desired)) {
        Py_RETURN_FALSE;
    }
    changed(self);
    Py_RETURN_TRUE;
}

static PyObject *
Atomic_wait(AtomicObject *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"old", "timeout", NULL};
    PyObject *old_object, *timeout = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O:wait", keywords, &old_object, &timeout)) {
        return NULL;
    }
    __int128 old;
    int huge;
    if (to_int128(self, old_object, &old, &huge) < 0) {
        return NULL;
    }
    int has_deadline;
    struct timespec deadline;
    if (parse_timeout(timeout, &has_deadline, &deadline) < 0) {
        return NULL;
    }
    if (huge || !in_range(self, old)) {
        Py_RETURN_TRUE; /* the value always differs from one the field cannot hold */
    }
    int differs = 0, signal_thread = is_signal_thread();
    __atomic_add_fetch(self->waiters, 1, __ATOMIC_SEQ_CST);
    for (;;) {
        /* Registered as a waiter first, then read: a writer that changed the value before our read
         * is seen by the read; one after it sees us waiting and bumps the word we sleep on. */
        uint32_t seen = __atomic_load_n(self->changes, __ATOMIC_SEQ_CST);
        if (atomic_get(self) != old) {
            differs = 1;
            break;
        }
        int r;
        Py_BEGIN_ALLOW_THREADS
        r = futex_wait_interruptibly(self->changes, seen, has_deadline ? &deadline : NULL, signal_thread);
        Py_END_ALLOW_THREADS
        if (has_deadline && passed(&deadline)) {
            differs = atomic_get(self) != old;
            break;
        }
        if ((r == EINTR || r == ETIMEDOUT) && PyErr_CheckSignals() < 0) {
            __atomic_sub_fetch(self->waiters, 1, __ATOMIC_SEQ_CST);
            return NULL;
        }
    }
    __atomic_sub_fetch(self->waiters, 1, __ATOMIC_SEQ_CST);
    return PyBool_FromLong(differs);
}

static PyObject *
Atomic_notify_all(AtomicObject *self, PyObject *Py_UNUSED(ignored))
{
    changed(self);
    Py_RETURN_NONE;
}

static PyObject *
Atomic_int(AtomicObject *self)
{
    return from_int128(atomic_get(self));
}

static PyObject *
Atomic_repr(AtomicObject *self)
{
    PyObject *value = from_int128(atomic_get(self));
    if (value == NULL) {
        return NULL;
    }
    PyObject *text = PyUnicode_FromFormat("Atomic(%S)", value);
    Py_DECREF(value);
    return text;
}

static PyObject *
Atomic_richcompare(AtomicObject *self, PyObject *other, int op)
{
    if (!PyLong_Check(other)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject *value = from_int128(atomic_get(self));
    if (value == NULL) {
        return NULL;
    }
    PyObject *result = PyObject_RichCompare(value, other, op);
    Py_DECREF(value);
    return result;
}

static int
Atomic_init(AtomicObject *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"mapping", "offset", "kind", "label", "changes", NULL};
    PyObject *mapping, *label;
    Py_ssize_t offset, changes;
    const char *kind;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OnsUn:AtomicInt", keywords, &mapping, &offset, &kind, &label, &changes)) {
        return -1;
    }
    if (self->value != NULL) {
        PyErr_SetString(PyExc_TypeError, "AtomicInt is already initialised");
        return -1;
    }
    int found = -1;
    for (int i = 0; i < 4; i++) {
        if (strcmp(kind, KINDS[i].c_name) == 0) {
            found = i;
        }
    }
    if (found < 0) {
        PyErr_Format(PyExc_ValueError, "atomic fields are int32_t, uint32_t, int64_t or uint64_t, not %s", kind);
        return -1;
    }
    char *where;
    if (view_record(mapping, offset, KINDS[found].size, KINDS[found].size, &self->view, &where) < 0) {
        return -1;
    }
    if (changes < 0 || changes % 8 != 0 || changes > self->view.len - 8) {
        PyErr_Format(PyExc_ValueError, "the change counter offset %zd is outside the mapping", changes);
        PyBuffer_Release(&self->view);
        return -1;
    }
    self->value = where;
    self->changes = (uint32_t *)((char *)self->view.buf + changes);
    self->waiters = self->changes + 1;
    self->kind = found;
    Py_INCREF(label);
    self->label = label;
    return 0;
}

static void
Atomic_dealloc(AtomicObject *self)
{
    if (self->value != NULL) {
        PyBuffer_Release(&self->view);
    }
    Py_XDECREF(self->label);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Atomic_methods[] = {
    {"load", (PyCFunction)Atomic_load, METH_NOARGS, "load() -> int\n\nThe current value."},
    {"store", (PyCFunction)Atomic_store, METH_O, "store(value)\n\nSet the value (range-checked)."},
    {"add", (PyCFunction)Atomic_add, METH_O,
     "add(n) -> int\n\nAdd n; return the previous value. Refused, changing nothing, if the result would "
     "leave the field's range."},
    {"sub", (PyCFunction)Atomic_sub, METH_O, "sub(n) -> int\n\nSubtract n; return the previous value (range-checked)."},
    {"exchange", (PyCFunction)Atomic_exchange, METH_O, "exchange(value) -> int\n\nSet the value; return the previous one."},
    {"compare_exchange", (PyCFunction)(void (*)(void))Atomic_compare_exchange, METH_FASTCALL,
     "compare_exchange(expected, new) -> bool\n\nSet the value to new if it is expected; return whether it was."},
    {"wait", (PyCFunction)(void (*)(void))Atomic_wait, METH_VARARGS | METH_KEYWORDS,
     "wait(old, timeout=None) -> bool\n\nSleep until the value differs from old (True) or the timeout "
     "passes (False)."},
    {"notify_all", (PyCFunction)Atomic_notify_all, METH_NOARGS,
     "Wake every wait() on this block's atomic fields (atomic writes do it themselves; this is for "
     "changes made another way, such as through numpy)."},
    {"__class_getitem__", Py_GenericAlias, METH_O | METH_CLASS, "Atomic[int], Atomic[shmstruct.uint32], ..."},
    {NULL, NULL, 0, NULL},
};

static PyNumberMethods Atomic_as_number = {
    .nb_int = (unaryfunc)Atomic_int,
    .nb_index = (unaryfunc)Atomic_int,
};

#define ATOMIC_DOC \
    "A lock-free integer field: declare it ``hits: Atomic[int] = atomic()`` (int64), or\n" \
    "``Atomic[shmstruct.uint32]`` (also int32 and uint64).\n\n" \
    "``s.hits`` reads as this object, bound to the shared value: ``load()``, ``store(v)``,\n" \
    "``int(s.hits)`` and comparisons read or write it; ``add(n)`` and ``sub(n)`` return the previous\n" \
    "value, like C's ``fetch_add``; ``exchange(v)`` returns the previous value;\n" \
    "``compare_exchange(expected, new)`` returns whether the value was ``expected`` (and is now\n" \
    "``new``); ``wait(old, timeout=None)`` sleeps until the value differs from ``old`` (True) or the\n" \
    "timeout passes (False): every atomic write wakes it, and ``notify_all()`` wakes it after a\n" \
    "change made another way (through a numpy view, say).\n\n" \
    "Each operation is one sequentially consistent atomic instruction on the shared address; none\n" \
    "takes the block's lock. Every write is range-checked: one that would leave the C type's range\n" \
    "raises FieldValueError and changes nothing."

static PyTypeObject AtomicType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "shmstruct.Atomic",
    .tp_basicsize = sizeof(AtomicObject),
    .tp_dealloc = (destructor)Atomic_dealloc,
    .tp_repr = (reprfunc)Atomic_repr,
    .tp_as_number = &Atomic_as_number,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = ATOMIC_DOC,
    .tp_richcompare = (richcmpfunc)Atomic_richcompare,
    .tp_methods = Atomic_methods,
    .tp_init = (initproc)Atomic_init,
    .tp_new = PyType_GenericNew,
};

/* ==========================================================================================
 * FieldSetter: the fast path of a schema's checked __setattr__
 *
 * The table and every decision in it are Python's (shmstruct._struct): name -> (target, low,
 * high, exact type). A value of exactly that type within [low, high] is stored at once: through
 * the target's descriptor __set__ (a ctypes field) or by calling it. Every other case, unknown
 * names included, goes to the Python slow path, which checks and converts.
 */

typedef struct {
    PyObject_HEAD
    PyObject *writers;
    PyObject *slow;
    vectorcallfunc vectorcall;
} SetterObject;

static PyObject *
Setter_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    SetterObject *self = (SetterObject *)callable;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs != 3 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0)) {
        PyErr_SetString(PyExc_TypeError, "__setattr__ takes exactly 3 positional arguments (self, name, value)");
        return NULL;
    }
    PyObject *obj = args[0], *name = args[1], *value = args[2];
    PyObject *entry = PyDict_GetItemWithError(self->writers, name);
    if (entry == NULL && PyErr_Occurred()) {
        return NULL;
    }
    if (entry != NULL && PyTuple_CheckExact(entry) && PyTuple_GET_SIZE(entry) == 4 &&
        (PyObject *)Py_TYPE(value) == PyTuple_GET_ITEM(entry, 3)) {
        int ok = PyObject_RichCompareBool(PyTuple_GET_ITEM(entry, 1), value, Py_LE);
        if (ok > 0) {
            ok = PyObject_RichCompareBool(value, PyTuple_GET_ITEM(entry, 2), Py_LE);
        }
        if (ok < 0) {
            return NULL;
        }
        if (ok) {
            PyObject *target = PyTuple_GET_ITEM(entry, 0);
            descrsetfunc set = Py_TYPE(target)->tp_descr_set;
            if (set != NULL) {
                if (set(target, obj, value) < 0) {
                    return NULL;
                }
                Py_RETURN_NONE;
            }
            return PyObject_CallFunctionObjArgs(target, obj, value, NULL);
        }
    }
    return PyObject_Vectorcall(self->slow, args, 3, NULL);
}

static PyObject *
Setter_get(PyObject *self, PyObject *obj, PyObject *Py_UNUSED(type))
{
    if (obj == NULL || obj == Py_None) {
        return Py_NewRef(self);
    }
    return PyMethod_New(self, obj);
}

static int
Setter_init(SetterObject *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"writers", "slow", NULL};
    PyObject *writers, *slow;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O:FieldSetter", keywords, &PyDict_Type, &writers, &slow)) {
        return -1;
    }
    Py_XSETREF(self->writers, Py_NewRef(writers));
    Py_XSETREF(self->slow, Py_NewRef(slow));
    self->vectorcall = Setter_vectorcall;
    return 0;
}

static int
Setter_traverse(SetterObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->writers);
    Py_VISIT(self->slow);
    return 0;
}

static int
Setter_clear(SetterObject *self)
{
    Py_CLEAR(self->writers);
    Py_CLEAR(self->slow);
    return 0;
}

static void
Setter_dealloc(SetterObject *self)
{
    PyObject_GC_UnTrack(self);
    Setter_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
Setter_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    if (((SetterObject *)self)->slow == NULL) {
        PyErr_SetString(PyExc_TypeError, "FieldSetter is not initialised");
        return NULL;
    }
    return PyVectorcall_Call(self, args, kwargs);
}

static PyTypeObject SetterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "shmstruct._native.FieldSetter",
    .tp_basicsize = sizeof(SetterObject),
    .tp_dealloc = (destructor)Setter_dealloc,
    .tp_vectorcall_offset = offsetof(SetterObject, vectorcall),
    .tp_call = Setter_call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_doc = "FieldSetter(writers, slow)\n\nA schema's __setattr__: the fast path of the table `writers`, else `slow`.",
    .tp_traverse = (traverseproc)Setter_traverse,
    .tp_clear = (inquiry)Setter_clear,
    .tp_descr_get = Setter_get,
    .tp_init = (initproc)Setter_init,
    .tp_new = PyType_GenericNew,
};

/* ==========================================================================================
 * The module
 */

static PyObject *
configure(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *warning, *type_error, *value_error;
    if (!PyArg_ParseTuple(args, "OOO:configure", &warning, &type_error, &value_error)) {
        return NULL;
    }
    Py_INCREF(warning);
    Py_INCREF(type_error);
    Py_INCREF(value_error);
    Py_XSETREF(DeadHolderWarning, warning);
    Py_XSETREF(FieldTypeError, type_error);
    Py_XSETREF(FieldValueError, value_error);
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"init_lock", init_lock, METH_VARARGS,
     "init_lock(mapping, offset)\n\nInitialise a lock record (a new segment's, before anyone else can see it)."},
    {"configure", configure, METH_VARARGS,
     "configure(DeadHolderWarning, FieldTypeError, FieldValueError)\n\nThe package's exception classes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "shmstruct._native",
    .m_doc = "The synchronisation primitives of shmstruct: a robust process-shared lock with a condition, "
             "and atomic integers.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__native(void)
{
    static int forked_handler = 0;
    if (!forked_handler) {
        if (pthread_atfork(NULL, NULL, after_fork_in_child) != 0) {
            PyErr_SetString(PyExc_OSError, "cannot register the after-fork handler");
            return NULL;
        }
        forked_handler = 1;
    }
    cached_pid = getpid();
    pthread_mutex_t reference;
    if (init_mutex(&reference) != 0) {
        PyErr_SetString(PyExc_OSError, "this system has no robust process-shared mutexes (shmstruct needs Linux with glibc)");
        return NULL;
    }
    expected_kind = reference.__data.__kind;
    pthread_mutex_destroy(&reference);
    FieldTypeError = Py_NewRef(PyExc_TypeError);
    FieldValueError = Py_NewRef(PyExc_ValueError);
    if (PyType_Ready(&MutexType) < 0 || PyType_Ready(&AtomicType) < 0 || PyType_Ready(&SetterType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&native_module);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "Mutex", (PyObject *)&MutexType) < 0 ||
        PyModule_AddObjectRef(module, "Atomic", (PyObject *)&AtomicType) < 0 ||
        PyModule_AddObjectRef(module, "FieldSetter", (PyObject *)&SetterType) < 0 ||
        PyModule_AddIntConstant(module, "LOCK_SIZE", sizeof(lock_record)) < 0 ||
        PyModule_AddIntConstant(module, "LOCK_HOLDER", offsetof(lock_record, holder)) < 0 ||
        PyModule_AddIntConstant(module, "LOCK_RECOVERIES", offsetof(lock_record, recoveries)) < 0 ||
        PyModule_AddIntConstant(module, "LOCK_DEAD_HOLDER", offsetof(lock_record, dead_holder)) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
