package DeliveryTest;

# Helpers for the outbound-delivery integration tests (t/delivery_*.t), on
# top of WebhookTest.pm and KeysTest.pm:
#
#   use DeliveryTest qw(:all);
#   my $recv = DeliveryTest::Receiver->start;            # records every delivery
#   $recv->script('/flaky', [{ status => 500 }, { status => 500 }, { status => 200 }]);
#   my $ng = WebhookTest::Nginx->new(conf => delivery_conf(admin => $ADMIN, retries => '0s,1s,1s'),
#                                    vars => { ADMIN => $ADMIN, BACKEND => $backend->port });
#   my $wh = create_webhook($ng, $ADMIN, url => $recv->url('/a'), events => ['*']);
#   my $ev = publish($ng, $ADMIN, type => 'room.on_air', data => {...});
#   my $d  = wait_delivery($ng, $ADMIN, $wh->{id}, $ev->{id});   # final (succeeded/failed) delivery, with detail
#   my @r  = $recv->requests('/a');                       # what arrived
#   library_verify($secret, @r)                          # standardwebhooks + svix verdicts

use v5.36;
use Exporter 'import';
use Carp qw(croak);
use File::Temp ();
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(sleep time);
use WebhookTest ();
use KeysTest ();

our @EXPORT_OK = qw(delivery_conf create_webhook publish deliveries_of delivery_for wait_delivery
                    wait_until library_verify standard_verify);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

