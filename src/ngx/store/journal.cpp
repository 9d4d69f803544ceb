#include "ngx/store/journal.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <map>
#include <memory>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "core/store/mutation.hpp"
#include "core/store/records.hpp"
#include "ngx/common/shm.hpp"
#include "ngx/store/mutation_log.hpp"

namespace webhook::ngx {

namespace {

constexpr char kSnapshot[] = "snapshot";
// DIR stays within 4 × the live state (+32 MiB): compaction copies the whole
// state under the zone lock, so it should not run every few seconds.
constexpr uint64_t kCompactMinBytes = 32u << 20;
constexpr uint64_t kCompactRatio = 4;
constexpr ngx_msec_t kCompactCheck = 5000;

std::string dir_of(Zone* zone) { return std::string((const char*) zone->state_dir.data, zone->state_dir.len); }

// --- plain file helpers (master at start, or a thread-pool thread) ------------

bool read_whole(const std::string& path, std::string* out) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        out->append(buf, n);
    }
    close(fd);
    return true;
}

int write_all(int fd, const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
        ssize_t n = write(fd, data.data() + off, data.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno;
        off += n;
    }
    return 0;
}

int fsync_dir(const std::string& dir) {
    int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno;
    int rc = fsync(fd) == 0 ? 0 : errno;
    close(fd);
    return rc;
}

// snapshot.tmp, fsync, rename over snapshot, fsync DIR: the snapshot is
// always either the old one or the new one, whole.
int write_snapshot(const std::string& dir, const std::string& data) {
    std::string tmp = dir + "/" + kSnapshot + ".tmp";
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return errno;
    int rc = write_all(fd, data);
    if (rc == 0 && fsync(fd) != 0) rc = errno;
    close(fd);
    if (rc == 0 && rename(tmp.c_str(), (dir + "/" + kSnapshot).c_str()) != 0) rc = errno;
    if (rc == 0) rc = fsync_dir(dir);
    return rc;
}

std::vector<std::string> journal_files(const std::string& dir) {
    std::vector<std::string> names;
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) return names;
    while (dirent* e = readdir(d)) {
        std::string_view n = e->d_name;
        if (n.substr(0, 8) == "journal-" && n.size() > 12 && n.substr(n.size() - 4) == ".log") names.emplace_back(n);
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    return names;
}

// journal-<gen>-<pid>.log → pid
long pid_of(const std::string& name) {
    size_t dash = name.rfind('-');
    return dash == std::string::npos ? -1 : std::atol(name.c_str() + dash + 1);
}

// --- the per-worker writer ----------------------------------------------------

struct Waiter {
    ngx_http_request_t* r;
    Committed done;
    ngx_pool_cleanup_t* cln;
};

void waiter_abandon(void* data) { static_cast<Waiter*>(data)->r = nullptr; }

}  // namespace

struct Journal {
    Zone* zone;
    std::string dir;
    ngx_thread_task_t* task;

    // Owned by the event loop.
    std::string pending;
    uint64_t pending_max_seq = 0;
    std::vector<Waiter*> pending_waiters;
    bool busy = false;
    ngx_uint_t gen = 0;
    uint64_t file_max_seq = 0;
    std::string path;
    std::vector<std::pair<std::string, uint64_t>> retired;  // old files, their last seq

    // Handed to the thread while busy.
    std::string batch;
    std::vector<Waiter*> batch_waiters;
    int fd = -1;
    std::string open_path;               // non-empty: switch to this file first
    std::vector<std::string> unlink_paths;
    int error = 0;
    const char* failed_op = "";
    bool rolled_back = false;            // a failed batch was cut off the file again
    ngx_uint_t serial = 0;               // files this worker opened (a file a failed batch
                                         // could not be cut from is left for a new one)
};

