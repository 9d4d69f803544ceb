// ngx_http_webhook_module: the `webhook_zone` directive and the shared zone
// every other part of the module stores its state in.

#include "ngx/webhook_deliveries.hpp"
#include "ngx/webhook_journal.hpp"
#include "ngx/webhook_status.hpp"
#include "ngx/webhook_zone.hpp"

using namespace webhook::ngx;

// Deliveries one tenant may have unfinished (SPEC §2 max_pending).
constexpr ngx_uint_t kDefaultMaxPending = 10000;

static void* ngx_http_webhook_create_main_conf(ngx_conf_t* cf);
static char* ngx_http_webhook_zone(ngx_conf_t* cf, ngx_command_t* cmd, void* conf);
static ngx_int_t ngx_http_webhook_init_process(ngx_cycle_t* cycle);
static void ngx_http_webhook_exit_process(ngx_cycle_t* cycle);
static char* ngx_http_webhook_status(ngx_conf_t* cf, ngx_command_t* cmd, void* conf);
static void* ngx_http_webhook_create_loc_conf(ngx_conf_t* cf);

struct StatusConf {
    bool enabled;
    ngx_str_t zone_name;
    Zone* zone;
};
static char* ngx_http_webhook_merge_loc_conf(ngx_conf_t* cf, void* parent, void* child);
extern ngx_int_t ngx_http_webhook_init_zone(ngx_shm_zone_t* shm_zone, void* data);

