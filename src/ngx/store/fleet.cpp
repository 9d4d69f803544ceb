#include "ngx/store/fleet.hpp"

#include <cerrno>
#include <csignal>
#include <deque>
#include <arpa/inet.h>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <memory>
#include <unistd.h>
#include <vector>

#include <libpq-fe.h>

#include "core/store/mutation.hpp"
#include "core/util/text.hpp"
#include "ngx/common/shm.hpp"
#include "ngx/deliver/deliver_store.hpp"
#include "ngx/deliver/dispatcher.hpp"
#include "ngx/store/journal.hpp"
#include "ngx/store/mutation_log.hpp"

namespace webhook::ngx {

namespace {

// The store's schema, created and migrated by the module (webhook_schema
// holds its version; several zones share the tables, keyed by zone name).
constexpr int kSchemaVersion = 1;
constexpr char kSchemaLockKey[] = "7060626172";   // pg_advisory_xact_lock while migrating

constexpr ngx_msec_t kTick = 1000;             // lease, adoption, snapshot, catch-up when no NOTIFY came
constexpr int64_t kNodeLeaseMs = 10000;        // a node silent this long is given up on
constexpr int64_t kDeliverLeaseMs = kNodeLeaseMs / 2;   // attempts stop well before others adopt
constexpr int64_t kReachedMs = 3000;           // API reads need an answer from the store this recent
constexpr ngx_msec_t kBackoffMin = 100, kBackoffMax = 5000;
constexpr ngx_msec_t kRetryMs = 5;             // another worker's change is in flight
constexpr ngx_msec_t kQueryTimeout = 15000;    // a connection, or a query's answer
constexpr size_t kCatchUpRows = 1000;          // changes read per query
constexpr size_t kBatch = 256;                 // changes per transaction
constexpr size_t kMaxQueue = 100000;           // changes waiting per worker: past it, refused
constexpr uint64_t kSnapshotEvery = 10000;     // changes after a snapshot before the next
constexpr char kImportedMark[] = "imported-to-store";

constexpr char kImportTx[] = "import";            // the changes of an imported DIR

enum Import : ngx_uint_t { kImportNone = 0, kImportPending = 1, kImportDone = 2, kImportRefused = 3 };

FleetShared* fleet_of(Zone* zone) { return &zone->sh->log->fleet; }

std::string zone_uri(Zone* zone) { return std::string((const char*) zone->store_uri.data, zone->store_uri.len); }

bool alive(ngx_pid_t pid) { return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM); }

// --- a change waiting for the store ---------------------------------------------

struct Entry {
    store::Mutation m;
    std::shared_ptr<const store::Mutation> undo;
    std::function<void()> on_durable;
    Settled done;
    ngx_http_request_t* r = nullptr;   // nullptr once the request is freed
    ngx_pool_cleanup_t* cln = nullptr;
    bool applied = false;              // applied here already: its record only is to be written
    bool refused = false;              // refused when applied (answered)
    // Applied here only when read back from the log, as another node's: an
    // adoption, whose effect depends on which node's commits first.
    bool via_log = false;
    std::string record;
};

void entry_abandon(void* data) { static_cast<Entry*>(data)->r = nullptr; }

void settle(Entry* e, StateResult rc) {
    if (e->cln != nullptr && e->r != nullptr) e->cln->handler = nullptr;
    ngx_http_request_t* r = e->r;
    e->r = nullptr;
    if (rc == StateResult::ok && e->on_durable) e->on_durable();
    if (e->done) {
        Settled done = std::move(e->done);
        done(r, rc);
    }
}

struct ResultDeleter {
    void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;
using Results = std::vector<Result>;

// The answer's value at (row, col) as text.
std::string_view value(const Result& r, int row, int col) {
    return {PQgetvalue(r.get(), row, col), static_cast<size_t>(PQgetlength(r.get(), row, col))};
}
uint64_t value_u64(const Result& r, int row, int col) {
    return std::strtoull(PQgetvalue(r.get(), row, col), nullptr, 10);
}

}  // namespace

// --- this worker's connection to the store, per zone ------------------------------

struct Fleet {
    Zone* zone;
    std::string conninfo;
    std::string zone_lit, node_lit;     // SQL literals
    PGconn* pg = nullptr;
    ngx_connection_t* c = nullptr;
    bool connecting = false, ready = false, busy = false;
    std::function<void(Fleet*, Results&)> then;   // what the query out continues with
    Results results;
    ngx_event_t reconnect, tick, retry;
    ngx_msec_t backoff = kBackoffMin;
    std::deque<std::unique_ptr<Entry>> queue;
    std::vector<std::unique_ptr<Entry>> batch;    // in the transaction out
    std::string tx;                    // its id
    uint64_t tx_count = 0;
    bool want_catch_up = true;
    bool want_tick = false;
    std::vector<std::string> given_up;   // nodes adopted from: their lease rows to delete
    ino_t sock_ino = 0;                  // the socket watched (see attach)
    bool in_then = false;                // a query's continuation runs: pump waits for it
    int64_t lease_sent_ms = 0;           // worker 0: when the lease query went out
    bool schema_ok = false;              // this connection created or checked the schema
    int64_t lease_ms_last = 0;           // worker 0: this node's lease last renewed
    int64_t lease_since_ms = 0;          //   and renewed without a gap since
    bool snapshot_read = false;          // loading: the snapshot is applied
    bool exiting = false;
    bool logged_down = false;
};

namespace {

void pump(Fleet* f);
void go_down(Fleet* f, const char* why);
void fail_batch(Fleet* f);
void fail_waiting(Fleet* f);

// --- the connection on NGINX's event loop -----------------------------------------

void detach(Fleet* f) {
    ngx_connection_t* c = f->c;
    if (c == nullptr) return;
    if (c->read->timer_set) ngx_del_timer(c->read);
    // (a macro of several statements: braces)
    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }
    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }
    // libpq owns the socket and closes it (it may have already, on a lost
    // connection): closing removes it from epoll, so the events are only
    // marked inactive (NGX_CLOSE_EVENT: no epoll_ctl on a closed socket).
    if (c->read->active) ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    if (c->write->active) ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    c->fd = (ngx_socket_t) -1;   // as ngx_close_connection leaves it (the exit's leak check reads it)
    ngx_free_connection(c);
    f->c = nullptr;
}

void want_write(Fleet* f, bool on) {
    ngx_event_t* wev = f->c->write;
    if (on && !wev->active) ngx_add_event(wev, NGX_WRITE_EVENT, 0);
    else if (!on && wev->active) ngx_del_event(wev, NGX_WRITE_EVENT, 0);
}

void on_read(ngx_event_t* ev);
void on_write(ngx_event_t* ev);

