# webhook_zone store= (SPEC §9, issue 10): replay= across nodes, the one-time
# import of state=DIR into the store, and what the configuration checks.
#   1. replay= is shared by the fleet: a signed message accepted on node A is
#      refused as `replayed` (401) on node B once it propagated; another
#      message id is accepted on B.
#   2. import: a node that ran with state=DIR alone, restarted with state=DIR
#      and store=, imports DIR into the store (webhook_zones.imported, the
#      DIR/imported-to-store mark); a node with store= alone sees the same
#      keys; a restart does not import again ("was imported into the store
#      before") and the keys go on working; another DIR for a zone the store
#      already holds is refused ("is not imported: the store holds this zone
#      already") and that node answers 503 store_unavailable. A delivery still
#      pending in DIR (its first attempt failed) is imported with the importing
#      node as its owner: that node delivers it (same delivery id) once the
#      receiver listens.
#   3. conf: store= that is not postgresql:// or not a valid PostgreSQL URI is
#      refused by nginx -t (libpq's reason without the URI's password, e.g.
#      an invalid percent-escape inside it); a valid URI to a port where
#      nothing listens passes nginx -t (it needs no store); a reload that
#      changes store= is refused.
use v5.36;
use Test::More;
use File::Temp qw(tempdir);
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(time sleep);
use WebhookTest qw(:all);
use KeysTest qw(api api_conf create_key auth_get);
use DeliveryTest qw(:all);
use FleetTest qw(:all);
use PgTest;

my $ADMIN = 'admin-fleet-replay-import-8d03f1';
my $pg = PgTest->start;
my $backend = WebhookTest::Backend->start;

