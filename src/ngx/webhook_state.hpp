// The durable state held in the zone: API keys and per-tenant plan limits
// (subscriptions and deliveries join them). Every change is a JSON mutation
// applied here under the zone lock, given a sequence number, and journaled;
// the same function replays the journal at start.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/util/json.hpp"
#include "ngx/webhook_zone.hpp"

namespace webhook::ngx {

// backlog_full: the tenant is over its bound of unfinished deliveries (or of
// the zone they take); duplicate: an Idempotency-Key answered already.
// conflict: changed by someone else since it was read (expect_revision).
enum class StateResult { ok, not_found, limit_reached, zone_full, invalid, backlog_full, duplicate, conflict };

// Events and deliveries leave 1/kEventReserveShare of the zone free (pages),
// so a backlog never makes POST /keys or POST /webhooks answer 507; one
// tenant's backlog may take at most 1/kTenantBacklogShare of what is left.
constexpr size_t kEventReserveShare = 4;
constexpr size_t kTenantBacklogShare = 2;

// Applies one mutation. It is encoded (into *record, the journal payload)
// before anything in the zone changes, so a mutation that cannot be journaled
// never takes effect. With enforce_limits (API requests, not replay), plan
// limits are checked atomically with the change. On ok, *seq is the
// mutation's sequence number.
StateResult state_apply(Zone* zone, const json_t* mutation, bool enforce_limits, uint64_t* seq,
                        std::string* record = nullptr);

// A change that could not be journaled is reverted: `undo` (a mutation's
// JSON text) is applied, and journaled so that a record that reached the
// disk anyway is cancelled when the zone is rebuilt.
void revert_change(Zone* zone, std::string_view undo);

// The mutations that restore a key or a tenant's plan limits as they are
// now (nullptr: no such key), for undoing a change to them.
json_t* key_record(Zone* zone, std::string_view id);
json_t* limits_record(Zone* zone, std::string_view tenant);

// A key as the API shows it (never the secret, never the hash).
struct KeyInfo {
    std::string id, display, resource, label;
    uint32_t scopes = 0;
    int64_t created_at = 0, expires_at = 0;
};
json_t* key_json(const KeyInfo& k);

std::optional<KeyInfo> key_by_id(Zone* zone, std::string_view id);
// A page of keys of one resource (all when resource is empty), oldest
// first: up to `limit` after the key `after` (empty: from the first).
// *cursor_found is false when `after` names no key of the list. The lock is
// held for the page only: a resource's keys are a list of their own, and
// the cursor is found by id.
std::vector<KeyInfo> keys_list(Zone* zone, std::string_view resource, std::string_view after, size_t limit,
                               size_t* total, bool* cursor_found);

// What api_key_auth needs, copied into the request pool under the lock.
struct KeyAuth {
    ngx_str_t id, resource, label;
    uint32_t scopes;
    int64_t expires_at;
};
bool key_by_hash(Zone* zone, const std::string& hash, ngx_pool_t* pool, KeyAuth* out);

struct TenantLimits {
    int64_t max_keys, max_webhooks, max_pending;   // effective: override or zone default
    int64_t keys, webhooks, pending;               // in use
};
TenantLimits tenant_limits(Zone* zone, std::string_view tenant);

// All live state as mutations, taken under the lock (a copy: quick), and
// their encoding as snapshot records (journal format) — slow for a large
// zone, so the compaction does it in the thread pool, off the lock.
struct StateRecords {
    uint64_t seq = 0;
    std::vector<Json> records;
};
StateRecords state_capture(Zone* zone);
std::string state_encode(const StateRecords& state);

void state_init_shared(ZoneShared* sh);

// True while the journal is being replayed at start (counters stay still).
bool state_replaying();
void state_set_replaying(bool on);

}  // namespace webhook::ngx
