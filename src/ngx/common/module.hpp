// The one place NGINX headers enter the C++ code, and the boundary every
// function NGINX calls goes through.
#pragma once

extern "C" {
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
}

#include <exception>
#include <type_traits>

extern "C" {
extern ngx_module_t ngx_http_webhook_module;
extern ngx_module_t ngx_http_webhook_verify_module;
extern ngx_module_t ngx_http_api_key_auth_module;
extern ngx_module_t ngx_http_webhook_api_module;
extern ngx_module_t ngx_http_webhook_delivery_module;
extern ngx_module_t ngx_http_webhook_status_module;
extern ngx_module_t ngx_http_webhook_console_module;
}

namespace webhook::ngx {

// --- the boundary ---------------------------------------------------------------
//
// Every function NGINX calls (handlers, filters, variables, events, thread
// tasks, cleanups, directives, configuration callbacks, post-subrequest
// handlers) is registered as callback<fn> or callback<fn, failure>: a
// noexcept function that calls fn and turns any exception into one error-log
// line and `failure` (called with fn's arguments when it takes them, e.g. to
// finish the request or re-arm a timer), so no C++ exception ever unwinds
// into NGINX's C frames.

inline void log_callback_exception(const char* what) noexcept {
    ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0, "webhook: internal error, contained at the module boundary: %s",
                  what);
}

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
inline ngx_int_t declined_failed() noexcept { return NGX_DECLINED; }

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
        if constexpr (std::is_invocable_v<decltype(Failure), A...>) return Failure(args...);
        else if constexpr (!std::is_void_v<R>) return Failure();
        else Failure();
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

// An HTTP module's ngx_module_t: its context and directives, and the worker
// start and exit hooks (most modules have neither).
constexpr ngx_module_t http_module(ngx_http_module_t* ctx, ngx_command_t* commands,
                                   ngx_int_t (*init_process)(ngx_cycle_t*) = nullptr,
                                   void (*exit_process)(ngx_cycle_t*) = nullptr) {
    return {NGX_MODULE_V1, ctx, commands, NGX_HTTP_MODULE, nullptr, nullptr, init_process, nullptr, nullptr, exit_process,
            nullptr, NGX_MODULE_V1_PADDING};
}

}  // namespace webhook::ngx
