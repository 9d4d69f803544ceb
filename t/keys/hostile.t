# Hostile HTTP/1.1 clients on api_key_auth locations (+ proxy_pass): RST after
# the headers, in the middle of a chunked body, right after the body while the
# upstream works, while the upstream sends its answer; bad chunk framing; a
# chunked body over client_max_body_size with the error page inside the
# location; pipelined requests, also a refused key (with a body to discard)
# between good ones; oversize headers. After each burst: fds, CLOSE-WAIT,
# stub_status, zone bytes back to the baseline; error.log (stop included)
# without [alert]/[crit]/[emerg].
use v5.36;
use Test::More;
use WebhookTest qw(:all);
use HostileTest qw(:all);

my $t = hostile_setup();
my $port = $t->ng->port;

proxy_h1_scenarios($t, 'keys');

scenario($t, '/keys: pipelined good key, unknown key (body discarded), good key', sub {
    my $body = 'z' x 3000;
    my $good = h1('POST', '/keys', pass_headers($t, 'keys'), 'Content-Length' => length $body, Connection => 'keep-alive') . $body;
    my $bad = h1('POST', '/keys', Authorization => 'Bearer sk_unknown', 'Content-Length' => length $body,
                 Connection => 'keep-alive') . $body;
    my $last = h1('POST', '/keys', pass_headers($t, 'keys'), 'Content-Length' => length $body) . $body;
    my @r = wave($port, 12, [[send => $good . $bad . $last], ['read', 5]]);
    all_ok(\@r, sub ($c) { join(',', map { $_->{status} } @{ $c->{responses} }) eq '200,401,200' && $c->{eof} },
           '200, 401, 200, then EOF');
});

scenario($t, '/keys: oversize header (10 KB)', sub {
    my @r = wave($port, 12, [[send => h1('GET', '/keys', pass_headers($t, 'keys'), 'X-Big' => 'b' x 10000)], ['read', 3]]);
    all_ok(\@r, sub ($c) { $c->{status} == 400 && $c->{eof} }, '400, then EOF');
});

finish($t);
done_testing;
