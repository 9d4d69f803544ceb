# Journal faults beyond a plain failing write (README.md#webhook_zone, README.md#rest-api): the journal file
# cannot be created (open with O_CREAT) or its directory not fsynced; a single
# failed batch (the journal must recover by itself, no operator action); a
# short write that leaves a torn record before the next acknowledged one; an
# fdatasync that fails once (the record is in the file but the API said it
# failed: it must not come back at the next start); concurrent requests in
# one failing group commit. Faults injected at run time by t/fault/faultfs.c.
use v5.36;
use Test::More;
use Time::HiRes qw(sleep);
use WebhookTest qw(:all);
use KeysTest qw(:all);
use FaultTest;

my $ADMIN = 'admin-key-fault-edge-0d93b7';
my $fault = FaultTest->new;
my $backend = WebhookTest::Backend->start;
my $ng = api_nginx(admin => $ADMIN, size => '4m', state => 1, guard => 1, vars => { BACKEND => $backend->port },
                   env => $fault->env);
$ng->start;
my $state = $ng->prefix . '/state';

sub A($method, $path, $body = undef) { return api($ng, $method, $path, $body, key => $ADMIN) }
sub listed($resource) { my $j = A('GET', "/keys?resource=$resource")->{json}; return ref $j eq 'HASH' ? $j->{total} : -1 }
sub post_key($resource) { return A('POST', '/keys', { resource => $resource, scopes => ['read'] }) }

my @acked;    # every key acknowledged (201): must authenticate at the end
my @secrets;
sub acked_key($resource, $what) {
    my $res = post_key($resource);
    my $ok = is($res->{status}, 201, $what);
    if ($ok) { push @acked, $res->{json}; push @secrets, $res->{json}{key} }
    return $ok ? $res->{json} : undef;
}
sub failed_key($resource, $what) {
    my $res = post_key($resource);
    push @secrets, $res->{json}{key} if ref $res->{json} eq 'HASH' && $res->{json}{key};
    is($res->{status}, 503, "$what: 503") or diag($res->{content});
    is(error_code($res), 'store_unavailable', "$what: store_unavailable");
    return $res;
}
sub all_acked_work($when) {
    my @bad = grep { auth_get($ng, '/r', $_->{key})->{status} != 200 } @acked;
    ok(!@bad, "$when: all " . scalar(@acked) . ' acknowledged keys authenticate') or diag('lost: ' . join ' ', map { $_->{id} } @bad);
}
sub crit_since($mark, $re) { return grep { /\[crit\]/ && /$re/ } split /\n/, $ng->log_since($mark) }

# --- 1. the journal file cannot be created ---------------------------------------
# Fresh workers have not opened their journal yet: the first mutation opens it.
{
    my $mark = $ng->log_mark;
    $fault->set(ops => 'open', errno => 'ENOSPC', path => '/state/journal-');
    failed_key('open:1', 'journal open(O_CREAT) fails');
    is(listed('open:1'), 0, 'journal open fails: the key is not listed');
    ok($fault->hit_count >= 1, 'the interposer refused the journal file');
    ok(crit_since($mark, qr/journal.*\bopen\b.*No space left on device/), '[crit] names the journal open and the errno');
    is(scalar(my @j = glob "$state/journal-*.log"), 0, 'no journal file was created');
    $fault->clear;
    acked_key('open:2', 'after the fault: the journal is created, POST /keys 201');
    is(listed('open:1'), 0, 'the failed key is still not listed');
}

# --- 2. the directory fsync after creating a new journal file fails ----------------
# A restart gives new workers, hence new journal files.
{
    $ng->restart;
    my $mark = $ng->log_mark;
    # fsync only: the journal's records are synced with fdatasync; the directory with fsync.
    $fault->set(ops => 'fsync', errno => 'EIO', path => $state);
    my $res = post_key('dirsync:1');
    my $hit = grep { $_->{op} eq 'fsync' && $_->{path} eq $state } $fault->hits;
    if ($hit) {
        is($res->{status}, 503, 'directory fsync of a new journal fails: 503') or diag($res->{content});
        is(error_code($res), 'store_unavailable', 'directory fsync fails: store_unavailable');
        is(listed('dirsync:1'), 0, 'directory fsync fails: the key is not listed');
        ok(crit_since($mark, qr/journal.*(?:fsync|director)/), '[crit] names the directory fsync');
    } else {
        # The module did not fsync DIR for its new journal file: the file's name may be lost in a crash.
        fail('a new journal file is made durable with an fsync of DIR');
        diag("status $res->{status}");
    }
    $fault->clear;
    acked_key('dirsync:2', 'after the fault: POST /keys 201');
}

