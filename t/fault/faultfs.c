/*
 * faultfs.c — an LD_PRELOAD interposer for the disk-fault tests (t/store/fault_*.t).
 *
 * Makes chosen file operations fail with a chosen errno for files whose path
 * contains a chosen substring, switched on and off at run time (no restart of
 * the process) through a control file that is read on every candidate call.
 * Test-only: built by t/lib/FaultTest.pm into the test's temp dir with
 *     cc -shared -fPIC -O2 -o faultfs.so faultfs.c -ldl -lpthread
 * and given to nginx alone with LD_PRELOAD.
 *
 * Environment (read once, when the library is loaded: NGINX wipes the
 * environment of its worker processes, the library keeps what it read):
 *   FAULTFS_CONTROL  path of the control file (required; absent file = no fault)
 *   FAULTFS_LOG      optional: one line appended per injected failure
 *                    "<pid> <op> <errno> <path>[ short=<n>]"
 *
 * Control file (key=value lines; an empty or missing file turns faults off):
 *   ops=write,fdatasync   which operations fail (comma-separated):
 *                         write   write(2)
 *                         writev  writev(2)
 *                         pwrite  pwrite, pwrite64, pwritev, pwritev64
 *                         writes  all three above
 *                         fsync, fdatasync, ftruncate
 *                         open    open/openat/creat with O_CREAT (fails before creating)
 *                         rename  rename/renameat/renameat2 (old or new path matches)
 *                         unlink  unlink/unlinkat
 *   errno=ENOSPC          ENOSPC, EIO, EDQUOT, EROFS, EACCES, EPERM, ENOMEM or a number
 *   path=SUBSTRING        the file's path contains it (several path= lines: any);
 *                         no path= line: every tracked path
 *   count=N               optional: only the next N matching calls fail (shared
 *                         by all processes; with id=, see below), then pass
 *   id=TOKEN              names the count's claims (a new id restarts the count)
 *   short=K               optional, write-family ops: the first faulted call on an
 *                         fd writes min(K, len-1) bytes for real and returns that
 *                         short count; the next faulted call on that fd fails
 *                         with errno (a torn record, as a full disk does)
 *
 * Paths are known for descriptors opened through open/open64/openat/openat64/
 * creat/__open_2 (fd -> path table, cleared by close, copied by dup/dup2/
 * dup3). Sockets and unknown fds are never faulted.
 *
 * "count" across processes: a matching call claims CONTROL_DIR/claim.<id>.<i>
 * for the first i in 1..N it can create with O_EXCL; no claim left = pass.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define FD_MAX 65536
#define MAX_PATHS 8
#define CTL_MAX 4096

enum {
    OP_WRITE = 1 << 0,
    OP_WRITEV = 1 << 1,
    OP_PWRITE = 1 << 2,
    OP_FSYNC = 1 << 3,
    OP_FDATASYNC = 1 << 4,
    OP_OPEN = 1 << 5,
    OP_RENAME = 1 << 6,
    OP_UNLINK = 1 << 7,
    OP_FTRUNCATE = 1 << 8,
};

/* --- the real functions -------------------------------------------------- */

static ssize_t (*real_write)(int, const void*, size_t);
static ssize_t (*real_writev)(int, const struct iovec*, int);
static ssize_t (*real_pwrite)(int, const void*, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void*, size_t, off64_t);
static ssize_t (*real_pwritev)(int, const struct iovec*, int, off_t);
static ssize_t (*real_pwritev64)(int, const struct iovec*, int, off64_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off64_t);
static int (*real_open)(const char*, int, ...);
static int (*real_open64)(const char*, int, ...);
static int (*real_openat)(int, const char*, int, ...);
static int (*real_openat64)(int, const char*, int, ...);
static int (*real___open_2)(const char*, int);
static int (*real___open64_2)(const char*, int);
static int (*real___openat_2)(int, const char*, int);
static int (*real___openat64_2)(int, const char*, int);
static int (*real_creat)(const char*, mode_t);
static int (*real_creat64)(const char*, mode_t);
static int (*real_close)(int);
static int (*real_dup)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);
static int (*real_rename)(const char*, const char*);
static int (*real_renameat)(int, const char*, int, const char*);
static int (*real_renameat2)(int, const char*, int, const char*, unsigned);
static int (*real_unlink)(const char*);
static int (*real_unlinkat)(int, const char*, int);

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static __thread int in_init;   /* dlsym re-entering a hook: use raw syscalls */
static volatile int ready;

