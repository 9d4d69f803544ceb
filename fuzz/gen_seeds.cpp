// Writes the seed corpora of the fuzz targets: fuzz/corpus/<target>/<name>.
// Signatures are computed here (so they verify), journal files are written with
// journal_encode (so they are what the module writes). Rerun after changing the
// seeds:   make fuzz-seeds      (or build-fuzz/gen_seeds fuzz/corpus)
#include <sys/stat.h>

#include <cstdio>
#include <string>
#include <vector>

#include "core/deliver/events.hpp"
#include "core/deliver/retry.hpp"
#include "core/deliver/signing.hpp"
#include "core/deliver/url_policy.hpp"
#include "core/util/ed25519.hpp"
#include "core/util/encoding.hpp"
#include "core/util/hmac.hpp"
#include "core/store/mutation.hpp"
#include "core/store/records.hpp"

using namespace webhook;

namespace {

std::string root;

void put(const std::string& target, const std::string& name, const std::string& bytes) {
    std::string dir = root + "/" + target;
    mkdir(root.c_str(), 0755);
    mkdir(dir.c_str(), 0755);
    std::string path = dir + "/" + name;
    FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() || std::fclose(f) != 0) {
        std::perror(path.c_str());
        std::exit(1);
    }
}

// verify_headers: ctl, now, signature, timestamp, id, secret, body.
void verify(const std::string& name, const std::string& ctl, const std::string& now, const std::string& sig,
            const std::string& ts, const std::string& id, const std::string& secret, const std::string& body) {
    put("verify_headers", name, ctl + "\n" + now + "\n" + sig + "\n" + ts + "\n" + id + "\n" + secret + "\n" + body);
}

