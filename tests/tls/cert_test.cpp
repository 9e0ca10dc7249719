// Certificate checks (valid, expired, not yet valid, key mismatch, wrong CA, capath) and
// `wisp cert dev`, cross-checked with `openssl verify`.
#include <doctest/doctest.h>

#include <sstream>

#include "tests/tls/test_util.h"
#include "tls/cert_check.h"
#include "tls/cert_dev.h"

using namespace std::chrono_literals;
using test_util::TempDir;
using test_util::write_file;

namespace {

struct Pki {
  std::string ca_key, ca_crt, srv_key, srv_crt;
};

std::string must(protocol::Result<std::string, protocol::Error> r) {
  REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  return std::move(r).value();
}

Pki make_pki(const std::string& ca_name, std::chrono::system_clock::time_point nb,
             std::chrono::system_clock::time_point na) {
  const auto now = std::chrono::system_clock::now();
  Pki p;
  p.ca_key = must(tls::generate_ec_key_pem());
  p.srv_key = must(tls::generate_ec_key_pem());
  tls::CertSpec ca;
  ca.subject = "CN=" + ca_name + ",O=Wisp tests";
  ca.issuer = ca.subject;
  ca.subject_key_pem = p.ca_key;
  ca.issuer_key_pem = p.ca_key;
  ca.is_ca = true;
  ca.not_before = now - 24h;
  ca.not_after = now + 24h * 365;
  p.ca_crt = must(tls::issue_certificate(ca));
  tls::CertSpec srv;
  srv.subject = "CN=localhost";
  srv.issuer = ca.subject;
  srv.subject_key_pem = p.srv_key;
  srv.issuer_key_pem = p.ca_key;
  srv.hosts = {"localhost", "127.0.0.1", "::1"};
  srv.not_before = nb;
  srv.not_after = na;
  p.srv_crt = must(tls::issue_certificate(srv));
  return p;
}

struct Files {
  std::string ca, crt, key;
};
Files write_pki(const TempDir& dir, const Pki& p, const std::string& prefix) {
  Files f{dir.file(prefix + "ca.crt"), dir.file(prefix + "server.crt"),
          dir.file(prefix + "server.key")};
  write_file(f.ca, p.ca_crt);
  write_file(f.crt, p.srv_crt);
  write_file(f.key, p.srv_key);
  return f;
}

std::string check_error(const tls::CertCheckRequest& req) {
  auto r = tls::check_certificate(req);
  return r ? std::string("OK") : r.error().message;
}

}  // namespace

TEST_CASE("valid certificate, key and CA pass; info is filled") {
  TempDir dir;
  const auto now = std::chrono::system_clock::now();
  const Files f = write_pki(dir, make_pki("CA one", now - 1h, now + 24h), "");
  auto r = tls::check_certificate({f.crt, f.key, f.ca, "", ""});
  REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  CHECK(r->subject == "CN=localhost");
  CHECK(r->issuer.find("CA one") != std::string::npos);
  CHECK(r->not_after > now);
  // Without a CA only the pair and dates are checked.
  CHECK(check_error({f.crt, f.key, "", "", ""}) == "OK");
  // capath: a directory holding the CA.
  std::filesystem::create_directory(dir.file("cadir"));
  std::filesystem::copy_file(f.ca, dir.file("cadir/ca.pem"));
  CHECK(check_error({f.crt, f.key, "", dir.file("cadir"), ""}) == "OK");
}

TEST_CASE("expired and not-yet-valid certificates are named as such") {
  TempDir dir;
  const auto now = std::chrono::system_clock::now();
  const Files old = write_pki(dir, make_pki("CA", now - 48h, now - 24h), "old-");
  const std::string e = check_error({old.crt, old.key, old.ca, "", ""});
  CHECK(e.find("certfile " + old.crt + ": certificate expired on ") == 0);
  const Files future = write_pki(dir, make_pki("CA", now + 24h, now + 48h), "new-");
  const std::string n = check_error({future.crt, future.key, "", "", ""});
  CHECK(n.find("certificate is not valid before") != std::string::npos);
  // A fixed "now" makes the same files valid.
  CHECK(tls::check_certificate({old.crt, old.key, "", "", ""}, now - 36h));
}

TEST_CASE("key that does not match the certificate") {
  TempDir dir;
  const auto now = std::chrono::system_clock::now();
  const Files a = write_pki(dir, make_pki("CA", now - 1h, now + 24h), "a-");
  const Files b = write_pki(dir, make_pki("CA", now - 1h, now + 24h), "b-");
  const std::string e = check_error({a.crt, b.key, "", "", ""});
  CHECK(e == "keyfile " + b.key + ": private key does not match certificate " + a.crt);
}

TEST_CASE("certificate from another CA does not chain") {
  TempDir dir;
  const auto now = std::chrono::system_clock::now();
  const Files a = write_pki(dir, make_pki("CA one", now - 1h, now + 24h), "a-");
  // Same CA name, different key: must still fail (signature, not name, decides).
  const Files b = write_pki(dir, make_pki("CA one", now - 1h, now + 24h), "b-");
  const std::string e = check_error({a.crt, a.key, b.ca, "", ""});
  CHECK(e.find("certfile " + a.crt + ": does not verify against cafile " + b.ca) == 0);
  const Files c = write_pki(dir, make_pki("CA two", now - 1h, now + 24h), "c-");
  CHECK(check_error({a.crt, a.key, c.ca, "", ""}).find("does not verify") != std::string::npos);
}