namespace {

// A failed batch must not come back at the next start (its callers were
// told it failed, and their changes reverted): cut it off the file again.
bool roll_back(int fd, off_t size) { return ftruncate(fd, size) == 0 && fdatasync(fd) == 0; }

void journal_thread(void* data, ngx_log_t*) {
    Journal* j = *static_cast<Journal**>(data);
    j->error = 0;
    if (!j->open_path.empty()) {
        if (j->fd >= 0) close(j->fd);
        j->fd = open(j->open_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (j->fd < 0) {
            j->error = errno;
            j->failed_op = "open";
            return;
        }
        if ((j->error = fsync_dir(j->dir)) != 0) {
            j->failed_op = "fsync of the directory";
            return;
        }
    }
    for (const std::string& p : j->unlink_paths) unlink(p.c_str());
    off_t size = lseek(j->fd, 0, SEEK_END);
    if ((j->error = write_all(j->fd, j->batch)) != 0) {
        j->failed_op = "write";
    } else if (fdatasync(j->fd) != 0) {
        j->error = errno;
        j->failed_op = "fdatasync";
    }
    if (j->error != 0) j->rolled_back = size >= 0 && roll_back(j->fd, size);
}

void start_batch(Journal* j);

void journal_done(ngx_event_t* ev) {
    auto* j = static_cast<Journal*>(ev->data);
    j->busy = false;
    bool ok = j->error == 0;
    ngx_log_debug1(NGX_LOG_DEBUG_CORE, ngx_cycle->log, 0, "webhook journal: batch %s", ok ? "durable" : "failed");
    if (!ok) {
        ngx_log_error(NGX_LOG_CRIT, ngx_cycle->log, j->error,
                      "webhook_zone \"%V\": journal %s failed in \"%s\"%s: %uz change(s) refused and reverted",
                      &j->zone->name(), j->failed_op, j->open_path.empty() ? j->path.c_str() : j->open_path.c_str(),
                      j->rolled_back || !j->open_path.empty() ? "" : " (the file is left for a new one)",
                      j->batch_waiters.size());
        if (!j->open_path.empty()) {
            j->path.clear();   // retry the open next time
        } else if (!j->rolled_back) {
            // Part of the failed batch may stay in that file: never append
            // to it again. Its records are cancelled by the reverts that
            // follow them (later sequence numbers) when the zone is rebuilt.
            close(j->fd);
            j->fd = -1;
            j->retired.emplace_back(j->path, std::max(j->file_max_seq, j->pending_max_seq));
            j->path.clear();
        }
    } else if (!j->open_path.empty()) {
        j->path = j->open_path;
    }
    if (ok) {
        Lock lock(j->zone->shpool);
        j->zone->sh->log->journal_bytes += j->batch.size();
    }
    std::vector<Waiter*> waiters;
    waiters.swap(j->batch_waiters);
    j->batch.clear();
    for (Waiter* w : waiters) {
        if (w->cln != nullptr && w->r != nullptr) w->cln->handler = nullptr;
        {
            // Finalizing a request from here (not from its connection's
            // event) must run what it posted, as NGINX's own thread-pool
            // completions do: a client gone meanwhile is closed there.
            ngx_connection_t* c = w->r != nullptr ? w->r->connection : nullptr;
            w->done(w->r, ok);
            if (c != nullptr) ngx_http_run_posted_requests(c);
        }
        delete w;
    }
    // A waiter may have queued more (a revert) and started it already.
    if (!j->busy && !j->pending.empty()) start_batch(j);
}

void start_batch(Journal* j) {
    j->batch.swap(j->pending);
    j->batch_waiters.swap(j->pending_waiters);
    uint64_t batch_max = j->pending_max_seq;

    ngx_uint_t gen;
    uint64_t covered;
    {
        Lock lock(j->zone->shpool);
        gen = j->zone->sh->log->snapshot_gen;
        covered = j->zone->sh->log->snapshot_seq;
    }

    j->open_path.clear();
    j->rolled_back = false;
    if (j->fd < 0 || j->path.empty() || gen != j->gen) {
        if (!j->path.empty()) j->retired.emplace_back(j->path, j->file_max_seq);
        j->gen = gen;
        j->file_max_seq = 0;
        j->open_path = j->dir + "/journal-" + std::to_string(gen) + "-" + std::to_string(j->serial++) + "-" +
                       std::to_string(ngx_pid) + ".log";
    }
    j->unlink_paths.clear();
    auto covered_now = [&](const std::pair<std::string, uint64_t>& f) { return f.second <= covered; };
    for (auto& f : j->retired)
        if (covered_now(f)) j->unlink_paths.push_back(f.first);
    j->retired.erase(std::remove_if(j->retired.begin(), j->retired.end(), covered_now), j->retired.end());
    j->file_max_seq = std::max(j->file_max_seq, batch_max);

    j->busy = true;
    ngx_log_debug3(NGX_LOG_DEBUG_CORE, ngx_cycle->log, 0, "webhook journal: batch of %uz bytes, %uz waiting, up to seq %uL",
                   j->batch.size(), j->batch_waiters.size(), batch_max);
    if (ngx_thread_task_post(j->zone->thread_pool, j->task) != NGX_OK) {
        j->error = EAGAIN;
        j->failed_op = "thread task post";
        journal_done(&j->task->event);
    }
}

Journal* journal_of(Zone* zone) {
    if (zone->journal != nullptr) return zone->journal;
    auto* j = new Journal();
    j->zone = zone;
    j->dir = dir_of(zone);
    j->task = ngx_thread_task_alloc(ngx_cycle->pool, sizeof(Journal*));
    if (j->task == nullptr) {
        delete j;
        throw std::bad_alloc();
    }
    *static_cast<Journal**>(j->task->ctx) = j;
    j->task->handler = callback<journal_thread>;
    j->task->event.handler = callback<journal_done>;
    j->task->event.data = j;
    zone->journal = j;
    return j;
}

// --- compaction (worker 0) -------------------------------------------------------

}  // namespace

struct Compaction {
    Zone* zone;
    std::string dir;
    StateRecords state;   // taken on the event loop
    std::string data;     // encoded in the thread
    uint64_t seq;
    uint64_t journal_bytes_before;
    int error;
    ngx_thread_task_t* task;
    ngx_event_t timer;
};

namespace {

void compaction_thread(void* data, ngx_log_t*) {
    Compaction* c = *static_cast<Compaction**>(data);
    try {
        c->data = log_encode(c->state);
    } catch (...) {
        c->error = ENOMEM;
        return;
    }
    c->error = write_snapshot(c->dir, c->data);
    if (c->error != 0) return;
    // Journals of processes that are gone and are covered by the snapshot.
    for (const std::string& name : journal_files(c->dir)) {
        long pid = pid_of(name);
        if (pid <= 0 || pid == static_cast<long>(getpid()) || !(kill(pid, 0) != 0 && errno == ESRCH)) continue;
        std::string path = c->dir + "/" + name, bytes;
        if (!read_whole(path, &bytes)) continue;
        JournalScan scan = journal_decode(bytes);
        uint64_t max_seq = 0;
        for (auto& r : scan.records) max_seq = std::max(max_seq, r.seq);
        if (max_seq <= c->seq) unlink(path.c_str());
    }
}

void compaction_done(ngx_event_t* ev) {
    auto* c = static_cast<Compaction*>(ev->data);
    LogShared* sh = c->zone->sh->log;
    {
        Lock lock(c->zone->shpool);
        if (c->error == 0) {
            sh->snapshot_seq = c->seq;
            sh->snapshot_bytes = c->data.size();
            sh->journal_bytes -= std::min(sh->journal_bytes, c->journal_bytes_before);
        }
        sh->compacting = false;
    }
    if (c->error != 0) {
        ngx_log_error(NGX_LOG_CRIT, ngx_cycle->log, c->error, "webhook_zone \"%V\": writing the snapshot failed",
                      &c->zone->name());
    } else {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0, "webhook_zone \"%V\": compacted state into %uz bytes",
                      &c->zone->name(), c->data.size());
    }
    std::string().swap(c->data);
    c->state = StateRecords();
}

void compaction_check(ngx_event_t* ev) {
    auto* c = static_cast<Compaction*>(ev->data);
    if (ngx_exiting || ngx_quit || ngx_terminate) return;
    LogShared* sh = c->zone->sh->log;
    bool due;
    {
        Lock lock(c->zone->shpool);
        // A worker 0 that died mid-compaction left the flag set: its pid says so.
        if (sh->compacting && sh->compacting_pid != ngx_pid && kill(sh->compacting_pid, 0) != 0 && errno == ESRCH)
            sh->compacting = false;
        due = !sh->compacting &&
              sh->journal_bytes > std::max<uint64_t>(kCompactMinBytes, kCompactRatio * sh->snapshot_bytes);
        if (due) {
            sh->compacting = true;
            sh->compacting_pid = ngx_pid;
            c->journal_bytes_before = sh->journal_bytes;
        }
    }
    if (due) {
        // A compaction that cannot start (no memory for the copy) ends at
        // once: the flag is cleared and the next check tries again.
        bool posted = false;
        try {
            c->error = 0;
            c->state = log_capture(c->zone);
            c->seq = c->state.seq;
            {
                Lock lock(c->zone->shpool);
                sh->snapshot_gen++;   // writers move to new files from here on
            }
            posted = ngx_thread_task_post(c->zone->thread_pool, c->task) == NGX_OK;
        } catch (const std::exception& e) {
            log_callback_exception(e.what());
        } catch (...) {
            log_callback_exception("unknown exception");
        }
        if (!posted) {
            c->error = EAGAIN;
            compaction_done(&c->task->event);
        }
    }
    ngx_add_timer(&c->timer, kCompactCheck);
}

}  // namespace

