package DeliveryOps;

# Helpers for the outbound-delivery operations tests (t/delivery_durability.t,
# t/delivery_ssrf.t, t/delivery_tls.t, t/delivery_soak.t), on top of
# WebhookTest.pm and KeysTest.pm:
#
#   use DeliveryOps qw(:all);
#   my $rx  = DeliveryOps::Receiver->start(children => 8);     # records webhook-id of each POST
#   my $dns = DeliveryOps::DNS->start(names => { 'hook.test' => '127.0.0.1' });
#   my $ng  = delivery_nginx(delivery => 'retries=0s,1s timeout=2s', http => "resolver ...;");
#   my $wh  = register($ng, $rx->url('/in'), ['a.*']);          # dies unless 201
#   my $evt = publish($ng, 'a.one', { n => 1 });                # dies unless 202
#   wait_for(sub { $rx->has_all([$evt]) }, 20);
#
# Every helper that starts something registers it with WebhookTest's END
# cleanup, so a failing test leaves no process behind.

use v5.36;
use Exporter 'import';
use Carp qw(croak);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep time);
use WebhookTest ();
use KeysTest ();

our @EXPORT_OK = qw(
    $ADMIN delivery_nginx delivery_conf register publish deliveries delivery_counts all_deliveries
    raise_limit make_ca make_cert worker_rss worker_fds stub_active run_quiet
);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

our $ADMIN = 'admin-key-delivery-ops-7c41d2';

# The http{} block of a delivering nginx. Options:
#   zone     => extra webhook_zone parameters (e.g. 'log=1000')
#   size     => zone size (default 8m)
#   delivery => webhook_delivery parameters after location= (default: allow_http,
#               allow_private on, retries=0s,1s,2s timeout=2s)
#   http     => extra http-level lines (resolver ...)
#   proxy    => extra lines inside location /_webhook (proxy_ssl_* ...)
#   servers  => extra server blocks
#   server   => extra lines in the main server (location /status ...)
sub delivery_conf(%o) {
    my $delivery = $o{delivery} // 'allow_http=on allow_private=on retries=0s,1s,2s timeout=2s';
    my $zone = $o{zone} // '';
    my $size = $o{size} // '8m';
    $o{$_} //= '' for qw(http proxy servers server);
    return <<"EOF";
    webhook_zone zone=wh:$size state=%%PREFIX%%/state $zone;
    webhook_delivery location=/_webhook $delivery;
    $o{http}
    server {
        listen 127.0.0.1:%%PORT%%;
        location /v1/ { webhook_api admin_key=%%ADMIN%%; }
        location /_webhook {
            internal;
            proxy_pass \$webhook_url;
            proxy_set_header Host \$webhook_host;
            $o{proxy}
        }
        $o{server}
    }
    $o{servers}
EOF
}

