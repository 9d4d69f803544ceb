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
#include <type_traits>

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

// --- the boundary ---------------------------------------------------------------
//
// Every function NGINX calls (handlers, filters, variables, events, thread
// tasks, cleanups, directives, configuration callbacks) is registered as
// callback<fn> (or callback<fn, failure>): a noexcept function that calls fn
// and turns any exception into one error-log line and `failure`'s value, so
// no C++ exception ever unwinds into NGINX's C frames.

void log_callback_exception(const char* what) noexcept;

// Failure values: NGX_ERROR for status codes, nullptr for configuration
// objects, NGX_CONF_ERROR for directives, 500 for request handlers.
template <class R>
R failed() noexcept {
    if constexpr (std::is_pointer_v<R>) return nullptr;
    else return static_cast<R>(NGX_ERROR);
}
inline char* conf_failed() noexcept { return static_cast<char*>(NGX_CONF_ERROR); }
inline ngx_int_t http_failed() noexcept { return NGX_HTTP_INTERNAL_SERVER_ERROR; }
inline ngx_int_t ok_failed() noexcept { return NGX_OK; }

template <auto Fn, auto Failure>
struct Callback;

template <class R, class... A, R (*Fn)(A...), auto Failure>
struct Callback<Fn, Failure> {
    static R call(A... args) noexcept {
        try {
            return Fn(args...);
        } catch (const std::exception& e) {
            log_callback_exception(e.what());
        } catch (...) {
            log_callback_exception("unknown exception");
        }
        if constexpr (!std::is_void_v<R>) return Failure();
    }
};

template <class F>
struct CallbackTraits;
template <class R, class... A>
struct CallbackTraits<R (*)(A...)> {
    using Result = R;
};

inline void no_failure() noexcept {}

template <class R>
constexpr auto default_failure() {
    if constexpr (std::is_void_v<R>) return &no_failure;
    else return &failed<R>;
}

template <auto Fn, auto Failure = default_failure<typename CallbackTraits<decltype(Fn)>::Result>()>
constexpr auto callback = &Callback<Fn, Failure>::call;

}  // namespace webhook::ngx
