// ACL file: parsing errors and the Mosquitto 2.0 access matrix (anonymous section, users,
// deny first, patterns with %c/%u, '$' topics, subscribe modes).
#include "broker/security/acl_file.h"

#include <doctest/doctest.h>

using broker::core::Access;
using broker::security::AclFile;
using broker::security::SubscribeCheck;

namespace {

const char* const kAcl = R"(# Anonymous clients: only public/#
topic read public/#
topic readwrite anon/inbox

user alice
topic readwrite alice/#
topic deny alice/secret/#
topic read shared/+/status
topic write  topic with spaces/x
topic read $SYS/broker/#

user bob
topic shared/bob/#
topic deny shared/#

pattern readwrite devices/%c/#
pattern read users/%u/inbox
pattern deny devices/%c/locked
pattern write out/%u/%c
)";

AclFile acl() {
  auto r = AclFile::parse(kAcl, "acl");
  REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  return std::move(r).value();
}

bool can(const AclFile& a, const char* client, std::optional<std::string_view> user,
         const char* topic, Access access) {
  return a.allowed(client, user, topic, access);
}

}  // namespace

TEST_CASE("user rules: readwrite, read-only, deny before allow regardless of order") {
  const AclFile a = acl();
  CHECK(can(a, "c1", "alice", "alice/x", Access::write));
  CHECK(can(a, "c1", "alice", "alice/x", Access::read));
  CHECK(can(a, "c1", "alice", "alice", Access::read));  // "alice/#" matches "alice"
  CHECK_FALSE(can(a, "c1", "alice", "alice/secret/a", Access::read));
  CHECK_FALSE(can(a, "c1", "alice", "alice/secret", Access::write));
  CHECK(can(a, "c1", "alice", "shared/x/status", Access::read));
  CHECK_FALSE(can(a, "c1", "alice", "shared/x/status", Access::write));
  CHECK_FALSE(can(a, "c1", "alice", "shared/x/y/status", Access::read));
  CHECK(can(a, "c1", "alice", "topic with spaces/x", Access::write));
  CHECK_FALSE(can(a, "c1", "alice", "topic with spaces/x", Access::read));
  CHECK_FALSE(can(a, "c1", "alice", "other", Access::read));
  // bob: "topic deny shared/#" comes after the allow in the file but is checked first.
  CHECK_FALSE(can(a, "c2", "bob", "shared/bob/x", Access::read));
  CHECK_FALSE(can(a, "c2", "bob", "shared/bob/x", Access::write));
}

TEST_CASE("anonymous section applies only to clients without a username") {
  const AclFile a = acl();
  CHECK(can(a, "anon1", std::nullopt, "public/news", Access::read));
  CHECK_FALSE(can(a, "anon1", std::nullopt, "public/news", Access::write));
  CHECK(can(a, "anon1", std::nullopt, "anon/inbox", Access::write));
  CHECK_FALSE(can(a, "anon1", std::nullopt, "alice/x", Access::read));
  // A user without a section gets no anonymous rules, only patterns.
  CHECK_FALSE(can(a, "c3", "carol", "public/news", Access::read));
  CHECK_FALSE(can(a, "c1", "alice", "public/news", Access::read));
}

TEST_CASE("patterns: %c and %u substitution, deny patterns, dangerous ids") {
  const AclFile a = acl();
  CHECK(can(a, "dev7", "carol", "devices/dev7/temp", Access::write));
  CHECK(can(a, "dev7", std::nullopt, "devices/dev7/temp", Access::read));  // %c: anonymous ok
  CHECK_FALSE(can(a, "dev7", "carol", "devices/dev8/temp", Access::write));
  CHECK_FALSE(can(a, "dev7", "carol", "devices/dev7/locked", Access::write));
  CHECK(can(a, "dev7", "carol", "users/carol/inbox", Access::read));
  CHECK_FALSE(can(a, "dev7", "carol", "users/carol/inbox", Access::write));
  CHECK_FALSE(can(a, "dev7", "carol", "users/dave/inbox", Access::read));
  // %u patterns never apply to anonymous clients.
  CHECK_FALSE(can(a, "dev7", std::nullopt, "users//inbox", Access::read));
  CHECK_FALSE(can(a, "dev7", std::nullopt, "users/%u/inbox", Access::read));
  CHECK(can(a, "dev7", "carol", "out/carol/dev7", Access::write));
  // User rules are consulted first, then patterns: alice's own client id works.
  CHECK(can(a, "alicephone", "alice", "devices/alicephone/x", Access::write));
  // Wildcards in ids would widen patterns: refused outright.
  CHECK_FALSE(can(a, "#", "carol", "devices/x/temp", Access::write));
  CHECK_FALSE(can(a, "+", "carol", "devices/x/temp", Access::write));
  CHECK_FALSE(can(a, "dev7", "car+ol", "devices/dev7/temp", Access::write));
  // ...but user rules still apply to such clients.
  CHECK(can(a, "#", "alice", "alice/x", Access::write));
}

