# webhook_zone store= (SPEC §9, issue 10): how a node connects to the store,
# for the URI forms docs/fleet.md recommends and for zone names SQL must quote.
#   1. several hosts: store=postgresql://webhook@127.0.0.1:DEAD,127.0.0.1:PGPORT/webhook,
#      DEAD a port where nothing listens: the node becomes ready within 5 s
#      and a key created on it works on a node with the plain URI (and the
#      other way round). (On loopback the refusal is usually seen inside the
#      first PQconnectPoll, before the node watches any socket.)
#   2. the HA form of docs/fleet.md, ?target_session_attrs=read-write with a
#      read-only server first (a second PostgreSQL with
#      default_transaction_read_only=on, as a standby answers): libpq connects
#      to it, finds it read-only, closes that socket and opens one to the next
#      host, usually under the same fd number, inside one PQconnectPoll. The
#      node must watch the new socket and become ready within 5 s (not hang
#      until its 15 s connection timeout, and again after it); keys work
#      across nodes. Also target_session_attrs=read-write on a single host.
#   3. a zone name holding a single quote (zone=wh'q:1m): nginx -t accepts it,
#      the nodes become ready and keys work across two nodes (the name is
#      quoted in SQL, not pasted).
use v5.36;
use Test::More;
use Time::HiRes qw(time sleep);
use WebhookTest qw(:all);
use KeysTest qw(api api_conf create_key auth_get);
use FleetTest qw(:all);
use PgTest;

my $ADMIN = 'admin-fleet-connect-5be20c';
my $pg = PgTest->start;
my $backend = WebhookTest::Backend->start;
my %common = (admin => $ADMIN, guard => 1, vars => { BACKEND => $backend->port });
my $PGPORT = $pg->port;
my $DEAD = free_port();
ok(!WebhookTest::port_open($DEAD), "nothing listens on the first host's port $DEAD");

# The node answers GET /v1/keys with 200 within $secs seconds: (ok, seconds).
sub ready_within($ng, $secs) {
    my $t0 = time;
    my $ok = wait_for(sub { api($ng, 'GET', '/v1/keys', undef, key => $ADMIN)->{status} == 200 }, $secs);
    return ($ok, time - $t0);
}

