#include "ngx/deliver/deliver_store.hpp"

#include <algorithm>

#include "core/deliver/events.hpp"
#include "core/deliver/trace_context.hpp"
#include "core/util/text.hpp"
#include "ngx/common/shm.hpp"
#include "ngx/status/counters.hpp"
#include "ngx/store/tenants.hpp"

namespace webhook::ngx {

struct DeliverShared {
    ngx_rbtree_t endpoints;       // webhook subscriptions by id
    ngx_rbtree_node_t endpoints_sentinel;
    ngx_queue_t endpoint_list;    // creation order
    ngx_rbtree_t events;          // published events by id (kept while a delivery refers to them)
    ngx_rbtree_node_t events_sentinel;
    ngx_rbtree_t deliveries;      // by id
    ngx_rbtree_node_t deliveries_sentinel;
    ngx_rbtree_t due;             // endpoints with queued deliveries, by the earliest (ms)
    ngx_rbtree_node_t due_sentinel;
    ngx_queue_t leased;           // attempts in flight, oldest lease first
    ngx_uint_t in_flight;
    ngx_queue_t pending;          // unfinished deliveries, in the order they became so
    ngx_uint_t pending_count;
    ngx_rbtree_t idempotency;     // (tenant, Idempotency-Key) → first answer, 24 h
    ngx_rbtree_node_t idempotency_sentinel;
    ngx_queue_t idempotency_lru;  // oldest first
    NodeId node;                  // this node in a fleet (store=): it makes the
                                  // attempts of the deliveries it owns only
};

namespace {

constexpr size_t kMaxHistory = 20;          // attempts kept per delivery
// Work done under the zone lock is bounded per call: expired answers
// dropped per lookup, dead leases taken back per claim, endpoints looked at
// per claim, pending deliveries looked at for the oldest age.
constexpr int kExpireBatch = 16;
constexpr int kLeaseBatch = 64;
constexpr int kClaimScan = 512;
constexpr int kOldestScan = 16;
constexpr int64_t kIdempotencyMs = 24 * 3600 * 1000LL;
// A new event's deliveries wait for its journal record to be durable
// (release_event); if the worker that published it dies first, they go
// after this long anyway.
constexpr int64_t kHoldMs = 10000;

enum Status : uint8_t { kPending = 0, kSucceeded = 1, kFailed = 2 };
const char* status_name(uint8_t s) { return s == kSucceeded ? "succeeded" : s == kFailed ? "failed" : "pending"; }

struct EndpointRec {
    ngx_str_node_t node;                 // id
    ngx_queue_t all;
    ngx_queue_t tenant_link;             // in its TenantRec::endpoint_list: a publish walks
                                         // its own tenant's endpoints only
    ngx_queue_t log;                     // DeliveryRec::ep_link, newest first
    ngx_uint_t log_count;
    ngx_uint_t log_finished;             // of log_count, not pending (what trim_log may drop)
    ngx_uint_t in_flight;
    // Two-level queue: the endpoint's queued deliveries by next attempt, and
    // the endpoint itself in the zone's due tree (keyed by its earliest)
    // while enabled with something queued. The dispatcher walks endpoints,
    // so a disabled or saturated endpoint's backlog never stands in front of
    // the others'.
    ngx_rbtree_t due;
    ngx_rbtree_node_t due_sentinel;
    ngx_rbtree_node_t ready;
    bool in_ready;
    ngx_str_t tenant, url, name, description, filters, secret, old_secret, last_error, disabled_reason;
    int64_t old_secret_until, created_at, updated_at, last_error_at, failing_since, timeout_ms;
    uint64_t revision;                   // bumped by every endpoint.put
    bool enabled;
};

struct EventRec {
    ngx_str_node_t node;                 // id
    ngx_queue_t deliveries;              // DeliveryRec::event_link
    ngx_str_t tenant, type, payload;
    ngx_str_t tracestate;                // only with a traceparent
    char traceparent[kTraceparentSize];  // version 00's form, when traced (inline: it
    bool traced;                         // fits in the slab slot the record takes anyway)
    int64_t created_at;
    ngx_uint_t refs;
    TenantRec* owner;                    // its tenant's backlog counts it (tenant records stay)
    int64_t bytes;                       // what it and its deliveries take, about
};

struct DeliveryRec {
    ngx_str_node_t node;                 // id
    ngx_rbtree_node_t due;               // key: next attempt (ms), while queued
    ngx_queue_t ep_link;
    ngx_queue_t lease_link;
    ngx_queue_t event_link;
    ngx_queue_t pending_link;            // in ZoneShared::pending while pending
    EventRec* event;
    EndpointRec* endpoint;
    uint8_t status;
    bool queued, leased;
    bool held;                           // queued late until the event is durable
    // token: the lease of the attempt in flight; while none is (not leased),
    // a recover's tag on the deliveries it re-queued (for its release and its
    // undo; a claim replaces it). Tags are even, leases odd.
    uint32_t attempts, token;
    int32_t last_status, last_time_ms;
    int64_t created_at, next_attempt_at, lease_until;
    ngx_str_t last_error, history;       // history: a JSON array
    NodeId owner;                        // the fleet node making its attempts
};

struct IdemRec {
    ngx_str_node_t node;                 // tenant \x1f key
    ngx_queue_t lru;
    int64_t expires;                     // ms
    ngx_str_t event_id;
    uint32_t deliveries;
};

EndpointRec* endpoint_locked(DeliverShared* sh, std::string_view id) {
    return lookup<EndpointRec>(&sh->endpoints, id, offsetof(EndpointRec, node));
}
EventRec* event_locked(DeliverShared* sh, std::string_view id) {
    return lookup<EventRec>(&sh->events, id, offsetof(EventRec, node));
}
DeliveryRec* delivery_locked(DeliverShared* sh, std::string_view id) {
    return lookup<DeliveryRec>(&sh->deliveries, id, offsetof(DeliveryRec, node));
}

// Puts the endpoint in the zone's due tree at its earliest queued delivery,
// or takes it out (disabled, or nothing queued).
void ep_refresh(DeliverShared* sh, EndpointRec* ep) {
    if (ep->in_ready) {
        ngx_rbtree_delete(&sh->due, &ep->ready);
        ep->in_ready = false;
    }
    if (!ep->enabled || ep->due.root == ep->due.sentinel) return;
    ep->ready.key = ngx_rbtree_min(ep->due.root, ep->due.sentinel)->key;
    ngx_rbtree_insert(&sh->due, &ep->ready);
    ep->in_ready = true;
}

void unqueue(DeliverShared* sh, DeliveryRec* d) {
    if (!d->queued) return;
    ngx_rbtree_delete(&d->endpoint->due, &d->due);
    d->queued = false;
    ep_refresh(sh, d->endpoint);
}

void enqueue(DeliverShared* sh, DeliveryRec* d, int64_t at) {
    unqueue(sh, d);
    d->next_attempt_at = at;
    if (d->leased) return;   // the attempt in flight re-queues it when it reports
    if (d->owner != sh->node) return;   // another node of the fleet makes it
    d->due.key = static_cast<ngx_rbtree_key_t>(at);
    ngx_rbtree_insert(&d->endpoint->due, &d->due);
    d->queued = true;
    ep_refresh(sh, d->endpoint);
}

// Every status change goes through here: the endpoint counts its finished
// deliveries, so trimming its log never walks a backlog of pending ones.
// Pending deliveries are counted by their tenant (max_pending) and listed
// by the zone (queue depth and oldest age in O(1) for webhook_status).
void pending_enter(DeliverShared* sh, DeliveryRec* d) {
    ngx_queue_insert_tail(&sh->pending, &d->pending_link);
    sh->pending_count++;
    d->event->owner->pending++;
}

void pending_leave(DeliverShared* sh, DeliveryRec* d) {
    ngx_queue_remove(&d->pending_link);
    sh->pending_count--;
    d->event->owner->pending--;
}

// The endpoint counts its finished ones, so trimming its log never walks a
// backlog of pending ones.
void set_status(DeliverShared* sh, DeliveryRec* d, uint8_t status) {
    if ((d->status == kPending) != (status == kPending)) {
        if (status == kPending) {
            d->endpoint->log_finished--;
            pending_enter(sh, d);
        } else {
            d->endpoint->log_finished++;
            pending_leave(sh, d);
        }
    }
    d->status = status;
}

int64_t delivery_bytes(std::string_view id) { return slab_bytes(sizeof(DeliveryRec) + id.size()); }

void unlease(DeliverShared* sh, DeliveryRec* d) {
    if (!d->leased) return;
    ngx_queue_remove(&d->lease_link);
    d->leased = false;
    if (sh->in_flight > 0) sh->in_flight--;
    if (d->endpoint->in_flight > 0) d->endpoint->in_flight--;
}

void event_release(Zone* zone, EventRec* e) {
    if (--e->refs > 0) return;
    e->owner->backlog_bytes -= e->bytes;
    tenant_release(zone, e->owner);
    ngx_rbtree_delete(&zone->sh->deliver->events, &e->node.node);
    shm_free(zone->shpool, &e->tenant);
    shm_free(zone->shpool, &e->type);
    shm_free(zone->shpool, &e->payload);
    shm_free(zone->shpool, &e->tracestate);
    ngx_slab_free_locked(zone->shpool, e);
}

void delivery_free(Zone* zone, DeliveryRec* d) {
    DeliverShared* sh = zone->sh->deliver;
    unqueue(sh, d);
    unlease(sh, d);
    ngx_queue_remove(&d->ep_link);
    d->endpoint->log_count--;
    if (d->status != kPending) d->endpoint->log_finished--;
    else pending_leave(sh, d);
    ngx_rbtree_delete(&sh->deliveries, &d->node.node);
    ngx_queue_remove(&d->event_link);
    event_release(zone, d->event);
    shm_free(zone->shpool, &d->last_error);
    shm_free(zone->shpool, &d->history);
    ngx_slab_free_locked(zone->shpool, d);
}

// Keeps the endpoint's log at `log_size` deliveries, dropping the oldest
// finished ones: pending deliveries are never dropped. The walk stops once
// enough were dropped, so a backlog of pending deliveries (an endpoint that
// is down) is not walked on every publish.
void trim_log(Zone* zone, EndpointRec* ep) {
    if (ep->log_count <= zone->log_size) return;
    ngx_uint_t drop = std::min(ep->log_finished, ep->log_count - zone->log_size);
    ngx_queue_t* q = ngx_queue_last(&ep->log);
    while (drop > 0 && q != ngx_queue_sentinel(&ep->log)) {
        ngx_queue_t* prev = ngx_queue_prev(q);
        auto* d = container_of<DeliveryRec>(q, offsetof(DeliveryRec, ep_link));
        if (d->status != kPending) {
            delivery_free(zone, d);
            drop--;
        }
        q = prev;
    }
}

std::string join_filters(const std::vector<std::string>& events) {
    std::string out;
    for (const std::string& f : events) {
        if (!out.empty()) out.push_back('\n');
        out.append(f);
    }
    return out;
}

std::vector<std::string> split_filters(std::string_view s) {
    std::vector<std::string> out;
    if (!s.empty())
        for (std::string_view f : split(s, '\n')) out.emplace_back(f);
    return out;
}

// --- mutations --------------------------------------------------------------------

IdemRec* idempotency_locked(DeliverShared* sh, std::string_view key) {
    return lookup<IdemRec>(&sh->idempotency, key, offsetof(IdemRec, node));
}

void idempotency_free(Zone* zone, IdemRec* rec) {
    ngx_queue_remove(&rec->lru);
    ngx_rbtree_delete(&zone->sh->deliver->idempotency, &rec->node.node);
    shm_free(zone->shpool, &rec->event_id);
    ngx_slab_free_locked(zone->shpool, rec);
}

}  // namespace

// --- the mutations (the apply table's delivery entries) ---------------------------------

StateResult apply_locked(Zone* zone, const store::EndpointPut& m, store::Mode mode) {
    DeliverShared* sh = zone->sh->deliver;
    if (m.id.empty() || m.tenant.empty()) return StateResult::invalid;
    // Heap work before any shared state is touched: a bad_alloc here leaves
    // no tenant reference or half-made record behind.
    std::string filters = join_filters(m.events);
    EndpointRec* ep = endpoint_locked(sh, m.id);
    bool created = ep == nullptr;
    bool live = mode == store::Mode::live;
    // An update read the endpoint at some revision: a change or a delete
    // since then wins (no lost rotation, no endpoint brought back).
    // (Checked live only: replay applies what was accepted, in order.)
    if (live && m.expect_revision) {
        if (ep == nullptr) return StateResult::not_found;
        if (ep->revision != *m.expect_revision) return StateResult::conflict;
    }
    TenantRec* t = tenant_locked(zone, m.tenant, true);
    if (t == nullptr) return StateResult::zone_full;
    if (created) {
        if (live && t->webhooks >= max_webhooks_of(zone, t)) {
            tenant_release(zone, t);
            return StateResult::limit_reached;
        }
        ep = shm_new_with_id<EndpointRec>(zone->shpool, m.id);
        if (ep == nullptr) {
            tenant_release(zone, t);
            return StateResult::zone_full;
        }
        ngx_queue_init(&ep->log);
        ngx_rbtree_init(&ep->due, &ep->due_sentinel, ngx_rbtree_insert_value);
    } else if (sv(ep->tenant) != m.tenant) {
        tenant_release(zone, t);
        return StateResult::invalid;
    }

    // New strings first, so a full zone leaves the endpoint as it was.
    struct Field {
        ngx_str_t* dst;
        std::string_view value;
    };
    const Field fields[] = {
        {&ep->tenant, m.tenant},           {&ep->url, m.url},       {&ep->name, m.name},
        {&ep->description, m.description}, {&ep->filters, filters}, {&ep->secret, m.secret},
        {&ep->old_secret, m.old_secret},   {&ep->disabled_reason, m.disabled_reason},
    };
    constexpr size_t kFields = sizeof(fields) / sizeof(fields[0]);
    ngx_str_t copies[kFields];
    size_t n = 0;
    while (n < kFields && shm_dup(zone->shpool, fields[n].value, &copies[n])) n++;
    if (n < kFields) {
        for (size_t i = 0; i < n; i++) shm_free(zone->shpool, &copies[i]);
        if (created) ngx_slab_free_locked(zone->shpool, ep);
        tenant_release(zone, t);
        return StateResult::zone_full;
    }
    for (size_t i = 0; i < n; i++) {
        shm_free(zone->shpool, fields[i].dst);
        *fields[i].dst = copies[i];
    }
    ep->timeout_ms = m.timeout_ms;
    ep->enabled = m.enabled;
    ep->old_secret_until = m.old_secret_until;
    ep->created_at = m.created_at;
    ep->updated_at = m.updated_at;
    if (ep->enabled) ep->failing_since = 0;
    ep->revision++;
    if (created) {
        ngx_rbtree_insert(&sh->endpoints, &ep->node.node);
        ngx_queue_insert_tail(&sh->endpoint_list, &ep->all);
        ngx_queue_insert_tail(&t->endpoint_list, &ep->tenant_link);
        t->webhooks++;
    } else {
        ep_refresh(sh, ep);   // enabled or disabled: in or out of the due tree
    }
    return StateResult::ok;
}

StateResult apply_locked(Zone* zone, const store::EndpointDel& m, store::Mode) {
    DeliverShared* sh = zone->sh->deliver;
    EndpointRec* ep = endpoint_locked(sh, m.id);
    if (ep == nullptr) return StateResult::not_found;
    // Its deliveries go with it: pending attempts are dropped.
    while (!ngx_queue_empty(&ep->log))
        delivery_free(zone, container_of<DeliveryRec>(ngx_queue_head(&ep->log), offsetof(DeliveryRec, ep_link)));
    if (ep->in_ready) ngx_rbtree_delete(&sh->due, &ep->ready);
    ngx_queue_remove(&ep->tenant_link);   // before its tenant record may go
    if (TenantRec* t = tenant_locked(zone, sv(ep->tenant), false)) {
        t->webhooks--;
        tenant_release(zone, t);
    }
    ngx_rbtree_delete(&sh->endpoints, &ep->node.node);
    ngx_queue_remove(&ep->all);
    for (ngx_str_t* s : {&ep->tenant, &ep->url, &ep->name, &ep->description, &ep->filters, &ep->secret,
                         &ep->old_secret, &ep->last_error, &ep->disabled_reason})
        shm_free(zone->shpool, s);
    ngx_slab_free_locked(zone->shpool, ep);
    return StateResult::ok;
}

StateResult apply_locked(Zone* zone, const store::EndpointStatus& m, store::Mode) {
    EndpointRec* ep = endpoint_locked(zone->sh->deliver, m.id);
    if (ep == nullptr) return StateResult::not_found;
    if (!shm_replace(zone->shpool, &ep->last_error, m.last_error)) return StateResult::zone_full;
    ep->last_error_at = m.last_error_at;
    ep->failing_since = m.failing_since;
    return StateResult::ok;
}

// Live (a publish), the bounds: the Idempotency-Key checked and taken in the
// same step (two publishes with one key make one event), the tenant's
// max_pending and share of the zone, and the zone's reserve for keys and
// subscriptions (docs/directives.md#webhook_zone: no part of the zone starves another). New
// deliveries are held until the record is durable (release_event).
StateResult apply_locked(Zone* zone, const store::EventPut& m, store::Mode mode) {
    DeliverShared* sh = zone->sh->deliver;
    bool live = mode == store::Mode::live;
    if (m.id.empty() || m.tenant.empty() || event_locked(sh, m.id) != nullptr) return StateResult::invalid;
    // The trace context as the record's decoder and the publish path make
    // it: bounded before it is counted or copied.
    if ((!m.traceparent.empty() && m.traceparent.size() != kTraceparentSize) || m.tracestate.size() > kMaxTracestate)
        return StateResult::invalid;
    std::string_view tracestate = m.traceparent.empty() ? std::string_view() : std::string_view(m.tracestate);
    if (!m.idempotency.empty()) {
        IdemRec* prior = idempotency_locked(sh, m.idempotency);
        if (prior != nullptr && prior->expires > m.created_at_ms && live) return StateResult::duplicate;
        if (prior != nullptr) idempotency_free(zone, prior);
    }

    TenantRec* t = tenant_locked(zone, m.tenant, true);
    if (t == nullptr) return StateResult::zone_full;
    int64_t targets = 0;
    int64_t bytes = slab_bytes(sizeof(EventRec) + m.id.size()) + slab_bytes(m.tenant.size()) +
                    slab_bytes(m.type.size()) + slab_bytes(m.payload.size()) + slab_bytes(tracestate.size()) +
                    (m.idempotency.empty() ? 0 : slab_bytes(sizeof(IdemRec) + m.idempotency.size()) + slab_bytes(m.id.size()));
    for (const store::DeliveryTarget& target : m.deliveries) {
        if (endpoint_locked(sh, target.endpoint) == nullptr) continue;
        targets++;
        bytes += delivery_bytes(target.id);
    }
    if (live && targets > 0) {
        size_t size = zone->shm->shm.size;
        size_t events_budget = size - size / kEventReserveShare;
        if (t->pending + targets > max_pending_of(zone, t) ||
            t->backlog_bytes + bytes > static_cast<int64_t>(events_budget / kTenantBacklogShare)) {
            tenant_release(zone, t);
            return StateResult::backlog_full;
        }
        size_t free_bytes = zone->shpool->pfree * ngx_pagesize;
        if (free_bytes < size / kEventReserveShare + static_cast<size_t>(bytes)) {
            tenant_release(zone, t);
            return StateResult::zone_full;
        }
    }

    EventRec* ev = shm_new_with_id<EventRec>(zone->shpool, m.id);
    if (ev == nullptr) {
        tenant_release(zone, t);
        return StateResult::zone_full;
    }
    ngx_queue_init(&ev->deliveries);
    std::vector<DeliveryRec*> made;
    made.reserve(m.deliveries.size());   // no allocation (and no throw) once the slab is being used
    bool full = !shm_dup(zone->shpool, m.tenant, &ev->tenant) || !shm_dup(zone->shpool, m.type, &ev->type) ||
                !shm_dup(zone->shpool, m.payload, &ev->payload) || !shm_dup(zone->shpool, tracestate, &ev->tracestate);
    for (const store::DeliveryTarget& target : m.deliveries) {
        if (full) break;
        EndpointRec* ep = endpoint_locked(sh, target.endpoint);
        if (ep == nullptr || target.id.empty()) continue;   // deleted since (replay)
        DeliveryRec* d = shm_new_with_id<DeliveryRec>(zone->shpool, target.id);
        if (d == nullptr) {
            full = true;
            break;
        }
        d->event = ev;
        d->endpoint = ep;
        d->created_at = m.created_at_ms;
        d->owner = NodeId(m.node);
        made.push_back(d);
    }
    if (full) {
        for (DeliveryRec* d : made) ngx_slab_free_locked(zone->shpool, d);
        shm_free(zone->shpool, &ev->tenant);
        shm_free(zone->shpool, &ev->type);
        shm_free(zone->shpool, &ev->payload);
        shm_free(zone->shpool, &ev->tracestate);
        ngx_slab_free_locked(zone->shpool, ev);
        tenant_release(zone, t);
        return StateResult::zone_full;
    }

    ev->traced = !m.traceparent.empty();
    if (ev->traced) std::memcpy(ev->traceparent, m.traceparent.data(), kTraceparentSize);
    ev->created_at = m.created_at_ms;
    ev->refs = made.size() + 1;   // +1 while we link the deliveries
    ev->owner = t;
    ev->bytes = bytes;
    t->backlog_bytes += bytes;
    ngx_rbtree_insert(&sh->events, &ev->node.node);
    for (DeliveryRec* d : made) {
        ngx_rbtree_insert(&sh->deliveries, &d->node.node);
        ngx_queue_insert_head(&d->endpoint->log, &d->ep_link);
        ngx_queue_insert_tail(&ev->deliveries, &d->event_link);
        d->endpoint->log_count++;
        pending_enter(sh, d);
        d->held = live;
        enqueue(sh, d, live ? m.created_at_ms + kHoldMs : m.created_at_ms);
    }
    for (DeliveryRec* d : made) trim_log(zone, d->endpoint);

    if (!m.idempotency.empty()) {
        IdemRec* rec = shm_new_with_id<IdemRec>(zone->shpool, m.idempotency);
        if (rec != nullptr && shm_dup(zone->shpool, m.id, &rec->event_id)) {
            rec->expires = m.created_at_ms + kIdempotencyMs;
            rec->deliveries = made.size();
            ngx_rbtree_insert(&sh->idempotency, &rec->node.node);
            ngx_queue_insert_tail(&sh->idempotency_lru, &rec->lru);
        } else if (rec != nullptr) {
            ngx_slab_free_locked(zone->shpool, rec);
        }
    }
    if (mode == store::Mode::restore) {
        ev->refs--;   // a snapshot: delivery.restore records follow and take references
    } else {
        if (live) count_event_published(zone);
        event_release(zone, ev);   // drop the linking reference (frees an event with no delivery)
    }
    return StateResult::ok;
}

// Takes back an event that could not be journaled: its deliveries (held
// until it was durable, so never attempted) and its Idempotency-Key answer.
StateResult apply_locked(Zone* zone, const store::EventDel& m, store::Mode) {
    DeliverShared* sh = zone->sh->deliver;
    EventRec* ev = event_locked(sh, m.id);
    if (ev == nullptr) return StateResult::not_found;
    if (!m.idempotency.empty()) {
        IdemRec* rec = idempotency_locked(sh, m.idempotency);
        if (rec != nullptr && sv(rec->event_id) == m.id) idempotency_free(zone, rec);
    }
    ev->refs++;   // kept while its deliveries go
    while (!ngx_queue_empty(&ev->deliveries))
        delivery_free(zone, container_of<DeliveryRec>(ngx_queue_head(&ev->deliveries), offsetof(DeliveryRec, event_link)));
    event_release(zone, ev);
    return StateResult::ok;
}

StateResult apply_locked(Zone* zone, const store::AttemptDone& m, store::Mode mode) {
    DeliverShared* sh = zone->sh->deliver;
    DeliveryRec* d = delivery_locked(sh, m.delivery);
    if (d == nullptr) return StateResult::not_found;   // deleted meanwhile
    EndpointRec* ep = d->endpoint;
    bool live = mode == store::Mode::live;   // counters describe this run, not the journal

    // Whatever can throw or needs memory comes before the first change: a
    // report must always move the delivery on (re-queued, done or failed),
    // so a full zone only costs the attempt log entry, never the delivery.
    std::string history = store::attempt_log_append(sv(d->history), m.number, m.attempt, kMaxHistory);

    // A report from an attempt whose lease expired while another attempt
    // holds the delivery now goes into the log only: the current attempt
    // decides. A report applied from the log (journal at start, or a fleet's
    // store, where another node made the attempt) applies in the log's
    // order, whatever this node holds. Once succeeded, a delivery stays so
    // (a late report of an older attempt goes into the log only).
    bool current = !live || !d->leased || d->token == m.token;
    if (d->leased && current) unlease(sh, d);
    if (d->status == kSucceeded && m.outcome != store::AttemptOutcome::succeeded) current = false;
    // The attempt log counts toward the tenant's share of the zone.
    int64_t grown = slab_bytes(history.size()) - slab_bytes(d->history.len);
    if (shm_replace(zone->shpool, &d->history, history)) {
        d->event->bytes += grown;
        d->event->owner->backlog_bytes += grown;
    } else {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0, "webhook_zone \"%V\" is full: an attempt of %V kept out of its log",
                      &zone->name(), &d->node.str);
    }
    if (!current) return StateResult::ok;
    shm_replace(zone->shpool, &d->last_error, m.attempt.error);
    // The attempt's number, not a count of reports: a report that arrives
    // again (an expired lease re-attempted, or replay of both) counts once.
    d->attempts = std::max(d->attempts, m.number);
    d->last_status = m.attempt.response_status;
    d->last_time_ms = static_cast<int32_t>(m.attempt.response_time_ms);

