# Hardening of durable state (README.md#webhook_zone, README.md#rest-api, §6): configuration never loses
# state, and nothing reaches shared state that cannot be journaled.
#  - 8: a restart whose zone is too small for what DIR holds refuses to start
#    (emerg naming the size needed) and leaves DIR byte-identical; the
#    original size then restores every key.
#  - 13: two webhook_zone naming the same state= DIR: nginx -t fails naming it.
#  - 9: invalid UTF-8 in Idempotency-Key is 400 invalid_request (naming the
#    header), nothing stored or delivered, the journal and compaction stay
#    sound; webhook_emit data= with invalid UTF-8 publishes valid JSON (or is
#    refused with a log line), and what is stored survives a restart.
use v5.36;
use Test::More;
use Digest::SHA qw(sha256_hex);
use Encode ();
use File::Find ();
use Time::HiRes qw(sleep time);
use WebhookTest qw(:all);
use KeysTest qw(api api_nginx create_key auth_get start_output);
use DeliveryTest ();

my $ADMIN = 'admin-key-harden-state-3f70';

# relative path => sha256 of the content, for every file under $dir
sub dir_digest($dir) {
    my %d;
    File::Find::find({ no_chdir => 1, wanted => sub {
        return unless -f $_;
        (my $rel = $_) =~ s/^\Q$dir\E\/?//;
        $d{$rel} = sha256_hex(read_file($_) // '');
    } }, $dir);
    return \%d;
}

sub valid_utf8($bytes) { return defined eval { Encode::decode('UTF-8', "$bytes", Encode::FB_CROAK) } }

# --- 8. a restart with a smaller zone refuses to start, DIR untouched ----------------------------------

{
    my $ng = api_nginx(admin => $ADMIN, size => '%%SIZE%%', state => 1, guard => 1, upstream => '%%PORT2%%',
                       vars => { SIZE => '2m' }, servers => <<'EOF');
    server {
        listen 127.0.0.1:%%PORT2%%;
        location / { return 200 "app\n"; }
    }
EOF
    $ng->start;
    is(api($ng, 'PUT', '/limits/room:big', { max_keys => 1000 }, key => $ADMIN)->{status}, 200, 'shrink: max_keys raised');
    my @keys;
    for my $i (1 .. 300) {
        my $res = api($ng, 'POST', '/keys', { resource => 'room:big', scopes => ['read'], label => sprintf('shrink key %03d ', $i) . ('L' x 180) }, key => $ADMIN);
        last unless $res->{status} == 201;
        push @keys, $res->{json}{key};
    }
    is(scalar @keys, 300, 'shrink: 300 keys created in a 2m zone');
    is(auth_get($ng, '/r', $keys[-1])->{status}, 200, 'shrink: a key authenticates');
    is(auth_get($ng, '/r', 'wk_' . ('x' x 40))->{status}, 401, 'shrink: an unknown key does not (control)');
    $ng->stop;
    my $state = $ng->prefix . '/state';
    my $before = dir_digest($state);
    ok(scalar keys %$before, 'shrink: DIR holds files');

    $ng->write_conf(vars => { SIZE => '64k' });
    my $mark = $ng->log_mark;
    my ($exit, $out) = start_output($ng);
    sleep 0.5;
    my $running = $ng->is_running && $ng->worker_pids > 0;
    isnt($exit, 0, 'shrink: nginx refuses to start with a 64k zone') or diag('today: it started');
    ok(!$running, 'shrink: no nginx is running afterwards');
    my @emerg = grep { /\[emerg\]/ } split /\n/, $out . "\n" . $ng->log_since($mark);
    my $needed = 0;
    for my $line (@emerg) {
        while ($line =~ /\b(\d+(?:\.\d+)?)\s*(k|K|KiB|m|M|MiB|g|G|bytes)?\b/g) {
            my ($v, $u) = ($1, $2 // '');
            my $b = $u =~ /^k/i ? $v * 1024 : $u =~ /^m/i ? $v * 1048576 : $u =~ /^g/i ? $v * 1073741824 : $v;
            $needed = $b if $u ne '' && $b > $needed;
        }
    }
    ok($needed > 65536, 'shrink: an [emerg] line names the size needed (more than 64k)')
        or diag('emerg lines: ' . (join("\n", @emerg) || 'none') . "\ntoday log:\n" . $ng->log_tail(8));
    $ng->stop if $ng->is_running;
    is_deeply(dir_digest($state), $before, 'shrink: DIR is byte-identical after the refused start');

    $ng->write_conf(vars => { SIZE => '2m' });
    $ng->start;
    my $bad = grep { auth_get($ng, '/r', $_)->{status} != 200 } @keys;
    is($bad, 0, 'shrink: after a restart with the original size, all 300 keys authenticate')
        or diag("today: $bad of 300 keys refused");
    $ng->log_lacks($_, 'shrink: no key in the logs') for $keys[0];
    $ng->stop;
}

# --- 13. two zones with the same state= DIR ------------------------------------------------------------

for my $case (['same path', '%%PREFIX%%/shared', '%%PREFIX%%/shared'],
              ['trailing slash', '%%PREFIX%%/shared', '%%PREFIX%%/shared/']) {
    my ($name, $d1, $d2) = @$case;
    my ($exit, $out) = WebhookTest::Nginx->nginx_t(<<"EOF", vars => { ADMIN => $ADMIN });
    webhook_zone zone=one:1m state=$d1;
    webhook_zone zone=two:1m state=$d2;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /v1/  { webhook_api zone=one admin_key=%%ADMIN%%; }
        location /v2/  { webhook_api zone=two admin_key=%%ADMIN%%; }
    }
EOF
    isnt($exit, 0, "same DIR ($name): nginx -t fails") or diag("today: nginx -t passes:\n$out");
    like($out, qr{\[emerg\].*/shared\b}, "same DIR ($name): the error names the directory");
}

# --- 9. invalid UTF-8 in Idempotency-Key and in webhook_emit data= -----------------------------------------

{
    my $recv = DeliveryTest::ScriptedReceiver->start;
    my $backend = WebhookTest::Backend->start;
    my $ng = DeliveryTest::delivery_nginx(admin => $ADMIN, state => 1, retries => '0s,1s', vars => { BACKEND => $backend->port },
                                          locations => <<'EOF');
        location /emit {
            proxy_pass http://127.0.0.1:%%BACKEND%%;
            webhook_emit order.raw tenant=default data=$request_body;
        }
EOF
    $ng->start;
    my $wh = DeliveryTest::create_webhook($ng, $ADMIN, url => $recv->url('/in'), events => ['order.*']);

    my $body = '{"type":"order.created","data":{"n":1}}';
    my $mark = $ng->log_mark;
    my $res = raw_request($ng->port, raw_http('POST', '/v1/events',
        [['Authorization', "Bearer $ADMIN"], ['Content-Type', 'application/json'], ['Idempotency-Key', "k\xff"]], $body));
    is("$res->{status} " . (error_code($res) // ''), '400 invalid_request', 'Idempotency-Key k\xff: 400 invalid_request')
        or diag("today: $res->{status} $res->{content}");
    my $j = json_decode($res->{content});
    like($j && $j->{error}{message} // '', qr/Idempotency-Key/i, 'Idempotency-Key k\xff: the message names Idempotency-Key');
    my $again = raw_request($ng->port, raw_http('POST', '/v1/events',
        [['Authorization', "Bearer $ADMIN"], ['Content-Type', 'application/json'], ['Idempotency-Key', "k\xff"]], $body));
    is($again->{status}, 400, 'Idempotency-Key k\xff again: 400 too (no stored answer)');
    sleep 1.5;
    is($recv->count('/in'), 0, 'Idempotency-Key k\xff: nothing delivered');
    is(scalar @{ DeliveryTest::deliveries_of($ng, $ADMIN, $wh->{id}) }, 0, 'Idempotency-Key k\xff: no delivery stored');

    # control: the pipeline delivers a normal event
    my $ok = DeliveryTest::publish($ng, $ADMIN, type => 'order.created', data => { n => 2 }, idempotency_key => 'k-ascii-1');
    ok(scalar $recv->wait_requests('/in', 1, 10), 'control: a normal event is delivered');

    # webhook_emit of a non-JSON body with invalid UTF-8
    my $raw = "abc\xff\xfe def \xc3(";
    my $er = http_post($ng->url('/emit'), $raw, { 'Content-Type' => 'text/plain' });
    is($er->{status}, 200, 'emit: the proxied call answers 200');
    my @emitted = grep { index($_->{body}, '"order.raw"') >= 0 }
                  $recv->wait_requests('/in', 2, 6);
    my $emit_log = join "\n", grep { /webhook_emit/ } split /\n/, $ng->log_since($mark);
    my $list_before = DeliveryTest::deliveries_of($ng, $ADMIN, $wh->{id}, limit => 100);
    my %seen_before = map { $_->{id} => 1 } @$list_before;
    diag('before restart: ' . join(', ', map { "$_->{event} $_->{status} attempts=$_->{attempts}" } @$list_before));
    if (@emitted) {
        ok(valid_utf8($emitted[0]{body}), 'emit: the delivered body is valid UTF-8')
            or diag('today: invalid UTF-8 in the delivered body');
        my $p = valid_utf8($emitted[0]{body}) ? json_decode($emitted[0]{body}) : undef;
        ok($p && !ref $p->{data} && ($p->{data} // '') =~ /^abc/, 'emit: data is a JSON string of the body');
    } else {
        like($emit_log, qr/webhook_emit/, 'emit: not published, and the log says so');
        ok(!grep({ $_->{event} eq 'order.raw' } @$list_before), 'emit: not published, and nothing of it is stored');
    }

    # restart: everything acknowledged is back, with valid JSON payloads;
    # no journal / compaction errors, no repeated ones
    $mark = $ng->log_mark;
    $ng->restart;
    $ng->restart;
    my $log = $ng->log_since($mark);
    my @errs = grep { /\[(?:error|crit|alert|emerg)\].*(?:compact|journal|snapshot|webhook_zone)/i } split /\n/, $log;
    is(scalar @errs, 0, 'after restarts: no journal/compaction errors') or diag(join "\n", @errs[0 .. ($#errs < 4 ? $#errs : 4)]);
    my $after = DeliveryTest::deliveries_of($ng, $ADMIN, $wh->{id}, limit => 100);
    is_deeply([sort map { $_->{id} } @$after], [sort keys %seen_before], 'after restarts: the same deliveries are stored')
        or diag('today: before ' . join(',', sort keys %seen_before) . ' after ' . join(',', sort map { $_->{id} } @$after));
    for my $d (@$after) {
        my $r = api($ng, 'GET', "/deliveries/$d->{id}", undef, key => $ADMIN);
        is($r->{status}, 200, "after restarts: GET /deliveries/$d->{id}");
        my $payload = $r->{json} && $r->{json}{payload};
        $payload = json_encode($payload) if ref $payload;
        ok(defined $payload && valid_utf8($payload) && json_decode($payload), "after restarts: delivery $d->{event} has a valid JSON payload")
            or diag('payload: ' . ($payload // 'none'));
    }
    $res = raw_request($ng->port, raw_http('POST', '/v1/events',
        [['Authorization', "Bearer $ADMIN"], ['Content-Type', 'application/json'], ['Idempotency-Key', "k\xff"]], $body));
    is($res->{status}, 400, 'after restarts: Idempotency-Key k\xff is still 400');
    $ng->log_is_clean('utf-8: no [alert]/[emerg]/[crit]');
    $ng->stop;
}

done_testing;
