// Development CA / server certificate generation (mbedTLS x509write).
#include "tls/cert_dev.h"

#include <arpa/inet.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>
#include <mbedtls/rsa.h>
#include <mbedtls/x509_crt.h>
#include <sys/stat.h>

#include <charconv>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <optional>

#include "tls/mbed_raii.h"
#include "tls/password_file.h"
#include "tls/random.h"

namespace tls {
namespace {

using detail::mbed_error;
using protocol::fail;

using WriteCert =
    detail::Owned<mbedtls_x509write_cert, mbedtls_x509write_crt_init, mbedtls_x509write_crt_free>;

protocol::Result<std::string, protocol::Error> write_key_pem(mbedtls_pk_context* pk) {
  std::string buf(16000, '\0');
  auto* p = reinterpret_cast<unsigned char*>(buf.data());
  if (int rc = mbedtls_pk_write_key_pem(pk, p, buf.size()); rc != 0) {
    return fail("cannot write key PEM: " + mbed_error(rc));
  }
  buf.resize(std::char_traits<char>::length(buf.c_str()));
  return buf;
}

protocol::Status parse_private(detail::PkCtx& pk, std::string_view pem) {
  const std::string s(pem);
  if (int rc = mbedtls_pk_parse_key(pk.get(), detail::uchars(s), s.size() + 1, nullptr, 0);
      rc != 0) {
    return fail("cannot parse private key: " + mbed_error(rc));
  }
  return protocol::ok();
}

std::string validity_string(std::chrono::system_clock::time_point tp) {
  const std::time_t t = std::chrono::system_clock::to_time_t(tp);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y%m%d%H%M%S", &tm);
  return buf;
}

// GeneralNames DER: SEQUENCE OF { [2] IMPLICIT IA5String | [7] IMPLICIT OCTET STRING }.
std::vector<unsigned char> san_der(const std::vector<std::string>& hosts) {
  std::vector<unsigned char> body;
  const auto put_len = [](std::vector<unsigned char>& v, std::size_t n) {
    if (n < 128) {
      v.push_back(static_cast<unsigned char>(n));
    } else if (n < 256) {
      v.push_back(0x81);
      v.push_back(static_cast<unsigned char>(n));
    } else {
      v.push_back(0x82);
      v.push_back(static_cast<unsigned char>(n >> 8));
      v.push_back(static_cast<unsigned char>(n & 0xFF));
    }
  };
  for (const auto& h : hosts) {
    unsigned char ip[16];
    if (inet_pton(AF_INET, h.c_str(), ip) == 1) {
      body.push_back(0x87);
      put_len(body, 4);
      body.insert(body.end(), ip, ip + 4);
    } else if (inet_pton(AF_INET6, h.c_str(), ip) == 1) {
      body.push_back(0x87);
      put_len(body, 16);
      body.insert(body.end(), ip, ip + 16);
    } else {
      body.push_back(0x82);
      put_len(body, h.size());
      body.insert(body.end(), h.begin(), h.end());
    }
  }
  std::vector<unsigned char> out{0x30};
  put_len(out, body.size());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

bool valid_host(const std::string& h) {
  if (h.empty() || h.size() > 253) return false;
  unsigned char ip[16];
  if (inet_pton(AF_INET, h.c_str(), ip) == 1 || inet_pton(AF_INET6, h.c_str(), ip) == 1) {
    return true;
  }
  for (char c : h) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '*';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

protocol::Result<std::string, protocol::Error> generate_ec_key_pem() {
  Random* rng = thread_random();
  if (rng == nullptr) return fail("random: cannot seed CTR-DRBG");
  detail::PkCtx pk;
  if (int rc = mbedtls_pk_setup(pk.get(), mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)); rc != 0) {
    return fail("pk setup: " + mbed_error(rc));
  }
  if (int rc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*pk.get()),
                                   &Random::mbed_rng, rng);
      rc != 0) {
    return fail("EC key generation: " + mbed_error(rc));
  }
  return write_key_pem(pk.get());
}

protocol::Result<std::string, protocol::Error> generate_rsa_key_pem(unsigned bits) {
  Random* rng = thread_random();
  if (rng == nullptr) return fail("random: cannot seed CTR-DRBG");
  detail::PkCtx pk;
  if (int rc = mbedtls_pk_setup(pk.get(), mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)); rc != 0) {
    return fail("pk setup: " + mbed_error(rc));
  }
  if (int rc = mbedtls_rsa_gen_key(mbedtls_pk_rsa(*pk.get()), &Random::mbed_rng, rng, bits, 65537);
      rc != 0) {
    return fail("RSA key generation: " + mbed_error(rc));
  }
  return write_key_pem(pk.get());
}

