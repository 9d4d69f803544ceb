# Hardening of the zone's bounds (README.md#webhook_zone): no part of the zone starves
# another.
#  - A flood of verified webhooks (replay=) in a 64k zone: the replay cache
#    has its own bound (evicts its oldest ids); POST /keys and POST /webhooks
#    still answer 201, existing keys still authenticate, recent ids are still
#    refused as replayed.
#  - One tenant's backlog to a dead endpoint: a tenant over max_pending gets
#    429 backlog_full on POST /events (PUT /limits/{tenant} {"max_pending":N});
#    another tenant's POST /webhooks, POST /keys and POST /events still work,
#    also when the flooding tenant has no explicit bound and the zone is small.
use v5.36;
use Test::More;
use Time::HiRes qw(time);
use WebhookTest qw(:all);
use KeysTest qw(api create_key auth_get);

my $ADMIN = 'admin-key-harden-bounds-91c2';
my $GH = 'harden-bounds-gh-secret';

# --- 2. the replay cache does not starve the zone ----------------------------------------------

{
    my $ng = WebhookTest::Nginx->new(vars => { ADMIN => $ADMIN, GH => $GH }, conf => <<'EOF');
    webhook_zone zone=wz:64k;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /v1/ { webhook_api admin_key=%%ADMIN%%; }
        location /gh  { webhook_verify github secret=%%GH%% replay=wz; proxy_pass http://127.0.0.1:%%PORT2%%; }
        location /r   { api_key_auth read; proxy_pass http://127.0.0.1:%%PORT2%%; }
    }
    server {
        listen 127.0.0.1:%%PORT2%%;
        location / { return 200 "app\n"; }
    }
EOF
    $ng->start;
    my $k0 = create_key($ng, $ADMIN, resource => 'room:1', scopes => ['read']);
    is(auth_get($ng, '/r', $k0->{key})->{status}, 200, 'replay flood: a key made before the flood works');

    my (%status, $last_body, $last_h);
    my $t0 = time;
    for my $i (1 .. 1500) {
        my $body = qq({"action":"push","n":$i,"ref":"refs/heads/main","pad":") . ('p' x 40) . qq("}\n);
        my $h = sign_github($GH, $body, sprintf('flood-%06d-5e1c', $i));
        my $res = http_post($ng->url('/gh'), $body, $h);
        $status{ $res->{status} }++;
        ($last_body, $last_h) = ($body, $h);
    }
    diag(sprintf 'replay flood: 1500 POSTs in %.1f s: %s', time - $t0, join ', ', map { "$_ x$status{$_}" } sort keys %status);
    is($status{200} // 0, 1500, 'replay flood: all 1500 distinct verified messages were accepted');

    my $res;
    my @st = map {
        api($ng, 'POST', '/keys', { resource => "room:after$_", scopes => ['read'], label => "after flood $_" },
            key => $ADMIN)->{status}
    } 1 .. 20;
    is(join(' ', grep { $_ != 201 } @st), '', 'replay flood: 20 POST /keys after the flood all answer 201')
        or diag("today: @st");
    @st = map {
        api($ng, 'POST', '/webhooks', { url => "https://hooks.example.com/in$_", events => ['*'], tenant => "acme$_" },
            key => $ADMIN)->{status}
    } 1 .. 3;
    is(join(' ', grep { $_ != 201 } @st), '', 'replay flood: 3 POST /webhooks after the flood all answer 201')
        or diag("today: @st");
    is(auth_get($ng, '/r', $k0->{key})->{status}, 200, 'replay flood: the key made before the flood still works');
    $res = http_post($ng->url('/gh'), $last_body, $last_h);
    is("$res->{status} " . (error_code($res) // ''), '401 replayed', 'replay flood: the newest message is still remembered');
    $ng->log_is_clean('replay flood: no [alert]/[emerg]/[crit]');
    $ng->stop;
}

# --- 12. per-tenant bound on pending deliveries --------------------------------------------------

my $dead = free_port();   # nothing listens: every attempt fails, retried in an hour

sub bounds_conf($size) {
    return <<"EOF";
    webhook_zone zone=wh:$size;
    webhook_delivery location=/_webhook allow_http=on allow_private=on retries=0s,1h timeout=2s;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /v1/ { webhook_api admin_key=%%ADMIN%%; }
        location /_webhook { internal; proxy_pass \$webhook_url; }
    }
EOF
}

sub publish_status($ng, $tenant, $n) {
    my $res = api($ng, 'POST', '/events', { type => 'order.created', tenant => $tenant, data => { n => $n, pad => 'd' x 400 } },
                  key => $ADMIN);
    return $res;
}

{
    my $ng = WebhookTest::Nginx->new(vars => { ADMIN => $ADMIN }, conf => bounds_conf('4m'));
    $ng->start;
    my $res = api($ng, 'PUT', '/limits/t1', { max_pending => 5 }, key => $ADMIN);
    is($res->{status}, 200, 'max_pending: PUT /limits/t1 {"max_pending":5} answers 200')
        or diag("today: $res->{status} $res->{content}");
    $res = api($ng, 'POST', '/webhooks', { url => "http://127.0.0.1:$dead/dead", events => ['*'], tenant => 't1' }, key => $ADMIN);
    is($res->{status}, 201, 'max_pending: endpoint of t1 to a dead receiver');
    my @st = map { publish_status($ng, 't1', $_)->{status} } 1 .. 5;
    is("@st", '202 202 202 202 202', 'max_pending: 5 events of t1: 202 each');
    $res = publish_status($ng, 't1', 6);
    is("$res->{status} " . (error_code($res) // ''), '429 backlog_full', 'max_pending: the 6th event of t1: 429 backlog_full')
        or diag("today: $res->{status} $res->{content}");

    $res = api($ng, 'POST', '/webhooks', { url => "http://127.0.0.1:$dead/t2", events => ['*'], tenant => 't2' }, key => $ADMIN);
    is($res->{status}, 201, 'max_pending: POST /webhooks for another tenant: 201');
    @st = map { publish_status($ng, 't2', $_)->{status} } 1 .. 7;
    is("@st", '202 202 202 202 202 202 202', 'max_pending: another tenant publishes past 5 (default bound)');
    $ng->log_is_clean('max_pending: no [alert]/[emerg]/[crit]');
    $ng->stop;
}

{
    my $ng = WebhookTest::Nginx->new(vars => { ADMIN => $ADMIN }, conf => bounds_conf('128k'));
    $ng->start;
    my $res = api($ng, 'POST', '/webhooks', { url => "http://127.0.0.1:$dead/flood", events => ['*'], tenant => 'flood' },
                  key => $ADMIN);
    is($res->{status}, 201, 'backlog flood: endpoint of tenant flood to a dead receiver');
    my ($accepted, $last) = (0, undef);
    for my $i (1 .. 3000) {
        $last = publish_status($ng, 'flood', $i);
        last if $last->{status} != 202;
        $accepted++;
    }
    diag("backlog flood: $accepted events accepted, then $last->{status} " . (error_code($last) // ''));
    ok($last->{status} != 202, 'backlog flood: the flooding tenant is stopped before 3000 events');
    is("$last->{status} " . (error_code($last) // ''), '429 backlog_full', 'backlog flood: the flooding tenant gets 429 backlog_full')
        or diag("today: $last->{status} $last->{content}");

    my @st = map {
        api($ng, 'POST', '/webhooks', { url => "https://hooks.example.com/other$_", events => ['*'], tenant => 'other' },
            key => $ADMIN)->{status}
    } 1 .. 5;
    is(join(' ', grep { $_ != 201 } @st), '', "backlog flood: the admin's 5 POST /webhooks for another tenant: 201")
        or diag("today: @st");
    @st = map {
        api($ng, 'POST', '/keys', { resource => "other$_", scopes => ['webhooks:manage'] }, key => $ADMIN)->{status}
    } 1 .. 20;
    is(join(' ', grep { $_ != 201 } @st), '', 'backlog flood: 20 POST /keys for other tenants: 201') or diag("today: @st");
    $res = publish_status($ng, 'other', 1);
    is($res->{status}, 202, 'backlog flood: another tenant publishes: 202') or diag("today: $res->{status} $res->{content}");
    $ng->log_is_clean('backlog flood: no [alert]/[emerg]/[crit]');
    $ng->stop;
}

done_testing;