void verify_seeds() {
    // W3C Trace Context headers in the signature and id lines (the target
    // checks parse_traceparent / parse_tracestate on them too).
    verify("trace_context", "0700", "1731705121", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
           "1731705121", "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE,,a@b=c d", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "{}");
    // TEST-VECTORS.md: Standard Webhooks / Svix.
    const std::string std_body = R"({"event_type":"ping","data":{"success":true}})";
    verify("standard_vector", "07000", "1731705121", "v1,rAvfW3dJ/X/qxhsaXPOyyCGmRKsaKWcsNccKXlIktD0=", "1731705121",
           "msg_loFOjxBNrRLzqYUf", "whsec_plJ3nmyCDGBKInavdOK15jsl", std_body);
    verify("standard_rotation", "07000", "1731705130",
           "v1,Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE= v1a,ignored v1,rAvfW3dJ/X/qxhsaXPOyyCGmRKsaKWcsNccKXlIktD0=",
           "1731705121", "msg_loFOjxBNrRLzqYUf", "whsec_plJ3nmyCDGBKInavdOK15jsl", std_body);
    verify("standard_stale", "07000", "1731709999", "v1,rAvfW3dJ/X/qxhsaXPOyyCGmRKsaKWcsNccKXlIktD0=", "1731705121",
           "msg_loFOjxBNrRLzqYUf", "whsec_plJ3nmyCDGBKInavdOK15jsl", std_body);
    verify("standard_no_id", "03010", "1731705121", "v1,rAvfW3dJ/X/qxhsaXPOyyCGmRKsaKWcsNccKXlIktD0=", "1731705121",
           "", "whsec_plJ3nmyCDGBKInavdOK15jsl", std_body);
    {
        std::string key = *base64_decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        std::string sig = standard_signature({key}, "wh_evt_2d7f", 1731705200, R"({"type":"room.on_air","data":{}})");
        verify("standard_ours", "07000", "1731705200", sig, " 1731705200 ", "wh_evt_2d7f",
               "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", R"({"type":"room.on_air","data":{}})");
    }
    {
        // v1a (Ed25519): RFC 8032 §7.1 TEST 1's key signs; the secret is its whpk_.
        Ed25519Key sk = *Ed25519Key::from_secret("whsk_nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=");
        Ed25519Signature es;
        const std::string body = R"({"type":"invoice.paid"})";
        sk.sign("msg_ed." + std::string("1731705121.") + body, &es);
        std::string v1a = "v1a," + base64_encode(std::string_view(reinterpret_cast<const char*>(es.data()), es.size()));
        verify("standard_v1a", "07000", "1731705121", v1a, "1731705121", "msg_ed", sk.public_text(), body);
        verify("standard_v1a_mixed", "07000", "1731705121",
               "v1a,c2hvcnQ= " + v1a + " v1,Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=", "1731705121", "msg_ed",
               "whsec_plJ3nmyCDGBKInavdOK15jsl", body);
    }
    // GitHub.
    verify("github_vector", "17000", "1731705121",
           "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", "",
           "72d3162e-cc78-11e3-81ab-4c9367dc0958", "It's a Secret to Everybody", "Hello, World!");
    verify("github_upper", "11000", "0", "sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17", "",
           "", "It's a Secret to Everybody", "Hello, World!");
    // Slack.
    const std::string slack_body =
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name="
        "foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2F"
        "hooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015."
        "47445629121.803a0bc887a14d10d2c447fce8b6703c";
    verify("slack_vector", "33000", "1531420618",
           "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503", "1531420618", "",
           "8f742231b10e8888abcd99yyyzzz85a5", slack_body);
    verify("slack_future", "33002", "1531420000",
           "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503", "1531420618", "",
           "8f742231b10e8888abcd99yyyzzz85a5", slack_body);
    // Stripe: the whole whsec_… literal is the key.
    {
        const std::string secret = "whsec_test_secret", body = R"({"id":"evt_1","object":"event"})";
        std::string v1 = hex_encode(hmac(HashAlg::sha256, secret, "1731705121." + body));
        verify("stripe_valid", "21000", "1731705200", "t=1731705121,v1=" + v1 + ",v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39", "", "", secret, body);
        verify("stripe_two_t", "21000", "1731705200", "t=1731705121,t=1731705122,v1=" + v1, "", "", secret, body);
        verify("stripe_spaces", "21030", "1731705121", " t=1731705121 , v1=" + v1 + " ", "", "", secret, body);
    }
    // Shopify: base64 of the body's HMAC.
    {
        const std::string secret = "hush", body = R"({"id":820982911946154508,"email":"jon@example.com"})";
        verify("shopify_valid", "45000", "1731705121", base64_encode(hmac(HashAlg::sha256, secret, body)), "",
               "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043", secret, body);
    }
    // hmac: header=, prefix=, encoding=, alg=.
    {
        const std::string secret = "stairoids-secret", body = R"({"event":"room.off_air","room":"r_42"})";
        verify("hmac_stairoids", "51000sha256=", "1731705121",
               body_signature(HashAlg::sha256, secret, body, Encoding::hex, "sha256="), "", "dlv_1", secret, body);
        verify("hmac_sha1_b64", "51110", "1731705121", body_signature(HashAlg::sha1, secret, body, Encoding::base64, ""),
               "", "", secret, body);
        verify("hmac_sha512", "51020v1=", "1731705121",
               body_signature(HashAlg::sha512, secret, body, Encoding::hex, "v1="), "", "", secret, body);
        verify("hmac_wrong_prefix", "51000sha256=", "1731705121",
               body_signature(HashAlg::sha256, secret, body, Encoding::hex, "sha1="), "", "", secret, body);
    }
    verify("missing_all", "00000", "", "", "", "", "", "");
}

