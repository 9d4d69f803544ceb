package WebhookTest;

# A small harness for the integration tests of ngx_webhook
# (prove -r -I t/lib t/verify t/keys ...: one folder per capability, see the
# Makefile's TEST_DIRS).
# Perl 5.36 core modules only.
#
#   use WebhookTest qw(:all);
#   my $backend = WebhookTest::Backend->start;
#   my $ng = WebhookTest::Nginx->new(conf => <<'EOF', vars => { BACKEND => $backend->port });
#       server {
#           listen 127.0.0.1:%%PORT%%;
#           location / { webhook_verify github secret=s; proxy_pass http://127.0.0.1:%%BACKEND%%; }
#       }
#   EOF
#   $ng->start;
#   my $res = http_post($ng->url('/'), $body, { 'X-Hub-Signature-256' => ... });
#   my $req = $backend->request_for($res);   # what the upstream received
#   $ng->log_is_clean;                        # no [alert]/[emerg]/[crit]
#
# The conf template is the content of the http{} block (main-level lines go in
# main => '...'). Placeholders: %%PORT%% (and %%PORT2%%..%%PORT9%%, allocated on
# first use), %%PREFIX%%, and every key of vars => {...} (e.g. %%BACKEND%%).
# The boilerplate around it: load_module of $ENV{WEBHOOK_MODULE}, two workers,
# error_log PREFIX/error.log info, pid, every *_temp_path inside the prefix,
# daemon on.
#
# Set WEBHOOK_TEST_KEEP=1 to keep the temp prefixes for a post-mortem.

use v5.36;
use Exporter 'import';
use Carp qw(croak);
use Cwd qw(abs_path);
use Digest::SHA qw(hmac_sha256 hmac_sha256_hex hmac_sha1 hmac_sha512 sha256_hex);
use Errno ();
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP ();
use MIME::Base64 qw(encode_base64 decode_base64);
use POSIX ();
use Test::More ();
use Time::HiRes qw(sleep time);

our @EXPORT_OK = qw(
    free_port nginx_binary module_path npm_dir
    http_request http_get http_post raw_request raw_http chunked_body expect_continue_request curl_request
    parse_response error_code json_decode json_encode random_bytes write_file read_file
    sign_with_library ed25519_keypair sign_github sign_stripe sign_slack sign_shopify sign_standard sign_hmac hmac_raw
    wait_for wait_for_port wait_until
    parse_metrics webhook_metrics stub_active worker_rss worker_fds
);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

my $OWNER = $$;       # END cleanup runs in this process only, never in forked children
my @STARTED;          # nginx instances and backends to stop at exit

my $JSON = JSON::PP->new->canonical->utf8;
sub json_decode($text) { return eval { $JSON->decode($text) } }
sub json_encode($data) { return $JSON->encode($data) }

# The "code" of a {"error":{"code":...,"message":...}} answer (undef otherwise).
sub error_code($res) {
    my $j = json_decode($res->{content} // '');
    return ref $j eq 'HASH' && ref $j->{error} eq 'HASH' ? $j->{error}{code} : undef;
}

sub nginx_binary() { return $ENV{NGINX_BINARY} // 'nginx' }

sub module_path() {
    my $m = $ENV{WEBHOOK_MODULE};
    croak 'WEBHOOK_MODULE must name the built ngx_http_webhook_module.so (make integration sets it)'
        unless defined $m && length $m;
    croak "WEBHOOK_MODULE=$m does not exist" unless -f $m;
    return abs_path($m);
}

# t/npm, found from this file (t/lib/WebhookTest.pm).
sub npm_dir() { return abs_path(File::Spec->catdir(dirname(abs_path(__FILE__)), '..', 'npm')) }

# A socket bound on 127.0.0.1 to a free port: any ephemeral port, or one of
# WEBHOOK_TEST_PORTS=LOW-HIGH (for machines where only a range may be used).
sub loopback_socket(%o) {
    my $range = $ENV{WEBHOOK_TEST_PORTS};
    return IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, %o) unless $range;
    my ($low, $high) = $range =~ /^(\d+)-(\d+)$/
        or croak "WEBHOOK_TEST_PORTS=$range: expected LOW-HIGH, e.g. 20000-29999";
    croak "WEBHOOK_TEST_PORTS=$range: LOW must be below HIGH, both in 1024-65535"
        unless 1024 <= $low && $low < $high && $high <= 65535;
    for (1 .. 200) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $low + int(rand($high - $low + 1)), %o);
        return $s if $s;
    }
    croak "no free port in WEBHOOK_TEST_PORTS=$range";
}

# A free loopback TCP port: bind one, read it, close.
sub free_port() {
    my $s = loopback_socket(Proto => 'tcp', Listen => 1, ReuseAddr => 1)
        or croak "cannot bind a loopback port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub wait_for($cond, $timeout = 10, $step = 0.05) {
    my $deadline = time + $timeout;
    while (time < $deadline) {
        return 1 if $cond->();
        sleep $step;
    }
    return $cond->() ? 1 : 0;
}

sub port_open($port) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => 1);
    return 0 unless $s;
    close $s;
    return 1;
}

sub wait_for_port($port, $timeout = 10) { return wait_for(sub { port_open($port) }, $timeout) }

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

sub write_file($path, $data) {
    open my $fh, '>:raw', $path or croak "write $path: $!";
    print {$fh} $data;
    close $fh or croak "close $path: $!";
}

sub read_file($path) {
    open my $fh, '<:raw', $path or return undef;
    local $/;
    my $d = <$fh>;
    close $fh;
    return $d // '';
}

sub random_bytes($n) {
    if (open my $fh, '<:raw', '/dev/urandom') {
        my $buf = '';
        while (length $buf < $n) {
            my $got = read $fh, $buf, $n - length $buf, length $buf;
            last unless $got;
        }
        close $fh;
        return $buf if length $buf == $n;
    }
    return join '', map { chr int rand 256 } 1 .. $n;
}