# The http{} template of a delivery test. Options: admin (key, default
# %%ADMIN%%), retries (default 0s,1s,1s), timeout (default 2s), zone (extra
# webhook_zone parameters), delivery (extra webhook_delivery parameters),
# sign (a webhook_sign line), types (webhook_event_type lines), locations
# (extra location blocks in the server), http (extra http-level lines).
sub delivery_conf(%o) {
    my $retries = $o{retries} // '0s,1s,1s';
    my $timeout = $o{timeout} // '2s';
    my $zone = $o{zone} // '';
    my $extra = $o{delivery} // '';
    my $sign = $o{sign} // '';
    my $types = join "\n", map { "    $_" } @{ $o{types} // [] };
    my $locations = $o{locations} // '';
    my $http = $o{http} // '';
    return <<"EOF";
    webhook_zone zone=wh:4m $zone;
    webhook_delivery location=/_webhook allow_http=on allow_private=on retries=$retries timeout=$timeout $extra;
    $sign
$types
$http
    server {
        listen 127.0.0.1:%%PORT%%;
        location /v1/ { webhook_api admin_key=%%ADMIN%%; }
        location /_webhook {
            internal;
            proxy_pass \$webhook_url;
            proxy_set_header Host \$webhook_host;
            proxy_set_header X-Attempt \$webhook_attempt;
            proxy_set_header X-Endpoint \$webhook_endpoint_id;
            proxy_set_header X-Event \$webhook_event;
            proxy_set_header X-Id \$webhook_id;
        }
$locations
    }
EOF
}

# POST /webhooks as $caller; croaks unless 201. Returns the decoded answer.
sub create_webhook($ng, $caller, %fields) {
    my $res = KeysTest::api($ng, 'POST', '/webhooks', \%fields, key => $caller);
    croak "POST /webhooks failed: $res->{status} $res->{content}" unless $res->{status} == 201 && $res->{json};
    return $res->{json};
}

# POST /events as $caller; croaks unless 202. Returns the decoded answer.
sub publish($ng, $caller, %fields) {
    my %o;
    $o{headers} = { 'Idempotency-Key' => delete $fields{idempotency_key} } if exists $fields{idempotency_key};
    my $res = KeysTest::api($ng, 'POST', '/events', \%fields, key => $caller, %o);
    croak "POST /events failed: $res->{status} $res->{content}" unless $res->{status} == 202 && $res->{json};
    return $res->{json};
}

# The deliveries of an endpoint (newest first), [] when the call fails.
sub deliveries_of($ng, $caller, $wh_id, $query = '') {
    my $res = KeysTest::api($ng, 'GET', "/webhooks/$wh_id/deliveries$query", undef, key => $caller);
    return [] unless $res->{status} == 200 && ref $res->{json} eq 'HASH';
    return $res->{json}{deliveries} // [];
}

# The delivery of event $event_id to endpoint $wh_id (list form), or undef.
sub delivery_for($ng, $caller, $wh_id, $event_id) {
    my ($d) = grep { $_->{event_id} eq $event_id } @{ deliveries_of($ng, $caller, $wh_id, '?limit=1000') };
    return $d;
}

# Polls $cond every 0.2 s until it returns a true value (returned) or the
# deadline passes (undef).
sub wait_until($cond, $timeout = 15) {
    my $deadline = time + $timeout;
    while (1) {
        my $v = $cond->();
        return $v if $v;
        return undef if time > $deadline;
        sleep 0.2;
    }
}

# Waits until the delivery of $event_id to $wh_id is no longer pending (or
# until $o{status} when given); returns GET /deliveries/{id} (with payload and
# attempt_log), or the last state seen when the deadline passes.
sub wait_delivery($ng, $caller, $wh_id, $event_id, %o) {
    my $want = $o{status};
    my $last;
    wait_until(sub {
        my $d = delivery_for($ng, $caller, $wh_id, $event_id) or return 0;
        my $res = KeysTest::api($ng, 'GET', "/deliveries/$d->{id}", undef, key => $caller);
        $last = $res->{json} if $res->{status} == 200;
        return 0 unless $last;
        return defined $want ? $last->{status} eq $want : $last->{status} ne 'pending';
    }, $o{timeout} // 20);
    return $last;
}

# Verifies recorded requests with the npm libraries standardwebhooks and svix
# (t/npm/verify.mjs). Returns one {standardwebhooks => 1|error, svix => 1|error}
# per request.
sub library_verify($secret, @requests) {
    return () unless @requests;
    my $dir = WebhookTest::npm_dir();
    croak 't/npm/node_modules is missing: run `npm ci` in t/npm (make integration does)' unless -d "$dir/node_modules";
    my @items = map {
        my $r = $_;
        { secret => $secret, body_b64 => encode_base64($r->{body}, ''),
          headers => { map { $_ => $r->{headers}{$_} } grep { /^(?:webhook|svix)-/ } keys %{ $r->{headers} } } }
    } @requests;
    my $tmp = File::Temp->new(TEMPLATE => 'whverifyXXXXXX', TMPDIR => 1);
    print {$tmp} WebhookTest::json_encode(\@items);
    close $tmp;
    my $out = WebhookTest::_capture('node', "$dir/verify.mjs", $tmp->filename);
    croak "verify.mjs failed: $out->{output}" if $out->{exit} != 0;
    my $res = WebhookTest::json_decode($out->{stdout}) or croak "verify.mjs: unreadable output $out->{stdout}";
    return map {
        my $v = $_;
        +{ map { my $x = $v->{$_}; ($_ => (ref $x ? ($x ? 1 : 0) : $x)) } qw(standardwebhooks svix) }
    } @$res;
}

# Perl-side Standard Webhooks check of one request against $secret: true when
# one of the space-separated v1 signatures is HMAC(key, id.ts.body).
sub standard_verify($secret, $req) {
    my $h = $req->{headers};
    my ($id, $ts, $sigs) = @{$h}{qw(webhook-id webhook-timestamp webhook-signature)};
    return 0 unless defined $id && defined $ts && defined $sigs;
    my $want = WebhookTest::sign_standard($secret, $req->{body}, id => $id, timestamp => $ts)->{'webhook-signature'};
    return (grep { $_ eq $want } split / /, $sigs) ? 1 : 0;
}

# ==============================================================================

package DeliveryTest::Receiver;

# A webhook receiver on loopback: records every request (method, target,
# headers, exact body, time) in a temp dir, and answers per path from a
# script: a list of responses consumed in order (the last one repeats):
#   { status => 500, headers => { 'Retry-After' => 3 }, sleep => 5, body => '...' }
# Paths without a script get 200. Slow responses are written from a forked
# child, so one slow endpoint does not hold up the others.

use v5.36;
use Carp qw(croak);
use Digest::SHA qw(sha1_hex);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep time);

sub start($class, %o) {
    my $dir = tempdir('ngx_webhook_recv_XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{WEBHOOK_TEST_KEEP});
    mkdir "$dir/script";
    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
                                       Listen => 128, ReuseAddr => 1) or croak "receiver listen: $!";
    my $self = bless { dir => $dir, port => $listen->sockport }, $class;
    WebhookTest::serve_forked($self, $listen);
    return $self;
}

sub port($self) { return $self->{port} }
sub url($self, $path = '/') { return "http://127.0.0.1:$self->{port}$path" }

sub script($self, $path, $responses) {
    WebhookTest::write_file("$self->{dir}/script/" . sha1_hex($path) . '.tmp', WebhookTest::json_encode($responses));
    rename "$self->{dir}/script/" . sha1_hex($path) . '.tmp', "$self->{dir}/script/" . sha1_hex($path);
}

sub _serve($self, $listen) {
    $SIG{PIPE} = 'IGNORE';
    $SIG{CHLD} = 'IGNORE';
    my $seq = 0;
    my %count;
    while (1) {
        my $c = $listen->accept or next;
        $seq++;
        my $req = eval { _read_request($c) };
        unless ($req) { close $c; next }
        (my $path = $req->{target}) =~ s/\?.*//s;
        my $script = WebhookTest::json_decode(WebhookTest::read_file("$self->{dir}/script/" . sha1_hex($path)) // '')
            // [{ status => 200 }];
        my $n = $count{$path}++;
        my $resp = $script->[ $n < @$script ? $n : $#$script ];
        my $name = sprintf '%s/%06d', $self->{dir}, $seq;
        WebhookTest::write_file("$name.body.tmp", $req->{body});
        WebhookTest::write_file("$name.json.tmp", WebhookTest::json_encode({
            seq => $seq, method => $req->{method}, target => $req->{target}, path => $path,
            headers => $req->{headers}, header_list => $req->{header_list}, time => time, answered => $resp->{status},
        }));
        rename "$name.body.tmp", "$name.body";
        rename "$name.json.tmp", "$name.json";

        my $status = $resp->{status} // 200;
        my $body = $resp->{body} // qq({"ok":true,"seq":$seq});
        my $head = "HTTP/1.1 $status Receiver\r\nContent-Type: application/json\r\nContent-Length: " . length($body)
            . "\r\nConnection: close\r\n";
        $head .= "$_: $resp->{headers}{$_}\r\n" for sort keys %{ $resp->{headers} // {} };
        my $out = "$head\r\n$body";
        if ($resp->{sleep}) {
            my $pid = fork;
            if (defined $pid && $pid == 0) {
                sleep $resp->{sleep};
                WebhookTest::_write_all($c, $out);
                close $c;
                POSIX::_exit(0);
            }
            close $c;
            next;
        }
        WebhookTest::_write_all($c, $out);
        shutdown $c, 1;
        close $c;
    }
}

sub _read_more($c, $bufref) {
    my $rin = '';
    vec($rin, fileno($c), 1) = 1;
    return 0 unless select(my $rout = $rin, undef, undef, 10) > 0;
    return sysread($c, $$bufref, 65536, length $$bufref) ? 1 : 0;
}

sub _read_request($c) {
    my $buf = '';
    while (index($buf, "\r\n\r\n") < 0) { _read_more($c, \$buf) or return undef }
    my $end = index $buf, "\r\n\r\n";
    my ($line, @lines) = split /\r\n/, substr($buf, 0, $end);
    $buf = substr $buf, $end + 4;
    my ($method, $target) = split / /, $line;
    my (@list, %h);
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*?)\s*$/ or next;
        push @list, [$k, $v];
        $h{ lc $k } = exists $h{ lc $k } ? "$h{lc $k}, $v" : $v;
    }
    my $body = '';
    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        while (1) {
            while ($buf !~ /\r\n/) { _read_more($c, \$buf) or last }
            $buf =~ s/\A([0-9a-fA-F]+)[^\r\n]*\r\n// or last;
            my $n = hex $1;
            last if $n == 0;
            while (length $buf < $n + 2) { _read_more($c, \$buf) or last }
            $body .= substr $buf, 0, $n;
            substr($buf, 0, $n + 2) = '';
        }
    } elsif (my $len = $h{'content-length'}) {
        while (length $buf < $len) { _read_more($c, \$buf) or last }
        $body = substr $buf, 0, $len;
    }
    return { method => $method, target => $target, headers => \%h, header_list => \@list, body => $body };
}

# Recorded requests, oldest first (only those to $path when given).
sub requests($self, $path = undef) {
    my @r;
    for my $json (sort glob "$self->{dir}/*.json") {
        my $meta = WebhookTest::json_decode(WebhookTest::read_file($json) // '') or next;
        next if defined $path && $meta->{path} ne $path;
        (my $b = $json) =~ s/\.json$/.body/;
        $meta->{body} = WebhookTest::read_file($b) // '';
        $meta->{json} = WebhookTest::json_decode($meta->{body});
        push @r, $meta;
    }
    return @r;
}
sub count($self, $path = undef) { return scalar(my @r = $self->requests($path)) }

# Waits until $n requests (to $path) have arrived; returns them.
sub wait_requests($self, $path, $n, $timeout = 15) {
    my @r;
    WebhookTest::wait_for(sub { @r = $self->requests($path); @r >= $n }, $timeout, 0.1);
    return @r;
}

sub stop($self) {
    return unless $self->{pid};
    kill 'TERM', $self->{pid};
    waitpid $self->{pid}, 0;
    delete $self->{pid};
}
sub _cleanup($self) { $self->stop }

1;
