// The mutation log: the one way the zone's durable state changes.
//
// A writer (an API route, webhook_emit, the dispatcher, the journal at
// start) builds a typed record (core/store/mutation.hpp); log_apply encodes
// it, then applies it under the zone lock through the apply table
// (mutation_log.cpp: one apply_locked per record type, in the file of the
// capability that owns that state) and gives it the next sequence number.
// log_commit then makes it durable in the zone's store (store.hpp: the
// journal files of state=DIR, or memory only), and only then runs
// what waits for it: the caller's answer, an event's deliveries. A change
// the store cannot take is undone (its undo record applied and written).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/store/mutation.hpp"
#include "core/util/api_error.hpp"
#include "ngx/store/store.hpp"

namespace webhook::ngx {

// backlog_full: the tenant is over its bound of unfinished deliveries (or of
// the zone they take); duplicate: an Idempotency-Key answered already;
// conflict: changed by someone else since it was read (expect_revision);
// unavailable: the store could not take it (not made).
enum class StateResult { ok, not_found, limit_reached, zone_full, invalid, backlog_full, duplicate, conflict,
                         unavailable };

// How a refused change is answered: 404, 409, 429, 507, ...; `what` names the
// thing changed ("key", "webhook", "event"). The caller logs the refusal,
// once (log_refusal, or webhook_emit's own line).
ApiError refusal(StateResult rc, Zone* zone, const char* what);

// A zone with store= (fleet.cpp): where this node stands in the store's log.
struct FleetShared {
    char node[16];              // this node's id in the fleet (made with the zone)
    uint64_t seq;               // the store's changes applied here, up to this one
    uint64_t head;              // the store's last change, as last seen
    bool loaded;                // the store's state is in this zone (since it was made)
    bool diverged;              // a change applied here never reached the store (logged)
    ngx_pid_t loader;           // the worker loading it, 0: none
    int64_t reached_ms;         // the store last answered (any worker)
    int64_t caught_up_ms;       // a worker last applied every change the store had
    int64_t lease_ms;           // this node's lease in the store last renewed
    // The change in flight: applied here, its commit not yet seen.
    uint64_t inflight_from, inflight_to;
    char inflight_tx[32];
    ngx_pid_t inflight_pid;
    ngx_uint_t import;          // state= beside store=: kImport* (fleet.cpp)
};

// The log's part of the zone: sequence numbers and the journal's bookkeeping.
struct LogShared {
    uint64_t seq;                 // last sequence number given to a mutation
    uint64_t snapshot_seq;        // the durable snapshot covers up to here
    ngx_uint_t snapshot_gen;      // bumped when a compaction starts
    bool compacting;
    ngx_pid_t compacting_pid;     // the worker compacting (it may have died)
    uint64_t journal_bytes;       // appended since the last snapshot
    uint64_t snapshot_bytes;
    FleetShared fleet;            // store=: this node's place in the store's log
};

// Allocates each capability's shared struct in a new zone.
bool zone_init_shared(Zone* zone);

// An applied mutation on its way to the store.
struct Change {
    uint64_t seq = 0;
    std::string record;                    // the encoded mutation
    std::shared_ptr<const store::Mutation> undo;   // restores what it replaced
    std::function<void()> on_durable;      // e.g. release an event's deliveries
};

// Encodes m, then applies it under the zone lock: refused (nothing changed)
// or applied with the next sequence number, into *change when given.
StateResult log_apply(Zone* zone, const store::Mutation& m, store::Mode mode, Change* change);

// The same under the zone lock, held by the caller: no sequence number,
// nothing encoded (a fleet node applying the store's records in its order).
StateResult log_apply_locked(Zone* zone, const store::Mutation& m, store::Mode mode);

// A live change on its way: its record, what undoes it when it cannot be
// made durable, and what runs once it is (e.g. release an event's deliveries).
struct Submission {
    store::Mutation m;
    std::shared_ptr<const store::Mutation> undo;
    std::function<void()> on_durable;
};

// The one way a running worker changes the zone: applies the change in the
// order the store decides (at once for memory and state=; after every
// earlier change of the fleet for store=) and makes it durable, then done
// (nullptr: nobody waits; the record goes out with the next batch). done may
// run before log_submit returns.
void log_submit(Zone* zone, ngx_http_request_t* r, Submission s, Settled done);

// Makes an applied change durable, then runs on_durable (ok) or applies and
// writes its undo (not ok), then `done`. Without done, on_durable and undo,
// nobody waits: the record goes out with the next batch (attempt outcomes,
// where at-least-once delivery tolerates a lost record).
void log_commit(Zone* zone, ngx_http_request_t* r, Change change, Committed done);

// The live state as records (under the lock: a copy, quick), and their
// encoding as snapshot records (slow for a large zone: the compaction does
// it in the thread pool, off the lock).
struct StateRecords {
    uint64_t seq = 0;
    std::vector<store::Mutation> records;
};
StateRecords log_capture(Zone* zone);
std::string log_encode(const StateRecords& state);

}  // namespace webhook::ngx
