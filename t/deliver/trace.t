# W3C trace context (docs/delivery.md#trace-context): a traceparent (and
# tracestate) sent with POST /events, over HTTP/1.1 or HTTP/2, or with the
# request a webhook_emit follows, is kept with the event and sent unchanged on
# every attempt of every delivery: the first, a retry, one made after kill -9
# and a restart (journal replay), after a restart from the snapshot, after
# a reload, and a replay through the API. An invalid traceparent is ignored
# (the event is published without trace context, no header is sent), an
# invalid tracestate is dropped alone; both are said at info, without the
# value. GET /deliveries/{id} shows the event's trace context;
# $webhook_traceparent is the attempt's in the delivery location's access log,
# the request's own in the publishing request's.
use v5.36;
use Test::More;
use Time::HiRes qw(sleep time);
use WebhookTest qw(:all);
use KeysTest qw(:all);
use DeliveryTest qw(:all);

my $ADMIN = 'admin-key-delivery-trace-5e2a90';
my $TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
my $TS = 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE';

my $recv = DeliveryTest::ScriptedReceiver->start;
my $backend = WebhookTest::Backend->start;
my $ng = delivery_nginx(
    admin   => $ADMIN,
    state   => 1,
    retries => '0s,1s,1s',
    vars    => { BACKEND => $backend->port },
    http    => <<'EOF',
    log_format published '$request_method $uri tp=$webhook_traceparent';
    access_log %%PREFIX%%/published.log published;
    log_format attempts '$webhook_id $webhook_endpoint_id $webhook_attempt tp=$webhook_traceparent';
EOF
    proxy     => 'log_subrequest on; access_log %%PREFIX%%/attempts.log attempts;',
    locations => <<'EOF',
        listen 127.0.0.1:%%PORT2%% http2;
        location /app {
            proxy_pass http://127.0.0.1:%%BACKEND%%;
            webhook_emit order.emitted tenant=emit data=$request_body;
        }
EOF
);
$ng->start;

my $ok = create_webhook($ng, $ADMIN, url => $recv->url('/ok'), events => ['order.*']);
my $flaky = create_webhook($ng, $ADMIN, url => $recv->url('/flaky'), events => ['order.created']);
my $slow = create_webhook($ng, $ADMIN, url => $recv->url('/slow'), events => ['slow.*']);
my $emit = create_webhook($ng, $ADMIN, url => $recv->url('/emit'), events => ['*'], tenant => 'emit');
$recv->script('/flaky', [{ status => 500 }, { status => 200 }]);
$recv->script('/slow', [{ status => 200, sleep => 4 }, { status => 200 }]);

sub publish_with($headers, %fields) {
    my $res = api($ng, 'POST', '/events', { type => 'order.other', data => { n => 1 }, %fields }, key => $ADMIN,
                  headers => $headers);
    is($res->{status}, 202, "POST /events with " . join(', ', map { "$_: " . substr($headers->{$_}, 0, 60) } sort keys %$headers)
        . ": 202") or diag($res->{content});
    return $res->{json} // {};
}