// The socket libpq uses now, watched (level-triggered: libpq reads what it
// can when asked, not necessarily all there is).
// libpq may replace its socket inside one PQconnectPoll (the next host of a
// list, an SSL fallback), usually under the same number: a socket is known
// by its inode, not its number.
bool attach(Fleet* f) {
    int fd = PQsocket(f->pg);
    struct stat st;
    ino_t ino = fd >= 0 && fstat(fd, &st) == 0 ? st.st_ino : 0;
    if (f->c != nullptr && f->c->fd == fd && f->sock_ino == ino) return true;
    detach(f);   // the old socket is closed already: its events are only marked inactive
    if (fd < 0) return false;
    f->sock_ino = ino;
    ngx_connection_t* c = ngx_get_connection(fd, ngx_cycle->log);
    if (c == nullptr) return false;
    c->data = f;
    c->read->handler = callback<on_read>;
    c->write->handler = callback<on_write>;
    c->read->log = c->write->log = c->log = ngx_cycle->log;
    f->c = c;
    if (ngx_add_event(c->read, NGX_READ_EVENT, 0) != NGX_OK) {
        detach(f);
        return false;
    }
    return true;
}

void close_pg(Fleet* f) {
    detach(f);
    if (f->pg != nullptr) PQfinish(f->pg);
    f->pg = nullptr;
    f->connecting = f->ready = f->busy = f->schema_ok = false;
    f->then = nullptr;
    f->results.clear();
}

void connect_step(Fleet* f) {
    PostgresPollingStatusType st = PQconnectPoll(f->pg);
    if (st == PGRES_POLLING_FAILED) {
        go_down(f, PQerrorMessage(f->pg));
        return;
    }
    if (!attach(f)) {
        go_down(f, "cannot watch the connection's socket");
        return;
    }
    if (!f->c->read->timer_set) ngx_add_timer(f->c->read, kQueryTimeout);   // the whole connection phase
    if (st == PGRES_POLLING_WRITING) {
        want_write(f, true);
        return;
    }
    want_write(f, false);
    if (st != PGRES_POLLING_OK) return;
    f->connecting = false;
    if (f->c->read->timer_set) ngx_del_timer(f->c->read);
    PQsetnonblocking(f->pg, 1);
    f->ready = true;
    pump(f);
}

void start_connect(Fleet* f) {
    if (f->exiting) return;
    close_pg(f);
    // TCP keepalives and a user timeout by default (the URI may set its
    // own: it comes after them), so that a store gone silent is noticed.
    static const char* const keywords[] = {"keepalives", "keepalives_idle", "keepalives_interval",
                                           "keepalives_count", "tcp_user_timeout", "dbname", nullptr};
    const char* values[] = {"1", "10", "5", "3", "20000", f->conninfo.c_str(), nullptr};
    f->pg = PQconnectStartParams(keywords, values, 1);
    if (f->pg == nullptr || PQstatus(f->pg) == CONNECTION_BAD) {
        go_down(f, f->pg != nullptr ? PQerrorMessage(f->pg) : "out of memory");
        return;
    }
    // The server's notices ("already exists, skipping") go to the debug log,
    // not to stderr.
    PQsetNoticeProcessor(f->pg, [](void*, const char* message) {
        ngx_log_debug1(NGX_LOG_DEBUG_CORE, ngx_cycle->log, 0, "webhook fleet: %s", message);
    }, nullptr);
    f->connecting = true;
    connect_step(f);
}

void on_reconnect(ngx_event_t* ev) { start_connect(static_cast<Fleet*>(ev->data)); }

// The first failure after a success is logged at error, the next ones at
// info (a store down for an hour logs once, plus one line when it is back).
void go_down(Fleet* f, const char* why) {
    std::string reason = why != nullptr ? why : "";
    while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) reason.pop_back();
    ngx_uint_t level = f->logged_down ? NGX_LOG_INFO : NGX_LOG_ERR;
    ngx_log_error(level, ngx_cycle->log, 0,
                  "webhook_zone \"%V\": the store cannot be reached (%s); retrying in %Mms", &f->zone->name(),
                  reason.c_str(), f->backoff);
    f->logged_down = true;
    bool had_batch = !f->batch.empty();
    close_pg(f);
    // The commit's outcome is unknown: what can be undone is, and comes back
    // from the store if it was committed after all.
    if (had_batch) fail_batch(f);
    fail_waiting(f);
    if (f->exiting) return;
    if (!f->reconnect.timer_set) ngx_add_timer(&f->reconnect, f->backoff);
    f->backoff = std::min<ngx_msec_t>(f->backoff * 2, kBackoffMax);
}

void flush(Fleet* f) {
    int rc = PQflush(f->pg);
    if (rc < 0) {
        go_down(f, PQerrorMessage(f->pg));
        return;
    }
    want_write(f, rc == 1);
}

// Sends sql (one or more statements); `then` gets one result per statement.
void send(Fleet* f, const std::string& sql, std::function<void(Fleet*, Results&)> then) {
    if (!PQsendQuery(f->pg, sql.c_str())) {
        go_down(f, PQerrorMessage(f->pg));
        return;
    }
    f->busy = true;
    f->then = std::move(then);
    f->results.clear();
    // A store that stops answering without closing (a network partition)
    // is given up on after kQueryTimeout, as one that closes.
    if (f->c->read->timer_set) ngx_del_timer(f->c->read);
    ngx_add_timer(f->c->read, kQueryTimeout);
    flush(f);
}

void notified(Fleet* f) {
    while (PGnotify* n = PQnotifies(f->pg)) {
        f->want_catch_up = true;
        PQfreemem(n);
    }
}

void on_read(ngx_event_t* ev) {
    auto* f = static_cast<Fleet*>(static_cast<ngx_connection_t*>(ev->data)->data);
    if (ev->timedout) {
        ev->timedout = 0;
        go_down(f, f->connecting ? "no connection within the timeout" : "no answer within the timeout");
        return;
    }
    if (f->connecting) {
        connect_step(f);
        return;
    }
    if (!PQconsumeInput(f->pg)) {
        go_down(f, PQerrorMessage(f->pg));
        return;
    }
    notified(f);
    while (f->busy && !PQisBusy(f->pg)) {
        PGresult* r = PQgetResult(f->pg);
        if (r != nullptr) {
            f->results.emplace_back(r);
            continue;
        }
        f->busy = false;
        if (f->c->read->timer_set) ngx_del_timer(f->c->read);
        Results results = std::move(f->results);
        auto then = std::move(f->then);
        f->then = nullptr;
        // A statement that failed ends the query: say why, reconnect (the
        // transaction, if any, is rolled back by the server).
        for (const Result& res : results) {
            ExecStatusType st = PQresultStatus(res.get());
            if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE || st == PGRES_NONFATAL_ERROR) {
                const char* msg = PQresultErrorMessage(res.get());
                go_down(f, msg);
                return;
            }
        }
        {
            FleetShared* fs = fleet_of(f->zone);
            Lock lock(f->zone->shpool);
            fs->reached_ms = now_ms();
        }
        if (f->logged_down) {
            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0, "webhook_zone \"%V\": the store answers again",
                          &f->zone->name());
            f->logged_down = false;
        }
        f->backoff = kBackoffMin;
        // pump waits until the continuation is done: what it submits (an
        // adoption, a webhook_emit of a request it answers) is queued, not
        // sent in the middle of it.
        f->in_then = true;
        try {
            then(f, results);
        } catch (const std::exception& e) {
            f->in_then = false;
            log_callback_exception(e.what());
            go_down(f, "internal error");
            return;
        }
        f->in_then = false;
        if (f->pg == nullptr) return;   // went down meanwhile
        notified(f);
    }
    pump(f);
}