static char control_path[PATH_MAX];
static char control_dir[PATH_MAX];
static char log_path[PATH_MAX];

/* fd -> path (malloc'ed), guarded by table_lock */
static char* fd_path[FD_MAX];
static unsigned char fd_shorted[FD_MAX];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static void lock_prepare(void) { pthread_mutex_lock(&table_lock); }
static void lock_release(void) { pthread_mutex_unlock(&table_lock); }

#define RESOLVE(name) real_##name = dlsym(RTLD_NEXT, #name)

static void resolve(void) {
    in_init = 1;
    RESOLVE(write);
    RESOLVE(writev);
    RESOLVE(pwrite);
    RESOLVE(pwrite64);
    RESOLVE(pwritev);
    RESOLVE(pwritev64);
    RESOLVE(fsync);
    RESOLVE(fdatasync);
    RESOLVE(ftruncate);
    RESOLVE(ftruncate64);
    RESOLVE(open);
    RESOLVE(open64);
    RESOLVE(openat);
    RESOLVE(openat64);
    RESOLVE(__open_2);
    RESOLVE(__open64_2);
    RESOLVE(__openat_2);
    RESOLVE(__openat64_2);
    RESOLVE(creat);
    RESOLVE(creat64);
    RESOLVE(close);
    RESOLVE(dup);
    RESOLVE(dup2);
    RESOLVE(dup3);
    RESOLVE(rename);
    RESOLVE(renameat);
    RESOLVE(renameat2);
    RESOLVE(unlink);
    RESOLVE(unlinkat);

    const char* c = getenv("FAULTFS_CONTROL");
    if (c != NULL && strlen(c) < sizeof(control_path)) {
        strcpy(control_path, c);
        strcpy(control_dir, c);
        char* slash = strrchr(control_dir, '/');
        if (slash != NULL) *slash = '\0';
        else strcpy(control_dir, ".");
    }
    const char* l = getenv("FAULTFS_LOG");
    if (l != NULL && strlen(l) < sizeof(log_path)) strcpy(log_path, l);
    pthread_atfork(lock_prepare, lock_release, lock_release);
    in_init = 0;
    ready = 1;
}

static void init(void) {
    if (!ready && !in_init) pthread_once(&init_once, resolve);
}

__attribute__((constructor)) static void faultfs_load(void) { init(); }

/* Raw fallbacks, only while dlsym runs (never in practice). */
static int raw_openat(int dirfd, const char* p, int flags, mode_t mode) {
    return (int) syscall(SYS_openat, dirfd, p, flags, mode);
}
static ssize_t raw_read(int fd, void* b, size_t n) { return syscall(SYS_read, fd, b, n); }
static ssize_t raw_write(int fd, const void* b, size_t n) { return syscall(SYS_write, fd, b, n); }
static int raw_close(int fd) { return (int) syscall(SYS_close, fd); }

/* --- the fd table -------------------------------------------------------- */

static void track(int fd, const char* path) {
    if (fd < 0 || fd >= FD_MAX) return;
    char* copy = path ? strdup(path) : NULL;
    pthread_mutex_lock(&table_lock);
    free(fd_path[fd]);
    fd_path[fd] = copy;
    fd_shorted[fd] = 0;
    pthread_mutex_unlock(&table_lock);
}

static void track_dup(int from, int to) {
    if (from < 0 || from >= FD_MAX || to < 0 || to >= FD_MAX || from == to) return;
    pthread_mutex_lock(&table_lock);
    char* copy = fd_path[from] ? strdup(fd_path[from]) : NULL;
    free(fd_path[to]);
    fd_path[to] = copy;
    fd_shorted[to] = 0;
    pthread_mutex_unlock(&table_lock);
}

/* Copies the path of fd into out; 0 when not tracked. */
static int path_of(int fd, char* out, size_t size) {
    if (fd < 0 || fd >= FD_MAX) return 0;
    int found = 0;
    pthread_mutex_lock(&table_lock);
    if (fd_path[fd] != NULL) {
        snprintf(out, size, "%s", fd_path[fd]);
        found = 1;
    }
    pthread_mutex_unlock(&table_lock);
    return found;
}