    if (live) count_attempt(zone, m.outcome == store::AttemptOutcome::succeeded, d->last_time_ms);
    if (m.outcome == store::AttemptOutcome::succeeded) {
        set_status(sh, d, kSucceeded);
        unqueue(sh, d);
    } else {
        if (m.outcome == store::AttemptOutcome::retry) {
            set_status(sh, d, kPending);
            enqueue(sh, d, m.next_attempt_at);
        } else {
            set_status(sh, d, kFailed);
            unqueue(sh, d);
        }
    }
    if (m.outcome == store::AttemptOutcome::succeeded) {
        ep->failing_since = 0;
    } else {
        if (ep->failing_since == 0) ep->failing_since = m.attempt.at_ms;
        shm_replace(zone->shpool, &ep->last_error, m.attempt.error.empty() ? std::string_view("http_error") : m.attempt.error);
        ep->last_error_at = m.attempt.at_ms;
    }
    if (!m.disable.empty() && shm_replace(zone->shpool, &ep->disabled_reason, m.disable)) {
        ep->enabled = false;
        ep_refresh(sh, ep);
    }
    trim_log(zone, ep);
    return StateResult::ok;
}

StateResult apply_locked(Zone* zone, const store::DeliveryReplay& m, store::Mode mode) {
    DeliverShared* sh = zone->sh->deliver;
    DeliveryRec* d = delivery_locked(sh, m.id);
    if (d == nullptr) return StateResult::not_found;
    set_status(sh, d, kPending);
    d->owner = NodeId(m.node);
    // Held, as a new event's deliveries are, until the record is durable.
    bool live = mode == store::Mode::live;
    d->held = live;
    enqueue(sh, d, live ? m.at_ms + kHoldMs : m.at_ms);
    return StateResult::ok;
}