TEST_CASE("'$' topics only match rules starting with '$'") {
  const AclFile a = acl();
  CHECK(can(a, "c1", "alice", "$SYS/broker/uptime", Access::read));
  CHECK_FALSE(can(a, "c2", "bob", "$SYS/broker/uptime", Access::read));
  auto all = AclFile::parse("topic readwrite #\npattern readwrite +/%c/#\n", "acl");
  REQUIRE(all);
  CHECK(all->allowed("c", std::nullopt, "x/y", Access::write));
  CHECK_FALSE(all->allowed("c", std::nullopt, "$SYS/x", Access::read));
  CHECK_FALSE(all->allowed("c", std::nullopt, "$x/c/y", Access::read));
}

TEST_CASE("subscribe: Mosquitto 2.0 mode always allows; strict mode needs a covering read rule") {
  const AclFile a = acl();
  // Mosquitto 2.0.11 grants every SUBSCRIBE and filters deliveries with the read check.
  CHECK(can(a, "c1", "alice", "#", Access::subscribe));
  CHECK(can(a, "c2", "bob", "shared/#", Access::subscribe));
  const auto strict = [&](const char* client, std::optional<std::string_view> user,
                          const char* filter) {
    return a.allowed(client, user, filter, Access::subscribe, SubscribeCheck::strict);
  };
  CHECK(strict("c1", "alice", "alice/#"));
  CHECK(strict("c1", "alice", "alice/+/x"));
  CHECK(strict("c1", "alice", "shared/+/status"));
  CHECK_FALSE(strict("c1", "alice", "shared/#"));
  CHECK_FALSE(strict("c1", "alice", "#"));
  CHECK_FALSE(strict("c1", "alice", "alice/secret/#"));  // deny covers it entirely
  CHECK(strict("c1", "alice", "alice/+"));               // partly denied: allowed, reads filtered
  CHECK_FALSE(strict("c1", "alice", "topic with spaces/x"));  // write-only
  CHECK(strict("dev7", "carol", "devices/dev7/#"));
  CHECK_FALSE(strict("dev7", "carol", "devices/+/#"));
  CHECK(strict("anon", std::nullopt, "public/+"));
}

TEST_CASE("no rules at all for a client means denied") {
  auto only_users = AclFile::parse("user alice\ntopic a\n", "acl");
  REQUIRE(only_users);
  CHECK(only_users->allowed("c", "alice", "a", Access::write));
  CHECK_FALSE(only_users->allowed("c", "bob", "a", Access::read));
  CHECK_FALSE(only_users->allowed("c", std::nullopt, "a", Access::read));
  auto empty = AclFile::parse("# nothing\n", "acl");
  REQUIRE(empty);
  CHECK_FALSE(empty->allowed("c", "alice", "a", Access::read));
  CHECK(empty->rule_count() == 0);
}

TEST_CASE("parse errors name the file and line") {
  auto bad_access = AclFile::parse("user a\ntopic rw x/y\n", "f.acl");
  REQUIRE_FALSE(bad_access);
  CHECK(bad_access.error().message ==
        "f.acl:2: invalid access type 'rw' (want read, write, readwrite or deny)");
  auto bad_kw = AclFile::parse("\n\ntpoic read x\n", "f.acl");
  REQUIRE_FALSE(bad_kw);
  CHECK(bad_kw.error().message.rfind("f.acl:3: unknown keyword 'tpoic'", 0) == 0);
  CHECK_FALSE(AclFile::parse("user\n", "f"));
  CHECK_FALSE(AclFile::parse("topic\n", "f"));
  CHECK_FALSE(AclFile::parse("topic read a/#/b\n", "f"));
  CHECK_FALSE(AclFile::load("/nonexistent/acl"));
  // CRLF and indentation are tolerated.
  auto crlf = AclFile::parse("user a\r\n  topic read x\r\n", "f");
  REQUIRE(crlf);
  CHECK(crlf->allowed("c", "a", "x", Access::read));
}