static ngx_command_t ngx_http_webhook_commands[] = {
    {ngx_string("webhook_zone"), NGX_HTTP_MAIN_CONF | NGX_CONF_1MORE, callback<ngx_http_webhook_zone, conf_failed>,
     NGX_HTTP_MAIN_CONF_OFFSET, 0, nullptr},
    {ngx_string("webhook_status"), NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS | NGX_CONF_TAKE1, callback<ngx_http_webhook_status, conf_failed>,
     NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    ngx_null_command,
};

static ngx_http_module_t ngx_http_webhook_module_ctx = {
    nullptr,                            /* preconfiguration */
    nullptr,                            /* postconfiguration */
    callback<ngx_http_webhook_create_main_conf>,  /* create main configuration */
    nullptr,                            /* init main configuration */
    nullptr,                            /* create server configuration */
    nullptr,                            /* merge server configuration */
    callback<ngx_http_webhook_create_loc_conf>,   /* create location configuration */
    callback<ngx_http_webhook_merge_loc_conf, conf_failed>,    /* merge location configuration */
};

extern "C" {
ngx_module_t ngx_http_webhook_module = {
    NGX_MODULE_V1,
    &ngx_http_webhook_module_ctx,  /* module context */
    ngx_http_webhook_commands,     /* module directives */
    NGX_HTTP_MODULE,               /* module type */
    nullptr,                       /* init master */
    nullptr,                       /* init module */
    callback<ngx_http_webhook_init_process>, /* init process */
    nullptr,                       /* init thread */
    nullptr,                       /* exit thread */
    callback<ngx_http_webhook_exit_process>, /* exit process */
    nullptr,                       /* exit master */
    NGX_MODULE_V1_PADDING,
};
}

static void* ngx_http_webhook_create_main_conf(ngx_conf_t* cf) {
    auto* mcf = static_cast<MainConf*>(ngx_pcalloc(cf->pool, sizeof(MainConf)));
    if (mcf == nullptr) return nullptr;
    if (ngx_array_init(&mcf->zones, cf->pool, 2, sizeof(Zone*)) != NGX_OK) return nullptr;
    return mcf;
}

// Parses "N" of a count parameter; NGX_ERROR when it is not a positive number.
static ngx_int_t parse_count(ngx_str_t value, size_t skip) {
    return ngx_atoi(value.data + skip, value.len - skip);
}

static char* ngx_http_webhook_zone(ngx_conf_t* cf, ngx_command_t* cmd, void* conf) {
    auto* mcf = static_cast<MainConf*>(conf);
    auto* value = static_cast<ngx_str_t*>(cf->args->elts);

    auto* zone = static_cast<Zone*>(ngx_pcalloc(cf->pool, sizeof(Zone)));
    if (zone == nullptr) return static_cast<char*>(NGX_CONF_ERROR);
    zone->max_webhooks = 20;
    zone->max_keys = 20;
    zone->max_pending = kDefaultMaxPending;
    zone->log_size = 100;
    zone->cycle = cf->cycle;

    ngx_str_t name = ngx_null_string;
    ssize_t size = 0;

    for (ngx_uint_t i = 1; i < cf->args->nelts; i++) {
        ngx_str_t v = value[i];
        if (ngx_strncmp(v.data, "zone=", 5) == 0) {
            u_char* colon = (u_char*) ngx_strchr(v.data + 5, ':');
            if (colon == nullptr || colon == v.data + 5) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "webhook_zone: invalid zone=\"%V\", expected zone=NAME:SIZE", &v);
                return static_cast<char*>(NGX_CONF_ERROR);
            }
            name.data = v.data + 5;
            name.len = colon - name.data;
            ngx_str_t s = {static_cast<size_t>(v.data + v.len - colon - 1), colon + 1};
            size = ngx_parse_size(&s);
            if (size == NGX_ERROR || size < static_cast<ssize_t>(8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "webhook_zone: zone size in \"%V\" is invalid or below %uz", &v,
                                   8 * ngx_pagesize);
                return static_cast<char*>(NGX_CONF_ERROR);
            }
        } else if (ngx_strncmp(v.data, "state=", 6) == 0 && v.len > 6) {
            zone->state_dir = {v.len - 6, v.data + 6};
            if (ngx_conf_full_name(cf->cycle, &zone->state_dir, 0) != NGX_OK) return static_cast<char*>(NGX_CONF_ERROR);
        } else if (ngx_strncmp(v.data, "max_webhooks=", 13) == 0) {
            ngx_int_t n = parse_count(v, 13);
            if (n <= 0) goto invalid;
            zone->max_webhooks = n;
        } else if (ngx_strncmp(v.data, "max_pending=", 12) == 0) {
            ngx_int_t n = parse_count(v, 12);
            if (n <= 0) goto invalid;
            zone->max_pending = n;
        } else if (ngx_strncmp(v.data, "max_keys=", 9) == 0) {
            ngx_int_t n = parse_count(v, 9);
            if (n <= 0) goto invalid;
            zone->max_keys = n;
        } else if (ngx_strncmp(v.data, "log=", 4) == 0) {
            ngx_int_t n = parse_count(v, 4);
            if (n <= 0) goto invalid;
            zone->log_size = n;
        } else {
            goto invalid;
        }
        continue;
    invalid:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "webhook_zone: invalid parameter \"%V\"", &v);
        return static_cast<char*>(NGX_CONF_ERROR);
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "webhook_zone: the zone=NAME:SIZE parameter is required");
        return static_cast<char*>(NGX_CONF_ERROR);
    }

    // DIR/, DIR//: one directory.
    while (zone->state_dir.len > 1 && zone->state_dir.data[zone->state_dir.len - 1] == '/') zone->state_dir.len--;
    Zone** it = static_cast<Zone**>(mcf->zones.elts);
    for (ngx_uint_t i = 0; i < mcf->zones.nelts; i++) {
        if (it[i]->shm->shm.name.len == name.len && ngx_strncmp(it[i]->shm->shm.name.data, name.data, name.len) == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "webhook_zone: duplicate zone \"%V\"", &name);
            return static_cast<char*>(NGX_CONF_ERROR);
        }
        // Journal files carry no zone name: two zones in one DIR would load
        // each other's keys and compact each other's journals away.
        const ngx_str_t& dir = it[i]->state_dir;
        if (dir.len != 0 && dir.len == zone->state_dir.len && ngx_strncmp(dir.data, zone->state_dir.data, dir.len) == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "webhook_zone: zone \"%V\" has the same state=\"%V\" as zone \"%V\": each zone needs "
                               "its own directory",
                               &name, &zone->state_dir, &it[i]->shm->shm.name);
            return static_cast<char*>(NGX_CONF_ERROR);
        }
    }

    zone->shm = ngx_shared_memory_add(cf, &name, size, &ngx_http_webhook_module);
    if (zone->shm == nullptr) return static_cast<char*>(NGX_CONF_ERROR);
    if (zone->shm->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "webhook_zone: zone \"%V\" is already used by another directive", &name);
        return static_cast<char*>(NGX_CONF_ERROR);
    }
    zone->shm->init = callback<ngx_http_webhook_init_zone>;
    zone->shm->data = zone;

    Zone** slot = static_cast<Zone**>(ngx_array_push(&mcf->zones));
    if (slot == nullptr) return static_cast<char*>(NGX_CONF_ERROR);
    *slot = zone;

    if (zone->state_dir.len != 0) {
#if (NGX_THREADS)
        zone->thread_pool = ngx_thread_pool_add(cf, nullptr);
        if (zone->thread_pool == nullptr) return static_cast<char*>(NGX_CONF_ERROR);
#else
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "webhook_zone: state= needs NGINX built --with-threads");
        return static_cast<char*>(NGX_CONF_ERROR);
#endif
    } else {
        ngx_conf_log_error(NGX_LOG_NOTICE, cf, 0, "webhook_zone \"%V\" has no state=: its contents live in memory only", &name);
    }
    return NGX_CONF_OK;
}

