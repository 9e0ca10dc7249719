// Mosquitto password hashes and files: golden hashes made by mosquitto_passwd 2.0.11, fresh
// files made by the installed mosquitto_passwd, and the `wisp passwd` editor.
#include <doctest/doctest.h>

#include <sstream>

#include "tests/tls/test_util.h"
#include "tls/base64.h"
#include "tls/password_file.h"
#include "tls/password_hash.h"

using test_util::TempDir;

namespace {
// Made with: mosquitto_passwd -c -b pw alice secret; mosquitto_passwd -H sha512 -b pw bob hunter2
constexpr const char* kAlice7 =
    "$7$101$AKWeCOSnFEMRHni9$6AeaTAwiRDm5fFrY64G7cEsijFzB8iPCMX4F6Y06KKGdnAdWHIqX9y+"
    "dCGzsiO12xAf+Qet+VYEbzuaCdXuyZg==";
constexpr const char* kBob6 =
    "$6$fLUtiz8XIZkg2w82$1aQJXj7wnIroUCN6F4DwTtKpdf80G2dt69by9XNslRE0ClxayCcHT0ScsoDYD3/"
    "rwgznTKkOxFbT9Z88Xh/VHg==";

int passwd(const std::vector<std::string>& args, const std::string& input = "",
           std::string* err_text = nullptr) {
  std::istringstream in(input);
  std::ostringstream out;
  std::ostringstream err;
  const int rc = tls::passwd_main(args, in, out, err);
  if (err_text) *err_text = err.str();
  return rc;
}
}  // namespace

TEST_CASE("golden $7$ hash from mosquitto_passwd verifies") {
  auto h = tls::parse_password_hash(kAlice7);
  REQUIRE(h);
  CHECK(h->kind == tls::HashKind::pbkdf2_sha512);
  CHECK(h->iterations == 101);
  CHECK(h->salt.size() == 12);
  CHECK(h->hash.size() == 64);
  CHECK(tls::verify_password(*h, "secret"));
  CHECK_FALSE(tls::verify_password(*h, "Secret"));
  CHECK_FALSE(tls::verify_password(*h, ""));
  CHECK(tls::format_password_hash(*h) == kAlice7);
}

TEST_CASE("golden $6$ hash from mosquitto_passwd verifies") {
  auto h = tls::parse_password_hash(kBob6);
  REQUIRE(h);
  CHECK(h->kind == tls::HashKind::sha512);
  CHECK(tls::verify_password(*h, "hunter2"));
  CHECK_FALSE(tls::verify_password(*h, "hunter3"));
  CHECK(tls::format_password_hash(*h) == kBob6);
}

TEST_CASE("malformed hashes are rejected with a reason") {
  CHECK_FALSE(tls::parse_password_hash("plaintext"));
  CHECK_FALSE(tls::parse_password_hash("$5$abc$def"));
  CHECK_FALSE(tls::parse_password_hash("$6$onlysalt"));
  CHECK_FALSE(tls::parse_password_hash("$7$0$AKWeCOSnFEMRHni9$AAAA"));
  CHECK_FALSE(tls::parse_password_hash("$7$x$AKWeCOSnFEMRHni9$AAAA"));
  CHECK_FALSE(tls::parse_password_hash("$7$99999999999$AKWeCOSnFEMRHni9$AAAA"));
  CHECK_FALSE(tls::parse_password_hash("$7$101$!!!!$AAAA"));
  // Hash of the wrong length.
  auto r = tls::parse_password_hash("$7$101$AKWeCOSnFEMRHni9$AAAA");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("64") != std::string::npos);
}

TEST_CASE("make_password_hash writes $7$ with random salt and the iteration count") {
  auto a = tls::make_password_hash("pw", 1000);
  auto b = tls::make_password_hash("pw", 1000);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->salt.size() == 12);
  CHECK(a->salt != b->salt);
  CHECK(a->hash != b->hash);
  const std::string text = tls::format_password_hash(*a);
  CHECK(text.rfind("$7$1000$", 0) == 0);
  auto back = tls::parse_password_hash(text);
  REQUIRE(back);
  CHECK(tls::verify_password(*back, "pw"));
  CHECK_FALSE(tls::verify_password(*back, "pw "));
  CHECK(tls::make_password_hash("pw")->iterations == tls::kDefaultPbkdf2Iterations);
  CHECK_FALSE(tls::make_password_hash("pw", 0));
}

