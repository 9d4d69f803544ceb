// ngx_http_webhook_module: `webhook_zone`, the shared zone every other part
// of the module keeps its state in (limit_req's pattern: created at parse
// time, reused on reload, bound by name from other directives), rebuilt from
// state=DIR at start.

#include "core/util/text.hpp"
#include "ngx/common/conf.hpp"
#include "ngx/store/fleet.hpp"
#include "ngx/store/journal.hpp"
#include "ngx/store/mutation_log.hpp"

using namespace webhook::ngx;

namespace {

// Deliveries one tenant may have unfinished (docs/directives.md#webhook_zone max_pending).
constexpr ngx_uint_t kDefaultMaxPending = 10000;
constexpr ngx_uint_t kDefaultMaxWebhooks = 20;
constexpr ngx_uint_t kDefaultMaxKeys = 20;
constexpr ngx_uint_t kDefaultLogSize = 100;
constexpr size_t kMinZonePages = 8;

// Empty strings may have no data at all (strncmp must not see a null pointer).
bool same(const ngx_str_t& a, const ngx_str_t& b) {
    return a.len == b.len && (a.len == 0 || ngx_strncmp(a.data, b.data, a.len) == 0);
}

// A zone's state= and store= for a log line (the store's URI may hold a
// password: only whether there is one).
std::string state_of(const Zone* zone) {
    std::string out = zone->state_dir.len == 0 ? "no state=" : "state=\"" + std::string(reinterpret_cast<const char*>(zone->state_dir.data), zone->state_dir.len) + "\"";
    if (zone->store_uri.len != 0) out += " with store=";
    return out;
}

// --- the zone in shared memory -------------------------------------------------------

ngx_int_t init_zone(ngx_shm_zone_t* shm_zone, void* data) {
    auto* zone = static_cast<Zone*>(shm_zone->data);
    auto* old = static_cast<Zone*>(data);

    if (old != nullptr) {
        // Reload with the same name and size: keep everything, the store
        // too. Another one (state= added, dropped or moved) would not hold
        // what the old workers still write, and is checked, locked and
        // loaded at start only: refused, the running configuration goes on.
        if (zone->store != old->store || !same(zone->state_dir, old->state_dir) ||
            !same(zone->store_uri, old->store_uri)) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "webhook_zone \"%V\": state= and store= change only with a restart (nginx -s stop, then "
                          "start), not a reload (now %s, running %s)", &zone->name(), state_of(zone).c_str(),
                          state_of(old).c_str());
            return NGX_ERROR;
        }
        zone->shpool = old->shpool;
        zone->sh = old->sh;
        return NGX_OK;
    }

    zone->shpool = reinterpret_cast<ngx_slab_pool_t*>(shm_zone->shm.addr);
    if (shm_zone->shm.exists) {
        zone->sh = static_cast<ZoneShared*>(zone->shpool->data);
        return NGX_OK;
    }

    static const char ctx_fmt[] = " in webhook_zone \"%V\"%Z";
    size_t len = sizeof(ctx_fmt) + shm_zone->shm.name.len;
    zone->shpool->log_ctx = static_cast<u_char*>(ngx_slab_alloc(zone->shpool, len));
    if (zone->shpool->log_ctx == nullptr) return NGX_ERROR;
    ngx_sprintf(zone->shpool->log_ctx, ctx_fmt, &shm_zone->shm.name);
    zone->shpool->log_nomem = 0;   // a full zone is reported by the module, once per refusal
    if (!zone_init_shared(zone)) return NGX_ERROR;

    // nginx -t: what start would find wrong with the store, without loading it.
    if (ngx_test_config) return zone->store->check != nullptr ? zone->store->check(zone, shm_zone->shm.log) : NGX_OK;
    return zone->store->load(zone, shm_zone->shm.log);
}

// --- webhook_zone zone=NAME:SIZE [state=DIR] [store=postgresql://…] [max_keys=N] [max_webhooks=N]
//                  [max_pending=N] [log=N] ------------------------------------------