Zone* webhook::ngx::zone_lookup(ngx_conf_t* cf, ngx_str_t name, const char* directive) {
    auto* mcf = static_cast<MainConf*>(ngx_http_conf_get_module_main_conf(cf, ngx_http_webhook_module));
    Zone** it = static_cast<Zone**>(mcf->zones.elts);
    if (name.len == 0) {
        if (mcf->zones.nelts == 1) return it[0];
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s: zone=NAME is needed: the configuration has %ui webhook_zone directives", directive,
                           mcf->zones.nelts);
        return nullptr;
    }
    for (ngx_uint_t i = 0; i < mcf->zones.nelts; i++) {
        ngx_str_t& n = it[i]->shm->shm.name;
        if (n.len == name.len && ngx_strncmp(n.data, name.data, name.len) == 0) return it[i];
    }
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s: unknown webhook_zone \"%V\"", directive, &name);
    return nullptr;
}

static ngx_int_t ngx_http_webhook_init_process(ngx_cycle_t* cycle) {
    auto* mcf = static_cast<MainConf*>(ngx_http_cycle_get_module_main_conf(cycle, ngx_http_webhook_module));
    if (mcf == nullptr) return NGX_OK;
    Zone** it = static_cast<Zone**>(mcf->zones.elts);
    for (ngx_uint_t i = 0; i < mcf->zones.nelts; i++) {
        if (journal_init_process(cycle, it[i]) != NGX_OK) return NGX_ERROR;
    }
    return NGX_OK;
}

static void ngx_http_webhook_exit_process(ngx_cycle_t* cycle) {
    auto* mcf = static_cast<MainConf*>(ngx_http_cycle_get_module_main_conf(cycle, ngx_http_webhook_module));
    if (mcf == nullptr) return;
    Zone** it = static_cast<Zone**>(mcf->zones.elts);
    for (ngx_uint_t i = 0; i < mcf->zones.nelts; i++) journal_exit_process(it[i]);
}

Zone* webhook::ngx::zone_default(ngx_conf_t* cf) {
    auto* mcf = static_cast<MainConf*>(ngx_http_conf_get_module_main_conf(cf, ngx_http_webhook_module));
    return mcf->zones.nelts == 1 ? static_cast<Zone**>(mcf->zones.elts)[0] : nullptr;
}

static void* ngx_http_webhook_create_loc_conf(ngx_conf_t* cf) { return ngx_pcalloc(cf->pool, sizeof(StatusConf)); }

static ngx_int_t ngx_http_webhook_status_handler(ngx_http_request_t* r) {
    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) return NGX_HTTP_NOT_ALLOWED;
    if (ngx_http_discard_request_body(r) != NGX_OK) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    auto* conf = static_cast<StatusConf*>(ngx_http_get_module_loc_conf(r, ngx_http_webhook_module));
    return guarded(r->connection->log, static_cast<ngx_int_t>(NGX_HTTP_INTERNAL_SERVER_ERROR), [&]() -> ngx_int_t {
        ngx_time_t* tp = ngx_timeofday();
        QueueStats q;
        queue_stats(conf->zone, static_cast<int64_t>(tp->sec) * 1000 + tp->msec, &q);
        std::string body = status_text(conf->zone, q);
        return send_body(r, NGX_HTTP_OK, "text/plain; version=0.0.4", body);
    });
}

static char* ngx_http_webhook_status(ngx_conf_t* cf, ngx_command_t*, void* c) {
    auto* conf = static_cast<StatusConf*>(c);
    auto* value = static_cast<ngx_str_t*>(cf->args->elts);
    if (conf->enabled) return const_cast<char*>("is duplicate");
    conf->enabled = true;
    ngx_str_t name = ngx_null_string;
    if (cf->args->nelts == 2) {
        if (value[1].len <= 5 || ngx_strncmp(value[1].data, "zone=", 5) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "webhook_status: invalid parameter \"%V\"", &value[1]);
            return static_cast<char*>(NGX_CONF_ERROR);
        }
        name = {value[1].len - 5, value[1].data + 5};
    }
    conf->zone_name = name;   // resolved at merge: webhook_zone may come later in the file
    auto* clcf = static_cast<ngx_http_core_loc_conf_t*>(ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    clcf->handler = callback<ngx_http_webhook_status_handler, http_failed>;
    return NGX_CONF_OK;
}

static char* ngx_http_webhook_merge_loc_conf(ngx_conf_t* cf, void*, void* child) {
    auto* conf = static_cast<StatusConf*>(child);
    if (conf->enabled && conf->zone == nullptr) {
        conf->zone = zone_lookup(cf, conf->zone_name, "webhook_status");
        if (conf->zone == nullptr) return static_cast<char*>(NGX_CONF_ERROR);
    }
    return NGX_CONF_OK;
}
