# Ed25519 endpoints (docs/delivery.md#ed25519-signatures): POST /webhooks with
# "signing":"ed25519" answers with the public key (whpk_, shown any time, never
# the secret key); deliveries carry webhook-signature v1a,<base64 Ed25519 of
# id.timestamp.body>, verified by three independent implementations (Node's
# crypto, @noble/ed25519, tweetnacl); rotation signs with both keys for 24 h; a
# key imported as whsk_ (tweetnacl's 64-byte form); PATCH into another kind;
# the key survives a restart; webhook_sign hmac refuses Ed25519 endpoints.
use v5.36;
use Test::More;
use MIME::Base64 qw(encode_base64 decode_base64);
use WebhookTest qw(:all);
use KeysTest qw(:all);
use DeliveryTest qw(:all);

my $ADMIN = 'admin-key-delivery-ed25519-7c1d';

my $recv = DeliveryTest::ScriptedReceiver->start;
my $ng = delivery_nginx(admin => $ADMIN, state => 1, retries => '0s,1s');
$ng->start;

sub all_verify($pk, $reqs, $name) {
    my @v = ed25519_verify($pk, @$reqs);
    my @bad = grep { $v[$_]{node} ne '1' || $v[$_]{noble} ne '1' || $v[$_]{tweetnacl} ne '1' } 0 .. $#v;
    ok(@v == @$reqs && @v > 0 && !@bad, $name)
        or diag explain [map { { verdict => $v[$_], headers => $reqs->[$_]{headers} } } @bad];
}

sub none_verify($pk, $reqs, $name) {
    my @v = ed25519_verify($pk, @$reqs);
    ok(@v > 0 && !grep({ $_->{node} eq '1' || $_->{noble} eq '1' || $_->{tweetnacl} eq '1' } @v), $name)
        or diag explain \@v;
}

