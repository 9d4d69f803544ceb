# A delivering node dies (SPEC §9, issue 10): three nodes share one zone
# through the store; 40 events are published on node B, so B owns their
# deliveries and alone makes their attempts, to a slow receiver (1 s per
# answer). While B has attempts in flight and deliveries pending, B's master
# and workers are killed with kill -9. Once B's lease is 10 s old a live node
# (A or C) logs `node B has not renewed its lease for 10s: its deliveries are
# taken over by node X`, records delivery.adopt in the store, and delivers
# every delivery B left unfinished: the same delivery ids, webhook-id = the
# event id, nothing lost (duplicates, at-least-once, are counted and shown),
# nothing that had already succeeded sent again; A and C then list every
# delivery `succeeded`, the same on both. Then a node D that publishes and
# is killed before its first lease renewal: its deliveries too are taken over.
use v5.36;
use Test::More;
use Time::HiRes qw(time sleep);
use WebhookTest qw(:all);
use KeysTest qw(api);
use DeliveryTest qw(:all);
use FleetTest qw(:all);
use PgTest;

my $ADMIN = 'admin-fleet-node-death-8d2e51';
my $EVENTS = 40;
my $DELAY = 1;   # seconds the receiver takes per answer

my $pg = PgTest->start;
my $rx = DeliveryTest::HoldingReceiver->start(children => 4, mode => "delay $DELAY");
my @nodes = fleet_nodes($pg, 3, admin => $ADMIN, delivery => 'per_endpoint=4', retries => '0s,1s,1s',
                        timeout => '5s');
my ($A, $B, $C) = @nodes;
my %name = ($A => 'A', $B => 'B', $C => 'C');
$_->start for @nodes;
ok(wait_ready(@nodes), 'A, B and C answer the API (zone loaded from the store)');

my $wh = create_webhook($A, $ADMIN, url => $rx->url('/slow'), events => ['*'])->{id};
for my $ng ($B, $C) {
    ok(wait_for(sub { api($ng, 'GET', "/webhooks/$wh", undef, key => $ADMIN)->{status} == 200 }, 15),
       "endpoint $wh registered on A is visible on $name{$ng}");
}

# --- 40 events on B; B delivers them, slowly -------------------------------------------------

my @events = map { publish($B, $ADMIN, type => 'fleet.death', data => { n => $_ })->{id} } 1 .. $EVENTS;
is(scalar(grep { defined } @events), $EVENTS, "$EVENTS events published on B (202)");
my %is_event = map { $_ => 1 } @events;

# The nodes' ids, from the store's change log: who committed what.
my $q = sub ($sql) { return [map { [split /\|/, $_, -1] } split /\n/, $pg->psql($sql)] };
my ($nodeA) = map { $_->[0] } @{ $q->("select distinct node from webhook_changes where zone = 'wh'"
                                      . " and record::json->>'op' = 'endpoint.put'") };
my @put_nodes = map { $_->[0] } @{ $q->("select distinct node from webhook_changes where zone = 'wh'"
                                        . " and record::json->>'op' = 'event.put'") };
is(scalar @put_nodes, 1, 'every event.put committed by one node (B)');
my $nodeB = $put_nodes[0] // '?';
my @leased;   # every node's worker 0 renews its lease row each second
ok(wait_for(sub { @leased = map { $_->[0] } @{ $q->("select node from webhook_nodes where zone = 'wh'") }; @leased == 3 }, 10),
   'three nodes hold a lease in webhook_nodes') or diag("leases: @leased");
