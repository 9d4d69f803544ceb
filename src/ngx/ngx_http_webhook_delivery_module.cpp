// ngx_http_webhook_delivery_module: outbound webhooks (SPEC §6).
//   webhook_delivery    where and how attempts are made (http, server)
//   webhook_sign        how requests are signed (http)
//   webhook_event_type  the event catalog (http)
//   webhook_emit        publish an event when a proxied call succeeds (location)
// The dispatcher itself is in webhook_dispatch.cpp.

#include <memory>
#include <new>

#include "core/util/rfc3339.hpp"
#include "core/util/text.hpp"
#include "core/util/hmac.hpp"
#include "core/util/json.hpp"
#include "core/keys/api_keys.hpp"
#include "ngx/webhook_deliveries.hpp"
#include "ngx/webhook_delivery.hpp"
#include "ngx/webhook_journal.hpp"
#include "ngx/webhook_state.hpp"

using namespace webhook;
using namespace webhook::ngx;

namespace {

struct DeliveryMainConf {
    std::vector<DeliveryConf*> deliveries;
    SignConf sign;
    bool sign_set = false;
    std::vector<EventType> types;
};

struct SrvConf {
    DeliveryConf* delivery;   // a server-level webhook_delivery
};

struct Emit {
    std::string type;
    ngx_str_t zone_name;
    Zone* zone;
    ngx_http_complex_value_t* tenant;
    ngx_http_complex_value_t* data;
    ngx_http_complex_value_t* cond;
};

struct LocConf {
    std::vector<Emit>* emits;
};

template <class T>
void destroy(void* p) {
    static_cast<T*>(p)->~T();
}

template <class T>
T* pool_new(ngx_pool_t* pool) {
    ngx_pool_cleanup_t* cln = ngx_pool_cleanup_add(pool, sizeof(T));
    if (cln == nullptr) return nullptr;
    T* obj = new (cln->data) T();
    cln->handler = callback<destroy<T>>;
    return obj;
}

DeliveryMainConf* main_conf_of(ngx_cycle_t* cycle) {
    return static_cast<DeliveryMainConf*>(ngx_http_cycle_get_module_main_conf(cycle, ngx_http_webhook_delivery_module));
}

char* error(ngx_conf_t* cf, const char* fmt, ngx_str_t* arg) {
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, fmt, arg);
    return static_cast<char*>(NGX_CONF_ERROR);
}

std::optional<int64_t> parse_ms(std::string_view v) {
    ngx_str_t s = {v.size(), (u_char*) v.data()};
    ngx_int_t ms = ngx_parse_time(&s, 0);
    if (ms == NGX_ERROR) return std::nullopt;
    return ms;
}

// --- webhook_delivery ------------------------------------------------------------