void journal_write(Zone* zone, ngx_http_request_t* r, uint64_t seq, std::string payload, Committed done) {
    Journal* j = journal_of(zone);
    if (done) {
        auto* w = new Waiter{r, std::move(done), nullptr};
        if (r != nullptr) {
            w->cln = ngx_pool_cleanup_add(r->pool, 0);
            if (w->cln == nullptr) {
                delete w;
                throw std::bad_alloc();
            }
            w->cln->handler = callback<waiter_abandon>;
            w->cln->data = w;
        }
        j->pending_waiters.push_back(w);
    }
    j->pending += journal_encode(seq, payload);
    j->pending_max_seq = std::max(j->pending_max_seq, seq);
    if (!j->busy) start_batch(j);
}

ngx_int_t journal_init_process(ngx_cycle_t* cycle, Zone* zone) {
    if (ngx_worker != 0) return NGX_OK;
    auto* c = new Compaction();
    zone->compaction = c;
    c->zone = zone;
    c->dir = dir_of(zone);
    c->task = ngx_thread_task_alloc(cycle->pool, sizeof(Compaction*));
    if (c->task == nullptr) return NGX_ERROR;
    *static_cast<Compaction**>(c->task->ctx) = c;
    c->task->handler = callback<compaction_thread>;
    c->task->event.handler = callback<compaction_done>;
    c->task->event.data = c;
    c->timer.handler = callback<compaction_check>;
    c->timer.data = c;
    c->timer.log = cycle->log;
    c->timer.cancelable = 1;
    ngx_add_timer(&c->timer, kCompactCheck);
    return NGX_OK;
}

