// Key and certificate generation with mbedTLS x509write: `wisp cert dev` (a development CA and
// a server certificate) and the building blocks tests use to make expired, mismatched or
// foreign certificates.
#pragma once

#include <chrono>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/result.h"

namespace tls {

protocol::Result<std::string, protocol::Error> generate_ec_key_pem();  // P-256, PEM
protocol::Result<std::string, protocol::Error> generate_rsa_key_pem(unsigned bits);
// The public half of a PEM private key, as a PEM "PUBLIC KEY".
protocol::Result<std::string, protocol::Error> public_key_pem(std::string_view private_key_pem);

struct CertSpec {
  std::string subject;          // e.g. "CN=Wisp development CA,O=Wisp"
  std::string subject_key_pem;  // private key whose public half is certified
  std::string issuer;           // issuer DN; for self-signed use the subject
  std::string issuer_key_pem;   // signing key; for self-signed the subject key
  bool is_ca = false;
  std::vector<std::string> hosts;  // SAN: IPv4/IPv6 literals become iPAddress, others dNSName
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
};
// A signed certificate (SHA-256, random 128-bit serial) as PEM.
protocol::Result<std::string, protocol::Error> issue_certificate(const CertSpec& spec);

// `wisp cert dev --out DIR [--host NAME]... [--days N] [--force]` (arguments after "cert dev";
// a leading "dev" is accepted too). Writes DIR/ca.crt, ca.key, server.crt, server.key (keys
// 0600); the server certificate names localhost, 127.0.0.1, ::1 and every --host. Refuses to
// overwrite existing files without --force. Returns the process exit code.
int cert_dev_main(const std::vector<std::string>& args);
int cert_dev_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace tls
