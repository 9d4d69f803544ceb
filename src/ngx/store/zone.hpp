// The shared-memory zone of `webhook_zone`: one slab, visible to every
// worker, kept across reloads. Each capability keeps its own shared struct
// in it (as limit_req keeps its shctx), allocated and initialised by the
// file that owns it; ZoneShared only points at them.
#pragma once

#include "ngx/common/conf.hpp"

namespace webhook::ngx {

struct LogShared;       // store/mutation_log: sequence numbers, journal bookkeeping
struct TenantsShared;   // store/tenants: per-tenant plan limits and counts
struct KeysShared;      // keys/key_store: API keys
struct DeliverShared;   // deliver/deliver_store: endpoints, events, deliveries
struct ReplayShared;    // verify/replay_cache: message ids seen
struct Counters;        // status/counters: what webhook_status shows

struct ZoneShared {
    LogShared* log;
    TenantsShared* tenants;
    KeysShared* keys;
    DeliverShared* deliver;
    ReplayShared* replay;
    Counters* counters;
};

struct DeliveryConf;
struct StoreOps;
struct Journal;
struct Compaction;
struct Fleet;

// Per-configuration part (one per webhook_zone line).
struct Zone {
    ngx_shm_zone_t* shm;
    ngx_slab_pool_t* shpool;
    ZoneShared* sh;
    const StoreOps* store;            // where changes are made durable
    ngx_str_t state_dir;              // the journal store's directory (with store=: imported once)
    ngx_str_t store_uri;              // store=: the fleet's PostgreSQL
    ngx_uint_t max_webhooks;          // per tenant (plan limit defaults)
    ngx_uint_t max_keys;
    ngx_uint_t max_pending;           // deliveries not finished
    ngx_uint_t log_size;              // deliveries kept per endpoint
    ngx_cycle_t* cycle;               // the cycle this configuration belongs to
    ngx_thread_pool_t* thread_pool;   // fsync and compaction, with state=
    DeliveryConf* delivery;           // the webhook_delivery serving it, if any
    Journal* journal;                 // the journal store: this worker's writer
    Compaction* compaction;           //   and worker 0's compaction
    Fleet* fleet;                     // the fleet store: this worker's connection
    ConfSite site;                    // the webhook_zone directive
    bool api_served;                  // a webhook_api location serves it (their merge sets these)
    bool api_admin_key;               //   one of them with admin_key=

    const ngx_str_t& name() const { return shm->shm.name; }
};

// The zones of the configuration (ngx_http_webhook_module's main conf).
struct ZoneMainConf {
    ngx_array_t zones;   // of Zone*
};

// `zone=NAME` of another directive, bound when the directive is parsed (as
// limit_req binds its zone): `shm` is the named zone, nullptr for "the only
// webhook_zone of the configuration".
struct ZoneRef {
    ngx_shm_zone_t* shm = nullptr;
};

// Parse time: binds NAME (empty: the only zone, decided later).
bool zone_ref_bind(ngx_conf_t* cf, ngx_str_t name, ZoneRef* ref);
// The zone= parameter of a directive (a Param<T> setter, see common/conf.hpp).
template <class T, ZoneRef T::*Member>
const char* set_zone_param(ngx_conf_t* cf, T* conf, ngx_str_t value) {
    if ((conf->*Member).shm != nullptr) return "given twice";
    return zone_ref_bind(cf, value, &(conf->*Member)) ? nullptr : "cannot bind the zone";
}
// After the http{} block is parsed (merge, init, postconfiguration): the
// zone, or nullptr after logging what is wrong, naming the directive and
// pointing at where it was written.
Zone* zone_resolve(ngx_conf_t* cf, const ZoneRef& ref, const char* directive, const ConfSite& site);
// The same, logging nothing.
Zone* zone_resolve(ngx_conf_t* cf, const ZoneRef& ref);

}  // namespace webhook::ngx
