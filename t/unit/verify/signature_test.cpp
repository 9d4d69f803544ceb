// Unit tests for src/core/verify/signature: the docs/directives.md#webhook_verify schemes end to end, header
// parsing, tolerance, key derivation and replay ids.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/util/encoding.hpp"
#include "core/util/hmac.hpp"
#include "core/verify/signature.hpp"

using namespace webhook;

namespace {

SchemeConfig cfg_for(Scheme s) {
    SchemeConfig c;
    c.scheme = s;
    return c;
}

HeaderValues headers(std::optional<std::string_view> sig, std::optional<std::string_view> ts = std::nullopt,
                     std::optional<std::string_view> id = std::nullopt) {
    HeaderValues h;
    h.signature = sig;
    h.timestamp = ts;
    h.id = id;
    return h;
}

// What the NGINX glue does: derive the key, hash prefix + body, compare.
bool verify(const SchemeConfig& cfg, const Parsed& p, std::string_view secret, std::string_view body) {
    auto key = derive_key(cfg.scheme, secret);
    if (!key) return false;
    Hmac h(cfg.scheme == Scheme::hmac ? cfg.alg : HashAlg::sha256, *key);
    h.update(p.signed_prefix);
    h.update(body);
    return signature_matches(p.signatures, h.finish());
}

std::string hex_mac(std::string_view key, std::string_view data) {
    return hex_encode(hmac(HashAlg::sha256, key, data));
}

const std::string kSlackBody =
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
const std::string kSlackSig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
const std::string kSlackSecret = "8f742231b10e8888abcd99yyyzzz85a5";

const std::string kStdSecret = "whsec_plJ3nmyCDGBKInavdOK15jsl";
const std::string kStdId = "msg_loFOjxBNrRLzqYUf";
const std::string kStdTs = "1731705121";
const std::string kStdBody = R"({"event_type":"ping","data":{"success":true}})";
const std::string kStdSig = "v1,rAvfW3dJ/X/qxhsaXPOyyCGmRKsaKWcsNccKXlIktD0=";

const std::string kGhSecret = "It's a Secret to Everybody";
const std::string kGhSig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

}  // namespace

// ---- names --------------------------------------------------------------------

TEST(SchemeNames, RoundTrip) {
    for (Scheme s : {Scheme::standard, Scheme::github, Scheme::stripe, Scheme::slack, Scheme::shopify, Scheme::hmac})
        EXPECT_EQ(scheme_from_name(scheme_name(s)), s);
    EXPECT_EQ(scheme_name(Scheme::standard), "standard");
    EXPECT_EQ(scheme_name(Scheme::shopify), "shopify");
    EXPECT_FALSE(scheme_from_name("svix").has_value());
    EXPECT_FALSE(scheme_from_name("GitHub").has_value());
    EXPECT_FALSE(scheme_from_name("").has_value());
}

TEST(VerdictCodes, MatchSpec) {
    EXPECT_EQ(verdict_code(Verdict::ok), "ok");
    EXPECT_EQ(verdict_code(Verdict::missing_signature), "missing_signature");
    EXPECT_EQ(verdict_code(Verdict::malformed_signature), "malformed_signature");
    EXPECT_EQ(verdict_code(Verdict::bad_signature), "bad_signature");
    EXPECT_EQ(verdict_code(Verdict::timestamp_out_of_tolerance), "timestamp_out_of_tolerance");
    EXPECT_EQ(verdict_code(Verdict::replayed), "replayed");
    for (Verdict v : {Verdict::ok, Verdict::missing_signature, Verdict::malformed_signature, Verdict::bad_signature,
                      Verdict::timestamp_out_of_tolerance, Verdict::replayed})
        EXPECT_FALSE(verdict_message(v).empty());
}

// ---- published vectors end to end ---------------------------------------------

TEST(Vectors, GitHub) {
    auto cfg = cfg_for(Scheme::github);
    Parsed p = parse_request(cfg, headers(kGhSig), 0);
    ASSERT_EQ(p.verdict, Verdict::ok) << p.detail;
    EXPECT_EQ(p.signed_prefix, "");
    ASSERT_EQ(p.signatures.size(), 1u);
    EXPECT_EQ(hex_encode(p.signatures[0]), kGhSig.substr(7));
    EXPECT_TRUE(verify(cfg, p, kGhSecret, "Hello, World!"));
    EXPECT_FALSE(verify(cfg, p, kGhSecret, "Hello, World!\n"));
    EXPECT_FALSE(verify(cfg, p, "It's a secret to everybody", "Hello, World!"));
}

TEST(Vectors, StandardWebhooks) {
    auto cfg = cfg_for(Scheme::standard);
    int64_t now = 1731705121;
    Parsed p = parse_request(cfg, headers(kStdSig, kStdTs, kStdId), now);
    ASSERT_EQ(p.verdict, Verdict::ok) << p.detail;
    EXPECT_EQ(p.signed_prefix, "msg_loFOjxBNrRLzqYUf.1731705121.");
    EXPECT_EQ(p.replay_id, kStdId);
    ASSERT_EQ(p.signatures.size(), 1u);
    EXPECT_EQ(base64_encode(p.signatures[0]), "rAvfW3dJ/X/qxhsaXPOyyCGmRKsaKWcsNccKXlIktD0=");
    EXPECT_TRUE(verify(cfg, p, kStdSecret, kStdBody));
    EXPECT_FALSE(verify(cfg, p, kStdSecret, kStdBody + " "));

    // Same bytes under a different id: the prefix changes, the MAC no longer matches.
    Parsed q = parse_request(cfg, headers(kStdSig, kStdTs, "msg_other"), now);
    ASSERT_EQ(q.verdict, Verdict::ok);
    EXPECT_FALSE(verify(cfg, q, kStdSecret, kStdBody));
}

