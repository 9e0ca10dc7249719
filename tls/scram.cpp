// SCRAM-SHA-256/512 message handling on mbedTLS HMAC/PBKDF2.
#include "tls/scram.h"

#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>

#include <algorithm>
#include <cstdio>

#include "tls/base64.h"
#include "tls/random.h"

namespace tls {
namespace {

using protocol::fail;
using Bytes = std::vector<std::uint8_t>;

const mbedtls_md_info_t* md(ScramHash h) {
  return mbedtls_md_info_from_type(h == ScramHash::sha256 ? MBEDTLS_MD_SHA256 : MBEDTLS_MD_SHA512);
}
std::size_t md_len(ScramHash h) { return h == ScramHash::sha256 ? 32 : 64; }

const unsigned char* uc(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

Bytes hmac(ScramHash h, protocol::ByteSpan key, std::string_view data) {
  Bytes out(md_len(h));
  if (mbedtls_md_hmac(md(h), key.data(), key.size(), uc(data), data.size(), out.data()) != 0) {
    return {};
  }
  return out;
}

Bytes digest(ScramHash h, protocol::ByteSpan data) {
  Bytes out(md_len(h));
  if (mbedtls_md(md(h), data.data(), data.size(), out.data()) != 0) return {};
  return out;
}

ScramCredential from_salted(ScramHash h, protocol::ByteSpan salted, protocol::ByteSpan salt,
                            std::uint32_t iterations) {
  ScramCredential c;
  c.hash = h;
  c.salt.assign(salt.begin(), salt.end());
  c.iterations = iterations;
  c.stored_key = digest(h, hmac(h, salted, "Client Key"));
  c.server_key = hmac(h, salted, "Server Key");
  return c;
}

// "n=user,r=nonce,..." -> value of attribute `name` among comma-separated attrs.
std::optional<std::string_view> attr(std::string_view msg, char name) {
  std::size_t pos = 0;
  while (pos <= msg.size()) {
    std::size_t comma = msg.find(',', pos);
    if (comma == std::string_view::npos) comma = msg.size();
    const std::string_view part = msg.substr(pos, comma - pos);
    if (part.size() >= 2 && part[0] == name && part[1] == '=') return part.substr(2);
    pos = comma + 1;
  }
  return std::nullopt;
}

// saslname: "=2C" -> ',', "=3D" -> '='; any other '=' is malformed [RFC 5802 section 5.1].
std::optional<std::string> decode_saslname(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == ',') return std::nullopt;
    if (s[i] != '=') {
      out += s[i];
      continue;
    }
    if (s.substr(i, 3) == "=2C") {
      out += ',';
    } else if (s.substr(i, 3) == "=3D") {
      out += '=';
    } else {
      return std::nullopt;
    }
    i += 2;
  }
  return out;
}

std::string encode_saslname(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == ',') {
      out += "=2C";
    } else if (c == '=') {
      out += "=3D";
    } else {
      out += c;
    }
  }
  return out;
}

bool printable_nonce(std::string_view n) {
  if (n.empty()) return false;
  for (char c : n) {
    if (c < 0x21 || c > 0x7E || c == ',') return false;
  }
  return true;
}

std::string random_nonce() {
  auto bytes = random_bytes(18);
  return bytes ? base64_encode(*bytes) : std::string();
}

}  // namespace

const char* scram_mechanism(ScramHash h) noexcept {
  return h == ScramHash::sha256 ? "SCRAM-SHA-256" : "SCRAM-SHA-512";
}

std::optional<ScramHash> parse_scram_mechanism(std::string_view name) noexcept {
  if (name == "SCRAM-SHA-256") return ScramHash::sha256;
  if (name == "SCRAM-SHA-512") return ScramHash::sha512;
  return std::nullopt;
}

