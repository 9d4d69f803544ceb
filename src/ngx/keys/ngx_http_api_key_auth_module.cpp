// ngx_http_api_key_auth_module: `api_key_auth SCOPE [zone=] [resource=]`
// admits a request only with a live API key that has SCOPE for the resource,
// and exposes the key through $api_key_* variables (e.g. for limit_req).

#include <new>

#include "core/keys/api_keys.hpp"
#include "ngx/common/conf.hpp"
#include "ngx/keys/presented_key.hpp"
#include "ngx/status/counters.hpp"

using namespace webhook;
using namespace webhook::ngx;

namespace {

struct AuthConf {
    ngx_flag_t enabled;                  // NGX_CONF_UNSET: inherit
    uint32_t scope;
    ZoneRef zone_ref;
    Zone* zone;
    ngx_http_complex_value_t* resource;  // nullptr: any resource
};

enum class KeyState { missing, invalid, ok };

struct AuthCtx {
    Zone* zone;          // the zone the key was looked up in
    KeyState state;
    KeyAuth key;
    ngx_str_t scopes;
};

// The presented key, looked up once per request, on first use: by the access
// handler, or earlier by a $api_key_* variable (limit_req keys on $api_key_id
// in the preaccess phase, before access runs).
// A lookup made for another location's zone (a server-level variable read
// before the location was chosen) is made again against this one's.
AuthCtx* resolve(ngx_http_request_t* r) {
    auto* conf = static_cast<AuthConf*>(ngx_http_get_module_loc_conf(r, ngx_http_api_key_auth_module));
    auto* ctx = static_cast<AuthCtx*>(ngx_http_get_module_ctx(r->main, ngx_http_api_key_auth_module));
    if (ctx != nullptr && (conf->zone == nullptr || ctx->zone == conf->zone)) return ctx;
    if (conf->zone == nullptr) return nullptr;
    ctx = static_cast<AuthCtx*>(ngx_pcalloc(r->pool, sizeof(AuthCtx)));
    if (ctx == nullptr) throw std::bad_alloc();
    ctx->zone = conf->zone;
    std::optional<std::string_view> presented = presented_key(r);
    if (!presented || presented->empty()) {
        ctx->state = KeyState::missing;
    } else if (check_key(conf->zone, r, *presented, &ctx->key) != KeyCheck::ok) {
        ctx->state = KeyState::invalid;
    } else {
        ctx->state = KeyState::ok;
        std::string text = scopes_text(ctx->key.scopes);
        ctx->scopes.len = text.size();
        ctx->scopes.data = static_cast<u_char*>(ngx_pnalloc(r->pool, text.size() + 1));
        if (ctx->scopes.data == nullptr) throw std::bad_alloc();
        ngx_memcpy(ctx->scopes.data, text.data(), text.size());
    }
    ngx_http_set_ctx(r->main, ctx, ngx_http_api_key_auth_module);
    return ctx;
}

ngx_int_t refuse(ngx_http_request_t* r, Zone* zone, ngx_uint_t status, const char* code, const char* message) {
    count_key_check(zone, KeyCheckResult::refused);
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0, "api_key_auth: %s", code);
    return send_error(r, status, code, message);
}

ngx_int_t access_handler(ngx_http_request_t* r) {
    auto* conf = static_cast<AuthConf*>(ngx_http_get_module_loc_conf(r, ngx_http_api_key_auth_module));
    if (conf->enabled != 1 || r != r->main) return NGX_DECLINED;

    {
        AuthCtx* ctx = resolve(r);
        if (ctx->state == KeyState::missing)
            return refuse(r, conf->zone, NGX_HTTP_UNAUTHORIZED, "missing_api_key", "an API key is required");
        if (ctx->state == KeyState::invalid)
            return refuse(r, conf->zone, NGX_HTTP_UNAUTHORIZED, "invalid_api_key", "the API key is not valid");

        if (!scopes_satisfy(ctx->key.scopes, conf->scope))
            return refuse(r, conf->zone, NGX_HTTP_FORBIDDEN, "insufficient_scope", "the API key lacks the scope this needs");
        if (conf->resource != nullptr) {
            ngx_str_t want;
            if (ngx_http_complex_value(r, conf->resource, &want) != NGX_OK) return NGX_HTTP_INTERNAL_SERVER_ERROR;
            if (!resource_allows(sv(ctx->key.resource), sv(want)))
                return refuse(r, conf->zone, NGX_HTTP_FORBIDDEN, "forbidden_resource", "the API key is not valid for this resource");
        }
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0, "api_key_auth: key %V admitted", &ctx->key.id);
        count_key_check(conf->zone, KeyCheckResult::ok);
        return NGX_OK;
    }
}

