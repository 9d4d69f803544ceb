// The shared-memory zone of `webhook_zone`: one slab, visible to every worker,
// kept across reloads. Today it holds the replay cache; keys, subscriptions
// and the delivery queue live beside it.
#pragma once

#include "ngx/ngx_webhook.hpp"

namespace webhook::ngx {

// Shared part, allocated from the zone's slab. Every field is read and
// written under shpool->mutex.
struct ZoneShared {
    ngx_rbtree_t replay_tree;
    ngx_rbtree_node_t replay_sentinel;
    ngx_queue_t replay_lru;       // most recent at the head
    ngx_uint_t replay_entries;

    ngx_rbtree_t keys_by_hash;    // ngx_str_node_t on the SHA-256 of the key
    ngx_rbtree_node_t keys_by_hash_sentinel;
    ngx_rbtree_t keys_by_id;
    ngx_rbtree_node_t keys_by_id_sentinel;
    ngx_queue_t keys;             // creation order
    ngx_uint_t key_count;

    ngx_rbtree_t tenants;         // per tenant/resource counts and plan limits
    ngx_rbtree_node_t tenants_sentinel;

    ngx_rbtree_t endpoints;       // webhook subscriptions by id
    ngx_rbtree_node_t endpoints_sentinel;
    ngx_queue_t endpoint_list;    // creation order
    ngx_rbtree_t events;          // published events by id (kept while a delivery refers to them)
    ngx_rbtree_node_t events_sentinel;
    ngx_rbtree_t deliveries;      // by id
    ngx_rbtree_node_t deliveries_sentinel;
    ngx_rbtree_t due;             // pending deliveries by next attempt time (ms)
    ngx_rbtree_node_t due_sentinel;
    ngx_queue_t leased;           // attempts in flight, oldest lease first
    ngx_uint_t in_flight;
    ngx_queue_t pending;          // unfinished deliveries, in the order they became so
    ngx_uint_t pending_count;
    ngx_rbtree_t idempotency;     // (tenant, Idempotency-Key) → first answer, 24 h
    ngx_rbtree_node_t idempotency_sentinel;
    ngx_queue_t idempotency_lru;  // oldest first

    // Counters for webhook_status.
    uint64_t events_published;
    uint64_t attempts_succeeded, attempts_failed;
    uint64_t verify_results[8];
    uint64_t key_checks_ok, key_checks_refused;
    uint64_t latency_buckets[12];
    uint64_t latency_sum_ms, latency_count;

    uint64_t seq;                 // last sequence number given to a mutation
    uint64_t snapshot_seq;        // the durable snapshot covers up to here
    ngx_uint_t snapshot_gen;      // bumped when a compaction starts
    bool compacting;
    ngx_pid_t compacting_pid;     // the worker compacting (it may have died)
    uint64_t journal_bytes;       // appended since the last snapshot
    uint64_t snapshot_bytes;
};

// Per-configuration part (one per webhook_zone line).
struct Zone {
    ngx_shm_zone_t* shm;
    ngx_slab_pool_t* shpool;
    ZoneShared* sh;
    ngx_str_t state_dir;          // empty: memory only
    ngx_uint_t max_webhooks;
    ngx_uint_t max_keys;
    ngx_uint_t max_pending;           // per tenant: deliveries not finished
    ngx_uint_t log_size;
    ngx_cycle_t* cycle;               // the cycle this configuration belongs to
    ngx_thread_pool_t* thread_pool;   // fsync and compaction, with state=
    void* journal;                    // this worker's journal writer
    void* compaction;                 // worker 0's compaction (state=)
};

struct MainConf {
    ngx_array_t zones;            // of Zone*
};

// `zone=NAME` of another directive: the named zone, or with an empty name the
// only zone of the configuration. Returns nullptr after logging the reason.
Zone* zone_lookup(ngx_conf_t* cf, ngx_str_t name, const char* directive);
// The only zone of the configuration, or nullptr (no error is logged).
Zone* zone_default(ngx_conf_t* cf);

enum class ReplayResult { fresh, replayed };

// The replay cache holds at most 1/kReplayShare of the zone; past that the
// oldest ids are evicted (SPEC §2 allows it for this cache only).
constexpr size_t kReplayShare = 4;
ngx_uint_t replay_capacity(const Zone* zone);

// A message id (32-byte key) is reserved while its request is in flight
// (until `pending_until` at most, should the worker die), and remembered for
// the replay window only once the application accepted it (SPEC §3): a
// sender's retry after a 5xx is then accepted. `replayed` when the id is
// reserved or remembered already. *token identifies the reservation (0: none
// was made, the zone being full).
ReplayResult replay_reserve(Zone* zone, const std::string& key, time_t now, time_t pending_until, uint64_t* token);
// Ends a reservation: remembered until `expires`, or forgotten.
void replay_settle(Zone* zone, const std::string& key, uint64_t token, bool remember, time_t expires);

}  // namespace webhook::ngx
