# webhook_verify: every way a body can arrive — preread with the headers, in
# pieces with pauses, chunked, Expect: 100-continue, bigger than
# client_body_buffer_size (temp file), empty, over client_max_body_size (413),
# HTTP/2 — and internal redirects after verification. The upstream must get
# the body byte for byte.
use v5.36;
use Test::More;
use WebhookTest qw(:all);

my $GH = 'bodies-secret-9d1e';

my $backend = WebhookTest::Backend->start;
my $ng = WebhookTest::Nginx->new(vars => { BACKEND => $backend->port, GH => $GH }, conf => <<'EOF');
    client_body_buffer_size 16k;
    client_max_body_size 64m;

    server {
        listen 127.0.0.1:%%PORT%%;
        listen 127.0.0.1:%%PORT2%% http2;
        proxy_set_header X-Verify $webhook_verify_status;

        location /gh {
            webhook_verify github secret=%%GH%%;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /small-limit {
            client_max_body_size 1k;
            webhook_verify github secret=%%GH%%;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /unbuffered {
            webhook_verify github secret=%%GH%%;
            proxy_request_buffering off;
            proxy_http_version 1.1;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }

        # internal redirects after verification
        location /tf/ {
            webhook_verify github secret=%%GH%%;
            try_files /nonexistent-file @up;
        }
        location /tf-report/ {
            webhook_verify github secret=%%GH%% mode=report;
            try_files /nonexistent-file @up;
        }
        location @up {
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /tf-inner/ {
            webhook_verify github secret=%%GH%%;
            try_files /nonexistent-file /inner$uri;
        }
        location /inner/ {
            webhook_verify github secret=%%GH%%;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /ep/ {
            webhook_verify github secret=%%GH%%;
            proxy_intercept_errors on;
            error_page 500 = @fallback;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location @fallback {
            proxy_set_header X-Backend-Status 200;
            proxy_set_header X-Fallback yes;
            proxy_set_header X-Verify $webhook_verify_status;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /rw/ {
            rewrite ^/rw/(.*)$ /inner/$1 last;
        }
    }
EOF
$ng->start;

my $body = qq({"event":"sync","rows":[) . join(',', map { qq({"i":$_,"v":"\xc3\xa9$_"}) } 1 .. 40) . "]}\n";
my $sig = sign_github($GH, $body);

sub upstream_got($res, $want, $name) { return $backend->received_verified($res, $want, $name) }

# --- HTTP/1.1 shapes -------------------------------------------------------------

{   # preread: head and body in one write
    my $res = raw_request($ng->port, raw_http('POST', '/gh', $sig, $body));
    is($res->{status}, 200, 'preread body: 200');
    upstream_got($res, $body, 'preread body');
}
{   # head alone, then the body in pieces with pauses
    my $req = raw_http('POST', '/gh', $sig, $body);
    my $hend = index($req, "\r\n\r\n") + 4;
    my @pieces = (substr($req, 0, 20), substr($req, 20, $hend - 20));
    my $b = substr $req, $hend;
    my $q = int(length($b) / 4);
    push @pieces, substr($b, 0, 1), substr($b, 1, $q), substr($b, 1 + $q, $q), substr($b, 1 + 2 * $q);
    my $res = raw_request($ng->port, \@pieces, pause => 0.25);
    is($res->{status}, 200, 'body in pieces with pauses: 200');
    upstream_got($res, $body, 'body in pieces');

    # the same, the last piece tampered: refused once the whole body is in
    my $n = $backend->count;
    $pieces[-1] =~ s/.\z/X/s;
    $res = raw_request($ng->port, \@pieces, pause => 0.25);
    is($res->{status}, 401, 'pieces, last byte tampered: 401');
    is(error_code($res), 'bad_signature', 'pieces, last byte tampered: bad_signature');
    is($backend->count, $n, 'pieces, tampered: nothing passed on');
}
{   # chunked, odd chunk sizes, sent in pieces
    my $chunked = chunked_body([substr($body, 0, 1), substr($body, 1, 333), substr($body, 334, 1), substr($body, 335)]);
    my $head = raw_http('POST', '/gh', { %$sig, 'Transfer-Encoding' => 'chunked' }, undef);
    my $res = raw_request($ng->port, [$head, substr($chunked, 0, 50), substr($chunked, 50)], pause => 0.2);
    is($res->{status}, 200, 'chunked: 200');
    upstream_got($res, $body, 'chunked');

    $res = raw_request($ng->port, raw_http('POST', '/gh', { %$sig, 'Transfer-Encoding' => 'chunked' },
                                           chunked_body("$body!", 100)));
    is($res->{status}, 401, 'chunked, extra byte: 401');
    is(error_code($res), 'bad_signature', 'chunked, extra byte: bad_signature');
}
{   # Expect: 100-continue
    my $res = expect_continue_request($ng->port, 'POST', '/gh', $sig, $body);
    ok($res->{got_continue}, 'Expect: 100-continue: got 100 Continue before sending the body');
    is($res->{status}, 200, 'Expect: 100-continue: 200');
    upstream_got($res, $body, 'Expect: 100-continue');

    my $n = $backend->count;
    $res = expect_continue_request($ng->port, 'POST', '/gh', {}, $body);
    is($res->{status}, 401, 'Expect: 100-continue without signature: 401');
    is(error_code($res), 'missing_signature', 'Expect: 100-continue without signature: missing_signature');
    is($backend->count, $n, 'Expect: 100-continue without signature: nothing passed on');
}
{   # empty body
    my $res = http_post($ng->url('/gh'), '', sign_github($GH, ''));
    is($res->{status}, 200, 'empty body signed: 200');
    upstream_got($res, '', 'empty body');
    $res = http_post($ng->url('/gh'), '', $sig);
    is($res->{status}, 401, 'empty body with the signature of another body: 401');
    $res = raw_request($ng->port, raw_http('POST', '/gh', { %{ sign_github($GH, '') }, 'Transfer-Encoding' => 'chunked' },
                                           "0\r\n\r\n"));
    is($res->{status}, 200, 'empty chunked body signed: 200');
}

# --- bigger than client_body_buffer_size: a temp file -----------------------------------

{
    my $big = random_bytes(8 * 1024 * 1024 + 17);
    my $bsig = sign_github($GH, $big);
    my $mark = $ng->log_mark;
    my $res = http_post($ng->url('/gh'), $big, $bsig);
    is($res->{status}, 200, '8 MiB binary body (temp file): 200');
    upstream_got($res, $big, '8 MiB binary body');
    ok(scalar $ng->wait_log($mark, qr/buffered to a temporary file/),
       '8 MiB body: NGINX buffered it to a temporary file');

    my $n = $backend->count;
    my $tampered = $big;
    substr($tampered, 4 * 1024 * 1024, 1) = chr(ord(substr($tampered, 4 * 1024 * 1024, 1)) ^ 1);
    $res = http_post($ng->url('/gh'), $tampered, $bsig);
    is($res->{status}, 401, '8 MiB body, one bit flipped in the middle: 401');
    is(error_code($res), 'bad_signature', '8 MiB body tampered: bad_signature');
    is($backend->count, $n, '8 MiB body tampered: nothing passed on');

    # chunked and in pieces, still a temp file
    my $head = raw_http('POST', '/gh', { %$bsig, 'Transfer-Encoding' => 'chunked' }, undef);
    my $chunked = chunked_body($big, 65000);
    my $half = int(length($chunked) / 2);
    $res = raw_request($ng->port, [$head, substr($chunked, 0, $half), substr($chunked, $half)], pause => 0.2);
    is($res->{status}, 200, '8 MiB chunked body: 200');
    upstream_got($res, $big, '8 MiB chunked body');

    # proxy_request_buffering off after verification
    $res = http_post($ng->url('/unbuffered'), $big, $bsig);
    is($res->{status}, 200, '8 MiB body, proxy_request_buffering off: 200');
    upstream_got($res, $big, '8 MiB body, proxy_request_buffering off');
}
{
    my $res = http_post($ng->url('/unbuffered'), $body, $sig);
    is($res->{status}, 200, 'small body, proxy_request_buffering off: 200');
    upstream_got($res, $body, 'small body, proxy_request_buffering off');
}

# --- over client_max_body_size: NGINX's own 413 -----------------------------------------

{
    my $n = $backend->count;
    my $over = 'a' x 2048;
    my $res = http_post($ng->url('/small-limit'), $over, sign_github($GH, $over));
    is($res->{status}, 413, 'Content-Length over client_max_body_size: 413');
    $res = raw_request($ng->port, raw_http('POST', '/small-limit',
        { %{ sign_github($GH, $over) }, 'Transfer-Encoding' => 'chunked' }, chunked_body($over, 512)));
    is($res->{status}, 413, 'chunked over client_max_body_size: 413');
    is($backend->count, $n, '413: nothing passed on');
    my $ok = 'a' x 1000;
    $res = http_post($ng->url('/small-limit'), $ok, sign_github($GH, $ok));
    is($res->{status}, 200, 'under client_max_body_size: 200');
}

# --- HTTP/2 (cleartext, prior knowledge) -------------------------------------------------

{
    my $h2 = $ng->url('/gh', 'PORT2');
    my $res = curl_request('POST', $h2, $sig, $body, http2 => 1);
    is($res->{http_version}, '2', 'HTTP/2: curl spoke HTTP/2') or diag($res->{output});
    is($res->{status}, 200, 'HTTP/2 signed: 200');
    upstream_got($res, $body, 'HTTP/2');

    my $n = $backend->count;
    $res = curl_request('POST', $h2, sign_github('wrong', $body), $body, http2 => 1);
    is($res->{status}, 401, 'HTTP/2 wrong secret: 401');
    is(error_code($res), 'bad_signature', 'HTTP/2 wrong secret: bad_signature');
    # Refused before the body is read: NGINX answers, then resets the stream
    # with NO_ERROR (as for its own 413 or `return 401`); curl 7.88 reports that
    # as error 92 when its upload is still in flight, so this one has no body.
    $res = curl_request('POST', $h2, {}, '', http2 => 1);
    is($res->{status}, 401, 'HTTP/2 unsigned: 401') or diag("$res->{exit} $res->{output}");
    is(error_code($res), 'missing_signature', 'HTTP/2 unsigned: missing_signature');
    is($backend->count, $n, 'HTTP/2 refusals: nothing passed on');

    my $big = random_bytes(1024 * 1024 + 3);
    $res = curl_request('POST', $h2, sign_github($GH, $big), $big, http2 => 1);
    is($res->{status}, 200, 'HTTP/2 1 MiB body (temp file): 200');
    upstream_got($res, $big, 'HTTP/2 1 MiB body');

    # Several streams on one connection are not tested: curl 7.88 cannot reuse an
    # h2c prior-knowledge connection (error 16 on the second transfer, even
    # against a plain proxy_pass location).
}

# --- internal redirects after verification ------------------------------------------------

{
    my $res = http_post($ng->url('/tf/a'), $body, $sig);
    is($res->{status}, 200, 'try_files to a named location after verification: 200');
    upstream_got($res, $body, 'try_files -> @up (verdict survives into a location without webhook_verify)');
    $res = http_post($ng->url('/tf/a'), $body, sign_github('wrong', $body));
    is($res->{status}, 401, 'try_files location, wrong secret: 401 before the redirect');

    $res = http_post($ng->url('/tf-inner/b'), $body, $sig);
    is($res->{status}, 200, 'try_files into another verifying location: 200');
    upstream_got($res, $body, 'try_files -> /inner/ (verified again, body already read)');
    $res = http_post($ng->url('/tf-inner/b'), $body, {});
    is($res->{status}, 401, 'try_files into another verifying location, unsigned: 401');

    $res = http_post($ng->url('/tf-report/c'), $body, sign_github('wrong', $body));
    is($res->{status}, 200, 'mode=report then try_files: passes');
    my $got = $backend->request_for($res);
    is($got && $got->{headers}{'x-verify'}, 'bad_signature', 'mode=report then try_files: the verdict survives');

    $res = http_post($ng->url('/ep/d'), $body, { %$sig, 'X-Backend-Status' => 500 });
    is($res->{status}, 200, 'error_page after the upstream failed: the fallback answered 200');
    $got = upstream_got($res, $body, 'error_page 500 = @fallback (body sent again)');
    is($got && $got->{headers}{'x-fallback'}, 'yes', 'error_page: it was the fallback location');

    $res = http_post($ng->url('/rw/e'), $body, $sig);
    is($res->{status}, 200, 'rewrite ... last into a verifying location: 200');
    upstream_got($res, $body, 'rewrite ... last');
    $res = http_post($ng->url('/rw/e'), $body, {});
    is($res->{status}, 401, 'rewrite ... last, unsigned: 401');
}

$ng->log_is_clean;
$ng->log_lacks($GH, 'the secret is not in the logs');
done_testing;
