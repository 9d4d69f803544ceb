# Deliveries in a fleet (SPEC §9, issue 10): three delivering nodes share one
# zone through the store. Two endpoints registered on node A become visible on
# B and C; 100 events published alternately on B and C are each delivered to
# each endpoint exactly once (no node fails here, so no duplicates), with
# webhook-id = the event id; the delivery log read from A, B and C is the
# same: the same delivery ids, each `succeeded` after one attempt; and the
# store's change log shows each attempt made by the node that published the
# event (its event.put and its attempt.done committed by the same node). An
# event published with a traceparent shows it in the delivery log of every
# node (its event.put in the store carries it).
use v5.36;
use Test::More;
use Time::HiRes qw(time sleep);
use WebhookTest qw(:all);
use KeysTest qw(api);
use DeliveryTest qw(:all);
use FleetTest qw(:all);
use PgTest;

my $ADMIN = 'admin-fleet-deliveries-4f1a9c';
my $EVENTS = 100;

my $pg = PgTest->start;
my $rx = DeliveryTest::HoldingReceiver->start(children => 8, mode => 'ok');
my @nodes = fleet_nodes($pg, 3, admin => $ADMIN, delivery => 1, retries => '0s,1s,1s');
my ($A, $B, $C) = @nodes;
my %name = ($A => 'A', $B => 'B', $C => 'C');
$_->start for @nodes;
ok(wait_ready(@nodes), 'A, B and C answer the API (zone loaded from the store)');

# --- two endpoints, registered on A, visible on B and C -----------------------------------

my @paths = ('/e1', '/e2');
my @wh = map { create_webhook($A, $ADMIN, url => $rx->url($_), events => ['fleet.*'])->{id} } @paths;
is(scalar(grep { defined && /\S/ } @wh), 2, "two endpoints registered on A (@wh)");
for my $ng ($B, $C) {
    for my $id (@wh) {
        my $t0 = time;
        my $st;
        ok(wait_for(sub { $st = api($ng, 'GET', "/webhooks/$id", undef, key => $ADMIN)->{status}; $st == 200 }, 15),
           "endpoint $id visible on $name{$ng} (GET 200)") or diag("last status $st");
        diag(sprintf "%s sees %s after %.3f s", $name{$ng}, $id, time - $t0);
    }
}

# --- 100 events, alternately on B and C ------------------------------------------------------

my (@events, %published_on);
my $t_pub = time;
for my $i (1 .. $EVENTS) {
    my $ng = $i % 2 ? $B : $C;
    my $ev = publish($ng, $ADMIN, type => 'fleet.tick', data => { n => $i });
    push @events, $ev->{id};
    $published_on{ $ev->{id} } = $name{$ng};
    die "event $i on $name{$ng} matched $ev->{deliveries} endpoints, not 2" unless $ev->{deliveries} == 2;
}
is(scalar(keys %published_on), $EVENTS, "$EVENTS events published (202, two deliveries each), distinct ids");
my %is_event = map { $_ => 1 } @events;