struct ZoneArgs {
    Zone* zone;
    ngx_str_t name;
    ssize_t size;
};

template <ngx_uint_t Zone::*Member>
const char* set_zone_count(ngx_conf_t*, ZoneArgs* a, ngx_str_t v) {
    auto n = parse_count(v);
    if (!n) return "a positive number";
    a->zone->*Member = *n;
    return nullptr;
}

const Param<ZoneArgs> kZoneParams[] = {
    {"zone",
     [](ngx_conf_t*, ZoneArgs* a, ngx_str_t v) -> const char* {
         u_char* colon = static_cast<u_char*>(ngx_strlchr(v.data, v.data + v.len, ':'));
         if (colon == nullptr || colon == v.data) return "expected zone=NAME:SIZE";
         a->name = {static_cast<size_t>(colon - v.data), v.data};
         ngx_str_t size = {static_cast<size_t>(v.data + v.len - colon - 1), colon + 1};
         a->size = ngx_parse_size(&size);
         if (a->size == NGX_ERROR || a->size < static_cast<ssize_t>(kMinZonePages * ngx_pagesize))
             return "the size is invalid or below 8 pages";
         return nullptr;
     }},
    {"state",
     [](ngx_conf_t* cf, ZoneArgs* a, ngx_str_t v) -> const char* {
         if (v.len == 0) return "a directory is needed";
         a->zone->state_dir = v;
         if (ngx_conf_full_name(cf->cycle, &a->zone->state_dir, 0) != NGX_OK) return "cannot make the path absolute";
         // DIR/, DIR//: one directory.
         while (a->zone->state_dir.len > 1 && a->zone->state_dir.data[a->zone->state_dir.len - 1] == '/')
             a->zone->state_dir.len--;
         return nullptr;
     }},
    {"store",
     [](ngx_conf_t*, ZoneArgs* a, ngx_str_t v) -> const char* {
         std::string_view uri = sv(v);
         if (!webhook::starts_with(uri, "postgresql://") && !webhook::starts_with(uri, "postgres://"))
             return "a PostgreSQL connection URI is needed (postgresql://USER@HOST:PORT/DB)";
         a->zone->store_uri = v;
         return nullptr;
     }},
    {"max_webhooks", set_zone_count<&Zone::max_webhooks>},
    {"max_keys", set_zone_count<&Zone::max_keys>},
    {"max_pending", set_zone_count<&Zone::max_pending>},
    {"log", set_zone_count<&Zone::log_size>},
};