void api_seeds() {
    auto api = [](const std::string& name, const std::string& body) { put("api_json", name, body); };
    api("key_create", R"({"resource":"room:r_42","scopes":["read"],"label":"OBS overlay"})");
    api("key_create_full",
        R"({"resource":"org:acme","scopes":["readwrite","webhooks:manage","events:publish"],"label":"CI bot","expires_at":"2030-01-01T00:00:00Z"})");
    api("key_expiry_int", R"({"resource":"*","scopes":["read","readwrite"],"expires_at":1893456000,"label":null})");
    api("key_expiry_offset", R"({"resource":"room:b\u00fcro","scopes":["read"],"expires_at":"2031-06-30T12:00:00.123+02:00"})");
    api("key_bad_scope", R"({"resource":"room:1","scopes":["admin"]})");
    api("key_unknown_field", R"({"resource":"room:1","scopes":["read"],"role":"owner"})");
    api("key_control", "{\"resource\":\"room:1\\r\\nX-Injected: 1\",\"scopes\":[\"read\"]}");
    api("limits", R"({"max_webhooks":5,"max_keys":20})");
    api("limits_one", R"({"max_keys":0})");
    api("limits_bad", R"({"max_webhooks":100001,"max_keys":-1})");
    api("webhook_create",
        R"({"url":"https://hooks.example.com/stagetick","events":["room.on_air","room.off_air"],"name":"prod","description":"Production receiver","timeout":10,"enabled":true})");
    api("webhook_globs",
        R"({"url":"https://[2001:db8::1]:8443/in?x=1","events":["*","room.*","show:start","a-b_c.d"],"tenant":"acme","secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})");
    api("webhook_patch", R"({"events":["room.*"],"enabled":false,"timeout":30})");
    api("webhook_bad_events", R"({"url":"http://127.0.0.1/","events":[".room","room.",".*","Room.On","*.*",""]})");
    api("event_publish",
        R"({"type":"room.on_air","tenant":"acme","data":{"room":"r_42","started_at":"2024-11-15T21:12:01Z","viewers":[1,2.5,-3e10],"ok":true,"none":null}})");
    api("event_scalar_data", R"({"type":"webhook.test","data":"\u00e9\ud83d\ude00"})");
    api("event_no_data", R"({"type":"room.off_air","timestamp":253402300799})");
    api("event_nested", R"({"type":"a","data":[[[[[[[[{"k":[{}]}]]]]]]]]})");
    api("dup_key", R"({"type":"a","type":"b"})");
    api("not_object", R"(["resource","scopes"])");
    api("invalid_utf8", "{\"label\":\"\xc3\x28\"}");
    api("latin1_excerpt", "<html><body>Erreur interne: donn\xe9" "es invalides</body></html>");
    api("truncated_utf8", "{\"response\":\"caf\xc3");
}

std::string rec(uint64_t seq, const std::string& payload) { return journal_encode(seq, payload); }

void journal_seeds() {
    auto j = [](const std::string& name, const std::string& bytes) { put("journal", name, bytes); };
    const std::vector<std::string> muts = {
        R"({"op":"key.put","id":"key_4f8Kq2ZxVb7LmN3p","hash":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","display":"sk_AbCdE","resource":"room:r_42","label":"OBS","scopes":1,"created_at":1731705121,"expires_at":0})",
        R"({"op":"limits.put","tenant":"acme","max_keys":5,"max_webhooks":20})",
        R"({"op":"endpoint.put","id":"wh_9ZxY","tenant":"acme","url":"https://hooks.example.com/in","name":"prod","description":"","events":["room.*"],"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw","old_secret":"","old_secret_until":0,"timeout_ms":10000,"enabled":true,"disabled_reason":"","created_at":1731705121,"updated_at":1731705121})",
        R"({"op":"event.put","id":"evt_1","tenant":"acme","type":"room.on_air","payload":"{\"type\":\"room.on_air\",\"timestamp\":\"2024-11-15T21:12:01Z\",\"data\":{}}","created_at_ms":1731705121000,"deliveries":[{"id":"dlv_1","endpoint":"wh_9ZxY"}]})",
        R"({"op":"attempt.done","delivery":"dlv_1","token":3,"number":1,"outcome":"retry","next_attempt_at":1731705181000,"attempt":{"at":1731705121000,"time":"2024-11-15T21:12:01Z","response_status":503,"response_time_ms":12,"error":"http_503","response":"busy"}})",
        R"({"op":"key.del","id":"key_4f8Kq2ZxVb7LmN3p"})",
    };
    std::string journal;
    for (size_t i = 0; i < muts.size(); i++) journal += rec(100 + i, muts[i]);
    j("journal_clean", journal);
    j("journal_torn", journal.substr(0, journal.size() - 7));
    std::string corrupt = journal;
    corrupt[kJournalHeader + 10] ^= 0x20;   // payload of the first record
    j("journal_corrupt_first", corrupt);
    std::string snapshot = rec(250, R"({"op":"snapshot"})");
    for (size_t i = 0; i < 3; i++) snapshot += rec(250, muts[i]);
    j("snapshot", snapshot);
    j("garbage_between", "\x00\x00WHJ" + rec(7, muts[1]) + "junk\nWHJ1\xff\xff\xff\xff" + rec(8, muts[5]) + "WH");
    j("empty_payload", rec(0, "") + rec(UINT64_MAX, "{}"));
    std::string huge_len = rec(9, muts[1]);
    huge_len[4] = '\xff';
    huge_len[7] = '\x7f';
    j("bad_length", huge_len + rec(10, muts[1]));
}