protocol::Result<std::string, protocol::Error> public_key_pem(std::string_view private_key_pem) {
  detail::PkCtx pk;
  if (auto st = parse_private(pk, private_key_pem); !st) return protocol::unexpected(st.error());
  std::string buf(16000, '\0');
  if (int rc = mbedtls_pk_write_pubkey_pem(pk.get(), reinterpret_cast<unsigned char*>(buf.data()),
                                           buf.size());
      rc != 0) {
    return fail("cannot write public key PEM: " + mbed_error(rc));
  }
  buf.resize(std::char_traits<char>::length(buf.c_str()));
  return buf;
}

protocol::Result<std::string, protocol::Error> issue_certificate(const CertSpec& spec) {
  Random* rng = thread_random();
  if (rng == nullptr) return fail("random: cannot seed CTR-DRBG");
  detail::PkCtx subject_key;
  detail::PkCtx issuer_key;
  if (auto st = parse_private(subject_key, spec.subject_key_pem); !st) {
    return fail("subject key: " + st.error().message);
  }
  if (auto st = parse_private(issuer_key, spec.issuer_key_pem); !st) {
    return fail("issuer key: " + st.error().message);
  }
  WriteCert crt;
  mbedtls_x509write_crt_set_version(crt.get(), MBEDTLS_X509_CRT_VERSION_3);
  mbedtls_x509write_crt_set_md_alg(crt.get(), MBEDTLS_MD_SHA256);
  mbedtls_x509write_crt_set_subject_key(crt.get(), subject_key.get());
  mbedtls_x509write_crt_set_issuer_key(crt.get(), issuer_key.get());

