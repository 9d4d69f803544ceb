// Outbound delivery configuration (webhook_delivery, webhook_sign,
// webhook_event_type), as the API, webhook_emit and the dispatcher read it;
// parsed by ngx_http_webhook_delivery_module.cpp.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/deliver/url_policy.hpp"
#include "core/util/api_error.hpp"
#include "core/verify/signature.hpp"
#include "ngx/store/zone.hpp"

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

struct Dispatcher;

constexpr int64_t kDefaultTimeoutMs = 10000;

struct DeliveryConf {
    ZoneRef zone_ref;
    Zone* zone = nullptr;
    ngx_str_t location = ngx_null_string;      // the internal location= URI
    ngx_http_conf_ctx_t* server_ctx = nullptr; // the server that has it
    ngx_http_core_loc_conf_t* location_clcf = nullptr;
    std::vector<int64_t> retries{0, 60000, 300000, 1800000, 7200000};
    int64_t timeout_ms = kDefaultTimeoutMs;
    ngx_uint_t concurrency = 64;
    ngx_uint_t per_endpoint = 4;
    bool allow_http = false;
    AddressPolicy policy;
    int64_t disable_after_ms = 5LL * 86400 * 1000;
    size_t max_payload = 1 << 20;
    bool server_level = false;
    ConfSite site{};                           // the directive
    Dispatcher* dispatcher = nullptr;          // this worker's
};

// The module's main configuration: every webhook_delivery, the signing, the
// event catalog.
struct DeliveryMainConf {
    std::vector<DeliveryConf*> deliveries;
    SignConf sign;
    bool sign_set = false;
    std::vector<EventType> types;
};
DeliveryMainConf* delivery_main_conf(ngx_cycle_t* cycle);

// At configuration time (any module's merge): the webhook_delivery serving
// the zone, nullptr when none does.
const DeliveryConf* delivery_conf_of(ngx_conf_t* cf, Zone* zone);

const SignConf& sign_conf();
const std::vector<EventType>& event_types();
// With a catalog declared: is this type (or filter) known? Always true without one.
bool event_type_known(std::string_view type_or_filter);

// Registration-time check of a URL (scheme, form, literal addresses).
std::optional<ApiError> check_endpoint_url(const DeliveryConf& conf, std::string_view url);

}  // namespace webhook::ngx
