# POST /webhooks/{id}/recover (docs/api.md#recover): the failed deliveries of an
# endpoint created since a time go back to the queue, as one durable change.
#  1. a receiver failing everything (retries=0s: one attempt) leaves failed
#     deliveries, some older than `since`; once it heals, recover re-delivers
#     only those created since then, each once more, with the same webhook-id,
#     listed as pending and then succeeded, the attempt log keeping the
#     failed attempt; `until` bounds the window; the other endpoint's stay;
#  2. scoping and input: another tenant's key gets 404, a publish key 403; a
#     bad, missing or future `since`, a bad `until`, unknown members: 400
#     naming the field; a disabled endpoint: 422; an empty window: 202 with 0;
#  3. the tenant's max_pending bounds what one call re-queues (429 when full);
#  4. recover, then kill -9 of master and workers, then a start over state=:
#     the re-queued deliveries are delivered (the journal's delivery.recover);
#  5. the journal's disk fails: recover answers 503 and nothing is re-queued,
#     before and after a restart;
#  6. many failed deliveries (a state= directory written here: no delivery
#     location, so nothing is attempted): 1000 per call, `remaining` says what
#     is left, oldest first; max_pending holds; the result survives a restart.
use v5.36;
use Test::More;
use Time::HiRes qw(sleep time);
use Time::Local qw(timegm);
use WebhookTest qw(:all);
use KeysTest qw(:all);
use DeliveryTest qw(:all);
use FaultTest;

my $ADMIN = 'admin-key-recover-3b7e55';
my $fault = FaultTest->new;

my $recv = DeliveryTest::ScriptedReceiver->start;
my $ng = delivery_nginx(admin => $ADMIN, state => 1, size => '8m', retries => '0s', timeout => '10s',
                        env => $fault->env);
$ng->start;

sub A($method, $path, $body = undef, $key = $ADMIN) { return api($ng, $method, $path, $body, key => $key) }
sub recover($wh_id, $body, $key = $ADMIN, $inst = $ng) {
    return api($inst, 'POST', "/webhooks/$wh_id/recover", $body, key => $key);
}

# RFC 3339 (as the API writes it) to Unix seconds.
sub epoch($t) {
    my ($Y, $M, $D, $h, $m, $s) = $t =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d+)?Z$/ or return undef;
    return timegm($s, $m, $h, $D, $M - 1, $Y);
}
sub rfc3339($epoch) {
    my @t = gmtime $epoch;
    return sprintf '%04d-%02d-%02dT%02d:%02d:%02dZ', $t[5] + 1900, $t[4] + 1, @t[3, 2, 1, 0];
}

my $acme = create_key($ng, $ADMIN, resource => 'acme', scopes => ['webhooks:manage'])->{key};
my $other = create_key($ng, $ADMIN, resource => 'other', scopes => ['webhooks:manage'])->{key};
my $publisher = create_key($ng, $ADMIN, resource => 'acme', scopes => ['events:publish'])->{key};

# { event id => delivery (list form) } of an endpoint.
sub by_event($wh_id) { return { map { $_->{event_id} => $_ } all_deliveries($ng, $ADMIN, $wh_id) } }

# Publishes $n events of tenant acme, waits until each delivery to every
# endpoint in @$whs is failed; returns the event ids.
sub publish_failed($n, $whs, $type = 'order.paid') {
    my @ids = map { publish($ng, $publisher, type => $type, tenant => 'acme', data => { n => $_ })->{id} } 1 .. $n;
    my $ok = wait_for(sub {
        for my $wh (@$whs) {
            my $d = by_event($wh);
            return 0 if grep { !$d->{$_} || $d->{$_}{status} ne 'failed' } @ids;
        }
        1;
    }, 20, 0.1);
    BAIL_OUT("the deliveries of @ids did not fail") unless $ok;
    return @ids;
}