protocol::Result<ScramCredential, protocol::Error> scram_credential(ScramHash hash,
                                                                    std::string_view password,
                                                                    protocol::ByteSpan salt,
                                                                    std::uint32_t iterations) {
  if (iterations == 0 || iterations > kMaxPbkdf2Iterations) return fail("bad iteration count");
  Bytes salted(md_len(hash));
  mbedtls_md_context_t ctx;
  mbedtls_md_init(&ctx);
  const bool ok = mbedtls_md_setup(&ctx, md(hash), 1) == 0 &&
                  mbedtls_pkcs5_pbkdf2_hmac(
                      &ctx, uc(password), password.size(), salt.data(), salt.size(), iterations,
                      static_cast<std::uint32_t>(salted.size()), salted.data()) == 0;
  mbedtls_md_free(&ctx);
  if (!ok) return fail("PBKDF2 failed");
  return from_salted(hash, salted, salt, iterations);
}

protocol::Result<ScramCredential, protocol::Error> scram_credential(const PasswordHash& h) {
  if (h.kind != HashKind::pbkdf2_sha512 || h.hash.size() != 64) {
    return fail("only $7$ (PBKDF2-HMAC-SHA512) hashes can serve SCRAM-SHA-512");
  }
  return from_salted(ScramHash::sha512, h.hash, h.salt, h.iterations);
}

std::string format_scram_verifier(const ScramCredential& c) {
  return std::string(scram_mechanism(c.hash)) + "$" + std::to_string(c.iterations) + ":" +
         base64_encode(c.salt) + "$" + base64_encode(c.stored_key) + ":" +
         base64_encode(c.server_key);
}

protocol::Result<ScramCredential, protocol::Error> parse_scram_verifier(std::string_view text) {
  const std::size_t d1 = text.find('$');
  const std::size_t d2 = d1 == std::string_view::npos ? d1 : text.find('$', d1 + 1);
  if (d2 == std::string_view::npos)
    return fail("not a SCRAM verifier (want MECH$i:salt$stored:server)");
  const auto mech = parse_scram_mechanism(text.substr(0, d1));
  if (!mech) return fail("unknown SCRAM mechanism '" + std::string(text.substr(0, d1)) + "'");
  const std::string_view params = text.substr(d1 + 1, d2 - d1 - 1);
  const std::string_view keys = text.substr(d2 + 1);
  const std::size_t c1 = params.find(':');
  const std::size_t c2 = keys.find(':');
  if (c1 == std::string_view::npos || c2 == std::string_view::npos) {
    return fail("malformed SCRAM verifier");
  }
  ScramCredential c;
  c.hash = *mech;
  for (char ch : params.substr(0, c1)) {
    if (ch < '0' || ch > '9' || c.iterations > kMaxPbkdf2Iterations) {
      return fail("bad SCRAM iteration count");
    }
    c.iterations = c.iterations * 10 + static_cast<std::uint32_t>(ch - '0');
  }
  if (c.iterations == 0 || c.iterations > kMaxPbkdf2Iterations) {
    return fail("bad SCRAM iteration count");
  }
  auto salt = base64_decode(params.substr(c1 + 1));
  auto stored = base64_decode(keys.substr(0, c2));
  auto server = base64_decode(keys.substr(c2 + 1));
  if (!salt || salt->empty() || !stored || !server) return fail("bad base64 in SCRAM verifier");
  if (stored->size() != md_len(c.hash) || server->size() != md_len(c.hash)) {
    return fail("SCRAM keys have the wrong length");
  }
  c.salt = std::move(*salt);
  c.stored_key = std::move(*stored);
  c.server_key = std::move(*server);
  return c;
}

protocol::Result<ScramUsers, protocol::Error> parse_scram_file(std::string_view text,
                                                               std::string_view name) {
  ScramUsers users;
  std::size_t start = 0;
  std::size_t line_no = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    const std::string where = std::string(name) + ":" + std::to_string(line_no) + ": ";
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return fail(where + "want user:SCRAM-SHA-256$...");
    }
    auto cred = parse_scram_verifier(line.substr(colon + 1));
    if (!cred) return fail(where + cred.error().message);
    if (!users.emplace(std::string(line.substr(0, colon)), std::move(cred).value()).second) {
      return fail(where + "duplicate user");
    }
  }
  return users;
}

protocol::Result<ScramUsers, protocol::Error> load_scram_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return fail(path + ": cannot open");
  std::string text;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  std::fclose(f);
  return parse_scram_file(text, path);
}

