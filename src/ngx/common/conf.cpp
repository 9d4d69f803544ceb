#include "ngx/common/conf.hpp"

namespace webhook::ngx {

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