/* Absolute form of (dirfd, path) as far as we know it. */
static void full_path(int dirfd, const char* path, char* out, size_t size) {
    if (path == NULL) {
        out[0] = '\0';
        return;
    }
    if (path[0] == '/') {
        snprintf(out, size, "%s", path);
        return;
    }
    char base[PATH_MAX];
    if (dirfd == AT_FDCWD) {
        if (getcwd(base, sizeof(base)) == NULL) base[0] = '\0';
    } else if (!path_of(dirfd, base, sizeof(base))) {
        base[0] = '\0';
    }
    snprintf(out, size, "%s/%s", base, path);
}

/* --- the control file ---------------------------------------------------- */

struct control {
    unsigned ops;
    int err;
    int npaths;
    char paths[MAX_PATHS][256];
    long count;
    long shortlen;
    char id[64];
};

static int errno_of(const char* s) {
    static const struct { const char* name; int value; } names[] = {
        {"ENOSPC", ENOSPC}, {"EIO", EIO},     {"EDQUOT", EDQUOT}, {"EROFS", EROFS},
        {"EACCES", EACCES}, {"EPERM", EPERM}, {"ENOMEM", ENOMEM}, {"EFBIG", EFBIG},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(s, names[i].name) == 0) return names[i].value;
    int n = atoi(s);
    return n > 0 ? n : EIO;
}

static unsigned ops_of(char* s) {
    unsigned ops = 0;
    for (char* save = NULL, *t = strtok_r(s, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
        if (!strcmp(t, "write")) ops |= OP_WRITE;
        else if (!strcmp(t, "writev")) ops |= OP_WRITEV;
        else if (!strcmp(t, "pwrite")) ops |= OP_PWRITE;
        else if (!strcmp(t, "writes")) ops |= OP_WRITE | OP_WRITEV | OP_PWRITE;
        else if (!strcmp(t, "fsync")) ops |= OP_FSYNC;
        else if (!strcmp(t, "fdatasync")) ops |= OP_FDATASYNC;
        else if (!strcmp(t, "ftruncate")) ops |= OP_FTRUNCATE;
        else if (!strcmp(t, "open")) ops |= OP_OPEN;
        else if (!strcmp(t, "rename")) ops |= OP_RENAME;
        else if (!strcmp(t, "unlink")) ops |= OP_UNLINK;
    }
    return ops;
}

/* Reads the control file with raw calls (never through the hooks). */
static int read_control(struct control* c) {
    memset(c, 0, sizeof(*c));
    if (control_path[0] == '\0') return 0;
    int fd = raw_openat(AT_FDCWD, control_path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) return 0;
    char buf[CTL_MAX + 1];
    size_t len = 0;
    while (len < CTL_MAX) {
        ssize_t n = raw_read(fd, buf + len, CTL_MAX - len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        len += (size_t) n;
    }
    raw_close(fd);
    buf[len] = '\0';
    c->err = EIO;
    for (char* save = NULL, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char* eq = strchr(line, '=');
        if (eq == NULL) continue;
        *eq = '\0';
        char* v = eq + 1;
        size_t vl = strlen(v);
        while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == ' ')) v[--vl] = '\0';
        if (!strcmp(line, "ops")) c->ops = ops_of(v);
        else if (!strcmp(line, "errno")) c->err = errno_of(v);
        else if (!strcmp(line, "path") && c->npaths < MAX_PATHS && vl < sizeof(c->paths[0]))
            strcpy(c->paths[c->npaths++], v);
        else if (!strcmp(line, "count")) c->count = atol(v);
        else if (!strcmp(line, "short")) c->shortlen = atol(v);
        else if (!strcmp(line, "id") && vl < sizeof(c->id)) strcpy(c->id, v);
    }
    return c->ops != 0;
}

static int path_matches(const struct control* c, const char* path) {
    if (path == NULL || path[0] == '\0') return 0;
    if (c->npaths == 0) return 1;
    for (int i = 0; i < c->npaths; i++)
        if (strstr(path, c->paths[i]) != NULL) return 1;
    return 0;
}

