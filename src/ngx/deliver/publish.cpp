#include "ngx/deliver/publish.hpp"

#include "core/deliver/events.hpp"
#include "core/util/text.hpp"
#include "ngx/deliver/deliver_store.hpp"
#include "ngx/deliver/dispatcher.hpp"

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

std::variant<Published, ApiError> publish(DeliveryConf& conf, const PublishRequest& req) {
    Zone* zone = conf.zone;
    int64_t now = now_ms();
    std::string payload = build_payload(req.type, now / 1000, req.data_json);
    if (payload.size() > conf.max_payload)
        return ApiError{413, "payload_too_large", "the event is larger than max_payload"};

    store::EventPut event;
    event.id = "evt_" + random_base62(20);
    event.tenant = std::string(req.tenant);
    event.type = std::string(req.type);
    event.payload = std::move(payload);
    event.created_at_ms = now;
    if (!req.idempotency_key.empty()) event.idempotency = store::idempotency_slot(req.tenant, req.idempotency_key);
    std::vector<std::string> targets;
    if (!req.only_endpoint.empty()) targets.emplace_back(req.only_endpoint);
    else targets = matching_endpoints(zone, req.tenant, req.type);
    for (std::string& endpoint : targets) event.deliveries.push_back({"dlv_" + random_base62(20), std::move(endpoint)});

    Published p;
    p.event_id = event.id;
    p.deliveries = event.deliveries.size();
    Change change;
    change.undo = std::make_shared<const store::Mutation>(store::EventDel{event.id, event.idempotency});
    change.on_durable = release_when_durable(zone, event.id);
    StateResult rc = log_apply(zone, event, store::Mode::live, &change);
    switch (rc) {
    case StateResult::ok:
        p.change = std::move(change);
        return p;
    case StateResult::duplicate:
        // Another publish with this key won the race: its answer is the answer.
        if (auto prior = idempotent_answer(zone, req.tenant, req.idempotency_key, now)) {
            Published first;
            first.event_id = prior->event_id;
            first.deliveries = prior->deliveries;
            return first;
        }
        return refusal(rc, zone, "event");
    default:
        return refusal(rc, zone, "event");
    }
}

std::variant<Change, StateResult> replay_delivery(Zone* zone, const std::string& delivery_id,
                                                  const std::string& event_id, const std::string& status) {
    Change change;
    change.undo = std::make_shared<const store::Mutation>(store::DeliveryUnreplay{
        delivery_id, store::delivery_status_from_name(status).value_or(store::DeliveryStatus::failed)});
    // Held until durable, as a new event's deliveries are.
    change.on_durable = release_when_durable(zone, event_id);
    StateResult rc = log_apply(zone, store::DeliveryReplay{delivery_id, now_ms()}, store::Mode::live, &change);
    if (rc != StateResult::ok) return rc;
    return change;
}

}  // namespace webhook::ngx
