package DeliveryTest;

# Helpers for the outbound-delivery integration tests (t/deliver/, and the
# delivering tests of t/store/ and t/status/), on top of WebhookTest.pm and
# KeysTest.pm:
#
#   use DeliveryTest qw(:all);
#   my $recv = DeliveryTest::ScriptedReceiver->start;
#   my $ng = delivery_nginx(admin => $ADMIN, retries => '0s,1s,1s');
#   $ng->start;
#   my $wh = create_webhook($ng, $ADMIN, url => $recv->url('/a'), events => ['*']);
#   my $ev = publish($ng, $ADMIN, type => 'room.on_air', data => {...});   # { id, deliveries }
#   my $d  = wait_delivery($ng, $ADMIN, $wh->{id}, $ev->{id});   # final (succeeded/failed) delivery, with detail
#   my @r  = $recv->requests('/a');                       # what arrived
#   library_verify($secret, @r)                          # standardwebhooks + svix verdicts
#   ed25519_verify($public_key, @r)                      # v1a: Node crypto, noble, tweetnacl verdicts
#
# Receivers, by purpose (each stopped by WebhookTest's END cleanup):
#   DeliveryTest::ScriptedReceiver  answers per path from a script (statuses,
#       headers, delays) and records every request in full (headers, body):
#       what a delivery looks like, how each outcome is handled;
#   DeliveryTest::HoldingReceiver   a pool of processes that answer at once,
#       after a delay, or hold every request unanswered, and record the
#       webhook-id of each: at-least-once counting under volume, kill -9, reload;
#   DeliveryTest::GarbageReceiver   misbehaves on purpose at the HTTP level
#       (bad status lines and headers, stalls, endless bodies);
# and DeliveryTest::DNS, a name server for NGINX's resolver.

use v5.36;
use Exporter 'import';
use Carp qw(croak);
use File::Temp ();
use MIME::Base64 qw(encode_base64);
use POSIX ();
use WebhookTest ();
use KeysTest ();

our @EXPORT_OK = qw(delivery_conf delivery_nginx create_webhook publish deliveries deliveries_of delivery_for
                    delivery_detail wait_delivery settled_delivery delivery_counts all_deliveries raise_limit
                    library_verify ed25519_verify standard_verify make_ca make_cert make_client_cert);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

