// The durable state held in the zone: API keys and per-tenant plan limits
// (subscriptions and deliveries join them). Every change is a JSON mutation
// applied here under the zone lock, given a sequence number, and journaled;
// the same function replays the journal at start.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/json.hpp"
#include "ngx/webhook_zone.hpp"

namespace webhook::ngx {

enum class StateResult { ok, not_found, limit_reached, zone_full, invalid };

// Applies one mutation. With enforce_limits (API requests, not replay),
// plan limits are checked atomically with the change. On ok, *seq is the
// mutation's sequence number.
StateResult state_apply(Zone* zone, const json_t* mutation, bool enforce_limits, uint64_t* seq);

// A key as the API shows it (never the secret, never the hash).
struct KeyInfo {
    std::string id, display, resource, label;
    uint32_t scopes = 0;
    int64_t created_at = 0, expires_at = 0;
};
json_t* key_json(const KeyInfo& k);

std::optional<KeyInfo> key_by_id(Zone* zone, std::string_view id);
// Keys of one resource (all when resource is empty), oldest first.
std::vector<KeyInfo> keys_list(Zone* zone, std::string_view resource, size_t* total);

// What api_key_auth needs, copied into the request pool under the lock.
struct KeyAuth {
    ngx_str_t id, resource, label;
    uint32_t scopes;
    int64_t expires_at;
};
bool key_by_hash(Zone* zone, const std::string& hash, ngx_pool_t* pool, KeyAuth* out);

struct TenantLimits {
    int64_t max_keys, max_webhooks;   // effective: override or zone default
    int64_t keys, webhooks;           // in use
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
