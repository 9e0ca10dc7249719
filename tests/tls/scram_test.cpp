// SCRAM: the RFC 7677 SCRAM-SHA-256 exchange byte for byte, SCRAM-SHA-512 against a
// Mosquitto "$7$" hash, and the failure paths (wrong password, nonce, channel binding).
#include "tls/scram.h"

#include <doctest/doctest.h>

#include <sstream>

#include "tests/tls/test_util.h"
#include "tls/base64.h"
#include "tls/password_file.h"

namespace {
constexpr const char* kAlice7 =
    "$7$101$AKWeCOSnFEMRHni9$6AeaTAwiRDm5fFrY64G7cEsijFzB8iPCMX4F6Y06KKGdnAdWHIqX9y+"
    "dCGzsiO12xAf+Qet+VYEbzuaCdXuyZg==";

tls::ScramCredential rfc7677_credential() {
  auto salt = tls::base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==");
  REQUIRE(salt);
  auto c = tls::scram_credential(tls::ScramHash::sha256, "pencil", *salt, 4096);
  REQUIRE(c);
  return *c;
}
}  // namespace

TEST_CASE("RFC 7677 SCRAM-SHA-256 example, server side") {
  tls::ScramServer s(tls::ScramHash::sha256);
  auto user = s.client_first("n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  REQUIRE(user);
  CHECK(*user == "user");
  auto first = s.server_first(rfc7677_credential(), "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
  REQUIRE(first);
  CHECK(*first ==
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
  auto final_msg = s.client_final(
      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
      "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  REQUIRE_MESSAGE(final_msg, (final_msg ? "" : final_msg.error().message));
  CHECK(*final_msg == "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

TEST_CASE("RFC 7677 SCRAM-SHA-256 example, client side") {
  tls::ScramClient c(tls::ScramHash::sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
  CHECK(c.client_first() == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  auto fin = c.client_final(
      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
  REQUIRE(fin);
  CHECK(*fin ==
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  CHECK(c.verify_server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="));
  CHECK_FALSE(c.verify_server_final("v=AAAA"));
}

TEST_CASE("SCRAM-SHA-512 works against a mosquitto_passwd $7$ hash") {
  auto h = tls::parse_password_hash(kAlice7);
  REQUIRE(h);
  for (const char* password : {"secret", "wrong"}) {
    CAPTURE(password);
    auto cred = tls::scram_credential(*h);
    REQUIRE(cred);
    tls::ScramClient c(tls::ScramHash::sha512, "alice", password);
    tls::ScramServer s(tls::ScramHash::sha512);
    REQUIRE(s.client_first(c.client_first()));
    auto first = s.server_first(*cred);
    REQUIRE(first);
    CHECK(first->find(",i=101") != std::string::npos);
    auto fin = c.client_final(*first);
    REQUIRE(fin);
    auto last = s.client_final(*fin);
    if (std::string(password) == "secret") {
      REQUIRE(last);
      CHECK(c.verify_server_final(*last));
    } else {
      REQUIRE_FALSE(last);
      CHECK(last.error().message == "SCRAM: bad proof (wrong password)");
    }
  }
  tls::PasswordHash sha6;
  sha6.kind = tls::HashKind::sha512;
  CHECK_FALSE(tls::scram_credential(sha6));
}

TEST_CASE("SCRAM protocol errors") {
  const auto run = [](const char* first) {
    tls::ScramServer s(tls::ScramHash::sha256);
    auto r = s.client_first(first);
    return r ? std::string("OK") : r.error().message;
  };
  CHECK(run("n,,n=user,r=abc") == "OK");
  CHECK(run("p=tls-unique,,n=user,r=abc") == "SCRAM: channel binding is not supported");
  CHECK(run("n,a=admin,n=user,r=abc") == "SCRAM: authorization identity is not supported");
  CHECK(run("n,,m=ext,n=user,r=abc") == "SCRAM: mandatory extension not supported");
  CHECK(run("n,,n=user") == "SCRAM: missing username or nonce");
  CHECK(run("n,,n=us=xer,r=abc") == "SCRAM: bad username encoding");
  CHECK(run("x,,n=user,r=abc") == "SCRAM: bad gs2 header");
  CHECK(run("") == "SCRAM: client-first-message too short");
  {
    tls::ScramServer s(tls::ScramHash::sha256);
    auto u = s.client_first("n,,n=a=2Cb=3Dc,r=abc");
    REQUIRE(u);
    CHECK(*u == "a,b=c");
  }
  // Nonce and channel-binding mismatches at the final step; steps out of order.
  tls::ScramClient c(tls::ScramHash::sha256, "user", "pencil");
  tls::ScramServer s(tls::ScramHash::sha256);
  CHECK_FALSE(s.client_final("c=biws,r=x,p=AAAA"));  // out of order
  tls::ScramServer s2(tls::ScramHash::sha256);
  REQUIRE(s2.client_first(c.client_first()));
  auto first = s2.server_first(rfc7677_credential());
  REQUIRE(first);
  auto fin = c.client_final(*first);
  REQUIRE(fin);
  std::string bad_nonce = *fin;
  bad_nonce.replace(bad_nonce.find("r=") + 2, 1, "Z");
  CHECK(s2.client_final(bad_nonce).error().message == "SCRAM: nonce mismatch");
  // After a failure the exchange is over, even with the right message.
  CHECK_FALSE(s2.client_final(*fin));
  tls::ScramServer s3(tls::ScramHash::sha256);
  REQUIRE(s3.client_first(c.client_first()));
  REQUIRE(s3.server_first(rfc7677_credential()));
  std::string bad_cb = *fin;
  bad_cb.replace(0, 6, "c=eSws");
  CHECK(s3.client_final(bad_cb).error().message == "SCRAM: channel binding data mismatch");
  // Mechanism mismatch of the credential.
  tls::ScramServer s4(tls::ScramHash::sha512);
  REQUIRE(s4.client_first(c.client_first()));
  CHECK_FALSE(s4.server_first(rfc7677_credential()));
}

TEST_CASE("decoy credentials are stable per user and never verify") {
  const std::vector<std::uint8_t> secret(32, 7);
  auto a1 = tls::scram_decoy(tls::ScramHash::sha512, "ghost", 101, secret);
  auto a2 = tls::scram_decoy(tls::ScramHash::sha512, "ghost", 101, secret);
  auto b = tls::scram_decoy(tls::ScramHash::sha512, "other", 101, secret);
  CHECK(a1.salt == a2.salt);
  CHECK(a1.salt != b.salt);
  CHECK(a1.salt.size() == 12);
  tls::ScramClient c(tls::ScramHash::sha512, "ghost", "anything");
  tls::ScramServer s(tls::ScramHash::sha512);
  REQUIRE(s.client_first(c.client_first()));
  auto first = s.server_first(a1);
  REQUIRE(first);
  auto fin = c.client_final(*first);
  REQUIRE(fin);
  CHECK_FALSE(s.client_final(*fin));
  CHECK(tls::parse_scram_mechanism("SCRAM-SHA-256") == tls::ScramHash::sha256);
  CHECK_FALSE(tls::parse_scram_mechanism("PLAIN"));
}

TEST_CASE("SCRAM verifier files: format, parse, errors, written by wisp passwd") {
  auto cred = rfc7677_credential();
  const std::string v = tls::format_scram_verifier(cred);
  CHECK(v.rfind("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$", 0) == 0);
  auto back = tls::parse_scram_verifier(v);
  REQUIRE(back);
  CHECK(back->stored_key == cred.stored_key);
  CHECK(back->server_key == cred.server_key);
  auto users = tls::parse_scram_file("# comment\nuser:" + v + "\r\n", "f");
  REQUIRE(users);
  CHECK(users->count("user") == 1);
  CHECK(tls::parse_scram_file("user:" + v + "\nuser:" + v + "\n", "f").error().message ==
        "f:2: duplicate user");
  CHECK_FALSE(tls::parse_scram_file("user:SCRAM-SHA-1$1:AA==$AA==:AA==\n", "f"));
  CHECK_FALSE(tls::parse_scram_file("user:SCRAM-SHA-256$0:AA==$AA==:AA==\n", "f"));
  CHECK_FALSE(tls::parse_scram_file("user:SCRAM-SHA-256$4096:AA==$AA==:AA==\n", "f"));
  CHECK_FALSE(tls::parse_scram_file("nocolon\n", "f"));

  test_util::TempDir dir;
  const auto path = dir.file("scram");
  std::istringstream in;
  std::ostringstream out, err;
  REQUIRE(tls::passwd_main({"--scram-sha-256", "-c", "-b", path, "dev1", "pw1"}, in, out, err) ==
          0);
  REQUIRE(tls::passwd_main({"--scram-sha-256", "-b", "-I", "5000", path, "dev2", "pw2"}, in, out,
                           err) == 0);
  auto file = tls::load_scram_file(path);
  REQUIRE_MESSAGE(file, (file ? "" : file.error().message));
  REQUIRE(file->size() == 2);
  CHECK(file->at("dev1").iterations == tls::kDefaultScramIterations);
  CHECK(file->at("dev2").iterations == 5000);
  // A full exchange against the stored verifier.
  tls::ScramClient c(tls::ScramHash::sha256, "dev2", "pw2");
  tls::ScramServer s(tls::ScramHash::sha256);
  REQUIRE(s.client_first(c.client_first()));
  auto first = s.server_first(file->at("dev2"));
  REQUIRE(first);
  auto fin = c.client_final(*first);
  REQUIRE(fin);
  auto last = s.client_final(*fin);
  REQUIRE(last);
  CHECK(c.verify_server_final(*last));
  // Password-file mode refuses to edit a SCRAM file and vice versa.
  CHECK(tls::passwd_main({"-b", path, "dev3", "x"}, in, out, err) == 1);
}