char* parse_delivery(ngx_conf_t* cf, DeliveryConf* dc) {
    auto* value = static_cast<ngx_str_t*>(cf->args->elts);
    for (ngx_uint_t i = 1; i < cf->args->nelts; i++) {
        ngx_str_t& v = value[i];
        std::string_view a = sv(v);
        size_t eq = a.find('=');
        if (eq == std::string_view::npos || eq + 1 == a.size())
            return error(cf, "webhook_delivery: parameter \"%V\" needs a value (NAME=VALUE)", &v);
        std::string_view key = a.substr(0, eq), val = a.substr(eq + 1);
        ngx_str_t vstr = {val.size(), v.data + eq + 1};
        if (key == "zone") {
            dc->zone_name = vstr;
        } else if (key == "location") {
            if (val.front() != '/') return error(cf, "webhook_delivery: location= must be a URI starting with / in \"%V\"", &v);
            dc->location = vstr;
        } else if (key == "retries") {
            auto r = parse_retries(val);
            if (!r) return error(cf, "webhook_delivery: invalid retries= in \"%V\" (e.g. 0s,1m,5m,30m,2h)", &v);
            dc->retries = *r;
        } else if (key == "timeout") {
            auto ms = parse_ms(val);
            if (!ms || *ms < 1000 || *ms > 30000) return error(cf, "webhook_delivery: timeout= in \"%V\" must be 1s to 30s", &v);
            dc->timeout_ms = *ms;
        } else if (key == "concurrency" || key == "per_endpoint") {
            ngx_int_t n = ngx_atoi(vstr.data, vstr.len);
            if (n <= 0 || n > 100000) return error(cf, "webhook_delivery: invalid number in \"%V\"", &v);
            (key == "concurrency" ? dc->concurrency : dc->per_endpoint) = n;
        } else if (key == "allow_http" || key == "allow_private") {
            if (val != "on" && val != "off") return error(cf, "webhook_delivery: \"%V\" takes on or off", &v);
            (key == "allow_http" ? dc->allow_http : dc->policy.allow_private) = val == "on";
        } else if (key == "allow") {
            size_t start = 0;
            while (start <= val.size()) {
                size_t end = val.find(',', start);
                if (end == std::string_view::npos) end = val.size();
                auto cidr = parse_cidr(val.substr(start, end - start));
                if (!cidr) return error(cf, "webhook_delivery: invalid CIDR in \"%V\"", &v);
                dc->policy.allow.push_back(*cidr);
                start = end + 1;
            }
        } else if (key == "disable_after") {
            ngx_str_t t = vstr;
            time_t secs = ngx_parse_time(&t, 1);
            if (secs == static_cast<time_t>(NGX_ERROR)) return error(cf, "webhook_delivery: invalid disable_after= in \"%V\"", &v);
            dc->disable_after_ms = static_cast<int64_t>(secs) * 1000;
        } else if (key == "max_payload") {
            ssize_t size = ngx_parse_size(&vstr);
            if (size <= 0 || size > (64 << 20)) return error(cf, "webhook_delivery: invalid max_payload= in \"%V\"", &v);
            dc->max_payload = size;
        } else {
            return error(cf, "webhook_delivery: unknown parameter \"%V\"", &v);
        }
    }
    if (dc->location.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "webhook_delivery: location=URI is required");
        return static_cast<char*>(NGX_CONF_ERROR);
    }
    return NGX_CONF_OK;
}

char* webhook_delivery(ngx_conf_t* cf, ngx_command_t*, void*) {
    auto* mcf = static_cast<DeliveryMainConf*>(ngx_http_conf_get_module_main_conf(cf, ngx_http_webhook_delivery_module));
    DeliveryConf* dc = pool_new<DeliveryConf>(cf->pool);
    if (dc == nullptr) return static_cast<char*>(NGX_CONF_ERROR);
    char* rv = guarded(cf->log, static_cast<char*>(NGX_CONF_ERROR), [&] { return parse_delivery(cf, dc); });
    if (rv != NGX_CONF_OK) return rv;
    if (cf->cmd_type == NGX_HTTP_SRV_CONF) {
        auto* scf = static_cast<SrvConf*>(ngx_http_conf_get_module_srv_conf(cf, ngx_http_webhook_delivery_module));
        if (scf->delivery != nullptr) return const_cast<char*>("is duplicate");
        scf->delivery = dc;
        dc->server_level = true;
        auto* cscf = static_cast<ngx_http_core_srv_conf_t*>(ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module));
        dc->server_ctx = cscf->ctx;
    }
    mcf->deliveries.push_back(dc);
    return NGX_CONF_OK;
}

// --- webhook_sign ---------------------------------------------------------------