my ($nodeC) = grep { $_ ne $nodeA && $_ ne $nodeB } @leased;
ok($nodeA && $nodeC && $nodeA ne $nodeB, "node ids: A $nodeA, B $nodeB, C " . ($nodeC // '?'));
my %node_name = ($nodeA => 'A', $nodeB => 'B', ($nodeC // '') => 'C');

ok(wait_for(sub { $rx->count >= 4 }, 15), 'B has delivered its first events (the receiver answered 4)')
    or diag($B->log_tail);

# --- kill -9 of B's master and workers -------------------------------------------------------

my @procs = ($B->master_pid, $B->worker_pids);
is(scalar @procs, 3, 'B runs a master and 2 workers');
my $t_kill = time;
$B->kill9;
ok(!grep({ kill 0, $_ } @procs), 'kill -9: B\'s master and workers are gone');
my $received_at_kill = $rx->count;
diag("B killed after $received_at_kill answers from the receiver");
$rx->set_mode('ok');   # the requests B left in flight still take $DELAY s

# What B left unfinished, as A sees it once B's last changes have arrived.
sleep 1;
my %before = map { $_->{id} => $_ } @{ deliveries_of($A, $ADMIN, $wh, limit => 1000) };
is(scalar keys %before, $EVENTS, "A lists $EVENTS deliveries after the kill");
my %left = map { $_->{event_id} => $_->{id} } grep { $_->{status} eq 'pending' } values %before;
my %done_by_B = map { $_->{event_id} => 1 } grep { $_->{status} eq 'succeeded' } values %before;
ok(keys(%left) > 0, scalar(keys %left) . ' deliveries pending when B died (' . scalar(keys %done_by_B)
                    . ' succeeded by B before)');
is(scalar(keys %left) + scalar(keys %done_by_B), $EVENTS, 'each delivery either succeeded or pending at the kill');

# --- the takeover ------------------------------------------------------------------------------

my $notice = qr/webhook_zone "wh": node \Q$nodeB\E has not renewed its lease for 10s: its deliveries are taken over by node (\w+)/;
my (%noticed, $t_notice);
ok(wait_for(sub {
    for my $ng ($A, $C) {
        next if $noticed{ $name{$ng} };
        my ($taker) = $ng->error_log =~ $notice or next;
        $noticed{ $name{$ng} } = $taker;
        $t_notice //= time;
    }
    return scalar keys %noticed;
}, 30, 0.1), 'A or C logs that B has not renewed its lease and takes over its deliveries');
diag(sprintf 'the takeover notice appeared %.1f s after kill -9 (seen in %s)',
             ($t_notice // time) - $t_kill, join(', ', map { "$_, taken over by $noticed{$_}" } sort keys %noticed) || 'no log');
ok(wait_for(sub { $A->error_log =~ $notice }, 3), "A's error log has the notice")
    or diag('only C logged the takeover (A had not looked before C\'s adoption removed B\'s lease)');
for my $ng ($A, $C) {
    my ($taker) = $ng->error_log =~ $notice or next;
    is($node_name{$taker} // '?', $name{$ng}, "$name{$ng}'s notice names $name{$ng} itself ($taker) as the node taking over");
}

# Every event arrives; those B had not finished arrive after the takeover.
my (%got, @missing);
wait_for(sub {
    %got = ();
    push @{ $got{ $_->{id} // '' } }, $_->{time} for $rx->requests;
    @missing = grep { !$got{$_} } @events;
    !@missing;
}, 40, 0.2);
is(scalar @missing, 0, "every one of the $EVENTS events reached the receiver")
    or diag(scalar(@missing) . " missing, e.g. @missing[0 .. ($#missing < 4 ? $#missing : 4)]");
my $late = $t_kill + $DELAY + 2;   # B's processes are dead: whatever arrives after this is from A or C
my @late = grep { my $id = $_; grep { $_ > $late } @{ $got{$id} } } keys %got;
my @not_late = grep { my $id = $_; !grep { $_ > $late } @{ $got{$id} // [] } } keys %left;
is(scalar @not_late, 0, 'every delivery B left pending was delivered after B died (by A or C)')
    or diag("not redelivered: @not_late");
my @resent = grep { !$left{$_} } @late;
is(scalar @resent, 0, 'no delivery that had succeeded before the kill was sent again')
    or diag("resent: @resent");
my @stray = grep { !$is_event{$_} } keys %got;
is(scalar @stray, 0, 'every request carried webhook-id = one of the published event ids') or diag("stray: @stray");
{
    my @first_late = sort { $a <=> $b } grep { $_ > $late } map { @$_ } values %got;
    diag(sprintf 'first late delivery %.1f s after kill -9, all %d events received %.1f s after it',
                 ($first_late[0] // time) - $t_kill, $EVENTS, time - $t_kill);
    my $requests = $rx->count;
    my @dups = grep { @{ $got{$_} } > 1 } sort keys %got;
    diag(sprintf '%d requests for %d events: %d duplicate(s) (at-least-once: B\'s attempts in flight at the kill)',
                 $requests, $EVENTS, $requests - scalar(keys %got));
    diag("duplicate: $_ x" . scalar(@{ $got{$_} })) for @dups;
    is(scalar(grep { !$left{$_} } @dups), 0, 'only deliveries B left pending were received twice');
}

# --- the delivery log on A and C --------------------------------------------------------------

sub log_of($ng) {
    return { map { $_->{id} => join ' ', $_->{event_id}, $_->{status} } @{ deliveries_of($ng, $ADMIN, $wh, limit => 1000) } };
}
my %logs;
ok(wait_for(sub {
    %logs = (A => log_of($A), C => log_of($C));
    !grep { grep({ / succeeded$/ } values %{ $logs{$_} }) != $EVENTS } qw(A C);
}, 20, 0.2), "A and C list all $EVENTS deliveries succeeded")
    or diag(join ', ', map { my $l = $logs{$_}; "$_: " . scalar(grep { / succeeded$/ } values %$l) . ' succeeded of '
                                                 . scalar(keys %$l) } qw(A C));
is_deeply($logs{C}, $logs{A}, 'C lists the same deliveries (ids, events, statuses) as A');
is_deeply([sort keys %{ $logs{A} }], [sort keys %before], 'the same delivery ids as before the takeover');
my %ev_of = map { $_ => (split / /, $logs{A}{$_})[0] } keys %{ $logs{A} };
is_deeply({ map { $ev_of{$_} => $_ } grep { $left{ $ev_of{$_} } } keys %ev_of }, \%left,
          'each adopted delivery kept its id');

# --- the store's change log -----------------------------------------------------------------------

my @adopt = @{ $q->("select node, record::json->>'from', record::json->>'to' from webhook_changes"
                    . " where zone = 'wh' and record::json->>'op' = 'delivery.adopt' order by seq") };
ok(@adopt >= 1, scalar(@adopt) . ' delivery.adopt change(s) in the store');
diag('delivery.adopt committed by ' . join(', ', map { "$node_name{ $_->[0] } (from $node_name{ $_->[1] } to $node_name{ $_->[2] })" } @adopt));
my $taker = $adopt[0][2] // '?';
is_deeply($adopt[0] // [], [$taker, $nodeB, $taker], "the first adoption: from B to the node that committed it ($node_name{$taker} $taker)");
ok($taker eq $nodeA || $taker eq $nodeC, 'taken over by A or C');
my %done_node;
for (@{ $q->("select record::json->>'delivery', node from webhook_changes"
             . " where zone = 'wh' and record::json->>'op' = 'attempt.done' and record::json->>'outcome' = 'succeeded'") }) {
    $done_node{ $_->[0] }{ $_->[1] }++;
}
my @wrong = grep { my $d = $left{$_}; !$done_node{$d} || grep({ $_ ne $taker } keys %{ $done_node{$d} }) } keys %left;
is(scalar @wrong, 0, "every delivery B left pending succeeded by an attempt of $node_name{$taker} (attempt.done)")
    or diag(join "\n", map { "$_: " . join(',', keys %{ $done_node{ $left{$_} } // {} }) } @wrong[0 .. ($#wrong < 4 ? $#wrong : 4)]);
my @by_b = grep { my $e = $_; my ($d) = grep { $ev_of{$_} eq $e } keys %ev_of; !$done_node{$d}{$nodeB} } keys %done_by_B;
is(scalar @by_b, 0, 'those B finished were recorded as succeeded by B');

# --- a node that dies before its first lease renewal --------------------------------------------------
# Node D starts, publishes 5 events at once (202: they are in the store, D owns
# their deliveries) and is killed before its worker 0 first wrote its lease
# row (the lease is renewed every 1 s). D made no attempt; A or C must still
# take its deliveries over and deliver them.

{
    my $D = fleet_node($pg, admin => $ADMIN, delivery => 'per_endpoint=4', retries => '0s,1s,1s', timeout => '5s');
    my $t0 = time;
    $D->start;
    ok(wait_for(sub { api($D, 'GET', "/webhooks/$wh", undef, key => $ADMIN)->{status} == 200 }, 10),
       'node D started and sees the endpoint');
    my @early = map { publish($D, $ADMIN, type => 'fleet.early', data => { n => $_ })->{id} } 1 .. 5;
    my $t_pub = time - $t0;
    $D->kill9;
    my $rows = $pg->psql("select count(*) from webhook_nodes where zone = 'wh'");
    my ($nodeD) = map { $_->[0] } @{ $q->("select distinct node from webhook_changes where zone = 'wh'"
                                          . " and record::json->>'op' = 'event.put' and record::json->>'type' = 'fleet.early'") };
    my $d_leased = $nodeD ? $pg->psql("select count(*) from webhook_nodes where zone = 'wh' and node = '$nodeD'") : 0;
    diag(sprintf "D (%s) published 5 events %.2f s after its start and was killed; its lease row %s at the kill",
                 $nodeD // '?', $t_pub, $d_leased ? 'existed' : 'did not exist yet');
    my @miss;
    my $t_kill_d = time;
    wait_for(sub { @miss = $rx->missing(\@early); !@miss }, 25, 0.2);
    is(scalar @miss, 0, 'the events of a node killed before its first lease renewal are delivered by A or C')
        or diag(scalar(@miss) . ' of 5 never delivered; A lists ' . join(', ', map { "$_->{event_id} $_->{status}" }
                grep { my $e = $_->{event_id}; grep { $_ eq $e } @early } @{ deliveries_of($A, $ADMIN, $wh, limit => 1000) }));
    diag(sprintf 'delivered %.1f s after the kill', time - $t_kill_d) unless @miss;
}

for my $ng ($A, $C) {
    $ng->log_is_clean("node $name{$ng}: no [alert]/[emerg]/[crit]");
}
done_testing;