void on_write(ngx_event_t* ev) {
    auto* f = static_cast<Fleet*>(static_cast<ngx_connection_t*>(ev->data)->data);
    if (f->connecting) connect_step(f);
    else flush(f);
}

std::string literal(Fleet* f, std::string_view s) {
    char* q = PQescapeLiteral(f->pg, s.data(), s.size());
    if (q == nullptr) throw std::bad_alloc();
    std::string out(q);
    PQfreemem(q);
    return out;
}

// --- schema -----------------------------------------------------------------------

std::string schema_sql(Fleet* f) {
    // A node that vanishes mid-transaction must not hold the zone's row: its
    // backend ends an idle transaction, and no statement waits on a lock for
    // as long as this node waits for an answer.
    return std::string("SET standard_conforming_strings = on;"
                       "SET idle_in_transaction_session_timeout = '10s';"
                       "SET lock_timeout = '10s';"
                       "SET statement_timeout = '60s';"
                       "BEGIN;"
                       "SELECT pg_advisory_xact_lock(") + kSchemaLockKey + ");"
           // CREATE runs only when something is missing: a role without
           // CREATE on the schema connects once the tables exist.
           "DO $m$ BEGIN "
           "IF to_regclass('webhook_schema') IS NULL THEN "
           "CREATE TABLE webhook_schema (version integer NOT NULL); INSERT INTO webhook_schema VALUES (0);"
           "END IF;"
           "IF (SELECT max(version) FROM webhook_schema) < 1 THEN "
           "CREATE TABLE webhook_zones (zone text PRIMARY KEY, head bigint NOT NULL DEFAULT 0, imported text,"
           " created_at timestamptz NOT NULL DEFAULT now());"
           "CREATE TABLE webhook_changes (zone text NOT NULL, seq bigint NOT NULL, tx text NOT NULL,"
           " node text NOT NULL, at timestamptz NOT NULL DEFAULT now(), record text NOT NULL, PRIMARY KEY (zone, seq));"
           "CREATE TABLE webhook_snapshots (zone text PRIMARY KEY, seq bigint NOT NULL,"
           " at timestamptz NOT NULL DEFAULT now(), data text NOT NULL);"
           "CREATE TABLE webhook_nodes (zone text NOT NULL, node text NOT NULL, seen timestamptz NOT NULL,"
           " applied bigint NOT NULL DEFAULT 0, PRIMARY KEY (zone, node));"
           "UPDATE webhook_schema SET version = 1;"
           "END IF; END $m$;"
           "INSERT INTO webhook_zones (zone) VALUES (" + f->zone_lit + ") ON CONFLICT DO NOTHING;"
           "COMMIT;"
           // This node's lease row exists before it commits anything: a node
           // that dies at once is given up on like any other.
           "INSERT INTO webhook_nodes (zone, node, seen) VALUES (" + f->zone_lit + "," + f->node_lit +
           ", now()) ON CONFLICT (zone, node) DO UPDATE SET seen = now();"
           "SELECT max(version) FROM webhook_schema;"
           "LISTEN webhook_changes;";
}

void schema_done(Fleet* f, Results& res) {
    int version = res.size() >= 2 ? std::atoi(PQgetvalue(res[res.size() - 2].get(), 0, 0)) : 0;
    if (version > kSchemaVersion) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "webhook_zone \"%V\": the store's schema is version %d, newer than this module's (%d): "
                      "upgrade the module on this node", &f->zone->name(), version, kSchemaVersion);
        close_pg(f);
        f->backoff = kBackoffMax;
        ngx_add_timer(&f->reconnect, kBackoffMax);
        return;
    }
    f->schema_ok = true;
    f->want_catch_up = true;
}

// --- applying the store's changes in its order ------------------------------------

// The change in flight of a worker that died between applying it and
// seeing its commit: committed, it came back from the store as its own;
// if not, this zone holds a change the store does not. Under the lock.
void clear_dead_inflight(Zone* zone) {
    FleetShared* fs = fleet_of(zone);
    if (fs->inflight_to == 0 || fs->inflight_pid == ngx_pid || alive(fs->inflight_pid)) return;
    if (fs->seq < fs->inflight_to && !fs->diverged) {
        ngx_log_error(NGX_LOG_CRIT, ngx_cycle->log, 0,
                      "webhook_zone \"%V\": a worker died while committing a change: this node may hold a change "
                      "the store does not; restart nginx on this node", &zone->name());
        fs->diverged = true;
    }
    fs->inflight_from = fs->inflight_to = 0;
}

// Applies the store's change `seq` unless this zone has it already: its
// own change in flight (applied before its commit) is recognised by its
// transaction id. false: it cannot be applied yet (a gap, or another
// worker's change in flight there that is not this one).
enum class Applied { done, wait, gap };

Applied apply_row(Zone* zone, uint64_t seq, std::string_view tx, const store::Mutation* m) {
    FleetShared* fs = fleet_of(zone);
    Lock lock(zone->shpool);
    if (seq <= fs->seq) return Applied::done;
    if (seq != fs->seq + 1) return Applied::gap;
    if (fs->inflight_to != 0 && seq >= fs->inflight_from && seq <= fs->inflight_to) {
        if (tx == std::string_view(fs->inflight_tx)) {
            fs->seq = seq;   // applied already, by the worker that wrote it
            return Applied::done;
        }
        clear_dead_inflight(zone);
        if (fs->inflight_to != 0) return Applied::wait;   // its worker will see its commit fail
    }
    if (m != nullptr) {
        // An imported DIR's records are a snapshot's (state as it was).
        store::Mode mode = tx == kImportTx ? store::Mode::restore : store::Mode::replay;
        StateResult rc = log_apply_locked(zone, *m, mode);
        if (rc == StateResult::zone_full)
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "webhook_zone \"%V\" is full: change %uL of the store could not be applied here (its "
                          "size is set by webhook_zone zone=NAME:SIZE)", &zone->name(), seq);
    }
    fs->seq = seq;
    fs->head = std::max(fs->head, seq);
    return Applied::done;
}

// The store has fewer changes than this node applied (a failover to a
// standby that had not received them): this node's zone is not the
// store's any more.
// `seq`: what this node had applied when it asked (another worker may have
// moved on since, with changes newer than `head`).
void store_behind(Fleet* f, uint64_t head, uint64_t seq) {
    FleetShared* fs = fleet_of(f->zone);
    Lock lock(f->zone->shpool);
    if (head >= seq || fs->diverged) return;
    ngx_log_error(NGX_LOG_CRIT, ngx_cycle->log, 0,
                  "webhook_zone \"%V\": the store's log ends at change %uL, this node applied up to %uL (a failover "
                  "lost changes?): restart nginx on this node to reload the zone from the store", &f->zone->name(),
                  head, seq);
    fs->diverged = true;
}