ngx_int_t key_variable_failed(ngx_http_request_t*, ngx_http_variable_value_t* v, uintptr_t) noexcept {
    v->not_found = 1;
    return NGX_OK;
}

// $api_key_id, $api_key_resource, $api_key_scopes, $api_key_label
ngx_int_t key_variable(ngx_http_request_t* r, ngx_http_variable_value_t* v, uintptr_t offset) {
    AuthCtx* ctx = resolve(r);
    if (ctx == nullptr || ctx->state != KeyState::ok) {
        v->not_found = 1;
        return NGX_OK;
    }
    auto* s = reinterpret_cast<ngx_str_t*>(reinterpret_cast<u_char*>(ctx) + offset);
    v->data = s->data;
    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 1;   // another location's zone may answer differently
    v->not_found = 0;
    return NGX_OK;
}

ngx_http_variable_t variables[] = {
    {ngx_string("api_key_id"), nullptr, callback<key_variable, key_variable_failed>, offsetof(AuthCtx, key.id), NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("api_key_resource"), nullptr, callback<key_variable, key_variable_failed>, offsetof(AuthCtx, key.resource), NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("api_key_scopes"), nullptr, callback<key_variable, key_variable_failed>, offsetof(AuthCtx, scopes), NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("api_key_label"), nullptr, callback<key_variable, key_variable_failed>, offsetof(AuthCtx, key.label), NGX_HTTP_VAR_NOCACHEABLE, 0},
    ngx_http_null_variable,
};

ngx_int_t preconfiguration(ngx_conf_t* cf) { return add_variables(cf, variables); }

const Param<AuthConf> kParams[] = {
    {"zone", set_zone_param<AuthConf, &AuthConf::zone_ref>},
    {"resource", set_complex_param<AuthConf, &AuthConf::resource>},
};

char* api_key_auth(ngx_conf_t* cf, ngx_command_t*, void* c) {
    auto* conf = static_cast<AuthConf*>(c);
    auto* value = static_cast<ngx_str_t*>(cf->args->elts);
    if (conf->enabled != NGX_CONF_UNSET) return const_cast<char*>("is duplicate");

    if (sv(value[1]) == "off") {
        if (cf->args->nelts != 2) return const_cast<char*>("takes no parameters after \"off\"");
        conf->enabled = 0;
        return NGX_CONF_OK;
    }
    std::optional<uint32_t> scope = scope_from_name(sv(value[1]));
    if (!scope) {
        return conf_error(cf, "api_key_auth: unknown scope \"%V\" (read, readwrite, webhooks:manage, events:publish)",
                          &value[1]);
    }
    conf->enabled = 1;
    conf->scope = *scope;
    if (char* rv = parse_params(cf, conf, kParams, 2); rv != NGX_CONF_OK) return rv;
    return NGX_CONF_OK;
}

char* merge_loc_conf(ngx_conf_t* cf, void* parent, void* child) {
    auto* prev = static_cast<AuthConf*>(parent);
    auto* conf = static_cast<AuthConf*>(child);
    // The directive is inherited whole (scope, zone and resource together).
    if (conf->enabled == NGX_CONF_UNSET) {
        ngx_conf_merge_value(conf->enabled, prev->enabled, 0);
        conf->scope = prev->scope;
        conf->zone_ref = prev->zone_ref;
        conf->zone = prev->zone;
        conf->resource = prev->resource;
    }
    if (conf->enabled == 1 && conf->zone == nullptr) {
        conf->zone = zone_resolve(cf, conf->zone_ref, "api_key_auth");
        if (conf->zone == nullptr) return static_cast<char*>(NGX_CONF_ERROR);
    }
    return NGX_CONF_OK;
}

ngx_int_t postconfiguration(ngx_conf_t* cf) {
    auto* cmcf = static_cast<ngx_http_core_main_conf_t*>(ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module));
    auto* h = static_cast<ngx_http_handler_pt*>(ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers));
    if (h == nullptr) return NGX_ERROR;
    *h = callback<access_handler, http_failed>;
    return NGX_OK;
}

ngx_command_t commands[] = {
    {ngx_string("api_key_auth"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_HTTP_LMT_CONF | NGX_CONF_1MORE, callback<api_key_auth, conf_failed>,
     NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    ngx_null_command,
};

ngx_http_module_t module_ctx = {
    callback<preconfiguration>,   /* preconfiguration */
    callback<postconfiguration>,  /* postconfiguration */
    nullptr,            /* create main configuration */
    nullptr,            /* init main configuration */
    nullptr,            /* create server configuration */
    nullptr,            /* merge server configuration */
    callback<create_unset_loc_conf<AuthConf>>,    /* create location configuration */
    callback<merge_loc_conf, conf_failed>,     /* merge location configuration */
};

}  // namespace

extern "C" {
ngx_module_t ngx_http_api_key_auth_module = http_module(&module_ctx, commands);
}
