// Unit tests for src/core/store/records: CRC-32C, the record layout, and decoding
// with resync after corruption and torn tails.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/store/records.hpp"

using namespace webhook;

namespace {

uint32_t crc_of(std::string_view s, uint32_t crc = 0) { return crc32c(s.data(), s.size(), crc); }

uint64_t le(std::string_view s, size_t off, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | static_cast<unsigned char>(s[off + i]);
    return v;
}

void put_le(std::string& s, size_t off, uint64_t v, int n) {
    for (int i = 0; i < n; i++) s[off + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

// Payloads as the mutation log writes them (core/store/mutation.hpp).
const std::vector<JournalRecord> kRecords = {
    {1, R"({"op":"key.put","id":"key_aaaaaaaaaaaaaaaa",)"
        R"("hash":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",)"
        R"("display":"sk_Xq3Lm","resource":"acme","label":"ci","scopes":1,"created_at":1893456000,"expires_at":0})"},
    {2, R"({"op":"key.del","id":"key_aaaaaaaaaaaaaaaa"})"},
    {7, R"({"op":"limits.put","tenant":"acme","max_keys":5})"},
};

// The three records above, encoded back to back; offsets[i] is where record i starts.
std::string three(std::vector<size_t>* offsets = nullptr) {
    std::string file;
    for (const auto& r : kRecords) {
        if (offsets) offsets->push_back(file.size());
        file += journal_encode(r.seq, r.payload);
    }
    if (offsets) offsets->push_back(file.size());
    return file;
}

void expect_records(const JournalScan& scan, const std::vector<JournalRecord>& want) {
    ASSERT_EQ(scan.records.size(), want.size());
    for (size_t i = 0; i < want.size(); i++) {
        EXPECT_EQ(scan.records[i].seq, want[i].seq) << "record " << i;
        EXPECT_EQ(scan.records[i].payload, want[i].payload) << "record " << i;
    }
}

}  // namespace

TEST(Crc32c, StandardCheckValue) {
    EXPECT_EQ(crc_of("123456789"), 0xE3069283u);
}

TEST(Crc32c, KnownVectors) {
    EXPECT_EQ(crc_of(""), 0u);
    // RFC 3720 (iSCSI) B.4: 32 bytes of zeros, 32 bytes of 0xff.
    EXPECT_EQ(crc_of(std::string(32, '\0')), 0x8A9136AAu);
    EXPECT_EQ(crc_of(std::string(32, '\xff')), 0x62A8AB43u);
    std::string inc;
    for (int i = 0; i < 32; i++) inc.push_back(static_cast<char>(i));
    EXPECT_EQ(crc_of(inc), 0x46DD794Eu);
}

TEST(Crc32c, ChainingEqualsOneShot) {
    std::string a = "hello, ", b = "journal world";
    EXPECT_EQ(crc_of(b, crc_of(a)), crc_of(a + b));
    EXPECT_NE(crc_of(a + b), crc_of(b + a));
}

// Eight bytes a step must agree with the bitwise definition at every length
// and alignment, chained or not.
TEST(Crc32c, SlicedEqualsBitwise) {
    auto bitwise = [](const unsigned char* p, size_t n, uint32_t crc) {
        crc = ~crc;
        for (size_t i = 0; i < n; i++) {
            crc ^= p[i];
            for (int k = 0; k < 8; k++) crc = (crc & 1) ? 0x82f63b78u ^ (crc >> 1) : crc >> 1;
        }
        return ~crc;
    };
    unsigned char buf[80];
    for (size_t i = 0; i < sizeof(buf); i++) buf[i] = static_cast<unsigned char>(i * 167 + 13);
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; off + n <= sizeof(buf); n++) {
            EXPECT_EQ(crc32c(buf + off, n), bitwise(buf + off, n, 0)) << off << " " << n;
            EXPECT_EQ(crc32c(buf + off, n, 0x12345678u), bitwise(buf + off, n, 0x12345678u)) << off << " " << n;
        }
}

