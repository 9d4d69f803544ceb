#include "ngx/deliver/publish.hpp"

#include <algorithm>

#include "core/deliver/events.hpp"
#include "core/deliver/trace_context.hpp"
#include "core/util/text.hpp"
#include "ngx/deliver/deliver_store.hpp"
#include "ngx/deliver/dispatcher.hpp"
#include "ngx/store/fleet.hpp"

namespace webhook::ngx {

namespace {

// What runs once an event's record is durable: its held deliveries may go,
// and this worker's dispatcher looks at once.
std::function<void()> release_when_durable(Zone* zone, std::string event_id) {
    return [zone, event_id = std::move(event_id)] {
        release_event(zone, event_id, now_ms());
        if (zone->delivery != nullptr) dispatcher_wake(*zone->delivery);
    };
}

}  // namespace

TraceContext request_trace_context(ngx_http_request_t* r, bool log) {
    TraceContext tc;
    const ngx_table_elt_t* parent = nullptr;
    size_t parents = 0, state_bytes = 0;
    bool has_state = false;
    std::string state;   // the tracestate fields joined with "," (RFC 9110), up to the limit
    for_each_header(&r->headers_in.headers, [&](ngx_table_elt_t* h) {
        std::string_view key = sv(h->key);
        if (ascii_iequals(key, "traceparent")) {
            parents++;
            parent = h;
        } else if (ascii_iequals(key, "tracestate")) {
            size_t add = (has_state ? 1 : 0) + h->value.len;
            if (state_bytes + add <= kMaxTracestate) {
                if (has_state) state.push_back(',');
                state.append(sv(h->value));
            }
            has_state = true;
            state_bytes += add;
        }
        return true;
    });
    if (parents == 0) return tc;   // a tracestate alone means nothing (W3C)
    if (parents > 1) {   // which one would be a guess: W3C restarts the trace
        if (log)
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "webhook: traceparent ignored (the header is sent %uz times): the event has no trace "
                          "context", parents);
        return tc;
    }
    const char* why = nullptr;
    if (auto kept = parse_traceparent(sv(parent->value), &why)) tc.traceparent = std::move(*kept);
    if (tc.traceparent.empty()) {
        if (log)
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "webhook: traceparent ignored (%s; %uz bytes): the event has no trace context", why,
                          parent->value.len);
        return tc;
    }
    if (!has_state) return tc;
    std::optional<std::string> kept;
    if (state_bytes > kMaxTracestate) why = "longer than 512 bytes";
    else kept = parse_tracestate(state, &why);
    if (kept) {
        tc.tracestate = std::move(*kept);
        return tc;
    }
    if (log)
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "webhook: tracestate dropped (%s; %uz bytes): the event keeps its traceparent", why, state_bytes);
    return tc;
}

std::variant<Published, ApiError> publish(DeliveryConf& conf, const PublishRequest& req) {
    Zone* zone = conf.zone;
    int64_t now = now_ms();
    std::string payload = build_payload(req.type, now / 1000, req.data_json);
    if (payload.size() > conf.max_payload)
        return ApiError{413, "payload_too_large", "the event is larger than max_payload"};

    store::EventPut event;
    event.id = random_ids("evt_", 20, 1).front();
    event.tenant = std::string(req.tenant);
    event.type = std::string(req.type);
    event.payload = std::move(payload);
    event.created_at_ms = now;
    if (!req.idempotency_key.empty()) event.idempotency = store::idempotency_slot(req.tenant, req.idempotency_key);
    std::vector<std::string> targets;
    if (!req.only_endpoint.empty()) targets.emplace_back(req.only_endpoint);
    else targets = matching_endpoints(zone, req.tenant, req.type);
    if (!req.except_endpoint.empty())
        targets.erase(std::remove(targets.begin(), targets.end(), req.except_endpoint), targets.end());
    std::vector<std::string> ids = random_ids("dlv_", 20, targets.size());
    event.deliveries.reserve(targets.size());
    for (size_t i = 0; i < targets.size(); i++) event.deliveries.push_back({std::move(ids[i]), std::move(targets[i])});

    event.node = fleet_node(zone);
    if (!req.traceparent.empty()) {
        event.traceparent = std::string(req.traceparent);
        event.tracestate = std::string(req.tracestate);
    }

    Published p;
    p.event_id = event.id;
    p.deliveries = event.deliveries.size();
    Submission change;
    change.undo = std::make_shared<const store::Mutation>(store::EventDel{event.id, event.idempotency});
    change.on_durable = release_when_durable(zone, event.id);
    change.m = std::move(event);
    p.change = std::move(change);
    return p;
}

std::optional<Published> published_before(Zone* zone, std::string_view tenant, std::string_view idempotency_key) {
    if (idempotency_key.empty()) return std::nullopt;
    auto prior = idempotent_answer(zone, tenant, idempotency_key, now_ms());
    if (!prior) return std::nullopt;
    Published first;
    first.event_id = prior->event_id;
    first.deliveries = prior->deliveries;
    return first;
}

Submission replay_delivery(Zone* zone, const std::string& delivery_id, const std::string& event_id,
                           const std::string& status) {
    Submission change;
    change.m = store::DeliveryReplay{delivery_id, now_ms(), fleet_node(zone)};
    change.undo = std::make_shared<const store::Mutation>(store::DeliveryUnreplay{
        delivery_id, store::delivery_status_from_name(status).value_or(store::DeliveryStatus::failed)});
    // Held until durable, as a new event's deliveries are.
    change.on_durable = release_when_durable(zone, event_id);
    return change;
}

Submission recover_deliveries(Zone* zone, const std::string& endpoint_id, int64_t since_ms, int64_t until_ms,
                              std::vector<std::string> deliveries) {
    // Even and non-zero: never a lease's token (odd), never a delivery's
    // that no attempt or recover has marked (0).
    auto tag = static_cast<uint32_t>(ngx_random()) << 1;
    if (tag == 0) tag = 2;
    store::DeliveryRecover m;
    m.endpoint = endpoint_id;
    m.since_ms = since_ms;
    m.until_ms = until_ms;
    m.at_ms = now_ms();
    m.node = fleet_node(zone);
    m.tag = tag;
    m.deliveries = std::move(deliveries);
    Submission change;
    change.undo = std::make_shared<const store::Mutation>(store::DeliveryUnrecover{endpoint_id, tag, m.deliveries});
    // Held until durable, as a replayed delivery is.
    change.on_durable = [zone, ids = m.deliveries, tag] {
        release_recovered(zone, ids, tag, now_ms());
        if (zone->delivery != nullptr) dispatcher_wake(*zone->delivery);
    };
    change.m = std::move(m);
    return change;
}

}  // namespace webhook::ngx
