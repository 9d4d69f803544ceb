// Subscriptions, events and deliveries in the zone (docs/api.md, docs/delivery.md): the state
// the dispatcher works from, changed only through the mutation log
// (endpoint.put/del, event.put/del, attempt.done, delivery.replay/unreplay,
// delivery.recover/unrecover, and the snapshot's restore records), read by
// the API as copies.
#pragma once

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "core/store/mutation.hpp"
#include "ngx/store/mutation_log.hpp"

namespace webhook::ngx {

// Events and deliveries leave 1/kEventReserveShare of the zone free (pages),
// so a backlog never makes POST /keys or POST /webhooks answer 507; one
// tenant's backlog may take at most 1/kTenantBacklogShare of what is left.
constexpr size_t kEventReserveShare = 4;
constexpr size_t kTenantBacklogShare = 2;

// Its part of a new zone (zone_init_shared): the size, and its setup in
// zeroed memory of that size.
size_t deliver_shared_size();
void deliver_init_shared(Zone* zone, void* mem);

StateResult apply_locked(Zone* zone, const store::EndpointPut& m, store::Mode mode);
StateResult apply_locked(Zone* zone, const store::EndpointDel& m, store::Mode mode);
StateResult apply_locked(Zone* zone, const store::EndpointStatus& m, store::Mode mode);
StateResult apply_locked(Zone* zone, const store::EventPut& m, store::Mode mode);
StateResult apply_locked(Zone* zone, const store::EventDel& m, store::Mode mode);
StateResult apply_locked(Zone* zone, const store::AttemptDone& m, store::Mode mode);
StateResult apply_locked(Zone* zone, const store::DeliveryReplay& m, store::Mode mode);
StateResult apply_locked(Zone* zone, const store::DeliveryUnreplay& m, store::Mode mode);
StateResult apply_locked(Zone* zone, const store::DeliveryRecover& m, store::Mode mode);
StateResult apply_locked(Zone* zone, const store::DeliveryUnrecover& m, store::Mode mode);
StateResult apply_locked(Zone* zone, const store::DeliveryRestore& m, store::Mode mode);
StateResult apply_locked(Zone* zone, const store::IdempotencyRestore& m, store::Mode mode);
StateResult apply_locked(Zone* zone, const store::DeliveryAdopt& m, store::Mode mode);

// A fleet node's id as the zone keeps it (a few bytes, compared often):
// empty for a zone without store=, whose every worker makes attempts.
class NodeId {
public:
    static constexpr size_t kMax = 15;
    NodeId() = default;
    explicit NodeId(std::string_view s) {
        s = s.substr(0, kMax);
        std::memcpy(bytes_, s.data(), s.size());
    }
    std::string str() const { return std::string(bytes_, ::strnlen(bytes_, kMax)); }
    bool operator==(const NodeId& o) const { return std::memcmp(bytes_, o.bytes_, sizeof(bytes_)) == 0; }
    bool operator!=(const NodeId& o) const { return !(*this == o); }

private:
    char bytes_[kMax + 1] = {};
};

// This node's id in the zone (store=: set once the zone is this node's).
void deliver_set_node(Zone* zone, std::string_view node);
// Every endpoint, event and delivery as records that rebuild them.
void deliver_capture_locked(Zone* zone, std::vector<store::Mutation>& out);

struct EndpointInfo {
    std::string id, tenant, url, name, description, disabled_reason, last_error;
    std::vector<std::string> events;
    int64_t timeout_ms = 10000;
    bool enabled = true;
    int64_t created_at = 0, updated_at = 0, last_error_at = 0, failing_since = 0;
    std::string secret, old_secret;   // never shown by the API
    int64_t old_secret_until = 0;
    uint64_t revision = 0;            // as read: an update expects it unchanged
};
// The endpoint.put record that stores e (secrets included: journal only).
store::EndpointPut endpoint_record(const EndpointInfo& e);

std::optional<EndpointInfo> endpoint_by_id(Zone* zone, std::string_view id);
std::vector<EndpointInfo> endpoints_list(Zone* zone, std::string_view tenant);
// Enabled endpoints of the tenant whose filters match the type.
std::vector<std::string> matching_endpoints(Zone* zone, std::string_view tenant, std::string_view type);

struct DeliveryInfo {
    std::string id, event_id, event, endpoint_id, tenant, status, last_error;
    uint32_t attempts = 0;
    int last_status = 0, last_time_ms = 0;
    int64_t created_at = 0, next_attempt_at = 0;   // ms
    std::string payload, history;                  // detail only
    std::string traceparent, tracestate;           // detail only: the event's trace context
};

// *cursor_found is false when `after` names no delivery of the list.
std::vector<DeliveryInfo> deliveries_of(Zone* zone, std::string_view endpoint_id, std::string_view status,
                                        size_t limit, std::string_view after, size_t* total, bool* cursor_found);
std::optional<DeliveryInfo> delivery_by_id(Zone* zone, std::string_view id);

// What POST /webhooks/{id}/recover re-queues: the endpoint's failed
// deliveries created in [since_ms, until_ms), oldest first, at most `max`
// and no more than its tenant's max_pending leaves room for. nullopt: no
// such endpoint. One walk of the endpoint's log (at most log= finished
// deliveries and its pending ones) under the zone lock.
struct RecoverPlan {
    std::vector<std::string> deliveries;
    size_t remaining = 0;         // matching ones left for another call
    bool backlog_full = false;    // max_pending left no room for any
};
std::optional<RecoverPlan> recover_plan(Zone* zone, std::string_view endpoint_id, int64_t since_ms, int64_t until_ms,
                                        size_t max);

// A recover's record is durable: the deliveries it re-queued (tagged `tag`)
// may go now.
void release_recovered(Zone* zone, const std::vector<std::string>& ids, uint32_t tag, int64_t now_ms);

struct IdempotentAnswer {
    std::string event_id;
    uint32_t deliveries;
};
std::optional<IdempotentAnswer> idempotent_answer(Zone* zone, std::string_view tenant, std::string_view key,
                                                  int64_t now);

// --- the dispatcher's side ---------------------------------------------------------

struct Claim {
    std::string delivery_id, event_id, endpoint_id, tenant, type, url, payload;
    std::string traceparent, tracestate;   // the event's trace context (empty: none)
    std::vector<std::string> secrets;   // current, then the previous one during a rotation
    uint32_t attempts = 0;              // made before this one
    int64_t timeout_ms = 10000;
    int64_t failing_since = 0;
    uint32_t token = 0;
};

struct DispatchLimits {
    ngx_uint_t concurrency;
    ngx_uint_t per_endpoint;
    int64_t lease_ms;             // slack added to the attempt's timeout
    int64_t max_type_timeout_ms;  // an event type's timeout= can exceed the endpoint's
    uint32_t max_attempts;        // retries= entries
};

// Takes up to `max` due deliveries (due before now_ms) for this worker, and
// returns expired leases to the queue. A lease is renewed while its attempt
// runs, so one expires only when its worker died: that attempt counts (a
// delivery that kills its worker cannot be retried for ever).
std::vector<Claim> claim_due(Zone* zone, int64_t now_ms, const DispatchLimits& limits, size_t max);

struct LeaseRef {
    std::string delivery_id;
    uint32_t token;
};
// Extends the leases of attempts still running in this worker to `until_ms`.
void renew_leases(Zone* zone, const std::vector<LeaseRef>& leases, int64_t until_ms);
// Pending deliveries, attempts in flight, the oldest pending one's age.
struct QueueStats {
    uint64_t pending = 0, in_flight = 0, oldest_age_s = 0;
};
void queue_stats(Zone* zone, int64_t now_ms, QueueStats* out);

// The event's record is durable: its deliveries may go now (until then they
// are held, so nothing is delivered that a crash could take back).
void release_event(Zone* zone, std::string_view event_id, int64_t now_ms);

}  // namespace webhook::ngx
