# Hostile HTTP/1.1 clients on webhook_api with a durable zone (state=DIR:
# every write goes through the journal in the thread pool before the answer):
# resets (RST, SO_LINGER {1,0}) after the headers, in the middle of the body,
# right after the whole body while the journal record is written (PUT
# /limits/hostile, POST /events), a plain close right after the body; bad
# chunked framing; chunked bodies over client_max_body_size with and without
# `error_page 413`; a Content-Length over the route's limit; a slow body;
# pipelined writes (good ones, and one with invalid JSON in the middle);
# oversize headers. The writes repeat what the warm-up stored (same limits;
# events with no subscriber), so the zone's bytes must come back to the
# baseline too; then fds, CLOSE-WAIT, stub_status, clean error.log.
#
# Known defect caught here: a client that resets while its durable write is
# in the journal leaks the connection (writev() failed (104), fd never freed).
use v5.36;
use Test::More;
use WebhookTest qw(:all);
use HostileTest qw(:all);

my $N = 12;
my $t = hostile_setup();
my $port = $t->ng->port;
my @admin = pass_headers($t, 'v1');
my $limits = limits_body();
my $event = event_body();

sub put_limits($path = '/v1/limits/hostile', @extra) {
    return h1('PUT', $path, @admin, 'Content-Length' => length $limits, @extra) . $limits;
}
sub statuses($c) { return join ',', map { $_->{status} } @{ $c->{responses} } }

scenario($t, 'api: RST after the headers (PUT /limits, body never sent)', sub {
    wave($port, $N, [[send => h1('PUT', '/v1/limits/hostile', @admin, 'Content-Length' => length $limits)], [sleep => 0.3],
                     ['rst']]);
});

scenario($t, 'api: RST in the middle of a chunked body (POST /events)', sub {
    wave($port, $N, [[send => chunk_head('POST', '/v1/events', @admin) . sprintf("%x\r\n%s\r\n", 20, substr($event, 0, 20))],
                     [sleep => 0.3], ['rst']]);
});

scenario($t, 'api: RST right after the whole body, during the journal write (PUT /limits)', sub {
    wave($port, 20, [[send => put_limits()], ['rst']]);
});

scenario($t, 'api: RST right after the whole body, during the journal write (POST /events)', sub {
    wave($port, 20, [[send => h1('POST', '/v1/events', @admin, 'Content-Length' => length $event) . $event], ['rst']]);
});

scenario($t, 'api: plain close (FIN) right after the whole body (PUT /limits)', sub {
    wave($port, 20, [[send => put_limits()], ['close']]);
});

scenario($t, 'api: bad chunk framing after a pause', sub {
    my @r = wave($port, $N, [[send => chunk_head('PUT', '/v1/limits/hostile', @admin) . "5\r\n{\"max\r\n"], [sleep => 0.5],
                             [send => "zz\r\n"], ['read', 2]]);
    all_ok(\@r, sub ($c) { $c->{status} == 400 && $c->{eof} }, '400, then EOF');
});

for my $loc ('/v1', '/v1ep') {
    my $ep = $loc eq '/v1ep';
    scenario($t, "api $loc/: chunked body over client_max_body_size (64k), the second chunk after a pause"
                 . ($ep ? ' (error_page 413 @named)' : ''), sub {
        my $piece = sprintf("%x\r\n%s\r\n", 40000, 'x' x 40000);
        my @r = wave($port, $N, [[send => chunk_head('POST', "$loc/events", @admin) . $piece], [sleep => 0.3],
                                 [send => $piece . "0\r\n\r\n"], ['read', 3]]);
        all_ok(\@r, sub ($c) { $c->{status} == 413 && $c->{eof} && (!$ep || $c->{responses}[0]{content} =~ /custom too large/) },
               '413' . ($ep ? ' with the error page' : '') . ', then EOF');
    });
}

scenario($t, 'api: Content-Length over the route limit (100 KB)', sub {
    my @r = wave($port, $N, [[send => h1('POST', '/v1/events', @admin, 'Content-Length' => 100000) . ('y' x 100000)],
                             ['read', 3]]);
    all_ok(\@r, sub ($c) { $c->{status} == 413 && $c->{eof} }, '413, then EOF');
});

scenario($t, 'api: slow body (3 pieces, 0.4 s apart)', sub {
    my $req = put_limits();
    my $cut = index($req, "\r\n\r\n") + 4;
    my @r = wave($port, $N, [[send => substr($req, 0, $cut + 5)], [sleep => 0.4], [send => substr($req, $cut + 5, 10)],
                             [sleep => 0.4], [send => substr($req, $cut + 15)], ['read', 5]]);
    all_ok(\@r, sub ($c) { $c->{status} == 200 && $c->{eof} }, '200, then EOF');
});

scenario($t, 'api: pipelined writes (3 PUT /limits on one connection)', sub {
    my $req = put_limits('/v1/limits/hostile', Connection => 'keep-alive') x 2 . put_limits();
    my @r = wave($port, $N, [[send => $req], ['read', 5]]);
    all_ok(\@r, sub ($c) { statuses($c) eq '200,200,200' && $c->{eof} }, '200,200,200, then EOF');
});

scenario($t, 'api: pipelined PUT, invalid JSON, POST /events', sub {
    my $bad = '{"max_keys":';
    my $req = put_limits('/v1/limits/hostile', Connection => 'keep-alive')
        . h1('PUT', '/v1/limits/hostile', @admin, 'Content-Length' => length $bad, Connection => 'keep-alive') . $bad
        . h1('POST', '/v1/events', @admin, 'Content-Length' => length $event) . $event;
    my @r = wave($port, $N, [[send => $req], ['read', 5]]);
    all_ok(\@r, sub ($c) { statuses($c) eq '200,400,202' && $c->{eof} }, '200,400,202, then EOF');
});

scenario($t, 'api: oversize header (10 KB)', sub {
    my @r = wave($port, $N, [[send => put_limits('/v1/limits/hostile', 'X-Big' => 'b' x 10000)], ['read', 3]]);
    all_ok(\@r, sub ($c) { $c->{status} == 400 && $c->{eof} }, '400, then EOF');
});

finish($t);
done_testing;