void journal_exit_process(Zone* zone) {
    // The thread pool has stopped (its exit runs first): nothing of these is
    // in use. A batch not written is dropped with the process: its changes
    // were not acknowledged.
    if (auto* j = zone->journal) {
        if (j->fd >= 0) close(j->fd);
        for (Waiter* w : j->pending_waiters) delete w;
        for (Waiter* w : j->batch_waiters) delete w;
        delete j;
        zone->journal = nullptr;
    }
    delete zone->compaction;
    zone->compaction = nullptr;
}

namespace {

// One NGINX instance per state directory: the master holds an exclusive
// flock on DIR/lock for as long as it (or a worker it forked) lives, so a
// second instance started on the same DIR refuses to start instead of
// compacting the journals the first one is writing.
bool lock_dir(const std::string& dir, ngx_log_t* log) {
    static std::map<std::string, int> held;   // the master's own locks, kept across reloads
    if (held.count(dir)) return true;
    std::string path = dir + "/lock";
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        ngx_log_error(NGX_LOG_EMERG, log, errno, "webhook_zone: cannot open \"%s\"", path.c_str());
        return false;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        ngx_log_error(NGX_LOG_EMERG, log, errno, "webhook_zone: state directory \"%s\" is in use by another nginx",
                      dir.c_str());
        close(fd);
        return false;
    }
    held[dir] = fd;
    return true;
}

// Creates and removes a file in dir: 0, or the errno that kept it out.
int write_test(const std::string& dir) {
    std::string path = dir + "/.write-test";
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return errno != 0 ? errno : EACCES;
    close(fd);
    unlink(path.c_str());
    return 0;
}

// What keeps the worker user out of DIR: err (0: nothing), and whether a
// directory above DIR does (DIR cannot even be looked up) or DIR itself.
struct WorkerAccess {
    int err;
    bool above;
};

