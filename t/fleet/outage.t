# The fleet's store (webhook_zone store=) goes down and comes back
# (SPEC §9, issue 10: "store down"):
#   1. three delivering nodes, a key and an endpoint; writers publish to every
#      node in turn while PostgreSQL is stopped mid-stream:
#      (a) API changes answer 503 store_unavailable once the node noticed,
#      (b) API reads (GET /v1/keys) answer 503 store_unavailable too,
#      (c) the key still authenticates (api_key_auth, 200 on /r) on every node,
#      (d) every publish answered 202 (before, during, after) is delivered:
#          nothing acknowledged is lost,
#      (e) after start_again the nodes answer the API again (200), deliveries
#          resume, every node lists the same deliveries;
#   2. a node started while the store is down: nginx -t and the start succeed,
#      its error log says the store cannot be reached, its API answers 503
#      store_unavailable and api_key_auth answers 503 store_unavailable (not
#      401); once the store is back it loads the zone (`loaded ... from the
#      store`), the key works (200), the API answers 200.
use v5.36;
use Test::More;
use Time::HiRes qw(time sleep);
use WebhookTest qw(:all);
use KeysTest qw(api create_key auth_get ack_writers);
use DeliveryTest qw(:all);
use FleetTest qw(:all);
use PgTest;

my $ADMIN = 'admin-fleet-outage-5e21a9';
my $OUTAGE = 7;   # seconds the store stays down in part 1

my $pg = PgTest->start;
my $backend = WebhookTest::Backend->start;
my $rx = DeliveryTest::HoldingReceiver->start(children => 8, mode => 'delay 0.2');
my %node = (admin => $ADMIN, delivery => 1, guard => 1, retries => join(',', '0s', ('1s') x 20),
            vars => { BACKEND => $backend->port });
my @nodes = fleet_nodes($pg, 3, %node);
$_->start for @nodes;
ok(wait_ready(@nodes), 'three nodes answer the API');

my $key = create_key($nodes[0], $ADMIN, resource => 'room:1', scopes => ['read']);
my $wh = create_webhook($nodes[1], $ADMIN, url => $rx->url('/hook'), events => ['*']);
for my $i (0 .. $#nodes) {
    ok(wait_for(sub {
        auth_get($nodes[$i], '/r', $key->{key})->{status} == 200
            && api($nodes[$i], 'GET', "/webhooks/$wh->{id}", undef, key => $ADMIN)->{status} == 200
    }, 15), "node $i: the key and the endpoint are there");
}