TEST(Vectors, Slack) {
    auto cfg = cfg_for(Scheme::slack);
    int64_t now = 1531420618;
    Parsed p = parse_request(cfg, headers(kSlackSig, "1531420618"), now);
    ASSERT_EQ(p.verdict, Verdict::ok) << p.detail;
    EXPECT_EQ(p.signed_prefix, "v0:1531420618:");
    ASSERT_EQ(p.signatures.size(), 1u);
    EXPECT_TRUE(verify(cfg, p, kSlackSecret, kSlackBody));
    EXPECT_FALSE(verify(cfg, p, kSlackSecret, kSlackBody.substr(1)));
    EXPECT_FALSE(verify(cfg, p, "8f742231b10e8888abcd99yyyzzz85a6", kSlackBody));
}

// ---- signature_matches --------------------------------------------------------

namespace {

Candidates candidates(std::initializer_list<std::string> macs) {
    Candidates c;
    for (const std::string& m : macs) {
        Digest* d = c.next();
        std::memcpy(d->bytes, m.data(), m.size());
        d->size = m.size();
        c.add();
    }
    return c;
}

}  // namespace

TEST(SignatureMatches, AnyCandidate) {
    std::string d = hmac(HashAlg::sha256, "k", "m");
    std::string other = hmac(HashAlg::sha256, "k", "n");
    EXPECT_TRUE(signature_matches(candidates({d}), d));
    EXPECT_TRUE(signature_matches(candidates({other, d}), d));
    EXPECT_TRUE(signature_matches(candidates({d, other}), d));
    EXPECT_FALSE(signature_matches(candidates({other}), d));
    EXPECT_FALSE(signature_matches(candidates({}), d));
    EXPECT_FALSE(signature_matches(candidates({d.substr(0, 31)}), d));
}

// ---- Stripe ---------------------------------------------------------------------

TEST(Stripe, SeveralV1AndV0WithSpaces) {
    auto cfg = cfg_for(Scheme::stripe);
    const std::string body = R"({"id":"evt_1"})";
    const std::string secret = kStdSecret;  // Stripe uses whsec_ literally
    std::string good = hex_mac(secret, "1700000000." + body);
    ASSERT_EQ(good, "d93e4c8a75e0f653073b5bebca12755deba0d5197f8a7a83bd2eef0c11bb60b7");
    std::string bad = hex_mac(secret, "1700000000.other");
    std::string v0 = hex_mac("v0 key", "whatever");
    std::string header = "t=1700000000, v1=" + bad + ", v1=" + good + " , v0=" + v0;
    Parsed p = parse_request(cfg, headers(header), 1700000010);
    ASSERT_EQ(p.verdict, Verdict::ok) << p.detail;
    EXPECT_EQ(p.signed_prefix, "1700000000.");
    ASSERT_EQ(p.signatures.size(), 2u);  // v0 is not a candidate
    EXPECT_EQ(hex_encode(p.signatures[0]), bad);
    EXPECT_EQ(hex_encode(p.signatures[1]), good);
    EXPECT_TRUE(verify(cfg, p, secret, body));
    EXPECT_TRUE(p.replay_id.empty());
}

TEST(Stripe, OnlyV0IsMalformed) {
    auto cfg = cfg_for(Scheme::stripe);
    Parsed p = parse_request(cfg, headers("t=1700000000,v0=" + hex_mac("k", "m")), 1700000000);
    EXPECT_EQ(p.verdict, Verdict::malformed_signature);
    EXPECT_TRUE(p.signatures.empty());
}

TEST(Stripe, WithoutTimestampIsMalformed) {
    auto cfg = cfg_for(Scheme::stripe);
    Parsed p = parse_request(cfg, headers("v1=" + hex_mac("k", "m")), 1700000000);
    EXPECT_EQ(p.verdict, Verdict::malformed_signature);
    EXPECT_FALSE(p.detail.empty());
    Parsed e = parse_request(cfg, headers("t=,v1=" + hex_mac("k", "m")), 1700000000);
    EXPECT_EQ(e.verdict, Verdict::malformed_signature);
}

TEST(Stripe, TwoTimestampsIsMalformed) {
    auto cfg = cfg_for(Scheme::stripe);
    Parsed p = parse_request(cfg, headers("t=1700000000,t=1700000000,v1=" + hex_mac("k", "m")), 1700000000);
    EXPECT_EQ(p.verdict, Verdict::malformed_signature);
    Parsed q = parse_request(cfg, headers("t=1700000000,v1=" + hex_mac("k", "m") + ",t=1"), 1700000000);
    EXPECT_EQ(q.verdict, Verdict::malformed_signature);
}

TEST(Stripe, NonNumericTimestampIsMalformed) {
    auto cfg = cfg_for(Scheme::stripe);
    std::string v1 = hex_mac("k", "m");
    for (std::string t : {"abc", "17e8", "-1700000000", "+1700000000", "1700000000.5", "0x10", "1234567890123"}) {
        Parsed p = parse_request(cfg, headers("t=" + t + ",v1=" + v1), 1700000000);
        EXPECT_EQ(p.verdict, Verdict::malformed_signature) << "t=" << t;
    }
}

