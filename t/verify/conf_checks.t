# nginx -t and webhook_verify's mistakes (issue 9): a `return` runs in the
# rewrite phase, before webhook_verify (access phase), so requests it answers
# are never verified. Refused when it answers every request, a [warn] when it
# may (inside `if`, after `rewrite`); each message at the directive's own line.
use v5.36;
use Test::More;
use WebhookTest qw(:all);
use ConfTest qw(refused warned accepted app_conf);

sub server($locations, $server = '') { return app_conf($locations, server => $server) }

my $ALWAYS = 'webhook_verify: "return" here answers every request in the rewrite phase, before webhook_verify runs '
           . '(access phase): no request would be verified; remove "return" and let requests go on to proxy_pass (or '
           . 'another content handler)';
my $SERVER = 'webhook_verify: the server\'s "return" answers every request in the rewrite phase, before webhook_verify '
           . 'runs (access phase): no request would be verified; move that "return" into a location of its own';
my $SOMETIMES = 'webhook_verify: a "return" inside "if" (or after "rewrite" or "break") here answers in the rewrite '
              . 'phase, before webhook_verify runs (access phase): the requests it answers are not verified; if that '
              . 'is not intended, move it to a location without webhook_verify';
my $PROXY = 'proxy_pass http://127.0.0.1:%%PORT2%%;';

refused('return in the location', server("location /hook { webhook_verify github secret=s; return 200; }"),
        'webhook_verify github', qq{$ALWAYS (location "/hook")});
refused('return before webhook_verify in the location',
        server("location /hook {\n return 204;\n webhook_verify github secret=s;\n }"),
        'webhook_verify github', qq{$ALWAYS (location "/hook")});
refused('return at server level', server("location /hook { webhook_verify github secret=s; $PROXY }", 'return 301 https://example.com;'),
        'webhook_verify github', qq{$SERVER (location "/hook")});
refused('webhook_verify and return at server level', server('', "webhook_verify github secret=s;\n return 200;"),
        'webhook_verify github', $ALWAYS);
refused('in an included file', server('include %%PREFIX%%/conf/inc.conf;'), 'webhook_verify github',
        qq{$ALWAYS (location "/inc")},
        include => "location /inc {\n    proxy_set_header X-A a;\n    webhook_verify github secret=s;\n    return 200;\n}\n");

warned('return inside if', server("location /hook { webhook_verify github secret=s; if (\$arg_ping) { return 200 pong; } $PROXY }"),
       'webhook_verify github', qq{$SOMETIMES (location "/hook")});
warned('return after rewrite ... last', server("location /hook { webhook_verify github secret=s; rewrite ^ /other last; return 200; }"),
       'webhook_verify github', qq{$SOMETIMES (location "/hook")});

accepted('webhook_verify with proxy_pass', server("location /hook { webhook_verify github secret=s; $PROXY }"));
accepted('a return inside a server-level if is about the server',
         server("location /hook { webhook_verify github secret=s; $PROXY }", 'if ($host = bad.example) { return 444; }'));
accepted('an inherited webhook_verify and a location of its own with return',
         server("location /health { return 200; }\n location /hook { $PROXY }", 'webhook_verify github secret=s;'));
accepted('webhook_verify off and return', server("location /hook { webhook_verify off; return 200; }"));

# A named location is entered past the server's rewrites (error_page, try_files):
# there webhook_verify does run, so a server-level return is fine.
{
    my ($ng) = accepted('a named location after a server-level return',
                        server("location \@hook { webhook_verify github secret=s; $PROXY }",
                               "error_page 418 = \@hook;\n return 418;"));
    $ng->start;
    my $body = '{"a":1}';
    is(http_post($ng->url('/x'), $body)->{status}, 401, 'named location: an unsigned request is refused (401)');
    is(http_post($ng->url('/x'), $body, sign_github('s', $body))->{status}, 200, 'named location: a signed one passes');
    $ng->log_is_clean;
    $ng->stop;
}

# A zone referred to after the http block is parsed: the message names the
# directive's own line, not the end of http{}.
refused('replay=on with two zones', <<'EOF', 'webhook_verify github', 'webhook_verify replay=: zone=NAME is needed: the configuration has 2 webhook_zone directives (location "/hook")');
    webhook_zone zone=a:1m;
    webhook_zone zone=b:1m;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /hook {
            webhook_verify github secret=s replay=on;
            proxy_pass http://127.0.0.1:%%PORT%%;
        }
    }