// One record of each op, as the module writes them (store::encode).
void mutation_seeds() {
    auto m = [](const std::string& name, const store::Mutation& record) { put("mutation", name, store::encode(record)); };
    store::AttemptDone done;
    done.delivery = "dlv_1";
    done.token = 3;
    done.number = 2;
    done.outcome = store::AttemptOutcome::retry;
    done.next_attempt_at = 1731705181000;
    done.disable = "the endpoint answered 410 Gone";
    done.attempt = {1731705121000, 503, 12, "http_503", "busy \xc3"};
    store::EndpointPut ep;
    ep.id = "wh_9ZxY";
    ep.tenant = "acme";
    ep.url = "https://hooks.example.com/in";
    ep.events = {"room.*", "*"};
    ep.secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    ep.expect_revision = 4;
    store::EventPut ev;
    ev.id = "evt_1";
    ev.tenant = "acme";
    ev.type = "room.on_air";
    ev.payload = "{\"type\":\"room.on_air\",\"data\":{}}";
    ev.created_at_ms = 1731705121000;
    ev.idempotency = store::idempotency_slot("acme", "order-7");
    ev.deliveries = {{"dlv_1", "wh_9ZxY"}, {"dlv_2", "wh_other"}};
    store::DeliveryRestore restore;
    restore.id = "dlv_1";
    restore.event = "evt_1";
    restore.endpoint = "wh_9ZxY";
    restore.status = store::DeliveryStatus::failed;
    restore.attempts = 5;
    restore.history = "[{\"at\":1}]";
    m("key_put", store::KeyPut{"key_4f8Kq2ZxVb7LmN3p", std::string(32, '\x9f'), "sk_AbCdE", "room:r_42", "OBS", 5, 1731705121, 0});
    m("key_del", store::KeyDel{"key_4f8Kq2ZxVb7LmN3p"});
    m("limits_put", store::LimitsPut{"acme", 5, std::nullopt, -1});
    m("endpoint_put", ep);
    m("endpoint_del", store::EndpointDel{"wh_9ZxY"});
    m("endpoint_status", store::EndpointStatus{"wh_9ZxY", "timeout", 1731705121000, 1731700000000});
    m("event_put", ev);
    store::EventPut traced = ev;
    traced.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    traced.tracestate = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
    m("event_put_traced", traced);
    m("event_del", store::EventDel{"evt_1", ev.idempotency});
    m("attempt_done", done);
    m("delivery_replay", store::DeliveryReplay{"dlv_1", 1731705121000});
    m("delivery_unreplay", store::DeliveryUnreplay{"dlv_1", store::DeliveryStatus::succeeded});
    m("delivery_restore", restore);
    m("delivery_recover", store::DeliveryRecover{"wh_9ZxY", 1731705000000, 1731705121000, 1731705121500, "edge-1", 2,
                                                 {"dlv_1", "dlv_2"}});
    m("delivery_unrecover", store::DeliveryUnrecover{"wh_9ZxY", 2, {"dlv_1", "dlv_2"}});
    m("idempotency_restore", store::IdempotencyRestore{ev.idempotency, "evt_1", 2, 1731791521000});
    m("snapshot", store::SnapshotHeader{});
}

