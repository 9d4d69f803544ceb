# The store's log stays bounded and a new node starts without replaying
# history: past 10 000 changes after the last snapshot, worker 0 of a node in
# step writes the zone as the new snapshot and the changes it covers are
# deleted once every node has applied them; a node started afterwards loads
# the snapshot, then the changes after it, and has the whole state.
#
# The 10 000 changes are written the way a node writes them (one transaction
# holding the zone's row, head moved, NOTIFY): replay ids, the cheapest record.
use v5.36;
use Test::More;
use Time::HiRes qw(time sleep);
use WebhookTest qw(:all);
use KeysTest qw(:all);
use FleetTest qw(:all);
use PgTest;

my $ADMIN = 'admin-fleet-compaction-7c1e';
my $pg = PgTest->start;
my $backend = WebhookTest::Backend->start;
my %node = (admin => $ADMIN, guard => 1, vars => { BACKEND => $backend->port });

my @nodes = fleet_nodes($pg, 2, %node);
$_->start for @nodes;
ok(wait_ready(@nodes), 'two nodes ready');
my $k1 = create_key($nodes[0], $ADMIN, resource => 'room:1', scopes => ['read']);
my $k2 = create_key($nodes[1], $ADMIN, resource => 'room:2', scopes => ['read']);
my $revoked = create_key($nodes[0], $ADMIN, resource => 'room:3', scopes => ['read']);
# The key reaches node 1 through the store a moment later (a slow machine,
# or ASan, makes that moment longer): revoke it there once it is seen.
ok((visible(sub { api($nodes[1], 'GET', "/keys/$revoked->{id}", undef, key => $ADMIN)->{status} == 200 }, 15))[0],
   'the key is seen on the other node');
is(api($nodes[1], 'DELETE', "/keys/$revoked->{id}", undef, key => $ADMIN)->{status}, 204, 'a key revoked');

my $N = 10050;
my $expires = int(time) + 3600;
$pg->psql(<<"SQL");
BEGIN;
SELECT head FROM webhook_zones WHERE zone = 'wh' FOR UPDATE;
INSERT INTO webhook_changes (zone, seq, tx, node, record)
    SELECT 'wh', z.head + g, 'bulk-test', 'nbulk', '{"op":"replay.seen","key":"' || lpad(to_hex(g), 64, '0') || '","expires":$expires}'
    FROM generate_series(1, $N) g, (SELECT head FROM webhook_zones WHERE zone = 'wh') z;
UPDATE webhook_zones SET head = head + $N WHERE zone = 'wh';
SELECT pg_notify('webhook_changes', 'wh');
COMMIT;
SQL
my $head = $pg->psql(q{select head from webhook_zones where zone = 'wh'});
cmp_ok($head, '>', $N, "the log holds $head changes");

ok(wait_for(sub { ($pg->psql(q{select coalesce(max(seq), 0) from webhook_snapshots where zone = 'wh'}) // 0) >= $N }, 30),
   'a snapshot is written past 10 000 changes')
    or diag($pg->psql(q{select seq, at from webhook_snapshots}));
my $snap = $pg->psql(q{select seq from webhook_snapshots where zone = 'wh'});
ok(wait_for(sub { $pg->psql(q{select count(*) from webhook_changes where zone = 'wh'}) < 100 }, 30),
   'the changes it covers are deleted once both nodes applied them')
    or diag('left: ' . $pg->psql(q{select count(*), min(seq), max(seq) from webhook_changes where zone = 'wh'})
            . '; nodes: ' . $pg->psql(q{select node, applied from webhook_nodes where zone = 'wh'}));
# Compaction follows the slower node's position, a lease (1 s) at a time.
ok(wait_for(sub { $pg->psql("select count(*) from webhook_changes where zone = 'wh' and seq <= $snap") == 0 }, 30),
   'no change the snapshot covers is left')
    or diag('left: ' . $pg->psql("select count(*) from webhook_changes where zone = 'wh' and seq <= $snap"));

# After the snapshot: one more change, then a new node.
my $k3 = create_key($nodes[1], $ADMIN, resource => 'room:4', scopes => ['read']);
my $fresh = fleet_node($pg, %node);
my $t0 = time;
$fresh->start;
ok(wait_ready($fresh), 'a new node starts on the compacted log');
diag sprintf 'the new node answered %.2f s after its start', time - $t0;
ok(scalar $fresh->wait_log(0, qr/webhook_zone "wh": loaded 3 keys, .* from the store \(change (\d+)\)/, 10),
   'it loaded the snapshot and the changes after it (3 keys)') or diag($fresh->log_tail);
my ($at) = $fresh->error_log =~ /from the store \(change (\d+)\)/;
cmp_ok($at // 0, '>', $snap, "it stands after the snapshot (change $at)");
is(auth_get($fresh, '/r', $_->{key})->{status}, 200, "on the new node: key $_->{id} works") for $k1, $k2, $k3;
is(auth_get($fresh, '/r', $revoked->{key})->{status}, 401, 'on the new node: the revoked key is refused');
my $list = api($fresh, 'GET', '/keys', undef, key => $ADMIN);
is(scalar @{ $list->{json}{keys} // [] }, 3, 'the new node lists 3 keys');

for my $ng (@nodes, $fresh) {
    ok($ng->stop, 'graceful stop');
    $ng->log_is_clean;
}
done_testing;