TEST(Stripe, ToleranceDefaultsTo300Seconds) {
    auto cfg = cfg_for(Scheme::stripe);
    EXPECT_EQ(effective_tolerance(cfg), 300);
    std::string h = "t=1700000000,v1=" + hex_mac("k", "m");
    EXPECT_EQ(parse_request(cfg, headers(h), 1700000300).verdict, Verdict::ok);
    EXPECT_EQ(parse_request(cfg, headers(h), 1700000301).verdict, Verdict::timestamp_out_of_tolerance);
    EXPECT_EQ(parse_request(cfg, headers(h), 1800000000).verdict, Verdict::timestamp_out_of_tolerance);
}

TEST(Stripe, KeepsWhsecLiteralAsKey) {
    EXPECT_EQ(derive_key(Scheme::stripe, kStdSecret), std::optional<std::string>(kStdSecret));
    // Even when the part after whsec_ is not base64.
    EXPECT_EQ(derive_key(Scheme::stripe, "whsec_!!!"), std::optional<std::string>("whsec_!!!"));
}

// ---- Standard Webhooks ----------------------------------------------------------

TEST(Standard, SeveralSignaturesAndUnknownVersion) {
    auto cfg = cfg_for(Scheme::standard);
    auto key = derive_key(Scheme::standard, kStdSecret);
    ASSERT_TRUE(key.has_value());
    std::string other = base64_encode(hmac(HashAlg::sha256, "rotated", "x"));
    std::string v1a = base64_encode(hmac(HashAlg::sha256, *key, "v1a"));
    std::string header = "v1," + other + "  v1a," + v1a + " " + kStdSig + " v2,abcd";
    Parsed p = parse_request(cfg, headers(header, kStdTs, kStdId), 1731705121);
    ASSERT_EQ(p.verdict, Verdict::ok) << p.detail;
    ASSERT_EQ(p.signatures.size(), 2u);
    EXPECT_EQ(base64_encode(p.signatures[0]), other);
    EXPECT_EQ(base64_encode(p.signatures[1]), kStdSig.substr(3));
    EXPECT_TRUE(verify(cfg, p, kStdSecret, kStdBody));

    // Only unknown versions: nothing to compare.
    Parsed q = parse_request(cfg, headers("v1a," + v1a + " v2," + v1a, kStdTs, kStdId), 1731705121);
    EXPECT_EQ(q.verdict, Verdict::malformed_signature);
}

TEST(Standard, HeaderFamiliesWebhookThenSvix) {
    auto fam = header_families(cfg_for(Scheme::standard));
    ASSERT_EQ(fam.size(), 2u);
    EXPECT_EQ(fam[0].signature, "webhook-signature");
    EXPECT_EQ(fam[0].timestamp, "webhook-timestamp");
    EXPECT_EQ(fam[0].id, "webhook-id");
    EXPECT_EQ(fam[1].signature, "svix-signature");
    EXPECT_EQ(fam[1].timestamp, "svix-timestamp");
    EXPECT_EQ(fam[1].id, "svix-id");
}

TEST(Standard, MissingIdOrTimestampIsMalformed) {
    auto cfg = cfg_for(Scheme::standard);
    int64_t now = 1731705121;
    EXPECT_EQ(parse_request(cfg, headers(kStdSig, kStdTs, std::nullopt), now).verdict, Verdict::malformed_signature);
    EXPECT_EQ(parse_request(cfg, headers(kStdSig, std::nullopt, kStdId), now).verdict, Verdict::malformed_signature);
    EXPECT_EQ(parse_request(cfg, headers(kStdSig, kStdTs, ""), now).verdict, Verdict::malformed_signature);
    std::string long_id(kMaxIdHeader + 1, 'a');
    EXPECT_EQ(parse_request(cfg, headers(kStdSig, kStdTs, long_id), now).verdict, Verdict::malformed_signature);
    EXPECT_EQ(parse_request(cfg, headers(kStdSig, "17317O5121", kStdId), now).verdict,
              Verdict::malformed_signature);
}

TEST(Standard, EmptyTimestampIsMalformed) {
    // A present but empty timestamp must not skip the tolerance check.
    auto cfg = cfg_for(Scheme::standard);
    EXPECT_EQ(parse_request(cfg, headers(kStdSig, "", kStdId), 1731705121).verdict, Verdict::malformed_signature);
    EXPECT_EQ(parse_request(cfg, headers(kStdSig, "  ", kStdId), 1731705121).verdict, Verdict::malformed_signature);
}

TEST(Standard, MissingSignature) {
    auto cfg = cfg_for(Scheme::standard);
    Parsed p = parse_request(cfg, headers(std::nullopt, kStdTs, kStdId), 1731705121);
    EXPECT_EQ(p.verdict, Verdict::missing_signature);
    EXPECT_EQ(parse_request(cfg, headers("", kStdTs, kStdId), 1731705121).verdict, Verdict::missing_signature);
    EXPECT_EQ(parse_request(cfg, headers("   ", kStdTs, kStdId), 1731705121).verdict, Verdict::missing_signature);
}

