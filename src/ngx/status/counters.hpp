// The zone's counters (lock-free increments from any worker) and their
// Prometheus rendering for webhook_status (README.md#webhook_status).
#pragma once

#include <string>

#include "core/verify/signature.hpp"
#include "ngx/deliver/deliver_store.hpp"
#include "ngx/store/zone.hpp"

namespace webhook::ngx {

constexpr size_t kLatencyBuckets = 12;

enum class KeyCheckResult { ok, refused };
constexpr size_t kKeyCheckResults = 2;

struct Counters {
    uint64_t verifications[kVerdictCount];   // by Verdict
    uint64_t key_checks[kKeyCheckResults];   // by KeyCheckResult
    uint64_t events_published;
    uint64_t attempts_succeeded, attempts_failed;
    uint64_t latency_buckets[kLatencyBuckets];
    uint64_t latency_sum_ms, latency_count;
};

// Its part of a new zone (zone_init_shared): the size, and its setup in
// zeroed memory of that size.
size_t counters_shared_size();
void counters_init_shared(Zone* zone, void* mem);

void count_verification(Zone* zone, Verdict v);
void count_key_check(Zone* zone, KeyCheckResult r);
void count_event_published(Zone* zone);
// An attempt's outcome and how long it took.
void count_attempt(Zone* zone, bool succeeded, int64_t ms);

std::string status_text(Zone* zone, const QueueStats& queue);

}  // namespace webhook::ngx
