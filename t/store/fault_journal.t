# The journal's disk fails (README.md#webhook_zone state=DIR, §5, §6): with write or
# fdatasync of DIR/journal-*.log failing with ENOSPC or EIO (injected at run
# time by t/fault/faultfs.c through LD_PRELOAD, nginx keeps running), every
# API mutation made during the fault answers 503 store_unavailable and is not
# in effect — not in memory, not after a restart; what was acknowledged
# before and after the fault stays, across restart and kill -9; nginx logs
# one [crit] naming the journal operation and nothing secret.
use v5.36;
use Test::More;
use Time::HiRes qw(sleep time);
use WebhookTest qw(:all);
use KeysTest qw(:all);
use DeliveryTest qw(:all);
use FaultTest;

my $ADMIN = 'admin-key-fault-journal-5e2a91';

my $fault = FaultTest->new;

my $backend = WebhookTest::Backend->start;
my $recv = DeliveryTest::ScriptedReceiver->start;
my $ng = delivery_nginx(admin => $ADMIN, size => '8m', state => 1, retries => '0s,1s', timeout => '2s', guard => 1,
                        vars => { BACKEND => $backend->port }, env => $fault->env);
$ng->start;
my $state = $ng->prefix . '/state';

sub A($method, $path, $body = undef) { return api($ng, $method, $path, $body, key => $ADMIN) }

# Everything acknowledged, checked after every fault, restart and kill -9.
my (@keys, @revoked, @hooks, @gone_hooks, @events, @secrets);
my %limit;    # resource => max_keys acknowledged

