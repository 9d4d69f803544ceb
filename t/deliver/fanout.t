# Fan-out (README.md#the-delivery-model): filters (exact, room.*, *) and tenants decide who gets
# what; disabled endpoints receive nothing; a deleted endpoint's pending
# attempts are dropped. webhook_emit: a proxied 2xx with if= non-empty and not
# 0 publishes; 4xx/5xx, if=0 or empty publish nothing; data= that is not JSON
# arrives as a JSON string.
use v5.36;
use Test::More;
use Time::HiRes qw(sleep time);
use WebhookTest qw(:all);
use KeysTest qw(:all);
use DeliveryTest qw(:all);

my $ADMIN = 'admin-key-delivery-fanout-0b6e';

my $recv = DeliveryTest::ScriptedReceiver->start;
my $backend = WebhookTest::Backend->start;
my $ng = delivery_nginx(admin => $ADMIN, vars => { BACKEND => $backend->port }, locations => <<'EOF');
        location /app {
            proxy_pass http://127.0.0.1:%%BACKEND%%;
            webhook_emit room.on_air tenant=$arg_org data=$request_body if=$arg_emit;
        }
        location /always {
            proxy_pass http://127.0.0.1:%%BACKEND%%;
            webhook_emit ticket.sold tenant=emit data=$request_body;
            webhook_emit ticket.audit tenant=emit;
        }
        location /args {
            proxy_pass http://127.0.0.1:%%BACKEND%%;
            webhook_emit room.renamed tenant=emit data=$arg_name;
        }
EOF
$ng->start;

my %W;
my %spec = (
    a_all     => ['tenant-a', ['*']],
    a_room    => ['tenant-a', ['room.*']],
    a_exact   => ['tenant-a', ['room.on_air']],
    a_ticket  => ['tenant-a', ['ticket.sold', 'ticket.refunded']],
    a_off     => ['tenant-a', ['*'], JSON::PP::false()],
    a_patched => ['tenant-a', ['*']],
    b_all     => ['tenant-b', ['*']],
    b_room    => ['tenant-b', ['room.on_air']],
);
for my $name (sort keys %spec) {
    my ($tenant, $events, $enabled) = @{ $spec{$name} };
    $W{$name} = create_webhook($ng, $ADMIN, url => $recv->url("/$name"), events => $events, tenant => $tenant,
                               (defined $enabled ? (enabled => $enabled) : ()));
}
my $res = api($ng, 'PATCH', "/webhooks/$W{a_patched}{id}", { enabled => JSON::PP::false() }, key => $ADMIN);
ok(!$res->{json}{enabled}, 'a_patched disabled through PATCH');

