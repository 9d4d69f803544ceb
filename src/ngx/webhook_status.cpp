// webhook_status: the zone's counters and gauges in Prometheus text format
// (SPEC §7).

#include <string>

#include "ngx/webhook_status.hpp"

namespace webhook::ngx {

namespace {

constexpr double kLatencyBounds[kLatencyBuckets - 1] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
const char* const kLatencyLabels[kLatencyBuckets] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                                                     "0.5",   "1",    "2.5",   "5",    "10",  "+Inf"};
const char* const kVerifyResults[] = {"ok", "missing_signature", "malformed_signature", "bad_signature",
                                      "timestamp_out_of_tolerance", "replayed"};

uint64_t load(const uint64_t& v) { return __atomic_load_n(&v, __ATOMIC_RELAXED); }

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

void count(uint64_t& counter) { __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED); }

void observe_latency(ZoneShared* sh, int64_t ms) {
    size_t i = 0;
    while (i < kLatencyBuckets - 1 && ms > kLatencyBounds[i] * 1000) i++;
    count(sh->latency_buckets[i]);
    __atomic_fetch_add(&sh->latency_sum_ms, static_cast<uint64_t>(ms < 0 ? 0 : ms), __ATOMIC_RELAXED);
    count(sh->latency_count);
}

std::string status_text(Zone* zone, const QueueStats& q) {
    ZoneShared* sh = zone->sh;
    std::string out;
    std::string zl = "zone=\"" + std::string((const char*) zone->shm->shm.name.data, zone->shm->shm.name.len) + "\"";

    metric(out, "webhook_verifications_total", "counter", "Incoming webhook verifications by result.");
    for (size_t i = 0; i < sizeof(kVerifyResults) / sizeof(kVerifyResults[0]); i++)
        sample(out, "webhook_verifications_total", zl + ",result=\"" + kVerifyResults[i] + "\"", load(sh->verify_results[i]));
    metric(out, "webhook_key_checks_total", "counter", "API key checks by result.");
    sample(out, "webhook_key_checks_total", zl + ",result=\"ok\"", load(sh->key_checks_ok));
    sample(out, "webhook_key_checks_total", zl + ",result=\"refused\"", load(sh->key_checks_refused));
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
    sample(out, "webhook_keys", zl, sh->key_count);
    return out;
}

}  // namespace webhook::ngx
