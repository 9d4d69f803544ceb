# Hostile clients on webhook_status (/metrics): over HTTP/1.1 a chunked body
# reset mid-way, bad framing in a body the handler discards, pipelined GETs;
# over HTTP/2 (h2c, t/npm/h2client.mjs) good GETs, then RST_STREAM after the
# HEADERS of a POST. After each burst: fds, CLOSE-WAIT, stub_status, zone
# bytes back to the baseline; error.log (stop included) clean.
use v5.36;
use Test::More;
use WebhookTest qw(:all);
use HostileTest qw(:all);

my $N = 12;
my $t = hostile_setup();
my $port = $t->ng->port;
my $closed = sub ($s) { $s->{closed} };

scenario($t, '/metrics: RST in the middle of a chunked body (GET with a body)', sub {
    wave($port, $N, [[send => chunk_head('GET', '/metrics') . "3e8\r\n" . ('a' x 1000) . "\r\n"], [sleep => 0.3], ['rst']]);
});

scenario($t, '/metrics: bad chunk framing in a body the handler discards', sub {
    my @r = wave($port, $N, [[send => chunk_head('GET', '/metrics') . "5\r\nhello\r\n"], [sleep => 0.5], [send => "zz\r\n"],
                             ['read', 2]]);
    all_ok(\@r, sub ($c) { $c->{status} =~ /^(?:200|400)$/ && $c->{eof} }, 'an answer (200 or 400), then EOF');
});

scenario($t, '/metrics: three pipelined GETs', sub {
    my $req = h1('GET', '/metrics', Connection => 'keep-alive') x 2 . h1('GET', '/metrics');
    my @r = wave($port, $N, [[send => $req], ['read', 5]]);
    all_ok(\@r, sub ($c) {
        join(',', map { $_->{status} } @{ $c->{responses} }) eq '200,200,200' && $c->{eof}
            && $c->{responses}[2]{content} =~ /^webhook_zone_bytes/m
    }, '200,200,200 (Prometheus text), then EOF');
});

scenario($t, 'h2 /metrics: good GETs, then RST_STREAM after the HEADERS of a POST', sub {
    my $rep = h2_burst($t, request => { method => 'GET', path => '/metrics' }, action => 'complete');
    h2_all_ok($rep, sub ($s) { $s->{status} == 200 && $s->{ended} && $s->{body} =~ /^webhook_/m }, '200 (Prometheus text)');
    $rep = h2_burst($t, request => { method => 'POST', path => '/metrics', body => ['x' x 100] }, action => 'rst_after_headers');
    h2_all_ok($rep, $closed, 'streams closed');
});

finish($t);
done_testing;
