package HostileTest;

# Helpers for the hostile-client tests (t/*/hostile*.t), on top of WebhookTest.pm:
# clients that reset, stall, frame badly or pipeline, in bounded bursts, and
# the check that nginx is back to its baseline afterwards.
#
#   use HostileTest qw(:all);
#   my $t = hostile_setup();            # upstreams + nginx (hostile_conf), an API key
#   scenario($t, '/verify: bad chunk after a pause', sub {
#       my @r = wave($t->ng->port, 12, [[send => chunk_head('POST', '/verify', zeros_sig())],
#                                       [send => "5\r\nhello\r\n"], [sleep => 0.5], [send => "zz\r\n"], ['read', 2]]);
#       all_ok(\@r, sub ($c) { $c->{status} == 400 && $c->{eof} }, '400, then EOF');
#   });
#   finish($t);                         # graceful stop, clean error.log
#
# scenario() starts nginx when it is not running, waits (bounded) for the
# baseline — stub_status "Active connections" 1 (the probe) — and records it
# with each worker's open descriptors (state-directory files aside),
# CLOSE-WAIT sockets on nginx's ports and webhook_status zone bytes used;
# runs the burst; waits (bounded, settle_timeout()) until everything is back
# and tests each measure, the worker pids (no crash) and the error log of
# the scenario (no [alert]/[crit]/[emerg]). After a scenario with a failed
# test nginx is stopped gracefully at once and the stop checked ("open
# socket ... left in connection" is an [alert]), so that the next scenario
# starts clean; otherwise nginx is kept, and finish() stops it at the end.
#
# wave($port, $n, \@steps) opens $n connections and applies each step to all
# of them before the next step (so a pause costs its time once per burst):
#   [send => DATA | sub ($i) { DATA }]   write (non-blocking, bounded)
#   [sleep => SECS]
#   ['rst']                              SO_LINGER {1,0} + close: an RST
#   ['shut']                             shutdown(SHUT_WR): the client half-closes
#   ['close']                            plain close (FIN)
#   [read => SECS]                       read until EOF (or RST) or SECS (default 3)
#   [read_until => qr/RE/, SECS]         read until the received bytes match
# Each connection's result: { raw, eof (1: the server closed), reset (1: RST
# from the server), write_error, status (first response), responses ([parsed
# responses, pipelined ones included]) }.
#
# h2(spec) runs t/npm/h2client.mjs (node's built-in http2) with a JSON spec
# and returns its decoded report (see the script).

use v5.36;
use Exporter 'import';
use Carp qw(croak);
use Digest::SHA ();
use Errno ();
use File::Temp ();
use IO::Socket::INET;
use POSIX ();
use Socket qw(SOL_SOCKET SO_LINGER SHUT_WR);
use Test::More ();
use Time::HiRes qw(sleep time);
use WebhookTest ();

our @EXPORT_OK = qw(wave scenario all_ok h1 chunk_head split_responses h2 zeros_sig settle_timeout
                    close_wait_count worker_fd_counts hostile_conf hostile_setup pass_headers read_headers
                    limits_body event_body proxy_h1_scenarios finish h2_burst h2_all_ok h2_request h2_over h2_answer
                    $ADMIN $GH);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

our $CURRENT;   # the running scenario's name, prefixed to all_ok()'s test names

# How long quiescence may take (seconds): generous for a loaded 2-core box,
# and the only time a leaking scenario costs.
sub settle_timeout() { return $ENV{HOSTILE_SETTLE} // 5 }

# A github signature header that parses (64 hex zeros): the module gets as far
# as reading the body.
sub zeros_sig() { return ('X-Hub-Signature-256' => 'sha256=' . ('0' x 64)) }

# A request head ("Connection: close" unless given).
sub h1($method, $path, @headers) {
    my @h = (['Host', 'localhost']);
    my %seen;
    while (@headers) {
        my ($k, $v) = splice @headers, 0, 2;
        push @h, [$k, $v];
        $seen{ lc $k } = 1;
    }
    push @h, ['Connection', 'close'] unless $seen{connection};
    return "$method $path HTTP/1.1\r\n" . join('', map { "$_->[0]: $_->[1]\r\n" } @h) . "\r\n";
}

# A chunked request head.
sub chunk_head($method, $path, @headers) { return h1($method, $path, @headers, 'Transfer-Encoding' => 'chunked') }

# --- the wave client -------------------------------------------------------------

sub _connect($port) {
    for my $try (1 .. 20) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => 5);
        return $s if $s;
        sleep 0.05;
    }
    croak "connect 127.0.0.1:$port: $!";
}

