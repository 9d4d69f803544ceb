# Compaction's disk fails (README.md#webhook_zone state=DIR): writing DIR/snapshot (open of
# snapshot.tmp, write, fsync, rename) fails with ENOSPC or EIO — at start,
# when the master compacts DIR, and while running, when worker 0 compacts the
# journals that outgrew the snapshot. A failed snapshot never deletes a
# journal nor changes the old snapshot; nothing acknowledged is lost, at the
# next start or after kill -9; the failure is logged with its errno.
# Faults injected at run time by t/fault/faultfs.c (LD_PRELOAD, nginx only).
use v5.36;
use Test::More;
use Time::HiRes qw(sleep time);
use WebhookTest qw(:all);
use KeysTest qw(:all);
use DeliveryTest qw(delivery_nginx);
use FaultTest;

my $ADMIN = 'admin-key-fault-snapshot-77c1e0';
my $fault = FaultTest->new;
my $backend = WebhookTest::Backend->start;
my $rx = DeliveryTest::HoldingReceiver->start(children => 2, mode => 'ok');

my $ng = delivery_nginx(admin => $ADMIN, size => '128m', state => 1, zone => 'log=5', retries => '0s,1s',
                        timeout => '5s', guard => 1, locations => "        client_max_body_size 2m;\n",
                        vars => { BACKEND => $backend->port }, env => $fault->env);
$ng->start;
my $state = $ng->prefix . '/state';

sub A($method, $path, $body = undef) { return api($ng, $method, $path, $body, key => $ADMIN) }

my (@keys, @events, @secrets);
my $hook = A('POST', '/webhooks', { url => $rx->url('/in'), events => ['*'], tenant => 't' })->{json}
    or BAIL_OUT('POST /webhooks failed');
push @secrets, $hook->{secret};