# webhook-id => requests received on $path
sub received($path) {
    my %n;
    $n{ $_->{headers}{'webhook-id'} // '' }++ for $recv->requests($path);
    return \%n;
}

# --- 1. failed since a time, then recovered ----------------------------------------------

$recv->script($_, [{ status => 500 }]) for '/a', '/b';
my $wa = create_webhook($ng, $acme, url => $recv->url('/a'), events => ['order.*']);
my $wb = create_webhook($ng, $acme, url => $recv->url('/b'), events => ['order.*']);

my @old = publish_failed(3, [$wa->{id}, $wb->{id}]);
# The API's times are to the second: the next batch starts in a later one.
my $old_last = 0;
for my $id (@old) { my $t = epoch(by_event($wa->{id})->{$id}{created_at}); $old_last = $t if $t > $old_last }
sleep 0.05 while time < $old_last + 1;
my @new = publish_failed(4, [$wa->{id}, $wb->{id}]);
my $da = by_event($wa->{id});
my ($since) = sort map { $da->{$_}{created_at} } @new;
cmp_ok(epoch($since), '>', $old_last, "since ($since) is after the older deliveries were created");
is(scalar(grep { $da->{$_}{attempts} == 1 && $da->{$_}{error} eq 'http_500' } @old, @new), 7,
   'seven failed deliveries on A, one attempt each (http_500)');

# The receiver heals (and takes 2 s to answer, so the recovered deliveries are seen in flight).
$recv->script('/a', [{ status => 200, sleep => 2 }]);
my $before = received('/a');
my $res = recover($wa->{id}, { since => $since }, $acme);
is($res->{status}, 202, 'POST /webhooks/{id}/recover: 202') or diag($res->{content});
is($res->{json}{deliveries}, 4, '... re-queued the 4 failed deliveries created since then');
is($res->{json}{remaining}, 0, '... none left for another call');
is($res->{json}{since}, $since, '... since echoed');
like($res->{json}{until} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{3})?Z$/, '... until: the time of the request');