char* webhook_sign(ngx_conf_t* cf, ngx_command_t*, void* conf) {
    auto* mcf = static_cast<DeliveryMainConf*>(conf);
    auto* value = static_cast<ngx_str_t*>(cf->args->elts);
    if (mcf->sign_set) return const_cast<char*>("is duplicate");
    mcf->sign_set = true;
    SignConf& s = mcf->sign;
    std::string_view scheme = sv(value[1]);
    if (scheme == "standard") {
        if (cf->args->nelts != 2) return error(cf, "webhook_sign standard takes no parameters, got \"%V\"", &value[2]);
        return NGX_CONF_OK;
    }
    if (scheme != "hmac") return error(cf, "webhook_sign: unknown scheme \"%V\" (standard or hmac)", &value[1]);
    s.standard = false;
    for (ngx_uint_t i = 2; i < cf->args->nelts; i++) {
        std::string_view a = sv(value[i]);
        size_t eq = a.find('=');
        std::string_view key = a.substr(0, eq), val = eq == std::string_view::npos ? "" : a.substr(eq + 1);
        bool header_name = key == "header" || key == "event_header" || key == "id_header" || key == "timestamp_header";
        if (header_name) {
            bool ok = !val.empty() && val.size() <= 64;
            for (char c : val) ok &= (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
            if (!ok) return error(cf, "webhook_sign: invalid header name in \"%V\"", &value[i]);
            (key == "header" ? s.header : key == "event_header" ? s.event_header : key == "id_header" ? s.id_header
                                                                                   : s.timestamp_header) = std::string(val);
        } else if (key == "prefix") {
            if (!header_safe(val)) return error(cf, "webhook_sign: invalid prefix in \"%V\"", &value[i]);
            s.prefix = std::string(val);
        } else if (key == "encoding") {
            if (val == "hex") s.encoding = Encoding::hex;
            else if (val == "base64") s.encoding = Encoding::base64;
            else return error(cf, "webhook_sign: invalid encoding= in \"%V\" (hex or base64)", &value[i]);
        } else {
            return error(cf, "webhook_sign: unknown parameter \"%V\"", &value[i]);
        }
    }
    if (s.header.empty()) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "webhook_sign hmac: header=NAME is required");
        return static_cast<char*>(NGX_CONF_ERROR);
    }
    return NGX_CONF_OK;
}

// --- webhook_event_type ---------------------------------------------------------

char* webhook_event_type(ngx_conf_t* cf, ngx_command_t*, void* conf) {
    auto* mcf = static_cast<DeliveryMainConf*>(conf);
    auto* value = static_cast<ngx_str_t*>(cf->args->elts);
    EventType t{std::string(sv(value[1])), "", 0};
    if (!valid_event_type(t.type)) return error(cf, "webhook_event_type: invalid type \"%V\" (a-z 0-9 . _ - :)", &value[1]);
    for (auto& known : mcf->types)
        if (known.type == t.type) return error(cf, "webhook_event_type: duplicate type \"%V\"", &value[1]);
    for (ngx_uint_t i = 2; i < cf->args->nelts; i++) {
        std::string_view a = sv(value[i]);
        if (a.substr(0, 8) == "timeout=") {
            auto ms = parse_ms(a.substr(8));
            if (!ms || *ms < 1000 || *ms > 30000) return error(cf, "webhook_event_type: timeout= in \"%V\" must be 1s to 30s", &value[i]);
            t.timeout_ms = *ms;
        } else if (i == 2) {
            t.description = std::string(a);
        } else {
            return error(cf, "webhook_event_type: unknown parameter \"%V\"", &value[i]);
        }
    }
    mcf->types.push_back(std::move(t));
    return NGX_CONF_OK;
}

// --- webhook_emit ----------------------------------------------------------------

char* webhook_emit(ngx_conf_t* cf, ngx_command_t*, void* conf) {
    auto* lcf = static_cast<LocConf*>(conf);
    auto* value = static_cast<ngx_str_t*>(cf->args->elts);
    if (lcf->emits == nullptr && (lcf->emits = pool_new<std::vector<Emit>>(cf->pool)) == nullptr)
        return static_cast<char*>(NGX_CONF_ERROR);
    Emit e{std::string(sv(value[1])), ngx_null_string, nullptr, nullptr, nullptr, nullptr};
    if (!valid_event_type(e.type)) return error(cf, "webhook_emit: invalid event type \"%V\"", &value[1]);
    for (ngx_uint_t i = 2; i < cf->args->nelts; i++) {
        ngx_str_t& v = value[i];
        std::string_view a = sv(v);
        size_t eq = a.find('=');
        std::string_view key = a.substr(0, eq);
        if (eq == std::string_view::npos) return error(cf, "webhook_emit: parameter \"%V\" needs a value", &v);
        ngx_str_t val = {v.len - eq - 1, v.data + eq + 1};
        if (key == "zone") {
            e.zone_name = val;
        } else if (key == "tenant" || key == "data" || key == "if") {
            ngx_http_complex_value_t* cv = compile_complex(cf, val);
            if (cv == nullptr) return static_cast<char*>(NGX_CONF_ERROR);
            (key == "tenant" ? e.tenant : key == "data" ? e.data : e.cond) = cv;
        } else {
            return error(cf, "webhook_emit: unknown parameter \"%V\"", &v);
        }
    }
    lcf->emits->push_back(e);
    return NGX_CONF_OK;
}

