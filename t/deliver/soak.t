# Volume (NGINX-NOTES "Requests with no client behind them"): ~20 000
# attempts (SOAK_ATTEMPTS) — events fanned out to 25 endpoints of one tenant
# (its limit raised with PUT /limits) on a local nginx that answers 204 —
# are all delivered and `succeeded`, with zero [alert]/[crit] lines; the
# delivering workers' connections (stub_status Active connections, open
# descriptors) are back to their baseline afterwards; worker RSS does not grow
# by more than a generous bound between the 2nd and the last fifth of the
# run. With worker_connections 1024, a connection slot leaked per attempt
# would also run the workers out of connections long before the end.
# Prints the attempts/s observed.
use v5.36;
use Test::More;
use POSIX ();
use Time::HiRes qw(sleep time);
use WebhookTest qw(:all);
use KeysTest qw(in_children);
use DeliveryTest qw(:all);

my $ADMIN = 'admin-key-delivery-soak-2e9b60';
my $ATTEMPTS = $ENV{SOAK_ATTEMPTS} // 20000;
my $ENDPOINTS = 25;
my $EVENTS = int($ATTEMPTS / $ENDPOINTS);
my $TOTAL = $EVENTS * $ENDPOINTS;
my $PUBLISHERS = 4;
my $RSS_GROWTH_KB = 48 * 1024;   # VmRSS: the zone's pages count as they fill
my $ANON_GROWTH_KB = 8 * 1024;   # RssAnon: the worker's own heap

# The receiver: another nginx, 204 for everything, one log line per request.
my $rxng = WebhookTest::Nginx->new(conf => <<'EOF');
    log_format rx '$http_webhook_id $uri';
    server {
        listen 127.0.0.1:%%PORT%%;
        access_log %%PREFIX%%/rx.log rx buffer=256k flush=1s;
        location / { return 204; }
        location /fail { return 500; }
    }