TEST(Standard, ToleranceBothDirections) {
    auto cfg = cfg_for(Scheme::standard);
    EXPECT_EQ(effective_tolerance(cfg), 300);
    int64_t ts = 1731705121;
    auto at = [&](int64_t now) { return parse_request(cfg, headers(kStdSig, kStdTs, kStdId), now).verdict; };
    EXPECT_EQ(at(ts + 300), Verdict::ok);
    EXPECT_EQ(at(ts - 300), Verdict::ok);
    EXPECT_EQ(at(ts + 301), Verdict::timestamp_out_of_tolerance);  // stale
    EXPECT_EQ(at(ts - 301), Verdict::timestamp_out_of_tolerance);  // from the future
    EXPECT_EQ(at(ts + 86400), Verdict::timestamp_out_of_tolerance);
    EXPECT_EQ(at(0), Verdict::timestamp_out_of_tolerance);

    cfg.tolerance = 10;
    EXPECT_EQ(effective_tolerance(cfg), 10);
    EXPECT_EQ(at(ts + 10), Verdict::ok);
    EXPECT_EQ(at(ts + 11), Verdict::timestamp_out_of_tolerance);
    EXPECT_EQ(at(ts - 11), Verdict::timestamp_out_of_tolerance);
}

TEST(Standard, ToleranceZeroDisablesCheck) {
    auto cfg = cfg_for(Scheme::standard);
    cfg.tolerance = 0;
    EXPECT_EQ(effective_tolerance(cfg), 0);
    EXPECT_EQ(parse_request(cfg, headers(kStdSig, kStdTs, kStdId), 0).verdict, Verdict::ok);
    EXPECT_EQ(parse_request(cfg, headers(kStdSig, kStdTs, kStdId), 1731705121 + 10 * 86400).verdict, Verdict::ok);
    // Still has to be a number.
    EXPECT_EQ(parse_request(cfg, headers(kStdSig, "soon", kStdId), 0).verdict, Verdict::malformed_signature);
}

TEST(Standard, WhsecKeyDerivation) {
    auto key = derive_key(Scheme::standard, kStdSecret);
    ASSERT_TRUE(key.has_value());
    EXPECT_EQ(*key, *base64_decode("plJ3nmyCDGBKInavdOK15jsl"));
    EXPECT_EQ(key->size(), 18u);
    // Invalid base64 after whsec_: refused at configuration.
    EXPECT_FALSE(derive_key(Scheme::standard, "whsec_!!!!").has_value());
    EXPECT_FALSE(derive_key(Scheme::standard, "whsec_a").has_value());         // impossible length
    EXPECT_FALSE(derive_key(Scheme::standard, "whsec_ab=c").has_value());      // padding in the middle
    EXPECT_FALSE(derive_key(Scheme::standard, "whsec_abc=x").has_value());
    EXPECT_FALSE(derive_key(Scheme::standard, "whsec_Zh==").has_value());      // non-zero leftover bits
    EXPECT_FALSE(derive_key(Scheme::standard, "whsec_").has_value());          // empty key
    EXPECT_FALSE(derive_key(Scheme::standard, "").has_value());
    // Raw secret without the prefix is used as-is.
    EXPECT_EQ(derive_key(Scheme::standard, "raw-secret"), std::optional<std::string>("raw-secret"));
}

// ---- svix family ----------------------------------------------------------------

TEST(Svix, SameParsingUnderSvixHeaders) {
    // The glue picks the svix family when webhook-signature is absent and feeds
    // the svix-* values; the verdict and signed bytes are the same.
    auto cfg = cfg_for(Scheme::standard);
    auto fam = header_families(cfg);
    ASSERT_EQ(fam.size(), 2u);
    EXPECT_EQ(fam[1].signature, "svix-signature");
    Parsed p = parse_request(cfg, headers(kStdSig, kStdTs, kStdId), 1731705121);
    ASSERT_EQ(p.verdict, Verdict::ok);
    EXPECT_TRUE(verify(cfg, p, kStdSecret, kStdBody));
    EXPECT_EQ(p.replay_id, kStdId);
}

TEST(Svix, HeaderOverrideAppliesToBothFamilies) {
    auto cfg = cfg_for(Scheme::standard);
    cfg.header = "X-Custom-Sig";
    cfg.id_header = "X-Custom-Id";
    auto fam = header_families(cfg);
    ASSERT_EQ(fam.size(), 2u);
    EXPECT_EQ(fam[0].signature, "X-Custom-Sig");
    EXPECT_EQ(fam[0].id, "X-Custom-Id");
    EXPECT_EQ(fam[0].timestamp, "webhook-timestamp");
    EXPECT_EQ(fam[1].timestamp, "svix-timestamp");
}

// ---- Slack ------------------------------------------------------------------------

TEST(Slack, Rules) {
    auto cfg = cfg_for(Scheme::slack);
    EXPECT_EQ(effective_tolerance(cfg), 300);
    int64_t ts = 1531420618;
    EXPECT_EQ(parse_request(cfg, headers(kSlackSig, std::nullopt), ts).verdict, Verdict::malformed_signature);
    EXPECT_EQ(parse_request(cfg, headers(kSlackSig, ""), ts).verdict, Verdict::malformed_signature);
    EXPECT_EQ(parse_request(cfg, headers("v1=" + kSlackSig.substr(3), "1531420618"), ts).verdict,
              Verdict::malformed_signature);
    EXPECT_EQ(parse_request(cfg, headers(kSlackSig, "1531420618"), ts + 301).verdict,
              Verdict::timestamp_out_of_tolerance);
    EXPECT_EQ(parse_request(cfg, headers(kSlackSig, "1531420618"), ts - 301).verdict,
              Verdict::timestamp_out_of_tolerance);
    EXPECT_EQ(parse_request(cfg, headers(kSlackSig, "1531420618"), ts - 299).verdict, Verdict::ok);
    EXPECT_EQ(parse_request(cfg, headers(std::nullopt, "1531420618"), ts).verdict, Verdict::missing_signature);
    auto fam = header_families(cfg);
    ASSERT_EQ(fam.size(), 1u);
    EXPECT_EQ(fam[0].signature, "X-Slack-Signature");
    EXPECT_EQ(fam[0].timestamp, "X-Slack-Request-Timestamp");
    EXPECT_EQ(fam[0].id, "");
}

