// Where a zone's changes are made durable: the seam between the mutation log
// and a store. A zone has one store, chosen by webhook_zone: memory only, or
// the journal files of state=DIR; a store shared by a fleet (PostgreSQL)
// plugs in here beside them.
#pragma once

#include <functional>
#include <string>

#include "ngx/store/zone.hpp"

namespace webhook::ngx {

// Called on the event loop once a record is durable (ok) or could not be
// written, always: r is nullptr when the request was freed meanwhile, or
// there was none.
using Committed = std::function<void(ngx_http_request_t* r, bool ok)>;

struct Submission;                 // mutation_log.hpp
enum class StateResult;

// Called on the event loop once a submitted change is settled: applied and
// durable (ok), refused (why, nothing changed), or unavailable (the store
// could not take it; undone). r as for Committed.
using Settled = std::function<void(ngx_http_request_t* r, StateResult rc)>;

struct StoreOps {
    // Changes outlive a restart (with none, a zone starts empty).
    bool durable;
    // Several NGINX nodes share it (store=): the store orders the changes.
    bool fleet;
    // nginx -t, in the master: what start would find wrong with the store,
    // without loading it (nullptr: nothing to check).
    ngx_int_t (*check)(Zone* zone, ngx_log_t* log);
    // In the master, for a zone whose shared memory is new: rebuilds the zone
    // from what the store holds (applying its records through the mutation
    // log). A zone too small for it fails, the store untouched.
    ngx_int_t (*load)(Zone* zone, ngx_log_t* log);
    // Writes the record of a change applied with sequence `seq`. Without
    // done, nobody waits for it.
    void (*write)(Zone* zone, ngx_http_request_t* r, uint64_t seq, std::string record, Committed done);
    // A live change, applied in the store's order and made durable
    // (log_submit); nullptr: applied at once, then written.
    void (*submit)(Zone* zone, ngx_http_request_t* r, Submission s, Settled done);
    ngx_int_t (*init_process)(ngx_cycle_t* cycle, Zone* zone);
    void (*exit_process)(Zone* zone);
};

// No state=: a change is as durable as the zone (nothing outlives a restart).
// (state=DIR: kJournalStore, journal.hpp.)
extern const StoreOps kMemoryStore;

}  // namespace webhook::ngx
