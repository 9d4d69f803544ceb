// The one place NGINX headers enter the C++ code, and what the glue files
// share: the zone, JSON error replies, and small conversions.
#pragma once

extern "C" {
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
}

#include <exception>
#include <string>
#include <string_view>

extern "C" {
extern ngx_module_t ngx_http_webhook_module;
extern ngx_module_t ngx_http_webhook_verify_module;
extern ngx_module_t ngx_http_api_key_auth_module;
extern ngx_module_t ngx_http_webhook_api_module;
extern ngx_module_t ngx_http_webhook_delivery_module;
}

namespace webhook::ngx {

inline std::string_view sv(const ngx_str_t& s) {
    return {reinterpret_cast<const char*>(s.data), s.len};
}

// First request header with this name (case-insensitive), or nullptr.
ngx_table_elt_t* find_header(ngx_http_request_t* r, std::string_view name);

// Replies {"error":{"code":…,"message":…}} with the given status, discarding
// an unread body, and finalizes the request. Returns what a phase handler
// returns after finishing the request itself (NGX_DONE).
ngx_int_t send_error(ngx_http_request_t* r, ngx_uint_t status, std::string_view code, std::string_view message);

// Replies with a body (Cache-Control: no-store) and returns what
// ngx_http_output_filter returned, for ngx_http_finalize_request.
ngx_int_t send_body(ngx_http_request_t* r, ngx_uint_t status, std::string_view content_type, std::string_view body);
ngx_int_t send_json(ngx_http_request_t* r, ngx_uint_t status, const std::string& body);

// A directive value that may contain variables; nullptr on error (logged).
ngx_http_complex_value_t* compile_complex(ngx_conf_t* cf, ngx_str_t text);

// Registers a module's variables (a list ending with ngx_http_null_variable).
ngx_int_t add_variables(ngx_conf_t* cf, const ngx_http_variable_t* variables);

// Appends s as a JSON string literal (quotes included).
void json_quote(std::string& out, std::string_view s);

// Runs f, turning any C++ exception into an error-log line and `failed`: no
// exception may unwind into NGINX's C frames.
template <class F, class R>
R guarded(ngx_log_t* log, R failed, F&& f) noexcept {
    try {
        return f();
    } catch (const std::exception& e) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "webhook: internal error: %s", e.what());
    } catch (...) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "webhook: internal error");
    }
    return failed;
}

}  // namespace webhook::ngx
