# Outbound delivery never loses an acknowledged event (README.md#the-delivery-model at-least-once):
#  1. kill -9 of master and workers while attempts are pending and in flight
#     to a receiver that never answers; restart on the same prefix with the
#     receiver up: every event id arrives (duplicates allowed);
#  2. nginx -s reload (HUP) several times during a steady stream of publishes
#     to a slowish receiver: every published event arrives, nothing stays
#     pending;
#  3. graceful stop (QUIT) with attempts in flight to a receiver that never
#     answers ends within timeout + 10 s, and those attempts are delivered
#     after the next start;
#  4. endpoints and deliveries (status, attempts, errors, attempt log, next
#     attempt) are the same after stop/start and after kill -9;
#  5. kill -9 in the middle of concurrent publishes: every event answered 202
#     arrives after the restart;
#  6. kill -9 of the workers only (the master and the zone stay): the leased
#     attempts go back to the queue after timeout + 30 s and are delivered.
use v5.36;
use Test::More;
use Time::HiRes qw(sleep time);
use WebhookTest qw(:all);
use KeysTest qw(ack_writers);
use DeliveryTest qw(:all);

my $ADMIN = 'admin-key-delivery-durability-7c41d2';
my %durable = (admin => $ADMIN, size => '8m', state => 1);   # every nginx here: a state= zone
my $N = 200;
my $many_retries = join ',', '0s', ('1s') x 45;