// The same as the worker processes will be (a child process, at start and
// in nginx -t): their user, their group and the user's supplementary
// groups, set as ngx_worker_process_init sets them.
WorkerAccess write_test_as(const std::string& dir, const ngx_core_conf_t* ccf) {
    // The exit status: the errno (1..127), + 128 when DIR cannot be looked up.
    constexpr int kAbove = 128;
    pid_t pid = fork();
    if (pid < 0) return {0, false};   // cannot tell: the first write will say
    if (pid == 0) {
        if (setgid(ccf->group) != 0) _exit(EPERM);
        int groups = ccf->username != nullptr ? initgroups(ccf->username, ccf->group) : setgroups(0, nullptr);
        if (groups != 0 || setuid(ccf->user) != 0) _exit(EPERM);
        struct stat st;
        bool above = stat(dir.c_str(), &st) != 0;
        int err = above ? errno : write_test(dir);
        if (err <= 0 || err >= kAbove) err = err != 0 ? EACCES : 0;
        _exit(err != 0 && above ? err + kAbove : err);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status)) return {EIO, false};
    int code = WEXITSTATUS(status);
    return {code % kAbove, code >= kAbove};
}

// Whether dir holds what this module writes there (an earlier start's lock
// file, snapshot or journals): only then is an existing DIR handed to the
// worker user. Any other directory (state=/tmp, a home directory) keeps its
// owner and mode.
bool holds_state(const std::string& dir) {
    struct stat st;
    for (const char* name : {"lock", kSnapshot}) {
        if (lstat((dir + "/" + name).c_str(), &st) == 0 && S_ISREG(st.st_mode)) return true;
    }
    return !journal_files(dir).empty();
}

}  // namespace

// nginx -t and start, in the master: DIR is ready for the worker processes.
// As NGINX's temp paths (ngx_create_paths), DIR is created when missing (not
// its parents) and handed to the worker user; then a file is written in it
// as that user. What is wrong is logged at [emerg], naming the user and the
// path, at the webhook_zone directive.
ngx_int_t journal_check_dir(Zone* zone, ngx_log_t* log) {
    std::string dir = dir_of(zone);
    const ConfSite& site = zone->site;
    struct stat st;
    bool created = false;
    if (stat(dir.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            site_log(NGX_LOG_EMERG, log, 0, site,
                     "webhook_zone \"%V\": state=\"%s\" is not a directory: give state= a directory (created when "
                     "missing)", &zone->name(), dir.c_str());
            return NGX_ERROR;
        }
    } else if (mkdir(dir.c_str(), 0700) == 0) {
        created = true;
    } else if (errno != EEXIST) {
        int err = errno;
        // As for NGINX's temp paths, only the last directory is created.
        // DIR has no trailing slash (state= parsing drops them); the
        // parent of a/b//c is a/b.
        size_t end = dir.rfind('/');
        while (end > 1 && dir[end - 1] == '/') end--;
        std::string parent = dir.substr(0, std::max<size_t>(end, 1));
        if (err == ENOENT) {
            site_log(NGX_LOG_EMERG, log, 0, site,
                     "webhook_zone \"%V\": the directory \"%s\" that would hold state=\"%s\" does not exist: create "
                     "it (mkdir -p %s) or choose another state=", &zone->name(), parent.c_str(), dir.c_str(),
                     parent.c_str());
        } else if (err == ENOTDIR) {
            site_log(NGX_LOG_EMERG, log, 0, site,
                     "webhook_zone \"%V\": \"%s\" (or a path above it) is not a directory, so state=\"%s\" cannot be "
                     "created: choose another state=", &zone->name(), parent.c_str(), dir.c_str());
        } else {
            site_log(NGX_LOG_EMERG, log, err, site, "webhook_zone \"%V\": cannot create the state directory \"%s\"",
                     &zone->name(), dir.c_str());
        }
        return NGX_ERROR;
    }
    auto* ccf = reinterpret_cast<ngx_core_conf_t*>(ngx_get_conf(zone->cycle->conf_ctx, ngx_core_module));
    if (geteuid() != 0 || ccf->user == static_cast<ngx_uid_t>(NGX_CONF_UNSET_UINT)) {
        // The workers will run as this process does.
        if (int err = write_test(dir)) {
            struct passwd* pw = getpwuid(geteuid());
            site_log(NGX_LOG_EMERG, log, err, site,
                     "webhook_zone \"%V\": the user \"%s\" nginx runs as cannot write to the state directory \"%s\": "
                     "give it write access or choose another state=",
                     &zone->name(), pw != nullptr ? pw->pw_name : "?", dir.c_str());
            return NGX_ERROR;
        }
        return NGX_OK;
    }
    // The workers write here: hand DIR to their user, as NGINX does with its
    // temp paths, when this call created it or it holds this module's
    // files. Another existing directory is only tested.
    const char* user = ccf->username != nullptr ? ccf->username : "?";
    if ((created || holds_state(dir)) &&
        (chown(dir.c_str(), ccf->user, static_cast<gid_t>(-1)) != 0 ||
         (stat(dir.c_str(), &st) == 0 && (st.st_mode & S_IRWXU) != S_IRWXU &&
          chmod(dir.c_str(), st.st_mode | S_IRWXU) != 0))) {
        site_log(NGX_LOG_EMERG, log, errno, site,
                 "webhook_zone \"%V\": cannot hand the state directory \"%s\" to the worker user (chown, chmod u+rwx)",
                 &zone->name(), dir.c_str());
        return NGX_ERROR;
    }
    // A directory above DIR, or DIR itself when not handed over, may still
    // keep the workers out: say so now, not at the first API call
    // (docs/directives.md#webhook_zone).
    WorkerAccess access = write_test_as(dir, ccf);
    if (access.err != 0 && access.above) {
        site_log(NGX_LOG_EMERG, log, access.err, site,
                 "webhook_zone \"%V\": the worker user \"%s\" cannot write to the state directory \"%s\": let it "
                 "search (x) every directory above it, or choose another state=", &zone->name(), user, dir.c_str());
        return NGX_ERROR;
    }
    if (access.err != 0) {
        site_log(NGX_LOG_EMERG, log, access.err, site,
                 "webhook_zone \"%V\": the worker user \"%s\" cannot write to the state directory \"%s\": give "
                 "it to that user (chown %s %s) or choose another state=", &zone->name(), user, dir.c_str(), user,
                 dir.c_str());
        return NGX_ERROR;
    }
    return NGX_OK;
}

