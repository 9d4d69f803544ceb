# Keys and plan limits across a fleet (SPEC §9): three nodes (A, B, C) on one
# PostgreSQL store, each with `api_key_auth read` on /r.
#  - a key created on one node authenticates on the two others, and once
#    revoked on another node it is refused on the two others, each within 1 s
#    (the p50/p99 of both are reported with diag);
#  - creations racing on two nodes never exceed max_keys: exactly max_keys of
#    them get 201, the others 409 limit_reached, and every node lists exactly
#    the created keys;
#  - PUT /limits/{tenant} on one node is honoured by the next creation on
#    another (raising and lowering a tenant's max_keys).
use v5.36;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp ();
use Time::HiRes qw(time sleep);
use WebhookTest qw(:all);
use KeysTest qw(:all);
use FleetTest qw(:all);
use PgTest;

my $ADMIN = 'admin-fleet-keys-1';
my $MAX_KEYS = 5;
my $pg = PgTest->start;
my $backend = WebhookTest::Backend->start;
my @nodes = fleet_nodes($pg, 3, admin => $ADMIN, guard => 1, zone => "max_keys=$MAX_KEYS",
                        vars => { BACKEND => $backend->port });
my @NAME = qw(A B C);
$_->start for @nodes;
ok(wait_ready(@nodes), 'A, B and C answer the API') or BAIL_OUT('the fleet did not come up');

# Polls /r with $key on each node of @$idx until it answers $status: { node
# index => seconds since $t0 } for those that did within $timeout.
sub until_status($idx, $key, $status, $t0, $timeout = 5) {
    my %seen;
    while (time - $t0 < $timeout) {
        for my $i (grep { !exists $seen{$_} } @$idx) {
            $seen{$i} = time - $t0 if auth_get($nodes[$i], '/r', $key)->{status} == $status;
        }
        last if keys %seen == @$idx;
        sleep 0.002;
    }
    return \%seen;
}

# --- 1. visibility of creations and revocations -------------------------------------------------------
{
    my $N = 30;
    my (@create, @revoke, @late, @local);
    for my $k (0 .. $N - 1) {
        my ($c, $r) = ($k % 3, ($k + 1) % 3);       # created on c, revoked on r
        my @others = grep { $_ != $c } 0 .. 2;
        my $key = create_key($nodes[$c], $ADMIN, resource => "room:vis:$k", scopes => ['read']);
        my $t0 = time;
        push @local, "key $k works on its own node $NAME[$c] at once"
            unless auth_get($nodes[$c], '/r', $key->{key})->{status} == 200;
        my $seen = until_status(\@others, $key->{key}, 200, $t0);
        for my $i (@others) {
            push @late, sprintf('key %d (created on %s) on %s: %s', $k, $NAME[$c], $NAME[$i],
                                defined $seen->{$i} ? sprintf('%.3f s', $seen->{$i}) : 'never (5 s)')
                unless defined $seen->{$i} && $seen->{$i} <= 1;
            push @create, $seen->{$i} // 5;
        }

        my @others_r = grep { $_ != $r } 0 .. 2;
        my $res = api($nodes[$r], 'DELETE', "/keys/$key->{id}", undef, key => $ADMIN);
        $t0 = time;
        push @local, "key $k: DELETE on $NAME[$r] answered $res->{status}" unless $res->{status} == 204;
        push @local, "key $k is refused on its revoking node $NAME[$r] at once"
            unless auth_get($nodes[$r], '/r', $key->{key})->{status} == 401;
        $seen = until_status(\@others_r, $key->{key}, 401, $t0);
        for my $i (@others_r) {
            push @late, sprintf('key %d (revoked on %s) still works on %s: %s', $k, $NAME[$r], $NAME[$i],
                                defined $seen->{$i} ? sprintf('%.3f s', $seen->{$i}) : 'for 5 s')
                unless defined $seen->{$i} && $seen->{$i} <= 1;
            push @revoke, $seen->{$i} // 5;
        }
    }
    is_deeply(\@local, [], "$N keys: each works on its creating node and is refused on its revoking node at once");
    is_deeply(\@late, [], "$N keys: each authenticates on the two other nodes within 1 s, and is refused there within 1 s of its revocation");
    diag sprintf 'fleet key visibility: create p50 %.1f ms p99 %.1f ms; revoke p50 %.1f ms p99 %.1f ms (%d samples each)',
        map({ 1000 * percentile($_->[0], $_->[1]) } [\@create, 0.5], [\@create, 0.99], [\@revoke, 0.5], [\@revoke, 0.99]),
        scalar @create;
}