  std::uint8_t serial_bytes[16];
  if (!rng->fill(serial_bytes)) return fail("random: serial");
  serial_bytes[0] &= 0x7F;  // positive INTEGER
  serial_bytes[0] |= 0x01;  // and not shorter than 16 bytes
  detail::MpiCtx serial;
  int rc = mbedtls_mpi_read_binary(serial.get(), serial_bytes, sizeof serial_bytes);
  if (rc == 0) rc = mbedtls_x509write_crt_set_serial(crt.get(), serial.get());
  if (rc != 0) return fail("serial: " + mbed_error(rc));
  if ((rc = mbedtls_x509write_crt_set_subject_name(crt.get(), spec.subject.c_str())) != 0) {
    return fail("subject name '" + spec.subject + "': " + mbed_error(rc));
  }
  if ((rc = mbedtls_x509write_crt_set_issuer_name(crt.get(), spec.issuer.c_str())) != 0) {
    return fail("issuer name '" + spec.issuer + "': " + mbed_error(rc));
  }
  const std::string nb = validity_string(spec.not_before);
  const std::string na = validity_string(spec.not_after);
  if ((rc = mbedtls_x509write_crt_set_validity(crt.get(), nb.c_str(), na.c_str())) != 0) {
    return fail("validity: " + mbed_error(rc));
  }
  if ((rc = mbedtls_x509write_crt_set_basic_constraints(crt.get(), spec.is_ca ? 1 : 0,
                                                        spec.is_ca ? 0 : -1)) != 0) {
    return fail("basic constraints: " + mbed_error(rc));
  }
  rc = mbedtls_x509write_crt_set_subject_key_identifier(crt.get());
  if (rc == 0) rc = mbedtls_x509write_crt_set_authority_key_identifier(crt.get());
  if (rc != 0) return fail("key identifiers: " + mbed_error(rc));
  const unsigned int usage = spec.is_ca ? (MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN)
                                        : (MBEDTLS_X509_KU_DIGITAL_SIGNATURE |
                                           (mbedtls_pk_get_type(subject_key.get()) == MBEDTLS_PK_RSA
                                                ? MBEDTLS_X509_KU_KEY_ENCIPHERMENT
                                                : 0u));
  if ((rc = mbedtls_x509write_crt_set_key_usage(crt.get(), usage)) != 0) {
    return fail("key usage: " + mbed_error(rc));
  }
  if (!spec.is_ca) {
    // extKeyUsage: SEQUENCE { id-kp-serverAuth }
    static const unsigned char kEku[] = {0x30, 0x0A, 0x06, 0x08, 0x2B, 0x06,
                                         0x01, 0x05, 0x05, 0x07, 0x03, 0x01};
    rc = mbedtls_x509write_crt_set_extension(crt.get(), MBEDTLS_OID_EXTENDED_KEY_USAGE,
                                             MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0,
                                             kEku, sizeof kEku);
    if (rc != 0) return fail("extended key usage: " + mbed_error(rc));
  }
  if (!spec.hosts.empty()) {
    for (const auto& h : spec.hosts) {
      if (!valid_host(h)) return fail("invalid host name '" + h + "'");
    }
    const auto der = san_der(spec.hosts);
    rc = mbedtls_x509write_crt_set_extension(crt.get(), MBEDTLS_OID_SUBJECT_ALT_NAME,
                                             MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0,
                                             der.data(), der.size());
    if (rc != 0) return fail("subjectAltName: " + mbed_error(rc));
  }
  std::string pem(16000, '\0');
  if ((rc = mbedtls_x509write_crt_pem(crt.get(), reinterpret_cast<unsigned char*>(pem.data()),
                                      pem.size(), &Random::mbed_rng, rng)) != 0) {
    return fail("certificate signing: " + mbed_error(rc));
  }
  pem.resize(std::char_traits<char>::length(pem.c_str()));
  return pem;
}

int cert_dev_main(const std::vector<std::string>& args) {
  return cert_dev_main(args, std::cout, std::cerr);
}