EOF
$rxng->start;
my $rxlog = $rxng->prefix . '/rx.log';
sub received() { my $n = () = (read_file($rxlog) // '') =~ /\n/g; return $n }

my $ng = delivery_nginx(
    admin     => $ADMIN,
    size      => '64m',
    state     => 1,
    zone      => 'log=' . ($EVENTS + 500),
    retries   => '0s,1s,2s',
    timeout   => '5s',
    delivery  => 'concurrency=64 per_endpoint=8',
    locations => '        location = /status { stub_status; access_log off; }',
);
$ng->start;
my $status_url = $ng->url('/status');

raise_limit($ng, $ADMIN, 'soak', $ENDPOINTS + 5);
my @wh = map { create_webhook($ng, $ADMIN, url => $rxng->url("/ep$_"), events => ['soak.*'], tenant => 'soak')->{id} } 1 .. $ENDPOINTS;
is(scalar @wh, $ENDPOINTS, "$ENDPOINTS endpoints registered for one tenant (limit raised)");

my @workers = $ng->worker_pids;
sleep 0.5;
my $base_active = stub_active($status_url);
my %base_fds = map { $_ => worker_fds($_) } @workers;
ok(defined $base_active, "stub_status baseline: $base_active active connection(s)");

# Publish from a few children while the dispatcher delivers.
my $t0 = time;
my $pub = fork // die "fork: $!";
if ($pub == 0) {
    my @rc = in_children($PUBLISHERS, sub ($i) {
        for my $k (0 .. $EVENTS - 1) {
            next unless $k % $PUBLISHERS == $i;
            my $res = KeysTest::api($ng, 'POST', '/events', { type => 'soak.tick', tenant => 'soak', data => { k => $k } },
                                    key => $ADMIN);
            die "POST /events: $res->{status} $res->{content}" unless $res->{status} == 202 && $res->{json}{deliveries} == $ENDPOINTS;
        }
    });
    POSIX::_exit(grep({ $_ } @rc) ? 1 : 0);
}

# Watch the run: RSS at the 2nd fifth, and at the end.
my ($rss2, $rss_end);
my $deadline = time + 150;
my $n = 0;
while (time < $deadline) {
    $n = received();
    $rss2 //= { map { $_ => [worker_rss($_), worker_rss($_, 'RssAnon')] } @workers } if $n >= $TOTAL * 2 / 5;
    last if $n >= $TOTAL;
    sleep 0.25;
}
my $elapsed = time - $t0;
waitpid $pub, 0;
is($? >> 8, 0, "$EVENTS events published, each to $ENDPOINTS endpoints (202)");
cmp_ok($n, '>=', $TOTAL, "the receiver got all $TOTAL attempts within the deadline");
diag(sprintf '%d attempts in %.1f s: %.0f attempts/s (publishing concurrently, %d publishers)',
             $n, $elapsed, $n / $elapsed, $PUBLISHERS);

# Everything succeeded, each endpoint got each event once (no duplicates needed).
my $ok_all = wait_for(sub {
    my $s = 0;
    $s += delivery_counts($ng, $ADMIN, $_)->{succeeded} for @wh;
    $s == $TOTAL;
}, 30, 0.5);
ok($ok_all, "all $TOTAL deliveries succeeded");
{
    my %c = (pending => 0, failed => 0);
    for my $id (@wh) {
        my $c = delivery_counts($ng, $ADMIN, $id);
        $c{$_} += $c->{$_} for qw(pending failed);
    }
    is($c{pending}, 0, 'none pending');
    is($c{failed}, 0, 'none failed');
    my @d = all_deliveries($ng, $ADMIN, $wh[0]);
    is(scalar(grep { $_->{attempts} == 1 && $_->{status} eq 'succeeded' } @d), $EVENTS,
       "endpoint 1: $EVENTS deliveries, each succeeded at the first attempt");
}
{
    sleep 1.2;   # the receiver's log buffer
    my %pairs;
    for (split /\n/, read_file($rxlog) // '') { $pairs{$_}++ }
    is(scalar keys %pairs, $TOTAL, "the receiver saw $TOTAL distinct (event, endpoint) pairs");
}

$rss_end = { map { $_ => [worker_rss($_), worker_rss($_, 'RssAnon')] } @workers };

# The failure paths, where slots and sockets leak if anything does: attempts
# refused (closed port), answered 500, and timed out (a receiver that never
# answers, endpoint timeout 1 s); each delivery tries 3 times and fails.
{
    my $hold = DeliveryTest::HoldingReceiver->start(children => 8, mode => 'hold');
    my %fail = (
        refused => [create_webhook($ng, $ADMIN, url => 'http://127.0.0.1:' . free_port() . '/x', events => ['fail.*'], tenant => 'fail')->{id}, 200, 'connection_failed'],
        500     => [create_webhook($ng, $ADMIN, url => $rxng->url('/fail'), events => ['fail.*', 'many.*'], tenant => 'fail')->{id}, 200, 'http_500'],
        timeout => [create_webhook($ng, $ADMIN, url => $hold->url('/t'), events => ['slow.*'], tenant => 'fail', timeout => 1)->{id}, 24, 'timeout'],
    );
    my $tf = time;
    publish($ng, $ADMIN, type => 'fail.one', data => { k => $_ }, tenant => 'fail') for 1 .. 200;
    publish($ng, $ADMIN, type => 'slow.one', data => { k => $_ }, tenant => 'fail') for 1 .. 24;
    for my $kind (sort keys %fail) {
        my ($id, $count, $error) = @{ $fail{$kind} };
        my $c;
        wait_for(sub { $c = delivery_counts($ng, $ADMIN, $id); $c->{failed} == $count }, 60, 0.5);
        is($c->{failed}, $count, "$kind: $count deliveries failed");
        my @d = all_deliveries($ng, $ADMIN, $id);
        is(scalar(grep { $_->{attempts} == 3 && ($_->{error} // '') eq $error } @d), $count,
           "$kind: each after 3 attempts, error $error");
    }
    diag(sprintf 'failure paths: %d failed attempts in %.1f s', 3 * (200 + 200 + 24), time - $tf);
    $hold->stop;
}

# Back to the baseline.
$ng->log_mark;
my $active;
ok(wait_for(sub { $active = stub_active($status_url); defined $active && $active <= $base_active }, 10),
   "stub_status Active connections back to the baseline ($active, baseline $base_active)");
for my $pid (@workers) {
    my $fds;
    ok(wait_for(sub { $fds = worker_fds($pid); defined $fds && $fds <= $base_fds{$pid} }, 10),
       "worker $pid: open descriptors back to the baseline ($fds, baseline $base_fds{$pid})")
        if defined $base_fds{$pid};
    next unless $rss2 && defined $rss2->{$pid} && defined $rss_end->{$pid};
    my ($vm2, $anon2, $vm_end, $anon_end) = (@{ $rss2->{$pid} }, @{ $rss_end->{$pid} });
    my $grow = $vm_end - $vm2;
    cmp_ok($grow, '<', $RSS_GROWTH_KB, "worker $pid: VmRSS grew $grow kB between the 2nd and the last fifth "
                                        . "($vm2 -> $vm_end kB, zone pages included)");
    my $anon = $anon_end - $anon2;
    cmp_ok($anon, '<', $ANON_GROWTH_KB, "worker $pid: private memory (RssAnon) grew $anon kB ($anon2 -> $anon_end kB)");
}
is(scalar($ng->worker_pids), scalar(@workers), 'the same workers ran the whole soak (none crashed)');
{
    my $log = $ng->error_log;
    my @bad = grep { /\[(?:alert|crit|emerg)\]/ } split /\n/, $log;
    is(scalar @bad, 0, 'zero [alert]/[crit] lines') or diag(join "\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)]);
    my $failed = () = $log =~ /webhook attempt failed/g;
    is($failed, 3 * (200 + 200 + 24), 'one log line per failed attempt, none during the volume run');
    unlike($log, qr/worker_connections are not enough/, 'never ran out of connections');
}
$rxng->log_is_clean('receiver: no [alert]/[emerg]/[crit]');
$ng->stop;
$rxng->stop;
done_testing;
