// The on-disk format of the state directory: a sequence of self-checking
// records, used alike by the journal files and the snapshot.
//
//   u32 magic "WHJ1" | u32 payload length | u64 sequence | u32 CRC-32C of
//   (sequence, payload) | payload (a JSON mutation)
//
// A record that is short or fails its check is dropped: the reader looks for
// the next record that checks out (corruption in the middle loses only the
// damaged record); a torn tail (crash during a write) has none.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace webhook {

constexpr uint32_t kJournalMagic = 0x314a4857;  // "WHJ1" little-endian
constexpr size_t kJournalHeader = 20;
constexpr uint32_t kJournalMaxPayload = 16u << 20;

uint32_t crc32c(const void* data, size_t len, uint32_t crc = 0);

struct JournalRecord {
    uint64_t seq;
    std::string payload;
};

std::string journal_encode(uint64_t seq, std::string_view payload);

struct JournalScan {
    std::vector<JournalRecord> records;
    size_t dropped_bytes = 0;   // bytes that were not part of a good record
    bool torn_tail = false;     // the file ends in a partial or bad record
};

JournalScan journal_decode(std::string_view file);

}  // namespace webhook