TEST(JournalEncode, Layout) {
    std::string payload = R"({"x":1})";
    std::string rec = journal_encode(0x0102030405060708ull, payload);
    ASSERT_EQ(rec.size(), kJournalHeader + payload.size());
    EXPECT_EQ(rec.substr(0, 4), "WHJ1");
    EXPECT_EQ(le(rec, 0, 4), kJournalMagic);
    EXPECT_EQ(le(rec, 4, 4), payload.size());
    EXPECT_EQ(le(rec, 8, 8), 0x0102030405060708ull);
    // CRC over the little-endian sequence followed by the payload.
    std::string covered = rec.substr(8, 8) + payload;
    EXPECT_EQ(le(rec, 16, 4), crc_of(covered));
    EXPECT_EQ(rec.substr(kJournalHeader), payload);
}

TEST(JournalDecode, Empty) {
    JournalScan scan = journal_decode("");
    EXPECT_TRUE(scan.records.empty());
    EXPECT_EQ(scan.dropped_bytes, 0u);
    EXPECT_FALSE(scan.torn_tail);
}

TEST(JournalDecode, RoundTrip) {
    std::string file = three();
    JournalScan scan = journal_decode(file);
    expect_records(scan, kRecords);
    EXPECT_EQ(scan.dropped_bytes, 0u);
    EXPECT_FALSE(scan.torn_tail);
}

TEST(JournalDecode, RoundTripOddPayloads) {
    std::vector<JournalRecord> recs = {
        {0, ""},
        {UINT64_MAX, std::string("bin\0ary\xff\x80", 10)},
        {42, "WHJ1"},  // the magic inside a payload is just bytes
        {43, std::string(70000, 'z')},
    };
    std::string file;
    for (const auto& r : recs) file += journal_encode(r.seq, r.payload);
    JournalScan scan = journal_decode(file);
    expect_records(scan, recs);
    EXPECT_EQ(scan.dropped_bytes, 0u);
    EXPECT_FALSE(scan.torn_tail);
}

TEST(JournalDecode, TruncatedLastRecordAtEveryLength) {
    std::vector<size_t> off;
    std::string file = three(&off);
    size_t last = off[2], end = off[3];
    for (size_t cut = last + 1; cut < end; cut++) {
        SCOPED_TRACE("cut at " + std::to_string(cut));
        JournalScan scan = journal_decode(std::string_view(file).substr(0, cut));
        expect_records(scan, {kRecords[0], kRecords[1]});
        EXPECT_TRUE(scan.torn_tail);
        EXPECT_EQ(scan.dropped_bytes, cut - last);
    }
    // Cut exactly at a record boundary: nothing torn.
    JournalScan scan = journal_decode(std::string_view(file).substr(0, last));
    expect_records(scan, {kRecords[0], kRecords[1]});
    EXPECT_FALSE(scan.torn_tail);
    EXPECT_EQ(scan.dropped_bytes, 0u);
}

TEST(JournalDecode, FlippedPayloadByteInMiddleRecordResyncs) {
    std::vector<size_t> off;
    std::string good = three(&off);
    size_t mid_len = off[2] - off[1];
    for (size_t i = off[1] + kJournalHeader; i < off[2]; i++) {
        SCOPED_TRACE("byte " + std::to_string(i));
        std::string file = good;
        file[i] ^= 0x01;
        JournalScan scan = journal_decode(file);
        expect_records(scan, {kRecords[0], kRecords[2]});
        EXPECT_FALSE(scan.torn_tail);
        EXPECT_EQ(scan.dropped_bytes, mid_len);
    }
}

TEST(JournalDecode, FlippedHeaderByteInMiddleRecordResyncs) {
    std::vector<size_t> off;
    std::string good = three(&off);
    size_t mid_len = off[2] - off[1];
    for (size_t i = off[1]; i < off[1] + kJournalHeader; i++) {
        for (unsigned char mask : {0x01, 0x80}) {
            SCOPED_TRACE("byte " + std::to_string(i) + " mask " + std::to_string(mask));
            std::string file = good;
            file[i] ^= static_cast<char>(mask);
            JournalScan scan = journal_decode(file);
            expect_records(scan, {kRecords[0], kRecords[2]});
            EXPECT_FALSE(scan.torn_tail);
            EXPECT_EQ(scan.dropped_bytes, mid_len);
        }
    }
}

