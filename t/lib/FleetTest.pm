package FleetTest;

# Helpers for the fleet tests (t/fleet/): a private PostgreSQL (PgTest.pm)
# and several nginx nodes on loopback, each with its own prefix, sharing one
# zone through `webhook_zone … store=`.
#
#   use FleetTest qw(:all);
#   my $pg = PgTest->start;
#   my @nodes = fleet_nodes($pg, 3, admin => $ADMIN, guard => 1, vars => { BACKEND => $b->port });
#   # or, delivering: fleet_nodes($pg, 2, admin => $ADMIN, delivery => 1, retries => '0s,1s')
#   $_->start for @nodes;
#   wait_ready(@nodes);                 # each answers GET /v1/keys with 200
#   my ($ok, $secs) = visible(sub { ... }, 5);   # polls until true: (1, seconds) or (0, timeout)
#   percentile(\@secs, 0.99)
#
# Options of fleet_nodes, besides KeysTest::api_conf's / DeliveryTest::delivery_conf's:
#   delivery => 1: each node is a DeliveryTest::delivery_nginx (delivery => 'per_endpoint=8 ...':
#               delivering, with those webhook_delivery parameters)
#   store    => the URI (default $pg->uri)
#   zone     => more webhook_zone parameters (after store=)

use v5.36;
use Exporter 'import';
use Time::HiRes qw(time sleep);
use List::Util qw(max);
use WebhookTest ();
use KeysTest ();
use DeliveryTest ();
use PgTest ();

our @EXPORT_OK = qw(fleet_nodes fleet_node wait_ready visible percentile);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

# One node (not started).
sub fleet_node($pg, %o) {
    my $store = $o{store} // $pg->uri;
    my $zone = join ' ', "store=$store", grep { defined && length } $o{zone};
    # delivery => 1 is the flag alone; any other true value is also passed on
    # as delivery_conf's more webhook_delivery parameters (concurrency=...).
    my $delivery = delete $o{delivery};
    return KeysTest::api_nginx(%o, zone => $zone) unless $delivery;
    return DeliveryTest::delivery_nginx(%o, ($delivery eq '1' ? () : (delivery => $delivery)), zone => $zone);
}

sub fleet_nodes($pg, $n, %o) { return map { fleet_node($pg, %o) } 1 .. $n }

# Every node answers the API (its zone is loaded and in step with the store).
sub wait_ready(@nodes) {
    my $admin;
    for my $ng (@nodes) {
        $admin = $ng->{vars}{ADMIN};
        my $ok = WebhookTest::wait_for(sub {
            KeysTest::api($ng, 'GET', '/v1/keys', undef, key => $admin)->{status} == 200
        }, 20);
        return 0 unless $ok;
    }
    return 1;
}

# Polls $cond every 2 ms: (1, seconds it took) or (0, $timeout).
sub visible($cond, $timeout = 5) {
    my $t0 = time;
    while (time - $t0 < $timeout) {
        return (1, time - $t0) if $cond->();
        sleep 0.002;
    }
    return (0, $timeout);
}

sub percentile($values, $p) {
    my @s = sort { $a <=> $b } @$values;
    return undef unless @s;
    my $i = int($p * (@s - 1) + 0.5);
    return $s[$i];
}

1;
