// Fuzz target: the inbound signature headers (core/verify/signature.hpp).
//
// Input (lines; the body is the rest and may hold newlines):
//   ctl        S P E A T prefix…   each char taken modulo the choices:
//              S scheme  '0' standard '1' github '2' stripe '3' slack '4' shopify '5' hmac
//              P which headers are present, bits 1 signature 2 timestamp 4 id ('7' = all)
//              E encoding '0' hex '1' base64          (hmac scheme)
//              A alg '0' sha256 '1' sha1 '2' sha512    (hmac scheme)
//              T tolerance '0' default '1' none (0) '2' 300 s '3' 1 s
//              the rest of the line is the hmac scheme's prefix=
//   now        unix seconds the receiver sees
//   signature  the signature header value
//   timestamp  the timestamp header value
//   id         the message-id header value
//   secret     the configured secret=
//   body…
//
// Checks:
//  - parse_request never crashes and only answers what it may before the body
//    (ok, missing_signature, malformed_signature, timestamp_out_of_tolerance);
//    "ok" carries 1..kMaxSignatures candidates of the digest's size, or (standard
//    only) 1..kMaxSignatures v1a candidates of 64 bytes.
//  - signature_matches finds every candidate and nothing of another size.
//  - A sender that does it right is accepted: headers built from the secret as
//    each sender builds them (and as our own outbound signer, standard_signature
//    / body_signature, builds them) parse "ok" and the HMAC of
//    signed_prefix + body matches; for standard, a v1a entry made with an Ed25519
//    key (seeded from the secret) next to it verifies over signed_prefix + body
//    with the public key, alone too, and not over another body.
//  - The signature and id lines read as W3C trace context headers
//    (core/deliver/trace_context): what is kept is in the form it is kept in
//    (reading it again gives it back), fits a header, and stays within the
//    limits; what is refused has a reason.
#include <cstdint>
#include <string>

#include "core/deliver/events.hpp"
#include "core/deliver/retry.hpp"
#include "core/deliver/signing.hpp"
#include "core/deliver/trace_context.hpp"
#include "core/deliver/url_policy.hpp"
#include "core/util/ed25519.hpp"
#include "core/util/encoding.hpp"
#include "core/util/hmac.hpp"
#include "core/util/text.hpp"
#include "core/verify/signature.hpp"
#include "fuzz_util.hpp"

using namespace webhook;