void url_seeds() {
    auto u = [](const std::string& name, const std::string& lines) { put("url_policy", name, lines); };
    u("public", "https://hooks.example.com/stagetick\nHTTPS://Hooks.Example.COM:8443/in?x=1&y=%20\nhttps://a.b-c_d.example./p");
    u("http", "http://receiver.internal.example:80/hook\nhttp://203.0.113.7:8080/\nhttp://[2001:db8::1]/");
    u("ipv6", "https://[2001:db8::1]:8443/in\nhttps://[::1]/\nhttps://[fe80::1]/\nhttps://[fc00::2]/\nhttps://[ff02::1]/\n"
              "https://[::]/\nhttps://[64:ff9b::7f00:1]/\nhttps://[2001:DB8:0:0:0:0:0:1]?q");
    u("mapped", "https://[::ffff:127.0.0.1]/\nhttps://[::ffff:7f00:1]/\nhttps://[0:0:0:0:0:ffff:a9fe:a9fe]/\n"
                "https://[::ffff:10.1.2.3]:443/x\n::ffff:192.168.0.1\n::ffff:8.8.8.8");
    u("numeric", "https://2130706433/\nhttps://0x7f000001/\nhttps://127.1/\nhttps://0177.0.0.1/\nhttps://127.0.0.1./\n"
                 "https://1.2.3.4.5/\nhttps://example.123/");
    u("private_v4", "https://127.0.0.1/\nhttps://10.0.0.1:9000/\nhttps://172.16.5.4/\nhttps://172.31.255.255/\n"
                    "https://192.168.1.1/\nhttps://169.254.169.254/latest/meta-data/\nhttps://100.64.0.1/\n"
                    "https://0.0.0.0/\nhttps://224.0.0.1/\nhttps://255.255.255.255/");
    u("tricky", "https://user:pass@example.com/\nhttps://example.com#frag\nhttps://example.com:0/\nhttps://example.com:65536/\n"
                "https://example.com:/\nhttps://[::1\nhttps://[::1]x/\nhttps://[1.2.3.4]/\nhttps://exa mple.com/\n"
                "https://\nhttps:///path\nftp://example.com/\nhttps://2001:db8::1:8443/\nhttps://ex\xc3\xa4mple.com/");
    u("cidrs", "10.0.0.0/8\n192.168.0.0/16\n172.16.0.0/12\nfd00::/8\n::ffff:10.0.0.0/104\n0.0.0.0/0\n::/0\n"
               "203.0.113.7\n2001:db8::/32\n10.0.0.1/33\n::1/129\n1.2.3.4/\n1.2.3.4/08");
    u("raw", std::string("\x7f\x00\x00\x01", 4) + "\n" +
                 std::string("\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x0a\x00\x00\x01", 16) + "\n" +
                 std::string("\xfe\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01", 16));
}

void time_seeds() {
    auto t = [](const std::string& name, const std::string& lines) { put("time_parse", name, lines); };
    t("rfc3339", "1731705121\n2030-01-01T00:00:00Z\n2024-02-29T23:59:60Z\n1970-01-01T00:00:00z\n"
                 "9999-12-31T23:59:59Z\n2031-06-30t12:00:00.123456+02:00\n2000-01-01T00:00:00-23:59");
    t("rfc3339_bad", "2023-02-29T00:00:00Z\n2030-13-01T00:00:00Z\n2030-01-01 00:00:00Z\n2030-01-01T00:00:00\n"
                     "2030-01-01T00:00:00.Z\n0000-01-01T00:00:00Z\n2030-01-01T24:00:00Z\n2030-01-01T00:00:00+24:00");
    t("retry_after", "1731705121\n120\n  30  \n0\n999999999\n1000000000\nSun, 06 Nov 1994 08:49:37 GMT\n"
                     "Wed, 21 Oct 2037 07:28:00 GMT\nFri, 15 Nov 2024 21:13:01 GMT\n-5\n1.5");
    t("retries", "0s,1m,5m,30m,2h\n0,500ms,1s,1d\n100000000d\n5m,,1h\n1x\n,\n0s");
}

void encoding_seeds() {
    auto e = [](const std::string& name, const std::string& s) { put("encoding", name, s); };
    e("hex_sig", "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
    e("hex_upper", "A2114D57B48EAC39B9AD189DD8316235A7B4A8D21A10BD27519666489C69B503");
    e("b64_sig", "rAvfW3dJ/X/qxhsaXPOyyCGmRKsaKWcsNccKXlIktD0=");
    e("b64_secret", "plJ3nmyCDGBKInavdOK15jsl");
    e("b64_pad1", "YWJjZA==");
    e("b64_pad2", "YWJjZGU=");
    e("b64_bad", "YWJjZB==");
    e("binary", std::string("\x00\x01\xfe\xff\x80\x7f", 6));
}

}  // namespace

int main(int argc, char** argv) {
    root = argc > 1 ? argv[1] : "fuzz/corpus";
    verify_seeds();
    api_seeds();
    journal_seeds();
    mutation_seeds();
    url_seeds();
    time_seeds();
    encoding_seeds();
    return 0;
}
