# A small zone filled with keys through the API until 507 zone_full: the
# error log says the zone is full, nothing is evicted (every key still
# authenticates, also after a restart from state=), deleting one key makes
# room for exactly one more. The number of keys that fit is reported (diag)
# for two zone sizes, which gives the memory per key.
use v5.36;
use Test::More;
use WebhookTest qw(:all);
use KeysTest qw(:all);

my $ADMIN = 'admin-key-capacity-t-6a4d21';
my $backend = WebhookTest::Backend->start;

my %fit;
for my $size ('256k', '512k') {
    my $ng = api_nginx(admin => $ADMIN, size => $size, state => 1, guard => 1, vars => { BACKEND => $backend->port });
    $ng->start;
    is(api($ng, 'PUT', '/limits/room:fill', { max_keys => 100_000 }, key => $ADMIN)->{status}, 200,
       "$size: lift the per-resource limit");

    my (@keys, $res);
    my $mark = $ng->log_mark;
    for (1 .. 20_000) {
        $res = api($ng, 'POST', '/keys', { resource => 'room:fill', scopes => ['read'], label => sprintf('fill key %05d', scalar @keys) },
                   key => $ADMIN);
        last unless $res->{status} == 201;
        push @keys, $res->{json};
    }
    my $n = @keys;
    $fit{$size} = $n;
    diag("zone $size: $n keys fit before 507 zone_full");
    ok($n > 50, "$size: a useful number of keys fit ($n)");
    is_deeply([$res->{status}, error_code($res)], [507, 'zone_full'], "$size: the next one: 507 zone_full");
    my @full = $ng->wait_log($mark, qr/\[error\].*webhook_api refused: 507 zone_full: the shared memory zone is full/);
    ok(@full >= 1, "$size: the error log says the zone is full") or diag($ng->log_tail(5));

    is(api($ng, 'GET', '/keys', undef, key => $ADMIN)->{json}{total}, $n, "$size: the refused key was not stored");
    $mark = $ng->log_mark;
    $res = api($ng, 'POST', '/keys', { resource => 'room:fill', scopes => ['read'] }, key => $ADMIN);
    is($res->{status}, 507, "$size: still full on the next try");
    # One refusal, one line (it is written before the answer is sent).
    my @lines = grep { /zone_full|is full/ } split /\n/, $ng->log_since($mark);
    is(scalar @lines, 1, "$size: the 507 is logged once") or diag(join "\n", @lines);
    $res = api($ng, 'PUT', '/limits/room:new', { max_keys => 5 }, key => $ADMIN);
    ok($res->{status} == 507 || $res->{status} == 200, "$size: PUT /limits for a new tenant: 507 or 200, never a crash");

    # Nothing was evicted: every key still authenticates.
    my $bad = grep { auth_get($ng, '/r', $_->{key})->{status} != 200 } @keys;
    is($bad, 0, "$size: all $n keys still authenticate when the zone is full");

    # Deleting one key makes room for one more.
    is(api($ng, 'DELETE', "/keys/$keys[$n / 2]{id}", undef, key => $ADMIN)->{status}, 204, "$size: delete one key");
    $res = api($ng, 'POST', '/keys', { resource => 'room:fill', scopes => ['read'], label => sprintf('fill key %05d', $n) },
               key => $ADMIN);
    is($res->{status}, 201, "$size: then one more key fits");
    my $replacement = $res->{json};
    is(auth_get($ng, '/r', $replacement->{key})->{status}, 200, "$size: the replacement key works");
    is(auth_get($ng, '/r', $keys[$n / 2]{key})->{status}, 401, "$size: the deleted key is refused");
    $res = api($ng, 'POST', '/keys', { resource => 'room:fill', scopes => ['read'] }, key => $ADMIN);
    is($res->{status}, 507, "$size: and the next one is 507 again");
    splice @keys, $n / 2, 1, $replacement;

    # A restart from state= fits everything that was acknowledged.
    $mark = $ng->log_mark;
    $ng->restart;
    my $log = $ng->log_since($mark);
    unlike($log, qr/did not fit/, "$size: after restart, every record fits the zone again");
    like($log, qr/restored $n keys/, "$size: after restart, $n keys restored");
    $bad = grep { auth_get($ng, '/r', $_->{key})->{status} != 200 } @keys;
    is($bad, 0, "$size: after restart, all $n keys authenticate");

    $ng->log_is_clean("$size: no [alert]/[emerg]/[crit]");
    $ng->log_lacks($ADMIN, "$size: admin key not in the logs");
    my $errlog = $ng->error_log;
    ok(!grep({ index($errlog, $_->{key}) >= 0 } @keys), "$size: no key string in the error log");
    $ng->stop;
}

ok($fit{'512k'} > $fit{'256k'}, 'a bigger zone holds more keys');
my $per_key = (512 - 256) * 1024 / ($fit{'512k'} - $fit{'256k'});
diag(sprintf 'memory per key (resource "room:fill", 14-byte label): about %.0f bytes (%d keys in 256k, %d in 512k)',
     $per_key, $fit{'256k'}, $fit{'512k'});

done_testing;
