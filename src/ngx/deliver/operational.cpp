#include "ngx/deliver/operational.hpp"

#include "core/deliver/events.hpp"
#include "core/deliver/url_policy.hpp"
#include "core/util/json.hpp"
#include "ngx/deliver/publish.hpp"

namespace webhook::ngx {

namespace {

Json endpoint_data(const EndpointFacts& e) {
    Json data(json_object());
    json_set_str(data.get(), "endpoint_id", e.id);
    if (e.name.empty()) json_object_set_new(data.get(), "name", json_null());
    else json_set_str(data.get(), "name", e.name);
    auto url = parse_webhook_url(e.url, true);
    if (auto* u = std::get_if<Url>(&url)) json_set_str(data.get(), "host", u->host_header());
    else json_object_set_new(data.get(), "host", json_null());
    return data;
}

void add_attempt(json_t* data, const FailedAttempt& a) {
    json_set_str(data, "delivery_id", a.delivery_id);
    json_set_str(data, "event_id", a.event_id);
    json_set_str(data, "event", a.event_type);
    json_object_set_new(data, "attempts", json_integer(a.attempts));
    json_set_str(data, "error", a.error);
    json_object_set_new(data, "response_status", a.response_status ? json_integer(a.response_status) : json_null());
}

void publish_about(DeliveryConf& conf, const EndpointFacts& e, std::string_view type, const Json& data) {
    PublishRequest req;
    req.tenant = e.tenant;
    req.type = type;
    std::string text = json_dump(data.get());
    req.data_json = text;
    req.except_endpoint = e.id;
    auto result = publish(conf, req);
    if (auto* err = std::get_if<ApiError>(&result)) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0, "webhook: operational event %*s about endpoint %*s not published: %s",
                      type.size(), type.data(), e.id.size(), e.id.data(), err->message.c_str());
        return;
    }
    auto& p = std::get<Published>(result);
    if (p.deliveries == 0 || !p.change) return;   // nobody subscribed: nothing to keep
    // Applied now (its deliveries held), durable with the next batch: the
    // deliveries go once it is. A refusal (zone full, backlog limit) is
    // logged by the log's own refusal line.
    log_submit(conf.zone, nullptr, std::move(*p.change), nullptr);
}

// An operational event is built and published, or its loss said: the
// change that caused it is made already and must not fail with it.
template <typename Build>
void announce(DeliveryConf& conf, const EndpointFacts& e, std::string_view type, Build build) noexcept {
    try {
        Json data = endpoint_data(e);
        build(data.get());
        publish_about(conf, e, type, data);
    } catch (const std::exception& x) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0, "webhook: operational event %*s about endpoint %*s not published: %s",
                      type.size(), type.data(), e.id.size(), e.id.data(), x.what());
    }
}

}  // namespace

void publish_endpoint_disabled(DeliveryConf& conf, const EndpointFacts& e, std::string_view reason) noexcept {
    announce(conf, e, kEndpointDisabled, [&](json_t* data) { json_set_str(data, "reason", reason); });
}

void publish_endpoint_enabled(DeliveryConf& conf, const EndpointFacts& e) noexcept {
    announce(conf, e, kEndpointEnabled, [](json_t*) {});
}

void publish_endpoint_failing(DeliveryConf& conf, const EndpointFacts& e, const FailedAttempt& a) noexcept {
    announce(conf, e, kEndpointFailing, [&](json_t* data) { add_attempt(data, a); });
}

void publish_delivery_failed(DeliveryConf& conf, const EndpointFacts& e, const FailedAttempt& a) noexcept {
    if (reserved_event_type(a.event_type)) return;
    announce(conf, e, kDeliveryFailed, [&](json_t* data) { add_attempt(data, a); });
}

}  // namespace webhook::ngx
