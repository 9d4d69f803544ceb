#include "core/store/records.hpp"

#include <array>
#include <cstring>

namespace webhook {

namespace {

std::array<uint32_t, 256> make_crc_table() {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0x82f63b78u ^ (c >> 1) : c >> 1;
        t[i] = c;
    }
    return t;
}

void put_u32(std::string& out, uint32_t v) {
    for (int i = 0; i < 4; i++) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_u64(std::string& out, uint64_t v) {
    for (int i = 0; i < 8; i++) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t get_le(const char* p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}

uint32_t record_crc(uint64_t seq, std::string_view payload) {
    std::string seq_bytes;
    put_u64(seq_bytes, seq);
    return crc32c(payload.data(), payload.size(), crc32c(seq_bytes.data(), seq_bytes.size()));
}

}  // namespace

uint32_t crc32c(const void* data, size_t len, uint32_t crc) {
    static const std::array<uint32_t, 256> table = make_crc_table();
    const auto* p = static_cast<const unsigned char*>(data);
    crc = ~crc;
    for (size_t i = 0; i < len; i++) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

std::string journal_encode(uint64_t seq, std::string_view payload) {
    std::string out;
    out.reserve(kJournalHeader + payload.size());
    put_u32(out, kJournalMagic);
    put_u32(out, static_cast<uint32_t>(payload.size()));
    put_u64(out, seq);
    put_u32(out, record_crc(seq, payload));
    out.append(payload);
    return out;
}

JournalScan journal_decode(std::string_view file) {
    JournalScan scan;
    size_t pos = 0;
    bool in_gap = false;
    while (pos < file.size()) {
        const char* h = file.data() + pos;
        size_t left = file.size() - pos;
        bool good = false;
        uint64_t len = 0;
        if (left >= kJournalHeader && get_le(h, 4) == kJournalMagic) {
            len = get_le(h + 4, 4);
            if (len <= kJournalMaxPayload && left - kJournalHeader >= len) {
                uint64_t seq = get_le(h + 8, 8);
                std::string_view payload = file.substr(pos + kJournalHeader, len);
                if (record_crc(seq, payload) == static_cast<uint32_t>(get_le(h + 16, 4))) {
                    scan.records.push_back({seq, std::string(payload)});
                    good = true;
                }
            }
        }
        if (good) {
            pos += kJournalHeader + len;
            in_gap = false;
            continue;
        }
        // Skip one byte and look for the next record that checks out.
        scan.dropped_bytes++;
        pos++;
        in_gap = true;
    }
    scan.torn_tail = in_gap;
    return scan;
}

}  // namespace webhook