ngx_int_t journal_load(Zone* zone, ngx_log_t* log) {
    // A reload that resized a durable zone would build it from DIR while the
    // old workers still append to their journals: their later changes would
    // be missing, sequence numbers would diverge and compaction could delete
    // what only they hold. Refused; the running configuration goes on.
    bool first_start = ngx_cycle->conf_ctx == nullptr;
    if (!first_start) {
        ngx_list_part_t* part = &const_cast<ngx_cycle_t*>(ngx_cycle)->shared_memory.part;
        auto* shm = static_cast<ngx_shm_zone_t*>(part->elts);
        for (ngx_uint_t i = 0;; i++) {
            if (i >= part->nelts) {
                if (part->next == nullptr) break;
                part = part->next;
                shm = static_cast<ngx_shm_zone_t*>(part->elts);
                i = 0;
            }
            if (shm[i].tag != zone->shm->tag || shm[i].shm.name.len != zone->shm->shm.name.len ||
                ngx_strncmp(shm[i].shm.name.data, zone->shm->shm.name.data, zone->shm->shm.name.len) != 0)
                continue;
            ngx_log_error(NGX_LOG_EMERG, log, 0,
                          "webhook_zone \"%V\" with state=: its size changes only with a restart (nginx -s stop, "
                          "then start), not a reload (%uz now, %uz running)",
                          &zone->shm->shm.name, zone->shm->shm.size, shm[i].shm.size);
            return NGX_ERROR;
        }
    }

    std::string dir = dir_of(zone);
    if (journal_check_dir(zone, log) != NGX_OK || !lock_dir(dir, log)) return NGX_ERROR;

    struct Source {
        std::string name;
        JournalScan scan;
    };
    std::vector<Source> sources;
    std::string bytes;
    if (read_whole(dir + "/" + kSnapshot, &bytes)) sources.push_back({kSnapshot, journal_decode(bytes)});
    std::vector<std::string> journals = journal_files(dir);
    for (const std::string& name : journals) {
        bytes.clear();
        if (read_whole(dir + "/" + name, &bytes)) sources.push_back({name, journal_decode(bytes)});
    }

    uint64_t snapshot_seq = 0;
    std::vector<std::pair<JournalRecord*, bool>> order;   // the record, from the snapshot
    for (Source& s : sources) {
        if (s.scan.dropped_bytes > 0) {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "webhook_zone \"%V\": dropped %uz bytes of %s record(s) in \"%s/%s\"", &zone->name(),
                          s.scan.dropped_bytes, s.scan.torn_tail ? "torn or corrupt" : "corrupt", dir.c_str(),
                          s.name.c_str());
        }
        bool is_snapshot = s.name == kSnapshot;
        for (JournalRecord& rec : s.scan.records) {
            if (is_snapshot) {
                // Every record of a snapshot carries its sequence number, so
                // a damaged header record costs nothing but itself.
                snapshot_seq = std::max(snapshot_seq, rec.seq);
                if (rec.payload.compare(0, 16, "{\"op\":\"snapshot\"") == 0) continue;   // the header
            } else if (rec.seq <= snapshot_seq) {
                continue;
            }
            order.emplace_back(&rec, is_snapshot);
        }
    }
    // The snapshot's records come first (all carry its sequence), then the
    // journals' in global sequence order.
    std::stable_sort(order.begin(), order.end(),
                     [](const auto& a, const auto& b) { return a.first->seq < b.first->seq; });

    size_t applied = 0, refused = 0, invalid = 0;
    uint64_t max_seq = snapshot_seq;
    std::string first_error;
    for (auto& [rec, from_snapshot] : order) {
        std::string error;
        std::optional<store::Mutation> m = store::decode(rec->payload, &error);
        StateResult rc = m ? log_apply(zone, *m, from_snapshot ? store::Mode::restore : store::Mode::replay, nullptr)
                           : StateResult::invalid;
        if (rc == StateResult::ok) applied++;
        else if (rc == StateResult::zone_full) refused++;
        if (!m) {
            invalid++;
            if (first_error.empty()) first_error = error;
        }
        max_seq = std::max(max_seq, rec->seq);
    }
    if (invalid > 0) {
        // Whole records (their checksums hold) that this module cannot read
        // were written by another version: refuse to start rather than
        // drop them with the next snapshot (docs/directives.md#webhook_zone: nothing acknowledged is lost).
        ngx_log_error(NGX_LOG_EMERG, log, 0,
                      "webhook_zone \"%V\": %uz record(s) in \"%s\" cannot be read by this module (e.g. %s); the "
                      "directory is left as it is", &zone->name(), invalid, dir.c_str(), first_error.c_str());
        return NGX_ERROR;
    }
    zone->sh->log->seq = max_seq;
    if (refused > 0) {
        // Never lose durable state through configuration (docs/directives.md#webhook_zone): refuse
        // to start and leave DIR as it is. The size needed is estimated from
        // the share of the records that fit.
        size_t size = zone->shm->shm.size;
        size_t needed = applied > 0 ? size / applied * (applied + refused) : 2 * size;
        needed += needed / 4;
        needed = (needed + (1 << 20) - 1) & ~static_cast<size_t>((1 << 20) - 1);
        ngx_log_error(NGX_LOG_EMERG, log, 0,
                      "webhook_zone \"%V\" is too small for the state in \"%s\": %uz of %uz records did not fit in "
                      "%uz bytes; it needs about %uzm (zone=%V:%uzm)",
                      &zone->name(), dir.c_str(), refused, applied + refused, size, needed >> 20,
                      &zone->name(), needed >> 20);
        return NGX_ERROR;
    }
    StateRecords state = log_capture(zone);
    std::string restored = store::describe_state(state.records);
    ngx_log_error(NGX_LOG_NOTICE, log, 0, "webhook_zone \"%V\": restored %s from \"%s\" (%uz records read)",
                  &zone->name(), restored.c_str(), dir.c_str(), order.size());

    uint64_t seq = state.seq;
    std::string snapshot = log_encode(state);
    int err = write_snapshot(dir, snapshot);
    if (err != 0) {
        ngx_log_error(NGX_LOG_EMERG, log, err, "webhook_zone: cannot write \"%s/%s\"", dir.c_str(), kSnapshot);
        return NGX_ERROR;
    }
    for (const std::string& name : journals) unlink((dir + "/" + name).c_str());
    fsync_dir(dir);
    zone->sh->log->snapshot_seq = seq;
    zone->sh->log->snapshot_bytes = snapshot.size();
    zone->sh->log->journal_bytes = 0;
    return NGX_OK;
}

const StoreOps kJournalStore = {true,          false,         journal_check_dir,   journal_load,
                                journal_write, nullptr,       journal_init_process, journal_exit_process};

}  // namespace webhook::ngx