TEST(JournalDecode, FlippedByteInLastRecordIsTornTail) {
    std::vector<size_t> off;
    std::string file = three(&off);
    file[off[2] + 3] ^= 0x40;  // the magic
    JournalScan scan = journal_decode(file);
    expect_records(scan, {kRecords[0], kRecords[1]});
    EXPECT_TRUE(scan.torn_tail);
    EXPECT_EQ(scan.dropped_bytes, off[3] - off[2]);
}

TEST(JournalDecode, FlippedByteInFirstRecord) {
    std::vector<size_t> off;
    std::string file = three(&off);
    file[off[0] + 10] ^= 0x04;  // the sequence
    JournalScan scan = journal_decode(file);
    expect_records(scan, {kRecords[1], kRecords[2]});
    EXPECT_FALSE(scan.torn_tail);
    EXPECT_EQ(scan.dropped_bytes, off[1]);
}

TEST(JournalDecode, GarbagePrefix) {
    std::string garbage = "WHJ\x00garbage WHJ1\x05";
    garbage.push_back('\0');
    std::string file = garbage + three();
    JournalScan scan = journal_decode(file);
    expect_records(scan, kRecords);
    EXPECT_FALSE(scan.torn_tail);
    EXPECT_EQ(scan.dropped_bytes, garbage.size());
}

TEST(JournalDecode, GarbageBetweenAndAfter) {
    std::vector<size_t> off;
    std::string good = three(&off);
    std::string file = good.substr(0, off[1]) + std::string(37, '\xee') + good.substr(off[1]) + "tail!";
    JournalScan scan = journal_decode(file);
    expect_records(scan, kRecords);
    EXPECT_TRUE(scan.torn_tail);
    EXPECT_EQ(scan.dropped_bytes, 37u + 5u);
}

TEST(JournalDecode, OnlyGarbage) {
    JournalScan scan = journal_decode("not a journal at all");
    EXPECT_TRUE(scan.records.empty());
    EXPECT_TRUE(scan.torn_tail);
    EXPECT_EQ(scan.dropped_bytes, 20u);
}

TEST(JournalDecode, LengthFieldBeyondFileIsDropped) {
    std::string rec = journal_encode(5, "abc");
    put_le(rec, 4, 4, 4);  // claims 4 bytes, 3 follow
    JournalScan scan = journal_decode(rec);
    EXPECT_TRUE(scan.records.empty());
    EXPECT_TRUE(scan.torn_tail);
    EXPECT_EQ(scan.dropped_bytes, rec.size());
}

TEST(JournalDecode, PayloadOverMaxIsRejected) {
    // A record that is otherwise valid (CRC correct) but longer than the
    // limit is not accepted: the length field is never trusted beyond it.
    std::string big(kJournalMaxPayload + 1, 'p');
    std::string rec = journal_encode(9, big);
    ASSERT_EQ(le(rec, 4, 4), kJournalMaxPayload + 1);
    std::string file = rec + journal_encode(10, "after");
    JournalScan scan = journal_decode(file);
    expect_records(scan, {{10, "after"}});
    EXPECT_FALSE(scan.torn_tail);
    EXPECT_EQ(scan.dropped_bytes, rec.size());

    // Exactly the limit is fine.
    std::string max(kJournalMaxPayload, 'q');
    JournalScan ok = journal_decode(journal_encode(11, max));
    ASSERT_EQ(ok.records.size(), 1u);
    EXPECT_EQ(ok.records[0].seq, 11u);
    EXPECT_EQ(ok.records[0].payload.size(), kJournalMaxPayload);
    EXPECT_EQ(ok.dropped_bytes, 0u);
    EXPECT_FALSE(ok.torn_tail);
}

TEST(JournalDecode, HugeLengthFieldInHeaderOnly) {
    std::string rec = journal_encode(3, "x");
    put_le(rec, 4, 0xffffffffu, 4);
    std::string file = rec + journal_encode(4, "y");
    JournalScan scan = journal_decode(file);
    expect_records(scan, {{4, "y"}});
    EXPECT_FALSE(scan.torn_tail);
    EXPECT_EQ(scan.dropped_bytes, rec.size());
}
