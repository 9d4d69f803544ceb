// Counters of the zone and their Prometheus rendering (webhook_status).
#pragma once

#include <string>

#include "ngx/webhook_zone.hpp"

namespace webhook::ngx {

constexpr size_t kLatencyBuckets = 12;

// Lock-free increments of the zone's counters.
void count(uint64_t& counter);
void observe_latency(ZoneShared* sh, int64_t ms);

struct QueueStats {
    uint64_t pending = 0, in_flight = 0, oldest_age_s = 0;
};

std::string status_text(Zone* zone, const QueueStats& queue);

}  // namespace webhook::ngx