ScramCredential scram_decoy(ScramHash hash, std::string_view username, std::uint32_t iterations,
                            protocol::ByteSpan secret) {
  const Bytes mac = hmac(ScramHash::sha256, secret, username);
  ScramCredential c;
  c.hash = hash;
  c.salt.assign(mac.begin(), mac.begin() + std::min<std::ptrdiff_t>(12, std::ssize(mac)));
  c.iterations = iterations == 0 ? 4096 : iterations;
  auto junk = random_bytes(2 * md_len(hash));
  Bytes j = junk ? std::move(junk).value() : Bytes(2 * md_len(hash), 0x5A);
  c.stored_key.assign(j.begin(), j.begin() + static_cast<std::ptrdiff_t>(md_len(hash)));
  c.server_key.assign(j.begin() + static_cast<std::ptrdiff_t>(md_len(hash)), j.end());
  return c;
}

protocol::Result<std::string, protocol::Error> ScramServer::client_first(std::string_view msg) {
  if (step_ != Step::first) return fail("SCRAM: unexpected client-first-message");
  step_ = Step::done;  // any failure below ends the exchange
  // gs2-header: cbind-flag "," [authzid] ","
  if (msg.size() < 3) return fail("SCRAM: client-first-message too short");
  if (msg[0] == 'p') return fail("SCRAM: channel binding is not supported");
  if ((msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',') return fail("SCRAM: bad gs2 header");
  const std::size_t second_comma = msg.find(',', 2);
  if (second_comma == std::string_view::npos) return fail("SCRAM: bad gs2 header");
  if (second_comma != 2) return fail("SCRAM: authorization identity is not supported");
  gs2_header_ = std::string(msg.substr(0, 3));
  client_first_bare_ = std::string(msg.substr(3));
  const std::string_view bare = client_first_bare_;
  if (bare.substr(0, 2) == "m=") return fail("SCRAM: mandatory extension not supported");
  if (bare.substr(0, 2) != "n=") return fail("SCRAM: missing username");
  const auto user = attr(bare, 'n');
  const auto nonce = attr(bare, 'r');
  if (!user || !nonce) return fail("SCRAM: missing username or nonce");
  auto name = decode_saslname(*user);
  if (!name || name->empty()) return fail("SCRAM: bad username encoding");
  if (!printable_nonce(*nonce)) return fail("SCRAM: bad client nonce");
  username_ = std::move(*name);
  client_nonce_ = std::string(*nonce);
  step_ = Step::second;
  return username_;
}

protocol::Result<std::string, protocol::Error> ScramServer::server_first(ScramCredential cred,
                                                                         std::string nonce) {
  if (step_ != Step::second) return fail("SCRAM: unexpected server-first step");
  step_ = Step::done;
  if (cred.hash != hash_) return fail("SCRAM: credential is for another mechanism");
  if (nonce.empty()) nonce = random_nonce();
  if (!printable_nonce(nonce)) return fail("SCRAM: bad server nonce");
  cred_ = std::move(cred);
  nonce_ = client_nonce_ + nonce;
  server_first_ =
      "r=" + nonce_ + ",s=" + base64_encode(cred_.salt) + ",i=" + std::to_string(cred_.iterations);
  step_ = Step::final;
  return server_first_;
}

protocol::Result<std::string, protocol::Error> ScramServer::client_final(std::string_view msg) {
  if (step_ != Step::final) return fail("SCRAM: unexpected client-final-message");
  step_ = Step::done;
  const std::size_t proof_pos = msg.rfind(",p=");
  if (proof_pos == std::string_view::npos) return fail("SCRAM: missing proof");
  const std::string_view without_proof = msg.substr(0, proof_pos);
  const auto cbind = attr(without_proof, 'c');
  const auto nonce = attr(without_proof, 'r');
  if (!cbind || *cbind != base64_encode(protocol::ByteSpan(
                              reinterpret_cast<const std::uint8_t*>(gs2_header_.data()),
                              gs2_header_.size()))) {
    return fail("SCRAM: channel binding data mismatch");
  }
  if (without_proof.substr(0, 2) != "c=") return fail("SCRAM: malformed client-final-message");
  if (!nonce || *nonce != nonce_) return fail("SCRAM: nonce mismatch");
  const auto proof = base64_decode(msg.substr(proof_pos + 3));
  if (!proof || proof->size() != md_len(hash_)) return fail("SCRAM: bad proof encoding");
  const std::string auth_message =
      client_first_bare_ + "," + server_first_ + "," + std::string(without_proof);
  const Bytes client_signature = hmac(hash_, cred_.stored_key, auth_message);
  if (client_signature.size() != proof->size()) return fail("SCRAM: HMAC failed");
  Bytes client_key(proof->size());
  for (std::size_t i = 0; i < client_key.size(); ++i) {
    client_key[i] = static_cast<std::uint8_t>((*proof)[i] ^ client_signature[i]);
  }
  if (!constant_time_equal(digest(hash_, client_key), cred_.stored_key)) {
    return fail("SCRAM: bad proof (wrong password)");
  }
  return "v=" + base64_encode(hmac(hash_, cred_.server_key, auth_message));
}

ScramClient::ScramClient(ScramHash hash, std::string username, std::string password,
                         std::string client_nonce)
    : hash_(hash),
      username_(std::move(username)),
      password_(std::move(password)),
      nonce_(client_nonce.empty() ? random_nonce() : std::move(client_nonce)) {}

std::string ScramClient::client_first() const {
  return "n,,n=" + encode_saslname(username_) + ",r=" + nonce_;
}

protocol::Result<std::string, protocol::Error> ScramClient::client_final(
    std::string_view server_first) {
  const auto nonce = attr(server_first, 'r');
  const auto salt_b64 = attr(server_first, 's');
  const auto iter = attr(server_first, 'i');
  if (!nonce || !salt_b64 || !iter) return fail("SCRAM client: malformed server-first");
  if (nonce->substr(0, nonce_.size()) != nonce_) return fail("SCRAM client: nonce mismatch");
  const auto salt = base64_decode(*salt_b64);
  if (!salt) return fail("SCRAM client: bad salt");
  std::uint32_t iterations = 0;
  for (char c : *iter) {
    if (c < '0' || c > '9' || iterations > kMaxPbkdf2Iterations) {
      return fail("SCRAM client: bad iteration count");
    }
    iterations = iterations * 10 + static_cast<std::uint32_t>(c - '0');
  }
  // SaltedPassword, then ClientKey / StoredKey / ServerKey.
  Bytes salted(md_len(hash_));
  mbedtls_md_context_t ctx;
  mbedtls_md_init(&ctx);
  const bool ok = mbedtls_md_setup(&ctx, md(hash_), 1) == 0 &&
                  mbedtls_pkcs5_pbkdf2_hmac(
                      &ctx, uc(password_), password_.size(), salt->data(), salt->size(), iterations,
                      static_cast<std::uint32_t>(salted.size()), salted.data()) == 0;
  mbedtls_md_free(&ctx);
  if (!ok) return fail("SCRAM client: PBKDF2 failed");
  const Bytes client_key = hmac(hash_, salted, "Client Key");
  const Bytes stored_key = digest(hash_, client_key);
  const Bytes server_key = hmac(hash_, salted, "Server Key");
  const std::string without_proof = "c=biws,r=" + std::string(*nonce);
  const std::string auth_message =
      client_first().substr(3) + "," + std::string(server_first) + "," + without_proof;
  const Bytes signature = hmac(hash_, stored_key, auth_message);
  Bytes proof(client_key.size());
  for (std::size_t i = 0; i < proof.size(); ++i) {
    proof[i] = static_cast<std::uint8_t>(client_key[i] ^ signature[i]);
  }
  expected_server_signature_ = "v=" + base64_encode(hmac(hash_, server_key, auth_message));
  return without_proof + ",p=" + base64_encode(proof);
}

bool ScramClient::verify_server_final(std::string_view server_final) const {
  return !expected_server_signature_.empty() && server_final == expected_server_signature_;
}

}  // namespace tls