// Rows (seq, tx, record) in order. false: stopped before the end.
bool apply_rows(Fleet* f, const Result& rows) {
    int n = PQntuples(rows.get());
    for (int i = 0; i < n; i++) {
        uint64_t seq = value_u64(rows, i, 0);
        std::string error;
        std::optional<store::Mutation> m = store::decode(value(rows, i, 2), &error);
        if (!m)
            ngx_log_error(NGX_LOG_CRIT, ngx_cycle->log, 0,
                          "webhook_zone \"%V\": change %uL of the store cannot be read by this module (%s): skipped; "
                          "upgrade this node", &f->zone->name(), seq, error.c_str());
        Applied a = apply_row(f->zone, seq, value(rows, i, 1), m ? &*m : nullptr);
        if (a == Applied::wait) return false;
        if (a == Applied::gap) {
            FleetShared* fs = fleet_of(f->zone);
            Lock lock(f->zone->shpool);
            if (!fs->diverged)
                ngx_log_error(NGX_LOG_CRIT, ngx_cycle->log, 0,
                              "webhook_zone \"%V\": this node fell behind the store's log (it was compacted after "
                              "change %uL): restart nginx on this node to reload the zone", &f->zone->name(), fs->seq);
            fs->diverged = true;
            return false;
        }
    }
    return true;
}

void catch_up(Fleet* f) {
    f->want_catch_up = false;
    uint64_t seq;
    {
        Lock lock(f->zone->shpool);
        seq = fleet_of(f->zone)->seq;
    }
    // The head first: the changes read after it include every one up to it
    // (each statement sees what was committed before it started).
    std::string sql = "SELECT head FROM webhook_zones WHERE zone = " + f->zone_lit +
                      ";SELECT seq, tx, record FROM webhook_changes WHERE zone = " + f->zone_lit +
                      " AND seq > " + std::to_string(seq) + " ORDER BY seq LIMIT " + std::to_string(kCatchUpRows) + ";";
    send(f, sql, [seq](Fleet* f, Results& res) {
        uint64_t head = PQntuples(res[0].get()) > 0 ? value_u64(res[0], 0, 0) : 0;
        const Result& rows = res[1];
        size_t n = PQntuples(rows.get());
        store_behind(f, head, seq);
        bool whole = apply_rows(f, rows);
        // Deliveries adopted by this node, or due here: the dispatcher looks.
        if (n > 0 && f->zone->delivery != nullptr) dispatcher_wake(*f->zone->delivery);
        FleetShared* fs = fleet_of(f->zone);
        Lock lock(f->zone->shpool);
        fs->head = std::max(fs->head, head);
        if (n == 0 && head > fs->seq && !fs->diverged) {
            // The changes after this node's are gone from the log (compacted
            // into a snapshot it cannot apply on top of its state).
            ngx_log_error(NGX_LOG_CRIT, ngx_cycle->log, 0,
                          "webhook_zone \"%V\": this node fell behind the store's log (it was compacted after "
                          "change %uL): restart nginx on this node to reload the zone", &f->zone->name(), fs->seq);
            fs->diverged = true;
        }
        if (!whole) {
            if (!f->retry.timer_set) ngx_add_timer(&f->retry, kRetryMs);
            return;
        }
        if (n == kCatchUpRows) f->want_catch_up = true;   // more to read
        // In step: within one read of the head just seen (under a stream of
        // changes from other nodes, a node is rarely exactly at the head).
        if (fs->seq + kCatchUpRows >= head) fs->caught_up_ms = now_ms();
    });
}

// --- loading a new zone from the store ----------------------------------------------

void load_done(Fleet* f, bool imported) {
    StateRecords state = log_capture(f->zone);
    std::string what = store::describe_state(state.records);
    FleetShared* fs = fleet_of(f->zone);
    uint64_t seq;
    {
        Lock lock(f->zone->shpool);
        __atomic_store_n(&fs->loaded, true, __ATOMIC_RELEASE);
        fs->loader = 0;
        seq = fs->seq;
    }
    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0, "webhook_zone \"%V\": %s %s %s the store (change %uL)",
                  &f->zone->name(), imported ? "imported" : "loaded", what.c_str(), imported ? "into" : "from", seq);
}

// Applies the snapshot's records (restore), then reads the changes after it.
void load(Fleet* f) {
    std::string sql = "SELECT seq, data FROM webhook_snapshots WHERE zone = " + f->zone_lit + ";";
    send(f, sql, [](Fleet* f, Results& res) {
        FleetShared* fs = fleet_of(f->zone);
        if (PQntuples(res[0].get()) > 0) {
            uint64_t seq = value_u64(res[0], 0, 0);
            std::string_view data = value(res[0], 0, 1);
            size_t failed = 0;
            while (!data.empty()) {
                size_t nl = data.find('\n');
                std::string_view line = data.substr(0, nl);
                data = nl == std::string_view::npos ? std::string_view() : data.substr(nl + 1);
                if (line.empty()) continue;
                std::string error;
                auto m = store::decode(line, &error);
                if (!m || log_apply(f->zone, *m, store::Mode::restore, nullptr) != StateResult::ok) failed++;
            }
            if (failed > 0)
                ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                              "webhook_zone \"%V\": %uz record(s) of the store's snapshot could not be applied (the "
                              "zone is too small, or they are from a newer module)", &f->zone->name(), failed);
            Lock lock(f->zone->shpool);
            fs->seq = seq;
            fs->head = std::max(fs->head, seq);
        }
        // Then the changes after it, until none is left.
        f->want_catch_up = true;
    });
}

// The one way the log is written: records appended as changes head+1..
// of transaction `tx`, the head moved past them (`zone_set` may set more of
// the zone's row), the nodes woken, the transaction committed.
std::string append_sql(Fleet* f, uint64_t head, std::string_view tx, const std::vector<std::string_view>& records,
                       const std::string& zone_set = {}) {
    std::string tx_lit = literal(f, tx), values;
    uint64_t seq = head;
    for (std::string_view record : records) {
        if (!values.empty()) values += ',';
        values += "(" + f->zone_lit + "," + std::to_string(++seq) + "," + tx_lit + "," + f->node_lit + "," +
                  literal(f, record) + ")";
    }
    return "INSERT INTO webhook_changes (zone, seq, tx, node, record) VALUES " + values +
           ";UPDATE webhook_zones SET head = " + std::to_string(seq) + zone_set + " WHERE zone = " + f->zone_lit +
           ";SELECT pg_notify('webhook_changes', " + f->zone_lit + ");COMMIT;";
}

