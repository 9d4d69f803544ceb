// Operational events (docs/delivery.md#operational-events): the module
// publishes what happens to an endpoint — disabled, enabled, failing, a
// delivery failed for good — as an ordinary event of the endpoint's tenant
// (types in core/deliver/events.hpp), to the tenant's endpoints subscribed to
// it, never to the endpoint it is about. Nobody waits for one: a publish
// that cannot be made (a full zone, the tenant's backlog limit) is logged.
#pragma once

#include <string>
#include <string_view>

#include "ngx/deliver/delivery_conf.hpp"

namespace webhook::ngx {

// What an event says of its endpoint: its id, name and host — never the
// whole URL, whose path or query may hold a token of the receiver's (a chat
// service's incoming-webhook URL) that a bridge of another vendor must not
// see.
struct EndpointFacts {
    std::string_view id, tenant, name, url;
};

// webhook.endpoint.disabled {endpoint_id, name, host, reason}
void publish_endpoint_disabled(DeliveryConf& conf, const EndpointFacts& e, std::string_view reason) noexcept;
// webhook.endpoint.enabled {endpoint_id, name, host}
void publish_endpoint_enabled(DeliveryConf& conf, const EndpointFacts& e) noexcept;

// What an attempt that failed says about its delivery.
struct FailedAttempt {
    std::string_view delivery_id, event_id, event_type, error;
    uint32_t attempts;
    int response_status;   // 0: none
};
// webhook.endpoint.failing {endpoint_id, name, host, delivery_id, event_id, event,
// error, response_status}: the first failure since the endpoint's last
// success.
void publish_endpoint_failing(DeliveryConf& conf, const EndpointFacts& e, const FailedAttempt& a) noexcept;
// webhook.delivery.failed {endpoint_id, name, host, delivery_id, event_id, event,
// attempts, error, response_status}. Not for a delivery of an operational
// event itself: a failing bridge would otherwise report itself through the
// next, without end.
void publish_delivery_failed(DeliveryConf& conf, const EndpointFacts& e, const FailedAttempt& a) noexcept;

}  // namespace webhook::ngx