// Takes back a replay that could not be journaled (unless an attempt of it
// is in flight already: that one reports as usual).
StateResult apply_locked(Zone* zone, const store::DeliveryUnreplay& m, store::Mode) {
    DeliverShared* sh = zone->sh->deliver;
    DeliveryRec* d = delivery_locked(sh, m.id);
    if (d == nullptr) return StateResult::not_found;
    if (d->leased || m.status == store::DeliveryStatus::pending) return StateResult::ok;
    unqueue(sh, d);
    set_status(sh, d, static_cast<uint8_t>(m.status));
    return StateResult::ok;
}

// The listed deliveries of the endpoint that are failed go back to the
// queue, oldest first (the list's order): one more attempt each, as a
// replay. Whether a listed one is failed is all that is looked at, so the
// journal at start and every node of a fleet re-queue the same ones.
// Live, the tenant's max_pending holds (the recovered deliveries' bytes are
// in the zone already), and they are held until the record is durable.
StateResult apply_locked(Zone* zone, const store::DeliveryRecover& m, store::Mode mode) {
    DeliverShared* sh = zone->sh->deliver;
    EndpointRec* ep = endpoint_locked(sh, m.endpoint);
    if (ep == nullptr) return StateResult::not_found;
    bool live = mode == store::Mode::live;
    std::vector<DeliveryRec*> todo;   // allocated before anything changes
    todo.reserve(m.deliveries.size());
    for (const std::string& id : m.deliveries) {
        DeliveryRec* d = delivery_locked(sh, id);
        if (d != nullptr && d->endpoint == ep && d->status == kFailed) todo.push_back(d);
    }
    if (live && !todo.empty()) {
        TenantRec* t = todo.front()->event->owner;
        if (t->pending + static_cast<int64_t>(todo.size()) > max_pending_of(zone, t)) return StateResult::backlog_full;
    }
    NodeId owner(m.node);
    for (DeliveryRec* d : todo) {
        set_status(sh, d, kPending);
        d->owner = owner;
        if (!d->leased) d->token = m.tag;
        d->held = live;
        enqueue(sh, d, live ? m.at_ms + kHoldMs : m.at_ms);
    }
    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0, "webhook delivery.recover: %uz of %uz re-queued", todo.size(),
                   m.deliveries.size());
    return StateResult::ok;
}