sub diag_deliveries($n, $wh_id, $events) {
    my %want = map { $_ => 1 } @$events;
    for my $d (grep { $want{ $_->{event_id} } } all_deliveries($n, $ADMIN, $wh_id)) {
        diag("$d->{event_id}: $d->{status}, $d->{attempts} attempts, error " . ($d->{error} // '-')
             . ', next ' . ($d->{next_attempt_at} // '-'));
    }
}

# --- 1. kill -9 with attempts pending and in flight ---------------------------------------

my $rx = DeliveryTest::HoldingReceiver->start(children => 8, mode => 'hold');
my $port = $rx->port;
my $ng = delivery_nginx(%durable, zone => 'log=1000', retries => $many_retries, timeout => '2s',
                        delivery => 'concurrency=40 per_endpoint=20');
$ng->start;
my $whA = create_webhook($ng, $ADMIN, url => $rx->url('/a'), events => ['a.*']);
my $whB = create_webhook($ng, $ADMIN, url => $rx->url('/b'), events => ['b.*']);

my @ids;
for my $i (1 .. $N) {
    my $ev = publish($ng, $ADMIN, type => ($i % 2 ? 'a' : 'b') . '.created', data => { n => $i });
    push @ids, $ev->{id};
    die "event $i matched $ev->{deliveries} endpoints" unless $ev->{deliveries} == 1;
}
is(scalar @ids, $N, "$N events acknowledged (202)");
ok(wait_for(sub { $rx->held >= 8 }, 10), 'attempts are in flight to the receiver that never answers')
    or diag($ng->log_tail);
my $cA = delivery_counts($ng, $ADMIN, $whA->{id});
my $cB = delivery_counts($ng, $ADMIN, $whB->{id});
ok($cA->{pending} + $cB->{pending} > 0, "deliveries pending before kill -9 ($cA->{pending} + $cB->{pending})");
is($cA->{succeeded} + $cB->{succeeded}, 0, 'nothing succeeded before kill -9');

my @procs = ($ng->master_pid, $ng->worker_pids);
$ng->kill9;
ok(!grep({ kill 0, $_ } @procs), 'kill -9: master and workers are gone');

# The receiver comes back answering 204 on the same port.
$rx->stop;
my $rx2 = DeliveryTest::HoldingReceiver->start(children => 8, port => $port, mode => 'ok');
$ng->restart;
{
    # The snapshot written at start marks its events as a snapshot's, so a
    # module that goes by that flag (an older one, after a rollback) keeps
    # their deliveries.
    my $snap = WebhookTest::read_file($ng->prefix . '/state/snapshot') // '';
    my $events = () = $snap =~ /"op":"event\.put"/g;
    my $marked = () = $snap =~ /"op":"event\.put"[^\x00]*?"restore":true\}/g;
    ok($events > 0, "the snapshot after the restart holds the pending events ($events)");
    is($marked, $events, 'every event.put of the snapshot carries "restore":true');
}
my $t0 = time;
my @missing;
wait_for(sub { @missing = $rx2->missing(\@ids); !@missing }, 60, 0.2);
is(scalar @missing, 0, 'after kill -9 and restart: every acknowledged event arrived at least once')
    or diag(scalar(@missing) . " missing, e.g. @missing[0 .. ($#missing < 4 ? $#missing : 4)]");
diag(sprintf 'redelivered %d events in %.1f s after the restart (%d requests, duplicates allowed)',
             $N, time - $t0, $rx2->count);
ok(wait_for(sub {
    my ($a, $b) = (delivery_counts($ng, $ADMIN, $whA->{id}), delivery_counts($ng, $ADMIN, $whB->{id}));
    $a->{succeeded} + $b->{succeeded} == $N;
}, 20), "all $N deliveries succeeded after the restart");
my $ca = delivery_counts($ng, $ADMIN, $whA->{id});
my $cb = delivery_counts($ng, $ADMIN, $whB->{id});
is($ca->{pending} + $cb->{pending}, 0, 'none pending');
is($ca->{failed} + $cb->{failed}, 0, 'none failed');
{
    my @d = (all_deliveries($ng, $ADMIN, $whA->{id}), all_deliveries($ng, $ADMIN, $whB->{id}));
    is(scalar @d, $N, "$N deliveries listed");
    my %ev = map { $_->{event_id} => 1 } @d;
    is(scalar(grep { $ev{$_} } @ids), $N, 'one delivery per published event');
    ok(!grep({ $_->{attempts} < 1 } @d), 'every delivery counts its attempts');
}
$ng->log_is_clean('kill -9: no [alert]/[emerg]/[crit]');

# --- 2. reloads during a steady stream of publishes ------------------------------------------------

$rx2->clear;
$rx2->set_mode('delay 0.2');
my $pub = ack_writers(3, 300, sub ($i, $k) {
    my $res = KeysTest::api($ng, 'POST', '/events', { type => ($k % 2 ? 'a' : 'b') . '.stream', data => { i => $i, k => $k } },
                            key => $ADMIN);
    sleep 0.01;
    return $res->{status} == 202 ? "ok $res->{json}{id}" : "status $res->{status}";
});
my $reloads = 0;
for (1 .. 4) {
    sleep 0.7;
    eval { $ng->reload(20); $reloads++; 1 } or diag("reload: $@");
}
sleep 0.5;
$pub->stop;
is($reloads, 4, 'four reloads during the stream');
my @lines = $pub->lines;
my @stream = map { /^ok (\S+)/ ? $1 : () } @lines;
my @bad = grep { !/^ok / } @lines;
ok(@stream >= 100, scalar(@stream) . ' events published during the reloads');
is(scalar @bad, 0, 'every publish during the reloads was acknowledged with 202') or diag("@bad[0 .. ($#bad < 5 ? $#bad : 5)]");
wait_for(sub { @missing = $rx2->missing(\@stream); !@missing }, 60, 0.2);
is(scalar @missing, 0, 'every event published during the reloads arrived') or diag(scalar(@missing) . ' missing');
ok(wait_for(sub {
    my ($a, $b) = (delivery_counts($ng, $ADMIN, $whA->{id}), delivery_counts($ng, $ADMIN, $whB->{id}));
    $a->{pending} + $b->{pending} == 0;
}, 20), 'nothing stuck pending after the reloads');
{
    my ($a, $b) = (delivery_counts($ng, $ADMIN, $whA->{id}), delivery_counts($ng, $ADMIN, $whB->{id}));
    is($a->{failed} + $b->{failed}, 0, 'no delivery failed across the reloads');
    is($a->{succeeded} + $b->{succeeded}, $N + @stream, 'every delivery succeeded');
}
$ng->log_is_clean('reloads: no [alert]/[emerg]/[crit]');

# --- 3. graceful stop with attempts in flight ------------------------------------------------------

$rx2->clear;
$rx2->set_mode('hold');
my @q = map { publish($ng, $ADMIN, type => 'a.quit', data => { n => $_ })->{id} } 1 .. 10;
ok(wait_for(sub { $rx2->held >= 4 }, 10), 'attempts in flight to a receiver that never answers');
my @all = ($ng->master_pid, $ng->worker_pids);
my $t = time;
ok($ng->stop(30), 'QUIT: nginx stops');
my $took = time - $t;
ok(!grep({ kill 0, $_ } @all), 'QUIT: master and workers are gone');
cmp_ok($took, '<', 2 + 10, sprintf('QUIT with attempts in flight took %.1f s (< timeout + 10 s)', $took));
$rx2->set_mode('ok');
$ng->start;
wait_for(sub { @missing = $rx2->missing(\@q); !@missing }, 30, 0.2);
is(scalar @missing, 0, 'the attempts cut by QUIT are delivered after the next start')
    or diag_deliveries($ng, $whA->{id}, \@missing);
$ng->log_is_clean('QUIT: no [alert]/[emerg]/[crit]');
$ng->stop;

# --- 4. endpoints and deliveries survive stop/start and kill -9 -----------------------------------------------

my $ok = DeliveryTest::HoldingReceiver->start(children => 2, mode => 'ok');
my $gone = DeliveryTest::HoldingReceiver->start(children => 2, mode => 'ok 410');
my $err = DeliveryTest::HoldingReceiver->start(children => 2, mode => 'ok 500');
my $s = delivery_nginx(%durable, retries => '0s,1s,1h', timeout => '2s');
$s->start;
my %wh = (
    ok   => create_webhook($s, $ADMIN, url => $ok->url('/ok'), events => ['*'], name => 'fine', description => 'answers 204'),
    gone => create_webhook($s, $ADMIN, url => $gone->url('/gone'), events => ['*'], name => 'gone'),
    err  => create_webhook($s, $ADMIN, url => $err->url('/err'), events => ['x.*'], timeout => 5),
);
my @ev = map { publish($s, $ADMIN, type => 'x.persist', data => { n => $_ })->{id} } 1 .. 3;
ok(wait_for(sub {
    my $c = delivery_counts($s, $ADMIN, $wh{err}{id});
    my $e = deliveries($s, $ADMIN, $wh{err}{id});
    $c->{pending} == 3 && !grep { $_->{attempts} < 2 } @{ $e->{deliveries} };
}, 20), 'the failing endpoint has 3 deliveries pending after 2 attempts (next in 1 h)');
ok(wait_for(sub { delivery_counts($s, $ADMIN, $wh{ok}{id})->{succeeded} == 3 }, 10), 'the good endpoint: 3 succeeded');
ok(wait_for(sub { delivery_counts($s, $ADMIN, $wh{gone}{id})->{failed} >= 1 }, 10), 'the 410 endpoint: failed');

sub state_of($n) {
    my $hooks = KeysTest::api($n, 'GET', '/webhooks', undef, key => $ADMIN)->{json};
    my %st = (webhooks => $hooks);
    for my $h (@{ $hooks->{webhooks} // [] }) {
        my $list = deliveries($n, $ADMIN, $h->{id}, limit => 100);
        $st{"list $h->{id}"} = $list;
        for my $d (@{ $list->{deliveries} }) {
            $st{"delivery $d->{id}"} = KeysTest::api($n, 'GET', "/deliveries/$d->{id}", undef, key => $ADMIN)->{json};
        }
    }
    return \%st;
}
my $before = state_of($s);
is(scalar @{ $before->{webhooks}{webhooks} }, 3, 'three endpoints');
my ($g) = grep { $_->{id} eq $wh{gone}{id} } @{ $before->{webhooks}{webhooks} };
ok($g && !$g->{enabled}, '410 disabled the endpoint');
ok(($before->{webhooks}{webhooks}[0]{last_error} // '') ne '' || grep({ $_->{last_error} } @{ $before->{webhooks}{webhooks} }),
   'an endpoint shows its last error');

ok($s->stop, 'graceful stop');
my $start_mark = $s->log_mark;
$s->start;
is_deeply(state_of($s), $before, 'after stop/start: endpoints, deliveries and attempt logs are the same');
{
    my $deliveries = grep { /^delivery / } keys %$before;
    like($s->log_since($start_mark),
         qr/\[notice\].*restored 0 keys, 3 endpoints, 3 events, $deliveries deliveries \(\d+ pending\), 0 idempotency keys, limits for 0 tenants from ".+" \(\d+ records read\)/,
         'the start says what it restored') or diag($s->log_tail(20));
}
$s->kill9;
$s->restart;
is_deeply(state_of($s), $before, 'after kill -9: endpoints, deliveries and attempt logs are the same');
$s->log_is_clean('stop/start: no [alert]/[emerg]/[crit]');
$s->stop;

# --- 5. kill -9 in the middle of concurrent publishes ---------------------------------------------------
# Every event answered 202 before the kill arrives after the restart (the
# group commit makes each one durable before its answer).

{
    my $rx5 = DeliveryTest::HoldingReceiver->start(children => 4, mode => 'ok');
    my $p = delivery_nginx(%durable, zone => 'log=5000', retries => $many_retries, timeout => '2s');
    $p->start;
    my $wh5 = create_webhook($p, $ADMIN, url => $rx5->url('/p'), events => ['*']);
    my $pub5 = ack_writers(4, 2000, sub ($i, $k) {
        my $res = KeysTest::api($p, 'POST', '/events', { type => 'p.one', data => { i => $i } }, key => $ADMIN);
        return $res->{status} == 202 ? $res->{json}{id} : undef;
    });
    wait_for(sub { $pub5->count >= 150 }, 30);
    $p->kill9;
    $pub5->wait;
    my @acked = $pub5->lines;
    ok(@acked >= 150 && @acked < 8000, scalar(@acked) . ' events acknowledged before kill -9 mid-stream');
    $p->restart;
    wait_for(sub { @missing = $rx5->missing(\@acked); !@missing }, 60, 0.25);
    is(scalar @missing, 0, 'kill -9 mid-stream: every acknowledged event arrived after the restart')
        or diag(scalar(@missing) . ' missing');
    ok(wait_for(sub { delivery_counts($p, $ADMIN, $wh5->{id})->{pending} == 0 }, 30), 'kill -9 mid-stream: nothing left pending');
    $p->log_is_clean('kill -9 mid-stream: no [alert]/[emerg]/[crit]');
    $p->stop;
}

# --- 6. kill -9 of the workers only: their leases run out ---------------------------------------------------
# The master stays and starts new workers on the same zone; the attempts the
# dead workers had in flight are leased in shared memory until timeout + 30 s,
# then go back to the queue.

{
    my $hold = DeliveryTest::HoldingReceiver->start(children => 4, mode => 'hold');
    my $w = delivery_nginx(%durable, retries => $many_retries, timeout => '1s', delivery => 'per_endpoint=8');
    $w->start;
    create_webhook($w, $ADMIN, url => $hold->url('/w'), events => ['*']);
    my @ev5 = map { publish($w, $ADMIN, type => 'w.one', data => { n => $_ })->{id} } 1 .. 6;
    ok(wait_for(sub { $hold->held >= 4 }, 10), 'workers only: attempts in flight');
    my @old = $w->worker_pids;
    kill 'KILL', @old;
    ok(wait_for(sub { my %n = map { $_ => 1 } $w->worker_pids; !grep({ $n{$_} } @old) && keys(%n) >= 2 }, 10),
       'workers only: the master started new workers');
    $hold->set_mode('ok');
    my $t5 = time;
    wait_for(sub { @missing = $hold->missing(\@ev5); !@missing }, 60, 0.25);
    is(scalar @missing, 0, sprintf('workers only: the leased attempts were delivered (after %.0f s)', time - $t5));
    my @bad = grep { /\[(?:alert|crit|emerg)\]/ && !/exited on signal 9/ } split /\n/, $w->error_log;
    is(scalar @bad, 0, 'workers only: no [alert]/[crit] beyond the master noting the killed workers') or diag("@bad[0..2]");
    $w->stop;
}

done_testing;