char* webhook_zone(ngx_conf_t* cf, ngx_command_t*, void* conf) {
    auto* mcf = static_cast<ZoneMainConf*>(conf);
    auto* zone = static_cast<Zone*>(ngx_pcalloc(cf->pool, sizeof(Zone)));
    if (zone == nullptr) return static_cast<char*>(NGX_CONF_ERROR);
    zone->max_webhooks = kDefaultMaxWebhooks;
    zone->max_keys = kDefaultMaxKeys;
    zone->max_pending = kDefaultMaxPending;
    zone->log_size = kDefaultLogSize;
    zone->cycle = cf->cycle;
    zone->store = &kMemoryStore;
    zone->site = conf_site(cf);

    ZoneArgs args{zone, ngx_null_string, 0};
    if (char* rv = parse_params(cf, &args, kZoneParams); rv != NGX_CONF_OK) return rv;
    if (args.name.len == 0) return conf_error(cf, "webhook_zone: the zone=NAME:SIZE parameter is required");

    Zone** zones = static_cast<Zone**>(mcf->zones.elts);
    for (ngx_uint_t i = 0; i < mcf->zones.nelts; i++) {
        Zone* other = zones[i];
        if (same(other->name(), args.name)) return conf_error(cf, "webhook_zone: duplicate zone \"%V\"", &args.name);
        // Journal files carry no zone name: two zones in one DIR would load
        // each other's keys and compact each other's journals away.
        if (zone->state_dir.len != 0 && same(other->state_dir, zone->state_dir))
            return conf_error(cf, "webhook_zone: zone \"%V\" has the same state=\"%V\" as zone \"%V\": each zone needs "
                              "its own directory", &args.name, &zone->state_dir, &other->name());
    }

    zone->shm = ngx_shared_memory_add(cf, &args.name, args.size, &ngx_http_webhook_module);
    if (zone->shm == nullptr) return static_cast<char*>(NGX_CONF_ERROR);
    if (zone->shm->data) return conf_error(cf, "webhook_zone: zone \"%V\" is already used by another directive", &args.name);
    zone->shm->init = callback<init_zone>;
    zone->shm->data = zone;

    Zone** slot = static_cast<Zone**>(ngx_array_push(&mcf->zones));
    if (slot == nullptr) return static_cast<char*>(NGX_CONF_ERROR);
    *slot = zone;

    if (zone->store_uri.len != 0) {
        // state= beside store=: DIR is imported into the store once.
        zone->store = &kFleetStore;
        return NGX_CONF_OK;
    }
    if (zone->state_dir.len == 0) {
        ngx_conf_log_error(NGX_LOG_NOTICE, cf, 0, "webhook_zone \"%V\" has no state=: its contents live in memory only",
                           &args.name);
        return NGX_CONF_OK;
    }
#if (NGX_THREADS)
    zone->store = &kJournalStore;
    zone->thread_pool = ngx_thread_pool_add(cf, nullptr);
    if (zone->thread_pool == nullptr) return static_cast<char*>(NGX_CONF_ERROR);
    return NGX_CONF_OK;
#else
    return conf_error(cf, "webhook_zone: state= needs NGINX built --with-threads");
#endif
}

void* create_main_conf(ngx_conf_t* cf) {
    auto* mcf = static_cast<ZoneMainConf*>(ngx_pcalloc(cf->pool, sizeof(ZoneMainConf)));
    if (mcf == nullptr) return nullptr;
    if (ngx_array_init(&mcf->zones, cf->pool, 2, sizeof(Zone*)) != NGX_OK) return nullptr;
    return mcf;
}

template <class Fn>
void for_each_zone(ngx_cycle_t* cycle, Fn&& fn) {
    auto* mcf = static_cast<ZoneMainConf*>(ngx_http_cycle_get_module_main_conf(cycle, ngx_http_webhook_module));
    if (mcf == nullptr) return;
    Zone** it = static_cast<Zone**>(mcf->zones.elts);
    for (ngx_uint_t i = 0; i < mcf->zones.nelts; i++) fn(it[i]);
}

ngx_int_t init_process(ngx_cycle_t* cycle) {
    ngx_int_t rc = NGX_OK;
    for_each_zone(cycle, [&](Zone* zone) {
        if (rc == NGX_OK) rc = zone->store->init_process(cycle, zone);
    });
    return rc;
}

void exit_process(ngx_cycle_t* cycle) {
    for_each_zone(cycle, [](Zone* zone) { zone->store->exit_process(zone); });
}

ngx_command_t commands[] = {
    {ngx_string("webhook_zone"), NGX_HTTP_MAIN_CONF | NGX_CONF_1MORE, callback<webhook_zone, conf_failed>,
     NGX_HTTP_MAIN_CONF_OFFSET, 0, nullptr},
    ngx_null_command,
};

ngx_http_module_t module_ctx = {
    nullptr,                      /* preconfiguration */
    nullptr,                      /* postconfiguration */
    callback<create_main_conf>,   /* create main configuration */
    nullptr,                      /* init main configuration */
    nullptr,                      /* create server configuration */
    nullptr,                      /* merge server configuration */
    nullptr,                      /* create location configuration */
    nullptr,                      /* merge location configuration */
};

}  // namespace

extern "C" {
ngx_module_t ngx_http_webhook_module = http_module(&module_ctx, commands, callback<init_process>, callback<exit_process>);
}