// Takes back a recover that could not be journaled: the deliveries it
// re-queued (its tag) that no attempt has taken since.
StateResult apply_locked(Zone* zone, const store::DeliveryUnrecover& m, store::Mode) {
    DeliverShared* sh = zone->sh->deliver;
    if (m.tag == 0) return StateResult::ok;
    for (const std::string& id : m.deliveries) {
        DeliveryRec* d = delivery_locked(sh, id);
        if (d == nullptr || d->leased || d->status != kPending || d->token != m.tag) continue;
        unqueue(sh, d);
        d->held = false;
        set_status(sh, d, kFailed);
    }
    return StateResult::ok;
}

StateResult apply_locked(Zone* zone, const store::DeliveryRestore& m, store::Mode) {
    DeliverShared* sh = zone->sh->deliver;
    EventRec* ev = event_locked(sh, m.event);
    EndpointRec* ep = endpoint_locked(sh, m.endpoint);
    if (ev == nullptr || ep == nullptr || m.id.empty() || delivery_locked(sh, m.id) != nullptr)
        return StateResult::invalid;
    DeliveryRec* d = shm_new_with_id<DeliveryRec>(zone->shpool, m.id);
    if (d == nullptr) return StateResult::zone_full;
    if (!shm_dup(zone->shpool, m.last_error, &d->last_error) || !shm_dup(zone->shpool, m.history, &d->history)) {
        shm_free(zone->shpool, &d->last_error);
        ngx_slab_free_locked(zone->shpool, d);
        return StateResult::zone_full;
    }
    d->event = ev;
    d->endpoint = ep;
    d->owner = NodeId(m.node);
    d->status = static_cast<uint8_t>(m.status);
    d->attempts = m.attempts;
    d->last_status = m.last_status;
    d->last_time_ms = m.last_time_ms;
    d->created_at = m.created_at_ms;
    ev->refs++;
    int64_t bytes = delivery_bytes(m.id) + slab_bytes(d->history.len) + slab_bytes(d->last_error.len);
    ev->bytes += bytes;
    ev->owner->backlog_bytes += bytes;
    if (d->status == kPending) pending_enter(sh, d);
    ngx_queue_insert_tail(&ev->deliveries, &d->event_link);
    ngx_rbtree_insert(&sh->deliveries, &d->node.node);
    // The log stays newest first.
    ngx_queue_t* q = ngx_queue_head(&ep->log);
    while (q != ngx_queue_sentinel(&ep->log) &&
           container_of<DeliveryRec>(q, offsetof(DeliveryRec, ep_link))->created_at > d->created_at)
        q = ngx_queue_next(q);
    ngx_queue_insert_tail(q, &d->ep_link);   // i.e. just before q
    ep->log_count++;
    if (d->status != kPending) ep->log_finished++;
    if (d->status == kPending) enqueue(sh, d, m.next_attempt_at);
    return StateResult::ok;
}

