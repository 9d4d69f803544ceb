# Outbound delivery never loses an acknowledged event (SPEC §6 at-least-once):
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
use POSIX ();
use Time::HiRes qw(sleep time);
use WebhookTest qw(:all);
use KeysTest qw(in_children);
use DeliveryOps qw(:all);

my $N = 200;
my $many_retries = join ',', '0s', ('1s') x 45;

sub diag_deliveries($n, $wh_id, $events) {
    my %want = map { $_ => 1 } @$events;
    for my $d (grep { $want{ $_->{event_id} } } all_deliveries($n, $wh_id)) {
        diag("$d->{event_id}: $d->{status}, $d->{attempts} attempts, error " . ($d->{error} // '-')
             . ', next ' . ($d->{next_attempt_at} // '-'));
    }
}

# --- 1. kill -9 with attempts pending and in flight ---------------------------------------

my $rx = DeliveryOps::Receiver->start(children => 8, mode => 'hold');
my $port = $rx->port;
my $ng = delivery_nginx(
    zone     => 'log=1000',
    delivery => "allow_http=on allow_private=on retries=$many_retries timeout=2s concurrency=40 per_endpoint=20",
);
$ng->start;
my $whA = register($ng, $rx->url('/a'), ['a.*']);
my $whB = register($ng, $rx->url('/b'), ['b.*']);

my @ids;
for my $i (1 .. $N) {
    my ($id, $n) = publish($ng, ($i % 2 ? 'a' : 'b') . '.created', { n => $i });
    push @ids, $id;
    die "event $i matched $n endpoints" unless $n == 1;
}
is(scalar @ids, $N, "$N events acknowledged (202)");
ok(wait_for(sub { $rx->held >= 8 }, 10), 'attempts are in flight to the receiver that never answers')
    or diag($ng->log_tail);
my $cA = delivery_counts($ng, $whA->{id});
my $cB = delivery_counts($ng, $whB->{id});
ok($cA->{pending} + $cB->{pending} > 0, "deliveries pending before kill -9 ($cA->{pending} + $cB->{pending})");
is($cA->{succeeded} + $cB->{succeeded}, 0, 'nothing succeeded before kill -9');

my @procs = ($ng->master_pid, $ng->worker_pids);
$ng->kill9;
ok(!grep({ kill 0, $_ } @procs), 'kill -9: master and workers are gone');

# The receiver comes back answering 204 on the same port.
$rx->stop;
my $rx2 = DeliveryOps::Receiver->start(children => 8, port => $port, mode => 'ok');
$ng->restart;
my $t0 = time;
my @missing;
wait_for(sub { @missing = $rx2->missing(\@ids); !@missing }, 60, 0.2);
is(scalar @missing, 0, 'after kill -9 and restart: every acknowledged event arrived at least once')
    or diag(scalar(@missing) . " missing, e.g. @missing[0 .. ($#missing < 4 ? $#missing : 4)]");
diag(sprintf 'redelivered %d events in %.1f s after the restart (%d requests, duplicates allowed)',
             $N, time - $t0, $rx2->count);
ok(wait_for(sub {
    my ($a, $b) = (delivery_counts($ng, $whA->{id}), delivery_counts($ng, $whB->{id}));
    $a->{succeeded} + $b->{succeeded} == $N;
}, 20), "all $N deliveries succeeded after the restart");
my $ca = delivery_counts($ng, $whA->{id});
my $cb = delivery_counts($ng, $whB->{id});
is($ca->{pending} + $cb->{pending}, 0, 'none pending');
is($ca->{failed} + $cb->{failed}, 0, 'none failed');
{
    my @d = (all_deliveries($ng, $whA->{id}), all_deliveries($ng, $whB->{id}));
    is(scalar @d, $N, "$N deliveries listed");
    my %ev = map { $_->{event_id} => 1 } @d;
    is(scalar(grep { $ev{$_} } @ids), $N, 'one delivery per published event');
    ok(!grep({ $_->{attempts} < 1 } @d), 'every delivery counts its attempts');
}
$ng->log_is_clean('kill -9: no [alert]/[emerg]/[crit]');

# --- 2. reloads during a steady stream of publishes ------------------------------------------------

$rx2->clear;
$rx2->set_mode('delay 0.2');
my $dir = File::Temp::tempdir(CLEANUP => 1);
my $stop_file = "$dir/stop";
my $pub = fork // die "fork: $!";
if ($pub == 0) {
    in_children(3, sub ($i) {
        open my $fh, '>>', "$dir/ids.$i" or die;
        $fh->autoflush(1);
        my $k = 0;
        while (!-e $stop_file && $k < 300) {
            $k++;
            my $res = KeysTest::api($ng, 'POST', '/events', { type => ($k % 2 ? 'a' : 'b') . '.stream', data => { i => $i, k => $k } },
                                    key => $ADMIN);
            print {$fh} $res->{status} == 202 ? "ok $res->{json}{id}\n" : "status $res->{status}\n";
            sleep 0.01;
        }
    });
    POSIX::_exit(0);
}
my $reloads = 0;
for (1 .. 4) {
    sleep 0.7;
    eval { $ng->reload(20); $reloads++; 1 } or diag("reload: $@");
}
sleep 0.5;
WebhookTest::write_file($stop_file, '');
waitpid $pub, 0;
is($reloads, 4, 'four reloads during the stream');
my @lines = map { split /\n/, read_file($_) // '' } glob "$dir/ids.*";
my @stream = map { /^ok (\S+)/ ? $1 : () } @lines;
my @bad = grep { !/^ok / } @lines;
ok(@stream >= 100, scalar(@stream) . ' events published during the reloads');
is(scalar @bad, 0, 'every publish during the reloads was acknowledged with 202') or diag("@bad[0 .. ($#bad < 5 ? $#bad : 5)]");
wait_for(sub { @missing = $rx2->missing(\@stream); !@missing }, 60, 0.2);
is(scalar @missing, 0, 'every event published during the reloads arrived') or diag(scalar(@missing) . ' missing');
ok(wait_for(sub {
    my ($a, $b) = (delivery_counts($ng, $whA->{id}), delivery_counts($ng, $whB->{id}));
    $a->{pending} + $b->{pending} == 0;
}, 20), 'nothing stuck pending after the reloads');
{
    my ($a, $b) = (delivery_counts($ng, $whA->{id}), delivery_counts($ng, $whB->{id}));
    is($a->{failed} + $b->{failed}, 0, 'no delivery failed across the reloads');
    is($a->{succeeded} + $b->{succeeded}, $N + @stream, 'every delivery succeeded');
}
$ng->log_is_clean('reloads: no [alert]/[emerg]/[crit]');

# --- 3. graceful stop with attempts in flight ------------------------------------------------------

$rx2->clear;
$rx2->set_mode('hold');
my @q = map { scalar publish($ng, 'a.quit', { n => $_ }) } 1 .. 10;
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

my $ok = DeliveryOps::Receiver->start(children => 2, mode => 'ok');
my $gone = DeliveryOps::Receiver->start(children => 2, mode => 'ok 410');
my $err = DeliveryOps::Receiver->start(children => 2, mode => 'ok 500');
my $s = delivery_nginx(delivery => 'allow_http=on allow_private=on retries=0s,1s,1h timeout=2s');
$s->start;
my %wh = (
    ok   => register($s, $ok->url('/ok'), ['*'], name => 'fine', description => 'answers 204'),
    gone => register($s, $gone->url('/gone'), ['*'], name => 'gone'),
    err  => register($s, $err->url('/err'), ['x.*'], timeout => 5),
);
my @ev = map { scalar publish($s, 'x.persist', { n => $_ }) } 1 .. 3;
ok(wait_for(sub {
    my $c = delivery_counts($s, $wh{err}{id});
    my $e = deliveries($s, $wh{err}{id});
    $c->{pending} == 3 && !grep { $_->{attempts} < 2 } @{ $e->{deliveries} };
}, 20), 'the failing endpoint has 3 deliveries pending after 2 attempts (next in 1 h)');
ok(wait_for(sub { delivery_counts($s, $wh{ok}{id})->{succeeded} == 3 }, 10), 'the good endpoint: 3 succeeded');
ok(wait_for(sub { delivery_counts($s, $wh{gone}{id})->{failed} >= 1 }, 10), 'the 410 endpoint: failed');

sub state_of($n) {
    my $hooks = KeysTest::api($n, 'GET', '/webhooks', undef, key => $ADMIN)->{json};
    my %st = (webhooks => $hooks);
    for my $h (@{ $hooks->{webhooks} // [] }) {
        my $list = deliveries($n, $h->{id}, limit => 100);
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
$s->start;
is_deeply(state_of($s), $before, 'after stop/start: endpoints, deliveries and attempt logs are the same');
$s->kill9;
$s->restart;
is_deeply(state_of($s), $before, 'after kill -9: endpoints, deliveries and attempt logs are the same');
$s->log_is_clean('stop/start: no [alert]/[emerg]/[crit]');
$s->stop;

# --- 5. kill -9 in the middle of concurrent publishes ---------------------------------------------------
# Every event answered 202 before the kill arrives after the restart (the
# group commit makes each one durable before its answer).

{
    my $rx5 = DeliveryOps::Receiver->start(children => 4, mode => 'ok');
    my $p = delivery_nginx(zone => 'log=5000', delivery => "allow_http=on allow_private=on retries=$many_retries timeout=2s");
    $p->start;
    my $wh5 = register($p, $rx5->url('/p'), ['*']);
    my $adir = File::Temp::tempdir(CLEANUP => 1);
    my $acked = sub { my $n = 0; $n += () = (read_file($_) // '') =~ /\n/g for glob "$adir/*"; $n };
    my $kid = fork // die "fork: $!";
    if ($kid == 0) {
        in_children(4, sub ($i) {
            open my $fh, '>>', "$adir/$i" or die;
            $fh->autoflush(1);
            for (1 .. 2000) {
                my $res = KeysTest::api($p, 'POST', '/events', { type => 'p.one', data => { i => $i } }, key => $ADMIN);
                last unless $res->{status} == 202;
                print {$fh} "$res->{json}{id}\n";
            }
        });
        POSIX::_exit(0);
    }
    wait_for(sub { $acked->() >= 150 }, 30);
    $p->kill9;
    waitpid $kid, 0;
    my @acked = map { split /\n/, read_file($_) // '' } glob "$adir/*";
    ok(@acked >= 150 && @acked < 8000, scalar(@acked) . ' events acknowledged before kill -9 mid-stream');
    $p->restart;
    wait_for(sub { @missing = $rx5->missing(\@acked); !@missing }, 60, 0.25);
    is(scalar @missing, 0, 'kill -9 mid-stream: every acknowledged event arrived after the restart')
        or diag(scalar(@missing) . ' missing');
    ok(wait_for(sub { delivery_counts($p, $wh5->{id})->{pending} == 0 }, 30), 'kill -9 mid-stream: nothing left pending');
    $p->log_is_clean('kill -9 mid-stream: no [alert]/[emerg]/[crit]');
    $p->stop;
}

# --- 6. kill -9 of the workers only: their leases run out ---------------------------------------------------
# The master stays and starts new workers on the same zone; the attempts the
# dead workers had in flight are leased in shared memory until timeout + 30 s,
# then go back to the queue.

{
    my $hold = DeliveryOps::Receiver->start(children => 4, mode => 'hold');
    my $w = delivery_nginx(delivery => "allow_http=on allow_private=on retries=$many_retries timeout=1s per_endpoint=8");
    $w->start;
    register($w, $hold->url('/w'), ['*']);
    my @ev5 = map { scalar publish($w, 'w.one', { n => $_ }) } 1 .. 6;
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