// state= beside store=: DIR (loaded into the zone at start) becomes the
// store's first snapshot, if the store has nothing of this zone yet.
void import_dir(Fleet* f) {
    std::string sql = "BEGIN;SELECT head FROM webhook_zones WHERE zone = " + f->zone_lit +
                      " FOR UPDATE;SELECT count(*) FROM webhook_snapshots WHERE zone = " + f->zone_lit + ";";
    send(f, sql, [](Fleet* f, Results& res) {
        uint64_t head = PQntuples(res[1].get()) > 0 ? value_u64(res[1], 0, 0) : 0;
        uint64_t snapshots = value_u64(res[2], 0, 0);
        FleetShared* fs = fleet_of(f->zone);
        std::string dir((const char*) f->zone->state_dir.data, f->zone->state_dir.len);
        if (head != 0 || snapshots != 0) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "webhook_zone \"%V\": state=\"%s\" is not imported: the store holds this zone already; "
                          "remove state= from webhook_zone and restart (this node answers 503 until then)",
                          &f->zone->name(), dir.c_str());
            {
                Lock lock(f->zone->shpool);
                fs->import = kImportRefused;
                fs->loader = 0;
            }
            send(f, "ROLLBACK;", [](Fleet*, Results&) {});
            return;
        }
        // The zone's state as changes 1..N of the log (applied as a
        // snapshot's records, tx "import"): a node that started meanwhile
        // reads them as any other change.
        StateRecords state = log_capture(f->zone);
        std::vector<std::string> encoded;
        for (const store::Mutation& m : state.records) encoded.push_back(store::encode(m));
        uint64_t n = encoded.size();
        std::string sql = append_sql(f, 0, kImportTx, {encoded.begin(), encoded.end()}, ", imported = " + literal(f, dir));
        send(f, sql, [dir, n](Fleet* f, Results&) {
            FleetShared* fs = fleet_of(f->zone);
            {
                Lock lock(f->zone->shpool);
                fs->seq = fs->head = n;
                fs->import = kImportDone;
            }
            // DIR is imported once: a later start with state= still there
            // does not load it again (it is left as it was, for a rollback).
            std::string mark = dir + "/" + kImportedMark;
            int fd = open(mark.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            if (fd >= 0) {
                std::string text = "imported into the store of webhook_zone " + std::string(sv(f->zone->name())) + "\n";
                ssize_t n = write(fd, text.data(), text.size());
                (void) n;
                fsync(fd);
                close(fd);
            } else {
                ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, errno,
                              "webhook_zone \"%V\": cannot write \"%s\": remove state= so that DIR is not loaded again",
                              &f->zone->name(), mark.c_str());
            }
            load_done(f, true);
        });
    });
}

// --- appending this worker's changes ----------------------------------------------

// Changes someone waits for, not sent yet, while the store cannot be
// reached: answered now (503), not when it is back; what nobody waits for
// stays queued.
void fail_waiting(Fleet* f) {
    std::deque<std::unique_ptr<Entry>> queue = std::move(f->queue);
    f->queue.clear();
    for (auto& e : queue) {
        if (e->done && !e->applied) settle(e.get(), StateResult::unavailable);
        else f->queue.push_back(std::move(e));
    }
}

// The transaction out failed (or its outcome is unknown).
void fail_batch(Fleet* f) {
    FleetShared* fs = fleet_of(f->zone);
    bool committed = false;
    {
        Lock lock(f->zone->shpool);
        if (fs->inflight_to != 0 && f->tx == fs->inflight_tx) {
            // Another worker read this transaction's changes back from the
            // store meanwhile: the commit happened, its answer was lost.
            committed = fs->seq >= fs->inflight_to;
            fs->inflight_from = fs->inflight_to = 0;
        }
    }
    std::vector<std::unique_ptr<Entry>> batch = std::move(f->batch);
    f->batch.clear();
    std::vector<std::unique_ptr<Entry>> keep;
    for (auto& e : batch) {
        if (e->refused) continue;   // answered already
        if (committed) {
            settle(e.get(), StateResult::ok);
        } else if (!e->applied) {
            // Not applied here (or an adoption, applied only as the log's):
            // whoever waits is answered now (503), the rest waits for the store.
            if (e->done) settle(e.get(), StateResult::unavailable);
            else keep.push_back(std::move(e));
        } else if (e->undo) {
            // Taken back here; if the commit happened after all, the change
            // comes back with the store's log.
            log_apply(f->zone, *e->undo, store::Mode::replay, nullptr);
            settle(e.get(), StateResult::unavailable);
        } else {
            // Nothing undoes it (an attempt's outcome, a replay id): it
            // stays applied and is written once the store is back.
            if (e->done) settle(e.get(), StateResult::unavailable);
            e->done = nullptr;
            e->on_durable = nullptr;
            keep.push_back(std::move(e));
        }
    }
    for (auto it = keep.rbegin(); it != keep.rend(); ++it) f->queue.push_front(std::move(*it));
}

// One transaction: lock the head, read the changes committed since this
// node's last, apply them, then apply this worker's (validated against that
// state) and insert them after them, commit.
void append(Fleet* f) {
    FleetShared* fs = fleet_of(f->zone);
    uint64_t seq;
    {
        Lock lock(f->zone->shpool);
        seq = fs->seq;
    }
    f->tx = fleet_of(f->zone)->node + std::string("-") + std::to_string(ngx_pid) + "-" + std::to_string(++f->tx_count);
    // An adoption goes alone: it is applied here only as the log's (see Entry::via_log).
    while (!f->queue.empty() && f->batch.size() < kBatch) {
        bool via_log = f->queue.front()->via_log;
        if (via_log && !f->batch.empty()) break;
        f->batch.push_back(std::move(f->queue.front()));
        f->queue.pop_front();
        if (via_log) break;
    }
    std::string sql = "BEGIN;SELECT head FROM webhook_zones WHERE zone = " + f->zone_lit +
                      " FOR UPDATE;SELECT seq, tx, record FROM webhook_changes WHERE zone = " + f->zone_lit +
                      " AND seq > " + std::to_string(seq) + " ORDER BY seq LIMIT " + std::to_string(kCatchUpRows) + ";";
    send(f, sql, [seq](Fleet* f, Results& res) {
        FleetShared* fs = fleet_of(f->zone);
        uint64_t head = PQntuples(res[1].get()) > 0 ? value_u64(res[1], 0, 0) : 0;
        store_behind(f, head, seq);
        bool whole = apply_rows(f, res[2]);
        bool via_log = f->batch.size() == 1 && f->batch.front()->via_log;
        bool current;
        {
            Lock lock(f->zone->shpool);
            fs->head = std::max(fs->head, head);
            clear_dead_inflight(f->zone);
            current = whole && fs->seq == head && fs->inflight_to == 0 && !fs->diverged;
            if (current) {
                fs->caught_up_ms = now_ms();
                // From here the changes applied are this transaction's: a
                // catch-up or a snapshot of another worker sees them as such.
                if (!via_log) {
                    fs->inflight_from = head + 1;
                    fs->inflight_to = UINT64_MAX;
                    fs->inflight_pid = ngx_pid;
                    ngx_cpystrn((u_char*) fs->inflight_tx, (u_char*) f->tx.c_str(), sizeof(fs->inflight_tx));
                }
            }
        }
        if (!current && fleet_of(f->zone)->diverged) {
            // Not the store's state any more: nothing more is written from it.
            for (auto& e : f->batch)
                if (e->done) settle(e.get(), StateResult::unavailable);
            f->batch.clear();
            send(f, "ROLLBACK;", [](Fleet*, Results&) {});
            return;
        }
        if (!current) {
            // Behind, or another worker's change is still settling here: again.
            for (auto it = f->batch.rbegin(); it != f->batch.rend(); ++it) f->queue.push_front(std::move(*it));
            f->batch.clear();
            f->want_catch_up = true;
            send(f, "ROLLBACK;", [](Fleet* f, Results&) {
                if (!f->retry.timer_set) ngx_add_timer(&f->retry, kRetryMs);
            });
            return;
        }
        // This worker's changes, in order, on the state as of `head`; the
        // refused are answered and leave the batch.
        uint64_t next = head;
        for (auto& e : f->batch) {
            if (via_log) {
                e->record = store::encode(e->m);
            } else if (!e->applied) {
                Change change;
                StateResult rc = log_apply(f->zone, e->m, store::Mode::live, &change);
                if (rc != StateResult::ok) {
                    e->refused = true;
                    settle(e.get(), rc);
                    continue;
                }
                e->applied = true;
                e->record = std::move(change.record);
            }
            next++;
        }
        f->batch.erase(std::remove_if(f->batch.begin(), f->batch.end(), [](const auto& e) { return e->refused; }),
                       f->batch.end());
        {
            Lock lock(f->zone->shpool);
            if (f->tx == fs->inflight_tx) {
                if (f->batch.empty()) fs->inflight_from = fs->inflight_to = 0;
                else fs->inflight_to = next;
            }
        }
        if (f->batch.empty()) {
            send(f, "ROLLBACK;", [](Fleet*, Results&) {});
            return;
        }
        std::vector<std::string_view> records;
        for (const auto& e : f->batch) records.push_back(e->record);
        std::string sql = append_sql(f, head, f->tx, records);
        send(f, sql, [next, via_log](Fleet* f, Results& res) {
            FleetShared* fs = fleet_of(f->zone);
            // COMMIT of a transaction the server had rolled back answers
            // ROLLBACK: then nothing was committed.
            const char* tag = PQcmdStatus(res.back().get());
            if (std::strcmp(tag, "COMMIT") != 0) {
                fail_batch(f);
                return;
            }
            if (!via_log) {
                Lock lock(f->zone->shpool);
                fs->seq = std::max(fs->seq, next);
                fs->head = std::max(fs->head, next);
                if (f->tx == fs->inflight_tx) fs->inflight_from = fs->inflight_to = 0;
            } else {
                f->want_catch_up = true;   // applied here as the log's
            }
            std::vector<std::unique_ptr<Entry>> batch = std::move(f->batch);
            f->batch.clear();
            for (auto& e : batch) settle(e.get(), StateResult::ok);
        });
    });
}