/* One of the next `count` failures: claim a slot (shared by all processes). */
static int claim(const struct control* c) {
    if (c->count <= 0) return 1;
    long n = c->count > 100000 ? 100000 : c->count;
    for (long i = 1; i <= n; i++) {
        char p[PATH_MAX + 128];
        snprintf(p, sizeof(p), "%s/claim.%s.%ld", control_dir, c->id[0] ? c->id : "default", i);
        int fd = raw_openat(AT_FDCWD, p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) {
            raw_close(fd);
            return 1;
        }
        if (errno != EEXIST) return 0;
    }
    return 0;
}

static const char* op_name(unsigned op) {
    switch (op) {
    case OP_WRITE: return "write";
    case OP_WRITEV: return "writev";
    case OP_PWRITE: return "pwrite";
    case OP_FSYNC: return "fsync";
    case OP_FDATASYNC: return "fdatasync";
    case OP_OPEN: return "open";
    case OP_RENAME: return "rename";
    case OP_UNLINK: return "unlink";
    case OP_FTRUNCATE: return "ftruncate";
    }
    return "?";
}

static void log_hit(unsigned op, int err, const char* path, long shortlen) {
    if (log_path[0] == '\0') return;
    char line[PATH_MAX + 128];
    int n = shortlen >= 0 ? snprintf(line, sizeof(line), "%ld %s %d %s short=%ld\n", (long) getpid(), op_name(op), err, path, shortlen)
                          : snprintf(line, sizeof(line), "%ld %s %d %s\n", (long) getpid(), op_name(op), err, path);
    if (n <= 0) return;
    if ((size_t) n >= sizeof(line)) n = sizeof(line) - 1;
    int fd = raw_openat(AT_FDCWD, log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) return;
    raw_write(fd, line, (size_t) n);
    raw_close(fd);
}

/*
 * Decision for one call. Returns 0 (pass), or the errno to fail with; for a
 * write with short=, *shortlen is set (>0: write that many bytes and return).
 */
static int decide_path(unsigned op, const char* path, long* shortlen) {
    if (in_init || !ready || control_path[0] == '\0') return 0;
    int saved = errno;
    struct control c;
    int fail = 0;
    if (read_control(&c) && (c.ops & op) && path_matches(&c, path) && claim(&c)) {
        fail = c.err;
        if (shortlen != NULL) *shortlen = c.shortlen;
        log_hit(op, c.err, path, -1);
    }
    errno = saved;
    return fail;
}

/* For fd-based ops. With short=K, a write's first faulted call writes K bytes. */
static int decide_fd(unsigned op, int fd, size_t len, long* do_short) {
    if (in_init || !ready || control_path[0] == '\0') return 0;
    char path[PATH_MAX];
    if (!path_of(fd, path, sizeof(path))) return 0;
    int saved = errno;
    struct control c;
    int fail = 0;
    if (do_short != NULL) *do_short = 0;
    if (read_control(&c) && (c.ops & op) && path_matches(&c, path)) {
        int shorted = 0;
        if (c.shortlen > 0 && do_short != NULL) {
            pthread_mutex_lock(&table_lock);
            shorted = fd_shorted[fd];
            pthread_mutex_unlock(&table_lock);
        }
        if (shorted) {
            /* second half of a torn write: fail, whatever the count says */
            pthread_mutex_lock(&table_lock);
            fd_shorted[fd] = 0;
            pthread_mutex_unlock(&table_lock);
            fail = c.err;
            log_hit(op, c.err, path, -1);
        } else if (claim(&c)) {
            if (c.shortlen > 0 && do_short != NULL && len > 1) {
                long k = c.shortlen < (long) len - 1 ? c.shortlen : (long) len - 1;
                *do_short = k;
                pthread_mutex_lock(&table_lock);
                fd_shorted[fd] = 1;
                pthread_mutex_unlock(&table_lock);
                log_hit(op, 0, path, k);
            } else {
                fail = c.err;
                log_hit(op, c.err, path, -1);
            }
        }
    }
    errno = saved;
    return fail;
}

#define FAIL(e) \
    do {        \
        errno = (e); \
        return -1; \
    } while (0)

/* --- write family --------------------------------------------------------- */