// ---- GitHub -----------------------------------------------------------------------

TEST(GitHub, RequiresSha256Prefix) {
    auto cfg = cfg_for(Scheme::github);
    std::string hexd = kGhSig.substr(7);
    EXPECT_EQ(parse_request(cfg, headers(hexd), 0).verdict, Verdict::malformed_signature);
    EXPECT_EQ(parse_request(cfg, headers("sha1=" + hexd), 0).verdict, Verdict::malformed_signature);
    EXPECT_EQ(parse_request(cfg, headers("SHA256=" + hexd), 0).verdict, Verdict::malformed_signature);
    EXPECT_EQ(parse_request(cfg, headers("sha256=" + hexd), 0).verdict, Verdict::ok);
    EXPECT_EQ(effective_tolerance(cfg), 0);
    EXPECT_FALSE(scheme_has_timestamp(Scheme::github));
}

TEST(GitHub, WrongLengthDigestIsMalformed) {
    auto cfg = cfg_for(Scheme::github);
    std::string hexd = kGhSig.substr(7);
    EXPECT_EQ(parse_request(cfg, headers("sha256=" + hexd.substr(0, 62)), 0).verdict, Verdict::malformed_signature);
    EXPECT_EQ(parse_request(cfg, headers("sha256=" + hexd + "00"), 0).verdict, Verdict::malformed_signature);
    EXPECT_EQ(parse_request(cfg, headers("sha256=" + hexd.substr(0, 63)), 0).verdict, Verdict::malformed_signature);
    EXPECT_EQ(parse_request(cfg, headers("sha256="), 0).verdict, Verdict::malformed_signature);
    // sha1-sized digest under the sha256 name.
    EXPECT_EQ(parse_request(cfg, headers("sha256=" + hexd.substr(0, 40)), 0).verdict, Verdict::malformed_signature);
    std::string nonhex = hexd;
    nonhex[10] = 'x';
    EXPECT_EQ(parse_request(cfg, headers("sha256=" + nonhex), 0).verdict, Verdict::malformed_signature);
}

TEST(GitHub, HeaderFamily) {
    auto fam = header_families(cfg_for(Scheme::github));
    ASSERT_EQ(fam.size(), 1u);
    EXPECT_EQ(fam[0].signature, "X-Hub-Signature-256");
    EXPECT_EQ(fam[0].timestamp, "");
    EXPECT_EQ(fam[0].id, "X-GitHub-Delivery");
}

// ---- Shopify ----------------------------------------------------------------------

TEST(Shopify, Base64BodyOnly) {
    auto cfg = cfg_for(Scheme::shopify);
    Parsed p = parse_request(cfg, headers("GnHscbVjtjtA02SzM+6yb+4vvhJTO/18EJqccqOuIw0="), 0);
    ASSERT_EQ(p.verdict, Verdict::ok) << p.detail;
    EXPECT_EQ(p.signed_prefix, "");
    EXPECT_TRUE(verify(cfg, p, "shopify-secret", R"({"id":1})"));
    EXPECT_FALSE(verify(cfg, p, "shopify-secret", R"({"id":2})"));
    EXPECT_EQ(parse_request(cfg, headers("1a71ec71b563b63b40d364b333eeb26fee2fbe12533bfd7c109a9c72a3ae230d"), 0).verdict,
              Verdict::malformed_signature);
    auto fam = header_families(cfg);
    ASSERT_EQ(fam.size(), 1u);
    EXPECT_EQ(fam[0].signature, "X-Shopify-Hmac-Sha256");
    EXPECT_EQ(fam[0].id, "X-Shopify-Webhook-Id");
}

// ---- generic hmac -----------------------------------------------------------------

TEST(GenericHmac, Defaults) {
    auto cfg = cfg_for(Scheme::hmac);
    auto fam = header_families(cfg);
    ASSERT_EQ(fam.size(), 1u);
    EXPECT_EQ(fam[0].signature, "X-Signature");
    EXPECT_EQ(fam[0].timestamp, "");
    EXPECT_EQ(fam[0].id, "");
    EXPECT_EQ(effective_tolerance(cfg), 0);

    std::string sig = hex_mac("stager", "payload");
    Parsed p = parse_request(cfg, headers(sig), 0);
    ASSERT_EQ(p.verdict, Verdict::ok);
    EXPECT_EQ(p.signed_prefix, "");
    EXPECT_TRUE(verify(cfg, p, "stager", "payload"));
    EXPECT_FALSE(verify(cfg, p, "stager", "payload2"));
}