// --- the lease, adoption, snapshots -----------------------------------------------

void take_snapshot(Fleet* f, uint64_t seq);

// Deletes the changes the snapshot covers, but none that a node seen in the
// last hour has not applied yet (it would have to reload). Run with each
// snapshot and each lease: the nodes' positions move after the snapshot.
std::string compact_sql(Fleet* f) {
    return "DELETE FROM webhook_changes WHERE zone = " + f->zone_lit +
           " AND seq <= LEAST((SELECT coalesce(max(seq), 0) FROM webhook_snapshots WHERE zone = " + f->zone_lit +
           "), (SELECT min(applied) FROM webhook_nodes WHERE zone = " + f->zone_lit +
           " AND seen > now() - interval '1 hour'));";
}

void lease(Fleet* f) {
    FleetShared* fs = fleet_of(f->zone);
    uint64_t seq;
    {
        Lock lock(f->zone->shpool);
        seq = fs->seq;
    }
    std::string sql;
    for (const std::string& node : f->given_up)
        sql += "DELETE FROM webhook_nodes WHERE zone = " + f->zone_lit + " AND node = " + literal(f, node) + ";";
    f->given_up.clear();
    sql += compact_sql(f);
    // Renewed if this node's row is there; gone, this node was given up on
    // (its deliveries are another's): the row comes back, the lease counts
    // from the next renewal, once the adoption is applied here.
    sql += "WITH renewed AS (UPDATE webhook_nodes SET seen = now(), applied = " + std::to_string(seq) +
           " WHERE zone = " + f->zone_lit + " AND node = " + f->node_lit + " RETURNING 1) SELECT count(*) FROM renewed;"
           "INSERT INTO webhook_nodes (zone, node, seen, applied) VALUES (" + f->zone_lit + "," + f->node_lit +
           ", now(), " + std::to_string(seq) + ") ON CONFLICT (zone, node) DO NOTHING;"
           "SELECT node FROM webhook_nodes WHERE zone = " + f->zone_lit + " AND node <> " + f->node_lit +
           " AND seen < now() - interval '" + std::to_string(kNodeLeaseMs) + " milliseconds';"
           "SELECT coalesce((SELECT seq FROM webhook_snapshots WHERE zone = " + f->zone_lit + "), 0),"
           " (SELECT head FROM webhook_zones WHERE zone = " + f->zone_lit + ");";
    // The lease counts from when it was asked for, not from the answer.
    int64_t sent = now_ms();
    send(f, sql, [sent](Fleet* f, Results& res) {
        FleetShared* fs = fleet_of(f->zone);
        size_t n = res.size();
        bool renewed = value_u64(res[n - 4], 0, 0) > 0;
        const Result& dead = res[n - 2];
        const Result& marks = res[n - 1];
        uint64_t snapshot = value_u64(marks, 0, 0), head = value_u64(marks, 0, 1);
        bool snapshot_now;
        uint64_t seq;
        int64_t now = now_ms();
        // Others are given up on only by a node that renewed its own lease
        // without a gap for a whole lease period: after an outage of the
        // store, every node gets the time to renew its lease first.
        if (!renewed || f->lease_since_ms == 0 || now - f->lease_ms_last > 3 * static_cast<int64_t>(kTick))
            f->lease_since_ms = now;
        f->lease_ms_last = now;
        bool may_adopt = renewed && now - f->lease_since_ms >= kNodeLeaseMs;
        {
            Lock lock(f->zone->shpool);
            if (renewed) fs->lease_ms = sent;
            else f->want_catch_up = true;
            fs->head = std::max(fs->head, head);
            seq = fs->seq;
            snapshot_now = fs->loaded && !fs->diverged && fs->inflight_to == 0 && seq == head &&
                           head >= snapshot + kSnapshotEvery;
        }
        if (head > seq) f->want_catch_up = true;
        // Nodes whose lease ran out: their unfinished deliveries are this
        // node's now (through the log, so one node adopts each).
        std::string me = fs->node;
        for (int i = 0; may_adopt && i < PQntuples(dead.get()); i++) {
            std::string node(value(dead, i, 0));
            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                          "webhook_zone \"%V\": node %s has not renewed its lease for %ds: its deliveries are "
                          "taken over by node %s", &f->zone->name(), node.c_str(), (int) (kNodeLeaseMs / 1000),
                          me.c_str());
            log_submit(f->zone, nullptr, Submission{store::DeliveryAdopt{node, me}, nullptr, nullptr},
                       [f, node](ngx_http_request_t*, StateResult rc) {
                           if (rc == StateResult::ok) f->given_up.push_back(node);
                       });
        }
        if (snapshot_now && f->queue.empty()) take_snapshot(f, seq);
    });
}