sub delivery_nginx(%o) {
    my %vars = (ADMIN => $ADMIN, %{ $o{vars} // {} });
    return WebhookTest::Nginx->new(conf => delivery_conf(%o), vars => \%vars, main => $o{main} // '');
}

sub _api($ng, $method, $path, $body = undef) {
    return KeysTest::api($ng, $method, $path, $body, key => $ADMIN);
}

# POST /webhooks; returns the answer's JSON (croaks unless 201).
sub register($ng, $url, $events = ['*'], %f) {
    my $res = _api($ng, 'POST', '/webhooks', { url => $url, events => $events, %f });
    croak "POST /webhooks $url: $res->{status} $res->{content}" unless $res->{status} == 201 && $res->{json};
    return $res->{json};
}

# POST /events; returns the event id (croaks unless 202).
sub publish($ng, $type, $data = {}, %f) {
    my $res = _api($ng, 'POST', '/events', { type => $type, data => $data, %f });
    croak "POST /events $type: $res->{status} $res->{content}" unless $res->{status} == 202 && $res->{json};
    return wantarray ? ($res->{json}{id}, $res->{json}{deliveries}) : $res->{json}{id};
}

# GET /webhooks/{id}/deliveries; returns the decoded answer ({deliveries, total}).
sub deliveries($ng, $wh_id, %q) {
    my $qs = join '&', map { "$_=$q{$_}" } sort keys %q;
    my $res = _api($ng, 'GET', "/webhooks/$wh_id/deliveries" . ($qs ? "?$qs" : ''));
    return $res->{status} == 200 ? $res->{json} : undef;
}

# { pending => n, succeeded => n, failed => n } from the totals per status.
sub delivery_counts($ng, $wh_id) {
    my %c;
    for my $s (qw(pending succeeded failed)) {
        my $j = deliveries($ng, $wh_id, status => $s, limit => 1);
        $c{$s} = $j ? $j->{total} : -1;
    }
    return \%c;
}

# Every delivery of an endpoint (limit large enough for the tests).
# Every delivery of an endpoint, following the after= cursor 1000 at a time.
sub all_deliveries($ng, $wh_id) {
    my @all;
    my %q = (limit => 1000);
    while (1) {
        my $j = deliveries($ng, $wh_id, %q) or croak "GET deliveries of $wh_id failed";
        push @all, @{ $j->{deliveries} };
        last if @{ $j->{deliveries} } < 1000;
        $q{after} = $j->{deliveries}[-1]{id};
    }
    return @all;
}

sub raise_limit($ng, $tenant, $n) {
    my $res = _api($ng, 'PUT', "/limits/$tenant", { max_webhooks => $n });
    croak "PUT /limits/$tenant: $res->{status} $res->{content}" unless $res->{status} == 200;
}

# --- certificates -----------------------------------------------------------------

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

# --- process probes -----------------------------------------------------------------

# VmRSS (kB) of a process; worker_rss($pid, 'RssAnon') for its private
# memory only (VmRSS also counts the shared-memory zone's pages as they are
# touched).
sub worker_rss($pid, $field = 'VmRSS') {
    my $s = WebhookTest::read_file("/proc/$pid/status") // return undef;
    return $s =~ /^\Q$field\E:\s+(\d+)\s+kB/m ? $1 : undef;
}

# Number of open file descriptors of a process (undef when not readable).
sub worker_fds($pid) {
    opendir my $d, "/proc/$pid/fd" or return undef;
    my $n = grep { /^\d+$/ } readdir $d;
    closedir $d;
    return $n;
}

# "Active connections: N" of a stub_status location.
sub stub_active($url) {
    my $res = WebhookTest::http_get($url);
    return $res->{status} == 200 && $res->{content} =~ /Active connections:\s*(\d+)/ ? $1 : undef;
}

# ==============================================================================

package DeliveryOps::Receiver;

# A forked HTTP/1.1 receiver on loopback: `children` processes accept on one
# socket. Each answered request is one JSON line (method, target, host,
# webhook-id, attempt time) appended to the child's own file. Modes (set_mode,
# read on every request):
#   ok [STATUS]   answer at once (default 204)
#   delay SECS    sleep, then answer 204
#   hold          read the request and never answer (keep the connection until
#                 the peer closes it, at most 120 s); recorded as held
# Answers carry Connection: close.

use v5.36;
use Carp qw(croak);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep time);

sub start($class, %o) {
    my $dir = $o{dir} // tempdir('ngx_webhook_rx_XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{WEBHOOK_TEST_KEEP});
    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $o{port} // 0, Proto => 'tcp',
                                       Listen => 1024, ReuseAddr => 1) or croak "receiver listen: $!";
    my $self = bless { dir => $dir, port => $listen->sockport, pids => [] }, $class;
    $self->set_mode($o{mode} // 'ok') unless $o{keep_mode};
    for (1 .. ($o{children} // 4)) {
        my $pid = fork // croak "fork: $!";
        if ($pid == 0) {
            $SIG{TERM} = 'DEFAULT';
            eval { $self->_serve($listen) };
            POSIX::_exit(0);
        }
        push @{ $self->{pids} }, $pid;
    }
    close $listen;
    WebhookTest::_register($self);
    return $self;
}

sub port($self) { return $self->{port} }
sub dir($self)  { return $self->{dir} }
sub url($self, $path = '/', $host = '127.0.0.1') { return "http://$host:$self->{port}$path" }
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

sub _read_more($c, $bufref, $timeout = 30) {
    my $rin = '';
    vec($rin, fileno($c), 1) = 1;
    return 0 unless select(my $rout = $rin, undef, undef, $timeout) > 0;
    return sysread($c, $$bufref, 65536, length $$bufref) ? 1 : 0;
}

sub _handle($self, $c, $log, $held) {
    my $buf = '';
    while (index($buf, "\r\n\r\n") < 0) { _read_more($c, \$buf) or return }
    my $end = index $buf, "\r\n\r\n";
    my ($line, @lines) = split /\r\n/, substr($buf, 0, $end);
    $buf = substr $buf, $end + 4;
    my ($method, $target) = split / /, $line;
    my %h;
    for (@lines) { $h{ lc $1 } = $2 if /^([^:]+):\s*(.*?)\s*$/ }
    my $len = $h{'content-length'} // 0;
    while (length $buf < $len) { _read_more($c, \$buf) or last }
    my $rec = WebhookTest::json_encode({ method => $method, target => $target, host => $h{host},
        id => $h{'webhook-id'}, attempt_ts => $h{'webhook-timestamp'}, length => length $buf, time => time }) . "\n";
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

sub stop($self) {
    my @p = @{ $self->{pids} } or return;
    kill 'KILL', @p;
    waitpid $_, 0 for @p;
    $self->{pids} = [];
}
sub _cleanup($self) { $self->stop }

# ==============================================================================

package DeliveryOps::DNS;

# A tiny DNS server on a loopback UDP port, for NGINX's resolver: answers A
# queries for the names it knows (names => { name => ipv4 }, changeable with
# set_names), NOERROR with no answer for other types of a known name, NXDOMAIN
# otherwise. Every question is appended to a log (queries()).

use v5.36;
use Carp qw(croak);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX ();

sub start($class, %o) {
    my $dir = tempdir('ngx_webhook_dns_XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{WEBHOOK_TEST_KEEP});
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'udp')
        or croak "dns: bind: $!";
    my $self = bless { dir => $dir, port => $sock->sockport }, $class;
    $self->set_names($o{names} // {});
    WebhookTest::serve_forked($self, $sock);
    return $self;
}

sub port($self) { return $self->{port} }
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

sub stop($self) {
    return unless $self->{pid};
    kill 'KILL', $self->{pid};
    waitpid $self->{pid}, 0;
    delete $self->{pid};
}
sub _cleanup($self) { $self->stop }

1;