TEST_CASE("our PBKDF2-HMAC-SHA512 equals mbedTLS's for all key lengths") {
  const std::vector<std::uint8_t> salt{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  for (std::size_t len : {0u, 1u, 63u, 64u, 127u, 128u, 129u, 300u}) {
    const std::string pw(len, 'p');
    for (std::uint32_t it : {1u, 2u, 1000u}) {
      CAPTURE(len);
      CAPTURE(it);
      tls::PasswordHash h;
      h.kind = tls::HashKind::pbkdf2_sha512;
      h.iterations = it;
      h.salt = salt;
      h.hash = tls::pbkdf2_sha512_reference(pw, salt, it);
      REQUIRE(h.hash.size() == 64);
      CHECK(tls::verify_password(h, pw));
      CHECK_FALSE(tls::verify_password(h, pw + "x"));
    }
  }
}

TEST_CASE("constant_time_equal") {
  const std::vector<std::uint8_t> a{1, 2, 3}, b{1, 2, 3}, c{1, 2, 4}, d{1, 2};
  CHECK(tls::constant_time_equal(a, b));
  CHECK_FALSE(tls::constant_time_equal(a, c));
  CHECK_FALSE(tls::constant_time_equal(a, d));
}

TEST_CASE("PasswordFile parses comments and blank lines, reports the bad line") {
  const std::string text = std::string("# users\n\nalice:") + kAlice7 + "\r\nbob:" + kBob6 + "\n";
  auto pf = tls::PasswordFile::parse(text, "pw");
  REQUIRE(pf);
  CHECK(pf->size() == 2);
  CHECK(pf->verify("alice", "secret"));
  CHECK(pf->verify("bob", "hunter2"));
  CHECK_FALSE(pf->verify("alice", "hunter2"));
  CHECK_FALSE(pf->verify("carol", "secret"));
  CHECK(pf->contains("bob"));
  CHECK_FALSE(pf->contains("carol"));

  auto bad = tls::PasswordFile::parse(std::string("alice:") + kAlice7 + "\ncarol:plain\n", "pw");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.rfind("pw:2: user 'carol'", 0) == 0);
  auto dup = tls::PasswordFile::parse(std::string("a:") + kBob6 + "\na:" + kBob6 + "\n", "f");
  REQUIRE_FALSE(dup);
  CHECK(dup.error().message.find("duplicate") != std::string::npos);
  CHECK_FALSE(tls::PasswordFile::parse("nocolon\n", "f"));
  CHECK_FALSE(tls::PasswordFile::load("/nonexistent/wisp/pw"));
}

TEST_CASE("successful checks are cached per user; wrong passwords never hit the cache") {
  auto pf = tls::PasswordFile::parse(std::string("alice:") + kAlice7 + "\nbob:" + kBob6, "pw");
  REQUIRE(pf);
  CHECK(pf->cached() == 0);
  CHECK_FALSE(pf->verify("alice", "wrong"));
  CHECK(pf->cached() == 0);
  CHECK(pf->verify("alice", "secret"));
  CHECK(pf->cached() == 1);
  CHECK(pf->verify("alice", "secret"));  // from the cache
  CHECK_FALSE(pf->verify("alice", "wrong"));
  CHECK_FALSE(pf->verify("bob", "secret"));  // alice's cached password is not bob's
  CHECK(pf->verify("bob", "hunter2"));
  CHECK(pf->cached() == 2);
  // Copies share the cache; a reload (new parse) starts empty.
  const tls::PasswordFile copy = *pf;
  CHECK(copy.verify("bob", "hunter2"));
  auto again = tls::PasswordFile::parse(std::string("alice:") + kAlice7, "pw");
  REQUIRE(again);
  CHECK(again->cached() == 0);
}