sub acked_key($what) {
    my $res = A('POST', '/keys', { resource => 'room:1', scopes => ['read'] });
    ok($res->{status} == 201, $what) or diag("$res->{status} $res->{content}");
    if ($res->{status} == 201) { push @keys, $res->{json}; push @secrets, $res->{json}{key} }
}
sub publish_event($bytes = 0) {
    my $body = '{"type":"bulk.sync","tenant":"t","data":{"pad":"' . ('p' x $bytes) . '"}}';
    my $res = http_post($ng->url('/v1/events'), $body, { 'Content-Type' => 'application/json', Authorization => "Bearer $ADMIN" });
    my $j = json_decode($res->{content} // '');
    push @events, $j->{id} if $res->{status} == 202 && $j;
    return $res->{status};
}
sub state_ok($when) {
    my @bad = grep { auth_get($ng, '/r', $_->{key})->{status} != 200 } @keys;
    ok(!@bad, "$when: all " . scalar(@keys) . ' acknowledged keys authenticate') or diag('lost: ' . join ' ', map { $_->{id} } @bad);
    is(A('GET', "/webhooks/$hook->{id}")->{status}, 200, "$when: the endpoint is there");
}
sub all_events_received($when, $timeout = 90) {
    my @missing;
    wait_for(sub { @missing = $rx->missing(\@events); !@missing }, $timeout, 0.5);
    ok(!@missing, "$when: all " . scalar(@events) . ' acknowledged events were delivered') or diag(scalar(@missing) . " missing");
}
sub journals() { return grep { m{/journal-[\d-]+\.log$} } glob "$state/journal-*.log" }
sub journal_bytes() { my $t = 0; $t += -s $_ for journals(); return $t }
# snapshot and journals, byte for byte (snapshot.tmp and lock aside)
sub durable_files() {
    my $c = FaultTest::dir_contents($state);
    delete @{$c}{qw(snapshot.tmp lock)};
    return $c;
}

# Starts nginx without nginx -t; (exit, output); waits for the port when it started.
sub try_start() {
    $ng->stop if $ng->is_running;
    unlink $ng->pid_path;
    my ($exit, $out) = start_output($ng);
    wait_for(sub { $ng->is_running && wait_for_port($ng->port, 0.2) }, 10) if $exit == 0;
    return ($exit, $out);
}

acked_key('a key before any fault');
is(publish_event(10), 202, 'an event before any fault');

# --- A. start-time compaction fails ---------------------------------------------------
for my $v (['open', 'ENOSPC'], ['writes', 'EIO'], ['fsync', 'EIO'], ['rename', 'ENOSPC']) {
    my ($ops, $errno) = @$v;
    my $label = "[start: snapshot $ops $errno]";
    acked_key("$label a key journaled before the stop");
    is(publish_event(10), 202, "$label an event journaled before the stop");
    $ng->stop;
    my @j = journals();
    ok(@j >= 1, "$label journals to compact at the next start (" . scalar(@j) . ')');
    my $before = durable_files();
    my $hits = $fault->hit_count;
    my $mark = $ng->log_mark;
    $fault->set(ops => $ops, errno => $errno, path => '/state/snapshot');
    my ($exit, $out) = try_start();
    cmp_ok($fault->hit_count, '>', $hits, "$label the snapshot write was failed");
    my $why = FaultTest::strerror($errno);
    my @lines = grep { /snapshot/ && /\Q$why\E/ && /\[(?:emerg|crit|alert|error)\]/ } split /\n/, $out . "\n" . $ng->log_since($mark);
    ok(@lines, "$label the failure is logged, naming the snapshot and the errno");
    is_deeply(durable_files(), $before, "$label every journal and the old snapshot are still there, unchanged")
        or diag('before: ' . join(' ', sort keys %$before) . '; after: ' . join(' ', sort keys %{ durable_files() }));
    if ($exit == 0 && $ng->is_running) {
        pass("$label nginx started without compacting");
        state_ok("$label started during the fault");
        $ng->stop;
    } else {
        ok(scalar(grep { /\[emerg\]/ } @lines), "$label nginx refused to start, with an [emerg]");
    }
    $fault->clear;
    $ng->start;
    state_ok("$label fault cleared, started");
    ok(!grep({ -e $_ } @j), "$label fault cleared: the start compacted DIR (old journals removed)");
}
all_events_received('after the start-time faults', 30);

# --- A'. the snapshot is written but removing the journals it covers fails ----------------
{
    my $label = '[start: journal unlink EIO]';
    acked_key("$label a key journaled before the stop");
    $ng->stop;
    my @j = journals();
    $fault->set(ops => 'unlink', errno => 'EIO', path => '/state/journal-');
    my ($exit, $out) = try_start();
    is($exit, 0, "$label nginx starts (the snapshot is written)") or diag($out);
    ok(!grep({ !-e $_ } @j), "$label the journals could not be removed");
    state_ok("$label started");
    is(A('GET', '/keys?resource=room:1')->{json}{total}, scalar @keys, "$label each key once (journals covered by the snapshot not replayed twice)");
    $fault->clear;
    acked_key("$label a key after the start");
    $ng->restart;
    state_ok("$label restarted with the stale journals");
    is(A('GET', '/keys?resource=room:1')->{json}{total}, scalar @keys, "$label restarted: each key once");
}

# --- B. compaction while running fails ---------------------------------------------------
# 40 events of ~900 KB: ~36 MB of journal, over the 32 MiB threshold.
for my $v (['writes', 'ENOSPC', 'kill'], ['rename', 'EIO', 'recover']) {
    my ($ops, $errno, $then) = @$v;
    my $label = "[running: snapshot $ops $errno]";
    acked_key("$label a key before the fault");
    my $snap = read_file("$state/snapshot");
    my $mark = $ng->log_mark;
    $fault->set(ops => $ops, errno => $errno, path => '/state/snapshot');
    my $published = 0;
    for (1 .. 40) { $published++ if publish_event(900_000) == 202 }
    is($published, 40, "$label 40 large events acknowledged");
    my $why = FaultTest::strerror($errno);
    my @crit = $ng->wait_log($mark, qr/\[crit\].*snapshot.*\Q$why\E/, 30);
    ok(@crit, "$label the failed compaction is logged at [crit] with the errno");
    ok($ng->log_since($mark) !~ /\[(?:alert|emerg)\]/, "$label no [alert]/[emerg]");
    ok($ng->log_since($mark) !~ /compacted state/, "$label no compaction reported done");
    is(read_file("$state/snapshot"), $snap, "$label the old snapshot is unchanged");
    cmp_ok(journal_bytes(), '>=', 36_000_000, "$label the journals are all still there (" . journal_bytes() . ' bytes)');
    acked_key("$label a key after the failed compaction");
    is(publish_event(10), 202, "$label a small event after the failed compaction");
    ok($ng->is_running, "$label nginx is running");
    if ($then eq 'kill') {
        $ng->kill9;
        $fault->clear;
        $ng->start;
        state_ok("$label kill -9, fault cleared, start");
    } else {
        $mark = $ng->log_mark;
        $fault->clear;
        ok($ng->wait_log($mark, qr/compacted state into \d+ bytes/, 30), "$label fault cleared: compaction succeeds by itself");
        ok(wait_for(sub { publish_event(10) == 202 && journal_bytes() < 5_000_000 }, 30),
           "$label the covered journals are removed afterwards (" . journal_bytes() . ' bytes)');
        $ng->restart;
        state_ok("$label after restart");
    }
    all_events_received("$label after the fault");
}

$ng->kill9;
$ng->start;
state_ok('final kill -9 and start');
all_events_received('final', 30);
my $logs = $ng->error_log;
ok(!grep({ index($logs, $_) >= 0 } @secrets), 'no key or endpoint secret in the error log');
$ng->stop;
done_testing;