sub key_status($k) { return auth_get($ng, '/r', $k->{key})->{status} }
sub received($event_id) { return scalar grep { ($_->{headers}{'webhook-id'} // '') eq $event_id } $recv->requests }

sub new_key($resource) {
    my $res = A('POST', '/keys', { resource => $resource, scopes => ['read'] });
    return undef unless $res->{status} == 201;
    push @secrets, $res->{json}{key};
    push @keys, $res->{json};
    return $res->{json};
}

sub new_hook($tenant, $path, %f) {
    my $res = A('POST', '/webhooks', { url => $recv->url($path), events => ['*'], tenant => $tenant, %f });
    return undef unless $res->{status} == 201;
    my $h = { %{ $res->{json} }, tenant => $tenant, path => $path, secret => $res->{json}{secret}, description => $f{description} };
    push @secrets, $h->{secret};
    push @hooks, $h;
    return $h;
}

sub new_event($tenant, $type, $nonce) {
    my $res = A('POST', '/events', { type => $type, tenant => $tenant, data => { nonce => $nonce } });
    return undef unless $res->{status} == 202;
    push @events, $res->{json}{id};
    return $res->{json}{id};
}

sub nonce_count($nonce) {
    return scalar grep { ref $_->{json} eq 'HASH' && ($_->{json}{data}{nonce} // '') eq $nonce } $recv->requests;
}
sub hooks_of($tenant) { return sort map { $_->{id} } grep { $_->{tenant} eq $tenant } @hooks }
sub hook_ids($tenant) {
    my $j = A('GET', "/webhooks?tenant=$tenant")->{json};
    return sort map { $_->{id} } @{ ref $j eq 'HASH' ? $j->{webhooks} // [] : [] };
}

sub check_ledger($when) {
    my @bad_keys = grep { key_status($_) != 200 || A('GET', "/keys/$_->{id}")->{status} != 200 } @keys;
    ok(!@bad_keys, "$when: all " . scalar(@keys) . ' acknowledged keys authenticate and are listed')
        or diag('lost: ' . join ' ', map { $_->{id} } @bad_keys);
    my @bad_rev = grep { key_status($_) != 401 } @revoked;
    ok(!@bad_rev, "$when: all " . scalar(@revoked) . ' acknowledged revocations hold');
    my @bad_hooks;
    for my $h (@hooks) {
        my $g = A('GET', "/webhooks/$h->{id}");
        push @bad_hooks, $h->{id} unless $g->{status} == 200 && ($g->{json}{description} // '') eq ($h->{description} // '');
    }
    ok(!@bad_hooks, "$when: all " . scalar(@hooks) . ' acknowledged endpoints are there, as last acknowledged')
        or diag("wrong: @bad_hooks");
    my @bad_gone = grep { A('GET', "/webhooks/$_")->{status} != 404 } @gone_hooks;
    ok(!@bad_gone, "$when: acknowledged endpoint deletions hold");
    my @undelivered = grep { !received($_) } @events;
    ok(!@undelivered, "$when: all " . scalar(@events) . ' acknowledged events were delivered')
        or diag("missing: @undelivered");
}

# One round: state acknowledged before, a fault on the journal, every kind of
# mutation during it, then recovery, restart, kill -9.
sub round($n, $ops, $errno, $op_re) {
    my $label = "[$ops $errno]";
    my $tenant = "t$n";
    # --- acknowledged before the fault
    my $k1 = new_key("room:$n") or BAIL_OUT("$label POST /keys failed before the fault");
    my $kd = new_key("room:$n") or BAIL_OUT('POST /keys');
    my $w1 = new_hook($tenant, "/in$n", description => 'before') or BAIL_OUT('POST /webhooks');
    my $w2 = new_hook($tenant, "/other$n", description => 'second') or BAIL_OUT('POST /webhooks');
    is(A('PUT', "/limits/lim$n", { max_keys => 3 })->{status}, 200, "$label PUT /limits/lim$n max_keys=3 before the fault");
    my $e1 = new_event($tenant, 'before.fault', "e1-$n") or BAIL_OUT('POST /events');
    my $d1 = wait_delivery($ng, $ADMIN, $w1->{id}, $e1);
    is($d1 && $d1->{status}, 'succeeded', "$label event before the fault delivered");
    sleep 0.5;    # the attempt's outcome record is written too
    my @pids = $ng->worker_pids;
    my $mark = $ng->log_mark;
    my $hits0 = $fault->hit_count;
    my $recv0 = $recv->count;

    # --- the fault
    $fault->set(ops => $ops, errno => $errno, path => '/state/journal-');
    my @fail;
    my $check = sub ($what, $res) {
        is($res->{status}, 503, "$label $what answers 503") or diag($res->{content});
        is(error_code($res), 'store_unavailable', "$label $what: code store_unavailable");
        push @fail, $what;
    };
    $check->('POST /keys', my $rk = A('POST', '/keys', { resource => "fault:$n", scopes => ['read'], label => 'during' }));
    push @secrets, $rk->{json}{key} if $rk->{json} && $rk->{json}{key};
    $check->('DELETE /keys/{id}', A('DELETE', "/keys/$kd->{id}"));
    $check->('PUT /limits', A('PUT', "/limits/lim$n", { max_keys => 1 }));
    $check->('POST /webhooks', my $rw = A('POST', '/webhooks', { url => $recv->url("/fault$n"), events => ['*'], tenant => $tenant }));
    $check->('PATCH /webhooks/{id}', A('PATCH', "/webhooks/$w1->{id}", { description => 'during the fault' }));
    $check->('rotate-secret', A('POST', "/webhooks/$w1->{id}/rotate-secret"));
    $check->('DELETE /webhooks/{id}', A('DELETE', "/webhooks/$w2->{id}"));
    $check->('POST /events', A('POST', '/events', { type => 'during.fault', tenant => $tenant, data => { nonce => "f-$n" } }));
    $check->('POST /deliveries/{id}/replay', A('POST', "/deliveries/$d1->{id}/replay"));
    my $idem = { type => 'idem.fault', tenant => $tenant, data => { nonce => "i-$n" } };
    $check->('POST /events with Idempotency-Key',
             api($ng, 'POST', '/events', $idem, key => $ADMIN, headers => { 'Idempotency-Key' => "idem-$n" }));
    cmp_ok($fault->hit_count, '>', $hits0, "$label the interposer failed journal calls");
    my @stray = grep { $_->{path} !~ m{/state/journal-[\d-]+\.log$} } $fault->hits;
    ok(!@stray, "$label ... and only calls on journal files") or diag(join ' ', map { "$_->{op}:$_->{path}" } @stray);

    # The answers and the effects agree: nothing of the above is in effect.
    my $fk = A('GET', "/keys?resource=fault:$n")->{json};
    is($fk && $fk->{total}, 0, "$label the key created during the fault is not listed");
    is(key_status($rk->{json}), 401, "$label ... and does not authenticate") if $rk->{json} && $rk->{json}{key};
    is(key_status($kd), 200, "$label the key whose revocation failed still authenticates");
    is(A('GET', "/keys/$kd->{id}")->{status}, 200, "$label ... and is still listed");
    is_deeply([hook_ids($tenant)], [sort $w1->{id}, $w2->{id}],
              "$label the endpoint created during the fault is not listed (and the one not deleted is)");
    is(A('GET', "/webhooks/$w1->{id}")->{json}{description}, 'before', "$label the failed PATCH changed nothing");
    is(A('GET', "/webhooks/$w2->{id}")->{status}, 200, "$label the endpoint whose deletion failed is still there");
    sleep 3;    # retries=0s: a delivery would have come by now
    is(nonce_count("f-$n"), 0, "$label the event published during the fault is not delivered");
    is(nonce_count("i-$n"), 0, "$label the event published with an Idempotency-Key during the fault is not delivered");
    is($recv->count - $recv0, 0, "$label nothing was delivered: no event, no replay");
    ok(!grep({ $_->{event} eq 'during.fault' } @{ deliveries_of($ng, $ADMIN, $w1->{id}, limit => 1000) }),
       "$label the event published during the fault has no delivery");

    # nginx stays up and says what failed.
    ok($ng->is_running, "$label nginx is running");
    is_deeply([$ng->worker_pids], \@pids, "$label the same worker processes (none crashed)");
    my @crit = grep { /\[crit\]/ && /journal/ && /$op_re/ } split /\n/, $ng->log_since($mark);
    ok(@crit, "$label a [crit] line names the journal operation");
    my $why = FaultTest::strerror($errno);
    ok(grep({ /\Q$why\E/ } @crit), "$label ... with the errno ($why)") or diag(join "\n", @crit[0 .. ($#crit < 2 ? $#crit : 2)]);
    my @bad = grep { /\[(?:alert|emerg)\]/ } split /\n/, $ng->log_since($mark);
    ok(!@bad, "$label no [alert]/[emerg]") or diag(join "\n", @bad);

    # --- the fault clears
    $fault->clear;
    my $k2 = new_key("room:$n");
    ok($k2, "$label POST /keys succeeds after the fault");
    is($k2 && key_status($k2), 200, "$label ... and the key authenticates");
    ok(new_key("lim$n") && new_key("lim$n"), "$label two keys for lim$n: the failed max_keys=1 is not in effect");
    my $patch = A('PATCH', "/webhooks/$w1->{id}", { description => 'after' });
    is($patch->{status}, 200, "$label PATCH after the fault");
    $w1->{description} = 'after' if $patch->{status} == 200;
    my $rev = is(A('DELETE', "/keys/$kd->{id}")->{status}, 204, "$label revocation after the fault");
    @keys = grep { $_ != $kd } @keys;    # without a 204, its state is unknown: checked no more
    push @revoked, $kd if $rev;
    my $e2 = new_event($tenant, 'after.fault', "e2-$n");
    ok($e2, "$label POST /events after the fault");
    my $d2 = $e2 && wait_delivery($ng, $ADMIN, $w1->{id}, $e2);
    is($d2 && $d2->{status}, 'succeeded', "$label ... delivered");
    my ($req) = grep { ($_->{headers}{'webhook-id'} // '') eq ($e2 // '') } $recv->requests("/in$n");
    ok($req && standard_verify($w1->{secret}, $req), "$label signed with the endpoint's original secret");
    my @sigs = split / /, ($req && $req->{headers}{'webhook-signature'}) // '';
    is(scalar @sigs, 1, "$label one signature: the failed rotation is not in effect");
    # The client retries its failed publish with the same Idempotency-Key: a new, durable event.
    my $retry = api($ng, 'POST', '/events', $idem, key => $ADMIN, headers => { 'Idempotency-Key' => "idem-$n" });
    is($retry->{status}, 202, "$label the Idempotency-Key retry after the fault: 202");
    my $idem_id = $retry->{status} == 202 && $retry->{json} ? $retry->{json}{id} : undef;
    push @events, $idem_id if $idem_id;
    ok($idem_id && wait_until(sub { received($idem_id) }, 10), "$label ... and that event is delivered");
    my $w3 = new_hook($tenant, "/late$n", description => 'late');
    ok($w3, "$label POST /webhooks after the fault");

    check_ledger("$label fault cleared, same processes");

    # --- restart, then kill -9 + start: the same state
    my $fault_seen = nonce_count("f-$n");
    $ng->restart;
    check_ledger("$label after restart");
    is(A('GET', "/keys?resource=fault:$n")->{json}{total}, 0, "$label after restart: the failed key creation stays undone");
    is_deeply([hook_ids($tenant)], [hooks_of($tenant)], "$label after restart: the endpoints acknowledged, no more");
    is(A('GET', "/webhooks/$w2->{id}")->{status}, 200, "$label after restart: the endpoint whose deletion failed is there");
    ok($idem_id && delivery_for($ng, $ADMIN, $w1->{id}, $idem_id), "$label after restart: the event acknowledged to the Idempotency-Key retry is on disk");
    sleep 2;
    is(nonce_count("f-$n") - $fault_seen, 0, "$label after restart: the failed event is not delivered (again)");
    # an acknowledged deletion (with its 204) holds through the restarts below
    my $del = is(A('DELETE', "/webhooks/$w2->{id}")->{status}, 204, "$label DELETE /webhooks after restart");
    @hooks = grep { $_ != $w2 } @hooks;
    push @gone_hooks, $w2->{id} if $del;
    $ng->kill9;
    $ng->start;
    check_ledger("$label after kill -9 and start");
    is(A('GET', "/keys?resource=fault:$n")->{json}{total}, 0, "$label after kill -9: the failed key creation stays undone");
    is_deeply([hook_ids($tenant)], [hooks_of($tenant)], "$label after kill -9: the endpoints acknowledged, no more");
}

round(1, 'writes', 'ENOSPC', qr/\bwrite/);
round(2, 'fsync,fdatasync', 'EIO', qr/\b(?:fdatasync|fsync)\b/);
round(3, 'writes', 'EIO', qr/\bwrite/);
round(4, 'fsync,fdatasync', 'ENOSPC', qr/\b(?:fdatasync|fsync)\b/);

my $log = $ng->error_log . (read_file($ng->prefix . '/access.log') // '');
my @leaked = grep { defined && length && index($log, $_) >= 0 } @secrets, $ADMIN;
ok(!@leaked, 'no key, endpoint secret or admin key in the logs');
ok(!grep({ /\[(?:alert|emerg)\]/ } split /\n/, $ng->error_log), 'no [alert]/[emerg] in the whole run');
$ng->stop;
done_testing;