TEST(GenericHmac, PrefixEncodingAlg) {
    SchemeConfig cfg = cfg_for(Scheme::hmac);
    cfg.header = "X-Stairoids-Signature";
    cfg.prefix = "sha512=";
    cfg.encoding = Encoding::base64;
    cfg.alg = HashAlg::sha512;
    EXPECT_EQ(header_families(cfg)[0].signature, "X-Stairoids-Signature");

    std::string mac = hmac(HashAlg::sha512, "stairoids", "body bytes");
    Parsed p = parse_request(cfg, headers("sha512=" + base64_encode(mac)), 0);
    ASSERT_EQ(p.verdict, Verdict::ok) << p.detail;
    ASSERT_EQ(p.signatures.size(), 1u);
    EXPECT_EQ(p.signatures[0].str(), mac);
    EXPECT_TRUE(verify(cfg, p, "stairoids", "body bytes"));

    // Prefix missing, hex where base64 is configured, sha256-sized digest.
    EXPECT_EQ(parse_request(cfg, headers(base64_encode(mac)), 0).verdict, Verdict::malformed_signature);
    EXPECT_EQ(parse_request(cfg, headers("sha512=" + hex_encode(mac)), 0).verdict, Verdict::malformed_signature);
    EXPECT_EQ(parse_request(cfg, headers("sha512=" + base64_encode(hmac(HashAlg::sha256, "stairoids", "body bytes"))), 0)
                  .verdict,
              Verdict::malformed_signature);
}

TEST(GenericHmac, Sha1Hex) {
    SchemeConfig cfg = cfg_for(Scheme::hmac);
    cfg.alg = HashAlg::sha1;
    cfg.prefix = "sha1=";
    Parsed p = parse_request(cfg, headers("sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"), 0);
    ASSERT_EQ(p.verdict, Verdict::ok) << p.detail;
    EXPECT_TRUE(verify(cfg, p, "Jefe", "what do ya want for nothing?"));
    EXPECT_EQ(parse_request(cfg, headers("sha1=" + hex_mac("Jefe", "x")), 0).verdict, Verdict::malformed_signature);
}

// ---- replay ids and keys ------------------------------------------------------------

TEST(ReplayId, OnlyStandardHasASignedId) {
    // standard: webhook-id (signed: it is part of id.timestamp.body)
    Parsed s = parse_request(cfg_for(Scheme::standard), headers(kStdSig, kStdTs, kStdId), 1731705121);
    ASSERT_EQ(s.verdict, Verdict::ok);
    EXPECT_EQ(s.replay_id, "msg_loFOjxBNrRLzqYUf");

    // Every other scheme: no id from the headers (an unsigned delivery id or
    // another spelling of the signature must not make a message new); the
    // caller uses the MAC that matched.
    auto gh = cfg_for(Scheme::github);
    Parsed g1 = parse_request(gh, headers(kGhSig, std::nullopt, "72d3162e-cc78-11e3-81ab-4c9367dc0958"), 0);
    ASSERT_EQ(g1.verdict, Verdict::ok);
    EXPECT_TRUE(g1.replay_id.empty());
    std::string sh = "t=1700000000,v1=" + hex_mac("k", "m");
    Parsed st = parse_request(cfg_for(Scheme::stripe), headers(sh), 1700000000);
    ASSERT_EQ(st.verdict, Verdict::ok);
    EXPECT_TRUE(st.replay_id.empty());
    Parsed sl = parse_request(cfg_for(Scheme::slack), headers(kSlackSig, "1531420618", "some-id"), 1531420618);
    ASSERT_EQ(sl.verdict, Verdict::ok);
    EXPECT_TRUE(sl.replay_id.empty());
}

namespace {

std::string rkey(Scheme s, std::string_view key, std::string_view id) {
    return replay_key(s, replay_key_id(key), id).str();
}

}  // namespace

TEST(ReplayKey, FixedSizeSchemeAndKeySeparated) {
    std::string k = rkey(Scheme::standard, "key", "msg_1");
    EXPECT_EQ(k.size(), 32u);
    EXPECT_EQ(rkey(Scheme::standard, "key", "msg_1"), k);
    EXPECT_NE(rkey(Scheme::standard, "other key", "msg_1"), k);
    EXPECT_NE(rkey(Scheme::github, "key", "msg_1"), k);
    EXPECT_NE(rkey(Scheme::stripe, "key", "msg_1"), k);
    EXPECT_NE(rkey(Scheme::slack, "key", "msg_1"), rkey(Scheme::stripe, "key", "msg_1"));
    EXPECT_NE(rkey(Scheme::shopify, "key", "msg_1"), rkey(Scheme::hmac, "key", "msg_1"));
    EXPECT_NE(rkey(Scheme::standard, "key", "msg_2"), k);
    EXPECT_EQ(rkey(Scheme::hmac, "key", std::string(10000, 'x')).size(), 32u);
    EXPECT_EQ(rkey(Scheme::hmac, "", "").size(), 32u);
}

// Replay keys are kept across restarts (state=, the fleet's log): the
// formula is fixed, SHA-256("<scheme>\0" || SHA-256(key) || id).
TEST(ReplayKey, StableFormula) {
    std::string material = std::string("github") + '\0' + sha256("key") + "msg_1";
    EXPECT_EQ(rkey(Scheme::github, "key", "msg_1"), sha256(material));
    EXPECT_EQ(hex_encode(rkey(Scheme::standard, "whsec key", "msg_2v1")),
              hex_encode(sha256(std::string("standard") + '\0' + sha256("whsec key") + "msg_2v1")));
}