StateResult apply_locked(Zone* zone, const store::DeliveryAdopt& m, store::Mode) {
    DeliverShared* sh = zone->sh->deliver;
    NodeId from(m.from), to(m.to);
    if (from == to) return StateResult::ok;
    // Unfinished deliveries are all in the pending list; those of the node
    // given up on change hands, and join this node's queue if they are its.
    size_t moved = 0;
    for_each_in_queue<DeliveryRec>(&sh->pending, offsetof(DeliveryRec, pending_link), [&](DeliveryRec* d) {
        if (d->owner != from) return;
        d->owner = to;
        moved++;
        if (!d->leased) enqueue(sh, d, d->next_attempt_at);
    });
    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0, "webhook delivery.adopt: %uz from %s to %s", moved,
                   m.from.c_str(), m.to.c_str());
    return StateResult::ok;
}

void deliver_set_node(Zone* zone, std::string_view node) {
    Lock lock(zone->shpool);
    zone->sh->deliver->node = NodeId(node);
}

StateResult apply_locked(Zone* zone, const store::IdempotencyRestore& m, store::Mode) {
    DeliverShared* sh = zone->sh->deliver;
    if (m.key.empty()) return StateResult::invalid;
    IdemRec* rec = shm_new_with_id<IdemRec>(zone->shpool, m.key);
    if (rec == nullptr) return StateResult::zone_full;
    if (!shm_dup(zone->shpool, m.event, &rec->event_id)) {
        ngx_slab_free_locked(zone->shpool, rec);
        return StateResult::zone_full;
    }
    rec->expires = m.expires_ms;
    rec->deliveries = m.deliveries;
    ngx_rbtree_insert(&sh->idempotency, &rec->node.node);
    ngx_queue_insert_tail(&sh->idempotency_lru, &rec->lru);
    return StateResult::ok;
}