$da = by_event($wa->{id});
is(scalar(grep { $da->{$_}{status} eq 'pending' && defined $da->{$_}{next_attempt_at} } @new), 4,
   'the delivery list shows them pending, with next_attempt_at')
    or diag(join ', ', map { "$da->{$_}{status}/" . ($da->{$_}{next_attempt_at} // 'null') } @new);
is(scalar(grep { $da->{$_}{status} eq 'failed' && $da->{$_}{attempts} == 1 } @old), 3, 'the older ones stay failed');
my $db = by_event($wb->{id});
is(scalar(grep { $db->{$_}{status} eq 'failed' } @old, @new), 7, "the other endpoint's failed deliveries stay failed");

my @settled = map { wait_delivery($ng, $ADMIN, $wa->{id}, $_, status => 'succeeded') } @new;
is(scalar(grep { $_ && $_->{status} eq 'succeeded' } @settled), 4, 'then each recovered delivery succeeded');
is(scalar(grep { $_->{attempts} == 2 && $_->{response_status} == 200 } @settled), 4,
   '... at its second attempt (attempts keep counting)');
my @logs = map { [map { "$_->{attempt}:" . ($_->{response_status} // 'null') } @{ $_->{attempt_log} }] } @settled;
is(scalar(grep { "@$_" eq '1:500 2:200' } @logs), 4, '... the attempt log keeps the failed attempt, then the new one')
    or diag(join ' | ', map { "@$_" } @logs);
sleep 1;   # a second delivery of the same one would show now
my $after = received('/a');
is_deeply([map { ($after->{$_} // 0) - ($before->{$_} // 0) } @new], [1, 1, 1, 1],
          'the receiver got each recovered delivery exactly once more');
is_deeply([map { ($after->{$_} // 0) - ($before->{$_} // 0) } @old], [0, 0, 0], '... and none of the older ones');
my @got = grep { my $id = $_->{headers}{'webhook-id'} // ''; grep { $_ eq $id } @new } $recv->requests('/a');
is(scalar(grep { standard_verify($wa->{secret}, $_) } @got[-4 .. -1]), 4,
   '... signed for the endpoint, webhook-id the event id as on the first attempt');

# Nothing failed since: an empty recover.
$res = recover($wa->{id}, { since => $since }, $acme);
is($res->{status}, 202, 'the same recover again: 202');
is($res->{json}{deliveries}, 0, '... with 0 (they succeeded)');
$res = recover($wa->{id}, { since => rfc3339(time - 1) });
is_deeply([$res->{status}, $res->{json}{deliveries}, $res->{json}{remaining}], [202, 0, 0],
          'a window with no failed delivery: 202 {"deliveries":0}');

# until: B's older ones only (B still fails: they fail again, at attempt 2).
$res = recover($wb->{id}, { since => rfc3339($old_last - 3600), until => $since });
is($res->{status}, 202, 'recover with until: 202');
is($res->{json}{deliveries}, 3, '... only the 3 created before until');
ok(wait_for(sub { my $d = by_event($wb->{id}); 3 == grep { $d->{$_}{attempts} == 2 && $d->{$_}{status} eq 'failed' } @old },
            20, 0.1), '... attempted once more each, failed again');
$db = by_event($wb->{id});
is(scalar(grep { $db->{$_}{attempts} == 1 && $db->{$_}{status} eq 'failed' } @new), 4, '... the ones after until untouched');

# --- 2. who may recover, and input ---------------------------------------------------------

$res = recover($wa->{id}, { since => $since }, $other);
is($res->{status}, 404, "another tenant's key: 404");
is(error_code($res), 'not_found', '... not_found');
$res = recover($wa->{id}, { since => $since }, $publisher);
is($res->{status}, 403, 'an events:publish key: 403');
is(error_code($res), 'insufficient_scope', '... insufficient_scope');
is(recover('wh_doesnotexist000000', { since => $since })->{status}, 404, 'an unknown webhook: 404');
is(recover($wa->{id}, { since => $since }, 'sk_not_a_key')->{status}, 401, 'a bad key: 401');
$res = A('GET', "/webhooks/$wa->{id}/recover");
is($res->{status}, 405, 'GET: 405');
like($res->{headers}{allow} // '', qr/POST/, '... Allow: POST');
$res = api($ng, 'POST', "/webhooks/$wa->{id}/recover", '{"since":"2020-01-01T00:00:00Z"}', key => $ADMIN,
           content_type => undef);
is($res->{status}, 415, 'no Content-Type: 415');

my $future = rfc3339(time + 3600);
for my $case (
    [{}, 'since', 'no since'],
    [{ since => 'yesterday' }, 'since', 'since not RFC 3339'],
    [{ since => '2026-02-30T00:00:00Z' }, 'since', 'since not a date'],
    [{ since => 1700000000 }, 'since', 'since a number'],
    [{ since => undef }, 'since', 'since null'],
    [{ since => $future }, 'since', 'since in the future'],
    [{ since => $since, until => 'tomorrow' }, 'until', 'until not RFC 3339'],
    [{ since => $since, until => $since }, 'until', 'until equal to since'],
    [{ since => $since, until => rfc3339(epoch($since) - 60) }, 'until', 'until before since'],
    [{ since => $since, status => 'failed' }, 'status', 'an unknown member'],
) {
    my ($body, $field, $name) = @$case;
    $res = recover($wa->{id}, $body);
    is($res->{status}, 400, "$name: 400");
    is(error_code($res), 'invalid_request', "$name: invalid_request");
    like($res->{json}{error}{message} // '', qr/\b\Q$field\E\b/, "$name: the message names $field")
        or diag($res->{content});
}
for my $body ('[]', '"since"', 'not json') {
    $res = api($ng, 'POST', "/webhooks/$wa->{id}/recover", $body, key => $ADMIN);
    is($res->{status}, 400, "body $body: 400");
}
# A fraction of a second is read (to the millisecond) and echoed.
$res = recover($wa->{id}, { since => '2020-01-01T00:00:00.250+01:00', until => '2020-01-01T00:00:01.5+01:00' });
is_deeply([$res->{status}, $res->{json}{deliveries}], [202, 0], 'since and until with a fraction and an offset: 202');
is($res->{json}{since}, '2019-12-31T23:00:00.250Z', '... since echoed in UTC, to the millisecond');
is($res->{json}{until}, '2019-12-31T23:00:01.500Z', '... until too');

is(A('PATCH', "/webhooks/$wa->{id}", { enabled => JSON::PP::false() })->{status}, 200, 'endpoint A disabled');
$res = recover($wa->{id}, { since => $since });
is($res->{status}, 422, 'recover of a disabled endpoint: 422');
is(error_code($res), 'endpoint_disabled', '... endpoint_disabled');
like($res->{json}{error}{message} // '', qr/enabled/, '... saying to enable it');
is(A('PATCH', "/webhooks/$wa->{id}", { enabled => JSON::PP::true() })->{status}, 200, 'endpoint A enabled again');

# --- 3. max_pending ------------------------------------------------------------------------

# B's 7 failed deliveries; acme may have 2 pending. The receiver holds them 3 s, then fails.
is(A('PUT', '/limits/acme', { max_pending => 2 })->{status}, 200, 'max_pending of acme: 2');
$recv->script('/b', [{ status => 500, sleep => 3 }]);
$res = recover($wb->{id}, { since => rfc3339($old_last - 3600) });
is($res->{status}, 202, 'recover past max_pending: 202');
is_deeply([$res->{json}{deliveries}, $res->{json}{remaining}], [2, 5], '... 2 re-queued (the room), 5 remaining');
$res = recover($wb->{id}, { since => rfc3339($old_last - 3600) });
is($res->{status}, 429, 'again while those 2 are pending: 429');
is(error_code($res), 'backlog_full', '... backlog_full');
ok(wait_for(sub { delivery_counts($ng, $ADMIN, $wb->{id})->{pending} == 0 }, 20, 0.1), 'the 2 failed again');
is(A('PUT', '/limits/acme', { max_pending => 10000 })->{status}, 200, 'max_pending of acme: 10000');
$recv->script('/b', [{ status => 500 }]);

# --- 4. recover, kill -9, start over state= ---------------------------------------------------

$recv->script('/k', [{ status => 500 }]);
my $wk = create_webhook($ng, $acme, url => $recv->url('/k'), events => ['crash.*']);
my @crash = publish_failed(3, [$wk->{id}], 'crash.test');
$recv->script('/k', [{ status => 200, sleep => 30 }]);   # the recovered attempts hang
$res = recover($wk->{id}, { since => rfc3339(time - 3600) });
is_deeply([$res->{status}, $res->{json}{deliveries}], [202, 3], 'recover of 3 deliveries: 202');
ok(wait_for(sub { grep({ $_ >= 2 } @{ received('/k') }{@crash}) == 3 }, 10, 0.1),
   '... their attempts are in flight at the receiver');
my @procs = ($ng->master_pid, $ng->worker_pids);
$ng->kill9;
ok(!grep({ kill 0, $_ } @procs), 'kill -9 of master and workers');
my $journal = join '', map { WebhookTest::read_file($_) // '' } glob($ng->prefix . '/state/journal-*.log');
ok(index($journal, '"op":"delivery.recover"') >= 0, 'the journal holds the delivery.recover record');
$recv->script('/k', [{ status => 200 }]);
my $t_restart = time;
$ng->start;
ok(wait_for(sub { my $d = by_event($wk->{id}); 3 == grep { $d->{$_}{status} eq 'succeeded' } @crash }, 20, 0.1),
   'after the start over state=: the recovered deliveries are delivered (succeeded)');
my @late = grep { $_->{time} >= $t_restart } $recv->requests('/k');
is_deeply([sort map { $_->{headers}{'webhook-id'} } @late], [sort @crash], '... each once after the start, same webhook-id');
$ng->log_is_clean('kill -9 after a recover: no [alert]/[emerg]/[crit]');

# --- 5. the journal's disk fails ------------------------------------------------------------

$recv->script('/f', [{ status => 500 }]);
my $wf = create_webhook($ng, $acme, url => $recv->url('/f'), events => ['fault.*']);
my @faulty = publish_failed(2, [$wf->{id}], 'fault.test');
$recv->script('/f', [{ status => 200 }]);
sleep 0.5;   # the attempts' outcome records are written
my $count0 = $recv->count('/f');
$fault->set(ops => 'writes', errno => 'ENOSPC', path => '/state/journal-');
$res = recover($wf->{id}, { since => rfc3339(time - 3600) });
is($res->{status}, 503, 'recover while the journal cannot be written: 503');
is(error_code($res), 'store_unavailable', '... store_unavailable');
my $df = by_event($wf->{id});
is(scalar(grep { $df->{$_}{status} eq 'failed' && $df->{$_}{attempts} == 1 } @faulty), 2, '... the deliveries stay failed');
sleep 2;   # a re-queued delivery would have gone by now
is($recv->count('/f'), $count0, '... and none is delivered');
$fault->clear;
$ng->restart;
$df = by_event($wf->{id});
is(scalar(grep { $df->{$_}{status} eq 'failed' } @faulty), 2, '... nor after a restart');
$res = recover($wf->{id}, { since => rfc3339(time - 3600) });
is_deeply([$res->{status}, $res->{json}{deliveries}], [202, 2], 'once the disk is back: 202, 2 re-queued');
ok(wait_for(sub { my $d = by_event($wf->{id}); 2 == grep { $d->{$_}{status} eq 'succeeded' } @faulty }, 20, 0.1),
   '... and delivered');
$ng->stop;

# --- 6. many failed deliveries --------------------------------------------------------------

# A state= directory holding one endpoint with 2500 failed deliveries, one
# second apart (a snapshot, in the format the module writes), served by an
# nginx without webhook_delivery: nothing is attempted, the counts stay put.
my $N = 2500;
my $big = api_nginx(admin => $ADMIN, state => 1, size => '16m', zone => 'log=5000');
my $dir = $big->prefix . '/state';
mkdir $dir or die "mkdir $dir: $!";
chmod 0777, $dir;
my $t0_ms = (int(time) - 2 * 3600) * 1000;
my @recs = ('{"op":"snapshot"}', json_encode({
    op => 'endpoint.put', id => 'wh_bulk0000000000000000', tenant => 'bulk', url => 'http://127.0.0.1:9/bulk',
    name => '', description => '', events => ['*'], secret => 'whsec_' . ('A' x 32), old_secret => '',
    old_secret_until => 0, timeout_ms => 10000, enabled => JSON::PP::true(), disabled_reason => '',
    created_at => int($t0_ms / 1000), updated_at => int($t0_ms / 1000) }));
for my $i (0 .. $N - 1) {
    my $at = $t0_ms + $i * 1000;
    push @recs, json_encode({ op => 'event.put', id => sprintf('evt_bulk%012d', $i), tenant => 'bulk', type => 'bulk.item',
                              payload => qq({"type":"bulk.item","data":{"i":$i}}), created_at_ms => $at,
                              deliveries => [], restore => JSON::PP::true() }),
                json_encode({ op => 'delivery.restore', id => sprintf('dlv_bulk%012d', $i), event => sprintf('evt_bulk%012d', $i),
                              endpoint => 'wh_bulk0000000000000000', status => 2, attempts => 5, last_status => 500,
                              last_time_ms => 3, created_at_ms => $at, next_attempt_at => 0, last_error => 'http_500',
                              history => '[]' });
}
WebhookTest::write_file("$dir/snapshot", join '', map { journal_record(1, $_) } @recs);
chmod 0666, "$dir/snapshot";
$big->start;
my $bulk = 'wh_bulk0000000000000000';
my $counts = sub { delivery_counts($big, $ADMIN, $bulk) };
is_deeply($counts->(), { pending => 0, succeeded => 0, failed => $N }, "$N failed deliveries loaded");

my $all = rfc3339(int($t0_ms / 1000) - 60);
my @timing;
my $call = sub {
    my $t = time;
    my $r = recover($bulk, { since => $all }, $ADMIN, $big);
    push @timing, time - $t;
    return $r;
};
$res = $call->();
is_deeply([$res->{status}, $res->{json}{deliveries}, $res->{json}{remaining}], [202, 1000, $N - 1000],
          "recover of $N: 1000 re-queued, " . ($N - 1000) . ' remaining');
my @pending = grep { $_->{status} eq 'pending' } all_deliveries($big, $ADMIN, $bulk);
is_deeply([sort map { $_->{id} } @pending], [map { sprintf 'dlv_bulk%012d', $_ } 0 .. 999], '... the oldest 1000');
is(api($big, 'PUT', '/limits/bulk', { max_pending => 1200 }, key => $ADMIN)->{status}, 200, 'max_pending of bulk: 1200');
$res = $call->();
is_deeply([$res->{status}, $res->{json}{deliveries}, $res->{json}{remaining}], [202, 200, $N - 1200],
          'the next call: 200 (the room under max_pending)');
$res = $call->();
is($res->{status}, 429, 'then 429 backlog_full');
is(api($big, 'PUT', '/limits/bulk', { max_pending => 10000 }, key => $ADMIN)->{status}, 200, 'max_pending of bulk: 10000');
$res = $call->();
is_deeply([$res->{json}{deliveries}, $res->{json}{remaining}], [1000, $N - 2200], 'the next call: 1000');
# A window: the last 100 seconds' deliveries only (all pending by now but 300).
$res = recover($bulk, { since => rfc3339(int($t0_ms / 1000) + $N - 100) }, $ADMIN, $big);
is_deeply([$res->{json}{deliveries}, $res->{json}{remaining}], [100, 0], 'a window of the newest 100: 100');
$res = $call->();
is_deeply([$res->{json}{deliveries}, $res->{json}{remaining}], [$N - 2300, 0], 'the last call: the rest');
$res = $call->();
is_deeply([$res->{status}, $res->{json}{deliveries}], [202, 0], 'then 0');
is_deeply($counts->(), { pending => $N, succeeded => 0, failed => 0 }, "all $N pending");
diag(sprintf 'recover calls over %d failed deliveries (1000 per call): %s ms', $N,
             join ', ', map { sprintf '%.1f', $_ * 1000 } @timing);

$big->restart;
is_deeply($counts->(), { pending => $N, succeeded => 0, failed => 0 }, "after a restart: all $N still pending");
my $snap = WebhookTest::read_file("$dir/snapshot") // '';
my $restored = () = $snap =~ /"op":"delivery\.restore","id":"[^"]+","event":"[^"]+","endpoint":"[^"]+","status":0,/g;
is($restored, $N, '... and so in the snapshot written at the start');
$big->log_is_clean('many deliveries: no [alert]/[emerg]/[crit]');

done_testing;