// ---- limits -------------------------------------------------------------------------

TEST(Limits, OverLongSignatureHeaderIsMalformed) {
    auto cfg = cfg_for(Scheme::standard);
    std::string header = kStdSig;
    while (header.size() <= kMaxSignatureHeader) header += " v1a,xxxx";
    ASSERT_GT(header.size(), kMaxSignatureHeader);
    Parsed p = parse_request(cfg, headers(header, kStdTs, kStdId), 1731705121);
    EXPECT_EQ(p.verdict, Verdict::malformed_signature);
    EXPECT_TRUE(p.signatures.empty());

    auto gh = cfg_for(Scheme::github);
    std::string ghh = kGhSig + std::string(kMaxSignatureHeader, '0');
    EXPECT_EQ(parse_request(gh, headers(ghh), 0).verdict, Verdict::malformed_signature);

    // Exactly at the limit is still parsed.
    std::string at = kStdSig;
    at += ' ';
    at += std::string(kMaxSignatureHeader - at.size(), 'x');
    ASSERT_EQ(at.size(), kMaxSignatureHeader);
    EXPECT_EQ(parse_request(cfg, headers(at, kStdTs, kStdId), 1731705121).verdict, Verdict::ok);
}

TEST(Limits, AtMostKMaxSignaturesCandidates) {
    auto cfg = cfg_for(Scheme::standard);
    std::string header;
    for (size_t i = 0; i < kMaxSignatures + 5; i++) header += kStdSig + " ";
    Parsed p = parse_request(cfg, headers(header, kStdTs, kStdId), 1731705121);
    ASSERT_EQ(p.verdict, Verdict::ok);
    EXPECT_EQ(p.signatures.size(), kMaxSignatures);
}

// ---- what the sender is told -------------------------------------------------------

namespace {

// The detail of a refusal, with its verdict, parsed as the NGINX glue does
// (with the families computed once, at configuration time); the form that
// computes them tells the same.
std::string refusal(const SchemeConfig& cfg, const HeaderValues& h, int64_t now = 1700000000) {
    Parsed p = parse_request(cfg, header_families(cfg), h, now);
    Parsed q = parse_request(cfg, h, now);
    EXPECT_EQ(p.verdict, q.verdict);
    EXPECT_EQ(p.detail, q.detail);
    return std::string(verdict_code(p.verdict)) + ": " + p.detail;
}

}  // namespace