sub new_requests($path, $before, $n = 1) {
    my @all = $recv->wait_requests($path, $before + $n);
    return @all[$before .. $#all];
}

my $PK = qr{^whpk_[A-Za-z0-9+/]{43}=$};

# --- create: the public key, never a secret -----------------------------------------------------

my $res = api($ng, 'POST', '/webhooks', { url => $recv->url('/ed'), events => ['*'], signing => 'ed25519' }, key => $ADMIN);
is($res->{status}, 201, 'POST /webhooks signing ed25519: 201');
my $wh = $res->{json};
is($wh->{signing}, 'ed25519', 'the answer says signing ed25519');
like($wh->{public_key}, $PK, 'the answer has the public key: whpk_ + base64 of 32 bytes');
ok(!exists $wh->{secret}, 'no secret in the answer (the receiver needs only the public key)');
unlike($res->{content}, qr/whsk_|whsec_/, 'no secret key of any kind in the answer');

my $get = api($ng, 'GET', "/webhooks/$wh->{id}", undef, key => $ADMIN);
is($get->{json}{public_key}, $wh->{public_key}, 'GET shows the public key any time');
is($get->{json}{signing}, 'ed25519', 'GET shows the signing kind');
unlike($get->{content}, qr/whsk_/, 'GET shows no secret key');
my $list = api($ng, 'GET', '/webhooks', undef, key => $ADMIN);
my ($listed) = grep { $_->{id} eq $wh->{id} } @{ $list->{json}{webhooks} };
is($listed->{public_key}, $wh->{public_key}, 'the list shows the public key');

my $hm = create_webhook($ng, $ADMIN, url => $recv->url('/hmac'), events => ['*']);
is($hm->{signing}, 'hmac', 'an endpoint without signing signs with hmac');
ok(!exists $hm->{public_key}, 'an hmac endpoint has no public key');

# --- deliveries carry v1a ----------------------------------------------------------------------

my @data = ({ room => 'r1' }, { text => "unicode \x{e9}\x{2603}, quotes \" \\" }, [1, 2, 3]);
publish($ng, $ADMIN, type => 'room.on_air', data => $_) for @data;
my @ed = $recv->wait_requests('/ed', scalar @data);
is(scalar @ed, scalar @data, 'every event arrived at the Ed25519 endpoint');
for my $r (@ed) {
    like($r->{headers}{'webhook-signature'}, qr{^v1a,[A-Za-z0-9+/]{86}==$}, 'one v1a signature of 64 bytes');
}
all_verify($wh->{public_key}, \@ed, 'Node crypto, @noble/ed25519 and tweetnacl verify every delivery');
none_verify($wh->{public_key}, [map { { %$_, body => $_->{body} . ' ' } } @ed], 'a changed body does not verify');
none_verify($wh->{public_key}, [map { { %$_, headers => { %{ $_->{headers} }, 'webhook-id' => 'msg_other' } } } @ed],
            'another webhook-id does not verify');
my @hr = $recv->wait_requests('/hmac', scalar @data);
like($hr[0]{headers}{'webhook-signature'}, qr{^v1,}, 'the hmac endpoint still gets v1');
my $other = api($ng, 'POST', '/webhooks', { url => $recv->url('/ed2'), events => ['x.y'], signing => 'ed25519' }, key => $ADMIN)->{json};
isnt($other->{public_key}, $wh->{public_key}, 'each Ed25519 endpoint has its own key');
none_verify($other->{public_key}, \@ed, 'another endpoint\'s public key does not verify');

# --- rotation: both keys sign for 24 h ---------------------------------------------------------

$res = api($ng, 'POST', "/webhooks/$wh->{id}/rotate-secret", undef, key => $ADMIN);
is($res->{status}, 200, 'rotate-secret: 200');
my $rot = $res->{json};
like($rot->{public_key}, $PK, 'rotate-secret: the new public key');
is($rot->{previous_public_key}, $wh->{public_key}, 'rotate-secret: the previous public key');
isnt($rot->{public_key}, $wh->{public_key}, 'the new key differs');
like($rot->{previous_secret_expires_at} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'rotate-secret: when the previous key stops');
ok(!exists $rot->{secret} && $res->{content} !~ /whsk_/, 'rotate-secret shows no secret key');
$get = api($ng, 'GET', "/webhooks/$wh->{id}", undef, key => $ADMIN)->{json};
is($get->{previous_public_key}, $wh->{public_key}, 'GET shows the previous public key during the overlap');

my $before = $recv->count('/ed');
publish($ng, $ADMIN, type => 'room.on_air', data => { after => 'rotation' });
my ($rr) = new_requests('/ed', $before);
my @sigs = split / /, $rr->{headers}{'webhook-signature'} // '';
is(scalar(grep { /^v1a,/ } @sigs), 2, 'during the rotation: two v1a signatures');
all_verify($rot->{public_key}, [$rr], 'the new key verifies');
all_verify($wh->{public_key}, [$rr], 'the previous key still verifies');

# --- a key imported as whsk_ (libsodium's and tweetnacl's 64-byte secret key) --------------------------------------

# A pair made by Node, noble and tweetnacl (sign.mjs keypair), imported in
# libsodium's and tweetnacl's 64-byte form: seed || public key.
my ($seed_sk, $pk) = WebhookTest::ed25519_keypair();
my $sk = 'whsk_' . encode_base64(decode_base64(substr $seed_sk, 5) . decode_base64(substr $pk, 5), '');
is(length(decode_base64(substr $sk, 5)), 64, 'the secret key in its 64-byte form');
$res = api($ng, 'POST', '/webhooks', { url => $recv->url('/imported'), events => ['*'], secret => $sk }, key => $ADMIN);
is($res->{status}, 201, 'POST /webhooks with a whsk_ secret: 201');
is($res->{json}{signing}, 'ed25519', 'a whsk_ secret means signing ed25519');
is($res->{json}{public_key}, $pk, 'the public key is the one made elsewhere');
unlike($res->{content}, qr/whsk_/, 'the imported secret key is not echoed');
$before = $recv->count('/imported');
publish($ng, $ADMIN, type => 'room.on_air', data => { imported => 1 });
all_verify($pk, [new_requests('/imported', $before)], 'a delivery signed with the imported key verifies');

# --- bad requests change nothing ------------------------------------------------------------------

my $n = scalar @{ api($ng, 'GET', '/webhooks', undef, key => $ADMIN)->{json}{webhooks} };
my @bad = (
    [{ signing => 'rsa' }, qr/signing must be "hmac" or "ed25519"/, 'an unknown signing'],
    [{ signing => 1 }, qr/signing must be/, 'a signing that is not a string'],
    [{ signing => 'ed25519', secret => 'whsec_' . 'A' x 32 }, qr/secret: signing ed25519 takes a whsk_/, 'ed25519 with a whsec_ secret'],
    [{ signing => 'hmac', secret => $sk }, qr/secret: a whsk_ secret key signs with signing ed25519/, 'hmac with a whsk_ secret'],
    [{ secret => 'whsk_' . 'A' x 40 }, qr/secret: not an Ed25519 secret key/, 'a whsk_ that is no key'],
    [{ secret => 'whsk_' . substr($sk, 5, 60) . 'AAAA' }, qr/secret: not an Ed25519 secret key/, 'a whsk_ whose public half is not the seed\'s'],
);
for my $b (@bad) {
    my ($fields, $msg, $name) = @$b;
    my $r = api($ng, 'POST', '/webhooks', { url => $recv->url('/bad'), events => ['*'], %$fields }, key => $ADMIN);
    is($r->{status}, 400, "$name: 400");
    is($r->{json}{error}{code}, 'invalid_request', "$name: invalid_request");
    like($r->{json}{error}{message} // '', $msg, "$name: the message names the field");
}
is(scalar @{ api($ng, 'GET', '/webhooks', undef, key => $ADMIN)->{json}{webhooks} }, $n, 'no endpoint was created by a bad request');

# --- PATCH into Ed25519: both kinds sign meanwhile ---------------------------------------------------

$res = api($ng, 'PATCH', "/webhooks/$hm->{id}", { signing => 'ed25519' }, key => $ADMIN);
is($res->{status}, 200, 'PATCH signing ed25519: 200');
is($res->{json}{signing}, 'ed25519', 'PATCH: now ed25519');
like($res->{json}{public_key}, $PK, 'PATCH: the new public key');
ok(!exists $res->{json}{secret}, 'PATCH into ed25519 shows no secret');
my $hm_pk = $res->{json}{public_key};
$before = $recv->count('/hmac');
publish($ng, $ADMIN, type => 'room.on_air', data => { migrated => 1 });
($rr) = new_requests('/hmac', $before);
like($rr->{headers}{'webhook-signature'}, qr{^v1a,\S+ v1,\S+$}, 'after the switch: v1a (new key) and v1 (old secret)');
all_verify($hm_pk, [$rr], 'the new Ed25519 key verifies');
my @lib = library_verify($hm->{secret}, $rr);
is_deeply(\@lib, [{ standardwebhooks => 1, svix => 1 }], 'standardwebhooks and svix still verify the v1 beside it');
is(api($ng, 'PATCH', "/webhooks/$hm->{id}", { signing => 'ed25519' }, key => $ADMIN)->{json}{public_key}, $hm_pk,
   'PATCH to the kind it has already: no rotation');
$res = api($ng, 'PATCH', "/webhooks/$other->{id}", { signing => 'hmac' }, key => $ADMIN);
like($res->{json}{secret} // '', qr/^whsec_/, 'PATCH back to hmac: the new whsec_ secret, shown once');
is($res->{json}{previous_public_key}, $other->{public_key}, 'PATCH back to hmac: the Ed25519 key signs meanwhile');

# --- the key survives a restart (journal) ------------------------------------------------------------

$ng->stop;
$ng->start;
$get = api($ng, 'GET', "/webhooks/$wh->{id}", undef, key => $ADMIN)->{json};
is($get->{public_key}, $rot->{public_key}, 'after a restart: the same public key');
$before = $recv->count('/ed');
publish($ng, $ADMIN, type => 'room.on_air', data => { after => 'restart' });
($rr) = new_requests('/ed', $before);
all_verify($rot->{public_key}, [$rr], 'after a restart: deliveries verify with the same key');

$ng->log_is_clean;
unlike($ng->error_log . (read_file($ng->prefix . '/access.log') // ''), qr{whsk_[A-Za-z0-9+/]{16}}, 'no secret key in the logs');
$ng->log_lacks(substr($sk, 5, 20), 'the imported secret key is not logged');

# --- webhook_sign hmac has no Ed25519 form --------------------------------------------------------

my $hs = delivery_nginx(admin => $ADMIN, sign => 'webhook_sign hmac header=X-Signature prefix=sha256= encoding=hex;');
$hs->start;
$res = api($hs, 'POST', '/webhooks', { url => $recv->url('/x'), events => ['*'], signing => 'ed25519' }, key => $ADMIN);
is($res->{status}, 400, 'webhook_sign hmac: signing ed25519 is refused (400)');
like($res->{json}{error}{message} // '', qr/signing: ed25519 needs webhook_sign standard/, '… naming the directive');
$hs->log_is_clean('hmac instance: error log has no [alert]/[emerg]/[crit]');

done_testing;
