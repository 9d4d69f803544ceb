// Durability of the zone (docs/directives.md#webhook_zone state=DIR).
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

#include "ngx/store/store.hpp"

namespace webhook::ngx {

extern const StoreOps kJournalStore;

}  // namespace webhook::ngx
