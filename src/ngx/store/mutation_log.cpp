#include "ngx/store/mutation_log.hpp"

#include <cstring>

#include "core/store/records.hpp"
#include "ngx/common/shm.hpp"
#include "ngx/deliver/deliver_store.hpp"
#include "ngx/keys/key_store.hpp"
#include "ngx/status/counters.hpp"
#include "ngx/store/store.hpp"
#include "ngx/store/tenants.hpp"
#include "ngx/verify/replay_cache.hpp"

namespace webhook::ngx {

namespace {

// A snapshot's first record changes nothing.
StateResult apply_locked(Zone*, const store::SnapshotHeader&, store::Mode) { return StateResult::ok; }


size_t log_shared_size() { return sizeof(LogShared); }

void log_init_shared(Zone* zone, void* mem) { zone->sh->log = new (mem) LogShared(); }

// Each capability's part of the zone, in one slab allocation (as one struct
// took before): its size, and its setup.
struct SharedPart {
    size_t (*size)();
    void (*init)(Zone* zone, void* mem);
};
const SharedPart kSharedParts[] = {
    {log_shared_size, log_init_shared},         {tenants_shared_size, tenants_init_shared},
    {keys_shared_size, keys_init_shared},       {deliver_shared_size, deliver_init_shared},
    {replay_shared_size, replay_init_shared},   {counters_shared_size, counters_init_shared},
};

size_t aligned(size_t n) { return (n + NGX_ALIGNMENT - 1) & ~static_cast<size_t>(NGX_ALIGNMENT - 1); }

// A change that could not be made durable is reverted: its undo is applied,
// and written too, so that a record that reached the disk anyway is
// cancelled when the zone is rebuilt.
void revert(Zone* zone, const store::Mutation& undo) {
    Change change;
    if (log_apply(zone, undo, store::Mode::replay, &change) != StateResult::ok) {
        ngx_log_error(NGX_LOG_CRIT, ngx_cycle->log, 0,
                      "webhook_zone \"%V\": a change that was not saved could not be reverted", &zone->name());
        return;
    }
    log_commit(zone, nullptr, std::move(change), nullptr);
}

}  // namespace

// The apply table: one apply_locked overload per record type, found at
// compile time (a record type without one does not build).
StateResult log_apply_locked(Zone* zone, const store::Mutation& m, store::Mode mode) {
    return std::visit([&](const auto& record) { return apply_locked(zone, record, mode); }, m);
}

bool zone_init_shared(Zone* zone) {
    size_t total = aligned(sizeof(ZoneShared));
    for (const SharedPart& part : kSharedParts) total += aligned(part.size());
    auto* mem = static_cast<u_char*>(ngx_slab_calloc(zone->shpool, total));
    if (mem == nullptr) return false;
    zone->sh = new (mem) ZoneShared();
    zone->shpool->data = zone->sh;
    u_char* p = mem + aligned(sizeof(ZoneShared));
    for (const SharedPart& part : kSharedParts) {
        part.init(zone, p);
        p += aligned(part.size());
    }
    return true;
}

StateResult log_apply(Zone* zone, const store::Mutation& m, store::Mode mode, Change* change) {
    // Encoded first when it is to be written (may throw: nothing has changed
    // yet); the journal's own records at start are applied as read.
    std::string record = change != nullptr ? store::encode(m) : std::string();
    StateResult rc;
    {
        Lock lock(zone->shpool);
        rc = log_apply_locked(zone, m, mode);
        if (rc == StateResult::ok && change != nullptr) change->seq = ++zone->sh->log->seq;
    }
    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0, "webhook mutation %*s: %d", store::op_name(m).size(),
                   store::op_name(m).data(), static_cast<int>(rc));
    if (rc == StateResult::ok && change != nullptr) change->record = std::move(record);
    return rc;
}

void log_commit(Zone* zone, ngx_http_request_t* r, Change change, Committed done) {
    if (!done && !change.on_durable && !change.undo) {
        zone->store->write(zone, nullptr, change.seq, std::move(change.record), nullptr);
        return;
    }
    uint64_t seq = change.seq;
    std::string record = std::move(change.record);
    zone->store->write(zone, r, seq, std::move(record),
                  [zone, change = std::move(change), done = std::move(done)](ngx_http_request_t* req, bool ok) {
                      if (ok && change.on_durable) change.on_durable();
                      // Not durable: taken back (an event's deliveries were
                      // held until now, so nothing of it went out).
                      if (!ok && change.undo) revert(zone, *change.undo);
                      if (done) done(req, ok);
                  });
}

void log_submit(Zone* zone, ngx_http_request_t* r, Submission s, Settled done) {
    if (zone->store->submit != nullptr) {
        zone->store->submit(zone, r, std::move(s), std::move(done));
        return;
    }
    Change change;
    change.undo = std::move(s.undo);
    change.on_durable = std::move(s.on_durable);
    StateResult rc = log_apply(zone, s.m, store::Mode::live, &change);
    if (rc != StateResult::ok) {
        if (done) done(r, rc);
        return;
    }
    Committed committed;
    if (done) {
        committed = [done = std::move(done)](ngx_http_request_t* req, bool ok) {
            done(req, ok ? StateResult::ok : StateResult::unavailable);
        };
    }
    log_commit(zone, r, std::move(change), std::move(committed));
}

StateRecords log_capture(Zone* zone) {
    StateRecords state;
    Lock lock(zone->shpool);
    state.seq = zone->sh->log->seq;
    state.records.emplace_back(store::SnapshotHeader{});
    keys_capture_locked(zone, state.records);
    tenants_capture_locked(zone, state.records);
    deliver_capture_locked(zone, state.records);
    return state;
}

std::string log_encode(const StateRecords& state) {
    std::string out;
    for (const store::Mutation& m : state.records) out += journal_encode(state.seq, store::encode(m));
    return out;
}

ApiError refusal(StateResult rc, Zone* zone, const char* what) {
    std::string a_what = std::string(std::strchr("aeiou", what[0]) != nullptr ? "an " : "a ") + what;
    switch (rc) {
    case StateResult::limit_reached:
        // Keys and webhooks have plan limits (max_keys, max_webhooks).
        return {409, "limit_reached", std::string("the plan limit of this tenant for ") + what + "s is reached (max_" +
                                          what + "s; the admin raises it with PUT /limits/{tenant})"};
    case StateResult::zone_full:
        // Logged by the caller, as any refusal (an API 5xx, a webhook_emit
        // not published: at error).
        return {507, "zone_full", "the shared memory zone is full (its size is set by webhook_zone zone=NAME:SIZE)"};
    case StateResult::not_found:
        return {404, "not_found", std::string("no such ") + what};
    case StateResult::conflict:
        return {409, "conflict", std::string("the ") + what + " changed meanwhile; read it again and retry"};
    case StateResult::backlog_full:
        return {429, "backlog_full", "this tenant has too many deliveries pending (max_pending); retry once they are delivered"};
    case StateResult::duplicate:
        return {409, "conflict", a_what + " with this Idempotency-Key is being published; retry"};
    case StateResult::unavailable:
        return {503, "store_unavailable",
                zone->store->fleet ? "the store (webhook_zone store=) cannot be reached: the change was not made, or not "
                                     "confirmed; retry later (an Idempotency-Key makes a retried event safe)"
                                   : "the change could not be saved in the state directory and was not made; retry later"};
    default:
        return {500, "internal_error", std::strcmp(what, "event") == 0 ? "the event could not be stored"
                                                                        : "the change could not be applied"};
    }
}

}  // namespace webhook::ngx