ngx_str_t eval(ngx_http_request_t* r, ngx_http_complex_value_t* cv) {
    ngx_str_t out = ngx_null_string;
    if (cv != nullptr && ngx_http_complex_value(r, cv, &out) != NGX_OK) out.len = 0;
    return out;
}

struct EmitCommit {
    DeliveryConf* dc;
    std::string event_id, undo;
};

void emit_durable(ngx_http_request_t*, void* data, bool ok) {
    std::unique_ptr<EmitCommit> c(static_cast<EmitCommit*>(data));
    if (ok) {
        event_durable(*c->dc, c->event_id);
        return;
    }
    revert_change(c->dc->zone, c->undo);
    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0, "webhook_emit: event %s could not be saved and was not published",
                  c->event_id.c_str());
}

// Log phase: the response is out; a 2xx publishes the configured events.
ngx_int_t emit_handler(ngx_http_request_t* r) {
    auto* lcf = static_cast<LocConf*>(ngx_http_get_module_loc_conf(r, ngx_http_webhook_delivery_module));
    if (lcf->emits == nullptr || r != r->main) return NGX_DECLINED;
    ngx_uint_t status = r->headers_out.status;
    if (status < 200 || status > 299) return NGX_DECLINED;
    guarded(r->connection->log, 0, [&] {
        for (Emit& e : *lcf->emits) {
            if (e.cond != nullptr) {
                ngx_str_t c = eval(r, e.cond);
                if (c.len == 0 || (c.len == 1 && c.data[0] == '0')) continue;
            }
            DeliveryConf* dc = delivery_conf_for(e.zone);
            if (dc == nullptr) continue;
            ngx_str_t tenant = eval(r, e.tenant);
            std::string_view tenant_sv = tenant.len ? sv(tenant) : std::string_view("default");
            if (tenant_sv.size() > kMaxTenant || !header_safe(tenant_sv) || !utf8_valid(tenant_sv)) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "webhook_emit \"%s\": tenant= is not a valid tenant name (at most %uz bytes of UTF-8 "
                              "text), not published", e.type.c_str(), kMaxTenant);
                continue;
            }
            ngx_str_t data = eval(r, e.data);
            if (e.data != nullptr && data.len == 0 && r->request_body != nullptr && r->request_body->temp_file != nullptr) {
                // $request_body is empty when the body went to a temp file: it
                // was larger than client_body_buffer_size, raised to max_payload
                // here, so the event would be too large anyway. Say so.
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "webhook_emit \"%s\": the request body is larger than max_payload, not published",
                              e.type.c_str());
                continue;
            }
            std::string data_json = "null";
            if (e.data != nullptr) {
                Json parsed = json_parse(sv(data), nullptr);
                if (parsed) {
                    data_json = std::string(sv(data));
                } else {
                    data_json.clear();
                    json_quote(data_json, sv(data));
                }
            }
            auto result = publish_event(*dc, tenant_sv, e.type, data_json, "", "");
            if (auto* err = std::get_if<ApiError>(&result)) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, "webhook_emit \"%s\": %s", e.type.c_str(),
                              err->code.c_str());
                continue;
            }
            auto& p = std::get<Published>(result);
            if (p.deliveries > 0) {
                auto* pending = new EmitCommit{dc, p.event_id, std::move(p.undo)};
                journal_commit(e.zone, nullptr, p.seq, std::move(p.record), emit_durable, pending);
            }
        }
        return 0;
    });
    return NGX_DECLINED;
}

// --- variables ------------------------------------------------------------------

ngx_http_variable_t variables[] = {
    {ngx_string("webhook_url"), nullptr, callback<dispatch_variable>, 0, NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("webhook_id"), nullptr, callback<dispatch_variable>, 1, NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("webhook_event"), nullptr, callback<dispatch_variable>, 2, NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("webhook_endpoint_id"), nullptr, callback<dispatch_variable>, 3, NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("webhook_attempt"), nullptr, callback<dispatch_variable>, 4, NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("webhook_host"), nullptr, callback<dispatch_variable>, 5, NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("webhook_server_name"), nullptr, callback<dispatch_variable>, 6, NGX_HTTP_VAR_NOCACHEABLE, 0},
    ngx_http_null_variable,
};

