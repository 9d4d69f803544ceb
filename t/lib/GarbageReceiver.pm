package GarbageReceiver;

# A raw-socket webhook receiver on loopback that misbehaves on purpose, for
# the fault tests (t/fault_*.t). Every accepted connection is counted (one
# line in conns, written by the acceptor before anything is read) and handled
# in a forked child of its own, so a connection that trickles never holds up
# the others. The answer depends on the path: its first segment up to an
# optional ".suffix" names the mode (/trickle.a and /trickle.b both trickle).
#
#   my $g = GarbageReceiver->start;
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
use Carp qw(croak);
use Fcntl qw(:flock);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep time);
use WebhookTest ();

my $CHILD_LIFETIME = 150;

sub start($class, %o) {
    my $dir = tempdir('ngx_webhook_garbage_XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{WEBHOOK_TEST_KEEP});
    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
                                       Listen => 128, ReuseAddr => 1) or croak "garbage receiver listen: $!";
    my $self = bless { dir => $dir, port => $listen->sockport }, $class;
    WebhookTest::write_file("$dir/conns", '');
    WebhookTest::serve_forked($self, $listen);
    return $self;
}

sub port($self) { return $self->{port} }
sub dir($self)  { return $self->{dir} }
sub url($self, $path = '/') { return "http://127.0.0.1:$self->{port}$path" }

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

sub _read_request($c) {
    my $buf = '';
    my $deadline = time + 10;
    while (index($buf, "\r\n\r\n") < 0) {
        return undef if time > $deadline;
        next unless _readable($c, 0.5);
        sysread($c, $buf, 65536, length $buf) or return undef;
    }
    my $end = index $buf, "\r\n\r\n";
    my ($line, @lines) = split /\r\n/, substr($buf, 0, $end);
    my $body = substr $buf, $end + 4;
    my ($method, $target) = split / /, $line;
    my %h;
    for (@lines) { $h{ lc $1 } = $2 if /^([^:]+):\s*(.*?)\s*$/ }
    my $len = $h{'content-length'} // 0;
    while (length $body < $len && time < $deadline) {
        next unless _readable($c, 0.5);
        sysread($c, $body, 65536, length $body) or last;
    }
    return { method => $method, target => $target // '', headers => \%h, body => $body };
}

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

sub stop($self) {
    return unless $self->{pid};
    kill 'TERM', $self->{pid};
    waitpid $self->{pid}, 0;
    delete $self->{pid};
}
sub _cleanup($self) { $self->stop }

1;
