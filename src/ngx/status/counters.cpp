// webhook_status: the zone's counters and gauges in Prometheus text format
// (docs/directives.md#webhook_status).

#include <string>

#include "ngx/status/counters.hpp"

#include "ngx/store/fleet.hpp"
#include "ngx/keys/key_store.hpp"

namespace webhook::ngx {

namespace {

constexpr double kLatencyBounds[kLatencyBuckets - 1] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
const char* const kLatencyLabels[kLatencyBuckets] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                                                     "0.5",   "1",    "2.5",   "5",    "10",  "+Inf"};

uint64_t load(const uint64_t& v) { return __atomic_load_n(&v, __ATOMIC_RELAXED); }

void count(uint64_t& counter) { __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED); }

void observe_latency(Counters* c, int64_t ms) {
    size_t i = 0;
    while (i < kLatencyBuckets - 1 && ms > kLatencyBounds[i] * 1000) i++;
    count(c->latency_buckets[i]);
    __atomic_fetch_add(&c->latency_sum_ms, static_cast<uint64_t>(ms < 0 ? 0 : ms), __ATOMIC_RELAXED);
    count(c->latency_count);
}

void metric(std::string& out, const char* name, const char* type, const char* help) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ").append(name).append(" ")
        .append(type).append("\n");
}

void sample(std::string& out, const char* name, const std::string& labels, uint64_t value) {
    out.append(name);
    if (!labels.empty()) out.append("{").append(labels).append("}");
    out.append(" ").append(std::to_string(value)).append("\n");
}

}  // namespace

std::string_view key_check_code(KeyCheckResult r) {
    switch (r) {
    case KeyCheckResult::ok: return "ok";
    case KeyCheckResult::missing_api_key: return "missing_api_key";
    case KeyCheckResult::invalid_api_key: return "invalid_api_key";
    case KeyCheckResult::insufficient_scope: return "insufficient_scope";
    case KeyCheckResult::forbidden_resource: return "forbidden_resource";
    case KeyCheckResult::store_unavailable: break;
    }
    return "store_unavailable";
}

size_t counters_shared_size() { return sizeof(Counters); }

void counters_init_shared(Zone* zone, void* mem) { zone->sh->counters = new (mem) Counters(); }

void count_verification(Zone* zone, Verdict v) { count(zone->sh->counters->verifications[static_cast<size_t>(v)]); }

void count_key_check(Zone* zone, KeyCheckResult r) { count(zone->sh->counters->key_checks[static_cast<size_t>(r)]); }

void count_event_published(Zone* zone) { count(zone->sh->counters->events_published); }

void count_attempt(Zone* zone, bool succeeded, int64_t ms) {
    Counters* c = zone->sh->counters;
    count(succeeded ? c->attempts_succeeded : c->attempts_failed);
    observe_latency(c, ms);
}

std::string status_text(Zone* zone, const QueueStats& q) {
    const Counters* sh = zone->sh->counters;
    std::string out;
    std::string zl = "zone=\"" + std::string(sv(zone->name())) + "\"";

    metric(out, "webhook_verifications_total", "counter", "Incoming webhook verifications by result.");
    for (size_t i = 0; i < kVerdictCount; i++)
        sample(out, "webhook_verifications_total", zl + ",result=\"" + std::string(verdict_code(static_cast<Verdict>(i))) + "\"",
               load(sh->verifications[i]));
    metric(out, "webhook_key_checks_total", "counter", "API key checks by result.");
    for (size_t i = 0; i < kKeyCheckResults; i++)
        sample(out, "webhook_key_checks_total",
               zl + ",result=\"" + std::string(key_check_code(static_cast<KeyCheckResult>(i))) + "\"",
               load(sh->key_checks[i]));
    metric(out, "webhook_events_published_total", "counter", "Events published.");
    sample(out, "webhook_events_published_total", zl, load(sh->events_published));
    metric(out, "webhook_attempts_total", "counter", "Delivery attempts by outcome.");
    sample(out, "webhook_attempts_total", zl + ",outcome=\"succeeded\"", load(sh->attempts_succeeded));
    sample(out, "webhook_attempts_total", zl + ",outcome=\"failed\"", load(sh->attempts_failed));
    metric(out, "webhook_queue_depth", "gauge", "Deliveries pending (queued or in flight).");
    sample(out, "webhook_queue_depth", zl, q.pending);
    metric(out, "webhook_in_flight", "gauge", "Attempts in flight.");
    sample(out, "webhook_in_flight", zl, q.in_flight);
    metric(out, "webhook_oldest_pending_age_seconds", "gauge", "Age of the oldest pending delivery.");
    sample(out, "webhook_oldest_pending_age_seconds", zl, q.oldest_age_s);

    metric(out, "webhook_attempt_duration_seconds", "histogram", "Delivery attempt latency.");
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kLatencyBuckets; i++) {
        cumulative += load(sh->latency_buckets[i]);
        sample(out, "webhook_attempt_duration_seconds_bucket", zl + ",le=\"" + kLatencyLabels[i] + "\"", cumulative);
    }
    out.append("webhook_attempt_duration_seconds_sum{").append(zl).append("} ")
        .append(std::to_string(static_cast<double>(load(sh->latency_sum_ms)) / 1000.0)).append("\n");
    sample(out, "webhook_attempt_duration_seconds_count", zl, load(sh->latency_count));

    size_t total = zone->shpool->end - zone->shpool->start;
    size_t free_bytes = zone->shpool->pfree * ngx_pagesize;
    metric(out, "webhook_zone_bytes", "gauge", "Shared memory zone size by state.");
    sample(out, "webhook_zone_bytes", zl + ",state=\"used\"", total - free_bytes);
    sample(out, "webhook_zone_bytes", zl + ",state=\"free\"", free_bytes);
    metric(out, "webhook_keys", "gauge", "API keys stored.");
    sample(out, "webhook_keys", zl, key_count(zone));

    // store=: this node's view of the fleet's store (labelled with the node:
    // the queue figures above are fleet-wide, in-flight and counters this node's).
    if (auto fs = fleet_status(zone)) {
        std::string nl = zl + ",node=\"" + fs->node + "\"";
        metric(out, "webhook_store_up", "gauge", "The store (webhook_zone store=) answered in the last 3 s.");
        sample(out, "webhook_store_up", nl, fs->reachable ? 1 : 0);
        metric(out, "webhook_store_in_step", "gauge", "This node applied every change of the store it saw (the API answers).");
        sample(out, "webhook_store_in_step", nl, fs->in_step ? 1 : 0);
        metric(out, "webhook_store_changes_applied", "gauge", "The store's last change applied on this node.");
        sample(out, "webhook_store_changes_applied", nl, fs->applied);
        metric(out, "webhook_store_changes_behind", "gauge", "Changes of the store not yet applied on this node.");
        sample(out, "webhook_store_changes_behind", nl, fs->head > fs->applied ? fs->head - fs->applied : 0);
    }
    return out;
}

}  // namespace webhook::ngx