# The http{} block of a delivering nginx: KeysTest::api_conf (the zone, the
# API on /v1/) plus
#     webhook_delivery location=/_webhook POLICY retries=R timeout=T DELIVERY;
# and that location, which proxies the attempt to $webhook_url with the URL's
# Host and passes the attempt's variables on as X-Attempt, X-Endpoint,
# X-Event and X-Id. Options, besides api_conf's (name, size — 4m here by
# default —, state, zone, guard, upstream, http, locations, servers):
#   policy   => the address policy (default 'allow_http=on allow_private=on')
#   retries  => default 0s,1s,1s ('' leaves retries= out)
#   timeout  => default 2s ('' leaves timeout= out)
#   delivery => more webhook_delivery parameters (concurrency=, disable_after=, allow= ...)
#   sign     => a webhook_sign line;  types => [webhook_event_type lines]
#   proxy    => more lines in the delivery location (proxy_ssl_* ...)
sub delivery_conf(%o) {
    my $retries = $o{retries} // '0s,1s,1s';
    my $timeout = $o{timeout} // '2s';
    my @params = ('location=/_webhook', $o{policy} // 'allow_http=on allow_private=on',
                  (length $retries ? "retries=$retries" : ()), (length $timeout ? "timeout=$timeout" : ()),
                  $o{delivery} // ());
    my $http = join "\n", '    webhook_delivery ' . join(' ', grep { length } @params) . ';',
                          map({ "    $_" } grep { defined } $o{sign}, @{ $o{types} // [] }), $o{http} // ();
    my $proxy = $o{proxy} // '';
    my $location = <<"LOCATION" . ($o{locations} // '');
        location /_webhook {
            internal;
            proxy_pass \$webhook_url;
            proxy_set_header Host \$webhook_host;
            proxy_set_header X-Attempt \$webhook_attempt;
            proxy_set_header X-Endpoint \$webhook_endpoint_id;
            proxy_set_header X-Event \$webhook_event;
            proxy_set_header X-Id \$webhook_id;
            $proxy
        }
LOCATION
    return KeysTest::api_conf(%o, size => $o{size} // '4m', http => $http, locations => $location);
}

# A WebhookTest::Nginx (not started) for delivery_conf(%o): admin => the
# admin key (required); vars, env, main as for KeysTest::api_nginx.
sub delivery_nginx(%o) { return KeysTest::api_nginx(%o, conf => delivery_conf(%o)) }

# POST /webhooks as $caller; croaks unless 201. Returns the decoded answer.
sub create_webhook($ng, $caller, %fields) {
    my $res = KeysTest::api($ng, 'POST', '/webhooks', \%fields, key => $caller);
    croak "POST /webhooks failed: $res->{status} $res->{content}" unless $res->{status} == 201 && $res->{json};
    return $res->{json};
}

# POST /events as $caller (idempotency_key => K: the Idempotency-Key header);
# croaks unless 202. Returns the decoded answer ({ id, deliveries }).
sub publish($ng, $caller, %fields) {
    my %o;
    $o{headers} = { 'Idempotency-Key' => delete $fields{idempotency_key} } if exists $fields{idempotency_key};
    my $res = KeysTest::api($ng, 'POST', '/events', \%fields, key => $caller, %o);
    croak "POST /events failed: $res->{status} $res->{content}" unless $res->{status} == 202 && $res->{json};
    return $res->{json};
}

# GET /webhooks/{id}/deliveries?QUERY (limit => 100, status => 'failed' ...):
# the decoded answer ({ deliveries (newest first), total }), undef when the
# call fails.
sub deliveries($ng, $caller, $wh_id, %q) {
    my $qs = join '&', map { "$_=$q{$_}" } sort keys %q;
    my $res = KeysTest::api($ng, 'GET', "/webhooks/$wh_id/deliveries" . ($qs ? "?$qs" : ''), undef, key => $caller);
    return $res->{status} == 200 && ref $res->{json} eq 'HASH' ? $res->{json} : undef;
}

# The list alone ([] when the call fails).
sub deliveries_of($ng, $caller, $wh_id, %q) { return (deliveries($ng, $caller, $wh_id, %q) // {})->{deliveries} // [] }

# The delivery of event $event_id to endpoint $wh_id (list form), or undef.
sub delivery_for($ng, $caller, $wh_id, $event_id) {
    my ($d) = grep { $_->{event_id} eq $event_id } @{ deliveries_of($ng, $caller, $wh_id, limit => 1000) };
    return $d;
}

# GET /deliveries/{id}: the decoded answer, undef unless 200.
sub _detail($ng, $caller, $id) {
    my $res = KeysTest::api($ng, 'GET', "/deliveries/$id", undef, key => $caller);
    return $res->{status} == 200 ? $res->{json} : undef;
}

# GET /deliveries/{id} (with payload and attempt_log) of the delivery of
# $event_id to $wh_id; undef until it is listed.
sub delivery_detail($ng, $caller, $wh_id, $event_id) {
    my $d = delivery_for($ng, $caller, $wh_id, $event_id) or return undef;
    return _detail($ng, $caller, $d->{id});
}

# Waits until the delivery of $event_id to $wh_id is no longer pending (or
# until $o{status} when given); returns GET /deliveries/{id} (with payload and
# attempt_log), or the last state seen when the deadline passes.
sub wait_delivery($ng, $caller, $wh_id, $event_id, %o) {
    my $want = $o{status};
    my $last;
    WebhookTest::wait_until(sub {
        my $d = delivery_for($ng, $caller, $wh_id, $event_id) or return 0;
        my $now = _detail($ng, $caller, $d->{id});
        $last = $now if $now;
        return 0 unless $last;
        return defined $want ? $last->{status} eq $want : $last->{status} ne 'pending';
    }, $o{timeout} // 20);
    return $last;
}

# The newest delivery of an endpoint (list form) once it is no longer
# pending; the last one seen ({} when none) after $timeout seconds.
sub settled_delivery($ng, $caller, $wh_id, $timeout = 15) {
    my $d;
    WebhookTest::wait_for(sub {
        $d = (deliveries($ng, $caller, $wh_id) // {})->{deliveries}[0];
        $d && $d->{status} ne 'pending';
    }, $timeout);
    return $d // {};
}

# { pending => n, succeeded => n, failed => n } from the totals per status
# (-1 when the call fails).
sub delivery_counts($ng, $caller, $wh_id) {
    my %c;
    for my $s (qw(pending succeeded failed)) {
        my $j = deliveries($ng, $caller, $wh_id, status => $s, limit => 1);
        $c{$s} = $j ? $j->{total} : -1;
    }
    return \%c;
}

# Every delivery of an endpoint, following the after= cursor 1000 at a time.
sub all_deliveries($ng, $caller, $wh_id) {
    my @all;
    my %q = (limit => 1000);
    while (1) {
        my $j = deliveries($ng, $caller, $wh_id, %q) or croak "GET deliveries of $wh_id failed";
        push @all, @{ $j->{deliveries} };
        last if @{ $j->{deliveries} } < 1000;
        $q{after} = $j->{deliveries}[-1]{id};
    }
    return @all;
}

# PUT /limits/{tenant} {"max_webhooks": n}; croaks unless 200.
sub raise_limit($ng, $caller, $tenant, $n) {
    my $res = KeysTest::api($ng, 'PUT', "/limits/$tenant", { max_webhooks => $n }, key => $caller);
    croak "PUT /limits/$tenant: $res->{status} $res->{content}" unless $res->{status} == 200;
}

# --- signatures of what a receiver got ------------------------------------------------

# Runs t/npm/SCRIPT over recorded requests, each sent as {KEY_FIELD => $key,
# headers (those named like $headers), body_b64}; returns one hash per request
# of the verdicts named in @names (1, 0 or the reason).
sub _npm_verdicts($script, $key_field, $key, $headers, $names, @requests) {
    return () unless @requests;
    my $dir = WebhookTest::npm_dir();
    croak 't/npm/node_modules is missing: run `npm ci` in t/npm (make integration does)' unless -d "$dir/node_modules";
    my @items = map {
        my $r = $_;
        +{ $key_field => $key, body_b64 => encode_base64($r->{body}, q{}),
          headers => { map { $_ => $r->{headers}{$_} } grep { $_ =~ $headers } keys %{ $r->{headers} } } }
    } @requests;
    my $tmp = File::Temp->new(TEMPLATE => 'whverifyXXXXXX', TMPDIR => 1);
    print {$tmp} WebhookTest::json_encode(\@items);
    close $tmp;
    my $out = WebhookTest::_capture('node', "$dir/$script", $tmp->filename);
    croak "$script failed: $out->{output}" if $out->{exit} != 0;
    my $res = WebhookTest::json_decode($out->{stdout}) or croak "$script: unreadable output $out->{stdout}";
    return map {
        my $v = $_;
        +{ map { my $x = $v->{$_}; ($_ => (ref $x ? ($x ? 1 : 0) : $x)) } @$names }
    } @$res;
}

# Verifies recorded requests with the npm libraries standardwebhooks and svix
# (t/npm/verify.mjs). Returns one {standardwebhooks => 1|error, svix => 1|error}
# per request.
sub library_verify($secret, @requests) {
    return _npm_verdicts('verify.mjs', secret => $secret, qr/^(?:webhook|svix)-/, [qw(standardwebhooks svix)], @requests);
}

# Standard Webhooks v1a (Ed25519) check of recorded requests against a public
# key (whpk_…) by Node's crypto, @noble/ed25519 and tweetnacl
# (t/npm/verify_ed25519.mjs): one {node, noble, tweetnacl} per request, 1 or
# the reason.
sub ed25519_verify($public_key, @requests) {
    return _npm_verdicts('verify_ed25519.mjs', public_key => $public_key, qr/^webhook-/, [qw(node noble tweetnacl)],
                         @requests);
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

# --- certificates, for https receivers ---------------------------------------------

sub run_quiet(@cmd) {
    my $pid = fork // croak "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        exec { $cmd[0] } @cmd or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    return $? >> 8;
}

# A self-signed CA in $dir/$name.crt / $name.key.
sub make_ca($dir, $name = 'ca') {
    my @ec = ('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes');
    run_quiet('openssl', 'req', '-x509', @ec, '-keyout', "$dir/$name.key", '-out', "$dir/$name.crt", '-days', '2',
              '-subj', "/CN=ngx_webhook test $name", '-addext', 'basicConstraints=critical,CA:TRUE',
              '-addext', 'keyUsage=critical,keyCertSign,cRLSign') == 0
        or croak "openssl: cannot make the CA $name";
    return "$dir/$name.crt";
}

# A server certificate for $host (SAN DNS:$host) signed by the CA $ca:
# $dir/$name.crt / $name.key.
sub make_cert($dir, $ca, $name, $host) {
    my @ec = ('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes');
    WebhookTest::write_file("$dir/$name.ext", "subjectAltName=DNS:$host\nbasicConstraints=CA:FALSE\n"
        . "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n");
    run_quiet('openssl', 'req', @ec, '-keyout', "$dir/$name.key", '-out', "$dir/$name.csr", '-subj', "/CN=$host") == 0
        or croak "openssl: cannot make the request for $name";
    run_quiet('openssl', 'x509', '-req', '-in', "$dir/$name.csr", '-CA', "$dir/$ca.crt", '-CAkey', "$dir/$ca.key",
              '-CAcreateserial', '-out', "$dir/$name.crt", '-days', '2', '-extfile', "$dir/$name.ext") == 0
        or croak "openssl: cannot sign $name";
    return ("$dir/$name.crt", "$dir/$name.key");
}

# A client certificate (extendedKeyUsage clientAuth) with subject
# /O=ngx_webhook test/CN=$cn, signed by the CA $ca, or self-signed when $ca is
# undef: $dir/$name.crt / $name.key, and $dir/$name.pem holding both (as
# proxy_ssl_certificate and proxy_ssl_certificate_key can share one file).
sub make_client_cert($dir, $ca, $name, $cn) {
    my @ec = ('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes');
    my @subj = ('-subj', "/O=ngx_webhook test/CN=$cn");
    my @ext = ('basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth');
    if (defined $ca) {
        WebhookTest::write_file("$dir/$name.ext", join '', map { "$_\n" } @ext);
        run_quiet('openssl', 'req', @ec, '-keyout', "$dir/$name.key", '-out', "$dir/$name.csr", @subj) == 0
            or croak "openssl: cannot make the request for $name";
        run_quiet('openssl', 'x509', '-req', '-in', "$dir/$name.csr", '-CA', "$dir/$ca.crt", '-CAkey', "$dir/$ca.key",
                  '-CAcreateserial', '-out', "$dir/$name.crt", '-days', '2', '-extfile', "$dir/$name.ext") == 0
            or croak "openssl: cannot sign $name";
    } else {
        run_quiet('openssl', 'req', '-x509', @ec, '-keyout', "$dir/$name.key", '-out', "$dir/$name.crt", '-days', '2',
                  @subj, map { ('-addext', $_) } @ext) == 0
            or croak "openssl: cannot make the self-signed $name";
    }
    WebhookTest::write_file("$dir/$name.pem", WebhookTest::read_file("$dir/$name.crt") . WebhookTest::read_file("$dir/$name.key"));
    return "$dir/$name.pem";
}

# ==============================================================================

package DeliveryTest::ScriptedReceiver;

# A webhook receiver on loopback: records every request (method, target,
# headers, exact body, time) in a temp dir, and answers per path from a
# script: a list of responses consumed in order (the last one repeats):
#   { status => 500, headers => { 'Retry-After' => 3 }, sleep => 5, body => '...' }
# Paths without a script get 200. Slow responses are written from a forked
# child, so one slow endpoint does not hold up the others.
#
#   my $recv = DeliveryTest::ScriptedReceiver->start;
#   $recv->script('/flaky', [{ status => 500 }, { status => 500 }, { status => 200 }]);
#   my @r = $recv->wait_requests('/flaky', 3);      # what arrived: { headers, body, json, time ... }

use v5.36;
use parent -norequire, 'WebhookTest::Server';
use Digest::SHA qw(sha1_hex);
use POSIX ();
use Time::HiRes qw(sleep time);

sub start($class, %o) {
    my $listen = WebhookTest::Server::tcp_listener(what => 'receiver');
    my $self = bless { dir => WebhookTest::Server::temp_dir('recv'), port => $listen->sockport }, $class;
    mkdir "$self->{dir}/script";
    return $self->serve($listen);
}

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
        my $req = eval { WebhookTest::read_http_request($c, timeout => 10) };
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

# ==============================================================================

package DeliveryTest::HoldingReceiver;

# A receiver for volume and crash tests: `children` processes accept on one
# socket (port => P: a given port, e.g. the one of a receiver stopped
# before). Each answered request is one JSON line (method, target, host,
# webhook-id, attempt time) appended to the child's own file. Modes (set_mode,
# read on every request):
#   ok [STATUS]   answer at once (default 204)
#   delay SECS    sleep, then answer 204
#   hold          read the request and never answer (keep the connection until
#                 the peer closes it, at most 120 s); recorded as held
# Answers carry Connection: close.
#
#   my $rx = DeliveryTest::HoldingReceiver->start(children => 8, mode => 'hold');
#   $rx->held; $rx->set_mode('ok'); $rx->missing(\@event_ids)

use v5.36;
use parent -norequire, 'WebhookTest::Server';
use Time::HiRes qw(sleep time);

sub start($class, %o) {
    my $listen = WebhookTest::Server::tcp_listener(port => $o{port}, backlog => 1024, what => 'receiver');
    my $self = bless { dir => WebhookTest::Server::temp_dir('rx'), port => $listen->sockport }, $class;
    $self->set_mode($o{mode} // 'ok');
    return $self->serve($listen, children => $o{children} // 4);
}

sub set_mode($self, $mode) {
    WebhookTest::write_file("$self->{dir}/mode.tmp", $mode);
    rename "$self->{dir}/mode.tmp", "$self->{dir}/mode";
}

sub _serve($self, $listen) {
    $SIG{PIPE} = 'IGNORE';
    open my $log, '>>', "$self->{dir}/rx.$$" or die;
    open my $held, '>>', "$self->{dir}/held.$$" or die;
    while (1) {
        my $c = $listen->accept or next;
        eval { $self->_handle($c, $log, $held) };
        close $c;
    }
}

sub _handle($self, $c, $log, $held) {
    my $req = WebhookTest::read_http_request($c, timeout => 30) or return;
    my $h = $req->{headers};
    my $rec = WebhookTest::json_encode({ method => $req->{method}, target => $req->{target}, host => $h->{host},
        id => $h->{'webhook-id'}, attempt_ts => $h->{'webhook-timestamp'}, length => length $req->{body}, time => time }) . "\n";
    my $mode = WebhookTest::read_file("$self->{dir}/mode") // 'ok';
    if ($mode =~ /^hold/) {
        syswrite $held, $rec;
        my $rin = '';
        vec($rin, fileno($c), 1) = 1;
        my $until = time + 120;
        while (time < $until) {
            next unless select(my $rout = $rin, undef, undef, 1) > 0;
            last unless sysread $c, my $junk, 65536;   # the peer closed
        }
        return;
    }
    sleep $1 if $mode =~ /^delay\s+([\d.]+)/;
    my $status = $mode =~ /^ok\s+(\d{3})/ ? $1 : 204;
    syswrite $log, $rec;
    WebhookTest::_write_all($c, "HTTP/1.1 $status Receiver\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    shutdown $c, 1;
}

sub _lines($self, $glob) {
    my @r;
    for my $f (glob "$self->{dir}/$glob") {
        for (split /\n/, WebhookTest::read_file($f) // '') {
            my $j = WebhookTest::json_decode($_) or next;
            push @r, $j;
        }
    }
    return @r;
}

# Answered requests (records), held requests.
sub requests($self) { return $self->_lines('rx.*') }
sub held($self)     { return $self->_lines('held.*') }
sub count($self)    { my $n = 0; $n += () = (WebhookTest::read_file($_) // '') =~ /\n/g for glob "$self->{dir}/rx.*"; return $n }

# { webhook-id => times received }
sub ids($self) {
    my %n;
    $n{ $_->{id} // '' }++ for $self->requests;
    return \%n;
}

# Ids of @$want not received yet.
sub missing($self, $want) {
    my $got = $self->ids;
    return grep { !$got->{$_} } @$want;
}

# Forget what was recorded (the files are truncated: the children append to them).
sub clear($self) { truncate $_, 0 for glob "$self->{dir}/rx.* $self->{dir}/held.*" }

# ==============================================================================

package DeliveryTest::GarbageReceiver;

# A raw-socket webhook receiver on loopback that misbehaves on purpose, for
# t/deliver/fault_receiver.t. Every accepted connection is counted (one
# line in conns, written by the acceptor before anything is read) and handled
# in a forked child of its own, so a connection that trickles never holds up
# the others. The answer depends on the path: its first segment up to an
# optional ".suffix" names the mode (/trickle.a and /trickle.b both trickle).
#
#   my $g = DeliveryTest::GarbageReceiver->start;
#   my $wh = create_webhook($ng, $ADMIN, url => $g->url('/xff'), ...);
#   $g->connections('/xff')        # requests read on /xff (one per connection)
#   $g->accepted                   # every TCP connection accepted, on any path
#   my @c = $g->records('/xff')    # { seq, path, mode, n, accepted, attempt, id, closed, how, sent }
#
# `closed` is when the child saw the peer close (or gave up), so
# closed - accepted is how long NGINX kept the connection open. Each child
# lives at most 150 s.
#
# Modes:
#   ok          200 "ok"
#   xff         200, Content-Length: 1, the single byte "\xff"
#   utf8cut     200, 1023 'a' then "é" (2 bytes, cut by a 1 KiB excerpt) then 200 'z'
#   nul         500 with a body holding a NUL byte (valid UTF-8 otherwise)
#   big         200, Content-Length 100 MiB, written as fast as the peer reads
#   chunked     200, Transfer-Encoding: chunked, 16 KiB chunks every 20 ms, never ending
#   slowhdr     the status line, then one header byte a second, never ending the head
#   trickle     200, Content-Length: 1000000, then one byte every 5 s
#   badstatus   a garbage status line with NUL and 0xff bytes, then close
#   badheader   a valid status line, then a header with NUL/control/0xff bytes
#   ragarb      1st request: 503 + Retry-After with 0xff bytes and junk; then 200
#   rahuge      1st request: 429 + Retry-After: 99999999999999999999999999; then 200
#   raneg       1st request: 503 + Retry-After: -5; then 200

use v5.36;
use parent -norequire, 'WebhookTest::Server';
use Fcntl qw(:flock);
use POSIX ();
use Time::HiRes qw(sleep time);

my $CHILD_LIFETIME = 150;

sub start($class, %o) {
    my $listen = WebhookTest::Server::tcp_listener(what => 'garbage receiver');
    my $self = bless { dir => WebhookTest::Server::temp_dir('garbage'), port => $listen->sockport }, $class;
    WebhookTest::write_file("$self->{dir}/conns", '');
    return $self->serve($listen);
}

# --- the server -----------------------------------------------------------------------

sub _serve($self, $listen) {
    $SIG{PIPE} = 'IGNORE';
    $SIG{CHLD} = 'IGNORE';       # children are reaped by the kernel
    my %kids;
    $SIG{TERM} = sub { kill 'KILL', keys %kids; POSIX::_exit(0) };
    my $seq = 0;
    open my $conns, '>>', "$self->{dir}/conns" or die "conns: $!";
    $conns->autoflush(1);
    while (1) {
        my $c = $listen->accept or next;
        $seq++;
        my $t = time;
        print {$conns} sprintf("%d %.3f\n", $seq, $t);
        my $pid = fork;
        if (!defined $pid) { close $c; next }
        if ($pid == 0) {
            $SIG{TERM} = 'DEFAULT';
            close $listen;
            alarm $CHILD_LIFETIME;
            eval { $self->_handle($c, $seq, $t) };
            close $c;
            POSIX::_exit(0);
        }
        $kids{$pid} = 1;
        delete $kids{$_} for grep { !kill 0, $_ } keys %kids;
        close $c;
    }
}

sub _readable($c, $timeout) {
    my $rin = '';
    vec($rin, fileno($c), 1) = 1;
    return select(my $rout = $rin, undef, undef, $timeout) > 0;
}

# True when the peer has closed (EOF or reset) within $timeout seconds.
sub _peer_closed($c, $timeout) {
    return 0 unless _readable($c, $timeout);
    my $n = sysread $c, my $junk, 65536;
    return !$n;
}

sub _read_request($c) { return WebhookTest::read_http_request($c, timeout => 10, deadline => time + 10) }

# The number of this request on its path (1, 2, ...), counted under a lock.
sub _path_count($self, $path) {
    (my $name = $path) =~ s/[^A-Za-z0-9._-]/_/g;
    open my $lock, '>>', "$self->{dir}/count.lock" or die;
    flock $lock, LOCK_EX;
    my $n = (WebhookTest::read_file("$self->{dir}/count.$name") // 0) + 1;
    WebhookTest::write_file("$self->{dir}/count.$name", $n);
    close $lock;
    return $n;
}

sub _record($self, $seq, $rec) {
    my $file = sprintf '%s/req.%06d.json', $self->{dir}, $seq;
    WebhookTest::write_file("$file.tmp", WebhookTest::json_encode($rec));
    rename "$file.tmp", $file;
}

# Writes $data; false when the peer is gone.
sub _send($c, $data) { return WebhookTest::_write_all($c, $data) }

sub _handle($self, $c, $seq, $accepted) {
    my $req = _read_request($c);
    my %rec = (seq => $seq, accepted => $accepted, path => undef);
    unless ($req) {
        $self->_record($seq, { %rec, how => 'no_request', closed => time });
        return;
    }
    (my $path = $req->{target}) =~ s/\?.*//s;
    my ($mode) = $path =~ m{^/([a-z0-9]+)};
    $mode //= 'ok';
    my $n = $self->_path_count($path);
    %rec = (%rec, path => $path, mode => $mode, n => $n, attempt => $req->{headers}{'x-attempt'},
            id => $req->{headers}{'webhook-id'}, length => length $req->{body});
    $self->_record($seq, \%rec);

    my $sent = 0;
    my $how = 'finished';
    my $deadline = $accepted + $CHILD_LIFETIME - 10;
    my $head = sub ($status, @h) {
        return "HTTP/1.1 $status\r\n" . join('', map { "$_\r\n" } @h) . "\r\n";
    };
    my $out = sub ($data) {
        my $ok = _send($c, $data);
        $sent += length $data if $ok;
        $how = 'peer_closed' unless $ok;
        return $ok;
    };

    if ($mode eq 'xff') {
        $out->($head->('200 OK', 'Content-Type: text/plain', 'Content-Length: 1', 'Connection: close') . "\xff");
    } elsif ($mode eq 'utf8cut') {
        my $body = ('a' x 1023) . "\xc3\xa9" . ('z' x 200);
        $out->($head->('200 OK', 'Content-Type: text/plain; charset=utf-8', 'Content-Length: ' . length($body),
                       'Connection: close') . $body);
    } elsif ($mode eq 'nul') {
        my $body = "receiver\x00error";
        $out->($head->('500 Internal Server Error', 'Content-Type: text/plain', 'Content-Length: ' . length($body),
                       'Connection: close') . $body);
    } elsif ($mode eq 'big') {
        my $total = 100 * 1024 * 1024;
        $out->($head->('200 OK', 'Content-Type: application/octet-stream', "Content-Length: $total", 'Connection: close'));
        my $block = 'B' x (256 * 1024);
        my $left = $total;
        while ($left > 0 && time < $deadline) {
            my $piece = $left < length $block ? substr($block, 0, $left) : $block;
            last unless $out->($piece);
            $left -= length $piece;
        }
    } elsif ($mode eq 'chunked') {
        $out->($head->('200 OK', 'Content-Type: text/plain', 'Transfer-Encoding: chunked', 'Connection: close'));
        my $chunk = sprintf("%x\r\n", 16384) . ('c' x 16384) . "\r\n";
        while (time < $deadline) {
            last unless $out->($chunk);
            if (_peer_closed($c, 0.02)) { $how = 'peer_closed'; last }
        }
        $how = 'gave_up' if $how eq 'finished';
    } elsif ($mode eq 'slowhdr') {
        $out->("HTTP/1.1 200 OK\r\n");
        my $line = "X-Slow-Header: " . ('s' x 200);
        my $i = 0;
        while (time < $deadline) {
            if (_peer_closed($c, 1)) { $how = 'peer_closed'; last }
            last unless $out->(substr($line, $i++ % length($line), 1));
        }
        $how = 'gave_up' if $how eq 'finished';
    } elsif ($mode eq 'trickle') {
        $out->($head->('200 OK', 'Content-Type: text/plain', 'Content-Length: 1000000', 'Connection: close'));
        while (time < $deadline) {
            if (_peer_closed($c, 5)) { $how = 'peer_closed'; last }
            last unless $out->('t');
        }
        $how = 'gave_up' if $how eq 'finished';
    } elsif ($mode eq 'badstatus') {
        $out->("GARBAGE\x00\xff \x01NOT-HTTP \xfe\xfd\r\nMore: junk\r\n\r\n\x00\xff\x00junk body");
    } elsif ($mode eq 'badheader') {
        $out->("HTTP/1.1 200 OK\r\nX-Good: 1\r\nBad\x00Hea\x01der\xff: \xff\x00\x7f\r\nContent-Length: 2\r\n"
               . "Connection: close\r\n\r\nok");
    } elsif ($mode =~ /^(ragarb|rahuge|raneg)$/ && $n == 1) {
        my %first = (
            ragarb => ['503 Service Unavailable', "Retry-After: \xff\xfe\x01 garbage, 12 \x7f soon!!"],
            rahuge => ['429 Too Many Requests', 'Retry-After: 99999999999999999999999999'],
            raneg  => ['503 Service Unavailable', 'Retry-After: -5'],
        );
        my ($status, $ra) = @{ $first{$mode} };
        $out->($head->($status, $ra, 'Content-Type: text/plain', 'Content-Length: 4', 'Connection: close') . 'busy');
    } else {
        $out->($head->('200 OK', 'Content-Type: text/plain', 'Content-Length: 2', 'Connection: close') . 'ok');
    }
    # Wait (briefly) for the peer to close, so `closed` says when NGINX let go.
    if ($how eq 'finished') {
        shutdown $c, 1;
        my $until = time + 15;
        while (time < $until) { last if _peer_closed($c, 0.5) }
    }
    $self->_record($seq, { %rec, how => $how, sent => $sent, closed => time });
}

# --- what was seen --------------------------------------------------------------------

# Every TCP connection accepted (any path, read or not).
sub accepted($self) {
    my $t = WebhookTest::read_file("$self->{dir}/conns") // '';
    return scalar(() = $t =~ /\n/g);
}

# The records of the requests read (on $path when given), by connection order.
sub records($self, $path = undef) {
    my @r;
    for my $f (sort glob "$self->{dir}/req.*.json") {
        my $j = WebhookTest::json_decode(WebhookTest::read_file($f) // '') or next;
        next if defined $path && ($j->{path} // '') ne $path;
        push @r, $j;
    }
    return @r;
}

sub connections($self, $path = undef) { return scalar(my @r = $self->records($path)) }

# ==============================================================================

package DeliveryTest::DNS;

# A tiny DNS server on a loopback UDP port, for NGINX's resolver: answers A
# queries for the names it knows (names => { name => ipv4 }, changeable with
# set_names), NOERROR with no answer for other types of a known name, NXDOMAIN
# otherwise. Every question is appended to a log (queries()).
#
#   my $dns = DeliveryTest::DNS->start(names => { 'hook.test' => '127.0.0.1' });
#   delivery_nginx(..., http => $dns->resolver)

use v5.36;
use parent -norequire, 'WebhookTest::Server';
use Carp qw(croak);
use IO::Socket::INET;

sub start($class, %o) {
    my $sock = WebhookTest::loopback_socket(Proto => 'udp')
        or croak "dns: bind: $!";
    my $self = bless { dir => WebhookTest::Server::temp_dir('dns'), port => $sock->sockport }, $class;
    $self->set_names($o{names} // {});
    return $self->serve($sock);
}

sub resolver($self) { return "resolver 127.0.0.1:$self->{port} valid=1s ipv6=off; resolver_timeout 2s;" }

sub set_names($self, $names) {
    WebhookTest::write_file("$self->{dir}/names.tmp", join '', map { "\L$_\E $names->{$_}\n" } sort keys %$names);
    rename "$self->{dir}/names.tmp", "$self->{dir}/names";
}

sub queries($self) { return split /\n/, WebhookTest::read_file("$self->{dir}/queries") // '' }

sub _serve($self, $sock) {
    open my $qlog, '>>', "$self->{dir}/queries" or die;
    $qlog->autoflush(1);
    while (1) {
        my $peer = $sock->recv(my $q, 512) // next;
        next if length $q < 17;
        my ($id, $flags, $qd) = unpack 'n n n', $q;
        next if $flags & 0x8000 || $qd != 1;
        my $off = 12;
        my @labels;
        while ($off < length $q) {
            my $l = ord substr $q, $off, 1;
            $off++;
            last if $l == 0;
            push @labels, substr $q, $off, $l;
            $off += $l;
        }
        next if $off + 4 > length $q;
        my ($qtype, $qclass) = unpack 'n n', substr $q, $off, 4;
        my $question = substr $q, 12, $off + 4 - 12;
        my $name = lc join '.', @labels;
        print {$qlog} "$name $qtype\n";
        my %names = map { split / / } split /\n/, WebhookTest::read_file("$self->{dir}/names") // '';
        my ($rcode, $answer, $an) = (0, '', 0);
        if (!exists $names{$name}) {
            $rcode = 3;
        } elsif ($qtype == 1) {
            $answer = pack('n n n N n', 0xc00c, 1, 1, 1, 4) . pack('C4', split /\./, $names{$name});
            $an = 1;
        }
        my $resp = pack('n n n n n n', $id, 0x8180 | ($flags & 0x0100) | $rcode, 1, $an, 0, 0) . $question . $answer;
        $sock->send($resp, 0, $peer);
    }
}

1;
