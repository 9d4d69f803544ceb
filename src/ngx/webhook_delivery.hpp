// Outbound delivery configuration (webhook_delivery, webhook_sign,
// webhook_event_type) and what the API and webhook_emit call: publish an
// event, check a URL against the SSRF policy, look up the type catalog.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/util/rfc3339.hpp"
#include "core/util/text.hpp"
#include "core/util/api_error.hpp"
#include "core/deliver/events.hpp"
#include "core/deliver/retry.hpp"
#include "core/deliver/signing.hpp"
#include "core/deliver/url_policy.hpp"
#include "ngx/webhook_zone.hpp"

namespace webhook::ngx {

struct EventType {
    std::string type, description;
    int64_t timeout_ms;   // 0: the endpoint's
};

struct SignConf {
    bool standard = true;
    std::string header, prefix, event_header, id_header, timestamp_header;
    Encoding encoding = Encoding::hex;
};

struct DeliveryConf {
    Zone* zone = nullptr;
    ngx_str_t zone_name = ngx_null_string;
    ngx_str_t location = ngx_null_string;     // the internal location= URI
    ngx_http_conf_ctx_t* server_ctx = nullptr; // the server that has it
    ngx_http_core_loc_conf_t* location_clcf = nullptr;
    std::vector<int64_t> retries{0, 60000, 300000, 1800000, 7200000};
    int64_t timeout_ms = 10000;
    ngx_uint_t concurrency = 64;
    ngx_uint_t per_endpoint = 4;
    bool allow_http = false;
    AddressPolicy policy;
    int64_t disable_after_ms = 5LL * 86400 * 1000;
    size_t max_payload = 1 << 20;
    bool server_level = false;
    void* dispatcher = nullptr;                // this worker's
};

// At configuration time: max_payload of the webhook_delivery serving the zone
// (0: none).
size_t max_payload_for(ngx_conf_t* cf, Zone* zone);

// The delivery configuration that serves a zone (nullptr: none).
DeliveryConf* delivery_conf_for(Zone* zone);
const SignConf& sign_conf();
const std::vector<EventType>& event_types();
// With a catalog declared: is this type (or filter) known? Always true without one.
bool event_type_known(std::string_view type_or_filter);

// Registration-time check of a URL (scheme, form, literal addresses).
std::optional<ApiError> check_endpoint_url(const DeliveryConf& conf, std::string_view url);

struct Published {
    std::string event_id;
    size_t deliveries = 0;
    uint64_t seq = 0;
    std::string record;   // the mutation, to journal
    std::string undo;     // event.del, should the journal fail
};

// Fans an event out to the tenant's matching endpoints (or to one endpoint),
// applying the mutation; the caller journals `record`, answers after, and
// calls event_durable then (the deliveries are held until that).
std::variant<Published, ApiError> publish_event(DeliveryConf& conf, std::string_view tenant, std::string_view type,
                                                std::string_view data_json, std::string_view idempotency_key,
                                                std::string_view only_endpoint);

// Wakes this worker's dispatcher (new work is due now).
void dispatcher_wake(DeliveryConf& conf);
// The event's journal record is durable: release its deliveries, wake.
void event_durable(DeliveryConf& conf, std::string_view event_id);

// Worker start / the dispatcher proper (webhook_dispatch.cpp).
ngx_int_t dispatcher_init_process(ngx_cycle_t* cycle, DeliveryConf& conf);
void dispatcher_exit_process(DeliveryConf& conf);
ngx_int_t dispatch_variable(ngx_http_request_t* r, ngx_http_variable_value_t* v, uintptr_t which);
ngx_int_t dispatch_body_filter(ngx_http_request_t* r, ngx_chain_t* in, bool* handled);

}  // namespace webhook::ngx