// The zone as of change `seq` becomes the store's snapshot; the changes it
// covers are deleted, but none that a node seen in the last hour still needs.
void take_snapshot(Fleet* f, uint64_t seq) {
    StateRecords state = log_capture(f->zone);
    {
        Lock lock(f->zone->shpool);
        FleetShared* fs = fleet_of(f->zone);
        if (fs->seq != seq || fs->inflight_to != 0) return;   // moved meanwhile: next time
    }
    std::string data;
    for (const store::Mutation& m : state.records) {
        data += store::encode(m);
        data += '\n';
    }
    std::string s = std::to_string(seq);
    std::string sql = "INSERT INTO webhook_snapshots (zone, seq, data) VALUES (" + f->zone_lit + "," + s + "," +
                      literal(f, data) + ") ON CONFLICT (zone) DO UPDATE SET seq = excluded.seq, data = excluded.data,"
                      " at = now() WHERE webhook_snapshots.seq < excluded.seq;" + compact_sql(f);
    ngx_log_debug2(NGX_LOG_DEBUG_CORE, ngx_cycle->log, 0, "webhook fleet: snapshot at %uL, %uz bytes", seq, data.size());
    send(f, sql, [](Fleet*, Results&) {});
}

// --- what this worker does next ----------------------------------------------------

void pump(Fleet* f) {
    if (!f->ready || f->busy || f->in_then || f->exiting) return;
    if (!f->schema_ok) {
        send(f, schema_sql(f), schema_done);
        return;
    }
    FleetShared* fs = fleet_of(f->zone);
    bool loaded, mine_to_load, far_behind;
    ngx_uint_t import;
    {
        Lock lock(f->zone->shpool);
        loaded = fs->loaded;
        import = fs->import;
        if (!loaded && (fs->loader == 0 || !alive(fs->loader))) fs->loader = ngx_pid;
        mine_to_load = !loaded && fs->loader == ngx_pid;
        far_behind = fs->head > fs->seq + kCatchUpRows;
    }
    if (!loaded) {
        // One worker loads the zone; the others wait for it.
        if (!mine_to_load) {
            if (!f->retry.timer_set) ngx_add_timer(&f->retry, 50);
        } else if (import == kImportPending) {
            import_dir(f);
        } else if (import == kImportRefused) {
            return;
        } else if (!f->snapshot_read) {
            f->snapshot_read = true;
            load(f);
        } else if (f->want_catch_up) {
            catch_up(f);
        } else {
            load_done(f, false);
            pump(f);
        }
        return;
    }
    // The lease first when it is due: a stream of changes must not starve
    // it (the node would stop delivering, then be given up on).
    if (f->want_tick && ngx_worker == 0) {
        f->want_tick = false;
        lease(f);
    } else if (far_behind || (f->want_catch_up && f->queue.empty())) {
        catch_up(f);
    } else if (!f->queue.empty()) {
        append(f);
    } else if (f->want_tick) {
        f->want_tick = false;
    }
}

void on_tick(ngx_event_t* ev) {
    auto* f = static_cast<Fleet*>(ev->data);
    if (f->exiting) return;
    ngx_add_timer(&f->tick, kTick);
    f->want_tick = true;
    f->want_catch_up = true;   // the fallback when a NOTIFY was missed
    bool silent;
    {
        Lock lock(f->zone->shpool);
        silent = now_ms() - fleet_of(f->zone)->reached_ms >= kReachedMs;
    }
    if (silent) fail_waiting(f);
    pump(f);
}

void on_retry(ngx_event_t* ev) {
    auto* f = static_cast<Fleet*>(ev->data);
    f->want_catch_up = true;
    pump(f);
}

Fleet* fleet_worker(Zone* zone) { return static_cast<Fleet*>(zone->fleet); }

// --- StoreOps -------------------------------------------------------------------------

// libpq's words about a URI, without its user part (it may hold a password).
std::string redacted(const std::string& text, const std::string& uri) {
    size_t scheme = uri.find("://");
    size_t at = scheme == std::string::npos ? std::string::npos : uri.rfind('@');
    if (at == std::string::npos || at < scheme) return text;
    std::string user = uri.substr(scheme + 3, at - scheme - 3);
    size_t colon = user.find(':');
    std::string out = text;
    for (const std::string& secret : {user, colon == std::string::npos ? std::string() : user.substr(colon + 1)}) {
        if (secret.size() < 2) continue;
        for (size_t p; (p = out.find(secret)) != std::string::npos;) out.replace(p, secret.size(), "***");
    }
    return out;
}

ngx_int_t fleet_check(Zone* zone, ngx_log_t* log) {
    std::string uri = zone_uri(zone);
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(uri.c_str(), &err);
    if (opts == nullptr) {
        std::string why = err != nullptr ? err : "out of memory";
        if (err != nullptr) PQfreemem(err);
        while (!why.empty() && why.back() == '\n') why.pop_back();
        why = redacted(why, uri);
        site_log(NGX_LOG_EMERG, log, 0, zone->site, "webhook_zone \"%V\": store= is not a valid PostgreSQL connection "
                 "URI: %s", &zone->name(), why.c_str());
        return NGX_ERROR;
    }
    // libpq resolves a host name with a blocking call, in the worker, at each
    // connection: an address (host=127.0.0.1, or hostaddr=) keeps the event
    // loop free.
    std::string host, hostaddr;
    for (PQconninfoOption* o = opts; o->keyword != nullptr; o++) {
        if (o->val == nullptr) continue;
        if (std::strcmp(o->keyword, "host") == 0) host = o->val;
        if (std::strcmp(o->keyword, "hostaddr") == 0) hostaddr = o->val;
    }
    PQconninfoFree(opts);
    if (hostaddr.empty() && !host.empty() && host[0] != '/' && host != "localhost") {
        bool literal = true;
        for (std::string_view h : split(host, ',')) {
            in6_addr a6;
            in_addr a4;
            std::string one(h);
            if (!one.empty() && one.front() == '[') one = one.substr(1, one.size() - 2);
            if (inet_pton(AF_INET, one.c_str(), &a4) != 1 && inet_pton(AF_INET6, one.c_str(), &a6) != 1) literal = false;
        }
        if (!literal)
            site_log(NGX_LOG_WARN, log, 0, zone->site, "webhook_zone \"%V\": store= names the host \"%s\": libpq "
                     "resolves it with a blocking call in the worker at each connection; give its address (or "
                     "hostaddr=) so that the event loop never waits on DNS", &zone->name(), redacted(host, uri).c_str());
    }
    if (zone->state_dir.len != 0) return kJournalStore.check(zone, log);
    return NGX_OK;
}

