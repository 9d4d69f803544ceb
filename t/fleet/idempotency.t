# Idempotency-Keys hold fleet-wide (SPEC §9): three delivering nodes (A, B, C)
# on one PostgreSQL store. The same event with the same Idempotency-Key,
# published at the same instant on all three nodes, is one event: every
# answer is 202 naming the same event id and delivery count, every node lists
# exactly one delivery of it to the endpoint, and the receiver gets it once.
# A later publish with that key on any node returns the first answer; the
# same key in another tenant is another event.
use v5.36;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp ();
use Time::HiRes qw(time sleep);
use WebhookTest qw(:all);
use KeysTest qw(:all);
use DeliveryTest qw(:all);
use FleetTest qw(:all);
use PgTest;

my $ADMIN = 'admin-fleet-idempotency-1';
my $ROUNDS = 10;
my $pg = PgTest->start;
my $recv = DeliveryTest::ScriptedReceiver->start;
my @nodes = fleet_nodes($pg, 3, admin => $ADMIN, delivery => 1, retries => '0s,1s');
my @NAME = qw(A B C);
$_->start for @nodes;
ok(wait_ready(@nodes), 'A, B and C answer the API') or BAIL_OUT('the fleet did not come up');

my $wh = create_webhook($nodes[0], $ADMIN, url => $recv->url('/idem'), events => ['*'], tenant => 'idem');
ok(wait_for(sub { !grep { api($_, 'GET', "/webhooks/$wh->{id}", undef, key => $ADMIN)->{status} != 200 } @nodes }, 15),
   'the endpoint created on A is seen on B and C');

# --- the same key on three nodes at once ------------------------------------------------------------
my $dir = File::Temp::tempdir(CLEANUP => 1);
my (@bad, %event_of);
for my $round (1 .. $ROUNDS) {
    my $start = time + 0.3;
    in_children(3, sub ($i) {
        sleep 0.001 while time < $start;
        my $res = api($nodes[$i], 'POST', '/events', { type => 'order.paid', tenant => 'idem', data => { order => $round } },
                      key => $ADMIN, headers => { 'Idempotency-Key' => "order-$round" });
        write_file("$dir/$round.$i", join ' ', $res->{status}, $res->{json}{id} // '-', $res->{json}{deliveries} // '-');
    });
    my @ans = map { read_file("$dir/$round.$_") // 'none' } 0 .. 2;
    my %ids = map { (split / /)[1] => 1 } @ans;
    push @bad, "order-$round: " . join(' | ', map { "$NAME[$_] $ans[$_]" } 0 .. 2)
        unless 3 == grep({ /^202 evt_\S+ 1$/ } @ans) && keys %ids == 1;
    $event_of{"order-$round"} = (split / /, $ans[0])[1];
}
is_deeply(\@bad, [], "$ROUNDS keys, each published at once on A, B and C: three 202 naming one event id, 1 delivery");
my @events = sort values %event_of;
my %uniq = map { $_ => 1 } @events;
is(scalar keys %uniq, $ROUNDS, "$ROUNDS keys: $ROUNDS distinct events");

# Later publishes with those keys, on another node, return the first answer.
for my $round (1, $ROUNDS) {
    for my $i (0 .. 2) {
        my $res = api($nodes[$i], 'POST', '/events', { type => 'order.paid', tenant => 'idem', data => { order => $round } },
                      key => $ADMIN, headers => { 'Idempotency-Key' => "order-$round" });
        is_deeply([$res->{status}, $res->{json}{id}, $res->{json}{deliveries}], [202, $event_of{"order-$round"}, 1],
                  "order-$round again on $NAME[$i]: 202, the first event");
    }
}

# The same key in another tenant is another event.
{
    my $res = api($nodes[1], 'POST', '/events', { type => 'order.paid', tenant => 'idem2', data => {} },
                  key => $ADMIN, headers => { 'Idempotency-Key' => 'order-1' });
    is($res->{status}, 202, 'order-1 in tenant idem2 on B: 202');
    isnt($res->{json}{id}, $event_of{'order-1'}, 'another event than idem\'s order-1');
}

# --- one delivery per event, on every node and at the receiver ----------------------------------------
for my $i (0 .. 2) {
    wait_for(sub { my @d = eval { all_deliveries($nodes[$i], $ADMIN, $wh->{id}) }; @d >= $ROUNDS }, 15);
}
$recv->wait_requests('/idem', $ROUNDS);
sleep 1.5;                                          # a surplus delivery or attempt would show by now
for my $i (0 .. 2) {
    my @d = all_deliveries($nodes[$i], $ADMIN, $wh->{id});
    is(scalar @d, $ROUNDS, "$NAME[$i] lists $ROUNDS deliveries for the endpoint");
    is_deeply([sort map { $_->{event_id} } @d], \@events, "$NAME[$i]: one delivery per event, of the answered events");
}
my @got = $recv->requests('/idem');
is(scalar @got, $ROUNDS, "the receiver got $ROUNDS requests");
is_deeply([sort map { $_->{headers}{'webhook-id'} // '' } @got], \@events, 'one per event (webhook-id)');

# The store's log holds one event.put per key (for tenant idem), whichever node won.
my $idem_events = q{from webhook_changes where record::jsonb->>'op' = 'event.put' and record::jsonb->>'tenant' = 'idem'};
is($pg->psql("select count(*) $idem_events"), $ROUNDS, "the store's change log holds $ROUNDS event.put records for tenant idem");
diag 'the winning publishes were made through ' . $pg->psql("select count(distinct node) $idem_events") . ' distinct node(s)';

$nodes[$_]->log_is_clean("$NAME[$_]: error log has no [alert]/[emerg]/[crit]") for 0 .. 2;
done_testing;