namespace {

// --- copies for the API -------------------------------------------------------------

std::string traceparent_of(const EventRec* ev) {
    return ev->traced ? std::string(ev->traceparent, kTraceparentSize) : std::string();
}

EndpointInfo endpoint_info(const EndpointRec* ep) {
    EndpointInfo e;
    e.id = std::string(sv(ep->node.str));
    e.tenant = std::string(sv(ep->tenant));
    e.url = std::string(sv(ep->url));
    e.name = std::string(sv(ep->name));
    e.description = std::string(sv(ep->description));
    e.disabled_reason = std::string(sv(ep->disabled_reason));
    e.last_error = std::string(sv(ep->last_error));
    e.events = split_filters(sv(ep->filters));
    e.timeout_ms = ep->timeout_ms;
    e.enabled = ep->enabled;
    e.created_at = ep->created_at;
    e.updated_at = ep->updated_at;
    e.last_error_at = ep->last_error_at;
    e.failing_since = ep->failing_since;
    e.secret = std::string(sv(ep->secret));
    e.old_secret = std::string(sv(ep->old_secret));
    e.old_secret_until = ep->old_secret_until;
    e.revision = ep->revision;
    return e;
}

DeliveryInfo delivery_info(const DeliveryRec* d, bool detail) {
    DeliveryInfo i;
    i.id = std::string(sv(d->node.str));
    i.event_id = std::string(sv(d->event->node.str));
    i.event = std::string(sv(d->event->type));
    i.endpoint_id = std::string(sv(d->endpoint->node.str));
    i.tenant = std::string(sv(d->event->tenant));
    i.status = status_name(d->status);
    i.last_error = std::string(sv(d->last_error));
    i.attempts = d->attempts;
    i.last_status = d->last_status;
    i.last_time_ms = d->last_time_ms;
    i.created_at = d->created_at;
    i.next_attempt_at = d->status == kPending ? d->next_attempt_at : 0;
    if (detail) {
        i.payload = std::string(sv(d->event->payload));
        i.history = std::string(sv(d->history));
        i.traceparent = traceparent_of(d->event);
        i.tracestate = std::string(sv(d->event->tracestate));
    }
    return i;
}

}  // namespace

size_t deliver_shared_size() { return sizeof(DeliverShared); }

void deliver_init_shared(Zone* zone, void* mem) {
    auto* sh = new (mem) DeliverShared();
    ngx_rbtree_init(&sh->endpoints, &sh->endpoints_sentinel, ngx_str_rbtree_insert_value);
    ngx_queue_init(&sh->endpoint_list);
    ngx_rbtree_init(&sh->events, &sh->events_sentinel, ngx_str_rbtree_insert_value);
    ngx_rbtree_init(&sh->deliveries, &sh->deliveries_sentinel, ngx_str_rbtree_insert_value);
    ngx_rbtree_init(&sh->due, &sh->due_sentinel, ngx_rbtree_insert_value);
    ngx_queue_init(&sh->leased);
    ngx_queue_init(&sh->pending);
    ngx_rbtree_init(&sh->idempotency, &sh->idempotency_sentinel, ngx_str_rbtree_insert_value);
    ngx_queue_init(&sh->idempotency_lru);
    zone->sh->deliver = sh;
}

void deliver_capture_locked(Zone* zone, std::vector<store::Mutation>& out) {
    DeliverShared* sh = zone->sh->deliver;
    int64_t now = ngx_time();
    for_each_in_queue<EndpointRec>(&sh->endpoint_list, offsetof(EndpointRec, all), [&](EndpointRec* ep) {
        EndpointInfo e = endpoint_info(ep);
        if (e.old_secret_until <= now) {   // a rotated-out secret past its overlap is not kept
            e.old_secret.clear();
            e.old_secret_until = 0;
        }
        out.emplace_back(endpoint_record(e));
    });
    // Each event, then each delivery with its progress.
    for_each_node(&sh->events, [&](ngx_rbtree_node_t* n) {
        auto* ev = container_of<EventRec>(n, offsetof(EventRec, node));
        store::EventPut m;
        m.id = std::string(sv(ev->node.str));
        m.tenant = std::string(sv(ev->tenant));
        m.type = std::string(sv(ev->type));
        m.payload = std::string(sv(ev->payload));
        m.created_at_ms = ev->created_at;
        m.traceparent = traceparent_of(ev);
        m.tracestate = std::string(sv(ev->tracestate));
        m.restore = true;
        out.emplace_back(std::move(m));
    });
    // Endpoint by endpoint, each log oldest first: a restored delivery is
    // then the newest of its log, put at its head at once (in id order each
    // one walked the log: a restart took minutes for a log of 100 000).
    for_each_in_queue<EndpointRec>(&sh->endpoint_list, offsetof(EndpointRec, all), [&](EndpointRec* ep) {
        for (ngx_queue_t* q = ngx_queue_last(&ep->log); q != ngx_queue_sentinel(&ep->log); q = ngx_queue_prev(q)) {
            auto* d = container_of<DeliveryRec>(q, offsetof(DeliveryRec, ep_link));
            store::DeliveryRestore m;
            m.id = std::string(sv(d->node.str));
            m.event = std::string(sv(d->event->node.str));
            m.endpoint = std::string(sv(d->endpoint->node.str));
            m.status = static_cast<store::DeliveryStatus>(d->status);
            m.attempts = d->attempts;
            m.last_status = d->last_status;
            m.last_time_ms = d->last_time_ms;
            m.created_at_ms = d->created_at;
            m.next_attempt_at = d->next_attempt_at;
            m.last_error = std::string(sv(d->last_error));
            m.history = std::string(sv(d->history));
            m.node = d->owner.str();
            out.emplace_back(std::move(m));
        }
    });
    for_each_node(&sh->endpoints, [&](ngx_rbtree_node_t* n) {
        auto* ep = container_of<EndpointRec>(n, offsetof(EndpointRec, node));
        store::EndpointStatus m;
        m.id = std::string(sv(ep->node.str));
        m.last_error = std::string(sv(ep->last_error));
        m.last_error_at = ep->last_error_at;
        m.failing_since = ep->failing_since;
        out.emplace_back(std::move(m));
    });
    for_each_node(&sh->idempotency, [&](ngx_rbtree_node_t* n) {
        auto* rec = container_of<IdemRec>(n, offsetof(IdemRec, node));
        store::IdempotencyRestore m;
        m.key = std::string(sv(rec->node.str));
        m.event = std::string(sv(rec->event_id));
        m.deliveries = rec->deliveries;
        m.expires_ms = rec->expires;
        out.emplace_back(std::move(m));
    });
}

