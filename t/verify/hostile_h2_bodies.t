# Bodies NGINX refuses, over HTTP/2 (h2c, t/npm/h2client.mjs): a body with
# no content-length that grows over client_max_body_size (the second DATA
# frame after a pause), with no error_page, with `error_page 413 @named`, and
# with the error page served inside the location (t/verify/hostile_h2_framing.t has
# the content-length cases). On webhook_verify (and api_key_auth,
# webhook_emit, webhook_api) locations, with the stock /plain* locations as
# controls. The stream must get NGINX's own answer (413, or the error page)
# and end;
# then fds, CLOSE-WAIT, stub_status, zone bytes back to the baseline and a
# clean error.log (stop included: no "open socket ... left in connection").
#
# Known defect caught here: with the body over the limit and an error page,
# webhook_verify leaves the HTTP/2 connection open ("open socket #N left in
# connection M" at exit); with the page inside the verifying location the
# stream gets no answer at all.
use v5.36;
use Test::More;
use WebhookTest qw(:all);
use HostileTest qw(:all);

my $t = hostile_setup();
# h2_over sends 1200 bytes in two DATA frames; the -small and -epself locations allow 1k.
my $named = qr/\Acustom too large\n\z/;
my $page = qr/\Acustom too large page\n\z/;

for my $g ('plain', 'verify') {
    scenario($t, "h2 /$g-small: body over client_max_body_size, no content-length", sub {
        h2_all_ok(h2_over($t, "/$g-small", $g), h2_answer(413), '413, stream ended');
    });
}
for my $g ('plain', 'verify') {
    scenario($t, "h2 /$g-small-ep (error_page 413 \@named): body over the limit, no content-length", sub {
        h2_all_ok(h2_over($t, "/$g-small-ep", $g), h2_answer(413, $named), '413 with the error page, stream ended');
    });
}
for my $g ('plain', 'verify', 'keys', 'emit') {
    scenario($t, "h2 /$g-epself/ (page inside the location): body over the limit, no content-length", sub {
        h2_all_ok(h2_over($t, "/$g-epself/x", $g), h2_answer(413, $page), '413 with the error page, stream ended');
    });
}
scenario($t, 'h2 /v1ep/ (error_page 413 @named): body over the API limit (64k), no content-length', sub {
    my $rep = h2_burst($t, request => { method => 'POST', path => '/v1ep/events',
                                        headers => { authorization => "Bearer $ADMIN", 'content-type' => 'application/json' },
                                        body => [{ fill => 40000 }, { fill => 40000 }] },
                       action => 'complete', pause_ms => 300);
    h2_all_ok($rep, h2_answer(413, $named), '413 with the error page, stream ended');
});
finish($t);
done_testing;