EOF

# replay= once: a second one (even "off") would silently override the first.
refused('replay= with a zone, then off', server("location /hook { webhook_verify github secret=s replay=wz replay=off; $PROXY }"),
        'webhook_verify github', 'webhook_verify: invalid replay= in "replay=off" (given twice)');
refused('replay=on twice', server("location /hook { webhook_verify github secret=s replay=on replay=on; $PROXY }"),
        'webhook_verify github', 'webhook_verify: invalid replay= in "replay=on" (given twice)');

# Standard Webhooks' asymmetric keys (v1a): a public key (whpk_) is a secret=
# of `standard`; a secret key (whsk_) is the sender's and is refused, as is a
# whpk_ that is not 32 bytes. Messages name the secret=, never the key.
{
    use MIME::Base64 qw(encode_base64);
    # RFC 8032 §7.1 TEST 1's key pair
    my $pk = 'whpk_' . encode_base64(pack('H*', 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'), '');
    my $sk = 'whsk_' . encode_base64(pack('H*', '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'), '');
    my $hmac = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    my $SK_MSG = 'webhook_verify standard: secret=whsk_... is an Ed25519 secret key%s: give the sender\'s public key '
               . '(whpk_...) here; the secret key belongs to the sender only';
    my $PK_MSG = 'webhook_verify standard: secret=whpk_...%s is not an Ed25519 public key: whpk_ must be followed by '
               . 'the base64 of 32 bytes';
    my (undef, $out) = refused('a whsk_ secret key', server("location /hook { webhook_verify standard secret=$sk; $PROXY }"),
                               'webhook_verify standard', sprintf($SK_MSG, ''));
    unlike($out, qr/\Q@{[substr($sk, 5, 12)]}\E/, 'a whsk_ secret key: not echoed by nginx -t');
    refused('a whsk_ next to a whpk_',
            server("location /hook { webhook_verify standard secret=$pk secret=$sk; $PROXY }"),
            'webhook_verify standard', sprintf($SK_MSG, ' (secret= number 2)'));
    refused('a whpk_ of 31 bytes', server("location /hook { webhook_verify standard secret=whpk_"
                                          . encode_base64('x' x 31, '') . "; $PROXY }"),
            'webhook_verify standard', sprintf($PK_MSG, ''));
    refused('a whpk_ of 33 bytes, second of two',
            server("location /hook { webhook_verify standard secret=$hmac secret=whpk_" . encode_base64('x' x 33, '')
                   . " replay=wz; $PROXY }"),
            'webhook_verify standard', sprintf($PK_MSG, ' (secret= number 2)'));
    refused('a whpk_ that is not base64', server("location /hook { webhook_verify standard secret=whpk_not*base64; $PROXY }"),
            'webhook_verify standard', sprintf($PK_MSG, ''));
    refused('an empty whpk_', server("location /hook { webhook_verify standard secret=whpk_; $PROXY }"),
            'webhook_verify standard', sprintf($PK_MSG, ''));
    refused('a whpk_ for github', server("location /hook { webhook_verify github secret=$pk; $PROXY }"),
            'webhook_verify github',
            'webhook_verify github: secret=whpk_... is an Ed25519 key: Ed25519 (v1a) signatures are the "standard" scheme\'s');
    refused('a whsk_ for hmac', server("location /hook { webhook_verify hmac secret=s secret=$sk; $PROXY }"),
            'webhook_verify hmac',
            'webhook_verify hmac: secret=whsk_... is an Ed25519 key (secret= number 2): Ed25519 (v1a) signatures are '
            . 'the "standard" scheme\'s');

    accepted('a whpk_', server("location /hook { webhook_verify standard secret=$pk; $PROXY }"));
    accepted('a whpk_ without its base64 padding', server("location /hook { webhook_verify standard secret="
                                                          . ($pk =~ s/=+$//r) . "; $PROXY }"));
    accepted('whpk_, whsec_ and a variable, with replay=',
             "map \$http_x_tenant \$tenant_key { default $pk; }\n"
             . server("location /hook { webhook_verify standard secret=$pk secret=$hmac secret=\$tenant_key replay=wz; $PROXY }"));
}

done_testing;