store::EndpointPut endpoint_record(const EndpointInfo& e) {
    store::EndpointPut m;
    m.id = e.id;
    m.tenant = e.tenant;
    m.url = e.url;
    m.name = e.name;
    m.description = e.description;
    m.events = e.events;
    m.secret = e.secret;
    m.old_secret = e.old_secret;
    m.old_secret_until = e.old_secret_until;
    m.timeout_ms = e.timeout_ms;
    m.enabled = e.enabled;
    m.disabled_reason = e.disabled_reason;
    m.created_at = e.created_at;
    m.updated_at = e.updated_at;
    return m;
}

std::optional<EndpointInfo> endpoint_by_id(Zone* zone, std::string_view id) {
    Lock lock(zone->shpool);
    EndpointRec* ep = endpoint_locked(zone->sh->deliver, id);
    if (ep == nullptr) return std::nullopt;
    return endpoint_info(ep);
}

std::vector<EndpointInfo> endpoints_list(Zone* zone, std::string_view tenant) {
    std::vector<EndpointInfo> out;
    Lock lock(zone->shpool);
    ngx_queue_t* head = &zone->sh->deliver->endpoint_list;
    size_t link = offsetof(EndpointRec, all);
    if (!tenant.empty()) {
        TenantRec* t = tenant_locked(zone, tenant, false);
        if (t == nullptr) return out;
        head = &t->endpoint_list;
        link = offsetof(EndpointRec, tenant_link);
    }
    for (ngx_queue_t* q = ngx_queue_head(head); q != ngx_queue_sentinel(head); q = ngx_queue_next(q))
        out.push_back(endpoint_info(container_of<EndpointRec>(q, link)));
    return out;
}

std::vector<std::string> matching_endpoints(Zone* zone, std::string_view tenant, std::string_view type) {
    std::vector<std::string> out;
    Lock lock(zone->shpool);
    TenantRec* t = tenant_locked(zone, tenant, false);
    if (t == nullptr) return out;
    ngx_queue_t* head = &t->endpoint_list;
    for (ngx_queue_t* q = ngx_queue_head(head); q != ngx_queue_sentinel(head); q = ngx_queue_next(q)) {
        auto* ep = container_of<EndpointRec>(q, offsetof(EndpointRec, tenant_link));
        if (!ep->enabled) continue;
        if (any_filter_matches(sv(ep->filters), type)) out.emplace_back(sv(ep->node.str));
    }
    return out;
}

std::vector<DeliveryInfo> deliveries_of(Zone* zone, std::string_view endpoint_id, std::string_view status,
                                        size_t limit, std::string_view after, size_t* total, bool* cursor_found) {
    std::vector<DeliveryInfo> out;
    *total = 0;
    Lock lock(zone->shpool);
    EndpointRec* ep = endpoint_locked(zone->sh->deliver, endpoint_id);
    if (ep == nullptr) return out;
    bool past_cursor = after.empty();
    for (ngx_queue_t* q = ngx_queue_head(&ep->log); q != ngx_queue_sentinel(&ep->log); q = ngx_queue_next(q)) {
        auto* d = container_of<DeliveryRec>(q, offsetof(DeliveryRec, ep_link));
        if (!status.empty() && status != status_name(d->status)) continue;
        (*total)++;
        if (!past_cursor) {
            past_cursor = sv(d->node.str) == after;
            continue;
        }
        if (out.size() < limit) out.push_back(delivery_info(d, false));
    }
    *cursor_found = past_cursor;
    return out;
}

std::optional<DeliveryInfo> delivery_by_id(Zone* zone, std::string_view id) {
    Lock lock(zone->shpool);
    DeliveryRec* d = delivery_locked(zone->sh->deliver, id);
    if (d == nullptr) return std::nullopt;
    return delivery_info(d, true);
}

std::optional<RecoverPlan> recover_plan(Zone* zone, std::string_view endpoint_id, int64_t since_ms, int64_t until_ms,
                                        size_t max) {
    RecoverPlan plan;
    Lock lock(zone->shpool);
    EndpointRec* ep = endpoint_locked(zone->sh->deliver, endpoint_id);
    if (ep == nullptr) return std::nullopt;
    size_t limit = max;
    if (TenantRec* t = tenant_locked(zone, sv(ep->tenant), false)) {
        int64_t room = std::max<int64_t>(0, max_pending_of(zone, t) - t->pending);
        if (static_cast<uint64_t>(room) < limit) limit = static_cast<size_t>(room);
    }
    plan.deliveries.reserve(std::min<size_t>(limit, ep->log_finished));
    // The log is newest first: walked from its tail.
    for (ngx_queue_t* q = ngx_queue_last(&ep->log); q != ngx_queue_sentinel(&ep->log); q = ngx_queue_prev(q)) {
        auto* d = container_of<DeliveryRec>(q, offsetof(DeliveryRec, ep_link));
        if (d->status != kFailed || d->created_at < since_ms || d->created_at >= until_ms) continue;
        if (plan.deliveries.size() < limit) plan.deliveries.emplace_back(sv(d->node.str));
        else plan.remaining++;
    }
    plan.backlog_full = plan.deliveries.empty() && plan.remaining > 0 && limit < max;
    return plan;
}

void release_recovered(Zone* zone, const std::vector<std::string>& ids, uint32_t tag, int64_t now_ms) {
    Lock lock(zone->shpool);
    DeliverShared* sh = zone->sh->deliver;
    for (const std::string& id : ids) {
        DeliveryRec* d = delivery_locked(sh, id);
        if (d == nullptr || !d->held || d->leased || d->token != tag) continue;
        d->held = false;
        if (d->status == kPending) enqueue(sh, d, now_ms);
    }
}