namespace {

constexpr Scheme kSchemes[] = {Scheme::standard, Scheme::github, Scheme::stripe,
                               Scheme::slack,    Scheme::shopify, Scheme::hmac};
constexpr HashAlg kAlgs[] = {HashAlg::sha256, HashAlg::sha1, HashAlg::sha512};
constexpr int64_t kTolerances[] = {-1, 0, 300, 1};

unsigned pick(std::string_view ctl, size_t i, unsigned n) {
    return i < ctl.size() ? static_cast<unsigned char>(ctl[i]) % n : 0;
}

std::string mac_of(HashAlg alg, const std::string& key, const Parsed& p, std::string_view body) {
    Hmac h(alg, key);
    h.update(p.signed_prefix);
    h.update(body);
    return h.finish().str();
}

void check_parsed(const SchemeConfig& cfg, const Parsed& p, size_t digest_len) {
    switch (p.verdict) {
    case Verdict::ok:
        FUZZ_CHECK(!p.signatures.empty() || !p.ed25519.empty(), "ok without a candidate");
        FUZZ_CHECK(p.signatures.size() <= kMaxSignatures && p.ed25519.size() <= kMaxSignatures,
                   "ok with %zu + %zu candidates", p.signatures.size(), p.ed25519.size());
        for (const auto& s : p.signatures)
            FUZZ_CHECK(s.size == digest_len, "candidate of %zu bytes, digest is %zu", s.size, digest_len);
        for (const auto& s : p.ed25519)
            FUZZ_CHECK(s.size == kEd25519SignatureSize, "v1a candidate of %zu bytes", s.size);
        FUZZ_CHECK(scheme_has_timestamp(cfg.scheme) || p.signed_prefix.empty(),
                   "a body-only scheme signs a prefix");
        break;
    case Verdict::missing_signature:
    case Verdict::malformed_signature:
    case Verdict::timestamp_out_of_tolerance:
        break;
    default:
        FUZZ_CHECK(false, "parse_request answered %s before the body", std::string(verdict_code(p.verdict)).c_str());
    }
    FUZZ_CHECK(cfg.scheme == Scheme::standard || (p.ed25519.empty() && p.ignored.v1 == 0 && p.ignored.v1a == 0),
               "%s read v1a entries", std::string(scheme_name(cfg.scheme)).c_str());
    // Candidates are found, and a digest of another length never matches.
    for (const auto& s : p.signatures) FUZZ_CHECK(signature_matches(p.signatures, s), "candidate not matched");
    FUZZ_CHECK(!signature_matches(p.signatures, std::string(digest_len + 1, '\0')), "a longer digest matched");
    FUZZ_CHECK(!signature_matches(p.signatures, ""), "an empty digest matched");
}

// Headers as a correct sender of cfg.scheme would send them.
void check_sender(const SchemeConfig& cfg, std::string_view secret, std::string_view id_in, int64_t now,
                  std::string_view body) {
    auto key = derive_key(cfg.scheme, secret);
    if (!key) return;
    FUZZ_CHECK(!key->empty(), "derive_key gave an empty key");
    HashAlg alg = cfg.scheme == Scheme::hmac ? cfg.alg : HashAlg::sha256;
    std::string ts = std::to_string(now);
    std::string id = id_in.empty() || id_in.size() > kMaxIdHeader ? "msg_fuzz" : std::string(id_in);
    std::string mac;
    auto body_mac = [&] { return hmac(alg, *key, body); };
    HeaderValues hv;
    std::string sig;
    std::optional<Ed25519Key> ed;   // standard: a v1a signer seeded from the secret
    std::string v1a;
    switch (cfg.scheme) {
    case Scheme::standard:
        // Our outbound signer, during a rotation: another key's signature first.
        sig = standard_signature({std::string("other key"), *key}, id, now, body);
        hv.timestamp = ts;
        hv.id = id;
        ed = Ed25519Key::from_secret("whsk_" + base64_encode(sha256(*key)));
        FUZZ_CHECK(ed.has_value(), "no Ed25519 key from a 32-byte seed");
        {
            Ed25519Signature es;
            FUZZ_CHECK(ed->sign(id + "." + ts + "." + std::string(body), &es), "Ed25519 sign failed");
            v1a = "v1a," + base64_encode(std::string_view(reinterpret_cast<const char*>(es.data()), es.size()));
        }
        sig = v1a + " " + sig;   // mixed: v1a first, then v1 entries
        break;
    case Scheme::github:
        sig = "sha256=" + hex_encode(body_mac());
        hv.id = id;
        break;
    case Scheme::stripe: {
        std::string signed_text = ts + "." + std::string(body);
        sig = "t=" + ts + ",v1=" + hex_encode(hmac(HashAlg::sha256, "other", signed_text)) +
              ",v1=" + hex_encode(hmac(HashAlg::sha256, *key, signed_text)) + ",v0=00";
        break;
    }
    case Scheme::slack:
        sig = "v0=" + hex_encode(hmac(HashAlg::sha256, *key, "v0:" + ts + ":" + std::string(body)));
        hv.timestamp = ts;
        break;
    case Scheme::shopify:
        sig = base64_encode(body_mac());
        hv.id = id;
        break;
    case Scheme::hmac:
        // NGINX strips a header value's leading and trailing blanks; a prefix
        // that starts with one cannot be sent.
        if (!cfg.prefix.empty() && (cfg.prefix[0] == ' ' || cfg.prefix[0] == '\t')) return;
        sig = body_signature(cfg.alg, *key, body, cfg.encoding, cfg.prefix);
        break;
    }
    if (sig.size() > kMaxSignatureHeader) return;
    hv.signature = sig;
    Parsed p = parse_request(cfg, hv, now);
    FUZZ_CHECK(p.verdict == Verdict::ok, "a correct %s signature got %s (%s): %s",
               std::string(scheme_name(cfg.scheme)).c_str(), std::string(verdict_code(p.verdict)).c_str(),
               p.detail.c_str(), sig.c_str());
    FUZZ_CHECK(signature_matches(p.signatures, mac_of(alg, *key, p, body)),
               "a correct %s signature does not match: %s", std::string(scheme_name(cfg.scheme)).c_str(), sig.c_str());
    if (!ed) return;
    // v1a: the public key (as a receiver is given it) verifies the candidate
    // over the signed content, kept whole, alone as well as mixed.
    std::optional<Ed25519Key> pub = Ed25519Key::from_public(ed->public_text());
    FUZZ_CHECK(pub.has_value(), "whpk_ of a generated key does not parse");
    FUZZ_CHECK(p.ed25519.size() == 1, "%zu v1a candidates, 1 sent", p.ed25519.size());
    const std::string message = std::string(p.signed_prefix.view()) + std::string(body);
    FUZZ_CHECK(pub->verify(message, p.ed25519[0].bytes, p.ed25519[0].size), "a correct v1a signature does not verify");
    FUZZ_CHECK(!pub->verify(message + "x", p.ed25519[0].bytes, p.ed25519[0].size), "v1a verifies another body");
    hv.signature = v1a;
    Parsed alone = parse_request(cfg, hv, now);
    FUZZ_CHECK(alone.verdict == Verdict::ok && alone.signatures.empty() && alone.ed25519.size() == 1,
               "v1a alone got %s: %s", std::string(verdict_code(alone.verdict)).c_str(), alone.detail.c_str());
}

void check_trace_context(std::string_view v) {
    const char* why = nullptr;
    if (auto tp = parse_traceparent(v, &why)) {
        FUZZ_CHECK(tp->size() == kTraceparentSize && traceparent_kept_form(*tp) && header_safe(*tp),
                   "a traceparent kept in another form");
    } else {
        FUZZ_CHECK(why != nullptr, "a traceparent refused without a reason");
    }
    why = nullptr;
    if (auto ts = parse_tracestate(v, &why)) {
        FUZZ_CHECK(ts->size() <= kMaxTracestate && header_safe(*ts), "a tracestate kept past its limits");
        const char* again = nullptr;
        auto twice = parse_tracestate(*ts, &again);
        FUZZ_CHECK(twice && *twice == *ts, "a kept tracestate reads back otherwise");
    } else {
        FUZZ_CHECK(why != nullptr, "a tracestate refused without a reason");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto f = fuzz::split_lines(fuzz::as_view(data, size), 7);
    std::string_view ctl = fuzz::field(f, 0);
    SchemeConfig cfg;
    cfg.scheme = kSchemes[pick(ctl, 0, 6)];
    unsigned present = pick(ctl, 1, 8);
    cfg.encoding = pick(ctl, 2, 2) ? Encoding::base64 : Encoding::hex;
    cfg.alg = kAlgs[pick(ctl, 3, 3)];
    cfg.tolerance = kTolerances[pick(ctl, 4, 4)];
    if (ctl.size() > 5) cfg.prefix = std::string(ctl.substr(5));

    // What ngx_time() can be: not negative, within parse_unix's 12 digits.
    int64_t now = fuzz::decimal_or(fuzz::field(f, 1), 12, 1731705121);
    HeaderValues hv;
    if (present & 1) hv.signature = fuzz::field(f, 2);
    if (present & 2) hv.timestamp = fuzz::field(f, 3);
    if (present & 4) hv.id = fuzz::field(f, 4);
    std::string_view secret = fuzz::field(f, 5);
    std::string_view body = fuzz::field(f, 6);

    for (const HeaderFamily& fam : header_families(cfg)) FUZZ_CHECK(!fam.signature.empty(), "no signature header name");
    FUZZ_CHECK(effective_tolerance(cfg) >= 0, "negative tolerance");

    const HashAlg alg = cfg.scheme == Scheme::hmac ? cfg.alg : HashAlg::sha256;
    const size_t digest_len = hash_alg_size(alg);
    Parsed p = parse_request(cfg, hv, now);
    check_parsed(cfg, p, digest_len);

    // The receiver's side with this secret: no property, just the code path.
    for (Scheme s : kSchemes) {
        auto key = derive_key(s, secret);
        if (key && s == cfg.scheme && p.verdict == Verdict::ok) signature_matches(p.signatures, mac_of(alg, *key, p, body));
    }
    (void) endpoint_key(secret);
    // A secret= of any text: its kind, and a public key checks what v1a gave.
    if (secret_kind(cfg.scheme, secret) == SecretKind::ed25519_public) {
        std::optional<Ed25519Key> pub = Ed25519Key::from_public(secret);
        if (pub && p.verdict == Verdict::ok) {
            const std::string message = std::string(p.signed_prefix.view()) + std::string(body);
            for (const Digest& d : p.ed25519) (void) pub->verify(message, d.bytes, d.size);
        }
    }

    check_sender(cfg, secret, hv.id.value_or(""), now, body);
    check_trace_context(fuzz::field(f, 2));
    check_trace_context(fuzz::field(f, 4));
    return 0;
}