# --- signing (Perl side, from the senders' published recipes) -----------------

sub hmac_raw($alg, $data, $key) {
    return $alg eq 'sha1' ? hmac_sha1($data, $key) : $alg eq 'sha512' ? hmac_sha512($data, $key) : hmac_sha256($data, $key);
}

# GitHub: X-Hub-Signature-256: sha256=<hex of HMAC(body)>
sub sign_github($secret, $body, $delivery = undef) {
    my %h = ('X-Hub-Signature-256' => 'sha256=' . hmac_sha256_hex($body, $secret));
    $h{'X-GitHub-Delivery'} = $delivery if defined $delivery;
    return \%h;
}

# Stripe: Stripe-Signature: t=<ts>,v1=<hex of HMAC("ts.body")>, key = the whole secret.
sub sign_stripe($secret, $body, $ts = time) {
    $ts = int $ts;
    return { 'Stripe-Signature' => "t=$ts,v1=" . hmac_sha256_hex("$ts.$body", $secret) };
}

# Slack: X-Slack-Signature: v0=<hex of HMAC("v0:ts:body")> + X-Slack-Request-Timestamp.
sub sign_slack($secret, $body, $ts = time) {
    $ts = int $ts;
    return { 'X-Slack-Signature' => 'v0=' . hmac_sha256_hex("v0:$ts:$body", $secret), 'X-Slack-Request-Timestamp' => $ts };
}

# Shopify: X-Shopify-Hmac-Sha256: <base64 of HMAC(body)>
sub sign_shopify($secret, $body, $id = undef) {
    my %h = ('X-Shopify-Hmac-Sha256' => encode_base64(hmac_sha256($body, $secret), ''));
    $h{'X-Shopify-Webhook-Id'} = $id if defined $id;
    return \%h;
}

