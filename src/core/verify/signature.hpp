// Incoming webhook signature schemes (docs/directives.md#webhook_verify): which headers carry what, what
// bytes are signed, how secrets become keys, and the verdict codes. No I/O: the
// NGINX glue feeds header values and body bytes, this decides.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/hmac.hpp"

namespace webhook {

enum class Scheme { standard, github, stripe, slack, shopify, hmac };
enum class Encoding { hex, base64 };

enum class Verdict {
    ok,
    missing_signature,
    malformed_signature,
    bad_signature,
    timestamp_out_of_tolerance,
    replayed,
};
constexpr size_t kVerdictCount = static_cast<size_t>(Verdict::replayed) + 1;

std::optional<Scheme> scheme_from_name(std::string_view name);
std::string_view scheme_name(Scheme scheme);
std::string_view verdict_code(Verdict v);
std::string_view verdict_message(Verdict v);

// Limits on what a sender may put in the headers we parse.
constexpr size_t kMaxSignatureHeader = 4096;
constexpr size_t kMaxIdHeader = 256;
constexpr size_t kMaxSignatures = 16;
// v1a entries checked, at most: each costs a hash of the whole body per
// public key (PureEdDSA), so a sender of 16 would buy 16 times the work of
// one; a sender rotating keys sends two or three. Later ones are passed over.
constexpr size_t kMaxEd25519Signatures = 4;

// The resolved configuration of one webhook_verify directive.
struct SchemeConfig {
    Scheme scheme = Scheme::hmac;
    std::string header;        // signature header; empty = scheme default
    Encoding encoding = Encoding::hex;
    std::string prefix;
    HashAlg alg = HashAlg::sha256;
    int64_t tolerance = -1;    // seconds; -1 = scheme default, 0 = no timestamp check
    std::string id_header;     // replay id header; empty = scheme default
};

// Header names one scheme reads, in the order they are tried. Standard Webhooks
// has two families of names (webhook-* and svix-*); the first family whose
// signature header is present is used.
struct HeaderFamily {
    std::string_view signature;
    std::string_view timestamp;  // empty: the scheme has no timestamp header
    std::string_view id;         // empty: no id header
};
std::vector<HeaderFamily> header_families(const SchemeConfig& cfg);

int64_t effective_tolerance(const SchemeConfig& cfg);
bool scheme_has_timestamp(Scheme scheme);

// The secret as configured turns into the HMAC key: Standard Webhooks decodes
// "whsec_<base64>"; every other scheme uses the bytes as they are.
std::optional<std::string> derive_key(Scheme scheme, std::string_view secret);

// What a secret= is, by its text. `standard` takes Standard Webhooks'
// asymmetric keys too: "whpk_" (an Ed25519 public key, checking v1a
// signatures) and "whsk_" (a secret key, which belongs to the sender only: a
// configuration error). Every other scheme takes any text as HMAC key bytes.
enum class SecretKind { hmac, ed25519_public, ed25519_secret };
SecretKind secret_kind(Scheme scheme, std::string_view secret);

// Header values found for one request (absent = nullopt), and the names
// they were read under (empty: the scheme's first family).
struct HeaderValues {
    std::optional<std::string_view> signature;
    std::optional<std::string_view> timestamp;
    std::optional<std::string_view> id;
    HeaderFamily names;
};

// The MACs a sender put in the signature header, decoded; only those of the
// digest's size are kept, at most kMaxSignatures. Fixed size: no allocation.
// (A Digest holds 64 bytes: v1a's Ed25519 signatures are kept in one too.)
class Candidates {
public:
    size_t size() const { return count_; }
    bool empty() const { return count_ == 0; }
    const Digest& operator[](size_t i) const { return macs_[i]; }
    const Digest* begin() const { return macs_; }
    const Digest* end() const { return macs_ + count_; }
    // The next slot, or nullptr when full; add() keeps what was written to it.
    Digest* next() { return count_ < kMaxSignatures ? &macs_[count_] : nullptr; }
    void add() { count_++; }

private:
    Digest macs_[kMaxSignatures];
    size_t count_ = 0;
};

// The bytes hashed before the body: standard "<id>.<ts>.", stripe "<ts>.",
// slack "v0:<ts>:"; the id and timestamp are bounded, so is this.
constexpr size_t kMaxTimestamp = 12;   // digits of Unix seconds
constexpr size_t kMaxSignedPrefix = kMaxIdHeader + kMaxTimestamp + 4;
class SignedPrefix {
public:
    std::string_view view() const { return {bytes_, size_}; }
    operator std::string_view() const { return view(); }
    bool empty() const { return size_ == 0; }
    void append(std::string_view s);   // callers stay within kMaxSignedPrefix

private:
    char bytes_[kMaxSignedPrefix];
    size_t size_ = 0;
};
inline bool operator==(const SignedPrefix& a, std::string_view b) { return a.view() == b; }

// Entries of a Standard Webhooks signature header that were passed over
// because they do not decode to their size (v1: 32 bytes, v1a: 64); with
// other usable entries they are only named in the message of a refusal.
struct EntryCounts {
    uint16_t v1 = 0;
    uint16_t v1a = 0;
};

// What is known before the body is read. On the accepting path nothing here
// allocates: detail is set only when refusing.
struct Parsed {
    Verdict verdict = Verdict::ok;   // not ok: refuse now, no body needed
    std::string detail;              // for the sender: what was wrong, naming the header (never its value)
    HeaderFamily names;              // the header names read
    Candidates signatures;           // decoded candidate MACs (standard: the v1 entries)
    Candidates ed25519;              // standard: the v1a entries, 64-byte Ed25519 signatures
    EntryCounts ignored;             // standard: v1 / v1a entries not of their size (for the message)
    SignedPrefix signed_prefix;      // bytes hashed before the body (and signed before it by v1a)
    std::string_view replay_id;      // standard: the signed webhook-id (in the header's value); else empty
};

// families: header_families(cfg), which a caller parsing many requests
// computes once (the NGINX glue: at configuration time); the other form
// computes it per call.
Parsed parse_request(const SchemeConfig& cfg, const std::vector<HeaderFamily>& families, const HeaderValues& headers,
                     int64_t now);
Parsed parse_request(const SchemeConfig& cfg, const HeaderValues& headers, int64_t now);

// The sender's message for a verdict reached once the body is hashed
// (bad_signature, replayed): which headers did not match, never a value.
std::string verdict_detail(const SchemeConfig& cfg, const HeaderFamily& names, Verdict v);

// The same for `standard`, naming the v1 / v1a entries that were passed over
// (a v1a entry that is not the base64 of 64 bytes…).
std::string verdict_detail(const SchemeConfig& cfg, const HeaderFamily& names, Verdict v, EntryCounts ignored);

// `standard`, once the keys of this request are known (secrets may come from
// variables): the message when its signatures are all of a kind no key here
// checks — v1a only and no public key, v1 only and no HMAC secret. Names
// the kinds, never a key.
std::string unverifiable_detail(const HeaderFamily& names, bool has_v1, bool has_v1a);

// `standard`: the message when a v1a signature cannot be checked because
// the body is larger than the `limit` bytes held in memory to check it
// (Ed25519 needs the whole message at once).
std::string ed25519_too_large_detail(size_t limit);

// True when digest equals any candidate; every candidate is compared in full.
bool signature_matches(const Digest* candidates, size_t n, std::string_view digest);
inline bool signature_matches(const Candidates& c, std::string_view digest) {
    return signature_matches(c.begin(), c.size(), digest);
}

// A replay-cache key: SHA-256 over the scheme, SHA-256 of the HMAC key that
// verified the message (key_id, computed once per literal secret) and its id,
// so ids of any length take a fixed 32 bytes in shared memory and one
// sender's ids never collide with another's (a sender cannot pre-empt the ids
// of a location whose secret it does not have).
//
// An Ed25519 public key (v1a) scopes ids the same way, by replay_key_id() of
// its canonical text (Ed25519Key::public_text(), "whpk_<base64>"): a
// `standard` secret= of that text is a public key, never HMAC key bytes.
Digest replay_key_id(std::string_view key);
Digest replay_key(Scheme scheme, const Digest& key_id, std::string_view id);

}  // namespace webhook