# --- 3. one failed batch: the journal recovers by itself -------------------------------
{
    my $mark = $ng->log_mark;
    my $hits = $fault->hit_count;
    $fault->set(ops => 'writes', errno => 'EIO', path => '/state/journal-', count => 1);
    failed_key('once:1', 'one failing write');
    acked_key('once:2', 'the next mutation, fault not cleared (count=1 spent): 201');
    acked_key('once:3', 'and the next');
    is($fault->hit_count - $hits, 1, 'exactly one call was failed');
    is(listed('once:1'), 0, 'the failed key is not listed');
    is(scalar(crit_since($mark, qr/journal.*write/)), 1, 'one [crit] for the one failed batch');
    $fault->clear;
}

# --- 4. a short write (torn record) then an acknowledged record in the same file --------
{
    my $mark = $ng->log_mark;
    $fault->set(ops => 'writes', errno => 'ENOSPC', path => '/state/journal-', count => 1, short => 30);
    failed_key('torn:1', 'short write then ENOSPC');
    my @short = grep { defined $_->{short} } $fault->hits;
    ok(@short, 'the interposer wrote a torn record (' . ($short[-1] ? $short[-1]{short} : 0) . ' bytes)');
    acked_key('torn:2', 'next mutation after the torn record: 201');
    $fault->clear;
    is(listed('torn:1'), 0, 'the failed key is not listed');
}

# --- 5. fdatasync fails once: the record is in the file, the API said 503 ---------------
{
    my $mark = $ng->log_mark;
    $fault->set(ops => 'fsync,fdatasync', errno => 'EIO', path => '/state/journal-', count => 1);
    failed_key('sync:1', 'one failing fdatasync');
    acked_key('sync:2', 'the next mutation: 201');
    $fault->clear;
    ok(crit_since($mark, qr/journal.*\b(?:fdatasync|fsync)\b.*Input\/output error/), '[crit] names the journal fdatasync');
    is(listed('sync:1'), 0, 'the key whose fdatasync failed is not listed');
}

# --- 6. concurrent requests in failing group commits ----------------------------------------
my $N = 12;
{
    $fault->set(ops => 'writes', errno => 'ENOSPC', path => '/state/journal-');
    my $dir = $fault->dir;
    in_children($N, sub ($i) {
        my $res = post_key("group:$i");
        write_file("$dir/group.$i", $res->{status} . ' ' . (error_code($res) // ''));
    });
    my @answers = map { read_file("$dir/group.$_") // 'none' } 0 .. $N - 1;
    is(scalar(grep { $_ eq '503 store_unavailable' } @answers), $N, "$N concurrent POST /keys during the fault: all 503")
        or diag("@answers");
    is(scalar(grep { listed("group:$_") != 0 } 0 .. $N - 1), 0, 'none of them is listed');
    $fault->clear;
    in_children($N, sub ($i) {
        my $res = post_key("group2:$i");
        write_file("$dir/group2.$i", WebhookTest::json_encode({ status => $res->{status}, json => $res->{json} }));
    });
    my @ok = grep { $_ && $_->{status} == 201 } map { json_decode(read_file("$dir/group2.$_") // '') } 0 .. $N - 1;
    is(scalar @ok, $N, "$N concurrent POST /keys after the fault: all 201");
    for (@ok) { push @acked, $_->{json}; push @secrets, $_->{json}{key} }
}

# --- nothing lost, nothing resurrected: restart and kill -9 -----------------------------------
ok($ng->is_running, 'nginx kept running');
all_acked_work('before restart');
for my $how ('restart', 'kill -9 and start') {
    if ($how eq 'restart') { $ng->restart } else { $ng->kill9; $ng->start }
    all_acked_work("after $how");
    my @back = grep { listed($_) != 0 } qw(open:1 dirsync:1 once:1 torn:1 sync:1), map { "group:$_" } 0 .. $N - 1;
    ok(!@back, "after $how: no key whose creation failed came back") or diag("back: @back");
    my @lost = grep { listed($_) != 1 } qw(open:2 dirsync:2 once:2 once:3 torn:2 sync:2);
    ok(!@lost, "after $how: every acknowledged key is listed once") or diag("lost: @lost");
}
acked_key('end:1', 'a mutation after all that: 201');
$ng->restart;
all_acked_work('final restart');

my @bad = grep { /\[(?:alert|emerg)\]/ } split /\n/, $ng->error_log;
ok(!@bad, 'no [alert]/[emerg]') or diag(join "\n", @bad);
my $logs = $ng->error_log . (read_file($ng->prefix . '/access.log') // '');
ok(!grep({ index($logs, $_) >= 0 } @secrets), 'no key string in the logs');
$ng->stop;
done_testing;