# --- 2. creations racing on two nodes respect max_keys ------------------------------------------------
{
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    my $start = time + 0.5;                          # every child fires at once
    my @rc = in_children(4, sub ($i) {
        my $ng = $nodes[$i % 2];                     # two children on A, two on B
        sleep 0.001 while time < $start;
        my @out;
        for (1 .. 5) {
            my $res = api($ng, 'POST', '/keys', { resource => 'race:fleet', scopes => ['read'] }, key => $ADMIN);
            push @out, join ' ', $res->{status}, error_code($res) // $res->{json}{id} // '-';
        }
        write_file("$dir/$i", join("\n", @out) . "\n");
    });
    is_deeply(\@rc, [0, 0, 0, 0], 'four racing clients (two on A, two on B) ended');
    my @ans = map { split /\n/, read_file("$dir/$_") // '' } 0 .. 3;
    is(scalar @ans, 20, '20 creations answered');
    my @created = sort map { /^201 (\S+)/ ? $1 : () } @ans;
    is(scalar @created, $MAX_KEYS, "exactly max_keys ($MAX_KEYS) of them got 201");
    is(scalar(grep { $_ eq '409 limit_reached' } @ans), 20 - $MAX_KEYS, 'every other one: 409 limit_reached')
        or diag join ', ', @ans;
    my @through = (0, 0);
    $through[$_ % 2] += grep { /^201 / } split /\n/, read_file("$dir/$_") // '' for 0 .. 3;
    diag sprintf 'race: %d created through A, %d through B', @through;

    # Every node converges on exactly the created keys (a wait, then a second
    # in which a surplus from a lagging node would show).
    for my $i (0 .. 2) {
        my $ids;
        wait_for(sub {
            my $res = api($nodes[$i], 'GET', '/keys?resource=race:fleet', undef, key => $ADMIN);
            $ids = $res->{status} == 200 ? [sort map { $_->{id} } @{ $res->{json}{keys} }] : undef;
            $ids && @$ids >= $MAX_KEYS;
        }, 15);
    }
    sleep 1.2;
    for my $i (0 .. 2) {
        my $res = api($nodes[$i], 'GET', '/keys?resource=race:fleet', undef, key => $ADMIN);
        is($res->{json}{total}, $MAX_KEYS, "$NAME[$i] lists $MAX_KEYS keys for race:fleet");
        is_deeply([sort map { $_->{id} } @{ $res->{json}{keys} // [] }], \@created, "$NAME[$i] lists exactly the keys answered 201");
    }
    my $res = api($nodes[2], 'POST', '/keys', { resource => 'race:fleet', scopes => ['read'] }, key => $ADMIN);
    is_deeply([$res->{status}, error_code($res)], [409, 'limit_reached'], 'C, which took no part, refuses a sixth key too');
}

# --- 3. PUT /limits on one node is honoured on another --------------------------------------------------
{
    my $res = api($nodes[0], 'PUT', '/limits/team:up', { max_keys => 8 }, key => $ADMIN);
    is_deeply([$res->{status}, $res->{json}{max_keys}], [200, 8], 'PUT /limits/team:up max_keys=8 on A: 200');
    my @st = map { api($nodes[1], 'POST', '/keys', { resource => 'team:up', scopes => ['read'] }, key => $ADMIN)->{status} } 1 .. 9;
    is_deeply(\@st, [(201) x 8, 409], 'B at once: 8 keys for team:up (over the zone max_keys=5), the ninth 409');

    $res = api($nodes[0], 'PUT', '/limits/team:down', { max_keys => 2 }, key => $ADMIN);
    is_deeply([$res->{status}, $res->{json}{max_keys}], [200, 2], 'PUT /limits/team:down max_keys=2 on A: 200');
    $res = undef;
    @st = map { $res = api($nodes[2], 'POST', '/keys', { resource => 'team:down', scopes => ['read'] }, key => $ADMIN); $res->{status} } 1 .. 3;
    is_deeply(\@st, [201, 201, 409], 'C at once: 2 keys for team:down, the third 409');
    is(error_code($res), 'limit_reached', 'the third: limit_reached');

    # Raising it again on C lets B create one more.
    is(api($nodes[2], 'PUT', '/limits/team:down', { max_keys => 3 }, key => $ADMIN)->{status}, 200, 'PUT max_keys=3 on C');
    is(api($nodes[1], 'POST', '/keys', { resource => 'team:down', scopes => ['read'] }, key => $ADMIN)->{status}, 201,
       'B at once: a third key for team:down');
    is(api($nodes[0], 'POST', '/keys', { resource => 'team:down', scopes => ['read'] }, key => $ADMIN)->{status}, 409,
       'A at once: a fourth is refused');
}

$nodes[$_]->log_is_clean("$NAME[$_]: error log has no [alert]/[emerg]/[crit]") for 0 .. 2;
done_testing;
