#include "ngx/deliver/delivery_conf.hpp"

#include "core/deliver/events.hpp"

namespace webhook::ngx {

DeliveryMainConf* delivery_main_conf(ngx_cycle_t* cycle) {
    return static_cast<DeliveryMainConf*>(ngx_http_cycle_get_module_main_conf(cycle, ngx_http_webhook_delivery_module));
}

const DeliveryConf* delivery_conf_of(ngx_conf_t* cf, Zone* zone) {
    // Resolved from what was parsed, so that any module's merge may ask,
    // before or after this module's init_main_conf has run.
    auto* mcf = static_cast<DeliveryMainConf*>(ngx_http_conf_get_module_main_conf(cf, ngx_http_webhook_delivery_module));
    for (DeliveryConf* dc : mcf->deliveries) {
        if (zone_resolve(cf, dc->zone_ref) == zone) return dc;
    }
    return nullptr;
}

const SignConf& sign_conf() { return delivery_main_conf(const_cast<ngx_cycle_t*>(ngx_cycle))->sign; }
const std::vector<EventType>& event_types() { return delivery_main_conf(const_cast<ngx_cycle_t*>(ngx_cycle))->types; }

bool event_type_known(std::string_view f) {
    const auto& types = event_types();
    if (types.empty() || f == "*" || f == "webhook.test") return true;
    for (const OperationalType& t : kOperationalTypes)
        if (event_matches(f, t.type)) return true;
    for (const EventType& t : types)
        if (event_matches(f, t.type)) return true;
    return false;
}

std::optional<ApiError> check_endpoint_url(const DeliveryConf& conf, std::string_view text) {
    return check_webhook_url(text, conf.allow_http, conf.policy);
}

}  // namespace webhook::ngx