int cert_dev_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  static constexpr const char* kUsage =
      "usage: wisp cert dev --out DIR [--host NAME]... [--days N] [--force]\n"
      "  Makes a development CA (DIR/ca.crt, ca.key) and a server certificate\n"
      "  (DIR/server.crt, server.key) for localhost, 127.0.0.1, ::1 and each --host.\n";
  std::string dir;
  std::vector<std::string> hosts = {"localhost", "127.0.0.1", "::1"};
  int days = 825;
  bool force = false;
  std::size_t i = (!args.empty() && args[0] == "dev") ? 1 : 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    const bool has_value = i + 1 < args.size();
    if (a == "--out" && has_value) {
      dir = args[++i];
    } else if (a == "--host" && has_value) {
      const std::string& h = args[++i];
      if (!valid_host(h)) {
        err << "cert dev: invalid host '" << h << "'\n";
        return 2;
      }
      hosts.push_back(h);
    } else if (a == "--days" && has_value) {
      const std::string& n = args[++i];
      const auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), days);
      if (ec != std::errc{} || p != n.data() + n.size() || days < 1 || days > 3650) {
        err << "cert dev: --days wants 1..3650\n";
        return 2;
      }
    } else if (a == "--force") {
      force = true;
    } else if (a == "-h" || a == "--help") {
      out << kUsage;
      return 0;
    } else {
      err << "cert dev: unexpected argument '" << a << "'\n" << kUsage;
      return 2;
    }
  }
  if (dir.empty()) {
    err << kUsage;
    return 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    err << "cert dev: cannot create " << dir << ": " << ec.message() << "\n";
    return 1;
  }
  const std::filesystem::path base(dir);
  const auto ca_crt = (base / "ca.crt").string();
  const auto ca_key = (base / "ca.key").string();
  const auto srv_crt = (base / "server.crt").string();
  const auto srv_key = (base / "server.key").string();
  if (!force) {
    for (const auto& f : {ca_crt, ca_key, srv_crt, srv_key}) {
      if (std::filesystem::exists(f)) {
        err << "cert dev: " << f << " exists (use --force to replace)\n";
        return 1;
      }
    }
  }

  const auto now = std::chrono::system_clock::now();
  const auto step = [&](auto result, const char* what) -> std::optional<std::string> {
    if (!result) {
      err << "cert dev: " << what << ": " << result.error().message << "\n";
      return std::nullopt;
    }
    return std::move(result).value();
  };
  auto ca_key_pem = step(generate_ec_key_pem(), "CA key");
  if (!ca_key_pem) return 1;
  auto srv_key_pem = step(generate_ec_key_pem(), "server key");
  if (!srv_key_pem) return 1;

  CertSpec ca;
  ca.subject = "CN=Wisp development CA,O=Wisp";
  ca.issuer = ca.subject;
  ca.subject_key_pem = *ca_key_pem;
  ca.issuer_key_pem = *ca_key_pem;
  ca.is_ca = true;
  ca.not_before = now - std::chrono::hours(1);
  ca.not_after = now + std::chrono::hours(24) * 3650;
  auto ca_pem = step(issue_certificate(ca), "CA certificate");
  if (!ca_pem) return 1;

  CertSpec srv;
  srv.subject = "CN=" + hosts.back() + ",O=Wisp";
  if (hosts.size() == 3) srv.subject = "CN=localhost,O=Wisp";
  srv.issuer = ca.subject;
  srv.subject_key_pem = *srv_key_pem;
  srv.issuer_key_pem = *ca_key_pem;
  srv.hosts = hosts;
  srv.not_before = now - std::chrono::hours(1);
  srv.not_after = now + std::chrono::hours(24) * days;
  auto srv_pem = step(issue_certificate(srv), "server certificate");
  if (!srv_pem) return 1;

  struct File {
    const std::string& path;
    const std::string& content;
    unsigned mode;
  };
  for (const File& f : {File{ca_key, *ca_key_pem, 0600}, File{srv_key, *srv_key_pem, 0600},
                        File{ca_crt, *ca_pem, 0644}, File{srv_crt, *srv_pem, 0644}}) {
    // Fresh mode for keys even when replacing (--force).
    std::filesystem::remove(f.path, ec);
    if (auto st = write_file_atomic(f.path, f.content, f.mode); !st) {
      err << "cert dev: " << st.error().message << "\n";
      return 1;
    }
  }
  out << "Wrote " << ca_crt << ", " << ca_key << ", " << srv_crt << ", " << srv_key << "\n"
      << "Server certificate names:";
  for (const auto& h : hosts) out << " " << h;
  out << "\n\nBroker config (mosquitto.conf syntax):\n"
      << "  listener 8883\n"
      << "  certfile " << srv_crt << "\n"
      << "  keyfile " << srv_key << "\n\n"
      << "Clients must trust the development CA:\n"
      << "  mosquitto_sub -h localhost -p 8883 --cafile " << ca_crt << " -t '#' -v\n"
      << "  openssl s_client -connect localhost:8883 -CAfile " << ca_crt << "\n"
      << "  browsers: import " << ca_crt << " as a trusted authority (development only)\n"
      << "Keep " << ca_key << " private; never use this CA in production.\n";
  return 0;
}

}  // namespace tls