ssize_t write(int fd, const void* buf, size_t n) {
    init();
    if (real_write == NULL) return raw_write(fd, buf, n);
    long k = 0;
    int e = decide_fd(OP_WRITE, fd, n, &k);
    if (e) FAIL(e);
    if (k > 0) return real_write(fd, buf, (size_t) k);
    return real_write(fd, buf, n);
}

/* A copy of iov cut to k bytes (at most 64 entries); returns the count. */
static int cut_iov(const struct iovec* iov, int cnt, long k, struct iovec* out) {
    int m = 0;
    for (int i = 0; i < cnt && m < 64 && k > 0; i++) {
        out[m] = iov[i];
        if ((long) out[m].iov_len > k) out[m].iov_len = (size_t) k;
        k -= (long) out[m].iov_len;
        m++;
    }
    return m;
}

static size_t iov_total(const struct iovec* iov, int cnt) {
    size_t t = 0;
    for (int i = 0; i < cnt; i++) t += iov[i].iov_len;
    return t;
}

ssize_t writev(int fd, const struct iovec* iov, int cnt) {
    init();
    if (real_writev == NULL) return syscall(SYS_writev, fd, iov, cnt);
    long k = 0;
    int e = decide_fd(OP_WRITEV, fd, iov_total(iov, cnt), &k);
    if (e) FAIL(e);
    if (k > 0) {
        struct iovec cut[64];
        return real_writev(fd, cut, cut_iov(iov, cnt, k, cut));
    }
    return real_writev(fd, iov, cnt);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
    init();
    if (real_pwrite == NULL) return syscall(SYS_pwrite64, fd, buf, n, off);
    long k = 0;
    int e = decide_fd(OP_PWRITE, fd, n, &k);
    if (e) FAIL(e);
    return real_pwrite(fd, buf, k > 0 ? (size_t) k : n, off);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off64_t off) {
    init();
    if (real_pwrite64 == NULL) return syscall(SYS_pwrite64, fd, buf, n, off);
    long k = 0;
    int e = decide_fd(OP_PWRITE, fd, n, &k);
    if (e) FAIL(e);
    return real_pwrite64(fd, buf, k > 0 ? (size_t) k : n, off);
}

ssize_t pwritev(int fd, const struct iovec* iov, int cnt, off_t off) {
    init();
    if (real_pwritev == NULL) FAIL(ENOSYS);
    long k = 0;
    int e = decide_fd(OP_PWRITE, fd, iov_total(iov, cnt), &k);
    if (e) FAIL(e);
    if (k > 0) {
        struct iovec cut[64];
        return real_pwritev(fd, cut, cut_iov(iov, cnt, k, cut), off);
    }
    return real_pwritev(fd, iov, cnt, off);
}

ssize_t pwritev64(int fd, const struct iovec* iov, int cnt, off64_t off) {
    init();
    if (real_pwritev64 == NULL) FAIL(ENOSYS);
    long k = 0;
    int e = decide_fd(OP_PWRITE, fd, iov_total(iov, cnt), &k);
    if (e) FAIL(e);
    if (k > 0) {
        struct iovec cut[64];
        return real_pwritev64(fd, cut, cut_iov(iov, cnt, k, cut), off);
    }
    return real_pwritev64(fd, iov, cnt, off);
}

/* --- sync, truncate ------------------------------------------------------- */

int fsync(int fd) {
    init();
    if (real_fsync == NULL) return (int) syscall(SYS_fsync, fd);
    int e = decide_fd(OP_FSYNC, fd, 0, NULL);
    if (e) FAIL(e);
    return real_fsync(fd);
}

int fdatasync(int fd) {
    init();
    if (real_fdatasync == NULL) return (int) syscall(SYS_fdatasync, fd);
    int e = decide_fd(OP_FDATASYNC, fd, 0, NULL);
    if (e) FAIL(e);
    return real_fdatasync(fd);
}

int ftruncate(int fd, off_t len) {
    init();
    if (real_ftruncate == NULL) return (int) syscall(SYS_ftruncate, fd, len);
    int e = decide_fd(OP_FTRUNCATE, fd, 0, NULL);
    if (e) FAIL(e);
    return real_ftruncate(fd, len);
}

