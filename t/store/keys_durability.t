# Durable keys (webhook_zone state=DIR): keys, revocations and plan limits
# survive reload, a resizing reload, stop/start and kill -9 of master and
# workers right after the 201/204; journals with a torn tail or a corrupt
# record in the middle load (the damaged record alone is lost, one warn
# line); the state directory is compacted at start; a second nginx on the
# same directory refuses to start; a reload that changes state= is refused;
# without state= a notice says memory only.
use v5.36;
use Test::More;
use Digest::SHA qw(sha256_hex);
use WebhookTest qw(:all);
use KeysTest qw(:all);

my $ADMIN = 'admin-key-durability-t-3f0c55';

my $backend = WebhookTest::Backend->start;
# The zone's size is a variable: a resizing reload rewrites SIZE.
my %durable = (admin => $ADMIN, size => '%%SIZE%%', state => 1, guard => 1,
               vars => { BACKEND => $backend->port, SIZE => '1m' });
my $ng = api_nginx(%durable);
$ng->start;
my $state = $ng->prefix . '/state';
ok(-d $state, 'state directory created');
ok(-f "$state/snapshot", 'a snapshot is written at the first start');
ok(-f "$state/lock", 'the lock file exists');

my @secrets;
sub key($caller = $ADMIN, %f) {
    %f = (resource => 'room:1', scopes => ['read']) unless %f;
    my $k = create_key($ng, $caller, %f);
    push @secrets, $k->{key};
    return $k;
}
sub status_of($k) { return auth_get($ng, '/r', $k->{key})->{status} }
sub total() { return api($ng, 'GET', '/keys', undef, key => $ADMIN)->{json}{total} }
sub journals($dir = $state) { my @j = glob "$dir/journal-*.log"; return @j }

# The snapshot the module wrote checks out with the Perl CRC-32C: the test's
# own journal records below use the same format.
{
    my $snap = read_file("$state/snapshot");
    my ($magic, $len, $seq, $crc) = unpack 'V V Q< V', $snap;
    is($magic, 0x314a4857, 'snapshot starts with the WHJ1 magic');
    my $payload = substr $snap, 20, $len;
    like($payload, qr/"op"\s*:\s*"snapshot"/, 'snapshot header record');
    is($crc, crc32c($payload, crc32c(pack 'Q<', $seq)), 'the Perl CRC-32C matches the module\'s');
}

my $kA = key();
my $kB = key();
my $kR = key($ADMIN, resource => 'room:2', scopes => ['readwrite'], label => 'kept label',
             expires_at => time + 86400);
is(api($ng, 'PUT', '/limits/room:lim', { max_keys => 2 }, key => $ADMIN)->{status}, 200, 'PUT /limits/room:lim max_keys=2');
key($ADMIN, resource => 'room:lim', scopes => ['read']) for 1 .. 2;
is(api($ng, 'DELETE', "/keys/$kB->{id}", undef, key => $ADMIN)->{status}, 204, 'revoke kB');
ok(scalar(journals()) >= 1, 'mutations went to a journal file');
like(join(',', journals()), qr{journal-\d+-\d+-\d+\.log}, 'journal-<gen>-<serial>-<pid>.log');
{
    my $bytes = join '', map { read_file($_) } journals();
    ok(!grep({ index($bytes, $_) >= 0 } @secrets), 'no key string in the journal (only hashes)');
    like($bytes, qr/\Q${\ sha256_hex($kA->{key})}\E/, 'the journal holds the key\'s SHA-256');
}
is(status_of($kA), 200, 'kA works');
is(status_of($kB), 401, 'kB revoked');
is(total(), 4, 'four keys');

sub state_is($when) {
    is(status_of($kA), 200, "$when: kA still authenticates");
    is(status_of($kB), 401, "$when: revoked kB still refused");
    my $res = auth_get($ng, '/r', $kR->{key});
    is($res->{status}, 200, "$when: kR authenticates");
    my $g = api($ng, 'GET', "/keys/$kR->{id}", undef, key => $ADMIN)->{json};
    is_deeply([$g->{resource}, $g->{label}, $g->{scopes}, $g->{expires_at}, $g->{created_at}],
              [$kR->{resource}, $kR->{label}, $kR->{scopes}, $kR->{expires_at}, $kR->{created_at}],
              "$when: kR's resource, label, scopes, expiry and creation time are kept");
    my $lim = api($ng, 'POST', '/keys', { resource => 'room:lim', scopes => ['read'] }, key => $ADMIN);
    is($lim->{status}, 409, "$when: the room:lim limit (2) still holds");
}

# --- reload -----------------------------------------------------------------------------

$ng->reload;
state_is('after reload');
is(total(), 4, 'after reload: four keys');