# The last lines of a node's error log, without the 503 answers of the polls.
sub log_excerpt($ng) {
    my @l = grep { !/webhook_api refused: 503/ } split /\n/, $ng->error_log;
    return join "\n", @l[ (@l > 15 ? @l - 15 : 0) .. $#l ];
}

# Sessions of database $db on the primary (logged in: a connection whose
# startup never went on has no database yet), besides psql's own.
sub sessions($db) {
    return $pg->psql("select count(*) from pg_stat_activity where datname = '$db' and usename = 'webhook'"
                   . " and backend_type = 'client backend' and pid <> pg_backend_pid()");
}

# Every worker of $ng has its session on the primary within $secs seconds
# (one connection a worker; the node's database has no other client).
sub every_worker_connected($ng, $db, $what, $secs = 5) {
    my $n = scalar $ng->worker_pids;
    my $got;
    ok(wait_for(sub { ($got = sessions($db)) == $n }, $secs, 0.1),
       "$what: each of the node's $n workers has its session on the primary within $secs s") or diag("sessions: $got");
}

# A key created on $from works on $to (within 10 s), and is refused for another resource scope.
sub key_across($from, $to, $what, $room) {
    my $k = eval { create_key($from, $ADMIN, resource => "room:$room", scopes => ['read']) };
    ok($k, "$what: a key is created") or return diag($@);
    is(auth_get($from, '/r', $k->{key})->{status}, 200, "$what: the key works where it was created");
    ok(wait_for(sub { auth_get($to, '/r', $k->{key})->{status} == 200 }, 10), "$what: the key works on the other node");
}

# --- 1. several hosts, the first one dead ------------------------------------------------------

my $multi = "postgresql://webhook\@127.0.0.1:$DEAD,127.0.0.1:$PGPORT/webhook";
my $A = fleet_node($pg, %common, store => $multi);
my $B = fleet_node($pg, %common);                      # the plain URI
$A->start;
my ($ok, $secs) = ready_within($A, 5);
ok($ok, 'several hosts, the first dead: the node answers the API within 5 s') or diag(log_excerpt($A));
diag sprintf 'several hosts: ready after %.2f s', $secs if $ok;
every_worker_connected($A, 'webhook', 'several hosts, the first dead');
$B->start;
ok(wait_ready($B), 'a node with the plain URI answers the API');
key_across($A, $B, 'several hosts -> plain URI', 1);
key_across($B, $A, 'plain URI -> several hosts', 2);

# --- 2. target_session_attrs=read-write, a read-only server first ------------------------------

my $ro = PgTest->start;
$ro->psql('create database ha');   # libpq does not go on to the next host when the database is missing
$ro->psql('alter system set default_transaction_read_only = on');
$ro->psql('select pg_reload_conf()');
ok(wait_for(sub { $ro->psql('show default_transaction_read_only') eq 'on' }, 5), 'the first server is read-only');
my $RO = $ro->port;
# its own database on the primary: its sessions are this node's alone
$pg->psql('create database ha');
my $C = fleet_node($pg, %common, store => "postgresql://webhook\@127.0.0.1:$RO,127.0.0.1:$PGPORT/ha"
                                          . '?target_session_attrs=read-write');
my $D = fleet_node($pg, %common, store => "postgresql://webhook\@127.0.0.1:$PGPORT/ha?target_session_attrs=read-write");
$C->start;
($ok, $secs) = ready_within($C, 5);
ok($ok, 'a read-only server, then the primary, with target_session_attrs=read-write: the node answers the API within 5 s')
    or diag(log_excerpt($C));
diag sprintf 'read-only first + target_session_attrs: ready after %.2f s', $secs if $ok;
every_worker_connected($C, 'ha', 'read-only first + target_session_attrs');
ok(!grep({ /\[(?:alert|crit)\]/ } split /\n/, $C->error_log), 'read-only first: no [alert]/[crit] (epoll_ctl on a replaced socket)')
    or diag(log_excerpt($C));
is($ro->psql(q{select count(*) from pg_tables where tablename like 'webhook%'}), '0', 'nothing was written to the read-only server');
$D->start;
($ok, $secs) = ready_within($D, 5);
ok($ok, 'one host + target_session_attrs=read-write: the node answers the API within 5 s') or diag(log_excerpt($D));
key_across($C, $D, 'read-only first + target_session_attrs -> one host + target_session_attrs', 3);
key_across($D, $C, 'one host + target_session_attrs -> read-only first + target_session_attrs', 4);
ok($_->stop, 'URI node: graceful stop') for $A, $B, $C, $D;
$_->log_is_clean('URI node, after its stop: no [alert]/[emerg]/[crit]') for $A, $B, $C, $D;

# --- 3. a zone name with a single quote --------------------------------------------------------

SKIP: {
    my $name = "wh'q";
    my ($exit, $out) = WebhookTest::Nginx->nginx_t(api_conf(name => $name, zone => 'store=' . $pg->uri),
                                                   vars => { ADMIN => $ADMIN });
    skip "nginx refuses the zone name $name: $out", 11 if $exit != 0 && $out =~ /\[emerg\]/ && $out !~ /store/;
    is($exit, 0, "nginx -t accepts zone=$name:1m with store=") or diag($out);
    my ($Q1, $Q2) = fleet_nodes($pg, 2, %common, name => $name);
    $_->start for $Q1, $Q2;
    ($ok, $secs) = ready_within($Q1, 10);
    ok($ok, "zone $name: the first node answers the API") or diag(log_excerpt($Q1));
    ($ok, $secs) = ready_within($Q2, 10);
    ok($ok, "zone $name: the second node answers the API") or diag(log_excerpt($Q2));
    key_across($Q1, $Q2, "zone $name", 5);
    is($pg->psql(q{select count(*) from webhook_zones where zone = 'wh''q'}), '1', "webhook_zones has the zone $name");
    ok($_->stop, "zone $name node: graceful stop") for $Q1, $Q2;
    $_->log_is_clean("zone $name node, after its stop: no [alert]/[emerg]/[crit]") for $Q1, $Q2;
}

done_testing;