TEST_CASE("files made by the installed mosquitto_passwd verify") {
  REQUIRE(test_util::have_program("mosquitto_passwd"));
  TempDir dir;
  const auto path = dir.file("pw");
  using test_util::shell_quote;
  REQUIRE(test_util::run("mosquitto_passwd -c -b " + shell_quote(path) + " alice 's3cr3t pass'")
              .exit_code == 0);
  REQUIRE(test_util::run("mosquitto_passwd -b " + shell_quote(path) + " bob 'b:o$b'").exit_code ==
          0);
  REQUIRE(
      test_util::run("mosquitto_passwd -H sha512 -b " + shell_quote(path) + " carol c").exit_code ==
      0);
  REQUIRE(
      test_util::run("mosquitto_passwd -I 5000 -b " + shell_quote(path) + " dave d").exit_code ==
      0);
  auto pf = tls::PasswordFile::load(path);
  REQUIRE_MESSAGE(pf, (pf ? "" : pf.error().message));
  CHECK(pf->size() == 4);
  CHECK(pf->verify("alice", "s3cr3t pass"));
  CHECK(pf->verify("bob", "b:o$b"));
  CHECK(pf->verify("carol", "c"));
  CHECK(pf->verify("dave", "d"));
  CHECK_FALSE(pf->verify("alice", "s3cr3t"));
  CHECK_FALSE(pf->verify("dave", "c"));
}

TEST_CASE("wisp passwd: create, add, update, delete, batch and prompt") {
  TempDir dir;
  const auto path = dir.file("pw");
  std::string err;
  // Without -c the file must exist.
  CHECK(passwd({"-b", path, "alice", "a1"}, "", &err) == 1);
  CHECK(err.find("-c") != std::string::npos);
  CHECK(passwd({"-c", "-b", "-I", "1000", path, "alice", "a1"}) == 0);
  CHECK(passwd({"-b", "-I", "1000", path, "bob", "b1"}) == 0);
  // Prompted password, typed twice.
  CHECK(passwd({"-I", "1000", path, "carol"}, "c1\nc1\n") == 0);
  CHECK(passwd({path, "dave"}, "x\ny\n", &err) == 1);
  CHECK(err.find("do not match") != std::string::npos);
  {
    auto pf = tls::PasswordFile::load(path);
    REQUIRE(pf);
    CHECK(pf->size() == 3);
    CHECK(pf->verify("alice", "a1"));
    CHECK(pf->verify("bob", "b1"));
    CHECK(pf->verify("carol", "c1"));
  }
  // Update keeps one line per user.
  CHECK(passwd({"-b", "-I", "1000", path, "alice", "a2"}) == 0);
  // Delete.
  CHECK(passwd({"-D", path, "bob"}) == 0);
  CHECK(passwd({"-D", path, "bob"}, "", &err) == 1);
  auto pf = tls::PasswordFile::load(path);
  REQUIRE(pf);
  CHECK(pf->size() == 2);
  CHECK(pf->verify("alice", "a2"));
  CHECK_FALSE(pf->verify("alice", "a1"));
  CHECK_FALSE(pf->contains("bob"));
  // Mode of a new file is 0600.
  CHECK((std::filesystem::status(path).permissions() & std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  // Bad usage.
  CHECK(passwd({"-b", path, "x:y", "p"}) == 1);
  CHECK(passwd({"-b", path}) == 2);
  CHECK(passwd({"-I", "0", "-b", path, "u", "p"}) == 2);
  CHECK(passwd({"-Z", path, "u"}) == 2);
  // Default iteration count is the strong one.
  CHECK(passwd({"-b", path, "erin", "e"}) == 0);
  CHECK(test_util::read_file(path).find("erin:$7$100000$") != std::string::npos);
}

TEST_CASE("wisp passwd refuses to rewrite a corrupt file") {
  TempDir dir;
  const auto path = dir.file("pw");
  test_util::write_file(path, "alice:garbage\n");
  std::string err;
  CHECK(passwd({"-b", path, "bob", "b"}, "", &err) == 1);
  CHECK(err.find(":1:") != std::string::npos);
  CHECK(test_util::read_file(path) == "alice:garbage\n");
}