sub _nonblock($sock) {
    my $flags = fcntl($sock, POSIX::F_GETFL(), 0) or return;
    fcntl($sock, POSIX::F_SETFL(), $flags | POSIX::O_NONBLOCK());
}

# Reads what is there without blocking; marks eof / reset.
sub _drain($c) {
    return if $c->{closed} || $c->{eof};
    while (1) {
        my $got = sysread $c->{sock}, $c->{raw}, 65536, length $c->{raw};
        if (!defined $got) {
            return if $! == Errno::EAGAIN() || $! == Errno::EWOULDBLOCK() || $! == Errno::EINTR();
            $c->{reset} = 1 if $! == Errno::ECONNRESET();
            $c->{eof} = 1;
            return;
        }
        if ($got == 0) {
            $c->{eof} = 1;
            return;
        }
    }
}

sub _send($c, $data, $deadline) {
    return if $c->{closed} || $c->{write_error};
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite $c->{sock}, $data, 65536, $off;
        if (defined $n) {
            $off += $n;
            next;
        }
        if ($! == Errno::EAGAIN() || $! == Errno::EWOULDBLOCK() || $! == Errno::EINTR()) {
            _drain($c);   # the server may be answering (413) while we write
            if (time > $deadline) {
                $c->{write_error} = 'timeout';
                return;
            }
            my $win = '';
            vec($win, fileno($c->{sock}), 1) = 1;
            select(undef, my $wout = $win, undef, 0.05);
            next;
        }
        $c->{write_error} = "$!";
        return;
    }
}

sub _wait_read($conns, $until_re, $secs) {
    my $deadline = time + $secs;
    while (time < $deadline) {
        my @open = grep { !$_->{closed} && !$_->{eof} && !(defined $until_re && $_->{raw} =~ $until_re) } @$conns;
        last unless @open;
        my $rin = '';
        vec($rin, fileno($_->{sock}), 1) = 1 for @open;
        my $left = $deadline - time;
        select(my $rout = $rin, undef, undef, $left < 0.2 ? ($left > 0 ? $left : 0) : 0.2);
        _drain($_) for @open;
    }
}