# A reload cannot resize a durable zone: the old workers still append to the
# journals the new zone would be built from (their later changes would be
# missing, sequence numbers would diverge, compaction could delete them).
# The reload is refused, naming the way (README.md#webhook_zone: never lose state through
# configuration); the running configuration goes on.
{
    my @workers = $ng->worker_pids;
    my $mark = $ng->log_mark;
    $ng->write_conf(vars => { SIZE => '2m' });
    kill 'HUP', $ng->master_pid;
    my @emerg = $ng->wait_log($mark, qr/\[emerg\].*webhook_zone "wh".*restart/, 10);
    ok(@emerg, 'a reload that resizes a state= zone is refused with an emerg naming the restart') or diag($ng->log_tail);
    is_deeply([$ng->worker_pids], \@workers, 'the running workers go on');
    state_is('after the refused resizing reload');
    is(total(), 4, 'after the refused resizing reload: four keys');
}
# Nor can a reload move state= to another DIR or drop it (the zone keeps its
# name and size, so its memory would be kept): the new store would not hold
# what the old workers still write, and it is checked and loaded at start only.
for my $case (['another DIR', state => '%%PREFIX%%/state-moved'], ['no state=', state => 0]) {
    my ($what, %o) = @$case;
    my @workers = $ng->worker_pids;
    my $mark = $ng->log_mark;
    $ng->write_conf(conf => api_conf(%durable, %o), vars => { SIZE => '1m' });
    kill 'HUP', $ng->master_pid;
    my @emerg = $ng->wait_log($mark, qr/\[emerg\].*webhook_zone "wh": state= and store= change only with a restart/, 10);
    ok(@emerg, "a reload to $what is refused with an emerg naming the restart") or diag($ng->log_tail);
    my $now = $o{state} ? 'state="' . $ng->prefix . '/state-moved"' : 'no state=';
    like($emerg[0] // '', qr/\(now \Q$now\E, running state="\Q$state\E"\)/, "a reload to $what: the emerg names both");
    is_deeply([$ng->worker_pids], \@workers, "a reload to $what: the running workers go on");
    state_is("after the refused reload to $what");
}
$ng->write_conf(conf => api_conf(%durable), vars => { SIZE => '2m' });

# A restart takes the new size.
ok($ng->stop, 'stop before the resize');
$ng->start;
state_is('after a restart with the new size');
my $kS = key();
is(status_of($kS), 200, 'a key created after the resize works');

# --- stop / start -------------------------------------------------------------------------

ok($ng->stop, 'graceful stop');
$ng->start;
state_is('after stop/start');
is(total(), 5, 'after stop/start: five keys');
ok(!journals(), 'after start: no journal file left (compacted)');
ok(-s "$state/snapshot", 'after start: a snapshot');

# --- kill -9 right after the answer ------------------------------------------------------------------

my $kC = key();
$ng->kill9;
ok(!$ng->is_running, 'kill -9 right after the 201');
$ng->restart;
is(status_of($kC), 200, 'after kill -9: the key created just before authenticates');
state_is('after kill -9 #1');

is(api($ng, 'DELETE', "/keys/$kA->{id}", undef, key => $ADMIN)->{status}, 204, 'revoke kA');
$ng->kill9;
$ng->restart;
is(status_of($kA), 401, 'after kill -9: the key revoked just before is still refused');
is(status_of($kC), 200, 'after kill -9: kC still authenticates');

# A burst of creations, then kill -9 after the last answer.
my @burst = map { key() } 1 .. 15;
is(api($ng, 'DELETE', "/keys/$burst[7]{id}", undef, key => $ADMIN)->{status}, 204, 'revoke one key of the burst');
$ng->kill9;
$ng->restart;
my @st = map { status_of($_) } @burst;
is(scalar(grep { $_ == 200 } @st), 14, 'after kill -9: the 14 live keys of the burst authenticate');
is($st[7], 401, 'after kill -9: the revoked key of the burst is refused');
ok(!journals(), 'after the restart: journals compacted away');

# kill -9 in the middle of concurrent creations (group commit across both
# workers): every key that was acknowledged with a 201 survives.
{
    api($ng, 'PUT', "/limits/conc:$_", { max_keys => 1000 }, key => $ADMIN) for 0 .. 5;
    my $creators = ack_writers(6, 500, sub ($i, $k) {
        my $res = api($ng, 'POST', '/keys', { resource => "conc:$i", scopes => ['read'] }, key => $ADMIN);
        return $res->{status} == 201 ? "$res->{json}{id} $res->{json}{key}" : undef;
    });
    WebhookTest::wait_for(sub { $creators->count >= 60 }, 30);
    $ng->kill9;
    ok($creators->count < 3000, 'the creations were still going when nginx was killed');
    $creators->wait;
    my @lines = $creators->lines;
    my @ok = map { [split / /] } grep { /^key_\S+ sk_\S+$/ } @lines;
    ok(@ok >= 60, scalar(@ok) . ' keys acknowledged before kill -9 during concurrent creations');
    $ng->restart;
    my @lost = grep { status_of({ key => $_->[1] }) != 200 } @ok;
    is(scalar @lost, 0, 'after kill -9 mid-flight: every acknowledged key authenticates') or diag("lost: @{[ map { $_->[0] } @lost ]}");
    my $tot = 0;
    $tot += api($ng, 'GET', "/keys?resource=conc:$_", undef, key => $ADMIN)->{json}{total} for 0 .. 5;
    ok($tot >= @ok, "the zone holds at least the acknowledged keys ($tot >= ${\ scalar @ok})");
    push @secrets, map { $_->[1] } @ok;
}

# --- a second nginx on the same directory --------------------------------------------------------------

{
    my $other = WebhookTest::Nginx->new(conf => <<'EOF', vars => { STATE => $state, BACKEND => $backend->port });
    webhook_zone zone=wh:1m state=%%STATE%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /r { api_key_auth read; proxy_pass http://127.0.0.1:%%BACKEND%%; }
    }
EOF
    my ($exit, $out) = start_output($other);
    isnt($exit, 0, 'a second nginx on the same state directory does not start');
    my $said = $out . $other->error_log;
    like($said, qr/is in use by another nginx/, 'it says the directory is in use by another nginx') or diag($said);
    ok(!$other->is_running, 'the second nginx is not running');
    is(status_of($kC), 200, 'the first nginx keeps authenticating');
    my $kD = key();
    is(status_of($kD), 200, 'the first nginx keeps creating keys');
    ok(-f "$state/snapshot", 'the snapshot is still there');
}

{
    # The ones expected: the refused reloads (resize, state=).
    my @bad = grep { /\[(?:alert|emerg|crit)\]/ && !/changes? only with a restart/ && !/exited on signal 9/ }
              split /\n/, $ng->error_log;
    ok(!@bad, 'no [alert]/[emerg]/[crit] across reloads, restarts and kill -9 (but the refused reloads)') or diag("@bad[0..2]");
}
$ng->log_lacks($ADMIN, 'admin key not in the logs');
{
    my $log = $ng->error_log;
    ok(!grep({ index($log, $_) >= 0 } @secrets), 'no key string in the error log');
    like($log, qr/restored \d+ keys?, \d+ endpoints?, \d+ events?, .* \(\d+ records read\)/, 'the start logs what was restored');
}
$ng->stop;

# --- journals written by hand: a torn tail, a corrupt middle record ----------------------------------------

my $hand = api_nginx(%durable);
$hand->start;
my $hstate = $hand->prefix . '/state';
ok($hand->stop, 'hand: first start and stop (an empty snapshot)');

sub snapshot_seq($dir) {
    my $snap = read_file("$dir/snapshot") // '';
    return length $snap >= 20 ? unpack('Q<', substr $snap, 8, 8) : 0;
}

# Three key.put records with sequences after the snapshot's; returns (keys, records).
sub three_records($dir, $tag) {
    my $base = snapshot_seq($dir);
    my (@keys, @recs);
    for my $i (1 .. 3) {
        my $k = { id => "key_hand${tag}000000$i", key => 'sk_' . join('', map { ('A' .. 'Z', 'a' .. 'z', 0 .. 9)[rand 62] } 1 .. 40) };
        push @keys, $k;
        push @recs, journal_record($base + $i, journal_payload(%$k, resource => 'room:1', scopes => 1));
    }
    return (\@keys, \@recs);
}

sub hand_status($k) { return auth_get($hand, '/r', $k->{key})->{status} }

sub dropped_lines($mark) { return grep { /dropped \d+ bytes of .*record/ } split /\n/, $hand->log_since($mark) }

# 1. torn tail: the last record cut short
my ($t_keys, $t_recs) = three_records($hstate, 't');
my $cut = 9;
my $torn = $t_recs->[0] . $t_recs->[1] . substr($t_recs->[2], 0, length($t_recs->[2]) - $cut);
write_file("$hstate/journal-0-99999.log", $torn);
my $mark = $hand->log_mark;
$hand->start;
is(hand_status($t_keys->[0]), 200, 'torn tail: record 1 loaded, its key authenticates');
is(hand_status($t_keys->[1]), 200, 'torn tail: record 2 loaded');
is(hand_status($t_keys->[2]), 401, 'torn tail: the torn record\'s key is gone');
my @dropped = dropped_lines($mark);
is(scalar @dropped, 1, 'torn tail: one warn line about dropped bytes') or diag($hand->log_since($mark));
like($dropped[0] // '', qr/\[warn\]/, 'torn tail: at warn level');
my $torn_len = length($t_recs->[2]) - $cut;
like($dropped[0] // '', qr/dropped $torn_len bytes of torn or corrupt record/, "torn tail: dropped $torn_len bytes");
ok(!journals($hstate), 'torn tail: the journal was compacted away');
ok(-s "$hstate/snapshot", 'torn tail: a snapshot exists');
is(api($hand, 'GET', '/keys', undef, key => $ADMIN)->{json}{total}, 2, 'torn tail: two keys listed');
$hand->log_is_clean('torn tail: no [alert]/[emerg]/[crit]');
ok($hand->stop, 'torn tail: stop');

# 2. corrupt middle record (one byte of its payload flipped)
my ($c_keys, $c_recs) = three_records($hstate, 'c');
my $mid = $c_recs->[1];
substr($mid, 40, 1) = chr(ord(substr $mid, 40, 1) ^ 0x20);
write_file("$hstate/journal-0-99999.log", $c_recs->[0] . $mid . $c_recs->[2]);
$mark = $hand->log_mark;
$hand->start;
is(hand_status($c_keys->[0]), 200, 'corrupt middle: record 1 loaded');
is(hand_status($c_keys->[1]), 401, 'corrupt middle: the damaged record\'s key is gone');
is(hand_status($c_keys->[2]), 200, 'corrupt middle: record 3, after the damage, loaded');
is(hand_status($t_keys->[0]), 200, 'corrupt middle: keys from the snapshot still there');
@dropped = dropped_lines($mark);
is(scalar @dropped, 1, 'corrupt middle: one warn line about dropped bytes') or diag($hand->log_since($mark));
my $mid_len = length $mid;
like($dropped[0] // '', qr/\[warn\].*dropped $mid_len bytes/, "corrupt middle: dropped $mid_len bytes (the one record)");
ok(!journals($hstate), 'corrupt middle: the journal was compacted away');
ok(-s "$hstate/snapshot", 'corrupt middle: a snapshot exists');
is(api($hand, 'GET', '/keys', undef, key => $ADMIN)->{json}{total}, 4, 'corrupt middle: four keys listed');
$hand->log_is_clean('corrupt middle: no [alert]/[emerg]/[crit]');

# 3. an empty journal file (a crash right after its creation): still starts
ok($hand->stop, 'stop');
write_file("$hstate/journal-0-99998.log", '');
$mark = $hand->log_mark;
$hand->start;
is(hand_status($c_keys->[2]), 200, 'an empty journal file: start works, keys there');
ok(!journals($hstate), 'the empty journal was removed');
is(scalar(dropped_lines($mark)), 0, 'an empty journal is not reported as dropped bytes');
$hand->log_is_clean;

# 4. a whole record (its checksum holds) this module cannot read: another
#    version wrote it. The start is refused and DIR left as it is, rather than
#    the record dropped with the next snapshot.
ok($hand->stop, 'stop');
{
    my $snapshot_before = read_file("$hstate/snapshot");
    my $base = snapshot_seq($hstate);
    my $unreadable = journal_record($base + 1, '{"op":"key.put","id":"key_handu0000001","resource":"room:1"}');
    write_file("$hstate/journal-0-99997.log", $unreadable);
    $mark = $hand->log_mark;
    my $started = eval { $hand->start; 1 };
    ok(!$started, 'an unreadable record: nginx refuses to start');
    my @emerg = grep { /\[emerg\]/ } split /\n/, $hand->log_since($mark);
    like($emerg[0] // '', qr/cannot be read by this module.*key\.put: "hash"/,
         'an unreadable record: the [emerg] names the op and the field') or diag($hand->log_since($mark));
    is(read_file("$hstate/journal-0-99997.log"), $unreadable, 'an unreadable record: its journal is left as it is');
    is(read_file("$hstate/snapshot"), $snapshot_before, 'an unreadable record: the snapshot is left as it is');
    unlink "$hstate/journal-0-99997.log";
    $hand->start;
    is(hand_status($c_keys->[2]), 200, 'the unreadable journal moved away: start works, keys there');
}

# --- memory only ---------------------------------------------------------------------------------------------

{
    my $mem = api_nginx(admin => $ADMIN, name => 'memz', size => '1m');
    $mem->start;
    my @n = grep { /\[notice\].*memz.*memory only|\[notice\].*memory only.*memz/ } split /\n/, $mem->error_log;
    ok(@n >= 1, 'without state=: a notice says the zone is memory only') or diag($mem->log_tail);
    my $k = create_key($mem, $ADMIN, resource => 'room:1', scopes => ['read']);
    $mem->restart;
    is(api($mem, 'GET', "/keys/$k->{id}", undef, key => $ADMIN)->{status}, 404, 'without state=: a restart forgets keys');
    $mem->log_is_clean;
}

done_testing;