int ftruncate64(int fd, off64_t len) {
    init();
    if (real_ftruncate64 == NULL) return (int) syscall(SYS_ftruncate, fd, len);
    int e = decide_fd(OP_FTRUNCATE, fd, 0, NULL);
    if (e) FAIL(e);
    return real_ftruncate64(fd, len);
}

/* --- open family ------------------------------------------------------------ */

static int open_common(int dirfd, const char* path, int flags, mode_t mode,
                       int (*call)(int, const char*, int, mode_t, void*), void* fn) {
    char full[PATH_MAX];
    full_path(dirfd, path, full, sizeof(full));
    if (flags & O_CREAT) {
        int e = decide_path(OP_OPEN, full, NULL);
        if (e) FAIL(e);
    }
    int fd = call(dirfd, path, flags, mode, fn);
    if (fd >= 0) {
        int saved = errno;
        track(fd, full);
        errno = saved;
    }
    return fd;
}

static int needs_mode(int flags) { return (flags & O_CREAT) || ((flags & O_TMPFILE) == O_TMPFILE); }

static int call_open(int dirfd, const char* p, int f, mode_t m, void* fn) {
    (void) dirfd;
    if (fn == NULL) return raw_openat(AT_FDCWD, p, f, m);
    return ((int (*)(const char*, int, ...)) fn)(p, f, m);
}
static int call_openat(int dirfd, const char* p, int f, mode_t m, void* fn) {
    if (fn == NULL) return raw_openat(dirfd, p, f, m);
    return ((int (*)(int, const char*, int, ...)) fn)(dirfd, p, f, m);
}
static int call_open2(int dirfd, const char* p, int f, mode_t m, void* fn) {
    (void) dirfd;
    (void) m;
    if (fn == NULL) return raw_openat(AT_FDCWD, p, f, 0);
    return ((int (*)(const char*, int)) fn)(p, f);
}
static int call_openat2(int dirfd, const char* p, int f, mode_t m, void* fn) {
    (void) m;
    if (fn == NULL) return raw_openat(dirfd, p, f, 0);
    return ((int (*)(int, const char*, int)) fn)(dirfd, p, f);
}
static int call_creat(int dirfd, const char* p, int f, mode_t m, void* fn) {
    (void) dirfd;
    (void) f;
    if (fn == NULL) return raw_openat(AT_FDCWD, p, O_CREAT | O_WRONLY | O_TRUNC, m);
    return ((int (*)(const char*, mode_t)) fn)(p, m);
}

#define MODE_ARG(flags)                          \
    mode_t mode = 0;                             \
    if (needs_mode(flags)) {                     \
        va_list ap;                              \
        va_start(ap, flags);                     \
        mode = (mode_t) va_arg(ap, int);         \
        va_end(ap);                              \
    }

int open(const char* path, int flags, ...) {
    MODE_ARG(flags);
    init();
    if (in_init) return raw_openat(AT_FDCWD, path, flags, mode);
    return open_common(AT_FDCWD, path, flags, mode, call_open, (void*) real_open);
}

int open64(const char* path, int flags, ...) {
    MODE_ARG(flags);
    init();
    if (in_init) return raw_openat(AT_FDCWD, path, flags, mode);
    return open_common(AT_FDCWD, path, flags, mode, call_open, (void*) real_open64);
}

int openat(int dirfd, const char* path, int flags, ...) {
    MODE_ARG(flags);
    init();
    if (in_init) return raw_openat(dirfd, path, flags, mode);
    return open_common(dirfd, path, flags, mode, call_openat, (void*) real_openat);
}

int openat64(int dirfd, const char* path, int flags, ...) {
    MODE_ARG(flags);
    init();
    if (in_init) return raw_openat(dirfd, path, flags, mode);
    return open_common(dirfd, path, flags, mode, call_openat, (void*) real_openat64);
}

int __open_2(const char* path, int flags) {
    init();
    if (in_init) return raw_openat(AT_FDCWD, path, flags, 0);
    return open_common(AT_FDCWD, path, flags, 0, call_open2, (void*) real___open_2);
}

int __open64_2(const char* path, int flags) {
    init();
    if (in_init) return raw_openat(AT_FDCWD, path, flags, 0);
    return open_common(AT_FDCWD, path, flags, 0, call_open2, (void*) real___open64_2);
}