sub wave($port, $n, $steps, %o) {
    local $SIG{PIPE} = 'IGNORE';
    my @conns;
    for my $i (0 .. $n - 1) {
        my $s = _connect($port);
        _nonblock($s);
        push @conns, { i => $i, sock => $s, raw => '', eof => 0, reset => 0, closed => 0 };
    }
    for my $st (@$steps) {
        my ($op, @a) = @$st;
        if ($op eq 'send') {
            my $deadline = time + ($o{write_timeout} // 5);
            for my $c (@conns) {
                my $data = ref $a[0] eq 'CODE' ? $a[0]->($c->{i}) : $a[0];
                _send($c, $data, $deadline);
            }
        } elsif ($op eq 'sleep') {
            my $until = time + $a[0];
            while ((my $left = $until - time) > 0) {
                _drain($_) for @conns;
                sleep($left < 0.05 ? $left : 0.05);
            }
        } elsif ($op eq 'rst') {
            for my $c (grep { !$_->{closed} } @conns) {
                _drain($c);
                setsockopt($c->{sock}, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
                close $c->{sock};
                $c->{closed} = 1;
            }
        } elsif ($op eq 'close') {
            for my $c (grep { !$_->{closed} } @conns) {
                _drain($c);
                close $c->{sock};
                $c->{closed} = 1;
            }
        } elsif ($op eq 'shut') {
            shutdown $_->{sock}, SHUT_WR for grep { !$_->{closed} } @conns;
        } elsif ($op eq 'read') {
            _wait_read(\@conns, undef, $a[0] // 3);
        } elsif ($op eq 'read_until') {
            _wait_read(\@conns, $a[0], $a[1] // 3);
        } else {
            croak "wave: unknown step $op";
        }
    }
    for my $c (@conns) {
        next if $c->{closed};
        _drain($c);
        close $c->{sock};
        $c->{closed} = 1;
    }
    for my $c (@conns) {
        delete $c->{sock};
        $c->{responses} = [split_responses($c->{raw})];
        $c->{status} = @{ $c->{responses} } ? $c->{responses}[0]{status} : 0;
    }
    return @conns;
}

# Consecutive HTTP/1.x responses in a byte string (Content-Length, chunked, or
# up to the end). Interim 1xx responses are skipped.
sub split_responses($raw) {
    my @out;
    my $rest = $raw;
    for (1 .. 100) {
        my $end = index $rest, "\r\n\r\n";
        last if $end < 0 || $rest !~ m{\AHTTP/1\.[01] (\d{3})};
        my $status = $1;
        my $head = substr $rest, 0, $end;
        $rest = substr $rest, $end + 4;
        next if $status =~ /^1/;
        my %h;
        for (split /\r\n/, $head) { $h{ lc $1 } = $2 if /^([^:]+):\s*(.*)$/ }
        my $body = '';
        if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
            while ($rest =~ s/\A([0-9a-fA-F]+)[^\r\n]*\r\n//) {
                my $len = hex $1;
                if ($len == 0) { $rest =~ s/\A(?:[^\r\n]+\r\n)*\r\n//; last }
                $body .= substr $rest, 0, $len;
                substr($rest, 0, $len + 2) = '';
            }
        } elsif (defined $h{'content-length'}) {
            $body = substr $rest, 0, $h{'content-length'};
            $rest = length $rest > $h{'content-length'} ? substr($rest, $h{'content-length'}) : '';
        } else {
            $body = $rest;
            $rest = '';
        }
        push @out, { status => $status, headers => \%h, content => $body };
    }
    return @out;
}

# One test over all results of a wave: ok when $pred holds for each; the
# first few that do not are described.
sub all_ok($results, $pred, $name) {
    my @bad = grep { !$pred->($_) } @$results;
    $name = "$CURRENT: $name" if defined $CURRENT;
    my $ok = Test::More::ok(@$results && !@bad, $name . ' (' . scalar(@$results) . ' clients)');
    unless ($ok) {
        for my $c (@bad[0 .. ($#bad < 2 ? $#bad : 2)]) {
            my $raw = substr($c->{raw}, 0, 160);
            $raw =~ s/\r/\\r/g;
            $raw =~ s/\n/\\n/g;
            Test::More::diag(sprintf '  client %d: status %s, eof %d, reset %d, write_error %s, raw "%s"',
                             $c->{i}, $c->{status} // '-', $c->{eof}, $c->{reset}, $c->{write_error} // '-', $raw);
        }
        Test::More::diag('  ' . scalar(@bad) . ' of ' . scalar(@$results) . ' clients failed');
    }
    return $ok;
}

# --- HTTP/2 through node -----------------------------------------------------------

# Runs t/npm/h2client.mjs with the JSON spec; returns the decoded report
# ({ streams => [...], ... }) or { error => text }.
sub h2($spec) {
    my $dir = WebhookTest::npm_dir();
    my $tmp = File::Temp->new(TMPDIR => 1, SUFFIX => '.json');
    print {$tmp} WebhookTest::json_encode($spec);
    close $tmp;
    my $out = WebhookTest::_capture('timeout', '-k', '5', ($spec->{timeout_ms} // 20000) / 1000 + 10,
                                    'node', "$dir/h2client.mjs", $tmp->filename);
    my $rep = WebhookTest::json_decode($out->{stdout});
    return $rep if ref $rep eq 'HASH';
    return { error => "h2client.mjs exit $out->{exit}: $out->{output}", streams => [] };
}

# --- the nginx under test -----------------------------------------------------------

our $ADMIN = 'admin-key-hostile-5b7e19';
our $GH    = 'hostile-secret-2c9a';

# The http{} block: one server on PORT (HTTP/1.1) and PORT2 (h2c, `listen ...
# http2` as nginx 1.22 spells it). For each guard (verify: webhook_verify
# github; keys: api_key_auth read; emit: webhook_emit; plain: nothing, the
# stock control) the exact locations
#   /G           proxy_pass to a fast upstream
#   /G-slow      an upstream that answers after 1.5 s
#   /G-trickle   an upstream that sends its head and half its body, then the rest 1.5 s later
#   /G-small     client_max_body_size 1k
#   /G-small-ep  client_max_body_size 1k + error_page 413 @too_large (a named
#                location without the guard: "custom too large")
#   /G-epself/   client_max_body_size 1k + error_page 413 /G-epself/413.html, a
#                static file ("custom too large page") served by a location
#                nested in the guarded one (so the guard applies to it too)
# and /v1/ (webhook_api on a state= zone, max_payload=8k: bodies up to 64k),
# /v1ep/ (the same with error_page 413 @too_large), /metrics (webhook_status),
# /metrics-ep (+ error_page 413, client_max_body_size 1k), /status (stub_status).
sub hostile_conf(%o) {
    my %guard = (
        verify => "webhook_verify github secret=$GH;",
        keys   => 'api_key_auth read;',
        emit   => 'webhook_emit hostile.emitted tenant=hostile data=$request_body;',
        plain  => '',
    );
    my %up = ('' => 'FAST', '-slow' => 'SLOW', '-trickle' => 'TRICKLE', '-small' => 'FAST', '-small-ep' => 'FAST');
    my %extra = ('-small' => 'client_max_body_size 1k;', '-small-ep' => 'client_max_body_size 1k; error_page 413 @too_large;');
    my $locs = '';
    for my $g (sort keys %guard) {
        for my $suffix (sort keys %up) {
            $locs .= "        location = /$g$suffix { $guard{$g} " . ($extra{$suffix} // '')
                . " proxy_pass http://127.0.0.1:%%$up{$suffix}%%; }\n";
        }
        # The error page is served inside the guarded location (a static file
        # in a nested location, which inherits the guard).
        $locs .= "        location /$g-epself/ { client_max_body_size 1k; error_page 413 /$g-epself/413.html; $guard{$g}\n"
            . "            proxy_pass http://127.0.0.1:%%FAST%%;\n"
            . "            location = /$g-epself/413.html { root %%PREFIX%%/html; }\n        }\n";
    }
    my $timeout = $o{client_body_timeout} // '2s';
    return <<"EOF";
    webhook_zone zone=wh:4m state=%%PREFIX%%/state;
    webhook_delivery location=/_webhook allow_http=on allow_private=on retries=0s,1s timeout=2s max_payload=8k;
    client_body_buffer_size 16k;
    client_body_timeout $timeout;
    send_timeout 5s;
    keepalive_timeout 5s;
    proxy_connect_timeout 2s;
    proxy_read_timeout 5s;
    proxy_send_timeout 5s;
    lingering_timeout 2s;
    lingering_time 5s;
    server {
        listen 127.0.0.1:%%PORT%%;
        listen 127.0.0.1:%%PORT2%% http2;
        location = /status { stub_status; access_log off; }
        location = /metrics { webhook_status; access_log off; }
        location = /metrics-ep { client_max_body_size 1k; error_page 413 \@too_large; webhook_status; }
        location /v1/ { client_max_body_size 16k; webhook_api admin_key=%%ADMIN%%; }
        location /v1ep/ { client_max_body_size 16k; error_page 413 \@too_large; webhook_api admin_key=%%ADMIN%%; }
        location \@too_large { default_type text/plain; return 413 "custom too large\\n"; }
        location /_webhook { internal; proxy_pass \$webhook_url; proxy_set_header Host \$webhook_host; }
$locs
    }
EOF
}

# Starts the upstreams and nginx once (so that the key and the warm-up writes
# are in the state directory), creates an API key for /keys*, and returns the
# target (nginx is left running; the first scenario() uses it).
sub hostile_setup(%o) {
    my $fast = HostileTest::Upstream->start(children => 12);
    my $slow = HostileTest::Upstream->start(children => 24, delay => 1.5);
    my $trickle = HostileTest::Upstream->start(children => 24, trickle => 1.5);
    my $ng = WebhookTest::Nginx->new(conf => hostile_conf(%o), vars => {
        FAST => $fast->port, SLOW => $slow->port, TRICKLE => $trickle->port, ADMIN => $ADMIN });
    for my $g (qw(verify keys emit plain)) {
        mkdir $_ for $ng->prefix . '/html', $ng->prefix . "/html/$g-epself";
        WebhookTest::write_file($ng->prefix . "/html/$g-epself/413.html", "custom too large page\n");
    }
    $ng->start;
    my $res = WebhookTest::http_request('POST', $ng->url('/v1/keys'),
        { Authorization => "Bearer $ADMIN", 'Content-Type' => 'application/json' },
        WebhookTest::json_encode({ resource => 'room:1', scopes => ['read'] }));
    my $key = (WebhookTest::json_decode($res->{content}) // {})->{key}
        or croak "POST /v1/keys: $res->{status} $res->{content}";
    # Warm-up: the writes the API scenarios repeat, so that they store nothing new.
    for my $path ('/v1/limits/hostile', '/v1ep/limits/hostile') {
        my $r = WebhookTest::http_request('PUT', $ng->url($path),
            { Authorization => "Bearer $ADMIN", 'Content-Type' => 'application/json' }, limits_body());
        croak "PUT $path: $r->{status} $r->{content}" unless $r->{status} == 200;
    }
    my $t = HostileTest::Target->new($ng, metrics => '/metrics', ports => ['PORT', 'PORT2']);
    $t->{key} = $key;
    return $t;
}

sub limits_body() { return '{"max_keys":7,"max_webhooks":3}' }
sub event_body()  { return '{"type":"hostile.test","tenant":"hostile","data":{"n":1}}' }

# Request headers (name, value pairs) that let a request through the guard G
# with this body: a valid GitHub signature, the API key, the admin key.
sub pass_headers($t, $g, $body = '') {
    return ('X-Hub-Signature-256' => 'sha256=' . Digest::SHA::hmac_sha256_hex($body, $GH)) if $g eq 'verify';
    return (Authorization => "Bearer $t->{key}") if $g eq 'keys';
    return (Authorization => "Bearer $ADMIN", 'Content-Type' => 'application/json') if $g eq 'v1' || $g eq 'v1ep';
    return ();
}

# Headers that get a request as far as reading the body, with no upstream
# needed: for verify a well-formed signature that will not match.
sub read_headers($t, $g) {
    return zeros_sig() if $g eq 'verify';
    return pass_headers($t, $g);
}

# One burst over HTTP/2 on PORT2: $o{sessions} connections (default 2) with
# $o{streams} streams each (default 5); the rest of %o is the h2client spec
# (request, action, pause_ms, timeout_ms).
sub h2_burst($t, %o) {
    return h2({ port => $t->ng->port('PORT2'), sessions => 2, streams => 5, timeout_ms => 4000, %o });
}

# One HTTP/2 burst of POST $path as guard $g (with read_headers: enough to
# get the body read) whose body goes over client_max_body_size 1k: two DATA
# frames of 600 bytes 300 ms apart, or $o{body}; headers => { lowercase name
# => value } adds to (or replaces) the request headers, spec => { ... } to
# h2_burst's spec.
sub h2_over($t, $path, $g, %o) {
    my %h = read_headers($t, $g);
    my %lc = map { lc($_) => $h{$_} } keys %h;
    return h2_burst($t, request => { method => 'POST', path => $path, headers => { %lc, %{ $o{headers} // {} } },
                                     body => $o{body} // [{ fill => 600 }, { fill => 600 }] },
                    action => 'complete', pause_ms => 300, %{ $o{spec} // {} });
}

# A stream predicate for h2_all_ok: answered $status, ended, body matching $re when given.
sub h2_answer($status, $re = undef) {
    return sub ($s) { $s->{status} == $status && $s->{ended} && (!defined $re || $s->{body} =~ $re) };
}

# One test over the streams of an h2 report (as all_ok).
sub h2_all_ok($rep, $pred, $name) {
    $name = "$CURRENT: $name" if defined $CURRENT;
    my @s = @{ $rep->{streams} // [] };
    my @bad = grep { !$pred->($_) } @s;
    my $ok = Test::More::ok(!$rep->{error} && @s && !@bad, "$name (" . scalar(@s) . ' HTTP/2 streams)');
    unless ($ok) {
        Test::More::diag("  h2client: $rep->{error}") if $rep->{error};
        for my $x (@bad[0 .. ($#bad < 2 ? $#bad : 2)]) {
            Test::More::diag(sprintf '  session %d stream %d: status %s, ended %d, closed %d, rst_code %s, error %s, body "%s"',
                             $x->{session}, $x->{stream}, $x->{status} // '-', $x->{ended} ? 1 : 0, $x->{closed} ? 1 : 0,
                             $x->{rst_code} // '-', $x->{error} // '-', substr($x->{body} // '', 0, 80));
        }
        Test::More::diag('  ' . scalar(@bad) . ' of ' . scalar(@s) . ' streams failed') if @s;
    }
    return $ok;
}

# --- baselines -------------------------------------------------------------------

# Open descriptors of each worker, not counting the state directory's journal
# and snapshot files (opened once per worker on its first durable write).
sub worker_fd_counts($ng, $exclude = undef) {
    my %n;
    for my $pid ($ng->worker_pids) {
        opendir my $d, "/proc/$pid/fd" or next;
        my $count = 0;
        for my $fd (grep { /^\d+$/ } readdir $d) {
            my $link = readlink "/proc/$pid/fd/$fd" // '';
            next if defined $exclude && $link =~ $exclude;
            $count++;
        }
        closedir $d;
        $n{$pid} = $count;
    }
    return \%n;
}

# Server-side sockets of the given local ports in state CLOSE-WAIT (08), from
# /proc/net/tcp and tcp6.
sub close_wait_count(@ports) {
    my %p = map { $_ => 1 } @ports;
    my $n = 0;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        my $text = WebhookTest::read_file($f) // next;
        for my $line (split /\n/, $text) {
            my ($local, $st) = (split ' ', $line)[1, 3];
            next unless defined $st && $local =~ /:([0-9A-F]{4})$/;
            $n++ if $p{ hex $1 } && $st eq '08';
        }
    }
    return $n;
}

package HostileTest::Upstream;

# A forked HTTP/1.1 upstream on loopback for proxy_pass: `children` processes
# accept on one socket; each reads the request (head + Content-Length or
# chunked body), then answers 200 with a JSON body, after `delay` seconds;
# with `trickle` > 0 it sends the head and half its body, waits `trickle`
# seconds, then the rest. Connection: close.

use v5.36;
use parent -norequire, 'WebhookTest::Server';
use Time::HiRes qw(sleep time);

sub start($class, %o) {
    my $listen = WebhookTest::Server::tcp_listener(backlog => 256, what => 'upstream');
    my $self = bless { port => $listen->sockport, delay => $o{delay} // 0, trickle => $o{trickle} // 0 }, $class;
    return $self->serve($listen, children => $o{children} // 12);
}

sub _serve($self, $listen) {
    $SIG{PIPE} = 'IGNORE';
    while (1) {
        my $c = $listen->accept or next;
        eval { $self->_handle($c) };
        close $c;
    }
}

sub _handle($self, $c) {
    my $req = WebhookTest::read_http_request($c, timeout => 10) or return;
    sleep $self->{delay} if $self->{delay};
    my $body = WebhookTest::json_encode({ received => length $req->{body}, pad => 'p' x 2000 }) . "\n";
    my $resp = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " . length($body)
        . "\r\nConnection: close\r\n\r\n";
    if ($self->{trickle}) {
        my $half = int(length($body) / 2);
        WebhookTest::_write_all($c, $resp . substr($body, 0, $half)) or return;
        sleep $self->{trickle};
        WebhookTest::_write_all($c, substr($body, $half)) or return;
    } else {
        WebhookTest::_write_all($c, $resp . $body) or return;
    }
    shutdown $c, 1;
    # wait for the peer's close (bounded) so that nginx, not us, sees the end first
    my $rin = '';
    vec($rin, fileno($c), 1) = 1;
    select(my $rout = $rin, undef, undef, 2);
}

package HostileTest::Target;

use v5.36;
use Time::HiRes qw(sleep time);

# new($ng, stub => PATH, metrics => PATH, ports => [names], state => DIR)
sub new($class, $ng, %o) {
    return bless {
        ng      => $ng,
        stub    => $o{stub} // '/status',
        metrics => $o{metrics},
        ports   => $o{ports} // ['PORT'],
        exclude => qr{/state/(?:journal-|snapshot|lock)},
    }, $class;
}

sub ng($self) { return $self->{ng} }

sub port_numbers($self) { return map { $self->{ng}->port($_) } @{ $self->{ports} } }

sub stub_active($self) { return WebhookTest::stub_active($self->{ng}->url($self->{stub})) }

sub zone_used($self) {
    return 0 unless $self->{metrics};
    my $res = WebhookTest::http_request('GET', $self->{ng}->url($self->{metrics}), {}, undef, timeout => 5);
    return $res->{status} == 200 && $res->{content} =~ /^webhook_zone_bytes\{[^}]*state="used"\}\s+(\d+)/m ? $1 : undef;
}

sub state($self) {
    my %s;
    $s{zone_used} = $self->zone_used;
    $s{active} = $self->stub_active;
    $s{close_wait} = HostileTest::close_wait_count($self->port_numbers);
    $s{fds} = HostileTest::worker_fd_counts($self->{ng}, $self->{exclude});
    $s{workers} = join ',', sort { $a <=> $b } keys %{ $s{fds} };
    return \%s;
}

sub _fds_text($fds) { return join ', ', map { "$_: $fds->{$_}" } sort keys %$fds }

sub _back($self, $s, $base) {
    return 0 unless defined $s->{active} && defined $s->{zone_used};
    return 0 unless $s->{workers} eq $base->{workers};
    return 0 if $s->{close_wait} > 0 || $s->{active} > $base->{active} || $s->{zone_used} > $base->{zone_used};
    for my $pid (keys %{ $base->{fds} }) { return 0 if ($s->{fds}{$pid} // 1e9) > $base->{fds}{$pid} }
    return 1;
}

# Waits (bounded) until the state is back to $base; one test per measure.
sub check_back($self, $base, $label) {
    my $s;
    WebhookTest::wait_for(sub { $s = $self->state; $self->_back($s, $base) }, HostileTest::settle_timeout(), 0.1);
    Test::More::is($s->{workers}, $base->{workers}, "$label: same worker processes (none crashed)");
    my @grown = grep { ($s->{fds}{$_} // 1e9) > $base->{fds}{$_} } sort keys %{ $base->{fds} };
    Test::More::ok(!@grown, "$label: each worker's open fds back to the baseline")
        or Test::More::diag('  fds now ' . _fds_text($s->{fds}) . '; baseline ' . _fds_text($base->{fds}));
    Test::More::is($s->{close_wait}, 0, "$label: no CLOSE-WAIT socket on nginx's ports");
    Test::More::is($s->{active}, $base->{active}, "$label: stub_status Active connections back to $base->{active}");
    if ($self->{metrics}) {
        Test::More::is($s->{zone_used}, $base->{zone_used}, "$label: webhook_status zone bytes used back to the baseline");
    }
    return $s;
}

package HostileTest;

# Runs one burst: baseline, burst, back to baseline, clean log. nginx is
# started when it is not running; after a scenario with a failed test it is
# stopped gracefully at once (so that what leaked is reported by that
# scenario: "open socket ... left in connection" at stop), otherwise it is
# kept for the next scenario and finish() stops it at the end.
sub _log_problems($text) { return grep { /\[(?:alert|crit|emerg)\]|exited on signal|left in connection/ } split /\n/, $text }

sub _stop_checked($t, $label) {
    my $ng = $t->ng;
    my $graceful = $ng->stop(10);
    Test::More::ok($graceful, "$label: graceful stop completes within 10 s");
    my @bad = _log_problems($ng->log_since($t->{start_mark} // 0));
    Test::More::ok(!@bad, "$label: no [alert]/[crit]/[emerg] in error.log at stop")
        or Test::More::diag(join "\n", map { "  $_" } @bad[0 .. ($#bad < 4 ? $#bad : 4)]);
}

sub scenario($t, $name, $code, %o) {
    local $CURRENT = $name;
    my $ng = $t->ng;
    unless ($ng->is_running) {
        $t->{start_mark} = $ng->log_mark;
        $ng->start;
    }
    $t->{start_mark} //= 0;
    my $tb = Test::More->builder;
    my $failed_before = grep { !$_ } $tb->summary;
    my $mark = $ng->log_mark;
    my $base;
    # the previous probes' connections may still be closing: wait for the probe alone
    WebhookTest::wait_for(sub { $base = $t->state; defined $base->{zone_used} && ($base->{active} // 0) == 1 }, 5, 0.1);
    Test::More::is($base->{active}, 1, "$name: baseline stub_status Active connections is 1 (the probe)");
    eval { $code->(); 1 } or do { Test::More::fail("$name: the burst ran to its end"); Test::More::diag("  $@") };
    $t->check_back($base, $name);
    my @bad = _log_problems($ng->log_since($mark));
    Test::More::ok(!@bad, "$name: no [alert]/[crit]/[emerg] in error.log")
        or Test::More::diag(join "\n", map { "  $_" } @bad[0 .. ($#bad < 4 ? $#bad : 4)]);
    _stop_checked($t, $name) if $o{stop} || (grep { !$_ } $tb->summary) > $failed_before;
}

# The end of a file: a graceful stop of what is still running, with a clean
# error log (no "open socket ... left in connection").
sub finish($t) {
    _stop_checked($t, 'final') if $t->ng->is_running;
}


package HostileTest;

# The HTTP/1.1 bursts every proxied guard G (keys, emit, plain, verify) gets:
# RST after the headers, RST in the middle of a chunked body, RST right after
# the body while the upstream works, RST while the upstream sends its answer,
# bad chunk framing after a pause (400 + EOF), a chunked body over the limit
# with the error page inside the location (413 + page + EOF), three pipelined
# requests (200s + EOF). $n clients each.
sub proxy_h1_scenarios($t, $g, $n = 12) {
    my $port = $t->ng->port;
    my $body = '{"n":' . ('3' x 700) . '}';
    my @pass = pass_headers($t, $g, $body);
    my @read = read_headers($t, $g);
    my $post = sub ($path, @extra) { h1('POST', $path, @pass, 'Content-Length' => length $body, @extra) . $body };

    scenario($t, "/$g: RST after the headers (Content-Length body never sent)", sub {
        wave($port, $n, [[send => h1('POST', "/$g", @read, 'Content-Length' => 2000)], [sleep => 0.3], ['rst']]);
    });
    scenario($t, "/$g: RST in the middle of a chunked body", sub {
        wave($port, $n, [[send => chunk_head('POST', "/$g", @read) . "3e8\r\n" . ('a' x 1000) . "\r\n"], [sleep => 0.3],
                         ['rst']]);
    });
    scenario($t, "/$g-slow: RST right after the whole body, while the upstream works", sub {
        wave($port, $n, [[send => $post->("/$g-slow")], [sleep => 0.4], ['rst']]);
    });
    scenario($t, "/$g-trickle: RST while the upstream sends its answer", sub {
        my @r = wave($port, $n, [[send => $post->("/$g-trickle")], [read_until => qr/\r\n\r\n/, 5], ['rst']]);
        all_ok(\@r, sub ($c) { $c->{raw} =~ m{\AHTTP/1\.1 200 } }, 'the answer had started (200) before the reset');
    });
    scenario($t, "/$g: bad chunk framing after a pause", sub {
        my @r = wave($port, $n, [[send => chunk_head('POST', "/$g", @read) . "5\r\nhello\r\n"], [sleep => 0.5],
                                 [send => "zz\r\n"], ['read', 2]]);
        all_ok(\@r, sub ($c) { $c->{status} == 400 && $c->{eof} }, '400, then EOF');
    });
    scenario($t, "/$g-epself/: chunked body over the limit, error page inside the location", sub {
        my @r = wave($port, $n, [[send => chunk_head('POST', "/$g-epself/x", @read) . "258\r\n" . ('a' x 600) . "\r\n"],
                                 [sleep => 0.3], [send => "258\r\n" . ('b' x 600) . "\r\n0\r\n\r\n"], ['read', 2]]);
        all_ok(\@r, sub ($c) { $c->{status} == 413 && $c->{eof} && ($c->{responses}[0]{content} // '') eq "custom too large page\n" },
               '413 with the error page, then EOF');
    });
    scenario($t, "/$g: three pipelined requests", sub {
        my $req = $post->("/$g", Connection => 'keep-alive') x 2 . $post->("/$g");
        my @r = wave($port, $n, [[send => $req], ['read', 5]]);
        all_ok(\@r, sub ($c) { join(',', map { $_->{status} } @{ $c->{responses} }) eq '200,200,200' && $c->{eof} },
               '200,200,200, then EOF');
    });
}

# An HTTP/2 request for h2_burst(): headers that pass the guard (or only
# read => 1 ones), the body in pieces (default: 1.2 KB JSON in two).
my @H2_PIECES = ('{"n":"' . ('a' x 600), ('b' x 600) . '"}');
sub h2_request($t, $path, %o) {
    my $g = $o{guard};
    my $pieces = $o{pieces} // \@H2_PIECES;
    my @h = $o{read} ? read_headers($t, $g) : pass_headers($t, $g, $o{body} // join('', @$pieces));
    push @h, @{ $o{headers} // [] };
    my %lc;
    while (@h) { my ($k, $v) = splice @h, 0, 2; $lc{ lc $k } = "$v" }
    return { method => $o{method} // 'POST', path => $path, headers => \%lc, body => $pieces };
}

1;
