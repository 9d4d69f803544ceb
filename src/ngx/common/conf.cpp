#include "ngx/common/conf.hpp"

namespace webhook::ngx {

void set_content_handler(ngx_conf_t* cf, ngx_http_handler_pt handler) {
    auto* clcf = static_cast<ngx_http_core_loc_conf_t*>(ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    clcf->handler = handler;
}

std::optional<int64_t> parse_ms(ngx_str_t value) {
    ngx_int_t ms = ngx_parse_time(&value, 0);
    if (ms == NGX_ERROR) return std::nullopt;
    return ms;
}

std::optional<ngx_uint_t> parse_count(ngx_str_t value) {
    ngx_int_t n = ngx_atoi(value.data, value.len);
    if (n <= 0) return std::nullopt;
    return static_cast<ngx_uint_t>(n);
}

std::optional<bool> parse_flag(ngx_str_t value) {
    std::string_view v = sv(value);
    if (v == "on") return true;
    if (v == "off") return false;
    return std::nullopt;
}

}  // namespace webhook::ngx
