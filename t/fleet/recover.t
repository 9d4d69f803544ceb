# POST /webhooks/{id}/recover in a fleet (docs/api.md#recover, docs/fleet.md): two
# delivering nodes share one zone through the store. Deliveries published on A
# fail (retries=0s: one attempt each, made by A); the receiver heals and B is
# asked to recover them: one delivery.recover change, committed by B, listing
# them; B makes the new attempts (it owns the recovered deliveries now), each
# delivery reaches the receiver exactly once more with the same webhook-id,
# and A and B list the same outcome (succeeded at the second attempt).
use v5.36;
use Test::More;
use Time::HiRes qw(time sleep);
use WebhookTest qw(:all);
use KeysTest qw(api);
use DeliveryTest qw(:all);
use FleetTest qw(:all);
use PgTest;

my $ADMIN = 'admin-fleet-recover-81c3e0';

my $pg = PgTest->start;
my $recv = DeliveryTest::ScriptedReceiver->start;
$recv->script('/r', [{ status => 500 }]);
my ($A, $B) = fleet_nodes($pg, 2, admin => $ADMIN, delivery => 1, retries => '0s');
my %name = ($A => 'A', $B => 'B');
$_->start for $A, $B;
ok(wait_ready($A, $B), 'A and B answer the API');

my $wh = create_webhook($A, $ADMIN, url => $recv->url('/r'), events => ['fleet.*']);
my @events = map { publish($A, $ADMIN, type => 'fleet.recover', data => { n => $_ })->{id} } 1 .. 3;

# { event id => "status attempts" } as $ng lists the endpoint's deliveries.
sub outcome($ng) {
    my $j = deliveries($ng, $ADMIN, $wh->{id}, limit => 100) or return {};
    return { map { $_->{event_id} => "$_->{status} $_->{attempts}" } @{ $j->{deliveries} } };
}
sub all_are($ng, $want) { my $o = outcome($ng); return 3 == grep { ($o->{$_} // '') eq $want } @events }

ok(wait_for(sub { all_are($A, 'failed 1') && all_are($B, 'failed 1') }, 20, 0.1),
   'the 3 deliveries failed (one attempt by A), and B lists them so');

$recv->script('/r', [{ status => 200 }]);
my $res = api($B, 'POST', "/webhooks/$wh->{id}/recover", { since => '2020-01-01T00:00:00Z' }, key => $ADMIN);
is($res->{status}, 202, 'recover on B: 202') or diag($res->{content});
is($res->{json}{deliveries}, 3, '... 3 re-queued');

ok(wait_for(sub { all_are($A, 'succeeded 2') && all_are($B, 'succeeded 2') }, 20, 0.1),
   'A and B list each delivery succeeded at its second attempt')
    or diag('A: ' . join(', ', values %{ outcome($A) }) . '; B: ' . join(', ', values %{ outcome($B) }));
sleep 1;   # a second delivery of one would show now
my %got;
$got{ $_->{headers}{'webhook-id'} // '' }++ for $recv->requests('/r');
is_deeply([map { $got{$_} // 0 } @events], [2, 2, 2], 'the receiver got each event twice: the failed attempt and the recovered one');
is(scalar(keys %got), 3, '... and nothing else');

# The store's log: one delivery.recover, committed by B's node, listing the
# three deliveries; their second attempts recorded by that node too.
my $nodeB = $pg->psql("select node from webhook_changes where zone = 'wh' and record::json->>'op' = 'delivery.recover'");
my @recover = split /\n/, $nodeB;
is(scalar @recover, 1, 'one delivery.recover change in the store');
my $list = $pg->psql("select record::json->'deliveries' from webhook_changes where zone = 'wh' and record::json->>'op' = 'delivery.recover'");
my %ids = map { $_->{id} => 1 } @{ deliveries($A, $ADMIN, $wh->{id})->{deliveries} };
is(scalar(grep { $ids{$_} } @{ json_decode($list) // [] }), 3, '... listing the 3 deliveries');
my $nodeA = $pg->psql("select node from webhook_changes where zone = 'wh' and record::json->>'op' = 'event.put' limit 1");
isnt($nodeA, $recover[0], '... committed by B, not A (which published them)');
my @done = map { [split /\|/] } split /\n/, $pg->psql(
    "select record::json->>'number', node from webhook_changes where zone = 'wh' and record::json->>'op' = 'attempt.done' order by seq");
is(scalar(grep { $_->[0] == 1 && $_->[1] eq $nodeA } @done), 3, 'the first attempts were made by A');
is(scalar(grep { $_->[0] == 2 && $_->[1] eq $recover[0] } @done), 3, 'the recovered attempts by B');

$res = api($A, 'POST', "/webhooks/$wh->{id}/recover", { since => '2020-01-01T00:00:00Z' }, key => $ADMIN);
is_deeply([$res->{status}, $res->{json}{deliveries}], [202, 0], 'recover on A afterwards: 202, nothing left to re-queue');

$_->log_is_clean("node $name{$_}: no [alert]/[emerg]/[crit]") for $A, $B;
done_testing;