ngx_int_t preconfiguration(ngx_conf_t* cf) { return add_variables(cf, variables); }

ngx_http_output_body_filter_pt next_body_filter;

ngx_int_t body_filter(ngx_http_request_t* r, ngx_chain_t* in) {
    bool handled = false;
    ngx_int_t rc = dispatch_body_filter(r, in, &handled);
    return handled ? rc : next_body_filter(r, in);
}

// --- configuration plumbing --------------------------------------------------------

void* create_main_conf(ngx_conf_t* cf) { return pool_new<DeliveryMainConf>(cf->pool); }

char* init_main_conf(ngx_conf_t* cf, void* conf) {
    auto* mcf = static_cast<DeliveryMainConf*>(conf);
    for (DeliveryConf* dc : mcf->deliveries) {
        dc->zone = zone_lookup(cf, dc->zone_name, "webhook_delivery");
        if (dc->zone == nullptr) return static_cast<char*>(NGX_CONF_ERROR);
    }
    return NGX_CONF_OK;
}

void* create_srv_conf(ngx_conf_t* cf) { return ngx_pcalloc(cf->pool, sizeof(SrvConf)); }
void* create_loc_conf(ngx_conf_t* cf) { return ngx_pcalloc(cf->pool, sizeof(LocConf)); }

char* merge_loc_conf(ngx_conf_t* cf, void* parent, void* child) {
    auto* conf = static_cast<LocConf*>(child);
    auto* mcf = static_cast<DeliveryMainConf*>(ngx_http_conf_get_module_main_conf(cf, ngx_http_webhook_delivery_module));
    auto* clcf = static_cast<ngx_http_core_loc_conf_t*>(ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    if (conf->emits != nullptr) {
        for (Emit& e : *conf->emits) {
            if (e.zone == nullptr && (e.zone = zone_lookup(cf, e.zone_name, "webhook_emit")) == nullptr)
                return static_cast<char*>(NGX_CONF_ERROR);
            // Keep bodies up to max_payload in memory, where $request_body sees them.
            for (DeliveryConf* dc : mcf->deliveries) {
                if (dc->zone == e.zone && clcf->client_body_buffer_size < dc->max_payload)
                    clcf->client_body_buffer_size = dc->max_payload;
            }
        }
    }
    // Find the server that has each delivery location= (the first one, for an
    // http-level webhook_delivery; its own server for a server-level one).
    auto* cscf = static_cast<ngx_http_core_srv_conf_t*>(ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module));
    for (DeliveryConf* dc : mcf->deliveries) {
        if (dc->location_clcf != nullptr || clcf->named || clcf->regex != nullptr) continue;
        if (dc->server_level && dc->server_ctx != cscf->ctx) continue;
        std::string_view name = sv(clcf->name), uri = sv(dc->location);
        bool match = clcf->exact_match ? name == uri : (!name.empty() && uri.substr(0, name.size()) == name && name != "/");
        if (!match) continue;
        dc->location_clcf = clcf;
        dc->server_ctx = cscf->ctx;
    }
    return NGX_CONF_OK;
}

ngx_int_t postconfiguration(ngx_conf_t* cf) {
    auto* mcf = static_cast<DeliveryMainConf*>(ngx_http_conf_get_module_main_conf(cf, ngx_http_webhook_delivery_module));
    for (DeliveryConf* dc : mcf->deliveries) {
        if (dc->location_clcf == nullptr) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "webhook_delivery: no server has a location for location=%V",
                               &dc->location);
            return NGX_ERROR;
        }
    }
    auto* cmcf = static_cast<ngx_http_core_main_conf_t*>(ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module));
    auto* h = static_cast<ngx_http_handler_pt*>(ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers));
    if (h == nullptr) return NGX_ERROR;
    *h = callback<emit_handler>;
    next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = callback<body_filter>;
    return NGX_OK;
}

ngx_int_t init_process(ngx_cycle_t* cycle) {
    DeliveryMainConf* mcf = main_conf_of(cycle);
    if (mcf == nullptr) return NGX_OK;
    for (DeliveryConf* dc : mcf->deliveries)
        if (dispatcher_init_process(cycle, *dc) != NGX_OK) return NGX_ERROR;
    return NGX_OK;
}