int __openat_2(int dirfd, const char* path, int flags) {
    init();
    if (in_init) return raw_openat(dirfd, path, flags, 0);
    return open_common(dirfd, path, flags, 0, call_openat2, (void*) real___openat_2);
}

int __openat64_2(int dirfd, const char* path, int flags) {
    init();
    if (in_init) return raw_openat(dirfd, path, flags, 0);
    return open_common(dirfd, path, flags, 0, call_openat2, (void*) real___openat64_2);
}

int creat(const char* path, mode_t mode) {
    init();
    if (in_init) return raw_openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
    return open_common(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, call_creat, (void*) real_creat);
}

int creat64(const char* path, mode_t mode) {
    init();
    if (in_init) return raw_openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
    return open_common(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, call_creat, (void*) real_creat64);
}

/* --- close, dup --------------------------------------------------------------- */

int close(int fd) {
    init();
    if (real_close == NULL) return raw_close(fd);
    int saved = errno;
    track(fd, NULL);
    errno = saved;
    return real_close(fd);
}

int dup(int fd) {
    init();
    if (real_dup == NULL) return (int) syscall(SYS_dup, fd);
    int nfd = real_dup(fd);
    if (nfd >= 0) {
        int saved = errno;
        track_dup(fd, nfd);
        errno = saved;
    }
    return nfd;
}

int dup2(int fd, int nfd) {
    init();
    if (real_dup2 == NULL) return (int) syscall(SYS_dup3, fd, nfd, 0);
    int rc = real_dup2(fd, nfd);
    if (rc >= 0) {
        int saved = errno;
        track_dup(fd, rc);
        errno = saved;
    }
    return rc;
}

int dup3(int fd, int nfd, int flags) {
    init();
    if (real_dup3 == NULL) return (int) syscall(SYS_dup3, fd, nfd, flags);
    int rc = real_dup3(fd, nfd, flags);
    if (rc >= 0) {
        int saved = errno;
        track_dup(fd, rc);
        errno = saved;
    }
    return rc;
}

/* --- rename, unlink --------------------------------------------------------- */

static int decide_two(unsigned op, int d1, const char* p1, int d2, const char* p2) {
    char a[PATH_MAX], b[PATH_MAX];
    full_path(d1, p1, a, sizeof(a));
    int e = decide_path(op, a, NULL);
    if (e || p2 == NULL) return e;
    full_path(d2, p2, b, sizeof(b));
    return decide_path(op, b, NULL);
}

int rename(const char* from, const char* to) {
    init();
    if (real_rename == NULL) return (int) syscall(SYS_renameat, AT_FDCWD, from, AT_FDCWD, to);
    int e = decide_two(OP_RENAME, AT_FDCWD, from, AT_FDCWD, to);
    if (e) FAIL(e);
    return real_rename(from, to);
}

int renameat(int d1, const char* from, int d2, const char* to) {
    init();
    if (real_renameat == NULL) return (int) syscall(SYS_renameat, d1, from, d2, to);
    int e = decide_two(OP_RENAME, d1, from, d2, to);
    if (e) FAIL(e);
    return real_renameat(d1, from, d2, to);
}

int renameat2(int d1, const char* from, int d2, const char* to, unsigned flags) {
    init();
    if (real_renameat2 == NULL) return (int) syscall(SYS_renameat2, d1, from, d2, to, flags);
    int e = decide_two(OP_RENAME, d1, from, d2, to);
    if (e) FAIL(e);
    return real_renameat2(d1, from, d2, to, flags);
}

int unlink(const char* path) {
    init();
    if (real_unlink == NULL) return (int) syscall(SYS_unlinkat, AT_FDCWD, path, 0);
    int e = decide_two(OP_UNLINK, AT_FDCWD, path, AT_FDCWD, NULL);
    if (e) FAIL(e);
    return real_unlink(path);
}

int unlinkat(int dirfd, const char* path, int flags) {
    init();
    if (real_unlinkat == NULL) return (int) syscall(SYS_unlinkat, dirfd, path, flags);
    int e = decide_two(OP_UNLINK, dirfd, path, AT_FDCWD, NULL);
    if (e) FAIL(e);
    return real_unlinkat(dirfd, path, flags);
}