# The requests of event $id at $path, waited for until there are $n.
sub received($path, $id, $n = 1) {
    my @r;
    wait_for(sub { @r = grep { ($_->{headers}{'webhook-id'} // '') eq $id } $recv->requests($path); @r >= $n }, 15, 0.1);
    return @r;
}

# The trace headers of one request: [traceparent values], [tracestate values].
sub trace_headers($req) {
    my (@tp, @ts);
    for (@{ $req->{header_list} // [] }) {
        push @tp, $_->[1] if lc $_->[0] eq 'traceparent';
        push @ts, $_->[1] if lc $_->[0] eq 'tracestate';
    }
    return (\@tp, \@ts);
}

sub has_trace($req, $tp, $ts, $what) {
    my ($got_tp, $got_ts) = trace_headers($req);
    is_deeply($got_tp, [$tp], "$what: one traceparent, the publisher's");
    is_deeply($got_ts, defined $ts ? [$ts] : [], defined $ts ? "$what: the tracestate" : "$what: no tracestate");
}

sub no_trace($req, $what) {
    my ($got_tp, $got_ts) = trace_headers($req);
    ok(!@$got_tp && !@$got_ts, "$what: neither traceparent nor tracestate") or diag("@$got_tp | @$got_ts");
}

sub attempt_log_lines() { return split /\n/, read_file($ng->prefix . '/attempts.log') // '' }
sub published_lines()   { return split /\n/, read_file($ng->prefix . '/published.log') // '' }

# --- every attempt of every delivery carries it -------------------------------------------------

my $mark = $ng->log_mark;
my $ev = publish_with({ traceparent => $TP, tracestate => $TS }, type => 'order.created');
is($ev->{deliveries}, 2, 'order.created: two deliveries (ok, flaky)');
my ($first) = received('/ok', $ev->{id});
has_trace($first, $TP, $TS, 'first attempt');
(my $trace_id = $TP) =~ s/^00-(\w{32})-.*/$1/;
{
    my ($tps) = trace_headers($first);
    is((split /-/, $tps->[0] // '')[1], $trace_id, 'the receiver sees the publisher\'s trace-id');
}
my @flaky = received('/flaky', $ev->{id}, 2);
is(scalar @flaky, 2, 'flaky endpoint: the first attempt (500) and its retry');
is($flaky[0]{answered}, 500, 'flaky: the first attempt failed');
has_trace($_, $TP, $TS, "flaky attempt $_->{headers}{'x-attempt'}") for @flaky;
is($flaky[1]{headers}{'webhook-id'}, $flaky[0]{headers}{'webhook-id'}, 'the retry: same webhook-id');
ok(!$ng->wait_log($mark, qr/traceparent ignored|tracestate dropped/, 0.5), 'a valid trace context is not logged');

{
    my $d = wait_delivery($ng, $ADMIN, $ok->{id}, $ev->{id});
    is($d->{traceparent}, $TP, 'GET /deliveries/{id}: traceparent');
    is($d->{tracestate}, $TS, 'GET /deliveries/{id}: tracestate');
    my ($listed) = grep { $_->{event_id} eq $ev->{id} } @{ deliveries_of($ng, $ADMIN, $ok->{id}) };
    ok($listed && !exists $listed->{traceparent}, 'the delivery list leaves it out (detail only)');
}

# $webhook_traceparent in the delivery location: the attempt's.
ok(wait_for(sub { grep { /^\Q$ev->{id} $flaky->{id} 2 tp=$TP\E$/ } attempt_log_lines() }, 5),
   'access log of the delivery location: $webhook_traceparent of the retry')
    or diag(join "\n", attempt_log_lines());
ok(grep({ /^\Q$ev->{id} $flaky->{id} 1 tp=$TP\E$/ } attempt_log_lines()), '... and of the first attempt');
# ... and in the publishing request: its own.
ok(wait_for(sub { grep { $_ eq "POST /v1/events tp=$TP" } published_lines() }, 5),
   'access log of POST /events: $webhook_traceparent is the request\'s');

# --- what is kept, what is refused ------------------------------------------------------------------

# No trace context: no header.
{
    my $e = publish_with({});
    my ($r) = received('/ok', $e->{id});
    no_trace($r, 'published without trace context');
    my $d = wait_delivery($ng, $ADMIN, $ok->{id}, $e->{id});
    ok(exists $d->{traceparent} && !defined $d->{traceparent}, 'GET /deliveries/{id}: traceparent null');
    ok(exists $d->{tracestate} && !defined $d->{tracestate}, 'GET /deliveries/{id}: tracestate null');
}

# An invalid traceparent: published all the same, without trace context;
# its tracestate goes with it. Said at info, without the value.
{
    my $bad = '00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01';
    $mark = $ng->log_mark;
    my $e = publish_with({ traceparent => $bad, tracestate => $TS });
    my ($r) = received('/ok', $e->{id});
    no_trace($r, 'upper-case traceparent');
    my @l = $ng->wait_log($mark, qr/traceparent ignored/);
    like($l[0] // '', qr/\[info\].*traceparent ignored \(the trace-id is not 32 lower-case hex digits and a "-"; 55 bytes\): the event has no trace context/,
         'the invalid traceparent is said at info, with why') or diag($ng->log_tail);
    ok(index($ng->log_since($mark), '4BF92F35') < 0, 'the value is not echoed');
    ok(!grep({ /tracestate dropped/ } split /\n/, $ng->log_since($mark)), 'a tracestate without a valid traceparent is not looked at');
    ok(wait_for(sub { grep { $_ eq 'POST /v1/events tp=-' } published_lines() }, 5),
       '$webhook_traceparent of a request with an invalid traceparent: empty');

    for my $case (['version ff', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', qr/version ff is invalid/],
                  ['all-zero trace-id', '00-00000000000000000000000000000000-00f067aa0ba902b7-01', qr/the trace-id is all zeros/],
                  ['version 00 with more', "$TP-more", qr/longer than the 55 characters of version 00/],
                  ['a huge value', '00-' . ('a' x 4000), qr/the trace-id is not .*; 4003 bytes/]) {
        my ($what, $value, $why) = @$case;
        $mark = $ng->log_mark;
        my $x = publish_with({ traceparent => $value });
        my ($rx) = received('/ok', $x->{id});
        no_trace($rx, $what);
        my @m = $ng->wait_log($mark, qr/traceparent ignored/);
        like($m[0] // '', $why, "$what: the reason is logged");
        cmp_ok(length($m[0] // ''), '<', 400, "$what: the log line is short");
    }
}

# A later version: read by its first 55 characters, kept as version 00.
{
    my $e = publish_with({ traceparent => 'cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-what-the-future-will-be-like',
                           tracestate => 'v=1' });
    my ($r) = received('/ok', $e->{id});
    has_trace($r, '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'v=1',
              'version cc: sent as version 00 with the sampled flag');
}

# An invalid tracestate is dropped alone; OWS and empty members are not kept.
{
    $mark = $ng->log_mark;
    my $e = publish_with({ traceparent => $TP, tracestate => 'a=1,a=2' });
    my ($r) = received('/ok', $e->{id});
    has_trace($r, $TP, undef, 'duplicated tracestate keys: the traceparent goes, the tracestate does not');
    like(($ng->wait_log($mark, qr/tracestate dropped/))[0] // '',
         qr/\[info\].*tracestate dropped \(a key appears twice; 7 bytes\): the event keeps its traceparent/,
         'the dropped tracestate is said at info');
    my $big = join ',', map { "k$_=" . ('v' x 20) } 1 .. 30;
    my $e2 = publish_with({ traceparent => $TP, tracestate => $big });
    my ($r2) = received('/ok', $e2->{id});
    has_trace($r2, $TP, undef, 'a tracestate over 512 bytes is dropped');
    my $e3 = publish_with({ traceparent => $TP, tracestate => " foo=1 \t, ,bar=2 " });
    my ($r3) = received('/ok', $e3->{id});
    has_trace($r3, $TP, 'foo=1,bar=2', 'tracestate: white space and empty members are not kept');
}

# Two traceparent headers: which one would be a guess; two tracestate
# headers: combined in order (curl sends each as given).
{
    $mark = $ng->log_mark;
    my $body = '{"type":"order.other","data":null}';
    my $res = curl_request('POST', $ng->url('/v1/events'), { Authorization => "Bearer $ADMIN", 'Content-Type' => 'application/json' },
                           $body, args => ['-H', "traceparent: $TP", '-H', 'traceparent: 00-11111111111111111111111111111111-2222222222222222-01']);
    is($res->{status}, 202, 'two traceparent headers: 202');
    my $id = (WebhookTest::json_decode($res->{content}) // {})->{id} // '';
    my ($r) = received('/ok', $id);
    no_trace($r, 'two traceparent headers');
    like(($ng->wait_log($mark, qr/traceparent ignored/))[0] // '', qr/the header is sent 2 times/, 'two traceparent headers: logged');

    $res = curl_request('POST', $ng->url('/v1/events'), { Authorization => "Bearer $ADMIN", 'Content-Type' => 'application/json' },
                        $body, args => ['-H', "traceparent: $TP", '-H', 'tracestate: foo=1', '-H', 'tracestate: bar=2,baz=3']);
    is($res->{status}, 202, 'two tracestate headers: 202');
    $id = (WebhookTest::json_decode($res->{content}) // {})->{id} // '';
    ($r) = received('/ok', $id);
    has_trace($r, $TP, 'foo=1,bar=2,baz=3', 'two tracestate headers: combined in order');
}

# --- HTTP/2 and webhook_emit -------------------------------------------------------------------------

{
    my $tp2 = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00';
    my $res = curl_request('POST', $ng->url('/v1/events', 'PORT2'),
                           { Authorization => "Bearer $ADMIN", 'Content-Type' => 'application/json', traceparent => $tp2,
                             tracestate => 'congo=t61rcWkgMzE' },
                           '{"type":"order.h2","data":{"h2":true}}', http2 => 1);
    is($res->{http_version}, '2', 'POST /events over HTTP/2');
    is($res->{status}, 202, 'HTTP/2 publish: 202') or diag($res->{content});
    my $id = (WebhookTest::json_decode($res->{content}) // {})->{id} // '';
    my ($r) = received('/ok', $id);
    has_trace($r, $tp2, 'congo=t61rcWkgMzE', 'published over HTTP/2');
}

{
    my $tp3 = '00-a0892f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-01';
    my $res = http_post($ng->url('/app'), '{"order":7}',
                        { 'Content-Type' => 'application/json', traceparent => $tp3, tracestate => 'app=1' });
    is($res->{status}, 200, 'webhook_emit: the proxied call answers 200');
    my @r;
    wait_for(sub { @r = $recv->requests('/emit'); @r >= 1 }, 15, 0.1);
    is(scalar @r, 1, 'webhook_emit: the event is delivered');
    has_trace($r[0], $tp3, 'app=1', 'webhook_emit: the client\'s trace context');
    ok(wait_for(sub { grep { $_ eq "POST /app tp=$tp3" } published_lines() }, 5),
       'access log of the webhook_emit location: $webhook_traceparent is the request\'s');
    is(($backend->last_request // {})->{headers}{traceparent} // '', $tp3,
       'the proxied application gets the traceparent as NGINX passes it');
}

# --- kill -9 during an attempt, restart: journal replay -------------------------------------------

my $sev = publish_with({ traceparent => $TP, tracestate => $TS }, type => 'slow.thing');
my @slow = received('/slow', $sev->{id});
is(scalar @slow, 1, 'slow endpoint: the first attempt is in flight');
has_trace($slow[0], $TP, $TS, 'slow: first attempt');
$ng->kill9;
$ng->restart;
@slow = received('/slow', $sev->{id}, 2);
is(scalar @slow, 2, 'after kill -9 and a restart the delivery is attempted again');
has_trace($slow[1], $TP, $TS, 'after kill -9 and a restart (journal replay)');
my $sd = wait_delivery($ng, $ADMIN, $slow->{id}, $sev->{id}, status => 'succeeded');
is($sd->{status}, 'succeeded', 'slow: succeeded after the restart');
is($sd->{traceparent}, $TP, 'after the restart: GET /deliveries/{id} shows the traceparent');

# The restart wrote a snapshot with the event's trace context; a start from
# it keeps it, and a replay through the API sends it.
{
    my $snap = read_file($ng->prefix . '/state/snapshot') // '';
    ok(index($snap, qq("traceparent":"$TP")) >= 0, 'the snapshot keeps the traceparent');
    ok(index($snap, qq("tracestate":"$TS")) >= 0, 'the snapshot keeps the tracestate');
}
$ng->restart;
sub replay_and_check($n, $what) {
    my $res = api($ng, 'POST', "/deliveries/$sd->{id}/replay", undef, key => $ADMIN);
    is($res->{status}, 202, "$what: replay answered 202");
    my @r = received('/slow', $sev->{id}, $n);
    is(scalar @r, $n, "$what: the replayed attempt arrived");
    has_trace($r[$n - 1], $TP, $TS, "$what: the replayed attempt");
    wait_delivery($ng, $ADMIN, $slow->{id}, $sev->{id}, status => 'succeeded');
}
replay_and_check(3, 'after a restart from the snapshot');
$ng->reload;
replay_and_check(4, 'after nginx -s reload');
# The attempt killed with nginx never ended, so was not logged: the one
# after the restart and the two replays are.
is(scalar(grep { /^\Q$sev->{id} $slow->{id} \E\d+ \Qtp=$TP\E$/ } attempt_log_lines()), 3,
   'the attempts after the restart and the replays are logged with their traceparent')
    or diag(join "\n", attempt_log_lines());

$ng->log_is_clean;
done_testing;
