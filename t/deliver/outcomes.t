# Outcomes of attempts (README.md#the-delivery-model): 2xx succeeds; 5xx, timeouts, refused
# connections and redirects fail and are retried by retries=; after the last
# attempt the delivery is failed, logged, shown on the endpoint, and can be
# replayed; 410 disables the endpoint; `webhook-delivery: abort-message`
# stops retries; Retry-After on 429/503 delays the next attempt; /test;
# Idempotency-Key; the deliveries list (status, limit, after).
use v5.36;
use Test::More;
use Time::HiRes qw(sleep time);
use Time::Local ();
use WebhookTest qw(:all);
use KeysTest qw(:all);
use DeliveryTest qw(:all);

my $ADMIN = 'admin-key-delivery-outcomes-4e8a';

my $recv = DeliveryTest::ScriptedReceiver->start;
my $ng = delivery_nginx(admin => $ADMIN, retries => '0s,1s,1s', timeout => '2s');
$ng->start;

sub rfc3339($t) {
    my ($Y, $M, $D, $h, $m, $s) = ($t // '') =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z$/ or return undef;
    return Time::Local::timegm($s, $m, $h, $D, $M - 1, $Y);
}

# One endpoint per behaviour, each in its own tenant, all published at once.
my %script = (
    flaky    => [{ status => 500 }, { status => 500 }, { status => 200 }],
    failing  => [{ status => 500, body => '{"error":"receiver is down"}' }],
    slow     => [{ status => 200, sleep => 3 }],
    redirect => [{ status => 302, headers => { Location => $recv->url('/redirected-here') } }],
    gone     => [{ status => 410 }],
    abort    => [{ status => 500, headers => { 'webhook-delivery' => 'abort-message' } }],
    ra429    => [{ status => 429, headers => { 'Retry-After' => '2' } }, { status => 200 }],
    ra503    => [{ status => 503, headers => { 'Retry-After' => '30' } }, { status => 200 }],
    plain500 => [{ status => 500 }, { status => 200 }],
    nocontent => [{ status => 204, body => '' }],
    big      => [{ status => 500, body => 'x' x 5000 }],
    notfound => [{ status => 404 }],
);
$recv->script("/$_", $script{$_}) for keys %script;
my $closed = free_port();

my (%wh, %ev);
for my $name (sort keys %script, 'refused') {
    my $url = $name eq 'refused' ? "http://127.0.0.1:$closed/refused" : $recv->url("/$name");
    $wh{$name} = create_webhook($ng, $ADMIN, url => $url, events => ['*'], tenant => $name,
                                ($name eq 'slow' ? (timeout => 1) : ()));
}
for my $name (sort keys %wh) {
    $ev{$name} = publish($ng, $ADMIN, type => 'room.on_air', tenant => $name, data => { case => $name });
    is($ev{$name}{deliveries}, 1, "$name: one delivery");
}

my %final;
$final{$_} = wait_delivery($ng, $ADMIN, $wh{$_}{id}, $ev{$_}{id}, timeout => 25) for sort keys %wh;
my %ep = map { $_ => api($ng, 'GET', "/webhooks/$wh{$_}{id}", undef, key => $ADMIN)->{json} } keys %wh;

# --- flaky: 500, 500, then 200 ------------------------------------------------------------------

my $d = $final{flaky};
is($d->{status}, 'succeeded', 'flaky: succeeded');
is($d->{attempts}, 3, 'flaky: on the 3rd attempt (attempts=3)');
is($d->{response_status}, 200, 'flaky: response_status of the last attempt is 200');
ok(!defined $d->{error}, 'flaky: no error on the delivery');
is_deeply([map { $_->{response_status} } @{ $d->{attempt_log} }], [500, 500, 200], 'flaky: attempt_log 500, 500, 200');
is_deeply([map { $_->{attempt} } @{ $d->{attempt_log} }], [1, 2, 3], 'flaky: each entry has its attempt number');
ok(defined $d->{attempt_log}[0]{error} && !defined $d->{attempt_log}[2]{error}, 'flaky: the failures carry an error, the success none');
like($_->{time}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'flaky: attempt time is RFC 3339') for @{ $d->{attempt_log} };
ok(!grep({ !defined $_->{response_time_ms} || $_->{response_time_ms} !~ /^\d+$/ } @{ $d->{attempt_log} }), 'flaky: response_time_ms of each attempt');
ok(!defined $d->{next_attempt_at}, 'flaky: no next_attempt_at once succeeded');
is(scalar $recv->requests('/flaky'), 3, 'flaky: the receiver saw exactly 3 requests');
my @fr = $recv->requests('/flaky');
ok($fr[1]{time} - $fr[0]{time} >= 0.75 && $fr[2]{time} - $fr[1]{time} >= 0.75, 'flaky: retries wait the scheduled 1s (±20 %)');

# --- always failing ----------------------------------------------------------------------------

$d = $final{failing};
is($d->{status}, 'failed', 'failing: failed after the last attempt');
is($d->{attempts}, 3, 'failing: attempts=3 (retries=0s,1s,1s)');
is(scalar @{ $d->{attempt_log} }, 3, 'failing: attempt_log has 3 entries');
is_deeply([map { $_->{response_status} } @{ $d->{attempt_log} }], [500, 500, 500], 'failing: each attempt 500');
ok(!grep({ !defined $_->{error} || !length $_->{error} } @{ $d->{attempt_log} }), 'failing: each attempt has an error');
like($d->{attempt_log}[0]{response} // '', qr/receiver is down/, 'failing: the response excerpt is kept');
is($d->{response_status}, 500, 'failing: response_status 500');
ok(defined $d->{error} && length $d->{error}, 'failing: error on the delivery');
ok(!defined $d->{next_attempt_at}, 'failing: no next_attempt_at once failed');
ok(defined $ep{failing}{last_error} && length $ep{failing}{last_error}, 'failing: last_error on the endpoint');
my $lea = rfc3339($ep{failing}{last_error_at});
ok(defined $lea && abs($lea - time) < 60, 'failing: last_error_at on the endpoint is recent RFC 3339');
ok($ep{failing}{enabled}, 'failing: a 500 does not disable the endpoint');
is(scalar $recv->requests('/failing'), 3, 'failing: the receiver saw 3 requests');
my $list = deliveries_of($ng, $ADMIN, $wh{failing}{id});
is($list->[0]{status}, 'failed', 'failing: the list shows failed');
is($list->[0]{attempts}, 3, 'failing: the list shows attempts 3');
ok(!exists $list->[0]{payload} && !exists $list->[0]{attempt_log}, 'failing: the list has no payload/attempt_log');

# Replay: sent again, now to a receiver that answers 200.
$recv->script('/failing', [{ status => 200 }]);
my $res = api($ng, 'POST', "/deliveries/$d->{id}/replay", undef, key => $ADMIN);
is($res->{status}, 202, 'replay: 202');
my @rp = $recv->wait_requests('/failing', 4);
is(scalar @rp, 4, 'replay: the receiver got the message again');
is($rp[3]{headers}{'webhook-id'}, $rp[0]{headers}{'webhook-id'}, 'replay: the same webhook-id');
is($rp[3]{body}, $rp[0]{body}, 'replay: the same body');
my $after = wait_delivery($ng, $ADMIN, $wh{failing}{id}, $ev{failing}{id}, status => 'succeeded');
is($after->{status}, 'succeeded', 'replay: the delivery is now succeeded');
is($after->{attempts}, 4, 'replay: attempts counts the replayed attempt (4)');
is(scalar @{ $after->{attempt_log} }, 4, 'replay: attempt_log has 4 entries');
is_deeply([map { $_->{attempt} } @{ $after->{attempt_log} }], [1, 2, 3, 4], 'replay: the replayed attempt is number 4');
my $kf = create_key($ng, $ADMIN, resource => 'someone-else', scopes => ['webhooks:manage']);
is(api($ng, 'POST', "/deliveries/$d->{id}/replay", undef, key => $kf->{key})->{status}, 404, 'replay by another tenant\'s key: 404');
is(api($ng, 'GET', "/deliveries/$d->{id}", undef, key => $kf->{key})->{status}, 404, 'GET delivery by another tenant\'s key: 404');

# --- slow: past the endpoint's timeout -----------------------------------------------------------

$d = $final{slow};
is($d->{status}, 'failed', 'slow: failed');
is($d->{error}, 'timeout', 'slow: error is timeout');
ok(!defined $d->{response_status}, 'slow: no response_status');
is($d->{attempts}, 3, 'slow: retried (3 attempts)');
ok(!grep({ ($_->{error} // '') ne 'timeout' } @{ $d->{attempt_log} }), 'slow: every attempt timed out');
ok(!grep({ $_->{response_time_ms} > 2900 } @{ $d->{attempt_log} }), 'slow: each attempt was cut at about the 1 s timeout');
is($ep{slow}{last_error}, 'timeout', 'slow: endpoint last_error is timeout');

# --- refused connection ----------------------------------------------------------------------------

$d = $final{refused};
is($d->{status}, 'failed', 'refused: failed');
is($d->{attempts}, 3, 'refused: retried (3 attempts)');
ok(defined $d->{error} && $d->{error} ne 'timeout', "refused: a connection error ($d->{error})");
ok(!defined $d->{response_status}, 'refused: no response_status');

# --- redirect -------------------------------------------------------------------------------------

$d = $final{redirect};
is($d->{status}, 'failed', '302: a failure');
is($d->{response_status}, 302, '302: response_status 302');
is($d->{attempts}, 3, '302: retried like any failure');
is(scalar $recv->requests('/redirected-here'), 0, '302: the redirect is never followed');

# --- 410 Gone ------------------------------------------------------------------------------------

$d = $final{gone};
is($d->{status}, 'failed', '410: the delivery failed');
is($d->{attempts}, 1, '410: no retry');
ok(!$ep{gone}{enabled}, '410: the endpoint is disabled');
ok(defined $ep{gone}{disabled_reason} && length $ep{gone}{disabled_reason}, '410: disabled_reason says why');
my $e2 = publish($ng, $ADMIN, type => 'room.on_air', tenant => 'gone', data => {});
is($e2->{deliveries}, 0, '410: a later event is not delivered to the disabled endpoint');
$res = api($ng, 'PATCH', "/webhooks/$wh{gone}{id}", { enabled => JSON::PP::true() }, key => $ADMIN);
ok($res->{json}{enabled} && !defined $res->{json}{disabled_reason}, '410: re-enabled through the API');

# --- abort-message -------------------------------------------------------------------------------

$d = $final{abort};
is($d->{status}, 'failed', 'abort-message: failed');
is($d->{attempts}, 1, 'abort-message: no further attempt');
ok($ep{abort}{enabled}, 'abort-message: the endpoint stays enabled');

# --- 404 / 204 ------------------------------------------------------------------------------------

is($final{notfound}{status}, 'failed', '404: a failure');
is($final{notfound}{response_status}, 404, '404: response_status 404');
is($final{nocontent}{status}, 'succeeded', '204: a success');
is($final{nocontent}{attempts}, 1, '204: one attempt');

# --- a bounded response excerpt ------------------------------------------------------------------

my $ex = $final{big}{attempt_log}[0]{response} // '';
ok(length $ex > 0 && length $ex <= 4096, 'a 5000-byte answer is kept as a bounded excerpt (' . length($ex) . ' bytes)');

# --- Retry-After ---------------------------------------------------------------------------------

for my $case (['ra429', 429], ['ra503', 503], ['plain500', 500]) {
    my ($name, $code) = @$case;
    $d = $final{$name};
    is($d->{status}, 'succeeded', "$name: succeeded on the retry");
    is_deeply([map { $_->{response_status} } @{ $d->{attempt_log} }], [$code, 200], "$name: $code then 200");
}
my @r429 = $recv->requests('/ra429');
my @r503 = $recv->requests('/ra503');
my @r500 = $recv->requests('/plain500');
my $g429 = $r429[1]{time} - $r429[0]{time};
my $g503 = $r503[1]{time} - $r503[0]{time};
my $g500 = $r500[1]{time} - $r500[0]{time};
ok($g429 >= 1.55, sprintf('429 + Retry-After: 2 moved the retry past the scheduled 1s±20%% (%.2fs)', $g429));
ok($g503 >= 1.55, sprintf('503 + Retry-After: 30 is clamped to at most twice the schedule, not under it (%.2fs)', $g503));
ok($g503 < 10, sprintf('503 + Retry-After: 30 is clamped to twice the scheduled delay (%.2fs, not 30s)', $g503));
ok($g500 >= 0.75, sprintf('500 without Retry-After: the scheduled delay (%.2fs)', $g500));

# next_attempt_at while pending reflects Retry-After.
$recv->script('/ra-pending', [{ status => 429, headers => { 'Retry-After' => '2' } }, { status => 200 }]);
my $rp = create_webhook($ng, $ADMIN, url => $recv->url('/ra-pending'), events => ['*'], tenant => 'ra-pending');
my $t_pub = time;
my $rev = publish($ng, $ADMIN, type => 'room.on_air', tenant => 'ra-pending', data => {});
my $pending = wait_until(sub {
    my $x = delivery_for($ng, $ADMIN, $rp->{id}, $rev->{id});
    return $x && $x->{attempts} == 1 && $x->{status} eq 'pending' ? $x : undef;
}, 10);
ok($pending, 'Retry-After: the delivery is pending after the 429');
my $first_at = $recv->requests('/ra-pending') ? ($recv->requests('/ra-pending'))[0]{time} : $t_pub;
my $na = rfc3339($pending->{next_attempt_at} // '');
ok(defined $na && $na >= int($first_at) + 1, "Retry-After: next_attempt_at ($pending->{next_attempt_at}) at least the scheduled delay after the attempt");
ok(defined $na && $na <= $first_at + 4, 'Retry-After: next_attempt_at within twice the scheduled delay');
is(wait_delivery($ng, $ADMIN, $rp->{id}, $rev->{id})->{status}, 'succeeded', 'Retry-After: then succeeded');

# --- POST /webhooks/{id}/test ----------------------------------------------------------------------

my $ta = create_webhook($ng, $ADMIN, url => $recv->url('/test-a'), events => ['ticket.sold'], tenant => 'testing');
my $tb = create_webhook($ng, $ADMIN, url => $recv->url('/test-b'), events => ['*'], tenant => 'testing');
$res = api($ng, 'POST', "/webhooks/$ta->{id}/test", undef, key => $ADMIN);
is($res->{status}, 202, '/test: 202');
like($res->{json}{id}, qr/^evt_/, '/test: an event id');
is($res->{json}{deliveries}, 1, '/test: one delivery');
my @ta = $recv->wait_requests('/test-a', 1);
is(scalar @ta, 1, '/test: the endpoint got it (even though it subscribes to ticket.sold only)');
is($ta[0]{json}{type}, 'webhook.test', '/test: type webhook.test');
is($ta[0]{headers}{'webhook-id'}, $res->{json}{id}, '/test: webhook-id is the event id');
my @lv = library_verify($ta->{secret}, @ta);
is_deeply(\@lv, [{ standardwebhooks => 1, svix => 1 }], '/test: verifies with the libraries');
sleep 1;
is(scalar $recv->requests('/test-b'), 0, '/test: the other endpoint of the tenant (events *) got nothing');
is(wait_delivery($ng, $ADMIN, $ta->{id}, $res->{json}{id})->{status}, 'succeeded', '/test: the delivery is logged');

# --- Idempotency-Key ---------------------------------------------------------------------------------

my $ik = create_webhook($ng, $ADMIN, url => $recv->url('/idem'), events => ['*'], tenant => 'idem');
my $i1 = publish($ng, $ADMIN, type => 'room.on_air', tenant => 'idem', data => { n => 1 }, idempotency_key => 'order-77');
my $i2 = publish($ng, $ADMIN, type => 'room.on_air', tenant => 'idem', data => { n => 1 }, idempotency_key => 'order-77');
is($i2->{id}, $i1->{id}, 'Idempotency-Key twice: the same event id');
is($i2->{deliveries}, $i1->{deliveries}, 'Idempotency-Key twice: the same answer');
my $i3 = publish($ng, $ADMIN, type => 'room.on_air', tenant => 'idem', data => { n => 2 }, idempotency_key => 'order-78');
isnt($i3->{id}, $i1->{id}, 'another Idempotency-Key: another event');
my $i4 = publish($ng, $ADMIN, type => 'room.on_air', tenant => 'idem2', data => { n => 1 }, idempotency_key => 'order-77');
isnt($i4->{id}, $i1->{id}, 'the same key in another tenant: another event');
$recv->wait_requests('/idem', 2);
sleep 1.5;
my @idem = $recv->requests('/idem');
is(scalar(grep { $_->{headers}{'webhook-id'} eq $i1->{id} } @idem), 1, 'Idempotency-Key twice: one delivery');
is(scalar @idem, 2, 'the receiver got two events (order-77 once, order-78 once)');

# --- the deliveries list -----------------------------------------------------------------------------

my $lw = create_webhook($ng, $ADMIN, url => $recv->url('/list'), events => ['*'], tenant => 'list');
$recv->script('/list', [{ status => 200 }]);
my @lev = map { publish($ng, $ADMIN, type => 'room.on_air', tenant => 'list', data => { n => $_ }) } 1 .. 5;
wait_until(sub { my $l = deliveries_of($ng, $ADMIN, $lw->{id}, status => 'succeeded'); @$l == 5 }, 15);
$recv->script('/list', [{ status => 410 }]);   # the next one fails and disables
my $lf = publish($ng, $ADMIN, type => 'room.on_air', tenant => 'list', data => { n => 6 });
wait_delivery($ng, $ADMIN, $lw->{id}, $lf->{id});
$res = api($ng, 'GET', "/webhooks/$lw->{id}/deliveries", undef, key => $ADMIN);
is($res->{json}{total}, 6, 'list: total 6');
is_deeply([map { $_->{event_id} } @{ $res->{json}{deliveries} }], [map { $_->{id} } reverse @lev, $lf], 'list: newest first');
my $one = $res->{json}{deliveries}[0];
is_deeply([sort keys %$one], [sort qw(id event_id event endpoint_id status attempts response_status response_time_ms error created_at next_attempt_at)],
          'list: the fields of a delivery');
is($one->{endpoint_id}, $lw->{id}, 'list: endpoint_id');
is($one->{event}, 'room.on_air', 'list: event');
like($one->{id}, qr/^dlv_/, 'list: delivery id dlv_…');
$res = api($ng, 'GET', "/webhooks/$lw->{id}/deliveries?status=failed", undef, key => $ADMIN);
is($res->{json}{total}, 1, 'list ?status=failed: total 1');
is($res->{json}{deliveries}[0]{event_id}, $lf->{id}, 'list ?status=failed: that one');
$res = api($ng, 'GET', "/webhooks/$lw->{id}/deliveries?status=succeeded&limit=2", undef, key => $ADMIN);
is(scalar @{ $res->{json}{deliveries} }, 2, 'list ?limit=2: two');
is($res->{json}{total}, 5, 'list ?status=succeeded&limit=2: total still 5');
my $cursor = $res->{json}{deliveries}[1]{id};
$res = api($ng, 'GET', "/webhooks/$lw->{id}/deliveries?status=succeeded&limit=2&after=$cursor", undef, key => $ADMIN);
is_deeply([map { $_->{event_id} } @{ $res->{json}{deliveries} }], [map { $_->{id} } @lev[2, 1]], 'list ?after=: the next page');
$res = api($ng, 'GET', "/webhooks/$lw->{id}/deliveries?after=dlv_NoSuchDelivery000000", undef, key => $ADMIN);
is($res->{status}, 400, 'list ?after=<unknown id>: 400');
$res = api($ng, 'GET', "/webhooks/$lw->{id}/deliveries?status=pending", undef, key => $ADMIN);
is($res->{json}{total}, 0, 'list ?status=pending: none');

$ng->log_is_clean;
for my $w (values %wh) {
    (my $b = $w->{secret}) =~ s/^whsec_//;
    $ng->log_lacks($b, 'no endpoint secret in the logs') or last;
}

done_testing;