// In the master, for a new zone: this node's id; with state= beside store=,
// DIR loaded to be imported (once: DIR is marked when it is).
ngx_int_t fleet_load(Zone* zone, ngx_log_t* log) {
    if (fleet_check(zone, log) != NGX_OK) return NGX_ERROR;
    FleetShared* fs = fleet_of(zone);
    std::string node = "n" + random_base62(11);
    ngx_cpystrn((u_char*) fs->node, (u_char*) node.c_str(), sizeof(fs->node));
    deliver_set_node(zone, node);
    if (zone->state_dir.len == 0) return NGX_OK;
    std::string mark = std::string((const char*) zone->state_dir.data, zone->state_dir.len) + "/" + kImportedMark;
    if (access(mark.c_str(), F_OK) == 0) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0, "webhook_zone \"%V\": state=\"%V\" was imported into the store before: "
                      "not loaded (remove state= from webhook_zone)", &zone->name(), &zone->state_dir);
        return NGX_OK;
    }
    if (kJournalStore.load(zone, log) != NGX_OK) return NGX_ERROR;   // checks DIR again: cheap
    // DIR's unfinished deliveries had no node: this one makes them (and the
    // import says so to the fleet).
    log_apply(zone, store::DeliveryAdopt{"", node}, store::Mode::replay, nullptr);
    fs->import = kImportPending;
    return NGX_OK;
}

// Written with the next transaction, applied here already (log_commit's
// revert: the fleet store never reverts through it, but the seam allows it).
void fleet_write(Zone* zone, ngx_http_request_t* r, uint64_t, std::string record, Committed done) {
    Fleet* f = fleet_worker(zone);
    std::string error;
    auto m = store::decode(record, &error);
    if (f == nullptr || !m) {
        if (done) done(r, false);
        return;
    }
    auto e = std::make_unique<Entry>();
    e->m = std::move(*m);
    e->applied = true;
    e->record = std::move(record);
    if (done) e->done = [done](ngx_http_request_t* req, StateResult rc) { done(req, rc == StateResult::ok); };
    f->queue.push_back(std::move(e));
    pump(f);
}

void fleet_submit(Zone* zone, ngx_http_request_t* r, Submission s, Settled done) {
    Fleet* f = fleet_worker(zone);
    bool ok_to_queue = f != nullptr && f->queue.size() < kMaxQueue && (f->ready || !done);
    if (ok_to_queue) {
        Lock lock(zone->shpool);
        FleetShared* fs = fleet_of(zone);
        // Changes wait for a store that answered lately and a loaded zone;
        // otherwise they are refused at once (503), except what nobody waits for.
        ok_to_queue = !done || (fs->loaded && !fs->diverged && now_ms() - fs->reached_ms < kReachedMs);
    }
    if (!ok_to_queue) {
        if (done) done(r, StateResult::unavailable);
        return;
    }
    auto e = std::make_unique<Entry>();
    e->m = std::move(s.m);
    e->undo = std::move(s.undo);
    e->on_durable = std::move(s.on_durable);
    e->done = std::move(done);
    e->via_log = std::holds_alternative<store::DeliveryAdopt>(e->m);
    if (!e->done && !e->undo && !e->via_log) {
        // What nobody waits for and nothing undoes (an attempt's outcome, a
        // replay id) takes effect here at once, as on a single node, and is
        // written behind: its order against other nodes' changes does not
        // matter.
        Change change;
        if (log_apply(zone, e->m, store::Mode::live, &change) != StateResult::ok) return;
        e->applied = true;
        e->record = std::move(change.record);
    }
    if (r != nullptr && e->done) {
        e->cln = ngx_pool_cleanup_add(r->pool, 0);
        if (e->cln == nullptr) throw std::bad_alloc();
        e->cln->handler = callback<entry_abandon>;
        e->cln->data = e.get();
        e->r = r;
    }
    f->queue.push_back(std::move(e));
    pump(f);
}

ngx_int_t fleet_init_process(ngx_cycle_t* cycle, Zone* zone) {
    if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE) return NGX_OK;
    auto* f = new Fleet();
    zone->fleet = f;
    f->zone = zone;
    f->conninfo = zone_uri(zone);
    // standard_conforming_strings is on (set at connection): doubling quotes is all.
    f->zone_lit = "'";
    for (char ch : sv(zone->name())) f->zone_lit += ch == '\'' ? std::string("''") : std::string(1, ch);
    f->zone_lit += "'";
    {
        Lock lock(zone->shpool);
        f->node_lit = "'" + std::string(fleet_of(zone)->node) + "'";
    }
    for (ngx_event_t* ev : {&f->reconnect, &f->tick, &f->retry}) {
        ev->data = f;
        ev->log = cycle->log;
        ev->cancelable = 1;
    }
    f->reconnect.handler = callback<on_reconnect>;
    f->tick.handler = callback<on_tick>;
    f->retry.handler = callback<on_retry>;
    ngx_add_timer(&f->tick, kTick);
    start_connect(f);
    return NGX_OK;
}

void fleet_exit_process(Zone* zone) {
    Fleet* f = fleet_worker(zone);
    if (f == nullptr) return;
    f->exiting = true;
    close_pg(f);
    // Requests still waiting must not find these entries in their cleanup.
    for (auto& e : f->queue)
        if (e->cln != nullptr && e->r != nullptr) e->cln->handler = nullptr;
    for (auto& e : f->batch)
        if (e->cln != nullptr && e->r != nullptr) e->cln->handler = nullptr;
    for (ngx_event_t* ev : {&f->reconnect, &f->tick, &f->retry})
        if (ev->timer_set) ngx_del_timer(ev);
    delete f;
    zone->fleet = nullptr;
}

}  // namespace

const StoreOps kFleetStore = {true,        true,         fleet_check,        fleet_load,
                              fleet_write, fleet_submit, fleet_init_process, fleet_exit_process};

std::string fleet_node(Zone* zone) {
    if (!zone->store->fleet) return {};
    Lock lock(zone->shpool);
    return fleet_of(zone)->node;
}

bool fleet_loaded(Zone* zone) {
    if (!zone->store->fleet) return true;
    // Read on every key check: no lock (it only ever turns true).
    return __atomic_load_n(&fleet_of(zone)->loaded, __ATOMIC_ACQUIRE);
}

bool fleet_ready(Zone* zone) {
    if (!zone->store->fleet) return true;
    Lock lock(zone->shpool);
    FleetShared* fs = fleet_of(zone);
    int64_t now = now_ms();
    return fs->loaded && !fs->diverged && now - fs->reached_ms < kReachedMs && now - fs->caught_up_ms < kReachedMs;
}

std::optional<FleetStatus> fleet_status(Zone* zone) {
    if (!zone->store->fleet) return std::nullopt;
    bool in_step = fleet_ready(zone);
    int64_t now = now_ms();
    Lock lock(zone->shpool);
    FleetShared* fs = fleet_of(zone);
    FleetStatus st;
    st.node = fs->node;
    st.reachable = now - fs->reached_ms < kReachedMs;
    st.in_step = in_step;
    st.applied = fs->seq;
    st.head = fs->head;
    st.lease_age_ms = fs->lease_ms > 0 ? now - fs->lease_ms : -1;
    return st;
}

bool fleet_may_deliver(Zone* zone, int64_t now) {
    if (!zone->store->fleet) return true;
    Lock lock(zone->shpool);
    FleetShared* fs = fleet_of(zone);
    return fs->loaded && now - fs->lease_ms < kDeliverLeaseMs;
}

}  // namespace webhook::ngx
