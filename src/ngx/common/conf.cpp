#include "ngx/common/conf.hpp"

namespace webhook::ngx {

void set_content_handler(ngx_conf_t* cf, ngx_http_handler_pt handler) {
    auto* clcf = static_cast<ngx_http_core_loc_conf_t*>(ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    clcf->handler = handler;
}

ConfSite conf_site(ngx_conf_t* cf) {
    ConfSite site{ngx_null_string, 0, ngx_null_string};
    if (cf->conf_file != nullptr) {
        site.file = cf->conf_file->file.name;   // kept by the cycle's pool, as ngx_path_t keeps it
        site.line = cf->conf_file->line;
    }
    if (cf->cmd_type & (NGX_HTTP_LOC_CONF | NGX_HTTP_LIF_CONF | NGX_HTTP_LMT_CONF)) {
        auto* clcf = static_cast<ngx_http_core_loc_conf_t*>(ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
        site.location = clcf->name;
    }
    return site;
}

namespace {

// ngx_http_rewrite_module's location configuration starts with the codes
// its directives compile to (ngx_http_rewrite_loc_conf_t, private to
// ngx_http_rewrite_module.c, unchanged through 1.x).
struct RewriteLocConf {
    ngx_array_t* codes;   // of bytes: one code after another, each a multiple of a word
};

const ngx_module_t* rewrite_module(ngx_cycle_t* cycle) {
    for (ngx_uint_t i = 0; cycle->modules[i] != nullptr; i++)
        if (ngx_strcmp(cycle->modules[i]->name, "ngx_http_rewrite_module") == 0) return cycle->modules[i];
    return nullptr;   // NGINX built --without-http_rewrite_module: no `return` at all
}

const ngx_array_t* rewrite_codes(void** loc_conf, const ngx_module_t* rewrite) {
    auto* rlcf = static_cast<RewriteLocConf*>(loc_conf[rewrite->ctx_index]);
    return rlcf != nullptr ? rlcf->codes : nullptr;
}

template <class Code>
constexpr size_t words() { return sizeof(Code) / sizeof(uintptr_t); }

// The `return`s of one code array. Codes differ in size and carry no size
// of their own, so the array is read word by word for the codes that matter
// here, each recognised by its function (exported by ngx_http_script.h) and
// a plausible next field: `return` (status ≤ 999), `if` (the offset past its
// block, within the array), `break`, and `rewrite` (a regex code that is not
// an `if` test). The words of other codes are configuration text, lengths
// and pool pointers, never one of these functions' addresses.
EarlyReturn scan_returns(const ngx_array_t* codes) {
    if (codes == nullptr) return EarlyReturn::none;
    const auto* w = static_cast<const uintptr_t*>(codes->elts);
    size_t n = codes->nelts * codes->size / sizeof(uintptr_t);
    size_t if_end = 0;       // the word after the body of the `if` being read
    bool diverted = false;   // a rewrite or break before: what follows may not run
    bool sometimes = false;
    for (size_t i = 0; i < n; i++) {
        if (i >= if_end) if_end = 0;
        uintptr_t v = w[i];
        if (v == reinterpret_cast<uintptr_t>(ngx_http_script_if_code) && i + words<ngx_http_script_if_code_t>() <= n) {
            uintptr_t next = w[i + 1];
            if (next % sizeof(uintptr_t) == 0 && next >= sizeof(ngx_http_script_if_code_t) &&
                i + next / sizeof(uintptr_t) <= n) {
                if_end = i + next / sizeof(uintptr_t);
                i += words<ngx_http_script_if_code_t>() - 1;
            }
        } else if (v == reinterpret_cast<uintptr_t>(ngx_http_script_return_code) &&
                   i + words<ngx_http_script_return_code_t>() <= n && w[i + 1] <= 999) {
            if (if_end == 0 && !diverted) return EarlyReturn::always;
            sometimes = true;
            i += words<ngx_http_script_return_code_t>() - 1;
        } else if (v == reinterpret_cast<uintptr_t>(ngx_http_script_break_code)) {
            diverted = true;
#if (NGX_PCRE)
        } else if (v == reinterpret_cast<uintptr_t>(ngx_http_script_regex_start_code) &&
                   i + words<ngx_http_script_regex_code_t>() <= n) {
            if (!reinterpret_cast<const ngx_http_script_regex_code_t*>(&w[i])->test) diverted = true;
            i += words<ngx_http_script_regex_code_t>() - 1;
#endif
        }
    }
    return sometimes ? EarlyReturn::sometimes : EarlyReturn::none;
}

}  // namespace

EarlyReturn server_returns(ngx_conf_t* cf) {
    const ngx_module_t* rewrite = rewrite_module(cf->cycle);
    if (rewrite == nullptr) return EarlyReturn::none;
    auto* ctx = static_cast<ngx_http_conf_ctx_t*>(cf->ctx);
    auto* clcf = static_cast<ngx_http_core_loc_conf_t*>(ctx->loc_conf[ngx_http_core_module.ctx_index]);
    auto* cscf = static_cast<ngx_http_core_srv_conf_t*>(ctx->srv_conf[ngx_http_core_module.ctx_index]);
    if (ctx->loc_conf == cscf->ctx->loc_conf || clcf->named) return EarlyReturn::none;
    return scan_returns(rewrite_codes(cscf->ctx->loc_conf, rewrite));
}

EarlyReturn early_return(ngx_conf_t* cf) {
    const ngx_module_t* rewrite = rewrite_module(cf->cycle);
    if (rewrite == nullptr) return EarlyReturn::none;
    // The server's codes run first, for every method (limit_except too).
    // Only its unconditional return matters to a location: one inside an
    // `if` (if ($host ...) { return 444; }) is about the server, not about
    // this location.
    if (server_returns(cf) == EarlyReturn::always) return EarlyReturn::server;
    // limit_except: a limited method then runs the block's own (never
    // inherited, so empty) rewrite codes, not the location's.
    auto* ctx = static_cast<ngx_http_conf_ctx_t*>(cf->ctx);
    auto* clcf = static_cast<ngx_http_core_loc_conf_t*>(ctx->loc_conf[ngx_http_core_module.ctx_index]);
    if (clcf->lmt_excpt) return EarlyReturn::none;
    return scan_returns(rewrite_codes(ctx->loc_conf, rewrite));
}

char* check_early_return(ngx_conf_t* cf, const char* directive, const ConfSite& site, const char* done) {
    switch (early_return(cf)) {
    case EarlyReturn::none:
        return NGX_CONF_OK;
    case EarlyReturn::always:
        return site_error(cf, site,
                          "%s: \"return\" here answers every request in the rewrite phase, before %s runs (access "
                          "phase): no request would be %s; remove \"return\" and let requests go on to proxy_pass (or "
                          "another content handler)", directive, directive, done);
    case EarlyReturn::server:
        return site_error(cf, site,
                          "%s: the server's \"return\" answers every request in the rewrite phase, before %s runs "
                          "(access phase): no request would be %s; move that \"return\" into a location of its own",
                          directive, directive, done);
    case EarlyReturn::sometimes:
        site_log(NGX_LOG_WARN, cf->log, 0, site,
                 "%s: a \"return\" inside \"if\" (or after \"rewrite\" or \"break\") here answers in the rewrite "
                 "phase, before %s runs (access phase): the requests it answers are not %s; if that is not intended, "
                 "move it to a location without %s", directive, directive, done, directive);
        return NGX_CONF_OK;
    }
    return NGX_CONF_OK;
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
