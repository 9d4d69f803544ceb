// A zone shared by a fleet of NGINX nodes through PostgreSQL
// (docs/fleet.md; `webhook_zone … store=postgresql://…`).
//
// The store holds one ordered log of changes per zone (webhook_changes,
// its head in webhook_zones) and a snapshot of it (webhook_snapshots). Each
// node's zone is a cache of that log, answering the request path on its
// own. A worker appends its changes in a transaction that locks the zone's
// head row, applies every change committed before them first, then applies
// and validates its own against that state (plan limits, Idempotency-Keys,
// revisions hold fleet-wide), inserts them and commits: the commit order is
// the log's order, and every node applies it in that order, woken by
// LISTEN/NOTIFY (polled each second besides).
//
// Deliveries belong to the node that published them (or replayed, or
// adopted them): only it makes their attempts. Each node renews a lease in
// the store (webhook_nodes) every second; a node whose lease is older than
// kNodeLease is given up on and another adopts its unfinished deliveries
// through the log (delivery.adopt); a node that cannot renew its lease stops
// making attempts before that happens.
#pragma once

#include <optional>
#include <string>

#include "ngx/store/store.hpp"

namespace webhook::ngx {

extern const StoreOps kFleetStore;

// This node's id in the zone's fleet; empty without store=.
std::string fleet_node(Zone* zone);

// Whether the API may answer from this node's zone: without store=, always;
// with it, once the store's state is loaded, the store answered lately and
// this node has applied every change it last saw.
bool fleet_ready(Zone* zone);

// Whether the zone holds the store's state at all (a node started while the
// store is down has none yet: a key check cannot be answered).
bool fleet_loaded(Zone* zone);

// What /metrics says of the store (store= only).
struct FleetStatus {
    std::string node;
    bool reachable = false, in_step = false;
    uint64_t applied = 0, head = 0;
    int64_t lease_age_ms = 0;
};
std::optional<FleetStatus> fleet_status(Zone* zone);

// Whether this node may make delivery attempts now: its lease in the store
// is fresh (without store=, always).
bool fleet_may_deliver(Zone* zone, int64_t now_ms);

}  // namespace webhook::ngx