# Every (event, endpoint) pair reaches the receiver.
my @want = map { my $e = $_; map { "$e $_" } @paths } @events;
my %got;
my $received = sub {
    %got = ();
    $got{ ($_->{id} // '') . ' ' . ($_->{target} // '') }++ for $rx->requests;
    return !grep { !$got{$_} } @want;
};
my $all = wait_for($received, 30, 0.2);
diag(sprintf 'all %d (event, endpoint) pairs arrived %.1f s after the first publish', scalar @want, time - $t_pub)
    if $all;
$received->();
my @missing = grep { !$got{$_} } @want;
is(scalar @missing, 0, 'every (event, endpoint) pair was delivered')
    or diag(scalar(@missing) . " missing, e.g. @missing[0 .. ($#missing < 4 ? $#missing : 4)]");
sleep 1;   # anything late (a duplicate) would show now
$received->();
my @dups = grep { $got{$_} > 1 } sort keys %got;
diag("duplicate: $_ received $got{$_} times (published on $published_on{(split / /)[0]})") for @dups;
is(scalar @dups, 0, 'no (event, endpoint) pair was delivered twice (no node failed)');
my @stray = grep { my ($id, $path) = split / /; !$is_event{$id} || !grep { $_ eq $path } @paths } keys %got;
is(scalar @stray, 0, 'every request carried webhook-id = one of the published event ids, on an endpoint path')
    or diag("stray: @stray[0 .. ($#stray < 4 ? $#stray : 4)]");
is($rx->count, 2 * $EVENTS, 2 * $EVENTS . ' requests in all');
is(scalar(grep { ($_->{method} // '') ne 'POST' } $rx->requests), 0, 'every request is a POST');

# --- the delivery log, read from every node ----------------------------------------------------

# { delivery id => "event status attempts" } of an endpoint as $ng lists it.
sub log_of($ng, $wh_id) {
    my $j = deliveries($ng, $ADMIN, $wh_id, limit => 1000) or return undef;
    return { total => $j->{total},
             map { $_->{id} => join ' ', $_->{event_id} // '-', $_->{status} // '-', $_->{attempts} // '-' }
                 @{ $j->{deliveries} } };
}

my %event_of;   # delivery id => event id, from A's log
for my $id (@wh) {
    my %seen;
    my $settled = wait_for(sub {
        for my $ng (@nodes) {
            my $l = log_of($ng, $id) or return 0;
            $seen{ $name{$ng} } = $l;
            return 0 unless grep({ / succeeded 1$/ } values %$l) == $EVENTS;
        }
        return 1;
    }, 20, 0.2);
    ok($settled, "endpoint $id: A, B and C each list $EVENTS deliveries succeeded at the first attempt")
        or diag(join ', ', map { my $l = $seen{$_} // {}; "$_: " . scalar(grep { / succeeded / } values %$l) . ' succeeded' } qw(A B C));
    my %ref = %{ $seen{A} // {} };
    is($ref{total}, $EVENTS, "endpoint $id: total $EVENTS on A");
    delete $ref{total};
    is(scalar keys %ref, $EVENTS, "endpoint $id: $EVENTS delivery ids on A");
    $event_of{$_} = (split / /, $ref{$_})[0] for keys %ref;
    my %events_listed = map { (split / /, $ref{$_})[0] => 1 } keys %ref;
    is(scalar(grep { $events_listed{$_} } @events), $EVENTS, "endpoint $id: one delivery per published event");
    for my $n (qw(B C)) {
        my %other = %{ $seen{$n} // {} };
        delete $other{total};
        is_deeply(\%other, \%ref, "endpoint $id: $n lists the same delivery ids, events, statuses and attempts as A");
    }
}

# --- who made the attempts: the node that published the event ---------------------------------
# The store's change log says which node committed each change: every event's
# event.put and every attempt.done of its deliveries come from the node it
# was published on.

my %put_by = map { split /\|/ } split /\n/, $pg->psql(
    "select record::json->>'id', node from webhook_changes where zone = 'wh' and record::json->>'op' = 'event.put'");
my %node_of;   # B, C => node id
for my $e (@events) { $node_of{ $published_on{$e} }{ $put_by{$e} // '-' }++ }
is(scalar(keys %{ $node_of{B} }), 1, 'the events published on B were all committed by one node: ' . join(',', keys %{ $node_of{B} }));
is(scalar(keys %{ $node_of{C} }), 1, 'the events published on C were all committed by one node: ' . join(',', keys %{ $node_of{C} }));
my ($nodeB) = keys %{ $node_of{B} };
my ($nodeC) = keys %{ $node_of{C} };
isnt($nodeB, $nodeC, 'B and C are different nodes');
my @done = map { [split /\|/] } split /\n/, $pg->psql(
    "select record::json->>'delivery', node, record::json->>'outcome' from webhook_changes"
    . " where zone = 'wh' and record::json->>'op' = 'attempt.done' order by seq");
is(scalar @done, 2 * $EVENTS, 2 * $EVENTS . ' attempt.done changes in the store (one attempt per delivery)');
my @foreign = grep { my ($d, $node) = @$_; !defined $event_of{$d} || ($put_by{ $event_of{$d} } // '') ne $node } @done;
is(scalar @foreign, 0, 'every attempt was made (and recorded) by the node that published its event')
    or diag(join "\n", map { "@$_ (event " . ($event_of{ $_->[0] } // '?') . ')' } @foreign[0 .. ($#foreign < 4 ? $#foreign : 4)]);

# --- the publisher's trace context, fleet-wide -----------------------------------------------
# Published on B with a traceparent and a tracestate: the event.put in the
# store carries them, and A and C, which applied it from the store, show them
# in the delivery log.

{
    my ($tp, $ts) = ('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'rojo=00f067aa0ba902b7');
    my $res = api($B, 'POST', '/events', { type => 'fleet.traced', data => {} }, key => $ADMIN,
                  headers => { traceparent => $tp, tracestate => $ts });
    is($res->{status}, 202, 'a traced event published on B');
    my $id = ($res->{json} // {})->{id} // '';
    for my $ng ($A, $C) {
        my $d = wait_delivery($ng, $ADMIN, $wh[0], $id, status => 'succeeded') // {};
        is_deeply([$d->{traceparent}, $d->{tracestate}], [$tp, $ts], "node $name{$ng} shows the event's trace context");
    }
    is($pg->psql("select record::json->>'traceparent' from webhook_changes where zone = 'wh' and record::json->>'id' = '$id'"),
       $tp, 'the event.put in the store carries the traceparent');
}

$_->log_is_clean("node $name{$_}: no [alert]/[emerg]/[crit]") for @nodes;
done_testing;