# tenant A: type => who must get it
my @cases = (
    ['tenant-a', 'room.on_air',     [qw(a_all a_room a_exact)]],
    ['tenant-a', 'room.off_air',    [qw(a_all a_room)]],
    ['tenant-a', 'ticket.sold',     [qw(a_all a_ticket)]],
    ['tenant-a', 'ticket.refunded', [qw(a_all a_ticket)]],
    ['tenant-a', 'room',            [qw(a_all)]],
    ['tenant-a', 'roomy.x',         [qw(a_all)]],
    ['tenant-a', 'room.on_air.x',   [qw(a_all a_room)]],
    ['tenant-b', 'room.on_air',     [qw(b_all b_room)]],
    ['tenant-b', 'ticket.sold',     [qw(b_all)]],
    ['tenant-c', 'room.on_air',     []],
);
my %expect;   # endpoint => [event ids]
my $kpa = create_key($ng, $ADMIN, resource => 'tenant-a', scopes => ['events:publish']);
for my $c (@cases) {
    my ($tenant, $type, $who) = @$c;
    # tenant A's events through its own events:publish key (no tenant field)
    my $ev = $tenant eq 'tenant-a' ? publish($ng, $kpa->{key}, type => $type, data => { t => $type })
                                   : publish($ng, $ADMIN, type => $type, tenant => $tenant, data => { t => $type });
    is($ev->{deliveries}, scalar @$who, "$tenant $type: $ev->{deliveries} deliveries (want " . scalar(@$who) . ')');
    push @{ $expect{$_} }, $ev->{id} for @$who;
}
my $want_total = 0;
$want_total += @$_ for values %expect;
wait_for(sub { $recv->count >= $want_total }, 15);
sleep 1;   # anything extra would show up now
for my $name (sort keys %spec) {
    my @got = map { $_->{headers}{'webhook-id'} } $recv->requests("/$name");
    is_deeply([sort @got], [sort @{ $expect{$name} // [] }], "$name got exactly its events");
}
my @b = $recv->requests('/b_all');
ok(!grep({ my $id = $_->{headers}{'webhook-id'}; grep { $_ eq $id } @{ $expect{a_all} } } @b),
   "tenant-b's endpoints received no event of tenant-a");
is(scalar $recv->requests('/a_off'), 0, 'an endpoint created disabled received nothing');
is(scalar $recv->requests('/a_patched'), 0, 'an endpoint disabled by PATCH received nothing');
my @all = $recv->requests;
my %secret_of = map { ("/$_" => $W{$_}{secret}) } keys %W;
my @v = map { my $r = $_; library_verify($secret_of{ $r->{path} }, $r) } @all;
is(scalar(grep { $_->{standardwebhooks} eq '1' && $_->{svix} eq '1' } @v), scalar @all,
   'every fanned-out delivery verifies with its own endpoint\'s secret (standardwebhooks, svix)');

# Re-enabled: gets the next events, not the ones published while disabled.
api($ng, 'PATCH', "/webhooks/$W{a_patched}{id}", { enabled => JSON::PP::true() }, key => $ADMIN);
my $ev = publish($ng, $ADMIN, type => 'room.on_air', tenant => 'tenant-a', data => {});
is($ev->{deliveries}, 4, 're-enabled endpoint is among the targets again');
my @rp = $recv->wait_requests('/a_patched', 1);
is(scalar @rp, 1, 're-enabled: it gets exactly the new event');
is($rp[0]{headers}{'webhook-id'}, $ev->{id}, 're-enabled: the new event');

# A manage key of tenant B cannot see tenant A's deliveries.
my $kb = create_key($ng, $ADMIN, resource => 'tenant-b', scopes => ['webhooks:manage']);
my $da = delivery_for($ng, $ADMIN, $W{a_all}{id}, $expect{a_all}[0]);
ok($da, 'a delivery of tenant A exists');
is(api($ng, 'GET', "/deliveries/$da->{id}", undef, key => $kb->{key})->{status}, 404, "tenant B's key: GET tenant A's delivery 404");
is(api($ng, 'GET', "/webhooks/$W{a_all}{id}/deliveries", undef, key => $kb->{key})->{status}, 404, "tenant B's key: tenant A's deliveries list 404");

# --- a deleted endpoint: pending attempts dropped --------------------------------------------------

$recv->script('/doomed', [{ status => 429, headers => { 'Retry-After' => '2' } }]);
my $doomed = create_webhook($ng, $ADMIN, url => $recv->url('/doomed'), events => ['*'], tenant => 'doomed');
$ev = publish($ng, $ADMIN, type => 'room.on_air', tenant => 'doomed', data => {});
$recv->wait_requests('/doomed', 1);
my $dd = wait_until(sub { my $x = delivery_for($ng, $ADMIN, $doomed->{id}, $ev->{id}); $x && $x->{attempts} >= 1 ? $x : undef }, 5);
ok($dd && $dd->{status} eq 'pending', 'the delivery is pending a retry');
is(api($ng, 'DELETE', "/webhooks/$doomed->{id}", undef, key => $ADMIN)->{status}, 204, 'DELETE the endpoint meanwhile');
sleep 3.5;
is(scalar $recv->requests('/doomed'), 1, 'nothing arrives after DELETE (the retry was dropped)');
is(api($ng, 'GET', "/deliveries/$dd->{id}", undef, key => $ADMIN)->{status}, 404, 'its deliveries are gone');

# Deleted while an attempt is in flight.
$recv->script('/inflight', [{ status => 500, sleep => 1.5 }]);
my $inf = create_webhook($ng, $ADMIN, url => $recv->url('/inflight'), events => ['*'], tenant => 'inflight');
publish($ng, $ADMIN, type => 'room.on_air', tenant => 'inflight', data => {});
$recv->wait_requests('/inflight', 1);
is(api($ng, 'DELETE', "/webhooks/$inf->{id}", undef, key => $ADMIN)->{status}, 204, 'DELETE during an attempt in flight');
sleep 3.5;
is(scalar $recv->requests('/inflight'), 1, 'no retry after the in-flight attempt ends');
ok($ng->is_running && scalar($ng->worker_pids) == 2, 'workers still running');

# --- webhook_emit --------------------------------------------------------------------------------------

my $ea = create_webhook($ng, $ADMIN, url => $recv->url('/emit-acme'), events => ['*'], tenant => 'acme');
my $ed = create_webhook($ng, $ADMIN, url => $recv->url('/emit-default'), events => ['*'], tenant => 'default');
my $ee = create_webhook($ng, $ADMIN, url => $recv->url('/emit'), events => ['*'], tenant => 'emit');

my @calls = (
    # [query, backend status, body, emits?]
    ['?org=acme&emit=1', 200, '{"room":"r1","on_air":true}', 1],
    ['?org=acme&emit=yes', 201, 'not json at all', 1],
    ['?org=acme&emit=0', 200, '{"skip":"if=0"}', 0],
    ['?org=acme&emit=', 200, '{"skip":"if empty"}', 0],
    ['?org=acme', 200, '{"skip":"if absent"}', 0],
    ['?org=acme&emit=1', 500, '{"skip":"500"}', 0],
    ['?org=acme&emit=1', 404, '{"skip":"404"}', 0],
    ['?org=acme&emit=1', 302, '{"skip":"302"}', 0],
    ['?emit=1', 200, '[1,2,3]', 1],   # no tenant: "default"
);
for my $c (@calls) {
    my ($q, $status, $body, $emits) = @$c;
    my $r = http_post($ng->url("/app$q"), $body, { 'X-Backend-Status' => $status, 'Content-Type' => 'application/json' });
    is($r->{status}, $status, "/app$q with the app answering $status: the client gets $status");
}
my @acme = $recv->wait_requests('/emit-acme', 2);
my @dflt = $recv->wait_requests('/emit-default', 1);
sleep 1;
@acme = $recv->requests('/emit-acme');
is(scalar @acme, 2, 'webhook_emit: only the 2xx calls with if= set published (tenant acme)');
my %by_data = map { (ref $_->{json}{data} ? WebhookTest::json_encode($_->{json}{data}) : $_->{json}{data}) => $_ } @acme;
ok($by_data{ WebhookTest::json_encode({ room => 'r1', on_air => JSON::PP::true() }) }, 'webhook_emit: a JSON body arrives as JSON');
ok($by_data{'not json at all'}, 'webhook_emit: a non-JSON body arrives as a JSON string');
ok(!grep({ ref $_->{json}{data} eq 'HASH' && $_->{json}{data}{skip} } @acme), 'webhook_emit: nothing from if=0, empty if=, 4xx, 5xx, 3xx');
is($acme[0]{json}{type}, 'room.on_air', 'webhook_emit: the type of the directive');
is(scalar(my @x = $recv->requests('/emit-default')), 1, 'webhook_emit without tenant: tenant default');
is_deeply($dflt[0]{json}{data}, [1, 2, 3], 'webhook_emit: a JSON array body arrives as JSON');
my @ev_ok = map { library_verify($ea->{secret}, $_) } @acme;
is(scalar(grep { $_->{standardwebhooks} eq '1' && $_->{svix} eq '1' } @ev_ok), 2, 'webhook_emit: deliveries verify with the libraries');

# Two webhook_emit in one location, no if=; data absent → null; a string from $arg_.
http_post($ng->url('/always'), '{"seat":"1A"}', { 'Content-Type' => 'application/json' });
http_post($ng->url('/always'), '{"seat":"fail"}', { 'Content-Type' => 'application/json', 'X-Backend-Status' => 503 });
http_request('GET', $ng->url('/args?name=Studio%20B'));
my @em = $recv->wait_requests('/emit', 3);
sleep 1;
@em = $recv->requests('/emit');
is(scalar @em, 3, 'two webhook_emit on a 2xx: both publish; a 503 publishes nothing; /args publishes');
my %types = map { $_->{json}{type} => $_->{json} } @em;
is_deeply($types{'ticket.sold'}{data}, { seat => '1A' }, 'ticket.sold with the body as data');
ok(exists $types{'ticket.audit'} && !defined $types{'ticket.audit'}{data}, 'without data=: data is null');
ok(defined $types{'room.renamed'}{data} && !ref $types{'room.renamed'}{data}, 'data=$arg_name (not JSON): a JSON string');

# A body larger than client_body_buffer_size (16k here): webhook_emit raises
# the location's buffer to max_payload, so $request_body still sees it.
{
    my $big = WebhookTest::json_encode({ pad => 'p' x 20000 });
    my $before = $recv->count('/emit');
    http_post($ng->url('/always'), $big, { 'Content-Type' => 'application/json' });
    my @bg = $recv->wait_requests('/emit', $before + 2, 5);
    my ($sold) = grep { $_->{json}{type} eq 'ticket.sold' } @bg[$before .. $#bg];
    is_deeply($sold && $sold->{json}{data}, { pad => 'p' x 20000 }, 'webhook_emit: a 20 kB body (in a temp file) arrives whole');
}

# --- a disabled endpoint's backlog does not hold up other endpoints ---------------------------------
# More pending deliveries of a disabled endpoint than the dispatcher scans per
# tick (here: /test on a disabled endpoint, 1040 times) must not stop the
# delivery of everyone else's events; re-enabled, it gets its backlog.

my $off = create_webhook($ng, $ADMIN, url => $recv->url('/backlog'), events => ['*'], tenant => 'backlog',
                         enabled => JSON::PP::false());
my @rc = KeysTest::in_children(8, sub ($i) {
    for (1 .. 130) {
        api($ng, 'POST', "/webhooks/$off->{id}/test", undef, key => $ADMIN)->{status} == 202 or die;
    }
});
is_deeply(\@rc, [(0) x 8], '1040 test events queued for a disabled endpoint');
my $busy = create_webhook($ng, $ADMIN, url => $recv->url('/busy'), events => ['*'], tenant => 'busy');
$ev = publish($ng, $ADMIN, type => 'room.on_air', tenant => 'busy', data => {});
is(scalar $recv->wait_requests('/busy', 1, 8), 1, 'another endpoint still gets its event behind the disabled backlog');
is(scalar $recv->requests('/backlog'), 0, 'the disabled endpoint got nothing');
api($ng, 'PATCH', "/webhooks/$off->{id}", { enabled => JSON::PP::true() }, key => $ADMIN);
is(scalar $recv->wait_requests('/backlog', 1040, 40), 1040, 're-enabled: the whole backlog is delivered');

$ng->log_is_clean;
for my $w (values %W, $ea, $ed, $ee) {
    (my $b = $w->{secret}) =~ s/^whsec_//;
    $ng->log_lacks($b, 'no endpoint secret in the logs') or last;
}

done_testing;