void exit_process(ngx_cycle_t* cycle) {
    DeliveryMainConf* mcf = main_conf_of(cycle);
    if (mcf == nullptr) return;
    for (DeliveryConf* dc : mcf->deliveries) dispatcher_exit_process(*dc);
}

ngx_command_t commands[] = {
    {ngx_string("webhook_delivery"), NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_CONF_1MORE, callback<webhook_delivery, conf_failed>,
     NGX_HTTP_MAIN_CONF_OFFSET, 0, nullptr},
    {ngx_string("webhook_sign"), NGX_HTTP_MAIN_CONF | NGX_CONF_1MORE, callback<webhook_sign, conf_failed>, NGX_HTTP_MAIN_CONF_OFFSET, 0,
     nullptr},
    {ngx_string("webhook_event_type"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE123, callback<webhook_event_type, conf_failed>,
     NGX_HTTP_MAIN_CONF_OFFSET, 0, nullptr},
    {ngx_string("webhook_emit"), NGX_HTTP_LOC_CONF | NGX_CONF_1MORE, callback<webhook_emit, conf_failed>, NGX_HTTP_LOC_CONF_OFFSET, 0,
     nullptr},
    ngx_null_command,
};

ngx_http_module_t module_ctx = {
    callback<preconfiguration>,   /* preconfiguration */
    callback<postconfiguration>,  /* postconfiguration */
    callback<create_main_conf>,   /* create main configuration */
    callback<init_main_conf, conf_failed>,     /* init main configuration */
    callback<create_srv_conf>,    /* create server configuration */
    nullptr,            /* merge server configuration */
    callback<create_loc_conf>,    /* create location configuration */
    callback<merge_loc_conf, conf_failed>,     /* merge location configuration */
};

}  // namespace

// --- shared with the API and the dispatcher ------------------------------------------