TEST_CASE("weak keys are refused; RSA 2048 is fine") {
  TempDir dir;
  const auto now = std::chrono::system_clock::now();
  for (unsigned bits : {1024u, 2048u}) {
    CAPTURE(bits);
    const std::string key = must(tls::generate_rsa_key_pem(bits));
    tls::CertSpec spec;
    spec.subject = spec.issuer = "CN=rsa";
    spec.subject_key_pem = spec.issuer_key_pem = key;
    spec.not_before = now - 1h;
    spec.not_after = now + 24h;
    const std::string crt = must(tls::issue_certificate(spec));
    const auto base = dir.file("rsa" + std::to_string(bits));
    write_file(base + ".crt", crt);
    write_file(base + ".key", key);
    const std::string e = check_error({base + ".crt", base + ".key", "", "", ""});
    if (bits == 1024) {
      CHECK(e == "certfile " + base + ".crt: RSA key of 1024 bits is too weak (minimum 2048)");
    } else {
      CHECK(e == "OK");
    }
  }
}

TEST_CASE("unreadable and malformed files") {
  TempDir dir;
  write_file(dir.file("junk.pem"),
             "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  CHECK(check_error({dir.file("missing.crt"), dir.file("k"), "", "", ""})
            .find("certfile " + dir.file("missing.crt") + ": cannot parse certificate") == 0);
  CHECK(check_error({dir.file("junk.pem"), dir.file("k"), "", "", ""}).find("cannot parse") !=
        std::string::npos);
  const auto now = std::chrono::system_clock::now();
  const Files a = write_pki(dir, make_pki("CA", now - 1h, now + 24h), "");
  CHECK(check_error({a.crt, dir.file("missing.key"), "", "", ""})
            .find("keyfile " + dir.file("missing.key") + ": cannot parse private key") == 0);
  CHECK(check_error({a.crt, a.key, dir.file("junk.pem"), "", ""}).find("cafile") == 0);
  CHECK(check_error({"", a.key, "", "", ""}) == "certfile is not set");
}

TEST_CASE("wisp cert dev makes a chain that mbedTLS and openssl accept") {
  TempDir dir;
  const std::string out_dir = dir.file("certs");
  std::ostringstream out, err;
  REQUIRE(tls::cert_dev_main({"--out", out_dir, "--host", "broker.example", "--host", "10.1.2.3"},
                             out, err) == 0);
  CHECK(out.str().find("--cafile " + out_dir + "/ca.crt") != std::string::npos);
  CHECK(tls::check_certificate(
      {out_dir + "/server.crt", out_dir + "/server.key", out_dir + "/ca.crt", "", ""}));
  CHECK((std::filesystem::status(out_dir + "/server.key").permissions() &
         std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));

  REQUIRE(test_util::have_program("openssl"));
  using test_util::shell_quote;
  auto v = test_util::run("openssl verify -CAfile " + shell_quote(out_dir + "/ca.crt") + " " +
                          shell_quote(out_dir + "/server.crt"));
  CHECK_MESSAGE(v.exit_code == 0, v.output);
  auto v2 = test_util::run(
      "openssl verify -purpose sslserver -verify_hostname broker.example "
      "-CAfile " +
      shell_quote(out_dir + "/ca.crt") + " " + shell_quote(out_dir + "/server.crt"));
  CHECK_MESSAGE(v2.exit_code == 0, v2.output);
  auto v3 =
      test_util::run("openssl verify -verify_ip ::1 -CAfile " + shell_quote(out_dir + "/ca.crt") +
                     " " + shell_quote(out_dir + "/server.crt"));
  CHECK_MESSAGE(v3.exit_code == 0, v3.output);
  auto bad =
      test_util::run("openssl verify -verify_hostname other.example -CAfile " +
                     shell_quote(out_dir + "/ca.crt") + " " + shell_quote(out_dir + "/server.crt"));
  CHECK(bad.exit_code != 0);
  auto text =
      test_util::run("openssl x509 -noout -text -in " + shell_quote(out_dir + "/server.crt"));
  CHECK(text.output.find("DNS:localhost") != std::string::npos);
  CHECK(text.output.find("IP Address:127.0.0.1") != std::string::npos);
  CHECK(text.output.find("IP Address:10.1.2.3") != std::string::npos);
  CHECK(text.output.find("TLS Web Server Authentication") != std::string::npos);
  CHECK(text.output.find("prime256v1") != std::string::npos);

  // No silent overwrite; --force replaces.
  std::ostringstream out2, err2;
  CHECK(tls::cert_dev_main({"--out", out_dir}, out2, err2) == 1);
  CHECK(err2.str().find("--force") != std::string::npos);
  CHECK(tls::cert_dev_main({"dev", "--out", out_dir, "--force"}, out2, err2) == 0);
  CHECK(tls::cert_dev_main({"--host", "bad host!", "--out", out_dir}, out2, err2) == 2);
  CHECK(tls::cert_dev_main({}, out2, err2) == 2);
}
