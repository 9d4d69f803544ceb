# Hostile HTTP/2 clients (h2c on `listen ... http2`, nginx 1.22's spelling;
# t/npm/h2client.mjs on node's built-in http2): on webhook_verify, api_key_auth
# and webhook_emit locations (+ proxy_pass) — RST_STREAM
# after the HEADERS, in the middle of the body, right after END_STREAM (while
# the upstream works), at the response HEADERS (while the upstream sends the
# body), and a TCP RST of the whole connection mid-body; good requests first
# as a sanity check. 2 connections x 5 streams per burst. (webhook_api:
# t/api/hostile_h2.t; webhook_status: t/status/hostile.t.) After each burst: each worker's fds, CLOSE-WAIT, stub_status
# "Active connections", zone bytes back to the baseline, and error.log clean
# (stop included: no "open socket ... left in connection").

use v5.36;
use Test::More;
use WebhookTest qw(:all);
use HostileTest qw(:all);

my $t = hostile_setup();
my $closed = sub ($s) { $s->{closed} };

for my $g ('verify', 'keys', 'emit') {
    scenario($t, "h2 /$g: good requests (sanity)", sub {
        my $rep = h2_burst($t, request => h2_request($t, "/$g", guard => $g), action => 'complete', pause_ms => 50);
        h2_all_ok($rep, sub ($s) { $s->{status} == 200 && $s->{ended} }, '200, stream ended');
    });
    scenario($t, "h2 /$g: RST_STREAM after the HEADERS", sub {
        my $rep = h2_burst($t, request => h2_request($t, "/$g", guard => $g, read => 1), action => 'rst_after_headers');
        h2_all_ok($rep, $closed, 'streams closed');
    });
    scenario($t, "h2 /$g: RST_STREAM in the middle of the body", sub {
        my $rep = h2_burst($t, request => h2_request($t, "/$g", guard => $g, read => 1), action => 'rst_mid_body');
        h2_all_ok($rep, $closed, 'streams closed');
    });
    scenario($t, "h2 /$g-slow: RST_STREAM right after the body, while the upstream works", sub {
        my $rep = h2_burst($t, request => h2_request($t, "/$g-slow", guard => $g), action => 'rst_after_body', pause_ms => 400);
        h2_all_ok($rep, $closed, 'streams closed');
    });
    scenario($t, "h2 /$g-trickle: RST_STREAM at the response HEADERS, while the upstream sends the body", sub {
        my $rep = h2_burst($t, request => h2_request($t, "/$g-trickle", guard => $g), action => 'rst_after_response', pause_ms => 50);
        h2_all_ok($rep, sub ($s) { $s->{closed} && $s->{status} == 200 }, 'the answer had started (200), streams closed');
    });
    scenario($t, "h2 /$g: TCP RST of the connection in the middle of the body", sub {
        my $rep = h2_burst($t, request => h2_request($t, "/$g", guard => $g, read => 1), action => 'tcp_reset_mid_body');
        h2_all_ok($rep, $closed, 'streams closed');
    });
}

finish($t);
done_testing;
