#include "core/store/records.hpp"

#include <array>
#include <cstring>

namespace webhook {

namespace {

// Slicing-by-8: t[0] is the byte-at-a-time table, t[k] a byte's CRC
// followed by k zero bytes, so eight bytes take one step (every journal
// record is summed when written and when read back).
using CrcTables = std::array<std::array<uint32_t, 256>, 8>;

CrcTables make_crc_tables() {
    CrcTables t{};
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0x82f63b78u ^ (c >> 1) : c >> 1;
        t[0][i] = c;
    }
    for (size_t k = 1; k < 8; k++)
        for (uint32_t i = 0; i < 256; i++) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xff];
    return t;
}

uint32_t load_le32(const unsigned char* p) {
    return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
           static_cast<uint32_t>(p[3]) << 24;
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
    static const CrcTables t = make_crc_tables();
    const auto* p = static_cast<const unsigned char*>(data);
    crc = ~crc;
    for (; len >= 8; p += 8, len -= 8) {
        uint32_t lo = crc ^ load_le32(p), hi = load_le32(p + 4);
        crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
              t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
    }
    for (; len > 0; p++, len--) crc = t[0][(crc ^ *p) & 0xff] ^ (crc >> 8);
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
