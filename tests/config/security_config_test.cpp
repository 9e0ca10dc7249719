// Ticket, SCRAM and ACL-check keys (global scope, Wisp-only).
#include <doctest/doctest.h>

#include "config_test_util.h"

using namespace config_test;

TEST_CASE("ticket keys: defaults, every key, and tickets off without them") {
  TempDir dir;
  auto none = load_ok(dir.write("a.conf", "listener 1883\n"));
  CHECK_FALSE(none.tickets.has_value());
  CHECK(none.scram_file.empty());
  CHECK_FALSE(none.acl_subscribe_strict);

  auto hs = load_ok(dir.write("b.conf", "ticket_secret_file /etc/wisp/secret\n"));
  REQUIRE(hs.tickets.has_value());
  CHECK(hs.tickets->algorithm == "HS256");
  CHECK(hs.tickets->secret_file == "/etc/wisp/secret");
  CHECK(hs.tickets->username_claim == "sub");
  CHECK(hs.tickets->clock_skew_s == 30);
  CHECK(hs.tickets->lifetime_s == 300);
  CHECK_FALSE(hs.tickets->audience.has_value());
  CHECK(hs.tickets->cookie_name == "wisp_ticket");

  auto all = load_ok(dir.write("c.conf",
                               "ticket_algorithm ES256\n"
                               "ticket_public_key_file /k/pub.pem\n"
                               "ticket_username_claim email\n"
                               "ticket_clock_skew 5\n"
                               "ticket_audience mqtt.example.com\n"
                               "ticket_lifetime 60\n"
                               "ticket_cookie mqtt_t\n"
                               "scram_file /k/scram\n"
                               "acl_subscribe_check strict\n"));
  REQUIRE(all.tickets.has_value());
  CHECK(all.tickets->algorithm == "ES256");
  CHECK(all.tickets->public_key_file == "/k/pub.pem");
  CHECK(all.tickets->username_claim == "email");
  CHECK(all.tickets->clock_skew_s == 5);
  CHECK(all.tickets->audience == "mqtt.example.com");
  CHECK(all.tickets->lifetime_s == 60);
  CHECK(all.tickets->cookie_name == "mqtt_t");
  CHECK(all.scram_file == "/k/scram");
  CHECK(all.acl_subscribe_strict);
}

TEST_CASE("ticket keys: inconsistent or bad values are errors naming the line") {
  TempDir dir;
  auto err = [&](const std::string& text) { return load_error(dir, dir.write("w.conf", text)); };
  CHECK(err("ticket_lifetime 60\n") ==
        "w.conf:1: tickets with 'ticket_algorithm HS256' need 'ticket_secret_file'");
  CHECK(err("ticket_algorithm RS256\nticket_secret_file /s\n") ==
        "w.conf:1: tickets with 'ticket_algorithm RS256' need 'ticket_public_key_file'");
  CHECK(err("ticket_secret_file /s\nticket_public_key_file /p\n") ==
        "w.conf:1: 'ticket_public_key_file' needs 'ticket_algorithm RS256' or 'ES256'");
  CHECK(err("ticket_algorithm none\n") ==
        "w.conf:1: 'ticket_algorithm' must be HS256, RS256 or ES256, not 'none'");
  CHECK(err("ticket_algorithm HS256\nticket_algorithm HS256\n") ==
        "w.conf:2: duplicate 'ticket_algorithm' (first set at w.conf:1)");
  CHECK(err("ticket_secret_file /s\nticket_lifetime 0\n") ==
        "w.conf:2: 'ticket_lifetime' must be an integer from 1 to 86400, not '0'");
  CHECK(err("ticket_secret_file /s\nticket_cookie a=b\n") ==
        "w.conf:2: 'ticket_cookie' is not a valid cookie name: 'a=b'");
  CHECK(err("acl_subscribe_check loose\n") ==
        "w.conf:1: 'acl_subscribe_check' must be mosquitto or strict, not 'loose'");
}