# Standard Webhooks: key = base64-decoded part after whsec_; "id.ts.body".
sub sign_standard($secret, $body, %o) {
    my $id = $o{id} // 'msg_' . sha256_hex(random_bytes(16));
    my $ts = int($o{timestamp} // time);
    my $key = $secret =~ /^whsec_(.*)$/s ? decode_base64($1) : $secret;
    my $p = $o{names} // 'webhook';
    return {
        "$p-id"        => $id,
        "$p-timestamp" => $ts,
        "$p-signature" => 'v1,' . encode_base64(hmac_sha256("$id.$ts.$body", $key), ''),
    };
}

# Generic X-Signature style (Stager: hex, no prefix; Stairoids: sha256=<hex>).
sub sign_hmac($secret, $body, %o) {
    my $mac = hmac_raw($o{alg} // 'sha256', $body, $secret);
    my $enc = ($o{encoding} // 'hex') eq 'base64' ? encode_base64($mac, '') : unpack('H*', $mac);
    return { ($o{header} // 'X-Signature') => ($o{prefix} // '') . $enc };
}

# The senders' own npm libraries (t/npm/sign.mjs): standardwebhooks, svix,
# stripe, octokit; ed25519-node, ed25519-noble, ed25519-tweetnacl (v1a, with a
# whsk_ secret). Returns { header => value }.
sub sign_with_library($lib, $secret, $body, %o) {
    my $dir = npm_dir();
    croak "t/npm/node_modules is missing: run `npm ci` in t/npm (make integration does)"
        unless -d "$dir/node_modules";
    my $tmp = File::Temp->new(TEMPLATE => 'whbodyXXXXXX', TMPDIR => 1);
    binmode $tmp;
    print {$tmp} $body;
    close $tmp;
    my @cmd = ('node', "$dir/sign.mjs", $lib, '--secret', $secret, '--body', $tmp->filename);
    push @cmd, '--id', $o{id} if defined $o{id};
    push @cmd, '--timestamp', int $o{timestamp} if defined $o{timestamp};
    my $out = _capture(@cmd);
    croak "sign.mjs $lib failed: $out->{output}" if $out->{exit} != 0;
    my %h;
    for my $line (split /\n/, $out->{stdout}) {
        $h{$1} = $2 if $line =~ /^([^:]+):\s?(.*)$/;
    }
    return \%h;
}

# A new Standard Webhooks Ed25519 key pair (t/npm/sign.mjs keypair: the public
# key as Node's crypto, @noble/ed25519 and tweetnacl all derive it): (whsk_…, whpk_…).
sub ed25519_keypair() {
    my $out = _capture('node', npm_dir() . '/sign.mjs', 'keypair');
    croak "sign.mjs keypair failed: $out->{output}" if $out->{exit} != 0;
    my ($sk) = $out->{stdout} =~ /^secret: (whsk_\S+)$/m;
    my ($pk) = $out->{stdout} =~ /^public: (whpk_\S+)$/m;
    croak "sign.mjs keypair: $out->{output}" unless $sk && $pk;
    return ($sk, $pk);
}

# Runs a command, returns { exit, stdout, output (stdout+stderr) }. A leading
# hash reference is extra environment for the command only.
sub _capture(@cmd) {
    my $env = ref $cmd[0] eq 'HASH' ? shift @cmd : {};
    my $err = File::Temp->new(TMPDIR => 1);
    my $pid = open(my $fh, '-|') // croak "fork: $!";
    if ($pid == 0) {
        $ENV{$_} = $env->{$_} for keys %$env;
        open STDERR, '>&', $err or POSIX::_exit(127);
        exec { $cmd[0] } @cmd or POSIX::_exit(127);
    }
    local $/;
    my $stdout = <$fh> // '';
    close $fh;
    my $exit = $? >> 8;
    my $stderr = read_file($err->filename) // '';
    # SANITIZE runs: a UBSan report on nginx's stderr (before it runs as a daemon) is kept
    # where the harness looks for reports (WebhookTest::Nginx::sanitizer_reports)
    write_file("$env->{WEBHOOK_SANITIZER_DIR}/stderr.$pid", $stderr)
        if $env->{WEBHOOK_SANITIZER_DIR} && $stderr =~ /runtime error:|ERROR: \w*Sanitizer/;
    return { exit => $exit, stdout => $stdout, output => $stdout . $stderr };
}

# --- webhook_status and process probes -------------------------------------------

# { "name{labels}" => value } of a Prometheus text (comments skipped).
sub parse_metrics($text) {
    my %m;
    for (split /\n/, $text // '') {
        next if /^#/;
        $m{$1} = $2 if /^(\S+)\s+(\S+)$/;
    }
    return \%m;
}

# GET $path (a webhook_status location) of $ng, parsed ({} when it fails).
sub webhook_metrics($ng, $path = '/metrics') { return parse_metrics(http_get($ng->url($path))->{content}) }

# "Active connections: N" of a stub_status location (undef when unreadable).
sub stub_active($url) {
    my $res = http_request('GET', $url, {}, undef, timeout => 5);
    return $res->{status} == 200 && $res->{content} =~ /Active connections:\s*(\d+)/ ? $1 : undef;
}

# VmRSS (kB) of a process; worker_rss($pid, 'RssAnon') for its private
# memory only (VmRSS also counts the shared-memory zone's pages as they are
# touched).
sub worker_rss($pid, $field = 'VmRSS') {
    my $s = read_file("/proc/$pid/status") // return undef;
    return $s =~ /^\Q$field\E:\s+(\d+)\s+kB/m ? $1 : undef;
}

# Number of open file descriptors of a process (undef when not readable).
sub worker_fds($pid) {
    opendir my $d, "/proc/$pid/fd" or return undef;
    my $n = grep { /^\d+$/ } readdir $d;
    closedir $d;
    return $n;
}

# --- HTTP ----------------------------------------------------------------------

my $TINY = HTTP::Tiny->new(timeout => 30, keep_alive => 0, max_size => undef);

# HTTP::Tiny response: { status, reason, headers (lowercase names), content }.
sub http_request($method, $url, $headers = {}, $content = undef, %o) {
    my %args = (headers => $headers);
    $args{content} = $content if defined $content;
    my $tiny = $o{timeout} ? HTTP::Tiny->new(timeout => $o{timeout}, keep_alive => 0) : $TINY;
    return $tiny->request($method, $url, \%args);
}
sub http_get($url, $headers = {})            { return http_request('GET', $url, $headers) }
sub http_post($url, $body, $headers = {})    { return http_request('POST', $url, $headers, $body) }

# "HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody" -> { status, reason, headers (lowercase, last wins),
# header_list ([name, value] ...), content, raw }. Handles one 1xx interim response
# (in 'interim') and chunked responses.
sub parse_response($raw) {
    my %r = (raw => $raw);
    my $rest = $raw;
    while ($rest =~ s/\AHTTP\/1\.[01] (1\d\d)[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n//) {
        push @{ $r{interim} }, $1;
    }
    my $end = index $rest, "\r\n\r\n";
    return { %r, status => 599, reason => 'unparseable response', headers => {}, content => '' } if $end < 0;
    my $head = substr $rest, 0, $end;
    my $body = substr $rest, $end + 4;
    my ($line, @lines) = split /\r\n/, $head;
    ($r{status}, $r{reason}) = $line =~ m{^HTTP/\S+ (\d{3}) ?(.*)$} or return { %r, status => 599, headers => {}, content => '' };
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
        push @{ $r{header_list} }, [$k, $v];
        $r{headers}{ lc $k } = $v;
    }
    if (($r{headers}{'transfer-encoding'} // '') =~ /chunked/i) {
        my $decoded = '';
        while ($body =~ s/\A([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $n = hex $1;
            last if $n == 0;
            $decoded .= substr $body, 0, $n;
            substr($body, 0, $n + 2) = '';
        }
        $body = $decoded;
    }
    $r{content} = $body;
    return \%r;
}

sub _connect($port) {
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port, Proto => "tcp", Timeout => 10)
        or croak "connect 127.0.0.1:$port: $!";
    return $s;
}

sub _read_all($sock, $timeout = 30) {
    my $buf = '';
    my $deadline = time + $timeout;
    my $rin = '';
    vec($rin, fileno($sock), 1) = 1;
    while (time < $deadline) {
        my $n = select(my $rout = $rin, undef, undef, 0.5);
        next unless $n > 0;
        my $got = sysread $sock, $buf, 65536, length $buf;
        last if !$got;
    }
    return $buf;
}

# Sends the request as the given pieces (a string or an array of strings), with
# `pause` seconds between pieces, then reads until the server closes. The
# request should carry "Connection: close". Returns parse_response().
sub raw_request($port, $pieces, %o) {
    my @pieces = ref $pieces ? @$pieces : ($pieces);
    my $sock = _connect($port);
    local $SIG{PIPE} = 'IGNORE';
    for my $i (0 .. $#pieces) {
        sleep($o{pause} // 0.2) if $i > 0;
        _write_all($sock, $pieces[$i]) or last;
    }
    my $raw = _read_all($sock, $o{timeout} // 30);
    close $sock;
    return parse_response($raw);
}

sub _write_all($sock, $data) {
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite $sock, $data, 65536, $off;
        return 0 unless defined $n;
        $off += $n;
    }
    return 1;
}

# Server side: reads one HTTP/1.1 request from $c. Each read waits at most
# $o{timeout} seconds (default 30), and none goes past $o{deadline} (an epoch
# time) when given. Returns { method, target, protocol, headers (lowercase
# names, repeated ones joined with ", "), header_list ([name, value] ...), body
# (Content-Length or de-chunked) }, or undef when the head never completes.
sub read_http_request($c, %o) {
    my $more = sub ($bufref) {
        my $wait = $o{timeout} // 30;
        if (defined $o{deadline}) {
            my $left = $o{deadline} - time;
            return 0 if $left <= 0;
            $wait = $left if $left < $wait;
        }
        my $rin = '';
        vec($rin, fileno($c), 1) = 1;
        return 0 unless select(my $rout = $rin, undef, undef, $wait) > 0;
        return sysread($c, $$bufref, 65536, length $$bufref) ? 1 : 0;
    };
    my $buf = '';
    while (index($buf, "\r\n\r\n") < 0) { $more->(\$buf) or return undef }
    my $end = index $buf, "\r\n\r\n";
    my ($line, @lines) = split /\r\n/, substr($buf, 0, $end);
    $buf = substr $buf, $end + 4;
    my ($method, $target, $proto) = split / /, $line, 3;
    my (@list, %h);
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*?)\s*$/ or next;
        push @list, [$k, $v];
        $h{ lc $k } = exists $h{ lc $k } ? "$h{lc $k}, $v" : $v;
    }
    my $body = '';
    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        while (1) {
            while ($buf !~ /\r\n/) { $more->(\$buf) or last }
            $buf =~ s/\A([0-9a-fA-F]+)[^\r\n]*\r\n// or last;
            my $n = hex $1;
            last if $n == 0;
            while (length $buf < $n + 2) { $more->(\$buf) or last }
            $body .= substr $buf, 0, $n;
            substr($buf, 0, $n + 2) = '';
        }
    } elsif (my $len = $h{'content-length'}) {
        while (length $buf < $len) { $more->(\$buf) or last }
        $body = substr $buf, 0, $len;
    }
    return { method => $method, target => $target // '', protocol => $proto, headers => \%h, header_list => \@list,
             body => $body };
}

# Builds a raw HTTP/1.1 request head (+ body when given).
sub raw_http($method, $path, $headers = {}, $body = undef, %o) {
    my @h = ref $headers eq 'ARRAY' ? @$headers : map { [$_, $headers->{$_}] } sort keys %$headers;
    my %seen = map { lc($_->[0]) => 1 } @h;
    unshift @h, ['Host', 'localhost'] unless $seen{host};
    push @h, ['Connection', 'close'] unless $seen{connection};
    push @h, ['Content-Length', length $body]
        if defined $body && !$seen{'content-length'} && !$seen{'transfer-encoding'} && !$o{no_length};
    my $head = "$method $path HTTP/1.1\r\n" . join('', map { "$_->[0]: $_->[1]\r\n" } @h) . "\r\n";
    return $head . ($body // '');
}

# Chunked encoding of $body in chunks of $size bytes (or the given list of pieces).
sub chunked_body($body, $size = 1000) {
    my @parts = ref $body ? @$body : map { substr $body, $_ * $size, $size } 0 .. int((length($body) - 1) / $size);
    @parts = () if !ref $body && length($body) == 0;
    return join('', map { sprintf("%x\r\n%s\r\n", length $_, $_) } grep { length } @parts) . "0\r\n\r\n";
}

# Sends the head with "Expect: 100-continue", waits for the interim "100
# Continue" (up to 5 s), then the body. Returns parse_response() of the final
# answer with got_continue => 1 when the 100 came before the body was sent.
sub expect_continue_request($port, $method, $path, $headers, $body) {
    my %h = (%$headers, Expect => '100-continue');
    my $head = raw_http($method, $path, \%h, undef);
    $head =~ s/\r\n\r\n\z/\r\nContent-Length: ${\ length $body}\r\n\r\n/;
    my $sock = _connect($port);
    local $SIG{PIPE} = 'IGNORE';
    _write_all($sock, $head);
    my $interim = '';
    my $rin = '';
    vec($rin, fileno($sock), 1) = 1;
    my $deadline = time + 5;
    while (time < $deadline && $interim !~ /\r\n\r\n/) {
        select(my $rout = $rin, undef, undef, 0.2) > 0 or next;
        sysread($sock, $interim, 4096, length $interim) or last;
    }
    my $got_continue = $interim =~ m{\AHTTP/1\.1 100 } ? 1 : 0;
    my $final_early = $interim =~ m{\AHTTP/1\.1 [2-5]\d\d } ? 1 : 0;
    _write_all($sock, $body) unless $final_early;
    my $raw = $interim . _read_all($sock);
    close $sock;
    my $r = parse_response($raw);
    $r->{got_continue} = $got_continue;
    return $r;
}

# curl (for HTTP/2: http2 => 1 uses --http2-prior-knowledge). Body from a
# string (written to a temp file, sent with --data-binary @file).
# Returns { status, headers (lowercase), content, http_version }.
sub curl_request($method, $url, $headers = {}, $body = undef, %o) {
    my @cmd = ('curl', '-sS', '--max-time', $o{timeout} // 30, '-X', $method, '-D', '-', '-o', '-');
    push @cmd, '--http2-prior-knowledge' if $o{http2};
    push @cmd, '-H', "$_: $headers->{$_}" for sort keys %$headers;
    my $tmp;
    if (defined $body) {
        $tmp = File::Temp->new(TMPDIR => 1);
        binmode $tmp;
        print {$tmp} $body;
        close $tmp;
        push @cmd, '--data-binary', '@' . $tmp->filename;
        push @cmd, '-H', 'Content-Type: application/octet-stream' unless grep { lc eq 'content-type' } keys %$headers;
    }
    push @cmd, @{ $o{args} // [] }, $url;
    my $out = _capture(@cmd);
    my $raw = $out->{stdout};
    my %r = (exit => $out->{exit}, output => $out->{output});
    # skip interim (1xx) heads
    $raw =~ s{\AHTTP/\S+ 1\d\d[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n}{}g;
    my $end = index $raw, "\r\n\r\n";
    return { %r, status => 599, headers => {}, content => '' } if $end < 0;
    my ($line, @lines) = split /\r\n/, substr($raw, 0, $end);
    ($r{http_version}, $r{status}) = $line =~ m{^HTTP/(\S+) (\d{3})};
    for (@lines) { $r{headers}{ lc $1 } = $2 if /^([^:]+):\s*(.*)$/ }
    $r{content} = substr $raw, $end + 4;
    return \%r;
}

# --- cleanup -----------------------------------------------------------------

sub _register($obj) { push @STARTED, $obj }

END {
    if ($$ == $OWNER) {
        my $status = $?;
        for my $obj (reverse @STARTED) { eval { $obj->_cleanup } }
        # sanitizer reports not yet shown (e.g. leaks found as nginx exited): a failed test
        for my $obj (grep { $_->isa('WebhookTest::Nginx') } @STARTED) {
            eval { $obj->_sanitizer_check('no sanitizer report (at exit)') };
        }
        $? = $status;
    }
}

# ==============================================================================

package WebhookTest::Nginx;

use v5.36;
use Carp qw(croak);
use File::Temp qw(tempdir);
use POSIX ();
use Time::HiRes qw(sleep time);

my $BOILERPLATE = <<'EOF';
load_module %%MODULE%%;
worker_processes 2;
error_log %%PREFIX%%/error.log info;
pid %%PREFIX%%/nginx.pid;
daemon on;
%%MAIN%%
events {
    worker_connections 1024;
}
http {
    access_log %%PREFIX%%/access.log;
    client_body_temp_path %%PREFIX%%/client_body_temp;
    proxy_temp_path %%PREFIX%%/proxy_temp;
    fastcgi_temp_path %%PREFIX%%/fastcgi_temp;
    uwsgi_temp_path %%PREFIX%%/uwsgi_temp;
    scgi_temp_path %%PREFIX%%/scgi_temp;

%%HTTP%%
}
EOF

# new(conf => HTTP_BLOCK_TEMPLATE, main => MAIN_LINES, vars => { NAME => value })
sub new($class, %o) {
    my $self = bless {
        conf  => $o{conf} // croak('conf => template required'),
        main  => $o{main} // '',
        vars  => { %{ $o{vars} // {} } },
        env   => { %{ $o{env} // {} } },   # extra environment of the nginx processes only
        ports => {},
    }, $class;
    $self->{prefix} = tempdir('ngx_webhook_XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{WEBHOOK_TEST_KEEP});
    chmod 0755, $self->{prefix};   # workers run as an unprivileged user when we are root
    mkdir "$self->{prefix}/conf";
    $self->{ports}{PORT} = $o{port} // WebhookTest::free_port();
    $self->write_conf;
    WebhookTest::_register($self);
    return $self;
}

sub prefix($self) { return $self->{prefix} }
# Sets (or, with undef, removes) environment variables for the next start.
sub set_env($self, %kv) {
    for my $k (keys %kv) { defined $kv{$k} ? ($self->{env}{$k} = $kv{$k}) : delete $self->{env}{$k} }
}
sub port($self, $name = 'PORT') {
    return $self->{ports}{$name} //= WebhookTest::free_port();
}
sub url($self, $path = '/', $name = 'PORT') { return "http://127.0.0.1:" . $self->port($name) . $path }
sub conf_path($self) { return "$self->{prefix}/conf/nginx.conf" }
sub error_log_path($self) { return "$self->{prefix}/error.log" }
sub pid_path($self) { return "$self->{prefix}/nginx.pid" }

# Expands the template; returns the full configuration text.
sub render($self, $template = $self->{conf}, $main = $self->{main}) {
    # remember which ports the configuration uses, so start() waits on them
    $self->{used_ports}{$1} = 1 while $template =~ /%%(PORT\d?)%%/g;
    my $text = $BOILERPLATE;
    $text =~ s/%%HTTP%%/$template/;
    $text =~ s/%%MAIN%%/$main/;
    my %v = (%{ $self->{vars} }, PREFIX => $self->{prefix}, MODULE => WebhookTest::module_path());
    $text =~ s{%%(PORT\d?)%%}{$self->port($1)}ge;
    $text =~ s{%%(\w+)%%}{exists $v{$1} ? $v{$1} : croak("no value for placeholder %%$1%%")}ge;
    return $text;
}

# Rewrites conf/nginx.conf (optionally with a new template, e.g. before reload).
sub write_conf($self, %o) {
    $self->{conf} = $o{conf} if defined $o{conf};
    $self->{main} = $o{main} if defined $o{main};
    $self->{vars} = { %{ $self->{vars} }, %{ $o{vars} } } if $o{vars};
    WebhookTest::write_file($self->conf_path, $self->render);
}

sub _cmd($self, @args) {
    return ($self->_env, WebhookTest::nginx_binary(), '-p', "$self->{prefix}/", '-c', $self->conf_path,
            '-e', $self->error_log_path, @args);
}

# --- sanitizers (make test SANITIZE=1) -----------------------------------------------
# WEBHOOK_SANITIZER_PRELOAD names the ASan and UBSan runtimes the instrumented
# module needs: they are preloaded (libasan first, before any LD_PRELOAD of the
# test) into the nginx processes only, reports go to PREFIX/sanitizer/KIND.PID,
# and any report fails a test: log_is_clean, stop and the END cleanup check.

my $SAN_PRELOAD = $ENV{WEBHOOK_SANITIZER_PRELOAD} // '';
sub sanitizer_dir($self) { return "$self->{prefix}/sanitizer" }

sub _env($self) {
    my %env = %{ $self->{env} };
    return \%env unless length $SAN_PRELOAD;
    my $dir = $self->sanitizer_dir;
    mkdir $dir, 01777 unless -d $dir;
    chmod 01777, $dir;    # workers write their reports as the unprivileged user
    my $supp = $ENV{WEBHOOK_SANITIZER_SUPP};
    $env{LD_PRELOAD} = join ' ', $SAN_PRELOAD, grep { defined $_ && length $_ } $env{LD_PRELOAD};
    $env{ASAN_OPTIONS} //= join ':', "log_path=$dir/asan", 'detect_leaks=1', 'check_initialization_order=1',
                                     'quarantine_size_mb=64', 'malloc_context_size=20',
                                     # e.g. fast_unwind_on_malloc=0: full stacks through nginx's own frames
                                     grep { length } $ENV{WEBHOOK_ASAN_OPTIONS} // '';
    $env{LSAN_OPTIONS} //= join ':', 'print_suppressions=0', ($supp ? "suppressions=$supp" : ());
    # gcc's libubsan is a runtime of its own next to libasan: its log_path ends up setting
    # libasan's report path (hence the same value) while its own reports go to stderr,
    # i.e. the error log once nginx runs, else the command's output (_capture).
    $env{UBSAN_OPTIONS} //= join ':', "log_path=$dir/asan", 'print_stacktrace=1', 'halt_on_error=0',
                                      'report_error_type=1';
    $env{WEBHOOK_SANITIZER_DIR} = $dir;
    return \%env;
}

# Sanitizer reports written (or grown) since the last call: ("FILE:\nTEXT", ...).
sub sanitizer_reports($self) {
    return () unless length $SAN_PRELOAD;
    my @new;
    for my $f (sort glob $self->sanitizer_dir . '/*') {
        my $size = -s $f or next;
        next if ($self->{san_seen}{$f} // -1) >= $size;
        $self->{san_seen}{$f} = $size;
        my $text = WebhookTest::read_file($f) // '';
        if (lsan_failed_to_run($text)) {
            # LeakSanitizer's own tracer crashed at exit (seen once under load):
            # the leak check of that process did not run. Not a finding; said.
            Test::More::diag("$f: LeakSanitizer could not run (not a finding):\n$text");
            next;
        }
        push @new, "$f:\n$text";
    }
    # UBSan's reports (and any other sanitizer text on stderr) in the error log: the
    # report line and the stack lines after it, from where the last call stopped.
    my $log = $self->error_log;
    my $from = $self->{san_log_off} // 0;
    $from = 0 if $from > length $log;
    my $end = rindex($log, "\n") + 1;
    if ($end > $from) {
        my @lines = split /\n/, substr($log, $from, $end - $from);
        $self->{san_log_off} = $end;
        my @hit;
        for my $i (0 .. $#lines) {
            next unless $lines[$i] =~ /runtime error:|ERROR: \w*Sanitizer|SUMMARY: \w*Sanitizer/;
            push @hit, $lines[$i];
            for my $j ($i + 1 .. $#lines) { last unless $lines[$j] =~ /^\s+#\d+ /; push @hit, $lines[$j] }
        }
        push @new, $self->error_log_path . ":\n" . join("\n", @hit) . "\n" if @hit;
    }
    return @new;
}

# True for a report that is only LeakSanitizer failing to run ("Tracer caught
# signal", "LeakSanitizer has encountered a fatal error"), with no error of
# any sanitizer in it.
sub lsan_failed_to_run($text) {
    return 0 unless $text =~ /LeakSanitizer has encountered a fatal error/;
    return $text !~ /ERROR: \w*Sanitizer|runtime error:|SUMMARY: \w*Sanitizer/;
}

# A failed test (with the reports) when there are new reports; nothing otherwise.
sub _sanitizer_check($self, $name) {
    my @r = $self->sanitizer_reports or return 1;
    Test::More::ok(0, $name);
    Test::More::diag($_) for @r;
    return 0;
}

# nginx -t on the current configuration: (exit code, output).
sub test_config($self) {
    my $out = WebhookTest::_capture($self->_cmd('-t'));
    return ($out->{exit}, $out->{output});
}

# Class helper for config-error tests: nginx -t of a template, (exit, output).
sub nginx_t($class, $template, %o) {
    my $ng = $class->new(%o, conf => $template);
    return $ng->test_config;
}

# "FILE:LINE" of the first line of a configuration file (default: the main
# one) that contains $needle, as NGINX names a directive in its messages.
sub conf_line($self, $needle, $file = $self->conf_path) {
    my @lines = split /\n/, WebhookTest::read_file($file) // croak "cannot read $file";
    for my $i (0 .. $#lines) {
        return "$file:" . ($i + 1) if index($lines[$i], $needle) >= 0;
    }
    croak "\"$needle\" is not in $file";
}

sub master_pid($self) {
    my $pid = WebhookTest::read_file($self->pid_path);
    return undef unless defined $pid && $pid =~ /(\d+)/;
    return $1;
}

sub _alive($pid) { return kill(0, $pid) || $! == Errno::EPERM() }

# Worker processes of the master (from /proc).
sub worker_pids($self, $master = $self->master_pid) {
    return () unless $master;
    my @w;
    for my $stat (glob '/proc/[0-9]*/stat') {
        my $s = WebhookTest::read_file($stat) // next;
        # pid (comm) state ppid ...
        next unless $s =~ /^(\d+) \(.*\) \S (\d+) /s;
        push @w, $1 if $2 == $master;
    }
    @w = sort { $a <=> $b } @w;
    return wantarray ? @w : scalar @w;
}

sub is_running($self) {
    my $pid = $self->master_pid;
    return $pid && _alive($pid) ? 1 : 0;
}

# Starts nginx; dies with nginx's own message when -t or start fails.
sub start($self) {
    my ($exit, $out) = $self->test_config;
    croak "nginx -t failed (exit $exit):\n$out\n--- configuration ---\n" . WebhookTest::read_file($self->conf_path)
        if $exit != 0;
    unlink $self->pid_path;
    my $run = WebhookTest::_capture($self->_cmd);
    croak "nginx failed to start (exit $run->{exit}):\n$run->{output}" if $run->{exit} != 0;
    WebhookTest::wait_for(sub { $self->master_pid && $self->worker_pids >= 1 }, 10)
        or croak "nginx did not write its pid / start workers:\n" . $self->log_tail;
    for my $name (sort keys %{ $self->{ports} }) {
        next unless $self->{used_ports}{$name};
        WebhookTest::wait_for_port($self->{ports}{$name}) or croak "nginx is not listening on $name:\n" . $self->log_tail;
    }
    $self->{running} = 1;
    return $self;
}

sub _wait_gone($pids, $timeout) {
    return WebhookTest::wait_for(sub { !grep { _alive($_) } @$pids }, $timeout);
}

# Graceful stop: QUIT, then wait for master and workers to go.
sub stop($self, $timeout = 15) {
    my $master = $self->master_pid or return 1;
    my @all = ($master, $self->worker_pids($master));
    kill 'QUIT', $master;
    unless (_wait_gone(\@all, $timeout)) {
        kill 'KILL', grep { _alive($_) } @all;
        _wait_gone(\@all, 5);
        $self->{running} = 0;
        $self->_sanitizer_check('no sanitizer report (at stop)');
        return 0;
    }
    $self->{running} = 0;
    $self->_sanitizer_check('no sanitizer report (at stop)');
    return 1;
}

# Reload with HUP; waits until the old workers are gone and new ones run.
sub reload($self, $timeout = 15) {
    my $master = $self->master_pid or croak 'reload: nginx is not running';
    my @old = $self->worker_pids($master);
    my ($exit, $out) = $self->test_config;
    croak "reload: nginx -t failed:\n$out" if $exit != 0;
    kill 'HUP', $master;
    WebhookTest::wait_for(sub {
        my %new = map { $_ => 1 } $self->worker_pids($master);
        keys(%new) >= 1 && !grep { $new{$_} } @old;
    }, $timeout) or croak "reload: old workers still there:\n" . $self->log_tail;
    _wait_gone(\@old, $timeout);
    return $self;
}

# kill -9 of master and workers (crash simulation); the pid file stays.
sub kill9($self) {
    my $master = $self->master_pid or return;
    my @all = ($master, $self->worker_pids($master));
    kill 'KILL', @all;
    _wait_gone(\@all, 5);
    $self->{running} = 0;
}

# Start again on the same prefix (state, logs kept).
sub restart($self) {
    $self->stop if $self->is_running;
    unlink $self->pid_path;
    return $self->start;
}

# --- error log -------------------------------------------------------------------

sub error_log($self) { return WebhookTest::read_file($self->error_log_path) // '' }

# Byte offset to pass to log_since() later.
sub log_mark($self) { return -s $self->error_log_path // 0 }
sub log_since($self, $mark) {
    my $log = $self->error_log;
    return substr($log, $mark <= length $log ? $mark : length $log);
}
sub log_tail($self, $n = 30) {
    my @l = split /\n/, $self->error_log;
    return join "\n", @l[ ($#l - $n + 1 < 0 ? 0 : $#l - $n + 1) .. $#l ];
}

# Waits (briefly) until the log after $mark matches $re; returns the lines that match.
sub wait_log($self, $mark, $re, $timeout = 5) {
    my @m;
    WebhookTest::wait_for(sub { @m = grep { /$re/ } split /\n/, $self->log_since($mark); @m }, $timeout);
    return @m;
}

# Test: no [alert], [emerg] or [crit] line in the error log.
# Under SANITIZE=1, also no new sanitizer report (printed when there is one).
sub log_is_clean($self, $name = 'error log has no [alert]/[emerg]/[crit]') {
    my @bad = grep { /\[(?:alert|emerg|crit)\]/ } split /\n/, $self->error_log;
    my @san = $self->sanitizer_reports;
    my $ok = Test::More::ok(!@bad && !@san, $name);
    Test::More::diag(join "\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)]) if @bad;
    Test::More::diag($_) for @san;
    return $ok;
}

# Test: $needle does not appear anywhere in the error log (nor the access log).
sub log_lacks($self, $needle, $name = 'secret does not appear in the logs') {
    my $text = $self->error_log . (WebhookTest::read_file("$self->{prefix}/access.log") // '');
    return Test::More::ok(index($text, $needle) < 0, $name);
}

sub _cleanup($self) {
    my $master = $self->master_pid or return;
    return unless _alive($master);
    my @all = ($master, $self->worker_pids($master));
    kill 'QUIT', $master;
    _wait_gone(\@all, 5) or kill 'KILL', grep { _alive($_) } @all;
}

# ==============================================================================

package WebhookTest::Server;

# The base of the test's own servers (WebhookTest::Backend, the receivers and
# the DNS server of DeliveryTest, HostileTest::Upstream): a socket on loopback
# served by forked processes, which stop() — or the END cleanup when the test
# ends — stops with SIGTERM.
#
#   my $listen = WebhookTest::Server::tcp_listener(port => 0, backlog => 128);
#   my $self = bless { dir => WebhookTest::Server::temp_dir('backend'), port => $listen->sockport }, $class;
#   $self->serve($listen, children => 4);      # each child runs $self->_serve($listen)

use v5.36;
use Carp qw(croak);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX ();

# A listening TCP socket on 127.0.0.1 (port => 0: a free one).
sub tcp_listener(%o) {
    my %listen = (Proto => 'tcp', Listen => $o{backlog} // 128, ReuseAddr => 1);
    my $s = ($o{port} ? IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $o{port}, %listen)
                      : WebhookTest::loopback_socket(%listen))
        or croak(($o{what} // 'server') . " listen: $!");
    return $s;
}

# A temp dir for what a server records (kept with WEBHOOK_TEST_KEEP=1).
sub temp_dir($tag) { return tempdir("ngx_webhook_${tag}_XXXXXX", TMPDIR => 1, CLEANUP => !$ENV{WEBHOOK_TEST_KEEP}) }

# Runs $self->_serve($sock) in $o{children} forked processes (default 1),
# closes $sock in the test process and registers $self for the END cleanup.
sub serve($self, $sock, %o) {
    for (1 .. ($o{children} // 1)) {
        my $pid = fork // croak("fork: $!");
        if ($pid == 0) {
            $SIG{TERM} = 'DEFAULT';
            eval { $self->_serve($sock) };
            POSIX::_exit(0);
        }
        push @{ $self->{pids} }, $pid;
    }
    close $sock;
    WebhookTest::_register($self);
    return $self;
}

sub port($self) { return $self->{port} }
sub dir($self)  { return $self->{dir} }
sub url($self, $path = '/', $host = '127.0.0.1') { return "http://$host:$self->{port}$path" }

sub stop($self) {
    my @p = @{ $self->{pids} // [] } or return;
    kill 'TERM', @p;
    waitpid $_, 0 for @p;
    $self->{pids} = [];
}
sub _cleanup($self) { $self->stop }

# ==============================================================================

package WebhookTest::Backend;

# A forked HTTP/1.1 server on loopback that records every request (method,
# target, headers, exact body bytes) to files in a temp dir and answers with a
# configurable status. Each answer carries X-Backend-Seq: N, the number of the
# record; the body is {"seq":N,"received":LENGTH}.

use v5.36;
use parent -norequire, 'WebhookTest::Server';
use Time::HiRes qw(time);

sub start($class, %o) {
    my $listen = WebhookTest::Server::tcp_listener(port => $o{port}, what => 'backend');
    my $self = bless { dir => WebhookTest::Server::temp_dir('backend'), port => $listen->sockport }, $class;
    $self->set_status($o{status} // 200);
    return $self->serve($listen);
}

# Status for the following requests (a request header X-Backend-Status overrides).
sub set_status($self, $status) { WebhookTest::write_file("$self->{dir}/status", $status) }

sub _serve($self, $listen) {
    $SIG{PIPE} = 'IGNORE';
    my $seq = 0;
    while (1) {
        my $c = $listen->accept or next;
        $seq++;
        eval { $self->_handle($c, $seq) };
        close $c;
    }
}

sub _handle($self, $c, $seq) {
    my $req = WebhookTest::read_http_request($c, timeout => 30) or return;
    my $body = $req->{body};
    my $name = sprintf '%s/%06d', $self->{dir}, $seq;
    WebhookTest::write_file("$name.body.tmp", $body);
    WebhookTest::write_file("$name.json.tmp", WebhookTest::json_encode({
        seq => $seq, method => $req->{method}, target => $req->{target}, protocol => $req->{protocol},
        headers => $req->{headers}, header_list => $req->{header_list}, length => length $body, time => time,
    }));
    rename "$name.body.tmp", "$name.body";
    rename "$name.json.tmp", "$name.json";

    my $status = $req->{headers}{'x-backend-status'} // WebhookTest::read_file("$self->{dir}/status") // 200;
    $status =~ s/\D//g;
    my $resp = WebhookTest::json_encode({ seq => $seq, received => length $body }) . "\n";
    my $out = "HTTP/1.1 $status Backend\r\nContent-Type: application/json\r\nContent-Length: "
        . length($resp) . "\r\nX-Backend-Seq: $seq\r\nConnection: close\r\n\r\n$resp";
    WebhookTest::_write_all($c, $out);
    shutdown $c, 1;
}

# All recorded requests, oldest first: { seq, method, target, headers (lowercase
# names), header_list, body (exact bytes), length }.
sub requests($self) {
    my @r;
    for my $json (sort glob "$self->{dir}/*.json") {
        my $meta = WebhookTest::json_decode(WebhookTest::read_file($json) // '') or next;
        (my $b = $json) =~ s/\.json$/.body/;
        $meta->{body} = WebhookTest::read_file($b) // '';
        push @r, $meta;
    }
    return @r;
}
sub count($self) { return scalar(my @r = glob "$self->{dir}/*.json") }
sub last_request($self) { my @r = $self->requests; return $r[-1] }

sub request($self, $seq) {
    my $name = sprintf '%s/%06d', $self->{dir}, $seq;
    WebhookTest::wait_for(sub { -f "$name.json" }, 5) or return undef;
    my $meta = WebhookTest::json_decode(WebhookTest::read_file("$name.json")) or return undef;
    $meta->{body} = WebhookTest::read_file("$name.body") // '';
    return $meta;
}

# The record of the request that produced this response (by X-Backend-Seq).
sub request_for($self, $res) {
    my $seq = $res->{headers}{'x-backend-seq'} or return undef;
    return $self->request($seq);
}

# Asserts that the request behind $res reached this upstream with the body
# $want byte for byte and $webhook_verify_status "ok" in X-Verify (which the
# configuration sets: proxy_set_header X-Verify $webhook_verify_status).
# Returns the record.
sub received_verified($self, $res, $want, $name) {
    my $got = $self->request_for($res);
    Test::More::ok($got, "$name: reached the upstream") or return;
    Test::More::is(length $got->{body}, length $want, "$name: upstream body length");
    Test::More::is(Digest::SHA::sha256_hex($got->{body}), Digest::SHA::sha256_hex($want),
                   "$name: upstream body is byte for byte the same");
    Test::More::is($got->{headers}{'x-verify'}, 'ok', "$name: \$webhook_verify_status ok at the upstream");
    return $got;
}

# Forget everything recorded so far.
sub clear($self) { unlink glob "$self->{dir}/0*" }

1;