namespace webhook::ngx {

size_t max_payload_for(ngx_conf_t* cf, Zone* zone) {
    auto* mcf = static_cast<DeliveryMainConf*>(ngx_http_conf_get_module_main_conf(cf, ngx_http_webhook_delivery_module));
    for (DeliveryConf* dc : mcf->deliveries) {
        const ngx_str_t& name = zone->shm->shm.name;
        bool same = dc->zone_name.len ? dc->zone_name.len == name.len && ngx_strncmp(dc->zone_name.data, name.data, name.len) == 0
                                      : zone_default(cf) == zone;
        if (same) return dc->max_payload;
    }
    return 0;
}

DeliveryConf* delivery_conf_for(Zone* zone) {
    DeliveryMainConf* mcf = main_conf_of(const_cast<ngx_cycle_t*>(ngx_cycle));
    if (mcf == nullptr) return nullptr;
    for (DeliveryConf* dc : mcf->deliveries)
        if (dc->zone == zone || (zone != nullptr && dc->zone != nullptr && dc->zone->shm == zone->shm)) return dc;
    return nullptr;
}

const SignConf& sign_conf() { return main_conf_of(const_cast<ngx_cycle_t*>(ngx_cycle))->sign; }
const std::vector<EventType>& event_types() { return main_conf_of(const_cast<ngx_cycle_t*>(ngx_cycle))->types; }

bool event_type_known(std::string_view f) {
    const auto& types = event_types();
    if (types.empty() || f == "*" || f == "webhook.test") return true;
    for (const EventType& t : types)
        if (event_matches(f, t.type) || t.type == f) return true;
    return false;
}

std::optional<ApiError> check_endpoint_url(const DeliveryConf& conf, std::string_view text) {
    auto parsed = parse_webhook_url(text, conf.allow_http);
    if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
    const Url& url = std::get<Url>(parsed);
    if (url.host_is_ip) {
        unsigned char addr[16];
        bool v6;
        parse_ip(url.host, addr, &v6);
        if (!conf.policy.permits(addr, v6))
            return unprocessable("url_not_allowed", "url points to a loopback, private or reserved address");
    } else if (!conf.policy.allow_private) {
        // localhost and its subdomains (RFC 6761), with or without the root dot.
        std::string lower(url.host);
        for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
        std::string_view host = lower;
        if (!host.empty() && host.back() == '.') host.remove_suffix(1);
        if (host == "localhost" || (host.size() > 10 && host.substr(host.size() - 10) == ".localhost"))
            return unprocessable("url_not_allowed", "url points to localhost");
    }
    return std::nullopt;
}

std::variant<Published, ApiError> publish_event(DeliveryConf& conf, std::string_view tenant, std::string_view type,
                                                std::string_view data_json, std::string_view idempotency_key,
                                                std::string_view only_endpoint) {
    Zone* zone = conf.zone;
    ngx_time_t* tp = ngx_timeofday();
    int64_t now_ms = static_cast<int64_t>(tp->sec) * 1000 + static_cast<int64_t>(tp->msec);
    std::string payload = build_payload(type, ngx_time(), data_json);
    if (payload.size() > conf.max_payload)
        return ApiError{413, "payload_too_large", "the event is larger than max_payload"};

    std::vector<std::string> targets;
    if (!only_endpoint.empty()) targets.emplace_back(only_endpoint);
    else targets = matching_endpoints(zone, tenant, type);

    Published p;
    p.event_id = "evt_" + random_base62(20);
    Json m(json_object());
    json_set_str(m.get(), "op", "event.put");
    json_set_str(m.get(), "id", p.event_id);
    json_set_str(m.get(), "tenant", tenant);
    json_set_str(m.get(), "type", type);
    json_set_str(m.get(), "payload", payload);
    json_object_set_new(m.get(), "created_at_ms", json_integer(now_ms));
    if (!idempotency_key.empty())
        json_set_str(m.get(), "idempotency", std::string(tenant) + "\x1f" + std::string(idempotency_key));
    json_t* list = json_array();
    for (const std::string& ep : targets) {
        json_t* d = json_object();
        json_set_str(d, "id", "dlv_" + random_base62(20));
        json_set_str(d, "endpoint", ep);
        json_array_append_new(list, d);
    }
    json_object_set_new(m.get(), "deliveries", list);
    p.deliveries = targets.size();
    Json undo(json_object());
    json_set_str(undo.get(), "op", "event.del");
    json_set_str(undo.get(), "id", p.event_id);
    if (!idempotency_key.empty())
        json_set_str(undo.get(), "idempotency", std::string(tenant) + "\x1f" + std::string(idempotency_key));
    p.undo = json_dump(undo.get());

    StateResult rc = state_apply(zone, m.get(), true, &p.seq, &p.record);
    switch (rc) {
    case StateResult::ok:
        return p;
    case StateResult::duplicate:
        // Another publish with this key won the race: its answer is the answer.
        if (auto prior = idempotent_answer(zone, tenant, idempotency_key, now_ms)) {
            Published first;
            first.event_id = prior->event_id;
            first.deliveries = prior->deliveries;
            return first;
        }
        return ApiError{409, "conflict", "an event with this Idempotency-Key is being published; retry"};
    case StateResult::backlog_full:
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "webhook_zone \"%V\": tenant \"%*s\" has too many deliveries pending (max_pending): an event was "
                      "refused", &zone->shm->shm.name, tenant.size(), tenant.data());
        return ApiError{429, "backlog_full",
                        "this tenant has too many deliveries pending (max_pending); retry once they are delivered"};
    case StateResult::zone_full:
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0, "webhook_zone \"%V\" is full: an event was refused",
                      &zone->shm->shm.name);
        return ApiError{507, "zone_full", "the shared memory zone is full"};
    default:
        return ApiError{500, "internal_error", "the event could not be stored"};
    }
}

void event_durable(DeliveryConf& conf, std::string_view event_id) {
    ngx_time_t* tp = ngx_timeofday();
    release_event(conf.zone, event_id, static_cast<int64_t>(tp->sec) * 1000 + tp->msec);
    dispatcher_wake(conf);
}

}  // namespace webhook::ngx

extern "C" {
ngx_module_t ngx_http_webhook_delivery_module = {
    NGX_MODULE_V1,
    &module_ctx,      /* module context */
    commands,         /* module directives */
    NGX_HTTP_MODULE,  /* module type */
    nullptr,          /* init master */
    nullptr,          /* init module */
    callback<init_process>,     /* init process */
    nullptr,          /* init thread */
    nullptr,          /* exit thread */
    callback<exit_process>,     /* exit process */
    nullptr,          /* exit master */
    NGX_MODULE_V1_PADDING,
};
}
