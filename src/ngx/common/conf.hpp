// Directive parsing shared by every module: one error helper, and one
// parser for NAME=VALUE parameters driven by a table per directive (as
// ngx_command_t drives directives).
#pragma once

#include <optional>
#include <string_view>

#include "ngx/common/http.hpp"

namespace webhook::ngx {

// Logs an [emerg] naming the file and line being parsed; returns what a
// directive handler returns on error.
template <class... A>
char* conf_error(ngx_conf_t* cf, const char* fmt, A... args) {
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, fmt, args...);
    return static_cast<char*>(NGX_CONF_ERROR);
}

// Where a directive was written, remembered by its handler for the checks
// that can only run once the whole configuration is known (merge,
// postconfiguration, shared memory init): their messages point at the
// directive, not at the end of the http block being merged.
struct ConfSite {
    ngx_str_t file;       // empty: unknown
    ngx_uint_t line;
    ngx_str_t location;   // the location's name; empty at http and server level
};
ConfSite conf_site(ngx_conf_t* cf);

// Logs as ngx_conf_log_error does, for a directive parsed earlier:
// "MESSAGE[ (ERRNO: TEXT)][ (location "NAME")] in FILE:LINE".
template <class... A>
void site_log(ngx_uint_t level, ngx_log_t* log, ngx_err_t err, const ConfSite& site, const char* fmt, A... args) {
    u_char buf[NGX_MAX_CONF_ERRSTR];
    u_char* last = buf + sizeof(buf);
    u_char* p = ngx_snprintf(buf, last - buf, fmt, args...);
    if (err) p = ngx_log_errno(p, last, err);
    if (site.location.len != 0) p = ngx_snprintf(p, last - p, " (location \"%V\")", &site.location);
    if (site.file.len != 0) p = ngx_snprintf(p, last - p, " in %V:%ui", &site.file, site.line);
    ngx_log_error(level, log, 0, "%*s", static_cast<size_t>(p - buf), buf);
}
// An [emerg] at the site; returns what a merge handler returns on error.
template <class... A>
char* site_error(ngx_conf_t* cf, const ConfSite& site, const char* fmt, A... args) {
    site_log(NGX_LOG_EMERG, cf->log, 0, site, fmt, args...);
    return static_cast<char*>(NGX_CONF_ERROR);
}

// How the rewrite module's `return` (compiled script codes, run in the
// rewrite phases) leaves the access phase of the location or server being
// merged, for an access-phase directive written there (webhook_verify,
// api_key_auth): `always` when a `return` of the block answers every request
// first, `server` when the server's does (for a location; named locations
// are entered past the server's rewrites), `sometimes` when one inside an
// `if` (or after a `rewrite`/`break`) of the block may.
enum class EarlyReturn { none, sometimes, always, server };
EarlyReturn early_return(ngx_conf_t* cf);
// The server's own codes, which run before the location being merged
// (none, sometimes or always; none at server level and for a named location).
EarlyReturn server_returns(ngx_conf_t* cf);
// For such a directive written in the block being merged: [emerg] (and
// NGX_CONF_ERROR) when a `return` always answers before it, [warn] when one
// may. `done` says what the directive does to a request ("verified").
char* check_early_return(ngx_conf_t* cf, const char* directive, const ConfSite& site, const char* done);

// One NAME=VALUE parameter: `set` stores the value and returns nullptr, or
// returns why the value is refused (shown in parentheses after it). An
// empty value (NAME=) is refused unless the parameter says it may be empty.
constexpr bool kEmptyValueOk = true;
template <class T>
struct Param {
    const char* name;
    const char* (*set)(ngx_conf_t* cf, T* conf, ngx_str_t value);
    bool empty_ok = false;
};

// The parameters of the directive being parsed, from argument `first` on.
// An unknown name, a parameter without "=VALUE" and a refused value are
// reported with the directive's name and the parameter as written.
template <class T, size_t N>
char* parse_params(ngx_conf_t* cf, T* conf, const Param<T> (&params)[N], ngx_uint_t first = 1) {
    auto* args = static_cast<ngx_str_t*>(cf->args->elts);
    ngx_str_t* directive = &args[0];
    for (ngx_uint_t i = first; i < cf->args->nelts; i++) {
        ngx_str_t* arg = &args[i];
        std::string_view text = sv(*arg);
        size_t eq = text.find('=');
        if (eq == std::string_view::npos)
            return conf_error(cf, "%V: parameter \"%V\" needs a value (NAME=VALUE)", directive, arg);
        std::string_view name = text.substr(0, eq);
        ngx_str_t value = {arg->len - eq - 1, arg->data + eq + 1};
        const Param<T>* param = nullptr;
        for (const Param<T>& p : params)
            if (name == p.name) param = &p;
        if (param == nullptr) return conf_error(cf, "%V: unknown parameter \"%V\"", directive, arg);
        if (value.len == 0 && !param->empty_ok)
            return conf_error(cf, "%V: parameter \"%V\" needs a value (NAME=VALUE)", directive, arg);
        if (const char* why = param->set(cf, conf, value))
            return conf_error(cf, "%V: invalid %s= in \"%V\" (%s)", directive, param->name, arg, why);
    }
    return NGX_CONF_OK;
}

// A parameter whose value may hold variables, compiled into conf->*Member.
template <class T, ngx_http_complex_value_t* T::*Member>
const char* set_complex_param(ngx_conf_t* cf, T* conf, ngx_str_t value) {
    conf->*Member = compile_complex(cf, value);
    return conf->*Member != nullptr ? nullptr : "cannot compile the value";
}

// A location conf whose `enabled` starts NGX_CONF_UNSET (set: the directive
// was given here).
template <class T>
void* create_unset_loc_conf(ngx_conf_t* cf) {
    auto* conf = static_cast<T*>(ngx_pcalloc(cf->pool, sizeof(T)));
    if (conf == nullptr) return nullptr;
    conf->enabled = NGX_CONF_UNSET;
    return conf;
}

// The location's content handler, set by a directive that answers requests
// itself (webhook_api, webhook_status).
void set_content_handler(ngx_conf_t* cf, ngx_http_handler_pt handler);

// Values shared by several directives; nullopt when invalid.
std::optional<int64_t> parse_ms(ngx_str_t value);           // 500ms, 10s, 2m …
std::optional<ngx_uint_t> parse_count(ngx_str_t value);     // a positive integer
std::optional<bool> parse_flag(ngx_str_t value);            // on | off

}  // namespace webhook::ngx
