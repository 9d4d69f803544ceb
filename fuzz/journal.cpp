// Fuzz target: the state directory's record format (core/store/records.hpp).
//
// Input: the bytes of a journal or snapshot file, as read from disk.
//
// Checks:
//  1. journal_decode of the file never crashes; every byte is accounted for
//     (records' headers + payloads + dropped_bytes = file size); a file with
//     nothing dropped has no torn tail; re-encoding what was read decodes to
//     the same records with nothing dropped.
//  2. Round trip: records (those just decoded plus some cut from the input)
//     are encoded with journal_encode and interleaved with garbage cut from
//     the input (with any "WHJ1" magic defused, so no record can start inside
//     it); decoding gives back exactly those records, in order, with exactly
//     the garbage dropped and a torn tail only when garbage ends the file.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/store/records.hpp"
#include "fuzz_util.hpp"

using namespace webhook;

namespace {

bool same(const std::vector<JournalRecord>& a, const std::vector<JournalRecord>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); i++)
        if (a[i].seq != b[i].seq || a[i].payload != b[i].payload) return false;
    return true;
}

// Garbage that cannot hold a record start: every "WHJ1" loses its 'W'.
std::string defuse(std::string_view g) {
    std::string out(g);
    static const char magic[4] = {'W', 'H', 'J', '1'};
    for (size_t i = 0; i + 4 <= out.size(); i++)
        if (std::memcmp(out.data() + i, magic, 4) == 0) out[i] = 'w';
    return out;
}

// A tiny deterministic cursor over the input for part 2.
struct Cursor {
    std::string_view s;
    size_t pos = 0;
    uint8_t byte() { return pos < s.size() ? static_cast<uint8_t>(s[pos++]) : 0; }
    std::string_view take(size_t n) {
        n = std::min(n, s.size() - std::min(pos, s.size()));
        std::string_view out = s.substr(std::min(pos, s.size()), n);
        pos += n;
        return out;
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view file = fuzz::as_view(data, size);

    // 1. The file as found on disk.
    JournalScan scan = journal_decode(file);
    size_t accounted = scan.dropped_bytes;
    for (const auto& r : scan.records) {
        FUZZ_CHECK(r.payload.size() <= kJournalMaxPayload, "payload over the limit");
        accounted += kJournalHeader + r.payload.size();
    }
    FUZZ_CHECK(accounted == file.size(), "%zu bytes accounted for, file has %zu", accounted, file.size());
    if (scan.dropped_bytes == 0) FUZZ_CHECK(!scan.torn_tail, "torn tail with nothing dropped");
    if (scan.torn_tail) FUZZ_CHECK(scan.dropped_bytes > 0, "torn tail without dropped bytes");

    std::string again;
    for (const auto& r : scan.records) again += journal_encode(r.seq, r.payload);
    JournalScan rescan = journal_decode(again);
    FUZZ_CHECK(same(rescan.records, scan.records) && rescan.dropped_bytes == 0 && !rescan.torn_tail,
               "re-encoded records do not decode cleanly");

    // 2. Our records between garbage.
    Cursor c{file};
    std::vector<JournalRecord> want;
    for (size_t i = 0; i < scan.records.size() && want.size() < 8; i++) want.push_back(scan.records[i]);
    unsigned extra = c.byte() % 5;
    for (unsigned i = 0; i < extra; i++) {
        uint64_t seq = fuzz::le_bytes(c.take(8));
        want.push_back({seq, std::string(c.take(c.byte()))});
    }
    std::string built;
    size_t garbage = 0;
    bool garbage_last = false;
    for (size_t i = 0; i <= want.size(); i++) {
        std::string g = defuse(c.take(c.byte() % 48));
        built += g;
        garbage += g.size();
        garbage_last = !g.empty();
        if (i < want.size()) built += journal_encode(want[i].seq, want[i].payload);
    }
    JournalScan got = journal_decode(built);
    FUZZ_CHECK(same(got.records, want), "%zu records written, %zu read back", want.size(), got.records.size());
    FUZZ_CHECK(got.dropped_bytes == garbage, "dropped %zu bytes, garbage was %zu", got.dropped_bytes, garbage);
    FUZZ_CHECK(got.torn_tail == garbage_last, "torn_tail %d, garbage at the end %d", got.torn_tail, garbage_last);

    // A torn write: the last record cut short is dropped, the others stay.
    // (What its payload holds is scanned like garbage: it may hold records.)
    if (!want.empty() && !garbage_last) {
        std::string cut = built.substr(0, built.size() - 1);
        JournalScan torn = journal_decode(cut);
        std::vector<JournalRecord> head(want.begin(), want.end() - 1);
        FUZZ_CHECK(torn.records.size() >= head.size(), "a torn tail lost an earlier record");
        torn.records.resize(head.size());
        FUZZ_CHECK(same(torn.records, head), "a torn tail lost an earlier record");
        FUZZ_CHECK(torn.dropped_bytes > 0, "a cut record was not dropped");
    }
    return 0;
}
