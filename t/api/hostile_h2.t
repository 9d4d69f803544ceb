# Hostile HTTP/2 clients (h2c, t/npm/h2client.mjs) on webhook_api with a
# durable zone (state=DIR: a write is answered once its journal record is on
# disk, written from the thread pool): good PUT /limits (sanity), RST_STREAM
# in the middle of a body, and RST_STREAM / TCP RST right after END_STREAM has
# left, while the record is in the journal. The writes repeat what the
# warm-up stored, so zone bytes must come back to the baseline too; then fds,
# CLOSE-WAIT, stub_status, error.log clean (stop included).
#
# Found with this file: a TCP RST of the HTTP/2 connection while its durable
# write is in the journal leaks the connection (fd, stub_status, "open socket
# ... left in connection" at stop) — the HTTP/2 face of the known HTTP/1.1
# leak; a RST_STREAM of the stream alone does too, intermittently.
use v5.36;
use Test::More;
use WebhookTest qw(:all);
use HostileTest qw(:all);

my $t = hostile_setup();
my $closed = sub ($s) { $s->{closed} };

my @limits = (limits_body());
my @event = (event_body());
scenario($t, 'h2 /v1/: good PUT /limits (sanity)', sub {
    my $rep = h2_burst($t, request => h2_request($t, '/v1/limits/hostile', guard => 'v1', method => 'PUT', pieces => \@limits),
                       action => 'complete');
    h2_all_ok($rep, sub ($s) { $s->{status} == 200 && $s->{ended} }, '200, stream ended');
});
scenario($t, 'h2 /v1/: RST_STREAM in the middle of the body (POST /events)', sub {
    my $rep = h2_burst($t, request => h2_request($t, '/v1/events', guard => 'v1', pieces => [substr($event[0], 0, 20), substr($event[0], 20)]),
                       action => 'rst_mid_body');
    h2_all_ok($rep, $closed, 'streams closed');
});
# The reset right after END_STREAM has left (h2client waits for the flush),
# one stream per connection: 4 rounds of 10 connections for each of PUT
# /limits and POST /events (whether the reset lands while the record is in
# the journal is a matter of timing each time).
for my $a (['rst_after_body', 'RST_STREAM'], ['tcp_reset_after_body', 'TCP RST']) {
    my ($action, $what) = @$a;
    scenario($t, "h2 /v1/: $what right after END_STREAM, during the journal write (PUT /limits, POST /events)", sub {
        for my $round (1 .. 4) {
            for my $w (['PUT', '/v1/limits/hostile', \@limits], ['POST', '/v1/events', \@event]) {
                my ($method, $path, $pieces) = @$w;
                my $rep = h2_burst($t, sessions => 10, streams => 1, action => $action, pause_ms => 0,
                                   request => h2_request($t, $path, guard => 'v1', method => $method, pieces => $pieces));
                h2_all_ok($rep, $closed, "round $round, $method $path: streams closed");
            }
        }
    });
}

finish($t);
done_testing;