TEST(Messages, NameTheMissingOrInvalidHeader) {
    auto std_cfg = cfg_for(Scheme::standard);
    int64_t now = 1731705121;
    EXPECT_EQ(refusal(std_cfg, headers(std::nullopt), now),
              "missing_signature: missing webhook-signature or svix-signature header");
    EXPECT_EQ(refusal(std_cfg, headers(kStdSig, kStdTs, std::nullopt), now),
              "malformed_signature: missing webhook-id header");
    EXPECT_EQ(refusal(std_cfg, headers(kStdSig, std::nullopt, kStdId), now),
              "malformed_signature: missing webhook-timestamp header");
    EXPECT_EQ(refusal(std_cfg, headers(kStdSig, kStdTs, ""), now),
              "malformed_signature: webhook-id header must be 1 to 256 bytes");
    EXPECT_EQ(refusal(std_cfg, headers("v2,abc", kStdTs, kStdId), now),
              "malformed_signature: webhook-signature has no v1,<base64> signature of a 32-byte HMAC-SHA256 nor "
              "v1a,<base64> of a 64-byte Ed25519 signature");
    EXPECT_EQ(refusal(std_cfg, headers(kStdSig, "soon", kStdId), now),
              "malformed_signature: webhook-timestamp header must be Unix seconds");
    EXPECT_EQ(refusal(std_cfg, headers(kStdSig, kStdTs, kStdId), now + 301),
              "timestamp_out_of_tolerance: webhook-timestamp header is more than 300 seconds from the server's clock");
    // The svix-* names, when those are the ones sent.
    HeaderValues svix = headers(kStdSig, kStdTs, std::nullopt);
    svix.names = header_families(std_cfg)[1];
    EXPECT_EQ(refusal(std_cfg, svix, now), "malformed_signature: missing svix-id header");

    auto gh = cfg_for(Scheme::github);
    EXPECT_EQ(refusal(gh, headers(std::nullopt)), "missing_signature: missing X-Hub-Signature-256 header");
    EXPECT_EQ(refusal(gh, headers(" ")), "missing_signature: empty X-Hub-Signature-256 header");
    EXPECT_EQ(refusal(gh, headers("sha1=abcd")), "malformed_signature: X-Hub-Signature-256 must start with sha256=");
    EXPECT_EQ(refusal(gh, headers("sha256=abcd")),
              "malformed_signature: X-Hub-Signature-256 must be sha256= and 64 hex digits");
    EXPECT_EQ(refusal(gh, headers(std::string(kMaxSignatureHeader + 1, 'a'))),
              "malformed_signature: X-Hub-Signature-256 header is longer than 4096 bytes");

    auto stripe = cfg_for(Scheme::stripe);
    std::string v1 = hex_mac("k", "m");
    EXPECT_EQ(refusal(stripe, headers(std::nullopt)), "missing_signature: missing Stripe-Signature header");
    EXPECT_EQ(refusal(stripe, headers("v1=" + v1)), "malformed_signature: Stripe-Signature has no t= timestamp");
    EXPECT_EQ(refusal(stripe, headers("t=,v1=" + v1)), "malformed_signature: Stripe-Signature has an empty t= timestamp");
    EXPECT_EQ(refusal(stripe, headers("t=1,t=2,v1=" + v1)), "malformed_signature: Stripe-Signature has two t= timestamps");
    EXPECT_EQ(refusal(stripe, headers("t=1700000000,v0=" + v1)),
              "malformed_signature: Stripe-Signature has no v1= signature of 64 hex digits");
    EXPECT_EQ(refusal(stripe, headers("t=17e8,v1=" + v1)),
              "malformed_signature: Stripe-Signature t= timestamp must be Unix seconds");
    EXPECT_EQ(refusal(stripe, headers("t=1700000000,v1=" + v1), 1700000301),
              "timestamp_out_of_tolerance: Stripe-Signature t= timestamp is more than 300 seconds from the server's clock");

    auto slack = cfg_for(Scheme::slack);
    EXPECT_EQ(refusal(slack, headers(std::nullopt)), "missing_signature: missing X-Slack-Signature header");
    EXPECT_EQ(refusal(slack, headers(kSlackSig)), "malformed_signature: missing X-Slack-Request-Timestamp header");
    EXPECT_EQ(refusal(slack, headers("v1=" + v1, "1700000000")), "malformed_signature: X-Slack-Signature must start with v0=");
    EXPECT_EQ(refusal(slack, headers("v0=zz", "1700000000")),
              "malformed_signature: X-Slack-Signature must be v0= and 64 hex digits");
    EXPECT_EQ(refusal(slack, headers(kSlackSig, "x")),
              "malformed_signature: X-Slack-Request-Timestamp header must be Unix seconds");

    auto shopify = cfg_for(Scheme::shopify);
    EXPECT_EQ(refusal(shopify, headers(std::nullopt)), "missing_signature: missing X-Shopify-Hmac-Sha256 header");
    EXPECT_EQ(refusal(shopify, headers("abcd")),
              "malformed_signature: X-Shopify-Hmac-Sha256 must be the base64 of a 32-byte HMAC");

    auto hm = cfg_for(Scheme::hmac);
    EXPECT_EQ(refusal(hm, headers(std::nullopt)), "missing_signature: missing X-Signature header");
    EXPECT_EQ(refusal(hm, headers("xyz")), "malformed_signature: X-Signature must be 64 hex digits");
    hm.header = "X-Stairoids-Signature";
    hm.prefix = "sha256=";
    EXPECT_EQ(refusal(hm, headers(std::nullopt)), "missing_signature: missing X-Stairoids-Signature header");
    EXPECT_EQ(refusal(hm, headers(v1)), "malformed_signature: X-Stairoids-Signature must start with \"sha256=\"");
    hm.encoding = Encoding::base64;
    hm.alg = HashAlg::sha512;
    EXPECT_EQ(refusal(hm, headers("sha256=" + v1)),
              "malformed_signature: X-Stairoids-Signature must be \"sha256=\" and the base64 of a 64-byte HMAC");
}

TEST(Messages, NeverEchoTheSignature) {
    std::string sig = "sha256=" + std::string(63, 'b') + "Q";
    for (Scheme s : {Scheme::standard, Scheme::github, Scheme::stripe, Scheme::slack, Scheme::shopify, Scheme::hmac}) {
        Parsed p = parse_request(cfg_for(s), headers(sig, "1700000000", "msg_1"), 1700000000);
        EXPECT_NE(p.verdict, Verdict::ok);
        EXPECT_EQ(p.detail.find(std::string(20, 'b')), std::string::npos) << p.detail;
    }
}

TEST(Messages, AfterTheBody) {
    int64_t now = 1731705121;
    auto std_cfg = cfg_for(Scheme::standard);
    Parsed p = parse_request(std_cfg, headers(kStdSig, kStdTs, kStdId), now);
    EXPECT_EQ(verdict_detail(std_cfg, p.names, Verdict::bad_signature),
              "no signature in webhook-signature matches webhook-id, webhook-timestamp and the body (signed with "
              "another secret, or the body was changed)");
    EXPECT_EQ(verdict_detail(std_cfg, p.names, Verdict::replayed), "a webhook with this webhook-id was already received");
    auto gh = cfg_for(Scheme::github);
    Parsed g = parse_request(gh, headers(kGhSig), 0);
    EXPECT_EQ(verdict_detail(gh, g.names, Verdict::bad_signature),
              "X-Hub-Signature-256 does not match the body (signed with another secret, or the body was changed)");
    EXPECT_EQ(verdict_detail(gh, g.names, Verdict::replayed), "a webhook with this signature was already received");
    auto stripe = cfg_for(Scheme::stripe);
    Parsed st = parse_request(stripe, headers("t=1700000000,v1=" + hex_mac("k", "m")), 1700000000);
    EXPECT_EQ(verdict_detail(stripe, st.names, Verdict::bad_signature).substr(0, 54),
              "no v1= signature in Stripe-Signature matches t= and th");
    auto slack = cfg_for(Scheme::slack);
    Parsed sl = parse_request(slack, headers(kSlackSig, "1531420618"), 1531420618);
    EXPECT_EQ(verdict_detail(slack, sl.names, Verdict::bad_signature).substr(0, 68),
              "X-Slack-Signature does not match X-Slack-Request-Timestamp and the b");
}