sub status_code($res) { return $res->{status} . ' ' . (error_code($res) // '-') }

# --- 1. replay= across nodes ---------------------------------------------------------------

{
    my $secret = 'whsec_' . encode_base64('fleet-replay-secret-0123456789ab', '');
    my $hook = "        location = /hook { webhook_verify standard secret=$secret replay=on; "
             . "proxy_pass http://127.0.0.1:%%BACKEND%%; }\n";
    # its own database: the zone "wh" of part 2 starts empty
    $pg->psql('create database replay');
    (my $uri = $pg->uri) =~ s{/webhook$}{/replay};
    my ($A, $B) = fleet_nodes($pg, 2, admin => $ADMIN, store => $uri, locations => $hook,
                              vars => { BACKEND => $backend->port });
    $_->start for $A, $B;
    ok(wait_ready($A, $B), 'replay: two nodes answer the API');

    my $body = '{"type":"order.paid","n":1}';
    my $h1 = sign_standard($secret, $body, id => 'msg_fleet_1');
    my $res = http_post($A->url('/hook'), $body, $h1);
    is($res->{status}, 200, 'a signed message is accepted on A');
    sleep 0.3;
    $res = http_post($B->url('/hook'), $body, $h1);
    is(status_code($res), '401 replayed', 'the same message sent to B ~300 ms later is refused as replayed')
        or diag($res->{content});
    $res = http_post($A->url('/hook'), $body, $h1);
    is(status_code($res), '401 replayed', 'and on A as well');
    my $h2 = sign_standard($secret, $body, id => 'msg_fleet_2');
    is(http_post($B->url('/hook'), $body, $h2)->{status}, 200, 'another message id is accepted on B');
    sleep 0.3;
    is(status_code(http_post($A->url('/hook'), $body, $h2)), '401 replayed', "B's message is refused on A");
    is($backend->count, 2, 'the application received the two messages once each');
    ok($_->stop, 'replay node: graceful stop') for $A, $B;
    $_->log_is_clean('replay node, after its stop: no [alert]/[emerg]/[crit]') for $A, $B;
}

# --- 2. import of state=DIR ----------------------------------------------------------------------

my $root = tempdir('fleet_import_XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{WEBHOOK_TEST_KEEP});
chmod 0755, $root;
my $dir = "$root/state";
my %solo = (admin => $ADMIN, guard => 1, vars => { BACKEND => $backend->port });   # delivery_nginx's
my %node = (%solo, delivery => 1);                                                 # fleet_node's

# state=DIR alone: two keys and an endpoint
my $solo = delivery_nginx(%solo, state => $dir);
$solo->start;
my $k1 = create_key($solo, $ADMIN, resource => 'room:1', scopes => ['read']);
my $k2 = create_key($solo, $ADMIN, resource => 'room:2', scopes => ['read']);
my $wh = create_webhook($solo, $ADMIN, url => 'http://127.0.0.1:9/hook', events => ['*']);
is(auth_get($solo, '/r', $k1->{key})->{status}, 200, 'state= alone: the key works');
ok($solo->stop, 'the state=-only node stops');
is($pg->psql(q{select count(*) from pg_tables where tablename = 'webhook_zones'}) eq '0'
       ? '0' : $pg->psql(q{select count(*) from webhook_zones where zone = 'wh'}), '0', 'the store has no zone "wh" yet');

# the same DIR with store=: imported once
my $S1 = fleet_node($pg, %node, state => $dir);
$S1->start;
ok(wait_ready($S1), 'state= + store=: the node answers the API');
ok(scalar $S1->wait_log(0, qr/\[notice\].*webhook_zone "wh": imported 2 keys, 1 endpoint.* into the store \(change \d+\)/, 10),
   'the error log says DIR was imported into the store') or diag($S1->log_tail);
is(auth_get($S1, '/r', $_->{key})->{status}, 200, "after the import: key $_->{id} works") for $k1, $k2;
is(api($S1, 'GET', "/webhooks/$wh->{id}", undef, key => $ADMIN)->{status}, 200, 'after the import: the endpoint is there');
is($pg->psql(q{select imported from webhook_zones where zone = 'wh'}), $dir, 'webhook_zones.imported names DIR');
{
    # DIR's records are the first changes of the log (tx "import"), up to the head.
    my $imported = $pg->psql(q{select count(*) from webhook_changes where zone = 'wh' and tx = 'import'});
    cmp_ok($imported, '>=', 4, "the store's log starts with DIR's records ($imported)");
    is($pg->psql(q{select min(seq) || ' ' || max(seq) from webhook_changes where zone = 'wh' and tx = 'import'}), "1 $imported",
       'as changes 1..N');
    is($pg->psql(q{select head from webhook_zones where zone = 'wh'}), $imported, 'the head is the last of them');
}
ok(-e "$dir/imported-to-store", 'DIR/imported-to-store marks DIR');

# a node with store= alone sees the same
my $S2 = fleet_node($pg, %node);
$S2->start;
ok(wait_ready($S2), 'a store=-only node answers the API');
is(auth_get($S2, '/r', $_->{key})->{status}, 200, "the store=-only node: key $_->{id} works") for $k1, $k2;
is(api($S2, 'GET', "/webhooks/$wh->{id}", undef, key => $ADMIN)->{status}, 200, 'the store=-only node: the endpoint is there');
{
    my $res = api($S2, 'GET', '/keys', undef, key => $ADMIN);
    my @ids = sort map { $_->{id} } @{ ref $res->{json} eq 'HASH' ? $res->{json}{keys} // [] : [] };
    is_deeply(\@ids, [sort $k1->{id}, $k2->{id}], 'the store=-only node lists the two imported keys');
}
my $k3 = create_key($S2, $ADMIN, resource => 'room:3', scopes => ['read']);
ok(wait_for(sub { auth_get($S1, '/r', $k3->{key})->{status} == 200 }, 10), 'a key created on the second node works on the first');

# a restart does not import again
my $head = $pg->psql(q{select head from webhook_zones where zone = 'wh'});
ok($S1->stop, 'the importing node stops');
my $mark = $S1->log_mark;
$S1->start;
ok(wait_ready($S1), 'restarted with state= and store= still: answers the API');
ok(scalar $S1->wait_log($mark, qr/\[notice\].*webhook_zone "wh": state="\Q$dir\E" was imported into the store before/, 10),
   'the restart says DIR was imported before') or diag($S1->log_tail);
ok(!grep({ /imported .* into the store/ } split /\n/, $S1->log_since($mark)), 'the restart does not import again');
ok(scalar $S1->wait_log($mark, qr/webhook_zone "wh": loaded 3 keys, 1 endpoint.* from the store/, 10),
   'the restart loads the zone from the store (3 keys)') or diag($S1->log_tail);
is(auth_get($S1, '/r', $_->{key})->{status}, 200, "after the restart: key $_->{id} works") for $k1, $k2, $k3;
is($pg->psql(q{select head from webhook_zones where zone = 'wh'}), $head, 'the restart wrote nothing to the store');
is($pg->psql(q{select count(*) from webhook_changes where zone = 'wh' and tx = 'import'}) > 0 ? 1 : 0, 1,
   'the imported changes are still there, not written again');

# another DIR, for a zone the store holds already: refused
my $dir2 = "$root/state2";
my $solo2 = delivery_nginx(%solo, state => $dir2);
$solo2->start;
my $k4 = create_key($solo2, $ADMIN, resource => 'room:4', scopes => ['read']);
ok($solo2->stop, 'a second state=-only node (another DIR) stops');
my $S3 = fleet_node($pg, %node, state => $dir2);
$S3->start;
ok(scalar $S3->wait_log(0, qr/\[error\].*webhook_zone "wh": state="\Q$dir2\E" is not imported: the store holds this zone already/, 10),
   'another DIR for a zone the store holds: the import is refused with an error line') or diag($S3->log_tail);
sleep 0.5;
is(status_code(api($S3, 'GET', '/keys', undef, key => $ADMIN)), '503 store_unavailable', 'that node\'s API answers 503 store_unavailable');
is(status_code(api($S3, 'POST', '/keys', { resource => 'room:5', scopes => ['read'] }, key => $ADMIN)), '503 store_unavailable',
   'that node refuses changes with 503 store_unavailable');
is(status_code(auth_get($S3, '/r', $k1->{key})), '503 store_unavailable', 'that node answers api_key_auth with 503 store_unavailable');
ok(!-e "$dir2/imported-to-store", 'the refused DIR is not marked');
is($pg->psql(q{select imported from webhook_zones where zone = 'wh'}), $dir, 'webhook_zones.imported still names the first DIR');
is($pg->psql(q{select head from webhook_zones where zone = 'wh'}), $head, 'the refused import wrote nothing to the store');
is(auth_get($S2, '/r', $k4->{key})->{status}, 401, "the refused DIR's key is not in the fleet");
ok($_->stop, 'import node: graceful stop') for $S1, $S2, $S3;
$_->log_is_clean('import node, after its stop: no [alert]/[emerg]/[crit]') for $solo, $S1, $S2, $solo2, $S3;

# a delivery still pending in DIR is imported with its owner: the importing node makes its attempts
{
    $pg->psql('create database pending');
    (my $uri = $pg->uri) =~ s{/webhook$}{/pending};
    my $rport = free_port();                  # nothing listens there yet
    my %p = (%solo, retries => '0s,2s,2s,2s,2s');
    my $dir3 = "$root/state3";
    my $solo3 = delivery_nginx(%p, state => $dir3);
    $solo3->start;
    my $pwh = create_webhook($solo3, $ADMIN, url => "http://127.0.0.1:$rport/hook", events => ['*']);
    my $ev = publish($solo3, $ADMIN, type => 'room.on_air', data => { n => 1 });
    my $d = wait_until(sub {
        my $x = delivery_detail($solo3, $ADMIN, $pwh->{id}, $ev->{id});
        $x && $x->{attempts} >= 1 ? $x : undef;
    }, 10) // {};
    is(($d->{status} // '-') . ' ' . ($d->{attempts} // '-'), 'pending 1',
       'state=-only node: the delivery failed its first attempt (nothing listens) and is pending');
    ok($solo3->stop, 'the state=-only node stops with the delivery pending');
    my $rx = DeliveryTest::HoldingReceiver->start(port => $rport, children => 2, mode => 'ok');
    my $S4 = fleet_node($pg, %p, delivery => 1, store => $uri, state => $dir3);
    $S4->start;
    ok(wait_ready($S4), 'restarted with state= and store=: the node answers the API');
    ok(scalar $S4->wait_log(0, qr/\[notice\].*webhook_zone "wh": imported .* into the store/, 10),
       'DIR (with the pending delivery) was imported') or diag($S4->log_tail);
    my $t0 = time;
    if (ok(wait_for(sub { $rx->ids->{ $ev->{id} } }, 15), 'the imported pending delivery is delivered by the importing node')) {
        diag sprintf 'imported delivery received after %.1f s', time - $t0;
    } else {
        diag($S4->log_tail);
    }
    my $done = wait_delivery($S4, $ADMIN, $pwh->{id}, $ev->{id}, timeout => 5) // {};
    is($done->{status} // '-', 'succeeded', 'and is listed succeeded');
    is($done->{id} // '-', $d->{id} // '?', 'the same delivery id');
    ok($S4->stop, 'the importing node stops');
    $_->log_is_clean('pending import node, after its stop: no [alert]/[emerg]/[crit]') for $solo3, $S4;
}

# --- 3. configuration ------------------------------------------------------------------------------

sub nginx_t_zone($zone) {
    return WebhookTest::Nginx->nginx_t(api_conf(zone => $zone), vars => { ADMIN => $ADMIN });
}
{
    my ($exit, $out) = nginx_t_zone('store=mysql://x');
    isnt($exit, 0, 'nginx -t refuses store=mysql://x');
    like($out, qr/\[emerg\].*webhook_zone: invalid store= in "store=mysql:\/\/x" \(a PostgreSQL connection URI is needed/,
         'naming store= and what it needs') or diag($out);
}
for my $bad ('postgresql://webhook@127.0.0.1/%zz', 'postgresql://webhook@127.0.0.1:5432/db?nosuchoption=1') {
    my ($exit, $out) = nginx_t_zone("store=$bad");
    isnt($exit, 0, "nginx -t refuses store=$bad");
    like($out, qr/\[emerg\].*webhook_zone "wh": store= is not a valid PostgreSQL connection URI: \S/,
         "store=$bad: not a valid PostgreSQL connection URI, with libpq's reason") or diag($out);
    unlike($out, qr/\Q$bad\E/, "store=$bad: the URI itself is not repeated (it may hold a password)")
        if $bad =~ /%zz/;
}
{
    # an invalid percent-escape in the password: libpq's reason is printed without it
    my ($exit, $out) = nginx_t_zone('store=postgresql://webhook:s3cr%zzet@127.0.0.1:5432/webhook');
    isnt($exit, 0, 'nginx -t refuses a URI whose password holds an invalid percent-escape');
    like($out, qr/\[emerg\].*webhook_zone "wh": store= is not a valid PostgreSQL connection URI/,
         'naming an invalid PostgreSQL connection URI') or diag($out);
    unlike($out, qr/s3cr/, 'the output does not show the password') or diag($out);
}
{
    my $port = free_port();
    my ($exit, $out) = nginx_t_zone("store=postgresql://webhook\@127.0.0.1:$port/webhook");
    is($exit, 0, 'nginx -t passes with a valid URI to a port where nothing listens (it needs no store)') or diag($out);
}

# a reload that changes store= is refused; the running configuration goes on
{
    my $ng = fleet_node($pg, admin => $ADMIN);
    $ng->start;
    ok(wait_ready($ng), 'reload: the node answers the API');
    my $k = create_key($ng, $ADMIN, resource => 'room:9', scopes => ['read']);
    (my $other = $pg->uri) =~ s{/webhook$}{/replay};
    for my $case (["another store= URI", "store=$other"], ['no store=', '']) {
        my ($what, $zone) = @$case;
        my @workers = $ng->worker_pids;
        my $mark = $ng->log_mark;
        $ng->write_conf(conf => api_conf(zone => $zone));
        kill 'HUP', $ng->master_pid;
        my @emerg = $ng->wait_log($mark, qr/\[emerg\].*webhook_zone "wh": state= and store= change only with a restart/, 10);
        ok(@emerg, "a reload to $what is refused with an emerg naming the restart") or diag($ng->log_tail);
        my $now = $zone ? 'no state= with store=' : 'no state=';
        like($emerg[0] // '', qr/\(now \Q$now\E, running no state= with store=\)/, "a reload to $what: the emerg names both");
        unlike($emerg[0] // '', qr/postgresql:/, "a reload to $what: the emerg does not print the URI");
        is_deeply([$ng->worker_pids], \@workers, "a reload to $what: the running workers go on");
        is(api($ng, 'GET', "/keys/$k->{id}", undef, key => $ADMIN)->{status}, 200, "a reload to $what: the API still answers");
    }
    ok($ng->stop, 'reload node: graceful stop');
    ok(!grep({ /\[(?:alert|crit)\]/ } split /\n/, $ng->error_log), 'reload node, after its stop: no [alert]/[crit]')
        or diag(join "\n", grep { /\[(?:alert|crit)\]/ } split /\n/, $ng->error_log);
}

done_testing;
