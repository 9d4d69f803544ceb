#include "ngx/webhook_deliveries.hpp"

#include <algorithm>

#include "core/util/rfc3339.hpp"
#include "core/util/text.hpp"
#include "core/deliver/events.hpp"
#include "core/deliver/retry.hpp"
#include "core/deliver/signing.hpp"
#include "core/deliver/url_policy.hpp"
#include "core/store/records.hpp"
#include "core/keys/api_keys.hpp"
#include "ngx/webhook_shm.hpp"
#include "ngx/webhook_status.hpp"

namespace webhook::ngx {

namespace {

constexpr size_t kMaxHistory = 20;          // attempts kept per delivery
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
    uint32_t attempts, token;
    int32_t last_status, last_time_ms;
    int64_t created_at, next_attempt_at, lease_until;
    ngx_str_t last_error, history;       // history: a JSON array
};

struct IdemRec {
    ngx_str_node_t node;                 // tenant \x1f key
    ngx_queue_t lru;
    int64_t expires;                     // ms
    ngx_str_t event_id;
    uint32_t deliveries;
};

template <class T>
T* owner(void* member, size_t offset) {
    return reinterpret_cast<T*>(static_cast<u_char*>(member) - offset);
}

// A record with its id stored right after it, in one slab allocation.
template <class T>
T* alloc_with_id(Zone* zone, std::string_view id) {
    auto* mem = static_cast<u_char*>(ngx_slab_calloc_locked(zone->shpool, sizeof(T) + id.size()));
    if (mem == nullptr) return nullptr;
    T* rec = new (mem) T();
    u_char* p = mem + sizeof(T);
    std::memcpy(p, id.data(), id.size());
    rec->node.str = {id.size(), p};
    rec->node.node.key = str_hash(id);
    return rec;
}

EndpointRec* endpoint_locked(ZoneShared* sh, std::string_view id) {
    return lookup<EndpointRec>(&sh->endpoints, id, offsetof(EndpointRec, node));
}
EventRec* event_locked(ZoneShared* sh, std::string_view id) {
    return lookup<EventRec>(&sh->events, id, offsetof(EventRec, node));
}
DeliveryRec* delivery_locked(ZoneShared* sh, std::string_view id) {
    return lookup<DeliveryRec>(&sh->deliveries, id, offsetof(DeliveryRec, node));
}

// Puts the endpoint in the zone's due tree at its earliest queued delivery,
// or takes it out (disabled, or nothing queued).
void ep_refresh(ZoneShared* sh, EndpointRec* ep) {
    if (ep->in_ready) {
        ngx_rbtree_delete(&sh->due, &ep->ready);
        ep->in_ready = false;
    }
    if (!ep->enabled || ep->due.root == ep->due.sentinel) return;
    ep->ready.key = ngx_rbtree_min(ep->due.root, ep->due.sentinel)->key;
    ngx_rbtree_insert(&sh->due, &ep->ready);
    ep->in_ready = true;
}

void unqueue(ZoneShared* sh, DeliveryRec* d) {
    if (!d->queued) return;
    ngx_rbtree_delete(&d->endpoint->due, &d->due);
    d->queued = false;
    ep_refresh(sh, d->endpoint);
}

void enqueue(ZoneShared* sh, DeliveryRec* d, int64_t at) {
    unqueue(sh, d);
    d->next_attempt_at = at;
    if (d->leased) return;   // the attempt in flight re-queues it when it reports
    d->due.key = static_cast<ngx_rbtree_key_t>(at);
    ngx_rbtree_insert(&d->endpoint->due, &d->due);
    d->queued = true;
    ep_refresh(sh, d->endpoint);
}

// Every status change goes through here: the endpoint counts its finished
// deliveries, so trimming its log never walks a backlog of pending ones.
// Pending deliveries are counted by their tenant (max_pending) and listed
// by the zone (queue depth and oldest age in O(1) for webhook_status).
void pending_enter(ZoneShared* sh, DeliveryRec* d) {
    ngx_queue_insert_tail(&sh->pending, &d->pending_link);
    sh->pending_count++;
    d->event->owner->pending++;
}

void pending_leave(ZoneShared* sh, DeliveryRec* d) {
    ngx_queue_remove(&d->pending_link);
    sh->pending_count--;
    d->event->owner->pending--;
}

// The endpoint counts its finished ones, so trimming its log never walks a
// backlog of pending ones.
void set_status(ZoneShared* sh, DeliveryRec* d, uint8_t status) {
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

// What an allocation of n bytes takes in the slab: its power-of-two class,
// or whole pages past half a page.
int64_t slab_bytes(size_t n) {
    if (n == 0) return 0;
    if (n > ngx_pagesize / 2) return static_cast<int64_t>((n + ngx_pagesize - 1) / ngx_pagesize * ngx_pagesize);
    size_t c = 8;
    while (c < n) c <<= 1;
    return static_cast<int64_t>(c);
}

int64_t delivery_bytes(std::string_view id) { return slab_bytes(sizeof(DeliveryRec) + id.size()); }

void unlease(ZoneShared* sh, DeliveryRec* d) {
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
    ngx_rbtree_delete(&zone->sh->events, &e->node.node);
    shm_free(zone, &e->tenant);
    shm_free(zone, &e->type);
    shm_free(zone, &e->payload);
    ngx_slab_free_locked(zone->shpool, e);
}

void delivery_free(Zone* zone, DeliveryRec* d) {
    ZoneShared* sh = zone->sh;
    unqueue(sh, d);
    unlease(sh, d);
    ngx_queue_remove(&d->ep_link);
    d->endpoint->log_count--;
    if (d->status != kPending) d->endpoint->log_finished--;
    else pending_leave(sh, d);
    ngx_rbtree_delete(&sh->deliveries, &d->node.node);
    ngx_queue_remove(&d->event_link);
    event_release(zone, d->event);
    shm_free(zone, &d->last_error);
    shm_free(zone, &d->history);
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
        auto* d = owner<DeliveryRec>(q, offsetof(DeliveryRec, ep_link));
        if (d->status != kPending) {
            delivery_free(zone, d);
            drop--;
        }
        q = prev;
    }
}

// Replaces *dst with a slab copy of s; on failure *dst is unchanged.
bool shm_replace(Zone* zone, ngx_str_t* dst, std::string_view s) {
    ngx_str_t copy;
    if (!shm_dup(zone, s, &copy)) return false;
    shm_free(zone, dst);
    *dst = copy;
    return true;
}

std::string join_filters(const json_t* events) {
    std::string out;
    size_t i;
    json_t* v;
    json_array_foreach(events, i, v) {
        if (!json_is_string(v)) continue;
        if (!out.empty()) out.push_back('\n');
        out.append(json_sv(v));
    }
    return out;
}

std::vector<std::string> split_filters(std::string_view s) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start < s.size()) {
        size_t end = s.find('\n', start);
        if (end == std::string_view::npos) end = s.size();
        out.emplace_back(s.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

// --- mutations --------------------------------------------------------------------

StateResult endpoint_put(Zone* zone, const json_t* m, bool enforce) {
    ZoneShared* sh = zone->sh;
    std::string_view id = json_str_field(m, "id"), tenant = json_str_field(m, "tenant");
    if (id.empty() || tenant.empty()) return StateResult::invalid;
    EndpointRec* ep = endpoint_locked(sh, id);
    bool created = ep == nullptr;
    // An update read the endpoint at some revision: a change or a delete
    // since then wins (no lost rotation, no endpoint brought back).
    // (Checked live only: replay applies what was accepted, in order.)
    int64_t expected = enforce ? json_int_field(m, "expect_revision", -1) : -1;
    if (expected >= 0 && ep == nullptr) return StateResult::not_found;
    if (expected >= 0 && ep->revision != static_cast<uint64_t>(expected)) return StateResult::conflict;
    TenantRec* t = tenant_locked(zone, tenant, true);
    if (t == nullptr) return StateResult::zone_full;
    if (created) {
        if (enforce && t->webhooks >= effective(t->max_webhooks, zone->max_webhooks)) {
            tenant_release(zone, t);
            return StateResult::limit_reached;
        }
        ep = alloc_with_id<EndpointRec>(zone, id);
        if (ep == nullptr) {
            tenant_release(zone, t);
            return StateResult::zone_full;
        }
        ngx_queue_init(&ep->log);
        ngx_rbtree_init(&ep->due, &ep->due_sentinel, ngx_rbtree_insert_value);
    } else if (sv_of(ep->tenant) != tenant) {
        return StateResult::invalid;
    }

    // New strings first, so a full zone leaves the endpoint as it was.
    struct Field {
        ngx_str_t* dst;
        std::string value;
    };
    Field fields[] = {
        {&ep->tenant, std::string(tenant)},
        {&ep->url, std::string(json_str_field(m, "url"))},
        {&ep->name, std::string(json_str_field(m, "name"))},
        {&ep->description, std::string(json_str_field(m, "description"))},
        {&ep->filters, join_filters(json_object_get(m, "events"))},
        {&ep->secret, std::string(json_str_field(m, "secret"))},
        {&ep->old_secret, std::string(json_str_field(m, "old_secret"))},
        {&ep->disabled_reason, std::string(json_str_field(m, "disabled_reason"))},
    };
    ngx_str_t copies[sizeof(fields) / sizeof(fields[0])];
    size_t n = 0;
    for (; n < sizeof(fields) / sizeof(fields[0]); n++) {
        if (!shm_dup(zone, fields[n].value, &copies[n])) break;
    }
    if (n < sizeof(fields) / sizeof(fields[0])) {
        for (size_t i = 0; i < n; i++) shm_free(zone, &copies[i]);
        if (created) ngx_slab_free_locked(zone->shpool, ep);
        return StateResult::zone_full;
    }
    for (size_t i = 0; i < n; i++) {
        shm_free(zone, fields[i].dst);
        *fields[i].dst = copies[i];
    }
    ep->timeout_ms = json_int_field(m, "timeout_ms", 10000);
    ep->enabled = json_bool_field(m, "enabled", true);
    ep->old_secret_until = json_int_field(m, "old_secret_until", 0);
    ep->created_at = json_int_field(m, "created_at", 0);
    ep->updated_at = json_int_field(m, "updated_at", 0);
    if (ep->enabled) ep->failing_since = 0;
    ep->revision++;
    if (!created) ep_refresh(sh, ep);   // enabled or disabled: in or out of the due tree
    if (created) {
        ngx_rbtree_insert(&sh->endpoints, &ep->node.node);
        ngx_queue_insert_tail(&sh->endpoint_list, &ep->all);
        ngx_queue_insert_tail(&t->endpoint_list, &ep->tenant_link);
        t->webhooks++;
    }
    return StateResult::ok;
}

StateResult endpoint_del(Zone* zone, const json_t* m) {
    EndpointRec* ep = endpoint_locked(zone->sh, json_str_field(m, "id"));
    if (ep == nullptr) return StateResult::not_found;
    // Its deliveries go with it: pending attempts are dropped.
    while (!ngx_queue_empty(&ep->log))
        delivery_free(zone, owner<DeliveryRec>(ngx_queue_head(&ep->log), offsetof(DeliveryRec, ep_link)));
    if (ep->in_ready) ngx_rbtree_delete(&zone->sh->due, &ep->ready);
    ngx_queue_remove(&ep->tenant_link);   // before its tenant record may go
    if (TenantRec* t = tenant_locked(zone, sv_of(ep->tenant), false)) {
        t->webhooks--;
        tenant_release(zone, t);
    }
    ngx_rbtree_delete(&zone->sh->endpoints, &ep->node.node);
    ngx_queue_remove(&ep->all);
    for (ngx_str_t* s : {&ep->tenant, &ep->url, &ep->name, &ep->description, &ep->filters, &ep->secret,
                         &ep->old_secret, &ep->last_error, &ep->disabled_reason})
        shm_free(zone, s);
    ngx_slab_free_locked(zone->shpool, ep);
    return StateResult::ok;
}

IdemRec* idempotency_locked(ZoneShared* sh, std::string_view key) {
    return lookup<IdemRec>(&sh->idempotency, key, offsetof(IdemRec, node));
}

void idempotency_free(Zone* zone, IdemRec* rec) {
    ngx_queue_remove(&rec->lru);
    ngx_rbtree_delete(&zone->sh->idempotency, &rec->node.node);
    shm_free(zone, &rec->event_id);
    ngx_slab_free_locked(zone->shpool, rec);
}

// With enforce (a live publish), the bounds: the Idempotency-Key checked
// and taken in the same step (two publishes with one key make one event),
// the tenant's max_pending and share of the zone, and the zone's reserve
// for keys and subscriptions (SPEC §2: no part of the zone starves another).
StateResult event_put(Zone* zone, const json_t* m, bool enforce) {
    ZoneShared* sh = zone->sh;
    std::string_view id = json_str_field(m, "id"), tenant = json_str_field(m, "tenant");
    json_t* list = json_object_get(m, "deliveries");
    if (id.empty() || tenant.empty() || !json_is_array(list) || event_locked(sh, id) != nullptr)
        return StateResult::invalid;
    int64_t created_ms = json_int_field(m, "created_at_ms", json_int_field(m, "created_at", 0) * 1000);
    std::string_view key = json_str_field(m, "idempotency");
    if (!key.empty()) {
        IdemRec* prior = idempotency_locked(sh, key);
        if (prior != nullptr && prior->expires > created_ms && enforce) return StateResult::duplicate;
        if (prior != nullptr) idempotency_free(zone, prior);
    }

    TenantRec* t = tenant_locked(zone, tenant, true);
    if (t == nullptr) return StateResult::zone_full;
    int64_t targets = 0;
    int64_t bytes = slab_bytes(sizeof(EventRec) + id.size()) + slab_bytes(tenant.size()) +
                    slab_bytes(json_str_field(m, "type").size()) + slab_bytes(json_str_field(m, "payload").size()) +
                    (key.empty() ? 0 : slab_bytes(sizeof(IdemRec) + key.size()) + slab_bytes(id.size()));
    {
        size_t i;
        json_t* item;
        json_array_foreach(list, i, item) {
            if (endpoint_locked(sh, json_str_field(item, "endpoint")) == nullptr) continue;
            targets++;
            bytes += delivery_bytes(json_str_field(item, "id"));
        }
    }
    if (enforce && targets > 0) {
        size_t size = zone->shm->shm.size;
        size_t events_budget = size - size / kEventReserveShare;
        if (t->pending + targets > effective(t->max_pending, zone->max_pending) ||
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

    EventRec* ev = alloc_with_id<EventRec>(zone, id);
    if (ev == nullptr) {
        tenant_release(zone, t);
        return StateResult::zone_full;
    }
    ngx_queue_init(&ev->deliveries);
    std::vector<DeliveryRec*> made;
    bool full = !shm_dup(zone, json_str_field(m, "tenant"), &ev->tenant) || !shm_dup(zone, json_str_field(m, "type"), &ev->type)
                || !shm_dup(zone, json_str_field(m, "payload"), &ev->payload);
    size_t i;
    json_t* item;
    json_array_foreach(list, i, item) {
        if (full) break;
        EndpointRec* ep = endpoint_locked(sh, json_str_field(item, "endpoint"));
        std::string_view did = json_str_field(item, "id");
        if (ep == nullptr || did.empty()) continue;   // deleted since (replay)
        DeliveryRec* d = alloc_with_id<DeliveryRec>(zone, did);
        if (d == nullptr) {
            full = true;
            break;
        }
        d->event = ev;
        d->endpoint = ep;
        d->created_at = created_ms;
        made.push_back(d);
    }
    if (full) {
        for (DeliveryRec* d : made) ngx_slab_free_locked(zone->shpool, d);
        shm_free(zone, &ev->tenant);
        shm_free(zone, &ev->type);
        shm_free(zone, &ev->payload);
        ngx_slab_free_locked(zone->shpool, ev);
        return StateResult::zone_full;
    }

    ev->created_at = created_ms;
    ev->refs = made.size() + 1;   // +1 while we link the deliveries
    ev->owner = t;
    ev->bytes = bytes;
    t->backlog_bytes += bytes;
    ngx_rbtree_insert(&sh->events, &ev->node.node);
    bool live = !state_replaying();
    for (DeliveryRec* d : made) {
        ngx_rbtree_insert(&sh->deliveries, &d->node.node);
        ngx_queue_insert_head(&d->endpoint->log, &d->ep_link);
        ngx_queue_insert_tail(&ev->deliveries, &d->event_link);
        d->endpoint->log_count++;
        pending_enter(sh, d);
        d->held = live;
        enqueue(sh, d, live ? created_ms + kHoldMs : created_ms);
    }
    for (DeliveryRec* d : made) trim_log(zone, d->endpoint);

    if (!key.empty()) {
        IdemRec* rec = alloc_with_id<IdemRec>(zone, key);
        if (rec != nullptr && shm_dup(zone, id, &rec->event_id)) {
            rec->expires = created_ms + kIdempotencyMs;
            rec->deliveries = made.size();
            ngx_rbtree_insert(&sh->idempotency, &rec->node.node);
            ngx_queue_insert_tail(&sh->idempotency_lru, &rec->lru);
        } else if (rec != nullptr) {
            ngx_slab_free_locked(zone->shpool, rec);
        }
    }
    if (json_bool_field(m, "restore", false)) {
        ev->refs--;   // a snapshot: delivery.restore records follow and take references
    } else {
        if (!state_replaying()) sh->events_published++;
        event_release(zone, ev);   // drop the linking reference (frees an event with no delivery)
    }
    return StateResult::ok;
}

// Snapshot records: a delivery with its progress, an endpoint's error state,
// an idempotency answer.
StateResult delivery_restore(Zone* zone, const json_t* m) {
    ZoneShared* sh = zone->sh;
    EventRec* ev = event_locked(sh, json_str_field(m, "event"));
    EndpointRec* ep = endpoint_locked(sh, json_str_field(m, "endpoint"));
    std::string_view id = json_str_field(m, "id");
    if (ev == nullptr || ep == nullptr || id.empty() || delivery_locked(sh, id) != nullptr) return StateResult::invalid;
    DeliveryRec* d = alloc_with_id<DeliveryRec>(zone, id);
    if (d == nullptr) return StateResult::zone_full;
    if (!shm_dup(zone, json_str_field(m, "last_error"), &d->last_error) || !shm_dup(zone, json_str_field(m, "history"), &d->history)) {
        shm_free(zone, &d->last_error);
        ngx_slab_free_locked(zone->shpool, d);
        return StateResult::zone_full;
    }
    d->event = ev;
    d->endpoint = ep;
    int64_t status = json_int_field(m, "status", kPending);
    d->status = static_cast<uint8_t>(status >= kPending && status <= kFailed ? status : static_cast<int64_t>(kFailed));
    d->attempts = static_cast<uint32_t>(json_int_field(m, "attempts", 0));
    d->last_status = static_cast<int32_t>(json_int_field(m, "last_status", 0));
    d->last_time_ms = static_cast<int32_t>(json_int_field(m, "last_time_ms", 0));
    d->created_at = json_int_field(m, "created_at_ms", 0);
    ev->refs++;
    int64_t bytes = delivery_bytes(id) + slab_bytes(d->history.len) + slab_bytes(d->last_error.len);
    ev->bytes += bytes;
    ev->owner->backlog_bytes += bytes;
    if (d->status == kPending) pending_enter(sh, d);
    ngx_queue_insert_tail(&ev->deliveries, &d->event_link);
    ngx_rbtree_insert(&sh->deliveries, &d->node.node);
    // The log stays newest first.
    ngx_queue_t* q = ngx_queue_head(&ep->log);
    while (q != ngx_queue_sentinel(&ep->log)
           && owner<DeliveryRec>(q, offsetof(DeliveryRec, ep_link))->created_at > d->created_at)
        q = ngx_queue_next(q);
    ngx_queue_insert_tail(q, &d->ep_link);   // i.e. just before q
    ep->log_count++;
    if (d->status != kPending) ep->log_finished++;
    if (d->status == kPending) enqueue(sh, d, json_int_field(m, "next_attempt_at", 0));
    return StateResult::ok;
}

StateResult endpoint_status(Zone* zone, const json_t* m) {
    EndpointRec* ep = endpoint_locked(zone->sh, json_str_field(m, "id"));
    if (ep == nullptr) return StateResult::not_found;
    if (!shm_replace(zone, &ep->last_error, json_str_field(m, "last_error"))) return StateResult::zone_full;
    ep->last_error_at = json_int_field(m, "last_error_at", 0);
    ep->failing_since = json_int_field(m, "failing_since", 0);
    return StateResult::ok;
}

StateResult idempotency_restore(Zone* zone, const json_t* m) {
    std::string_view key = json_str_field(m, "key");
    if (key.empty()) return StateResult::invalid;
    IdemRec* rec = alloc_with_id<IdemRec>(zone, key);
    if (rec == nullptr) return StateResult::zone_full;
    if (!shm_dup(zone, json_str_field(m, "event"), &rec->event_id)) {
        ngx_slab_free_locked(zone->shpool, rec);
        return StateResult::zone_full;
    }
    rec->expires = json_int_field(m, "expires", 0);
    rec->deliveries = static_cast<uint32_t>(json_int_field(m, "deliveries", 0));
    ngx_rbtree_insert(&zone->sh->idempotency, &rec->node.node);
    ngx_queue_insert_tail(&zone->sh->idempotency_lru, &rec->lru);
    return StateResult::ok;
}

// The history of a delivery as a JSON array, the newest attempt appended.
std::string history_with(std::string_view history, const json_t* attempt) {
    Json arr = history.empty() ? Json(json_array()) : json_parse(history, nullptr);
    if (!arr || !json_is_array(arr.get())) arr = Json(json_array());
    json_array_append(arr.get(), const_cast<json_t*>(attempt));
    while (json_array_size(arr.get()) > kMaxHistory) json_array_remove(arr.get(), 0);
    return json_dump(arr.get());
}

StateResult attempt_done(Zone* zone, const json_t* m) {
    ZoneShared* sh = zone->sh;
    DeliveryRec* d = delivery_locked(sh, json_str_field(m, "delivery"));
    if (d == nullptr) return StateResult::not_found;   // deleted meanwhile
    EndpointRec* ep = d->endpoint;
    json_t* attempt = json_object_get(m, "attempt");
    std::string_view error = json_str_field(attempt, "error");

    // Whatever can throw or needs memory comes before the first change: a
    // report must always move the delivery on (re-queued, done or failed),
    // so a full zone only costs the history entry, never the delivery.
    std::string history = history_with(sv_of(d->history), attempt);

    // A report from an attempt whose lease expired while another attempt
    // holds the delivery now goes into the history only: the current
    // attempt decides. (Replay has no leases: every report applies.)
    bool current = !d->leased || d->token == static_cast<uint32_t>(json_int_field(m, "token", 0));
    if (d->leased && current) unlease(sh, d);
    // The attempt log counts toward the tenant's share of the zone.
    int64_t grown = slab_bytes(history.size()) - slab_bytes(d->history.len);
    if (shm_replace(zone, &d->history, history)) {
        d->event->bytes += grown;
        d->event->owner->backlog_bytes += grown;
    } else {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0, "webhook_zone \"%V\" is full: an attempt of %V kept out of its log",
                      &zone->shm->shm.name, &d->node.str);
    }
    if (!current) return StateResult::ok;
    shm_replace(zone, &d->last_error, error);
    // The attempt's number, not a count of reports: a report that arrives
    // again (an expired lease re-attempted, or replay of both) counts once.
    d->attempts = std::max<uint32_t>(d->attempts, static_cast<uint32_t>(json_int_field(m, "number", d->attempts + 1)));
    d->last_status = static_cast<int32_t>(json_int_field(attempt, "response_status", 0));
    d->last_time_ms = static_cast<int32_t>(json_int_field(attempt, "response_time_ms", 0));

    std::string_view outcome = json_str_field(m, "outcome");
    bool live = !state_replaying();   // counters describe this run, not the journal
    if (live) observe_latency(sh, d->last_time_ms);
    if (outcome == "succeeded") {
        set_status(sh, d, kSucceeded);
        unqueue(sh, d);
        if (live) sh->attempts_succeeded++;
    } else {
        if (live) sh->attempts_failed++;
        if (outcome == "retry") {
            set_status(sh, d, kPending);
            enqueue(sh, d, json_int_field(m, "next_attempt_at", 0));
        } else {
            set_status(sh, d, kFailed);
            unqueue(sh, d);
        }
    }
    int64_t at_ms = json_int_field(attempt, "at", 0);
    if (outcome == "succeeded") {
        ep->failing_since = 0;
    } else {
        if (ep->failing_since == 0) ep->failing_since = at_ms;
        shm_replace(zone, &ep->last_error, error.empty() ? std::string_view("http_error") : error);
        ep->last_error_at = at_ms;
    }
    std::string_view disable = json_str_field(m, "disable");
    if (!disable.empty() && shm_replace(zone, &ep->disabled_reason, disable)) {
        ep->enabled = false;
        ep_refresh(sh, ep);
    }
    trim_log(zone, ep);
    return StateResult::ok;
}

// Takes back an event that could not be journaled: its deliveries (held
// until it was durable, so never attempted) and its Idempotency-Key answer.
StateResult event_del(Zone* zone, const json_t* m) {
    ZoneShared* sh = zone->sh;
    std::string_view id = json_str_field(m, "id");
    EventRec* ev = event_locked(sh, id);
    if (ev == nullptr) return StateResult::not_found;
    std::string_view key = json_str_field(m, "idempotency");
    if (!key.empty()) {
        IdemRec* rec = idempotency_locked(sh, key);
        if (rec != nullptr && sv_of(rec->event_id) == id) idempotency_free(zone, rec);
    }
    ev->refs++;   // kept while its deliveries go
    while (!ngx_queue_empty(&ev->deliveries))
        delivery_free(zone, owner<DeliveryRec>(ngx_queue_head(&ev->deliveries), offsetof(DeliveryRec, event_link)));
    event_release(zone, ev);
    return StateResult::ok;
}

// Takes back a replay that could not be journaled (unless an attempt of it
// is in flight already: that one reports as usual).
StateResult delivery_unreplay(Zone* zone, const json_t* m) {
    DeliveryRec* d = delivery_locked(zone->sh, json_str_field(m, "id"));
    if (d == nullptr) return StateResult::not_found;
    std::string_view status = json_str_field(m, "status");
    if (d->leased || status == "pending") return StateResult::ok;
    unqueue(zone->sh, d);
    set_status(zone->sh, d, status == "succeeded" ? kSucceeded : kFailed);
    return StateResult::ok;
}

StateResult delivery_replay(Zone* zone, const json_t* m) {
    DeliveryRec* d = delivery_locked(zone->sh, json_str_field(m, "id"));
    if (d == nullptr) return StateResult::not_found;
    set_status(zone->sh, d, kPending);
    // Held, as a new event's deliveries are, until the record is durable.
    bool live = !state_replaying();
    int64_t at = json_int_field(m, "at", 0);
    d->held = live;
    enqueue(zone->sh, d, live ? at + kHoldMs : at);
    return StateResult::ok;
}

// --- copies for the API -------------------------------------------------------------

EndpointInfo endpoint_info(const EndpointRec* ep) {
    EndpointInfo e;
    e.id = std::string(sv_of(ep->node.str));
    e.tenant = std::string(sv_of(ep->tenant));
    e.url = std::string(sv_of(ep->url));
    e.name = std::string(sv_of(ep->name));
    e.description = std::string(sv_of(ep->description));
    e.disabled_reason = std::string(sv_of(ep->disabled_reason));
    e.last_error = std::string(sv_of(ep->last_error));
    e.events = split_filters(sv_of(ep->filters));
    e.timeout_ms = ep->timeout_ms;
    e.enabled = ep->enabled;
    e.created_at = ep->created_at;
    e.updated_at = ep->updated_at;
    e.last_error_at = ep->last_error_at;
    e.failing_since = ep->failing_since;
    e.secret = std::string(sv_of(ep->secret));
    e.old_secret = std::string(sv_of(ep->old_secret));
    e.old_secret_until = ep->old_secret_until;
    e.revision = ep->revision;
    return e;
}

DeliveryInfo delivery_info(const DeliveryRec* d, bool detail) {
    DeliveryInfo i;
    i.id = std::string(sv_of(d->node.str));
    i.event_id = std::string(sv_of(d->event->node.str));
    i.event = std::string(sv_of(d->event->type));
    i.endpoint_id = std::string(sv_of(d->endpoint->node.str));
    i.tenant = std::string(sv_of(d->event->tenant));
    i.status = status_name(d->status);
    i.last_error = std::string(sv_of(d->last_error));
    i.attempts = d->attempts;
    i.last_status = d->last_status;
    i.last_time_ms = d->last_time_ms;
    i.created_at = d->created_at;
    i.next_attempt_at = d->status == kPending ? d->next_attempt_at : 0;
    if (detail) {
        i.payload = std::string(sv_of(d->event->payload));
        i.history = std::string(sv_of(d->history));
    }
    return i;
}

void json_time_ms(json_t* o, const char* key, int64_t ms) {
    if (ms <= 0) json_object_set_new(o, key, json_null());
    else json_set_str(o, key, format_rfc3339(ms / 1000));
}

void json_opt_str(json_t* o, const char* key, std::string_view s) {
    if (s.empty()) json_object_set_new(o, key, json_null());
    else json_set_str(o, key, s);
}

}  // namespace

void deliveries_init_shared(ZoneShared* sh) {
    ngx_rbtree_init(&sh->endpoints, &sh->endpoints_sentinel, ngx_str_rbtree_insert_value);
    ngx_queue_init(&sh->endpoint_list);
    ngx_rbtree_init(&sh->events, &sh->events_sentinel, ngx_str_rbtree_insert_value);
    ngx_rbtree_init(&sh->deliveries, &sh->deliveries_sentinel, ngx_str_rbtree_insert_value);
    ngx_rbtree_init(&sh->due, &sh->due_sentinel, ngx_rbtree_insert_value);
    ngx_queue_init(&sh->leased);
    ngx_queue_init(&sh->pending);
    ngx_rbtree_init(&sh->idempotency, &sh->idempotency_sentinel, ngx_str_rbtree_insert_value);
    ngx_queue_init(&sh->idempotency_lru);
}

StateResult deliveries_apply_locked(Zone* zone, std::string_view op, const json_t* m, bool enforce) {
    if (op == "endpoint.put") return endpoint_put(zone, m, enforce);
    if (op == "endpoint.del") return endpoint_del(zone, m);
    if (op == "event.put") return event_put(zone, m, enforce);
    if (op == "event.del") return event_del(zone, m);
    if (op == "delivery.unreplay") return delivery_unreplay(zone, m);
    if (op == "attempt.done") return attempt_done(zone, m);
    if (op == "delivery.replay") return delivery_replay(zone, m);
    if (op == "delivery.restore") return delivery_restore(zone, m);
    if (op == "endpoint.status") return endpoint_status(zone, m);
    if (op == "idempotency.restore") return idempotency_restore(zone, m);
    return StateResult::invalid;
}

void deliveries_capture_locked(Zone* zone, std::vector<Json>& records) {
    auto append = [&records](json_t* m) { records.emplace_back(m); };
    ZoneShared* sh = zone->sh;
    ngx_queue_t* head = &sh->endpoint_list;
    int64_t now = ngx_time();
    for (ngx_queue_t* q = ngx_queue_head(head); q != ngx_queue_sentinel(head); q = ngx_queue_next(q)) {
        EndpointInfo e = endpoint_info(owner<EndpointRec>(q, offsetof(EndpointRec, all)));
        if (e.old_secret_until <= now) {   // a rotated-out secret past its overlap is not kept
            e.old_secret.clear();
            e.old_secret_until = 0;
        }
        append(endpoint_mutation(e));
    }
    // Each event, then each delivery with its progress.
    for_each_node(&sh->events, [&](ngx_rbtree_node_t* n) {
        auto* ev = owner<EventRec>(n, offsetof(EventRec, node));
        json_t* m = json_object();
        json_set_str(m, "op", "event.put");
        json_set_str(m, "id", sv_of(ev->node.str));
        json_set_str(m, "tenant", sv_of(ev->tenant));
        json_set_str(m, "type", sv_of(ev->type));
        json_set_str(m, "payload", sv_of(ev->payload));
        json_object_set_new(m, "created_at_ms", json_integer(ev->created_at));
        json_object_set_new(m, "deliveries", json_array());
        json_object_set_new(m, "restore", json_true());
        append(m);
    });
    for_each_node(&sh->deliveries, [&](ngx_rbtree_node_t* n) {
        auto* d = owner<DeliveryRec>(n, offsetof(DeliveryRec, node));
        json_t* m = json_object();
        json_set_str(m, "op", "delivery.restore");
        json_set_str(m, "id", sv_of(d->node.str));
        json_set_str(m, "event", sv_of(d->event->node.str));
        json_set_str(m, "endpoint", sv_of(d->endpoint->node.str));
        json_object_set_new(m, "status", json_integer(d->status));
        json_object_set_new(m, "attempts", json_integer(d->attempts));
        json_object_set_new(m, "last_status", json_integer(d->last_status));
        json_object_set_new(m, "last_time_ms", json_integer(d->last_time_ms));
        json_object_set_new(m, "created_at_ms", json_integer(d->created_at));
        json_object_set_new(m, "next_attempt_at", json_integer(d->next_attempt_at));
        json_set_str(m, "last_error", sv_of(d->last_error));
        json_set_str(m, "history", sv_of(d->history));
        append(m);
    });
    for_each_node(&sh->endpoints, [&](ngx_rbtree_node_t* n) {
        auto* ep = owner<EndpointRec>(n, offsetof(EndpointRec, node));
        json_t* m = json_object();
        json_set_str(m, "op", "endpoint.status");
        json_set_str(m, "id", sv_of(ep->node.str));
        json_set_str(m, "last_error", sv_of(ep->last_error));
        json_object_set_new(m, "last_error_at", json_integer(ep->last_error_at));
        json_object_set_new(m, "failing_since", json_integer(ep->failing_since));
        append(m);
    });
    for_each_node(&sh->idempotency, [&](ngx_rbtree_node_t* n) {
        auto* rec = owner<IdemRec>(n, offsetof(IdemRec, node));
        json_t* m = json_object();
        json_set_str(m, "op", "idempotency.restore");
        json_set_str(m, "key", sv_of(rec->node.str));
        json_set_str(m, "event", sv_of(rec->event_id));
        json_object_set_new(m, "deliveries", json_integer(rec->deliveries));
        json_object_set_new(m, "expires", json_integer(rec->expires));
        append(m);
    });
}

json_t* endpoint_mutation(const EndpointInfo& e) {
    json_t* m = json_object();
    json_set_str(m, "op", "endpoint.put");
    json_set_str(m, "id", e.id);
    json_set_str(m, "tenant", e.tenant);
    json_set_str(m, "url", e.url);
    json_set_str(m, "name", e.name);
    json_set_str(m, "description", e.description);
    json_t* events = json_array();
    for (auto& f : e.events) json_array_append_new(events, json_stringn(f.data(), f.size()));
    json_object_set_new(m, "events", events);
    json_set_str(m, "secret", e.secret);
    json_set_str(m, "old_secret", e.old_secret);
    json_object_set_new(m, "old_secret_until", json_integer(e.old_secret_until));
    json_object_set_new(m, "timeout_ms", json_integer(e.timeout_ms));
    json_object_set_new(m, "enabled", json_boolean(e.enabled));
    json_set_str(m, "disabled_reason", e.disabled_reason);
    json_object_set_new(m, "created_at", json_integer(e.created_at));
    json_object_set_new(m, "updated_at", json_integer(e.updated_at));
    return m;
}

json_t* endpoint_json(const EndpointInfo& e) {
    json_t* o = json_object();
    json_set_str(o, "id", e.id);
    json_set_str(o, "tenant", e.tenant);
    json_set_str(o, "url", e.url);
    json_opt_str(o, "name", e.name);
    json_opt_str(o, "description", e.description);
    json_t* events = json_array();
    for (auto& f : e.events) json_array_append_new(events, json_stringn(f.data(), f.size()));
    json_object_set_new(o, "events", events);
    json_object_set_new(o, "timeout", json_integer(e.timeout_ms / 1000));
    json_object_set_new(o, "enabled", json_boolean(e.enabled));
    json_opt_str(o, "disabled_reason", e.disabled_reason);
    json_opt_str(o, "last_error", e.last_error);
    json_time_ms(o, "last_error_at", e.last_error_at);
    json_set_str(o, "created_at", format_rfc3339(e.created_at));
    json_set_str(o, "updated_at", format_rfc3339(e.updated_at));
    return o;
}

std::optional<EndpointInfo> endpoint_by_id(Zone* zone, std::string_view id) {
    Lock lock(zone);
    EndpointRec* ep = endpoint_locked(zone->sh, id);
    if (ep == nullptr) return std::nullopt;
    return endpoint_info(ep);
}

std::vector<EndpointInfo> endpoints_list(Zone* zone, std::string_view tenant) {
    std::vector<EndpointInfo> out;
    Lock lock(zone);
    ngx_queue_t* head = &zone->sh->endpoint_list;
    size_t link = offsetof(EndpointRec, all);
    if (!tenant.empty()) {
        TenantRec* t = tenant_locked(zone, tenant, false);
        if (t == nullptr) return out;
        head = &t->endpoint_list;
        link = offsetof(EndpointRec, tenant_link);
    }
    for (ngx_queue_t* q = ngx_queue_head(head); q != ngx_queue_sentinel(head); q = ngx_queue_next(q))
        out.push_back(endpoint_info(owner<EndpointRec>(q, link)));
    return out;
}

std::vector<std::string> matching_endpoints(Zone* zone, std::string_view tenant, std::string_view type) {
    std::vector<std::string> out;
    Lock lock(zone);
    TenantRec* t = tenant_locked(zone, tenant, false);
    if (t == nullptr) return out;
    ngx_queue_t* head = &t->endpoint_list;
    for (ngx_queue_t* q = ngx_queue_head(head); q != ngx_queue_sentinel(head); q = ngx_queue_next(q)) {
        auto* ep = owner<EndpointRec>(q, offsetof(EndpointRec, tenant_link));
        if (!ep->enabled) continue;
        std::string_view filters = sv_of(ep->filters);
        size_t start = 0;
        while (start < filters.size()) {
            size_t end = filters.find('\n', start);
            if (end == std::string_view::npos) end = filters.size();
            if (event_matches(filters.substr(start, end - start), type)) {
                out.emplace_back(sv_of(ep->node.str));
                break;
            }
            start = end + 1;
        }
    }
    return out;
}

json_t* delivery_json(const DeliveryInfo& d, bool detail) {
    json_t* o = json_object();
    json_set_str(o, "id", d.id);
    json_set_str(o, "event_id", d.event_id);
    json_set_str(o, "event", d.event);
    json_set_str(o, "endpoint_id", d.endpoint_id);
    json_set_str(o, "status", d.status);
    json_object_set_new(o, "attempts", json_integer(d.attempts));
    json_object_set_new(o, "response_status", d.last_status ? json_integer(d.last_status) : json_null());
    json_object_set_new(o, "response_time_ms", d.attempts ? json_integer(d.last_time_ms) : json_null());
    json_opt_str(o, "error", d.last_error);
    json_time_ms(o, "created_at", d.created_at);
    json_time_ms(o, "next_attempt_at", d.next_attempt_at);
    if (detail) {
        Json payload = json_parse(d.payload, nullptr);
        json_object_set_new(o, "payload", payload ? payload.release() : json_stringn(d.payload.data(), d.payload.size()));
        Json history = d.history.empty() ? Json(json_array()) : json_parse(d.history, nullptr);
        json_object_set_new(o, "attempt_log", history ? history.release() : json_array());
    }
    return o;
}

std::vector<DeliveryInfo> deliveries_of(Zone* zone, std::string_view endpoint_id, std::string_view status,
                                        size_t limit, std::string_view after, size_t* total, bool* cursor_found) {
    std::vector<DeliveryInfo> out;
    *total = 0;
    Lock lock(zone);
    EndpointRec* ep = endpoint_locked(zone->sh, endpoint_id);
    if (ep == nullptr) return out;
    bool past_cursor = after.empty();
    for (ngx_queue_t* q = ngx_queue_head(&ep->log); q != ngx_queue_sentinel(&ep->log); q = ngx_queue_next(q)) {
        auto* d = owner<DeliveryRec>(q, offsetof(DeliveryRec, ep_link));
        if (!status.empty() && status != status_name(d->status)) continue;
        (*total)++;
        if (!past_cursor) {
            past_cursor = sv_of(d->node.str) == after;
            continue;
        }
        if (out.size() < limit) out.push_back(delivery_info(d, false));
    }
    *cursor_found = past_cursor;
    return out;
}

std::optional<DeliveryInfo> delivery_by_id(Zone* zone, std::string_view id) {
    Lock lock(zone);
    DeliveryRec* d = delivery_locked(zone->sh, id);
    if (d == nullptr) return std::nullopt;
    return delivery_info(d, true);
}

std::optional<IdempotentAnswer> idempotent_answer(Zone* zone, std::string_view tenant, std::string_view key,
                                                  int64_t now_ms) {
    std::string k = std::string(tenant) + "\x1f" + std::string(key);
    Lock lock(zone);
    // Expired answers go first, oldest at the head.
    ngx_queue_t* head = &zone->sh->idempotency_lru;
    for (int i = 0; i < 16 && !ngx_queue_empty(head); i++) {
        auto* rec = owner<IdemRec>(ngx_queue_head(head), offsetof(IdemRec, lru));
        if (rec->expires > now_ms) break;
        ngx_queue_remove(&rec->lru);
        ngx_rbtree_delete(&zone->sh->idempotency, &rec->node.node);
        shm_free(zone, &rec->event_id);
        ngx_slab_free_locked(zone->shpool, rec);
    }
    IdemRec* rec = lookup<IdemRec>(&zone->sh->idempotency, k, offsetof(IdemRec, node));
    if (rec == nullptr || rec->expires <= now_ms) return std::nullopt;
    return IdempotentAnswer{std::string(sv_of(rec->event_id)), rec->deliveries};
}

std::vector<Claim> claim_due(Zone* zone, int64_t now_ms, const DispatchLimits& limits, size_t max) {
    std::vector<Claim> out;
    ZoneShared* sh = zone->sh;
    Lock lock(zone);

    // Leases of attempts whose worker died (live ones are renewed): the
    // attempt counts, and the delivery goes back to the queue or fails.
    // Renewals move a lease to the tail, so the head is the oldest.
    for (int i = 0; i < 64 && !ngx_queue_empty(&sh->leased); i++) {
        auto* d = owner<DeliveryRec>(ngx_queue_head(&sh->leased), offsetof(DeliveryRec, lease_link));
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
    for (int scanned = 0; n != nullptr && scanned < 512 && out.size() < max; scanned++) {
        if (static_cast<int64_t>(n->key) > now_ms || sh->in_flight >= limits.concurrency) break;
        ngx_rbtree_node_t* next = ngx_rbtree_next(&sh->due, n);
        auto* ep = owner<EndpointRec>(n, offsetof(EndpointRec, ready));
        while (ep->in_flight < limits.per_endpoint && sh->in_flight < limits.concurrency && out.size() < max &&
               ep->due.root != ep->due.sentinel) {
            ngx_rbtree_node_t* dn = ngx_rbtree_min(ep->due.root, ep->due.sentinel);
            if (static_cast<int64_t>(dn->key) > now_ms) break;
            auto* d = owner<DeliveryRec>(dn, offsetof(DeliveryRec, due));
            unqueue(sh, d);
            d->held = false;
            d->leased = true;
            d->token = static_cast<uint32_t>(ngx_random()) | 1;
            d->lease_until = now_ms + std::max(ep->timeout_ms, limits.max_type_timeout_ms) + limits.lease_ms;
            ngx_queue_insert_tail(&sh->leased, &d->lease_link);
            sh->in_flight++;
            ep->in_flight++;

            Claim c;
            c.delivery_id = std::string(sv_of(d->node.str));
            c.event_id = std::string(sv_of(d->event->node.str));
            c.endpoint_id = std::string(sv_of(ep->node.str));
            c.tenant = std::string(sv_of(ep->tenant));
            c.type = std::string(sv_of(d->event->type));
            c.url = std::string(sv_of(ep->url));
            c.payload = std::string(sv_of(d->event->payload));
            c.secrets.emplace_back(sv_of(ep->secret));
            if (ep->old_secret.len > 0 && ep->old_secret_until > now_ms / 1000) c.secrets.emplace_back(sv_of(ep->old_secret));
            else if (ep->old_secret.len > 0) shm_free(zone, &ep->old_secret);   // its overlap is over
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
    Lock lock(zone);
    ZoneShared* sh = zone->sh;
    for (const LeaseRef& l : leases) {
        DeliveryRec* d = delivery_locked(sh, l.delivery_id);
        if (d == nullptr || !d->leased || d->token != l.token || d->lease_until >= until_ms) continue;
        d->lease_until = until_ms;
        ngx_queue_remove(&d->lease_link);
        ngx_queue_insert_tail(&sh->leased, &d->lease_link);
    }
}

void queue_stats(Zone* zone, int64_t now_ms, QueueStats* out) {
    Lock lock(zone);
    ZoneShared* sh = zone->sh;
    // The list is in the order deliveries became pending: its head holds the
    // oldest (a replayed one rejoins at the tail; a few are looked at).
    int64_t oldest = now_ms;
    int looked = 0;
    for (ngx_queue_t* q = ngx_queue_head(&sh->pending); q != ngx_queue_sentinel(&sh->pending) && looked < 16;
         q = ngx_queue_next(q), looked++)
        oldest = std::min(oldest, owner<DeliveryRec>(q, offsetof(DeliveryRec, pending_link))->created_at);
    out->pending = sh->pending_count;
    out->in_flight = sh->in_flight;
    out->oldest_age_s = static_cast<uint64_t>(std::max<int64_t>(0, now_ms - oldest) / 1000);
}

void release_event(Zone* zone, std::string_view event_id, int64_t now_ms) {
    Lock lock(zone);
    ZoneShared* sh = zone->sh;
    EventRec* ev = event_locked(sh, event_id);
    if (ev == nullptr) return;
    for (ngx_queue_t* q = ngx_queue_head(&ev->deliveries); q != ngx_queue_sentinel(&ev->deliveries); q = ngx_queue_next(q)) {
        auto* d = owner<DeliveryRec>(q, offsetof(DeliveryRec, event_link));
        if (!d->held) continue;
        d->held = false;
        if (d->status == kPending && !d->leased) enqueue(sh, d, now_ms);
    }
}


}  // namespace webhook::ngx
