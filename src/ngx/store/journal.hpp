// Durability of the zone (README.md#webhook_zone state=DIR).
//
// DIR holds `snapshot` (all live state at one sequence number) and journal
// files `journal-<gen>-<serial>-<pid>.log`, one per worker process: a worker appends
// the records of the mutations it made and fsyncs them from NGINX's thread
// pool, a batch at a time (group commit), and the API answers only once its
// record is on disk. Records carry the global sequence number given under the
// zone lock, so replay merges the files back into one order.
//
// At start the zone is rebuilt from the snapshot and the journals, damaged
// records dropped with a log line, and DIR compacted into a new snapshot.
// While running, worker 0 compacts when the journals outgrow the snapshot;
// each worker then moves to a new journal file and removes its old ones once
// the snapshot covers them.
#pragma once

#include <functional>
#include <string>

#include "ngx/store/zone.hpp"

namespace webhook::ngx {

// In the master, when a zone's shared memory is new: rebuilds the zone from
// DIR and compacts DIR. A zone too small for DIR fails, DIR untouched.
ngx_int_t journal_load(Zone* zone, ngx_log_t* log);

// Called on the event loop when the record is durable (ok) or could not be
// written, always: r is nullptr when the request was freed meanwhile (or
// for work with no request behind it).
using Written = std::function<void(ngx_http_request_t* r, bool ok)>;

// Writes the record of a mutation applied with sequence `seq` (the mutation
// log calls this). Memory-only zones call done at once. Without done, the
// record goes out in the next batch and nobody waits.
void journal_write(Zone* zone, ngx_http_request_t* r, uint64_t seq, std::string payload, Written done);

// Worker start: the compaction timer (worker 0); worker exit: the writer
// and the compaction freed.
ngx_int_t journal_init_process(ngx_cycle_t* cycle, Zone* zone);
void journal_exit_process(Zone* zone);

}  // namespace webhook::ngx