sub status_code($res) { return $res->{status} . ' ' . (error_code($res) // '-') }

# --- 1. the store goes down mid-stream ---------------------------------------------------

# Each line: node status code event-id start-time duration.
my $w = ack_writers(3, 100000, sub ($i, $k) {
    my $n = ($i + $k) % @nodes;
    my $t0 = time;
    my $res = api($nodes[$n], 'POST', '/events', { type => 'room.updated', data => { i => $i, k => $k } }, key => $ADMIN);
    my $dt = time - $t0;
    my $id = $res->{status} == 202 && ref $res->{json} eq 'HASH' ? $res->{json}{id} // '-' : '-';
    sleep 0.1;
    return sprintf '%d %d %s %s %.3f %.3f', $n, $res->{status}, error_code($res) // '-', $id, $t0, $dt;
});
sub acked() { return map { (split / /)[3] } grep { (split / /)[1] == 202 } $w->lines }

ok(wait_for(sub { acked() >= 20 }, 20), 'publishes are acknowledged before the outage');
my $before = acked();
my @marks = map { $_->log_mark } @nodes;
my $t_stop = time;
$pg->stop;
my $t_down = time;   # pg_ctl stop -m fast has returned: the server is gone
ok(!$pg->is_running, 'the store is stopped');
# One publish to each node 0.5 s after the server is gone (the node has not
# seen 3 s without an answer yet), each in its own process: answered while
# the store is down (503), or held until it is back?
my $probe = ack_writers(scalar @nodes, 1, sub ($i, $k) {
    sleep 0.5;
    my $t0 = time;
    my $res = api($nodes[$i], 'POST', '/events', { type => 'room.updated', data => { probe => $i } }, key => $ADMIN);
    my $id = $res->{status} == 202 && ref $res->{json} eq 'HASH' ? $res->{json}{id} // '-' : '-';
    return sprintf '%d %d %s %s %.3f %.3f', $i, $res->{status}, error_code($res) // '-', $id, $t0, time - $t0;
});

# (b) reads: 503 store_unavailable once the node noticed (a query failed, or 3 s without an answer)
for my $i (0 .. $#nodes) {
    my ($ok, $secs) = visible(sub { status_code(api($nodes[$i], 'GET', '/v1/keys', undef, key => $ADMIN)) eq '503 store_unavailable' }, 15);
    ok($ok, "node $i: GET /v1/keys answers 503 store_unavailable while the store is down");
    diag sprintf 'node %d: reads refused %.2f s after the stop', $i, time - $t_stop;
}
# (a) changes: 503 store_unavailable at once
for my $i (0 .. $#nodes) {
    my $t0 = time;
    my $res = api($nodes[$i], 'POST', '/keys', { resource => "room:down$i", scopes => ['read'] }, key => $ADMIN);
    is(status_code($res), '503 store_unavailable', "node $i: POST /v1/keys answers 503 store_unavailable while down");
    diag sprintf 'node %d: the refused change answered in %.3f s', $i, time - $t0;
    $res = api($nodes[$i], 'DELETE', "/keys/$key->{id}", undef, key => $ADMIN);
    is(status_code($res), '503 store_unavailable', "node $i: DELETE /v1/keys/ID answers 503 store_unavailable while down");
}
# (c) the key authenticates from memory
is_deeply([map { auth_get($_, '/r', $key->{key})->{status} } @nodes], [200, 200, 200],
          'the key authenticates on every node while the store is down');
is_deeply([map { auth_get($_, '/r', 'not-a-key')->{status} } @nodes], [401, 401, 401],
          'an unknown key is still refused (401) on every node while the store is down');
for my $i (0 .. $#nodes) {
    ok(scalar $nodes[$i]->wait_log($marks[$i], qr/\[error\].*webhook_zone "wh": the store cannot be reached/, 10),
       "node $i: the error log says the store cannot be reached");
}
sleep 0.2 while time - $t_stop < $OUTAGE;
# still down at the end of the outage: reads and changes refused, keys work
is_deeply([map { status_code(api($_, 'GET', '/v1/keys', undef, key => $ADMIN)) } @nodes],
          [('503 store_unavailable') x 3], "after ${OUTAGE} s down: reads still answer 503 store_unavailable");
is_deeply([map { auth_get($_, '/r', $key->{key})->{status} } @nodes], [200, 200, 200],
          "after ${OUTAGE} s down: the key still authenticates on every node");
my $during = acked();

# (e) back
my $t_back = time;
$pg->start_again;
for my $i (0 .. $#nodes) {
    my ($ok, $secs) = visible(sub { api($nodes[$i], 'GET', '/v1/keys', undef, key => $ADMIN)->{status} == 200 }, 20);
    ok($ok, "node $i: the API answers 200 again after the store is back");
    diag sprintf 'node %d: API back %.2f s after start_again', $i, time - $t_back;
    ok(scalar $nodes[$i]->wait_log($marks[$i], qr/\[notice\].*webhook_zone "wh": the store answers again/, 5),
       "node $i: the error log says the store answers again");
}
my $res = api($nodes[2], 'POST', '/keys', { resource => 'room:after', scopes => ['read'] }, key => $ADMIN);
is($res->{status}, 201, 'a change is accepted again after the store is back') or diag($res->{content});
my $n_after = acked();
ok(wait_for(sub { acked() >= $n_after + 15 }, 20), 'publishes are acknowledged again after the outage');
$w->stop;

my @lines = $w->lines;
my @acked = acked();
my %by_status;
$by_status{ join ' ', (split / /)[1, 2] }++ for @lines;
diag 'publishes: ' . join(', ', map { "$_: $by_status{$_}" } sort keys %by_status);
diag sprintf '%d acknowledged before the stop, %d by the end of the outage, %d in all', $before, $during, scalar @acked;
{
    my @slow = sort { $b->[1] <=> $a->[1] } map { my @f = split / /; [$f[1], $f[5]] } @lines;
    diag sprintf 'slowest publish answer: %s after %.2f s', @{ $slow[0] } if @slow;
}
ok(!grep({ !/^\d \d{3} / || (split / /)[1] !~ /^(?:202|503)$/ } @lines), 'every publish answered 202 or 503')
    or diag(join "\n", grep { (split / /)[1] !~ /^(?:202|503)$/ } @lines);
ok(!grep({ (split / /)[1] == 503 && (split / /)[2] ne 'store_unavailable' } @lines), 'every 503 is store_unavailable');
ok($by_status{'503 store_unavailable'}, 'publishes during the outage were answered 503 store_unavailable');
# A publish sent while the store is down is answered while it is down (503
# once the node noticed, within ~3 s), not held until the store comes back
# (the probes were sent 0.5 s after the server was gone, the store came back
# 6.5 s later).
{
    $probe->wait;
    my @probes = $probe->lines;
    diag "probe (node status code id start duration): $_" for @probes;
    is(scalar @probes, scalar @nodes, 'one probe publish per node was answered');
    my @held = grep { my ($t0, $dt) = (split / /)[4, 5]; $t0 + $dt >= $t_back } @probes;
    is(scalar @held, 0, 'no publish sent while the store was down waited for it to come back')
        or diag(sprintf 'down at %.3f, back at %.3f', $t_down, $t_back);
    is_deeply([map { join ' ', (split / /)[1, 2] } @probes], [('503 store_unavailable') x @nodes],
              'a publish sent while the store is down is answered 503 store_unavailable');
    push @acked, map { (split / /)[3] } grep { (split / /)[1] == 202 } @probes;
}

# (d) nothing acknowledged is lost
my @missing;
wait_for(sub { @missing = $rx->missing(\@acked); !@missing }, 40, 0.2);
is(scalar @missing, 0, 'every publish answered 202 (before, during and after the outage) was delivered')
    or diag(scalar(@missing) . " missing, e.g. @missing[0 .. ($#missing < 4 ? $#missing : 4)]");
{
    my $ids = $rx->ids;
    my $dups = grep { $_ > 1 } values %$ids;
    diag sprintf '%d webhook-ids received, %d more than once', scalar(keys %$ids), $dups;
}

# (e) every node lists the same deliveries, all succeeded
my %lists;
my $same = wait_for(sub {
    %lists = ();
    for my $i (0 .. $#nodes) {
        my @d = eval { all_deliveries($nodes[$i], $ADMIN, $wh->{id}) } or return 0;
        $lists{$i} = join "\n", sort map { "$_->{id} $_->{event_id} $_->{status}" } @d;
    }
    return 0 if grep { /pending/ } values %lists;
    return $lists{0} eq $lists{1} && $lists{1} eq $lists{2};
}, 30, 0.5);
ok($same, 'every node lists the same deliveries, none pending') or do {
    for my $i (0 .. $#nodes) {
        my @odd = grep { !/ succeeded$/ } split /\n/, $lists{$i} // '';
        diag "node $i: " . scalar(@odd) . ' not succeeded: ' . join '; ', @odd;
        for my $line (@odd[0 .. ($#odd < 1 ? $#odd : 1)]) {
            my ($id) = split / /, $line;
            my $res = api($nodes[$i], 'GET', "/deliveries/$id", undef, key => $ADMIN);
            my $d = ref $res->{json} eq 'HASH' ? { %{ $res->{json} } } : {};
            delete $d->{payload};
            diag "node $i: GET /deliveries/$id: " . json_encode($d);
            diag "store: $_" for split /\n/, $pg->psql("select seq, node, at, record from webhook_changes where record like '%$id%' order by seq");
        }
    }
    my ($i, $j) = grep { $lists{0} ne $lists{$_} } 1, 2;
    diag 'node 0 and node ' . ($i // '-') . ' differ' if defined $i;
};
{
    my @d = split /\n/, $lists{0} // '';
    my %ev = map { (split / /)[1] => 1 } @d;
    is(scalar(grep { !$ev{$_} } @acked), 0, 'every acknowledged event has its delivery listed');
    is(scalar(grep { !/ succeeded$/ } @d), 0, 'every delivery listed succeeded');
    diag sprintf '%d deliveries listed (%d acknowledged events)', scalar @d, scalar @acked;
}
for my $i (0 .. $#nodes) {
    my @adopt = grep { /has not renewed its lease/ } split /\n/, $nodes[$i]->log_since($marks[$i]);
    diag "node $i: $_" for @adopt;
}

# --- 2. a node started while the store is down ---------------------------------------------

$pg->stop;
my $D = fleet_node($pg, %node);
my ($exit, $out) = $D->test_config;
is($exit, 0, 'nginx -t of a new node succeeds while the store is down') or diag($out);
ok(eval { $D->start; 1 }, 'the new node starts while the store is down') or diag($@);
ok(scalar $D->wait_log(0, qr/\[error\].*webhook_zone "wh": the store cannot be reached/, 10),
   'D: the error log says the store cannot be reached') or diag($D->log_tail);
is(status_code(api($D, 'GET', '/v1/keys', undef, key => $ADMIN)), '503 store_unavailable',
   'D: its API answers 503 store_unavailable');
is(status_code(api($D, 'POST', '/keys', { resource => 'room:d', scopes => ['read'] }, key => $ADMIN)),
   '503 store_unavailable', 'D: a change answers 503 store_unavailable');
$res = auth_get($D, '/r', $key->{key});
is(status_code($res), '503 store_unavailable', 'D: api_key_auth answers 503 store_unavailable (not 401) before the zone is loaded');
is(auth_get($nodes[0], '/r', $key->{key})->{status}, 200, 'node 0 still authenticates the key meanwhile');
sleep 1;
is(status_code(auth_get($D, '/r', $key->{key})), '503 store_unavailable', 'D: still 503 store_unavailable a second later');

$t_back = time;
$pg->start_again;
ok(scalar $D->wait_log(0, qr/\[notice\].*webhook_zone "wh": loaded .* from the store \(change \d+\)/, 20),
   'D: loads the zone once the store is back') or diag($D->log_tail);
my ($loaded) = $D->wait_log(0, qr/loaded .* from the store/, 1);
diag "D: $loaded" if $loaded;
like($loaded // '', qr/loaded 2 keys, 1 endpoint/, 'D loaded both keys and the endpoint');
ok(wait_for(sub { auth_get($D, '/r', $key->{key})->{status} == 200 }, 10), 'D: the key works (200)');
ok(wait_for(sub { api($D, 'GET', '/v1/keys', undef, key => $ADMIN)->{status} == 200 }, 20), 'D: its API answers 200');
diag sprintf 'D ready %.2f s after start_again', time - $t_back;
is(auth_get($D, '/r', 'not-a-key')->{status}, 401, 'D: an unknown key is refused with 401 once loaded');
{
    my @d = eval { all_deliveries($D, $ADMIN, $wh->{id}) };
    is(join("\n", sort map { "$_->{id} $_->{event_id} $_->{status}" } @d), $lists{1} // '',
       'D lists the same deliveries as node 1');
}
ok(wait_ready(@nodes), 'the other nodes answer the API again too');

ok($_->stop, 'graceful stop') for @nodes, $D;
for my $i (0 .. $#nodes) { $nodes[$i]->log_is_clean("node $i, after its stop: no [alert]/[emerg]/[crit]") }
$D->log_is_clean('D, after its stop: no [alert]/[emerg]/[crit]');

done_testing;