std::optional<IdempotentAnswer> idempotent_answer(Zone* zone, std::string_view tenant, std::string_view key,
                                                  int64_t now_ms) {
    std::string slot = store::idempotency_slot(tenant, key);
    Lock lock(zone->shpool);
    DeliverShared* sh = zone->sh->deliver;
    // Expired answers go first, oldest at the head.
    for (int i = 0; i < kExpireBatch && !ngx_queue_empty(&sh->idempotency_lru); i++) {
        auto* rec = container_of<IdemRec>(ngx_queue_head(&sh->idempotency_lru), offsetof(IdemRec, lru));
        if (rec->expires > now_ms) break;
        idempotency_free(zone, rec);
    }
    IdemRec* rec = idempotency_locked(sh, slot);
    if (rec == nullptr || rec->expires <= now_ms) return std::nullopt;
    return IdempotentAnswer{std::string(sv(rec->event_id)), rec->deliveries};
}

std::vector<Claim> claim_due(Zone* zone, int64_t now_ms, const DispatchLimits& limits, size_t max) {
    std::vector<Claim> out;
    DeliverShared* sh = zone->sh->deliver;
    Lock lock(zone->shpool);

    // Leases of attempts whose worker died (live ones are renewed): the
    // attempt counts, and the delivery goes back to the queue or fails.
    // Renewals move a lease to the tail, so the head is the oldest.
    for (int i = 0; i < kLeaseBatch && !ngx_queue_empty(&sh->leased); i++) {
        auto* d = container_of<DeliveryRec>(ngx_queue_head(&sh->leased), offsetof(DeliveryRec, lease_link));
        if (d->lease_until > now_ms) break;
        unlease(sh, d);
        d->attempts++;
        if (d->status != kPending) continue;
        if (d->attempts >= limits.max_attempts) set_status(sh, d, kFailed);
        else enqueue(sh, d, now_ms);
    }

    // Endpoints in order of their earliest due delivery; a saturated one is
    // passed over (there are at most concurrency / per_endpoint of those).
    ngx_rbtree_node_t* sentinel = sh->due.sentinel;
    if (sh->due.root == sentinel) return out;
    ngx_rbtree_node_t* n = ngx_rbtree_min(sh->due.root, sentinel);
    for (int scanned = 0; n != nullptr && scanned < kClaimScan && out.size() < max; scanned++) {
        if (static_cast<int64_t>(n->key) > now_ms || sh->in_flight >= limits.concurrency) break;
        ngx_rbtree_node_t* next = ngx_rbtree_next(&sh->due, n);
        auto* ep = container_of<EndpointRec>(n, offsetof(EndpointRec, ready));
        while (ep->in_flight < limits.per_endpoint && sh->in_flight < limits.concurrency && out.size() < max &&
               ep->due.root != ep->due.sentinel) {
            ngx_rbtree_node_t* dn = ngx_rbtree_min(ep->due.root, ep->due.sentinel);
            if (static_cast<int64_t>(dn->key) > now_ms) break;
            auto* d = container_of<DeliveryRec>(dn, offsetof(DeliveryRec, due));
            unqueue(sh, d);
            d->held = false;
            d->leased = true;
            d->token = static_cast<uint32_t>(ngx_random()) | 1;
            d->lease_until = now_ms + std::max(ep->timeout_ms, limits.max_type_timeout_ms) + limits.lease_ms;
            ngx_queue_insert_tail(&sh->leased, &d->lease_link);
            sh->in_flight++;
            ep->in_flight++;

            Claim c;
            c.delivery_id = std::string(sv(d->node.str));
            c.event_id = std::string(sv(d->event->node.str));
            c.endpoint_id = std::string(sv(ep->node.str));
            c.tenant = std::string(sv(ep->tenant));
            c.type = std::string(sv(d->event->type));
            c.url = std::string(sv(ep->url));
            c.payload = std::string(sv(d->event->payload));
            c.traceparent = traceparent_of(d->event);
            c.tracestate = std::string(sv(d->event->tracestate));
            c.secrets.emplace_back(sv(ep->secret));
            if (ep->old_secret.len > 0 && ep->old_secret_until > now_ms / 1000) c.secrets.emplace_back(sv(ep->old_secret));
            else if (ep->old_secret.len > 0) shm_free(zone->shpool, &ep->old_secret);   // its overlap is over
            c.attempts = d->attempts;
            c.timeout_ms = ep->timeout_ms;
            c.failing_since = ep->failing_since;
            c.token = d->token;
            out.push_back(std::move(c));
        }
        n = next;
    }
    return out;
}

void renew_leases(Zone* zone, const std::vector<LeaseRef>& leases, int64_t until_ms) {
    Lock lock(zone->shpool);
    DeliverShared* sh = zone->sh->deliver;
    for (const LeaseRef& l : leases) {
        DeliveryRec* d = delivery_locked(sh, l.delivery_id);
        if (d == nullptr || !d->leased || d->token != l.token || d->lease_until >= until_ms) continue;
        d->lease_until = until_ms;
        ngx_queue_remove(&d->lease_link);
        ngx_queue_insert_tail(&sh->leased, &d->lease_link);
    }
}

void queue_stats(Zone* zone, int64_t now_ms, QueueStats* out) {
    Lock lock(zone->shpool);
    DeliverShared* sh = zone->sh->deliver;
    // The list is in the order deliveries became pending: its head holds the
    // oldest (a replayed one rejoins at the tail; a few are looked at).
    int64_t oldest = now_ms;
    int looked = 0;
    for (ngx_queue_t* q = ngx_queue_head(&sh->pending); q != ngx_queue_sentinel(&sh->pending) && looked < kOldestScan;
         q = ngx_queue_next(q), looked++)
        oldest = std::min(oldest, container_of<DeliveryRec>(q, offsetof(DeliveryRec, pending_link))->created_at);
    out->pending = sh->pending_count;
    out->in_flight = sh->in_flight;
    out->oldest_age_s = static_cast<uint64_t>(std::max<int64_t>(0, now_ms - oldest) / 1000);
}

void release_event(Zone* zone, std::string_view event_id, int64_t now_ms) {
    Lock lock(zone->shpool);
    DeliverShared* sh = zone->sh->deliver;
    EventRec* ev = event_locked(sh, event_id);
    if (ev == nullptr) return;
    for (ngx_queue_t* q = ngx_queue_head(&ev->deliveries); q != ngx_queue_sentinel(&ev->deliveries); q = ngx_queue_next(q)) {
        auto* d = container_of<DeliveryRec>(q, offsetof(DeliveryRec, event_link));
        if (!d->held) continue;
        d->held = false;
        if (d->status == kPending && !d->leased) enqueue(sh, d, now_ms);
    }
}


}  // namespace webhook::ngx
