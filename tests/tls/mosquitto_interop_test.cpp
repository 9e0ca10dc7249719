// Interop: a password file written by `wisp passwd` works in Mosquitto 2 (real broker on an
// ephemeral loopback port, real mosquitto_pub), and our JWTs agree with Node's crypto.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>

#include <sstream>

#include "tests/tls/test_util.h"
#include "tls/cert_dev.h"
#include "tls/jwt.h"
#include "tls/password_file.h"

using namespace std::chrono_literals;
using test_util::shell_quote;
using test_util::TempDir;

namespace {

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

std::string current_user() {
  const struct passwd* pw = ::getpwuid(::getuid());
  return pw != nullptr ? pw->pw_name : "root";
}

int run_passwd(const std::vector<std::string>& args) {
  std::istringstream in;
  std::ostringstream out, err;
  const int rc = tls::passwd_main(args, in, out, err);
  if (rc != 0) MESSAGE(err.str());
  return rc;
}

}  // namespace

TEST_CASE("a password file written by wisp passwd authenticates in Mosquitto") {
  const std::string mosquitto = "/usr/sbin/mosquitto";
  REQUIRE(std::filesystem::exists(mosquitto));
  REQUIRE(test_util::have_program("mosquitto_pub"));
  TempDir dir;
  const auto pw = dir.file("pw");
  // Default (strong) iteration count, a second user with a small one, odd characters.
  REQUIRE(run_passwd({"-c", "-b", pw, "alice", "al!ce pass"}) == 0);
  REQUIRE(run_passwd({"-b", "-I", "1000", pw, "bob", "b:o$b"}) == 0);

  const int port = free_port();
  REQUIRE(port > 0);
  const auto conf = dir.file("mosquitto.conf");
  test_util::write_file(conf, "listener " + std::to_string(port) +
                                  " 127.0.0.1\nallow_anonymous false\npassword_file " + pw +
                                  "\npersistence false\nlog_dest stderr\n" +
                                  // Started as root, Mosquitto would switch to its own user
                                  // and could not read our 0600 file in a 0700 directory.
                                  "user " + current_user() + "\n");
  test_util::Child broker({mosquitto, "-c", conf});
  REQUIRE_MESSAGE(broker.wait_for_output("running", 10s), broker.output());

  const auto pub = [&](const std::string& user, const std::string& pass, const std::string& v) {
    return test_util::run("mosquitto_pub -h 127.0.0.1 -p " + std::to_string(port) + " -V " + v +
                              " -u " + shell_quote(user) + " -P " + shell_quote(pass) +
                              " -t wisp/test -m hello",
                          15);
  };
  for (const std::string v : {"mqttv311", "mqttv5"}) {
    CAPTURE(v);
    auto ok = pub("alice", "al!ce pass", v);
    CHECK_MESSAGE(ok.exit_code == 0, ok.output);
    auto ok2 = pub("bob", "b:o$b", v);
    CHECK_MESSAGE(ok2.exit_code == 0, ok2.output);
    auto bad = pub("alice", "wrong", v);
    CHECK(bad.exit_code != 0);
    CHECK_MESSAGE(bad.output.find("ot authori") != std::string::npos, bad.output);
    auto unknown = pub("carol", "al!ce pass", v);
    CHECK(unknown.exit_code != 0);
  }
}

TEST_CASE("ES256 and HS256 tickets agree with Node's crypto") {
  REQUIRE(test_util::have_program("node"));
  TempDir dir;
  auto key = tls::generate_ec_key_pem();
  REQUIRE(key);
  auto pub = tls::public_key_pem(*key);
  REQUIRE(pub);
  test_util::write_file(dir.file("key.pem"), *key);
  test_util::write_file(dir.file("pub.pem"), *pub);
  const std::string secret = "node-and-wisp-share-this-32-byte-secret";
  const auto now = std::chrono::system_clock::now();
  const auto exp =
      std::chrono::duration_cast<std::chrono::seconds>((now + 300s).time_since_epoch()).count();
  // Node signs; we verify.
  const std::string script = dir.file("sign.js");
  test_util::write_file(script, R"JS(
const crypto = require('crypto'); const fs = require('fs');
const b64u = b => Buffer.from(b).toString('base64url');
const [keyFile, secret, exp] = process.argv.slice(2);
const claims = b64u(JSON.stringify({sub: 'nodeuser', exp: Number(exp), subscribe: ['a/#']}));
const es = b64u(JSON.stringify({alg: 'ES256', typ: 'JWT'})) + '.' + claims;
const sig = crypto.sign('sha256', Buffer.from(es),
    {key: fs.readFileSync(keyFile), dsaEncoding: 'ieee-p1363'});
const hs = b64u(JSON.stringify({alg: 'HS256', typ: 'JWT'})) + '.' + claims;
const mac = crypto.createHmac('sha256', secret).update(hs).digest();
console.log(es + '.' + b64u(sig)); console.log(hs + '.' + b64u(mac));
)JS");
  auto r = test_util::run("node " + shell_quote(script) + " " + shell_quote(dir.file("key.pem")) +
                          " " + shell_quote(secret) + " " + std::to_string(exp));
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  std::istringstream lines(r.output);
  std::string es_token, hs_token;
  std::getline(lines, es_token);
  std::getline(lines, hs_token);

  tls::JwtVerifyConfig ec;
  ec.alg = tls::JwtAlg::es256;
  ec.public_key_pem = *pub;
  auto ev = tls::JwtVerifier::create(ec);
  REQUIRE(ev);
  auto er = (*ev)->verify(es_token, now);
  REQUIRE_MESSAGE(er, (er ? "" : er.error().message));
  CHECK(er->username == "nodeuser");
  REQUIRE(er->subscribe);
  tls::JwtVerifyConfig hc;
  hc.secret = secret;
  auto hv = tls::JwtVerifier::create(hc);
  REQUIRE(hv);
  CHECK((*hv)->verify(hs_token, now));

  // We sign; Node verifies.
  auto mine = tls::sign_jwt(R"({"sub":"wisp","exp":1})", tls::JwtAlg::es256, *key);
  REQUIRE(mine);
  const std::string vscript = dir.file("verify.js");
  test_util::write_file(vscript, R"JS(
const crypto = require('crypto'); const fs = require('fs');
const [pubFile, token] = process.argv.slice(2);
const [h, p, s] = token.split('.');
const ok = crypto.verify('sha256', Buffer.from(h + '.' + p),
    {key: fs.readFileSync(pubFile), dsaEncoding: 'ieee-p1363'}, Buffer.from(s, 'base64url'));
process.exit(ok ? 0 : 1);
)JS");
  auto vr = test_util::run("node " + shell_quote(vscript) + " " + shell_quote(dir.file("pub.pem")) +
                           " " + shell_quote(*mine));
  CHECK_MESSAGE(vr.exit_code == 0, vr.output);
}
